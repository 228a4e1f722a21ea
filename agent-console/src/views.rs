//! The JSON shapes the pages see, made from the engine's [`LiveState`] for
//! one viewer: an agent sees their own state, their offer and call, and a
//! summary of the queues; supervisors and admins see the wallboard.
//!
//! Owns every live DTO and the masking of caller numbers. Must never put a
//! clear number in a view for a role below `clear_numbers_from`.

use std::time::{Duration, Instant};

use ivr_acd::{AgentSnapshot, AgentState, AgentStatus, BreakReason, CallId, QueueSnapshot, WaitingCallSnapshot};
use ivr_store::report::Tally;
use serde::Serialize;

use crate::control::{CallContext, CallMonitor, LiveState};

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// `+34612345678` -> `*********678`: the last three digits, for a caller
/// who says "it's me again"; all masked when shorter than seven.
pub fn mask_number(number: &str) -> String {
    let count = number.chars().count();
    let keep = if count >= 7 { 3 } else { 0 };
    number.chars().enumerate().map(|(i, c)| if i + keep < count { '*' } else { c }).collect()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentView {
    pub login: String,
    pub display_name: String,
    /// `logged_out`, `available` or `on_break`.
    pub status: &'static str,
    /// The break's reason (`missed_offers` when the ACD put them on break).
    pub break_reason: Option<String>,
    /// `idle`, `resting`, `offered`, `reserved`, `on_call` or `wrap_up`.
    pub state: &'static str,
    /// The call offered, reserved or connected.
    pub call: Option<u64>,
    /// Wrap-up or rest: milliseconds left.
    pub remaining_ms: Option<u64>,
    pub time_in_status_ms: u64,
    pub time_in_state_ms: u64,
    pub talk_time_ms: u64,
    pub missed_in_a_row: u32,
}

pub fn agent_view(a: &AgentSnapshot, now: Instant) -> AgentView {
    let (status, break_reason) = match &a.status {
        AgentStatus::LoggedOut => ("logged_out", None),
        AgentStatus::Available => ("available", None),
        AgentStatus::OnBreak(BreakReason::Requested(reason)) => ("on_break", Some(reason.clone())),
        AgentStatus::OnBreak(BreakReason::MissedOffers) => ("on_break", Some("missed_offers".to_owned())),
    };
    let (state, call, until) = match a.state {
        AgentState::Idle => ("idle", None, None),
        AgentState::Resting { until } => ("resting", None, Some(until)),
        AgentState::Offered { call } => ("offered", Some(call.0), None),
        AgentState::Reserved { call } => ("reserved", Some(call.0), None),
        AgentState::OnCall { call } => ("on_call", Some(call.0), None),
        AgentState::WrapUp { until } => ("wrap_up", None, Some(until)),
    };
    AgentView {
        login: a.login.clone(),
        display_name: a.display_name.clone(),
        status,
        break_reason,
        state,
        call,
        remaining_ms: until.map(|u| ms(u.saturating_duration_since(now))),
        time_in_status_ms: ms(a.time_in_status),
        time_in_state_ms: ms(a.time_in_state),
        talk_time_ms: ms(a.talk_time),
        missed_in_a_row: a.missed_in_a_row,
    }
}

/// A call with what the caller told the IVR.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CallView {
    pub call: u64,
    pub queue: Option<String>,
    pub language: Option<String>,
    pub topic: Option<String>,
    pub ivr_path: String,
    pub repeat_caller: bool,
    pub callback: bool,
    /// Masked (`*********678`) unless the role allows; `null`: withheld.
    pub caller_number: Option<String>,
    pub number_masked: bool,
    pub on_hold: bool,
    pub muted: bool,
    /// The supervisor monitoring the call and how (wallboard only: `null`
    /// in an agent's own view).
    pub monitor: Option<CallMonitor>,
}

pub fn call_view(live: &LiveState, call: CallId, clear_numbers: bool) -> CallView {
    let empty = CallContext::default();
    let c = live.calls.get(&call).unwrap_or(&empty);
    let queue = c.queue.and_then(|q| live.acd.queues.iter().find(|s| s.id == q)).map(|q| q.name.clone());
    CallView {
        call: call.0,
        queue,
        language: c.language.clone(),
        topic: c.topic.clone(),
        ivr_path: c.ivr_path.clone(),
        repeat_caller: c.repeat_caller,
        callback: c.callback,
        caller_number: c.caller_number.as_deref().map(|n| if clear_numbers { n.to_owned() } else { mask_number(n) }),
        number_masked: !clear_numbers,
        on_hold: c.on_hold,
        muted: c.muted,
        monitor: c.monitor.clone(),
    }
}

