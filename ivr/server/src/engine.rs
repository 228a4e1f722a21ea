//! The call engine: turns SIP call events into media and flow actions.
//!
//! Owns every call's lifecycle on the signalling side: the SIP user agent
//! (sans-IO, from `ivr-sip`), the per-call built-in flow, the RTP port pool,
//! and the mapping between SIP legs and media-loop calls. It sends and
//! receives nothing itself: the shell in `server.rs` feeds it datagrams,
//! media notices and timeouts, and sends what [`Engine::poll_transmit`]
//! returns. Its only system calls are binding RTP port pairs (through the
//! pool) and, with a wildcard listen address, asking the routing table which
//! local address reaches a caller. Every input takes `now`.
//!
//! It must never block, never read the clock, and never let a peer's bad
//! SDP or SIP end anything but that peer's call.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ivr_media::call::MediaConfig;
use ivr_media::dtmf::DtmfMethod;
use ivr_media::sdp::{self, LocalMedia, Negotiated, SdpSessionVersion, SessionDescription};
use ivr_media::session::SessionConfig;
use ivr_media::Codec;
use ivr_store::{CallRecord, RecordSender};
use ivr_sip::{CallEvent, LegId, Output, Transmit, Transport, UaConfig, UserAgent};
use tracing::{Span, debug, info, info_span, warn};

use crate::config::ServerConfig;
use crate::deadlines::DeadlineQueue;
use crate::flow::{BuiltinFlow, FlowAction};
use crate::media_loop::{MediaCommand, MediaHandle, MediaId, MediaNotice, MediaTotals};
use crate::prompts::PromptLibrary;
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
    flow: Option<BuiltinFlow>,
    media_running: bool,
    ending: Option<EndReason>,
}

pub struct Engine {
    config: Arc<ServerConfig>,
    ua: UserAgent,
    calls: HashMap<LegId, Call>,
    by_media: HashMap<MediaId, LegId>,
    /// Media still closing after the SIP leg is gone: its port pair, and the
    /// call's record waiting for the media totals.
    closing_media: HashMap<MediaId, (u16, Option<CallRecord>)>,
    records: Option<RecordSender>,
    clock: WallClock,
    flow_deadlines: DeadlineQueue<LegId>,
    outbox: VecDeque<Transmit>,
    media: MediaHandle,
    ports: RtpPortPool,
    prompts: Arc<PromptLibrary>,
    status: Arc<EngineStatus>,
    rng: fastrand::Rng,
    next_media_id: u64,
    sip_ip: IpAddr,
}

impl Engine {
    pub fn new(
        config: Arc<ServerConfig>,
        media: MediaHandle,
        prompts: Arc<PromptLibrary>,
        status: Arc<EngineStatus>,
        records: Option<RecordSender>,
        clock: WallClock,
        seed: u64,
    ) -> Engine {
        let sip_ip = advertised_sip_ip(&config);
        let ua = UserAgent::new(
            UaConfig {
                user_agent: config.sip.user_agent.clone(),
                ..UaConfig::new(SocketAddr::new(sip_ip, config.sip.listen.port()))
            },
            fastrand::Rng::with_seed(seed),
        );
        status.accepting_calls.store(true, Ordering::Relaxed);
        Engine {
            ports: RtpPortPool::new(config.media.rtp_ports),
            config,
            ua,
            calls: HashMap::new(),
            by_media: HashMap::new(),
            closing_media: HashMap::new(),
            records,
            clock,
            flow_deadlines: DeadlineQueue::default(),
            outbox: VecDeque::new(),
            media,
            prompts,
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
                            add_media_totals(&mut record, totals);
                            self.write_record(record);
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
                let action = call.flow.as_mut().and_then(|f| f.on_digit(now, digit));
                self.apply_flow(now, leg, action);
            }
            MediaNotice::PlaybackFinished { id, interrupted } => {
                let Some(&leg) = self.by_media.get(&id) else { return };
                let action = self
                    .calls
                    .get_mut(&leg)
                    .and_then(|c| c.flow.as_mut())
                    .and_then(|f| f.on_playback_finished(now, interrupted));
                self.apply_flow(now, leg, action);
            }
            MediaNotice::MediaTimeout { id } => {
                let Some(&leg) = self.by_media.get(&id) else { return };
                self.end_call(now, leg, EndReason::MediaTimeout);
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        self.ua.handle_timeout(now);
        self.drain_ua_events(now);
        while let Some(leg) = self.flow_deadlines.pop_due(now) {
            let action = self.calls.get_mut(&leg).and_then(|c| c.flow.as_mut()).and_then(|f| f.handle_timeout(now));
            self.apply_flow(now, leg, action);
        }
        self.drain_ua_events(now);
    }

    /// SIGTERM: refuse new calls (503 with Retry-After) and let calls run on.
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

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        let t = self.outbox.pop_front()?;
        metrics::counter!(telemetry::SIP_MESSAGES_SENT_TOTAL).increment(1);
        Some(t)
    }

