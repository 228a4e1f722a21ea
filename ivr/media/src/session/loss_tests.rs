//! RFC 3550 A.3 loss as the call record reports it, on a simulated clock:
//! a peer like our load generator sends a 20 ms grid of audio and presses
//! keys as RFC 4733 events in the same stream (one SSRC, one sequence
//! space), and may stop at any time before the BYE.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use super::{RTCP_BUFFER_LEN, RtpIdentity, RtpSession, SessionConfig};
use crate::Codec;
use crate::rtcp;
use crate::rtp::RtpHeader;

const EVENT_PT: u8 = 101;
const SLOT: Duration = Duration::from_millis(20);

fn peer_addr() -> SocketAddr {
    "198.51.100.7:5555".parse().expect("test address")
}

fn session(t0: Instant) -> RtpSession {
    let mut config = SessionConfig::new(Codec::Pcmu, peer_addr());
    config.telephone_event_pt = Some(EVENT_PT);
    let identity = RtpIdentity { ssrc: 0xABCD, first_seq: 100, first_timestamp: 1000 };
    RtpSession::new(config, identity, t0, SystemTime::UNIX_EPOCH)
}

/// The caller's sending side: one packet per 20 ms slot, audio or, while
/// a key is pressed, an RFC 4733 event (five packets of growing duration,
/// the end packet three times: seven sequence numbers per key).
struct Peer {
    ssrc: u32,
    seq: u16,
    timestamp: u32,
    at: Instant,
}

impl Peer {
    fn new(t0: Instant, first_seq: u16) -> Peer {
        Peer { ssrc: 0x5EED, seq: first_seq, timestamp: 8000, at: t0 }
    }

    fn packet(&mut self, payload_type: u8, timestamp: u32, payload: &[u8]) -> (Instant, Vec<u8>) {
        let header = RtpHeader { marker: false, payload_type, sequence: self.seq, timestamp, ssrc: self.ssrc };
        let mut buf = vec![0u8; 12 + payload.len()];
        header.write_packet(payload, &mut buf).expect("fits");
        self.seq = self.seq.wrapping_add(1);
        let at = self.at;
        self.at += SLOT;
        (at, buf)
    }

    fn audio(&mut self, slots: usize) -> Vec<(Instant, Vec<u8>)> {
        (0..slots)
            .map(|_| {
                let ts = self.timestamp;
                self.timestamp = self.timestamp.wrapping_add(160);
                self.packet(0, ts, &[0xFF; 160])
            })
            .collect()
    }

    fn key(&mut self, code: u8) -> Vec<(Instant, Vec<u8>)> {
        let start = self.timestamp;
        let packets = (0..7u16)
            .map(|slot| {
                let end = if slot >= 4 { 0x80 } else { 0 };
                let duration = 160 * (slot + 1).min(5);
                self.packet(EVENT_PT, start, &[code, end | 10, (duration >> 8) as u8, duration as u8])
            })
            .collect();
        self.timestamp = self.timestamp.wrapping_add(7 * 160);
        packets
    }
}

fn deliver(s: &mut RtpSession, packets: &[(Instant, Vec<u8>)]) {
    for (at, bytes) in packets {
        s.handle_rtp(*at, peer_addr(), bytes).expect("valid RTP");
    }
}

/// The cumulative loss in the receiver report we would send at `now`.
fn reported_loss(s: &mut RtpSession, now: Instant) -> i32 {
    let mut buf = [0u8; RTCP_BUFFER_LEN];
    let (_, len) = s.poll_rtcp(now, &mut buf).expect("a report is due");
    let summary = rtcp::parse_compound(&buf[..len], 0x5EED).expect("our own report parses");
    summary.report_about_us.expect("a block about the caller's stream").cumulative_lost
}

