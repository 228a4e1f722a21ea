//! Test databases read and made with the databases' own clients, so that a
//! test checks what is stored independently of the server's code: a
//! PostgreSQL database of its own on 127.0.0.1:5432 (user `postgres`, trust
//! auth), created with `psql` and dropped when dropped, and queries through
//! `psql` and `sqlite3`. Shared by the test binaries that include it with
//! `#[path = "common/databases.rs"]`.
//!
//! Without a reachable PostgreSQL (or `psql`) a test prints a loud SKIP
//! and passes, unless `CI` is set: then it fails. Never touches a database
//! it did not create.

use std::path::Path;
use std::process::Command;

const PG_HOST: &str = "127.0.0.1";

/// A PostgreSQL database of one test, dropped (`WITH (FORCE)`) on drop.
pub struct PgDatabase {
    name: String,
}

impl PgDatabase {
    /// A new database named `<prefix>_<pid>_<random>`; `None` (after a loud
    /// notice naming `test`) when PostgreSQL or psql is missing outside CI.
    pub fn create(prefix: &str, test: &str) -> Option<PgDatabase> {
        let name = format!("{prefix}_{}_{:016x}", std::process::id(), fastrand::u64(..));
        match psql("postgres", &format!("CREATE DATABASE {name}")) {
            Ok(_) => Some(PgDatabase { name }),
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("PostgreSQL at {PG_HOST}:5432 (and psql) are required in CI: {error}")
            }
            Err(error) => {
                let notice = format!(
                    "\n!!!!!!!! SKIPPED {test} on PostgreSQL: cannot create a database on {PG_HOST}:5432 ({}); \
                     this test did NOT run (set CI=1 to make this a failure) !!!!!!!!\n",
                    error.trim()
                );
                let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
                None
            }
        }
    }

    /// The URL the server and the store connect to.
    pub fn url(&self) -> String {
        format!("postgres://postgres@{PG_HOST}:5432/{}", self.name)
    }

    /// The output of `sql` on this database: rows on lines, columns split
    /// on `|`, NULL empty. A failing query fails the test.
    pub fn query(&self, sql: &str) -> String {
        psql(&self.name, sql).unwrap_or_else(|e| panic!("psql {sql:?}: {e}"))
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Err(error) = psql("postgres", &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)) {
            eprintln!("could not drop the test database {}: {error}", self.name);
        }
    }
}

/// Runs `psql` on `database` (a name) with `sql`; `Err` with its message
/// when it fails (or is not installed).
fn psql(database: &str, sql: &str) -> Result<String, String> {
    let out = Command::new("psql")
        .args(["-X", "-q", "-At", "-F", "|", "-v", "ON_ERROR_STOP=1", "-h", PG_HOST, "-U", "postgres", "-d", database, "-c", sql])
        .output()
        .map_err(|e| format!("cannot run psql: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The output of `sql` on the SQLite file at `path`, in the same shape as
/// [`PgDatabase::query`]. A failing query fails the test.
pub fn sqlite3(path: &Path, sql: &str) -> String {
    let out = Command::new("sqlite3")
        .args(["-batch", "-separator", "|"])
        .arg(path)
        .arg(sql)
        .output()
        .expect("run sqlite3 (apt-get install -y sqlite3)");
    assert!(out.status.success(), "sqlite3 {sql:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}
