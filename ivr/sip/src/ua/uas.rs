//! Requests we receive: dispatch, incoming calls, in-dialog requests, and the UAS commands.

use std::net::SocketAddr;
use std::time::Instant;

use super::{
    Leg, LegState, Pending2xx, Role, SHUTDOWN_RETRY_AFTER_SECS, TxId, TxKey, TxKind, TxPurpose,
    UserAgent,
};
use crate::message::{self, ALLOW, Message, Method, name_addr_uri};
use crate::transaction::{InviteServer, InviteServerState, NonInviteServer};
use crate::{CallEvent, LegId, TerminationReason, Transport};

const ACCEPT: &str = "application/sdp";
/// Content types accepted in INFO besides SDP (DTMF relay).
const SDP: &str = "application/sdp";

/// Where a request came from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Source {
    pub transport: Transport,
    pub addr: SocketAddr,
}

impl UserAgent {
    pub(super) fn on_request(
        &mut self,
        now: Instant,
        transport: Transport,
        from: SocketAddr,
        req: Message,
    ) {
        let src = Source {
            transport,
            addr: from,
        };
        let Some(method) = req.method().cloned() else {
            return;
        };
        let is_ack = method == Method::Ack;
        let key = TxKey {
            branch: req.core.branch.clone(),
            method: if is_ack { Method::Invite } else { method.clone() },
            server: true,
        };
        if let Some(&id) = self.tx_index.get(&key) {
            let accepted = self.ist_state(id) == Some(InviteServerState::Accepted);
            // A retransmission, or the ACK of a non-2xx final (RFC 3261 17.2.3). An ACK that
            // reuses the branch of an INVITE we answered 2xx is still the dialog's ACK.
            if !(is_ack && accepted) {
                self.drive_tx(now, id, |kind| match kind {
                    TxKind::InviteServer(t) => t.on_request(now, is_ack),
                    TxKind::NonInviteServer(t) => t.on_request(),
                    _ => Vec::new(),
                });
                return;
            }
        }
        match method {
            Method::Ack => return self.on_ack(now, &req),
            Method::Cancel => return self.on_cancel(now, src, &req),
            _ => {}
        }
        match req.header("Max-Forwards").map(|v| v.trim().parse::<u32>()) {
            Some(Err(_)) => return self.reply(now, src, &req, 400, &[], None),
            Some(Ok(0)) if matches!(method, Method::Invite | Method::Options) => {
                return self.reply(now, src, &req, 483, &[], None);
            }
            _ => {}
        }
        if req.core.to_tag.is_some() {
            return self.on_in_dialog_request(now, src, req);
        }
        match method {
            Method::Invite => self.on_new_invite(now, src, req),
            Method::Register if self.registrar.is_some() => self.on_register(now, src, &req),
            Method::Options => self.reply_options(now, src, &req),
            // RFC 3515 allows REFER outside a dialog; we carry out transfers of our own
            // calls only, so a REFER that names no call has nothing to act on.
            Method::Bye | Method::Info | Method::Refer => self.reply(now, src, &req, 481, &[], None),
            Method::Other(_) => self.reply(now, src, &req, 501, &[("Allow", self.allow())], None),
            _ => self.reply(now, src, &req, 405, &[("Allow", self.allow())], None),
        }
    }

