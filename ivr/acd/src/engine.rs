//! The ACD state machine: tables of queues, agents and calls, and the
//! commands that change them.
//!
//! Owns: every call's place in its queue and every agent's status and state.
//! Must never do IO or read the clock; must never panic on any sequence of
//! commands (a command that does not fit the state is an [`AcdError`] and
//! changes nothing).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use crate::config::{AcdConfig, AgentConfig, QueueConfig};
use crate::event::{
    AcdOutput, AgentState, AgentStatus, BreakReason, CallbackNumber, CancelReason, ClosedReason, EndedBy, OfferFailure,
    QueueEvent, QueueEventKind,
};
use crate::ids::{AgentId, CallId, QueueId};
use crate::skills::{self, AgentSkills, Requirement, SkillTable};

/// A command that does not fit the current state. Nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AcdError {
    #[error("unknown queue {0}")]
    UnknownQueue(QueueId),
    #[error("unknown agent {0}")]
    UnknownAgent(AgentId),
    #[error("unknown call {0}")]
    UnknownCall(CallId),
    #[error("{0} is already queued or connected")]
    DuplicateCall(CallId),
    #[error("{call} is not offered to {agent}")]
    NoSuchOffer { call: CallId, agent: AgentId },
    #[error("{0} is not waiting in a queue")]
    NotWaiting(CallId),
    #[error("{0} is not connected to an agent")]
    NotConnected(CallId),
    #[error("{0} is ringing an agent: the offer goes on, no callback is taken")]
    OfferRinging(CallId),
    #[error("{0} has no callback in progress")]
    NoCallbackInProgress(CallId),
    #[error("{0} is logged out")]
    AgentLoggedOut(AgentId),
    #[error("an agent with login {0:?} exists already")]
    DuplicateLogin(String),
    #[error("no queue is named {0:?}")]
    UnknownQueueName(String),
    #[error("skill level {0} is out of range 1..=10")]
    LevelOutOfRange(u8),
    #[error("a queue named {0:?} exists already")]
    DuplicateQueue(String),
    #[error("queue {queue:?} still holds {callers} caller(s): remove it once they have been served")]
    QueueHasCallers { queue: String, callers: usize },
    #[error("agent {login:?} is busy with call {call}: remove them once it has ended")]
    AgentBusy { login: String, call: CallId },
}

pub(crate) fn check_levels(skills: &[(String, String, u8)]) -> Result<(), AcdError> {
    match skills.iter().find(|(_, _, l)| !(1..=10).contains(l)) {
        Some((_, _, l)) => Err(AcdError::LevelOutOfRange(*l)),
        None => Ok(()),
    }
}

/// Where a queued call keeps its place: higher priority first, then arrival.
pub(crate) type WaitKey = (Reverse<i32>, u64);

#[derive(Debug)]
pub(crate) enum CallPhase {
    /// In its place, routable.
    Waiting,
    /// In its place, ringing these agents.
    Offered { agents: Vec<AgentId>, since: Instant, expires: Option<Instant> },
    /// In its place but not routable: the caller pressed the callback key
    /// and is giving their number. No offer, announcement or maximum wait
    /// until `request_callback` (or `caller_abandoned`).
    ChoosingCallback,
    /// In its place, a callback attempt to be retried at `until`.
    Deferred { until: Instant },
    /// In its place, an agent reserved and the caller being called back.
    CallbackInFlight { agent: AgentId, since: Instant },
    /// Out of the queue, talking.
    Connected { agent: AgentId, since: Instant },
}

#[derive(Debug)]
pub(crate) struct CallbackState {
    pub number: CallbackNumber,
    pub attempts: u32,
}

#[derive(Debug)]
pub(crate) struct Call {
    pub queue: QueueId,
    pub key: WaitKey,
    pub skills: Vec<(String, String)>,
    pub reqs: Vec<Requirement>,
    pub stage: usize,
    pub entered: Instant,
    pub max_wait_at: Option<Instant>,
    pub next_announce: Option<Instant>,
    pub next_relax: Option<Instant>,
    pub phase: CallPhase,
    pub callback: Option<CallbackState>,
}

