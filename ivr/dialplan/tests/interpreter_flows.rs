//! Scenarios for the interpreter's hand-offs and flow nodes on a simulated
//! clock: queue outcomes, callbacks, recordings, the survey, transfers,
//! goto, sub/return, set and hangup.

mod interpreter_support;

use ivr_dialplan::interpreter::REDACTED;
use ivr_dialplan::interpreter::{Action, CallContext, Input, InterpreterError, MAX_CALL_DEPTH, QueueOutcome, Trace};
use ivr_dialplan::program::{NodeKind, SayKind, SurveyQuestion, Template, TemplatePart};
use ivr_dialplan::say::SayError;

use interpreter_support::*;

fn goodbye(_: &mut Plan) -> NodeKind {
    NodeKind::Hangup { prompts: prompts(&["goodbye"]) }
}

fn no_caller() -> CallContext {
    CallContext { caller: None, dialled: "012".into() }
}

// ---------------------------------------------------------------- queue

fn queue_plan(after_call: bool, on_callback: bool) -> Plan {
    Plan::new()
        .node("health", |p| NodeKind::Set { assignments: vec![("topic".into(), text("health"))], next: p.id("queue") })
        .node("queue", |p| NodeKind::Queue {
            queue: "general".into(),
            skills: vec![("language".into(), var("language")), ("topic".into(), var("topic"))],
            priority: 3,
            max_wait: secs(900),
            callback_key: Some('1'),
            after_call: after_call.then(|| p.id("survey")),
            on_timeout: p.id("timeout"),
            on_closed: p.id("closed"),
            on_callback: on_callback.then(|| p.id("callback")),
        })
        .node("survey", |p| announce("survey-intro", p.id("bye")))
        .node("timeout", |p| announce("queue-timeout", p.id("bye")))
        .node("closed", |p| announce("out-of-hours", p.id("bye")))
        .node("callback", |p| announce("callback-offer", p.id("bye")))
        .node("bye", goodbye)
}

fn enqueue() -> Action {
    Action::Enqueue {
        queue: "general".into(),
        skills: vec![("language".into(), "ca".into()), ("topic".into(), "health".into())],
        priority: 3,
        max_wait: secs(900),
        callback_key: Some('1'),
    }
}

#[test]
fn a_queue_node_hands_the_call_over_with_its_skills_and_waits() {
    let mut call = Call::start(queue_plan(true, true).build());
    assert_eq!(call.started, vec![enqueue()]);
    assert_eq!(call.next_deadline(), None, "queue time is not IVR time; the ACD owns the wait");
    assert_eq!(call.keys("1#5"), vec![], "keys in the queue are the ACD's");
    assert_eq!(call.queue(QueueOutcome::Answered), vec![]);
    assert_eq!(call.wait(secs(3600)), vec![], "a long talk with the operator");
    assert_eq!(call.queue(QueueOutcome::OperatorHungUp), vec![play(&["ca/survey-intro"], false)]);
    assert_eq!(call.next_deadline(), Some(secs(3600 + 900)), "IVR time runs again from its pause");
}

#[test]
fn without_after_call_the_call_ends_when_the_operator_hangs_up() {
    let mut call = Call::start(queue_plan(false, true).build());
    call.queue(QueueOutcome::Answered);
    assert_eq!(call.queue(QueueOutcome::OperatorHungUp), vec![Action::Hangup]);
    assert!(call.interpreter.is_finished());
}

#[test]
fn each_queue_outcome_goes_to_its_own_node() {
    let cases = [
        (QueueOutcome::TimedOut, "ca/queue-timeout"),
        (QueueOutcome::Closed, "ca/out-of-hours"),
        (QueueOutcome::CallbackChosen, "ca/callback-offer"),
    ];
    for (outcome, prompt) in cases {
        let mut call = Call::start(queue_plan(true, true).build());
        assert_eq!(call.queue(outcome), vec![play(&[prompt], false)], "{outcome:?}");
    }
}

#[test]
fn a_caller_an_operator_transferred_to_a_queue_may_time_out_there() {
    let mut call = Call::start(queue_plan(true, true).build());
    call.queue(QueueOutcome::Answered);
    assert_eq!(call.queue(QueueOutcome::TimedOut), vec![play(&["ca/queue-timeout"], false)]);
}

