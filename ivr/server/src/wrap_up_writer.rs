//! The wrap-up writer: stores the disposition codes and notes operators
//! give when they finish wrap-up in the console, off the engine's task.
//!
//! Owns the queue between the engine and the store for wrap-ups, and the
//! retries. The engine hands a [`CallWrapUp`] to [`WrapUpSender::try_send`],
//! which never waits; one task inserts them in order and, while the
//! database refuses, retries the oldest with backoff (100 ms doubling to
//! 5 s) and keeps queueing what arrives. Inserts are idempotent (one row per
//! call and agent), so a retry of an insert whose commit was in doubt
//! stores nothing twice.
//!
//! Not journaled (the record journal's entries and replay are for whole
//! calls): what the task holds is lost on a crash. When every sender is
//! dropped the task keeps retrying for [`SHUTDOWN_BUDGET`], then logs each
//! wrap-up it could not store at `error` and counts it in
//! [`WrapUpReport::lost`]. It must never log the notes (free text that may
//! name the caller).

use std::collections::VecDeque;
use std::time::Duration;

use ivr_store::{CallWrapUp, Store, WrapUpError};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::time::Instant;
use tracing::{error, warn};

/// Wrap-ups queued between the engine and the writer task.
pub const WRAP_UP_QUEUE: usize = 1_024;
/// Once every sender is gone, how long the writer still retries.
pub const SHUTDOWN_BUDGET: Duration = Duration::from_secs(5);
const RETRY_FIRST_WAIT: Duration = Duration::from_millis(100);
const RETRY_MAX_WAIT: Duration = Duration::from_secs(5);
/// One insert may not take longer (a database that hangs rather than refuses).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);

/// The engine's end of the queue; cloning is cheap. When the last clone is
/// dropped the writer stores what it holds and finishes.
#[derive(Debug, Clone)]
pub struct WrapUpSender {
    tx: mpsc::Sender<CallWrapUp>,
}

impl WrapUpSender {
    /// Queues a wrap-up without waiting; gives it back when the queue is
    /// full or the writer has stopped.
    #[allow(clippy::result_large_err, reason = "the wrap-up is given back to be logged, not copied")]
    pub fn try_send(&self, wrap_up: CallWrapUp) -> Result<(), CallWrapUp> {
        self.tx.try_send(wrap_up).map_err(|e| match e {
            mpsc::error::TrySendError::Full(w) | mpsc::error::TrySendError::Closed(w) => w,
        })
    }
}

/// What the writer did, when its task finishes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WrapUpReport {
    /// Inserted, or found already stored.
    pub written: u64,
    /// Insert attempts that failed and were retried.
    pub retries: u64,
    /// Given up: refused by the store's checks, or still failing when the
    /// shutdown budget ran out.
    pub lost: u64,
}

/// Spawns the writer task with the default shutdown budget.
pub fn spawn(store: Store) -> (WrapUpSender, tokio::task::JoinHandle<WrapUpReport>) {
    spawn_with_budget(store, SHUTDOWN_BUDGET)
}

/// Spawns the writer task; `budget`: how long it retries once every sender
/// is dropped.
pub fn spawn_with_budget(store: Store, budget: Duration) -> (WrapUpSender, tokio::task::JoinHandle<WrapUpReport>) {
    let (tx, rx) = mpsc::channel(WRAP_UP_QUEUE);
    (WrapUpSender { tx }, tokio::spawn(run(store, rx, budget)))
}

fn log_lost(wrap_up: &CallWrapUp, why: &str) {
    error!(call = %wrap_up.call_id, agent = %wrap_up.agent, code = %wrap_up.disposition_code, why, "wrap-up not stored");
}

