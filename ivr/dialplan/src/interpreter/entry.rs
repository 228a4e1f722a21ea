//! Digit entries: `collect` nodes and the other-number part of `callback`
//! nodes, with their timeouts, terminator, length, pattern and the
//! confirmation step that says the entry back digit by digit.
//!
//! Owns: the digits typed so far and whether the caller is confirming.
//! Must never trace a sensitive entry's digits or a callback number: their
//! keys are traced as '*'.

use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;

use super::{Action, Failure, Flow, Interpreter, InterpreterError, State, Trace};
use crate::program::{Confirm, NodeId, NodeKind, PromptItem, SayKind, Template, TemplatePart};
use crate::survey::later;

/// A callback number is at most an E.164 number.
const CALLBACK_MAX_DIGITS: u32 = 15;
/// The callback node has no timeouts of its own: the collect defaults.
const CALLBACK_FIRST_DIGIT_TIMEOUT: Duration = Duration::from_secs(8);
const CALLBACK_INTER_DIGIT_TIMEOUT: Duration = Duration::from_secs(4);
const CALLBACK_TERMINATOR: char = '#';

/// An entry in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) node: NodeId,
    pub(super) attempts: u32,
    digits: String,
    confirming: bool,
    /// `None` while a prompt plays.
    pub(super) deadline: Option<Instant>,
}

impl Entry {
    pub(super) fn new(node: NodeId, attempts: u32) -> Entry {
        Entry { node, attempts, digits: String::new(), confirming: false, deadline: None }
    }
}

/// Where an accepted entry goes.
enum Target<'a> {
    Variable { name: &'a str, sensitive: bool },
    Callback { queue: &'a str, caller_key: char },
}

/// A collect or callback node seen as an entry.
struct Spec<'a> {
    min: u32,
    max: u32,
    terminator: Option<char>,
    first: Duration,
    inter: Duration,
    pattern: Option<&'a str>,
    confirm: Option<&'a Confirm>,
    target: Target<'a>,
    next: NodeId,
}

impl Spec<'_> {
    fn of(kind: &NodeKind) -> Option<Spec<'_>> {
        match kind {
            NodeKind::Collect {
                variable,
                min_digits,
                max_digits,
                terminator,
                first_digit_timeout,
                inter_digit_timeout,
                pattern,
                confirm,
                sensitive,
                next,
                ..
            } => Some(Spec {
                min: *min_digits,
                max: *max_digits,
                terminator: *terminator,
                first: *first_digit_timeout,
                inter: *inter_digit_timeout,
                pattern: pattern.as_deref(),
                confirm: confirm.as_ref(),
                target: Target::Variable { name: variable, sensitive: *sensitive },
                next: *next,
            }),
            NodeKind::Callback { queue, use_caller_key, pattern, confirm, next, .. } => Some(Spec {
                min: 1,
                max: CALLBACK_MAX_DIGITS,
                terminator: Some(CALLBACK_TERMINATOR),
                first: CALLBACK_FIRST_DIGIT_TIMEOUT,
                inter: CALLBACK_INTER_DIGIT_TIMEOUT,
                pattern: Some(pattern),
                confirm: Some(confirm),
                target: Target::Callback { queue, caller_key: *use_caller_key },
                next: *next,
            }),
            _ => None,
        }
    }

    /// Keys of sensitive entries and of phone numbers are traced as '*'.
    fn masked(&self) -> bool {
        match self.target {
            Target::Variable { sensitive, .. } => sensitive,
            Target::Callback { .. } => true,
        }
    }
}

impl Interpreter {
    /// The entry's prompt ended: wait for the first digit (or the
    /// confirmation key).
    pub(super) fn entry_listen(&mut self, now: Instant) {
        let program = Arc::clone(&self.program);
        let State::Entry(entry) = &mut self.state else {
            return;
        };
        if let Some(spec) = program.nodes.get(entry.node.0 as usize).and_then(|n| Spec::of(&n.kind)) {
            entry.deadline = Some(later(now, spec.first));
        }
    }

