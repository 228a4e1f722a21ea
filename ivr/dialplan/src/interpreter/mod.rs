//! The per-call dialplan interpreter: one [`Interpreter`] per call runs the
//! [`Program`] version the call started on.
//!
//! Owns: where a call is in its program, its variables, language, call
//! stack, type-ahead keys and IVR time. Must never do IO, read the clock
//! (every input carries `now` and the wallclock used by calendars), panic
//! on any input sequence, or put sensitive digits or the caller's number
//! in a trace.
//!
//! Run-loop contract (for the shell):
//! 1. `Interpreter::start`, then after it and after every `handle_input` /
//!    `handle_timeout`, drain `poll_action` until `None`, doing each action
//!    in order.
//! 2. Wait for the next input or until `poll_timeout()` (if `Some`), then
//!    call `handle_timeout(now, ..)`. Early or spurious timeouts are fine.
//! 3. Every `Action::Play` is answered by one `Input::PlaybackFinished`
//!    (also after `StopPlayback`), `Enqueue` by `QueueOutcome`s,
//!    `StartRecording` by `RecordingFinished`, `Transfer` by
//!    `TransferFailed` or `HungUp`.
//! 4. After `Action::Hangup` (or `Input::HungUp`) `is_finished()` is true
//!    and nothing but traces is ever produced again.
//!
//! Keys: a key during a barge-in prompt stops it and is kept (type-ahead)
//! for the menu, entry or survey that follows, which then skips its own
//! prompt. Keys during a prompt without barge-in are dropped, and such a
//! prompt forgets earlier type-ahead: the caller must hear it.
//!
//! Invariants: the steps (nodes entered) between two waits never exceed
//! `program.step_budget`; a wait is an input from the shell or time
//! passing, so a timeout that fires at the instant the last steps ran (a
//! zero timeout with no prompt, looping) does not renew the budget. Time
//! in the IVR (not queued or with an operator) never exceeds
//! `program.max_ivr_time`.

mod entry;
mod events;
mod nodes;
mod variables;

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;

pub use events::{Action, CallContext, Input, InterpreterError, QueueOutcome, Trace};
pub use variables::{CALLER, DIALLED, LANGUAGE, REDACTED, TOPIC};

use crate::program::{NodeId, NodeKind, Program, PromptItem};
use crate::survey::{AnswerOutcome, AnswerReader, later};
use entry::Entry;
use variables::Variables;

/// Keys kept while a barge-in prompt stops; more are dropped.
const MAX_TYPE_AHEAD: usize = 32;
/// Nested `sub` nodes allowed before the call is ended.
pub const MAX_CALL_DEPTH: usize = 64;

/// What running a node or handling an input leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// Wait for an input or a timeout (or the call has ended).
    Wait,
    /// Enter this node now (one step).
    Go(NodeId),
}

/// A `Play` sent and not yet answered by `PlaybackFinished`.
#[derive(Debug, Clone, Copy)]
struct Playback {
    barge_in: bool,
    stop_sent: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    Go(NodeId),
    Hangup,
}

/// What the current node is waiting for.
#[derive(Debug, Clone)]
enum State {
    /// Running nodes; nothing awaited yet.
    Running,
    /// Prompts that do nothing but play (play, hangup, survey thanks).
    Playing {
        after: After,
    },
    /// `deadline` is `None` while the prompt plays.
    Menu {
        node: NodeId,
        attempts: u32,
        deadline: Option<Instant>,
    },
    Entry(Entry),
    Queued {
        node: NodeId,
    },
    WithOperator {
        node: NodeId,
    },
    Record {
        node: NodeId,
        recording: bool,
        stop_sent: bool,
    },
    /// `reader` is `None` while the question plays.
    Survey {
        node: NodeId,
        question: usize,
        asked_again: bool,
        reader: Option<AnswerReader>,
    },
    Transferring {
        node: NodeId,
    },
    Finished,
}

/// Time spent in the IVR, paused while queued or with an operator.
#[derive(Debug, Clone, Copy)]
struct IvrClock {
    limit: Duration,
    used: Duration,
    /// Set while the call is in the IVR.
    since: Option<Instant>,
}

impl IvrClock {
    fn deadline(&self) -> Option<Instant> {
        self.since.map(|since| later(since, self.limit.saturating_sub(self.used)))
    }

    fn pause(&mut self, now: Instant) {
        if let Some(since) = self.since.take() {
            self.used += now.saturating_duration_since(since);
        }
    }

