//! Test-only helpers for the interpreter tests: a builder that makes
//! `Program`s by hand (nodes named, targets resolved by name) and a `Call`
//! that drives one interpreter on a simulated clock.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use ivr_dialplan::calendar::Calendar;
use ivr_dialplan::diagnostics::Position;
use ivr_dialplan::interpreter::{Action, CallContext, Input, Interpreter, QueueOutcome, Trace};
use ivr_dialplan::program::{
    Confirm, Node, NodeId, NodeKind, Program, PromptItem, PromptList, Retries, SayKind, Template, TemplatePart,
};

/// A program under construction. Targets are named with [`Plan::id`]
/// before or after the node is defined; `build` checks every name used
/// was defined.
pub struct Plan {
    names: Vec<String>,
    kinds: Vec<Option<NodeKind>>,
    pub languages: Vec<String>,
    pub calendar: Calendar,
    pub step_budget: u32,
    pub max_ivr_time: Duration,
    start: Option<String>,
}

impl Plan {
    pub fn new() -> Plan {
        Plan {
            names: Vec::new(),
            kinds: Vec::new(),
            languages: vec!["ca".into(), "es".into(), "en".into()],
            calendar: Calendar::default(),
            step_budget: 100,
            max_ivr_time: Duration::from_secs(900),
            start: None,
        }
    }

    pub fn id(&mut self, name: &str) -> NodeId {
        let index = match self.names.iter().position(|n| n == name) {
            Some(index) => index,
            None => {
                self.names.push(name.to_owned());
                self.kinds.push(None);
                self.names.len() - 1
            }
        };
        NodeId(index as u32)
    }

    /// Defines a node; the first defined is the start unless `start` says.
    pub fn node(mut self, name: &str, kind: impl FnOnce(&mut Plan) -> NodeKind) -> Plan {
        let id = self.id(name);
        let kind = kind(&mut self);
        self.kinds[id.0 as usize] = Some(kind);
        self.start.get_or_insert_with(|| name.to_owned());
        self
    }

    pub fn start(mut self, name: &str) -> Plan {
        self.start = Some(name.to_owned());
        self
    }

    pub fn build(mut self) -> Arc<Program> {
        let start_name = self.start.clone().expect("a plan has at least one node");
        let start = self.id(&start_name);
        let nodes = self
            .kinds
            .into_iter()
            .zip(&self.names)
            .map(|(kind, name)| Node {
                position: Position::default(),
                kind: kind.unwrap_or_else(|| panic!("node `{name}` is used but never defined")),
            })
            .collect();
        Arc::new(Program {
            name: "test".into(),
            version: "t1".into(),
            languages: self.languages,
            start,
            nodes,
            node_names: self.names,
            calendar: self.calendar,
            queues: vec!["general".into()],
            step_budget: self.step_budget,
            max_ivr_time: self.max_ivr_time,
        })
    }
}

pub fn prompts(ids: &[&str]) -> PromptList {
    ids.iter().map(|id| PromptItem::Prompt((*id).to_owned())).collect()
}

pub fn say(kind: SayKind, template: Template) -> PromptItem {
    PromptItem::Say { kind, value: template }
}

pub fn text(t: &str) -> Template {
    Template { parts: vec![TemplatePart::Text(t.to_owned())] }
}

pub fn var(name: &str) -> Template {
    Template { parts: vec![TemplatePart::Variable(name.to_owned())] }
}

pub fn retries(retries: u32, exhausted: NodeId) -> Retries {
    Retries { retries, no_input: prompts(&["no-input"]), invalid: prompts(&["invalid"]), exhausted }
}