#[test]
fn outcomes_that_do_not_fit_are_ignored() {
    let mut call = Call::start(queue_plan(true, true).build());
    call.queue(QueueOutcome::Answered);
    assert_eq!(call.queue(QueueOutcome::Answered), vec![], "already with an operator");
    assert_eq!(call.queue(QueueOutcome::OperatorHungUp), vec![play(&["ca/survey-intro"], false)]);
    assert_eq!(call.queue(QueueOutcome::Closed), vec![], "no longer queued");
}

#[test]
fn a_callback_chosen_in_the_queue_without_a_callback_node_uses_the_callers_number() {
    let mut call = Call::start(queue_plan(true, false).build());
    let expected =
        vec![Action::RegisterCallback { queue: "general".into(), number: "612345678".into() }, Action::Hangup];
    assert_eq!(call.queue(QueueOutcome::CallbackChosen), expected);
}

#[test]
fn a_callback_chosen_by_an_anonymous_caller_without_a_callback_node_ends_with_an_error() {
    let mut call = Call::start_with(queue_plan(true, false).build(), no_caller(), monday_morning());
    assert_eq!(call.queue(QueueOutcome::CallbackChosen), vec![Action::Hangup]);
    assert!(call.traces.contains(&Trace::Error { node: "queue".into(), error: InterpreterError::NoCallerNumber }));
}

// ---------------------------------------------------------------- callback

fn callback_plan() -> Plan {
    Plan::new()
        .node("callback", |p| NodeKind::Callback {
            prompt: prompts(&["callback-offer"]),
            queue: "general".into(),
            use_caller_key: '1',
            pattern: "[6789][0-9]{8}".into(),
            confirm: confirm(),
            retries: retries(1, p.id("bye")),
            next: p.id("registered"),
        })
        .node("registered", |p| announce("callback-registered", p.id("bye")))
        .node("bye", goodbye)
}

#[test]
fn the_caller_key_registers_a_callback_to_the_number_the_call_came_from() {
    let mut call = Call::start(callback_plan().build());
    assert_eq!(call.started, vec![play(&["ca/callback-offer"], true)]);
    call.played();
    let expected = vec![
        Action::RegisterCallback { queue: "general".into(), number: "612345678".into() },
        play(&["ca/callback-registered"], false),
    ];
    assert_eq!(call.key('1'), expected);
}

#[test]
fn the_caller_key_from_an_anonymous_caller_is_invalid() {
    let mut call = Call::start_with(callback_plan().build(), no_caller(), monday_morning());
    call.played();
    assert_eq!(call.key('1'), vec![play(&["ca/invalid", "ca/callback-offer"], true)]);
    assert!(call.traces.contains(&Trace::Error { node: "callback".into(), error: InterpreterError::NoCallerNumber }));
}

#[test]
fn another_number_is_collected_confirmed_and_registered_without_appearing_in_traces() {
    let mut call = Call::start(callback_plan().build());
    call.played();
    let said_back: Vec<String> = std::iter::once("ca/you-entered".to_owned())
        .chain("934567890".chars().map(|d| format!("ca/digit-{d}")))
        .chain(std::iter::once("ca/confirm-or-change".to_owned()))
        .collect();
    let said_back: Vec<&str> = said_back.iter().map(String::as_str).collect();
    assert_eq!(call.keys("934567890#"), vec![play_sensitive(&said_back, true)], "a phone number is personal data");
    call.played();
    let expected = vec![
        Action::RegisterCallback { queue: "general".into(), number: "934567890".into() },
        play(&["ca/callback-registered"], false),
    ];
    assert_eq!(call.key('1'), expected);
    assert!(!format!("{:?}", call.traces).contains("934567890"));
    assert!(call.keys_traced().iter().take(10).all(|(_, key)| *key == '*'));
}

#[test]
fn a_number_that_does_not_match_the_pattern_is_invalid_and_retries_run_out() {
    let mut call = Call::start(callback_plan().build());
    call.played();
    assert_eq!(call.keys("52345#"), vec![play(&["ca/invalid", "ca/callback-offer"], true)]);
    call.played();
    call.keys("93456789");
    assert_eq!(call.wait(secs(4)), vec![play(&["ca/goodbye"], false)], "eight digits then a pause: too short");
}

