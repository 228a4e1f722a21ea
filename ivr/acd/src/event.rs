//! What the ACD hands back: outputs for the engine, agent states, and the
//! queue log.
//!
//! Owns: the output and log vocabulary. Every transition of a call or an
//! agent is a [`QueueEvent`]; storage persists them and every report
//! (service level, abandon rate, occupancy, handle times) is recomputed from
//! them alone.

use std::fmt;
use std::time::{Duration, Instant};

use crate::ids::{AgentId, CallId, QueueId};

/// A number to call back: personal data, redacted in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct CallbackNumber(String);

impl CallbackNumber {
    pub fn new(number: impl Into<String>) -> CallbackNumber {
        CallbackNumber(number.into())
    }

    /// The digits, for the one place that dials them.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CallbackNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CallbackNumber(<redacted>)")
    }
}

/// Why an agent is on break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakReason {
    /// Chosen by the agent (or a supervisor): "lunch", "training"...
    Requested(String),
    /// Put on break by the ACD after `max_no_answer` missed offers in a row.
    MissedOffers,
}

/// The agent's manual status: what they asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentStatus {
    LoggedOut,
    Available,
    OnBreak(BreakReason),
}

/// The agent's system state: what the ACD has them doing. Kept apart from
/// the status: an agent may go on break while on a call and stays `OnCall`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentState {
    Idle,
    /// Resting after a missed or refused offer, until the instant.
    Resting { until: Instant },
    /// Their phone is ringing with this call.
    Offered { call: CallId },
    /// Reserved for a callback to this call's caller.
    Reserved { call: CallId },
    OnCall { call: CallId },
    /// Finishing notes after a call; offered nothing until the instant or
    /// until they say they are done.
    WrapUp { until: Instant },
}

/// Why an offer did not become a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferFailure {
    /// The phone rang for the queue's offer timeout.
    NoAnswer,
    /// 486/600 from the agent's phone.
    Busy,
    /// 603 or the agent pressed decline.
    Declined,
    /// Not registered, or the INVITE failed (408, 480, 5xx, transport).
    Unreachable,
}

/// Why the ACD withdraws an offer it made (the engine stops ringing).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// Ring-all: another agent answered first.
    AnsweredElsewhere,
    /// The caller hung up while the phone rang (a callback key pressed
    /// while it rings is refused: the offer goes on).
    CallerLeft,
    /// The offer timeout passed.
    Timeout,
    /// The agent logged out while their phone rang.
    AgentLoggedOut,
}

/// Why a new caller was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClosedReason {
    /// The queue is closed (its closing time passed, or set by a supervisor).
    Closed,
    /// No agent of the queue is logged in.
    NoAgents,
}

/// Who hung up a connected call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EndedBy {
    Caller,
    Agent,
}

/// One output for the engine. Drain them all after every input.
#[derive(Debug, Clone, PartialEq)]
pub enum AcdOutput {
    /// Ring this agent with this call. Answer with `offer_accepted` or
    /// `offer_failed`. Ring-all queues emit several for one call.
    Offer { call: CallId, agent: AgentId, queue: QueueId },
    /// Stop ringing this agent with this call (no answer is expected).
    CancelOffer { call: CallId, agent: AgentId, reason: CancelReason },
    /// Tell the caller their position (1 = next) and the estimated wait
    /// (None: no agent is staffed to estimate from).
    Announce { call: CallId, position: u32, estimated_wait: Option<Duration> },
    /// The caller waited their maximum; the call has left the queue and the
    /// dialplan's timeout branch follows.
    MaxWaitReached { call: CallId },
    /// The caller was not queued; the dialplan's closed branch follows.
    Closed { call: CallId, reason: ClosedReason },
    /// `agent` is reserved: dial `number` and connect the two, then report
    /// `callback_result`.
    StartCallback { call: CallId, agent: AgentId, number: CallbackNumber },
    /// Every callback attempt failed; the call has left the queue.
    CallbackFailed { call: CallId },
    AgentStateChanged { agent: AgentId, status: AgentStatus, state: AgentState },
    Log(QueueEvent),
}

/// One line of the queue log.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueEvent {
    /// Milliseconds since the ACD's epoch (given to `Acd::new`); storage maps
    /// it to wallclock.
    pub at_ms: u64,
    pub queue: Option<QueueId>,
    pub call: Option<CallId>,
    pub agent: Option<AgentId>,
    pub kind: QueueEventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueueEventKind {
    EnterQueue { priority: i32 },
    Offer,
    RingNoAnswer { reason: OfferFailure, ring_ms: u64 },
    OfferCancelled { reason: CancelReason },
    Connect { wait_ms: u64, ring_ms: u64, callback: bool },
    Abandon { position: u32, wait_ms: u64 },
    ExitWithTimeout { position: u32, wait_ms: u64 },
    Closed { reason: ClosedReason },
    CompleteAgent { wait_ms: u64, talk_ms: u64 },
    CompleteCaller { wait_ms: u64, talk_ms: u64 },
    WrapUp { wrap_ms: u64, ended_early: bool },
    AgentLogin,
    AgentLogoff,
    Pause { reason: BreakReason },
    Unpause,
    Relaxed { stage: u32 },
    Reprioritised { priority: i32 },
    CallbackRequested,
    CallbackStarted { attempt: u32 },
    CallbackAttemptFailed { attempt: u32 },
    CallbackFailed { attempts: u32 },
    QueueClosed,
    QueueOpened,
}

impl QueueEventKind {
    /// The event's name in the log (Asterisk queue_log names where one
    /// exists).
    pub fn name(&self) -> &'static str {
        match self {
            QueueEventKind::EnterQueue { .. } => "ENTERQUEUE",
            QueueEventKind::Offer => "OFFER",
            QueueEventKind::RingNoAnswer { .. } => "RINGNOANSWER",
            QueueEventKind::OfferCancelled { .. } => "OFFERCANCELLED",
            QueueEventKind::Connect { .. } => "CONNECT",
            QueueEventKind::Abandon { .. } => "ABANDON",
            QueueEventKind::ExitWithTimeout { .. } => "EXITWITHTIMEOUT",
            QueueEventKind::Closed { .. } => "CLOSED",
            QueueEventKind::CompleteAgent { .. } => "COMPLETEAGENT",
            QueueEventKind::CompleteCaller { .. } => "COMPLETECALLER",
            QueueEventKind::WrapUp { .. } => "WRAPUP",
            QueueEventKind::AgentLogin => "AGENTLOGIN",
            QueueEventKind::AgentLogoff => "AGENTLOGOFF",
            QueueEventKind::Pause { .. } => "PAUSE",
            QueueEventKind::Unpause => "UNPAUSE",
            QueueEventKind::Relaxed { .. } => "RELAXED",
            QueueEventKind::Reprioritised { .. } => "REPRIORITISED",
            QueueEventKind::CallbackRequested => "CALLBACKREQUESTED",
            QueueEventKind::CallbackStarted { .. } => "CALLBACKSTARTED",
            QueueEventKind::CallbackAttemptFailed { .. } => "CALLBACKATTEMPTFAILED",
            QueueEventKind::CallbackFailed { .. } => "CALLBACKFAILED",
            QueueEventKind::QueueClosed => "QUEUECLOSED",
            QueueEventKind::QueueOpened => "QUEUEOPENED",
        }
    }
}
