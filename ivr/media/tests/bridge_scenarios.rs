//! The B2BUA's `Bridge` on a simulated clock: two phones exchange real RTP
//! packets through it, and each phone must see one clean stream.

mod support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ivr_media::Codec;
use ivr_media::bridge::{Bridge, BridgeEvent, Endpoint, LegId, MonitorMode};
use ivr_media::call::Transmit;
use ivr_media::dtmf::DtmfDigit;
use ivr_media::dtmf::rfc4733::{Rfc4733Receiver, TelephoneEvent};
use ivr_media::g711;
use ivr_media::prompt::Prompt;
use ivr_media::rtp::{RtpPacket, write_rtp_header};
use ivr_media::session::{RtpIdentity, RtpSession, SessionConfig};

const MS20: Duration = Duration::from_millis(20);

fn phone(leg: LegId) -> SocketAddr {
    match leg {
        LegId::A => "192.0.2.10:40000".parse().expect("literal"),
        LegId::B => "198.51.100.20:50000".parse().expect("literal"),
    }
}

/// A packet as a phone received it.
#[derive(Debug, Clone)]
struct Got {
    at: Instant,
    marker: bool,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    payload: Vec<u8>,
}

struct LegSpec {
    codec: Codec,
    ptime_ms: u64,
    te_pt: Option<u8>,
}

struct Sim {
    bridge: Bridge,
    t0: Instant,
    now: Instant,
    /// What each phone received: index 0 = A's phone, 1 = B's phone.
    rtp: [Vec<Got>; 2],
    rtcp: [Vec<SocketAddr>; 2],
    events: Vec<BridgeEvent>,
    /// Payloads the supervisor's phone received.
    supervisor: Vec<Vec<u8>>,
}

fn idx(leg: LegId) -> usize {
    match leg {
        LegId::A => 0,
        LegId::B => 1,
    }
}

impl Sim {
    fn new(a: LegSpec, b: LegSpec) -> Sim {
        let config = |spec: LegSpec, leg| {
            let mut c = SessionConfig::new(spec.codec, phone(leg));
            c.ptime = Duration::from_millis(spec.ptime_ms);
            c.telephone_event_pt = spec.te_pt;
            c
        };
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(4);
        let bridge = Bridge::new(config(a, LegId::A), config(b, LegId::B), &mut rng, t0, SystemTime::UNIX_EPOCH);
        Sim { bridge, t0, now: t0, rtp: [Vec::new(), Vec::new()], rtcp: [Vec::new(), Vec::new()], events: Vec::new(), supervisor: Vec::new() }
    }

    fn pcmu(te_pt: Option<u8>) -> LegSpec {
        LegSpec { codec: Codec::Pcmu, ptime_ms: 20, te_pt }
    }

    fn drain(&mut self) {
        self.bridge.handle_timeout(self.now);
        let mut buf = vec![0u8; self.bridge.transmit_buffer_len()];
        while let Some((from, t)) = self.bridge.poll_transmit(self.now, &mut buf) {
            let leg = match from {
                Endpoint::Leg(leg) => leg,
                Endpoint::Monitor => {
                    if let Transmit::Rtp { len, .. } = t {
                        let p = RtpPacket::parse(&buf[..len]).expect("we send valid RTP");
                        self.supervisor.push(p.payload.to_vec());
                    }
                    continue;
                }
            };
            match t {
                Transmit::Rtp { to, len } => {
                    assert_eq!(to, phone(leg), "a packet for {leg:?} goes to {leg:?}'s phone");
                    let p = RtpPacket::parse(&buf[..len]).expect("we send valid RTP");
                    self.rtp[idx(leg)].push(Got {
                        at: self.now,
                        marker: p.marker,
                        pt: p.payload_type,
                        seq: p.sequence,
                        ts: p.timestamp,
                        ssrc: p.ssrc,
                        payload: p.payload.to_vec(),
                    });
                }
                Transmit::Rtcp { to, .. } => self.rtcp[idx(leg)].push(to),
            }
        }
        while let Some(e) = self.bridge.poll_event() {
            self.events.push(e);
        }
    }

    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        support::run_until(self.now, until, |now| {
            self.now = now;
            self.drain();
            self.bridge.poll_timeout()
        });
    }

    /// `leg`'s phone sends one RTP packet to the bridge now (the header
    /// fields spelled out at each call read as the packet on the wire).
    #[allow(clippy::too_many_arguments)]
    fn send(&mut self, leg: LegId, pt: u8, marker: bool, seq: u16, ts: u32, ssrc: u32, payload: &[u8]) {
        let mut bytes = vec![0u8; 12 + payload.len()];
        write_rtp_header(&mut bytes, marker, pt, seq, ts, ssrc);
        bytes[12..].copy_from_slice(payload);
        self.bridge.handle_rtp(self.now, leg, phone(leg), &bytes);
        self.drain();
    }

    fn received(&self, leg: LegId) -> &[Got] {
        &self.rtp[idx(leg)]
    }

    fn audio(&self, leg: LegId) -> Vec<Got> {
        let pt = self.bridge.session(leg).config().payload_type;
        self.received(leg).iter().filter(|g| g.pt == pt).cloned().collect()
    }
}

