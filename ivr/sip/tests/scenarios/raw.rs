//! The IVR side fed hand-written messages: RFC 4475-style torture tests and the protocol
//! answers to requests that create no call.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_sip::{CallEvent, Output, Transport, UaConfig, UserAgent};

pub fn ivr() -> UserAgent {
    UserAgent::new(
        UaConfig::new(SocketAddr::from(([192, 0, 2, 20], 5060))),
        fastrand::Rng::with_seed(42),
    )
}

pub const PEER: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(203, 0, 113, 5),
    40123,
));

/// Feeds one datagram; returns (responses sent as text, events).
pub fn feed(ua: &mut UserAgent, now: Instant, bytes: &[u8]) -> (Vec<String>, Vec<CallEvent>) {
    ua.handle_datagram(now, Transport::Udp, PEER, bytes);
    drain(ua)
}

pub fn drain(ua: &mut UserAgent) -> (Vec<String>, Vec<CallEvent>) {
    let (mut sent, mut events) = (Vec::new(), Vec::new());
    while let Some(out) = ua.poll_output() {
        match out {
            Output::Transmit(t) => {
                assert_eq!(t.to, PEER, "responses go to the packet's source address");
                sent.push(String::from_utf8_lossy(&t.bytes).into_owned());
            }
            Output::Event(e) => events.push(e),
        }
    }
    (sent, events)
}

fn status_lines(sent: &[String]) -> Vec<String> {
    sent.iter()
        .map(|s| s.lines().next().unwrap_or_default().to_string())
        .collect()
}

pub const INVITE: &str = "INVITE sip:012@192.0.2.20 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKraw1;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Caller\" <sip:+34600111222@carrier.example>;tag=abc\r\n\
To: <sip:012@192.0.2.20>\r\n\
Call-ID: raw-call-1@10.0.0.5\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:+34600111222@10.0.0.5:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 5\r\n\r\nv=0\r\n";

