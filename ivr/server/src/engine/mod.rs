//! The call engine: turns SIP call events into media and dialplan actions.
//!
//! Owns every call's lifecycle on the signalling side: the SIP user agent
//! (sans-IO, from `ivr-sip`), each call's dialplan interpreter, the RTP port pool,
//! and the mapping between SIP legs and media-loop calls. It sends and
//! receives nothing itself: the shell in `server.rs` feeds it datagrams,
//! media notices and timeouts, and sends what [`Engine::poll_transmit`]
//! returns. Its only system calls are binding RTP port pairs (through the
//! pool) and, with a wildcard listen address, asking the routing table which
//! local address reaches a caller. Every input takes `now`.
//!
//! It must never block, never read the clock, and never let a peer's bad
//! SDP or SIP end anything but that peer's call.

mod agents;
mod b2bua;
mod console;
mod dialogue;
mod journey;
mod monitor;
mod queueing;
mod record;
mod refer;
mod setup;
mod softphone;
mod teardown;

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use ivr_dialplan::interpreter::Input;
use ivr_media::dtmf::DtmfMethod;
use ivr_media::sdp::{LocalMedia, SdpSessionVersion};
use ivr_store::{CallRecord, FinishedCall, Pseudonymizer, RecordSender};
use ivr_acd::{Acd, AgentId, CallId as AcdCallId};
use ivr_sip::registrar::{Binding, Registrar};
use ivr_sip::{CallEvent, LegId, Output, Transmit, Transport, UaConfig, UserAgent};
use tracing::{Span, debug};

use self::dialogue::Dialogue;
use self::journey::{CallPath, Timeline};
use self::setup::advertised_sip_ip;
use self::teardown::add_media_totals;
use crate::config::ServerConfig;
use crate::deadlines::DeadlineQueue;
use crate::dialplan_host::LoadedDialplan;
use crate::media_loop::{MediaHandle, MediaId, MediaNotice};
use crate::rtp_ports::RtpPortPool;
use crate::telemetry;

/// State the HTTP side reads without touching the engine.
#[derive(Debug, Default)]
pub struct EngineStatus {
    pub accepting_calls: AtomicBool,
    pub active_calls: AtomicU64,
}

/// Why a call ended, for logs and the `ivr_calls_ended_total` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EndReason {
    CallerHungUp,
    FlowHungUp,
    MediaTimeout,
    Cancelled,
    Shutdown,
    Signalling,
    /// A transferred call ended at the far end.
    Transferred,
}

impl EndReason {
    fn label(self) -> &'static str {
        match self {
            EndReason::CallerHungUp => "caller_hangup",
            EndReason::FlowHungUp => "ivr_hangup",
            EndReason::MediaTimeout => "media_timeout",
            EndReason::Cancelled => "cancelled",
            EndReason::Shutdown => "shutdown",
            EndReason::Signalling => "signalling",
            EndReason::Transferred => "transferred",
        }
    }
}

struct Call {
    media_id: MediaId,
    span: Span,
    /// The partial record, completed when the call ends.
    record: CallRecord,
    /// When the INVITE arrived, for the setup-time histogram.
    received_at: Instant,
    answered_at: Option<Instant>,
    rtp_port: u16,
    local_media: LocalMedia,
    sdp_version: SdpSessionVersion,
    /// Our 200 carried an offer (the INVITE had none): media starts with the ACK's answer.
    awaiting_answer: Option<(StdUdpSocket, StdUdpSocket)>,
    /// The caller's number (the From user part), for callbacks; never logged.
    caller: Option<String>,
    dialogue: Option<Dialogue>,
    /// The IVR path (nodes and keys) and the timeline, for the record.
    path: CallPath,
    timeline: Timeline,
    topic: Option<String>,
    /// Survey answers: question, value (None: no valid answer), epoch ms.
    survey: Vec<(String, Option<u8>, i64)>,
    dialplan_version: Option<String>,
    /// The last play token handed out, and the plays the interpreter and
    /// the queue are waiting on.
    play_token: u64,
    dialogue_play: Option<u64>,
    queue_play: Option<u64>,
    recording: bool,
    /// A message the caller left (WAV), stored with the record.
    message: Option<Vec<u8>>,
    /// The caller's negotiated codec (outgoing legs offer it first).
    codec: Option<ivr_media::Codec>,
    /// With the ACD (waiting, choosing a callback, talking to an operator).
    queue: Option<queueing::QueuedCall>,
    /// The queue visits this call made, for the record.
    queue_history: Vec<record::QueueVisit>,
    callback_number: Option<String>,
    /// The operator put the caller on hold / muted themselves (console).
    on_hold: bool,
    muted: bool,
    /// How the dialplan says the call counts if it ends in the IVR.
    dialplan_disposition: Option<ivr_store::Disposition>,
    /// The queue the callback request was left for.
    callback_queue: Option<String>,
    /// The outgoing leg the caller's media is bridged to.
    bridged_to: Option<LegId>,
    agent: Option<String>,
    agent_answered_at: Option<Instant>,
    agent_ended_at: Option<Instant>,
    transferred: bool,
    media_running: bool,
    ending: Option<EndReason>,
}

