//! Requests we send: outgoing calls, BYE, CANCEL, re-INVITE, and the responses to them.

use std::time::Instant;

use super::{Leg, LegState, Role, TxKey, TxKind, TxPurpose, UserAgent};
use crate::message::{ALLOW, Message, Method, OutRequest, has_supported_scheme, is_usable_uri};
use crate::transaction::{InviteClient, NonInviteClient};
use crate::{CallEvent, LegId, OutgoingInvite, SipError, TerminationReason};

const SDP: &str = "application/sdp";

impl UserAgent {
    /// Places an outgoing call. ACKs are sent by the user agent (2xx) or the transaction (others).
    pub fn invite(&mut self, now: Instant, req: OutgoingInvite) -> Result<LegId, SipError> {
        for (field, uri) in [
            ("request_uri", &req.request_uri),
            ("from_uri", &req.from_uri),
            ("to_uri", &req.to_uri),
        ] {
            if !has_supported_scheme(uri) {
                return Err(SipError::UnsupportedUri { field });
            }
            if !is_usable_uri(uri) {
                return Err(SipError::UnsafeUri { field });
            }
        }
        let id = LegId(self.next_leg);
        self.next_leg = self.next_leg.wrapping_add(1);
        let local_tag = self.token(10);
        let call_id = self.token(24);
        let leg = Leg {
            role: Role::Uac,
            state: LegState::Early,
            transport: req.transport,
            peer: req.to_addr,
            call_id: call_id.clone(),
            local_tag: local_tag.clone(),
            remote_tag: None,
            local_party: format!("<{}>;tag={local_tag}", req.from_uri),
            remote_party: format!("<{}>", req.to_uri),
            remote_target: req.request_uri.clone(),
            routes: Vec::new(),
            local_cseq: 1,
            remote_cseq: None,
            invite_tx: None,
            invite: None,
            pending_2xx: None,
            reinvite_in: None,
            reinvite_out: None,
            ack: None,
            ack_needs_sdp: req.sdp.is_none(),
            provisional_seen: false,
            cancel_sent: false,
            hangup_requested: false,
            terminal_reported: false,
            refer: None,
            hangup_at: None,
            scheduled: None,
        };
        self.dialogs.insert((call_id, local_tag), id);
        self.legs.insert(id, leg);
        let tx = self.send_invite(now, id, TxPurpose::Invite, req.sdp);
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.invite_tx = tx;
        }
        Ok(id)
    }

    /// Sends our re-INVITE with a new offer (hold, resume, new media address). The outcome is a
    /// [`CallEvent::ReInviteResult`].
    pub fn reinvite(&mut self, now: Instant, leg: LegId, sdp: Vec<u8>) -> Result<(), SipError> {
        let l = self.legs.get(&leg).ok_or(SipError::UnknownLeg(leg))?;
        if l.state != LegState::Confirmed || l.reinvite_out.is_some() || l.reinvite_in.is_some() {
            return Err(SipError::InvalidState {
                leg,
                command: "re-INVITE",
            });
        }
        let tx = self.send_invite(now, leg, TxPurpose::ReInvite, Some(sdp));
        if let Some(l) = self.legs.get_mut(&leg) {
            l.reinvite_out = tx;
        }
        Ok(())
    }

    /// Sends the ACK carrying our answer when our INVITE had no offer and the 2xx carried one.
    pub fn acknowledge(&mut self, now: Instant, leg: LegId, sdp: Vec<u8>) {
        let Some(l) = self.legs.get_mut(&leg) else { return };
        if !l.ack_needs_sdp || l.ack.is_some() || l.remote_tag.is_none() {
            return;
        }
        let cseq = l.local_cseq;
        l.ack_needs_sdp = false;
        self.send_2xx_ack(now, leg, cseq, Some(sdp));
    }

    /// Ends a call: BYE when confirmed, CANCEL for our outgoing call while early, a 480 for an
    /// incoming call not answered yet (use `reject` to choose the status); right after our 2xx
    /// the BYE waits for the ACK (RFC 3261 15).
    pub fn hangup(&mut self, now: Instant, leg: LegId) {
        let Some(l) = self.legs.get_mut(&leg) else { return };
        match (l.role, l.state) {
            (_, LegState::Terminating) => {}
            (_, LegState::Confirmed) if l.ack_needs_sdp && l.ack.is_none() => {
                l.hangup_requested = true;
            }
            (_, LegState::Confirmed) => self.send_bye(now, leg),
            (Role::Uas, LegState::Early) => self.reject(now, leg, 480, None),
            (_, LegState::AwaitingAck) => l.hangup_requested = true,
            (Role::Uac, LegState::Early) => {
                l.hangup_requested = true;
                // RFC 3261 9.1: no CANCEL before a provisional response; it is sent when one
                // arrives, and a 2xx that races it is ACKed and followed by BYE.
                if l.provisional_seen && !l.cancel_sent {
                    self.send_cancel(now, leg);
                }
            }
        }
    }

    /// A request inside the leg's dialog (RFC 3261 12.2.1.1): Request-URI is the remote target,
    /// From/To/Call-ID from the dialog, Route from the route set.
    pub(super) fn dialog_request(&self, leg: &Leg, method: Method, branch: String, cseq: u32) -> OutRequest {
        OutRequest {
            method,
            uri: leg.remote_target.clone(),
            transport: leg.transport,
            local_addr: self.config.local_addr,
            branch,
            from: leg.local_party.clone(),
            to: leg.remote_party.clone(),
            call_id: leg.call_id.clone(),
            cseq,
            contact: None,
            routes: leg.routes.clone(),
            extra: Vec::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    fn send_invite(
        &mut self,
        now: Instant,
        id: LegId,
        purpose: TxPurpose,
        sdp: Option<Vec<u8>>,
    ) -> Option<super::TxId> {
        let branch = self.new_branch();
        let contact = self.contact(self.legs.get(&id)?.transport);
        let user_agent = self.config.user_agent.clone();
        let leg = self.legs.get_mut(&id)?;
        if purpose == TxPurpose::ReInvite {
            leg.local_cseq += 1;
        }
        let leg = self.legs.get(&id)?;
        let request = OutRequest {
            contact: Some(contact),
            extra: vec![
                ("Allow", ALLOW.to_string()),
                ("Supported", String::new()),
                ("User-Agent", user_agent),
            ],
            content_type: sdp.as_ref().map(|_| SDP.to_string()),
            body: sdp.unwrap_or_default(),
            ..self.dialog_request(leg, Method::Invite, branch.clone(), leg.local_cseq)
        };
        let (transport, peer) = (leg.transport, leg.peer);
        let config = self.timer_config(transport);
        let (ict, actions) = InviteClient::start(now, request, config);
        let key = TxKey {
            branch,
            method: Method::Invite,
            server: false,
        };
        let tx = self.add_tx(TxKind::InviteClient(ict), key, transport, peer, Some(id), purpose);
        self.drive_tx(now, tx, |_| actions);
        Some(tx)
    }

    /// A new in-dialog request of ours (BYE), as a non-INVITE client transaction.
    pub(super) fn send_bye(&mut self, now: Instant, id: LegId) {
        let branch = self.new_branch();
        let user_agent = self.config.user_agent.clone();
        // A REFER the application has not answered yet is declined: the call it would move ends.
        self.abandon_refer(now, id, 603);
        let Some(leg) = self.legs.get_mut(&id) else { return };
        leg.state = LegState::Terminating;
        leg.hangup_at = None;
        leg.local_cseq += 1;
        // A re-INVITE the application has not answered yet gets its final response first.
        if let Some((tx, reinvite)) = leg.reinvite_in.take() {
            self.terminate_invite(now, id, tx, &reinvite);
        }
        let Some(leg) = self.legs.get(&id) else { return };
        let request = OutRequest {
            extra: vec![("User-Agent", user_agent)],
            ..self.dialog_request(leg, Method::Bye, branch, leg.local_cseq)
        };
        let (transport, peer) = (leg.transport, leg.peer);
        self.start_non_invite(now, id, request, TxPurpose::Bye, transport, peer);
    }

    fn send_cancel(&mut self, now: Instant, id: LegId) {
        let Some(leg) = self.legs.get_mut(&id) else { return };
        leg.cancel_sent = true;
        let (transport, peer) = (leg.transport, leg.peer);
        let Some(invite_tx) = leg.invite_tx else { return };
        let Some(TxKind::InviteClient(ict)) = self.txs.get(&invite_tx).map(|e| &e.kind) else {
            return;
        };
        let request = ict.request().cancel();
        self.start_non_invite(now, id, request, TxPurpose::Cancel, transport, peer);
    }

    pub(super) fn start_non_invite(
        &mut self,
        now: Instant,
        id: LegId,
        request: OutRequest,
        purpose: TxPurpose,
        transport: crate::Transport,
        peer: std::net::SocketAddr,
    ) {
        let key = TxKey {
            branch: request.branch.clone(),
            method: request.method.clone(),
            server: false,
        };
        let config = self.timer_config(transport);
        let (nict, actions) = NonInviteClient::start(now, request.to_bytes(), config);
        let tx = self.add_tx(TxKind::NonInviteClient(nict), key, transport, peer, Some(id), purpose);
        self.drive_tx(now, tx, |_| actions);
    }

    /// RFC 3261 13.2.2.4: the ACK for a 2xx is a new request sent by the UA core, with the
    /// INVITE's CSeq number; it is kept to answer 2xx retransmissions.
    fn send_2xx_ack(&mut self, now: Instant, id: LegId, cseq: u32, sdp: Option<Vec<u8>>) {
        let branch = self.new_branch();
        let Some(leg) = self.legs.get(&id) else { return };
        let request = OutRequest {
            content_type: sdp.as_ref().map(|_| SDP.to_string()),
            body: sdp.unwrap_or_default(),
            ..self.dialog_request(leg, Method::Ack, branch, cseq)
        };
        let Some(leg) = self.legs.get_mut(&id) else { return };
        let bytes = request.to_bytes();
        leg.ack = Some((cseq, bytes.clone()));
        let (transport, peer, hangup) = (leg.transport, leg.peer, leg.hangup_requested);
        self.transmit(transport, peer, bytes);
        if hangup {
            self.send_bye(now, id);
        }
    }

    pub(super) fn on_client_response(
        &mut self,
        now: Instant,
        leg: Option<LegId>,
        purpose: TxPurpose,
        msg: Message,
    ) {
        let Some(id) = leg else { return };
        let Some(status) = msg.status() else { return };
        match purpose {
            TxPurpose::Invite => self.on_invite_response(now, id, status, msg),
            TxPurpose::ReInvite => match status {
                100..=199 => {}
                200..=299 => self.on_reinvite_2xx(now, id, msg),
                _ => self.on_reinvite_result(now, id, status, None),
            },
            TxPurpose::Bye if status >= 200 => self.finish_leg(
                id,
                CallEvent::Terminated {
                    leg: id,
                    reason: TerminationReason::ByeSent,
                },
            ),
            TxPurpose::Info if status >= 200 => self.on_info_result(id, Some(status)),
            _ => {}
        }
    }

    fn on_invite_response(&mut self, now: Instant, id: LegId, status: u16, msg: Message) {
        let Some(leg) = self.legs.get_mut(&id) else { return };
        match status {
            100 => {}
            101..=199 if leg.state == LegState::Early => {
                leg.provisional_seen = true;
                if msg.core.to_tag.is_some() {
                    leg.remote_tag = msg.core.to_tag.clone();
                    leg.remote_party = msg.core.to.clone();
                }
                let cancel = leg.hangup_requested && !leg.cancel_sent;
                self.emit(CallEvent::Progress {
                    leg: id,
                    status,
                    sdp: msg.sdp(),
                });
                if cancel {
                    self.send_cancel(now, id);
                }
            }
            200..=299 if leg.state == LegState::Early => {
                leg.state = LegState::Confirmed;
                leg.remote_tag = msg.core.to_tag.clone();
                leg.remote_party = msg.core.to.clone();
                if let Some(contact) = msg.remote_target() {
                    leg.remote_target = contact.to_string();
                }
                // RFC 3261 12.1.2: the UAC's route set is the Record-Route reversed.
                leg.routes = msg.record_routes().into_iter().rev().collect();
                let needs_sdp = leg.ack_needs_sdp;
                self.emit(CallEvent::Answered {
                    leg: id,
                    sdp: msg.sdp(),
                });
                if !needs_sdp {
                    self.send_2xx_ack(now, id, msg.core.cseq, None);
                }
            }
            200..=299 => self.resend_ack(id, &msg),
            300..=699 if leg.state == LegState::Early => {
                self.finish_leg(id, CallEvent::Failed { leg: id, status });
            }
            _ => {}
        }
    }

    /// A retransmitted 2xx (the ACK was lost): send the same ACK again.
    fn resend_ack(&mut self, id: LegId, msg: &Message) {
        let Some(leg) = self.legs.get(&id) else { return };
        if leg.remote_tag != msg.core.to_tag {
            return;
        }
        if let Some((cseq, bytes)) = &leg.ack {
            if *cseq == msg.core.cseq {
                let (transport, peer, bytes) = (leg.transport, leg.peer, bytes.clone());
                self.transmit(transport, peer, bytes);
            }
        }
    }

    fn on_reinvite_2xx(&mut self, now: Instant, id: LegId, msg: Message) {
        let Some(leg) = self.legs.get_mut(&id) else { return };
        if leg.reinvite_out.is_none() {
            return self.resend_ack(id, &msg);
        }
        leg.reinvite_out = None;
        if let Some(contact) = msg.remote_target() {
            leg.remote_target = contact.to_string();
        }
        self.send_2xx_ack(now, id, msg.core.cseq, None);
        let status = msg.status().unwrap_or(200);
        self.on_reinvite_result(now, id, status, msg.sdp());
    }

    pub(super) fn on_reinvite_result(
        &mut self,
        _now: Instant,
        id: LegId,
        status: u16,
        sdp: Option<Vec<u8>>,
    ) {
        let Some(leg) = self.legs.get_mut(&id) else { return };
        leg.reinvite_out = None;
        self.emit(CallEvent::ReInviteResult {
            leg: id,
            status,
            sdp,
        });
    }

    pub(super) fn on_invite_timed_out(&mut self, id: LegId) {
        if self.legs.get(&id).is_some_and(|l| l.state == LegState::Early) {
            self.finish_leg(
                id,
                CallEvent::Terminated {
                    leg: id,
                    reason: TerminationReason::TransactionTimeout,
                },
            );
        }
    }
}
