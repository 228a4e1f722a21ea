//! Read-only views for the console and the wallboard.
//!
//! Owns: the snapshot shapes. Never changes the ACD; never exposes a
//! callback number.

use std::time::{Duration, Instant};

use crate::engine::{Acd, CallPhase};
use crate::event::{AgentState, AgentStatus};
use crate::ids::{AgentId, CallId, QueueId};

#[derive(Debug, Clone, PartialEq)]
pub struct AcdSnapshot {
    pub queues: Vec<QueueSnapshot>,
    pub agents: Vec<AgentSnapshot>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueSnapshot {
    pub id: QueueId,
    pub name: String,
    pub closed: bool,
    /// Calls holding a place, in routing order.
    pub calls: Vec<WaitingCallSnapshot>,
    pub longest_wait: Option<Duration>,
    /// Members logged in and available (on a call or not).
    pub agents_staffed: u32,
    /// Members available and idle now.
    pub agents_free: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaitingCallSnapshot {
    pub call: CallId,
    pub position: u32,
    pub priority: i32,
    pub waited: Duration,
    /// Ringing an agent (or, for a callback, being called back).
    pub offered: bool,
    pub callback: bool,
    /// Relax steps applied so far.
    pub relax_stage: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AgentSnapshot {
    pub id: AgentId,
    pub login: String,
    pub display_name: String,
    pub status: AgentStatus,
    pub state: AgentState,
    pub time_in_status: Duration,
    pub time_in_state: Duration,
    pub talk_time: Duration,
    pub missed_in_a_row: u32,
}

impl Acd {
    pub fn snapshot(&self, now: Instant) -> AcdSnapshot {
        let queues = self
            .queues
            .iter()
            .enumerate()
            .filter(|(_, q)| !q.removed)
            .map(|(i, q)| {
                let calls: Vec<WaitingCallSnapshot> = q
                    .waiting
                    .iter()
                    .enumerate()
                    .filter_map(|(pos, (key, call))| {
                        let c = self.calls.get(call)?;
                        Some(WaitingCallSnapshot {
                            call: *call,
                            position: u32::try_from(pos + 1).unwrap_or(u32::MAX),
                            priority: key.0.0,
                            waited: now.saturating_duration_since(c.entered),
                            offered: matches!(c.phase, CallPhase::Offered { .. } | CallPhase::CallbackInFlight { .. }),
                            callback: c.callback.is_some(),
                            relax_stage: u32::try_from(c.stage).unwrap_or(u32::MAX),
                        })
                    })
                    .collect();
                let members = q.members.iter().map(|a| &self.agents[a.index()]);
                QueueSnapshot {
                    id: QueueId(i as u32),
                    name: q.config.name.clone(),
                    closed: q.closed,
                    longest_wait: calls.iter().map(|c| c.waited).max(),
                    calls,
                    agents_staffed: members.clone().filter(|a| a.status == AgentStatus::Available).count() as u32,
                    agents_free: q.members.iter().filter(|a| self.free.contains(a)).count() as u32,
                }
            })
            .collect();
        let agents = self
            .agents
            .iter()
            .enumerate()
            .filter(|(_, a)| !a.removed)
            .map(|(i, a)| AgentSnapshot {
                id: AgentId(i as u32),
                login: a.login.clone(),
                display_name: a.display_name.clone(),
                status: a.status.clone(),
                state: a.state,
                time_in_status: now.saturating_duration_since(a.status_since),
                time_in_state: now.saturating_duration_since(a.state_since),
                talk_time: a.talk_time,
                missed_in_a_row: a.misses,
            })
            .collect();
        AcdSnapshot { queues, agents }
    }
}
