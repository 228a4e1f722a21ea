//! Calls from SIPp: what the caller hears, and the digits the server
//! recognises in each of the three ways a caller can send them.

use std::time::{Duration, Instant};

use loadtest::generate::{Law, PcapSpec};
use loadtest::rtp;

use crate::server::{Server, ServerConfig};
use crate::sipp::{Capture, Sipp};
use crate::support::{self, TempDir};

const DIGITS: &str = "ivr_dtmf_digits_total";

fn sipp_and_tcpdump() -> bool {
    support::sipp_and_sox() && support::peer_available("tcpdump", "tcpdump")
}

/// The one RTP stream the server sent to `media_port`.
fn server_stream(datagrams: &[loadtest::pcap::UdpDatagram], server: &Server, media_port: u16) -> rtp::RtpStream {
    let streams: Vec<rtp::RtpStream> = rtp::streams(datagrams).into_iter().filter(|s| s.key.dst.port() == media_port).collect();
    assert_eq!(
        streams.len(),
        1,
        "expected one RTP stream from the server to the caller's port {media_port}, got {:?}\n{}",
        streams.iter().map(|s| s.key).collect::<Vec<_>>(),
        server.log_tail()
    );
    streams.into_iter().next().expect("one stream")
}

/// Asserts that the server's stream is G.711 of `payload_type` in 20 ms
/// packets, without loss, on its send grid.
fn assert_clean_20ms_stream(stream: &rtp::RtpStream, payload_type: u8) {
    let stats = rtp::analyse(stream, 8000);
    assert_eq!(stats.payload_type, Some(payload_type), "the server must send the codec the caller offered first");
    let audio: Vec<_> = stream.packets.iter().filter(|(_, p)| p.payload_type == payload_type).collect();
    assert!(audio.iter().all(|(_, p)| p.payload.len() == 160), "the server always sends 20 ms (160-byte) G.711 packets");
    assert_eq!((stats.lost, stats.duplicates), (0, 0), "loss or duplicates on loopback: {stats:?}");
    assert!((stats.interval_p50_ms - 20.0).abs() < 2.0, "median packet interval {:.2} ms", stats.interval_p50_ms);
    let mut deviations = stats.deviations_ms.clone();
    deviations.sort_by(f64::total_cmp);
    let p50 = rtp::percentile(&deviations, 50.0);
    let p99 = rtp::percentile(&deviations, 99.0);
    let max = deviations.last().copied().unwrap_or(0.0);
    // Loose bounds, and p99 rather than max: the machine is shared with
    // compilers, whose load delays single wake-ups. A grid that drifts
    // (sleeping 20 ms after each send) grows without bound and fails.
    assert!(p50 < 10.0 && p99 < 40.0, "send-grid deviation p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms");
}

#[test]
fn pcmu_20ms_caller_hears_the_welcome_prompt_on_a_clean_20ms_grid() {
    if !sipp_and_tcpdump() {
        return;
    }
    let server = Server::start(&ServerConfig { idle_hangup_secs: 10, ..ServerConfig::default() });
    let refs = TempDir::new("refs");
    let welcome = support::reference(&refs, "welcome");
    let other = support::reference(&refs, "digit-7");
    let mut sipp = Sipp::new(server.sip, "uac_play.xml");
    let mut spec = PcapSpec::new(Law::Pcmu, 20);
    spec.silence_ms = 3_000;
    sipp.generated_pcap("audio.pcap", &spec).key("offer", "0 101").call_ms(3_500);
    let capture = Capture::start(&sipp.dir, "heard.pcap", &format!("udp and dst port {}", sipp.media_port));
    let calls_before = server.metric("ivr_calls_total", &[]);

    sipp.run_ok(Duration::from_secs(20));

    let stream = server_stream(&capture.stop(), &server, sipp.media_port);
    assert_clean_20ms_stream(&stream, 0);
    let heard = stream.decode_g711();
    let found = support::assert_contains(&heard, &welcome, "welcome", 0.8);
    assert!(found.offset < 8_000, "the welcome prompt should start within 1 s of the answer, not {:.2} s", found.offset as f64 / 8000.0);
    let wrong = loadtest::audio::find(&heard, &other).expect("the call is longer than a digit prompt");
    assert!(wrong.score < found.score - 0.2, "a prompt that was not played matches too well: {wrong:?} vs {found:?}");
    assert_eq!(server.metric("ivr_calls_total", &[]), calls_before + 1.0);
    support::wait_for("the call to end after the caller's BYE", Duration::from_secs(5), || {
        (server.metric("ivr_calls_active", &[]) == 0.0).then_some(())
    });
    server.stop(Duration::from_secs(5));
}