// ---------------------------------------------------------------- record

fn record_plan(prompt: &[&str]) -> Plan {
    Plan::new()
        .node("message", |p| NodeKind::Record {
            prompt: prompts(prompt),
            beep: true,
            max_length: secs(120),
            silence: secs(5),
            next: p.id("bye"),
        })
        .node("bye", goodbye)
}

fn start_recording() -> Action {
    Action::StartRecording { beep: true, max_length: secs(120), silence: secs(5) }
}

#[test]
fn a_recording_starts_after_its_prompt_stops_on_hash_and_goes_on_when_it_ends() {
    let mut call = Call::start(record_plan(&["leave-message"]).build());
    assert_eq!(call.started, vec![play(&["ca/leave-message"], false)]);
    assert_eq!(call.key('#'), vec![], "the prompt cannot be skipped");
    assert_eq!(call.played(), vec![start_recording()]);
    assert_eq!(call.key('5'), vec![]);
    assert_eq!(call.key('#'), vec![Action::StopRecording]);
    assert_eq!(call.key('#'), vec![], "once is enough");
    assert_eq!(call.input(Input::RecordingFinished { length: secs(42) }), vec![play(&["ca/goodbye"], false)]);
    assert!(call.traces.contains(&Trace::MessageRecorded { node: "message".into(), length: secs(42) }));
}

#[test]
fn a_recording_without_a_prompt_starts_at_once_and_may_end_by_silence() {
    let mut call = Call::start(record_plan(&[]).build());
    assert_eq!(call.started, vec![start_recording()]);
    assert_eq!(call.input(Input::RecordingFinished { length: secs(7) }), vec![play(&["ca/goodbye"], false)]);
}

// ---------------------------------------------------------------- survey

fn survey_plan(next: bool) -> Plan {
    Plan::new()
        .node("survey", |p| NodeKind::Survey {
            questions: vec![
                SurveyQuestion { id: "overall".into(), prompt: prompts(&["survey-overall"]) },
                SurveyQuestion { id: "resolved".into(), prompt: prompts(&["survey-resolved"]) },
            ],
            timeout: secs(6),
            thanks: prompts(&["survey-thanks"]),
            next: next.then(|| p.id("bye")),
        })
        .node("bye", goodbye)
}

fn answered(question: &str, value: Option<u8>) -> Action {
    Action::SurveyAnswered { question: question.into(), value }
}

#[test]
fn a_survey_asks_each_question_stores_each_answer_and_thanks_the_caller() {
    let mut call = Call::start(survey_plan(false).build());
    assert_eq!(call.started, vec![play(&["ca/survey-overall"], true)]);
    call.played();
    assert_eq!(call.key('8'), vec![]);
    assert_eq!(call.wait(secs(3)), vec![answered("overall", Some(8)), play(&["ca/survey-resolved"], true)]);
    call.played();
    call.keys("10");
    assert_eq!(call.key('#'), vec![answered("resolved", Some(10)), play(&["ca/survey-thanks"], false)]);
    assert_eq!(call.played(), vec![Action::Hangup], "no next: hang up");
}

#[test]
fn an_answer_typed_during_the_question_stops_it() {
    let mut call = Call::start(survey_plan(true).build());
    assert_eq!(call.keys("9#"), vec![Action::StopPlayback]);
    assert_eq!(call.stopped(), vec![answered("overall", Some(9)), play(&["ca/survey-resolved"], true)]);
}

#[test]
fn an_invalid_answer_asks_again_once_then_skips_the_question() {
    let mut call = Call::start(survey_plan(true).build());
    call.played();
    assert_eq!(call.key('*'), vec![play(&["ca/survey-overall"], true)], "asked again");
    call.played();
    assert_eq!(call.keys("12"), vec![answered("overall", None), play(&["ca/survey-resolved"], true)]);
    call.played();
    assert_eq!(call.wait(secs(6)), vec![play(&["ca/survey-resolved"], true)], "no input: asked again");
    call.played();
    assert_eq!(call.wait(secs(6)), vec![answered("resolved", None), play(&["ca/survey-thanks"], false)]);
    assert_eq!(call.played(), vec![play(&["ca/goodbye"], false)], "then next");
}

