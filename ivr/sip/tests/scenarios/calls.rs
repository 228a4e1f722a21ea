//! Call flows between a caller (UAC) and the IVR (UAS), on the simulated network.

use std::time::Duration;

use ivr_sip::{CallEvent, LegId, Transport};

use super::net::{ANSWER, NetConfig, Node, OFFER, World};

fn uas_leg(w: &World) -> LegId {
    w.events_of(Node::Uas)
        .iter()
        .find_map(|e| match e {
            CallEvent::Incoming { leg, .. } => Some(*leg),
            _ => None,
        })
        .expect("the IVR saw the call")
}

fn last(w: &World, node: Node) -> String {
    w.event_names(node).last().cloned().unwrap_or_default()
}

/// A call is set up, lasts 10 s, then `hanger` hangs up; on a lossy network, several seeds.
fn call_under_loss(seed: u64, hanger: Node, transport: Transport) {
    let mut w = World::new(seed, NetConfig::lossy(0.2), transport).answering_ivr();
    let uac_leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(10));
    assert!(
        w.event_names(Node::Uac).contains(&"Answered (sdp)".to_string()),
        "seed {seed}: {:?}\n{}",
        w.event_names(Node::Uac),
        w.ladder.join("\n")
    );
    let now = w.now;
    match hanger {
        Node::Uac => w.uac.hangup(now, uac_leg),
        Node::Uas => {
            let leg = uas_leg(&w);
            w.uas.hangup(now, leg)
        }
    }
    w.run_until_idle();
    let (bye_sender, bye_receiver) = match hanger {
        Node::Uac => (Node::Uac, Node::Uas),
        Node::Uas => (Node::Uas, Node::Uac),
    };
    assert_eq!(last(&w, bye_sender), "Terminated ByeSent", "seed {seed}\n{}", w.ladder.join("\n"));
    assert_eq!(last(&w, bye_receiver), "Terminated ByeReceived", "seed {seed}");
    assert_eq!(w.event_names(Node::Uas)[0], "Incoming (offer)");
    w.assert_clean();
}

#[test]
fn basic_call_caller_hangs_up_under_20_percent_loss() {
    for seed in 0..8 {
        call_under_loss(seed, Node::Uac, Transport::Udp);
    }
}

#[test]
fn basic_call_ivr_hangs_up_under_20_percent_loss() {
    for seed in 100..108 {
        call_under_loss(seed, Node::Uas, Transport::Udp);
    }
}

#[test]
fn basic_call_over_tcp_never_retransmits() {
    call_under_loss(7, Node::Uac, Transport::Tcp);
    let mut w = World::new(1, NetConfig::perfect(), Transport::Tcp).answering_ivr();
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(40));
    let now = w.now;
    w.uac.hangup(now, leg);
    w.run_until_idle();
    assert_eq!(w.count_sent(Node::Uac, "INVITE"), 1);
    assert_eq!(w.count_sent(Node::Uas, "200 OK (INVITE)"), 1);
    w.assert_clean();
}

#[test]
fn two_hundred_is_retransmitted_until_the_ack_arrives() {
    let mut w = World::new(3, NetConfig::perfect(), Transport::Udp).answering_ivr();
    let mut acks = 0;
    w.drop_if = Some(Box::new(move |p, _| {
        if p.is("ACK") {
            acks += 1;
            return acks <= 2;
        }
        false
    }));
    w.call(Some(OFFER));
    w.run_for(Duration::from_secs(5));
    // 200 at 0, retransmitted at 0.5 and 1.5 s; the third ACK gets through.
    assert_eq!(w.count_sent(Node::Uas, "200 OK (INVITE)"), 3, "{}", w.ladder.join("\n"));
    assert_eq!(w.count_sent(Node::Uac, "ACK"), 3);
    assert_eq!(w.event_names(Node::Uas), ["Incoming (offer)", "Confirmed"]);
}

