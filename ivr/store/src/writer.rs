//! The off-call-path writer: the engine hands finished call records to a
//! bounded queue without waiting; one task drains it into the store in
//! batches.

use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use crate::{CallRecord, Store, StoreError};

/// Most records inserted in one transaction.
pub const MAX_BATCH: usize = 256;
/// How long the first record of a batch waits for company before the batch
/// is written anyway.
pub const BATCH_WINDOW: Duration = Duration::from_millis(200);

/// First wait after a failed insert; it doubles up to `RETRY_MAX_WAIT`.
const RETRY_FIRST_WAIT: Duration = Duration::from_millis(100);
/// Kept short because the writer notices shutdown only between attempts.
const RETRY_MAX_WAIT: Duration = Duration::from_secs(1);
/// While the server runs, how long one batch is retried before it is dropped
/// so that the queue keeps moving (the queue fills meanwhile and the engine
/// counts what it cannot enqueue).
const RETRY_BUDGET_RUNNING: Duration = Duration::from_secs(30);
/// Once every sender is gone, how long all remaining batches together may
/// still be retried: shutdown must not hang on a dead database.
const RETRY_BUDGET_SHUTDOWN: Duration = Duration::from_secs(5);

/// Spawns the writer task; see [`RecordWriter::spawn`].
#[derive(Debug)]
pub struct RecordWriter;

/// What the writer did, returned when its task finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// Records in batches the database committed (a record whose `call_id`
    /// was already stored counts too: it is stored).
    pub written: u64,
    /// Batches given up after retrying; their records are lost (logged at
    /// `error` with the count).
    pub failed_batches: u64,
}

/// The engine's end of the queue. Cloning is cheap; when the last clone is
/// dropped the writer flushes and finishes.
#[derive(Debug, Clone)]
pub struct RecordSender {
    tx: mpsc::Sender<CallRecord>,
}

impl RecordSender {
    /// Queues `record` without waiting. `Err` gives the record back when the
    /// queue is full (database slow or down) or the writer has stopped; the
    /// caller logs and counts it, the call itself is unaffected.
    pub fn try_send(&self, record: CallRecord) -> Result<(), CallRecord> {
        self.tx.try_send(record).map_err(|error| match error {
            TrySendError::Full(record) | TrySendError::Closed(record) => record,
        })
    }
}

impl RecordWriter {
    /// Spawns a tokio task owning `store` that inserts the records sent to
    /// the returned sender, in batches of up to [`MAX_BATCH`] or every
    /// [`BATCH_WINDOW`]. `capacity` (at least 1) bounds the queue.
    ///
    /// Dropping every [`RecordSender`] makes the task write what is queued
    /// and finish with its [`WriterReport`]. The task does not close the
    /// store's pool: other clones of the store may still be in use.
    pub fn spawn(store: Store, capacity: usize) -> (RecordSender, tokio::task::JoinHandle<WriterReport>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let handle = tokio::spawn(run(store, rx));
        (RecordSender { tx }, handle)
    }
}

async fn run(store: Store, mut rx: mpsc::Receiver<CallRecord>) -> WriterReport {
    let mut report = WriterReport::default();
    let mut shutdown_deadline = None;
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        let open = collect(&mut rx, &mut batch).await;
        if !batch.is_empty() {
            if write(&store, &batch, &rx, &mut shutdown_deadline).await {
                report.written += batch.len() as u64;
            } else {
                report.failed_batches += 1;
            }
            batch.clear();
        }
        if !open {
            break;
        }
    }
    tracing::info!(written = report.written, failed_batches = report.failed_batches, "call-record writer finished");
    report
}

/// Waits for a first record, then gathers more until the batch is full or
/// the window has passed. Returns `false` once every sender is gone and the
/// queue is empty.
async fn collect(rx: &mut mpsc::Receiver<CallRecord>, batch: &mut Vec<CallRecord>) -> bool {
    if rx.recv_many(batch, MAX_BATCH).await == 0 {
        return false;
    }
    let window_end = Instant::now() + BATCH_WINDOW;
    while batch.len() < MAX_BATCH {
        let room = MAX_BATCH - batch.len();
        match tokio::time::timeout_at(window_end, rx.recv_many(batch, room)).await {
            Ok(0) => return false,
            Ok(_) => {}
            Err(_window_passed) => break,
        }
    }
    true
}

