//! The B2BUA: outgoing legs to operators' phones (ACD offers) and to
//! transfer targets, bridged to the caller's media when they answer.
//!
//! Owns every outgoing leg: its RTP port pair, its SDP offer, its state
//! (ringing, connected), and its end (CANCEL while ringing, BYE when
//! connected), and it tells the ACD and the dialplan what became of it. The
//! relay of RTP between the legs is the media loop's (`Bridge`).
//!
//! It must never leave a caller bridged to a leg that is gone, nor an
//! operator's phone ringing for a caller who left.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::time::{Duration, Instant};

use ivr_acd::{AgentId, CallId as AcdCallId, OfferFailure};
use ivr_dialplan::interpreter::{Input, QueueOutcome};
use ivr_media::call::MediaConfig;
use ivr_media::sdp::{self, LocalMedia, SdpSessionVersion, SessionDescription};
use ivr_media::session::SessionConfig;
use ivr_media::Codec;
use ivr_sip::{LegId, OutgoingInvite, Transport};
use tracing::{debug, info, warn};

use super::queueing::{HOLD_MUSIC, QueueState};
use super::{EndReason, Engine};
use crate::media_loop::{MediaCommand, MediaId};

/// Why an outgoing leg exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// An ACD offer of a queued caller to an operator.
    Agent { acd_call: AcdCallId, agent: AgentId },
    /// The dialplan's blind transfer.
    Transfer,
}

/// Where an outgoing call goes: the address and transport requests are
/// sent over, the Request-URI, and the To URI.
#[derive(Debug, Clone)]
pub(super) struct Destination {
    pub(super) addr: SocketAddr,
    pub(super) transport: Transport,
    pub(super) request_uri: String,
    pub(super) to_uri: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum OutState {
    Ringing,
    Connected,
    /// We sent CANCEL or BYE; waiting for the UA to report the end.
    Ending,
}

pub(super) struct OutLeg {
    /// The caller's (incoming) leg this one serves.
    pub(super) caller: LegId,
    pub(super) purpose: Purpose,
    pub(super) state: OutState,
    pub(super) media_id: MediaId,
    pub(super) rtp_port: u16,
    pub(super) local_media: LocalMedia,
    /// Until the answer arrives.
    pub(super) sockets: Option<(StdUdpSocket, StdUdpSocket)>,
    pub(super) answered: Option<Instant>,
}

impl Engine {
    /// Places an outgoing call for `caller` to `target`.
    /// Returns the new leg, or the SIP-like status of the failure.
    pub(super) fn place_call(&mut self, now: Instant, caller: LegId, purpose: Purpose, target: Destination) -> Result<LegId, u16> {
        let Destination { addr: to, transport, request_uri, to_uri } = target;
        let Some(sockets) = self.ports.allocate(self.config.sip.listen.ip()) else {
            warn!("no free RTP port pair for an outgoing leg");
            return Err(503);
        };
        let local_media = LocalMedia {
            addr: self.media_ip_for(to),
            rtp_port: sockets.rtp_port,
            codecs: self.outgoing_codecs(caller),
            telephone_event_pt: 101,
            ptime: 20,
        };
        let mut version = SdpSessionVersion::new(self.rng.u32(..) as u64);
        let offer = sdp::make_offer(&local_media, &mut version);
        let from_uri = format!("sip:012@{}", self.sip_host());
        let invite = OutgoingInvite { to_addr: to, transport, request_uri, from_uri, to_uri, sdp: Some(offer.into_bytes()) };
        match self.ua.invite(now, invite) {
            Ok(leg) => {
                let media_id = MediaId(self.next_media_id);
                self.next_media_id += 1;
                self.out_legs.insert(
                    leg,
                    OutLeg {
                        caller,
                        purpose,
                        state: OutState::Ringing,
                        media_id,
                        rtp_port: sockets.rtp_port,
                        local_media,
                        sockets: Some((sockets.rtp, sockets.rtcp)),
                        answered: None,
                    },
                );
                Ok(leg)
            }
            Err(e) => {
                warn!(error = %e, "cannot place the outgoing call");
                self.ports.release(sockets.rtp_port);
                Err(400)
            }
        }
    }

    /// The caller's codec first (so the bridge relays without transcoding),
    /// then the other law.
    fn outgoing_codecs(&self, caller: LegId) -> Vec<Codec> {
        match self.calls.get(&caller).and_then(|c| c.codec) {
            Some(Codec::Pcma) => vec![Codec::Pcma, Codec::Pcmu],
            _ => vec![Codec::Pcmu, Codec::Pcma],
        }
    }

