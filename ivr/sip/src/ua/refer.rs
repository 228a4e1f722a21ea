//! REFER received inside a call (RFC 3515), as an operator's phone sends it for a blind transfer
//! (RFC 5589 section 6): the request is checked and handed to the application as
//! [`CallEvent::Refer`]; the application accepts it (202, then the implicit subscription's
//! NOTIFYs with `message/sipfrag` bodies) or rejects it.
//!
//! Owns the REFER's server transaction while the application decides, and the implicit
//! subscription's NOTIFYs. It never acts on the Refer-To itself (where a call goes is the
//! application's decision) and never ends the call because of a REFER: RFC 5589 leaves the BYE
//! to the transferor, with `hangup_after` as the application's fallback.

use std::time::{Duration, Instant};

use super::uas::Source;
use super::{LegState, TxId, TxPurpose, UserAgent};
use crate::message::{self, Message, Method, OutRequest, name_addr_uri, split_top_level_commas};
use crate::{CallEvent, LegId};

/// `expires` of the implicit subscription while it is active (RFC 6665 4.1.3: the notifier
/// chooses; a transfer into a queue completes in well under this).
const SUBSCRIPTION_SECS: u32 = 60;
/// RFC 3515 2.3.5: the body of the NOTIFYs.
const SIPFRAG: &str = "message/sipfrag;version=2.0";

/// Where a leg stands with an incoming REFER.
#[derive(Debug)]
pub(super) enum ReferIn {
    /// Waiting for `accept_refer` or `reject_refer`.
    Pending { tx: TxId, request: Box<Message> },
    /// Accepted: NOTIFYs carry `Event: refer;id=<the REFER's CSeq>` (RFC 3515 2.4.6).
    Subscribed { id: u32 },
}

