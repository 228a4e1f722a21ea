//! Supervisors monitoring calls: their browser softphone sessions (a
//! session of their own, not tied to an agent) and which call each one
//! listens to, whispers into or barges into.
//!
//! A supervisor's page opens the softphone socket as a supervisor; its
//! browser offers a media session, which the engine answers as it does an
//! agent's ([`Engine::start_browser_session`]) and keeps up, idle. Asked to
//! monitor an agent's call, the engine attaches that session to the call's
//! bridge as its third leg (the mixing rules are `ivr_media`'s
//! `bridge::monitor`); asked again with another mode, it changes the mode;
//! asked for another agent, it moves. Every start, mode change and end is a
//! privacy-relevant access: it goes into the call's timeline (and so its
//! record) and the wallboard shows it.
//!
//! Owns: the supervisors' links and sessions, the call each one monitors,
//! and the signalling messages for their browsers. Must never change the
//! monitored call: a supervisor who stops, whose session fails or whose
//! browser goes away leaves the caller and the agent talking as before; a
//! call that ends or leaves its agent ends its monitor.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use agent_console::{CallMonitor, ControlError, MonitorMode, MonitorRequest, SoftphoneMessage};
use ivr_acd::{AgentId, AgentState, CallId as AcdCallId};
use ivr_media::bridge::MonitorMode as MixMode;
use ivr_sip::LegId;
use ivr_softphone::SoftphoneEvent;
use tracing::{debug, info, warn};

use super::Engine;
use super::queueing::QueueState;
use super::softphone::Session;
use crate::media_loop::{MediaCommand, MediaId};

/// Every supervisor's softphone, and the messages for their browsers.
#[derive(Debug, Default)]
pub(super) struct Monitors {
    supervisors: HashMap<String, Supervisor>,
    by_media: HashMap<MediaId, String>,
    outbox: VecDeque<(String, SoftphoneMessage)>,
}

/// One supervisor's link (their page's softphone socket is open).
#[derive(Debug, Default)]
struct Supervisor {
    session: Option<Session>,
    watching: Option<Watch>,
}

/// The call a supervisor monitors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Watch {
    agent: AgentId,
    acd_call: AcdCallId,
    caller: LegId,
    mode: MonitorMode,
}

fn mix_mode(mode: MonitorMode) -> MixMode {
    match mode {
        MonitorMode::Listen => MixMode::Listen,
        MonitorMode::Whisper => MixMode::Whisper,
        MonitorMode::Barge => MixMode::Barge,
    }
}

fn mode_name(mode: MonitorMode) -> &'static str {
    match mode {
        MonitorMode::Listen => "listen",
        MonitorMode::Whisper => "whisper",
        MonitorMode::Barge => "barge",
    }
}

impl Engine {
    // ---- the shell's inputs and outputs --------------------------------

    /// The console opened a supervisor's softphone link (a second tab
    /// replaces the first).
    pub fn supervisor_phone_linked(&mut self, now: Instant, login: String) {
        if self.monitors.supervisors.contains_key(&login) {
            self.supervisor_phone_gone(now, &login);
        }
        info!(supervisor = %login, "supervisor softphone linked");
        self.monitors.supervisors.insert(login, Supervisor::default());
    }

    /// A message from a supervisor's browser; `None`: the link closed.
    pub fn supervisor_phone_message(&mut self, now: Instant, login: &str, message: Option<SoftphoneMessage>) {
        if !self.monitors.supervisors.contains_key(login) {
            return;
        }
        match message {
            None => {
                self.supervisor_phone_gone(now, login);
                self.monitors.supervisors.remove(login);
            }
            Some(SoftphoneMessage::Offer { sdp, .. }) => self.supervisor_offer(now, login, &sdp),
            Some(SoftphoneMessage::Ice { candidate, .. }) => {
                let session = self.monitors.supervisors.get(login).and_then(|s| s.session);
                match session {
                    Some(_) if candidate.trim().is_empty() => {}
                    Some(s) => self.media.send(MediaCommand::SoftphoneCandidate { id: s.media_id, candidate }),
                    None => self.signal_supervisor(login, SoftphoneMessage::Error { reason: "a candidate with no session".to_owned() }),
                }
            }
            Some(SoftphoneMessage::Answer { .. }) => {
                self.signal_supervisor(login, SoftphoneMessage::Error { reason: "no offer from the engine is waiting for an answer".to_owned() });
            }
            Some(SoftphoneMessage::Bye { .. }) => self.supervisor_phone_gone(now, login),
            Some(SoftphoneMessage::Ping) => self.signal_supervisor(login, SoftphoneMessage::Pong),
            Some(SoftphoneMessage::Pong) => {}
            Some(SoftphoneMessage::Error { reason }) => debug!(%reason, "the supervisor's browser could not use our last message"),
        }
    }