#[derive(Debug)]
pub(crate) struct Queue {
    pub config: QueueConfig,
    pub waiting: BTreeMap<WaitKey, CallId>,
    pub members: Vec<AgentId>,
    pub closed: bool,
    /// Recent handle times (talk + wrap-up), newest last, for estimates.
    pub handle_times: VecDeque<Duration>,
    pub rr_last: Option<AgentId>,
    /// Removed by `remove_queue`: its id is never reused, its name is free.
    pub removed: bool,
}

#[derive(Debug)]
pub(crate) struct Agent {
    pub login: String,
    pub display_name: String,
    pub sip_user: String,
    pub skills: AgentSkills,
    pub queues: Vec<QueueId>,
    pub status: AgentStatus,
    pub state: AgentState,
    pub status_since: Instant,
    pub state_since: Instant,
    pub idle_since: Instant,
    pub talk_time: Duration,
    pub misses: u32,
    /// The call being handled (for the handle time sample at wrap-up end).
    pub handling: Option<(QueueId, Instant)>,
    /// Removed by `remove_agent`: logged out, in no queue, its id never
    /// reused, its login free for a new agent.
    pub removed: bool,
}

/// Timers are per entity; a popped entry is stale unless it still matches
/// the entity's next deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum TimerKey {
    Call(CallId),
    Agent(AgentId),
}

/// Counts since start: `arrived = answered + abandoned + timed_out + closed
/// + callback_failed + in_queue` always holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcdStats {
    pub arrived: u64,
    pub answered: u64,
    pub abandoned: u64,
    pub timed_out: u64,
    pub closed: u64,
    pub callback_failed: u64,
    /// Calls holding a place in a queue now (waiting, ringing, deferred or
    /// being called back).
    pub in_queue: u64,
}

/// A caller joining a queue: [`Acd::enqueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    pub call: CallId,
    pub queue: QueueId,
    /// (skill, value) pairs such as ("language", "ca").
    pub skills: Vec<(String, String)>,
    /// Higher is served first; 0 by default.
    pub priority: i32,
    /// Shortens the queue's own maximum wait (the shorter of the two
    /// applies); None: the queue's.
    pub max_wait: Option<Duration>,
}

impl Enqueue {
    /// `call` joins `queue` with no skills, priority 0 and the queue's
    /// maximum wait.
    pub fn new(call: CallId, queue: QueueId) -> Enqueue {
        Enqueue { call, queue, skills: Vec::new(), priority: 0, max_wait: None }
    }
}

/// Handle times kept per queue for wait estimates.
pub(crate) const HANDLE_TIME_SAMPLES: usize = 50;

/// The operator queue.
///
/// Run loop (the shell's contract): after every input (a command or
/// `handle_timeout`), call [`Acd::poll_output`] until it returns `None`,
/// then wait until [`Acd::poll_timeout`] or the next command. Every input
/// carries `now`; instants must not go backwards between inputs.
///
/// Invariants (property-tested): a call is offered to one agent at a time
/// (ring-all: several, and the first answer cancels the others); no offer
/// goes to an agent who is not available and idle; within a priority, an
/// agent is offered the earliest call they can take; every call that
/// arrives leaves exactly once (see [`AcdStats`]).
#[derive(Debug)]
pub struct Acd {
    pub(crate) epoch: Instant,
    pub(crate) queues: Vec<Queue>,
    pub(crate) agents: Vec<Agent>,
    pub(crate) skill_table: SkillTable,
    pub(crate) calls: HashMap<CallId, Call>,
    /// Every queued call of every queue, in routing order.
    pub(crate) global: BTreeMap<WaitKey, CallId>,
    /// Agents available and idle.
    pub(crate) free: BTreeSet<AgentId>,
    pub(crate) dirty_agents: BTreeSet<AgentId>,
    pub(crate) dirty_calls: BTreeSet<WaitKey>,
    pub(crate) timers: BinaryHeap<Reverse<(Instant, TimerKey)>>,
    pub(crate) outputs: VecDeque<AcdOutput>,
    pub(crate) next_seq: u64,
    pub(crate) stats: AcdStats,
    pub(crate) agent_by_login: HashMap<String, AgentId>,
}

