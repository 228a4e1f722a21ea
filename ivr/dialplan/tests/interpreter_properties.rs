//! Properties of the interpreter over random programs and random inputs:
//! it never panics, never runs more than its step budget between two
//! waits, and between inputs is always either finished or waiting for
//! something that will come (a prompt's end, a key with a deadline, the
//! ACD, the recorder, the transfer).

mod interpreter_support;

use std::time::{Duration, Instant};

use ivr_dialplan::calendar::{Calendar, ScheduleId};
use ivr_dialplan::interpreter::{Action, CallContext, Input, Interpreter, QueueOutcome, Trace, WaitingFor};
use ivr_dialplan::program::{Confirm, NodeId, NodeKind, PromptItem, SayKind, SurveyQuestion, Template, TemplatePart};
use proptest::prelude::*;

use interpreter_support::*;

/// Keys a caller can press, and one no phone sends.
const KEYS: &[char] = &['0', '1', '2', '5', '9', '*', '#', 'A', 'x'];
/// Longer than any call in these tests.
const FAR: Duration = Duration::from_secs(1_000_000);

/// Raw material for one node; `build` turns it into a valid node.
#[derive(Debug, Clone)]
struct RawNode {
    kind: u8,
    targets: [u32; 4],
    a: u8,
    b: u8,
    flag: bool,
}

fn raw_node() -> impl Strategy<Value = RawNode> {
    (0u8..15, [any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()], any::<u8>(), any::<u8>(), any::<bool>())
        .prop_map(|(kind, targets, a, b, flag)| RawNode { kind, targets, a, b, flag })
}

/// Prompt lists: empty ones (nothing to wait for), recorded prompts, and
/// spoken values that may or may not be sayable.
fn prompt_list(a: u8) -> Vec<PromptItem> {
    match a % 4 {
        0 => vec![],
        1 => prompts(&["p"]),
        2 => vec![PromptItem::Say { kind: SayKind::Number, value: var("n") }],
        _ => vec![PromptItem::Prompt("p".into()), PromptItem::Say { kind: SayKind::Digits, value: var("entry") }],
    }
}

fn key(a: u8) -> char {
    KEYS[a as usize % KEYS.len()]
}

