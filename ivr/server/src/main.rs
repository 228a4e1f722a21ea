//! The `ivr` command: `ivr serve` runs the 012 IVR; `ivr check` checks dialplans.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ivr::config::{Overrides, ServerConfig};

mod agents_cli;
mod users_cli;

#[derive(Parser)]
#[command(name = "ivr", version, about = "The 012 IVR and contact-centre server")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Answer calls: SIP on UDP and TCP, RTP media, HTTP health and metrics.
    Serve(ServeArgs),
    /// Compile dialplans and report every problem with file, line and column.
    Check(CheckArgs),
    /// Create or update the database schema (also done at every start).
    Migrate(DbArgs),
    /// Contact-centre figures from the call records (docs/metrics.md).
    Report(ReportArgs),
    /// Open data and right-of-access exports.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Erase callback numbers whose retention has passed (the server does it hourly).
    Purge(DbArgs),
    /// Console users: add, passwd, remove, list.
    User(users_cli::UserArgs),
    /// Operators in the agents file: add, list, remove.
    Agent(agents_cli::AgentArgs),
}

/// Where the database is: `--db`, else the config file's `db.url`, else SQLite under data/.
#[derive(clap::Args)]
struct DbArgs {
    #[arg(long)]
    config: Option<PathBuf>,
    /// Database URL [default: sqlite://data/ivr.db]
    #[arg(long, value_name = "URL")]
    db: Option<String>,
}

#[derive(clap::Args)]
struct ReportArgs {
    #[command(flatten)]
    db: DbArgs,
    /// First day (local date, Europe/Madrid), e.g. 2026-11-01
    #[arg(long)]
    from: String,
    /// Last day, inclusive
    #[arg(long)]
    to: String,
    /// Rows: hour, day, week, queue, topic, language or agent
    #[arg(long, default_value = "day")]
    by: String,
    #[arg(long, value_enum, default_value = "table")]
    format: ivr::admin::ReportFormat,
    /// Count only this survey question's scores (e.g. overall)
    #[arg(long)]
    question: Option<String>,
}

#[derive(Subcommand)]
enum ExportCommand {
    /// Anonymous monthly statistics as CSV and JSON, no group smaller than --min-group.
    OpenData {
        #[command(flatten)]
        db: DbArgs,
        /// The month, YYYY-MM
        #[arg(long)]
        month: String,
        /// Output folder
        #[arg(long, default_value = "open-data")]
        out: PathBuf,
        #[arg(long, default_value_t = 10)]
        min_group: u32,
    },
    /// Every record of one caller (right of access), as JSON; the access is logged.
    Caller {
        #[command(flatten)]
        db: DbArgs,
        /// The caller's number as the network gave it
        #[arg(long)]
        number: String,
        /// Who asks (logged)
        #[arg(long)]
        who: String,
        /// Why (logged), e.g. the request's reference
        #[arg(long)]
        why: String,
    },
}

#[derive(clap::Args)]
struct CheckArgs {
    /// Dialplan files, or directories whose *.toml files with a [dialplan] table are checked.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// Prompts directory, one folder per language [default: prompts]
    #[arg(long, value_name = "DIR", default_value = "prompts")]
    prompts: PathBuf,
}

#[derive(clap::Args)]
struct ServeArgs {
    /// TOML configuration file; the flags below override it.
    #[arg(long)]
    config: Option<PathBuf>,
    /// SIP listen address, UDP and TCP [default: 0.0.0.0:5060]
    #[arg(long, value_name = "ADDR:PORT")]
    sip: Option<SocketAddr>,
    /// HTTP listen address for /health and /metrics [default: 127.0.0.1:8012]
    #[arg(long, value_name = "ADDR:PORT")]
    http: Option<SocketAddr>,
    /// Database URL [default: sqlite://data/ivr.db]
    #[arg(long, value_name = "URL")]
    db: Option<String>,
    /// Dialplan file [default: dialplans/012.toml]
    #[arg(long, value_name = "PATH")]
    dialplan: Option<PathBuf>,
    /// Prompts directory, one folder per language [default: prompts]
    #[arg(long, value_name = "DIR")]
    prompts: Option<PathBuf>,
    /// RTP port range [default: 20000-29999]
    #[arg(long, value_name = "FIRST-LAST")]
    rtp_ports: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    ivr::telemetry::init_tracing();
    match cli.command {
        Command::Check(args) => {
            let report = ivr::check::check(&args.paths, &args.prompts);
            print!("{}", report.output);
            if report.passed() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Command::Migrate(db) => admin(&db, |url, _| async move { ivr::admin::migrate(&url).await }),
        Command::Purge(db) => admin(&db, |url, _| async move { ivr::admin::purge(&url).await }),
        Command::User(user) => admin(&DbArgs { config: user.config.clone(), db: user.db.clone() }, |url, _| async move {
            users_cli::run(&url, user.command).await
        }),
        Command::Agent(args) => with_config(args.config.clone().as_deref(), &Overrides::default(), |config| async move {
            agents_cli::run(&config, args)
        }),
        Command::Report(r) => admin(&r.db, |url, _| async move {
            ivr::admin::run_report(&url, &r.from, &r.to, &r.by, r.format, r.question).await
        }),
        Command::Export(ExportCommand::OpenData { db, month, out, min_group }) => {
            admin(&db, |url, _| async move { ivr::admin::export_month(&url, &month, &out, min_group).await })
        }
        Command::Export(ExportCommand::Caller { db, number, who, why }) => admin(&db, |url, data_dir| async move {
            ivr::admin::export_caller(&url, &data_dir, &number, &who, &why).await
        }),
        Command::Serve(args) => {
            let overrides = Overrides {
                sip: args.sip,
                http: args.http,
                db: args.db,
                dialplan: args.dialplan,
                prompts: args.prompts,
                rtp_ports: args.rtp_ports,
            };
            with_config(args.config.as_deref(), &overrides, ivr::server::serve)
        }
    }
}

/// Runs a database command with the config's database URL and data folder.
fn admin<F, Fut>(db: &DbArgs, run: F) -> ExitCode
where
    F: FnOnce(String, PathBuf) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let overrides = Overrides { db: db.db.clone(), ..Overrides::default() };
    with_config(db.config.as_deref(), &overrides, |config| run(config.db_url, config.data_dir))
}

/// Loads the configuration (exit 2 on a config error) and runs `run` to its
/// end on a current-thread runtime (exit 1 on failure).
fn with_config<F, Fut>(path: Option<&std::path::Path>, overrides: &Overrides, run: F) -> ExitCode
where
    F: FnOnce(ServerConfig) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    let config = match ServerConfig::load(path, overrides) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ivr: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ivr: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ivr: {e:#}");
            ExitCode::FAILURE
        }
    }
}
