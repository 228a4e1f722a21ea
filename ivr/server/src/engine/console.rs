//! The console's view of the engine: the live state (queues, agents, calls
//! with what the caller told the IVR) and the commands agents and
//! supervisors send (status, wrap-up, hang-up, hold, transfer, survey).
//!
//! Owns translating console commands into ACD commands and call actions,
//! and which call each agent wraps up (the one they last answered): a
//! finished wrap-up with a disposition code goes to the wrap-up writer
//! without waiting.
//! It must never trust the console to have checked the state: every
//! command is checked again here and refused with a `ControlError`, with
//! nothing changed.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use agent_console::{AgentCommand, CallContext, ControlError, LiveState, TransferTarget};
use ivr_acd::{AcdConfig, AgentId, AgentState, CallId as AcdCallId, Enqueue, OfferFailure};
use ivr_store::CallWrapUp;
use ivr_dialplan::interpreter::{Input, QueueOutcome};
use tracing::info;

use ivr_sip::LegId;

use super::b2bua::{OutState, Purpose};
use super::queueing::{QueueState, QueuedCall};
use super::Engine;
use super::agents::agent_of;
use crate::media_loop::MediaCommand;
use crate::wiring::AgentPasswords;
use crate::wrap_up_writer::WrapUpSender;

/// Priority of a caller an operator transferred to another queue (or whose
/// operator's browser dropped): served before new callers.
const TRANSFER_PRIORITY: i32 = 10;

/// How an agent is connected to a call.
#[derive(Debug, Clone, Copy)]
enum Operator {
    /// A SIP phone, by this outgoing leg.
    Phone(LegId),
    /// The browser softphone's session.
    Softphone,
}

/// The call an agent last answered: their wrap-up is for it.
#[derive(Debug, Clone)]
struct AgentCall {
    acd_call: AcdCallId,
    /// The call's record id (`calls.call_id`).
    call_id: String,
}

/// Each agent's last call, and where finished wrap-ups go.
#[derive(Debug, Default)]
pub(super) struct WrapUps {
    last_calls: HashMap<AgentId, AgentCall>,
    writer: Option<WrapUpSender>,
}

impl Engine {
    /// Where wrap-ups with a disposition code go (without it they are only
    /// logged).
    pub fn set_wrap_up_writer(&mut self, writer: WrapUpSender) {
        self.wrap_ups.writer = Some(writer);
    }

    /// An operator answered `caller`'s call `acd_call`: their next wrap-up
    /// is for it.
    pub(super) fn remember_agent_call(&mut self, agent: AgentId, acd_call: AcdCallId, caller: LegId) {
        let Some(call) = self.calls.get(&caller) else { return };
        self.wrap_ups.last_calls.insert(agent, AgentCall { acd_call, call_id: call.record.call_id.clone() });
    }

    /// The agent ends wrap-up. `call`, when the console names one, must be
    /// the call the agent last answered (another is not theirs). With a
    /// disposition code the wrap-up is queued for the store.
    fn wrap_up_done(
        &mut self,
        now: Instant,
        agent: AgentId,
        call: Option<AcdCallId>,
        disposition: Option<String>,
        notes: Option<String>,
    ) -> Result<(), ControlError> {
        let last = self.wrap_ups.last_calls.get(&agent).cloned();
        if let Some(call) = call
            && last.as_ref().is_none_or(|l| l.acd_call != call)
        {
            return Err(ControlError::NotYourCall(call));
        }
        // The ACD's time in state is the time in wrap-up, while it lasts.
        let wrap_up_ms = match self.acd.agent_state(agent) {
            Some(AgentState::WrapUp { .. }) => {
                self.acd.snapshot(now).agents.iter().find(|a| a.id == agent).map(|a| a.time_in_state.as_millis() as i64)
            }
            _ => None,
        };
        self.acd.wrap_up_done(now, agent)?;
        info!(?call, disposition = disposition.as_deref().unwrap_or("-"), notes = notes.is_some(), "wrap-up done");
        let (Some(code), Some(last)) = (disposition, last) else { return Ok(()) };
        let wrap_up = CallWrapUp {
            call_id: last.call_id,
            agent: self.acd.agent_login_name(agent).unwrap_or("?").to_owned(),
            disposition_code: code,
            notes,
            finished_at_ms: self.clock.epoch_ms(now),
            wrap_up_ms,
        };
        let Some(writer) = &self.wrap_ups.writer else { return Ok(()) };
        if let Err(lost) = writer.try_send(wrap_up) {
            tracing::error!(call = %lost.call_id, agent = %lost.agent, code = %lost.disposition_code, "wrap-up queue full: not stored");
        }
        Ok(())
    }