    /// The next message for a supervisor's browser.
    pub fn poll_supervisor_phone(&mut self) -> Option<(String, SoftphoneMessage)> {
        self.monitors.outbox.pop_front()
    }

    fn signal_supervisor(&mut self, login: &str, message: SoftphoneMessage) {
        self.monitors.outbox.push_back((login.to_owned(), message));
    }

    /// `request.supervisor` listens to, whispers into or barges into the
    /// call of `request.agent`: started, moved there, or its mode changed.
    pub fn monitor(&mut self, now: Instant, request: MonitorRequest) -> Result<(), ControlError> {
        let MonitorRequest { supervisor: login, agent, mode } = request;
        let session = self
            .monitors
            .supervisors
            .get(&login)
            .and_then(|s| s.session)
            .filter(|s| s.connected)
            .ok_or(ControlError::MonitorRefused { reason: "the supervisor's softphone is not connected" })?;
        let Some(AgentState::OnCall { call: acd_call }) = self.acd.agent_state(agent) else {
            return Err(ControlError::MonitorRefused { reason: "the agent is not on a call" });
        };
        let caller = self.acd_calls.get(&acd_call).copied().ok_or(ControlError::NotYourCall(acd_call))?;
        let media_id = self
            .calls
            .get(&caller)
            .filter(|c| c.ending.is_none() && c.queue.as_ref().is_some_and(|q| q.state == QueueState::Connected))
            .map(|c| c.media_id)
            .ok_or(ControlError::NotYourCall(acd_call))?;
        let taken = self
            .monitors
            .supervisors
            .iter()
            .any(|(other, s)| *other != login && s.watching.is_some_and(|w| w.acd_call == acd_call));
        if taken {
            return Err(ControlError::MonitorRefused { reason: "another supervisor monitors this call" });
        }
        let before = self.monitors.supervisors.get(&login).and_then(|s| s.watching);
        match before {
            Some(w) if w.acd_call == acd_call && w.mode == mode => return Ok(()),
            Some(w) if w.acd_call == acd_call => self.log_monitor(now, w.caller, &login, &format!("now {}", mode_name(mode))),
            Some(w) => {
                self.log_monitor(now, w.caller, &login, "stopped");
                self.log_monitor(now, caller, &login, &format!("started {}", mode_name(mode)));
            }
            None => self.log_monitor(now, caller, &login, &format!("started {}", mode_name(mode))),
        }
        self.media.send(MediaCommand::Monitor { a: media_id, supervisor: session.media_id, mode: mix_mode(mode) });
        if let Some(s) = self.monitors.supervisors.get_mut(&login) {
            s.watching = Some(Watch { agent, acd_call, caller, mode });
        }
        self.live_dirty = true;
        Ok(())
    }

    /// The supervisor stops monitoring; their session stays up.
    pub fn stop_monitor(&mut self, now: Instant, login: &str) -> Result<(), ControlError> {
        let s = self.monitors.supervisors.get_mut(login).ok_or(ControlError::MonitorRefused { reason: "the supervisor monitors no call" })?;
        let watch = s.watching.take().ok_or(ControlError::MonitorRefused { reason: "the supervisor monitors no call" })?;
        if let Some(session) = s.session {
            self.media.send(MediaCommand::StopMonitor { supervisor: session.media_id });
        }
        self.log_monitor(now, watch.caller, login, "stopped");
        self.live_dirty = true;
        Ok(())
    }

    /// Who monitors `call`, for the live state.
    pub(super) fn monitor_of(&self, call: AcdCallId) -> Option<CallMonitor> {
        self.monitors.supervisors.iter().find_map(|(login, s)| {
            let w = s.watching.filter(|w| w.acd_call == call)?;
            Some(CallMonitor { supervisor: login.clone(), mode: w.mode })
        })
    }

    /// Ends every monitor whose call ended or left its agent (the media
    /// thread has detached it with the bridge): logged while the call's
    /// record is still open. Cheap when nobody monitors.
    pub(super) fn settle_monitors(&mut self, now: Instant) {
        self.end_watches(now, |engine, w| !engine.still_connected(w));
    }

