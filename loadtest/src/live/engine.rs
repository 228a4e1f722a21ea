//! The live generator's core: every caller and operator of a run on one
//! shared SIP user agent (the server's own `ivr-sip` core), their RTP
//! streams on a 20-slot millisecond wheel, arrivals, and the figures.
//!
//! Sans-IO like the server's cores: inputs carry `now`
//! ([`Engine::handle_sip`], [`Engine::handle_rtp`], [`Engine::handle_timeout`],
//! [`Engine::handle_check`]), outputs are drained ([`Engine::sip_out`],
//! [`Engine::rtp_batches`], [`Engine::take_checks`]), and
//! [`Engine::poll_timeout`] is the next deadline. The shell (`net`) owns
//! the sockets, the clock and the audio-check worker.
//!
//! Shared timers: RTP is not one timer per call. Each stream is put in one
//! of 20 buckets by its phase within the 20 ms frame; one millisecond tick
//! serves one bucket, so the work is spread evenly and the loop wakes at
//! most once a millisecond whatever the number of calls. Other deadlines
//! (callers' scripts, operators, arrivals) share one binary heap; a stale
//! entry is recognised by asking its owner and dropped.
//!
//! Operators' console requests (sign-in, breaks, sign-out) are outputs too
//! ([`Engine::take_console_commands`]) and the console's answers inputs
//! ([`Engine::handle_console`]); HTTP runs on the shell's driver threads.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_sip::{CallEvent, LegId, OutgoingInvite, Output, TerminationReason, Transport, UaConfig, UserAgent};

use super::caller::{Caller, Effects, Line, OPERATOR_HZ};
use super::console::{ConsoleCommand, ConsoleReply};
use super::media::{KeyMethod, RtpReceiver, RtpSender, Voice, decode_into};
use super::operator::{BreakPlan, ConsoleState, Operator, OperatorCall, OperatorConfig, Registration, scaled_talk, uri_user};
use super::prompts::{PromptLibrary, PromptRef};
use super::sdp;
use super::stats::Histogram;
use crate::generate::Law;
use crate::rtp::RtpPacket;
use crate::traffic::{DtmfMethod, JourneyMix};

const SLOTS: u64 = 20;
/// Content type and `Duration` (ms) of a key sent by SIP INFO.
const DTMF_RELAY: &str = "application/dtmf-relay";
const INFO_KEY_MS: u32 = 160;
/// RTP from a source with no stream yet is kept this long, this much.
const EARLY_KEEP: Duration = Duration::from_secs(2);
const EARLY_MAX: usize = 100;

/// Everything the engine needs to know before it starts.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub server: SocketAddr,
    pub sip_local: SocketAddr,
    /// The local RTP sockets (a pool: each carries many streams, told apart
    /// by the server's port).
    pub rtp_locals: Vec<SocketAddr>,
    pub dialled: String,
    pub mix: JourneyMix,
    /// Scales callers' patience and abandonment times and operators' talk.
    pub time_scale: f64,
    pub operators: Vec<OperatorConfig>,
    /// Operators answer after a delay drawn uniformly in this range.
    pub ring_delay: (Duration, Duration),
    pub seed: u64,
    /// Give up on an INVITE without an answer after this.
    pub setup_timeout: Duration,
    /// Share of calls (0 to 1) whose heard prompts are correlated against
    /// the expected prompt; the others are timed and counted the same but
    /// not correlated, which is most of the generator's CPU at high load.
    pub audio_check_share: f64,
    /// Whether the server's staffed calendar is open during the run (the
    /// callers' script follows the queue or the out-of-hours branch).
    pub line: Line,
    /// Operators also sign in to the agent console (the shell carries
    /// their requests).
    pub console: bool,
    /// Their breaks, in the profile's time (scaled by `time_scale` here);
    /// only with `console`.
    pub breaks: Option<BreakPlan>,
}

/// Why a generated call failed (beside what the records check finds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    Rejected(u16),
    SetupTimeout,
    TransactionTimeout,
    UnusableAnswer,
    NoAudio,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Owner {
    Caller(u32),
    Operator(u16),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    Arrival,
    Caller(u32),
    Operator(u16),
    SetupGuard(u32),
    /// Refresh an operator's registration.
    Reregister(u16),
    /// An operator's break falls due or ends.
    Break(u16),
}

struct Stream {
    sender: RtpSender,
    receiver: RtpReceiver,
    remote: SocketAddr,
    socket: usize,
    owner: Owner,
    bucket: usize,
    law: Law,
}

