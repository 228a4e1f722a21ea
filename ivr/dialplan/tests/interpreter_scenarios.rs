//! Scenarios for the per-call interpreter on a simulated clock: prompts and
//! barge-in, menus, digit entries, languages, calendars and the call-level
//! limits. Queues, callbacks, recordings, surveys and flow nodes are in
//! `interpreter_flows.rs`.

mod interpreter_support;

use ivr_dialplan::calendar::Calendar;
use ivr_dialplan::interpreter::{Action, CallContext, Input, InterpreterError, Trace};
use ivr_dialplan::program::{NodeKind, SayKind};
use ivr_dialplan::say::SayError;

use interpreter_support::*;

fn goodbye(p: &mut Plan) -> NodeKind {
    let _ = p;
    NodeKind::Hangup { prompts: prompts(&["goodbye"]) }
}

// ---------------------------------------------------------------- play

#[test]
fn a_prompt_without_barge_in_ignores_keys_and_then_goes_on() {
    let program = Plan::new().node("welcome", |p| announce("welcome", p.id("bye"))).node("bye", goodbye).build();
    let mut call = Call::start(program);
    assert_eq!(call.started, vec![play(&["ca/welcome"], false)]);
    assert_eq!(call.key('5'), vec![], "no StopPlayback");
    assert_eq!(call.played(), vec![play(&["ca/goodbye"], false)]);
    assert_eq!(call.played(), vec![Action::Hangup]);
    assert!(call.interpreter.is_finished());
    assert_eq!(call.entered(), ["welcome", "bye"]);
    assert!(call.keys_traced().is_empty(), "a dropped key is nobody's");
}

#[test]
fn a_key_during_a_barge_in_prompt_stops_it_and_answers_the_next_menu() {
    let program = Plan::new()
        .node("welcome", |p| NodeKind::Play { prompts: prompts(&["welcome"]), barge_in: true, next: p.id("main") })
        .node("main", |p| menu("main-menu", &[('1', p.id("info")), ('2', p.id("bye"))], retries(2, p.id("bye"))))
        .node("info", |p| announce("info", p.id("bye")))
        .node("bye", goodbye)
        .build();
    let mut call = Call::start(program);
    assert_eq!(call.key('1'), vec![Action::StopPlayback]);
    assert_eq!(call.key('9'), vec![], "one StopPlayback is enough; the key is kept");
    // The menu's own prompt is skipped: the caller already answered it.
    // '1' goes to info, which must be heard: it forgets the kept '9'.
    assert_eq!(call.stopped(), vec![play(&["ca/info"], false)]);
    assert_eq!(call.entered(), ["welcome", "main", "info"]);
    assert_eq!(call.keys_traced(), [("main".to_owned(), '1')]);
    assert_eq!(call.played(), vec![play(&["ca/goodbye"], false)]);
}

#[test]
fn a_barge_in_play_is_skipped_when_the_caller_is_already_typing_ahead() {
    let program = Plan::new()
        .node("welcome", |p| NodeKind::Play { prompts: prompts(&["welcome"]), barge_in: true, next: p.id("news") })
        .node("news", |p| NodeKind::Play { prompts: prompts(&["news"]), barge_in: true, next: p.id("main") })
        .node("main", |p| menu("main-menu", &[('3', p.id("bye"))], retries(2, p.id("bye"))))
        .node("bye", goodbye)
        .build();
    let mut call = Call::start(program);
    call.key('3');
    assert_eq!(call.stopped(), vec![play(&["ca/goodbye"], false)]);
    assert_eq!(call.entered(), ["welcome", "news", "main", "bye"]);
}

#[test]
fn a_key_during_a_looping_hold_message_restarts_it_instead_of_spinning() {
    let program = Plan::new()
        .node("hold", |p| NodeKind::Play { prompts: prompts(&["please-hold"]), barge_in: true, next: p.id("again") })
        .node("again", |p| NodeKind::Goto { target: p.id("hold") })
        .build();
    let mut call = Call::start(program);
    assert_eq!(call.key('5'), vec![Action::StopPlayback]);
    assert_eq!(call.stopped(), vec![play(&["ca/please-hold"], true)]);
    assert!(!call.interpreter.is_finished());
    assert_eq!(call.played(), vec![play(&["ca/please-hold"], true)]);
}

