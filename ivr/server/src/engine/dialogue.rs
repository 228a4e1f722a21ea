//! The conversation: each answered call runs the dialplan version that was
//! in force when it started, in its own sans-IO interpreter; this module
//! feeds it (keys, prompt ends, deadlines, queue outcomes) and carries out
//! what it asks (play, hang up, queue, record, ...).
//!
//! Owns the translation between interpreter actions and the engine's
//! resources. It must never decide call flow itself: that is the dialplan's.

use std::sync::Arc;
use std::time::Instant;

use ivr_dialplan::interpreter::{Action, CallContext, Input, Interpreter, QueueOutcome, Trace};
use ivr_media::recorder::{RecordConfig, Recording};
use ivr_store::Disposition;
use ivr_sip::LegId;
use tracing::{debug, error, info, warn};

use super::{EndReason, Engine};
use crate::media_loop::MediaCommand;
use crate::prompts::PromptLibrary;
use crate::telemetry;

/// A call's running dialplan and the prompt audio of its version.
pub(super) struct Dialogue {
    pub(super) interpreter: Interpreter,
    pub(super) prompts: Arc<PromptLibrary>,
}

impl Engine {
    /// Media is flowing: start the dialplan version in force.
    pub(super) fn start_dialogue(&mut self, now: Instant, leg: LegId) {
        let wallclock = self.clock.timestamp(now);
        let program = self.dialplan.program.clone();
        let prompts = self.dialplan.prompts.clone();
        let Some(call) = self.calls.get_mut(&leg) else { return };
        call.dialplan_version = Some(program.version.clone());
        let context = CallContext { caller: call.caller.clone(), dialled: call.record.dialled.clone() };
        let interpreter = Interpreter::start(program, now, wallclock, context);
        call.dialogue = Some(Dialogue { interpreter, prompts });
        self.live_dirty = true;
        self.snapshot_call(now, leg);
        self.drive_dialogue(now, leg);
    }

    /// Gives the call's interpreter one input, then carries out its actions.
    pub(super) fn dialogue_input(&mut self, now: Instant, leg: LegId, input: Input) {
        let wallclock = self.clock.timestamp(now);
        let Some(call) = self.calls.get_mut(&leg) else { return };
        // The ACD closes a queue only to arriving callers.
        if matches!(input, Input::QueueOutcome(QueueOutcome::Closed)) {
            call.queue_refused(now);
        }
        let Some(dialogue) = call.dialogue.as_mut() else { return };
        dialogue.interpreter.handle_input(now, wallclock, input);
        self.drive_dialogue(now, leg);
    }

    pub(super) fn dialogue_timeout(&mut self, now: Instant, leg: LegId) {
        let wallclock = self.clock.timestamp(now);
        let Some(dialogue) = self.calls.get_mut(&leg).and_then(|c| c.dialogue.as_mut()) else { return };
        dialogue.interpreter.handle_timeout(now, wallclock);
        self.drive_dialogue(now, leg);
    }

    /// Drains the interpreter's actions (they may end the call) and
    /// schedules its next deadline.
    fn drive_dialogue(&mut self, now: Instant, leg: LegId) {
        loop {
            let Some(call) = self.calls.get_mut(&leg) else { return };
            let Some(dialogue) = call.dialogue.as_mut() else { break };
            let Some(action) = dialogue.interpreter.poll_action() else { break };
            self.carry_out(now, leg, action);
        }
        let deadline = self.calls.get(&leg).and_then(|c| c.dialogue.as_ref()).and_then(|d| d.interpreter.poll_timeout());
        self.flow_deadlines.schedule(leg, deadline);
    }

