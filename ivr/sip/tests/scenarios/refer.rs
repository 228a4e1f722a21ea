//! REFER inside a call (RFC 3515) as an operator's phone sends it for a blind transfer (RFC 5589
//! section 6): the IVR's user agent against a scripted phone (hand-written messages, built from
//! what the IVR sent) on a simulated clock, with a golden ladder of the whole exchange.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_sip::message::{self, Message, StartLine};
use ivr_sip::{CallEvent, LegId, Output, OutgoingInvite, TerminationReason, Transport, UaConfig, UserAgent};

use super::golden::assert_golden;
use super::net::{ANSWER, OFFER, event_name};

const IVR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(192, 0, 2, 20), 5060));
const PHONE: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(192, 0, 2, 30), 5062));
const PHONE_TAG: &str = "ph0ne";

/// Who called whom: the IVR calls the operator's phone (we are the UAC), or a caller's phone
/// calls the IVR (we are the UAS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setup {
    IvrCallsPhone,
    PhoneCallsIvr,
}

/// The IVR's user agent, a scripted phone, and a clock that only moves when told.
struct Rig {
    t0: Instant,
    now: Instant,
    ivr: UserAgent,
    leg: LegId,
    /// What the IVR sent the phone, not read yet.
    inbox: VecDeque<Message>,
    events: Vec<CallEvent>,
    ladder: Vec<String>,
    /// The phone's From (with its tag) and To (with the IVR's tag) for its own requests.
    phone_from: String,
    phone_to: String,
    call_id: String,
    phone_cseq: u32,
    branches: u32,
}

fn summary(msg: &Message) -> String {
    match &msg.start {
        StartLine::Request { method, .. } => method.to_string(),
        StartLine::Response { status, .. } => {
            format!("{status} {} ({})", message::reason_phrase(*status), msg.core.cseq_method)
        }
    }
}

impl Rig {
    /// A confirmed call between the IVR and the phone.
    fn call(setup: Setup) -> Rig {
        let t0 = Instant::now();
        let mut rig = Rig {
            t0,
            now: t0,
            ivr: UserAgent::new(UaConfig::new(IVR), fastrand::Rng::with_seed(5589)),
            leg: LegId(u32::MAX),
            inbox: VecDeque::new(),
            events: Vec::new(),
            ladder: Vec::new(),
            phone_from: String::new(),
            phone_to: String::new(),
            call_id: String::new(),
            phone_cseq: 0,
            branches: 0,
        };
        match setup {
            Setup::IvrCallsPhone => rig.ivr_calls_phone(),
            Setup::PhoneCallsIvr => rig.phone_calls_ivr(),
        }
        rig.take_events();
        rig
    }

    fn ivr_calls_phone(&mut self) {
        let invite = OutgoingInvite {
            to_addr: PHONE,
            transport: Transport::Udp,
            request_uri: "sip:jordi@192.0.2.30:5062".into(),
            from_uri: "sip:012@192.0.2.20".into(),
            to_uri: "sip:jordi@192.0.2.20".into(),
            sdp: Some(OFFER.to_vec()),
        };
        self.leg = self.ivr.invite(self.now, invite).expect("a valid INVITE");
        self.pump();
        let invite = self.expect("INVITE");
        let ok = message::build_response(
            &invite,
            None,
            200,
            Some(PHONE_TAG),
            &[("Contact", "<sip:jordi@192.0.2.30:5062>".to_string())],
            Some(("application/sdp", ANSWER)),
        );
        self.phone_from = format!("{};tag={PHONE_TAG}", invite.core.to);
        self.phone_to = invite.core.from.clone();
        self.call_id = invite.core.call_id.clone();
        self.phone_sends(ok);
        self.expect("ACK");
        assert_eq!(self.names(), ["Answered (sdp)"]);
    }