impl Call {
    fn next_play_token(&mut self) -> u64 {
        self.play_token += 1;
        self.play_token
    }
}

pub struct Engine {
    config: Arc<ServerConfig>,
    ua: UserAgent,
    calls: HashMap<LegId, Call>,
    by_media: HashMap<MediaId, LegId>,
    /// Media still closing after the SIP leg is gone: its port pair, and the
    /// call's record waiting for the media totals.
    closing_media: HashMap<MediaId, (u16, Option<Box<FinishedCall>>)>,
    /// Messages callers left, for the shell to write: (path under the data
    /// directory, WAV bytes).
    messages: VecDeque<(String, Vec<u8>)>,
    pseudonymizer: Option<Pseudonymizer>,
    records: Option<RecordSender>,
    clock: WallClock,
    /// Each call's interpreter deadline.
    flow_deadlines: DeadlineQueue<LegId>,
    outbox: VecDeque<Transmit>,
    media: MediaHandle,
    ports: RtpPortPool,
    /// The dialplan version new calls start on.
    dialplan: LoadedDialplan,
    status: Arc<EngineStatus>,
    rng: fastrand::Rng,
    next_media_id: u64,
    sip_ip: IpAddr,
    /// The operator queue (sans-IO) and its next deadline.
    acd: Acd,
    acd_deadline: Option<Instant>,
    acd_calls: HashMap<AcdCallId, LegId>,
    next_acd_call: u64,
    /// Outgoing legs (operators, transfers), and the offers they carry.
    out_legs: HashMap<LegId, b2bua::OutLeg>,
    offers: HashMap<(AcdCallId, AgentId), LegId>,
    /// Where each agent's phone is registered.
    agent_phones: HashMap<AgentId, Binding>,
    /// The call each agent wraps up, and the wrap-up writer (console.rs).
    wrap_ups: console::WrapUps,
    /// Something the console shows changed (queues, agents, calls).
    live_dirty: bool,
    /// Agents' browser softphones (links, media sessions, their calls).
    softphones: softphone::Softphones,
    /// Supervisors' browser softphones and the calls they monitor.
    monitors: monitor::Monitors,
}

impl Engine {
    pub fn new(
        config: Arc<ServerConfig>,
        media: MediaHandle,
        dialplan: LoadedDialplan,
        status: Arc<EngineStatus>,
        records: Option<RecordSender>,
        clock: WallClock,
        acd: Acd,
        registrar: Option<Registrar>,
        pseudonymizer: Option<Pseudonymizer>,
        seed: u64,
    ) -> Engine {
        let sip_ip = advertised_sip_ip(&config);
        let mut ua = UserAgent::new(
            UaConfig {
                user_agent: config.sip.user_agent.clone(),
                ..UaConfig::new(SocketAddr::new(sip_ip, config.sip.listen.port()))
            },
            fastrand::Rng::with_seed(seed),
        );
        if let Some(registrar) = registrar {
            ua.set_registrar(registrar);
        }
        status.accepting_calls.store(true, Ordering::Relaxed);
        Engine {
            acd,
            acd_deadline: None,
            acd_calls: HashMap::new(),
            next_acd_call: 1,
            out_legs: HashMap::new(),
            offers: HashMap::new(),
            agent_phones: HashMap::new(),
            wrap_ups: console::WrapUps::default(),
            live_dirty: true,
            softphones: softphone::Softphones::default(),
            monitors: monitor::Monitors::default(),
            ports: RtpPortPool::new(config.media.rtp_ports),
            config,
            ua,
            calls: HashMap::new(),
            by_media: HashMap::new(),
            closing_media: HashMap::new(),
            messages: VecDeque::new(),
            pseudonymizer,
            records,
            clock,
            flow_deadlines: DeadlineQueue::default(),
            outbox: VecDeque::new(),
            media,
            dialplan,
            status,
            rng: fastrand::Rng::with_seed(seed ^ 0x9e37_79b9_7f4a_7c15),
            next_media_id: 1,
            sip_ip,
        }
    }