/// One generated call from first INVITE to the end.
pub struct CallSlot {
    pub caller: Caller,
    leg: Option<LegId>,
    stream: Option<usize>,
    pub invited_at: Instant,
    pub answered_at: Option<Instant>,
    pub ended_at: Option<Instant>,
    pub failure: Option<Failure>,
    pub rtp: super::media::ReceiveStats,
    pub keys_rfc4733: u32,
    pub keys_inband: u32,
    /// Keys sent in SIP INFO requests (one key each).
    pub keys_sip_info: u32,
    /// INFO keys that failed: answered with an error status, never
    /// answered (408 on Timer F), or refused by the user agent.
    pub sip_info_failed: u32,
    /// The call ended with a key half sent, an INFO key failed, or an
    /// in-band key met the operator's answer (`Caller::keys_uncertain`):
    /// the server may or may not have counted it.
    pub keys_cut: bool,
}

/// One outgoing RTP packet in a socket's batch.
#[derive(Debug, Clone, Copy)]
pub struct RtpOut {
    pub to: SocketAddr,
    pub start: usize,
    pub len: usize,
    /// When the packet's slot was due (send-time deviation is measured
    /// against it once the batch has left).
    pub due: Instant,
}

/// A socket's outgoing packets: their bytes back to back in `arena`.
#[derive(Debug, Default)]
pub struct RtpBatch {
    pub arena: Vec<u8>,
    pub packets: Vec<RtpOut>,
}

/// An audio check for the worker: does `heard` contain the prompt's opening?
pub struct CheckRequest {
    pub call: u32,
    pub prompt: Arc<PromptRef>,
    pub heard: Vec<i16>,
}

/// Counters and histograms the engine keeps as it goes.
#[derive(Debug, Default, Clone)]
pub struct Figures {
    pub offered: u64,
    pub answered: u64,
    pub failed_setup: u64,
    pub ended: u64,
    pub setup: Histogram,
    pub jitter: Histogram,
    pub rtp_sent: u64,
    pub rtp_received: u64,
    pub rtp_expected: u64,
    pub rtp_lost: u64,
    pub rtp_duplicates: u64,
    pub operator_rtp_lost: u64,
    pub operator_rtp_expected: u64,
    pub rtp_ticks_skipped: u64,
    /// Per received audio packet: |transit change| (RFC 3550 D), the
    /// server's send-time deviation as heard on loopback.
    pub arrival_variation: Histogram,
    pub arrival_variation_recent: Histogram,
}

pub struct Engine {
    config: EngineConfig,
    ua: UserAgent,
    rng: fastrand::Rng,
    prompts: Arc<PromptLibrary>,
    caller_voice: Arc<Voice>,
    operator_voice: Arc<Voice>,
    pub calls: Vec<CallSlot>,
    pub operators: Vec<Operator>,
    legs: HashMap<LegId, Owner>,
    operator_streams: HashMap<LegId, usize>,
    streams: Vec<Option<Stream>>,
    free_streams: Vec<usize>,
    demux: HashMap<(usize, SocketAddr), usize>,
    early_rtp: HashMap<(usize, SocketAddr), Vec<(Instant, Vec<u8>)>>,
    wheel: Vec<Vec<usize>>,
    epoch: Instant,
    next_tick: u64,
    timers: BinaryHeap<Reverse<(Instant, Timer)>>,
    sip_out: Vec<(SocketAddr, Vec<u8>)>,
    console_out: Vec<ConsoleCommand>,
    /// The break plan in the run's time.
    breaks: Option<BreakPlan>,
    rtp_out: Vec<RtpBatch>,
    checks: Vec<CheckRequest>,
    arrival_rate: f64,
    arrival_at: Option<Instant>,
    target_concurrency: Option<usize>,
    active: usize,
    number_base: u64,
    pub figures: Figures,
}

impl Engine {
    pub fn new(config: EngineConfig, prompts: Arc<PromptLibrary>, now: Instant) -> Engine {
        let mut rng = fastrand::Rng::with_seed(config.seed);
        let ua = UserAgent::new(
            UaConfig { user_agent: "loadtest".to_owned(), ..UaConfig::new(config.sip_local) },
            fastrand::Rng::with_seed(rng.u64(..)),
        );
        let mut operators: Vec<Operator> = config.operators.iter().map(|o| Operator::new(o.clone(), &mut rng)).collect();
        if config.console {
            operators.iter_mut().for_each(|o| o.console = ConsoleState::SignedOut);
        }
        let breaks = config.breaks.as_ref().filter(|_| config.console).map(|b| b.scaled(config.time_scale));
        let sockets = config.rtp_locals.len();
        Engine {
            number_base: rng.u64(..90_000_000),
            ua,
            rng,
            prompts,
            caller_voice: Voice::tone(440.0, -24.0),
            operator_voice: Voice::tone(OPERATOR_HZ, -16.0),
            calls: Vec::new(),
            operators,
            legs: HashMap::new(),
            operator_streams: HashMap::new(),
            streams: Vec::new(),
            free_streams: Vec::new(),
            demux: HashMap::new(),
            early_rtp: HashMap::new(),
            wheel: (0..SLOTS).map(|_| Vec::new()).collect(),
            epoch: now,
            next_tick: 0,
            timers: BinaryHeap::new(),
            sip_out: Vec::new(),
            console_out: Vec::new(),
            breaks,
            rtp_out: (0..sockets).map(|_| RtpBatch::default()).collect(),
            checks: Vec::new(),
            arrival_rate: 0.0,
            arrival_at: None,
            target_concurrency: None,
            active: 0,
            config,
            figures: Figures::default(),
        }
    }