    fn phone_calls_ivr(&mut self) {
        self.call_id = "caller-refer-1@192.0.2.30".into();
        self.phone_from = format!("<sip:+34600111222@192.0.2.30>;tag={PHONE_TAG}");
        let invite = self.phone_request("INVITE", "sip:012@192.0.2.20", "<sip:012@192.0.2.20>", &[], Some(OFFER));
        self.phone_sends(invite);
        let Some(CallEvent::Incoming { leg, .. }) = self.events.first().cloned() else {
            panic!("no incoming call: {:?}", self.events);
        };
        self.leg = leg;
        self.ivr.answer(self.now, leg, ANSWER.to_vec());
        self.pump();
        self.expect("100 Trying");
        let ok = self.expect("200 OK (INVITE)");
        self.phone_to = ok.core.to.clone();
        let ack = self.phone_request("ACK", "sip:ivr@192.0.2.20:5060", &self.phone_to.clone(), &[], None);
        self.phone_sends(ack.replace("CSeq: 2 ACK", "CSeq: 1 ACK"));
        self.phone_cseq = 1;
        assert_eq!(self.names(), ["Incoming (offer)", "Confirmed"]);
    }

    fn elapsed(&self) -> f64 {
        (self.now - self.t0).as_secs_f64()
    }

    fn pump(&mut self) {
        while let Some(out) = self.ivr.poll_output() {
            match out {
                Output::Transmit(t) => {
                    assert_eq!(t.to, PHONE, "in-dialog requests and responses go to the phone");
                    let msg = message::parse(&t.bytes).expect("the IVR sends parseable messages");
                    self.ladder.push(format!("t={:.3} IVR->PHONE {}", self.elapsed(), summary(&msg)));
                    self.inbox.push_back(msg);
                }
                Output::Event(ev) => {
                    self.ladder.push(format!("t={:.3} IVR event {}", self.elapsed(), event_name(&ev)));
                    self.events.push(ev);
                }
            }
        }
    }

    fn phone_sends(&mut self, bytes: impl AsRef<[u8]>) {
        let bytes = bytes.as_ref();
        let msg = message::parse(bytes).expect("the script writes valid messages");
        self.ladder.push(format!("t={:.3} PHONE->IVR {}", self.elapsed(), summary(&msg)));
        self.ivr.handle_datagram(self.now, Transport::Udp, PHONE, bytes);
        self.pump();
    }

    /// A request of the phone's in this dialog (or its INVITE), with a fresh branch.
    fn phone_request(&mut self, method: &str, uri: &str, to: &str, extra: &[&str], body: Option<&[u8]>) -> String {
        self.phone_cseq += 1;
        self.branches += 1;
        let mut text = format!(
            "{method} {uri} SIP/2.0\r\nVia: SIP/2.0/UDP 192.0.2.30:5062;branch=z9hG4bKphone{};rport\r\n\
             Max-Forwards: 70\r\nFrom: {}\r\nTo: {to}\r\nCall-ID: {}\r\nCSeq: {} {method}\r\n\
             Contact: <sip:jordi@192.0.2.30:5062>\r\nUser-Agent: scripted-phone\r\n",
            self.branches, self.phone_from, self.call_id, self.phone_cseq
        );
        for header in extra {
            text.push_str(header);
            text.push_str("\r\n");
        }
        if let Some(body) = body {
            text.push_str("Content-Type: application/sdp\r\n");
            text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            text.push_str(&String::from_utf8_lossy(body));
        } else {
            text.push_str("Content-Length: 0\r\n\r\n");
        }
        text
    }

    fn in_dialog(&mut self, method: &str, extra: &[&str]) -> String {
        let to = self.phone_to.clone();
        self.phone_request(method, "sip:ivr@192.0.2.20:5060", &to, extra, None)
    }

    fn refer(&mut self, extra: &[&str]) -> String {
        self.in_dialog("REFER", extra)
    }

    fn blind_refer(&mut self) -> String {
        self.refer(&["Refer-To: <sip:general@192.0.2.20>", "Referred-By: <sip:jordi@192.0.2.20>"])
    }

    /// The phone's 200 to a request of the IVR's.
    fn phone_ok(&mut self, req: &Message) {
        let ok = message::build_response(req, None, 200, None, &[], None);
        self.phone_sends(ok);
    }

    fn expect(&mut self, prefix: &str) -> Message {
        let msg = self.inbox.pop_front().unwrap_or_else(|| panic!("nothing sent; wanted {prefix}\n{}", self.ladder.join("\n")));
        assert!(summary(&msg).starts_with(prefix), "wanted {prefix}, got {}\n{}", summary(&msg), self.ladder.join("\n"));
        msg
    }

