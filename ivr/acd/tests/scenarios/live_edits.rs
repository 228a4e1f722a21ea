//! Queues and agents edited while callers wait (the admin console):
//! callers keep their place, routing is worked out again, and nothing is
//! removed from under a caller or a call.

use ivr_acd::{AcdConfig, AcdError, AcdOutput, AgentStatus, CallId, EndedBy, Enqueue, QueueConfig};

use super::{queues, sim, AGENTS, CA, ES};
use crate::support::{secs, Sim};

/// The `general` queue as `queues(extra)` defines it.
fn general(extra: &str) -> QueueConfig {
    AcdConfig::parse("queues.toml", &queues(extra), "agents.toml", AGENTS).expect("valid").queues.remove(0)
}

fn positions(s: &Sim) -> Vec<(u64, u32)> {
    let snap = s.acd.snapshot(s.now);
    snap.queues[0].calls.iter().map(|c| (c.call.0, c.position)).collect()
}

#[test]
fn dropping_a_required_skill_keeps_callers_in_place_and_offers_at_once() {
    let mut s = sim("");
    s.login(&["bernat"]); // Catalan only
    let bernat = s.agent("bernat");
    assert!(s.enqueue(1, ES, 0).is_empty(), "no Spanish speaker");
    assert!(s.enqueue(2, ES, 0).is_empty());
    assert_eq!(positions(&s), [(1, 1), (2, 2)]);

    s.now += secs(5.0);
    s.acd.update_queue(s.now, general("skills = [\"topic\"]\nrelax = []")).expect("the queue exists");
    let out = s.actions();
    assert!(matches!(out[..], [AcdOutput::Offer { call: CallId(1), agent, .. }] if agent == bernat), "{out:?}");
    assert_eq!(positions(&s), [(1, 1), (2, 2)], "both kept their place");
    assert_eq!(s.log_names().iter().filter(|n| **n == "ENTERQUEUE").count(), 2, "nobody queued again");
}

#[test]
fn a_shorter_maximum_wait_counts_from_arrival_and_a_longer_one_extends_nothing() {
    let mut s = sim("max_wait_secs = 300");
    s.login(&["bernat"]);
    s.enqueue(1, ES, 0);
    s.now += secs(100.0);
    s.enqueue(2, ES, 0);
    s.now += secs(20.0);
    // Call 1 has waited 120 s, call 2 20 s: a 60 s maximum lets call 1 go now.
    s.acd.update_queue(s.now, general("max_wait_secs = 60")).expect("update");
    assert_eq!(s.actions(), [AcdOutput::MaxWaitReached { call: CallId(1) }]);
    assert_eq!(s.wait(secs(40.0)), [AcdOutput::MaxWaitReached { call: CallId(2) }], "60 s after its arrival");

    s.enqueue(3, ES, 0);
    s.acd.update_queue(s.now, general("max_wait_secs = 900")).expect("update");
    assert_eq!(s.wait(secs(60.0)), [AcdOutput::MaxWaitReached { call: CallId(3) }], "the 60 s fixed at entry stands");
}

#[test]
fn a_new_wrap_up_applies_to_the_next_call_not_the_one_in_wrap_up() {
    let mut s = sim("wrap_up_secs = 30");
    s.login(&["anna"]);
    s.enqueue(1, CA, 0);
    s.accept(1, "anna");
    s.hang_up(1);
    s.acd.update_queue(s.now, general("wrap_up_secs = 5")).expect("update");
    s.drain();
    s.enqueue(2, CA, 0);
    assert!(s.wait(secs(29.0)).is_empty(), "still in the 30 s wrap-up");
    assert!(matches!(s.wait(secs(1.0))[..], [AcdOutput::Offer { call: CallId(2), .. }]));
    s.accept(2, "anna");
    s.hang_up(2);
    s.enqueue(3, CA, 0);
    assert!(matches!(s.wait(secs(5.0))[..], [AcdOutput::Offer { call: CallId(3), .. }]), "5 s from now on");
}

