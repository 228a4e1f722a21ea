//! Call-record storage for the 012 IVR: one row per call in SQLite or
//! PostgreSQL, written off the call path.
//!
//! # What it owns
//! - The schema (`migrations/sqlite`, `migrations/postgres`, embedded and
//!   applied by [`Store::connect`]) and every SQL statement against it. Other
//!   crates see [`CallRecord`] and [`Store`] methods, never SQL.
//! - [`RecordWriter`]: the task that takes finished calls from the engine
//!   through a bounded queue and inserts them in batches.
//!
//! # What it must never do
//! - Block the call path. The engine only calls [`RecordSender::try_send`],
//!   which never waits; a full queue is the engine's to count and log. All
//!   database IO happens in the writer task or in callers off the call path
//!   (start-up, reports).
//! - Store or log a caller's number in clear. [`CallRecord`] has no field
//!   for it; the pseudonymised form comes with the privacy work. Connection
//!   URLs appear in errors and logs only with their password redacted.
//!
//! # Invariants
//! - `call_id` is unique; inserting a record again is a no-op, so retrying a
//!   batch whose commit may or may not have happened stores nothing twice.
//! - A batch is one transaction: all of its records are stored or none.
//! - The schema has no constraint a well-formed record can violate, so an
//!   insert fails only for infrastructure reasons and a retry can succeed.
//! - Timestamps are epoch milliseconds as 64-bit integers; the schema uses
//!   only BIGINT/INTEGER and TEXT, the types the sqlx `Any` driver decodes
//!   the same on both backends.
//!
//! # Durability, and what is not here yet
//! When the database is down the writer retries each batch with backoff
//! (about 30 s while running, about 5 s in total once every sender is
//! dropped, so shutdown cannot hang) and then drops it, logging at `error`
//! and counting it in [`WriterReport::failed_batches`]. Records in the queue
//! or in a dropped batch are lost on a crash or a long outage: losing
//! nothing across a database outage needs an fsynced local journal, which is
//! the follow-up issue's job, together with the call event journal, surveys
//! and reports.

mod error;
mod migrations;
mod record;
mod store;
mod url;
mod writer;

pub use error::StoreError;
pub use record::CallRecord;
pub use store::{Backend, Store};
pub use writer::{BATCH_WINDOW, MAX_BATCH, RecordSender, RecordWriter, WriterReport};
