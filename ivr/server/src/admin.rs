//! The database commands of the `ivr` binary: `ivr migrate`, `ivr report`,
//! `ivr export open-data`, `ivr export caller` (right of access) and
//! `ivr purge` (clear callback numbers past their retention).
//!
//! Owns turning command-line arguments into store calls and printing their
//! results. It must never print a clear caller number except in the
//! right-of-access export the operator asked for (which is logged).

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use ivr_store::open_data::{export_open_data, parse_month};
use ivr_store::report::{GroupBy, ReportQuery, report};
use ivr_store::{Access, Store};

/// How `ivr report` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    Csv,
    Json,
}

async fn open(db_url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(db_url).await.with_context(|| format!("cannot open the database {}", redact(db_url)))?;
    store.migrate().await.context("cannot migrate the database")?;
    Ok(store)
}

/// The URL without a password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

pub async fn migrate(db_url: &str) -> anyhow::Result<()> {
    let store = Store::connect(db_url).await.with_context(|| format!("cannot open the database {}", redact(db_url)))?;
    let version = store.migrate().await.context("migration failed")?;
    println!("{}: schema at version {version} ({})", redact(db_url), store.backend());
    store.close().await;
    Ok(())
}

/// `ivr report --from DAY --to DAY --by GROUP --format FORMAT`.
pub async fn run_report(db_url: &str, from: &str, to: &str, by: &str, format: ReportFormat, question: Option<String>) -> anyhow::Result<()> {
    let by: GroupBy = by.parse()?;
    let day = |s: &str, what: &str| -> anyhow::Result<jiff::civil::Date> {
        s.parse().with_context(|| format!("--{what} {s:?} is not a date like 2026-11-28"))
    };
    let (first, last) = (day(from, "from")?, day(to, "to")?);
    if last < first {
        bail!("--to {to} is before --from {from}");
    }
    let mut query = ReportQuery::days(first, last, by)?;
    query.question = question;
    let store = open(db_url).await?;
    let table = report(&store, &query).await?;
    store.close().await;
    match format {
        ReportFormat::Table => print!("{}", table.to_text()),
        ReportFormat::Csv => print!("{}", table.to_csv()),
        ReportFormat::Json => println!("{}", table.to_json()),
    }
    Ok(())
}

/// `ivr export open-data --month YYYY-MM --out DIR [--min-group N]`.
pub async fn export_month(db_url: &str, month: &str, out: &Path, min_group: u32) -> anyhow::Result<()> {
    if min_group == 0 {
        bail!("--min-group must be at least 1");
    }
    let month = parse_month(month)?;
    let store = open(db_url).await?;
    let data = export_open_data(&store, month, min_group).await?;
    store.close().await;
    for path in data.write_files(out)? {
        println!("{}", path.display());
    }
    Ok(())
}

/// `ivr export caller --number N --who NAME --why REASON`: every record of
/// one caller, as JSON (the access is logged with who and why).
pub async fn export_caller(db_url: &str, data_dir: &Path, number: &str, who: &str, why: &str) -> anyhow::Result<()> {
    if who.trim().is_empty() || why.trim().is_empty() {
        bail!("--who and --why are required: every access to callers' data is logged");
    }
    // The server creates the key on its first start; a key made here would
    // be new and random, find nobody, and make the export look empty.
    let key = data_dir.join("pseudonym.key");
    if !key.is_file() {
        bail!(
            "no caller-pseudonym key at {}: use the config (--config, [data] dir) of the servers that wrote these records",
            key.display()
        );
    }
    let pseudonymizer = crate::wiring::pseudonymizer(data_dir)?;
    let store = open(db_url).await?;
    let export = store.export_caller(&pseudonymizer, number, &Access { who, why, at_ms: now_ms() }).await?;
    store.close().await;
    println!("{}", serde_json::to_string_pretty(&export)?);
    Ok(())
}

/// `ivr purge`: erase callback numbers past their retention now (the
/// server also runs this every hour).
pub async fn purge(db_url: &str) -> anyhow::Result<()> {
    let store = open(db_url).await?;
    let purged = store.purge_expired_numbers(now_ms()).await?;
    store.close().await;
    println!("{purged} callback number(s) purged");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgres://ivr:s3cret@db:5432/ivr"), "postgres://ivr:***@db:5432/ivr");
        assert_eq!(redact("sqlite://data/ivr.db"), "sqlite://data/ivr.db");
    }
}
