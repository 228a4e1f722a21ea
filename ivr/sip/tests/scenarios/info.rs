//! INFO sent inside a call (`UserAgent::info`), as a phone sends the keys its user presses in
//! `application/dtmf-relay` bodies: delivered in order, retransmitted over UDP until answered,
//! given up on Timer F, and every outcome reported once as `CallEvent::InfoResult` while the call
//! lasts. Both user agents on the simulated network and clock.

use std::time::Duration;

use ivr_sip::{CallEvent, LegId, SipError, Transport};

use super::net::{NetConfig, Node, OFFER, World};

const RELAY: &str = "application/dtmf-relay";

fn relay(key: char) -> Vec<u8> {
    format!("Signal={key}\r\nDuration=160\r\n").into_bytes()
}

/// A confirmed call from the caller (UAC) to the IVR (UAS): (caller's leg, IVR's leg).
fn confirmed_call(w: &mut World) -> (LegId, LegId) {
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(1));
    let ivr_leg = w
        .events_of(Node::Uas)
        .iter()
        .find_map(|e| match e {
            CallEvent::Confirmed { leg, .. } => Some(*leg),
            _ => None,
        })
        .expect("the call is confirmed");
    (leg, ivr_leg)
}

/// Bodies of the INFOs `node` received, in order.
fn infos_received(w: &World, node: Node) -> Vec<String> {
    w.events_of(node)
        .iter()
        .filter_map(|e| match e {
            CallEvent::Info { content_type, body, .. } => {
                assert_eq!(content_type, RELAY);
                Some(String::from_utf8_lossy(body).into_owned())
            }
            _ => None,
        })
        .collect()
}

/// (simulated time, status) of every `InfoResult` `node` got.
fn results(w: &World, node: Node) -> Vec<(Duration, u16)> {
    w.events
        .iter()
        .filter(|(_, n, _)| *n == node)
        .filter_map(|(t, _, e)| match e {
            CallEvent::InfoResult { status, .. } => Some((*t, *status)),
            _ => None,
        })
        .collect()
}

fn hang_up_and_settle(w: &mut World, leg: LegId) {
    let now = w.now;
    w.uac.hangup(now, leg);
    w.run_until_idle();
    w.assert_clean();
}

#[test]
fn keys_sent_one_info_each_arrive_in_order_and_each_is_answered_200() {
    let mut w = World::new(6086, NetConfig::perfect(), Transport::Udp).answering_ivr();
    let (leg, _) = confirmed_call(&mut w);
    for key in ['1', '2', '#'] {
        let now = w.now;
        w.uac.info(now, leg, RELAY, relay(key)).expect("a confirmed call sends INFO");
        w.run_for(Duration::from_millis(240));
    }
    assert_eq!(infos_received(&w, Node::Uas), [
        "Signal=1\r\nDuration=160\r\n",
        "Signal=2\r\nDuration=160\r\n",
        "Signal=#\r\nDuration=160\r\n"
    ]);
    let statuses: Vec<u16> = results(&w, Node::Uac).iter().map(|(_, s)| *s).collect();
    assert_eq!(statuses, [200, 200, 200]);
    // Each INFO is a new request of the dialog: CSeq numbers go up from the INVITE's.
    let cseqs: Vec<String> = w
        .sent
        .iter()
        .filter(|(_, p, _)| p.from == Node::Uac && p.is("INFO"))
        .filter_map(|(_, p, _)| String::from_utf8_lossy(&p.bytes).lines().find_map(|l| l.strip_prefix("CSeq: ").map(str::to_owned)))
        .collect();
    assert_eq!(cseqs, ["2 INFO", "3 INFO", "4 INFO"]);
    hang_up_and_settle(&mut w, leg);
}

#[test]
fn the_ivr_side_can_send_info_to_the_caller_too() {
    let mut w = World::new(7, NetConfig::perfect(), Transport::Tcp).answering_ivr();
    let (leg, ivr_leg) = confirmed_call(&mut w);
    let now = w.now;
    w.uas.info(now, ivr_leg, RELAY, relay('5')).expect("either role sends INFO");
    w.run_for(Duration::from_secs(1));
    assert_eq!(infos_received(&w, Node::Uac), ["Signal=5\r\nDuration=160\r\n"]);
    assert_eq!(results(&w, Node::Uas).len(), 1);
    hang_up_and_settle(&mut w, leg);
}

#[test]
fn a_lost_info_is_sent_again_after_t1_and_delivered_once() {
    let mut w = World::new(11, NetConfig::perfect(), Transport::Udp).answering_ivr();
    let mut dropped = 0;
    w.drop_if = Some(Box::new(move |p, _| {
        let first_info = p.is("INFO") && dropped == 0;
        dropped += usize::from(first_info);
        first_info
    }));
    let (leg, _) = confirmed_call(&mut w);
    let sent_at = w.elapsed();
    let now = w.now;
    w.uac.info(now, leg, RELAY, relay('7')).expect("INFO");
    w.run_for(Duration::from_secs(2));
    assert_eq!(w.count_sent(Node::Uac, "INFO"), 2, "Timer E fired once");
    assert_eq!(infos_received(&w, Node::Uas).len(), 1);
    let [(at, 200)] = results(&w, Node::Uac)[..] else { panic!("{:?}", results(&w, Node::Uac)) };
    // T1 (500 ms) to the retransmission, then 10 ms each way.
    assert_eq!(at - sent_at, Duration::from_millis(520));
    hang_up_and_settle(&mut w, leg);
}

