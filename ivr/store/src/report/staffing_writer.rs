//! Agents' staffing intervals from the queue log: the engine reports each
//! AGENTLOGIN, AGENTLOGOFF, PAUSE and UNPAUSE through
//! [`crate::RecordSender::agent_staffing`] (never waiting); [`StaffingLog`]
//! turns them into closed `ready` and `break` intervals and a task beside
//! the record writer stores them with [`Store::insert_staffing`].
//!
//! # What it owns
//! - The open interval of each agent (sans-IO, [`StaffingLog`]) and the
//!   task that stores the closed ones in batches.
//!
//! # What it must never do
//! - Block the engine: a full queue refuses the change (counted by the
//!   caller), the call path goes on.
//! - Lose an open interval at an orderly shutdown: when the last sender is
//!   dropped every open interval is closed at that moment and stored. (A
//!   crash loses the open intervals: they are not journaled.)

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::{StaffingInterval, StaffingState};
use crate::Store;

/// What the queue log said about an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StaffingChange {
    /// AGENTLOGIN: ready from now.
    LoggedIn,
    /// AGENTLOGOFF: no longer staffed.
    LoggedOut,
    /// PAUSE: on a break from now.
    Paused,
    /// UNPAUSE: ready again.
    Unpaused,
}

impl StaffingChange {
    /// The change a queue-log line names (`AGENTLOGIN`, `AGENTLOGOFF`,
    /// `PAUSE`, `UNPAUSE`, the ACD's `QueueEventKind::name`); `None` for
    /// every other line. The server and the simulated year both map the
    /// ACD's log through this, so their intervals mean the same.
    pub fn from_queue_log(name: &str) -> Option<StaffingChange> {
        match name {
            "AGENTLOGIN" => Some(StaffingChange::LoggedIn),
            "AGENTLOGOFF" => Some(StaffingChange::LoggedOut),
            "PAUSE" => Some(StaffingChange::Paused),
            "UNPAUSE" => Some(StaffingChange::Unpaused),
            _ => None,
        }
    }
}

/// One agent event, at wall-clock epoch milliseconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentStaffingEvent {
    pub agent: String,
    pub at_ms: i64,
    pub change: StaffingChange,
}

/// Each agent's open interval (state and start), closed by the next change.
#[derive(Debug, Default)]
pub struct StaffingLog {
    open: HashMap<String, (StaffingState, i64)>,
}

impl StaffingLog {
    /// Applies `event`; returns the interval it closes, if any. A change to
    /// the state the agent is already in (a second login) keeps the open
    /// interval; an interval of no length is not returned.
    pub fn apply(&mut self, event: &AgentStaffingEvent) -> Option<StaffingInterval> {
        let next = match event.change {
            StaffingChange::LoggedIn | StaffingChange::Unpaused => Some(StaffingState::Ready),
            StaffingChange::Paused => Some(StaffingState::Break),
            StaffingChange::LoggedOut => None,
        };
        let previous = self.open.remove(&event.agent);
        if let (Some((state, from_ms)), Some(next)) = (previous, next)
            && state == next
        {
            self.open.insert(event.agent.clone(), (state, from_ms));
            return None;
        }
        if let Some(next) = next {
            self.open.insert(event.agent.clone(), (next, event.at_ms));
        }
        let (state, from_ms) = previous?;
        (from_ms < event.at_ms).then(|| StaffingInterval {
            agent: event.agent.clone(),
            from_ms,
            to_ms: event.at_ms,
            state,
        })
    }

    /// Closes every open interval at `at_ms` (shutdown), agents in name
    /// order.
    pub fn close_all(&mut self, at_ms: i64) -> Vec<StaffingInterval> {
        let mut open: Vec<(String, (StaffingState, i64))> = self.open.drain().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        open.into_iter()
            .filter(|(_, (_, from_ms))| *from_ms < at_ms)
            .map(|(agent, (state, from_ms))| StaffingInterval { agent, from_ms, to_ms: at_ms, state })
            .collect()
    }

    pub fn open_agents(&self) -> usize {
        self.open.len()
    }
}

/// How long closed intervals wait to be stored together.
const STAFFING_WINDOW: Duration = Duration::from_secs(1);
/// Closed intervals kept while the database is down; older ones are
/// dropped (and logged) past this.
const MAX_PENDING: usize = 10_000;
/// How long the final write at shutdown keeps retrying.
const SHUTDOWN_BUDGET: Duration = Duration::from_secs(5);

/// Spawns the staffing task; it ends when every sender is dropped, after
/// closing the open intervals and storing them.
pub(crate) fn spawn(store: Store, capacity: usize) -> (mpsc::Sender<AgentStaffingEvent>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (tx, tokio::spawn(run(store, rx)))
}