fn assert_one_stream(sim: &Sim, leg: LegId, got: &[Got]) {
    let ours = sim.bridge.session(leg).identity();
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g.ssrc, ours.ssrc, "packet {i} to {leg:?} carries {leg:?}'s own SSRC");
        if i > 0 {
            assert_eq!(g.seq, got[i - 1].seq.wrapping_add(1), "packet {i} to {leg:?}: sequence continuous");
        }
    }
}

fn frame(fill: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| fill.wrapping_add(i as u8)).collect()
}

#[test]
fn same_codec_relay_keeps_each_legs_sequence_and_timestamps_continuous_across_ssrc_change_and_loss() {
    let mut sim = Sim::new(Sim::pcmu(None), Sim::pcmu(None));
    // The caller's phone: SSRC 0x1111, seq from 500, ts from 9000; packet 5 lost.
    for i in 0..10u16 {
        if i != 5 {
            sim.send(LegId::A, 0, i == 0, 500 + i, 9000 + 160 * u32::from(i), 0x1111, &frame(i as u8, 160));
        }
        sim.advance(MS20);
    }
    // A transfer on the caller's side: a new SSRC with its own random bases.
    for i in 0..5u16 {
        sim.send(LegId::A, 0, false, 61_000 + i, 4_000_000_000 + 160 * u32::from(i), 0x2222, &frame(100 + i as u8, 160));
        sim.advance(MS20);
    }
    let got = sim.audio(LegId::B);
    assert_eq!(got.len(), 14);
    assert_one_stream(&sim, LegId::B, &got);
    let payloads: Vec<Vec<u8>> = got.iter().map(|g| g.payload.clone()).collect();
    let sent: Vec<Vec<u8>> = (0..10u16).filter(|&i| i != 5).map(|i| frame(i as u8, 160)).chain((0..5).map(|i| frame(100 + i, 160))).collect();
    assert_eq!(payloads, sent, "same codec and ptime: bytes untouched");
    // Timestamps: +160 per packet, the lost packet is a 320 gap, and the
    // new source continues from B's clock with a marker, never backwards.
    let steps: Vec<u32> = got.windows(2).map(|w| w[1].ts.wrapping_sub(w[0].ts)).collect();
    assert_eq!(&steps[..8], &[160, 160, 160, 160, 160 * 2, 160, 160, 160]);
    assert!(steps[8] >= 160 && steps[8] <= 160 * 3, "after the SSRC change: {}", steps[8]);
    assert_eq!(&steps[9..], &[160, 160, 160, 160]);
    let markers: Vec<usize> = got.iter().enumerate().filter(|(_, g)| g.marker).map(|(i, _)| i).collect();
    assert_eq!(markers, [0, 9]);
    // Relayed at once: no added delay.
    assert_eq!(got[0].at, sim.t0);
    let stats = sim.bridge.relay_stats(LegId::A);
    assert_eq!((stats.packets_in, stats.packets_out, stats.gaps, stats.resyncs, stats.transcoded), (14, 14, 1, 1, 0));
}

