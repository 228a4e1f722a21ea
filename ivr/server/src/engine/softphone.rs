//! Operators' browser softphones: the console's signalling link per agent,
//! the agent's WebRTC media session (one `SoftphoneLeg` on the media
//! thread), and the calls the ACD offers to it.
//!
//! The page (agent-console/assets/softphone.js) offers a media session as
//! soon as its socket and microphone are ready; the engine answers it and
//! keeps it up between calls, so a call is connected by a bridge, with no
//! ICE or DTLS to wait for. The ACD's offer rings in the page (the live
//! feed shows it); the agent answers with the console's `Answer` (which
//! bridges the caller to the session), rejects with `Reject`, or lets the
//! ACD's offer timeout pass. An agent with a connected session is reached
//! by it rather than by a registered SIP phone.
//!
//! Owns the agents' links and sessions: which media session belongs to
//! which agent, the offer it rings for, the caller it is bridged to, and
//! the signalling messages for the shell to relay. It must never leave a
//! caller in silence: a session that fails, or a browser that goes away,
//! during a call puts the caller back at the head of their queue with the
//! hold music; during an offer, the offer fails (unreachable).

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use agent_console::{ControlError, SoftphoneMessage};
use ivr_acd::{AgentId, AgentStatus, CallId as AcdCallId, OfferFailure};
use ivr_sip::LegId;
use ivr_softphone::{SoftphoneConfig, SoftphoneEvent, SoftphoneLeg};
use tracing::{debug, info, warn};

use super::queueing::QueueState;
use super::Engine;
use crate::media_loop::{MediaCommand, MediaId};

/// Every agent's softphone, and the messages for their browsers.
#[derive(Debug, Default)]
pub(super) struct Softphones {
    agents: HashMap<AgentId, Softphone>,
    by_media: HashMap<MediaId, AgentId>,
    outbox: VecDeque<(AgentId, SoftphoneMessage)>,
}

/// One agent's link (the console's WebSocket is open).
#[derive(Debug, Default)]
struct Softphone {
    session: Option<Session>,
    /// The ACD offers this caller to the agent; rings in the page.
    offered: Option<AcdCallId>,
    /// The caller bridged to the session.
    talking: Option<Talk>,
}

/// A browser's media session on the media thread (an agent's, or a
/// supervisor's in [`super::monitor`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Session {
    pub(super) media_id: MediaId,
    pub(super) rtp_port: u16,
    pub(super) connected: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Talk {
    pub(super) acd_call: AcdCallId,
    pub(super) caller: LegId,
}

/// Why an agent's session ended, which decides what becomes of the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SessionEnd {
    /// The browser said `bye`: the agent hung up (the caller goes on to
    /// the survey).
    HungUp,
    /// The connection failed or the browser went away: the caller waits
    /// again at the head of the queue.
    Dropped,
}

impl Softphones {
    /// The session's media id of `agent`, when connected and free for a call.
    fn free_session(&self, agent: AgentId) -> Option<MediaId> {
        let phone = self.agents.get(&agent)?;
        let session = phone.session.filter(|s| s.connected)?;
        (phone.offered.is_none() && phone.talking.is_none()).then_some(session.media_id)
    }
}

impl Engine {
    // ---- the shell's inputs and outputs --------------------------------

    /// The console opened a softphone link for `agent` (a second tab
    /// replaces the first: its session ends as a drop).
    pub fn softphone_linked(&mut self, now: Instant, agent: AgentId) {
        if self.softphones.agents.contains_key(&agent) {
            self.end_session(now, agent, SessionEnd::Dropped);
        }
        info!(agent = self.acd.agent_login_name(agent).unwrap_or("?"), "softphone linked");
        self.softphones.agents.insert(agent, Softphone::default());
        self.live_dirty = true;
    }