#[test]
fn timer_b_expires_when_the_peer_never_answers() {
    let mut w = World::new(4, NetConfig::perfect(), Transport::Udp);
    w.drop_if = Some(Box::new(|p, _| p.from == Node::Uac));
    w.call(Some(OFFER));
    w.run_until_idle();
    assert_eq!(w.event_names(Node::Uac), ["Terminated TransactionTimeout"]);
    let (t, _, _) = w.events.last().expect("event");
    assert_eq!(t.as_secs(), 32, "Timer B = 64*T1");
    // Timer A: 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5.
    assert_eq!(w.count_sent(Node::Uac, "INVITE"), 7);
    w.assert_clean();
}

#[test]
fn timer_f_expires_when_our_bye_is_never_answered() {
    let mut w = World::new(5, NetConfig::perfect(), Transport::Udp).answering_ivr();
    w.call(Some(OFFER));
    w.run_for(Duration::from_secs(2));
    // The caller's side goes silent.
    w.drop_if = Some(Box::new(|p, _| p.from == Node::Uac));
    let (now, leg) = (w.now, uas_leg(&w));
    w.uas.hangup(now, leg);
    w.run_for(Duration::from_secs(40));
    assert_eq!(last(&w, Node::Uas), "Terminated ByeSent");
    // Timer E: 0, 0.5, 1.5, 3.5, 7.5, then every T2 until Timer F at 32 s.
    assert_eq!(w.count_sent(Node::Uas, "BYE"), 11, "{}", w.ladder.join("\n"));
    assert_eq!(w.uas.leg_count(), 0);
}

#[test]
fn missing_ack_ends_the_call_with_bye_after_64_t1() {
    let mut w = World::new(6, NetConfig::perfect(), Transport::Udp).answering_ivr();
    w.drop_if = Some(Box::new(|p, _| p.is("ACK")));
    w.call(Some(OFFER));
    w.run_until_idle();
    assert_eq!(w.event_names(Node::Uas), ["Incoming (offer)", "Terminated AckTimeout"]);
    assert_eq!(w.event_names(Node::Uac), ["Progress 180", "Answered (sdp)", "Terminated ByeReceived"]);
    let timeout_at = w
        .events
        .iter()
        .find(|(_, n, e)| *n == Node::Uas && matches!(e, CallEvent::Terminated { .. }))
        .map(|(t, _, _)| t.as_secs_f64())
        .expect("terminated");
    assert!((32.0..32.1).contains(&timeout_at), "Timer H-like 64*T1, got {timeout_at}");
    // 200 at 0, then T1 doubling to T2: 0.5 1.5 3.5 7.5 11.5 ... 31.5 => 11 sends.
    assert_eq!(w.count_sent(Node::Uas, "200 OK (INVITE)"), 11);
    w.assert_clean();
}

/// An IVR that only rings.
fn ringing_ivr(seed: u64) -> World {
    let mut w = World::new(seed, NetConfig::perfect(), Transport::Udp);
    w.uas_app = Some(Box::new(|ua, now, ev| {
        if let CallEvent::Incoming { leg, .. } = ev {
            ua.ringing(now, *leg);
        }
    }));
    w
}

#[test]
fn cancel_before_answer_gets_487() {
    let mut w = ringing_ivr(7);
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(1));
    let now = w.now;
    w.uac.hangup(now, leg);
    w.run_until_idle();
    assert_eq!(w.event_names(Node::Uas), ["Incoming (offer)", "Cancelled"]);
    assert_eq!(w.event_names(Node::Uac), ["Progress 180", "Failed 487"]);
    assert_eq!(w.count_sent(Node::Uas, "200 OK (CANCEL)"), 1);
    assert_eq!(w.count_sent(Node::Uas, "487 Request Terminated (INVITE)"), 1);
    assert_eq!(w.count_sent(Node::Uac, "ACK"), 1, "the 487 is ACKed by the transaction");
    w.assert_clean();
}