#[test]
fn late_and_duplicated_packets_are_dropped_not_sent_out_of_order() {
    let mut sim = Sim::new(Sim::pcmu(None), Sim::pcmu(None));
    sim.send(LegId::A, 0, false, 1, 0, 7, &[1; 160]);
    sim.send(LegId::A, 0, false, 3, 320, 7, &[3; 160]);
    sim.send(LegId::A, 0, false, 2, 160, 7, &[2; 160]); // late
    sim.send(LegId::A, 0, false, 3, 320, 7, &[3; 160]); // duplicate
    let got = sim.audio(LegId::B);
    assert_eq!(got.iter().map(|g| g.payload[0]).collect::<Vec<_>>(), [1, 3]);
    assert_eq!(got[1].ts.wrapping_sub(got[0].ts), 320);
    assert_eq!(sim.bridge.relay_stats(LegId::A).late_dropped, 2);
}

#[test]
fn pcmu_and_pcma_legs_are_transcoded_bit_exactly_through_linear() {
    let mut sim = Sim::new(Sim::pcmu(None), LegSpec { codec: Codec::Pcma, ptime_ms: 20, te_pt: None });
    let codes: Vec<u8> = (0..=255u8).chain(0..64).collect(); // two full frames
    for (i, chunk) in codes.chunks(160).enumerate() {
        sim.send(LegId::A, 0, false, i as u16, 160 * i as u32, 1, chunk);
        sim.send(LegId::B, 8, false, i as u16, 160 * i as u32, 2, chunk);
    }
    let to_b: Vec<u8> = sim.audio(LegId::B).iter().flat_map(|g| g.payload.clone()).collect();
    let to_a: Vec<u8> = sim.audio(LegId::A).iter().flat_map(|g| g.payload.clone()).collect();
    let expect_b: Vec<u8> = codes.iter().map(|&c| g711::linear_to_alaw(g711::ulaw_to_linear(c))).collect();
    let expect_a: Vec<u8> = codes.iter().map(|&c| g711::linear_to_ulaw(g711::alaw_to_linear(c))).collect();
    assert_eq!(to_b, expect_b);
    assert_eq!(to_a, expect_a);
    assert!(sim.audio(LegId::B).iter().all(|g| g.pt == 8));
    assert!(sim.audio(LegId::A).iter().all(|g| g.pt == 0));
    assert_eq!(sim.bridge.relay_stats(LegId::A).transcoded, 2);
}

fn te(event: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent { event, end, volume: 10, duration }.to_bytes()
}

#[test]
fn rfc4733_events_pass_through_with_the_other_legs_payload_type_and_are_reported_once() {
    let mut sim = Sim::new(Sim::pcmu(Some(101)), Sim::pcmu(Some(96)));
    sim.send(LegId::A, 0, false, 10, 8000, 0x55, &[0xFF; 160]);
    sim.advance(MS20);
    // Key 5 pressed: start (marker), two updates, three end packets, all
    // with the event's start timestamp 8160.
    let packets = [te(5, false, 160), te(5, false, 320), te(5, false, 480), te(5, true, 640), te(5, true, 640), te(5, true, 640)];
    for (i, p) in packets.iter().enumerate() {
        sim.send(LegId::A, 101, i == 0, 11 + i as u16, 8160, 0x55, p);
        sim.advance(MS20);
    }
    sim.send(LegId::A, 0, false, 17, 8160 + 800, 0x55, &[0xFF; 160]);
    assert_eq!(sim.events, [BridgeEvent::Digit { leg: LegId::A, digit: DtmfDigit::D5 }]);
    let got = sim.received(LegId::B).to_vec();
    assert_eq!(got.len(), 8);
    assert_one_stream(&sim, LegId::B, &got);
    let audio_ts = got[0].ts;
    for (g, p) in got[1..7].iter().zip(&packets) {
        assert_eq!(g.pt, 96, "remapped to the agent's telephone-event type");
        assert_eq!(g.payload, p);
        assert_eq!(g.ts, audio_ts.wrapping_add(160), "the event's start timestamp, mapped like the audio");
    }
    assert!(got[1].marker && !got[2].marker);
    assert_eq!(got[7].ts, audio_ts.wrapping_add(960));
    assert_eq!(sim.bridge.relay_stats(LegId::A).events_forwarded, 6);
}