    pub fn poll_timeout(&mut self) -> Option<Instant> {
        match (self.ua.poll_timeout(), self.flow_deadlines.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
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
            CallEvent::Incoming { leg, request_uri, remote, sdp, .. } => self.on_incoming(now, leg, &request_uri, remote, sdp),
            CallEvent::Confirmed { leg, ack_sdp } => self.on_confirmed(now, leg, ack_sdp),
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
            // UAC events: the IVR places no calls yet (agents come with the ACD).
            other => debug!(?other, "call event for an outgoing leg"),
        }
    }

    fn on_incoming(&mut self, now: Instant, leg: LegId, request_uri: &str, remote: SocketAddr, offer: Option<Vec<u8>>) {
        metrics::counter!(telemetry::CALLS_TOTAL).increment(1);
        let call_id = format!("{:016x}{:016x}", self.rng.u64(..), self.rng.u64(..));
        let span = info_span!("call", id = %call_id, dialled = %request_uri);
        let record = CallRecord {
            call_id,
            dialled: dialled_user(request_uri),
            started_at_ms: self.clock.epoch_ms(now),
            answered_at_ms: None,
            ended_at_ms: 0,
            end_reason: String::new(),
            sip_status: None,
            codec: None,
            language: self.config.flow.language.clone(),
            digits_rfc4733: 0,
            digits_sip_info: 0,
            digits_inband: 0,
            rtp_packets_sent: 0,
            rtp_packets_received: 0,
            rtp_packets_lost: 0,
        };
        let media_ip = self.media_ip_for(remote);
        let Some(sockets) = self.ports.allocate(self.config.sip.listen.ip()) else {
            warn!(parent: &span, "no free RTP port pair: refusing the call");
            return self.refuse(now, leg, 503, record);
        };
        let local_media = LocalMedia {
            addr: media_ip,
            rtp_port: sockets.rtp_port,
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event_pt: 101,
            ptime: 20,
        };
        let mut sdp_version = SdpSessionVersion::new(self.rng.u32(..) as u64);
        let mut call = Call {
            media_id: MediaId(self.next_media_id),
            span,
            record,
            received_at: now,
            answered_at: None,
            rtp_port: sockets.rtp_port,
            local_media,
            sdp_version: SdpSessionVersion::new(0),
            awaiting_answer: None,
            flow: None,
            media_running: false,
            ending: None,
        };
        self.next_media_id += 1;
        let answer_sdp = match offer {
            Some(offer) => {
                let negotiated = SessionDescription::parse_bytes(&offer)
                    .map_err(|e| e.to_string())
                    .and_then(|d| sdp::answer_offer(&d, &call.local_media, &mut sdp_version).map_err(|e| e.to_string()));
                match negotiated {
                    Ok((negotiated, answer)) => {
                        call.sdp_version = sdp_version;
                        self.start_media(&mut call, negotiated, sockets.rtp, sockets.rtcp);
                        answer
                    }
                    Err(reason) => {
                        info!(parent: &call.span, %reason, "offer refused with 488");
                        self.ports.release(call.rtp_port);
                        return self.refuse(now, leg, 488, call.record);
                    }
                }
            }
            None => {
                let offer = sdp::make_offer(&call.local_media, &mut sdp_version);
                call.sdp_version = sdp_version;
                call.awaiting_answer = Some((sockets.rtp, sockets.rtcp));
                offer
            }
        };
        info!(parent: &call.span, "call answered");
        self.ua.ringing(now, leg);
        self.ua.answer(now, leg, answer_sdp.into_bytes());
        call.answered_at = Some(now);
        call.record.answered_at_ms = Some(self.clock.epoch_ms(now));
        metrics::histogram!(telemetry::CALL_SETUP_SECONDS).record(now.saturating_duration_since(call.received_at).as_secs_f64());
        self.by_media.insert(call.media_id, leg);
        let started = call.media_running;
        self.calls.insert(leg, call);
        self.status.active_calls.store(self.calls.len() as u64, Ordering::Relaxed);
        metrics::gauge!(telemetry::CALLS_ACTIVE).set(self.calls.len() as f64);
        if started {
            self.start_flow(now, leg);
        }
    }

