//! INFO sent inside a call (RFC 6086 "legacy" usage, no Info-Package), as phones send a key
//! pressed during a call in an `application/dtmf-relay` body: one non-INVITE client transaction
//! per request (RFC 3261 17.1.2: retransmitted over UDP on Timer E, given up on Timer F), its
//! outcome handed to the application as [`CallEvent::InfoResult`].
//!
//! Owns building and sending the request and turning the transaction's end into that event. It
//! never looks inside the body (what it means is the application's business), never ends the
//! call because of the outcome (a 481 or 408 to an INFO ends the INFO only, RFC 5057 5.1 leaves
//! the dialog to the usage that owns it: here the INVITE's) and never reports an outcome after
//! the leg's terminal event. Receiving INFO is `uas.rs`'s job.

use std::time::Instant;

use super::{LegState, TxPurpose, UserAgent};
use crate::message::{Method, OutRequest};
use crate::{CallEvent, LegId, SipError};

/// RFC 3261 8.1.3.1: a transaction timeout counts as a 408 (Request Timeout).
const TIMEOUT_STATUS: u16 = 408;

impl UserAgent {
    /// Sends an INFO with `body` of `content_type` (e.g. `application/dtmf-relay` and
    /// `Signal=5\r\nDuration=160\r\n`) inside the confirmed call `leg`. Its final response, or
    /// 408 when none came (Timer F), arrives as [`CallEvent::InfoResult`] unless the call ends
    /// first. Several may be in flight; a receiver that enforces CSeq order (RFC 3261 12.2.2)
    /// answers a late one 500, so an application that needs its INFOs in order sends the next
    /// after the previous one's result.
    ///
    /// Errors: the leg does not exist, is not confirmed (before the 2xx/ACK, or its BYE is in
    /// flight), or `content_type` is empty or holds control characters.
    pub fn info(&mut self, now: Instant, leg: LegId, content_type: &str, body: Vec<u8>) -> Result<(), SipError> {
        if content_type.trim().is_empty() || content_type.chars().any(char::is_control) {
            return Err(SipError::InvalidContentType);
        }
        let l = self.legs.get(&leg).ok_or(SipError::UnknownLeg(leg))?;
        // A UAC whose ACK still waits for the application's answer has not finished the
        // three-way handshake: the peer may not know the dialog is confirmed.
        if l.state != LegState::Confirmed || (l.ack_needs_sdp && l.ack.is_none()) {
            return Err(SipError::InvalidState { leg, command: "INFO" });
        }
        let branch = self.new_branch();
        let user_agent = self.config.user_agent.clone();
        let Some(l) = self.legs.get_mut(&leg) else { return Err(SipError::UnknownLeg(leg)) };
        l.local_cseq += 1;
        let Some(l) = self.legs.get(&leg) else { return Err(SipError::UnknownLeg(leg)) };
        let request = OutRequest {
            extra: vec![("User-Agent", user_agent)],
            content_type: Some(content_type.trim().to_string()),
            body,
            ..self.dialog_request(l, Method::Info, branch, l.local_cseq)
        };
        let (transport, peer) = (l.transport, l.peer);
        self.start_non_invite(now, leg, request, TxPurpose::Info, transport, peer);
        Ok(())
    }

    /// A final response to our INFO (`Some(status)`) or its Timer F (`None`).
    pub(super) fn on_info_result(&mut self, leg: LegId, status: Option<u16>) {
        // After the leg's terminal event its id is never used again (crate invariant).
        if self.legs.get(&leg).is_none_or(|l| l.terminal_reported) {
            return;
        }
        let status = status.unwrap_or(TIMEOUT_STATUS);
        self.emit(CallEvent::InfoResult { leg, status });
    }
}