    // ------------------------------------------------------------ commands

    /// Sends every operator's REGISTER.
    pub fn register_operators(&mut self) {
        for op in &mut self.operators {
            let bytes = op.register(self.config.sip_local, self.config.server, &mut self.rng);
            self.sip_out.push((self.config.server, bytes));
        }
    }

    /// Starts the break plan: operator `i` of `n` takes its first break
    /// `(i + 1) / (n + 1)` of a period from now, so that breaks are spread
    /// evenly rather than taken all at once.
    pub fn start_breaks(&mut self, now: Instant) {
        let Some(plan) = &self.breaks else { return };
        let n = self.operators.len();
        for (i, op) in self.operators.iter_mut().enumerate() {
            let first = now + plan.every.mul_f64((i + 1) as f64 / (n + 1) as f64);
            op.plan_breaks(first);
            self.timers.push(Reverse((first, Timer::Break(i as u16))));
        }
    }

    /// The end of the run: every operator signed in to the console logs
    /// out (a break in progress ends with it).
    pub fn sign_out_operators(&mut self, now: Instant) {
        for (o, op) in self.operators.iter_mut().enumerate() {
            if let Some(action) = op.console_sign_out(now) {
                self.console_out.push(ConsoleCommand { operator: o as u16, action });
            }
        }
    }

    /// Poisson arrivals at `per_sec` from now (0 stops them).
    pub fn set_arrival_rate(&mut self, now: Instant, per_sec: f64) {
        let was = self.arrival_rate;
        self.arrival_rate = per_sec.max(0.0);
        self.target_concurrency = None;
        // A rate change redraws the next arrival (memoryless).
        if self.arrival_rate > 0.0 && (self.arrival_at.is_none() || was != self.arrival_rate) {
            let at = now + self.interarrival();
            self.arrival_at = Some(at);
            self.timers.push(Reverse((at, Timer::Arrival)));
        }
    }

    /// Keeps `n` calls up: a new one starts whenever one ends.
    pub fn set_concurrency(&mut self, now: Instant, n: usize) {
        self.arrival_rate = 0.0;
        self.target_concurrency = Some(n);
        self.top_up(now);
    }

    /// Stops new calls; calls in progress go on to their end.
    pub fn stop_arrivals(&mut self) {
        self.arrival_rate = 0.0;
        self.arrival_at = None;
        self.target_concurrency = None;
    }

    /// Hangs up every call still up (the end of a run's drain time).
    pub fn hang_up_all(&mut self, now: Instant) {
        for i in 0..self.calls.len() {
            if self.calls[i].ended_at.is_none() {
                self.calls[i].caller.phase = super::caller::Phase::Done;
                self.end_caller_media(i);
                if let Some(leg) = self.calls[i].leg {
                    self.ua.hangup(now, leg);
                }
            }
        }
        self.drain_ua(now);
    }

    fn interarrival(&mut self) -> Duration {
        let u = 1.0 - self.rng.f64();
        Duration::from_secs_f64((-u.ln() / self.arrival_rate).min(3600.0))
    }

    fn top_up(&mut self, now: Instant) {
        while let Some(target) = self.target_concurrency
            && self.active < target
        {
            self.start_call(now);
        }
    }

    fn start_call(&mut self, now: Instant) {
        let index = self.calls.len() as u32;
        let journey = self.config.mix.draw(&mut self.rng);
        let number = format!("6{:08}", (self.number_base + u64::from(index)) % 100_000_000);
        let mut caller = Caller::new(number.clone(), journey, self.config.time_scale);
        caller.line = self.config.line;
        caller.check_audio = self.config.audio_check_share >= 1.0 || self.rng.f64() < self.config.audio_check_share;
        let session = self.rng.u64(..1 << 40);
        let socket = index as usize % self.config.rtp_locals.len().max(1);
        let rtp_local = self.config.rtp_locals.get(socket).copied().unwrap_or(self.config.sip_local);
        let host = ivr_sip::message::host_port(self.config.server);
        let invite = OutgoingInvite {
            to_addr: self.config.server,
            transport: Transport::Udp,
            request_uri: format!("sip:{}@{host}", self.config.dialled),
            from_uri: format!("sip:{number}@{}", ivr_sip::message::host_port(self.config.sip_local)),
            to_uri: format!("sip:{}@{host}", self.config.dialled),
            sdp: Some(sdp::body(rtp_local, session, &[Law::Pcmu, Law::Pcma])),
        };
        self.figures.offered += 1;
        self.active += 1;
        let leg = self.ua.invite(now, invite).ok();
        let failure = leg.is_none().then_some(Failure::Rejected(0));
        if let Some(leg) = leg {
            self.legs.insert(leg, Owner::Caller(index));
            self.timers.push(Reverse((now + self.config.setup_timeout, Timer::SetupGuard(index))));
        }
        self.calls.push(CallSlot {
            caller,
            leg,
            stream: None,
            invited_at: now,
            answered_at: None,
            ended_at: None,
            failure: None,
            rtp: Default::default(),
            keys_rfc4733: 0,
            keys_inband: 0,
            keys_sip_info: 0,
            sip_info_failed: 0,
            keys_cut: false,
        });
        if let Some(f) = failure {
            self.fail(now, index as usize, f);
        }
        self.drain_ua(now);
    }