    /// Whether anything the console shows changed since the last call.
    pub fn take_live_dirty(&mut self) -> bool {
        std::mem::take(&mut self.live_dirty)
    }

    /// The live state for the console's wallboard and agent views.
    pub fn live_state(&self, now: Instant) -> LiveState {
        let mut calls = BTreeMap::new();
        let mut in_ivr = 0;
        for call in self.calls.values() {
            let Some(q) = call.queue.as_ref() else {
                if call.ending.is_none() {
                    in_ivr += 1;
                }
                continue;
            };
            let context = CallContext {
                queue: self.acd.queue_id(&q.queue),
                language: Some(call.record.language.clone()),
                topic: call.topic.clone().filter(|t| !t.is_empty()),
                ivr_path: call.path.as_str().to_owned(),
                repeat_caller: false,
                callback: matches!(q.state, QueueState::CallbackRegistered | QueueState::ChoosingCallback),
                caller_number: call.caller.clone(),
                on_hold: call.on_hold,
                muted: call.muted,
                monitor: self.monitor_of(q.acd_call),
            };
            calls.insert(q.acd_call, context);
        }
        LiveState { taken_at: now, acd: self.acd.snapshot(now), calls, in_ivr }
    }

    /// One command from the console, for `agent`.
    pub fn console_command(&mut self, now: Instant, agent: AgentId, command: AgentCommand) -> Result<(), ControlError> {
        self.live_dirty = true;
        let result = match command {
            AgentCommand::Login => self.acd.agent_login(now, agent).and_then(|()| self.acd.set_available(now, agent)).map_err(Into::into),
            AgentCommand::Available => self.acd.set_available(now, agent).map_err(Into::into),
            AgentCommand::Break { reason } => self.acd.set_break(now, agent, reason).map_err(Into::into),
            AgentCommand::Logout => self.acd.agent_logout(now, agent).map_err(Into::into),
            AgentCommand::WrapUpDone { call, disposition, notes } => self.wrap_up_done(now, agent, call, disposition, notes),
            AgentCommand::Reject { call } => self.reject_offer(now, agent, call),
            // The browser softphone's answer bridges the caller to the
            // agent's session; a SIP phone answers by itself.
            AgentCommand::Answer { call } => self.softphone_answer(now, agent, call),
            // The operator's side ends as if their phone hung up: the caller
            // goes on to the dialplan's after-call node (the survey).
            AgentCommand::Hangup { call } | AgentCommand::SendToSurvey { call } => match self.agent_call(agent, call)? {
                (_, Operator::Phone(leg)) => {
                    self.out_terminated(now, leg, None);
                    self.ua.hangup(now, leg);
                    Ok(())
                }
                (caller, Operator::Softphone) => {
                    self.softphone_release(agent);
                    self.operator_left(now, caller, call);
                    Ok(())
                }
            },
            AgentCommand::Hold { call, on } => {
                let (caller, _) = self.agent_call(agent, call)?;
                self.hold_caller(caller, on);
                if let Some(c) = self.calls.get_mut(&caller) {
                    c.on_hold = on;
                }
                Ok(())
            }
            AgentCommand::Mute { call, on } => {
                let (caller, _) = self.agent_call(agent, call)?;
                let Some(c) = self.calls.get_mut(&caller) else { return Err(ControlError::NotYourCall(call)) };
                c.muted = on;
                self.media.send(MediaCommand::Mute { a: c.media_id, agent_muted: on });
                Ok(())
            }
            AgentCommand::Transfer { call, to: TransferTarget::Queue(queue) } => self.transfer_to_queue(now, agent, call, queue),
            AgentCommand::Transfer { to: TransferTarget::Agent(_), .. } => {
                Err(ControlError::NotSupported { what: "transfer to a named agent (transfer to a queue instead)" })
            }
        };
        self.drain_acd(now);
        result
    }

    /// The caller `agent` is connected to on `call`, and how.
    fn agent_call(&self, agent: AgentId, call: AcdCallId) -> Result<(LegId, Operator), ControlError> {
        if let Some(talk) = self.softphone_talk(agent).filter(|t| t.acd_call == call) {
            return Ok((talk.caller, Operator::Softphone));
        }
        self.out_legs
            .iter()
            .find(|(_, o)| o.state == OutState::Connected && o.purpose == Purpose::Agent { acd_call: call, agent })
            .map(|(leg, o)| (o.caller, Operator::Phone(*leg)))
            .ok_or(ControlError::NotYourCall(call))
    }

    fn reject_offer(&mut self, now: Instant, agent: AgentId, call: AcdCallId) -> Result<(), ControlError> {
        if let Some(result) = self.softphone_reject(now, agent, call) {
            return result;
        }
        let leg = self.offers.remove(&(call, agent)).ok_or(ControlError::NotYourCall(call))?;
        self.acd.offer_failed(now, call, agent, OfferFailure::Declined)?;
        // The ACD has taken the offer back: the phone's CANCEL needs no report.
        self.end_out_leg(now, leg);
        Ok(())
    }

