//! Scenarios on a simulated clock and network: a str0m `Rtc` plays the
//! browser (it offers, as Chromium does), a `SoftphoneLeg` answers, and
//! every datagram crosses an in-memory wire that can be cut. Time jumps to
//! the next deadline, so a 15 s connect timeout runs in microseconds.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_media::Codec;
use ivr_media::rtp::{RtpPacket, write_rtp_header};
use str0m::change::{SdpAnswer, SdpOffer, SdpPendingOffer};
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{RtpWrite, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};

use crate::{FailReason, SoftphoneConfig, SoftphoneError, SoftphoneEvent, SoftphoneLeg};

const BROWSER: &str = "192.0.2.10:50000";
const ENGINE: &str = "192.0.2.1:40000";

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

/// The browser's side: an offering `Rtc` with PCMU, PCMA and
/// telephone-event/8000, in RTP mode so the test sees raw packets.
struct Browser {
    rtc: Rtc,
    mid: Option<Mid>,
    timeout: Instant,
    outbox: Vec<(SocketAddr, Vec<u8>)>,
    received: Vec<(u8, u16, Vec<u8>)>,
    connected: bool,
}

impl Browser {
    fn offer(now: Instant) -> (Browser, String, SdpPendingOffer) {
        let mut config = RtcConfig::new().clear_codecs().set_rtp_mode(true);
        config.codec_config().enable_pcmu(true, false);
        config.codec_config().enable_pcma(true, false);
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(addr(BROWSER), "udp").expect("candidate"));
        let mut change = rtc.sdp_api();
        let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
        let (offer, pending) = change.apply().expect("an offer");
        let browser =
            Browser { rtc, mid: Some(mid), timeout: now, outbox: Vec::new(), received: Vec::new(), connected: false };
        (browser, offer.to_sdp_string(), pending)
    }

    /// The browser answering the engine's offer (the console's flow).
    fn answer(now: Instant, offer: &str) -> (Browser, String) {
        let mut config = RtcConfig::new().clear_codecs().set_rtp_mode(true);
        config.codec_config().enable_pcmu(true, false);
        config.codec_config().enable_pcma(true, false);
        let mut rtc = config.build(now);
        rtc.add_local_candidate(Candidate::host(addr(BROWSER), "udp").expect("candidate"));
        let offer = SdpOffer::from_sdp_string(offer).expect("str0m reads our offer");
        let answer = rtc.sdp_api().accept_offer(offer).expect("the browser answers");
        let mut browser =
            Browser { rtc, mid: None, timeout: now, outbox: Vec::new(), received: Vec::new(), connected: false };
        browser.drain();
        (browser, answer.to_sdp_string())
    }

    fn drain(&mut self) {
        loop {
            match self.rtc.poll_output().expect("browser output") {
                Output::Timeout(at) => {
                    self.timeout = at;
                    return;
                }
                Output::Transmit(t) => self.outbox.push((t.destination, t.contents.to_vec())),
                Output::Event(Event::Connected) => self.connected = true,
                Output::Event(Event::MediaAdded(added)) => {
                    self.mid.get_or_insert(added.mid);
                }
                Output::Event(Event::RtpPacket(p)) => {
                    self.received.push((*p.header.payload_type, p.header.sequence_number, p.payload.to_vec()))
                }
                Output::Event(_) => {}
            }
        }
    }

    fn send(&mut self, now: Instant, pt: u8, seq: u16, payload: &[u8]) {
        let mut api = self.rtc.direct_api();
        let mid = self.mid.expect("the browser's audio");
        let stream = api.stream_tx_by_mid(mid, None).expect("the browser's send stream");
        let write =
            RtpWrite::new(Pt::from(pt), SeqNo::from(u64::from(seq)), u32::from(seq) * 160, now, payload.to_vec());
        stream.write_rtp(write);
        self.drain();
    }
}

/// Browser and leg joined by a wire that `cut` interrupts both ways.
struct Call {
    now: Instant,
    browser: Browser,
    leg: SoftphoneLeg,
    events: Vec<SoftphoneEvent>,
    to_bridge: Vec<Vec<u8>>,
    cut: bool,
}

