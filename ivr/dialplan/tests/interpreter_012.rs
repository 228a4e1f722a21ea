//! The line's own flow, `dialplans/012.toml`, compiled as `ivr serve` does
//! and walked by DTMF through the interpreter: every branch a caller can
//! take, in every language, and every prompt the interpreter asks for
//! exists in `prompts/`.

mod interpreter_support;

use std::path::Path;
use std::sync::Arc;

use ivr_dialplan::compile::compile_file;
use ivr_dialplan::interpreter::{Action, CallContext, Input, QueueOutcome, WaitingFor};
use ivr_dialplan::program::Program;
use ivr_dialplan::prompts_catalog::PromptCatalog;

use interpreter_support::*;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn line() -> (Arc<Program>, PromptCatalog) {
    let catalog = PromptCatalog::from_dir(&root().join("prompts")).expect("prompts directory");
    let compiled = match compile_file(&root().join("dialplans/012.toml"), &catalog) {
        Ok(out) => out,
        Err(diagnostics) => panic!("dialplans/012.toml does not compile: {diagnostics:?}"),
    };
    (Arc::new(compiled.program), catalog)
}

/// A Sunday afternoon: the operators are not in.
fn sunday() -> jiff::Timestamp {
    "2026-11-29T15:00:00Z".parse().expect("timestamp")
}

/// A call whose shell checks that every prompt played exists.
struct Walk {
    call: Call,
    catalog: PromptCatalog,
    heard: Vec<String>,
}

impl Walk {
    fn start(wallclock: jiff::Timestamp) -> Walk {
        let (program, catalog) = line();
        let context = CallContext { caller: Some("612345678".into()), dialled: "012".into() };
        let call = Call::start_with(program, context, wallclock);
        let mut walk = Walk { call, catalog, heard: Vec::new() };
        let started = walk.call.started.clone();
        walk.note(&started);
        walk
    }

    fn note(&mut self, actions: &[Action]) {
        for action in actions {
            if let Action::Play { prompts, .. } = action {
                for path in prompts {
                    let (language, id) = path.split_once('/').expect("language/id");
                    assert!(self.catalog.contains(language, id), "prompt {path} does not exist");
                    self.heard.push(path.clone());
                }
            }
        }
    }

    /// Lets every prompt play to its end until the call waits for
    /// something else; returns the other actions on the way.
    fn listen(&mut self) -> Vec<Action> {
        let mut others = Vec::new();
        while self.call.interpreter.waiting_for() == WaitingFor::Playback {
            let actions = self.call.played();
            others.extend(self.others(actions));
        }
        others
    }

    /// Presses each key after the prompts before it have ended.
    fn press(&mut self, keys: &str) -> Vec<Action> {
        let mut actions = Vec::new();
        for key in keys.chars() {
            actions.extend(self.listen());
            let now = self.call.key(key);
            actions.extend(self.others(now));
        }
        actions.extend(self.listen());
        actions
    }

    fn wait(&mut self, d: std::time::Duration) -> Vec<Action> {
        let actions = self.call.wait(d);
        let mut actions = self.others(actions);
        actions.extend(self.listen());
        actions
    }

    /// Notes the prompts among `actions` and returns the rest.
    fn others(&mut self, actions: Vec<Action>) -> Vec<Action> {
        self.note(&actions);
        actions.into_iter().filter(|a| !matches!(a, Action::Play { .. })).collect()
    }

    fn input(&mut self, input: Input) -> Vec<Action> {
        let actions = self.call.input(input);
        let mut actions = self.others(actions);
        actions.extend(self.listen());
        actions
    }

    fn heard(&self, id: &str) -> bool {
        self.heard.iter().any(|p| p.split_once('/').is_some_and(|(_, i)| i == id))
    }
}

fn enqueue_for(language: &str, topic: &str) -> Action {
    Action::Enqueue {
        queue: "general".into(),
        skills: vec![("language".into(), language.into()), ("topic".into(), topic.into())],
        priority: 0,
        max_wait: secs(900),
        callback_key: Some('1'),
    }
}