#[test]
fn cancel_crossing_the_200_keeps_the_call_then_caller_sends_bye() {
    let mut w = ringing_ivr(8);
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(1));
    // Both act at the same instant: the 200 and the CANCEL cross on the wire.
    let (now, ivr_leg) = (w.now, uas_leg(&w));
    w.uas.answer(now, ivr_leg, ANSWER.to_vec());
    w.uac.hangup(now, leg);
    w.run_until_idle();
    assert_eq!(w.count_sent(Node::Uas, "200 OK (CANCEL)"), 1, "CANCEL after 200 is answered 200");
    assert_eq!(
        w.event_names(Node::Uas),
        ["Incoming (offer)", "Confirmed", "Terminated ByeReceived"]
    );
    assert_eq!(
        w.event_names(Node::Uac),
        ["Progress 180", "Answered (sdp)", "Terminated ByeSent"]
    );
    w.assert_clean();
}

#[test]
fn cancel_arriving_before_the_answer_wins() {
    let mut w = ringing_ivr(9);
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(1));
    let now = w.now;
    w.uac.hangup(now, leg);
    // The CANCEL takes 10 ms; the application answers 15 ms later: too late, a no-op.
    w.run_for(Duration::from_millis(15));
    let (now, ivr_leg) = (w.now, uas_leg(&w));
    w.uas.answer(now, ivr_leg, ANSWER.to_vec());
    w.run_until_idle();
    assert_eq!(w.event_names(Node::Uas), ["Incoming (offer)", "Cancelled"]);
    assert_eq!(w.event_names(Node::Uac), ["Progress 180", "Failed 487"]);
    assert_eq!(w.count_sent(Node::Uas, "200 OK (INVITE)"), 0);
    w.assert_clean();
}

#[test]
fn reinvite_hold_then_resume_with_new_media_address() {
    let mut w = World::new(10, NetConfig::lossy(0.1), Transport::Udp).answering_ivr();
    let app = w.uas_app.take();
    let mut inner = app.expect("answering app");
    w.uas_app = Some(Box::new(move |ua, now, ev| {
        match ev {
            CallEvent::ReInvite { leg, sdp } => {
                let sdp = sdp.clone().expect("offer in re-INVITE");
                let hold = String::from_utf8_lossy(&sdp).contains("a=sendonly");
                let answer = if hold { b"v=0\r\na=recvonly\r\n".to_vec() } else { ANSWER.to_vec() };
                ua.answer_reinvite(now, *leg, answer);
            }
            other => inner(ua, now, other),
        }
    }));
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(5));
    let now = w.now;
    w.uac.reinvite(now, leg, b"v=0\r\nc=IN IP4 192.0.2.10\r\na=sendonly\r\n".to_vec()).expect("hold");
    w.run_for(Duration::from_secs(5));
    let now = w.now;
    w.uac.reinvite(now, leg, b"v=0\r\nc=IN IP4 198.51.100.9\r\na=sendrecv\r\n".to_vec()).expect("resume");
    w.run_for(Duration::from_secs(5));
    let results: Vec<_> = w
        .events_of(Node::Uac)
        .into_iter()
        .filter_map(|e| match e {
            CallEvent::ReInviteResult { status, sdp, .. } => Some((status, sdp.expect("answer"))),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2, "{}", w.ladder.join("\n"));
    assert_eq!(results[0], (200, b"v=0\r\na=recvonly\r\n".to_vec()));
    assert_eq!(results[1], (200, ANSWER.to_vec()));
    let reinvites = w.event_names(Node::Uas).iter().filter(|n| *n == "ReInvite").count();
    assert_eq!(reinvites, 2);
    let now = w.now;
    w.uac.hangup(now, leg);
    w.run_until_idle();
    assert_eq!(last(&w, Node::Uas), "Terminated ByeReceived");
    w.assert_clean();
}

#[test]
fn rejected_reinvite_keeps_the_call() {
    let mut w = World::new(11, NetConfig::perfect(), Transport::Udp).answering_ivr();
    let app = w.uas_app.take();
    let mut inner = app.expect("answering app");
    w.uas_app = Some(Box::new(move |ua, now, ev| match ev {
        CallEvent::ReInvite { leg, .. } => ua.reject_reinvite(now, *leg, 488),
        other => inner(ua, now, other),
    }));
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(1));
    let now = w.now;
    w.uac.reinvite(now, leg, b"v=0\r\nm=video 1 RTP/AVP 96\r\n".to_vec()).expect("re-INVITE");
    w.run_for(Duration::from_secs(1));
    assert_eq!(last(&w, Node::Uac), "ReInviteResult 488");
    assert_eq!(w.uac.leg_count(), 1);
    let now = w.now;
    w.uac.hangup(now, leg);
    w.run_until_idle();
    w.assert_clean();
}