impl Call {
    fn answered(config: SoftphoneConfig) -> Call {
        let now = Instant::now();
        let (mut browser, offer, pending) = Browser::offer(now);
        let mut leg = SoftphoneLeg::new(config, now).expect("valid config");
        let answer = leg.accept_offer(now, &offer).expect("the offer is answered");
        let answer = SdpAnswer::from_sdp_string(&answer).expect("str0m reads our answer");
        browser.rtc.sdp_api().accept_answer(pending, answer).expect("the browser takes our answer");
        browser.drain();
        Call { now, browser, leg, events: Vec::new(), to_bridge: Vec::new(), cut: false }
    }

    /// The console's flow: the engine offers, the browser answers.
    fn offered(config: SoftphoneConfig) -> Call {
        let now = Instant::now();
        let mut leg = SoftphoneLeg::new(config, now).expect("valid config");
        let offer = leg.create_offer(now).expect("an offer");
        let (browser, answer) = Browser::answer(now, &offer);
        leg.accept_answer(now, &answer).expect("the browser's answer is taken");
        Call { now, browser, leg, events: Vec::new(), to_bridge: Vec::new(), cut: false }
    }

    /// Delivers what is in flight, then jumps to the next deadline.
    fn step(&mut self) {
        for _ in 0..100 {
            let mut moved = false;
            for (to, bytes) in std::mem::take(&mut self.browser.outbox) {
                moved = true;
                if !self.cut && to == addr(ENGINE) {
                    self.leg.handle_datagram(self.now, addr(BROWSER), to, &bytes);
                }
            }
            while let Some(t) = self.leg.poll_transmit() {
                moved = true;
                assert_eq!(t.from, addr(ENGINE), "sent from the leg's own socket");
                if !self.cut && t.to == addr(BROWSER) {
                    let receive = Receive::new(Protocol::Udp, t.from, t.to, &t.bytes).expect("datagram");
                    self.browser.rtc.handle_input(Input::Receive(self.now, receive)).expect("browser input");
                    self.browser.drain();
                }
            }
            self.collect();
            if !moved {
                break;
            }
        }
        let next = self.leg.poll_timeout().map_or(self.browser.timeout, |t| t.min(self.browser.timeout));
        self.now = next.max(self.now);
        if self.leg.poll_timeout().is_some_and(|t| t <= self.now) {
            self.leg.handle_timeout(self.now);
        }
        if self.browser.timeout <= self.now {
            self.browser.rtc.handle_input(Input::Timeout(self.now)).expect("browser timeout");
            self.browser.drain();
        }
        self.collect();
    }

    fn collect(&mut self) {
        while let Some(rtp) = self.leg.poll_rtp() {
            self.to_bridge.push(rtp);
        }
        while let Some(event) = self.leg.poll_event() {
            self.events.push(event);
        }
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&Call) -> bool) {
        let end = self.now + limit;
        while !done(self) && self.now < end {
            self.step();
        }
        assert!(done(self), "not reached within {limit:?}; events {:?}", self.events);
    }

    fn connect(&mut self) {
        self.run_until(Duration::from_secs(5), |c| {
            c.events.contains(&SoftphoneEvent::Connected) && c.browser.connected
        });
    }
}

fn config() -> SoftphoneConfig {
    SoftphoneConfig::new(vec![addr(ENGINE)])
}

#[test]
fn the_answer_offers_one_g711_law_and_our_host_candidate_only() {
    let now = Instant::now();
    let (_browser, offer, _pending) = Browser::offer(now);
    let mut config = config();
    config.codecs = vec![Codec::Pcma, Codec::Pcmu];
    let mut leg = SoftphoneLeg::new(config, now).expect("valid");
    let answer = leg.accept_offer(now, &offer).expect("answered");
    let audio_line = answer.lines().find(|l| l.starts_with("m=audio")).expect("an audio line");
    assert!(audio_line.ends_with("SAVPF 8"), "only PCMA: {audio_line}");
    assert!(answer.contains("a=candidate:") && answer.contains("192.0.2.1 40000 typ host"), "{answer}");
    assert!(answer.contains("a=fingerprint:sha-256"), "DTLS-SRTP: {answer}");
    let negotiated = leg.negotiated().expect("settled");
    assert_eq!((negotiated.codec, negotiated.payload_type), (Codec::Pcma, 8));
    assert!(
        matches!(leg.accept_offer(now, "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"), Err(SoftphoneError::Offer(_))),
        "a renegotiation keeps the agreed law"
    );
}

