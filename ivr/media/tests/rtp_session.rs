//! Scenario tests for `RtpSession` on a simulated clock and network: the
//! send grid, catch-up, latching, receive statistics, RTCP and the media
//! timeout. Time only ever moves by adding durations to one `Instant`.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ivr_media::Codec;
use ivr_media::rtcp::{self, Report, ReportBlock, SenderInfo, parse_compound};
use ivr_media::rtp::{RtpHeader, RtpPacket};
use ivr_media::session::{PacketKind, RtpIdentity, RtpSession, SessionConfig};

const FRAME: Duration = Duration::from_millis(20);
const OUR_SSRC: u32 = 0x0102_0304;
const PEER_SSRC: u32 = 0x5555_0001;

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("test address")
}

fn config() -> SessionConfig {
    let mut c = SessionConfig::new(Codec::Pcmu, addr("192.0.2.10:40000"));
    c.telephone_event_pt = Some(101);
    c.media_timeout = Duration::from_secs(5);
    c
}

fn identity(first_seq: u16, first_timestamp: u32) -> RtpIdentity {
    RtpIdentity { ssrc: OUR_SSRC, first_seq, first_timestamp }
}

fn wallclock() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn peer_packet(pt: u8, seq: u16, ts: u32, ssrc: u32) -> Vec<u8> {
    let mut buf = vec![0u8; 12 + 160];
    let n = RtpHeader { marker: false, payload_type: pt, sequence: seq, timestamp: ts, ssrc }
        .write_packet(&[0xFF; 160], &mut buf)
        .expect("fits");
    buf.truncate(n);
    buf
}

/// Sends `count` packets, waking `late` after each deadline; returns the
/// parsed (seq, ts, marker) and send instants.
fn drive(s: &mut RtpSession, count: usize, late: Duration) -> Vec<(u16, u32, bool, Instant)> {
    let mut out = Vec::with_capacity(count);
    let mut buf = [0u8; 200];
    for _ in 0..count {
        let now = s.next_send_at() + late;
        let (_, n) = s.poll_rtp(now, &[0xFF; 160], &mut buf).expect("due");
        let p = RtpPacket::parse(&buf[..n]).expect("our packets parse");
        out.push((p.sequence, p.timestamp, p.marker, now));
        assert_eq!(s.send_lateness(), late);
        if late < FRAME {
            assert_eq!(s.poll_rtp(now, &[0xFF; 160], &mut buf), None, "one packet per slot");
        }
    }
    out
}

fn assert_contiguous(sent: &[(u16, u32, bool, Instant)], t0: Instant, late: Duration) {
    for (i, (seq, ts, marker, at)) in sent.iter().enumerate() {
        let i32_ = i as u32;
        assert_eq!(*seq, 65_000u16.wrapping_add(i as u16), "seq of packet {i}");
        assert_eq!(*ts, (u32::MAX - 1000).wrapping_add(i32_ * 160), "timestamp of packet {i}");
        assert_eq!(*marker, i == 0, "marker only on the first packet");
        assert_eq!(*at, t0 + FRAME * i32_ + late, "packet {i} on the grid");
    }
}

#[test]
fn ten_thousand_packets_at_exact_deadlines_are_contiguous_and_on_the_grid() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(65_000, u32::MAX - 1000), t0, wallclock());
    let sent = drive(&mut s, 10_000, Duration::ZERO);
    assert_contiguous(&sent, t0, Duration::ZERO);
    assert_eq!(s.next_send_at(), t0 + FRAME * 10_000);
    let stats = s.stats();
    assert_eq!((stats.packets_sent, stats.octets_sent, stats.late_frames_skipped), (10_000, 1_600_000, 0));
    assert_eq!(stats.max_send_lateness, Duration::ZERO);
}

#[test]
fn waking_7_ms_late_every_time_keeps_a_zero_drift_grid() {
    let t0 = Instant::now();
    let late = Duration::from_millis(7);
    let mut s = RtpSession::new(config(), identity(65_000, u32::MAX - 1000), t0, wallclock());
    let sent = drive(&mut s, 10_000, late);
    assert_contiguous(&sent, t0, late);
    assert_eq!(s.next_send_at(), t0 + FRAME * 10_000, "no accumulated drift");
    assert_eq!(s.stats().max_send_lateness, late);
}