    // ---- inputs -------------------------------------------------------

    pub fn handle_sip(&mut self, now: Instant, transport: Transport, from: SocketAddr, bytes: &[u8]) {
        metrics::counter!(telemetry::SIP_MESSAGES_RECEIVED_TOTAL).increment(1);
        self.ua.handle_datagram(now, transport, from, bytes);
        self.drain_ua_events(now);
    }

    pub fn handle_media(&mut self, now: Instant, notice: MediaNotice) {
        self.on_media_notice(now, notice);
        self.drain_ua_events(now);
    }

    fn on_media_notice(&mut self, now: Instant, notice: MediaNotice) {
        match notice {
            MediaNotice::Stopped { id, totals } => {
                metrics::counter!(telemetry::RTP_PACKETS_LOST_TOTAL).increment(totals.packets_lost);
                if let Some((port, record)) = self.closing_media.remove(&id) {
                    self.ports.release(port);
                    match record {
                        // The SIP leg ended first: the record was waiting for these totals.
                        Some(mut record) => {
                            add_media_totals(&mut record.record, totals);
                            self.write_record(*record);
                        }
                        // We hung up and the media stopped before the BYE completed.
                        None => {
                            let call = self.by_media.get(&id).and_then(|leg| self.calls.get_mut(leg));
                            if let Some(call) = call {
                                add_media_totals(&mut call.record, totals);
                            }
                        }
                    }
                }
            }
            MediaNotice::Digit { id, digit, method } => {
                let Some(&leg) = self.by_media.get(&id) else { return };
                metrics::counter!(telemetry::DTMF_DIGITS_TOTAL, "method" => method_label(method)).increment(1);
                let Some(call) = self.calls.get_mut(&leg) else { return };
                debug!(parent: &call.span, method = method_label(method), "digit collected");
                match method {
                    DtmfMethod::Rfc4733 => call.record.digits_rfc4733 += 1,
                    DtmfMethod::SipInfo => call.record.digits_sip_info += 1,
                    DtmfMethod::InBand => call.record.digits_inband += 1,
                }
                call.timeline.push(now, "dtmf", method_label(method).to_owned());
                // While queued or talking to an operator, keys are the queue's.
                if !self.queue_digit(now, leg, digit.as_char()) {
                    self.dialogue_input(now, leg, Input::Digit(digit.as_char()));
                }
            }
            MediaNotice::PlaybackFinished { id, token, interrupted } => {
                let Some(&leg) = self.by_media.get(&id) else { return };
                self.on_playback_finished(now, leg, token, interrupted);
            }
            MediaNotice::RecordingFinished { id, recording } => {
                let Some(&leg) = self.by_media.get(&id) else { return };
                self.on_recording_finished(now, leg, *recording);
            }
            MediaNotice::Softphone { id, event } => self.on_softphone_event(now, id, event),
            MediaNotice::MediaTimeout { id } => {
                let Some(&leg) = self.by_media.get(&id) else { return };
                if self.out_legs.contains_key(&leg) {
                    // An operator's phone went silent: treated as the
                    // operator hanging up (the caller goes on), then BYE.
                    self.out_terminated(now, leg, None);
                    self.ua.hangup(now, leg);
                } else {
                    self.end_call(now, leg, EndReason::MediaTimeout);
                }
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        self.drain_ua_events(now);
        while let Some(leg) = self.flow_deadlines.pop_due(now) {
            self.dialogue_timeout(now, leg);
        }
        if self.acd_deadline.is_some_and(|d| d <= now) {
            self.acd.handle_timeout(now);
            self.drain_acd(now);
        }
        self.drain_ua_events(now);
    }

    /// SIGTERM: refuse new calls (503 with Retry-After) and let calls run on.
    /// A new dialplan version compiled: calls that start from now on run it;
    /// calls in progress finish on theirs.
    pub fn install_dialplan(&mut self, dialplan: LoadedDialplan) {
        self.dialplan = dialplan;
    }

    pub fn dialplan_version(&self) -> &str {
        &self.dialplan.program.version
    }

    pub fn begin_shutdown(&mut self) {
        self.ua.set_accepting_calls(false);
        self.status.accepting_calls.store(false, Ordering::Relaxed);
    }

    /// The grace period is over: BYE every call still up.
    pub fn hang_up_all(&mut self, now: Instant) {
        let legs: Vec<LegId> = self.calls.keys().copied().collect();
        for leg in legs {
            self.end_call(now, leg, EndReason::Shutdown);
        }
        self.drain_ua_events(now);
    }

    /// Records still waiting for their media totals.
    pub fn records_pending(&self) -> bool {
        self.closing_media.values().any(|(_, record)| record.is_some())
    }

    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// True when the SIP side still has transactions to finish (BYEs out).
    pub fn sip_idle(&self) -> bool {
        self.ua.leg_count() == 0
    }

    // ---- outputs ------------------------------------------------------

    /// A message a caller left: write it under the data directory.
    pub fn poll_message(&mut self) -> Option<(String, Vec<u8>)> {
        self.messages.pop_front()
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.outbox.pop_front()?;
        metrics::counter!(telemetry::SIP_MESSAGES_SENT_TOTAL).increment(1);
        Some(t)
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        [self.ua.poll_timeout(), self.flow_deadlines.next(), self.acd_deadline].into_iter().flatten().min()
    }

    // ---- call events --------------------------------------------------

    /// Moves the UA's output into the outbox, handling call events as they
    /// come; commands issued while handling them queue more output, which this
    /// loop picks up in order.
    fn drain_ua_events(&mut self, now: Instant) {
        while let Some(output) = self.ua.poll_output() {
            match output {
                Output::Transmit(t) => self.outbox.push_back(t),
                Output::Event(event) => self.on_call_event(now, event),
            }
        }
    }

    fn on_call_event(&mut self, now: Instant, event: CallEvent) {
        match event {
            CallEvent::Incoming { leg, request_uri, from_uri, remote, sdp, .. } => self.on_incoming(now, leg, &request_uri, &from_uri, remote, sdp),
            CallEvent::Confirmed { leg, ack_sdp } => self.on_confirmed(now, leg, ack_sdp),
            CallEvent::ReInvite { leg, sdp } if self.out_legs.contains_key(&leg) => self.on_out_reinvite(now, leg, sdp),
            CallEvent::Terminated { leg, reason } if self.out_legs.contains_key(&leg) => {
                let status = match reason {
                    ivr_sip::TerminationReason::Rejected { status } => Some(status),
                    _ => None,
                };
                self.out_terminated(now, leg, status);
            }
            CallEvent::Answered { leg, sdp } => self.out_answered(now, leg, sdp),
            CallEvent::Failed { leg, status } => {
                if let Some(out) = self.out_legs.get(&leg) {
                    let (purpose, caller) = (out.purpose, out.caller);
                    self.out_failed(now, leg, purpose, caller, status);
                }
            }
            CallEvent::Refer { leg, refer_to, referred_by } => self.on_refer(now, leg, &refer_to, referred_by.as_deref()),
            CallEvent::Registration(event) => self.on_registration(now, event),
            CallEvent::Cancelled { leg } => self.forget(now, leg, EndReason::Cancelled),
            CallEvent::ReInvite { leg, sdp } => self.on_reinvite(now, leg, sdp),
            CallEvent::Info { leg, content_type, body } => self.on_info(leg, &content_type, &body),
            CallEvent::Terminated { leg, reason } => {
                let end = self.calls.get(&leg).and_then(|c| c.ending).unwrap_or_else(|| {
                    if matches!(reason, ivr_sip::TerminationReason::ByeReceived) {
                        EndReason::CallerHungUp
                    } else {
                        EndReason::Signalling
                    }
                });
                self.forget(now, leg, end);
            }
            other => debug!(?other, "call event needing no action"),
        }
    }

}

/// Converts the engine's monotonic `now` to wall-clock epoch milliseconds
/// for records, from one pair of readings taken by the shell at start-up.
#[derive(Debug, Clone, Copy)]
pub struct WallClock {
    pub base_instant: Instant,
    pub base_system: SystemTime,
}

impl WallClock {
    pub fn epoch_ms(&self, now: Instant) -> i64 {
        let at = self.base_system + now.saturating_duration_since(self.base_instant);
        at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
    }

    /// The wallclock instant for calendars (opening hours, holidays).
    pub fn timestamp(&self, now: Instant) -> jiff::Timestamp {
        jiff::Timestamp::from_millisecond(self.epoch_ms(now)).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }
}

fn method_label(method: DtmfMethod) -> &'static str {
    match method {
        DtmfMethod::Rfc4733 => "rfc4733",
        DtmfMethod::SipInfo => "sip_info",
        DtmfMethod::InBand => "inband",
    }
}

