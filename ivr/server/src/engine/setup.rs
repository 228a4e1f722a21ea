//! Call set-up: an INVITE becomes a call with an RTP port pair and
//! negotiated media (or a refusal), re-INVITEs move or hold the media, INFO
//! carries digits.
//!
//! Owns SDP offer/answer decisions for the caller's leg. It must never let a
//! peer's bad SDP end anything but that peer's call.

use std::net::{IpAddr, SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ivr_media::call::MediaConfig;
use ivr_media::sdp::{self, LocalMedia, Negotiated, SdpSessionVersion, SessionDescription};
use ivr_media::session::SessionConfig;
use ivr_media::Codec;
use ivr_sip::LegId;
use ivr_store::CallRecord;
use tracing::{debug, info, info_span, warn};

use super::{Call, EndReason, Engine};
use crate::config::ServerConfig;
use crate::media_loop::{MediaCommand, MediaId};
use crate::telemetry;

impl Engine {
    pub(super) fn on_incoming(&mut self, now: Instant, leg: LegId, request_uri: &str, from_uri: &str, remote: SocketAddr, offer: Option<Vec<u8>>) {
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
            language: self.dialplan.program.languages.first().cloned().unwrap_or_default(),
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
            caller: caller_number(from_uri),
            dialogue: None,
            path: Default::default(),
            timeline: Default::default(),
            topic: None,
            survey: Vec::new(),
            dialplan_version: None,
            play_token: 0,
            dialogue_play: None,
            queue_play: None,
            recording: false,
            message: None,
            codec: None,
            queue: None,
            queue_history: Vec::new(),
            callback_number: None,
            callback_queue: None,
            dialplan_disposition: None,
            on_hold: false,
            muted: false,
            bridged_to: None,
            agent: None,
            agent_answered_at: None,
            agent_ended_at: None,
            transferred: false,
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
            self.start_dialogue(now, leg);
        }
    }

    pub(super) fn refuse(&mut self, now: Instant, leg: LegId, status: u16, mut record: CallRecord) {
        metrics::counter!(telemetry::CALLS_REJECTED_TOTAL, "status" => status.to_string()).increment(1);
        let retry_after = (status == 503).then_some(5);
        self.ua.reject(now, leg, status, retry_after);
        record.ended_at_ms = self.clock.epoch_ms(now);
        record.end_reason = "rejected".to_owned();
        record.sip_status = Some(i64::from(status));
        let details = ivr_store::CallDetails {
            disposition: Some(ivr_store::Disposition::Failed),
            failure_sip_status: Some(i64::from(status)),
            ..Default::default()
        };
        self.write_record(ivr_store::FinishedCall { record, details, ..Default::default() });
    }

    pub(super) fn on_confirmed(&mut self, now: Instant, leg: LegId, ack_sdp: Option<Vec<u8>>) {
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
                self.start_dialogue(now, leg);
            }
            Err(reason) => {
                // RFC 3264 gives no way to refuse an answer in an ACK: end the call.
                info!(parent: &call.span, %reason, "unusable answer in ACK: hanging up");
                self.end_call(now, leg, EndReason::Signalling);
            }
        }
    }

    pub(super) fn on_reinvite(&mut self, now: Instant, leg: LegId, offer: Option<Vec<u8>>) {
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

    /// A re-INVITE from an operator's phone: hold (sendonly/inactive) or
    /// resume; our answer keeps the same port.
    pub(super) fn on_out_reinvite(&mut self, now: Instant, leg: LegId, offer: Option<Vec<u8>>) {
        let Some(out) = self.out_legs.get_mut(&leg) else { return };
        let mut version = SdpSessionVersion::new(self.rng.u32(..) as u64);
        let result = match offer {
            None => Ok((None, sdp::make_offer(&out.local_media, &mut version))),
            Some(offer) => SessionDescription::parse_bytes(&offer)
                .map_err(|e| e.to_string())
                .and_then(|d| sdp::answer_offer(&d, &out.local_media, &mut version).map_err(|e| e.to_string()))
                .map(|(negotiated, answer)| (Some(negotiated.on_hold), answer)),
        };
        match result {
            Ok((hold, answer)) => {
                self.ua.answer_reinvite(now, leg, answer.into_bytes());
                if let Some(on_hold) = hold {
                    self.out_hold(leg, on_hold);
                }
            }
            Err(reason) => {
                info!(%reason, "operator re-INVITE refused with 488");
                self.ua.reject_reinvite(now, leg, 488);
            }
        }
    }

    /// The host part of our own SIP URIs.
    pub(super) fn sip_host(&self) -> String {
        SocketAddr::new(self.sip_ip, self.config.sip.listen.port()).to_string()
    }

    pub(super) fn on_info(&mut self, leg: LegId, content_type: &str, body: &[u8]) {
        let Some(call) = self.calls.get(&leg) else { return };
        match ivr_media::dtmf::info::parse_info(content_type, body) {
            Ok(digit) if call.media_running => self.media.send(MediaCommand::InfoDigit { id: call.media_id, digit }),
            Ok(_) => debug!(parent: &call.span, "INFO digit before media started: ignored"),
            Err(e) => debug!(parent: &call.span, error = %e, "INFO without a DTMF digit"),
        }
    }

    pub(super) fn start_media(&mut self, call: &mut Call, negotiated: Negotiated, rtp: StdUdpSocket, rtcp: StdUdpSocket) {
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
        call.codec = Some(negotiated.codec);
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

    /// The address callers send RTP to: the advertised one, the listen
    /// address when it is specific, else the local address routing to them.
    pub(super) fn media_ip_for(&self, remote: SocketAddr) -> IpAddr {
        if let Some(ip) = self.config.sip.advertised_ip {
            return ip;
        }
        if !self.config.sip.listen.ip().is_unspecified() {
            return self.config.sip.listen.ip();
        }
        route_ip(remote).unwrap_or(self.sip_ip)
    }
}

/// The caller's number from the From URI's user part, when it looks like
/// one (digits with an optional leading +); anonymous callers have none.
pub(super) fn caller_number(from_uri: &str) -> Option<String> {
    let user = dialled_user(from_uri);
    let digits = user.strip_prefix('+').unwrap_or(&user);
    (!digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(user)
}

/// The user part of the dialled URI (`sip:012@host` -> `012`, `tel:+34012` -> `+34012`).
pub(super) fn dialled_user(request_uri: &str) -> String {
    let rest = request_uri.split_once(':').map_or(request_uri, |(_, r)| r);
    let user = rest.split(['@', ';', '?']).next().unwrap_or(rest);
    user.chars().take(64).collect()
}

/// The local address the kernel would use to reach `remote`. A connected UDP
/// socket sends nothing; it only asks the routing table.
pub(super) fn route_ip(remote: SocketAddr) -> Option<IpAddr> {
    let bind: SocketAddr = if remote.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().ok()?;
    let socket = StdUdpSocket::bind(bind).ok()?;
    socket.connect(remote).ok()?;
    Some(socket.local_addr().ok()?.ip())
}

pub(super) fn advertised_sip_ip(config: &ServerConfig) -> IpAddr {
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