#[test]
fn a_100_ms_stall_skips_the_missed_slots_instead_of_bursting() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    let before = drive(&mut s, 10, Duration::ZERO);
    let mut buf = [0u8; 200];
    // Slot 10 was due at 200 ms; we wake at 300 ms: 5 frames late > 3.
    let now = t0 + Duration::from_millis(300);
    let (_, n) = s.poll_rtp(now, &[0; 160], &mut buf).expect("due");
    let p = RtpPacket::parse(&buf[..n]).expect("valid");
    assert_eq!(p.sequence, before[9].0 + 1, "sequence stays contiguous");
    assert_eq!(p.timestamp, 15 * 160, "timestamp jumps to the slot in progress");
    assert_eq!(s.send_lateness(), Duration::ZERO);
    assert_eq!(s.poll_rtp(now, &[0; 160], &mut buf), None, "no burst");
    assert_eq!(s.stats().late_frames_skipped, 5);
    assert_eq!(s.next_send_at(), t0 + FRAME * 16);
}

#[test]
fn up_to_three_late_frames_are_sent_back_to_back() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    drive(&mut s, 1, Duration::ZERO);
    let now = t0 + FRAME + Duration::from_millis(60); // slot 1, 3 frames late
    let mut buf = [0u8; 200];
    let mut stamps = Vec::new();
    while let Some((_, n)) = s.poll_rtp(now, &[0; 160], &mut buf) {
        stamps.push(RtpPacket::parse(&buf[..n]).expect("valid").timestamp);
    }
    assert_eq!(stamps, vec![160, 320, 480, 640]);
    assert_eq!(s.stats().late_frames_skipped, 0);
    assert_eq!(s.stats().max_send_lateness, Duration::from_millis(60));
}

#[test]
fn mark_talkspurt_sets_the_marker_on_the_next_packet_only() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    drive(&mut s, 2, Duration::ZERO);
    s.mark_talkspurt();
    let markers: Vec<bool> = drive(&mut s, 2, Duration::ZERO).iter().map(|p| p.2).collect();
    assert_eq!(markers, vec![true, false]);
}

#[test]
fn symmetric_rtp_latches_once_to_the_first_source_address() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    assert_eq!(s.remote(), (addr("192.0.2.10:40000"), addr("192.0.2.10:40001")));
    let nat = addr("198.51.100.7:5555");
    s.handle_rtp(t0, nat, &peer_packet(0, 1, 0, PEER_SSRC)).expect("valid");
    assert_eq!(s.remote(), (nat, addr("198.51.100.7:5556")));
    assert!(s.stats().latched);

    let stranger = addr("203.0.113.9:7000");
    let event = peer_packet(101, 9, 0, 77);
    let got = s.handle_rtp(t0, stranger, &event).expect("accepted");
    assert_eq!(got.kind, PacketKind::TelephoneEvent);
    assert_eq!(s.remote().0, nat, "no re-latch after the first packet");
    let mut buf = [0u8; 200];
    assert_eq!(s.poll_rtp(t0, &[0; 160], &mut buf).map(|(to, _)| to), Some(nat));

    // A re-INVITE moves the peer and re-arms the latch.
    s.set_remote(addr("192.0.2.20:50000"), None);
    assert_eq!(s.remote(), (addr("192.0.2.20:50000"), addr("192.0.2.20:50001")));
    s.handle_rtp(t0, stranger, &peer_packet(0, 2, 160, PEER_SSRC)).expect("valid");
    assert_eq!(s.remote().0, stranger);
}

#[test]
fn rtcp_that_arrived_first_keeps_its_own_address() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    let mut buf = [0u8; 128];
    let n = Report { ssrc: PEER_SSRC, sender_info: None, block: None, cname: "peer", bye: false }
        .write(&mut buf)
        .expect("fits");
    s.handle_rtcp(t0, addr("198.51.100.7:7001"), &buf[..n]).expect("valid");
    s.handle_rtp(t0, addr("198.51.100.7:6000"), &peer_packet(0, 1, 0, PEER_SSRC)).expect("valid");
    assert_eq!(s.remote(), (addr("198.51.100.7:6000"), addr("198.51.100.7:7001")));
}