    /// A message from `agent`'s browser; `None`: the link closed.
    pub fn softphone_message(&mut self, now: Instant, agent: AgentId, message: Option<SoftphoneMessage>) {
        if !self.softphones.agents.contains_key(&agent) {
            return;
        }
        match message {
            None => self.softphone_unlinked(now, agent),
            Some(SoftphoneMessage::Offer { sdp, .. }) => self.browser_offer(now, agent, &sdp),
            Some(SoftphoneMessage::Ice { candidate, .. }) => {
                let session = self.softphones.agents.get(&agent).and_then(|p| p.session);
                match session {
                    // The end-of-candidates marker needs nothing.
                    Some(_) if candidate.trim().is_empty() => {}
                    Some(s) => self.media.send(MediaCommand::SoftphoneCandidate { id: s.media_id, candidate }),
                    None => self.signal_browser(agent, SoftphoneMessage::Error { reason: "a candidate with no session".to_owned() }),
                }
            }
            Some(SoftphoneMessage::Answer { .. }) => {
                // The engine answers the browser's offers; it makes none.
                self.signal_browser(agent, SoftphoneMessage::Error { reason: "no offer from the engine is waiting for an answer".to_owned() });
            }
            Some(SoftphoneMessage::Bye { .. }) => self.end_session(now, agent, SessionEnd::HungUp),
            Some(SoftphoneMessage::Ping) => self.signal_browser(agent, SoftphoneMessage::Pong),
            Some(SoftphoneMessage::Pong) => {}
            Some(SoftphoneMessage::Error { reason }) => debug!(%reason, "the browser could not use our last message"),
        }
        self.drain_acd(now);
    }

    /// The next message for a browser: the shell relays it on the agent's link.
    pub fn poll_softphone(&mut self) -> Option<(AgentId, SoftphoneMessage)> {
        self.softphones.outbox.pop_front()
    }

    fn signal_browser(&mut self, agent: AgentId, message: SoftphoneMessage) {
        self.softphones.outbox.push_back((agent, message));
    }

    // ---- signalling ----------------------------------------------------

    /// The browser offers a media session: a new leg on a fresh port pair
    /// answers it, and moves to the media thread.
    fn browser_offer(&mut self, now: Instant, agent: AgentId, sdp: &str) {
        // A new offer means the browser's previous connection is gone.
        if self.softphones.agents.get(&agent).is_some_and(|p| p.session.is_some()) {
            self.end_session(now, agent, SessionEnd::Dropped);
        }
        match self.start_browser_session(now, sdp) {
            Ok((session, answer)) => {
                self.softphones.by_media.insert(session.media_id, agent);
                if let Some(phone) = self.softphones.agents.get_mut(&agent) {
                    phone.session = Some(session);
                }
                self.signal_browser(agent, SoftphoneMessage::Answer { call: None, sdp: answer });
            }
            Err(reason) => self.signal_browser(agent, SoftphoneMessage::Error { reason }),
        }
    }

    /// A new leg on a fresh port pair answers a browser's offer and moves to
    /// the media thread: the session (not yet connected) and the answer's
    /// SDP, or the reason for the browser.
    pub(super) fn start_browser_session(&mut self, now: Instant, sdp: &str) -> Result<(Session, String), String> {
        let Some(sockets) = self.ports.allocate(self.config.sip.listen.ip()) else {
            warn!("no free RTP port pair for a softphone session");
            return Err("no media port free".to_owned());
        };
        let host = SocketAddr::new(self.sip_ip, sockets.rtp_port);
        let answer = SoftphoneLeg::new(SoftphoneConfig::new(vec![host]), now).and_then(|mut leg| {
            let answer = leg.accept_offer(now, sdp)?;
            Ok((leg, answer))
        });
        let (leg, answer) = match answer {
            Ok(ok) => ok,
            Err(e) => {
                self.ports.release(sockets.rtp_port);
                info!(error = %e, "browser softphone offer refused");
                return Err(e.to_string());
            }
        };
        let media_id = MediaId(self.next_media_id);
        self.next_media_id += 1;
        self.media.send(MediaCommand::SoftphoneStart {
            id: media_id,
            rtp: sockets.rtp,
            rtcp: sockets.rtcp,
            leg: Box::new(leg),
            seed: self.rng.u64(..),
        });
        Ok((Session { media_id, rtp_port: sockets.rtp_port, connected: false }, answer))
    }

