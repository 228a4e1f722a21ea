//! The off-call-path writer: the engine hands call-start markers and
//! finished calls to a bounded queue without waiting; one task journals them
//! and drains them into the store in batches.
//!
//! # With a journal ([`RecordWriter::open`]): nothing lost
//! 1. Whatever the queue holds is appended to the journal with one fsync
//!    (group commit) as soon as the task receives it, before any database
//!    work, so a record the task has taken survives a crash.
//! 2. Finished calls are inserted in batches of up to [`MAX_BATCH`] or
//!    every [`BATCH_WINDOW`]. While an insert is in flight the task keeps
//!    journaling what arrives.
//! 3. When an insert fails the database is taken as down: batches are
//!    dropped from memory (they are in the journal) and the task retries
//!    with backoff by replaying the journal, in order, from the first record
//!    not known to be committed. Inserts are idempotent, so a replay of a
//!    batch that was in fact committed stores nothing twice.
//! 4. Once everything in the journal is in the database and no call is in
//!    progress, the journal is truncated; while calls are in progress it is
//!    rewritten with only their markers once it passes [`ROTATE_BYTES`].
//! 5. At start-up ([`RecordWriter::open`]) a torn last frame is cut, calls
//!    with a start marker and no finished record are closed as
//!    `interrupted` (provisional) from their last marker, and the whole
//!    journal is replayed.
//! 6. When every sender is dropped the task writes everything queued and
//!    finishes; it gives up once [`RETRY_BUDGET_SHUTDOWN`] passes without a
//!    commit (database down), so shutdown cannot hang. What the database did
//!    not take stays in the journal for the next start.
//!
//! Still lost: a record the engine could not queue (`try_send` on a full
//! queue: the call is then closed as `interrupted` at the next start if its
//! marker was journaled), and the queue's content on SIGKILL (same).
//!
//! # Without a journal ([`RecordWriter::spawn`])
//! A failed batch is retried with backoff (about 30 s while running, about
//! 5 s without a commit once every sender is dropped) and
//! then dropped, logged at `error` and counted in
//! [`WriterReport::failed_batches`]. Start markers are ignored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio::time::Instant;

use crate::journal::{self, Journal, JournalEntry, JournalError};
use crate::{CallRecord, CallStart, FinishedCall, Store, StoreError};

/// Most finished calls inserted in one transaction.
pub const MAX_BATCH: usize = 256;
/// How long the first record of a batch waits for company before the batch
/// is written anyway.
pub const BATCH_WINDOW: Duration = Duration::from_millis(200);
/// A journal whose records are all in the database is rewritten with only
/// the markers of calls in progress once it is this long.
pub const ROTATE_BYTES: u64 = 4 * 1024 * 1024;
/// Once every sender is gone, how long all remaining batches together may
/// still be retried: shutdown must not hang on a dead database.
pub const RETRY_BUDGET_SHUTDOWN: Duration = Duration::from_secs(5);

/// First wait after a failed insert; it doubles up to `RETRY_MAX_WAIT`.
const RETRY_FIRST_WAIT: Duration = Duration::from_millis(100);
const RETRY_MAX_WAIT: Duration = Duration::from_secs(1);
/// Without a journal, how long one batch is retried before it is dropped so
/// that the queue keeps moving.
const RETRY_BUDGET_RUNNING: Duration = Duration::from_secs(30);
/// One insert attempt may not take longer (a database that hangs rather
/// than refuses).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// Spawns the writer task; see [`RecordWriter::open`] and
/// [`RecordWriter::spawn`].
#[derive(Debug)]
pub struct RecordWriter;

/// What the writer did, returned when its task finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterReport {
    /// Finished calls in batches the database committed during this run,
    /// replayed ones included (a call already stored counts too: it is).
    pub written: u64,
    /// Of `written`, those read back from the journal: after an outage, or
    /// left by an earlier run.
    pub replayed: u64,
    /// Finished calls appended to the journal during this run.
    pub journaled: u64,
    /// Finished calls still only in the journal when the task finished:
    /// the next [`RecordWriter::open`] replays them.
    pub left_in_journal: u64,
    /// Batches given up after retrying (no journal, or the journal failed):
    /// their records are lost, logged at `error`.
    pub failed_batches: u64,
    /// Records in those batches.
    pub lost: u64,
    /// Journal writes or reads that failed; after the first the writer goes
    /// on without a journal.
    pub journal_errors: u64,
}

