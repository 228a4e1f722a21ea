//! Offer/answer against SDP as real peers write it (baresip, SIPp), and
//! the hold, multi-stream and IPv6 cases of RFC 3264.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime};

use ivr_media::Codec;
use ivr_media::rtp::{RtpHeader, RtpPacket};
use ivr_media::sdp::{
    Direction, LocalMedia, Negotiated, SdpError, SdpSessionVersion, SessionDescription, accept_answer, answer_offer,
    make_offer,
};
use ivr_media::session::{PacketKind, RtpIdentity, RtpSession, SessionConfig};

fn local() -> LocalMedia {
    LocalMedia {
        addr: "203.0.113.5".parse().expect("ip"),
        rtp_port: 20_000,
        // Our preference is A-law first; the offerer's order must win anyway.
        codecs: vec![Codec::Pcma, Codec::Pcmu],
        telephone_event_pt: 101,
        ptime: 20,
    }
}

fn answer(offer: &str) -> Result<(Negotiated, String), SdpError> {
    let offer = SessionDescription::parse(offer).expect("offer parses");
    answer_offer(&offer, &local(), &mut SdpSessionVersion::new(42))
}

fn sock(s: &str) -> SocketAddr {
    s.parse().expect("socket address")
}

const BARESIP: &str = "v=0\r\n\
o=- 1234 5678 IN IP4 192.168.1.50\r\n\
s=-\r\n\
c=IN IP4 192.168.1.50\r\n\
t=0 0\r\n\
m=audio 10000 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp-rsize\r\n";

const SIPP_PCMA: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 8 101\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-11,16\r\n";

#[test]
fn baresip_offer_gets_pcmu_because_the_offerer_listed_it_first() {
    let (n, text) = answer(BARESIP).expect("answerable");
    assert_eq!(n.codec, Codec::Pcmu);
    assert_eq!(n.payload_type, 0);
    assert_eq!(n.telephone_event_pt, Some(101));
    assert_eq!(n.remote_rtp, sock("192.168.1.50:10000"));
    assert_eq!(n.remote_ptime, Some(20));
    assert_eq!((n.direction, n.on_hold, n.we_send()), (Direction::SendRecv, false, true));

    let a = SessionDescription::parse(&text).expect("our answer parses");
    assert_eq!(a.media.len(), 1);
    let m = &a.media[0];
    assert_eq!((m.port, m.proto.as_str(), m.formats.clone()), (20_000, "RTP/AVP", vec!["0".to_string(), "101".into()]));
    assert_eq!(a.connection.map(|c| c.addr), Some("203.0.113.5".parse::<IpAddr>().expect("ip")));
    assert_eq!(m.telephone_event_pt(), Some(101));
    assert_eq!(a.direction_for(m), Direction::SendRecv);
    assert!(text.contains("a=fmtp:101 0-16\r\n"));
    assert!(text.starts_with("v=0\r\no=- 42 1 IN IP4 203.0.113.5\r\n"));
    assert!(text.ends_with("\r\n") && !text.contains("\n\n"));
}

#[test]
fn sipp_offers_pcma_or_pcmu_with_telephone_event() {
    let (n, _) = answer(SIPP_PCMA).expect("answerable");
    assert_eq!((n.codec, n.payload_type, n.telephone_event_pt), (Codec::Pcma, 8, Some(101)));
    assert_eq!(n.remote_rtp, sock("127.0.0.1:6000"));
    assert_eq!(n.remote_ptime, None);

    // SIPp's PCMU scenario relies on the static PT without an rtpmap line.
    let pcmu = "v=0\r\no=user1 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
m=audio 6000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n";
    let (n, text) = answer(pcmu).expect("answerable");
    assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 0));
    assert!(text.contains("m=audio 20000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"));
}

#[test]
fn ptime_30_is_accepted_and_reported() {
    let offer = SIPP_PCMA.replace("a=fmtp:101 0-11,16\r\n", "a=fmtp:101 0-11,16\r\na=ptime:30\r\n");
    let (n, text) = answer(&offer).expect("answerable");
    assert_eq!(n.remote_ptime, Some(30));
    assert!(text.contains("a=ptime:20\r\n"), "we state the ptime we want to receive");
}