    fn carry_out(&mut self, now: Instant, leg: LegId, action: Action) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        match action {
            Action::Play { prompts, barge_in, sensitive } => {
                let Some(dialogue) = call.dialogue.as_ref() else { return };
                let resolved: Vec<_> = prompts
                    .iter()
                    .filter_map(|id| {
                        let p = dialogue.prompts.get(id).cloned();
                        if p.is_none() {
                            // `ivr check` refuses dialplans with missing prompts;
                            // this is a file removed after the check.
                            warn!(parent: &call.span, prompt = %if sensitive { "<sensitive>" } else { id.as_str() }, "prompt missing");
                        }
                        p
                    })
                    .collect();
                if !sensitive {
                    call.timeline.push(now, "prompt", prompts.join(","));
                }
                let token = call.next_play_token();
                call.dialogue_play = Some(token);
                self.media.send(MediaCommand::Play { id: call.media_id, prompts: resolved, barge_in, token });
            }
            Action::StopPlayback => self.media.send(MediaCommand::StopPlayback { id: call.media_id }),
            Action::Trace(trace) => self.on_trace(now, leg, trace),
            Action::SurveyAnswered { question, value } => {
                info!(parent: &call.span, %question, ?value, "survey answer");
                call.survey.push((question, value, self.clock.epoch_ms(now)));
            }
            Action::Enqueue { queue, skills, priority, max_wait, callback_key } => {
                self.enqueue(now, leg, &queue, skills, priority, max_wait, callback_key);
            }
            Action::RegisterCallback { queue, number } => self.register_callback(now, leg, &queue, number),
            Action::StartRecording { beep, max_length, silence } => {
                let config = RecordConfig {
                    beep: beep.then(Default::default),
                    max_length,
                    silence,
                    ..RecordConfig::default()
                };
                call.recording = true;
                self.media.send(MediaCommand::StartRecording { id: call.media_id, config: Box::new(config) });
            }
            Action::StopRecording => self.media.send(MediaCommand::StopRecording { id: call.media_id }),
            Action::Transfer { target } => self.transfer(now, leg, target),
            Action::Hangup => self.end_call(now, leg, EndReason::FlowHungUp),
        }
    }

    /// A playback ended: the interpreter hears of its own plays only.
    pub(super) fn on_playback_finished(&mut self, now: Instant, leg: LegId, token: u64, interrupted: bool) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        if call.dialogue_play == Some(token) {
            call.dialogue_play = None;
            self.dialogue_input(now, leg, Input::PlaybackFinished { interrupted });
        } else if call.queue_play == Some(token) {
            self.queue_playback_finished(now, leg);
        }
    }

    /// A message ended: kept for the record, the dialplan goes on.
    pub(super) fn on_recording_finished(&mut self, now: Instant, leg: LegId, recording: Recording) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        if !call.recording {
            return;
        }
        call.recording = false;
        let length = recording.duration();
        info!(parent: &call.span, seconds = length.as_secs_f32(), end = ?recording.end, "message recorded");
        if recording.speech_detected {
            call.message = Some(recording.to_wav());
        }
        self.dialogue_input(now, leg, Input::RecordingFinished { length });
    }

    fn on_trace(&mut self, now: Instant, leg: LegId, trace: Trace) {
        let Some(call) = self.calls.get_mut(&leg) else { return };
        let (kind, detail) = match &trace {
            Trace::NodeEntered { node } => {
                debug!(parent: &call.span, %node, "node");
                call.path.enter(node);
                ("node", node.clone())
            }
            Trace::KeyPressed { node, key } => {
                call.path.key(&key.to_string());
                ("key", format!("{node}:{key}"))
            }
            Trace::LanguageChanged { language } => {
                call.record.language = language.clone();
                ("language", language.clone())
            }
            Trace::VariableSet { name, value } => {
                if name == "topic" {
                    call.topic = Some(value.clone());
                }
                if name == "disposition" {
                    match value.as_str() {
                        "completed_in_ivr" => call.dialplan_disposition = Some(Disposition::CompletedInIvr),
                        "out_of_hours" => call.dialplan_disposition = Some(Disposition::OutOfHours),
                        "" => call.dialplan_disposition = None,
                        other => warn!(parent: &call.span, value = other, "`disposition` may be completed_in_ivr or out_of_hours: ignored"),
                    }
                }
                ("set", format!("{name}={value}"))
            }
            Trace::RetriesExhausted { node } => ("retries_exhausted", node.clone()),
            Trace::TransferFailed { node, status } => ("transfer_failed", format!("{node}:{status}")),
            Trace::MessageRecorded { node, length } => ("message", format!("{node}:{}ms", length.as_millis())),
            Trace::StepBudgetExceeded { node, budget } => {
                error!(parent: &call.span, %node, budget, "dialplan step budget exceeded: the call is ended");
                metrics::counter!(telemetry::DIALPLAN_ERRORS_TOTAL).increment(1);
                ("error", format!("{node}: step budget of {budget} exceeded"))
            }
            Trace::MaxIvrTimeExceeded { node, limit } => ("ivr_time_limit", format!("{node}:{}s", limit.as_secs())),
            Trace::CallerHungUp { node } => ("caller_hung_up", node.clone()),
            Trace::Error { node, error } => {
                error!(parent: &call.span, %node, %error, "dialplan error");
                metrics::counter!(telemetry::DIALPLAN_ERRORS_TOTAL).increment(1);
                ("error", format!("{node}: {error}"))
            }
        };
        call.timeline.push(now, kind, detail);
    }
}