/// What [`RecordWriter::open`] found in the journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Finished calls in the journal (the interrupted ones included), all
    /// replayed into the database by the writer.
    pub to_replay: u64,
    /// Calls closed as `interrupted`: they had a start marker and no record.
    pub interrupted: Vec<String>,
    /// Bytes of a torn last frame cut from the journal.
    pub torn_bytes: u64,
}

/// Live counters of a running writer, for metrics and for tests that wait
/// on progress; see [`RecordSender::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// As [`WriterReport::written`], so far.
    pub written: u64,
    /// As [`WriterReport::replayed`], so far.
    pub replayed: u64,
    /// As [`WriterReport::journaled`], so far.
    pub journaled: u64,
    /// Insert attempts that failed (each one starts or prolongs an outage).
    pub insert_failures: u64,
    /// The last insert attempt failed and the journal is being replayed.
    pub database_down: bool,
}

#[derive(Debug, Default)]
struct SharedStats {
    written: AtomicU64,
    replayed: AtomicU64,
    journaled: AtomicU64,
    insert_failures: AtomicU64,
    database_down: AtomicBool,
}

/// The engine's end of the queue. Cloning is cheap; when the last clone is
/// dropped the writer flushes and finishes. No method ever waits.
#[derive(Debug, Clone)]
pub struct RecordSender {
    tx: mpsc::Sender<JournalEntry>,
    /// Agents' staffing changes, to the task beside the writer
    /// (`report/staffing_writer.rs`).
    staffing: mpsc::Sender<crate::report::AgentStaffingEvent>,
    stats: Arc<SharedStats>,
}

impl RecordSender {
    /// Queues a finished call's v1 record. `Err` gives the record back when
    /// the queue is full (database slow or down) or the writer has stopped;
    /// the caller logs and counts it, the call itself is unaffected.
    #[allow(clippy::result_large_err, reason = "the engine's API since schema v1; the record is given back, not copied")]
    pub fn try_send(&self, record: CallRecord) -> Result<(), CallRecord> {
        self.offer(JournalEntry::Finished(Box::new(FinishedCall::from(record)))).map_err(|entry| match entry {
            JournalEntry::Finished(call) => call.record,
            JournalEntry::Started(_) => unreachable!("offered a finished call"),
        })
    }

    /// Queues a finished call with everything stored with it.
    pub fn try_send_finished(&self, call: FinishedCall) -> Result<(), Box<FinishedCall>> {
        self.offer(JournalEntry::Finished(Box::new(call))).map_err(|entry| match entry {
            JournalEntry::Finished(call) => call,
            JournalEntry::Started(_) => unreachable!("offered a finished call"),
        })
    }

    /// Queues a marker for a call in progress, when it starts and again
    /// whenever recovery should know more (the latest marker wins). If the
    /// server dies before the call's finished record is journaled, the next
    /// start closes the call as `interrupted` from the latest marker.
    pub fn call_started(&self, start: CallStart) -> Result<(), Box<CallStart>> {
        self.offer(JournalEntry::Started(Box::new(start))).map_err(|entry| match entry {
            JournalEntry::Started(start) => start,
            JournalEntry::Finished(_) => unreachable!("offered a start marker"),
        })
    }

    /// Queues an agent's login, logoff, pause or unpause (from the queue
    /// log) for the agents' staffing intervals. `Err` gives it back when the
    /// queue is full or the writer has stopped.
    pub fn agent_staffing(
        &self,
        event: crate::report::AgentStaffingEvent,
    ) -> Result<(), Box<crate::report::AgentStaffingEvent>> {
        self.staffing.try_send(event).map_err(|error| match error {
            TrySendError::Full(event) | TrySendError::Closed(event) => Box::new(event),
        })
    }