    // ------------------------------------------------------------ inputs

    pub fn handle_sip(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if bytes.starts_with(b"SIP/2.0")
            && let Ok(msg) = ivr_sip::message::parse(bytes)
            && msg.core.cseq_method.as_str() == "REGISTER"
        {
            let (local, server) = (self.config.sip_local, self.config.server);
            if let Some(o) = self.operators.iter().position(|o| o.call_id() == msg.core.call_id) {
                let op = &mut self.operators[o];
                let refresh_was = op.refresh_at;
                if let Some(again) = op.on_response(now, &msg, local, server, &mut self.rng) {
                    self.sip_out.push((server, again));
                }
                if let Some(at) = op.refresh_at.filter(|at| refresh_was != Some(*at)) {
                    self.timers.push(Reverse((at, Timer::Reregister(o as u16))));
                }
                if let Some(action) = op.console_sign_in() {
                    self.console_out.push(ConsoleCommand { operator: o as u16, action });
                }
            }
            return;
        }
        self.ua.handle_datagram(now, Transport::Udp, from, bytes);
        self.drain_ua(now);
    }

    pub fn handle_rtp(&mut self, now: Instant, socket: usize, from: SocketAddr, bytes: &[u8]) {
        let Some(&id) = self.demux.get(&(socket, from)) else {
            // The server may send before its 200 OK is handled here: keep
            // a little, for the stream about to be made.
            self.early_rtp.retain(|_, packets| packets.first().is_some_and(|(t, _)| now.saturating_duration_since(*t) < EARLY_KEEP));
            let packets = self.early_rtp.entry((socket, from)).or_default();
            if packets.len() < EARLY_MAX {
                packets.push((now, bytes.to_vec()));
            }
            return;
        };
        let Some(packet) = RtpPacket::parse(bytes) else { return };
        let arrival = now.saturating_duration_since(self.epoch).as_secs_f64();
        let Some(stream) = self.streams.get_mut(id).and_then(Option::as_mut) else { return };
        self.figures.rtp_received += 1;
        let law = stream.receiver.receive(&packet, arrival);
        if law.is_some()
            && let Some(d) = stream.receiver.last_variation_ms.take()
        {
            let micros = (d * 1000.0) as u64;
            self.figures.arrival_variation.record(micros);
            self.figures.arrival_variation_recent.record(micros);
        }
        if let (Some(law), Owner::Caller(i)) = (law, stream.owner) {
            let mut pcm = Vec::with_capacity(packet.payload.len());
            decode_into(law, &packet.payload, &mut pcm);
            let effects = self.calls[i as usize].caller.audio(now, &pcm, &self.prompts);
            self.apply(now, i as usize, effects);
        }
    }

    /// The console's answer to an operator's request.
    pub fn handle_console(&mut self, now: Instant, reply: ConsoleReply) {
        let o = usize::from(reply.operator);
        let Some(op) = self.operators.get_mut(o) else { return };
        let outcome = reply.outcome.as_ref().map_err(ToString::to_string);
        if let Some(at) = op.console_answered(now, reply.kind, outcome, self.breaks.as_ref()) {
            self.timers.push(Reverse((at, Timer::Break(reply.operator))));
        }
    }