async fn run(store: Store, mut rx: mpsc::Receiver<AgentStaffingEvent>) {
    let mut log = StaffingLog::default();
    let mut pending: Vec<StaffingInterval> = Vec::new();
    let mut events = Vec::with_capacity(256);
    loop {
        let received = tokio::time::timeout(STAFFING_WINDOW, rx.recv_many(&mut events, 256)).await;
        if received == Ok(0) {
            break;
        }
        pending.extend(events.drain(..).filter_map(|event| log.apply(&event)));
        if received.is_err() && !pending.is_empty() {
            store_pending(&store, &mut pending).await;
        }
    }
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    pending.extend(log.close_all(now_ms));
    let deadline = tokio::time::Instant::now() + SHUTDOWN_BUDGET;
    while !pending.is_empty() && tokio::time::Instant::now() < deadline {
        if !store_pending(&store, &mut pending).await {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    if !pending.is_empty() {
        tracing::error!(intervals = pending.len(), "agents' staffing intervals not stored at shutdown");
    }
}

/// Stores `pending` (cleared on success); on failure keeps the newest
/// [`MAX_PENDING`]. Returns whether they were stored.
async fn store_pending(store: &Store, pending: &mut Vec<StaffingInterval>) -> bool {
    match store.insert_staffing(pending).await {
        Ok(()) => {
            pending.clear();
            true
        }
        Err(error) => {
            tracing::warn!(error = %error, intervals = pending.len(), "storing agents' staffing failed; will retry");
            if pending.len() > MAX_PENDING {
                let dropped = pending.len() - MAX_PENDING;
                pending.drain(..dropped);
                tracing::error!(dropped, "agents' staffing intervals dropped while the database is down");
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(agent: &str, at_ms: i64, change: StaffingChange) -> AgentStaffingEvent {
        AgentStaffingEvent { agent: agent.to_owned(), at_ms, change }
    }

    fn interval(agent: &str, from_ms: i64, to_ms: i64, state: StaffingState) -> StaffingInterval {
        StaffingInterval { agent: agent.to_owned(), from_ms, to_ms, state }
    }

    #[test]
    fn queue_log_names_map_to_staffing_changes_and_nothing_else_does() {
        assert_eq!(StaffingChange::from_queue_log("AGENTLOGIN"), Some(StaffingChange::LoggedIn));
        assert_eq!(StaffingChange::from_queue_log("AGENTLOGOFF"), Some(StaffingChange::LoggedOut));
        assert_eq!(StaffingChange::from_queue_log("PAUSE"), Some(StaffingChange::Paused));
        assert_eq!(StaffingChange::from_queue_log("UNPAUSE"), Some(StaffingChange::Unpaused));
        for other in ["CONNECT", "WRAPUP", "ENTERQUEUE", "agentlogin", ""] {
            assert_eq!(StaffingChange::from_queue_log(other), None, "{other}");
        }
    }

    #[test]
    fn a_shift_with_a_break_is_ready_break_ready() {
        let mut log = StaffingLog::default();
        assert_eq!(log.apply(&event("a1", 1_000, StaffingChange::LoggedIn)), None);
        assert_eq!(log.apply(&event("a1", 5_000, StaffingChange::Paused)), Some(interval("a1", 1_000, 5_000, StaffingState::Ready)));
        assert_eq!(log.apply(&event("a1", 6_000, StaffingChange::Unpaused)), Some(interval("a1", 5_000, 6_000, StaffingState::Break)));
        assert_eq!(log.apply(&event("a1", 9_000, StaffingChange::LoggedOut)), Some(interval("a1", 6_000, 9_000, StaffingState::Ready)));
        assert_eq!(log.open_agents(), 0);
        assert_eq!(log.apply(&event("a1", 9_500, StaffingChange::LoggedOut)), None, "logged out twice");
    }

    #[test]
    fn a_second_login_keeps_the_open_interval_and_shutdown_closes_all() {
        let mut log = StaffingLog::default();
        log.apply(&event("b", 0, StaffingChange::LoggedIn));
        assert_eq!(log.apply(&event("b", 10, StaffingChange::LoggedIn)), None);
        log.apply(&event("a", 20, StaffingChange::LoggedIn));
        log.apply(&event("a", 30, StaffingChange::Paused));
        log.apply(&event("c", 100, StaffingChange::LoggedIn));
        assert_eq!(
            log.close_all(100),
            [interval("a", 30, 100, StaffingState::Break), interval("b", 0, 100, StaffingState::Ready)],
            "c's interval has no length"
        );
        assert_eq!(log.open_agents(), 0);
    }
}