#[test]
fn malformed_rtp_is_an_error_and_does_not_latch_or_refresh() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    assert!(s.handle_rtp(t0 + Duration::from_secs(4), addr("198.51.100.7:5555"), &[0x80, 0]).is_err());
    assert_eq!(s.remote().0, addr("192.0.2.10:40000"));
    assert_eq!(s.media_timeout_at(), t0 + Duration::from_secs(5));
}

/// One arrival on the simulated network: when, which packet index.
struct Arrival {
    at: Instant,
    index: u32,
}

/// 2,000 packets of 20 ms from the peer, starting at sequence 65,000 so
/// the sequence wraps: 5 % loss, 2 % duplication, 40 ms base delay plus up
/// to 30 ms of uniform jitter (which reorders neighbours). The first two
/// packets pass cleanly so that probation ends at packet 1.
fn simulated_network(t0: Instant, seed: u64) -> Vec<Arrival> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut arrivals = Vec::new();
    for index in 0..2_000u32 {
        let sent = t0 + FRAME * index;
        let clean = index < 2;
        if !clean && rng.f64() < 0.05 {
            continue;
        }
        let delay = |rng: &mut fastrand::Rng| {
            Duration::from_millis(40) + if clean { Duration::ZERO } else { Duration::from_micros(rng.u64(0..30_000)) }
        };
        arrivals.push(Arrival { at: sent + delay(&mut rng), index });
        if !clean && rng.f64() < 0.02 {
            arrivals.push(Arrival { at: sent + delay(&mut rng), index });
        }
    }
    arrivals.sort_by_key(|a| a.at);
    arrivals
}

#[test]
fn loss_duplicates_reordering_and_jitter_match_the_simulated_network() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    let peer = addr("198.51.100.7:5555");
    let first_ts = 123_456u32;
    let arrivals = simulated_network(t0, 42);

    // The oracle, from the arrival log alone.
    let mut seen = std::collections::HashSet::new();
    let (mut highest, mut duplicates, mut out_of_order) = (0u32, 0u64, 0u64);
    let mut jitter = 0f64;
    let mut transit_prev: Option<i64> = None;
    for (k, a) in arrivals.iter().enumerate() {
        if !seen.insert(a.index) {
            duplicates += 1;
        } else if a.index < highest {
            out_of_order += 1;
        }
        highest = highest.max(a.index);
        if k >= 1 {
            // A.8 in floating point, arrival clock in 8 kHz units since t0.
            let arrival = ((a.at - t0).as_nanos() * 8000 / 1_000_000_000) as i64;
            let transit = arrival - i64::from(a.index * 160);
            if let Some(prev) = transit_prev {
                jitter += ((transit - prev).abs() as f64 - jitter) / 16.0;
            }
            transit_prev = Some(transit);
        }
    }
    // Packet 0 is the probation packet: not counted; packet 1 is the base.
    let expected = u64::from(highest);
    let received = arrivals.len() as u64 - 1;
    let lost = expected as i64 - received as i64;
    assert!(duplicates > 0 && out_of_order > 0 && lost > 0, "the seed exercises every effect");

    for a in &arrivals {
        let seq = 65_000u16.wrapping_add(a.index as u16);
        let ts = first_ts.wrapping_add(a.index * 160);
        let packet = peer_packet(0, seq, ts, PEER_SSRC);
        let got = s.handle_rtp(a.at, peer, &packet).expect("valid");
        assert_eq!(got.kind, PacketKind::Audio);
    }
    let stats = s.stats();
    assert_eq!(stats.audio_packets_received, arrivals.len() as u64);
    assert_eq!(stats.expected, expected);
    assert_eq!(stats.lost, lost);
    assert_eq!(stats.duplicates, duplicates);
    assert_eq!(stats.out_of_order, out_of_order);
    let oracle_ms = jitter / 8.0;
    assert!((stats.jitter_ms - oracle_ms).abs() < 0.25, "jitter {} ms vs oracle {oracle_ms} ms", stats.jitter_ms);

    // The receiver report carries the same numbers (A.3 fraction over the
    // single interval since the start).
    let end = arrivals.last().expect("arrivals").at;
    let mut buf = [0u8; 128];
    let (to, n) = s.poll_rtcp(end, &mut buf).expect("RTCP due long ago");
    assert_eq!(to, addr("198.51.100.7:5556"));
    let report = parse_compound(&buf[..n], PEER_SSRC).expect("valid");
    assert_eq!(buf[1], rtcp::PT_RR, "nothing sent, so an RR");
    let block = report.report_about_us.expect("block about the peer");
    assert_eq!(i64::from(block.cumulative_lost), lost);
    assert_eq!(block.extended_highest_seq, 65_000 + highest);
    assert_eq!(u64::from(block.fraction_lost), (lost as u64 * 256) / expected);
    assert_eq!(s.stats().fraction_lost, block.fraction_lost);
}

