//! The discrete-event loop of the simulated year: one simulated clock, one
//! deadline heap for calls, agents and staffing changes, compared at every
//! step with the next arrival and the ACD's own deadline.
//!
//! Owns the wiring between the cores, as the server's engine does it: the
//! interpreter's actions become prompt timers, queue entries, callback
//! requests and records; the ACD's outputs become agents ringing, answering
//! and hanging up, and queue outcomes for the interpreter; the ACD's
//! AGENTLOGIN/AGENTLOGOFF/PAUSE/UNPAUSE log lines become staffing events,
//! handed to the storage thread with the records. Agents take the break
//! rota's breaks (`breaks.rs`) through the ACD's `set_break` and
//! `set_available`; an offer to an agent the queue log has on break fails
//! the run. Must never read
//! the wall clock or sleep, and never drain ACD outputs while a call is
//! taken out of the table (`step_call` only feeds inputs and commands;
//! `drain_acd` runs after it, at the top of every event).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use ivr_acd::{Acd, AcdError, AcdOutput, AgentId, AgentState, AgentStatus, CallId, CallbackNumber, EndedBy, Enqueue, QueueId};
use ivr_dialplan::interpreter::{Action, CallContext, Input, Interpreter, QueueOutcome, WaitingFor};
use ivr_store::report::{AgentStaffingEvent, StaffingChange};
use ivr_store::{CallEventKind, Disposition, FinishedCall};
use jiff::Timestamp;

use crate::traffic::{DurationDist, Intent, Journey, JourneyMix, Reply};

use super::SimError;
use super::breaks::BreakRota;
use super::call::{Pressing, QueueStage, SimCall};
use super::line::{Line, QUEUE, agent_login};
use super::staffing::StaffingPlan;
use super::writer::{Batch, RecordSink};

/// The gap between two keys of one answer.
const INTER_DIGIT: Duration = Duration::from_millis(250);
/// A caller who does not take the survey hangs up this long after the
/// operator.
const LEAVE_AFTER_OPERATOR: Duration = Duration::from_secs(1);
/// The reason the queue log gives for a rota break.
const BREAK_REASON: &str = "break";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Wake {
    Call { slot: u32, generation: u32 },
    AgentAnswer { agent: u32, call: u64 },
    AgentHangup { agent: u32, call: u64 },
    CallbackAnswer { agent: u32, call: u64 },
    Staffing { index: u32 },
    BreakDue { agent: u32 },
    BreakBack { agent: u32 },
}

/// Who an ACD call id (the call's number) belongs to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owner {
    Gone,
    Live(u32),
    /// The caller hung up; their callback request is still in the ACD.
    Callback,
}

/// Counts kept while simulating.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct EngineStats {
    pub calls: u64,
    pub records: u64,
    pub max_concurrent: u64,
    pub events: u64,
    pub stale_events: u64,
    pub callbacks_served: u64,
    /// By `Disposition::ALL` order.
    pub dispositions: Vec<(String, u64)>,
    /// Breaks taken (PAUSE in the queue log) and their length to UNPAUSE
    /// or logoff, as the `break` staffing intervals store them.
    pub breaks: u64,
    pub break_ms: i64,
    /// Offers to an agent on break: the run fails unless 0.
    pub offers_on_break: u64,
    /// Break time by agent login, for tests.
    #[serde(skip)]
    pub break_ms_by_agent: Vec<(String, i64)>,
}

pub(super) struct Engine<'a> {
    line: &'a Line,
    mix: &'a JourneyMix,
    plan: &'a StaffingPlan,
    ring: DurationDist,
    acd: Acd,
    queue: QueueId,
    agents: Vec<AgentId>,
    logins: Vec<String>,
    logged_in: usize,
    /// The current slot's ready agents: the rest may be away on break.
    ready: usize,
    rota: BreakRota,
    /// Since when the queue log has each agent on break, and their total.
    paused_since: Vec<Option<i64>>,
    break_ms: Vec<i64>,
    ringing: Vec<Option<u64>>,
    wrap_up_ms: i64,
    base: Instant,
    base_ms: i64,
    heap: BinaryHeap<Reverse<(Instant, u64, Wake)>>,
    seq: u64,
    /// Boxed: a call moves out of its slot and back on every step.
    calls: Vec<Option<Box<SimCall>>>,
    free: Vec<u32>,
    live: u64,
    owners: Vec<Owner>,
    rng: fastrand::Rng,
    batch: Vec<FinishedCall>,
    /// Agents' staffing changes since the last batch was sent.
    staffing: Vec<AgentStaffingEvent>,
    batch_size: usize,
    sink: &'a mut RecordSink,
    stats: EngineStats,
    dispositions: [u64; 16],
    journeys: Option<Vec<Journey>>,
    timeline: bool,
    scratch: Vec<AcdOutput>,
}