/// A key pressed as the operator answers: its first packets reached the
/// IVR (which reported the digit), the rest reach the bridge. Given the
/// IVR's receiver, the bridge does not report the key a second time (the
/// call record counted it twice); a new press after it still counts.
#[test]
fn a_key_straddling_the_handover_from_the_ivr_is_reported_once() {
    let mut sim = Sim::new(Sim::pcmu(Some(101)), Sim::pcmu(Some(101)));
    let mut ivr = Rfc4733Receiver::new();
    let start = [te(1, false, 160), te(1, false, 320)];
    for p in &start {
        let _ = ivr.handle(sim.now, 0x55, 8160, p);
    }
    let placeholder = Sim::new(Sim::pcmu(None), Sim::pcmu(None)).bridge;
    sim.bridge = std::mem::replace(&mut sim.bridge, placeholder).with_presses(LegId::A, ivr);
    let rest = [te(1, false, 480), te(1, true, 640), te(1, true, 640), te(1, true, 640)];
    for (i, p) in rest.iter().enumerate() {
        sim.send(LegId::A, 101, false, 13 + i as u16, 8160, 0x55, p);
        sim.advance(MS20);
    }
    assert_eq!(sim.events, [], "the IVR already reported this press");
    sim.send(LegId::A, 101, true, 17, 8960, 0x55, &te(2, false, 160));
    assert_eq!(sim.events, [BridgeEvent::Digit { leg: LegId::A, digit: DtmfDigit::D2 }]);
}

#[test]
fn a_leg_without_telephone_event_gets_no_events_but_the_digit_is_still_reported() {
    let mut sim = Sim::new(Sim::pcmu(Some(101)), Sim::pcmu(None));
    sim.send(LegId::A, 101, true, 1, 0, 9, &te(11, false, 160));
    sim.send(LegId::A, 101, false, 2, 0, 9, &te(11, true, 320));
    assert!(sim.received(LegId::B).is_empty());
    assert_eq!(sim.events, [BridgeEvent::Digit { leg: LegId::A, digit: DtmfDigit::Hash }]);
    assert_eq!(sim.bridge.relay_stats(LegId::A).events_dropped, 2);
}

#[test]
fn hold_plays_looping_music_to_the_held_leg_and_resume_restores_the_relay() {
    let mut sim = Sim::new(Sim::pcmu(None), Sim::pcmu(None));
    for i in 0..3u16 {
        sim.send(LegId::B, 0, false, i, 160 * u32::from(i), 0xB, &[0x10; 160]);
        sim.advance(MS20);
    }
    let music_pcm: Vec<i16> = (0..400).map(|i| ((i % 40) as i16 - 20) * 500).collect();
    let music = Arc::new(Prompt::from_pcm_8k("music", &music_pcm));
    let hold_at = sim.now;
    sim.bridge.hold(sim.now, LegId::A, [music.clone()]);
    assert_eq!(sim.bridge.held(), Some(LegId::A));
    let held_from = sim.received(LegId::A).len();
    for i in 3..13u16 {
        sim.send(LegId::B, 0, false, i, 160 * u32::from(i), 0xB, &[0x10; 160]);
        sim.send(LegId::A, 0, false, i, 160 * u32::from(i), 0xA, &[0x20; 160]);
        sim.advance(MS20);
    }
    let during: Vec<Got> = sim.received(LegId::A)[held_from..].to_vec();
    assert_eq!(during.len(), 11, "one music frame per 20 ms from the hold to now, inclusive");
    for (i, g) in during.iter().enumerate() {
        assert_eq!(g.at, hold_at + MS20 * i as u32);
    }
    let heard: Vec<u8> = during.iter().flat_map(|g| g.payload.clone()).collect();
    let looped: Vec<u8> = music.payload(Codec::Pcmu).iter().cycle().take(heard.len()).copied().collect();
    assert_eq!(heard, looped, "the music loops without a gap");
    assert!(sim.audio(LegId::B).is_empty(), "the held caller's audio does not reach the agent");
    assert!(during[0].marker);
    assert_eq!(sim.bridge.relay_stats(LegId::B).held_dropped, 10);

    sim.bridge.resume(sim.now);
    sim.send(LegId::B, 0, false, 13, 160 * 13, 0xB, &[0x30; 160]);
    let all = sim.received(LegId::A).to_vec();
    assert_one_stream(&sim, LegId::A, &all);
    let last = all.last().expect("relayed after resume");
    let before = &all[all.len() - 2];
    assert_eq!(last.payload, [0x30; 160]);
    assert!(last.marker);
    assert!(last.ts.wrapping_sub(before.ts) as i32 >= 160, "time never goes backwards across hold");
}