    /// The operator hands the caller to another queue: their leg ends, the
    /// caller waits again (ahead of new callers) with music.
    fn transfer_to_queue(&mut self, now: Instant, agent: AgentId, call: AcdCallId, queue: ivr_acd::QueueId) -> Result<(), ControlError> {
        let (caller, operator) = self.agent_call(agent, call)?;
        self.acd.queue_name(queue).ok_or(ControlError::NotYourCall(call))?;
        self.requeue(now, caller, call, queue)?;
        // The agent's leg ends without sending the caller to the survey; a
        // softphone session stays up for the next call.
        match operator {
            Operator::Phone(leg) => self.end_out_leg(now, leg),
            Operator::Softphone => self.softphone_release(agent),
        }
        Ok(())
    }

    /// The caller's operator is gone without the call ending (a transfer
    /// to a queue, a browser that dropped): `call` ends for the ACD (the
    /// agent goes to wrap-up) and the caller waits again in `queue`, ahead
    /// of new callers, with music.
    pub(super) fn requeue(&mut self, now: Instant, caller: LegId, call: AcdCallId, queue: ivr_acd::QueueId) -> Result<(), ControlError> {
        let queue_name = self.acd.queue_name(queue).map(str::to_owned).ok_or(ControlError::NotYourCall(call))?;
        let skills = Vec::new();
        self.acd.call_ended(now, call, ivr_acd::EndedBy::Agent)?;
        if let Some(c) = self.calls.get_mut(&caller) {
            c.bridged_to = None;
            self.media.send(MediaCommand::Unbridge { a: c.media_id });
        }
        self.leave_queue(now, caller);
        let acd_call = AcdCallId(self.next_acd_call);
        self.next_acd_call += 1;
        let Some(c) = self.calls.get_mut(&caller) else { return Ok(()) };
        c.queue = Some(QueuedCall { acd_call, queue: queue_name.clone(), callback_key: None, state: QueueState::Waiting, entered: now });
        self.acd_calls.insert(acd_call, caller);
        info!(parent: &c.span, queue = %queue_name, "back in a queue, ahead of new callers");
        if let Err(e) = self.acd.enqueue(now, Enqueue { call: acd_call, queue, skills, priority: TRANSFER_PRIORITY, max_wait: Some(Duration::from_secs(900)) }) {
            self.leave_queue(now, caller);
            self.dialogue_input(now, caller, Input::QueueOutcome(QueueOutcome::OperatorHungUp));
            return Err(e.into());
        }
        self.queue_playback_finished(now, caller);
        Ok(())
    }

    /// New queue and agent files from the admin page, applied live by
    /// `Acd::apply_config` (all or nothing: a queue with callers or a busy
    /// agent cannot be removed, a 409 with the reason; callers keep their
    /// place in edited queues). Once the ACD has taken them, the registrar's
    /// credentials become the new file's (`passwords`, read by the console
    /// side before: a password that cannot be read refused the change
    /// earlier): new agents' phones register at once, a changed password
    /// holds from the phone's next REGISTER, and a removed agent's phone
    /// loses its binding and is refused as an unknown user. A refused
    /// change leaves the registrar as it was.
    pub fn apply_acd_config(&mut self, now: Instant, config: &AcdConfig, passwords: &AgentPasswords) -> Result<(), ControlError> {
        self.live_dirty = true;
        let applied = self.acd.apply_config(now, config);
        if applied.is_ok() {
            self.replace_phone_credentials(passwords);
        }
        self.drain_acd(now);
        Ok(applied?)
    }

    /// The registrar's users become the ACD's agents with a password (each
    /// under the SIP user the ACD keeps for it); phones of users that went
    /// are forgotten.
    fn replace_phone_credentials(&mut self, passwords: &AgentPasswords) {
        let acd = &self.acd;
        let credentials = passwords.credentials(&self.config.registrar_realm, |login| {
            acd.agent_id(login).and_then(|a| acd.agent_sip_user(a)).map(str::to_owned)
        });
        let users = credentials.len();
        let Some(registrar) = self.ua.registrar_mut() else { return };
        let dropped = registrar.replace_credentials(credentials);
        for binding in &dropped {
            info!(aor = %binding.aor, contact = %binding.contact, "phone binding dropped: its agent is no longer in the agents file");
        }
        self.agent_phones.retain(|agent, binding| agent_of(acd, &binding.aor) == Some(*agent) && !dropped.contains(binding));
        info!(users, dropped = dropped.len(), "registrar credentials follow the new agents file");
    }
}