    /// The outgoing leg answered with its SDP.
    pub(super) fn out_answered(&mut self, now: Instant, leg: LegId, answer: Option<Vec<u8>>) {
        let Some(out) = self.out_legs.get_mut(&leg) else { return };
        if out.state == OutState::Ending {
            // A 2xx that crossed our CANCEL (the caller left, or the ACD
            // withdrew the offer and may already ring someone else): the UA
            // ACKs it and sends BYE itself. Bridging it would connect a
            // caller to a phone that is being hung up, or to two operators.
            debug!(?leg, "answer after CANCEL: the UA hangs it up");
            return;
        }
        if let Purpose::Agent { acd_call, agent } = out.purpose {
            self.offers.remove(&(acd_call, agent));
        }
        let Some(out) = self.out_legs.get_mut(&leg) else { return };
        let negotiated = answer
            .ok_or_else(|| "the 200 carried no answer".to_owned())
            .and_then(|b| SessionDescription::parse_bytes(&b).map_err(|e| e.to_string()))
            .and_then(|d| sdp::accept_answer(&d, &out.local_media).map_err(|e| e.to_string()));
        let caller = out.caller;
        let purpose = out.purpose;
        let caller_alive = self.calls.get(&caller).is_some_and(|c| c.ending.is_none() && c.media_running);
        let negotiated = match negotiated {
            Ok(n) if caller_alive => n,
            Ok(_) => {
                // The caller left as the phone was answered.
                self.end_out_leg(now, leg);
                return;
            }
            Err(reason) => {
                warn!(%reason, "unusable answer from an outgoing leg: hanging up");
                self.end_out_leg(now, leg);
                self.out_failed(now, leg, purpose, caller, 488);
                return;
            }
        };
        let Some(out) = self.out_legs.get_mut(&leg) else { return };
        let Some((rtp, rtcp)) = out.sockets.take() else { return };
        out.state = OutState::Connected;
        out.answered = Some(now);
        let agent_media = out.media_id;
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
            inband_dtmf: false,
        };
        self.by_media.insert(agent_media, leg);
        self.media.send(MediaCommand::Start { id: agent_media, rtp, rtcp, config: Box::new(config), seed: self.rng.u64(..) });
        let Some(call) = self.calls.get_mut(&caller) else { return };
        call.bridged_to = Some(leg);
        call.dialogue_play = None;
        call.queue_play = None;
        self.media.send(MediaCommand::Bridge { a: call.media_id, b: agent_media });
        match purpose {
            Purpose::Agent { acd_call, agent } => self.operator_connected(now, caller, acd_call, agent),
            Purpose::Transfer => {
                info!(parent: &call.span, "transfer answered: bridged");
                call.transferred = true;
            }
        }
    }

    /// An operator answered `caller` (their phone, or their softphone in
    /// the console) and the media bridge is on its way: the ACD, the
    /// dialplan and the record learn it.
    pub(super) fn operator_connected(&mut self, now: Instant, caller: LegId, acd_call: AcdCallId, agent: AgentId) {
        self.remember_agent_call(agent, acd_call, caller);
        let Some(call) = self.calls.get_mut(&caller) else { return };
        info!(parent: &call.span, agent = self.acd.agent_login_name(agent).unwrap_or("?"), "operator answered: bridged");
        call.dialogue_play = None;
        call.queue_play = None;
        if let Some(q) = call.queue.as_mut() {
            q.state = QueueState::Connected;
        }
        call.agent = self.acd.agent_login_name(agent).map(str::to_owned);
        call.agent_answered_at = Some(now);
        // A second operator (after a transfer): talk time starts again.
        call.agent_ended_at = None;
        if let Err(e) = self.acd.offer_accepted(now, acd_call, agent) {
            warn!(error = %e, "the ACD refused the answer");
        }
        self.dialogue_input(now, caller, Input::QueueOutcome(QueueOutcome::Answered));
        self.snapshot_call(now, caller);
        self.drain_acd(now);
    }

    /// The operator's side of a connected call ended (they hung up, or sent
    /// the caller to the survey): the caller goes back to the IVR's
    /// after-call node.
    pub(super) fn operator_left(&mut self, now: Instant, caller: LegId, acd_call: AcdCallId) {
        let Some(call) = self.calls.get_mut(&caller) else { return };
        call.bridged_to = None;
        call.agent_ended_at = Some(now);
        self.media.send(MediaCommand::Unbridge { a: call.media_id });
        info!(parent: &call.span, "the operator hung up");
        if let Err(e) = self.acd.call_ended(now, acd_call, ivr_acd::EndedBy::Agent) {
            tracing::debug!(error = %e, "call end for a call the ACD no longer held");
        }
        self.leave_queue(now, caller);
        self.drain_acd(now);
        self.dialogue_input(now, caller, Input::QueueOutcome(QueueOutcome::OperatorHungUp));
    }

    /// An outgoing leg failed before answering (4xx-6xx, timeout).
    pub(super) fn out_failed(&mut self, now: Instant, leg: LegId, purpose: Purpose, caller: LegId, status: u16) {
        if let Some(out) = self.out_legs.remove(&leg) {
            self.release_out_media(out);
        }
        match purpose {
            Purpose::Agent { acd_call, agent } => {
                if self.offers.get(&(acd_call, agent)) == Some(&leg) {
                    self.offers.remove(&(acd_call, agent));
                }
                let reason = match status {
                    486 | 600 => OfferFailure::Busy,
                    603 => OfferFailure::Declined,
                    408 => OfferFailure::NoAnswer,
                    _ => OfferFailure::Unreachable,
                };
                if let Err(e) = self.acd.offer_failed(now, acd_call, agent, reason) {
                    // A cancelled offer: the ACD already took it back.
                    tracing::debug!(error = %e, "offer failure after the ACD withdrew it");
                }
                self.drain_acd(now);
            }
            Purpose::Transfer => self.dialogue_input(now, caller, Input::TransferFailed { status }),
        }
    }