#[test]
fn key_presses_in_the_audio_stream_are_not_loss() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut peer = Peer::new(t0, 1000);
    let mut sent = peer.audio(50);
    for code in [1, 2, 11] {
        sent.extend(peer.key(code));
        sent.extend(peer.audio(10));
    }
    deliver(&mut s, &sent);
    let stats = s.stats();
    assert_eq!(stats.telephone_event_packets_received, 21);
    // The first packet only validates the source (A.1 probation).
    assert_eq!((stats.expected, stats.lost), (sent.len() as u64 - 1, 0));
    assert_eq!((stats.duplicates, stats.out_of_order), (0, 0));
}

#[test]
fn a_lost_event_packet_is_lost_like_an_audio_packet() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut peer = Peer::new(t0, 1000);
    let mut sent = peer.audio(20);
    let mut key = peer.key(5);
    key.remove(2);
    sent.extend(key);
    sent.extend(peer.audio(20));
    sent.remove(30); // and one audio packet after the key
    deliver(&mut s, &sent);
    assert_eq!(s.stats().lost, 2);
}

#[test]
fn a_peer_that_stops_sending_before_the_bye_has_lost_nothing() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut peer = Peer::new(t0, 1000);
    let mut sent = peer.audio(100);
    // The caller's last act: a key, then silence until someone hangs up.
    sent.extend(peer.key(9));
    deliver(&mut s, &sent);
    let silent_until = peer.at + Duration::from_secs(25);
    assert_eq!(reported_loss(&mut s, silent_until), 0);
    assert_eq!(s.stats().lost, 0);
    // Our BYE (or theirs) changes nothing either.
    let mut buf = [0u8; RTCP_BUFFER_LEN];
    s.rtcp_bye(&mut buf).expect("a BYE fits");
    assert_eq!((s.stats().expected, s.stats().lost), (106, 0));
}

#[test]
fn a_wrapped_sequence_loses_nothing_even_with_a_key_across_the_wrap() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut peer = Peer::new(t0, 65_530);
    let mut sent = peer.audio(3);
    sent.extend(peer.key(0)); // 65_533 ..= 3
    sent.extend(peer.audio(10));
    deliver(&mut s, &sent);
    let stats = s.stats();
    assert_eq!((stats.expected, stats.lost), (19, 0));
}

#[test]
fn a_duplicate_is_not_loss_and_does_not_count_as_expected() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut peer = Peer::new(t0, 1000);
    let mut sent = peer.audio(10);
    let again = sent[6].clone();
    sent.insert(8, again);
    deliver(&mut s, &sent);
    let stats = s.stats();
    assert_eq!(stats.duplicates, 1);
    // A.3 counts duplicates as received: the loss may go negative, never up.
    assert_eq!((stats.expected, stats.lost), (9, -1));
}

#[test]
fn a_late_packet_fills_the_gap_it_left() {
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut peer = Peer::new(t0, 1000);
    let mut sent = peer.audio(10);
    let late = sent.remove(5);
    deliver(&mut s, &sent);
    let report_at = peer.at + Duration::from_secs(4);
    assert_eq!(reported_loss(&mut s, report_at), 1);
    deliver(&mut s, &[(report_at, late.1)]);
    let stats = s.stats();
    assert_eq!((stats.expected, stats.lost, stats.out_of_order), (9, 0, 1));
}

#[test]
fn events_on_another_ssrc_leave_the_audio_statistics_alone() {
    // SIPp's DTMF pcaps: their own SSRC, sequence numbers repeated per digit.
    let t0 = Instant::now();
    let mut s = session(t0);
    let mut peer = Peer::new(t0, 1000);
    let audio = peer.audio(20);
    let mut dtmf = Peer::new(t0 + Duration::from_millis(100), 7);
    dtmf.ssrc = 0xD7F;
    let first = dtmf.key(1);
    let mut repeat = Peer::new(dtmf.at, 7);
    repeat.ssrc = 0xD7F;
    let second = repeat.key(1);
    deliver(&mut s, &audio[..10]);
    deliver(&mut s, &first);
    deliver(&mut s, &second);
    deliver(&mut s, &audio[10..]);
    let stats = s.stats();
    assert_eq!(stats.telephone_event_packets_received, 14);
    assert_eq!((stats.expected, stats.lost, stats.duplicates), (19, 0, 0));
}