    /// The writer's counters now (relaxed reads: each is exact, together
    /// they may be a moment apart).
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            written: self.stats.written.load(Ordering::Relaxed),
            replayed: self.stats.replayed.load(Ordering::Relaxed),
            journaled: self.stats.journaled.load(Ordering::Relaxed),
            insert_failures: self.stats.insert_failures.load(Ordering::Relaxed),
            database_down: self.stats.database_down.load(Ordering::Relaxed),
        }
    }

    fn offer(&self, entry: JournalEntry) -> Result<(), JournalEntry> {
        self.tx.try_send(entry).map_err(|error| match error {
            TrySendError::Full(entry) | TrySendError::Closed(entry) => entry,
        })
    }
}

impl RecordWriter {
    /// Opens the journal in `journal_dir` (created if needed; locked for
    /// this process), recovers it (see the module comment), and spawns the
    /// writer task. `capacity` (at least 1) bounds the queue.
    pub async fn open(
        store: Store,
        journal_dir: &Path,
        capacity: usize,
    ) -> Result<(RecordSender, tokio::task::JoinHandle<WriterReport>, Recovery), StoreError> {
        let dir: PathBuf = journal_dir.to_owned();
        let (journal, recovery) = tokio::task::spawn_blocking(move || recover(&dir))
            .await
            .expect("journal recovery does not panic")?;
        tracing::info!(
            journal = %journal.path().display(),
            to_replay = recovery.to_replay,
            interrupted = recovery.interrupted.len(),
            torn_bytes = recovery.torn_bytes,
            "call-record journal opened"
        );
        let mut task = Task::new(store, Some(journal));
        task.unwritten = recovery.to_replay;
        task.backlog = task.journal.as_ref().is_some_and(|j| !j.is_empty());
        let (sender, handle) = task.spawn(capacity);
        Ok((sender, handle, recovery))
    }

    /// Spawns a writer without a journal: records are lost when the
    /// database stays down past the retry budget (see the module comment).
    /// `capacity` (at least 1) bounds the queue. The task does not close the
    /// store's pool: other clones of the store may still be in use.
    pub fn spawn(store: Store, capacity: usize) -> (RecordSender, tokio::task::JoinHandle<WriterReport>) {
        Task::new(store, None).spawn(capacity)
    }
}

fn recover(dir: &Path) -> Result<(Journal, Recovery), JournalError> {
    let (mut journal, scan) = Journal::open(dir)?;
    let closing: Vec<JournalEntry> =
        scan.unfinished.iter().map(|start| JournalEntry::Finished(Box::new(start.interrupted()))).collect();
    journal.append(&closing)?;
    let interrupted: Vec<String> = scan.unfinished.into_iter().map(|start| start.call_id).collect();
    for call_id in &interrupted {
        tracing::warn!(call = %call_id, "call in progress when the server stopped: closed as interrupted");
    }
    let recovery = Recovery { to_replay: scan.finished + interrupted.len() as u64, interrupted, torn_bytes: scan.torn_bytes };
    Ok((journal, recovery))
}

/// The writer task's state.
struct Task {
    store: Store,
    /// `None` without a journal, or after it failed.
    journal: Option<Journal>,
    /// Markers of calls in progress, kept for journal rotation.
    open_calls: HashMap<String, CallStart>,
    /// Finished calls not yet inserted, each with the journal offset just
    /// past its frame (0 without a journal); while `backlog` is false these
    /// are exactly the finished calls in the journal after `replay_from`.
    pending: Vec<(FinishedCall, u64)>,
    window_end: Option<Instant>,
    /// Journal offset before which every finished call is in the database.
    replay_from: u64,
    /// The journal after `replay_from` is the source of truth (database was
    /// down, or records left by an earlier run): replay from there.
    backlog: bool,
    /// When the database is taken as down: the next attempt.
    retry_at: Option<Instant>,
    backoff: Duration,
    /// Finished calls in the journal not known to be in the database.
    unwritten: u64,
    rx_open: bool,
    shutdown_deadline: Option<Instant>,
    report: WriterReport,
    stats: Arc<SharedStats>,
}

