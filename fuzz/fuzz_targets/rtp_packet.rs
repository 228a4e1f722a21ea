//! Any bytes as RTP, RTCP, or a telephone-event payload, and through a whole
//! media call: nothing may panic.

#![no_main]

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ivr_media::Codec;
use ivr_media::call::{MediaCall, MediaConfig};
use ivr_media::dtmf::rfc4733::Rfc4733Receiver;
use ivr_media::rtcp;
use ivr_media::rtp::RtpPacket;
use ivr_media::session::SessionConfig;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = RtpPacket::parse(data);
    let _ = rtcp::parse_compound(data, 0x1234_5678);
    let t0 = Instant::now();
    let _ = Rfc4733Receiver::new().handle(t0, 1, 2, data);

    let remote = SocketAddr::from(([192, 0, 2, 7], 4000));
    let mut rng = fastrand::Rng::with_seed(7);
    let config = MediaConfig::new(SessionConfig::new(Codec::Pcmu, remote));
    let mut call = MediaCall::new(config, &mut rng, t0, SystemTime::UNIX_EPOCH);
    let mut buf = vec![0u8; call.transmit_buffer_len()];
    for (i, piece) in data.split(|b| *b == 0xFF).enumerate() {
        let now = t0 + Duration::from_millis(20 * i as u64);
        call.handle_rtp(now, remote, piece);
        call.handle_rtcp(now, remote, piece);
        call.handle_timeout(now);
        while call.poll_transmit(now, &mut buf).is_some() {}
        while call.poll_event().is_some() {}
    }
});
