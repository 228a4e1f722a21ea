//! Call-record storage for the 012 IVR: one complete record per call, with
//! its timeline, survey answers and callback request, in SQLite or
//! PostgreSQL, written off the call path and never lost.
//!
//! # What it owns
//! - The schema (`migrations/sqlite`, `migrations/postgres`, embedded and
//!   applied by [`Store::connect`] and [`Store::migrate`]) and every SQL
//!   statement against it. Other crates see [`FinishedCall`] and [`Store`]
//!   methods, never SQL. (`src/report/` and `src/open_data.rs` are reserved
//!   for the reports.)
//! - [`RecordWriter`]: the task that takes call-start markers and finished
//!   calls from the engine through a bounded queue, journals them
//!   ([`journal`]), and inserts them in batches; see `writer.rs` for the
//!   guarantees.
//! - Caller privacy: [`Pseudonymizer`], the purge of clear numbers, logged
//!   access to them, the right-of-access export.
//!
//! # What it must never do
//! - Block the call path. The engine only calls [`RecordSender`] methods,
//!   which never wait; a full queue is the engine's to count and log. All
//!   database and journal IO happens in the writer task or in callers off
//!   the call path (start-up, reports, purge job).
//! - Store or log a caller's number in clear, except in
//!   `callback_requests.number_clear` (and in the journal while a callback
//!   request waits for the database), until its purge. Connection URLs
//!   appear in errors and logs only with their password redacted.
//! - Store DTMF digits collected as `sensitive` ([`CallEvent::digits`]).
//!
//! # Invariants
//! - `call_id` is unique: one `calls` row per call. Inserting a call again
//!   is a no-op, except that a non-provisional record replaces a provisional
//!   one (closed as `interrupted` by start-up recovery); see `calls.rs`.
//! - A batch is one transaction: all of its calls, with their events,
//!   answers and callback requests, are stored or none.
//! - The schema has no constraint a well-formed record can violate, so an
//!   insert fails only for infrastructure reasons and a retry can succeed.
//! - Timestamps are epoch milliseconds (UTC) as 64-bit integers; the schema
//!   uses only BIGINT/INTEGER and TEXT, the types the sqlx `Any` driver
//!   decodes the same on both backends.

mod calls;
mod error;
pub mod journal;
mod migrations;
pub mod open_data;
mod privacy;
mod record;
pub mod report;
mod store;
mod url;
pub mod users;
pub mod wrapup;
mod writer;

pub use calls::BoundBatch;
pub use error::StoreError;
pub use privacy::{Access, CallerExport, MIN_SECRET_LEN, PSEUDONYM_HEX_LEN, Pseudonymizer, SecretTooShort};
pub use record::{
    CallDetails, CallEvent, CallEventKind, CallRecord, CallStart, CallbackRequest, CallbackState, Disposition,
    FinishedCall, IvrPath, MASKED_DIGITS, ScoreOutOfRange, SurveyAnswer, SurveyScore, UnknownName,
};
pub use store::{Backend, Store};
pub use wrapup::{CallWrapUp, WrapUpError};
pub use writer::{
    BATCH_WINDOW, MAX_BATCH, RETRY_BUDGET_SHUTDOWN, ROTATE_BYTES, RecordSender, RecordWriter, Recovery, WriterReport,
    WriterStats,
};
