//! `SoftphoneLeg`: one browser peer, from the accepted offer to its end.
//!
//! Owns: the str0m `Rtc` (built when the offer arrives, because the codec
//! list of the answer depends on the offer), the connection state and its
//! two deadlines (connect, disconnect grace), and the queues the shell
//! drains. Must never: read the clock, panic on browser input, or let a
//! dead leg transmit.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Instant;

use ivr_media::Codec;
use ivr_media::rtp::RtpPacket;
use ivr_media::session::SessionConfig;
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::format::{Codec as RtcCodec, FormatParams};
use str0m::media::{Direction, Frequency, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo, Ssrc};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

use crate::offer::{AudioChoice, Order, choose_audio};
use crate::rtp::{SeqExtender, plain_rtp};
use crate::{SoftphoneConfig, SoftphoneError};

/// Decrypted packets held for the bridge between two drains; a shell that
/// does not drain loses the oldest (counted), it does not grow memory.
const RTP_QUEUE_LIMIT: usize = 64;

/// telephone-event/8000 in our own offers (the number most SIP phones
/// use; any dynamic number would do).
const OFFERED_TELEPHONE_EVENT_PT: u8 = 101;

/// What the offer/answer settled for audio: configure the bridge's leg B
/// with it (codec and payload types, 20 ms frames).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    pub payload_type: u8,
    pub telephone_event: Option<u8>,
}

impl From<AudioChoice> for Negotiated {
    fn from(choice: AudioChoice) -> Negotiated {
        Negotiated { codec: choice.codec, payload_type: choice.payload_type, telephone_event: choice.telephone_event }
    }
}

impl Negotiated {
    /// The bridge's leg-B [`SessionConfig`] for this browser. `remote` only
    /// names the stream (the shell passes the bridge's leg-B datagrams to
    /// [`SoftphoneLeg::send_rtp`], not to a socket, and feeds
    /// [`SoftphoneLeg::poll_rtp`] in with that same address), so latching
    /// is off; str0m sends the browser its RTCP, so the bridge's leg-B
    /// RTCP is dropped by the shell.
    pub fn session_config(&self, remote: SocketAddr) -> SessionConfig {
        let mut config = SessionConfig::new(self.codec, remote);
        config.payload_type = self.payload_type;
        config.telephone_event_pt = self.telephone_event;
        config.symmetric = false;
        config
    }
}

/// Why a leg gave up. Each is the engine's cue to treat the agent as gone
/// (caller back to the head of the queue, or a message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailReason {
    /// ICE and DTLS did not come up within `connect_timeout`.
    NeverConnected,
    /// ICE stayed disconnected for longer than `disconnect_grace`.
    ConnectionLost,
    /// The WebRTC engine closed the connection (the browser closed its
    /// DTLS association, or an internal error: logged).
    Closed,
}

/// What happened to the leg, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoftphoneEvent {
    /// ICE found a pair and DTLS-SRTP keys are in place: media flows.
    Connected,
    /// ICE lost the browser (no consent answers); the grace period runs.
    Interrupted,
    /// The browser answers again within the grace period.
    Resumed,
    /// The leg is over; nothing more comes from it.
    Failed(FailReason),
}

/// One datagram to send: from the local socket bound to `from`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub from: SocketAddr,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

/// Input problems and losses, counted, never fatal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SoftphoneCounters {
    /// Datagrams neither STUN, DTLS nor SRTP, or refused by the engine.
    pub bad_datagrams: u64,
    /// Bridge packets dropped because the browser was not connected yet.
    pub sent_before_connected: u64,
    /// Decrypted packets dropped because the shell did not drain `poll_rtp`.
    pub rtp_queue_overflows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Built, no offer yet.
    Idle,
    /// Offer answered; ICE/DTLS under way until `deadline`.
    Connecting {
        deadline: Instant,
    },
    Connected,
    /// ICE disconnected since then; fails at `deadline`.
    Interrupted {
        deadline: Instant,
    },
    Failed,
}

