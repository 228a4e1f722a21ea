//! SIP beyond the plain call: OPTIONS, INVITE without SDP, hold and resume,
//! requests the server must refuse, and bytes it must survive.

use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use loadtest::generate::{Law, PcapSpec};

use crate::server::{Server, ServerConfig};
use crate::sipp::Sipp;
use crate::support;

fn silence_pcap(ms: u32) -> PcapSpec {
    let mut spec = PcapSpec::new(Law::Pcmu, 20);
    spec.silence_ms = ms;
    spec
}

#[test]
fn options_is_answered_200_to_sipp_and_sipsak() {
    if !support::sipp_and_sox() {
        return;
    }
    let server = Server::start(&ServerConfig::default());
    Sipp::new(server.sip, "uac_options.xml").run_ok(Duration::from_secs(15));
    if support::peer_available("sipsak", "sipsak") {
        let out = Command::new("timeout")
            .args(["10", "sipsak", "-s", &format!("sip:012@{}", server.sip), "-H", "127.0.0.1"])
            .output()
            .expect("run sipsak");
        assert!(
            out.status.success(),
            "sipsak OPTIONS ping failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    server.stop(Duration::from_secs(5));
}

#[test]
fn invite_without_sdp_gets_the_offer_in_200_and_the_answer_in_ack() {
    if !support::sipp_and_sox() {
        return;
    }
    let server = Server::start(&ServerConfig::default());
    let mut sipp = Sipp::new(server.sip, "uac_no_sdp.xml");
    sipp.generated_pcap("audio.pcap", &silence_pcap(1_000)).call_ms(1_500);
    let received_before = server.metric("ivr_rtp_packets_received_total", &[]);

    sipp.run_ok(Duration::from_secs(20));

    // The answer in the ACK gave the server the caller's media address: it
    // received the caller's RTP on the port it offered.
    assert!(
        server.metric("ivr_rtp_packets_received_total", &[]) > received_before + 10.0,
        "the server did not receive the caller's RTP after an offer in 200 / answer in ACK"
    );
    server.stop(Duration::from_secs(5));
}

#[test]
fn hold_and_resume_by_reinvite_keep_the_call() {
    if !support::sipp_and_sox() {
        return;
    }
    let server = Server::start(&ServerConfig { idle_hangup_secs: 10, ..ServerConfig::default() });
    let mut sipp = Sipp::new(server.sip, "uac_hold_resume.xml");
    sipp.generated_pcap("audio.pcap", &silence_pcap(1_000)).call_ms(1_000);
    let calls_before = server.metric("ivr_calls_total", &[]);

    sipp.run_ok(Duration::from_secs(25));

    assert_eq!(server.metric("ivr_calls_total", &[]), calls_before + 1.0, "a re-INVITE is not a new call");
    server.stop(Duration::from_secs(5));
}

/// Runs one SIPp scenario against a fresh server; SIPp's exit status 0
/// means every message came as the scenario expects.
fn scenario_passes_against_a_fresh_server(scenario: &str) {
    if !support::sipp_and_sox() {
        return;
    }
    let server = Server::start(&ServerConfig::default());
    Sipp::new(server.sip, scenario).run_ok(Duration::from_secs(15));
    server.stop(Duration::from_secs(5));
}

#[test]
fn bye_for_an_unknown_dialog_gets_481() {
    scenario_passes_against_a_fresh_server("uac_bye_unknown.xml");
}

#[test]
fn invite_with_max_forwards_0_gets_483() {
    scenario_passes_against_a_fresh_server("uac_expect_483.xml");
}

#[test]
fn garbage_and_malformed_requests_leave_the_server_answering_calls() {
    if !support::sipp_and_sox() {
        return;
    }
    let mut server = Server::start(&ServerConfig::default());
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind a UDP socket");
    socket.set_read_timeout(Some(Duration::from_secs(2))).expect("set timeout");
    let local = socket.local_addr().expect("local addr");
    // Bytes that are not SIP at all: dropped, no answer required.
    for garbage in [&b"\x00\xff\x13garbage"[..], b"", b"\r\n\r\n", &[0x80u8; 1400][..], b"SIP/2.0 200 OK\r\n\r\n"] {
        socket.send_to(garbage, server.sip).expect("send garbage");
    }
    // A request the server can address (Via, From, To, Call-ID, CSeq) but
    // must not accept: its CSeq names another method (RFC 3261 8.1.1.5).
    // RFC 3261 8.2 wants 400 Bad Request.
    let malformed = format!(
        "INVITE sip:012@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK-peers-malformed\r\n\
         From: <sip:peers@{local}>;tag=peers\r\nTo: <sip:012@{sip}>\r\nCall-ID: malformed-1@peers\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        sip = server.sip
    );
    socket.send_to(malformed.as_bytes(), server.sip).expect("send malformed request");
    let mut buf = [0u8; 4096];
    let reply = support::wait_for("a reply to the malformed INVITE", Duration::from_secs(5), || {
        let (n, _) = socket.recv_from(&mut buf).ok()?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        (!text.starts_with("SIP/2.0 100")).then_some(text)
    });
    assert!(reply.starts_with("SIP/2.0 400"), "expected 400 Bad Request, got: {reply}");

    let mut sipp = Sipp::new(server.sip, "uac_play.xml");
    sipp.generated_pcap("audio.pcap", &silence_pcap(500)).call_ms(1_000);
    sipp.run_ok(Duration::from_secs(20));
    assert!(server.is_running());
    server.stop(Duration::from_secs(5));
}