    fn expect_silence(&self) {
        assert!(self.inbox.is_empty(), "unexpected: {:?}", self.inbox.iter().map(summary).collect::<Vec<_>>());
    }

    fn take_events(&mut self) -> Vec<CallEvent> {
        std::mem::take(&mut self.events)
    }

    fn names(&mut self) -> Vec<String> {
        self.take_events().iter().map(event_name).collect()
    }

    /// Moves the clock by `d`, firing every deadline on the way.
    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        while let Some(at) = self.ivr.poll_timeout().filter(|at| *at <= until) {
            self.now = self.now.max(at);
            self.ivr.handle_timeout(self.now);
            self.pump();
        }
        self.now = until;
    }

    /// The IVR ends the call; the phone answers its BYE; nothing is left.
    fn ivr_hangs_up(&mut self) {
        self.ivr.hangup(self.now, self.leg);
        self.pump();
        let bye = self.expect("BYE");
        self.phone_ok(&bye);
        assert_eq!(self.names(), ["Terminated ByeSent"]);
        self.assert_clean();
    }

    fn assert_clean(&mut self) {
        self.advance(Duration::from_secs(40));
        assert_eq!(self.ivr.leg_count(), 0, "legs left");
        assert_eq!(self.ivr.transaction_count(), 0, "transactions left");
    }
}

fn sipfrag(notify: &Message) -> String {
    String::from_utf8_lossy(&notify.body).into_owned()
}

#[test]
fn operator_phone_blind_transfer_202_notify_trying_then_ok_then_the_phone_hangs_up() {
    let mut rig = Rig::call(Setup::IvrCallsPhone);
    rig.advance(Duration::from_secs(5));
    let refer = rig.blind_refer();
    rig.phone_sends(refer);
    let events = rig.take_events();
    assert_eq!(
        events,
        [CallEvent::Refer {
            leg: rig.leg,
            refer_to: "sip:general@192.0.2.20".into(),
            referred_by: Some("sip:jordi@192.0.2.20".into()),
        }]
    );
    rig.expect_silence();

    rig.ivr.accept_refer(rig.now, rig.leg);
    rig.pump();
    let accepted = rig.expect("202 Accepted (REFER)");
    assert_eq!(accepted.core.to_tag, rig.phone_to.split("tag=").nth(1).map(str::to_string), "in the dialog");
    let trying = rig.expect("NOTIFY");
    assert_eq!(trying.header("Event"), Some("refer;id=1"), "RFC 3515 2.4.6: id is the REFER's CSeq");
    assert_eq!(trying.header("Subscription-State"), Some("active;expires=60"));
    assert_eq!(trying.header("Content-Type"), Some("message/sipfrag;version=2.0"));
    assert_eq!(sipfrag(&trying), "SIP/2.0 100 Trying\r\n");
    assert_eq!(trying.core.call_id, rig.call_id);
    assert!(trying.contact_uri().is_some(), "RFC 6665 4.1.3: NOTIFY carries a Contact");
    rig.advance(Duration::from_millis(20));
    rig.phone_ok(&trying);

    rig.advance(Duration::from_millis(200));
    rig.ivr.notify_refer(rig.now, rig.leg, 200, true);
    rig.pump();
    let done = rig.expect("NOTIFY");
    assert_eq!(done.header("Subscription-State"), Some("terminated;reason=noresource"));
    assert_eq!(done.header("Event"), Some("refer;id=1"));
    assert_eq!(sipfrag(&done), "SIP/2.0 200 OK\r\n");
    assert_eq!(done.core.cseq, trying.core.cseq + 1);
    rig.phone_ok(&done);
    assert!(rig.take_events().is_empty(), "the call is still up until the transferor's BYE");

    // RFC 5589 6.1: the transferor ends its call once told of the outcome.
    rig.advance(Duration::from_millis(50));
    let bye = rig.in_dialog("BYE", &[]);
    rig.phone_sends(bye);
    rig.expect("200 OK (BYE)");
    assert_eq!(rig.names(), ["Terminated ByeReceived"]);
    rig.expect_silence();
    rig.assert_clean();

    assert_golden("refer_blind_transfer.txt", &rig.ladder);
}