impl Task {
    fn new(store: Store, journal: Option<Journal>) -> Task {
        Task {
            store,
            journal,
            open_calls: HashMap::new(),
            pending: Vec::with_capacity(MAX_BATCH),
            window_end: None,
            replay_from: 0,
            backlog: false,
            retry_at: None,
            backoff: RETRY_FIRST_WAIT,
            unwritten: 0,
            rx_open: true,
            shutdown_deadline: None,
            report: WriterReport::default(),
            stats: Arc::default(),
        }
    }

    fn spawn(self, capacity: usize) -> (RecordSender, tokio::task::JoinHandle<WriterReport>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        let (staffing, staffing_task) = crate::report::staffing_writer::spawn(self.store.clone(), capacity);
        let sender = RecordSender { tx, staffing, stats: self.stats.clone() };
        // The staffing task ends when the last sender is dropped, like the
        // writer; the writer's handle waits for both.
        let task = async move {
            let report = self.run(rx).await;
            if let Err(error) = staffing_task.await {
                tracing::error!(%error, "agents' staffing task failed");
            }
            report
        };
        (sender, tokio::spawn(task))
    }

    async fn run(mut self, mut rx: mpsc::Receiver<JournalEntry>) -> WriterReport {
        let mut buf = Vec::with_capacity(MAX_BATCH);
        loop {
            let now = Instant::now();
            if let Some(deadline) = self.shutdown_deadline
                && ((!self.backlog && self.pending.is_empty()) || now >= deadline)
            {
                break;
            }
            if self.backlog {
                if self.retry_at.is_none_or(|at| now >= at) {
                    self.replay_step(&mut rx, &mut buf).await;
                    continue;
                }
            } else if !self.pending.is_empty()
                && (!self.rx_open || self.pending.len() >= MAX_BATCH || self.window_end.is_some_and(|end| now >= end))
            {
                self.flush(&mut rx, &mut buf).await;
                continue;
            }
            self.compact().await;

            let wake = if self.backlog { self.retry_at } else { self.window_end };
            let wake = match (wake, self.shutdown_deadline) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            if !self.rx_open {
                if let Some(wake) = wake {
                    tokio::time::sleep_until(wake).await;
                }
                continue;
            }
            let received = match wake {
                Some(wake) => tokio::time::timeout_at(wake, rx.recv_many(&mut buf, MAX_BATCH)).await.ok(),
                None => Some(rx.recv_many(&mut buf, MAX_BATCH).await),
            };
            match received {
                Some(0) => self.close_input(),
                Some(_) => self.accept(&mut buf).await,
                None => {}
            }
        }
        self.compact().await;
        self.report.left_in_journal = self.unwritten;
        if self.report.left_in_journal > 0 {
            tracing::warn!(records = self.report.left_in_journal, "call records left in the journal for the next start");
        }
        tracing::info!(report = ?self.report, "call-record writer finished");
        self.report
    }

    fn close_input(&mut self) {
        self.rx_open = false;
        self.shutdown_deadline = Some(Instant::now() + RETRY_BUDGET_SHUTDOWN);
    }

    /// Journals `buf` (one fsync), then tracks what it holds.
    async fn accept(&mut self, buf: &mut Vec<JournalEntry>) {
        let entries = std::mem::take(buf);
        let entries = match self.journal.take() {
            Some(journal) => {
                let (journal, entries, result) = tokio::task::spawn_blocking(move || {
                    let mut journal = journal;
                    let result = journal.append(&entries);
                    (journal, entries, result)
                })
                .await
                .expect("journal append does not panic");
                self.journal = Some(journal);
                match result {
                    Ok(ends) => (entries, ends),
                    Err(error) => {
                        self.journal_failed(&error);
                        let unjournaled = vec![0; entries.len()];
                        (entries, unjournaled)
                    }
                }
            }
            None => {
                let unjournaled = vec![0; entries.len()];
                (entries, unjournaled)
            }
        };
        let journaled = self.journal.is_some();
        for (entry, end) in entries.0.into_iter().zip(entries.1) {
            match entry {
                JournalEntry::Started(start) => {
                    if journaled {
                        self.open_calls.insert(start.call_id.clone(), *start);
                    }
                }
                JournalEntry::Finished(call) => {
                    self.open_calls.remove(call.call_id());
                    if journaled {
                        self.report.journaled += 1;
                        self.stats.journaled.fetch_add(1, Ordering::Relaxed);
                        self.unwritten += 1;
                    }
                    if !self.backlog {
                        if self.pending.is_empty() {
                            self.window_end = Some(Instant::now() + BATCH_WINDOW);
                        }
                        self.pending.push((*call, end));
                    }
                }
            }
        }
    }