#[test]
fn twenty_and_thirty_ms_legs_are_repacketised_both_ways() {
    let mut sim = Sim::new(Sim::pcmu(None), LegSpec { codec: Codec::Pcmu, ptime_ms: 30, te_pt: None });
    let mut sent_a = Vec::new();
    for i in 0..6u16 {
        let f = frame(i as u8 * 7, 160);
        sent_a.extend_from_slice(&f);
        sim.send(LegId::A, 0, false, i, 160 * u32::from(i), 1, &f);
        sim.advance(MS20);
    }
    let mut sent_b = Vec::new();
    for i in 0..4u16 {
        let f = frame(i as u8 * 11, 240);
        sent_b.extend_from_slice(&f);
        sim.send(LegId::B, 0, false, i, 240 * u32::from(i), 2, &f);
        sim.advance(Duration::from_millis(30));
    }
    let to_b = sim.audio(LegId::B);
    assert_eq!(to_b.iter().map(|g| g.payload.len()).collect::<Vec<_>>(), [240; 4]);
    assert_eq!(to_b.iter().flat_map(|g| g.payload.clone()).collect::<Vec<_>>(), sent_a);
    assert!(to_b.windows(2).all(|w| w[1].ts.wrapping_sub(w[0].ts) == 240));
    let to_a = sim.audio(LegId::A);
    assert_eq!(to_a.iter().map(|g| g.payload.len()).collect::<Vec<_>>(), [160; 6]);
    assert_eq!(to_a.iter().flat_map(|g| g.payload.clone()).collect::<Vec<_>>(), sent_b);
    assert!(to_a.windows(2).all(|w| w[1].ts.wrapping_sub(w[0].ts) == 160));
    assert_one_stream(&sim, LegId::A, &to_a);
    assert_one_stream(&sim, LegId::B, &to_b);
}

#[test]
fn a_small_gap_inside_a_repacketised_frame_is_filled_with_silence() {
    let mut sim = Sim::new(Sim::pcmu(None), LegSpec { codec: Codec::Pcmu, ptime_ms: 30, te_pt: None });
    sim.send(LegId::A, 0, false, 0, 0, 1, &[1; 160]);
    sim.advance(Duration::from_millis(40));
    sim.send(LegId::A, 0, false, 2, 320, 1, &[3; 160]); // seq 1 lost
    let to_b = sim.audio(LegId::B);
    let bytes: Vec<u8> = to_b.iter().flat_map(|g| g.payload.clone()).collect();
    assert_eq!(bytes, [vec![1; 160], vec![0xFF; 160], vec![3; 160]].concat());
    assert_eq!(sim.bridge.relay_stats(LegId::A).gap_samples_filled, 160);
}

#[test]
fn mute_sends_silence_with_the_same_timing() {
    let mut sim = Sim::new(Sim::pcmu(None), LegSpec { codec: Codec::Pcma, ptime_ms: 20, te_pt: None });
    sim.bridge.set_muted(LegId::B, true);
    sim.send(LegId::B, 8, false, 1, 0, 2, &[0x33; 160]);
    sim.advance(MS20);
    sim.send(LegId::B, 8, false, 2, 160, 2, &[0x33; 160]);
    sim.bridge.set_muted(LegId::B, false);
    sim.send(LegId::B, 8, false, 3, 320, 2, &[0xD5; 160]);
    let to_a = sim.audio(LegId::A);
    assert_eq!(to_a.len(), 3);
    assert!(to_a[..2].iter().all(|g| g.payload == [0xFF; 160]), "mu-law silence");
    assert!(to_a.windows(2).all(|w| w[1].ts.wrapping_sub(w[0].ts) == 160));
    assert_eq!(to_a[2].payload, [g711::linear_to_ulaw(g711::alaw_to_linear(0xD5)); 160]);
    assert_eq!(sim.bridge.relay_stats(LegId::B).muted, 2);
}