#[test]
fn a_caller_can_refer_the_ivr_too_and_a_failure_is_notified() {
    let mut rig = Rig::call(Setup::PhoneCallsIvr);
    let refer = rig.refer(&["r: <sip:112@192.0.2.99>"]);
    rig.phone_sends(refer);
    assert_eq!(rig.names(), ["Refer sip:112@192.0.2.99"], "compact Refer-To, no Referred-By");
    rig.ivr.accept_refer(rig.now, rig.leg);
    rig.pump();
    rig.expect("202 Accepted (REFER)");
    let trying = rig.expect("NOTIFY");
    assert_eq!(trying.header("Event"), Some("refer;id=2"));
    rig.phone_ok(&trying);
    rig.ivr.notify_refer(rig.now, rig.leg, 486, true);
    rig.pump();
    let failed = rig.expect("NOTIFY");
    assert_eq!(sipfrag(&failed), "SIP/2.0 486 Busy Here\r\n");
    assert_eq!(failed.header("Subscription-State"), Some("terminated;reason=noresource"));
    rig.phone_ok(&failed);
    // The subscription is over: further notifications are not sent.
    rig.ivr.notify_refer(rig.now, rig.leg, 200, true);
    rig.pump();
    rig.expect_silence();
    rig.ivr_hangs_up();
}

#[test]
fn a_rejected_refer_gets_its_status_no_notify_and_the_call_goes_on() {
    let mut rig = Rig::call(Setup::IvrCallsPhone);
    let refer = rig.blind_refer();
    rig.phone_sends(refer);
    rig.take_events();
    rig.ivr.reject_refer(rig.now, rig.leg, 603);
    rig.pump();
    rig.expect("603 Decline (REFER)");
    rig.expect_silence();
    // Nothing is left pending: notify_refer and a second reject do nothing.
    rig.ivr.notify_refer(rig.now, rig.leg, 200, true);
    rig.ivr.reject_refer(rig.now, rig.leg, 488);
    rig.pump();
    rig.expect_silence();
    // A later REFER is a new request, not "pending".
    let again = rig.blind_refer();
    rig.phone_sends(again);
    assert_eq!(rig.names(), ["Refer sip:general@192.0.2.20"]);
    rig.ivr.reject_refer(rig.now, rig.leg, 501);
    rig.pump();
    rig.expect("501 Not Implemented (REFER)");
    // The call itself is untouched.
    rig.ivr_hangs_up();
}

#[test]
fn refer_without_exactly_one_refer_to_is_400_and_raises_no_event() {
    let mut rig = Rig::call(Setup::IvrCallsPhone);
    let cases: [&[&str]; 4] = [
        &["Referred-By: <sip:jordi@192.0.2.20>"],
        &["Refer-To: <sip:general@192.0.2.20>", "Refer-To: <sip:health@192.0.2.20>"],
        &["Refer-To: <sip:general@192.0.2.20>, <sip:health@192.0.2.20>"],
        &["Refer-To: <>"],
    ];
    for headers in cases {
        let refer = rig.refer(headers);
        rig.phone_sends(refer);
        rig.expect("400 Bad Request (REFER)");
        assert!(rig.take_events().is_empty(), "{headers:?}");
    }
    // A comma inside the angle brackets is part of one URI.
    let refer = rig.refer(&["Refer-To: <sip:general@192.0.2.20?X-Note=a,b>"]);
    rig.phone_sends(refer);
    assert_eq!(rig.names(), ["Refer sip:general@192.0.2.20?X-Note=a,b"]);
}

#[test]
fn refer_on_an_unknown_dialog_or_outside_any_is_481() {
    let mut rig = Rig::call(Setup::IvrCallsPhone);
    let refer = rig.blind_refer();
    let stranger = refer.replace(&rig.call_id, "some-other-call@192.0.2.30");
    rig.phone_sends(stranger);
    rig.expect("481 Call/Transaction Does Not Exist (REFER)");
    let to = rig.phone_to.clone();
    let untagged = to.split(";tag=").next().unwrap_or_default().to_string();
    let outside = rig.blind_refer().replace(&to, &untagged);
    rig.phone_sends(outside);
    rig.expect("481 Call/Transaction Does Not Exist (REFER)");
    assert!(rig.take_events().is_empty());
}