    /// Stops a browser's media session; its ports are released when the
    /// media thread reports it stopped.
    pub(super) fn stop_browser_session(&mut self, session: Session) {
        self.media.send(MediaCommand::Stop { id: session.media_id });
        self.closing_media.insert(session.media_id, (session.rtp_port, None));
    }

    /// The browser's link closed: the session ends as a drop, and the agent
    /// is logged out unless a registered phone still reaches them.
    fn softphone_unlinked(&mut self, now: Instant, agent: AgentId) {
        self.end_session(now, agent, SessionEnd::Dropped);
        self.softphones.agents.remove(&agent);
        self.live_dirty = true;
        let name = self.acd.agent_login_name(agent).unwrap_or("?").to_owned();
        if self.agent_phones.contains_key(&agent) {
            info!(agent = %name, "softphone gone: the agent's registered phone remains");
            return;
        }
        if self.acd.agent_status(agent).is_some_and(|s| *s != AgentStatus::LoggedOut) {
            info!(agent = %name, "softphone gone: agent logged out");
            if let Err(e) = self.acd.agent_logout(now, agent) {
                debug!(error = %e, "logout of an agent already out");
            }
        }
    }

    /// A media session's event from the media thread.
    pub(super) fn on_softphone_event(&mut self, now: Instant, id: MediaId, event: SoftphoneEvent) {
        let Some(&agent) = self.softphones.by_media.get(&id) else {
            return self.on_supervisor_phone_event(now, id, event);
        };
        let name = self.acd.agent_login_name(agent).unwrap_or("?").to_owned();
        match event {
            SoftphoneEvent::Connected => {
                info!(agent = %name, "softphone audio connected");
                if let Some(s) = self.softphones.agents.get_mut(&agent).and_then(|p| p.session.as_mut()) {
                    s.connected = true;
                }
            }
            SoftphoneEvent::Interrupted => warn!(agent = %name, "softphone connection interrupted"),
            SoftphoneEvent::Resumed => info!(agent = %name, "softphone connection resumed"),
            SoftphoneEvent::Failed(reason) => {
                warn!(agent = %name, ?reason, "softphone session failed");
                self.end_session(now, agent, SessionEnd::Dropped);
                // The page closes its connection and offers a new session.
                self.signal_browser(agent, SoftphoneMessage::Bye { call: None });
            }
        }
        self.live_dirty = true;
        self.drain_acd(now);
    }

    /// Stops the agent's session (if any) and settles its offer and call.
    fn end_session(&mut self, now: Instant, agent: AgentId, end: SessionEnd) {
        let talk = self.softphone_talk(agent);
        let Some(phone) = self.softphones.agents.get_mut(&agent) else { return };
        let offered = phone.offered.take();
        phone.talking = None;
        if let Some(session) = phone.session.take() {
            self.softphones.by_media.remove(&session.media_id);
            self.stop_browser_session(session);
        }
        if let Some(call) = offered
            && let Err(e) = self.acd.offer_failed(now, call, agent, OfferFailure::Unreachable)
        {
            debug!(error = %e, "offer failure after the ACD withdrew it");
        }
        match (talk, end) {
            (Some(talk), SessionEnd::HungUp) => self.operator_left(now, talk.caller, talk.acd_call),
            (Some(talk), SessionEnd::Dropped) => self.requeue_after_drop(now, talk),
            (None, _) => {}
        }
    }

    /// The browser dropped mid-call: the caller waits again at the head of
    /// their queue, with the hold music; the agent goes to wrap-up.
    fn requeue_after_drop(&mut self, now: Instant, talk: Talk) {
        let Some(call) = self.calls.get(&talk.caller) else { return };
        let queue = call.queue.as_ref().and_then(|q| self.acd.queue_id(&q.queue));
        info!(parent: &call.span, "the operator's browser dropped: back to the head of the queue");
        let Some(queue) = queue else {
            return self.operator_left(now, talk.caller, talk.acd_call);
        };
        if let Err(e) = self.requeue(now, talk.caller, talk.acd_call, queue) {
            warn!(error = %e, "the ACD refused to take the caller back");
        }
    }