    fn resume(&mut self, now: Instant) {
        self.since.get_or_insert(now);
    }
}

/// What a call waits for between inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitingFor {
    /// The end of the prompts it sent (`PlaybackFinished`).
    Playback,
    /// Keys, with a deadline (`poll_timeout`).
    Keys,
    /// A queue outcome from the ACD.
    Queue,
    /// The operator to hang up.
    Operator,
    /// The end of the recording.
    Recording,
    /// The transfer to fail, or the call to leave.
    Transfer,
    /// Nothing: the call has ended.
    Nothing,
}

/// Why an entry or menu attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    NoInput,
    Invalid,
}

/// One call running one program version. See the module documentation for
/// the run-loop contract.
#[derive(Debug)]
pub struct Interpreter {
    program: Arc<Program>,
    caller: Option<String>,
    variables: Variables,
    language: String,
    state: State,
    /// The last node entered (names traces).
    current: NodeId,
    playback: Option<Playback>,
    type_ahead: VecDeque<char>,
    call_stack: Vec<NodeId>,
    actions: VecDeque<Action>,
    steps: u32,
    /// When `steps` last started from zero.
    budget_since: Instant,
    /// Barge-in prompts skipped for type-ahead since then.
    skipped: Vec<NodeId>,
    wallclock: jiff::Timestamp,
    ivr: IvrClock,
    patterns: HashMap<String, Regex>,
}

impl Interpreter {
    /// Starts a call at the program's start node.
    pub fn start(program: Arc<Program>, now: Instant, wallclock: jiff::Timestamp, context: CallContext) -> Interpreter {
        let language = program.languages.first().cloned().unwrap_or_default();
        let mut variables = Variables::default();
        variables.set(LANGUAGE, language.clone(), false);
        variables.set(DIALLED, context.dialled, false);
        variables.set(TOPIC, String::new(), false);
        if let Some(caller) = &context.caller {
            variables.set(CALLER, caller.clone(), true);
        }
        let start = program.start;
        let mut interpreter = Interpreter {
            ivr: IvrClock { limit: program.max_ivr_time, used: Duration::ZERO, since: Some(now) },
            program,
            caller: context.caller,
            variables,
            language,
            state: State::Running,
            current: start,
            playback: None,
            type_ahead: VecDeque::new(),
            call_stack: Vec::new(),
            actions: VecDeque::new(),
            steps: 0,
            budget_since: now,
            skipped: Vec::new(),
            wallclock,
            patterns: HashMap::new(),
        };
        interpreter.proceed(now, Flow::Go(start));
        interpreter
    }

    pub fn handle_input(&mut self, now: Instant, wallclock: jiff::Timestamp, input: Input) {
        if self.is_finished() {
            return;
        }
        self.wallclock = wallclock;
        self.renew_budget(now);
        if input == Input::HungUp {
            self.trace(Trace::CallerHungUp { node: self.name(self.current) });
            // Nothing but traces after a hang-up, even if undrained.
            self.actions.retain(|a| matches!(a, Action::Trace(_)));
            self.finish();
            return;
        }
        if self.ivr_time_over(now) {
            return;
        }
        let flow = match input {
            Input::Digit(key) => self.key(now, key),
            Input::PlaybackFinished { .. } => match self.playback.take() {
                Some(_) => self.prompt_ended(now),
                None => Flow::Wait,
            },
            Input::QueueOutcome(outcome) => self.queue_outcome(now, outcome),
            Input::RecordingFinished { length } => self.recording_finished(length),
            Input::TransferFailed { status } => self.transfer_failed(status),
            Input::HungUp => Flow::Wait,
        };
        self.proceed(now, flow);
    }