#[test]
fn a_valid_answer_the_second_time_is_stored() {
    let mut call = Call::start(survey_plan(true).build());
    call.played();
    call.key('A');
    call.played();
    call.key('0');
    assert_eq!(call.wait(secs(3)), vec![answered("overall", Some(0)), play(&["ca/survey-resolved"], true)]);
}

// ---------------------------------------------------------------- transfer

#[test]
fn a_transfer_expands_its_target_and_a_failure_goes_on() {
    let program = Plan::new()
        .node("transfer", |p| NodeKind::Transfer {
            target: Template {
                parts: vec![
                    TemplatePart::Text("sip:".into()),
                    TemplatePart::Variable("dialled".into()),
                    TemplatePart::Text("@pbx.example".into()),
                ],
            },
            on_failure: p.id("sorry"),
        })
        .node("sorry", |p| announce("transfer-failed", p.id("bye")))
        .node("bye", goodbye)
        .build();
    let mut call = Call::start(program);
    assert_eq!(call.started, vec![Action::Transfer { target: "sip:012@pbx.example".into() }]);
    assert_eq!(call.key('1'), vec![]);
    assert_eq!(call.input(Input::TransferFailed { status: 486 }), vec![play(&["ca/transfer-failed"], false)]);
    assert!(call.traces.contains(&Trace::TransferFailed { node: "transfer".into(), status: 486 }));
}

#[test]
fn a_transfer_that_succeeds_ends_with_the_call_leaving() {
    let program = Plan::new()
        .node("transfer", |p| NodeKind::Transfer {
            target: text("sip:112@emergencies.example"),
            on_failure: p.id("bye"),
        })
        .node("bye", goodbye)
        .build();
    let mut call = Call::start(program);
    assert_eq!(call.input(Input::HungUp), vec![]);
    assert!(call.interpreter.is_finished());
}

// ---------------------------------------------------------------- goto, sub, return, set, hangup

#[test]
fn a_sub_flow_returns_to_the_node_after_it() {
    let program = Plan::new()
        .node("main", |p| NodeKind::Sub { target: p.id("hours"), next: p.id("after") })
        .node("hours", |p| announce("hours", p.id("hours-end")))
        .node("hours-end", |_| NodeKind::Return)
        .node("after", |p| NodeKind::Goto { target: p.id("bye") })
        .node("bye", goodbye)
        .build();
    let mut call = Call::start(program);
    assert_eq!(call.started, vec![play(&["ca/hours"], false)]);
    assert_eq!(call.played(), vec![play(&["ca/goodbye"], false)]);
    assert_eq!(call.entered(), ["main", "hours", "hours-end", "after", "bye"]);
}

#[test]
fn a_return_outside_any_sub_flow_ends_the_call_with_an_error() {
    let program = Plan::new().node("oops", |_| NodeKind::Return).build();
    let call = Call::start(program);
    assert_eq!(call.started, vec![Action::Hangup]);
    assert!(call.traces.contains(&Trace::Error { node: "oops".into(), error: InterpreterError::ReturnWithoutSub }));
}

#[test]
fn sub_flows_nested_too_deep_end_the_call_with_an_error() {
    let mut plan = Plan::new().node("deeper", |p| NodeKind::Sub { target: p.id("deeper"), next: p.id("bye") });
    plan = plan.node("bye", goodbye);
    plan.step_budget = 1000;
    let call = Call::start(plan.build());
    assert_eq!(call.started, vec![Action::Hangup]);
    let overflow = InterpreterError::CallStackOverflow { limit: MAX_CALL_DEPTH };
    assert!(call.traces.contains(&Trace::Error { node: "deeper".into(), error: overflow }));
}

#[test]
fn set_expands_templates_and_never_traces_what_comes_from_the_callers_number() {
    let program = Plan::new()
        .node("set", |p| NodeKind::Set {
            assignments: vec![
                (
                    "line".into(),
                    Template {
                        parts: vec![TemplatePart::Text("line ".into()), TemplatePart::Variable("dialled".into())],
                    },
                ),
                ("who".into(), var("caller")),
                ("unknown".into(), var("nothing-by-this-name")),
            ],
            next: p.id("bye"),
        })
        .node("bye", goodbye)
        .build();
    let call = Call::start(program);
    assert_eq!(call.interpreter.variable("line"), Some("line 012"));
    assert_eq!(call.interpreter.variable("who"), Some("612345678"));
    assert_eq!(call.interpreter.variable("unknown"), Some(""));
    assert!(call.traces.contains(&Trace::VariableSet { name: "line".into(), value: "line 012".into() }));
    assert!(!format!("{:?}", call.traces).contains("612345678"));
}

