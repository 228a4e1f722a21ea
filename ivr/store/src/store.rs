use std::fmt;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

use crate::url::{self, SqliteUrl};
use crate::{CallRecord, StoreError, migrations};

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
    pool: AnyPool,
    backend: Backend,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

const INSERT_CALL: &str = "INSERT INTO calls (call_id, dialled, started_at_ms, answered_at_ms, \
     ended_at_ms, end_reason, sip_status, codec, language, digits_rfc4733, digits_sip_info, \
     digits_inband, rtp_packets_sent, rtp_packets_received, rtp_packets_lost) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
     ON CONFLICT (call_id) DO NOTHING";

const SELECT_CALL: &str = "SELECT call_id, dialled, started_at_ms, answered_at_ms, ended_at_ms, \
     end_reason, sip_status, codec, language, digits_rfc4733, digits_sip_info, digits_inband, \
     rtp_packets_sent, rtp_packets_received, rtp_packets_lost FROM calls WHERE call_id = $1";

const COUNT_CALLS: &str = "SELECT COUNT(*) FROM calls";

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
        tracing::info!(%backend, url = %url::redact(url), "call-record store ready");
        Ok(Store { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Inserts `records` in one transaction. A record whose `call_id` is
    /// already stored is skipped, so a batch retried after an ambiguous
    /// failure (commit sent, answer lost) stores nothing twice.
    pub async fn insert_calls(&self, records: &[CallRecord]) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let query_error = |source| StoreError::Query { backend: self.backend, op: "insert_calls", source };
        let mut tx = self.pool.begin().await.map_err(query_error)?;
        for record in records {
            sqlx::query(INSERT_CALL)
                .bind(&record.call_id)
                .bind(&record.dialled)
                .bind(record.started_at_ms)
                .bind(record.answered_at_ms)
                .bind(record.ended_at_ms)
                .bind(&record.end_reason)
                .bind(record.sip_status)
                .bind(&record.codec)
                .bind(&record.language)
                .bind(record.digits_rfc4733)
                .bind(record.digits_sip_info)
                .bind(record.digits_inband)
                .bind(record.rtp_packets_sent)
                .bind(record.rtp_packets_received)
                .bind(record.rtp_packets_lost)
                .execute(&mut *tx)
                .await
                .map_err(query_error)?;
        }
        tx.commit().await.map_err(query_error)
    }

    /// The stored record for `call_id`, if any.
    pub async fn call(&self, call_id: &str) -> Result<Option<CallRecord>, StoreError> {
        let query_error = |source| StoreError::Query { backend: self.backend, op: "call", source };
        let row = sqlx::query(SELECT_CALL)
            .bind(call_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(query_error)?;
        row.as_ref().map(call_from_row).transpose().map_err(query_error)
    }

    /// How many calls are stored.
    pub async fn count_calls(&self) -> Result<i64, StoreError> {
        sqlx::query_scalar(COUNT_CALLS)
            .fetch_one(&self.pool)
            .await
            .map_err(|source| StoreError::Query { backend: self.backend, op: "count_calls", source })
    }

    /// Closes the pool, waiting for connections in use to be returned
    /// (SQLite checkpoints its WAL when the last connection closes).
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn call_from_row(row: &AnyRow) -> Result<CallRecord, sqlx::Error> {
    Ok(CallRecord {
        call_id: row.try_get("call_id")?,
        dialled: row.try_get("dialled")?,
        started_at_ms: row.try_get("started_at_ms")?,
        answered_at_ms: row.try_get("answered_at_ms")?,
        ended_at_ms: row.try_get("ended_at_ms")?,
        end_reason: row.try_get("end_reason")?,
        sip_status: row.try_get("sip_status")?,
        codec: row.try_get("codec")?,
        language: row.try_get("language")?,
        digits_rfc4733: row.try_get("digits_rfc4733")?,
        digits_sip_info: row.try_get("digits_sip_info")?,
        digits_inband: row.try_get("digits_inband")?,
        rtp_packets_sent: row.try_get("rtp_packets_sent")?,
        rtp_packets_received: row.try_get("rtp_packets_received")?,
        rtp_packets_lost: row.try_get("rtp_packets_lost")?,
    })
}