#[test]
fn an_agent_on_a_call_cannot_be_removed_until_it_ends() {
    let mut s = sim("wrap_up_secs = 30");
    s.login(&["anna", "bernat"]);
    let anna = s.agent("anna");
    s.enqueue(1, ES, 0);
    s.accept(1, "anna");

    let refused = s.acd.remove_agent(s.now, anna);
    assert_eq!(refused, Err(AcdError::AgentBusy { login: "anna".into(), call: CallId(1) }));
    assert!(s.acd.poll_output().is_none(), "a refused edit changes nothing");
    assert_eq!(s.acd.agent_id("anna"), Some(anna));

    s.acd.call_ended(s.now, CallId(1), EndedBy::Caller).expect("talking");
    s.drain();
    s.acd.remove_agent(s.now, anna).expect("in wrap-up: removable");
    s.drain();
    assert_eq!(&s.log_names()[s.log_names().len() - 2..], ["WRAPUP", "AGENTLOGOFF"]);
    assert_eq!(s.acd.agent_id("anna"), None);
    assert!(s.acd.snapshot(s.now).agents.iter().all(|a| a.login != "anna"));
    assert_eq!(s.acd.agent_login(s.now, anna), Err(AcdError::UnknownAgent(anna)), "the id is not reused");

    // Nothing is offered to her; the login can be given to a new agent.
    s.enqueue(2, ES, 0);
    assert!(s.actions().is_empty(), "bernat speaks no Spanish, anna is gone");
    let config = AcdConfig::parse("q", &queues(""), "a", AGENTS).expect("valid");
    let again = s.acd.add_agent(s.now, &config.agents[0]).expect("login free again");
    assert_ne!(again, anna);
    assert_eq!(s.acd.agent_status(again), Some(&AgentStatus::LoggedOut));
}

#[test]
fn a_queue_with_callers_cannot_be_removed_and_an_empty_one_can() {
    let two = format!("{}\n[queues.second]\n", queues(""));
    let mut s = Sim::new(&two, AGENTS);
    s.login(&["bernat"]);
    let second = s.queue("second");
    s.acd.enqueue(s.now, Enqueue::new(CallId(1), second)).expect("open");
    s.drain();
    s.acd.offer_failed(s.now, CallId(1), s.agent("bernat"), ivr_acd::OfferFailure::Busy).expect("ringing");
    s.drain();

    let refused = s.acd.remove_queue(s.now, second);
    let Err(reason) = refused else { panic!("a queue with a caller was removed") };
    assert_eq!(reason, AcdError::QueueHasCallers { queue: "second".into(), callers: 1 });
    assert!(reason.to_string().contains("1 caller"), "{reason}");
    assert!(s.acd.poll_output().is_none());

    s.acd.caller_abandoned(s.now, CallId(1)).expect("waiting");
    s.drain();
    s.acd.remove_queue(s.now, second).expect("empty now");
    assert_eq!(s.acd.queue_id("second"), None);
    assert_eq!(s.acd.enqueue(s.now, Enqueue::new(CallId(2), second)), Err(AcdError::UnknownQueue(second)));
    assert_eq!(s.acd.snapshot(s.now).queues.len(), 1);
}

#[test]
fn a_whole_new_configuration_is_applied_all_or_nothing() {
    let mut s = sim("");
    s.login(&["anna", "carmen"]);
    s.enqueue(1, CA, 0);
    s.accept(1, "anna");
    // New files: anna gone (busy: refused), general without the topic.
    let without_anna = AGENTS.replace("[agents.anna]\nname = \"Anna\"\nskills = { language = { ca = 10, es = 6 }, topic = { health = 5, work = 5 } }\n", "");
    assert_ne!(without_anna, AGENTS);
    let config = AcdConfig::parse("q", &queues(r#"skills = ["language"]"#), "a", &without_anna).expect("valid");
    assert_eq!(s.acd.apply_config(s.now, &config), Err(AcdError::AgentBusy { login: "anna".into(), call: CallId(1) }));
    assert!(s.acd.poll_output().is_none(), "nothing applied");

    s.hang_up(1);
    s.acd.apply_config(s.now, &config).expect("anna is free now");
    s.drain();
    assert_eq!(s.acd.agent_id("anna"), None);
    // A new queue in the files: every agent serving "all queues" serves it.
    let more = format!("{}\n[queues.second]\n", queues(r#"skills = ["language"]"#));
    let config = AcdConfig::parse("q", &more, "a", &without_anna).expect("valid");
    s.acd.apply_config(s.now, &config).expect("a new queue");
    s.drain();
    let second = s.queue("second");
    s.acd.enqueue(s.now, Enqueue::new(CallId(2), second)).expect("open");
    assert!(matches!(s.actions()[..], [AcdOutput::Offer { call: CallId(2), .. }]), "carmen serves it at once");
}
