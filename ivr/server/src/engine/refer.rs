//! Transfers an operator makes from their phone: a REFER on the operator's
//! leg (RFC 3515; RFC 5589 section 6, blind transfer) naming a queue
//! (`sip:<queue>@...`). The REFER is accepted, the operator's side ends
//! without the survey (the ACD puts them in wrap-up), the caller waits again
//! in that queue ahead of new callers, and the phone is told `200 OK` in the
//! final NOTIFY; it then hangs up (RFC 5589), or we do after a grace.
//!
//! Owns deciding what a REFER means and answering it. Naming an agent
//! (`sip:<agent's sip user>@...`) is refused with 501: the ACD has no direct
//! offer to a named agent. Anything else is refused with 404, and a REFER on
//! any leg but a connected operator's with 603. It must never leave the
//! caller bridged to the transferring phone, nor take the caller out of the
//! ACD without putting them back or telling the dialplan.

use std::time::{Duration, Instant};

use ivr_acd::{AgentId, CallId as AcdCallId, QueueId};
use ivr_sip::LegId;
use tracing::{debug, info, warn};

use super::Engine;
use super::b2bua::{OutState, Purpose};

/// How long the transferring phone has to send its BYE after the final
/// NOTIFY before we send ours.
const TRANSFEROR_BYE_GRACE: Duration = Duration::from_secs(5);

/// What a Refer-To names, by its user part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReferTarget {
    Queue(QueueId),
    Agent(AgentId),
    Unknown,
}

impl Engine {
    /// An in-dialog REFER arrived on `leg`.
    pub(super) fn on_refer(&mut self, now: Instant, leg: LegId, refer_to: &str, referred_by: Option<&str>) {
        let operator = self.out_legs.get(&leg).and_then(|out| match out.purpose {
            Purpose::Agent { acd_call, agent } if out.state == OutState::Connected => Some((out.caller, acd_call, agent)),
            _ => None,
        });
        let Some((caller, acd_call, agent)) = operator else {
            // A caller's phone, a dialplan transfer's far end, or an
            // operator not (or no longer) talking: nothing we transfer.
            info!(?leg, "REFER on a leg that is not a connected operator's: declined");
            self.ua.reject_refer(now, leg, 603);
            return;
        };
        let login = self.acd.agent_login_name(agent).unwrap_or("?").to_owned();
        debug!(agent = %login, referred_by = referred_by.unwrap_or("-"), "REFER from an operator's phone");
        match refer_target(&self.acd, refer_to) {
            ReferTarget::Queue(queue) => self.refer_to_queue(now, leg, caller, acd_call, queue),
            ReferTarget::Agent(target) => {
                warn!(
                    agent = %login,
                    target = self.acd.agent_login_name(target).unwrap_or("?"),
                    "transfer to a named agent is not supported (transfer to a queue instead): REFER refused"
                );
                self.ua.reject_refer(now, leg, 501);
            }
            ReferTarget::Unknown => {
                // The target may be a phone number: personal data, not logged.
                info!(agent = %login, "REFER to neither a queue nor an agent: refused");
                self.ua.reject_refer(now, leg, 404);
            }
        }
    }

    /// The operator hands the caller to `queue` from their phone: the
    /// console's transfer (`requeue`, console.rs) with the REFER's answers
    /// around it.
    fn refer_to_queue(&mut self, now: Instant, leg: LegId, caller: LegId, acd_call: AcdCallId, queue: QueueId) {
        let Some(queue_name) = self.acd.queue_name(queue).map(str::to_owned) else {
            self.ua.reject_refer(now, leg, 404);
            return;
        };
        self.ua.accept_refer(now, leg);
        let status = match self.requeue(now, caller, acd_call, queue) {
            Ok(()) => {
                // The operator's leg is done with: its end (the phone's BYE)
                // must neither end the ACD call again nor send the caller
                // to the survey.
                if let Some(out) = self.out_legs.get_mut(&leg) {
                    out.state = OutState::Ending;
                }
                if let Some(c) = self.calls.get_mut(&caller) {
                    c.agent_ended_at = Some(now);
                    c.timeline.push(now, "transfer", format!("operator transferred the call to queue {queue_name}"));
                    info!(parent: &c.span, queue = %queue_name, "transferred by the operator's phone");
                }
                200
            }
            Err(e) => {
                // The leg stays the operator's: their BYE ends it as any
                // hang-up does (the caller goes on to the after-call node).
                warn!(error = %e, queue = %queue_name, "transfer by REFER failed");
                480
            }
        };
        // RFC 3515 2.4.5: the final NOTIFY tells the transferor the outcome.
        self.ua.notify_refer(now, leg, status, true);
        self.ua.hangup_after(now, leg, TRANSFEROR_BYE_GRACE);
        self.live_dirty = true;
        self.drain_acd(now);
    }
}

/// Reads the user part of a `sip:`/`sips:` Refer-To and looks it up: a
/// queue first, then an agent's SIP user.
fn refer_target(acd: &ivr_acd::Acd, refer_to: &str) -> ReferTarget {
    let lower = refer_to.get(..5).map(str::to_ascii_lowercase).unwrap_or_default();
    let rest = if lower.starts_with("sip:") {
        refer_to.get(4..)
    } else if lower == "sips:" {
        refer_to.get(5..)
    } else {
        None
    };
    let Some((user, _host)) = rest.and_then(|r| r.split_once('@')) else {
        return ReferTarget::Unknown;
    };
    // RFC 3261 19.1.1: user parameters after ';' are not the name.
    let user = user.split(';').next().unwrap_or_default();
    if let Some(queue) = acd.queue_id(user) {
        return ReferTarget::Queue(queue);
    }
    match acd.agent_by_sip_user(user) {
        Some(agent) => ReferTarget::Agent(agent),
        None => ReferTarget::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use ivr_acd::{Acd, AcdConfig};

    use super::{ReferTarget, refer_target};

    fn demo_acd() -> Acd {
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../dialplans");
        let queues = std::fs::read_to_string(format!("{root}/queues.toml")).expect("read dialplans/queues.toml");
        let agents = std::fs::read_to_string(format!("{root}/agents.toml")).expect("read dialplans/agents.toml");
        let config = AcdConfig::parse("queues.toml", &queues, "agents.toml", &agents).expect("the demo ACD files parse");
        Acd::new(config, Instant::now())
    }

    #[test]
    fn a_refer_to_names_a_queue_an_agent_or_nothing_we_know() {
        let acd = demo_acd();
        let general = acd.queue_id("general").expect("the general queue");
        let jordi = acd.agent_by_sip_user("jordi").expect("the demo agent jordi");
        assert_eq!(refer_target(&acd, "sip:general@192.0.2.20"), ReferTarget::Queue(general));
        assert_eq!(refer_target(&acd, "SIPS:general@ivr.example:5061;transport=tls"), ReferTarget::Queue(general));
        assert_eq!(refer_target(&acd, "sip:jordi@192.0.2.20"), ReferTarget::Agent(jordi));
        for unknown in ["sip:+34600111222@carrier.example", "tel:+34600111222", "sip:192.0.2.20", "general", "", "sip:@x"] {
            assert_eq!(refer_target(&acd, unknown), ReferTarget::Unknown, "{unknown}");
        }
    }
}