#[test]
fn in_each_language_a_caller_reaches_an_operator_about_health_and_answers_the_survey() {
    for (key, language) in [('1', "ca"), ('2', "es"), ('3', "en"), ('4', "oc")] {
        let mut walk = Walk::start(monday_morning());
        walk.press(&key.to_string());
        assert_eq!(walk.call.interpreter.language(), language);
        // Health, then "2" for an operator after the information.
        assert_eq!(walk.press("22"), vec![enqueue_for(language, "health")], "{language}");
        walk.input(Input::QueueOutcome(QueueOutcome::Answered));
        walk.input(Input::QueueOutcome(QueueOutcome::OperatorHungUp));
        let answers = walk.press("9#10#7#");
        let expected: Vec<Action> = [("overall", 9), ("resolved", 10), ("operator", 7)]
            .into_iter()
            .map(|(question, value)| Action::SurveyAnswered { question: question.into(), value: Some(value) })
            .chain([Action::Hangup])
            .collect();
        assert_eq!(answers, expected, "{language}");
        // The welcome and the language choice come before any choice.
        assert!(walk.heard.iter().skip(2).all(|p| p.starts_with(&format!("{language}/"))), "{:?}", walk.heard);
        let path = walk.call.entered().join(" > ");
        assert!(path.ends_with("operator > to-operator > queue > survey-intro > survey > goodbye"), "{path}");
    }
}

#[test]
fn every_topic_has_its_information_and_sets_its_topic() {
    let topics = [('1', "procedures"), ('2', "health"), ('3', "education"), ('4', "work"), ('5', "transport")];
    for (key, topic) in topics {
        let mut walk = Walk::start(monday_morning());
        walk.press("1");
        walk.press(&key.to_string());
        assert!(walk.heard(&format!("info-{topic}")), "{topic}: {:?}", walk.heard);
        assert_eq!(walk.call.interpreter.variable("topic"), Some(topic));
        // "1" hears it again, "3" goes back to the main menu.
        walk.press("1");
        walk.press("3");
        assert_eq!(walk.heard.iter().filter(|p| p.ends_with(&format!("/info-{topic}"))).count(), 2);
        assert!(walk.call.entered().ends_with(&["main"]), "{:?}", walk.call.entered());
    }
}

#[test]
fn the_operator_option_out_of_hours_offers_a_callback_to_the_callers_own_number() {
    let mut walk = Walk::start(sunday());
    walk.press("2");
    let actions = walk.press("6");
    assert_eq!(actions, vec![], "no queue on a Sunday");
    assert!(walk.heard("out-of-hours"));
    let registered = walk.press("11");
    let expected =
        vec![Action::RegisterCallback { queue: "general".into(), number: "612345678".into() }, Action::Hangup];
    assert_eq!(registered, expected);
    assert!(walk.heard("callback-registered"));
}

#[test]
fn out_of_hours_a_caller_can_leave_a_message() {
    let mut walk = Walk::start(sunday());
    walk.press("3");
    assert_eq!(walk.press("62"), vec![Action::StartRecording { beep: true, max_length: secs(120), silence: secs(5) }]);
    assert_eq!(walk.press("#"), vec![Action::StopRecording]);
    assert_eq!(walk.input(Input::RecordingFinished { length: secs(20) }), vec![Action::Hangup]);
    assert!(walk.heard("message-saved"));
}

#[test]
fn a_caller_waiting_in_the_queue_can_choose_a_callback_to_another_number() {
    let mut walk = Walk::start(monday_morning());
    walk.press("1");
    assert_eq!(walk.press("6"), vec![enqueue_for("ca", "other")]);
    walk.input(Input::QueueOutcome(QueueOutcome::CallbackChosen));
    assert!(walk.heard("callback-offer"));
    walk.press("934567890#");
    assert!(walk.heard("digit-9") && walk.heard("confirm-or-change"), "said back: {:?}", walk.heard);
    let registered = walk.press("1");
    let expected =
        vec![Action::RegisterCallback { queue: "general".into(), number: "934567890".into() }, Action::Hangup];
    assert_eq!(registered, expected);
}

#[test]
fn a_caller_who_never_chooses_is_put_through_to_an_operator() {
    let mut walk = Walk::start(monday_morning());
    walk.listen();
    walk.wait(secs(5));
    assert_eq!(walk.call.interpreter.language(), "ca", "nothing pressed: Catalan");
    let mut actions = Vec::new();
    for _ in 0..3 {
        actions.extend(walk.wait(secs(6)));
    }
    assert_eq!(actions, vec![enqueue_for("ca", "other")]);
    assert!(walk.heard("no-input"));
}

#[test]
fn when_nobody_can_answer_the_queue_the_caller_may_still_leave_a_message() {
    let mut walk = Walk::start(monday_morning());
    walk.press("1");
    walk.press("6");
    walk.input(Input::QueueOutcome(QueueOutcome::TimedOut));
    assert!(walk.heard("operators-unavailable"));
    assert_eq!(walk.press("2"), vec![Action::StartRecording { beep: true, max_length: secs(120), silence: secs(5) }]);
}