    pub fn handle_timeout(&mut self, now: Instant, wallclock: jiff::Timestamp) {
        if self.is_finished() {
            return;
        }
        self.wallclock = wallclock;
        if now > self.budget_since {
            self.renew_budget(now);
        }
        if self.ivr_time_over(now) {
            return;
        }
        let flow = self.timeout(now);
        self.proceed(now, flow);
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_finished() {
            return None;
        }
        let node_deadline = match &self.state {
            State::Menu { deadline, .. } => *deadline,
            State::Entry(entry) => entry.deadline,
            State::Survey { reader: Some(reader), .. } => reader.poll_timeout(),
            _ => None,
        };
        match (node_deadline, self.ivr.deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The call's language ("ca" until a `language` node runs).
    pub fn language(&self) -> &str {
        &self.language
    }

    /// A variable's value (built in: `language`, `dialled`, `caller`, `topic`).
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables.get(name)
    }

    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    pub fn program(&self) -> &Arc<Program> {
        &self.program
    }

    /// What the call is waiting for now (for the console's live view and
    /// for checks that a call never stalls).
    pub fn waiting_for(&self) -> WaitingFor {
        if self.playback.is_some() {
            return WaitingFor::Playback;
        }
        match &self.state {
            State::Finished => WaitingFor::Nothing,
            State::Menu { .. } | State::Entry(_) | State::Survey { .. } if self.listening() => WaitingFor::Keys,
            State::Queued { .. } => WaitingFor::Queue,
            State::WithOperator { .. } => WaitingFor::Operator,
            State::Record { recording: true, .. } => WaitingFor::Recording,
            State::Transferring { .. } => WaitingFor::Transfer,
            // Between inputs these never wait without a prompt playing.
            State::Running
            | State::Playing { .. }
            | State::Menu { .. }
            | State::Entry(_)
            | State::Survey { .. }
            | State::Record { .. } => WaitingFor::Nothing,
        }
    }

    /// Runs nodes until one waits, feeding type-ahead keys to nodes that
    /// listen, within the step budget.
    fn proceed(&mut self, now: Instant, mut flow: Flow) {
        loop {
            if self.is_finished() {
                return;
            }
            match flow {
                Flow::Go(target) => {
                    self.steps += 1;
                    if self.steps > self.program.step_budget {
                        let budget = self.program.step_budget;
                        self.trace(Trace::StepBudgetExceeded { node: self.name(target), budget });
                        self.hangup();
                        return;
                    }
                    flow = self.enter(now, target);
                }
                Flow::Wait => {
                    if self.playback.is_some() || !self.listening() {
                        return;
                    }
                    let Some(key) = self.type_ahead.pop_front() else {
                        return;
                    };
                    // A kept key is input: the budget counts from it.
                    self.renew_budget(now);
                    flow = self.on_key(now, key);
                }
            }
        }
    }

    fn renew_budget(&mut self, now: Instant) {
        self.steps = 0;
        self.budget_since = now;
        self.skipped.clear();
    }

    fn listening(&self) -> bool {
        match &self.state {
            State::Menu { deadline, .. } => deadline.is_some(),
            State::Entry(entry) => entry.deadline.is_some(),
            State::Survey { reader, .. } => reader.is_some(),
            _ => false,
        }
    }

    /// Runs one node: pass-through nodes return where to go next.
    fn enter(&mut self, now: Instant, id: NodeId) -> Flow {
        let program = Arc::clone(&self.program);
        let Some(node) = program.nodes.get(id.0 as usize) else {
            return self.fail(InterpreterError::UnknownNode(id));
        };
        self.current = id;
        self.state = State::Running;
        self.trace(Trace::NodeEntered { node: self.name(id) });
        match &node.kind {
            NodeKind::Play { prompts, barge_in, next } => {
                if *barge_in && !self.type_ahead.is_empty() {
                    if !self.skipped.contains(&id) {
                        self.skipped.push(id);
                        return Flow::Go(*next);
                    }
                    // Back at a prompt already skipped since the last input
                    // (a looping hold message): nothing ahead listens.
                    self.type_ahead.clear();
                }
                self.play_then(now, prompts, *barge_in, After::Go(*next))
            }
            NodeKind::Menu { .. } | NodeKind::Collect { .. } | NodeKind::Callback { .. } => self.ask(now, id, 0, &[]),
            NodeKind::Language { language, next } => {
                self.language = language.clone();
                self.variables.set(LANGUAGE, language.clone(), false);
                self.trace(Trace::LanguageChanged { language: language.clone() });
                Flow::Go(*next)
            }
            NodeKind::When { schedule, open, closed } => {
                if program.calendar.is_open(*schedule, self.wallclock) {
                    Flow::Go(*open)
                } else {
                    Flow::Go(*closed)
                }
            }
            NodeKind::Queue { queue, skills, priority, max_wait, callback_key, .. } => {
                self.type_ahead.clear();
                let skills =
                    skills.iter().map(|(name, value)| (name.clone(), self.variables.expand(value).0)).collect();
                self.actions.push_back(Action::Enqueue {
                    queue: queue.clone(),
                    skills,
                    priority: *priority,
                    max_wait: *max_wait,
                    callback_key: *callback_key,
                });
                self.ivr.pause(now);
                self.state = State::Queued { node: id };
                Flow::Wait
            }
            NodeKind::Record { prompt, .. } => {
                self.type_ahead.clear();
                self.state = State::Record { node: id, recording: false, stop_sent: false };
                if !self.play(prompt, false) {
                    self.start_recording();
                }
                Flow::Wait
            }
            NodeKind::Survey { .. } => self.ask_question(now, id, 0, false),
            NodeKind::Transfer { target, .. } => {
                self.type_ahead.clear();
                let (target, _) = self.variables.expand(target);
                self.actions.push_back(Action::Transfer { target });
                self.state = State::Transferring { node: id };
                Flow::Wait
            }
            NodeKind::Goto { target } => Flow::Go(*target),
            NodeKind::Sub { target, next } => {
                if self.call_stack.len() >= MAX_CALL_DEPTH {
                    return self.fail(InterpreterError::CallStackOverflow { limit: MAX_CALL_DEPTH });
                }
                self.call_stack.push(*next);
                Flow::Go(*target)
            }
            NodeKind::Return => match self.call_stack.pop() {
                Some(next) => Flow::Go(next),
                None => self.fail(InterpreterError::ReturnWithoutSub),
            },
            NodeKind::Set { assignments, next } => {
                for (name, template) in assignments {
                    let (value, sensitive) = self.variables.expand(template);
                    self.set_variable(name, value, sensitive);
                }
                Flow::Go(*next)
            }
            NodeKind::Hangup { prompts } => {
                self.type_ahead.clear();
                self.play_then(now, prompts, false, After::Hangup)
            }
        }
    }

    /// Plays prompts that need no answer, then goes on (at once if there is
    /// nothing to play).
    fn play_then(&mut self, now: Instant, prompts: &[PromptItem], barge_in: bool, after: After) -> Flow {
        if !barge_in {
            self.type_ahead.clear();
        }
        self.state = State::Playing { after };
        if self.play(prompts, barge_in) {
            return Flow::Wait;
        }
        self.prompt_ended(now)
    }

    /// Sends a `Play` of `items` in the call's language; false if nothing
    /// was left to play (no `PlaybackFinished` will come).
    fn play(&mut self, items: &[PromptItem], barge_in: bool) -> bool {
        self.play_with(items, barge_in, false)
    }

    /// `play`, saying back something `sensitive` (or found sensitive while
    /// expanding it).
    fn play_with(&mut self, items: &[PromptItem], barge_in: bool, sensitive: bool) -> bool {
        let resolved = self.variables.resolve(&self.language, items);
        for error in resolved.errors {
            self.trace(Trace::Error { node: self.name(self.current), error: error.into() });
        }
        if resolved.prompts.is_empty() {
            return false;
        }
        let sensitive = sensitive || resolved.sensitive;
        self.actions.push_back(Action::Play { prompts: resolved.prompts, barge_in, sensitive });
        self.playback = Some(Playback { barge_in, stop_sent: false });
        true
    }

    fn set_variable(&mut self, name: &str, value: String, sensitive: bool) {
        let sensitive = sensitive || self.variables.is_sensitive(name);
        if !sensitive {
            self.trace(Trace::VariableSet { name: name.to_owned(), value: value.clone() });
        }
        if name == LANGUAGE {
            self.language = value.clone();
        }
        self.variables.set(name, value, sensitive);
    }

    fn trace(&mut self, trace: Trace) {
        self.actions.push_back(Action::Trace(trace));
    }

    fn name(&self, id: NodeId) -> String {
        self.program.node_names.get(id.0 as usize).cloned().unwrap_or_else(|| format!("#{}", id.0))
    }

    /// Ends the call because the program cannot go on.
    fn fail(&mut self, error: InterpreterError) -> Flow {
        self.trace(Trace::Error { node: self.name(self.current), error });
        self.hangup();
        Flow::Wait
    }

    fn hangup(&mut self) {
        self.actions.push_back(Action::Hangup);
        self.finish();
    }

    fn finish(&mut self) {
        self.state = State::Finished;
        self.playback = None;
        self.type_ahead.clear();
    }

    /// Ends the call if its IVR time is spent.
    fn ivr_time_over(&mut self, now: Instant) -> bool {
        match self.ivr.deadline() {
            Some(deadline) if now >= deadline => {
                let limit = self.ivr.limit;
                self.trace(Trace::MaxIvrTimeExceeded { node: self.name(self.current), limit });
                self.hangup();
                true
            }
            _ => false,
        }
    }
}