fn build(raw: &RawNode, n: u32) -> NodeKind {
    let t = |i: usize| NodeId(raw.targets[i] % n);
    // 255: a timeout too long to add to an instant.
    let ms = |x: u8| if x == 255 { Duration::MAX } else { Duration::from_millis(u64::from(x) * 40) };
    let retries = ivr_dialplan::program::Retries {
        retries: u32::from(raw.b % 3),
        no_input: prompt_list(raw.a),
        invalid: prompt_list(raw.b),
        exhausted: t(3),
    };
    let confirm = Confirm { prefix: prompt_list(raw.a), question: prompt_list(raw.b), yes_key: '1', no_key: '2' };
    match raw.kind {
        0 => NodeKind::Play { prompts: prompt_list(raw.a), barge_in: raw.flag, next: t(0) },
        1 => NodeKind::Menu {
            prompt: prompt_list(raw.a),
            options: [(key(raw.a), t(0)), (key(raw.b), t(1)), ('5', t(2))].into(),
            timeout: ms(raw.a),
            retries,
            sets: [('5', ("entry".to_owned(), raw.b.to_string()))].into(),
        },
        2 => NodeKind::Collect {
            prompt: prompt_list(raw.a),
            variable: if raw.flag { "entry".into() } else { "n".into() },
            min_digits: u32::from(raw.a % 4),
            max_digits: u32::from(raw.b % 5),
            terminator: raw.flag.then_some('#'),
            first_digit_timeout: ms(raw.b),
            inter_digit_timeout: ms(raw.a),
            pattern: match raw.a % 3 {
                0 => None,
                1 => Some("[0-9]*5".into()),
                _ => Some("([".into()),
            },
            confirm: raw.flag.then_some(confirm),
            sensitive: raw.b.is_multiple_of(2),
            retries,
            next: t(0),
        },
        3 => NodeKind::Language { language: ["ca", "es", "xx"][raw.a as usize % 3].into(), next: t(0) },
        4 => NodeKind::When { schedule: ScheduleId(u32::from(raw.a % 2)), open: t(0), closed: t(1) },
        5 => NodeKind::Queue {
            queue: "general".into(),
            skills: vec![("topic".into(), var("topic"))],
            priority: i32::from(raw.a),
            max_wait: ms(raw.b),
            callback_key: raw.flag.then_some('1'),
            after_call: raw.flag.then(|| t(0)),
            on_timeout: t(1),
            on_closed: t(2),
            on_callback: raw.a.is_multiple_of(2).then(|| t(3)),
        },
        6 => NodeKind::Callback {
            prompt: prompt_list(raw.a),
            queue: "general".into(),
            use_caller_key: '1',
            pattern: "[6789][0-9]{2}".into(),
            confirm,
            retries,
            next: t(0),
        },
        7 => NodeKind::Record {
            prompt: prompt_list(raw.a),
            beep: raw.flag,
            max_length: ms(raw.a),
            silence: ms(raw.b),
            next: t(0),
        },
        8 => NodeKind::Survey {
            questions: (0..raw.a % 3)
                .map(|i| SurveyQuestion { id: format!("q{i}"), prompt: prompt_list(raw.b.wrapping_add(i)) })
                .collect(),
            timeout: ms(raw.b),
            thanks: prompt_list(raw.a),
            next: raw.flag.then(|| t(0)),
        },
        9 => NodeKind::Transfer { target: text("sip:x@example"), on_failure: t(0) },
        10 => NodeKind::Goto { target: t(0) },
        11 => NodeKind::Sub { target: t(0), next: t(1) },
        12 => NodeKind::Return,
        13 => NodeKind::Set {
            assignments: vec![
                ("n".into(), Template { parts: vec![TemplatePart::Text(raw.a.to_string())] }),
                ("entry".into(), var(if raw.flag { "caller" } else { "topic" })),
            ],
            next: t(0),
        },
        _ => NodeKind::Hangup { prompts: prompt_list(raw.a) },
    }
}

/// One thing the simulated shell does.
#[derive(Debug, Clone)]
enum Event {
    Key(u8),
    PlaybackFinished(bool),
    Queue(u8),
    RecordingFinished,
    TransferFailed,
    /// Jump to the next deadline and fire it.
    Deadline,
    /// Let some milliseconds pass, firing what falls due.
    Pass(u16),
    HungUp,
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        6 => any::<u8>().prop_map(Event::Key),
        5 => any::<bool>().prop_map(Event::PlaybackFinished),
        2 => any::<u8>().prop_map(Event::Queue),
        1 => Just(Event::RecordingFinished),
        1 => Just(Event::TransferFailed),
        4 => Just(Event::Deadline),
        2 => any::<u16>().prop_map(Event::Pass),
        1 => Just(Event::HungUp),
    ]
}

fn calendar() -> Calendar {
    let text = "time_zone = \"Europe/Madrid\"\n[schedules.staffed]\nmonday = [\"07:00-23:00\"]\n";
    Calendar::parse("random.toml", text).expect("valid calendar")
}

/// Drains the actions of one input and checks what must hold after it.
struct Checker {
    budget: u32,
    keys_sent: u32,
    play_outstanding: bool,
    seen_enqueue: bool,
    seen_recording: bool,
    seen_transfer: bool,
}