/// Inserts `batch`, retrying with backoff within the budget. `true` when
/// the database committed it.
async fn write(
    store: &Store,
    batch: &[CallRecord],
    rx: &mpsc::Receiver<CallRecord>,
    shutdown_deadline: &mut Option<Instant>,
) -> bool {
    let mut retry = Retry::new(Instant::now(), *shutdown_deadline);
    loop {
        let attempt = tokio::time::timeout_at(retry.deadline, store.insert_calls(batch)).await;
        let error = match attempt {
            Ok(Ok(())) => return true,
            Ok(Err(error)) => Some(error),
            Err(_deadline_passed) => None,
        };
        let now = Instant::now();
        if rx.is_closed() && shutdown_deadline.is_none() {
            let deadline = now + RETRY_BUDGET_SHUTDOWN;
            *shutdown_deadline = Some(deadline);
            retry.tighten(deadline);
        }
        let Some(wait) = retry.next_wait(now) else {
            tracing::error!(
                records = batch.len(),
                attempts = retry.attempts,
                error = error.as_ref().map(error_chain).as_deref().unwrap_or("timed out"),
                "dropping a batch of call records after retrying"
            );
            return false;
        };
        tracing::warn!(
            records = batch.len(),
            attempt = retry.attempts,
            retry_in_ms = wait.as_millis() as u64,
            error = error.as_ref().map(error_chain).as_deref().unwrap_or("timed out"),
            "inserting call records failed; retrying"
        );
        tokio::time::sleep(wait).await;
    }
}

/// `error: cause: cause` (the store's errors keep driver causes as sources).
fn error_chain(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Backoff and deadline for retrying one batch; no IO, time passed in.
#[derive(Debug)]
struct Retry {
    deadline: Instant,
    wait: Duration,
    attempts: u32,
}

impl Retry {
    fn new(now: Instant, shutdown_deadline: Option<Instant>) -> Self {
        let running_deadline = now + RETRY_BUDGET_RUNNING;
        Retry {
            deadline: shutdown_deadline.map_or(running_deadline, |d| d.min(running_deadline)),
            wait: RETRY_FIRST_WAIT,
            attempts: 1,
        }
    }

    fn tighten(&mut self, deadline: Instant) {
        self.deadline = self.deadline.min(deadline);
    }

    /// After a failed attempt at `now`: how long to wait before the next
    /// one, or `None` when the next attempt would start past the deadline.
    fn next_wait(&mut self, now: Instant) -> Option<Duration> {
        let wait = self.wait;
        if now + wait >= self.deadline {
            return None;
        }
        self.wait = (self.wait * 2).min(RETRY_MAX_WAIT);
        self.attempts += 1;
        Some(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_backs_off_doubling_up_to_the_cap() {
        let t0 = Instant::now();
        let mut retry = Retry::new(t0, None);
        let waits: Vec<_> = (0..6).map(|_| retry.next_wait(t0).expect("within budget")).collect();
        let ms: Vec<_> = waits.iter().map(|w| w.as_millis()).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(retry.attempts, 7);
    }

    #[test]
    fn retry_gives_up_at_the_running_budget() {
        let t0 = Instant::now();
        let mut retry = Retry::new(t0, None);
        assert!(retry.next_wait(t0 + RETRY_BUDGET_RUNNING - Duration::from_millis(101)).is_some());
        assert!(retry.next_wait(t0 + RETRY_BUDGET_RUNNING - Duration::from_millis(150)).is_none());
    }

    #[test]
    fn shutdown_deadline_bounds_every_later_batch() {
        let t0 = Instant::now();
        let shutdown = t0 + RETRY_BUDGET_SHUTDOWN;
        let mut retry = Retry::new(t0 + Duration::from_secs(4), Some(shutdown));
        assert_eq!(retry.deadline, shutdown);
        assert!(retry.next_wait(t0 + Duration::from_millis(4_950)).is_none());

        let mut retry = Retry::new(t0, None);
        retry.tighten(shutdown);
        assert_eq!(retry.deadline, shutdown);
        retry.tighten(t0 + Duration::from_secs(60));
        assert_eq!(retry.deadline, shutdown, "tighten never extends");
    }
}