#[test]
fn a_finished_playback_nobody_asked_for_changes_nothing() {
    let program = Plan::new().node("welcome", |p| announce("welcome", p.id("bye"))).node("bye", goodbye).build();
    let mut call = Call::start(program);
    call.played();
    call.played();
    assert_eq!(call.played(), vec![], "the interpreter has already hung up");
    assert!(call.interpreter.is_finished());
}

#[test]
fn spoken_values_expand_into_pieces_and_a_value_that_cannot_be_said_is_skipped() {
    let program = Plan::new()
        .node("set", |p| NodeKind::Set {
            assignments: vec![("position".into(), text("21")), ("wait".into(), text("soon"))],
            next: p.id("say"),
        })
        .node("say", |p| NodeKind::Play {
            prompts: vec![
                ivr_dialplan::program::PromptItem::Prompt("queue-position".into()),
                say(SayKind::Number, var("position")),
                say(SayKind::Duration, var("wait")),
            ],
            barge_in: false,
            next: p.id("bye"),
        })
        .node("bye", goodbye)
        .build();
    let call = Call::start(program);
    assert_eq!(call.started, vec![play(&["ca/queue-position", "ca/num-21"], false)]);
    assert!(call.traces.contains(&Trace::Error {
        node: "say".into(),
        error: InterpreterError::Say(SayError::InvalidValue { kind: SayKind::Duration, value: "soon".into() }),
    }));
}

// ---------------------------------------------------------------- menu

fn language_menu() -> Plan {
    Plan::new()
        .node("choose", |p| NodeKind::Menu {
            prompt: prompts(&["choose-language"]),
            options: [('1', p.id("info")), ('2', p.id("health"))].into(),
            timeout: secs(5),
            retries: retries(2, p.id("fallback")),
            sets: [('2', ("topic".to_owned(), "health".to_owned()))].into(),
        })
        .node("info", |p| announce("info", p.id("bye")))
        .node("health", |p| announce("health", p.id("bye")))
        .node("fallback", |p| announce("fallback", p.id("bye")))
        .node("bye", goodbye)
}

#[test]
fn a_menu_waits_for_a_key_only_after_its_prompt_ends() {
    let mut call = Call::start(language_menu().build());
    assert_eq!(call.started, vec![play(&["ca/choose-language"], true)]);
    assert_eq!(call.next_deadline(), Some(secs(900)), "only the IVR limit while the prompt plays");
    call.wait(secs(30));
    assert_eq!(call.played(), vec![]);
    assert_eq!(call.next_deadline(), Some(secs(35)));
    assert_eq!(call.key('1'), vec![play(&["ca/info"], false)]);
}

#[test]
fn a_menu_without_an_answer_says_no_input_asks_again_and_then_takes_its_default() {
    let mut call = Call::start(language_menu().build());
    call.played();
    assert_eq!(call.wait(secs(5)), vec![play(&["ca/no-input", "ca/choose-language"], true)]);
    call.played();
    assert_eq!(call.key('7'), vec![play(&["ca/invalid", "ca/choose-language"], true)]);
    call.played();
    assert_eq!(call.wait(secs(4)), vec![], "not yet");
    assert_eq!(call.wait(secs(1)), vec![play(&["ca/fallback"], false)], "two retries were all it had");
    assert!(call.traces.contains(&Trace::RetriesExhausted { node: "choose".into() }));
    assert_eq!(call.entered(), ["choose", "fallback"]);
}

#[test]
fn a_menu_key_during_its_prompt_stops_the_prompt_and_is_taken_after() {
    let mut call = Call::start(language_menu().build());
    assert_eq!(call.key('1'), vec![Action::StopPlayback]);
    assert_eq!(call.stopped(), vec![play(&["ca/info"], false)]);
}

#[test]
fn a_menu_option_can_set_a_variable() {
    let mut call = Call::start(language_menu().build());
    assert_eq!(call.interpreter.variable("topic"), Some(""));
    call.played();
    assert_eq!(call.key('2'), vec![play(&["ca/health"], false)]);
    assert_eq!(call.interpreter.variable("topic"), Some("health"));
    assert!(call.traces.contains(&Trace::VariableSet { name: "topic".into(), value: "health".into() }));
}

