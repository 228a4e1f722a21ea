//! The operator queue seen from a call: the dialplan's `queue` node hands
//! the caller to the ACD (sans-IO, `ivr-acd`), the caller hears hold music
//! and periodic announcements of position and estimated wait, may press the
//! callback key, and leaves the queue answered, timed out, closed or
//! abandoned. The ACD's queue log is kept in the call's timeline.
//!
//! The callback key against a ringing operator: once the ACD has an offer
//! ringing for the caller, the key is ignored and the caller keeps hearing
//! the hold music (`AcdError::OfferRinging`). The caller is about to be
//! served, and the other choice (CANCEL the offer) races the operator's
//! answer: a 200 crossing the CANCEL would leave an operator on dead air or
//! a caller bridged from the middle of the callback questions, with no
//! `after_call` to go to. A caller whose key was taken is never offered
//! while they give their number (`Acd::choose_callback`), so an answer
//! always finds the dialplan in its queue node: after the operator hangs
//! up, the caller goes to `after_call` like any answered call.
//!
//! Owns the mapping between engine calls and ACD calls, and the audio of
//! waiting. It must never decide routing (that is the ACD's) nor call flow
//! (the dialplan's); it must never lose a queued caller: every path out of
//! the queue tells both the ACD and the dialplan.

use std::time::{Duration, Instant};

use ivr_acd::{AcdError, AcdOutput, CallId as AcdCallId, CallbackNumber, EndedBy, Enqueue, QueueEvent};
use ivr_dialplan::interpreter::{Input, QueueOutcome};
use ivr_dialplan::program::SayKind;
use ivr_dialplan::say;
use ivr_sip::LegId;
use tracing::{debug, info, warn};

use super::Engine;
use crate::media_loop::MediaCommand;

/// Where a caller stands with the ACD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QueueState {
    /// Holding a place (hearing music and announcements).
    Waiting,
    /// Pressed the callback key: the dialplan takes their number while they
    /// keep their place.
    ChoosingCallback,
    /// Left a callback number and hung up (or will): the place is kept.
    CallbackRegistered,
    /// Talking to an operator.
    Connected,
}

#[derive(Debug, Clone)]
pub(super) struct QueuedCall {
    pub(super) acd_call: AcdCallId,
    pub(super) queue: String,
    pub(super) callback_key: Option<char>,
    pub(super) state: QueueState,
    pub(super) entered: Instant,
}

/// The prompt the caller hears between announcements (top-level WAV,
/// language-independent).
pub(super) const HOLD_MUSIC: &str = "hold-music";

impl Engine {
    pub(super) fn enqueue(
        &mut self,
        now: Instant,
        leg: LegId,
        queue: &str,
        skills: Vec<(String, String)>,
        priority: i32,
        max_wait: Duration,
        callback_key: Option<char>,
    ) {
        let Some(queue_id) = self.acd.queue_id(queue) else {
            // The compiler checks queue names against the queues file the
            // ACD was loaded from; a mismatch means the two files diverged.
            warn!(queue, "the dialplan names a queue the ACD does not know: treated as closed");
            self.dialogue_input(now, leg, Input::QueueOutcome(QueueOutcome::Closed));
            return;
        };
        let acd_call = AcdCallId(self.next_acd_call);
        self.next_acd_call += 1;
        let Some(call) = self.calls.get_mut(&leg) else { return };
        call.queue = Some(QueuedCall { acd_call, queue: queue.to_owned(), callback_key, state: QueueState::Waiting, entered: now });
        self.acd_calls.insert(acd_call, leg);
        info!(parent: &call.span, queue, priority, "caller queued");
        if let Err(e) = self.acd.enqueue(now, Enqueue { call: acd_call, queue: queue_id, skills, priority, max_wait: Some(max_wait) }) {
            warn!(error = %e, "the ACD refused the caller: treated as closed");
            self.leave_queue(now, leg);
            self.dialogue_input(now, leg, Input::QueueOutcome(QueueOutcome::Closed));
            return;
        }
        self.play_hold(now, leg, Vec::new());
        self.snapshot_call(now, leg);
        self.drain_acd(now);
    }