async fn run(store: Store, mut rx: mpsc::Receiver<CallWrapUp>, budget: Duration) -> WrapUpReport {
    let mut report = WrapUpReport::default();
    let mut pending: VecDeque<CallWrapUp> = VecDeque::new();
    let mut senders_gone_at: Option<Instant> = None;
    let mut wait = RETRY_FIRST_WAIT;
    loop {
        if pending.is_empty() {
            if senders_gone_at.is_some() {
                break;
            }
            match rx.recv().await {
                Some(wrap_up) => pending.push_back(wrap_up),
                None => break,
            }
        }
        loop {
            match rx.try_recv() {
                Ok(wrap_up) => pending.push_back(wrap_up),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    senders_gone_at.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        let Some(wrap_up) = pending.front() else { continue };
        let attempt = tokio::time::timeout(ATTEMPT_TIMEOUT, store.insert_wrap_up(wrap_up)).await;
        match attempt {
            Ok(Ok(_)) => {
                pending.pop_front();
                report.written += 1;
                wait = RETRY_FIRST_WAIT;
                continue;
            }
            Ok(Err(WrapUpError::Store(e))) => {
                warn!(error = %e, queued = pending.len(), retry_in = ?wait, "wrap-up insert failed; retrying");
            }
            // A wrap-up the store's checks refuse will never be stored: the
            // console checks the same before sending, so this is a bug.
            Ok(Err(refused)) => {
                log_lost(wrap_up, &refused.to_string());
                pending.pop_front();
                report.lost += 1;
                continue;
            }
            Err(_elapsed) => warn!(queued = pending.len(), retry_in = ?wait, "wrap-up insert timed out; retrying"),
        }
        report.retries += 1;
        let give_up_at = senders_gone_at.map(|at| at + budget);
        if give_up_at.is_some_and(|at| Instant::now() >= at) {
            for wrap_up in pending.drain(..) {
                log_lost(&wrap_up, "the database was still failing at shutdown");
                report.lost += 1;
            }
            break;
        }
        // Keep taking new wrap-ups while waiting (the queue must not fill),
        // and notice when every sender is gone.
        let mut until = Instant::now() + wait;
        loop {
            if let Some(at) = senders_gone_at.map(|at| at + budget) {
                until = until.min(at);
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                received = rx.recv(), if senders_gone_at.is_none() => match received {
                    Some(wrap_up) => pending.push_back(wrap_up),
                    None => senders_gone_at = Some(Instant::now()),
                },
            }
        }
        wait = (wait * 2).min(RETRY_MAX_WAIT);
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite_store() -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("ivr-wrap-up-writer-{}-{}", std::process::id(), fastrand::u64(..)));
        let store = Store::connect(&format!("sqlite://{}/ivr.db", dir.display())).await.expect("SQLite store");
        (store, dir)
    }

    fn wrap_up(n: i64, code: &str) -> CallWrapUp {
        CallWrapUp {
            call_id: format!("call-{n}"),
            agent: "marta".into(),
            disposition_code: code.into(),
            notes: Some("Vol una cita al CAP.".into()),
            finished_at_ms: 1_795_000_000_000 + n,
            wrap_up_ms: Some(12_000),
        }
    }

    async fn finished(handle: tokio::task::JoinHandle<WrapUpReport>) -> WrapUpReport {
        tokio::time::timeout(Duration::from_secs(20), handle).await.expect("the writer finishes").expect("no panic")
    }

    #[tokio::test]
    async fn everything_queued_is_stored_in_order_when_the_senders_drop() {
        let (store, dir) = sqlite_store().await;
        let (sender, handle) = spawn(store.clone());
        for n in 0..5 {
            sender.try_send(wrap_up(n, "resolved")).expect("room in the queue");
        }
        // The same wrap-up again (a retried command): stored once.
        sender.try_send(wrap_up(0, "resolved")).expect("room in the queue");
        drop(sender);
        assert_eq!(finished(handle).await, WrapUpReport { written: 6, retries: 0, lost: 0 });
        let stored = store.wrap_ups_between(0, i64::MAX).await.expect("read");
        let ids: Vec<&str> = stored.iter().map(|w| w.call_id.as_str()).collect();
        assert_eq!(ids, ["call-0", "call-1", "call-2", "call-3", "call-4"]);
        assert_eq!(stored[0], wrap_up(0, "resolved"));
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_database_that_keeps_failing_is_retried_then_given_up_within_the_budget() {
        let (store, dir) = sqlite_store().await;
        store.close().await;
        let (sender, handle) = spawn_with_budget(store, Duration::from_millis(300));
        sender.try_send(wrap_up(1, "resolved")).expect("room in the queue");
        sender.try_send(wrap_up(2, "complaint")).expect("room in the queue");
        let started = std::time::Instant::now();
        drop(sender);
        let report = finished(handle).await;
        assert_eq!((report.written, report.lost), (0, 2));
        assert!(report.retries >= 1, "{report:?}");
        assert!(started.elapsed() < Duration::from_secs(3), "gave up after {:?}", started.elapsed());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn a_wrap_up_the_store_refuses_is_dropped_and_the_rest_stored() {
        let (store, dir) = sqlite_store().await;
        let (sender, handle) = spawn(store.clone());
        sender.try_send(wrap_up(1, "Not A Code")).expect("room in the queue");
        sender.try_send(wrap_up(2, "resolved")).expect("room in the queue");
        drop(sender);
        assert_eq!(finished(handle).await, WrapUpReport { written: 1, retries: 0, lost: 1 });
        assert_eq!(store.wrap_ups_for_call("call-2").await.expect("read").len(), 1);
        store.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