#[test]
fn telephone_events_on_another_ssrc_with_repeated_sequences_leave_audio_stats_alone() {
    let t0 = Instant::now();
    let peer = addr("198.51.100.7:5555");
    let mut plain = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    let mut with_dtmf = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    for i in 0..100u32 {
        let at = t0 + FRAME * i;
        let audio = peer_packet(0, 500 + i as u16, i * 160, PEER_SSRC);
        plain.handle_rtp(at, peer, &audio).expect("valid");
        with_dtmf.handle_rtp(at, peer, &audio).expect("valid");
        if (40..50).contains(&i) {
            // SIPp-style: its own SSRC, and the end packet sent three times
            // with the same sequence number (RFC 4733 §2.5.1.4).
            let seq = if i < 47 { 9_000 + i as u16 } else { 9_047 };
            let event = peer_packet(101, seq, 40 * 160, 0xDDDD_0000);
            let got = with_dtmf.handle_rtp(at + Duration::from_millis(3), peer, &event).expect("valid");
            assert_eq!(got.kind, PacketKind::TelephoneEvent);
            assert_eq!(got.packet.ssrc, 0xDDDD_0000);
        }
    }
    let (a, b) = (plain.stats(), with_dtmf.stats());
    assert_eq!(b.telephone_event_packets_received, 10);
    assert_eq!(b.packets_received, a.packets_received + 10);
    assert_eq!((b.expected, b.lost, b.duplicates, b.out_of_order), (a.expected, a.lost, a.duplicates, a.out_of_order));
    assert_eq!((b.expected, b.lost, b.jitter_ms), (99, 0, 0.0));
    assert_eq!(a.jitter_ms, b.jitter_ms);
}

#[test]
fn media_timeout_fires_after_the_configured_silence_but_not_during_hold() {
    let t0 = Instant::now();
    let peer = addr("198.51.100.7:5555");
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    let last = t0 + Duration::from_secs(2);
    s.handle_rtp(last, peer, &peer_packet(0, 1, 0, PEER_SSRC)).expect("valid");
    assert_eq!(s.media_timeout_at(), last + Duration::from_secs(5));
    assert!(!s.is_media_timed_out(last + Duration::from_millis(4_999)));
    assert!(s.is_media_timed_out(last + Duration::from_secs(5)));
    assert!(s.poll_timeout() <= s.media_timeout_at());

    // RTCP alone keeps the call alive too.
    let mut buf = [0u8; 128];
    let n = Report { ssrc: PEER_SSRC, sender_info: None, block: None, cname: "peer", bye: false }
        .write(&mut buf)
        .expect("fits");
    s.handle_rtcp(last + Duration::from_secs(4), peer, &buf[..n]).expect("valid");
    assert!(!s.is_media_timed_out(last + Duration::from_secs(8)));

    s.set_sending(false);
    let far = last + Duration::from_secs(600);
    assert!(!s.is_media_timed_out(far), "a held caller sends nothing");
    assert!(s.poll_timeout() < far, "RTCP still scheduled while held");
}