    fn refuse(&mut self, now: Instant, leg: LegId, status: u16, mut record: CallRecord) {
        metrics::counter!(telemetry::CALLS_REJECTED_TOTAL, "status" => status.to_string()).increment(1);
        let retry_after = (status == 503).then_some(5);
        self.ua.reject(now, leg, status, retry_after);
        record.ended_at_ms = self.clock.epoch_ms(now);
        record.end_reason = "rejected".to_owned();
        record.sip_status = Some(i64::from(status));
        self.write_record(record);
    }

    fn write_record(&mut self, record: CallRecord) {
        let Some(records) = &self.records else { return };
        if let Err(record) = records.try_send(record) {
            metrics::counter!(telemetry::CALL_RECORDS_DROPPED_TOTAL).increment(1);
            warn!(call = %record.call_id, "call record queue full: record dropped");
        }
    }

    fn on_confirmed(&mut self, now: Instant, leg: LegId, ack_sdp: Option<Vec<u8>>) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        let Some((rtp, rtcp)) = call.awaiting_answer.take() else { return };
        let negotiated = ack_sdp
            .ok_or_else(|| "the ACK carried no answer".to_owned())
            .and_then(|b| SessionDescription::parse_bytes(&b).map_err(|e| e.to_string()))
            .and_then(|d| sdp::accept_answer(&d, &call.local_media).map_err(|e| e.to_string()));
        match negotiated {
            Ok(negotiated) => {
                let mut call = self.calls.remove(&leg).expect("looked up above");
                self.start_media(&mut call, negotiated, rtp, rtcp);
                self.calls.insert(leg, call);
                self.start_flow(now, leg);
            }
            Err(reason) => {
                // RFC 3264 gives no way to refuse an answer in an ACK: end the call.
                info!(parent: &call.span, %reason, "unusable answer in ACK: hanging up");
                self.end_call(now, leg, EndReason::Signalling);
            }
        }
    }

    fn on_reinvite(&mut self, now: Instant, leg: LegId, offer: Option<Vec<u8>>) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        let result = match offer {
            None => Ok(sdp::make_offer(&call.local_media, &mut call.sdp_version)),
            Some(offer) => SessionDescription::parse_bytes(&offer)
                .map_err(|e| e.to_string())
                .and_then(|d| sdp::answer_offer(&d, &call.local_media, &mut call.sdp_version).map_err(|e| e.to_string()))
                .map(|(negotiated, answer)| {
                    info!(parent: &call.span, on_hold = negotiated.on_hold, "re-INVITE");
                    if call.media_running {
                        self.media.send(MediaCommand::Update {
                            id: call.media_id,
                            remote_rtp: negotiated.remote_rtp,
                            sending: !negotiated.on_hold,
                        });
                    }
                    answer
                }),
        };
        match result {
            Ok(answer) => self.ua.answer_reinvite(now, leg, answer.into_bytes()),
            Err(reason) => {
                info!(parent: &call.span, %reason, "re-INVITE refused with 488");
                self.ua.reject_reinvite(now, leg, 488);
            }
        }
    }

    fn on_info(&mut self, leg: LegId, content_type: &str, body: &[u8]) {
        let Some(call) = self.calls.get(&leg) else { return };
        match ivr_media::dtmf::info::parse_info(content_type, body) {
            Ok(digit) if call.media_running => self.media.send(MediaCommand::InfoDigit { id: call.media_id, digit }),
            Ok(_) => debug!(parent: &call.span, "INFO digit before media started: ignored"),
            Err(e) => debug!(parent: &call.span, error = %e, "INFO without a DTMF digit"),
        }
    }

    fn start_media(&mut self, call: &mut Call, negotiated: Negotiated, rtp: StdUdpSocket, rtcp: StdUdpSocket) {
        let config = MediaConfig {
            session: SessionConfig {
                codec: negotiated.codec,
                payload_type: negotiated.payload_type,
                ptime: Duration::from_millis(20),
                telephone_event_pt: negotiated.telephone_event_pt,
                remote_rtp: negotiated.remote_rtp,
                remote_rtcp: None,
                media_timeout: self.config.media.media_timeout,
                rtcp_interval: Duration::from_secs(5),
                symmetric: true,
            },
            inband_dtmf: self.config.media.inband_dtmf,
        };
        debug!(parent: &call.span, codec = ?negotiated.codec, remote = %negotiated.remote_rtp, "media starts");
        call.record.codec = Some(negotiated.codec.encoding_name().to_owned());
        self.media.send(MediaCommand::Start {
            id: call.media_id,
            rtp,
            rtcp,
            config: Box::new(config),
            seed: self.rng.u64(..),
        });
        if negotiated.on_hold {
            self.media.send(MediaCommand::Update { id: call.media_id, remote_rtp: negotiated.remote_rtp, sending: false });
        }
        call.media_running = true;
    }

    fn start_flow(&mut self, now: Instant, leg: LegId) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        let flow_config = &self.config.flow;
        let (flow, action) = BuiltinFlow::start(now, &flow_config.language, flow_config.idle_hangup, flow_config.max_call);
        call.flow = Some(flow);
        self.apply_flow(now, leg, Some(action));
    }

    fn apply_flow(&mut self, now: Instant, leg: LegId, action: Option<FlowAction>) {
        match action {
            None => {}
            Some(FlowAction::Hangup) => self.end_call(now, leg, EndReason::FlowHungUp),
            Some(FlowAction::Play { prompts, barge_in }) => {
                let Some(call) = self.calls.get(&leg) else { return };
                let resolved: Vec<_> = prompts.iter().filter_map(|id| {
                    let p = self.prompts.get(id).cloned();
                    if p.is_none() {
                        warn!(parent: &call.span, prompt = %id, "prompt missing");
                    }
                    p
                }).collect();
                self.media.send(MediaCommand::Play { id: call.media_id, prompts: resolved, barge_in });
            }
        }
        let deadline = self.calls.get(&leg).and_then(|c| c.flow.as_ref()).and_then(BuiltinFlow::poll_timeout);
        self.flow_deadlines.schedule(leg, deadline);
    }

    /// We end the call: BYE, then the media goes when the UA reports the leg terminated.
    fn end_call(&mut self, now: Instant, leg: LegId, reason: EndReason) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        if call.ending.is_some() {
            return;
        }
        call.ending = Some(reason);
        call.flow = None;
        self.flow_deadlines.schedule(leg, None);
        info!(parent: &call.span, reason = reason.label(), "hanging up");
        self.ua.hangup(now, leg);
        // The caller hears nothing more; stop media now rather than after the BYE's 200.
        self.stop_media(leg);
    }

    fn stop_media(&mut self, leg: LegId) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        if let Some((_rtp, _rtcp)) = call.awaiting_answer.take() {
            self.ports.release(call.rtp_port);
        } else if call.media_running {
            call.media_running = false;
            self.media.send(MediaCommand::Stop { id: call.media_id });
            self.closing_media.insert(call.media_id, (call.rtp_port, None));
        }
    }

    /// The SIP leg is over: release everything the call held.
    fn forget(&mut self, now: Instant, leg: LegId, reason: EndReason) {
        self.stop_media(leg);
        let Some(mut call) = self.calls.remove(&leg) else { return };
        self.by_media.remove(&call.media_id);
        self.flow_deadlines.schedule(leg, None);
        call.record.ended_at_ms = self.clock.epoch_ms(now);
        call.record.end_reason = reason.label().to_owned();
        if let Some(answered) = call.answered_at {
            metrics::histogram!(telemetry::CALL_DURATION_SECONDS).record(now.saturating_duration_since(answered).as_secs_f64());
        }
        metrics::counter!(telemetry::CALLS_ENDED_TOTAL, "reason" => reason.label()).increment(1);
        info!(parent: &call.span, reason = reason.label(), "call ended");
        self.status.active_calls.store(self.calls.len() as u64, Ordering::Relaxed);
        metrics::gauge!(telemetry::CALLS_ACTIVE).set(self.calls.len() as f64);
        // The record waits for the media totals when the media is still closing.
        match self.closing_media.get_mut(&call.media_id) {
            Some((_, pending)) => *pending = Some(call.record),
            None => self.write_record(call.record),
        }
    }

    /// The address callers send RTP to: the advertised one, the listen
    /// address when it is specific, else the local address routing to them.
    fn media_ip_for(&self, remote: SocketAddr) -> IpAddr {
        if let Some(ip) = self.config.sip.advertised_ip {
            return ip;
        }
        if !self.config.sip.listen.ip().is_unspecified() {
            return self.config.sip.listen.ip();
        }
        route_ip(remote).unwrap_or(self.sip_ip)
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
}

