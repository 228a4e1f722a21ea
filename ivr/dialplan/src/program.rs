//! The compiled dialplan: what the compiler produces from a checked file and
//! what the interpreter runs. Nodes are addressed by [`NodeId`] (an index),
//! never by name at run time.
//!
//! Owns: the shape of a program and its nodes. Must never hold anything
//! call-specific (that is the interpreter's) and never do IO.
//!
//! Contract between `compile` (builds it, guarantees every `NodeId`,
//! prompt id and queue name inside is valid) and `interpreter` (trusts that).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::calendar::{Calendar, ScheduleId};
use crate::diagnostics::Position;

/// Index of a node in [`Program::nodes`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

/// A language code as used in prompt paths: "ca", "es", "en", "oc".
pub type Language = String;

/// A checked, immutable dialplan. Shared by all calls that started on this
/// version (`Arc<Program>`); a reload builds a new one.
#[derive(Debug, Clone)]
pub struct Program {
    /// The name from `[dialplan] name`.
    pub name: String,
    /// `[dialplan] version` if given, else derived from a hash of the
    /// sources; every call record names it.
    pub version: String,
    /// Languages the dialplan offers; every prompt exists in each of them
    /// (checked). The first is the default until a `language` node runs.
    pub languages: Vec<Language>,
    pub start: NodeId,
    pub nodes: Vec<Node>,
    /// Node names, parallel to `nodes` (for logs, records and the IVR path).
    pub node_names: Vec<String>,
    pub calendar: Calendar,
    /// Queue names the dialplan may hand calls to (from the queues file).
    pub queues: Vec<String>,
    /// Interpreter steps allowed between two waits for input; a program that
    /// exceeds it is ended with a logged error (the checker rejects loops
    /// with no input, so this is the last line of defence).
    pub step_budget: u32,
    /// The hard limit on one call's time in the IVR (not in the queue or
    /// with an operator).
    pub max_ivr_time: Duration,
}

impl Program {
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.0 as usize]
    }

    pub fn node_name(&self, id: NodeId) -> &str {
        &self.node_names[id.0 as usize]
    }

    pub fn node_id(&self, name: &str) -> Option<NodeId> {
        self.node_names.iter().position(|n| n == name).map(|i| NodeId(i as u32))
    }
}

/// One node with where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub position: Position,
    pub kind: NodeKind,
}

/// Text with `${variable}` references, expanded per call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Variable(String),
}

/// What can be spoken from a value built of recorded pieces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SayKind {
    /// A cardinal number: "three hundred and twelve".
    Number,
    /// Digit by digit: "nine three ...".
    Digits,
    /// A duration given in seconds, said in minutes (and seconds under a minute).
    Duration,
    /// A clock time "HH:MM".
    Time,
}

/// One item of a prompt list: a recorded prompt (id without the language,
/// e.g. "welcome"), or a value said from pieces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptItem {
    Prompt(String),
    Say { kind: SayKind, value: Template },
}

/// A list of items played in order.
pub type PromptList = Vec<PromptItem>;

/// How a menu or a collect ends when the caller never gets it right.
#[derive(Debug, Clone, PartialEq)]
pub struct Retries {
    /// Attempts after the first.
    pub retries: u32,
    /// Played (then the prompt again) when nothing is pressed in time.
    pub no_input: PromptList,
    /// Played (then the prompt again) on a key that is not an option or an
    /// entry that does not match.
    pub invalid: PromptList,
    /// Where to go when the retries run out.
    pub exhausted: NodeId,
}

/// A satisfaction question: its id (stored with the answer) and prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct SurveyQuestion {
    pub id: String,
    pub prompt: PromptList,
}

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// Play prompts, then go on.
    Play { prompts: PromptList, barge_in: bool, next: NodeId },
    /// Offer keyed options; a key that is an option goes there.
    Menu {
        prompt: PromptList,
        /// Key ('0'..'9', '*', '#') to node.
        options: BTreeMap<char, NodeId>,
        /// Time to wait for a key after the prompt ends.
        timeout: Duration,
        retries: Retries,
        /// Sets `topic` (or any variable) when an option is taken:
        /// key -> (variable, value).
        sets: BTreeMap<char, (String, String)>,
    },
    /// Collect digits into a variable.
    Collect {
        prompt: PromptList,
        variable: String,
        min_digits: u32,
        max_digits: u32,
        /// Ends the entry early (not part of the value).
        terminator: Option<char>,
        first_digit_timeout: Duration,
        inter_digit_timeout: Duration,
        /// A regular expression the whole entry must match, e.g. `^0[1-9][0-9]{3}$|^[1-4][0-9]{4}$`.
        pattern: Option<String>,
        /// "You entered 0 8 0 0 1; press 1 to confirm, 2 to enter again."
        confirm: Option<Confirm>,
        /// Never stored in records or logs.
        sensitive: bool,
        retries: Retries,
        next: NodeId,
    },
    /// Set the call's language; every prompt resolves as "<language>/<id>".
    Language { language: Language, next: NodeId },
    /// Branch on a calendar schedule at the call's wallclock time.
    When { schedule: ScheduleId, open: NodeId, closed: NodeId },
    /// Hand the caller to an operator queue (the ACD); the interpreter waits
    /// for the queue's outcome.
    Queue {
        queue: String,
        /// Required skills, e.g. language = "${language}", topic = "health".
        skills: Vec<(String, Template)>,
        priority: i32,
        max_wait: Duration,
        /// Key the caller may press while waiting to be called back instead,
        /// keeping their place.
        callback_key: Option<char>,
        /// After the operator hangs up (usually the survey); none: hang up.
        after_call: Option<NodeId>,
        /// Maximum wait passed.
        on_timeout: NodeId,
        /// The queue is closed (outside its hours) or has no agents logged in.
        on_closed: NodeId,
        /// The caller chose a callback while waiting (their number is taken
        /// by the callback node this points to, or the caller's own if none).
        on_callback: Option<NodeId>,
    },
    /// Take a number to call back (the caller's own by default), confirm it,
    /// and register the callback with a queue.
    Callback {
        prompt: PromptList,
        queue: String,
        /// Press this key to use the number the call came from.
        use_caller_key: char,
        /// Otherwise the number is collected with this pattern.
        pattern: String,
        confirm: Confirm,
        retries: Retries,
        next: NodeId,
    },
    /// Leave a message: beep, record up to `max_length`, stop at
    /// `silence` of quiet or on '#'.
    Record { prompt: PromptList, beep: bool, max_length: Duration, silence: Duration, next: NodeId },
    /// The satisfaction survey: each question answered 0..10 by keypad.
    Survey { questions: Vec<SurveyQuestion>, timeout: Duration, thanks: PromptList, next: Option<NodeId> },
    /// Transfer to a SIP URI (blind); on failure go on to `on_failure`.
    Transfer { target: Template, on_failure: NodeId },
    Goto { target: NodeId },
    /// Run a sub-flow; its `return` continues at `next`.
    Sub { target: NodeId, next: NodeId },
    Return,
    Set { assignments: Vec<(String, Template)>, next: NodeId },
    Hangup { prompts: PromptList },
}

/// A confirmation step of an entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Confirm {
    /// Played before the entry is said back ("you entered").
    pub prefix: PromptList,
    /// Played after it ("press 1 to confirm, 2 to change").
    pub question: PromptList,
    pub yes_key: char,
    pub no_key: char,
}