#[test]
fn a_retransmitted_refer_is_absorbed_and_a_second_one_waits_its_turn() {
    let mut rig = Rig::call(Setup::IvrCallsPhone);
    let refer = rig.blind_refer();
    rig.phone_sends(&refer);
    rig.phone_sends(&refer);
    assert_eq!(rig.names(), ["Refer sip:general@192.0.2.20"], "one REFER, one event");
    rig.expect_silence();
    let second = rig.refer(&["Refer-To: <sip:health@192.0.2.20>"]);
    rig.phone_sends(second);
    rig.expect("491 Request Pending (REFER)");
    rig.ivr.accept_refer(rig.now, rig.leg);
    rig.pump();
    rig.expect("202 Accepted (REFER)");
    let trying = rig.expect("NOTIFY");
    rig.phone_sends(&refer);
    rig.expect("202 Accepted (REFER)");
    // Unanswered NOTIFYs are retransmitted (RFC 3261 17.1.2.2, Timer E).
    rig.advance(Duration::from_millis(500));
    let again = rig.expect("NOTIFY");
    assert_eq!(again.core.branch, trying.core.branch);
    rig.phone_ok(&trying);
    rig.advance(Duration::from_secs(5));
    rig.expect_silence();
}

#[test]
fn a_bye_while_the_refer_waits_for_the_application_answers_it() {
    let mut rig = Rig::call(Setup::IvrCallsPhone);
    let refer = rig.blind_refer();
    rig.phone_sends(refer);
    rig.take_events();
    let bye = rig.in_dialog("BYE", &[]);
    rig.phone_sends(bye);
    rig.expect("200 OK (BYE)");
    rig.expect("481 Call/Transaction Does Not Exist (REFER)");
    assert_eq!(rig.names(), ["Terminated ByeReceived"]);
    // The application's late answer finds nothing.
    rig.ivr.accept_refer(rig.now, rig.leg);
    rig.pump();
    rig.expect_silence();
    rig.assert_clean();
}

#[test]
fn hanging_up_while_the_refer_waits_declines_it() {
    let mut rig = Rig::call(Setup::IvrCallsPhone);
    let refer = rig.blind_refer();
    rig.phone_sends(refer);
    rig.take_events();
    rig.ivr.hangup(rig.now, rig.leg);
    rig.pump();
    rig.expect("603 Decline (REFER)");
    let bye = rig.expect("BYE");
    rig.phone_ok(&bye);
    assert_eq!(rig.names(), ["Terminated ByeSent"]);
    rig.assert_clean();
}

#[test]
fn hangup_after_ends_the_call_when_the_transferor_never_sends_bye() {
    let mut rig = Rig::call(Setup::IvrCallsPhone);
    let refer = rig.blind_refer();
    rig.phone_sends(refer);
    rig.ivr.accept_refer(rig.now, rig.leg);
    rig.ivr.notify_refer(rig.now, rig.leg, 200, true);
    rig.ivr.hangup_after(rig.now, rig.leg, Duration::from_secs(4));
    rig.pump();
    rig.expect("202 Accepted (REFER)");
    for _ in 0..2 {
        let notify = rig.expect("NOTIFY");
        rig.phone_ok(&notify);
    }
    rig.advance(Duration::from_millis(3_999));
    rig.expect_silence();
    rig.advance(Duration::from_millis(1));
    let bye = rig.expect("BYE");
    rig.phone_ok(&bye);
    assert_eq!(
        rig.take_events().last(),
        Some(&CallEvent::Terminated { leg: rig.leg, reason: TerminationReason::ByeSent })
    );
    rig.assert_clean();
}

#[test]
fn hangup_after_is_moot_once_the_phone_hung_up() {
    let mut rig = Rig::call(Setup::PhoneCallsIvr);
    rig.ivr.hangup_after(rig.now, rig.leg, Duration::from_secs(4));
    let bye = rig.in_dialog("BYE", &[]);
    rig.phone_sends(bye);
    rig.expect("200 OK (BYE)");
    rig.advance(Duration::from_secs(10));
    rig.expect_silence();
    assert_eq!(rig.names(), ["Terminated ByeReceived"]);
    rig.assert_clean();
}