    /// Goes on without the journal. What it already holds beyond
    /// `replay_from` stays in the file for the next start.
    fn journal_failed(&mut self, error: &JournalError) {
        tracing::error!(error = %error_chain(error), "call-record journal failed: going on without it");
        self.report.journal_errors += 1;
        self.journal = None;
        self.open_calls.clear();
        self.backlog = false;
        self.retry_at = None;
    }

    /// Inserts the oldest pending calls, at most [`MAX_BATCH`].
    async fn flush(&mut self, rx: &mut mpsc::Receiver<JournalEntry>, buf: &mut Vec<JournalEntry>) {
        let take = self.pending.len().min(MAX_BATCH);
        let (batch, ends): (Vec<FinishedCall>, Vec<u64>) = self.pending.drain(..take).unzip();
        // What stays has waited long enough already.
        self.window_end = (!self.pending.is_empty()).then(Instant::now);
        if self.journal.is_none() {
            return self.flush_without_journal(batch, rx).await;
        }
        match self.insert_accepting(&batch, rx, buf).await {
            Ok(()) => {
                self.committed(batch.len() as u64);
                if let Some(&end) = ends.last() {
                    self.replay_from = end;
                }
            }
            Err(error) => {
                // The batch, and whatever arrived meanwhile, is in the journal.
                self.down(error.as_ref(), batch.len());
                if self.journal.is_some() {
                    self.backlog = true;
                    self.pending.clear();
                    self.window_end = None;
                }
            }
        }
    }

    /// Inserts the next journaled batch after `replay_from`.
    async fn replay_step(&mut self, rx: &mut mpsc::Receiver<JournalEntry>, buf: &mut Vec<JournalEntry>) {
        let Some(journal) = &self.journal else {
            self.backlog = false;
            return;
        };
        let (path, from, until) = (journal.path().to_owned(), self.replay_from, journal.len());
        let read = tokio::task::spawn_blocking(move || journal::read_finished(&path, from, until, MAX_BATCH))
            .await
            .expect("journal read does not panic");
        let (batch, next) = match read {
            Ok(read) => read,
            Err(error) => return self.journal_failed(&error),
        };
        if batch.is_empty() && next == from && from < until {
            let error = JournalError::Io {
                op: "replay (unreadable frame)",
                path: self.journal.as_ref().map(|j| j.path().to_owned()).unwrap_or_default(),
                source: std::io::Error::from(std::io::ErrorKind::InvalidData),
            };
            return self.journal_failed(&error);
        }
        if !batch.is_empty() {
            if let Err(error) = self.insert_accepting(&batch, rx, buf).await {
                return self.down(error.as_ref(), batch.len());
            }
            self.committed(batch.len() as u64);
            self.report.replayed += batch.len() as u64;
            self.stats.replayed.fetch_add(batch.len() as u64, Ordering::Relaxed);
            tracing::info!(records = batch.len(), "call records replayed from the journal");
        }
        self.replay_from = next;
        if self.journal.as_ref().is_none_or(|j| self.replay_from >= j.len()) {
            self.backlog = false;
        }
    }

    /// Runs one insert attempt while journaling what arrives meanwhile.
    /// `Err(None)` is a timed-out attempt.
    async fn insert_accepting(
        &mut self,
        batch: &[FinishedCall],
        rx: &mut mpsc::Receiver<JournalEntry>,
        buf: &mut Vec<JournalEntry>,
    ) -> Result<(), Option<StoreError>> {
        let store = self.store.clone();
        let insert = tokio::time::timeout(ATTEMPT_TIMEOUT, store.insert_finished(batch));
        tokio::pin!(insert);
        loop {
            tokio::select! {
                result = &mut insert => {
                    return match result {
                        Ok(Ok(())) => Ok(()),
                        Ok(Err(error)) => Err(Some(error)),
                        Err(_timed_out) => Err(None),
                    };
                }
                received = rx.recv_many(buf, MAX_BATCH), if self.rx_open && self.journal.is_some() => {
                    if received == 0 {
                        self.close_input();
                    } else {
                        self.accept(buf).await;
                    }
                }
            }
        }
    }