/// The engine's end of one browser softphone. See the crate documentation
/// for the run-loop contract.
pub struct SoftphoneLeg {
    config: SoftphoneConfig,
    rtc: Option<Rtc>,
    state: State,
    negotiated: Option<Negotiated>,
    /// Our offer, until the browser's answer arrives.
    pending: Option<SdpPendingOffer>,
    mid: Option<Mid>,
    tx_seq: SeqExtender,
    rtc_timeout: Option<Instant>,
    transmits: VecDeque<Transmit>,
    rtp: VecDeque<Vec<u8>>,
    events: VecDeque<SoftphoneEvent>,
    counters: SoftphoneCounters,
}

impl std::fmt::Debug for SoftphoneLeg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftphoneLeg")
            .field("state", &self.state)
            .field("negotiated", &self.negotiated)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl SoftphoneLeg {
    /// Checks the configuration; nothing is sent until an offer arrives.
    pub fn new(config: SoftphoneConfig, _now: Instant) -> Result<SoftphoneLeg, SoftphoneError> {
        if config.host_candidates.is_empty() {
            return Err(SoftphoneError::NoHostCandidate);
        }
        if config.codecs.is_empty() {
            return Err(SoftphoneError::NoCodec);
        }
        for &addr in &config.host_candidates {
            Candidate::host(addr, "udp")
                .map_err(|e| SoftphoneError::BadLocalCandidate { addr, reason: e.to_string() })?;
        }
        Ok(SoftphoneLeg {
            config,
            rtc: None,
            state: State::Idle,
            negotiated: None,
            pending: None,
            mid: None,
            tx_seq: SeqExtender::default(),
            rtc_timeout: None,
            transmits: VecDeque::new(),
            rtp: VecDeque::new(),
            events: VecDeque::new(),
            counters: SoftphoneCounters::default(),
        })
    }

    /// Answers the browser's offer with one G.711 law (the first of
    /// `config.codecs` the offer has) and telephone-event/8000 if offered;
    /// the answer carries our candidates (no trickle from our side).
    /// An offer on a leg that already negotiated (the browser renegotiates:
    /// a new device, an ICE restart) is answered within the codecs already
    /// agreed, over the same DTLS association.
    pub fn accept_offer(&mut self, now: Instant, sdp: &str) -> Result<String, SoftphoneError> {
        if self.rtc.is_some() && self.pending.is_none() && self.state != State::Failed {
            return self.renegotiate(now, sdp);
        }
        self.check_idle()?;
        let choice = choose_audio(sdp, &self.config.codecs, Order::Ours)?;
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| SoftphoneError::Rejected(e.to_string()))?;
        let mut rtc = self.build_rtc(now, &[choice.codec], choice.telephone_event)?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SoftphoneError::Rejected(e.to_string()))?;
        let answer = answer.to_sdp_string();
        // What the browser will send is what our answer lists first.
        let settled = choose_audio(&answer, &[choice.codec], Order::Theirs)?;
        self.negotiated = Some(Negotiated::from(settled));
        self.rtc = Some(rtc);
        self.state = State::Connecting { deadline: now + self.config.connect_timeout };
        self.drain(now);
        Ok(answer)
    }

    /// Offers the browser `config.codecs` in that order (put the caller's
    /// law alone, or first, to avoid transcoding) and telephone-event/8000
    /// on payload type 101, with our candidates; the browser's answer comes
    /// back through [`SoftphoneLeg::accept_answer`]. The connect timeout
    /// runs from here.
    pub fn create_offer(&mut self, now: Instant) -> Result<String, SoftphoneError> {
        self.check_idle()?;
        let codecs = self.config.codecs.clone();
        let mut rtc = self.build_rtc(now, &codecs, Some(OFFERED_TELEPHONE_EVENT_PT))?;
        let mut change = rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) =
            change.apply().ok_or_else(|| SoftphoneError::Rejected("str0m made no offer".to_owned()))?;
        self.mid = Some(mid);
        self.pending = Some(pending);
        self.rtc = Some(rtc);
        self.state = State::Connecting { deadline: now + self.config.connect_timeout };
        self.drain(now);
        Ok(offer.to_sdp_string())
    }

    /// The browser's answer to [`SoftphoneLeg::create_offer`]. The codec is
    /// the first G.711 law the answer lists (what the browser sends).
    pub fn accept_answer(&mut self, now: Instant, sdp: &str) -> Result<(), SoftphoneError> {
        if self.state == State::Failed {
            return Ok(());
        }
        let settled = choose_audio(sdp, &self.config.codecs, Order::Theirs)?;
        let answer = SdpAnswer::from_sdp_string(sdp).map_err(|e| SoftphoneError::Rejected(e.to_string()))?;
        let (Some(rtc), Some(pending)) = (self.rtc.as_mut(), self.pending.take()) else {
            return Err(SoftphoneError::NotNegotiated);
        };
        rtc.sdp_api().accept_answer(pending, answer).map_err(|e| SoftphoneError::Rejected(e.to_string()))?;
        self.negotiated = Some(Negotiated::from(settled));
        self.drain(now);
        Ok(())
    }

    fn renegotiate(&mut self, now: Instant, sdp: &str) -> Result<String, SoftphoneError> {
        let agreed: Vec<Codec> = self.negotiated.map(|n| n.codec).into_iter().collect();
        choose_audio(sdp, &agreed, Order::Ours)?;
        let offer = SdpOffer::from_sdp_string(sdp).map_err(|e| SoftphoneError::Rejected(e.to_string()))?;
        let rtc = self.rtc.as_mut().ok_or(SoftphoneError::NotNegotiated)?;
        let answer = rtc.sdp_api().accept_offer(offer).map_err(|e| SoftphoneError::Rejected(e.to_string()))?;
        let answer = answer.to_sdp_string();
        let settled = choose_audio(&answer, &agreed, Order::Theirs)?;
        self.negotiated = Some(Negotiated::from(settled));
        self.drain(now);
        Ok(answer)
    }

    fn check_idle(&self) -> Result<(), SoftphoneError> {
        match self.state {
            State::Idle => Ok(()),
            _ => Err(SoftphoneError::Rejected("this leg has already negotiated".to_owned())),
        }
    }

    /// A str0m instance in RTP mode with exactly `codecs` (and
    /// telephone-event/8000 on `telephone_event`) and our candidates.
    fn build_rtc(&self, now: Instant, codecs: &[Codec], telephone_event: Option<u8>) -> Result<Rtc, SoftphoneError> {
        let mut rtc_config = RtcConfig::new().clear_codecs().set_rtp_mode(true);
        let codec_config = rtc_config.codec_config();
        for codec in codecs {
            match codec {
                Codec::Pcmu => codec_config.enable_pcmu(true, false),
                Codec::Pcma => codec_config.enable_pcma(true, false),
            }
        }
        if let Some(pt) = telephone_event {
            let format = FormatParams::default();
            codec_config.add_config(Pt::from(pt), None, RtcCodec::Tele, Frequency::EIGHT_KHZ, None, format);
        }
        let mut rtc = rtc_config.build(now);
        for &addr in &self.config.host_candidates {
            let candidate = Candidate::host(addr, "udp")
                .map_err(|e| SoftphoneError::BadLocalCandidate { addr, reason: e.to_string() })?;
            rtc.add_local_candidate(candidate);
        }
        for mapped in &self.config.mapped_addresses {
            let candidate = Candidate::server_reflexive(mapped.public, mapped.local, "udp")
                .map_err(|e| SoftphoneError::BadLocalCandidate { addr: mapped.public, reason: e.to_string() })?;
            rtc.add_local_candidate(candidate);
        }
        Ok(rtc)
    }

    /// A candidate the browser trickled (`RTCIceCandidate.candidate`, with
    /// or without the `a=` prefix). The empty end-of-candidates marker and
    /// mDNS (`.local`) names, which the engine cannot resolve, are ignored.
    pub fn add_remote_candidate(&mut self, now: Instant, candidate: &str) -> Result<(), SoftphoneError> {
        let line = candidate.trim();
        let line = line.strip_prefix("a=").unwrap_or(line);
        // RFC 8839 5.1: the connection address is the fifth field.
        let mdns = line.split_ascii_whitespace().nth(4).is_some_and(|address| address.ends_with(".local"));
        if line.is_empty() || mdns || self.state == State::Failed {
            return Ok(());
        }
        let rtc = self.rtc.as_mut().ok_or(SoftphoneError::NotNegotiated)?;
        let parsed = Candidate::from_sdp_string(line).map_err(|e| SoftphoneError::BadCandidate(e.to_string()))?;
        rtc.add_remote_candidate(parsed);
        self.drain(now);
        Ok(())
    }

    /// A datagram that arrived on the local socket `to` from `from`.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let Some(rtc) = self.rtc.as_mut().filter(|_| self.state != State::Failed) else {
            return;
        };
        let Ok(receive) = Receive::new(Protocol::Udp, from, to, bytes) else {
            self.counters.bad_datagrams += 1;
            return;
        };
        if let Err(error) = rtc.handle_input(Input::Receive(now, receive)) {
            tracing::warn!(%error, "softphone datagram refused");
            self.counters.bad_datagrams += 1;
        }
        self.drain(now);
    }

    /// Advances timers: ICE checks and consent, DTLS retransmits, RTCP, and
    /// the leg's own connect and grace deadlines.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.state {
            State::Connecting { deadline } if now >= deadline => {
                return self.fail(FailReason::NeverConnected);
            }
            State::Interrupted { deadline } if now >= deadline => {
                return self.fail(FailReason::ConnectionLost);
            }
            State::Idle | State::Failed => return,
            _ => {}
        }
        if let Some(rtc) = self.rtc.as_mut()
            && let Err(error) = rtc.handle_input(Input::Timeout(now))
        {
            tracing::error!(%error, "softphone engine failed on a timeout");
            return self.fail(FailReason::Closed);
        }
        self.drain(now);
    }

    /// Sends one plain RTP datagram from the bridge (leg B's SSRC, sequence
    /// and timestamps) to the browser as SRTP. Before the browser is
    /// connected the packet is dropped and counted: the bridge's stream
    /// simply starts later for the browser.
    pub fn send_rtp(&mut self, now: Instant, datagram: &[u8]) -> Result<(), SoftphoneError> {
        let packet = RtpPacket::parse(datagram)?;
        let negotiated = self.negotiated.ok_or(SoftphoneError::NotNegotiated)?;
        if packet.payload_type != negotiated.payload_type && Some(packet.payload_type) != negotiated.telephone_event {
            return Err(SoftphoneError::UnknownPayloadType(packet.payload_type));
        }
        let (Some(rtc), Some(mid)) = (self.rtc.as_mut(), self.mid) else {
            self.counters.sent_before_connected += 1;
            return Ok(());
        };
        if !matches!(self.state, State::Connected | State::Interrupted { .. }) {
            self.counters.sent_before_connected += 1;
            return Ok(());
        }
        let mut api = rtc.direct_api();
        let stream = match api.stream_tx_by_mid(mid, None) {
            Some(stream) => stream,
            None => api.declare_stream_tx(Ssrc::from(packet.ssrc), None, mid, None),
        };
        let seq = SeqNo::from(self.tx_seq.extend(packet.sequence));
        let write = RtpWrite::new(Pt::from(packet.payload_type), seq, packet.timestamp, now, packet.payload)
            .marker(packet.marker);
        stream.write_rtp(write);
        self.drain(now);
        Ok(())
    }

    /// Ends the leg from our side (the agent hung up, the call ended). No
    /// `Failed` event: the engine decided it.
    pub fn close(&mut self) {
        if let Some(rtc) = self.rtc.as_mut() {
            rtc.disconnect();
        }
        self.state = State::Failed;
        self.transmits.clear();
        self.rtp.clear();
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The browser's next audio or telephone-event packet, decrypted, as a
    /// plain RTP datagram for `Bridge::handle_rtp(now, LegId::B, ..)`.
    pub fn poll_rtp(&mut self) -> Option<Vec<u8>> {
        self.rtp.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<SoftphoneEvent> {
        self.events.pop_front()
    }

    /// The earliest of str0m's next deadline and the leg's own.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let own = match self.state {
            State::Connecting { deadline } | State::Interrupted { deadline } => Some(deadline),
            State::Connected => None,
            State::Idle | State::Failed => return None,
        };
        match (own, self.rtc_timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The codec and payload types settled by `accept_offer`.
    pub fn negotiated(&self) -> Option<Negotiated> {
        self.negotiated
    }

    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected | State::Interrupted { .. })
    }

    pub fn counters(&self) -> SoftphoneCounters {
        self.counters
    }

    pub fn config(&self) -> &SoftphoneConfig {
        &self.config
    }

    fn fail(&mut self, reason: FailReason) {
        if self.state == State::Failed {
            return;
        }
        tracing::info!(?reason, "softphone leg failed");
        self.close();
        self.events.push_back(SoftphoneEvent::Failed(reason));
    }

    /// str0m's rule: after each mutation, poll until `Timeout`.
    fn drain(&mut self, now: Instant) {
        loop {
            let Some(rtc) = self.rtc.as_mut() else { return };
            let output = match rtc.poll_output() {
                Ok(output) => output,
                Err(error) => {
                    tracing::warn!(%error, "softphone engine closed the connection");
                    return self.fail(FailReason::Closed);
                }
            };
            match output {
                Output::Timeout(at) => {
                    self.rtc_timeout = Some(at);
                    break;
                }
                Output::Transmit(t) => {
                    self.transmits.push_back(Transmit { from: t.source, to: t.destination, bytes: t.contents.to_vec() })
                }
                Output::Event(event) => self.on_event(now, event),
            }
        }
        if self.rtc.as_ref().is_some_and(|rtc| !rtc.is_alive()) {
            self.fail(FailReason::Closed);
        }
    }

    fn on_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::MediaAdded(added) if added.kind == MediaKind::Audio => {
                self.mid.get_or_insert(added.mid);
            }
            Event::Connected if matches!(self.state, State::Connecting { .. }) => {
                self.state = State::Connected;
                self.events.push_back(SoftphoneEvent::Connected);
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) if self.state == State::Connected => {
                self.state = State::Interrupted { deadline: now + self.config.disconnect_grace };
                self.events.push_back(SoftphoneEvent::Interrupted);
            }
            Event::IceConnectionStateChange(IceConnectionState::Connected | IceConnectionState::Completed)
                if matches!(self.state, State::Interrupted { .. }) =>
            {
                self.state = State::Connected;
                self.events.push_back(SoftphoneEvent::Resumed);
            }
            Event::RtpPacket(packet) => {
                let header = &packet.header;
                let datagram = plain_rtp(
                    header.marker,
                    *header.payload_type,
                    header.sequence_number,
                    header.timestamp,
                    *header.ssrc,
                    &packet.payload,
                );
                if self.rtp.len() == RTP_QUEUE_LIMIT {
                    self.rtp.pop_front();
                    self.counters.rtp_queue_overflows += 1;
                }
                self.rtp.push_back(datagram);
            }
            _ => {}
        }
    }
}