    /// Answers a request that creates no leg, through a server transaction so that its
    /// retransmissions are absorbed (RFC 3261 17.2). Adds a To-tag when the request has none
    /// (RFC 3261 8.2.6.2).
    pub(super) fn reply(
        &mut self,
        now: Instant,
        src: Source,
        req: &Message,
        status: u16,
        extra: &[(&str, String)],
        body: Option<(&str, &[u8])>,
    ) {
        let tag = self.token(10);
        let mut headers = vec![("Server", self.config.user_agent.clone())];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.clone())));
        let bytes = message::build_response(req, Some(src.addr), status, Some(&tag), &headers, body);
        let id = self.new_server_tx(src, req, None);
        self.respond_tx(now, id, status, bytes);
    }

    /// RFC 3261 10.3: the registrar decides, the answer goes out through a non-INVITE server
    /// transaction (retransmitted REGISTERs get the same answer without a second decision).
    fn on_register(&mut self, now: Instant, src: Source, req: &Message) {
        let Some(registrar) = self.registrar.as_mut() else { return };
        let response = registrar.handle_register(now, &mut self.rng, src.addr, src.transport, req);
        self.reply(now, src, req, response.status, &response.headers, None);
        self.drain_registrar_events();
    }

    /// Allow header value: REGISTER is listed when a registrar is set.
    fn allow(&self) -> String {
        if self.registrar.is_some() {
            format!("{ALLOW}, REGISTER")
        } else {
            ALLOW.to_string()
        }
    }

    fn reply_options(&mut self, now: Instant, src: Source, req: &Message) {
        let extra = [
            ("Allow", self.allow()),
            ("Accept", ACCEPT.to_string()),
            ("Supported", String::new()),
        ];
        self.reply(now, src, req, 200, &extra, None);
    }

    pub(super) fn new_server_tx(&mut self, src: Source, req: &Message, leg: Option<LegId>) -> TxId {
        let invite = req.method() == Some(&Method::Invite);
        let config = self.timer_config(src.transport);
        let kind = if invite {
            TxKind::InviteServer(InviteServer::new(config))
        } else {
            TxKind::NonInviteServer(NonInviteServer::new(config))
        };
        let key = TxKey {
            branch: req.core.branch.clone(),
            method: req.method().cloned().unwrap_or(Method::Invite),
            server: true,
        };
        self.add_tx(kind, key, src.transport, src.addr, leg, TxPurpose::Other)
    }

    pub(super) fn respond_tx(&mut self, now: Instant, id: TxId, status: u16, bytes: Vec<u8>) {
        self.drive_tx(now, id, |kind| match kind {
            TxKind::InviteServer(t) => t.respond(now, status, bytes),
            TxKind::NonInviteServer(t) => t.respond(now, status, bytes),
            _ => Vec::new(),
        });
    }

    /// A response to a leg's INVITE (initial or re-INVITE) with our To-tag.
    pub(super) fn leg_response(
        &self,
        id: LegId,
        req: &Message,
        status: u16,
        extra: &[(&str, String)],
        body: Option<&[u8]>,
    ) -> Option<Vec<u8>> {
        let leg = self.legs.get(&id)?;
        let mut headers: Vec<(&str, String)> = vec![("Server", self.config.user_agent.clone())];
        if (101..300).contains(&status) {
            headers.push(("Contact", self.contact(leg.transport)));
        }
        headers.extend(extra.iter().map(|(n, v)| (*n, v.clone())));
        let body = body.map(|b| (SDP, b));
        Some(message::build_response(
            req,
            Some(leg.peer),
            status,
            Some(&leg.local_tag),
            &headers,
            body,
        ))
    }

    /// RFC 3261 9.2 / 15.1.2: an INVITE that will never be answered gets 487.
    pub(super) fn terminate_invite(&mut self, now: Instant, id: LegId, tx: TxId, invite: &Message) {
        if let Some(bytes) = self.leg_response(id, invite, 487, &[], None) {
            self.respond_tx(now, tx, 487, bytes);
        }
    }

    fn on_new_invite(&mut self, now: Instant, src: Source, req: Message) {
        if !self.config.accepting_calls {
            let retry = [("Retry-After", SHUTDOWN_RETRY_AFTER_SECS.to_string())];
            return self.reply(now, src, &req, 503, &retry, None);
        }
        // RFC 3261 8.2.2.3: we implement no extension a caller could require.
        if let Some(required) = req.header("Require").filter(|r| !r.trim().is_empty()) {
            let unsupported = [("Unsupported", required.trim().to_string())];
            return self.reply(now, src, &req, 420, &unsupported, None);
        }
        if !req.body.is_empty()
            && req
                .header("Content-Type")
                .is_some_and(|ct| !ct.trim().to_ascii_lowercase().starts_with(SDP))
        {
            return self.reply(now, src, &req, 415, &[("Accept", ACCEPT.into())], None);
        }
        let leg_id = LegId(self.next_leg);
        self.next_leg = self.next_leg.wrapping_add(1);
        let local_tag = self.token(10);
        let request_uri = match &req.start {
            message::StartLine::Request { uri, .. } => uri.clone(),
            message::StartLine::Response { .. } => return,
        };
        let from_uri = name_addr_uri(&req.core.from).unwrap_or_default().to_string();
        let to_uri = name_addr_uri(&req.core.to).unwrap_or_default().to_string();
        let tx = self.new_server_tx(src, &req, Some(leg_id));
        let leg = Leg {
            role: Role::Uas,
            state: LegState::Early,
            transport: src.transport,
            peer: src.addr,
            call_id: req.core.call_id.clone(),
            local_party: format!("{};tag={local_tag}", req.core.to),
            local_tag: local_tag.clone(),
            remote_tag: req.core.from_tag.clone(),
            remote_party: req.core.from.clone(),
            remote_target: req
                .remote_target()
                .or(Some(from_uri.as_str()).filter(|u| message::is_usable_uri(u)))
                .map_or_else(|| format!("sip:{}", message::host_port(src.addr)), str::to_string),
            // RFC 3261 12.1.1: the UAS keeps the Record-Route order.
            routes: req.record_routes(),
            local_cseq: 1,
            remote_cseq: Some(req.core.cseq),
            invite_tx: Some(tx),
            invite: None,
            pending_2xx: None,
            reinvite_in: None,
            reinvite_out: None,
            ack: None,
            ack_needs_sdp: false,
            provisional_seen: false,
            cancel_sent: false,
            hangup_requested: false,
            terminal_reported: false,
            refer: None,
            hangup_at: None,
            scheduled: None,
        };
        self.dialogs
            .insert((leg.call_id.clone(), local_tag), leg_id);
        self.legs.insert(leg_id, leg);
        // 100 Trying at once: it stops the caller's Timer A and carries no To-tag.
        let trying = message::build_response(&req, Some(src.addr), 100, None, &[], None);
        self.respond_tx(now, tx, 100, trying);
        self.emit(CallEvent::Incoming {
            leg: leg_id,
            request_uri,
            from_uri,
            to_uri,
            remote: src.addr,
            transport: src.transport,
            sdp: req.sdp(),
        });
        if let Some(leg) = self.legs.get_mut(&leg_id) {
            leg.invite = Some(req);
        }
    }

    /// The leg a request or ACK belongs to: Call-ID, our tag (their To-tag) and their tag.
    fn dialog_of(&self, req: &Message) -> Option<LegId> {
        let local = req.core.to_tag.clone()?;
        let id = *self.dialogs.get(&(req.core.call_id.clone(), local))?;
        let leg = self.legs.get(&id)?;
        match &leg.remote_tag {
            Some(tag) if Some(tag) != req.core.from_tag.as_ref() => None,
            _ => Some(id),
        }
    }

    fn on_ack(&mut self, now: Instant, req: &Message) {
        let Some(id) = self.dialog_of(req) else {
            return; // RFC 3261 17.2.3: an ACK matching nothing is dropped.
        };
        let Some(leg) = self.legs.get_mut(&id) else { return };
        if leg.pending_2xx.as_ref().map(|p| p.cseq) != Some(req.core.cseq) {
            return; // A retransmitted ACK.
        }
        leg.pending_2xx = None;
        let initial = leg.state == LegState::AwaitingAck;
        if initial {
            leg.state = LegState::Confirmed;
        }
        let hangup = leg.hangup_requested;
        self.refresh_leg(id);
        if initial {
            self.emit(CallEvent::Confirmed {
                leg: id,
                ack_sdp: req.sdp(),
            });
        }
        if hangup {
            self.send_bye(now, id);
        }
    }

    fn on_cancel(&mut self, now: Instant, src: Source, req: &Message) {
        let key = TxKey {
            branch: req.core.branch.clone(),
            method: Method::Invite,
            server: true,
        };
        let Some(&invite_tx) = self.tx_index.get(&key) else {
            return self.reply(now, src, req, 481, &[], None);
        };
        let leg_id = self.txs.get(&invite_tx).and_then(|e| e.leg);
        let local_tag = leg_id.and_then(|l| self.legs.get(&l)).map(|l| l.local_tag.clone());
        // RFC 3261 9.2: 200 to the CANCEL, with the To-tag of our responses to the INVITE.
        let tag = local_tag.unwrap_or_else(|| self.token(10));
        let ok = message::build_response(req, Some(src.addr), 200, Some(&tag), &[], None);
        let cancel_tx = self.new_server_tx(src, req, None);
        self.respond_tx(now, cancel_tx, 200, ok);
        if self.ist_state(invite_tx) != Some(InviteServerState::Proceeding) {
            return; // Already answered: the call stays (RFC 3261 9.2).
        }
        let Some(id) = leg_id else { return };
        let Some(leg) = self.legs.get_mut(&id) else { return };
        if leg.invite_tx == Some(invite_tx) && leg.state == LegState::Early {
            let Some(invite) = leg.invite.take() else { return };
            self.terminate_invite(now, id, invite_tx, &invite);
            self.finish_leg(id, CallEvent::Cancelled { leg: id });
        } else if leg.reinvite_in.as_ref().map(|(t, _)| *t) == Some(invite_tx) {
            if let Some((tx, reinvite)) = leg.reinvite_in.take() {
                self.terminate_invite(now, id, tx, &reinvite);
            }
        }
    }

    fn on_in_dialog_request(&mut self, now: Instant, src: Source, req: Message) {
        let Some(method) = req.method().cloned() else { return };
        let Some(id) = self.dialog_of(&req) else {
            return self.reply(now, src, &req, 481, &[], None);
        };
        let Some(leg) = self.legs.get_mut(&id) else { return };
        // RFC 3261 12.2.2: a lower CSeq than the last one is out of order.
        if leg.remote_cseq.is_some_and(|last| req.core.cseq < last)
            || (leg.remote_cseq == Some(req.core.cseq) && method != Method::Bye)
        {
            return self.reply(now, src, &req, 500, &[], None);
        }
        leg.remote_cseq = Some(req.core.cseq);
        match method {
            Method::Bye => self.on_bye(now, src, id, &req),
            Method::Invite => self.on_reinvite(now, src, id, req),
            Method::Refer => self.on_refer(now, src, id, req),
            Method::Info => {
                self.reply(now, src, &req, 200, &[], None);
                let content_type = req.header("Content-Type").unwrap_or_default().trim().to_string();
                self.emit(CallEvent::Info {
                    leg: id,
                    content_type,
                    body: req.body,
                });
            }
            Method::Options => self.reply_options(now, src, &req),
            Method::Other(_) => self.reply(now, src, &req, 501, &[("Allow", ALLOW.into())], None),
            _ => self.reply(now, src, &req, 405, &[("Allow", ALLOW.into())], None),
        }
    }

    fn on_bye(&mut self, now: Instant, src: Source, id: LegId, req: &Message) {
        // The 200 carries the To-tag the BYE already has.
        self.reply(now, src, req, 200, &[], None);
        self.abandon_refer(now, id, 481);
        let Some(leg) = self.legs.get_mut(&id) else { return };
        let early_invite = (leg.role == Role::Uas && leg.state == LegState::Early)
            .then(|| leg.invite.take().zip(leg.invite_tx))
            .flatten();
        let reinvite = leg.reinvite_in.take();
        // A BYE in the early dialog ends the INVITE with 487 (RFC 3261 15.1.2).
        for (pending, tx) in early_invite.into_iter().chain(reinvite.map(|(t, r)| (r, t))) {
            self.terminate_invite(now, id, tx, &pending);
        }
        self.finish_leg(
            id,
            CallEvent::Terminated {
                leg: id,
                reason: TerminationReason::ByeReceived,
            },
        );
    }

    fn on_reinvite(&mut self, now: Instant, src: Source, id: LegId, req: Message) {
        let Some(leg) = self.legs.get(&id) else { return };
        if leg.reinvite_out.is_some() {
            // RFC 3261 14.2: glare with our own re-INVITE.
            return self.reply(now, src, &req, 491, &[], None);
        }
        if leg.state != LegState::Confirmed || leg.reinvite_in.is_some() {
            let retry = [("Retry-After", self.rng.u32(0..=10).to_string())];
            return self.reply(now, src, &req, 500, &retry, None);
        }
        let tx = self.new_server_tx(src, &req, Some(id));
        let trying = message::build_response(&req, Some(src.addr), 100, None, &[], None);
        self.respond_tx(now, tx, 100, trying);
        let sdp = req.sdp();
        if let Some(leg) = self.legs.get_mut(&id) {
            // RFC 3261 12.2.2: a target refresh updates the remote target.
            if let Some(contact) = req.remote_target() {
                leg.remote_target = contact.to_string();
            }
            leg.reinvite_in = Some((tx, req));
        }
        self.emit(CallEvent::ReInvite { leg: id, sdp });
    }

    /// Sends 180 Ringing on an incoming call that is not answered yet.
    pub fn ringing(&mut self, now: Instant, leg: LegId) {
        let Some((tx, invite)) = self.early_uas(leg) else { return };
        if let Some(bytes) = self.leg_response(leg, &invite, 180, &[], None) {
            self.respond_tx(now, tx, 180, bytes);
        }
        self.restore_invite(leg, invite);
    }

    /// Answers an incoming call with 200 OK and `sdp` (the answer, or the offer if the INVITE had
    /// none), retransmitted until the ACK; without ACK in 64*T1 the call is ended with BYE.
    pub fn answer(&mut self, now: Instant, leg: LegId, sdp: Vec<u8>) {
        let Some((tx, invite)) = self.early_uas(leg) else { return };
        let extra = [("Allow", ALLOW.to_string()), ("Supported", String::new())];
        let Some(bytes) = self.leg_response(leg, &invite, 200, &extra, Some(&sdp)) else {
            return;
        };
        self.respond_tx(now, tx, 200, bytes.clone());
        self.start_2xx_retransmission(now, leg, bytes, invite.core.cseq);
        if let Some(l) = self.legs.get_mut(&leg) {
            l.state = LegState::AwaitingAck;
        }
        self.restore_invite(leg, invite);
    }

    /// Rejects an incoming call that is not answered yet (e.g. 486, 488, 503 with Retry-After).
    pub fn reject(&mut self, now: Instant, leg: LegId, status: u16, retry_after: Option<u32>) {
        if !(300..=699).contains(&status) {
            return;
        }
        let Some((tx, invite)) = self.early_uas(leg) else { return };
        let extra: Vec<(&str, String)> =
            retry_after.map(|s| ("Retry-After", s.to_string())).into_iter().collect();
        if let Some(bytes) = self.leg_response(leg, &invite, status, &extra, None) {
            self.respond_tx(now, tx, status, bytes);
        }
        self.finish_leg(
            leg,
            CallEvent::Terminated {
                leg,
                reason: TerminationReason::Rejected { status },
            },
        );
    }

    /// Accepts the pending re-INVITE with `sdp`; the 2xx is retransmitted until its ACK.
    pub fn answer_reinvite(&mut self, now: Instant, leg: LegId, sdp: Vec<u8>) {
        let Some((tx, reinvite)) = self.legs.get_mut(&leg).and_then(|l| l.reinvite_in.take()) else {
            return;
        };
        let extra = [("Allow", ALLOW.to_string()), ("Supported", String::new())];
        let Some(bytes) = self.leg_response(leg, &reinvite, 200, &extra, Some(&sdp)) else {
            return;
        };
        self.respond_tx(now, tx, 200, bytes.clone());
        self.start_2xx_retransmission(now, leg, bytes, reinvite.core.cseq);
    }

    /// Refuses the pending re-INVITE (e.g. 488); the call continues with the old session.
    pub fn reject_reinvite(&mut self, now: Instant, leg: LegId, status: u16) {
        if !(300..=699).contains(&status) {
            return;
        }
        let Some((tx, reinvite)) = self.legs.get_mut(&leg).and_then(|l| l.reinvite_in.take()) else {
            return;
        };
        if let Some(bytes) = self.leg_response(leg, &reinvite, status, &[], None) {
            self.respond_tx(now, tx, status, bytes);
        }
    }

    /// The INVITE transaction and request of an incoming call still waiting for a final answer.
    fn early_uas(&mut self, id: LegId) -> Option<(TxId, Message)> {
        let leg = self.legs.get(&id)?;
        if leg.role != Role::Uas || leg.state != LegState::Early {
            return None;
        }
        let tx = leg.invite_tx?;
        if self.ist_state(tx) != Some(InviteServerState::Proceeding) {
            return None;
        }
        let invite = self.legs.get_mut(&id)?.invite.take()?;
        Some((tx, invite))
    }

    fn restore_invite(&mut self, id: LegId, invite: Message) {
        if let Some(leg) = self.legs.get_mut(&id) {
            leg.invite = Some(invite);
        }
    }

    fn start_2xx_retransmission(&mut self, now: Instant, id: LegId, bytes: Vec<u8>, cseq: u32) {
        let t1 = self.config.t1;
        let Some(leg) = self.legs.get_mut(&id) else { return };
        // RFC 3261 13.3.1.4: retransmit from T1 doubling to T2 (not on reliable transports),
        // give up after 64*T1.
        leg.pending_2xx = Some(Pending2xx {
            bytes,
            cseq,
            interval: t1,
            retransmit_at: (!leg.transport.is_reliable()).then(|| now + t1),
            give_up_at: now + t1 * 64,
        });
        self.refresh_leg(id);
    }

    pub(super) fn on_leg_timeout(&mut self, now: Instant, id: LegId) {
        let t2 = self.config.t2;
        let Some(leg) = self.legs.get_mut(&id) else { return };
        if leg.hangup_at.is_some_and(|at| at <= now) {
            leg.hangup_at = None;
            self.hangup(now, id);
        }
        let Some(leg) = self.legs.get_mut(&id) else { return };
        let Some(pending) = leg.pending_2xx.as_mut() else {
            return self.refresh_leg(id);
        };
        if pending.give_up_at <= now {
            leg.pending_2xx = None;
            // RFC 3261 13.3.1.4: no ACK means the dialog is ended with BYE.
            self.send_bye(now, id);
            self.finish_leg_keep(
                id,
                CallEvent::Terminated {
                    leg: id,
                    reason: TerminationReason::AckTimeout,
                },
            );
        } else if pending.retransmit_at.is_some_and(|at| at <= now) {
            pending.interval = (pending.interval * 2).min(t2);
            pending.retransmit_at = Some(now + pending.interval);
            let (bytes, transport, peer) = (pending.bytes.clone(), leg.transport, leg.peer);
            self.transmit(transport, peer, bytes);
        }
        self.refresh_leg(id);
    }

    /// Emits a terminal event but keeps the leg until its BYE transaction ends.
    fn finish_leg_keep(&mut self, id: LegId, event: CallEvent) {
        let Some(leg) = self.legs.get_mut(&id) else { return };
        if !leg.terminal_reported {
            leg.terminal_reported = true;
            self.emit(event);
        }
    }
}