#[test]
fn each_leg_keeps_its_own_rtcp_and_media_timeout() {
    let mut sim = Sim::new(Sim::pcmu(None), Sim::pcmu(None));
    for i in 0..1500u16 {
        // Only the caller talks for 30 s.
        sim.send(LegId::A, 0, false, i, 160 * u32::from(i), 1, &[0xFF; 160]);
        sim.advance(MS20);
    }
    for leg in [LegId::A, LegId::B] {
        let rtcp = &sim.rtcp[idx(leg)];
        assert!(rtcp.len() >= 4, "{leg:?} sent {} reports in 30 s", rtcp.len());
        let port = phone(leg).port() + 1;
        assert!(rtcp.iter().all(|to| to.port() == port), "reports to {leg:?}'s own RTCP port");
    }
    assert_eq!(sim.events, [BridgeEvent::MediaTimeout { leg: LegId::B }]);
    assert_eq!(sim.bridge.session(LegId::B).stats().packets_sent, 1500);
}

#[test]
fn garbage_is_counted_never_fatal() {
    let mut sim = Sim::new(Sim::pcmu(Some(101)), Sim::pcmu(Some(101)));
    let mut rng = fastrand::Rng::with_seed(9);
    for _ in 0..2000 {
        let len = rng.usize(0..300);
        let mut bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        if let Some(b) = bytes.first_mut() {
            *b = 0x80 | (*b & 0x3F);
        }
        let leg = if rng.bool() { LegId::A } else { LegId::B };
        sim.bridge.handle_rtp(sim.now, leg, phone(leg), &bytes);
        sim.bridge.handle_rtcp(sim.now, leg, phone(leg), &bytes);
        sim.now += Duration::from_millis(rng.u64(0..5));
        sim.drain();
    }
    assert!(sim.bridge.counters().rtp_errors > 0);
    assert_eq!(sim.bridge.counters().outbox_overflows, 0);
}

// A supervisor's third leg.

fn supervisor_phone() -> SocketAddr {
    "203.0.113.30:60000".parse().expect("literal")
}

fn with_supervisor(mode: MonitorMode) -> Sim {
    let mut sim = Sim::new(Sim::pcmu(None), Sim::pcmu(None));
    let identity = RtpIdentity { ssrc: 0x5EE, first_seq: 1, first_timestamp: 0 };
    let session = RtpSession::new(SessionConfig::new(Codec::Pcma, supervisor_phone()), identity, sim.now, SystemTime::UNIX_EPOCH);
    sim.bridge.attach_monitor(session, mode);
    sim
}

/// One 20 ms step: each listed party's phone sends a constant level.
fn step(sim: &mut Sim, i: u16, caller: i16, agent: i16, supervisor: Option<i16>) {
    if let Some(level) = supervisor {
        let mut bytes = vec![0u8; 12 + 160];
        write_rtp_header(&mut bytes, false, 8, i, 160 * u32::from(i), 0x5EE0);
        bytes[12..].fill(g711::linear_to_alaw(level));
        sim.bridge.handle_monitor_rtp(sim.now, supervisor_phone(), &bytes);
    }
    sim.send(LegId::A, 0, false, i, 160 * u32::from(i), 0xA, &[g711::linear_to_ulaw(caller); 160]);
    sim.send(LegId::B, 0, false, i, 160 * u32::from(i), 0xB, &[g711::linear_to_ulaw(agent); 160]);
    sim.advance(MS20);
}

fn through_ulaw(level: i16) -> i16 {
    g711::ulaw_to_linear(g711::linear_to_ulaw(level))
}

fn through_alaw(level: i16) -> i16 {
    g711::alaw_to_linear(g711::linear_to_alaw(level))
}

#[test]
fn a_listening_supervisor_hears_both_parties_mixed_and_nobody_hears_them() {
    let mut sim = with_supervisor(MonitorMode::Listen);
    for i in 0..10 {
        step(&mut sim, i, 1000, -3000, Some(8000));
    }
    let mixed = g711::linear_to_alaw(through_ulaw(1000) + through_ulaw(-3000));
    assert_eq!(sim.supervisor.len(), 11, "one frame per 20 ms on the supervisor's grid");
    assert_eq!((sim.audio(LegId::A).len(), sim.audio(LegId::B).len()), (10, 10));
    assert!(sim.supervisor[2..].iter().all(|p| p == &vec![mixed; 160]), "{:?}", &sim.supervisor[..3]);
    assert!(sim.audio(LegId::A).iter().all(|g| g.payload == [g711::linear_to_ulaw(-3000); 160]));
    assert!(sim.audio(LegId::B).iter().all(|g| g.payload == [g711::linear_to_ulaw(1000); 160]));
}