#[test]
fn nothing_in_common_is_no_common_codec() {
    let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 18 9 96\r\na=rtpmap:18 G729/8000\r\na=rtpmap:9 G722/8000\r\na=rtpmap:96 opus/48000/2\r\n";
    assert_eq!(answer(offer), Err(SdpError::NoCommonCodec));
    // SRTP is not something we can answer either.
    let srtp = BARESIP.replace("RTP/AVP", "RTP/SAVP");
    assert_eq!(answer(&srtp), Err(SdpError::NoCommonCodec));
}

#[test]
fn other_streams_are_rejected_with_port_0_in_the_same_order() {
    let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n\
m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n\
m=audio 4004 RTP/AVP 8 0\r\n";
    let (n, text) = answer(offer).expect("the second audio stream works");
    assert_eq!((n.codec, n.remote_rtp), (Codec::Pcma, sock("192.0.2.1:4004")));
    let a = SessionDescription::parse(&text).expect("parses");
    let lines: Vec<_> = a.media.iter().map(|m| (m.media.as_str(), m.port, m.formats.join(" "))).collect();
    assert_eq!(lines, vec![("audio", 0, "18".to_string()), ("video", 0, "96".into()), ("audio", 20_000, "8".into())]);
}

#[test]
fn hold_by_sendonly_makes_us_recvonly_and_silent() {
    let offer = BARESIP.replace("a=sendrecv", "a=sendonly");
    let (n, text) = answer(&offer).expect("answerable");
    assert_eq!((n.direction, n.on_hold, n.we_send()), (Direction::RecvOnly, true, false));
    assert!(text.contains("a=recvonly\r\n"));

    let (n, text) = answer(&BARESIP.replace("a=sendrecv", "a=inactive")).expect("answerable");
    assert_eq!((n.direction, n.on_hold, n.we_send()), (Direction::Inactive, true, false));
    assert!(text.contains("a=inactive\r\n"));

    let (n, _) = answer(&BARESIP.replace("a=sendrecv", "a=recvonly")).expect("answerable");
    assert_eq!((n.direction, n.on_hold, n.we_send()), (Direction::SendOnly, false, true));

    // A session-level attribute applies when the m= line has none.
    let session_level = BARESIP.replace("a=sendrecv\r\n", "").replace("t=0 0\r\n", "t=0 0\r\na=sendonly\r\n");
    assert_eq!(answer(&session_level).expect("answerable").0.direction, Direction::RecvOnly);
}

#[test]
fn hold_by_the_rfc_2543_zero_address() {
    let offer = BARESIP.replace("c=IN IP4 192.168.1.50", "c=IN IP4 0.0.0.0");
    let (n, _) = answer(&offer).expect("answerable");
    assert!(n.on_hold);
    assert!(!n.we_send(), "nothing can be sent to 0.0.0.0");
    assert_eq!(n.remote_rtp, sock("0.0.0.0:10000"));
}

#[test]
fn ipv6_connection_lines_work_both_ways() {
    let offer = BARESIP.replace("IN IP4 192.168.1.50", "IN IP6 2001:db8::50");
    let offer = SessionDescription::parse(&offer).expect("parses");
    let mut local = local();
    local.addr = "2001:db8::5".parse().expect("ip");
    let (n, text) = answer_offer(&offer, &local, &mut SdpSessionVersion::new(7)).expect("answerable");
    assert_eq!(n.remote_rtp, sock("[2001:db8::50]:10000"));
    assert!(text.contains("c=IN IP6 2001:db8::5\r\n"));
}

#[test]
fn media_level_connection_overrides_the_session_level_one() {
    let offer = BARESIP.replace("a=sendrecv\r\n", "a=sendrecv\r\nc=IN IP4 198.51.100.9\r\n");
    assert_eq!(answer(&offer).expect("answerable").0.remote_rtp, sock("198.51.100.9:10000"));
    let none = BARESIP.replace("c=IN IP4 192.168.1.50\r\n", "");
    assert_eq!(answer(&none), Err(SdpError::MissingConnection { line: 5 }));
}