fn request(method: &str, extra: &str) -> String {
    format!(
        "{method} sip:012@192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK{method}x\r\n\
         Max-Forwards: 70\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:012@192.0.2.20>{extra}\r\n\
         Call-ID: {method}-id\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

#[test]
fn invite_gets_100_trying_at_once_with_received_and_rport() {
    let mut ua = ivr();
    let (sent, events) = feed(&mut ua, Instant::now(), INVITE.as_bytes());
    assert_eq!(status_lines(&sent), ["SIP/2.0 100 Trying"]);
    assert!(sent[0].contains("branch=z9hG4bKraw1;rport=40123;received=203.0.113.5"));
    assert!(matches!(events.as_slice(), [CallEvent::Incoming { sdp: Some(_), .. }]));
}

#[test]
fn retransmitted_invite_gets_the_last_provisional_and_answer_has_contact_allow_supported() {
    let mut ua = ivr();
    let now = Instant::now();
    let (_, events) = feed(&mut ua, now, INVITE.as_bytes());
    let Some(CallEvent::Incoming { leg, .. }) = events.first() else { panic!("no call") };
    ua.ringing(now, *leg);
    let (sent, _) = drain(&mut ua);
    assert!(sent[0].starts_with("SIP/2.0 180 Ringing") && sent[0].contains("Contact: <sip:ivr@"));
    let (sent, events) = feed(&mut ua, now, INVITE.as_bytes());
    assert_eq!(status_lines(&sent), ["SIP/2.0 180 Ringing"]);
    assert!(events.is_empty(), "a retransmission is not a new call");
    ua.answer(now, *leg, b"v=0\r\n".to_vec());
    let (sent, _) = drain(&mut ua);
    let ok = &sent[0];
    for needle in ["SIP/2.0 200 OK", "Contact: <sip:ivr@192.0.2.20:5060>", "Allow: INVITE", "Supported:", "Content-Type: application/sdp", ";tag="] {
        assert!(ok.contains(needle), "{needle} missing in {ok}");
    }
    let (sent, _) = feed(&mut ua, now, INVITE.as_bytes());
    assert!(sent.is_empty(), "Accepted absorbs INVITE retransmissions; the core retransmits the 200");
    ua.handle_timeout(now + Duration::from_millis(500));
    let (sent, _) = drain(&mut ua);
    assert_eq!(status_lines(&sent), ["SIP/2.0 200 OK"]);
}

#[test]
fn options_out_of_dialog_is_answered_200_with_allow_and_accept() {
    let mut ua = ivr();
    let (sent, _) = feed(&mut ua, Instant::now(), request("OPTIONS", "").as_bytes());
    assert_eq!(status_lines(&sent), ["SIP/2.0 200 OK"]);
    assert!(sent[0].contains("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER\r\n"));
    assert!(sent[0].contains("Accept: application/sdp"));
    assert_eq!(ua.leg_count(), 0);
}

#[test]
fn unsupported_known_methods_get_405_and_unknown_get_501() {
    let mut ua = ivr();
    for method in ["REGISTER", "SUBSCRIBE", "PUBLISH", "MESSAGE", "NOTIFY", "PRACK", "UPDATE"] {
        let (sent, _) = feed(&mut ua, Instant::now(), request(method, "").as_bytes());
        assert_eq!(status_lines(&sent), ["SIP/2.0 405 Method Not Allowed"], "{method}");
        assert!(sent[0].contains("Allow: "));
    }
    let (sent, _) = feed(&mut ua, Instant::now(), request("FROBNICATE", "").as_bytes());
    assert_eq!(status_lines(&sent), ["SIP/2.0 501 Not Implemented"]);
}

#[test]
fn in_dialog_requests_for_unknown_dialogs_get_481() {
    let mut ua = ivr();
    for method in ["BYE", "INFO", "INVITE", "OPTIONS"] {
        let (sent, _) = feed(&mut ua, Instant::now(), request(method, ";tag=nope").as_bytes());
        assert_eq!(status_lines(&sent), ["SIP/2.0 481 Call/Transaction Does Not Exist"], "{method}");
    }
    let (sent, _) = feed(&mut ua, Instant::now(), request("CANCEL", "").as_bytes());
    assert_eq!(status_lines(&sent), ["SIP/2.0 481 Call/Transaction Does Not Exist"]);
}

#[test]
fn duplicate_bye_is_answered_from_the_transaction() {
    let mut ua = ivr();
    let now = Instant::now();
    let (first, _) = feed(&mut ua, now, request("BYE", ";tag=nope").as_bytes());
    let (second, _) = feed(&mut ua, now, request("BYE", ";tag=nope").as_bytes());
    assert_eq!(first, second, "the same response, not a new one");
    assert_eq!(ua.transaction_count(), 1);
    ua.handle_timeout(now + Duration::from_secs(32));
    assert_eq!(ua.transaction_count(), 0, "Timer J");
}

#[test]
fn max_forwards_zero_gets_483() {
    let mut ua = ivr();
    for method in ["INVITE", "OPTIONS"] {
        let text = request(method, "").replace("Max-Forwards: 70", "Max-Forwards: 0");
        let (sent, events) = feed(&mut ua, Instant::now(), text.as_bytes());
        assert_eq!(status_lines(&sent), ["SIP/2.0 483 Too Many Hops"], "{method}");
        assert!(events.is_empty());
    }
}

#[test]
fn responses_matching_no_transaction_are_dropped() {
    let mut ua = ivr();
    let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKnothing\r\n\
        From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let (sent, events) = feed(&mut ua, Instant::now(), text.as_bytes());
    assert!(sent.is_empty() && events.is_empty());
    assert_eq!(ua.stats().stray_responses, 1);
}

/// Each torture message must produce the expected first status line, or nothing.
fn torture(text: &str) -> Option<String> {
    let mut ua = ivr();
    let (sent, _) = feed(&mut ua, Instant::now(), text.as_bytes());
    sent.first().map(|s| s.lines().next().unwrap_or_default().to_string())
}

#[test]
fn torture_compact_headers_folding_ipv6_tel_unknown_headers() {
    // RFC 4475 3.1.1.1-style: compact forms, lowercase names, spaces before colons, folding,
    // unknown headers, an IPv6 Via, a tel: Request-URI and no Content-Length on UDP.
    let msg = "INVITE tel:+34-012;phone-context=gencat.cat SIP/2.0\r\n\
        v  : SIP/2.0/UDP [2001:db8::9]:5060;branch=z9hG4bKtort1\r\n\
        max-forwards: 68\r\n\
        f: <sip:caller@[2001:db8::9]>\r\n  ;tag=tt\r\n\
        t:\r\n <tel:+34-012>\r\n\
        i: torture-1\r\n\
        cseq: 8\r\n   INVITE\r\n\
        m: <sip:caller@[2001:db8::9]:5060>\r\n\
        c: application/sdp\r\n\
        X-Unknown-Header: ;;,,;;\r\n\
        NewFangledHeader:   newfangled value\r\n continued newfangled value\r\n\r\nv=0\r\n";
    let mut ua = ivr();
    let (sent, events) = feed(&mut ua, Instant::now(), msg.as_bytes());
    assert_eq!(status_lines(&sent), ["SIP/2.0 100 Trying"], "{sent:?}");
    assert!(sent[0].contains("received=203.0.113.5"));
    let Some(CallEvent::Incoming { request_uri, from_uri, to_uri, sdp, .. }) = events.first() else {
        panic!("no call: {events:?}");
    };
    assert!(request_uri.starts_with("tel:+34-012"));
    assert_eq!(from_uri, "sip:caller@[2001:db8::9]");
    assert_eq!(to_uri, "tel:+34-012");
    assert_eq!(sdp.as_deref(), Some(&b"v=0\r\n"[..]), "UDP body without Content-Length");
}

#[test]
fn torture_malformed_requests_get_400_or_are_dropped() {
    let base = request("OPTIONS", "");
    let cases: Vec<(String, Option<&str>)> = vec![
        (base.replace("CSeq: 1 OPTIONS", "CSeq: 1 INVITE"), Some("SIP/2.0 400 Bad Request (CSeq method")),
        (base.replace("CSeq: 1 OPTIONS", "CSeq: x OPTIONS"), Some("SIP/2.0 400 Bad Request (malformed CSeq")),
        (base.replace("CSeq: 1 OPTIONS", "CSeq: 4294967296 OPTIONS"), Some("SIP/2.0 400")),
        (base.replace("Content-Length: 0", "Content-Length: 99"), Some("SIP/2.0 400 Bad Request (Content-Length")),
        (base.replace("Content-Length: 0", "Content-Length: -3"), Some("SIP/2.0 400")),
        (base.replace("Max-Forwards: 70", "Max-Forwards: many"), Some("SIP/2.0 400")),
        (base.replace("SIP/2.0\r\n", "SIP/7.0\r\n"), Some("SIP/2.0 400 Bad Request (unsupported SIP version")),
        (base.replace("sip:012@192.0.2.20", "http://example.com"), Some("SIP/2.0 400 Bad Request (unsupported URI scheme")),
        (base.replace("OPTIONS sip:012@192.0.2.20 SIP/2.0", "OPTIONS  SIP/2.0"), Some("SIP/2.0 400")),
        (base.replace("From: <sip:a@b>;tag=1", "From: \"unterminated <sip:a@b>"), Some("SIP/2.0 400 Bad Request (malformed From")),
        (base.replace("Call-ID: OPTIONS-id\r\n", ""), None),
        (base.replace("Via: SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKOPTIONSx\r\n", ""), None),
        (base.replace("To: <sip:012@192.0.2.20>", "To: garbage"), Some("SIP/2.0 400 Bad Request (malformed To")),
        (base.replace("\r\n\r\n", "\r\n"), None),
        ("\0\0\0\r\n\r\n".to_string(), None),
        (String::from_utf8_lossy(b"OPTIONS sip:a@b SIP/2.0\r\nVia: \xff\xfe\r\n\r\n").into_owned(), None),
    ];
    for (text, expected) in cases {
        let got = torture(&text);
        match expected {
            Some(prefix) => assert!(
                got.as_deref().is_some_and(|g| g.starts_with(prefix)),
                "expected {prefix:?}, got {got:?} for\n{text}"
            ),
            None => assert_eq!(got, None, "expected silence for\n{text}"),
        }
    }
}

#[test]
fn malformed_input_is_counted() {
    let mut ua = ivr();
    feed(&mut ua, Instant::now(), b"complete nonsense\r\n\r\n");
    feed(&mut ua, Instant::now(), request("OPTIONS", "").replace("1 OPTIONS", "1 BYE").as_bytes());
    let stats = ua.stats();
    assert_eq!((stats.malformed_dropped, stats.malformed_answered), (1, 1));
}

#[test]
fn oversize_datagrams_are_dropped() {
    let mut config = UaConfig::new(SocketAddr::from(([192, 0, 2, 20], 5060)));
    config.max_message_size = 100;
    let mut ua = UserAgent::new(config, fastrand::Rng::with_seed(1));
    let (sent, _) = feed(&mut ua, Instant::now(), INVITE.as_bytes());
    assert!(sent.is_empty());
    assert_eq!(ua.stats().oversize_dropped, 1);
}

#[test]
fn require_with_unknown_extension_gets_420_and_non_sdp_body_415() {
    let text = INVITE.replace("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRequire: 100rel\r\n");
    assert_eq!(torture(&text).as_deref(), Some("SIP/2.0 420 Bad Extension"));
    let text = INVITE.replace("application/sdp", "text/plain");
    assert_eq!(torture(&text).as_deref(), Some("SIP/2.0 415 Unsupported Media Type"));
}
