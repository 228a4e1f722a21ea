//! The ACD's mechanism: timers, routing (matching free agents to waiting
//! calls), offers and their outcomes, agent state bookkeeping.
//!
//! Owns: the matching invariant. After every input, no call in `Waiting`
//! can be served by a free agent. An input can only break it through the
//! agents that became free and the calls that became routable (or
//! relaxed, or moved), which it marks dirty; `dispatch` then scans the
//! queued calls in routing order, pairing dirty calls with any free agent
//! and other calls with dirty agents only. Never panics.

use std::cmp::Reverse;
use std::ops::Bound::{Excluded, Included, Unbounded};
use std::time::{Duration, Instant};

use crate::config::Strategy;
use crate::engine::{later, ms, Acd, CallPhase, TimerKey, HANDLE_TIME_SAMPLES};
use crate::event::{AcdOutput, AgentState, AgentStatus, BreakReason, CancelReason, OfferFailure, QueueEventKind};
use crate::ids::{AgentId, CallId, QueueId};
use crate::skills;
use crate::strategy::{self, Candidate};

impl Acd {
    // ---- timers --------------------------------------------------------

    /// Fires every due deadline in time order, each at its own instant;
    /// everything due at one instant happens first, then routing, as if
    /// `handle_timeout` had been called on time.
    pub(crate) fn advance(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            while let Some(Reverse((due, key))) = self.timers.peek().copied() {
                if due != at {
                    break;
                }
                self.timers.pop();
                match self.next_deadline(key) {
                    None => continue, // stale: the deadlines went away
                    Some(next) if next > at => {
                        // Stale: the deadline moved later; keep it armed.
                        self.timers.push(Reverse((next, key)));
                        continue;
                    }
                    Some(_) => {}
                }
                match key {
                    TimerKey::Call(call) => self.fire_call(at, call),
                    TimerKey::Agent(agent) => self.fire_agent(at, agent),
                }
                self.arm(key);
            }
            self.dispatch(at);
        }
    }

    /// The entity's earliest deadline that will change something.
    pub(crate) fn next_deadline(&self, key: TimerKey) -> Option<Instant> {
        match key {
            TimerKey::Agent(agent) => match self.agents.get(agent.index())?.state {
                AgentState::WrapUp { until } | AgentState::Resting { until } => Some(until),
                _ => None,
            },
            TimerKey::Call(call) => {
                let c = self.calls.get(&call)?;
                let phase = match c.phase {
                    CallPhase::Offered { expires, .. } => expires,
                    CallPhase::Deferred { until } => Some(until),
                    CallPhase::Connected { .. } => return None,
                    _ => None,
                };
                let waiting = matches!(c.phase, CallPhase::Waiting) && c.callback.is_none();
                [phase, c.next_relax, c.max_wait_at.filter(|_| waiting), c.next_announce].into_iter().flatten().min()
            }
        }
    }

    pub(crate) fn arm(&mut self, key: TimerKey) {
        if let Some(at) = self.next_deadline(key) {
            self.timers.push(Reverse((at, key)));
        }
    }

    fn fire_agent(&mut self, now: Instant, agent: AgentId) {
        match self.agents[agent.index()].state {
            AgentState::WrapUp { until } if until <= now => self.end_wrap_up(now, agent, false),
            AgentState::Resting { until } if until <= now => self.set_state(now, agent, AgentState::Idle),
            _ => {}
        }
    }

    /// Every due deadline of one call: offer timeout, callback retry,
    /// relax steps, maximum wait, announcement.
    pub(crate) fn fire_call(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else { return };
        if let CallPhase::Offered { agents, expires: Some(e), .. } = &c.phase
            && *e <= now
        {
            for agent in agents.clone() {
                self.outputs.push_back(AcdOutput::CancelOffer { call, agent, reason: CancelReason::Timeout });
                self.offer_missed(now, call, agent, OfferFailure::NoAnswer);
            }
        }
        let Some(c) = self.calls.get_mut(&call) else { return };
        if let CallPhase::Deferred { until } = c.phase
            && until <= now
        {
            c.phase = CallPhase::Waiting;
            self.dirty_calls.insert(c.key);
        }
        let queue = c.queue;
        let config = &self.queues[queue.index()].config;
        let mut relaxed = Vec::new();
        while let Some(at) = c.next_relax
            && at <= now
        {
            c.stage += 1;
            c.reqs = skills::requirements(config, &self.skill_table, &c.skills, c.stage);
            c.next_relax = config.relax.get(c.stage).and_then(|s| later(c.entered, s.after));
            self.dirty_calls.insert(c.key);
            relaxed.push(u32::try_from(c.stage).unwrap_or(u32::MAX));
        }
        for stage in relaxed {
            self.log(now, Some(queue), Some(call), None, QueueEventKind::Relaxed { stage });
        }
        self.fire_call_rest(now, call);
    }

    /// Maximum wait and announcements (after relaxation, which may loop).
    fn fire_call_rest(&mut self, now: Instant, call: CallId) {
        let Some(c) = self.calls.get(&call) else { return };
        let waiting = matches!(c.phase, CallPhase::Waiting) && c.callback.is_none();
        if waiting && c.max_wait_at.is_some_and(|at| at <= now) {
            let (queue, position, waited) = self.position_and_wait(now, call);
            self.remove_from_queue(call);
            self.calls.remove(&call);
            self.stats.timed_out += 1;
            self.log(now, Some(queue), Some(call), None, QueueEventKind::ExitWithTimeout { position, wait_ms: ms(waited) });
            self.outputs.push_back(AcdOutput::MaxWaitReached { call });
            return;
        }
        if c.next_announce.is_some_and(|at| at <= now) {
            let interval = self.queues[c.queue.index()].config.announce_interval;
            if waiting {
                let (queue, position, _) = self.position_and_wait(now, call);
                let estimated_wait = self.estimated_wait(queue, position);
                self.outputs.push_back(AcdOutput::Announce { call, position, estimated_wait });
            }
            let next = if c.callback.is_some() { None } else { interval.and_then(|i| later(now, i)) };
            if let Some(c) = self.calls.get_mut(&call) {
                c.next_announce = next;
            }
        }
    }

    // ---- routing -------------------------------------------------------

    /// Restores the matching invariant (see the module comment).
    pub(crate) fn dispatch(&mut self, now: Instant) {
        if self.dirty_agents.is_empty() && self.dirty_calls.is_empty() {
            return;
        }
        let dirty_agents: Vec<AgentId> = std::mem::take(&mut self.dirty_agents).into_iter().filter(|a| self.free.contains(a)).collect();
        let dirty_calls = std::mem::take(&mut self.dirty_calls);
        let mut start = match (dirty_agents.is_empty(), dirty_calls.first()) {
            (false, _) => Unbounded,
            (true, Some(first)) => Included(*first),
            (true, None) => return,
        };
        while !self.free.is_empty() {
            let Some((key, call)) = self.global.range((start, Unbounded)).next().map(|(k, c)| (*k, *c)) else { break };
            start = Excluded(key);
            if dirty_calls.contains(&key) {
                self.route(now, call, None);
            } else if dirty_agents.iter().any(|a| self.free.contains(a)) {
                self.route(now, call, Some(&dirty_agents));
            } else {
                // Only dirty calls can still find an agent: skip to the next.
                match dirty_calls.range((Excluded(key), Unbounded)).next() {
                    Some(next) => start = Included(*next),
                    None => break,
                }
            }
        }
    }

    /// Offers `call` (if it is waiting) to the free agents able to take it,
    /// among `only` if given, as the queue's strategy picks.
    fn route(&mut self, now: Instant, call: CallId, only: Option<&[AgentId]>) {
        let Some(c) = self.calls.get(&call) else { return };
        if !matches!(c.phase, CallPhase::Waiting) {
            return;
        }
        let queue = c.queue;
        let eligible = |a: &AgentId| {
            let agent = &self.agents[a.index()];
            self.free.contains(a) && agent.queues.contains(&queue) && skills::satisfies(&agent.skills, &c.reqs)
        };
        let candidates: Vec<Candidate> = match only {
            Some(list) => list.iter().filter(|a| eligible(a)).copied().collect::<Vec<_>>(),
            None => self.free.iter().filter(|a| eligible(a)).copied().collect(),
        }
        .into_iter()
        .map(|agent| {
            let a = &self.agents[agent.index()];
            Candidate { agent, idle_since: a.idle_since, talk_time: a.talk_time }
        })
        .collect();
        if candidates.is_empty() {
            return;
        }
        let q = &self.queues[queue.index()];
        let is_callback = c.callback.is_some();
        // A callback reserves one agent, never several.
        let strategy = match q.config.strategy {
            Strategy::RingAll if is_callback => Strategy::LongestIdle,
            s => s,
        };
        let chosen = strategy::choose(strategy, &candidates, q.rr_last);
        let Some(last) = chosen.last().copied() else { return };
        let (offer_timeout, key) = (q.config.offer_timeout, c.key);
        self.queues[queue.index()].rr_last = Some(last);
        self.dirty_calls.remove(&key);
        if is_callback {
            let c = self.calls.get_mut(&call).expect("routed call exists");
            c.phase = CallPhase::CallbackInFlight { agent: last, since: now };
            let cb = c.callback.as_mut().expect("checked is_callback");
            cb.attempts += 1;
            let (attempt, number) = (cb.attempts, cb.number.clone());
            self.set_state(now, last, AgentState::Reserved { call });
            self.log(now, Some(queue), Some(call), Some(last), QueueEventKind::CallbackStarted { attempt });
            self.outputs.push_back(AcdOutput::StartCallback { call, agent: last, number });
            return;
        }
        let c = self.calls.get_mut(&call).expect("routed call exists");
        c.phase = CallPhase::Offered { agents: chosen.clone(), since: now, expires: later(now, offer_timeout) };
        for agent in chosen {
            self.set_state(now, agent, AgentState::Offered { call });
            self.log(now, Some(queue), Some(call), Some(agent), QueueEventKind::Offer);
            self.outputs.push_back(AcdOutput::Offer { call, agent, queue });
        }
        self.arm(TimerKey::Call(call));
    }

    // ---- offers and calls ----------------------------------------------

    pub(crate) fn connect(&mut self, now: Instant, call: CallId, agent: AgentId, ring: Duration, callback: bool) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        c.phase = CallPhase::Connected { agent, since: now };
        let (queue, wait) = (c.queue, now.saturating_duration_since(c.entered));
        self.remove_from_queue(call);
        self.stats.answered += 1;
        let a = &mut self.agents[agent.index()];
        a.misses = 0;
        a.handling = Some((queue, now));
        self.set_state(now, agent, AgentState::OnCall { call });
        self.log(now, Some(queue), Some(call), Some(agent), QueueEventKind::Connect { wait_ms: ms(wait), ring_ms: ms(ring), callback });
    }

    /// An offer (or a callback reservation) failed on the agent's side: the
    /// call returns to its place, the agent counts a miss and rests, and
    /// after `max_no_answer` misses in a row goes on break. The caller runs
    /// the call's own deadlines afterwards (`fire_call`).
    pub(crate) fn offer_missed(&mut self, now: Instant, call: CallId, agent: AgentId, reason: OfferFailure) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        let queue = c.queue;
        let ring = match &mut c.phase {
            CallPhase::Offered { agents, since, .. } => {
                agents.retain(|a| *a != agent);
                let ring = now.saturating_duration_since(*since);
                if agents.is_empty() {
                    c.phase = CallPhase::Waiting;
                    self.dirty_calls.insert(c.key);
                }
                ring
            }
            CallPhase::CallbackInFlight { since, .. } => {
                let ring = now.saturating_duration_since(*since);
                // Not the caller's failure: the attempt does not count.
                if let Some(cb) = c.callback.as_mut() {
                    cb.attempts = cb.attempts.saturating_sub(1);
                }
                c.phase = CallPhase::Waiting;
                self.dirty_calls.insert(c.key);
                ring
            }
            _ => return,
        };
        self.log(now, Some(queue), Some(call), Some(agent), QueueEventKind::RingNoAnswer { reason, ring_ms: ms(ring) });
        let config = &self.queues[queue.index()].config;
        let (max, delay) = (config.max_no_answer, config.no_answer_delay);
        match later(now, delay).filter(|_| !delay.is_zero()) {
            Some(until) => self.set_state(now, agent, AgentState::Resting { until }),
            None => self.set_state(now, agent, AgentState::Idle),
        }
        let a = &mut self.agents[agent.index()];
        a.misses = a.misses.saturating_add(1);
        if a.misses >= max && a.status == AgentStatus::Available {
            let reason = BreakReason::MissedOffers;
            self.log(now, None, None, Some(agent), QueueEventKind::Pause { reason: reason.clone() });
            self.set_status(now, agent, AgentStatus::OnBreak(reason));
        }
    }

    /// Withdraws one agent's offer (no miss is counted); if it was the last,
    /// the call is routable again (the caller runs `fire_call` if a deadline
    /// that waited for the offer, such as the maximum wait, may now apply).
    pub(crate) fn withdraw_offer(&mut self, now: Instant, call: CallId, agent: AgentId, reason: CancelReason) {
        let Some(c) = self.calls.get_mut(&call) else { return };
        let queue = c.queue;
        match &mut c.phase {
            CallPhase::Offered { agents, .. } if agents.contains(&agent) => {
                agents.retain(|a| *a != agent);
                if agents.is_empty() {
                    c.phase = CallPhase::Waiting;
                    self.dirty_calls.insert(c.key);
                }
            }
            CallPhase::CallbackInFlight { agent: a, .. } if *a == agent => {
                c.phase = CallPhase::Waiting;
                self.dirty_calls.insert(c.key);
            }
            _ => return,
        }
        self.outputs.push_back(AcdOutput::CancelOffer { call, agent, reason });
        self.log(now, Some(queue), Some(call), Some(agent), QueueEventKind::OfferCancelled { reason });
        self.set_state(now, agent, AgentState::Idle);
        self.arm(TimerKey::Call(call));
    }

    /// Withdraws every offer of a call (the caller is leaving or asked for
    /// a callback).
    pub(crate) fn withdraw_offers(&mut self, now: Instant, call: CallId, reason: CancelReason) {
        let agents = match self.calls.get(&call).map(|c| &c.phase) {
            Some(CallPhase::Offered { agents, .. }) => agents.clone(),
            Some(CallPhase::CallbackInFlight { agent, .. }) => vec![*agent],
            _ => return,
        };
        for agent in agents {
            self.withdraw_offer(now, call, agent, reason);
        }
    }

    pub(crate) fn remove_from_queue(&mut self, call: CallId) {
        let Some(c) = self.calls.get(&call) else { return };
        self.queues[c.queue.index()].waiting.remove(&c.key);
        self.global.remove(&c.key);
        self.dirty_calls.remove(&c.key);
    }

    /// The call's queue, its position (1 = next) and how long it has waited.
    pub(crate) fn position_and_wait(&self, now: Instant, call: CallId) -> (QueueId, u32, Duration) {
        let Some(c) = self.calls.get(&call) else { return (QueueId(0), 0, Duration::ZERO) };
        let ahead = self.queues[c.queue.index()].waiting.range(..c.key).count();
        (c.queue, u32::try_from(ahead + 1).unwrap_or(u32::MAX), now.saturating_duration_since(c.entered))
    }

    /// Position x mean recent handle time / agents staffed (available,
    /// busy or not). None when nobody is staffed.
    pub(crate) fn estimated_wait(&self, queue: QueueId, position: u32) -> Option<Duration> {
        let q = &self.queues[queue.index()];
        let staffed = q.members.iter().filter(|a| self.agents[a.index()].status == AgentStatus::Available).count() as u64;
        if staffed == 0 {
            return None;
        }
        let mean = match q.handle_times.len() as u64 {
            0 => q.config.default_handle_time,
            n => q.handle_times.iter().sum::<Duration>() / u32::try_from(n).unwrap_or(u32::MAX),
        };
        Some(Duration::from_millis(ms(mean).saturating_mul(u64::from(position)) / staffed))
    }

    // ---- agents --------------------------------------------------------

    pub(crate) fn set_state(&mut self, now: Instant, agent: AgentId, state: AgentState) {
        let a = &mut self.agents[agent.index()];
        if a.state == state {
            return;
        }
        a.state = state;
        a.state_since = now;
        self.agent_changed(agent);
        self.arm(TimerKey::Agent(agent));
    }

    pub(crate) fn set_status(&mut self, now: Instant, agent: AgentId, status: AgentStatus) {
        let a = &mut self.agents[agent.index()];
        if a.status == status {
            return;
        }
        a.status = status;
        a.status_since = now;
        self.agent_changed(agent);
    }

    /// Reports the change and keeps the free set (available and idle) true.
    fn agent_changed(&mut self, agent: AgentId) {
        let a = &self.agents[agent.index()];
        self.outputs.push_back(AcdOutput::AgentStateChanged { agent, status: a.status.clone(), state: a.state });
        if a.status == AgentStatus::Available && a.state == AgentState::Idle {
            if self.free.insert(agent) {
                self.dirty_agents.insert(agent);
            }
        } else {
            self.free.remove(&agent);
            self.dirty_agents.remove(&agent);
        }
    }

    /// Wrap-up is over (its time passed, the agent ended it, or there is
    /// none): the handle time is sampled and the agent is idle from now.
    pub(crate) fn end_wrap_up(&mut self, now: Instant, agent: AgentId, ended_early: bool) {
        let a = &mut self.agents[agent.index()];
        let wrap = match a.state {
            AgentState::WrapUp { .. } => now.saturating_duration_since(a.state_since),
            _ => Duration::ZERO,
        };
        a.idle_since = now;
        if let Some((queue, connected)) = a.handling.take() {
            let times = &mut self.queues[queue.index()].handle_times;
            times.push_back(now.saturating_duration_since(connected));
            if times.len() > HANDLE_TIME_SAMPLES {
                times.pop_front();
            }
        }
        self.log(now, None, None, Some(agent), QueueEventKind::WrapUp { wrap_ms: ms(wrap), ended_early });
        self.set_state(now, agent, AgentState::Idle);
    }
}
