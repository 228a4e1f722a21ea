//! The `ivr` command: `ivr serve` runs the 012 IVR; `ivr check` checks dialplans.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ivr::config::{Overrides, ServerConfig};

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
        Command::Serve(args) => {
            let overrides = Overrides {
                sip: args.sip,
                http: args.http,
                db: args.db,
                dialplan: args.dialplan,
                prompts: args.prompts,
                rtp_ports: args.rtp_ports,
            };
            let config = match ServerConfig::load(args.config.as_deref(), &overrides) {
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
            match runtime.block_on(ivr::server::serve(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("ivr: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
