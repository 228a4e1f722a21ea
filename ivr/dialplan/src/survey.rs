//! Reading one satisfaction-survey answer, 0 to 10, from keypad presses.
//!
//! Owns: which key sequences are an answer. A single digit followed by `#`
//! or a pause is that digit; "1" "0" is 10 (so after "1" the reader waits a
//! pause for a possible "0"); "10" also ends with `#` or a pause. Anything
//! else (`*`, `A`-`D`, a second digit after anything but "1", a "0" after
//! "10", a lone `#`) is no valid answer, reported at that key. Nothing
//! pressed before the answer timeout is no input.
//!
//! Must never: read the clock (every input carries `now`), do IO, or decide
//! what happens after an invalid answer (asking again once, then skipping,
//! is the interpreter's survey node).

use std::time::{Duration, Instant};

/// How long the reader waits after a digit for `#`, a "0" after "1", or
/// nothing more; shortened to the answer timeout when that is shorter.
pub const SURVEY_INTER_DIGIT_TIMEOUT: Duration = Duration::from_secs(3);

/// `now + wait`, or as far as an `Instant` goes when a program's timeout
/// is too long to add (a deadline must never panic). Shared with the
/// interpreter.
pub(crate) fn later(now: Instant, wait: Duration) -> Instant {
    now.checked_add(wait).or_else(|| now.checked_add(Duration::from_secs(u64::from(u32::MAX)))).unwrap_or(now)
}

/// How reading one answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    /// A valid answer, 0..=10.
    Answered(u8),
    /// A key that cannot be part of an answer.
    Invalid { key: char },
    /// Nothing pressed before the answer timeout.
    NoInput,
}

impl AnswerOutcome {
    /// The stored value: `None` unless a valid answer was given.
    pub fn value(self) -> Option<u8> {
        match self {
            AnswerOutcome::Answered(value) => Some(value),
            AnswerOutcome::Invalid { .. } | AnswerOutcome::NoInput => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReaderState {
    /// Nothing pressed yet.
    AwaitingFirstKey {
        deadline: Instant,
    },
    /// A complete answer that may still be followed by `#`; "1" may also
    /// still become 10.
    Pending {
        value: u8,
        deadline: Instant,
    },
    Done(AnswerOutcome),
}

/// The state machine for one answer. Start it when the question's prompt
/// ends (or at the first key pressed during it), feed keys and timeouts
/// with `now`, and stop at the first `Some` outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerReader {
    inter_digit_timeout: Duration,
    state: ReaderState,
}

impl AnswerReader {
    /// Waits `answer_timeout` for the first key; then
    /// `min(SURVEY_INTER_DIGIT_TIMEOUT, answer_timeout)` after each digit.
    pub fn start(now: Instant, answer_timeout: Duration) -> AnswerReader {
        AnswerReader {
            inter_digit_timeout: SURVEY_INTER_DIGIT_TIMEOUT.min(answer_timeout),
            state: ReaderState::AwaitingFirstKey { deadline: later(now, answer_timeout) },
        }
    }

    /// Feeds one key; `Some` when it ends the answer (keys after that are
    /// ignored and return `None`).
    pub fn handle_key(&mut self, now: Instant, key: char) -> Option<AnswerOutcome> {
        let next = match (self.state, key) {
            (ReaderState::Done(_), _) => return None,
            (ReaderState::AwaitingFirstKey { .. }, '0'..='9') => {
                let value = key as u8 - b'0';
                ReaderState::Pending { value, deadline: later(now, self.inter_digit_timeout) }
            }
            (ReaderState::Pending { value: 1, .. }, '0') => {
                ReaderState::Pending { value: 10, deadline: later(now, self.inter_digit_timeout) }
            }
            (ReaderState::Pending { value, .. }, '#') => ReaderState::Done(AnswerOutcome::Answered(value)),
            // '*', 'A'..'D', a lone '#', or a digit that makes no answer.
            _ => ReaderState::Done(AnswerOutcome::Invalid { key }),
        };
        self.state = next;
        self.outcome()
    }

    /// Feeds the passing of time; `Some` when a deadline at or before `now`
    /// ends the answer.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<AnswerOutcome> {
        match self.state {
            ReaderState::AwaitingFirstKey { deadline } if now >= deadline => {
                self.state = ReaderState::Done(AnswerOutcome::NoInput);
            }
            ReaderState::Pending { value, deadline } if now >= deadline => {
                self.state = ReaderState::Done(AnswerOutcome::Answered(value));
            }
            _ => return None,
        }
        self.outcome()
    }

    /// The next deadline, until the answer is complete.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            ReaderState::AwaitingFirstKey { deadline } | ReaderState::Pending { deadline, .. } => Some(deadline),
            ReaderState::Done(_) => None,
        }
    }

    /// How the answer ended, once it has.
    pub fn outcome(&self) -> Option<AnswerOutcome> {
        match self.state {
            ReaderState::Done(outcome) => Some(outcome),
            _ => None,
        }
    }
}