#[test]
fn bye_crossing_ends_both_sides_cleanly() {
    for seed in 20..24 {
        let mut w = World::new(seed, NetConfig::perfect(), Transport::Udp).answering_ivr();
        let leg = w.call(Some(OFFER));
        w.run_for(Duration::from_secs(2));
        let (now, ivr_leg) = (w.now, uas_leg(&w));
        w.uac.hangup(now, leg);
        w.uas.hangup(now, ivr_leg);
        w.run_until_idle();
        assert_eq!(w.count_sent(Node::Uas, "200 OK (BYE)"), 1);
        assert_eq!(w.count_sent(Node::Uac, "200 OK (BYE)"), 1);
        assert!(last(&w, Node::Uas).starts_with("Terminated"));
        assert!(last(&w, Node::Uac).starts_with("Terminated"));
        let terminals = w
            .events
            .iter()
            .filter(|(_, _, e)| matches!(e, CallEvent::Terminated { .. }))
            .count();
        assert_eq!(terminals, 2, "exactly one terminal event per side");
        w.assert_clean();
    }
}

#[test]
fn invite_without_offer_gets_offer_in_200_and_answer_in_ack() {
    let mut w = World::new(12, NetConfig::lossy(0.2), Transport::Udp).answering_ivr();
    w.uac_app = Some(Box::new(|ua, now, ev| {
        if let CallEvent::Answered { leg, sdp } = ev {
            assert_eq!(sdp.as_deref(), Some(OFFER), "the IVR's offer");
            ua.acknowledge(now, *leg, ANSWER.to_vec());
        }
    }));
    let leg = w.call(None);
    w.run_for(Duration::from_secs(10));
    let confirmed = w.events_of(Node::Uas).into_iter().find_map(|e| match e {
        CallEvent::Confirmed { ack_sdp, .. } => Some(ack_sdp),
        _ => None,
    });
    assert_eq!(confirmed, Some(Some(ANSWER.to_vec())), "{}", w.ladder.join("\n"));
    assert_eq!(w.event_names(Node::Uas)[0], "Incoming");
    let now = w.now;
    w.uac.hangup(now, leg);
    w.run_until_idle();
    w.assert_clean();
}

#[test]
fn not_accepting_calls_answers_503_with_retry_after() {
    let mut w = World::new(13, NetConfig::perfect(), Transport::Udp).answering_ivr();
    w.uas.set_accepting_calls(false);
    w.call(Some(OFFER));
    w.run_until_idle();
    assert_eq!(w.event_names(Node::Uac), ["Failed 503"]);
    assert!(w.event_names(Node::Uas).is_empty());
    let (_, reply, _) = w
        .sent
        .iter()
        .find(|(_, p, _)| p.is("503"))
        .expect("a 503");
    assert!(String::from_utf8_lossy(&reply.bytes).contains("Retry-After: "));
    w.assert_clean();
}

#[test]
fn info_in_dialog_is_answered_and_surfaced() {
    let mut w = World::new(14, NetConfig::perfect(), Transport::Udp).answering_ivr();
    w.call(Some(OFFER));
    w.run_for(Duration::from_secs(1));
    // Craft an INFO from the caller inside the dialog, reusing the dialog identifiers.
    let (_, invite, _) = w.sent.iter().find(|(_, p, _)| p.is("INVITE")).expect("INVITE").clone();
    let (_, ok, _) = w.sent.iter().find(|(_, p, _)| p.is("200 OK (INVITE)")).expect("200").clone();
    let text = String::from_utf8_lossy(&ok.bytes).to_string();
    let header = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .expect("header present")
            .to_string()
    };
    let _ = invite;
    let body = "Signal=5\r\nDuration=160\r\n";
    let info = format!(
        "INFO sip:ivr@192.0.2.20:5060 SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKinfo1\r\n\
         Max-Forwards: 70\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: 2 INFO\r\n\
         Content-Type: application/dtmf-relay\r\nContent-Length: {}\r\n\r\n{body}",
        header("From: "),
        header("To: "),
        header("Call-ID: "),
        body.len()
    );
    let now = w.now;
    w.uas.handle_datagram(now, Transport::Udp, Node::Uac.addr(), info.as_bytes());
    w.pump();
    assert_eq!(last(&w, Node::Uas), "Info application/dtmf-relay");
    assert!(w.sent.last().is_some_and(|(_, p, _)| p.is("200 OK (INFO)")));
}