#[test]
fn sender_report_counts_what_we_sent_and_echoes_the_peer_sr() {
    let t0 = Instant::now();
    let peer = addr("198.51.100.7:5555");
    let mut s = RtpSession::new(config(), identity(7, 1_000), t0, wallclock());
    drive(&mut s, 100, Duration::ZERO);

    // The peer's SR, then a report block about our stream.
    let peer_ntp = 0x1111_2222_3333_4444u64;
    let sr_at = t0 + Duration::from_millis(1_000);
    let about_us = ReportBlock { ssrc: OUR_SSRC, fraction_lost: 25, cumulative_lost: 3, jitter: 40, ..ReportBlock::default() };
    let mut buf = [0u8; 128];
    let n = Report {
        ssrc: PEER_SSRC,
        sender_info: Some(SenderInfo { ntp: peer_ntp, rtp_timestamp: 0, packet_count: 1, octet_count: 160 }),
        block: Some(about_us),
        cname: "peer",
        bye: false,
    }
    .write(&mut buf)
    .expect("fits");
    s.handle_rtcp(sr_at, addr("198.51.100.7:5556"), &buf[..n]).expect("valid");
    let stats = s.stats();
    assert_eq!((stats.peer_fraction_lost, stats.peer_cumulative_lost, stats.peer_jitter_ms), (Some(25), Some(3), Some(5.0)));
    // Two audio packets from the peer so a report block exists.
    s.handle_rtp(sr_at, peer, &peer_packet(0, 10, 0, PEER_SSRC)).expect("valid");
    s.handle_rtp(sr_at + FRAME, peer, &peer_packet(0, 11, 160, PEER_SSRC)).expect("valid");

    // Stop the RTP grid so the next deadline is the first report.
    s.set_sending(false);
    let now = s.poll_timeout();
    let elapsed = now - t0;
    assert!(now > sr_at + FRAME);
    let (to, n) = s.poll_rtcp(now, &mut buf).expect("due");
    assert_eq!(to, addr("198.51.100.7:5556"));
    assert_eq!(buf[1], rtcp::PT_SR, "we sent since the last report");
    let report = parse_compound(&buf[..n], PEER_SSRC).expect("valid");
    let info = report.sender_info.expect("SR");
    assert_eq!((info.packet_count, info.octet_count), (100, 16_000));
    let media_clock = (elapsed.as_nanos() * 8_000 / 1_000_000_000) as u32;
    assert_eq!(info.rtp_timestamp, 1_000 + media_clock, "RTP time of the same instant as the NTP time");
    assert_eq!(info.ntp, rtcp::ntp_from_system_time(wallclock() + elapsed));
    let block = report.report_about_us.expect("block");
    assert_eq!(block.last_sr, rtcp::ntp_middle(peer_ntp));
    assert_eq!(block.delay_since_last_sr, rtcp::dlsr_units(now - sr_at));
    assert_eq!((block.cumulative_lost, block.extended_highest_seq), (0, 11));

    // Nothing sent since: the next report is an RR, within 0.5..1.5 × 5 s.
    let next = s.poll_timeout();
    assert!(next >= now + Duration::from_millis(2_500) && next < now + Duration::from_millis(7_500));
    assert_eq!(s.poll_rtcp(next - Duration::from_nanos(1), &mut buf), None);
    let (_, n) = s.poll_rtcp(next, &mut buf).expect("due");
    assert_eq!(buf[1], rtcp::PT_RR);
    assert!(parse_compound(&buf[..n], PEER_SSRC).is_ok());
}

#[test]
fn bye_at_hangup_is_a_valid_compound() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    let mut buf = [0u8; 128];
    let (to, n) = s.rtcp_bye(&mut buf).expect("bye");
    assert_eq!(to, addr("192.0.2.10:40001"));
    let summary = parse_compound(&buf[..n], 0).expect("valid");
    assert!(summary.bye);
    assert_eq!(summary.sender_ssrc, Some(OUR_SSRC));
}

#[test]
fn the_first_rtcp_report_comes_within_half_a_randomised_interval() {
    let t0 = Instant::now();
    let mut s = RtpSession::new(config(), identity(1, 0), t0, wallclock());
    let mut buf = [0u8; 200];
    // Stop RTP so that RTCP is the earliest deadline.
    s.set_sending(false);
    let first = s.poll_timeout();
    assert!(first >= t0 + Duration::from_millis(1_250) && first < t0 + Duration::from_millis(3_750));
    assert!(s.poll_rtcp(first, &mut buf).is_some());
}