#[test]
fn prompts_that_say_a_sensitive_value_are_marked_and_its_errors_redacted() {
    let program = Plan::new()
        .node("say", |p| NodeKind::Play {
            prompts: vec![say(SayKind::Digits, var("caller")), say(SayKind::Time, var("caller"))],
            barge_in: false,
            next: p.id("bye"),
        })
        .node("bye", goodbye)
        .build();
    let call = Call::start(program);
    let digits: Vec<String> = "612345678".chars().map(|d| format!("ca/digit-{d}")).collect();
    let digits: Vec<&str> = digits.iter().map(String::as_str).collect();
    assert_eq!(call.started, vec![play_sensitive(&digits, false)]);
    let redacted = SayError::InvalidValue { kind: SayKind::Time, value: REDACTED.into() };
    assert!(call.traces.contains(&Trace::Error { node: "say".into(), error: InterpreterError::Say(redacted) }));
    assert!(!format!("{:?}", call.traces).contains("612345678"));
}

#[test]
fn setting_the_language_variable_changes_the_language() {
    let program = Plan::new()
        .node("set", |p| NodeKind::Set { assignments: vec![("language".into(), text("en"))], next: p.id("bye") })
        .node("bye", goodbye)
        .build();
    let call = Call::start(program);
    assert_eq!(call.started, vec![play(&["en/goodbye"], false)]);
    assert_eq!(call.interpreter.language(), "en");
}

#[test]
fn a_hangup_without_prompts_hangs_up_at_once() {
    let call = Call::start(Plan::new().node("bye", |_| NodeKind::Hangup { prompts: vec![] }).build());
    assert_eq!(call.started, vec![Action::Hangup]);
    assert!(call.interpreter.is_finished());
}

#[test]
fn the_program_a_call_started_on_stays_with_it() {
    let program = Plan::new().node("bye", goodbye).build();
    let call = Call::start(std::sync::Arc::clone(&program));
    assert!(std::sync::Arc::ptr_eq(call.interpreter.program(), &program));
}

// ---------------------------------------------------------------- a whole call

/// A small 012: welcome, language, main menu, staffed hours, the queue,
/// and the survey after the operator.
fn line_012() -> Plan {
    let calendar = ivr_dialplan::calendar::Calendar::parse(
        "hours.toml",
        "time_zone = \"Europe/Madrid\"\n[schedules.staffed]\nmonday = [\"07:00-23:00\"]\n",
    )
    .expect("valid calendar");
    let staffed = calendar.schedule("staffed").expect("schedule");
    let mut plan = Plan::new()
        .node("welcome", |p| announce("welcome", p.id("choose-language")))
        .node("choose-language", |p| {
            menu("choose-language", &[('1', p.id("lang-ca")), ('2', p.id("lang-es"))], retries(2, p.id("lang-ca")))
        })
        .node("lang-ca", |p| NodeKind::Language { language: "ca".into(), next: p.id("main") })
        .node("lang-es", |p| NodeKind::Language { language: "es".into(), next: p.id("main") })
        .node("main", |p| NodeKind::Menu {
            prompt: prompts(&["main-menu"]),
            options: [('2', p.id("hours")), ('9', p.id("hours"))].into(),
            timeout: secs(5),
            retries: retries(2, p.id("hours")),
            sets: [('2', ("topic".to_owned(), "health".to_owned()))].into(),
        })
        .node("hours", |p| NodeKind::When { schedule: staffed, open: p.id("queue"), closed: p.id("bye") })
        .node("queue", |p| NodeKind::Queue {
            queue: "general".into(),
            skills: vec![("language".into(), var("language")), ("topic".into(), var("topic"))],
            priority: 0,
            max_wait: secs(900),
            callback_key: None,
            after_call: Some(p.id("survey")),
            on_timeout: p.id("bye"),
            on_closed: p.id("bye"),
            on_callback: None,
        })
        .node("survey", |p| NodeKind::Survey {
            questions: vec![SurveyQuestion { id: "overall".into(), prompt: prompts(&["survey-overall"]) }],
            timeout: secs(6),
            thanks: prompts(&["survey-thanks"]),
            next: Some(p.id("bye")),
        })
        .node("bye", goodbye);
    plan.calendar = calendar;
    plan
}