#[test]
fn a_whispering_supervisor_is_heard_by_the_agent_only_and_barge_by_both() {
    let mut sim = with_supervisor(MonitorMode::Whisper);
    for i in 0..5 {
        step(&mut sim, i, 1000, -3000, Some(500));
    }
    let coached = g711::linear_to_ulaw(through_ulaw(1000) + through_alaw(500));
    assert_eq!((sim.audio(LegId::A).len(), sim.audio(LegId::B).len()), (5, 5));
    assert!(sim.audio(LegId::B).iter().all(|g| g.payload == [coached; 160]));
    assert!(sim.audio(LegId::A).iter().all(|g| g.payload == [g711::linear_to_ulaw(-3000); 160]));

    sim.bridge.set_monitor_mode(MonitorMode::Barge);
    let before = (sim.audio(LegId::A).len(), sim.audio(LegId::B).len());
    for i in 5..10 {
        step(&mut sim, i, 1000, -3000, Some(500));
    }
    let joined = g711::linear_to_ulaw(through_ulaw(-3000) + through_alaw(500));
    assert_eq!((sim.audio(LegId::A).len(), sim.audio(LegId::B).len()), (10, 10));
    assert!(sim.audio(LegId::A)[before.0..].iter().all(|g| g.payload == [joined; 160]));
    assert!(sim.audio(LegId::B)[before.1..].iter().all(|g| g.payload == [coached; 160]));
    // The supervisor never hears their own voice back.
    let mixed = g711::linear_to_alaw(through_ulaw(1000) + through_ulaw(-3000));
    assert!(sim.supervisor[2..].iter().all(|p| p == &vec![mixed; 160]));
    assert_eq!(sim.bridge.detach_monitor().map(|s| s.identity().ssrc), Some(0x5EE));
    assert_eq!(sim.bridge.monitor_mode(), None);
}

#[test]
fn back_to_listening_or_gone_the_supervisor_is_heard_by_nobody_and_the_call_relays_untouched() {
    let mut sim = with_supervisor(MonitorMode::Barge);
    for i in 0..5 {
        step(&mut sim, i, 1000, -3000, Some(500));
    }
    let joined = g711::linear_to_ulaw(through_ulaw(-3000) + through_alaw(500));
    assert!(sim.audio(LegId::A).iter().all(|g| g.payload == [joined; 160]), "barge: the caller hears the supervisor");

    // Switched to listening mid-call: from the next frame on, nobody hears them.
    sim.bridge.set_monitor_mode(MonitorMode::Listen);
    let before = (sim.audio(LegId::A).len(), sim.audio(LegId::B).len());
    for i in 5..10 {
        step(&mut sim, i, 1000, -3000, Some(500));
    }
    assert!(sim.audio(LegId::A)[before.0..].iter().all(|g| g.payload == [g711::linear_to_ulaw(-3000); 160]));
    assert!(sim.audio(LegId::B)[before.1..].iter().all(|g| g.payload == [g711::linear_to_ulaw(1000); 160]));

    // The supervisor leaves: the two parties go on as a plain relay, and
    // no more frames go to the supervisor.
    assert!(sim.bridge.detach_monitor().is_some());
    let (a, b, heard) = (sim.audio(LegId::A).len(), sim.audio(LegId::B).len(), sim.supervisor.len());
    for i in 10..15 {
        step(&mut sim, i, 1000, -3000, None);
    }
    assert_eq!((sim.audio(LegId::A).len() - a, sim.audio(LegId::B).len() - b), (5, 5));
    assert!(sim.audio(LegId::A)[a..].iter().all(|g| g.payload == [g711::linear_to_ulaw(-3000); 160]));
    assert!(sim.audio(LegId::B)[b..].iter().all(|g| g.payload == [g711::linear_to_ulaw(1000); 160]));
    assert_eq!(sim.supervisor.len(), heard, "a detached supervisor gets nothing more");
}