#[test]
fn retries_zero_means_the_first_mistake_takes_the_default() {
    let program = Plan::new()
        .node("m", |p| menu("m", &[('1', p.id("bye"))], retries(0, p.id("fallback"))))
        .node("fallback", |p| announce("fallback", p.id("bye")))
        .node("bye", goodbye)
        .build();
    let mut call = Call::start(program);
    call.played();
    assert_eq!(call.key('#'), vec![play(&["ca/fallback"], false)]);
}

// ---------------------------------------------------------------- collect

fn postcode(sensitive: bool, with_confirm: bool) -> Plan {
    Plan::new()
        .node("postcode", |p| NodeKind::Collect {
            prompt: prompts(&["enter-postcode"]),
            variable: "postcode".into(),
            min_digits: 3,
            max_digits: 5,
            terminator: Some('#'),
            first_digit_timeout: secs(8),
            inter_digit_timeout: secs(4),
            pattern: Some("(0[1-9]|[1-4][0-9]|5[0-2])[0-9]{1,3}".into()),
            confirm: with_confirm.then(confirm),
            sensitive,
            retries: retries(1, p.id("fallback")),
            next: p.id("done"),
        })
        .node("done", |p| announce("thanks", p.id("bye")))
        .node("fallback", |p| announce("fallback", p.id("bye")))
        .node("bye", goodbye)
}

#[test]
fn an_entry_ends_at_its_maximum_length() {
    let mut call = Call::start(postcode(false, false).build());
    assert_eq!(call.started, vec![play(&["ca/enter-postcode"], true)]);
    call.played();
    assert_eq!(call.keys("0800"), vec![]);
    assert_eq!(call.key('1'), vec![play(&["ca/thanks"], false)]);
    assert_eq!(call.interpreter.variable("postcode"), Some("08001"));
    assert!(call.traces.contains(&Trace::VariableSet { name: "postcode".into(), value: "08001".into() }));
    assert_eq!(call.keys_traced().len(), 5);
}

#[test]
fn an_entry_ends_early_at_its_terminator_which_is_not_part_of_it() {
    let mut call = Call::start(postcode(false, false).build());
    call.played();
    assert_eq!(call.keys("080#"), vec![play(&["ca/thanks"], false)]);
    assert_eq!(call.interpreter.variable("postcode"), Some("080"));
}

#[test]
fn an_entry_ends_when_the_caller_pauses_longer_than_the_inter_digit_timeout() {
    let mut call = Call::start(postcode(false, false).build());
    call.played();
    assert_eq!(call.next_deadline(), Some(secs(8)), "first-digit timeout");
    call.wait(secs(7));
    call.keys("25");
    assert_eq!(call.next_deadline(), Some(secs(11)), "inter-digit timeout from the last key");
    call.wait(secs(3));
    call.key('1');
    assert_eq!(call.wait(secs(3)), vec![]);
    assert_eq!(call.wait(secs(1)), vec![play(&["ca/thanks"], false)]);
    assert_eq!(call.interpreter.variable("postcode"), Some("251"));
}

#[test]
fn no_first_digit_in_time_is_no_input() {
    let mut call = Call::start(postcode(false, false).build());
    call.played();
    assert_eq!(call.wait(secs(8)), vec![play(&["ca/no-input", "ca/enter-postcode"], true)]);
}

#[test]
fn too_short_an_entry_a_pattern_mismatch_or_a_stray_key_is_invalid() {
    for keys in ["08#", "999#", "08*"] {
        let mut call = Call::start(postcode(false, false).build());
        call.played();
        assert_eq!(call.keys(keys), vec![play(&["ca/invalid", "ca/enter-postcode"], true)], "{keys}");
        assert_eq!(call.interpreter.variable("postcode"), None, "{keys}");
    }
}

#[test]
fn an_entry_that_never_comes_right_takes_the_default() {
    let mut call = Call::start(postcode(false, false).build());
    call.played();
    call.keys("999#");
    call.played();
    assert_eq!(call.keys("999#"), vec![play(&["ca/fallback"], false)]);
    assert!(call.traces.contains(&Trace::RetriesExhausted { node: "postcode".into() }));
}

#[test]
fn digits_typed_during_the_prompt_are_the_start_of_the_entry() {
    let mut call = Call::start(postcode(false, false).build());
    assert_eq!(call.keys("0800"), vec![Action::StopPlayback]);
    assert_eq!(call.stopped(), vec![]);
    assert_eq!(call.key('1'), vec![play(&["ca/thanks"], false)]);
    assert_eq!(call.interpreter.variable("postcode"), Some("08001"));
}