    /// The caller's leg is about to be forgotten: its monitor ends first,
    /// so that its record has the end.
    pub(super) fn end_monitors_of_call(&mut self, now: Instant, caller: LegId) {
        self.end_watches(now, |_, w| w.caller == caller);
    }

    fn end_watches(&mut self, now: Instant, ended: impl Fn(&Engine, &Watch) -> bool) {
        let ended: Vec<(String, Watch)> = self
            .monitors
            .supervisors
            .iter()
            .filter_map(|(login, s)| s.watching.map(|w| (login.clone(), w)))
            .filter(|(_, w)| ended(self, w))
            .collect();
        for (login, watch) in ended {
            if let Some(s) = self.monitors.supervisors.get_mut(&login) {
                s.watching = None;
                if let Some(session) = s.session {
                    self.media.send(MediaCommand::StopMonitor { supervisor: session.media_id });
                }
            }
            self.log_monitor(now, watch.caller, &login, "stopped: the call ended");
            self.live_dirty = true;
        }
    }

    fn still_connected(&self, w: &Watch) -> bool {
        let on_call = self.acd.agent_state(w.agent) == Some(AgentState::OnCall { call: w.acd_call });
        let call = self.calls.get(&w.caller);
        on_call
            && call.is_some_and(|c| c.ending.is_none() && c.queue.as_ref().is_some_and(|q| q.acd_call == w.acd_call && q.state == QueueState::Connected))
    }

    /// A monitoring event in the call's timeline (`monitoring: sara
    /// started listen`, kept in the record as a note) and the server log.
    fn log_monitor(&mut self, now: Instant, caller: LegId, login: &str, what: &str) {
        let Some(call) = self.calls.get_mut(&caller) else { return };
        let detail = format!("monitoring: {login} {what}");
        info!(parent: &call.span, supervisor = %login, "{detail}");
        call.timeline.push(now, "monitor", detail);
    }

    // ---- sessions --------------------------------------------------------

    fn supervisor_offer(&mut self, now: Instant, login: &str, sdp: &str) {
        if self.monitors.supervisors.get(login).is_some_and(|s| s.session.is_some()) {
            self.supervisor_phone_gone(now, login);
        }
        match self.start_browser_session(now, sdp) {
            Ok((session, answer)) => {
                self.monitors.by_media.insert(session.media_id, login.to_owned());
                if let Some(s) = self.monitors.supervisors.get_mut(login) {
                    s.session = Some(session);
                }
                self.signal_supervisor(login, SoftphoneMessage::Answer { call: None, sdp: answer });
            }
            Err(reason) => self.signal_supervisor(login, SoftphoneMessage::Error { reason }),
        }
    }

    /// The supervisor's session ends (bye, failure, browser gone, a new
    /// offer): their monitor ends, the call goes on.
    fn supervisor_phone_gone(&mut self, now: Instant, login: &str) {
        let Some(s) = self.monitors.supervisors.get_mut(login) else { return };
        let (session, watch) = (s.session.take(), s.watching.take());
        if let Some(session) = session {
            self.monitors.by_media.remove(&session.media_id);
            // Stopping the session detaches it from the bridge it monitors.
            self.stop_browser_session(session);
        }
        if let Some(watch) = watch {
            self.log_monitor(now, watch.caller, login, "stopped: the supervisor's softphone went away");
            self.live_dirty = true;
        }
    }

    /// A supervisor's media session event (not an agent's).
    pub(super) fn on_supervisor_phone_event(&mut self, now: Instant, id: MediaId, event: SoftphoneEvent) {
        let Some(login) = self.monitors.by_media.get(&id).cloned() else { return };
        match event {
            SoftphoneEvent::Connected => {
                info!(supervisor = %login, "supervisor softphone audio connected");
                if let Some(s) = self.monitors.supervisors.get_mut(&login).and_then(|s| s.session.as_mut()) {
                    s.connected = true;
                }
            }
            SoftphoneEvent::Interrupted => warn!(supervisor = %login, "supervisor softphone connection interrupted"),
            SoftphoneEvent::Resumed => info!(supervisor = %login, "supervisor softphone connection resumed"),
            SoftphoneEvent::Failed(reason) => {
                warn!(supervisor = %login, ?reason, "supervisor softphone session failed");
                self.supervisor_phone_gone(now, &login);
                self.signal_supervisor(&login, SoftphoneMessage::Bye { call: None });
            }
        }
    }
}