pub fn confirm() -> Confirm {
    Confirm { prefix: prompts(&["you-entered"]), question: prompts(&["confirm-or-change"]), yes_key: '1', no_key: '2' }
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `Play` of these paths.
pub fn play(paths: &[&str], barge_in: bool) -> Action {
    Action::Play { prompts: paths.iter().map(|p| (*p).to_owned()).collect(), barge_in, sensitive: false }
}

/// `Play` of these paths, saying back personal data.
pub fn play_sensitive(paths: &[&str], barge_in: bool) -> Action {
    Action::Play { prompts: paths.iter().map(|p| (*p).to_owned()).collect(), barge_in, sensitive: true }
}

/// Monday 30 November 2026, 10:00 in Barcelona.
pub fn monday_morning() -> jiff::Timestamp {
    "2026-11-30T09:00:00Z".parse().expect("a valid timestamp")
}

/// One call on a simulated clock. Each driving method returns the actions
/// (traces left out) that input produced; traces pile up in `traces`.
pub struct Call {
    pub interpreter: Interpreter,
    pub t0: Instant,
    pub now: Instant,
    pub wallclock: jiff::Timestamp,
    pub traces: Vec<Trace>,
    pub started: Vec<Action>,
}

impl Call {
    pub fn start(program: Arc<Program>) -> Call {
        Call::start_with(
            program,
            CallContext { caller: Some("612345678".into()), dialled: "012".into() },
            monday_morning(),
        )
    }

    pub fn start_with(program: Arc<Program>, context: CallContext, wallclock: jiff::Timestamp) -> Call {
        let t0 = Instant::now();
        let interpreter = Interpreter::start(program, t0, wallclock, context);
        let mut call = Call { interpreter, t0, now: t0, wallclock, traces: Vec::new(), started: Vec::new() };
        call.started = call.drain();
        call
    }

    pub fn drain(&mut self) -> Vec<Action> {
        let mut actions = Vec::new();
        while let Some(action) = self.interpreter.poll_action() {
            match action {
                Action::Trace(trace) => self.traces.push(trace),
                other => actions.push(other),
            }
        }
        actions
    }

    pub fn input(&mut self, input: Input) -> Vec<Action> {
        self.interpreter.handle_input(self.now, self.wallclock, input);
        self.drain()
    }

    pub fn key(&mut self, key: char) -> Vec<Action> {
        self.input(Input::Digit(key))
    }

    /// Presses each key at the current time; all actions together.
    pub fn keys(&mut self, keys: &str) -> Vec<Action> {
        keys.chars().flat_map(|k| self.key(k)).collect()
    }

    pub fn played(&mut self) -> Vec<Action> {
        self.input(Input::PlaybackFinished { interrupted: false })
    }

    pub fn stopped(&mut self) -> Vec<Action> {
        self.input(Input::PlaybackFinished { interrupted: true })
    }

    pub fn queue(&mut self, outcome: QueueOutcome) -> Vec<Action> {
        self.input(Input::QueueOutcome(outcome))
    }

    /// Lets `d` pass, firing every deadline on the way at its own instant.
    pub fn wait(&mut self, d: Duration) -> Vec<Action> {
        let until = self.now + d;
        let mut actions = Vec::new();
        while let Some(deadline) = self.interpreter.poll_timeout() {
            if deadline > until {
                break;
            }
            self.now = self.now.max(deadline);
            self.interpreter.handle_timeout(self.now, self.wallclock);
            actions.extend(self.drain());
        }
        self.now = until;
        actions
    }

    /// Seconds from the call's start to the next deadline.
    pub fn next_deadline(&self) -> Option<Duration> {
        self.interpreter.poll_timeout().map(|d| d - self.t0)
    }

    pub fn entered(&self) -> Vec<&str> {
        self.traces
            .iter()
            .filter_map(|t| match t {
                Trace::NodeEntered { node } => Some(node.as_str()),
                _ => None,
            })
            .collect()
    }

    pub fn keys_traced(&self) -> Vec<(String, char)> {
        self.traces
            .iter()
            .filter_map(|t| match t {
                Trace::KeyPressed { node, key } => Some((node.clone(), *key)),
                _ => None,
            })
            .collect()
    }
}

/// A menu waiting 5 s for a key, setting nothing.
pub fn menu(prompt: &str, options: &[(char, NodeId)], retries: Retries) -> NodeKind {
    NodeKind::Menu {
        prompt: prompts(&[prompt]),
        options: options.iter().copied().collect(),
        timeout: secs(5),
        retries,
        sets: Default::default(),
    }
}

/// One prompt without barge-in, then `next`.
pub fn announce(prompt: &str, next: NodeId) -> NodeKind {
    NodeKind::Play { prompts: prompts(&[prompt]), barge_in: false, next }
}