    fn committed(&mut self, records: u64) {
        if self.shutdown_deadline.is_some() {
            // Shutdown gives up after a budget without progress, not while
            // a healthy database works through a long queue.
            self.shutdown_deadline = Some(Instant::now() + RETRY_BUDGET_SHUTDOWN);
        }
        self.report.written += records;
        self.stats.written.fetch_add(records, Ordering::Relaxed);
        self.stats.database_down.store(false, Ordering::Relaxed);
        self.unwritten = self.unwritten.saturating_sub(records);
        self.retry_at = None;
        self.backoff = RETRY_FIRST_WAIT;
    }

    /// The database is taken as down: next attempt after the backoff.
    fn down(&mut self, error: Option<&StoreError>, records: usize) {
        tracing::warn!(
            records,
            retry_in_ms = self.backoff.as_millis() as u64,
            error = error.map(error_chain).as_deref().unwrap_or("timed out"),
            "inserting call records failed; they are in the journal and will be replayed"
        );
        self.stats.insert_failures.fetch_add(1, Ordering::Relaxed);
        self.stats.database_down.store(true, Ordering::Relaxed);
        self.retry_at = Some(Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(RETRY_MAX_WAIT);
    }

    /// Truncates or rotates the journal when everything in it is stored.
    async fn compact(&mut self) {
        let Some(journal) = self.journal.take() else { return };
        // Without a backlog, every finished call journaled and not pending
        // is in the database.
        let caught_up = !self.backlog && self.pending.is_empty();
        let worth_it = if self.open_calls.is_empty() { !journal.is_empty() } else { journal.len() > ROTATE_BYTES };
        if !(caught_up && worth_it) {
            self.journal = Some(journal);
            return;
        }
        let keep: Vec<JournalEntry> =
            self.open_calls.values().map(|start| JournalEntry::Started(Box::new(start.clone()))).collect();
        let (journal, result) = tokio::task::spawn_blocking(move || {
            let mut journal = journal;
            let result = journal.reset(&keep);
            (journal, result)
        })
        .await
        .expect("journal reset does not panic");
        self.replay_from = journal.len();
        self.journal = Some(journal);
        if let Err(error) = result {
            self.journal_failed(&error);
        }
    }

    /// Without a journal: retry within the budget, then drop the batch.
    async fn flush_without_journal(&mut self, batch: Vec<FinishedCall>, rx: &mpsc::Receiver<JournalEntry>) {
        let mut retry = Retry::new(Instant::now(), self.shutdown_deadline);
        loop {
            let attempt = tokio::time::timeout_at(retry.deadline, self.store.insert_finished(&batch)).await;
            let error = match attempt {
                Ok(Ok(())) => return self.committed(batch.len() as u64),
                Ok(Err(error)) => Some(error),
                Err(_deadline_passed) => None,
            };
            self.stats.insert_failures.fetch_add(1, Ordering::Relaxed);
            let now = Instant::now();
            if rx.is_closed() && self.shutdown_deadline.is_none() {
                // Every sender is gone: the shutdown budget applies from now.
                self.shutdown_deadline = Some(now + RETRY_BUDGET_SHUTDOWN);
            }
            if let Some(deadline) = self.shutdown_deadline {
                retry.tighten(deadline);
            }
            let Some(wait) = retry.next_wait(now) else {
                tracing::error!(
                    records = batch.len(),
                    attempts = retry.attempts,
                    error = error.as_ref().map(error_chain).as_deref().unwrap_or("timed out"),
                    "dropping a batch of call records after retrying"
                );
                self.report.failed_batches += 1;
                self.report.lost += batch.len() as u64;
                return;
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
}

/// `error: cause: cause` (the store's errors keep driver causes as sources).
fn error_chain<E: std::error::Error + 'static>(error: &E) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Backoff and deadline for retrying one batch without a journal; no IO,
/// time passed in.
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