    /// A verdict from the audio-check worker.
    pub fn handle_check(&mut self, call: u32, prompt: &str, score: f64) {
        if let Some(slot) = self.calls.get_mut(call as usize) {
            slot.caller.checked(prompt, score);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ua.poll_timeout().is_some_and(|t| t <= now) {
            self.ua.handle_timeout(now);
            self.drain_ua(now);
        }
        while let Some(Reverse((at, timer))) = self.timers.peek().copied()
            && at <= now
        {
            self.timers.pop();
            match timer {
                Timer::Arrival if self.arrival_at == Some(at) && self.arrival_rate > 0.0 => {
                    self.start_call(now);
                    let next = (at + self.interarrival()).max(now);
                    self.arrival_at = Some(next);
                    self.timers.push(Reverse((next, Timer::Arrival)));
                }
                Timer::Arrival => {}
                Timer::Caller(i) => {
                    let slot = &mut self.calls[i as usize];
                    // A caller hung up by `hang_up_all` is Done with its BYE in
                    // flight: its wake does nothing and keeps its past due time,
                    // so waking it again would re-arm it at or before `now`
                    // and spin this loop for ever.
                    if slot.ended_at.is_none()
                        && slot.caller.phase != super::caller::Phase::Done
                        && slot.caller.next_wake().is_some_and(|t| t <= now)
                    {
                        let effects = slot.caller.wake(now, &self.prompts);
                        self.apply(now, i as usize, effects);
                    }
                }
                Timer::SetupGuard(i) => {
                    let slot = &self.calls[i as usize];
                    if slot.answered_at.is_none()
                        && slot.ended_at.is_none()
                        && let Some(leg) = slot.leg
                    {
                        self.ua.hangup(now, leg);
                        self.fail(now, i as usize, Failure::SetupTimeout);
                        self.drain_ua(now);
                    }
                }
                Timer::Operator(o) => self.operator_wake(now, usize::from(o)),
                Timer::Break(o) => {
                    if let (Some(plan), Some(op)) = (&self.breaks, self.operators.get_mut(usize::from(o)))
                        && op.next_break_wake().is_some_and(|at| at <= now)
                    {
                        if let Some(action) = op.break_wake(now, plan) {
                            self.console_out.push(ConsoleCommand { operator: o, action });
                        }
                        if let Some(at) = op.next_break_wake() {
                            self.timers.push(Reverse((at, Timer::Break(o))));
                        }
                    }
                }
                Timer::Reregister(o) => {
                    let (local, server) = (self.config.sip_local, self.config.server);
                    if let Some(op) = self.operators.get_mut(usize::from(o))
                        && op.refresh_at.is_some_and(|at| at <= now)
                        && let Some(bytes) = op.refresh(local, server, &mut self.rng)
                    {
                        self.sip_out.push((server, bytes));
                    }
                }
            }
        }
        self.rtp_ticks(now);
    }

    // ------------------------------------------------------------ outputs

    pub fn sip_out(&mut self) -> std::vec::Drain<'_, (SocketAddr, Vec<u8>)> {
        self.sip_out.drain(..)
    }

    /// The RTP batches, one per socket of `rtp_locals`, to send and clear.
    pub fn rtp_batches(&mut self) -> &mut [RtpBatch] {
        &mut self.rtp_out
    }

    pub fn take_checks(&mut self) -> Vec<CheckRequest> {
        std::mem::take(&mut self.checks)
    }

    /// Operators' requests for the console driver.
    pub fn take_console_commands(&mut self) -> Vec<ConsoleCommand> {
        std::mem::take(&mut self.console_out)
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = self.ua.poll_timeout();
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        if let Some(Reverse((t, _))) = self.timers.peek() {
            consider(*t);
        }
        // The next tick whose bucket has streams: an idle millisecond
        // does not wake the loop.
        if let Some(ahead) = (0..SLOTS).find(|k| !self.wheel[((self.next_tick + k) % SLOTS) as usize].is_empty()) {
            consider(self.epoch + Duration::from_millis(self.next_tick + ahead));
        }
        next
    }

    /// Calls up now (from INVITE to their end).
    pub fn active(&self) -> usize {
        self.active
    }

    /// Calls waiting in the queue now (as the callers see it).
    pub fn in_queue(&self) -> usize {
        self.calls.iter().filter(|c| matches!(c.caller.phase, super::caller::Phase::Queue { .. })).count()
    }

    /// Loss and expected packets over every caller stream, ended or not.
    pub fn loss_so_far(&self) -> (u64, u64) {
        let (mut lost, mut expected) = (self.figures.rtp_lost, self.figures.rtp_expected);
        for s in self.streams.iter().flatten() {
            if let Owner::Caller(_) = s.owner {
                let st = s.receiver.stats();
                lost += st.lost;
                expected += st.expected;
            }
        }
        (lost, expected)
    }

    pub fn checks_pending(&self) -> u32 {
        self.calls.iter().map(|c| c.caller.checks_pending).sum()
    }

    pub fn operators_registered(&self) -> usize {
        self.operators.iter().filter(|o| o.registration == Registration::Registered).count()
    }

    pub fn operators_settled(&self) -> bool {
        self.operators.iter().all(|o| !matches!(o.registration, Registration::Pending { .. } | Registration::Unregistered))
    }

    /// No operator is signing in to the console or out of it.
    pub fn console_settled(&self) -> bool {
        self.operators.iter().all(|o| !matches!(o.console, ConsoleState::SigningIn | ConsoleState::SigningOut))
    }

