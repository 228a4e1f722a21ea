//! What goes into the interpreter and what comes out of it.
//!
//! Owns: the vocabulary the shell and the interpreter speak (inputs,
//! actions, traces for the call record). Must never carry collected
//! digits of a sensitive entry or the caller's number in a trace.

use std::time::Duration;

use crate::program::NodeId;
use crate::say::SayError;

/// Who called and what they dialled, known when the call starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallContext {
    /// The caller's number, if the network gave one (personal data: it is
    /// the `caller` variable, never traced).
    pub caller: Option<String>,
    /// The number the caller dialled (the `dialled` variable).
    pub dialled: String,
}

/// A fact the shell reports to the interpreter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A key pressed: '0'..'9', '*', '#', 'A'..'D'.
    Digit(char),
    /// The last [`Action::Play`] ended. Every `Play` is answered by exactly
    /// one of these; after [`Action::StopPlayback`] it comes with
    /// `interrupted: true` (or `false` if the prompt had just ended anyway).
    PlaybackFinished { interrupted: bool },
    /// What became of the caller the interpreter put in a queue.
    QueueOutcome(QueueOutcome),
    /// The recording started by [`Action::StartRecording`] ended (silence,
    /// maximum length, or after [`Action::StopRecording`]).
    RecordingFinished { length: Duration },
    /// The [`Action::Transfer`] failed with this SIP status. (A transfer
    /// that succeeds takes the call away: the shell reports `HungUp`.)
    TransferFailed { status: u16 },
    /// The caller hung up (or the call otherwise left us).
    HungUp,
}

/// What the ACD did with a call the interpreter enqueued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueOutcome {
    /// An operator took the call: the interpreter waits.
    Answered,
    /// The operator hung up: continue at `after_call`, or hang up.
    OperatorHungUp,
    /// The queue's maximum wait passed.
    TimedOut,
    /// The queue is closed or nobody is logged in.
    Closed,
    /// The caller pressed the callback key while waiting.
    CallbackChosen,
}

/// What the interpreter asks the shell to do, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Play these prompts ("ca/welcome", say pieces already expanded).
    /// With `barge_in`, a key stops them (the interpreter sends
    /// `StopPlayback`). `sensitive`: they say back personal data (a
    /// sensitive entry, a callback number, the caller's number): never log
    /// or store these prompt ids.
    Play { prompts: Vec<String>, barge_in: bool, sensitive: bool },
    /// Stop the playing prompts; answer with `PlaybackFinished`.
    StopPlayback,
    /// Hand the call to the ACD; answer with a `QueueOutcome`.
    Enqueue {
        queue: String,
        skills: Vec<(String, String)>,
        priority: i32,
        max_wait: Duration,
        callback_key: Option<char>,
    },
    /// Register a callback to `number` with `queue` (personal data).
    RegisterCallback { queue: String, number: String },
    /// Record a message; answer with `RecordingFinished`.
    StartRecording { beep: bool, max_length: Duration, silence: Duration },
    /// The caller pressed '#' while recording.
    StopRecording,
    /// Blind transfer to a SIP URI; a failure comes back as `TransferFailed`.
    Transfer { target: String },
    /// One survey answer, `None` when no valid answer was given.
    SurveyAnswered { question: String, value: Option<u8> },
    /// For the call record's IVR path and timeline.
    Trace(Trace),
    /// End the call. Nothing follows it.
    Hangup,
}

/// A fact for the call record. Node names, never node ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Trace {
    NodeEntered {
        node: String,
    },
    /// A key taken by a node; for sensitive entries and callback numbers the
    /// key is always '*' (one per key pressed).
    KeyPressed {
        node: String,
        key: char,
    },
    LanguageChanged {
        language: String,
    },
    /// Not emitted for sensitive variables (sensitive entries, `caller`, and
    /// anything set from them).
    VariableSet {
        name: String,
        value: String,
    },
    /// A menu or entry ran out of retries and went to its default.
    RetriesExhausted {
        node: String,
    },
    TransferFailed {
        node: String,
        status: u16,
    },
    MessageRecorded {
        node: String,
        length: Duration,
    },
    /// The program ran this many steps without waiting: ended.
    StepBudgetExceeded {
        node: String,
        budget: u32,
    },
    /// The call spent its maximum time in the IVR: ended.
    MaxIvrTimeExceeded {
        node: String,
        limit: Duration,
    },
    CallerHungUp {
        node: String,
    },
    Error {
        node: String,
        error: InterpreterError,
    },
}

/// Something that went wrong while running a program. Most end the call;
/// say and pattern errors only skip what could not be done.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InterpreterError {
    #[error("`return` with no sub-flow to return to")]
    ReturnWithoutSub,
    #[error("more than {limit} nested sub-flows")]
    CallStackOverflow { limit: usize },
    #[error("node {0:?} does not exist in the program")]
    UnknownNode(NodeId),
    #[error("cannot say a value: {0}")]
    Say(#[from] SayError),
    #[error("the pattern `{pattern}` is not a valid regular expression")]
    BadPattern {
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error("the caller chose a callback but their number is unknown")]
    NoCallerNumber,
}
