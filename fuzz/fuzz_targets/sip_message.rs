//! Any bytes fed to the SIP user agent, as UDP and as one framed TCP stream, must not panic;
//! whatever the user agent sends (except a 400 that echoes the peer's headers) must parse.

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_sip::framing::{Frame, StreamFramer};
use ivr_sip::{CallEvent, Output, Transport, UaConfig, UserAgent};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let local = SocketAddr::from(([192, 0, 2, 20], 5060));
    let peer = SocketAddr::from(([203, 0, 113, 5], 40000));
    let mut ua = UserAgent::new(UaConfig::new(local), fastrand::Rng::with_seed(1));
    let t0 = Instant::now();

    // As datagrams: the input split at NUL bytes, each piece one datagram, twice (retransmission).
    for (i, piece) in data.split(|b| *b == 0).enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        ua.handle_datagram(now, Transport::Udp, peer, piece);
        ua.handle_datagram(now, Transport::Udp, peer, piece);
        drain(&mut ua, now);
    }
    // As a TCP stream.
    let mut framer = StreamFramer::new(65_535);
    framer.push(data);
    while let Ok(Some(frame)) = framer.next_frame() {
        if let Frame::Message(bytes) = frame {
            ua.handle_datagram(t0, Transport::Tcp, peer, &bytes);
            drain(&mut ua, t0);
        }
    }
    // Let every timer fire.
    while let Some(at) = ua.poll_timeout() {
        if at > t0 + Duration::from_secs(120) {
            break;
        }
        ua.handle_timeout(at);
        drain(&mut ua, at);
    }
});

fn drain(ua: &mut UserAgent, now: Instant) {
    while let Some(out) = ua.poll_output() {
        match out {
            Output::Transmit(t) => {
                // A 400 echoes the peer's (possibly malformed) headers; everything else is ours.
                if !t.bytes.starts_with(b"SIP/2.0 400") && !t.bytes.starts_with(b"\r\n") {
                    assert!(ivr_sip::message::parse(&t.bytes).is_ok(), "we sent an unparseable message");
                }
            }
            Output::Event(CallEvent::Incoming { leg, .. }) => ua.answer(now, leg, b"v=0\r\n".to_vec()),
            Output::Event(_) => {}
        }
    }
}