#[test]
fn media_flows_both_ways_as_plain_rtp_on_our_side_and_srtp_on_the_wire() {
    let mut call = Call::answered(config());
    call.connect();
    assert!(call.leg.is_connected());

    // Browser -> engine: decrypted, plain 12-byte RTP with its numbers.
    let payload = [0x55u8; 160];
    for seq in 7..12 {
        call.browser.send(call.now, 0, seq, &payload);
        call.step();
    }
    let first = call.to_bridge.first().expect("the browser's audio reached the bridge side");
    let packet = RtpPacket::parse(first).expect("plain RTP");
    assert_eq!((packet.payload_type, packet.sequence, packet.payload), (0, 7, &payload[..]));
    assert!(packet.extension.is_none() && packet.csrc_bytes.is_empty());
    assert_eq!(call.to_bridge.len(), 5);

    // Engine -> browser: the bridge's plain RTP, encrypted, arrives intact
    // across a sequence wrap.
    for (i, seq) in [65534u16, 65535, 0, 1].into_iter().enumerate() {
        let mut datagram = vec![0u8; 12 + 160];
        write_rtp_header(&mut datagram, i == 0, 0, seq, 1000 + 160 * i as u32, 0xA5A5_0001);
        datagram[12..].fill(0x11 + i as u8);
        call.leg.send_rtp(call.now, &datagram).expect("sent");
        call.step();
    }
    let got: Vec<(u8, u16, u8)> = call.browser.received.iter().map(|(pt, seq, p)| (*pt, *seq, p[0])).collect();
    assert_eq!(got, vec![(0, 65534, 0x11), (0, 65535, 0x12), (0, 0, 0x13), (0, 1, 0x14)]);
}

#[test]
fn when_the_engine_offers_the_browsers_first_law_is_used_and_media_flows_both_ways() {
    let mut config = config();
    config.codecs = vec![Codec::Pcma];
    let mut call = Call::offered(config);
    assert_eq!(call.leg.negotiated().map(|n| (n.codec, n.payload_type)), Some((Codec::Pcma, 8)));
    call.connect();
    call.browser.send(call.now, 8, 1, &[0xD5; 160]);
    call.step();
    let packet = call.to_bridge.first().map(|d| RtpPacket::parse(d).map(|p| (p.payload_type, p.payload.len())));
    assert_eq!(packet, Some(Ok((8, 160))));
    let mut datagram = vec![0u8; 12 + 160];
    write_rtp_header(&mut datagram, true, 8, 9, 0, 7);
    call.leg.send_rtp(call.now, &datagram).expect("sent");
    call.step();
    assert_eq!(call.browser.received.len(), 1);
    assert!(call.leg.accept_answer(call.now, "v=0\r\nm=audio 9 RTP/SAVPF 8\r\n").is_err(), "one answer");
}

#[test]
fn an_offer_of_ours_lists_the_configured_laws_in_order_with_telephone_event() {
    let mut leg = SoftphoneLeg::new(config(), Instant::now()).expect("valid");
    let offer = leg.create_offer(Instant::now()).expect("an offer");
    let audio_line = offer.lines().find(|l| l.starts_with("m=audio")).expect("an audio line");
    assert!(audio_line.ends_with("SAVPF 0 8 101"), "{audio_line}");
    assert!(offer.contains("a=rtpmap:101 telephone-event/8000"), "{offer}");
    assert!(matches!(leg.accept_offer(Instant::now(), &offer), Err(SoftphoneError::Rejected(_))));
}

