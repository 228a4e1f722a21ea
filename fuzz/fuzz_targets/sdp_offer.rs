//! Any bytes as an SDP offer: parsing and answering must not panic, and an
//! answer we produce must parse again and be accepted as an answer.

#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use ivr_media::Codec;
use ivr_media::sdp::{self, LocalMedia, SdpSessionVersion, SessionDescription};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(offer) = SessionDescription::parse_bytes(data) else { return };
    let local = LocalMedia {
        addr: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
        rtp_port: 20000,
        codecs: vec![Codec::Pcmu, Codec::Pcma],
        telephone_event_pt: 101,
        ptime: 20,
    };
    let mut version = SdpSessionVersion::new(1);
    if let Ok((_negotiated, answer)) = sdp::answer_offer(&offer, &local, &mut version) {
        let reparsed = SessionDescription::parse(&answer).expect("our own answer parses");
        let _ = sdp::accept_answer(&reparsed, &local);
    }
});