#[test]
fn a_sensitive_entry_never_shows_its_digits_in_traces() {
    let mut call = Call::start(postcode(true, false).build());
    call.played();
    call.keys("08001");
    assert_eq!(call.interpreter.variable("postcode"), Some("08001"), "the flow can still use it");
    assert_eq!(call.keys_traced(), vec![("postcode".to_owned(), '*'); 5]);
    assert!(!call.traces.iter().any(|t| matches!(t, Trace::VariableSet { .. })));
    assert!(!format!("{:?}", call.traces).contains("08001"));
}

#[test]
fn a_sensitive_entry_said_back_is_marked_sensitive() {
    let mut call = Call::start(postcode(true, true).build());
    call.played();
    let actions = call.keys("08001");
    assert!(matches!(actions.as_slice(), [Action::Play { sensitive: true, .. }]), "{actions:?}");
}

#[test]
fn a_confirmed_entry_is_said_back_digit_by_digit_and_accepted_with_the_yes_key() {
    let mut call = Call::start(postcode(false, true).build());
    call.played();
    let said_back = [
        "ca/you-entered",
        "ca/digit-0",
        "ca/digit-8",
        "ca/digit-0",
        "ca/digit-0",
        "ca/digit-1",
        "ca/confirm-or-change",
    ];
    assert_eq!(call.keys("08001"), vec![play(&said_back, true)]);
    assert_eq!(call.interpreter.variable("postcode"), None, "not before it is confirmed");
    call.played();
    assert_eq!(call.next_deadline(), Some(secs(8)));
    assert_eq!(call.key('1'), vec![play(&["ca/thanks"], false)]);
    assert_eq!(call.interpreter.variable("postcode"), Some("08001"));
}

#[test]
fn the_no_key_lets_the_caller_enter_again_without_using_a_retry() {
    let mut call = Call::start(postcode(false, true).build());
    for _ in 0..3 {
        call.played();
        call.keys("08001");
        call.played();
        assert_eq!(call.key('2'), vec![play(&["ca/enter-postcode"], true)]);
    }
    call.played();
    call.keys("25001");
    assert_eq!(call.key('1'), vec![Action::StopPlayback], "yes during the say-back");
    assert_eq!(call.stopped(), vec![play(&["ca/thanks"], false)]);
    assert_eq!(call.interpreter.variable("postcode"), Some("25001"));
}

#[test]
fn no_answer_to_the_confirmation_is_no_input() {
    let mut call = Call::start(postcode(false, true).build());
    call.played();
    call.keys("08001");
    call.played();
    assert_eq!(call.wait(secs(8)), vec![play(&["ca/no-input", "ca/enter-postcode"], true)]);
    call.played();
    call.keys("08001");
    call.played();
    assert_eq!(call.key('5'), vec![play(&["ca/fallback"], false)], "an invalid key with no retry left");
}

#[test]
fn a_pattern_that_does_not_compile_is_reported_and_matches_nothing() {
    let program = Plan::new()
        .node("c", |p| NodeKind::Collect {
            prompt: prompts(&["enter"]),
            variable: "x".into(),
            min_digits: 1,
            max_digits: 2,
            terminator: None,
            first_digit_timeout: secs(8),
            inter_digit_timeout: secs(4),
            pattern: Some("([0-9".into()),
            confirm: None,
            sensitive: false,
            retries: retries(0, p.id("bye")),
            next: p.id("bye"),
        })
        .node("bye", goodbye)
        .build();
    let mut call = Call::start(program);
    call.played();
    call.keys("12");
    assert_eq!(call.interpreter.variable("x"), None);
    assert!(call.traces.iter().any(|t| matches!(t, Trace::Error { error: InterpreterError::BadPattern { .. }, .. })));
}

// ---------------------------------------------------------------- language

#[test]
fn a_language_node_changes_where_every_prompt_comes_from() {
    let program = Plan::new()
        .node("es", |p| NodeKind::Language { language: "es".into(), next: p.id("welcome") })
        .node("welcome", |p| announce("welcome", p.id("bye")))
        .node("bye", goodbye)
        .build();
    let call = Call::start(program);
    assert_eq!(call.started, vec![play(&["es/welcome"], false)]);
    assert_eq!(call.interpreter.language(), "es");
    assert_eq!(call.interpreter.variable("language"), Some("es"));
    assert!(call.traces.contains(&Trace::LanguageChanged { language: "es".into() }));
}

