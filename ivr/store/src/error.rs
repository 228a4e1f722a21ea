use std::path::PathBuf;

use crate::Backend;

/// Why a storage operation failed. URLs in here are always redacted; the
/// sqlx cause is kept as `source()` only, not in the message, so that a
/// driver message can never print a connection string.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL's scheme is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL {url} (expected sqlite://path or postgres://...)")]
    UnsupportedUrl { url: String },

    /// The directory for the SQLite file could not be created.
    #[error("cannot create database directory {}", path.display())]
    CreateDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The URL could not be parsed or no connection could be opened.
    #[error("cannot connect to {backend} database {url}")]
    Connect {
        backend: Backend,
        /// The URL with its password replaced by `***`.
        url: String,
        #[source]
        source: sqlx::Error,
    },

    /// A connection option (journal mode) could not be applied.
    #[error("cannot configure {backend} database: {setting}")]
    Configure {
        backend: Backend,
        setting: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// The schema migrations failed.
    #[error("cannot migrate {backend} database")]
    Migrate {
        backend: Backend,
        #[source]
        source: sqlx::migrate::MigrateError,
    },

    /// A query failed: `op` names the store operation.
    #[error("{backend} query failed: {op}")]
    Query {
        backend: Backend,
        op: &'static str,
        #[source]
        source: sqlx::Error,
    },

    /// A batch bound for one backend was handed to a store of the other.
    #[error("a batch bound for {bound_for} was handed to a {store} store")]
    BackendMismatch { bound_for: Backend, store: Backend },

    /// The local journal could not be opened, written or read.
    #[error("call-record journal failed")]
    Journal(#[from] crate::journal::JournalError),
}