    /// The dialplan's callback node confirmed a number.
    pub(super) fn register_callback(&mut self, now: Instant, leg: LegId, queue: &str, number: String) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        call.callback_number = Some(number.clone());
        call.callback_queue = Some(queue.to_owned());
        match call.queue.as_mut() {
            // Pressed the callback key while waiting: the place is kept.
            Some(q) if q.state == QueueState::ChoosingCallback => {
                q.state = QueueState::CallbackRegistered;
                let acd_call = q.acd_call;
                info!(parent: &call.span, queue, "callback registered, keeping the caller's place");
                if let Err(e) = self.acd.request_callback(now, acd_call, CallbackNumber::new(number)) {
                    warn!(error = %e, "the ACD refused the callback");
                }
            }
            // Out of hours, after a timeout or with nobody logged in: the
            // request is kept, pending, in the call's record (the callback
            // list operators work from when the queue opens). This server
            // has no outbound trunk to dial it by itself.
            _ => info!(parent: &call.span, queue, "callback request stored for the operators' callback list"),
        }
        self.drain_acd(now);
    }

    /// A key while queued: only the callback key means anything.
    pub(super) fn queue_digit(&mut self, now: Instant, leg: LegId, digit: char) -> bool {
        let Some(call) = self.calls.get_mut(&leg) else { return false };
        let Some(q) = call.queue.as_mut() else { return false };
        if q.state != QueueState::Waiting {
            return q.state == QueueState::Connected;
        }
        if q.callback_key != Some(digit) {
            return true;
        }
        let chosen = match self.acd.choose_callback(now, q.acd_call) {
            Ok(()) => {
                q.state = QueueState::ChoosingCallback;
                call.queue_play = None;
                true
            }
            Err(AcdError::OfferRinging(_)) => {
                info!(parent: &call.span, "callback key ignored: an operator's phone rings for the caller");
                false
            }
            Err(e) => {
                warn!(parent: &call.span, error = %e, "the ACD refused the callback key");
                false
            }
        };
        // The ACD ran its due deadlines first (an offer timeout, the
        // maximum wait): their outputs are carried out whatever the answer.
        self.drain_acd(now);
        if chosen {
            self.dialogue_input(now, leg, Input::QueueOutcome(QueueOutcome::CallbackChosen));
        }
        true
    }

    /// Hold music or an announcement ended: play the music again while the
    /// caller still waits.
    pub(super) fn queue_playback_finished(&mut self, now: Instant, leg: LegId) {
        let waiting = self.calls.get(&leg).and_then(|c| c.queue.as_ref()).is_some_and(|q| q.state == QueueState::Waiting);
        if waiting {
            self.play_hold(now, leg, Vec::new());
        }
    }

    /// Plays `first` (an announcement), then the hold music.
    fn play_hold(&mut self, _now: Instant, leg: LegId, first: Vec<String>) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        let Some(dialogue) = call.dialogue.as_ref() else { return };
        let mut prompts: Vec<_> = first.iter().filter_map(|id| dialogue.prompts.get(id).cloned()).collect();
        if let Some(music) = dialogue.prompts.get(HOLD_MUSIC) {
            prompts.push(music.clone());
        }
        if prompts.is_empty() {
            return;
        }
        let token = call.next_play_token();
        call.queue_play = Some(token);
        self.media.send(MediaCommand::Play { id: call.media_id, prompts, barge_in: false, token });
    }

    /// The caller left the queue for good: forget the mapping.
    pub(super) fn leave_queue(&mut self, now: Instant, leg: LegId) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        if let Some(q) = call.queue.take() {
            self.acd_calls.remove(&q.acd_call);
            call.queue_play = None;
            call.record_queue(q, now);
        }
    }

    /// The caller hung up: tell the ACD (an abandon, or the end of a call
    /// with an operator).
    pub(super) fn queue_caller_gone(&mut self, now: Instant, leg: LegId) {
        let Some(q) = self.calls.get(&leg).and_then(|c| c.queue.clone()) else { return };
        let result = match q.state {
            QueueState::Connected => self.acd.call_ended(now, q.acd_call, EndedBy::Caller),
            // A caller who left a number keeps their place after hanging up.
            QueueState::CallbackRegistered => return self.drain_acd(now),
            QueueState::Waiting | QueueState::ChoosingCallback => self.acd.caller_abandoned(now, q.acd_call),
        };
        if let Err(e) = result {
            debug!(error = %e, "the ACD no longer held the caller");
        }
        self.leave_queue(now, leg);
        self.drain_acd(now);
    }

    /// Carries out everything the ACD asked for.
    pub(super) fn drain_acd(&mut self, now: Instant) {
        while let Some(output) = self.acd.poll_output() {
            self.live_dirty = true;
            match output {
                AcdOutput::Log(event) => self.log_queue_event(now, event),
                AcdOutput::Announce { call, position, estimated_wait } => self.announce(now, call, position, estimated_wait),
                AcdOutput::MaxWaitReached { call } => self.queue_outcome(now, call, QueueOutcome::TimedOut),
                AcdOutput::Closed { call, .. } => self.queue_outcome(now, call, QueueOutcome::Closed),
                AcdOutput::CallbackFailed { call } => {
                    if let Some(leg) = self.acd_calls.get(&call).copied() {
                        self.leave_queue(now, leg);
                    }
                    self.callbacks_failed(now, call);
                }
                AcdOutput::Offer { call, agent, queue } => self.offer_to_agent(now, call, agent, queue),
                AcdOutput::CancelOffer { call, agent, reason } => self.cancel_offer(now, call, agent, reason),
                AcdOutput::StartCallback { call, agent, number } => self.start_callback(now, call, agent, number),
                AcdOutput::AgentStateChanged { agent, status, state } => self.agent_state_changed(now, agent, status, state),
            }
        }
        self.acd_deadline = self.acd.poll_timeout();
        self.settle_monitors(now);
    }

    fn queue_outcome(&mut self, now: Instant, call: AcdCallId, outcome: QueueOutcome) {
        let Some(leg) = self.acd_calls.get(&call).copied() else { return };
        self.leave_queue(now, leg);
        self.dialogue_input(now, leg, Input::QueueOutcome(outcome));
    }

    fn announce(&mut self, now: Instant, call: AcdCallId, position: u32, estimated_wait: Option<Duration>) {
        let Some(leg) = self.acd_calls.get(&call).copied() else { return };
        let Some(c) = self.calls.get(&leg) else { return };
        if c.queue.as_ref().is_none_or(|q| q.state != QueueState::Waiting) {
            return;
        }
        let lang = c.record.language.clone();
        let mut ids = vec![format!("{lang}/queue-position")];
        ids.extend(say_ids(&lang, SayKind::Number, &position.to_string()));
        ids.push(format!("{lang}/queue-position-end"));
        if let Some(wait) = estimated_wait {
            ids.push(format!("{lang}/queue-wait"));
            ids.extend(say_ids(&lang, SayKind::Duration, &wait.as_secs().to_string()));
        }
        if c.queue.as_ref().is_some_and(|q| q.callback_key.is_some()) {
            ids.push(format!("{lang}/queue-callback"));
        }
        debug!(parent: &c.span, position, wait = ?estimated_wait, "announcement");
        self.play_hold(now, leg, ids);
    }

    fn log_queue_event(&mut self, now: Instant, event: QueueEvent) {
        let detail = format!("{:?}", event.kind);
        let name = event.kind.name();
        if let Some(leg) = event.call.and_then(|c| self.acd_calls.get(&c)).copied()
            && let Some(call) = self.calls.get_mut(&leg)
        {
            call.timeline.push(now, "queue", format!("{name} {detail}"));
        }
        if event.call.is_none() {
            // Agent events (login, pause, wrap-up): the queue log's agent half.
            info!(target: "queue_log", at_ms = event.at_ms, agent = ?event.agent, "{name} {detail}");
            self.record_staffing(now, &event);
        }
    }
}

/// Prompt ids (with the language) that say `value`, or none if it cannot
/// be said (logged: the announcement goes on without it).
fn say_ids(language: &str, kind: SayKind, value: &str) -> Vec<String> {
    match say::say(language, kind, value) {
        Ok(pieces) => pieces.into_iter().map(|p| format!("{language}/{p}")).collect(),
        Err(e) => {
            warn!(error = %e, "cannot say an announcement value");
            Vec::new()
        }
    }
}