#[test]
fn a_browser_renegotiating_mid_call_keeps_the_law_and_the_media() {
    let mut call = Call::answered(config());
    call.connect();
    let mut change = call.browser.rtc.sdp_api();
    change.set_direction(call.browser.mid.expect("audio"), Direction::SendRecv);
    change.add_media(MediaKind::Audio, Direction::RecvOnly, None, None, None);
    let (offer, pending) = change.apply().expect("a new offer");
    let answer = call.leg.accept_offer(call.now, &offer.to_sdp_string()).expect("answered on the same leg");
    let answer = SdpAnswer::from_sdp_string(&answer).expect("readable");
    call.browser.rtc.sdp_api().accept_answer(pending, answer).expect("taken");
    call.browser.drain();
    call.step();
    assert_eq!(call.leg.negotiated().map(|n| n.codec), Some(Codec::Pcmu));
    call.browser.send(call.now, 0, 77, &[0x42; 160]);
    call.step();
    let last = call.to_bridge.last().map(|d| RtpPacket::parse(d).map(|p| p.sequence));
    assert_eq!(last, Some(Ok(77)), "media still flows after the renegotiation");
    assert_eq!(call.events, vec![SoftphoneEvent::Connected]);
}

#[test]
fn the_bridge_may_not_send_a_payload_type_the_browser_was_not_given() {
    let mut call = Call::answered(config());
    call.connect();
    let mut datagram = vec![0u8; 12 + 160];
    write_rtp_header(&mut datagram, false, 8, 1, 0, 1);
    assert!(matches!(call.leg.send_rtp(call.now, &datagram), Err(SoftphoneError::UnknownPayloadType(8))));
    assert!(matches!(call.leg.send_rtp(call.now, &[0x80, 0]), Err(SoftphoneError::BadRtp(_))));
}

#[test]
fn a_browser_that_never_connects_fails_the_leg_at_the_connect_timeout() {
    let mut call = Call::answered(config());
    call.cut = true;
    let start = call.now;
    call.run_until(Duration::from_secs(60), |c| !c.events.is_empty());
    assert_eq!(call.events, vec![SoftphoneEvent::Failed(FailReason::NeverConnected)]);
    assert_eq!(call.now - start, Duration::from_secs(15));
    assert_eq!(call.leg.poll_timeout(), None, "a failed leg has no deadline");
    assert_eq!(call.leg.poll_transmit(), None, "and sends nothing");
}

#[test]
fn a_browser_that_vanishes_mid_call_is_reported_interrupted_then_failed() {
    let mut call = Call::answered(config());
    call.connect();
    call.cut = true;
    call.run_until(Duration::from_secs(60), |c| c.events.iter().any(|e| matches!(e, SoftphoneEvent::Failed(_))));
    assert_eq!(
        call.events,
        vec![
            SoftphoneEvent::Connected,
            SoftphoneEvent::Interrupted,
            SoftphoneEvent::Failed(FailReason::ConnectionLost)
        ]
    );
}

#[test]
fn garbage_from_the_network_and_bad_signalling_never_panic() {
    let mut call = Call::answered(config());
    let now = call.now;
    for bytes in [&[][..], &[0u8; 1][..], &[0x80; 40][..], &[0x16, 0xfe, 0xfd, 0, 0][..], &[0xff; 1500][..]] {
        call.leg.handle_datagram(now, addr(BROWSER), addr(ENGINE), bytes);
    }
    assert!(call.leg.counters().bad_datagrams >= 1);
    assert!(call.leg.add_remote_candidate(now, "candidate:garbage").is_err());
    assert!(call.leg.add_remote_candidate(now, "").is_ok(), "end of candidates");
    let mdns = "candidate:1 1 udp 2113937151 0d5c1e4f-7f0e-4b7a-9c1e-2c8f3a9b6d10.local 54321 typ host";
    assert!(call.leg.add_remote_candidate(now, mdns).is_ok(), "mDNS names are skipped, not errors");
    let chrome = "a=candidate:2 1 udp 2122260223 192.0.2.10 50000 typ host generation 0 ufrag abcd network-id 1";
    assert!(call.leg.add_remote_candidate(now, chrome).is_ok(), "a Chromium candidate line: {chrome}");
    call.connect();

    let mut fresh = SoftphoneLeg::new(config(), now).expect("valid");
    assert!(matches!(fresh.accept_offer(now, "not sdp at all"), Err(SoftphoneError::Offer(_))));
    assert!(fresh.accept_offer(now, "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\n").is_err());
    assert!(matches!(
        fresh.add_remote_candidate(now, "candidate:1 1 udp 1 192.0.2.9 9 typ host"),
        Err(SoftphoneError::NotNegotiated)
    ));
}