impl<'a> Engine<'a> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        line: &'a Line,
        mix: &'a JourneyMix,
        plan: &'a StaffingPlan,
        ring: DurationDist,
        seed: u64,
        start_ms: i64,
        expected_calls: usize,
        batch_size: usize,
        keep_journeys: bool,
        timeline: bool,
        sink: &'a mut RecordSink,
    ) -> Result<Engine<'a>, SimError> {
        let agents_needed = plan.peak_agents().max(1);
        let config = line.acd_config(agents_needed)?;
        let wrap_up_ms = config.queues.iter().find(|q| q.name == QUEUE).map_or(0, |q| q.wrap_up.as_millis() as i64);
        let base = Instant::now();
        let acd = Acd::new(config, base);
        let queue = acd.queue_id(QUEUE).ok_or(SimError::MissingQueue { name: QUEUE })?;
        let logins: Vec<String> = (0..agents_needed).map(agent_login).collect();
        let agents = logins.iter().map(|l| acd.agent_id(l).ok_or(SimError::MissingQueue { name: QUEUE })).collect::<Result<_, _>>()?;
        Ok(Engine {
            line,
            mix,
            plan,
            ring,
            acd,
            queue,
            ready: 0,
            rota: BreakRota::new(logins.len()),
            paused_since: vec![None; logins.len()],
            break_ms: vec![0; logins.len()],
            ringing: vec![None; logins.len()],
            agents,
            logins,
            logged_in: 0,
            wrap_up_ms,
            base,
            base_ms: start_ms,
            heap: BinaryHeap::with_capacity(4096),
            seq: 0,
            calls: Vec::with_capacity(1024),
            free: Vec::new(),
            live: 0,
            owners: Vec::with_capacity(expected_calls),
            rng: fastrand::Rng::with_seed(seed ^ 0x5eed_ca11),
            batch: Vec::with_capacity(batch_size),
            staffing: Vec::new(),
            batch_size: batch_size.max(1),
            sink,
            stats: EngineStats::default(),
            dispositions: [0; 16],
            journeys: keep_journeys.then(|| Vec::with_capacity(expected_calls)),
            timeline,
            scratch: Vec::new(),
        })
    }

    fn at(&self, ms: i64) -> Instant {
        self.base + Duration::from_millis(u64::try_from(ms - self.base_ms).unwrap_or(0))
    }

    fn ms(&self, at: Instant) -> i64 {
        self.base_ms + at.saturating_duration_since(self.base).as_millis() as i64
    }

    fn wall(&self, at: Instant) -> Timestamp {
        Timestamp::from_millisecond(self.ms(at)).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn push(&mut self, at: Instant, wake: Wake) {
        self.seq += 1;
        self.heap.push(Reverse((at, self.seq, wake)));
    }

    /// Runs every arrival and everything that follows from it.
    pub(super) fn run(mut self, arrivals: impl Iterator<Item = i64>) -> Result<(EngineStats, Option<Vec<Journey>>), SimError> {
        for (index, slot) in self.plan.slots.iter().enumerate() {
            let at = self.at(slot.start_ms);
            self.push(at, Wake::Staffing { index: index as u32 });
        }
        let mut arrivals = arrivals.peekable();
        loop {
            let arrival = arrivals.peek().map(|ms| self.at(*ms));
            let heap = self.heap.peek().map(|Reverse((at, _, _))| *at);
            let acd = self.acd.poll_timeout();
            let Some(now) = [arrival, heap, acd].into_iter().flatten().min() else { break };
            self.stats.events += 1;
            if acd == Some(now) {
                self.acd.handle_timeout(now);
            } else if arrival == Some(now) {
                if let Some(ms) = arrivals.next() {
                    self.arrive(now, ms);
                }
            } else if let Some(Reverse((_, _, wake))) = self.heap.pop() {
                self.wake(now, wake);
            }
            self.drain_acd(now)?;
        }
        if !self.batch.is_empty() || !self.staffing.is_empty() {
            let batch = Batch { records: std::mem::take(&mut self.batch), staffing: std::mem::take(&mut self.staffing) };
            self.sink.send(batch)?;
        }
        self.stats.dispositions =
            Disposition::ALL.iter().enumerate().map(|(i, d)| (d.as_str().to_owned(), self.dispositions[i])).collect();
        self.stats.break_ms_by_agent =
            self.logins.iter().zip(&self.break_ms).filter(|(_, ms)| **ms > 0).map(|(l, ms)| (l.clone(), *ms)).collect();
        if self.stats.offers_on_break > 0 {
            return Err(SimError::OfferedOnBreak { offers: self.stats.offers_on_break });
        }
        Ok((self.stats, self.journeys))
    }

    fn arrive(&mut self, now: Instant, ms: i64) {
        let number = self.owners.len() as u64;
        let journey = self.mix.draw(&mut self.rng);
        if let Some(journeys) = &mut self.journeys {
            journeys.push(journey.clone());
        }
        let caller = format!("6{:08}", self.rng.u32(0..100_000_000));
        let context = CallContext { caller: Some(caller.clone()), dialled: "012".to_owned() };
        let interpreter = Interpreter::start(self.line.program.clone(), now, self.wall(now), context);
        let mut call = SimCall::new(number, interpreter, journey, ms, caller);
        if call.journey.intent == Intent::AbandonInIvr {
            call.hangup_at = Some(now + call.journey.abandon_after);
        }
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                self.calls.push(None);
                (self.calls.len() - 1) as u32
            }
        };
        self.calls[slot as usize] = Some(Box::new(call));
        self.owners.push(Owner::Live(slot));
        self.stats.calls += 1;
        self.live += 1;
        self.stats.max_concurrent = self.stats.max_concurrent.max(self.live);
        self.step_call(slot, now, None);
    }

    fn wake(&mut self, now: Instant, wake: Wake) {
        match wake {
            Wake::Call { slot, generation } => {
                match self.calls.get(slot as usize).and_then(Option::as_ref) {
                    Some(call) if call.generation == generation => {}
                    _ => {
                        self.stats.stale_events += 1;
                        return;
                    }
                }
                self.call_due(slot, now);
            }
            Wake::AgentAnswer { agent, call } => self.agent_answers(now, agent, call),
            Wake::AgentHangup { call, .. } => self.agent_hangs_up(now, call),
            Wake::CallbackAnswer { agent, call } => {
                if self.acd.callback_result(now, CallId(call), true).is_ok() {
                    self.stats.callbacks_served += 1;
                    let talk = self.mix.talk.sample(&mut self.rng);
                    self.push(now + talk, Wake::AgentHangup { agent, call });
                }
            }
            Wake::Staffing { index } => self.staff(now, index as usize),
            Wake::BreakDue { agent } => {
                self.rota.due(now, agent);
                self.send_on_breaks(now);
            }
            Wake::BreakBack { agent } => {
                if let Some(due) = self.rota.back(now, agent) {
                    let _ = self.acd.set_available(now, self.agents[agent as usize]);
                    self.push(due, Wake::BreakDue { agent });
                    self.send_on_breaks(now);
                }
            }
        }
    }

    /// The earliest of the call's pending moves, done now.
    fn call_due(&mut self, slot: u32, now: Instant) {
        let Some(call) = self.calls.get_mut(slot as usize).and_then(Option::as_mut) else { return };
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        let wall = Timestamp::from_millisecond(self.base_ms + now.saturating_duration_since(self.base).as_millis() as i64)
            .unwrap_or(Timestamp::UNIX_EPOCH);
        let number = call.number;
        let input = if due(call.hangup_at) {
            return self.caller_hangs_up(slot, now);
        } else if due(call.abandon_at) && call.stage == QueueStage::Waiting {
            return self.caller_hangs_up(slot, now);
        } else if due(call.callback_key_at) && call.stage == QueueStage::Waiting {
            call.callback_key_at = None;
            call.count_key();
            let number_text = CallbackNumber::new(call.caller_number.clone());
            // The server asks the ACD once the number is confirmed; the
            // simulated caller always confirms their own number, so the
            // place is turned into a callback at once. As on the server,
            // a key pressed while an operator's phone rings for the call
            // is ignored: the offer wins (docs/queue.md).
            match self.acd.request_callback(now, CallId(number), number_text) {
                Err(AcdError::OfferRinging(_)) => None,
                _ => {
                    call.abandon_at = None;
                    call.stage = QueueStage::CallbackRequested;
                    call.wait_end_ms = Some(self.base_ms + now.saturating_duration_since(self.base).as_millis() as i64);
                    Some(Input::QueueOutcome(QueueOutcome::CallbackChosen))
                }
            }
        } else if due(call.playing_until) {
            call.playing_until = None;
            Some(Input::PlaybackFinished { interrupted: false })
        } else if let Some(p) = call.pressing.filter(|p| p.at <= now) {
            let keys = p.keys.as_slice();
            let key = keys.get(p.next).copied().unwrap_or('#');
            call.pressing = (p.next + 1 < keys.len()).then_some(Pressing { next: p.next + 1, at: now + INTER_DIGIT, ..p });
            call.count_key();
            Some(Input::Digit(key))
        } else if due(call.recording_until) {
            call.recording_until = None;
            call.count_key();
            Some(Input::Digit('#'))
        } else {
            if call.abandon_at.is_some_and(|t| t <= now) {
                call.abandon_at = None;
            }
            if call.callback_key_at.is_some_and(|t| t <= now) {
                call.callback_key_at = None;
            }
            call.interpreter.handle_timeout(now, wall);
            None
        };
        self.step_call(slot, now, input);
    }

    /// Feeds `input` to the call's interpreter, carries out its actions,
    /// and either schedules the call's next move or writes its record.
    fn step_call(&mut self, slot: u32, now: Instant, input: Option<Input>) {
        let Some(mut call) = self.calls.get_mut(slot as usize).and_then(Option::take) else { return };
        let wall = self.wall(now);
        let mut pending = input;
        let mut ended = false;
        let mut recording_since = None;
        loop {
            if let Some(input) = pending.take() {
                let was_playback = matches!(input, Input::PlaybackFinished { interrupted: false });
                call.interpreter.handle_input(now, wall, input);
                ended |= self.actions(&mut call, now, &mut pending, &mut recording_since);
                if was_playback && !ended && call.playing_until.is_none() {
                    self.reply(&mut call, now);
                }
            } else {
                ended |= self.actions(&mut call, now, &mut pending, &mut recording_since);
            }
            if pending.is_none() || ended {
                break;
            }
        }
        if ended || call.interpreter.is_finished() {
            return self.finish(call, slot, now, false);
        }
        call.generation = call.generation.wrapping_add(1);
        let generation = call.generation;
        let next = call.next_deadline();
        self.calls[slot as usize] = Some(call);
        if let Some(at) = next {
            self.push(at.max(now), Wake::Call { slot, generation });
        }
    }

    /// Carries out the interpreter's actions; true when it hung up.
    fn actions(&mut self, call: &mut SimCall, now: Instant, pending: &mut Option<Input>, recording_since: &mut Option<Instant>) -> bool {
        let ms = self.ms(now);
        while let Some(action) = call.interpreter.poll_action() {
            match action {
                Action::Play { prompts, .. } => {
                    call.playing_until = Some(now + self.line.prompts.total(&prompts));
                    if let Some(last) = prompts.last() {
                        let id = last.split_once('/').map_or(last.as_str(), |(_, id)| id);
                        id.clone_into(&mut call.last_prompt);
                    }
                }
                Action::StopPlayback => {
                    call.playing_until = None;
                    *pending = Some(Input::PlaybackFinished { interrupted: true });
                }
                Action::Enqueue { skills, priority, max_wait, .. } => {
                    call.stage = QueueStage::Waiting;
                    call.queued_at_ms = Some(ms);
                    call.abandon_at = Some(now + call.journey.patience);
                    call.callback_key_at = call.journey.callback_in_queue_after.map(|d| now + d);
                    if self.acd.enqueue(now, Enqueue { call: CallId(call.number), queue: self.queue, skills, priority, max_wait: Some(max_wait) }).is_err() {
                        call.stage = QueueStage::Left;
                        call.queued_at_ms = None;
                        *pending = Some(Input::QueueOutcome(QueueOutcome::Closed));
                    }
                }
                Action::RegisterCallback { queue, number } => {
                    call.request_callback(ms, &queue, &number);
                    if call.stage != QueueStage::CallbackRequested {
                        // Out of hours or after a timeout: a new request,
                        // served when an agent is free (the ACD closes it
                        // at once when nobody is logged in, as it does for
                        // the server).
                        call.stage = QueueStage::CallbackRequested;
                        let id = CallId(call.number);
                        let _ = self.acd.enqueue_callback(now, id, self.queue, CallbackNumber::new(number));
                    }
                }
                Action::StartRecording { max_length, .. } => {
                    *recording_since = Some(now);
                    call.recording_until = Some(now + call.journey.message_length.min(max_length));
                }
                Action::StopRecording => {
                    call.recording_until = None;
                    let length = recording_since.map_or(call.journey.message_length, |t| now.saturating_duration_since(t));
                    *pending = Some(Input::RecordingFinished { length });
                }
                Action::Transfer { .. } => *pending = Some(Input::TransferFailed { status: 503 }),
                Action::SurveyAnswered { question, value } => call.survey_answer(ms, question, value),
                Action::Trace(trace) => call.trace(&trace),
                Action::Hangup => return true,
            }
        }
        false
    }

    /// A prompt has ended: the caller answers it if the flow waits for keys.
    fn reply(&mut self, call: &mut SimCall, now: Instant) {
        if call.interpreter.waiting_for() != WaitingFor::Keys || call.pressing.is_some() || call.hangup_at.is_some() {
            return;
        }
        match call.journey.reply(&mut call.memory, &call.last_prompt) {
            Reply::Press(keys) => call.pressing = Some(Pressing { keys, next: 0, at: now + call.journey.think }),
            Reply::Wait => {}
            Reply::HangUp => call.hangup_at = Some(now + call.journey.think),
        }
    }

    fn caller_hangs_up(&mut self, slot: u32, now: Instant) {
        let Some(mut call) = self.calls.get_mut(slot as usize).and_then(Option::take) else { return };
        let id = CallId(call.number);
        match call.stage {
            QueueStage::Waiting => {
                let _ = self.acd.caller_abandoned(now, id);
                call.wait_end_ms = Some(self.ms(now));
            }
            QueueStage::Connected => {
                let _ = self.acd.call_ended(now, id, EndedBy::Caller);
                call.talk_end_ms = Some(self.ms(now));
            }
            _ => {}
        }
        call.interpreter.handle_input(now, self.wall(now), Input::HungUp);
        while let Some(action) = call.interpreter.poll_action() {
            if let Action::Trace(trace) = action {
                call.trace(&trace);
            }
        }
        self.finish(call, slot, now, true);
    }

    fn finish(&mut self, call: Box<SimCall>, slot: u32, now: Instant, caller_left: bool) {
        let number = call.number as usize;
        if let Some(owner) = self.owners.get_mut(number) {
            *owner = if call.stage == QueueStage::CallbackRequested { Owner::Callback } else { Owner::Gone };
        }
        let record = call.finish(self.ms(now), caller_left, &self.line.program.version, self.timeline);
        if let Some(i) = Disposition::ALL.iter().position(|d| Some(*d) == record.details.disposition) {
            self.dispositions[i] += 1;
        }
        self.batch.push(record);
        self.stats.records += 1;
        self.live = self.live.saturating_sub(1);
        self.free.push(slot);
    }

    fn live_slot(&self, call: u64) -> Option<u32> {
        match self.owners.get(call as usize) {
            Some(Owner::Live(slot)) => Some(*slot),
            _ => None,
        }
    }

    fn call_mut(&mut self, slot: u32) -> Option<&mut SimCall> {
        self.calls.get_mut(slot as usize).and_then(Option::as_mut).map(|c| &mut **c)
    }

    fn agent_answers(&mut self, now: Instant, agent: u32, call: u64) {
        let a = agent as usize;
        if self.ringing.get(a).copied().flatten() != Some(call) {
            self.stats.stale_events += 1;
            return;
        }
        self.ringing[a] = None;
        if self.acd.offer_accepted(now, CallId(call), self.agents[a]).is_err() {
            return;
        }
        let ms = self.ms(now);
        let (wrap_up, login) = (self.wrap_up_ms, self.logins[a].clone());
        let Some(slot) = self.live_slot(call) else { return };
        let Some(c) = self.call_mut(slot) else { return };
        c.stage = QueueStage::Connected;
        c.answered_ms = Some(ms);
        c.agent = Some(login);
        c.wrap_up_ms = Some(wrap_up);
        c.abandon_at = None;
        c.callback_key_at = None;
        let talk = c.journey.talk;
        self.push(now + talk, Wake::AgentHangup { agent, call });
        self.step_call(slot, now, Some(Input::QueueOutcome(QueueOutcome::Answered)));
    }

    fn agent_hangs_up(&mut self, now: Instant, call: u64) {
        if self.acd.call_ended(now, CallId(call), EndedBy::Agent).is_err() {
            return;
        }
        let ms = self.ms(now);
        match self.owners.get(call as usize).copied() {
            Some(Owner::Live(slot)) => {
                let Some(c) = self.call_mut(slot) else { return };
                c.stage = QueueStage::Left;
                c.talk_end_ms = Some(ms);
                if c.journey.survey.is_none() {
                    c.hangup_at = Some(now + LEAVE_AFTER_OPERATOR);
                }
                self.step_call(slot, now, Some(Input::QueueOutcome(QueueOutcome::OperatorHungUp)));
            }
            Some(Owner::Callback) => self.owners[call as usize] = Owner::Gone,
            _ => {}
        }
    }

    /// Logs agents in or out to the plan's number for slot `index`.
    fn staff(&mut self, now: Instant, index: usize) {
        let slot = self.plan.slots.get(index);
        let target = slot.map_or(0, |s| s.agents as usize).min(self.agents.len());
        self.ready = slot.map_or(0, |s| s.ready as usize);
        while self.logged_in < target {
            let agent = self.logged_in as u32;
            let _ = self.acd.agent_login(now, self.agents[self.logged_in]);
            let due = self.rota.login(now, agent);
            self.push(due, Wake::BreakDue { agent });
            self.logged_in += 1;
        }
        while self.logged_in > target {
            self.logged_in -= 1;
            self.rota.logout(self.logged_in as u32);
            let _ = self.acd.agent_logout(now, self.agents[self.logged_in]);
        }
        self.send_on_breaks(now);
    }

    /// Asks the ACD for the breaks due while the agents beyond the ready
    /// ones are not all away. A busy agent is offered nothing more and
    /// starts the break when the call and wrap-up end (`acd_output`).
    fn send_on_breaks(&mut self, now: Instant) {
        let allowance = u32::try_from(self.logged_in.saturating_sub(self.ready)).unwrap_or(u32::MAX);
        while let Some(agent) = self.rota.next_request(allowance) {
            let _ = self.acd.set_break(now, self.agents[agent as usize], BREAK_REASON.to_owned());
        }
    }

    /// Carries out every ACD output, including those its consequences cause.
    fn drain_acd(&mut self, now: Instant) -> Result<(), SimError> {
        loop {
            let mut outputs = std::mem::take(&mut self.scratch);
            outputs.extend(std::iter::from_fn(|| self.acd.poll_output()));
            if outputs.is_empty() {
                self.scratch = outputs;
                break;
            }
            for output in outputs.drain(..) {
                self.acd_output(now, output);
            }
            self.scratch = outputs;
        }
        if self.batch.len() >= self.batch_size {
            let records = std::mem::replace(&mut self.batch, Vec::with_capacity(self.batch_size));
            self.sink.send(Batch { records, staffing: std::mem::take(&mut self.staffing) })?;
        }
        Ok(())
    }

    fn acd_output(&mut self, now: Instant, output: AcdOutput) {
        match output {
            AcdOutput::Offer { call, agent, .. } => {
                if self.paused_since.get(agent.0 as usize).copied().flatten().is_some() {
                    self.stats.offers_on_break += 1;
                }
                if let Some(slot) = self.ringing.get_mut(agent.0 as usize) {
                    *slot = Some(call.0);
                    let ring = self.ring.sample(&mut self.rng);
                    self.push(now + ring, Wake::AgentAnswer { agent: agent.0, call: call.0 });
                }
            }
            AcdOutput::CancelOffer { call, agent, .. } => {
                if let Some(slot) = self.ringing.get_mut(agent.0 as usize).filter(|s| **s == Some(call.0)) {
                    *slot = None;
                }
            }
            AcdOutput::StartCallback { call, agent, .. } => {
                let ring = self.ring.sample(&mut self.rng);
                self.push(now + ring, Wake::CallbackAnswer { agent: agent.0, call: call.0 });
            }
            AcdOutput::MaxWaitReached { call } => self.queue_left(now, call.0, QueueOutcome::TimedOut),
            AcdOutput::Closed { call, .. } => self.queue_left(now, call.0, QueueOutcome::Closed),
            AcdOutput::CallbackFailed { call } => {
                if let Some(owner @ Owner::Callback) = self.owners.get_mut(call.0 as usize) {
                    *owner = Owner::Gone;
                }
            }
            AcdOutput::Log(event) => {
                let at_ms = self.base_ms + event.at_ms as i64;
                if let Some(change) = StaffingChange::from_queue_log(event.kind.name()) {
                    if let Some(a) = event.agent {
                        self.count_break(a.0 as usize, at_ms, change);
                    }
                    if let Some(agent) = event.agent.and_then(|a| self.acd.agent_login_name(a)) {
                        self.staffing.push(AgentStaffingEvent { agent: agent.to_owned(), at_ms, change });
                    }
                } else if self.timeline
                    && let Some(slot) = event.call.and_then(|c| self.live_slot(c.0))
                    && let Some(c) = self.call_mut(slot)
                {
                    c.event(at_ms, CallEventKind::Queue, event.kind.name());
                }
            }
            AcdOutput::AgentStateChanged { agent, status: AgentStatus::OnBreak(_), state: AgentState::Idle } => {
                if let Some(back) = self.rota.started(now, agent.0) {
                    self.push(back, Wake::BreakBack { agent: agent.0 });
                }
            }
            AcdOutput::Announce { .. } | AcdOutput::AgentStateChanged { .. } => {}
        }
    }

    /// Keeps the break figures from the queue log's PAUSE, UNPAUSE and
    /// AGENTLOGOFF, as the staffing intervals are made.
    fn count_break(&mut self, agent: usize, at_ms: i64, change: StaffingChange) {
        let Some(since) = self.paused_since.get_mut(agent) else { return };
        match change {
            StaffingChange::Paused => {
                if since.is_none() {
                    *since = Some(at_ms);
                    self.stats.breaks += 1;
                }
            }
            StaffingChange::Unpaused | StaffingChange::LoggedOut => {
                if let Some(from) = since.take() {
                    self.stats.break_ms += at_ms - from;
                    self.break_ms[agent] += at_ms - from;
                }
            }
            StaffingChange::LoggedIn => {}
        }
    }

    /// The caller left the queue without an agent (max wait, closed).
    fn queue_left(&mut self, now: Instant, call: u64, outcome: QueueOutcome) {
        let ms = self.ms(now);
        let Some(slot) = self.live_slot(call) else {
            if let Some(owner @ Owner::Callback) = self.owners.get_mut(call as usize) {
                *owner = Owner::Gone;
            }
            return;
        };
        let Some(c) = self.call_mut(slot) else { return };
        if c.stage != QueueStage::Waiting {
            return;
        }
        c.stage = QueueStage::Left;
        c.abandon_at = None;
        c.callback_key_at = None;
        if outcome == QueueOutcome::Closed {
            c.queued_at_ms = None;
        } else {
            c.wait_end_ms = Some(ms);
        }
        self.step_call(slot, now, Some(Input::QueueOutcome(outcome)));
    }
}