/// Relax values name skills too; interned so that a caller's value can be
/// matched against them.
pub(crate) fn intern_relax_values(table: &mut SkillTable, queue: &QueueConfig) {
    for step in &queue.relax {
        if let crate::config::Accept::Values(values) = &step.accept {
            for v in values {
                table.intern(&step.skill, v);
            }
        }
    }
}

impl Queue {
    pub(crate) fn new(config: QueueConfig) -> Queue {
        Queue {
            config,
            waiting: BTreeMap::new(),
            members: Vec::new(),
            closed: false,
            handle_times: VecDeque::new(),
            rr_last: None,
            removed: false,
        }
    }
}

pub(crate) fn later(now: Instant, by: Duration) -> Option<Instant> {
    now.checked_add(by)
}

pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Acd {
    /// An ACD with every agent logged out. Log timestamps count from `epoch`.
    pub fn new(config: AcdConfig, epoch: Instant) -> Acd {
        let mut skill_table = SkillTable::default();
        for q in &config.queues {
            intern_relax_values(&mut skill_table, q);
        }
        let queues = config.queues.into_iter().map(Queue::new).collect();
        let mut acd = Acd {
            epoch,
            queues,
            agents: Vec::with_capacity(config.agents.len()),
            skill_table,
            calls: HashMap::new(),
            global: BTreeMap::new(),
            free: BTreeSet::new(),
            dirty_agents: BTreeSet::new(),
            dirty_calls: BTreeSet::new(),
            timers: BinaryHeap::new(),
            outputs: VecDeque::new(),
            next_seq: 0,
            stats: AcdStats::default(),
            agent_by_login: HashMap::new(),
        };
        for agent in &config.agents {
            acd.insert_agent(agent, epoch);
        }
        acd
    }

    /// Adds an agent (the console, `ivr agent add`), logged out. Its id is
    /// the next index.
    pub fn add_agent(&mut self, now: Instant, agent: &AgentConfig) -> Result<AgentId, AcdError> {
        self.advance(now);
        if self.agent_by_login.contains_key(&agent.login) {
            return Err(AcdError::DuplicateLogin(agent.login.clone()));
        }
        if let Some(queue) = agent.queues.iter().find(|q| self.queue_id(q).is_none()) {
            return Err(AcdError::UnknownQueueName(queue.clone()));
        }
        check_levels(&agent.skills)?;
        let id = self.insert_agent(agent, now);
        self.refresh_requirements();
        Ok(id)
    }

    /// Replaces an agent's skills; they apply from the next routing
    /// decision (a free agent may be offered a waiting call at once).
    pub fn set_agent_skills(&mut self, now: Instant, agent: AgentId, skills: &[(String, String, u8)]) -> Result<(), AcdError> {
        self.advance(now);
        check_levels(skills)?;
        let a = self.agents.get_mut(agent.index()).filter(|a| !a.removed).ok_or(AcdError::UnknownAgent(agent))?;
        a.skills = AgentSkills::new(&mut self.skill_table, skills);
        self.refresh_requirements();
        if self.free.contains(&agent) {
            self.dirty_agents.insert(agent);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Callers' skill values are resolved against the values agents have;
    /// a new value (an agent added or reskilled) may resolve one that did
    /// not before. Only the changed agent can newly match, so no call needs
    /// routing again on its own account.
    pub(crate) fn refresh_requirements(&mut self) {
        for c in self.calls.values_mut() {
            c.reqs = skills::requirements(&self.queues[c.queue.index()].config, &self.skill_table, &c.skills, c.stage);
        }
    }

    fn insert_agent(&mut self, config: &AgentConfig, now: Instant) -> AgentId {
        let id = AgentId(u32::try_from(self.agents.len()).expect("fewer than 2^32 agents"));
        let queues = self.queues_named(&config.queues);
        for q in &queues {
            self.queues[q.index()].members.push(id);
        }
        self.agents.push(Agent {
            login: config.login.clone(),
            display_name: config.display_name.clone(),
            sip_user: config.sip_user.clone(),
            skills: AgentSkills::new(&mut self.skill_table, &config.skills),
            queues,
            status: AgentStatus::LoggedOut,
            state: AgentState::Idle,
            status_since: now,
            state_since: now,
            idle_since: now,
            talk_time: Duration::ZERO,
            misses: 0,
            handling: None,
            removed: false,
        });
        self.agent_by_login.entry(config.login.clone()).or_insert(id);
        id
    }

    // ---- lookups -------------------------------------------------------

    pub fn queue_id(&self, name: &str) -> Option<QueueId> {
        self.queues.iter().position(|q| !q.removed && q.config.name == name).map(|i| QueueId(i as u32))
    }

    pub fn queue_name(&self, queue: QueueId) -> Option<&str> {
        self.queues.get(queue.index()).map(|q| q.config.name.as_str())
    }

    pub fn agent_id(&self, login: &str) -> Option<AgentId> {
        self.agent_by_login.get(login).copied()
    }

    /// The agent whose phone registers as this SIP user.
    pub fn agent_by_sip_user(&self, user: &str) -> Option<AgentId> {
        self.agents.iter().position(|a| !a.removed && a.sip_user == user).map(|i| AgentId(i as u32))
    }

    pub fn agent_login_name(&self, agent: AgentId) -> Option<&str> {
        self.agents.get(agent.index()).map(|a| a.login.as_str())
    }

    pub fn agent_sip_user(&self, agent: AgentId) -> Option<&str> {
        self.agents.get(agent.index()).map(|a| a.sip_user.as_str())
    }

    pub fn agent_status(&self, agent: AgentId) -> Option<&AgentStatus> {
        self.agents.get(agent.index()).map(|a| &a.status)
    }

    pub fn agent_state(&self, agent: AgentId) -> Option<AgentState> {
        self.agents.get(agent.index()).map(|a| a.state)
    }

    pub fn stats(&self) -> AcdStats {
        AcdStats { in_queue: self.global.len() as u64, ..self.stats }
    }

    /// Whether `agent` could be offered `call` right now if they were free:
    /// the call holds a place and is not ringing or being called back, the
    /// agent serves its queue, and their skills meet its requirements at
    /// its current relax stage. For supervisors ("who can take this call")
    /// and for tests.
    pub fn can_serve(&self, agent: AgentId, call: CallId) -> bool {
        let (Some(a), Some(c)) = (self.agents.get(agent.index()), self.calls.get(&call)) else { return false };
        matches!(c.phase, CallPhase::Waiting) && a.queues.contains(&c.queue) && skills::satisfies(&a.skills, &c.reqs)
    }

    // ---- outputs -------------------------------------------------------

    pub fn poll_output(&mut self) -> Option<AcdOutput> {
        self.outputs.pop_front()
    }

    /// The next instant `handle_timeout` has work to do.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.timers.peek().copied() {
            match self.next_deadline(key) {
                Some(next) if next <= at => return Some(at),
                next => {
                    self.timers.pop();
                    // A deadline that moved later stays armed at its new time.
                    if let Some(next) = next {
                        self.timers.push(Reverse((next, key)));
                    }
                }
            }
        }
        None
    }

    pub(crate) fn log(&mut self, now: Instant, queue: Option<QueueId>, call: Option<CallId>, agent: Option<AgentId>, kind: QueueEventKind) {
        let at_ms = ms(now.saturating_duration_since(self.epoch));
        self.outputs.push_back(AcdOutput::Log(QueueEvent { at_ms, queue, call, agent, kind }));
    }

    // ---- calls ---------------------------------------------------------

    /// A caller joins a queue (see [`Enqueue`]), or is turned away with
    /// `Closed`.
    pub fn enqueue(&mut self, now: Instant, request: Enqueue) -> Result<(), AcdError> {
        self.enqueue_as(now, request, CallPhase::Waiting)
    }

    /// A callback request that never waited in the queue (asked for out of
    /// hours, or after a maximum wait): it enters the queue already holding
    /// `number`, so it is only ever served as a callback (a plain `enqueue`
    /// followed by `request_callback` could be offered as a live call in
    /// between, and the request then refused as [`AcdError::OfferRinging`]).
    pub fn enqueue_callback(&mut self, now: Instant, call: CallId, queue: QueueId, number: CallbackNumber) -> Result<(), AcdError> {
        self.enqueue_as(now, Enqueue::new(call, queue), CallPhase::ChoosingCallback)?;
        // Not in the calls when the queue was closed (its Closed output says so).
        if self.calls.contains_key(&call) {
            self.request_callback(now, call, number)
        } else {
            Ok(())
        }
    }

    fn enqueue_as(&mut self, now: Instant, request: Enqueue, phase: CallPhase) -> Result<(), AcdError> {
        let Enqueue { call, queue, skills, priority, max_wait } = request;
        self.advance(now);
        let q = self.queues.get(queue.index()).filter(|q| !q.removed).ok_or(AcdError::UnknownQueue(queue))?;
        if self.calls.contains_key(&call) {
            return Err(AcdError::DuplicateCall(call));
        }
        self.stats.arrived += 1;
        let closed = if q.closed {
            Some(ClosedReason::Closed)
        } else if q.config.close_when_no_agents && q.members.iter().all(|a| self.agents[a.index()].status == AgentStatus::LoggedOut) {
            Some(ClosedReason::NoAgents)
        } else {
            None
        };
        if let Some(reason) = closed {
            self.stats.closed += 1;
            self.log(now, Some(queue), Some(call), None, QueueEventKind::Closed { reason });
            self.outputs.push_back(AcdOutput::Closed { call, reason });
            return Ok(());
        }
        let max_wait = max_wait.map_or(q.config.max_wait, |m| m.min(q.config.max_wait));
        let key = (Reverse(priority), self.next_seq);
        self.next_seq += 1;
        let reqs = skills::requirements(&q.config, &self.skill_table, &skills, 0);
        let next_relax = q.config.relax.first().and_then(|s| later(now, s.after));
        self.calls.insert(
            call,
            Call {
                queue,
                key,
                skills,
                reqs,
                stage: 0,
                entered: now,
                max_wait_at: later(now, max_wait),
                next_announce: None,
                next_relax,
                phase,
                callback: None,
            },
        );
        self.queues[queue.index()].waiting.insert(key, call);
        self.global.insert(key, call);
        self.log(now, Some(queue), Some(call), None, QueueEventKind::EnterQueue { priority });
        // Relax steps with after_secs = 0 apply at once.
        self.fire_call(now, call);
        self.dirty_calls.insert(key);
        self.dispatch(now);
        // The first announcement is made on entry, unless an agent is
        // already ringing (then it waits an interval).
        if self.queues[queue.index()].config.announce_interval.is_some()
            && let Some(c) = self.calls.get_mut(&call)
        {
            c.next_announce = Some(now);
            self.fire_call(now, call);
        }
        self.arm(TimerKey::Call(call));
        Ok(())
    }

    /// The caller hung up while holding a place (or cancelled their callback).
    pub fn caller_abandoned(&mut self, now: Instant, call: CallId) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        if matches!(c.phase, CallPhase::Connected { .. }) {
            return Err(AcdError::NotWaiting(call));
        }
        self.withdraw_offers(now, call, CancelReason::CallerLeft);
        let (queue, position, waited) = self.position_and_wait(now, call);
        self.remove_from_queue(call);
        self.calls.remove(&call);
        self.stats.abandoned += 1;
        self.log(now, Some(queue), Some(call), None, QueueEventKind::Abandon { position, wait_ms: ms(waited) });
        self.dispatch(now);
        Ok(())
    }

    /// The ringing agent answered.
    pub fn offer_accepted(&mut self, now: Instant, call: CallId, agent: AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let CallPhase::Offered { agents, since, .. } = &c.phase else {
            return Err(AcdError::NoSuchOffer { call, agent });
        };
        if !agents.contains(&agent) {
            return Err(AcdError::NoSuchOffer { call, agent });
        }
        let ring = now.saturating_duration_since(*since);
        let others: Vec<AgentId> = agents.iter().copied().filter(|a| *a != agent).collect();
        for other in others {
            self.withdraw_offer(now, call, other, CancelReason::AnsweredElsewhere);
        }
        self.connect(now, call, agent, ring, false);
        self.dispatch(now);
        Ok(())
    }

    /// The offer to `agent` failed: busy, declined, unreachable (or no
    /// answer, if the engine times out before the ACD). The call goes back
    /// to its place; the agent rests and counts a miss.
    pub fn offer_failed(&mut self, now: Instant, call: CallId, agent: AgentId, reason: OfferFailure) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let offered = match &c.phase {
            CallPhase::Offered { agents, .. } => agents.contains(&agent),
            CallPhase::CallbackInFlight { agent: a, .. } => *a == agent,
            _ => false,
        };
        if !offered {
            return Err(AcdError::NoSuchOffer { call, agent });
        }
        self.offer_missed(now, call, agent, reason);
        self.fire_call(now, call);
        self.arm(TimerKey::Call(call));
        self.dispatch(now);
        Ok(())
    }

    /// A connected call ended; the agent goes to wrap-up.
    pub fn call_ended(&mut self, now: Instant, call: CallId, by: EndedBy) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let CallPhase::Connected { agent, since } = c.phase else { return Err(AcdError::NotConnected(call)) };
        let (queue, wait) = (c.queue, since.saturating_duration_since(c.entered));
        self.calls.remove(&call);
        let talk = now.saturating_duration_since(since);
        let (wait_ms, talk_ms) = (ms(wait), ms(talk));
        let kind = match by {
            EndedBy::Agent => QueueEventKind::CompleteAgent { wait_ms, talk_ms },
            EndedBy::Caller => QueueEventKind::CompleteCaller { wait_ms, talk_ms },
        };
        self.log(now, Some(queue), Some(call), Some(agent), kind);
        let a = &mut self.agents[agent.index()];
        a.talk_time = a.talk_time.saturating_add(talk);
        let wrap_up = self.queues[queue.index()].config.wrap_up;
        match later(now, wrap_up).filter(|_| !wrap_up.is_zero()) {
            Some(until) => self.set_state(now, agent, AgentState::WrapUp { until }),
            None => self.end_wrap_up(now, agent, false),
        }
        self.arm(TimerKey::Agent(agent));
        self.dispatch(now);
        Ok(())
    }

    /// The caller pressed the callback key: their place is held, unrouted,
    /// while they give a number. Refused with [`AcdError::OfferRinging`]
    /// (nothing changed) when an agent's phone already rings for them: the
    /// offer wins, since the caller is about to be served, and cancelling
    /// it would race the agent's answer (a 200 crossing the CANCEL leaves
    /// either the agent on dead air or a caller bridged from the middle of
    /// the callback questions). A call choosing a callback is never offered,
    /// so an answer can never reach a caller who is giving their number.
    pub fn choose_callback(&mut self, now: Instant, call: CallId) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.calls.get_mut(&call).ok_or(AcdError::UnknownCall(call))?;
        match c.phase {
            CallPhase::Offered { .. } => Err(AcdError::OfferRinging(call)),
            CallPhase::Waiting if c.callback.is_none() => {
                c.phase = CallPhase::ChoosingCallback;
                let key = c.key;
                self.dirty_calls.remove(&key);
                self.arm(TimerKey::Call(call));
                Ok(())
            }
            _ => Err(AcdError::NotWaiting(call)),
        }
    }

    /// The caller asked to be called back at `number`, keeping their place
    /// (waiting, or after `choose_callback`). Refused while an agent's
    /// phone rings for them (see `choose_callback`). From now on they are
    /// not announced to and do not time out.
    pub fn request_callback(&mut self, now: Instant, call: CallId, number: CallbackNumber) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.calls.get_mut(&call).ok_or(AcdError::UnknownCall(call))?;
        match c.phase {
            CallPhase::Offered { .. } => return Err(AcdError::OfferRinging(call)),
            CallPhase::Waiting | CallPhase::ChoosingCallback if c.callback.is_none() => {}
            _ => return Err(AcdError::NotWaiting(call)),
        }
        c.phase = CallPhase::Waiting;
        c.callback = Some(CallbackState { number, attempts: 0 });
        c.max_wait_at = None;
        c.next_announce = None;
        let (queue, key) = (c.queue, c.key);
        self.log(now, Some(queue), Some(call), None, QueueEventKind::CallbackRequested);
        self.dirty_calls.insert(key);
        self.dispatch(now);
        Ok(())
    }

    /// The outcome of a `StartCallback`: the caller answered (the agent is
    /// now on the call) or not (retried after the queue's delay, keeping the
    /// place, until the retries run out).
    pub fn callback_result(&mut self, now: Instant, call: CallId, answered: bool) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.calls.get(&call).ok_or(AcdError::UnknownCall(call))?;
        let CallPhase::CallbackInFlight { agent, since } = c.phase else { return Err(AcdError::NoCallbackInProgress(call)) };
        if answered {
            self.connect(now, call, agent, now.saturating_duration_since(since), true);
            self.dispatch(now);
            return Ok(());
        }
        let queue = c.queue;
        let attempt = c.callback.as_ref().map_or(0, |cb| cb.attempts);
        self.log(now, Some(queue), Some(call), Some(agent), QueueEventKind::CallbackAttemptFailed { attempt });
        self.set_state(now, agent, AgentState::Idle);
        let config = &self.queues[queue.index()].config;
        if attempt > config.callback_retries {
            self.remove_from_queue(call);
            self.calls.remove(&call);
            self.stats.callback_failed += 1;
            self.log(now, Some(queue), Some(call), None, QueueEventKind::CallbackFailed { attempts: attempt });
            self.outputs.push_back(AcdOutput::CallbackFailed { call });
        } else {
            let delay = config.callback_retry_delay;
            let c = self.calls.get_mut(&call).expect("checked above");
            match later(now, delay) {
                Some(until) if !delay.is_zero() => c.phase = CallPhase::Deferred { until },
                _ => {
                    c.phase = CallPhase::Waiting;
                    self.dirty_calls.insert(c.key);
                }
            }
            self.arm(TimerKey::Call(call));
        }
        self.dispatch(now);
        Ok(())
    }

    /// Change a queued call's priority. It keeps its arrival order among
    /// the calls of its new priority.
    pub fn reprioritise(&mut self, now: Instant, call: CallId, priority: i32) -> Result<(), AcdError> {
        self.advance(now);
        let c = self.calls.get_mut(&call).ok_or(AcdError::UnknownCall(call))?;
        if matches!(c.phase, CallPhase::Connected { .. }) {
            return Err(AcdError::NotWaiting(call));
        }
        let (old, queue) = (c.key, c.queue);
        let new = (Reverse(priority), old.1);
        c.key = new;
        let q = &mut self.queues[queue.index()];
        q.waiting.remove(&old);
        q.waiting.insert(new, call);
        self.global.remove(&old);
        self.global.insert(new, call);
        if self.dirty_calls.remove(&old) || matches!(self.calls[&call].phase, CallPhase::Waiting) {
            self.dirty_calls.insert(new);
        }
        self.log(now, Some(queue), Some(call), None, QueueEventKind::Reprioritised { priority });
        self.dispatch(now);
        Ok(())
    }

    /// Open or close a queue (its closing time, from the calendar, or a
    /// supervisor). Callers already holding a place are still served; new
    /// ones get `Closed`.
    pub fn set_closed(&mut self, now: Instant, queue: QueueId, closed: bool) -> Result<(), AcdError> {
        self.advance(now);
        let q = self.queues.get_mut(queue.index()).filter(|q| !q.removed).ok_or(AcdError::UnknownQueue(queue))?;
        if q.closed != closed {
            q.closed = closed;
            let kind = if closed { QueueEventKind::QueueClosed } else { QueueEventKind::QueueOpened };
            self.log(now, Some(queue), None, None, kind);
        }
        self.dispatch(now);
        Ok(())
    }

    // ---- agents --------------------------------------------------------

    /// The agent logs in and becomes available.
    pub fn agent_login(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agents.get_mut(agent.index()).filter(|a| !a.removed).ok_or(AcdError::UnknownAgent(agent))?;
        if a.status == AgentStatus::LoggedOut {
            a.talk_time = Duration::ZERO;
            a.misses = 0;
            a.idle_since = now;
            self.log(now, None, None, Some(agent), QueueEventKind::AgentLogin);
            self.set_status(now, agent, AgentStatus::Available);
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent logs out. A ringing offer is withdrawn (the call keeps its
    /// place); a call in progress or a wrap-up finishes first.
    pub fn agent_logout(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agents.get(agent.index()).ok_or(AcdError::UnknownAgent(agent))?;
        if a.status == AgentStatus::LoggedOut {
            return Ok(());
        }
        if let AgentState::Offered { call } = a.state {
            self.withdraw_offer(now, call, agent, CancelReason::AgentLoggedOut);
            self.fire_call(now, call);
            self.arm(TimerKey::Call(call));
        }
        self.log(now, None, None, Some(agent), QueueEventKind::AgentLogoff);
        self.set_status(now, agent, AgentStatus::LoggedOut);
        self.dispatch(now);
        Ok(())
    }

    /// Back from a break (also clears an automatic break).
    pub fn set_available(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agents.get_mut(agent.index()).ok_or(AcdError::UnknownAgent(agent))?;
        match a.status {
            AgentStatus::LoggedOut => return Err(AcdError::AgentLoggedOut(agent)),
            AgentStatus::Available => {}
            AgentStatus::OnBreak(_) => {
                a.misses = 0;
                if a.state == AgentState::Idle {
                    a.idle_since = now;
                }
                self.log(now, None, None, Some(agent), QueueEventKind::Unpause);
                self.set_status(now, agent, AgentStatus::Available);
            }
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent takes a break. A ringing offer keeps ringing (they may
    /// still answer it); nothing new is offered.
    pub fn set_break(&mut self, now: Instant, agent: AgentId, reason: String) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agents.get(agent.index()).ok_or(AcdError::UnknownAgent(agent))?;
        if a.status == AgentStatus::LoggedOut {
            return Err(AcdError::AgentLoggedOut(agent));
        }
        let reason = BreakReason::Requested(reason);
        if a.status != AgentStatus::OnBreak(reason.clone()) {
            self.log(now, None, None, Some(agent), QueueEventKind::Pause { reason: reason.clone() });
            self.set_status(now, agent, AgentStatus::OnBreak(reason));
        }
        self.dispatch(now);
        Ok(())
    }

    /// The agent ends their wrap-up early.
    pub fn wrap_up_done(&mut self, now: Instant, agent: AgentId) -> Result<(), AcdError> {
        self.advance(now);
        let a = self.agents.get(agent.index()).ok_or(AcdError::UnknownAgent(agent))?;
        if matches!(a.state, AgentState::WrapUp { .. }) {
            self.end_wrap_up(now, agent, true);
        }
        self.dispatch(now);
        Ok(())
    }

    /// Run every deadline due at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance(now);
        self.dispatch(now);
    }
}