/// What the shell sends, at what time.
enum Step {
    Key(char),
    Played,
    Stopped,
    Wait(u64),
    Queue(QueueOutcome),
}

/// Runs the steps and prints the call as a ladder: `->` inputs, `<-` actions.
fn transcript(steps: &[Step]) -> String {
    let mut call = Call::start(line_012().build());
    let mut lines = Vec::new();
    let show = |call: &Call, actions: Vec<Action>, lines: &mut Vec<String>| {
        let t = (call.now - call.t0).as_secs_f64();
        for action in actions {
            lines.push(format!("t={t:.3} <- {action:?}"));
        }
    };
    let started = call.started.clone();
    show(&call, started, &mut lines);
    for step in steps {
        let actions = match step {
            Step::Key(k) => call.key(*k),
            Step::Played => call.played(),
            Step::Stopped => call.stopped(),
            Step::Wait(s) => call.wait(secs(*s)),
            Step::Queue(outcome) => call.queue(*outcome),
        };
        let t = (call.now - call.t0).as_secs_f64();
        lines.push(match step {
            Step::Key(k) => format!("t={t:.3} -> key {k}"),
            Step::Played => format!("t={t:.3} -> played"),
            Step::Stopped => format!("t={t:.3} -> stopped"),
            Step::Wait(_) => format!("t={t:.3} -> (time passes)"),
            Step::Queue(outcome) => format!("t={t:.3} -> {outcome:?}"),
        });
        show(&call, actions, &mut lines);
    }
    lines.push(format!("path: {}", call.entered().join(" > ")));
    lines.join("\n")
}

#[test]
fn a_caller_walks_the_line_in_spanish_to_an_operator_and_answers_the_survey() {
    use Step::*;
    let steps = [
        Wait(4),
        Played,
        Key('2'),
        Stopped,
        Wait(2),
        Played,
        Key('2'),
        Wait(300),
        Queue(QueueOutcome::Answered),
        Wait(240),
        Queue(QueueOutcome::OperatorHungUp),
        Key('9'),
        Stopped,
        Key('#'),
        Played,
        Played,
    ];
    let expected = r#"t=0.000 <- Play { prompts: ["ca/welcome"], barge_in: false, sensitive: false }
t=4.000 -> (time passes)
t=4.000 -> played
t=4.000 <- Play { prompts: ["ca/choose-language"], barge_in: true, sensitive: false }
t=4.000 -> key 2
t=4.000 <- StopPlayback
t=4.000 -> stopped
t=4.000 <- Play { prompts: ["es/main-menu"], barge_in: true, sensitive: false }
t=6.000 -> (time passes)
t=6.000 -> played
t=6.000 -> key 2
t=6.000 <- Enqueue { queue: "general", skills: [("language", "es"), ("topic", "health")], priority: 0, max_wait: 900s, callback_key: None }
t=306.000 -> (time passes)
t=306.000 -> Answered
t=546.000 -> (time passes)
t=546.000 -> OperatorHungUp
t=546.000 <- Play { prompts: ["es/survey-overall"], barge_in: true, sensitive: false }
t=546.000 -> key 9
t=546.000 <- StopPlayback
t=546.000 -> stopped
t=546.000 -> key #
t=546.000 <- SurveyAnswered { question: "overall", value: Some(9) }
t=546.000 <- Play { prompts: ["es/survey-thanks"], barge_in: false, sensitive: false }
t=546.000 -> played
t=546.000 <- Play { prompts: ["es/goodbye"], barge_in: false, sensitive: false }
t=546.000 -> played
t=546.000 <- Hangup
path: welcome > choose-language > lang-es > main > hours > queue > survey > bye"#;
    assert_eq!(transcript(&steps), expected);
}
