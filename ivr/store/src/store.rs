use std::fmt;
use std::time::Duration;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;

use crate::url::{self, SqliteUrl};
use crate::{StoreError, migrations};

/// How long a query waits for a pooled connection (and `connect` for the
/// first one) before it fails. The writer retries on top of this.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite allows one writer at a time; a few connections serve readers in WAL.
const SQLITE_MAX_CONNECTIONS: u32 = 4;
const POSTGRES_MAX_CONNECTIONS: u32 = 8;

/// Run on every new SQLite connection. `synchronous = NORMAL` in WAL mode
/// never corrupts the file; a power cut may lose the last commits, which the
/// later journal issue covers. The busy timeout is how long a connection
/// waits on another one's write lock.
const SQLITE_CONNECTION_PRAGMAS: [&str; 3] =
    ["PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = ON", "PRAGMA busy_timeout = 5000"];

/// Which database a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// Call-record storage over one sqlx `Any` pool; cheap to clone (the pool is
/// shared).
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    pub(crate) backend: Backend,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Opens a pool on `url` and brings the schema up to date.
    ///
    /// `sqlite://path` (relative to the working directory) or
    /// `sqlite:///absolute/path`: the parent directory and the file are
    /// created, the database is put in WAL mode, and every connection uses
    /// `synchronous=NORMAL`, foreign keys and a busy timeout. `postgres://user@host/db`: the
    /// database must exist.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        sqlx::any::install_default_drivers();
        let backend = url::backend(url).ok_or_else(|| StoreError::UnsupportedUrl { url: url::redact(url) })?;
        let connect_error = |source| StoreError::Connect { backend, url: url::redact(url), source };

        let pool = match backend {
            Backend::Sqlite => {
                let sqlite_url = SqliteUrl::parse(url);
                if let Some(parent) = sqlite_url.file().as_deref().and_then(std::path::Path::parent) {
                    // Start-up only, before any call: a blocking mkdir is fine here.
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent)
                            .map_err(|source| StoreError::CreateDir { path: parent.to_owned(), source })?;
                    }
                }
                let pool = AnyPoolOptions::new()
                    .max_connections(SQLITE_MAX_CONNECTIONS)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .after_connect(|conn, _meta| {
                        Box::pin(async move {
                            // The journal mode is a property of the file, set once below.
                            for pragma in SQLITE_CONNECTION_PRAGMAS {
                                sqlx::query(pragma).execute(&mut *conn).await?;
                            }
                            Ok(())
                        })
                    })
                    .connect(&sqlite_url.with_create_mode(url))
                    .await
                    .map_err(connect_error)?;
                // Changing the journal mode takes an exclusive lock that the
                // busy timeout does not cover, so do it once, here, before
                // the pool is shared. An in-memory database answers "memory".
                let mode: String = sqlx::query_scalar("PRAGMA journal_mode = WAL")
                    .fetch_one(&pool)
                    .await
                    .map_err(|source| StoreError::Configure { backend, setting: "journal_mode=WAL", source })?;
                if mode != "wal" && sqlite_url.file().is_some() {
                    tracing::warn!(journal_mode = %mode, "SQLite refused WAL mode");
                }
                pool
            }
            Backend::Postgres => AnyPoolOptions::new()
                .max_connections(POSTGRES_MAX_CONNECTIONS)
                .acquire_timeout(ACQUIRE_TIMEOUT)
                .connect(url)
                .await
                .map_err(connect_error)?,
        };

        migrations::migrator(backend)
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate { backend, source })?;
        let store = Store { pool, backend };
        store.backfill_report_summary().await?;
        tracing::info!(%backend, url = %url::redact(url), "call-record store ready");
        Ok(store)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies any migration not yet applied (idempotent; `connect` has
    /// already done it, so this is for `ivr migrate` to report) and returns
    /// the schema version now in force.
    pub async fn migrate(&self) -> Result<i64, StoreError> {
        migrations::migrator(self.backend)
            .run(&self.pool)
            .await
            .map_err(|source| StoreError::Migrate { backend: self.backend, source })?;
        sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(&self.pool)
            .await
            .map_err(|source| StoreError::Query { backend: self.backend, op: "migrate", source })
    }

    /// Closes the pool, waiting for connections in use to be returned
    /// (SQLite checkpoints its WAL when the last connection closes).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}