#[test]
fn the_first_language_of_the_program_is_the_default() {
    let mut plan = Plan::new().node("bye", goodbye);
    plan.languages = vec!["oc".into(), "ca".into()];
    let call = Call::start(plan.build());
    assert_eq!(call.interpreter.language(), "oc");
    assert_eq!(call.started, vec![play(&["oc/goodbye"], false)]);
}

// ---------------------------------------------------------------- when

/// Monday to Saturday 07:00 to 23:00 in Barcelona.
fn staffed_calendar() -> Calendar {
    let days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday"];
    let weekly: Vec<String> = days.iter().map(|d| format!("{d} = [\"07:00-23:00\"]")).collect();
    let text = format!("time_zone = \"Europe/Madrid\"\n[schedules.staffed]\n{}\n", weekly.join("\n"));
    Calendar::parse("test-calendar.toml", &text).expect("the test calendar is valid")
}

fn hours_plan() -> Plan {
    let calendar = staffed_calendar();
    let staffed = calendar.schedule("staffed").expect("schedule");
    let mut plan = Plan::new()
        .node("hours", |p| NodeKind::When { schedule: staffed, open: p.id("open"), closed: p.id("closed") })
        .node("open", |p| announce("open", p.id("bye")))
        .node("closed", |p| announce("closed", p.id("bye")))
        .node("bye", goodbye);
    plan.calendar = calendar;
    plan
}

#[test]
fn when_branches_on_the_calendar_at_the_calls_wallclock() {
    let cases = [
        ("2026-11-30T09:00:00Z", "open"),   // Monday 10:00 in Barcelona
        ("2026-11-30T21:59:59Z", "open"),   // Monday 22:59:59
        ("2026-11-30T22:00:00Z", "closed"), // Monday 23:00 exactly
        ("2026-11-29T11:00:00Z", "closed"), // Sunday noon
    ];
    for (at, expected) in cases {
        let wallclock: jiff::Timestamp = at.parse().expect("timestamp");
        let context = CallContext { caller: None, dialled: "012".into() };
        let call = Call::start_with(hours_plan().build(), context, wallclock);
        assert_eq!(call.started, vec![play(&[&format!("ca/{expected}")], false)], "{at}");
    }
}

#[test]
fn when_uses_the_wallclock_of_the_input_that_reaches_it() {
    let calendar = staffed_calendar();
    let staffed = calendar.schedule("staffed").expect("schedule");
    let mut plan = Plan::new()
        .node("welcome", |p| announce("welcome", p.id("hours")))
        .node("hours", |p| NodeKind::When { schedule: staffed, open: p.id("open"), closed: p.id("closed") })
        .node("open", |p| announce("open", p.id("bye")))
        .node("closed", |p| announce("closed", p.id("bye")))
        .node("bye", goodbye);
    plan.calendar = calendar;
    let context = CallContext { caller: None, dialled: "012".into() };
    let mut call = Call::start_with(plan.build(), context, "2026-11-30T21:59:50Z".parse().expect("timestamp"));
    call.wallclock = "2026-11-30T22:00:05Z".parse().expect("timestamp");
    assert_eq!(call.played(), vec![play(&["ca/closed"], false)], "it closed while the welcome played");
}

// ---------------------------------------------------------------- limits

#[test]
fn a_loop_without_input_ends_the_call_at_the_step_budget() {
    let mut plan = Plan::new()
        .node("a", |p| NodeKind::Goto { target: p.id("b") })
        .node("b", |p| NodeKind::Set { assignments: vec![("x".into(), text("1"))], next: p.id("a") });
    plan.step_budget = 10;
    let call = Call::start(plan.build());
    assert_eq!(call.started, vec![Action::Hangup]);
    assert_eq!(call.entered().len(), 10);
    // Named by the node it would have entered next.
    assert!(call.traces.contains(&Trace::StepBudgetExceeded { node: "a".into(), budget: 10 }));
    assert!(call.interpreter.is_finished());
    assert_eq!(call.interpreter.poll_timeout(), None);
}