    /// Whether operators use the console in this run.
    pub fn console_used(&self) -> bool {
        self.config.console
    }

    // ------------------------------------------------------------ internals

    fn drain_ua(&mut self, now: Instant) {
        while let Some(output) = self.ua.poll_output() {
            match output {
                Output::Transmit(t) => self.sip_out.push((t.to, t.bytes)),
                Output::Event(event) => self.on_event(now, event),
            }
        }
    }

    fn on_event(&mut self, now: Instant, event: CallEvent) {
        match event {
            CallEvent::Answered { leg, sdp } => match self.legs.get(&leg).copied() {
                Some(Owner::Caller(i)) => self.caller_answered(now, i as usize, sdp.as_deref()),
                _ => self.ua.hangup(now, leg),
            },
            CallEvent::Failed { leg, status } => {
                if let Some(Owner::Caller(i)) = self.legs.remove(&leg) {
                    self.fail(now, i as usize, Failure::Rejected(status));
                }
            }
            CallEvent::Terminated { leg, reason } => match self.legs.remove(&leg) {
                Some(Owner::Caller(i)) => {
                    if reason == TerminationReason::ByeReceived {
                        self.calls[i as usize].caller.bye_received();
                    }
                    if reason == TerminationReason::TransactionTimeout {
                        self.fail(now, i as usize, Failure::TransactionTimeout);
                    }
                    self.end_call(now, i as usize);
                }
                Some(Owner::Operator(o)) => self.operator_call_over(usize::from(o)),
                None => {}
            },
            CallEvent::Cancelled { leg } => {
                if let Some(Owner::Operator(o)) = self.legs.remove(&leg) {
                    self.operators[usize::from(o)].offers_missed += 1;
                    self.operator_call_over(usize::from(o));
                }
            }
            CallEvent::Incoming { leg, request_uri, sdp, .. } => self.operator_offered(now, leg, &request_uri, sdp.as_deref()),
            CallEvent::ReInvite { leg, .. } => self.ua.reject_reinvite(now, leg, 488),
            CallEvent::InfoResult { leg, status } => {
                if let Some(&Owner::Caller(i)) = self.legs.get(&leg) {
                    self.info_outcome(i as usize, (200..300).contains(&status));
                }
            }
            _ => {}
        }
    }

    fn caller_answered(&mut self, now: Instant, i: usize, answer: Option<&[u8]>) {
        let slot = &mut self.calls[i];
        if slot.answered_at.is_some() || slot.ended_at.is_some() {
            return;
        }
        slot.answered_at = Some(now);
        self.figures.answered += 1;
        self.figures.setup.record(now.saturating_duration_since(slot.invited_at).as_micros() as u64);
        let Some(media) = answer.and_then(sdp::parse) else {
            if let Some(leg) = slot.leg {
                self.ua.hangup(now, leg);
            }
            self.fail(now, i, Failure::UnusableAnswer);
            return;
        };
        let socket = i % self.config.rtp_locals.len().max(1);
        let id = self.add_stream(Owner::Caller(i as u32), socket, media, self.caller_voice.clone());
        self.calls[i].stream = Some(id);
        let effects = self.calls[i].caller.answered(now, &self.prompts);
        self.apply(now, i, effects);
        self.replay_early(now, socket, media.addr);
    }

    fn add_stream(&mut self, owner: Owner, socket: usize, media: sdp::RemoteMedia, voice: Arc<Voice>) -> usize {
        let sender = RtpSender::new(self.rng.u32(..), self.rng.u16(..), self.rng.u32(..), media.law, media.event_pt, voice);
        let bucket = self.rng.usize(..SLOTS as usize);
        let stream = Stream { sender, receiver: RtpReceiver::default(), remote: media.addr, socket, owner, bucket, law: media.law };
        let id = match self.free_streams.pop() {
            Some(id) => {
                self.streams[id] = Some(stream);
                id
            }
            None => {
                self.streams.push(Some(stream));
                self.streams.len() - 1
            }
        };
        self.demux.insert((socket, media.addr), id);
        self.wheel[bucket].push(id);
        id
    }

    /// Feeds a new stream what arrived for it before it existed.
    fn replay_early(&mut self, now: Instant, socket: usize, remote: SocketAddr) {
        for (_, bytes) in self.early_rtp.remove(&(socket, remote)).unwrap_or_default() {
            self.handle_rtp(now, socket, remote, &bytes);
        }
    }