impl UserAgent {
    /// RFC 3515 2.4.2: a REFER inside a dialog.
    pub(super) fn on_refer(&mut self, now: Instant, src: Source, id: LegId, req: Message) {
        let Some((state, busy)) = self.legs.get(&id).map(|l| (l.state, l.refer.is_some())) else {
            return;
        };
        match state {
            LegState::Confirmed => {}
            // The call is ending: there is nothing left to transfer.
            LegState::Terminating => return self.reply(now, src, &req, 481, &[], None),
            // RFC 3261 14.2-style: before the ACK (or a REFER that overtook the 200), retry later.
            LegState::Early | LegState::AwaitingAck => {
                let retry = [("Retry-After", self.rng.u32(0..=10).to_string())];
                return self.reply(now, src, &req, 500, &retry, None);
            }
        }
        if busy {
            // One transfer at a time: the earlier one has not finished.
            return self.reply(now, src, &req, 491, &[], None);
        }
        // RFC 3515 2.4.1: exactly one Refer-To, else 400 (a comma-separated list counts as many).
        let targets: Vec<&str> = req.headers_named("Refer-To").flat_map(split_top_level_commas).collect();
        let refer_to = match targets.as_slice() {
            [one] => name_addr_uri(one).map(str::to_string),
            _ => None,
        };
        let Some(refer_to) = refer_to else {
            return self.reply(now, src, &req, 400, &[], None);
        };
        let referred_by = req.header("Referred-By").and_then(name_addr_uri).map(str::to_string);
        let tx = self.new_server_tx(src, &req, Some(id));
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.refer = Some(ReferIn::Pending { tx, request: Box::new(req) });
        }
        self.emit(CallEvent::Refer {
            leg: id,
            refer_to,
            referred_by,
        });
    }

    /// Accepts the pending REFER of `leg` (after [`CallEvent::Refer`]): 202 Accepted, then the
    /// first NOTIFY of the implicit subscription (`SIP/2.0 100 Trying`, `Subscription-State:
    /// active`). Report the outcome with [`UserAgent::notify_refer`].
    pub fn accept_refer(&mut self, now: Instant, leg: LegId) {
        let Some((tx, request)) = self.take_pending_refer(leg) else { return };
        if let Some(bytes) = self.leg_response(leg, &request, 202, &[], None) {
            self.respond_tx(now, tx, 202, bytes);
        }
        if let Some(l) = self.legs.get_mut(&leg) {
            l.refer = Some(ReferIn::Subscribed { id: request.core.cseq });
        }
        self.notify_refer(now, leg, 100, false);
    }

    /// Rejects the pending REFER of `leg` with `status` (300-699, e.g. 603 Decline, 488, 501);
    /// the call goes on as before.
    pub fn reject_refer(&mut self, now: Instant, leg: LegId, status: u16) {
        if !(300..=699).contains(&status) {
            return;
        }
        let Some((tx, request)) = self.take_pending_refer(leg) else { return };
        if let Some(bytes) = self.leg_response(leg, &request, status, &[], None) {
            self.respond_tx(now, tx, status, bytes);
        }
    }

    /// A NOTIFY of the accepted REFER's progress: the body is `SIP/2.0 <status> <reason>`
    /// (RFC 3515 2.4.5); with `terminated` the subscription ends (`Subscription-State:
    /// terminated;reason=noresource`), as it must once the status is final. Ignored unless
    /// `leg` has an accepted REFER and is still confirmed.
    pub fn notify_refer(&mut self, now: Instant, leg: LegId, status: u16, terminated: bool) {
        if !(100..=699).contains(&status) {
            return;
        }
        let branch = self.new_branch();
        let user_agent = self.config.user_agent.clone();
        let Some(l) = self.legs.get(&leg) else { return };
        let Some(ReferIn::Subscribed { id }) = l.refer else { return };
        if l.state != LegState::Confirmed {
            return;
        }
        let contact = self.contact(l.transport);
        let Some(l) = self.legs.get_mut(&leg) else { return };
        l.local_cseq += 1;
        if terminated {
            l.refer = None;
        }
        let subscription_state = if terminated {
            "terminated;reason=noresource".to_string()
        } else {
            format!("active;expires={SUBSCRIPTION_SECS}")
        };
        let fragment = format!("SIP/2.0 {status} {}\r\n", message::reason_phrase(status));
        let Some(l) = self.legs.get(&leg) else { return };
        let request = OutRequest {
            contact: Some(contact),
            extra: vec![
                ("Event", format!("refer;id={id}")),
                ("Subscription-State", subscription_state),
                ("User-Agent", user_agent),
            ],
            content_type: Some(SIPFRAG.to_string()),
            body: fragment.into_bytes(),
            ..self.dialog_request(l, Method::Notify, branch, l.local_cseq)
        };
        let (transport, peer) = (l.transport, l.peer);
        // The NOTIFY's outcome changes nothing for the call (RFC 5057: a failed NOTIFY ends
        // the subscription only, and ours ends with the call anyway).
        self.start_non_invite(now, leg, request, TxPurpose::Other, transport, peer);
    }

    /// Ends the call with BYE after `grace` unless it ended before (e.g. a transferor that never
    /// sends the BYE RFC 5589 expects of it). A later `hangup_after` replaces the deadline.
    pub fn hangup_after(&mut self, now: Instant, leg: LegId, grace: Duration) {
        let Some(l) = self.legs.get_mut(&leg) else { return };
        if l.state == LegState::Terminating {
            return;
        }
        l.hangup_at = Some(now + grace);
        self.refresh_leg(leg);
    }

    /// The call ends while a REFER waits for the application: it gets `status` so that its
    /// transaction does not linger.
    pub(super) fn abandon_refer(&mut self, now: Instant, leg: LegId, status: u16) {
        if let Some((tx, request)) = self.take_pending_refer(leg)
            && let Some(bytes) = self.leg_response(leg, &request, status, &[], None)
        {
            self.respond_tx(now, tx, status, bytes);
        }
    }

    fn take_pending_refer(&mut self, leg: LegId) -> Option<(TxId, Message)> {
        let l = self.legs.get_mut(&leg)?;
        match l.refer.take() {
            Some(ReferIn::Pending { tx, request }) => Some((tx, *request)),
            other => {
                l.refer = other;
                None
            }
        }
    }
}