#[test]
fn three_hundred_calls_per_second_under_loss_all_settle_without_leaks() {
    let mut w = World::new(99, NetConfig::lossy(0.05), Transport::Udp).answering_ivr();
    let mut legs = Vec::new();
    for _ in 0..300 {
        legs.push(w.call(Some(OFFER)));
        w.run_for(Duration::from_micros(3333));
    }
    w.run_for(Duration::from_secs(20));
    assert_eq!(w.uas.leg_count(), 300, "all calls up at once");
    for leg in legs {
        let now = w.now;
        w.uac.hangup(now, leg);
        w.run_for(Duration::from_micros(3333));
    }
    w.run_until_idle();
    let count = |node: Node, name: &str| w.event_names(node).iter().filter(|n| n.as_str() == name).count();
    assert_eq!(count(Node::Uas, "Incoming (offer)"), 300);
    assert_eq!(count(Node::Uas, "Terminated ByeReceived"), 300);
    assert_eq!(count(Node::Uac, "Terminated ByeSent"), 300);
    w.assert_clean();
    assert_eq!(w.uas.poll_timeout(), None, "no timer left behind");
}

#[test]
fn ivr_hanging_up_before_the_ack_sends_bye_once_the_ack_arrives() {
    let mut w = World::new(15, NetConfig::perfect(), Transport::Udp);
    w.uas_app = Some(Box::new(|ua, now, ev| {
        if let CallEvent::Incoming { leg, .. } = ev {
            ua.answer(now, *leg, ANSWER.to_vec());
            ua.hangup(now, *leg);
        }
    }));
    w.call(Some(OFFER));
    w.run_until_idle();
    // RFC 3261 15: no BYE before the ACK.
    let ack_at = w.sent.iter().find(|(_, p, _)| p.is("ACK")).map(|(t, _, _)| *t);
    let bye_at = w.sent.iter().find(|(_, p, _)| p.is("BYE")).map(|(t, _, _)| *t);
    assert!(ack_at.is_some() && bye_at > ack_at, "{}", w.ladder.join("\n"));
    assert_eq!(w.event_names(Node::Uas), ["Incoming (offer)", "Confirmed", "Terminated ByeSent"]);
    assert_eq!(w.event_names(Node::Uac), ["Answered (sdp)", "Terminated ByeReceived"]);
    w.assert_clean();
}

#[test]
fn ivr_hanging_up_during_an_unanswered_reinvite_answers_it_487_first() {
    let mut w = World::new(16, NetConfig::perfect(), Transport::Udp).answering_ivr();
    let app = w.uas_app.take();
    let mut inner = app.expect("answering app");
    // The IVR's application never answers re-INVITEs, and hangs up when one arrives.
    w.uas_app = Some(Box::new(move |ua, now, ev| match ev {
        CallEvent::ReInvite { leg, .. } => ua.hangup(now, *leg),
        other => inner(ua, now, other),
    }));
    let leg = w.call(Some(OFFER));
    w.run_for(Duration::from_secs(1));
    let now = w.now;
    w.uac.reinvite(now, leg, OFFER.to_vec()).expect("re-INVITE");
    w.run_until_idle();
    assert_eq!(w.count_sent(Node::Uas, "487 Request Terminated (INVITE)"), 1);
    assert_eq!(last(&w, Node::Uac), "Terminated ByeReceived");
    assert_eq!(last(&w, Node::Uas), "Terminated ByeSent");
    w.assert_clean();
}