    pub(super) fn entry_key(&mut self, now: Instant, key: char) -> Flow {
        let program = Arc::clone(&self.program);
        let State::Entry(entry) = &mut self.state else {
            return Flow::Wait;
        };
        let Some(spec) = program.nodes.get(entry.node.0 as usize).and_then(|n| Spec::of(&n.kind)) else {
            return Flow::Wait;
        };
        let (node, attempts) = (entry.node, entry.attempts);
        if entry.confirming {
            let digits = entry.digits.clone();
            self.trace(Trace::KeyPressed { node: self.name(node), key });
            return match spec.confirm {
                Some(confirm) if key == confirm.yes_key => self.accept(&spec, digits),
                // Entering again is the caller's choice, not a failed attempt.
                Some(confirm) if key == confirm.no_key => self.ask(now, node, attempts, &[]),
                _ => self.retry(now, node, attempts, Failure::Invalid),
            };
        }
        let first = entry.digits.is_empty();
        let traced = if spec.masked() { '*' } else { key };
        self.trace(Trace::KeyPressed { node: self.name(node), key: traced });
        if let Target::Callback { queue, caller_key } = spec.target
            && first
            && key == caller_key
        {
            return match self.caller.clone() {
                Some(number) => {
                    self.actions.push_back(Action::RegisterCallback { queue: queue.to_owned(), number });
                    Flow::Go(spec.next)
                }
                None => {
                    self.trace(Trace::Error { node: self.name(node), error: InterpreterError::NoCallerNumber });
                    self.retry(now, node, attempts, Failure::Invalid)
                }
            };
        }
        if Some(key) == spec.terminator {
            return self.complete(now, &spec);
        }
        if !key.is_ascii_digit() {
            return self.retry(now, node, attempts, Failure::Invalid);
        }
        let State::Entry(entry) = &mut self.state else {
            return Flow::Wait;
        };
        entry.digits.push(key);
        if entry.digits.len() >= spec.max as usize {
            return self.complete(now, &spec);
        }
        entry.deadline = Some(later(now, spec.inter));
        Flow::Wait
    }

    pub(super) fn entry_timeout(&mut self, now: Instant) -> Flow {
        let program = Arc::clone(&self.program);
        let State::Entry(entry) = &self.state else {
            return Flow::Wait;
        };
        if entry.deadline.is_none_or(|deadline| now < deadline) {
            return Flow::Wait;
        }
        let Some(spec) = program.nodes.get(entry.node.0 as usize).and_then(|n| Spec::of(&n.kind)) else {
            return Flow::Wait;
        };
        if entry.confirming || entry.digits.is_empty() {
            let (node, attempts) = (entry.node, entry.attempts);
            return self.retry(now, node, attempts, Failure::NoInput);
        }
        self.complete(now, &spec)
    }

    /// The entry is complete: check it, then confirm or accept it.
    fn complete(&mut self, now: Instant, spec: &Spec<'_>) -> Flow {
        let State::Entry(entry) = &self.state else {
            return Flow::Wait;
        };
        let (node, attempts, digits) = (entry.node, entry.attempts, entry.digits.clone());
        let long_enough = digits.len() >= spec.min as usize && digits.len() <= spec.max as usize;
        if !long_enough || !self.matches(spec.pattern, &digits) {
            return self.retry(now, node, attempts, Failure::Invalid);
        }
        let Some(confirm) = spec.confirm else {
            return self.accept(spec, digits);
        };
        let said =
            PromptItem::Say { kind: SayKind::Digits, value: Template { parts: vec![TemplatePart::Text(digits)] } };
        let prompts: Vec<PromptItem> =
            confirm.prefix.iter().cloned().chain([said]).chain(confirm.question.iter().cloned()).collect();
        if let State::Entry(entry) = &mut self.state {
            entry.confirming = true;
            entry.deadline = None;
        }
        if self.type_ahead.is_empty() && self.play_with(&prompts, true, spec.masked()) {
            return Flow::Wait;
        }
        self.entry_listen(now);
        Flow::Wait
    }

    fn accept(&mut self, spec: &Spec<'_>, digits: String) -> Flow {
        match spec.target {
            Target::Variable { name, sensitive } => self.set_variable(name, digits, sensitive),
            Target::Callback { queue, .. } => {
                self.actions.push_back(Action::RegisterCallback { queue: queue.to_owned(), number: digits });
            }
        }
        Flow::Go(spec.next)
    }

    /// Whether `digits` match the pattern (compiled once per call); a
    /// pattern that does not compile matches nothing and is reported.
    fn matches(&mut self, pattern: Option<&str>, digits: &str) -> bool {
        let Some(pattern) = pattern else { return true };
        if let Some(regex) = self.patterns.get(pattern) {
            return regex.is_match(digits);
        }
        // The whole entry must match, anchored or not.
        match Regex::new(&format!("^(?:{pattern})$")) {
            Ok(regex) => {
                let matched = regex.is_match(digits);
                self.patterns.insert(pattern.to_owned(), regex);
                matched
            }
            Err(source) => {
                let error = InterpreterError::BadPattern { pattern: pattern.to_owned(), source };
                self.trace(Trace::Error { node: self.name(self.current), error });
                false
            }
        }
    }
}