#[test]
fn pcma_30ms_caller_sends_rfc4733_digits_counted_once_each_and_read_back() {
    if !sipp_and_tcpdump() {
        return;
    }
    let server = Server::start(&ServerConfig { idle_hangup_secs: 10, ..ServerConfig::default() });
    let refs = TempDir::new("refs");
    let read_back = support::reference(&refs, "digit-1");
    let mut sipp = Sipp::new(server.sip, "uac_rfc4733.xml");
    let pcaps = std::path::Path::new("/usr/share/sip-tester");
    // SIPp's own captures: PCMA in 30 ms packets; each digit a different
    // SSRC from the audio; "1" twice repeats its sequence numbers.
    sipp.pcap("audio.pcap", &pcaps.join("g711a.pcap"))
        .pcap("dtmf1.pcap", &pcaps.join("dtmf_2833_1.pcap"))
        .pcap("dtmf2.pcap", &pcaps.join("dtmf_2833_5.pcap"))
        .pcap("dtmf3.pcap", &pcaps.join("dtmf_2833_1.pcap"))
        .key("offer", "8 101")
        .key("ptime", "30")
        .call_ms(2_500);
    let capture = Capture::start(&sipp.dir, "heard.pcap", &format!("udp and dst port {}", sipp.media_port));
    let before = server.metric(DIGITS, &[("method", "rfc4733")]);

    sipp.run_ok(Duration::from_secs(30));

    let stream = server_stream(&capture.stop(), &server, sipp.media_port);
    assert_clean_20ms_stream(&stream, 8);
    let counted = server.metric(DIGITS, &[("method", "rfc4733")]) - before;
    assert_eq!(
        counted, 3.0,
        "three RFC 4733 digits sent (1, 5, 1), each to be counted exactly once; the second 1 is SIPp's \
         dtmf_2833_1.pcap again, with the same SSRC, sequence numbers and timestamp as the first \
         (PEERS.md pitfall 5): a new key press all the same"
    );
    assert_eq!(server.metric(DIGITS, &[("method", "inband")]), 0.0, "event packets must not also count as tones");
    // The last digit (1) is read back while the caller stays on the line.
    support::assert_contains(&stream.decode_g711(), &read_back, "digit-1", 0.8);
    server.stop(Duration::from_secs(5));
}

#[test]
fn sip_info_digits_in_dtmf_relay_and_dtmf_bodies_are_counted() {
    if !support::sipp_and_sox() {
        return;
    }
    let server = Server::start(&ServerConfig::default());
    let mut sipp = Sipp::new(server.sip, "uac_info.xml");
    sipp.call_ms(1_000);
    let before = server.metric(DIGITS, &[("method", "sip_info")]);

    sipp.run_ok(Duration::from_secs(20));

    let counted = server.metric(DIGITS, &[("method", "sip_info")]) - before;
    assert_eq!(counted, 3.0, "1 and # as application/dtmf-relay, 5 as application/dtmf");
    assert_eq!(server.metric(DIGITS, &[("method", "rfc4733")]), 0.0);
    server.stop(Duration::from_secs(5));
}

#[test]
fn inband_dtmf_tones_in_pcmu_are_counted_exactly() {
    if !support::sipp_and_sox() {
        return;
    }
    let server = Server::start(&ServerConfig { idle_hangup_secs: 10, ..ServerConfig::default() });
    let mut sipp = Sipp::new(server.sip, "uac_play.xml");
    // 80 ms tones and 80 ms gaps at -10 dBm0 per frequency, after a second
    // of silence; the keys cover every row and column of the keypad.
    let mut spec = PcapSpec::new(Law::Pcmu, 20);
    spec.silence_ms = 1_000;
    spec.inband_dtmf = "1590*#".into();
    spec.tail_ms = 500;
    sipp.generated_pcap("audio.pcap", &spec).call_ms(3_500);
    let before = server.metric(DIGITS, &[("method", "inband")]);

    sipp.run_ok(Duration::from_secs(20));

    let counted = server.wait_metric(DIGITS, &[("method", "inband")], before + 6.0, Duration::from_secs(2)) - before;
    assert_eq!(counted, 6.0, "six tone pairs sent: 1 5 9 0 * #");
    assert_eq!(server.metric(DIGITS, &[("method", "rfc4733")]), 0.0);
    server.stop(Duration::from_secs(5));
}

#[test]
fn silent_caller_is_sent_bye_after_the_idle_timeout() {
    if !support::sipp_and_sox() {
        return;
    }
    let idle = 2;
    let server = Server::start(&ServerConfig { idle_hangup_secs: idle, ..ServerConfig::default() });
    let sipp = Sipp::new(server.sip, "uac_await_bye.xml");
    let started = Instant::now();

    sipp.run_ok(Duration::from_secs(30));

    // Welcome, then idle_hangup_secs without a key, then goodbye, then BYE.
    let least = Duration::from_secs_f64(support::WELCOME_SECS + idle as f64 + support::GOODBYE_SECS - 0.5);
    assert!(started.elapsed() >= least, "BYE came after {:?}, before welcome + idle + goodbye ({least:?})", started.elapsed());
    assert_eq!(server.metric("ivr_calls_active", &[]), 0.0);
    server.stop(Duration::from_secs(5));
}

#[test]
fn call_over_tcp_is_answered_and_hung_up() {
    if !support::sipp_and_sox() {
        return;
    }
    let server = Server::start(&ServerConfig::default());
    let mut sipp = Sipp::new(server.sip, "uac_play.xml");
    let mut spec = PcapSpec::new(Law::Pcmu, 20);
    spec.silence_ms = 1_000;
    sipp.generated_pcap("audio.pcap", &spec).tcp().call_ms(1_500);
    let calls_before = server.metric("ivr_calls_total", &[]);

    sipp.run_ok(Duration::from_secs(20));

    assert_eq!(server.metric("ivr_calls_total", &[]), calls_before + 1.0);
    server.stop(Duration::from_secs(5));
}