/// An agent's own view of a call: everything but who monitors it.
fn own_call_view(live: &LiveState, call: CallId, clear_numbers: bool) -> CallView {
    CallView { monitor: None, ..call_view(live, call, clear_numbers) }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WaitingView {
    pub call: u64,
    pub position: u32,
    pub priority: i32,
    pub waited_ms: u64,
    pub offered: bool,
    pub callback: bool,
    pub language: Option<String>,
    pub topic: Option<String>,
}

fn waiting_view(live: &LiveState, w: &WaitingCallSnapshot) -> WaitingView {
    let context = live.calls.get(&w.call);
    WaitingView {
        call: w.call.0,
        position: w.position,
        priority: w.priority,
        waited_ms: ms(w.waited),
        offered: w.offered,
        callback: w.callback,
        language: context.and_then(|c| c.language.clone()),
        topic: context.and_then(|c| c.topic.clone()),
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueView {
    pub name: String,
    pub closed: bool,
    pub waiting: Vec<WaitingView>,
    pub longest_wait_ms: Option<u64>,
    pub agents_staffed: u32,
    pub agents_free: u32,
}

pub fn queue_view(live: &LiveState, q: &QueueSnapshot) -> QueueView {
    QueueView {
        name: q.name.clone(),
        closed: q.closed,
        waiting: q.calls.iter().map(|w| waiting_view(live, w)).collect(),
        longest_wait_ms: q.longest_wait.map(ms),
        agents_staffed: q.agents_staffed,
        agents_free: q.agents_free,
    }
}

/// What an agent sees of the queues: counts, not callers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueSummary {
    pub name: String,
    pub waiting: u32,
    pub callbacks: u32,
    pub longest_wait_ms: Option<u64>,
    pub agents_free: u32,
}

fn queue_summary(q: &QueueSnapshot) -> QueueSummary {
    QueueSummary {
        name: q.name.clone(),
        waiting: u32::try_from(q.calls.len()).unwrap_or(u32::MAX),
        callbacks: u32::try_from(q.calls.iter().filter(|c| c.callback).count()).unwrap_or(u32::MAX),
        longest_wait_ms: q.longest_wait.map(ms),
        agents_free: q.agents_free,
    }
}

/// `GET /api/agent/state` and the agent's live feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSelf {
    pub agent: AgentView,
    /// The call ringing for this agent, with its context.
    pub offer: Option<CallView>,
    /// The connected call (or the callback being placed).
    pub call: Option<CallView>,
    pub queues: Vec<QueueSummary>,
}

pub fn agent_self(live: &LiveState, agent: &AgentSnapshot, clear_numbers: bool) -> AgentSelf {
    let (offer, call) = match agent.state {
        AgentState::Offered { call } => (Some(own_call_view(live, call, clear_numbers)), None),
        AgentState::OnCall { call } | AgentState::Reserved { call } => (None, Some(own_call_view(live, call, clear_numbers))),
        _ => (None, None),
    };
    AgentSelf {
        agent: agent_view(agent, live.taken_at),
        offer,
        call,
        queues: live.acd.queues.iter().map(queue_summary).collect(),
    }
}

/// Today's figures (`docs/metrics.md`), from the stored records.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub offered: i64,
    pub answered: i64,
    pub abandoned: i64,
    pub service_level: Option<f64>,
    /// The line's target: 80 % answered within 20 s.
    pub service_level_target: f64,
    pub abandon_rate: Option<f64>,
    pub asa_s: Option<f64>,
    pub aht_s: Option<f64>,
    pub satisfaction: Option<f64>,
    pub surveys: i64,
    pub longest_wait_s: Option<f64>,
}

pub fn figures(t: &Tally) -> Figures {
    Figures {
        offered: t.offered,
        answered: t.answered,
        abandoned: t.abandoned,
        service_level: t.service_level(),
        service_level_target: 0.8,
        abandon_rate: t.abandon_rate(),
        asa_s: t.asa_s(),
        aht_s: t.aht_s(),
        satisfaction: t.satisfaction(),
        surveys: t.surveys(),
        longest_wait_s: t.longest_wait_s(),
    }
}

/// `GET /api/supervisor/wallboard` and the supervisors' live feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Wallboard {
    pub in_ivr: u32,
    pub queues: Vec<QueueView>,
    pub agents: Vec<AgentView>,
    /// Calls with an agent (offered or connected), with their context.
    pub calls: Vec<CallView>,
    /// `None` when the store could not be read (the live part still shows).
    pub today: Option<Figures>,
}

pub fn wallboard(live: &LiveState, clear_numbers: bool, today: Option<Figures>) -> Wallboard {
    let calls = live
        .acd
        .agents
        .iter()
        .filter_map(|a| match a.state {
            AgentState::Offered { call } | AgentState::OnCall { call } | AgentState::Reserved { call } => Some(call),
            _ => None,
        })
        .map(|call| call_view(live, call, clear_numbers))
        .collect();
    Wallboard {
        in_ivr: live.in_ivr,
        queues: live.acd.queues.iter().map(|q| queue_view(live, q)).collect(),
        agents: live.acd.agents.iter().map(|a| agent_view(a, live.taken_at)).collect(),
        calls,
        today,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_their_last_three_digits_when_long_enough() {
        assert_eq!(mask_number("+34612345678"), "*********678");
        assert_eq!(mask_number("012"), "***");
        assert_eq!(mask_number(""), "");
        assert_eq!(mask_number("ñandú€12345"), "********345");
    }
}