#[test]
fn a_zero_timeout_looping_at_one_instant_is_not_a_wait() {
    let mut plan = Plan::new().node("spin", |p| NodeKind::Menu {
        prompt: vec![],
        options: [('1', p.id("spin"))].into(),
        timeout: secs(0),
        retries: retries(0, p.id("spin")),
        sets: Default::default(),
    });
    plan.step_budget = 10;
    let mut call = Call::start(plan.build());
    assert_eq!(call.started, vec![]);
    assert_eq!(call.wait(secs(0)), vec![Action::Hangup]);
    assert_eq!(call.entered().len(), 10);
    assert!(call.traces.iter().any(|t| matches!(t, Trace::StepBudgetExceeded { .. })));
}

#[test]
fn the_step_budget_counts_from_each_wait() {
    // Eight pass-through steps between waits fit a budget of ten however
    // long the caller goes round.
    let mut plan = Plan::new()
        .node("m", |p| menu("m", &[('1', p.id("s1"))], retries(0, p.id("bye"))))
        .node("s1", |p| NodeKind::Goto { target: p.id("s2") })
        .node("s2", |p| NodeKind::Goto { target: p.id("s3") })
        .node("s3", |p| NodeKind::Goto { target: p.id("s4") })
        .node("s4", |p| NodeKind::Goto { target: p.id("s5") })
        .node("s5", |p| NodeKind::Goto { target: p.id("s6") })
        .node("s6", |p| NodeKind::Goto { target: p.id("m") })
        .node("bye", goodbye);
    plan.step_budget = 10;
    let mut call = Call::start(plan.build());
    for _ in 0..20 {
        call.played();
        assert_eq!(call.key('1'), vec![play(&["ca/m"], true)]);
    }
    assert!(!call.interpreter.is_finished());
}

#[test]
fn the_call_ends_when_its_time_in_the_ivr_is_spent() {
    let mut plan = language_menu();
    plan.max_ivr_time = secs(12);
    let mut call = Call::start(plan.build());
    call.played();
    call.wait(secs(5));
    call.played();
    assert_eq!(call.wait(secs(6)), vec![play(&["ca/no-input", "ca/choose-language"], true)], "no input at 10 s");
    assert_eq!(call.next_deadline(), Some(secs(12)), "the IVR limit, even while a prompt plays");
    assert_eq!(call.wait(secs(1)), vec![Action::Hangup]);
    assert!(call.traces.contains(&Trace::MaxIvrTimeExceeded { node: "choose".into(), limit: secs(12) }));
    assert!(call.interpreter.is_finished());
}

#[test]
fn a_timeout_too_long_to_add_to_the_clock_is_only_very_long() {
    let program = Plan::new()
        .node("m", |p| NodeKind::Menu {
            prompt: vec![],
            options: [('1', p.id("bye"))].into(),
            timeout: std::time::Duration::MAX,
            retries: retries(0, p.id("bye")),
            sets: Default::default(),
        })
        .node("bye", goodbye)
        .build();
    let mut call = Call::start(program);
    assert_eq!(call.next_deadline(), Some(secs(900)), "the IVR limit comes first");
    assert_eq!(call.key('1'), vec![play(&["ca/goodbye"], false)]);
}

#[test]
fn a_hang_up_ends_everything_and_later_inputs_do_nothing() {
    let mut call = Call::start(language_menu().build());
    assert_eq!(call.input(Input::HungUp), vec![]);
    assert!(call.interpreter.is_finished());
    assert_eq!(call.traces.last(), Some(&Trace::CallerHungUp { node: "choose".into() }));
    assert_eq!(call.interpreter.poll_timeout(), None);
    assert_eq!(call.played(), vec![]);
    assert_eq!(call.key('1'), vec![]);
    assert_eq!(call.wait(secs(1000)), vec![]);
}

#[test]
fn a_hang_up_before_the_actions_are_drained_leaves_only_traces() {
    let program = language_menu().build();
    let t0 = std::time::Instant::now();
    let context = CallContext { caller: None, dialled: "012".into() };
    let mut interpreter = ivr_dialplan::interpreter::Interpreter::start(program, t0, monday_morning(), context);
    interpreter.handle_input(t0, monday_morning(), Input::HungUp);
    while let Some(action) = interpreter.poll_action() {
        assert!(matches!(action, Action::Trace(_)), "{action:?}");
    }
}