    fn remove_stream(&mut self, id: usize) -> Option<Stream> {
        let stream = self.streams.get_mut(id)?.take()?;
        self.demux.remove(&(stream.socket, stream.remote));
        self.wheel[stream.bucket].retain(|s| *s != id);
        self.free_streams.push(id);
        let s = stream.receiver.stats();
        match stream.owner {
            Owner::Caller(_) => {
                self.figures.rtp_expected += s.expected;
                self.figures.rtp_lost += s.lost;
                self.figures.rtp_duplicates += s.duplicates;
                if s.received > 1 {
                    self.figures.jitter.record((s.jitter_ms * 1000.0) as u64);
                }
            }
            Owner::Operator(_) => {
                self.figures.operator_rtp_expected += s.expected;
                self.figures.operator_rtp_lost += s.lost;
            }
        }
        Some(stream)
    }

    fn apply(&mut self, now: Instant, i: usize, effects: Effects) {
        let slot = &mut self.calls[i];
        if let Some((prompt, heard)) = effects.check {
            self.checks.push(CheckRequest { call: i as u32, prompt, heard });
        }
        if let Some(keys) = effects.press
            && let Some(stream) = slot.stream.and_then(|id| self.streams.get_mut(id)).and_then(Option::as_mut)
        {
            let method = match slot.caller.journey.dtmf {
                DtmfMethod::Inband => KeyMethod::Inband,
                DtmfMethod::Rfc4733 => KeyMethod::Rfc4733,
                DtmfMethod::SipInfo => KeyMethod::SipInfo,
            };
            stream.sender.press(keys.as_slice(), method);
        }
        if effects.hang_up {
            let leg = slot.leg;
            self.end_caller_media(i);
            if let Some(leg) = leg {
                self.ua.hangup(now, leg);
                self.drain_ua(now);
            }
        } else if let Some(t) = self.calls[i].caller.next_wake() {
            self.timers.push(Reverse((t, Timer::Caller(i as u32))));
        }
    }

    /// Sends the INFO keys that fell due on the last RTP ticks: one INFO
    /// each, `application/dtmf-relay` as phones send it (the body the
    /// server's `parse_info` reads). The stream's sender waits for the
    /// outcome before the next key.
    fn send_info_keys(&mut self, now: Instant, due: &[(u32, char)]) {
        for &(i, key) in due {
            let Some(leg) = self.calls[i as usize].leg else {
                self.info_outcome(i as usize, false);
                continue;
            };
            let body = format!("Signal={key}\r\nDuration={INFO_KEY_MS}\r\n").into_bytes();
            match self.ua.info(now, leg, DTMF_RELAY, body) {
                Ok(()) => self.calls[i as usize].keys_sip_info += 1,
                // The leg is ending (its BYE is in flight): the key is lost
                // with the call.
                Err(_) => self.info_outcome(i as usize, false),
            }
        }
        if !due.is_empty() {
            self.drain_ua(now);
        }
    }

    /// An INFO key's outcome: counted, and the caller's next key may go.
    fn info_outcome(&mut self, i: usize, delivered: bool) {
        let slot = &mut self.calls[i];
        if !delivered {
            slot.sip_info_failed += 1;
        }
        if let Some(stream) = slot.stream.and_then(|id| self.streams.get_mut(id)).and_then(Option::as_mut) {
            stream.sender.info_answered();
        }
    }

    /// Stops a caller's RTP (its stream's figures are kept).
    fn end_caller_media(&mut self, i: usize) {
        if let Some(id) = self.calls[i].stream.take()
            && let Some(stream) = self.remove_stream(id)
        {
            let slot = &mut self.calls[i];
            slot.rtp = stream.receiver.stats();
            slot.keys_rfc4733 = stream.sender.sent_rfc4733;
            slot.keys_inband = stream.sender.sent_inband;
            slot.keys_cut = stream.sender.pressing() || slot.sip_info_failed > 0 || slot.caller.keys_uncertain();
        }
    }

    fn end_call(&mut self, now: Instant, i: usize) {
        if self.calls[i].ended_at.is_some() {
            return;
        }
        self.end_caller_media(i);
        let slot = &mut self.calls[i];
        slot.ended_at = Some(now);
        if slot.answered_at.is_some() && slot.rtp.received == 0 && slot.failure.is_none() {
            slot.failure = Some(Failure::NoAudio);
        }
        if let Some((prompt, heard)) = slot.caller.ended() {
            self.checks.push(CheckRequest { call: i as u32, prompt, heard });
        }
        self.figures.ended += 1;
        self.active = self.active.saturating_sub(1);
        self.top_up(now);
    }

    fn fail(&mut self, now: Instant, i: usize, failure: Failure) {
        let slot = &mut self.calls[i];
        if slot.failure.is_none() {
            slot.failure = Some(failure);
            if slot.answered_at.is_none() {
                self.figures.failed_setup += 1;
            }
        }
        slot.caller.phase = super::caller::Phase::Done;
        if let Some(leg) = slot.leg.take() {
            self.legs.remove(&leg);
        }
        self.end_call(now, i);
    }

