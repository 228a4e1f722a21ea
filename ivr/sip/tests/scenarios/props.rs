//! Property tests: nothing from the network panics; what we print, we parse back.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_sip::message::{Method, OutRequest, parse};
use ivr_sip::{Output, Transport};
use proptest::prelude::*;

use super::raw::{INVITE, PEER, ivr};

fn pump_all(bytes_list: &[Vec<u8>]) {
    let mut ua = ivr();
    let t0 = Instant::now();
    for (i, bytes) in bytes_list.iter().enumerate() {
        let now = t0 + Duration::from_millis(i as u64 * 100);
        ua.handle_datagram(now, Transport::Udp, PEER, bytes);
        while let Some(out) = ua.poll_output() {
            if let Output::Event(ivr_sip::CallEvent::Incoming { leg, .. }) = out {
                ua.answer(now, leg, b"v=0\r\n".to_vec());
            }
        }
    }
    ua.handle_timeout(t0 + Duration::from_secs(100));
    while ua.poll_output().is_some() {}
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(datagrams in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..400), 1..4)) {
        pump_all(&datagrams);
    }

    #[test]
    fn mutated_invites_never_panic(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 1..12),
    ) {
        let mut bytes = INVITE.as_bytes().to_vec();
        for (index, byte, op) in edits {
            if bytes.is_empty() { break; }
            let at = index.index(bytes.len());
            match op {
                0 => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                2 => { bytes.remove(at); }
                _ => bytes.truncate(at),
            }
        }
        pump_all(&[bytes.clone(), bytes]);
    }

    #[test]
    fn printed_requests_parse_back(
        user in "[a-z0-9+]{1,12}",
        host in "[a-z]{1,10}\\.(cat|es)",
        tag in "[A-Za-z0-9]{1,16}",
        call_id in "[A-Za-z0-9@.-]{1,30}",
        cseq in 1u32..(1 << 31),
        body in prop::collection::vec(any::<u8>(), 0..200),
        method in prop::sample::select(vec![Method::Invite, Method::Bye, Method::Info, Method::Options]),
    ) {
        let req = OutRequest {
            method: method.clone(),
            uri: format!("sip:{user}@{host}"),
            transport: Transport::Udp,
            local_addr: SocketAddr::from(([192, 0, 2, 20], 5060)),
            branch: format!("z9hG4bK{tag}"),
            from: format!("\"IVR, 012\" <sip:012@{host}>;tag={tag}"),
            to: format!("<sip:{user}@{host}>"),
            call_id: call_id.clone(),
            cseq,
            contact: Some("<sip:ivr@192.0.2.20:5060>".into()),
            routes: vec![format!("<sip:proxy.{host};lr>")],
            extra: Vec::new(),
            content_type: (!body.is_empty()).then(|| "application/sdp".to_string()),
            body: body.clone(),
        };
        let msg = parse(&req.to_bytes()).expect("our requests parse");
        prop_assert_eq!(msg.method(), Some(&method));
        prop_assert_eq!(&msg.core.branch, &req.branch);
        prop_assert_eq!(msg.core.from_tag.as_deref(), Some(tag.as_str()));
        prop_assert_eq!(msg.core.to_tag.as_deref(), None);
        prop_assert_eq!(&msg.core.call_id, &call_id);
        prop_assert_eq!(msg.core.cseq, cseq);
        prop_assert_eq!(&msg.core.cseq_method, &method);
        prop_assert_eq!(msg.contact_uri(), Some("sip:ivr@192.0.2.20:5060"));
        prop_assert_eq!(msg.body, body);
    }
}