#[test]
fn dynamic_payload_types_for_pcmu_and_telephone_event_are_honoured() {
    let offer = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n\
m=audio 4000 RTP/AVP 110 96\r\na=rtpmap:110 pcmu/8000\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-16\r\na=rtcp:4009\r\n";
    let (n, text) = answer(offer).expect("answerable");
    assert_eq!((n.codec, n.payload_type, n.telephone_event_pt), (Codec::Pcmu, 110, Some(96)));
    assert_eq!(n.remote_rtcp, Some(sock("192.0.2.1:4009")));
    assert!(text.contains("m=audio 20000 RTP/AVP 110 96\r\na=rtpmap:110 PCMU/8000\r\na=rtpmap:96 telephone-event/8000\r\n"));

    // The session sends with the offerer's number and recognises it.
    let t0 = Instant::now();
    let config = SessionConfig::from_negotiated(&n);
    assert_eq!((config.payload_type, config.telephone_event_pt, config.ptime), (110, Some(96), Duration::from_millis(20)));
    let identity = RtpIdentity { ssrc: 1, first_seq: 1, first_timestamp: 0 };
    let mut s = RtpSession::new(config, identity, t0, SystemTime::UNIX_EPOCH);
    let mut buf = [0u8; 200];
    let (to, len) = s.poll_rtp(t0, &[0xFF; 160], &mut buf).expect("due");
    assert_eq!(to, sock("192.0.2.1:4000"));
    assert_eq!(RtpPacket::parse(&buf[..len]).expect("valid").payload_type, 110);
    assert_eq!(s.remote().1, sock("192.0.2.1:4009"));
    let header = RtpHeader { marker: false, payload_type: 110, sequence: 5, timestamp: 0, ssrc: 9 };
    let len = header.write_packet(&[0xFF; 160], &mut buf).expect("fits");
    assert_eq!(s.handle_rtp(t0, to, &buf[..len]).expect("valid").kind, PacketKind::Audio);
    let header = RtpHeader { payload_type: 96, ..header };
    let len = header.write_packet(&[1, 0, 0, 160], &mut buf).expect("fits");
    assert_eq!(s.handle_rtp(t0, to, &buf[..len]).expect("valid").kind, PacketKind::TelephoneEvent);
}

#[test]
fn our_offer_lists_our_codecs_in_preference_order_and_reads_back_its_answer() {
    let mut version = SdpSessionVersion::new(99);
    let offer_text = make_offer(&local(), &mut version);
    assert!(offer_text.contains("m=audio 20000 RTP/AVP 8 0 101\r\n"));
    assert!(offer_text.contains("a=sendrecv\r\n"));
    let offer = SessionDescription::parse(&offer_text).expect("our offer parses");

    // An agent's phone answers with PCMA only and puts us on hold.
    let mut peer = local();
    peer.addr = "192.0.2.77".parse().expect("ip");
    peer.rtp_port = 30_000;
    peer.codecs = vec![Codec::Pcma];
    let (_, answer_text) = answer_offer(&offer, &peer, &mut SdpSessionVersion::new(5)).expect("answerable");
    let answer_text = answer_text.replace("a=sendrecv", "a=recvonly");
    let answer = SessionDescription::parse(&answer_text).expect("parses");
    let n = accept_answer(&answer, &local()).expect("acceptable");
    assert_eq!((n.codec, n.payload_type, n.telephone_event_pt), (Codec::Pcma, 8, Some(101)));
    assert_eq!(n.remote_rtp, sock("192.0.2.77:30000"));
    assert_eq!((n.direction, n.on_hold), (Direction::SendOnly, false));

    let rejected = answer_text.replace("m=audio 30000", "m=audio 0");
    let rejected = SessionDescription::parse(&rejected).expect("parses");
    assert_eq!(accept_answer(&rejected, &local()), Err(SdpError::NoCommonCodec));
}

#[test]
fn the_origin_version_grows_with_every_sdp_we_send() {
    let mut version = SdpSessionVersion::new(1000);
    let offer = SessionDescription::parse(BARESIP).expect("parses");
    let first = answer_offer(&offer, &local(), &mut version).expect("answerable").1;
    let reinvite = make_offer(&local(), &mut version);
    let origin = |t: &str| SessionDescription::parse(t).expect("parses").origin.expect("o= line");
    assert_eq!((origin(&first).session_id, origin(&first).session_version), ("1000".into(), "1".into()));
    assert_eq!((origin(&reinvite).session_id, origin(&reinvite).session_version), ("1000".into(), "2".into()));
    assert_eq!(version.version(), 2);
}