    fn operator_offered(&mut self, now: Instant, leg: LegId, request_uri: &str, offer: Option<&[u8]>) {
        let user = uri_user(request_uri).unwrap_or_default();
        let found = self.operators.iter().position(|o| o.contact_user == user);
        if let Some(o) = found {
            // Counted however it goes on: the operator still takes it.
            self.operators[o].offered();
        }
        let (Some(o), Some(media)) = (found, offer.and_then(sdp::parse)) else {
            self.ua.reject(now, leg, if found.is_some() { 488 } else { 404 }, None);
            self.drain_ua(now);
            return;
        };
        if !self.operators[o].is_free() {
            self.ua.reject(now, leg, 486, None);
            self.drain_ua(now);
            return;
        }
        self.ua.ringing(now, leg);
        let (lo, hi) = self.config.ring_delay;
        let delay = lo + (hi.saturating_sub(lo)).mul_f64(self.rng.f64());
        self.operators[o].call = Some(OperatorCall::Ringing { leg, answer_at: now + delay });
        self.legs.insert(leg, Owner::Operator(o as u16));
        // The stream exists from the offer so that the answer can name its
        // socket; it joins the wheel (starts sending) once answered.
        let socket = leg.0 as usize % self.config.rtp_locals.len().max(1);
        let id = self.add_stream(Owner::Operator(o as u16), socket, media, self.operator_voice.clone());
        if let Some(Some(stream)) = self.streams.get(id) {
            let bucket = stream.bucket;
            self.wheel[bucket].retain(|s| *s != id);
        }
        self.operator_streams.insert(leg, id);
        self.timers.push(Reverse((now + delay, Timer::Operator(o as u16))));
        self.drain_ua(now);
    }

    fn operator_wake(&mut self, now: Instant, o: usize) {
        let Some(call) = self.operators[o].call else { return };
        match call {
            OperatorCall::Ringing { leg, answer_at } if answer_at <= now => {
                let Some(&id) = self.operator_streams.get(&leg) else { return };
                let Some(Some(stream)) = self.streams.get(id) else { return };
                let (socket, law, bucket) = (stream.socket, stream.law, stream.bucket);
                let local = self.config.rtp_locals.get(socket).copied().unwrap_or(self.config.sip_local);
                let answer = sdp::body(local, self.rng.u64(..1 << 40), &[law]);
                self.ua.answer(now, leg, answer);
                self.wheel[bucket].push(id);
                let talk = scaled_talk(self.config.mix.talk.sample(&mut self.rng), self.config.time_scale);
                self.operators[o].call = Some(OperatorCall::Talking { leg, until: now + talk });
                self.operators[o].calls_answered += 1;
                self.timers.push(Reverse((now + talk, Timer::Operator(o as u16))));
                self.drain_ua(now);
            }
            OperatorCall::Talking { leg, until } if until <= now => {
                self.ua.hangup(now, leg);
                if let Some(id) = self.operator_streams.remove(&leg) {
                    self.remove_stream(id);
                }
                self.drain_ua(now);
            }
            _ => {}
        }
    }

    fn operator_call_over(&mut self, o: usize) {
        if let Some(leg) = self.operators[o].leg()
            && let Some(id) = self.operator_streams.remove(&leg)
        {
            self.remove_stream(id);
        }
        self.operators[o].call = None;
        if let Some(plan) = &self.breaks
            && let Some(action) = self.operators[o].call_ended(plan)
        {
            self.console_out.push(ConsoleCommand { operator: o as u16, action });
        }
    }

    fn rtp_ticks(&mut self, now: Instant) {
        let behind = now.saturating_duration_since(self.epoch + Duration::from_millis(self.next_tick));
        if behind > Duration::from_millis(200) {
            // Idle (no streams) or stalled: resume on the current slot
            // rather than burst out the backlog.
            if self.wheel.iter().any(|b| !b.is_empty()) {
                self.figures.rtp_ticks_skipped += behind.as_millis() as u64;
            }
            self.next_tick = now.saturating_duration_since(self.epoch).as_millis() as u64;
        }
        loop {
            let due = self.epoch + Duration::from_millis(self.next_tick);
            if due > now {
                break;
            }
            let bucket = (self.next_tick % SLOTS) as usize;
            self.next_tick += 1;
            let mut info_due = Vec::new();
            for k in 0..self.wheel[bucket].len() {
                let id = self.wheel[bucket][k];
                let Some(Some(stream)) = self.streams.get_mut(id) else { continue };
                let batch = &mut self.rtp_out[stream.socket];
                let start = batch.arena.len();
                stream.sender.next_packet(&mut batch.arena);
                batch.packets.push(RtpOut { to: stream.remote, start, len: batch.arena.len() - start, due });
                self.figures.rtp_sent += 1;
                if let (Owner::Caller(i), Some(key)) = (stream.owner, stream.sender.take_info_key()) {
                    info_due.push((i, key));
                }
            }
            self.send_info_keys(now, &info_due);
        }
    }
}