    // ---- offers and calls ------------------------------------------------

    /// The ACD offers `call` to `agent`: rings in their page when their
    /// softphone session is connected and free. False: not reachable so.
    pub(super) fn softphone_offer(&mut self, call: AcdCallId, agent: AgentId) -> bool {
        if self.softphone_talk(agent).is_none()
            && let Some(phone) = self.softphones.agents.get_mut(&agent)
        {
            // A call the caller ended while talking leaves a stale record.
            phone.talking = None;
        }
        if self.softphones.free_session(agent).is_none() {
            return false;
        }
        if let Some(phone) = self.softphones.agents.get_mut(&agent) {
            phone.offered = Some(call);
        }
        true
    }

    /// The ACD took its offer back (timeout, caller left, answered elsewhere).
    pub(super) fn softphone_offer_withdrawn(&mut self, call: AcdCallId, agent: AgentId) -> bool {
        match self.softphones.agents.get_mut(&agent) {
            Some(phone) if phone.offered == Some(call) => {
                phone.offered = None;
                true
            }
            _ => false,
        }
    }

    /// The agent declined the offer in the page.
    pub(super) fn softphone_reject(&mut self, now: Instant, agent: AgentId, call: AcdCallId) -> Option<Result<(), ControlError>> {
        if !self.softphone_offer_withdrawn(call, agent) {
            return None;
        }
        Some(self.acd.offer_failed(now, call, agent, OfferFailure::Declined).map_err(Into::into))
    }

    /// The agent answered the offer in the page: the caller is bridged to
    /// the agent's session, as a SIP phone's answer does.
    pub(super) fn softphone_answer(&mut self, now: Instant, agent: AgentId, call: AcdCallId) -> Result<(), ControlError> {
        let phone = self.softphones.agents.get(&agent).ok_or(ControlError::NotSupported { what: "answer without a connected softphone" })?;
        if phone.offered != Some(call) {
            return Err(ControlError::NotYourCall(call));
        }
        let session = phone
            .session
            .filter(|s| s.connected)
            .ok_or(ControlError::NotSupported { what: "answer before the softphone's audio is connected" })?;
        let caller = self.acd_calls.get(&call).copied().ok_or(ControlError::NotYourCall(call))?;
        let caller_media = self
            .calls
            .get(&caller)
            .filter(|c| c.ending.is_none() && c.media_running)
            .map(|c| c.media_id)
            .ok_or(ControlError::NotYourCall(call))?;
        if let Some(phone) = self.softphones.agents.get_mut(&agent) {
            phone.offered = None;
            phone.talking = Some(Talk { acd_call: call, caller });
        }
        self.media.send(MediaCommand::Bridge { a: caller_media, b: session.media_id });
        self.operator_connected(now, caller, call, agent);
        Ok(())
    }

    /// Whether `agent`'s browser holds a softphone link.
    pub(super) fn softphone_linked_for(&self, agent: AgentId) -> bool {
        self.softphones.agents.contains_key(&agent)
    }

    /// The caller `agent` talks to through the softphone, while that call
    /// is still connected (a caller who hung up leaves no talk).
    pub(super) fn softphone_talk(&self, agent: AgentId) -> Option<Talk> {
        let talk = self.softphones.agents.get(&agent)?.talking?;
        let call = self.calls.get(&talk.caller)?;
        let connected = call.queue.as_ref().is_some_and(|q| q.acd_call == talk.acd_call && q.state == QueueState::Connected);
        (connected && call.ending.is_none()).then_some(talk)
    }

    /// The agent hung up (console) or handed the caller on: the session
    /// stays up for the next call.
    pub(super) fn softphone_release(&mut self, agent: AgentId) {
        if let Some(phone) = self.softphones.agents.get_mut(&agent) {
            phone.talking = None;
        }
    }
}