    /// The outgoing leg ended (BYE from either side, or the end of a
    /// failed or cancelled attempt).
    pub(super) fn out_terminated(&mut self, now: Instant, leg: LegId, status: Option<u16>) {
        let Some(out) = self.out_legs.get(&leg) else { return };
        let (caller, purpose, state) = (out.caller, out.purpose, out.state);
        match state {
            OutState::Ringing => self.out_failed(now, leg, purpose, caller, status.unwrap_or(408)),
            OutState::Ending => {
                if let Some(out) = self.out_legs.remove(&leg) {
                    self.release_out_media(out);
                }
            }
            OutState::Connected => {
                let out = self.out_legs.remove(&leg).expect("looked up above");
                self.release_out_media(out);
                match purpose {
                    Purpose::Agent { acd_call, .. } => self.operator_left(now, caller, acd_call),
                    // The far end of a transfer hung up: so does the caller's leg.
                    Purpose::Transfer => {
                        let Some(call) = self.calls.get_mut(&caller) else { return };
                        call.bridged_to = None;
                        call.agent_ended_at = Some(now);
                        self.media.send(MediaCommand::Unbridge { a: call.media_id });
                        self.end_call(now, caller, EndReason::Transferred)
                    }
                }
            }
        }
    }

    /// CANCEL (ringing) or BYE (connected) an outgoing leg.
    pub(super) fn end_out_leg(&mut self, now: Instant, leg: LegId) {
        let Some(out) = self.out_legs.get_mut(&leg) else { return };
        if out.state == OutState::Ending {
            return;
        }
        out.state = OutState::Ending;
        self.ua.hangup(now, leg);
    }

    fn release_out_media(&mut self, out: OutLeg) {
        if out.sockets.is_some() {
            self.ports.release(out.rtp_port);
        } else {
            self.by_media.remove(&out.media_id);
            self.media.send(MediaCommand::Stop { id: out.media_id });
            self.closing_media.insert(out.media_id, (out.rtp_port, None));
        }
    }

    /// The operator's phone put the caller on hold (or took them off it).
    pub(super) fn out_hold(&mut self, leg: LegId, on_hold: bool) {
        let Some(out) = self.out_legs.get(&leg) else { return };
        self.hold_caller(out.caller, on_hold);
    }

    /// The operator (phone or console) put the caller on hold: music for the caller.
    pub(super) fn hold_caller(&mut self, caller: LegId, on_hold: bool) {
        let Some(call) = self.calls.get(&caller) else { return };
        if on_hold {
            let music: Vec<_> = call.dialogue.as_ref().and_then(|d| d.prompts.get(HOLD_MUSIC).cloned()).into_iter().collect();
            self.media.send(MediaCommand::Hold { a: call.media_id, prompts: music });
        } else {
            self.media.send(MediaCommand::Resume { a: call.media_id });
        }
    }

    /// The dialplan's transfer: a blind transfer carried out as a bridge
    /// (the caller's phone needs no REFER support).
    pub(super) fn transfer(&mut self, now: Instant, leg: LegId, target: String) {
        let Some(addr) = uri_target(&target) else {
            warn!(%target, "transfer target is not a sip: URI with a numeric host");
            self.dialogue_input(now, leg, Input::TransferFailed { status: 416 });
            return;
        };
        let destination = Destination { addr, transport: Transport::Udp, request_uri: target.clone(), to_uri: target };
        if let Err(status) = self.place_call(now, leg, Purpose::Transfer, destination) {
            self.dialogue_input(now, leg, Input::TransferFailed { status });
        }
    }
}

/// The address to send a request for `sip:user@host[:port]` to, when the
/// host is an IP address (no DNS in the engine: it must never block).
pub(super) fn uri_target(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("sip:")?;
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.split([';', '?', '>']).next()?;
    if let Ok(addr) = hostport.parse::<SocketAddr>() {
        return Some(addr);
    }
    let ip = hostport.parse::<std::net::IpAddr>().ok()?;
    Some(SocketAddr::new(ip, 5060))
}

#[cfg(test)]
mod tests {
    use super::uri_target;

    #[test]
    fn transfer_targets_need_an_ip_host() {
        let target = |uri| uri_target(uri).map(|addr| addr.to_string());
        assert_eq!(target("sip:112@127.0.0.1:5070").as_deref(), Some("127.0.0.1:5070"));
        assert_eq!(target("sip:112@10.0.0.1;transport=udp").as_deref(), Some("10.0.0.1:5060"));
        assert_eq!(uri_target("sip:112@emergencies.example"), None);
        assert_eq!(uri_target("tel:112"), None);
    }
}