#[test]
fn a_config_without_addresses_or_codecs_is_refused() {
    let now = Instant::now();
    assert!(matches!(SoftphoneLeg::new(SoftphoneConfig::new(vec![]), now), Err(SoftphoneError::NoHostCandidate)));
    let mut no_codec = config();
    no_codec.codecs.clear();
    assert!(matches!(SoftphoneLeg::new(no_codec, now), Err(SoftphoneError::NoCodec)));
    let unspecified = SoftphoneConfig::new(vec![addr("0.0.0.0:4000")]);
    assert!(matches!(SoftphoneLeg::new(unspecified, now), Err(SoftphoneError::BadLocalCandidate { .. })));
}

#[test]
fn a_bridge_relays_a_caller_and_the_browser_through_the_leg_without_transcoding() {
    use ivr_media::bridge::{Bridge, Endpoint, LegId};
    use ivr_media::call::Transmit as MediaTransmit;
    use ivr_media::session::SessionConfig;

    let mut call = Call::answered(config());
    call.connect();
    let caller = addr("198.51.100.7:30000");
    let browser_label = addr(BROWSER);
    let negotiated = call.leg.negotiated().expect("settled");
    let a = SessionConfig::new(Codec::Pcmu, caller);
    let b = negotiated.session_config(browser_label);
    let mut rng = fastrand::Rng::with_seed(6);
    let mut bridge = Bridge::new(a, b, &mut rng, call.now, std::time::SystemTime::UNIX_EPOCH);
    let mut buf = vec![0u8; bridge.transmit_buffer_len()];
    let mut to_caller: Vec<Vec<u8>> = Vec::new();

    for i in 0..5u16 {
        // The caller's phone speaks into leg A ...
        let mut datagram = vec![0u8; 12 + 160];
        write_rtp_header(&mut datagram, i == 0, 0, 300 + i, 8000 + 160 * u32::from(i), 0xCA11_E400);
        datagram[12..].fill(0x20 + i as u8);
        bridge.handle_rtp(call.now, LegId::A, caller, &datagram);
        // ... and the browser into the leg, which the shell feeds to leg B.
        call.browser.send(call.now, 0, 40 + i, &[0x60 + i as u8; 160]);
        call.step();
        for rtp in call.to_bridge.drain(..) {
            bridge.handle_rtp(call.now, LegId::B, browser_label, &rtp);
        }
        bridge.handle_timeout(call.now);
        while let Some((endpoint, transmit)) = bridge.poll_transmit(call.now, &mut buf) {
            match (endpoint, transmit) {
                (Endpoint::Leg(LegId::B), MediaTransmit::Rtp { len, .. }) => {
                    call.leg.send_rtp(call.now, &buf[..len]).expect("leg B's RTP is what the browser negotiated")
                }
                (Endpoint::Leg(LegId::A), MediaTransmit::Rtp { to, len }) => {
                    assert_eq!(to, caller);
                    to_caller.push(buf[..len].to_vec());
                }
                _ => {} // RTCP: leg A's goes to the caller; leg B's is str0m's job
            }
        }
        call.step();
    }
    let heard_by_browser: Vec<u8> = call
        .browser
        .received
        .iter()
        .map(|(pt, _, p)| {
            assert_eq!(*pt, 0);
            p[0]
        })
        .collect();
    assert_eq!(heard_by_browser, vec![0x20, 0x21, 0x22, 0x23, 0x24], "the caller's bytes, untouched");
    let heard_by_caller: Vec<u8> = to_caller.iter().map(|d| RtpPacket::parse(d).expect("rtp").payload[0]).collect();
    assert_eq!(heard_by_caller, vec![0x60, 0x61, 0x62, 0x63, 0x64], "the browser's bytes, untouched");
}