fn add_media_totals(record: &mut CallRecord, totals: MediaTotals) {
    record.rtp_packets_sent = totals.packets_sent as i64;
    record.rtp_packets_received = totals.packets_received as i64;
    record.rtp_packets_lost = totals.packets_lost as i64;
}

/// The user part of the dialled URI (`sip:012@host` -> `012`, `tel:+34012` -> `+34012`).
fn dialled_user(request_uri: &str) -> String {
    let rest = request_uri.split_once(':').map_or(request_uri, |(_, r)| r);
    let user = rest.split(['@', ';', '?']).next().unwrap_or(rest);
    user.chars().take(64).collect()
}

fn method_label(method: DtmfMethod) -> &'static str {
    match method {
        DtmfMethod::Rfc4733 => "rfc4733",
        DtmfMethod::SipInfo => "sip_info",
        DtmfMethod::InBand => "inband",
    }
}

/// The local address the kernel would use to reach `remote`. A connected UDP
/// socket sends nothing; it only asks the routing table.
fn route_ip(remote: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if remote.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().ok()?;
    let socket = StdUdpSocket::bind(bind).ok()?;
    socket.connect(remote).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

fn advertised_sip_ip(config: &ServerConfig) -> IpAddr {
    if let Some(ip) = config.sip.advertised_ip {
        return ip;
    }
    let listen = config.sip.listen.ip();
    if !listen.is_unspecified() {
        return listen;
    }
    // A wildcard listen address without sip.advertised_ip: Via and Contact
    // carry loopback, which is right for a local test and wrong behind NAT.
    warn!("sip.listen is a wildcard address and sip.advertised_ip is not set: advertising 127.0.0.1");
    IpAddr::V4(std::net::Ipv4Addr::LOCALHOST)
}
