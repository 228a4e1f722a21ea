//! Operators' phones: the registrar's bindings (who is reachable where), the
//! ACD's offers turned into calls to those phones, and the agents' states.
//!
//! Owns the link between ACD agents and SIP registrations. A registered
//! phone is a logged-in, available agent, and an unregistered or expired
//! one is logged out (`docs/acd.md`) unless the agent's browser softphone
//! is linked. An agent whose browser softphone is connected is offered
//! calls there first (`softphone.rs`), their phone otherwise.
//!
//! It must never offer a call to a phone the registrar does not hold.

use std::time::Instant;

use ivr_acd::{AgentId, AgentState, AgentStatus, CallId as AcdCallId, CallbackNumber, CancelReason, OfferFailure};
use ivr_sip::registrar::{Binding, RegistrationEvent};
use tracing::{info, warn};

use super::Engine;
use super::b2bua::{Destination, Purpose};

impl Engine {
    pub(super) fn on_registration(&mut self, now: Instant, event: RegistrationEvent) {
        match event {
            RegistrationEvent::Registered { aor, binding, .. } => {
                let Some(agent) = agent_of(&self.acd, &aor) else {
                    warn!(%aor, "a registration for no known agent");
                    return;
                };
                info!(%aor, source = %binding.source, "operator phone registered");
                let first = self.agent_phones.insert(agent, binding).is_none();
                if first && self.acd.agent_status(agent) == Some(&AgentStatus::LoggedOut) {
                    let result = self.acd.agent_login(now, agent).and_then(|()| self.acd.set_available(now, agent));
                    if let Err(e) = result {
                        warn!(error = %e, "the ACD refused the agent's login");
                    }
                }
            }
            RegistrationEvent::Unregistered { aor, .. } | RegistrationEvent::Expired { aor, .. } => {
                let Some(agent) = agent_of(&self.acd, &aor) else { return };
                // Another contact of the same agent may still be bound.
                let remaining = self.ua.registrar().map(|r| r.lookup(&aor)).unwrap_or_default();
                match remaining.into_iter().next() {
                    Some(binding) => {
                        self.agent_phones.insert(agent, binding);
                    }
                    None if self.softphone_linked_for(agent) => {
                        info!(%aor, "operator phone gone: the agent's softphone remains");
                        self.agent_phones.remove(&agent);
                    }
                    None => {
                        info!(%aor, "operator phone gone: agent logged out");
                        self.agent_phones.remove(&agent);
                        if let Err(e) = self.acd.agent_logout(now, agent) {
                            tracing::debug!(error = %e, "logout of an agent already out");
                        }
                    }
                }
            }
            RegistrationEvent::AuthenticationFailed { source, username } => {
                warn!(%source, user = username.as_deref().unwrap_or("-"), "REGISTER with wrong credentials");
            }
            RegistrationEvent::SourceBlocked { source, retry_after } => {
                warn!(%source, ?retry_after, "REGISTER source blocked after repeated failures");
            }
        }
        self.drain_acd(now);
    }

    /// The ACD offers a queued caller to an operator: ring their softphone
    /// or their phone.
    pub(super) fn offer_to_agent(&mut self, now: Instant, call: AcdCallId, agent: AgentId, _queue: ivr_acd::QueueId) {
        let Some(&caller) = self.acd_calls.get(&call) else {
            let _ = self.acd.offer_failed(now, call, agent, OfferFailure::Unreachable);
            return;
        };
        if self.softphone_offer(call, agent) {
            info!(agent = self.acd.agent_login_name(agent).unwrap_or("?"), "offer rings in the agent's browser");
            return;
        }
        let Some(binding) = self.agent_phones.get(&agent).cloned() else {
            warn!(agent = self.acd.agent_login_name(agent).unwrap_or("?"), "offer to an agent with no registered phone");
            let _ = self.acd.offer_failed(now, call, agent, OfferFailure::Unreachable);
            return;
        };
        let Binding { source, transport, contact, aor, .. } = binding;
        let phone = Destination { addr: source, transport, request_uri: contact, to_uri: aor };
        match self.place_call(now, caller, Purpose::Agent { acd_call: call, agent }, phone) {
            Ok(leg) => {
                self.offers.insert((call, agent), leg);
            }
            Err(_) => {
                let _ = self.acd.offer_failed(now, call, agent, OfferFailure::Unreachable);
            }
        }
    }

    pub(super) fn cancel_offer(&mut self, now: Instant, call: AcdCallId, agent: AgentId, reason: CancelReason) {
        if self.softphone_offer_withdrawn(call, agent) {
            tracing::debug!(?reason, "offer withdrawn from the browser");
            return;
        }
        if let Some(leg) = self.offers.remove(&(call, agent)) {
            tracing::debug!(?reason, "offer withdrawn: CANCEL");
            self.end_out_leg(now, leg);
        }
    }

    /// The ACD reserved an agent for a caller who asked to be called back.
    /// Dialling out needs a trunk to the public network, which this server
    /// does not have: the attempt fails, the ACD retries as configured and
    /// then reports the callback failed, and the request stays in the
    /// records for operators to call back by hand.
    pub(super) fn start_callback(&mut self, now: Instant, call: AcdCallId, agent: AgentId, _number: CallbackNumber) {
        warn!(?call, "callback due but no outbound trunk is configured: attempt failed");
        let _ = agent;
        if let Err(e) = self.acd.callback_result(now, call, false) {
            tracing::debug!(error = %e, "callback result for an unknown call");
        }
    }

    pub(super) fn callbacks_failed(&mut self, _now: Instant, call: AcdCallId) {
        warn!(?call, "every callback attempt failed; the request stays in the records");
    }

    pub(super) fn agent_state_changed(&mut self, _now: Instant, agent: AgentId, status: AgentStatus, state: AgentState) {
        tracing::debug!(agent = self.acd.agent_login_name(agent).unwrap_or("?"), ?status, ?state, "agent state");
    }
}

impl Engine {
    /// Hands an agent's login, logoff, pause or unpause from the queue log
    /// to the record writer, which keeps their staffing intervals
    /// (`agent_staffing`, the denominator of occupancy). Never waits: a
    /// full queue loses the change, logged.
    pub(super) fn record_staffing(&mut self, now: Instant, event: &ivr_acd::QueueEvent) {
        use ivr_store::report::{AgentStaffingEvent, StaffingChange};
        let Some(change) = StaffingChange::from_queue_log(event.kind.name()) else { return };
        let (Some(records), Some(agent)) = (&self.records, event.agent) else { return };
        let Some(name) = self.acd.agent_login_name(agent) else { return };
        let staffing = AgentStaffingEvent { agent: name.to_owned(), at_ms: self.clock.epoch_ms(now), change };
        if let Err(refused) = records.agent_staffing(staffing) {
            warn!(agent = %refused.agent, change = ?refused.change, "staffing change refused: writer queue full or stopped");
        }
    }
}

/// The agent whose SIP user is the AOR's user part.
pub(super) fn agent_of(acd: &ivr_acd::Acd, aor: &str) -> Option<AgentId> {
    let rest = aor.split_once(':').map_or(aor, |(_, r)| r);
    let user = rest.split('@').next()?;
    acd.agent_by_sip_user(user)
}