impl Checker {
    fn after_input(&mut self, interpreter: &mut Interpreter) -> Result<(), TestCaseError> {
        let mut entered = 0u32;
        let mut budget_exceeded = false;
        let mut last = None;
        while let Some(action) = interpreter.poll_action() {
            match &action {
                Action::Trace(Trace::NodeEntered { .. }) => entered += 1,
                Action::Trace(Trace::StepBudgetExceeded { .. }) => budget_exceeded = true,
                Action::Play { .. } => self.play_outstanding = true,
                Action::Enqueue { .. } => self.seen_enqueue = true,
                Action::StartRecording { .. } => self.seen_recording = true,
                Action::Transfer { .. } => self.seen_transfer = true,
                _ => {}
            }
            if !matches!(action, Action::Trace(_)) {
                prop_assert!(last != Some(Action::Hangup), "nothing follows a hang-up: {action:?}");
                last = Some(action);
            }
        }
        // Each key kept during a prompt is an input of its own for the budget.
        prop_assert!(entered <= self.budget * (1 + self.keys_sent), "{entered} steps");
        if budget_exceeded {
            prop_assert!(interpreter.is_finished());
            prop_assert_eq!(last, Some(Action::Hangup));
        }
        let waiting = interpreter.waiting_for();
        match waiting {
            WaitingFor::Nothing => prop_assert!(interpreter.is_finished(), "stalled without waiting for anything"),
            WaitingFor::Playback => prop_assert!(self.play_outstanding),
            // The node's own deadline may lie past the IVR limit (a timeout
            // too long to add): some deadline is what matters.
            WaitingFor::Keys => prop_assert!(interpreter.poll_timeout().is_some(), "keys awaited without a deadline"),
            WaitingFor::Queue | WaitingFor::Operator => prop_assert!(self.seen_enqueue),
            WaitingFor::Recording => prop_assert!(self.seen_recording),
            WaitingFor::Transfer => prop_assert!(self.seen_transfer),
        }
        if interpreter.is_finished() {
            prop_assert_eq!(interpreter.poll_timeout(), None);
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn any_program_waits_or_ends_within_its_budget_and_never_panics(
        raws in prop::collection::vec(raw_node(), 1..10),
        start in any::<u32>(),
        budget in 1u32..40,
        caller in any::<bool>(),
        events in prop::collection::vec(event(), 0..60),
    ) {
        let n = raws.len() as u32;
        let mut plan = Plan::new();
        for (i, raw) in raws.iter().enumerate() {
            plan = plan.node(&format!("n{i}"), |_| build(raw, n));
        }
        plan = plan.start(&format!("n{}", start % n));
        plan.step_budget = budget;
        plan.max_ivr_time = FAR;
        plan.calendar = calendar();
        let program = plan.build();

        let t0 = Instant::now();
        let mut now = t0;
        let wallclock = monday_morning();
        let context = CallContext { caller: caller.then(|| "612345678".into()), dialled: "012".into() };
        let mut interpreter = Interpreter::start(program, now, wallclock, context);
        let mut checker = Checker {
            budget,
            keys_sent: 0,
            play_outstanding: false,
            seen_enqueue: false,
            seen_recording: false,
            seen_transfer: false,
        };
        checker.after_input(&mut interpreter)?;
        for event in events {
            let input = match event {
                Event::Key(k) => {
                    checker.keys_sent += 1;
                    Input::Digit(key(k))
                }
                Event::PlaybackFinished(interrupted) => {
                    checker.play_outstanding = false;
                    Input::PlaybackFinished { interrupted }
                }
                Event::Queue(q) => Input::QueueOutcome(
                    [
                        QueueOutcome::Answered,
                        QueueOutcome::OperatorHungUp,
                        QueueOutcome::TimedOut,
                        QueueOutcome::Closed,
                        QueueOutcome::CallbackChosen,
                    ][q as usize % 5],
                ),
                Event::RecordingFinished => Input::RecordingFinished { length: Duration::from_secs(3) },
                Event::TransferFailed => Input::TransferFailed { status: 503 },
                Event::HungUp => Input::HungUp,
                Event::Deadline | Event::Pass(_) => {
                    let until = match event {
                        Event::Pass(ms) => now + Duration::from_millis(u64::from(ms)),
                        _ => interpreter.poll_timeout().unwrap_or(now),
                    };
                    let mut fired = 0;
                    while let Some(deadline) = interpreter.poll_timeout().filter(|d| *d <= until) {
                        fired += 1;
                        prop_assert!(fired < 1000, "a deadline that firing does not move");
                        now = now.max(deadline);
                        interpreter.handle_timeout(now, wallclock);
                        checker.after_input(&mut interpreter)?;
                    }
                    now = now.max(until);
                    interpreter.handle_timeout(now, wallclock);
                    checker.after_input(&mut interpreter)?;
                    continue;
                }
            };
            interpreter.handle_input(now, wallclock, input);
            checker.after_input(&mut interpreter)?;
        }
    }
}