/// The IVR never sees the INFO: over UDP it is sent at 0, 0.5, 1.5, 3.5, 7.5 s and then every
/// T2 (4 s) until Timer F (64*T1 = 32 s); over TCP once. Either way the outcome is 408 at 32 s
/// and the call goes on.
fn unanswered_info(transport: Transport, transmissions: usize) {
    let mut w = World::new(32, NetConfig::perfect(), transport).answering_ivr();
    w.drop_if = Some(Box::new(|p, _| p.is("INFO")));
    let (leg, _) = confirmed_call(&mut w);
    let sent_at = w.elapsed();
    let now = w.now;
    w.uac.info(now, leg, RELAY, relay('9')).expect("INFO");
    w.run_for(Duration::from_secs(40));
    assert_eq!(w.count_sent(Node::Uac, "INFO"), transmissions, "{transport:?}");
    assert_eq!(results(&w, Node::Uac), [(sent_at + Duration::from_secs(32), 408)]);
    assert!(!w.event_names(Node::Uac).iter().any(|n| n.starts_with("Terminated")), "the call stays");
    hang_up_and_settle(&mut w, leg);
}

#[test]
fn an_unanswered_info_is_retransmitted_over_udp_until_timer_f_and_reported_as_408() {
    unanswered_info(Transport::Udp, 11);
}

#[test]
fn an_unanswered_info_over_tcp_is_sent_once_and_reported_as_408_at_timer_f() {
    unanswered_info(Transport::Tcp, 1);
}

#[test]
fn an_info_on_a_dialog_the_peer_has_forgotten_is_answered_481_and_reported() {
    let mut w = World::new(481, NetConfig::perfect(), Transport::Udp).answering_ivr();
    // The IVR hangs up but its BYE never arrives: after its Timer F it forgets the dialog,
    // while the caller still thinks the call is up.
    w.drop_if = Some(Box::new(|p, _| p.from == Node::Uas && p.is("BYE")));
    let (leg, ivr_leg) = confirmed_call(&mut w);
    let now = w.now;
    w.uas.hangup(now, ivr_leg);
    w.run_for(Duration::from_secs(40));
    assert_eq!(w.uas.leg_count(), 0);
    let now = w.now;
    w.uac.info(now, leg, RELAY, relay('0')).expect("the caller's leg is still confirmed");
    w.run_for(Duration::from_secs(1));
    assert_eq!(results(&w, Node::Uac).iter().map(|(_, s)| *s).collect::<Vec<_>>(), [481]);
    assert!(infos_received(&w, Node::Uas).is_empty());
    hang_up_and_settle(&mut w, leg);
}

#[test]
fn no_outcome_is_reported_after_the_call_has_ended() {
    let mut w = World::new(99, NetConfig::perfect(), Transport::Udp).answering_ivr();
    // The IVR's answers to INFO are lost: the INFO outlives the call.
    w.drop_if = Some(Box::new(|p, _| p.is("200 OK (INFO)")));
    let (leg, _) = confirmed_call(&mut w);
    let now = w.now;
    w.uac.info(now, leg, RELAY, relay('3')).expect("INFO");
    w.uac.hangup(now, leg);
    w.run_until_idle();
    let names = w.event_names(Node::Uac);
    assert_eq!(names.last().map(String::as_str), Some("Terminated ByeSent"), "{names:?}");
    assert!(results(&w, Node::Uac).is_empty(), "{names:?}");
    w.assert_clean();
}

#[test]
fn info_is_refused_outside_a_confirmed_call_and_with_an_unsafe_content_type() {
    let mut w = World::new(1, NetConfig::perfect(), Transport::Udp).answering_ivr();
    let now = w.now;
    assert_eq!(w.uac.info(now, LegId(77), RELAY, relay('1')), Err(SipError::UnknownLeg(LegId(77))));
    let leg = w.call(Some(OFFER));
    let now = w.now;
    assert_eq!(w.uac.info(now, leg, RELAY, relay('1')), Err(SipError::InvalidState { leg, command: "INFO" }));
    w.run_for(Duration::from_secs(1));
    let now = w.now;
    for bad in ["", "  ", "application/dtmf-relay\r\nX-Injected: 1"] {
        assert_eq!(w.uac.info(now, leg, bad, relay('1')), Err(SipError::InvalidContentType), "{bad:?}");
    }
    w.run_for(Duration::from_secs(1));
    assert_eq!(w.count_sent(Node::Uac, "INFO"), 0);
    hang_up_and_settle(&mut w, leg);
}
