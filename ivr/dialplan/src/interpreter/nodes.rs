//! How each waiting node takes keys, prompt ends, timeouts and outcomes:
//! menus, survey questions, queues, recordings and transfers (digit entries
//! are in `entry`).
//!
//! Owns: the dispatch of inputs to the waiting node, retries with their
//! no-input and invalid prompts, and the survey's ask-again-once rule.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    Action, After, AnswerOutcome, AnswerReader, Failure, Flow, Interpreter, Playback, QueueOutcome, State, Trace,
};
use super::{InterpreterError, MAX_TYPE_AHEAD};
use crate::program::{NodeId, NodeKind, PromptItem};
use crate::survey::later;

impl Interpreter {
    /// A key from the caller: stops a barge-in prompt (kept as type-ahead),
    /// is dropped during other prompts, else goes to the waiting node.
    pub(super) fn key(&mut self, now: Instant, key: char) -> Flow {
        match &mut self.playback {
            Some(Playback { barge_in: true, stop_sent }) => {
                if self.type_ahead.len() < MAX_TYPE_AHEAD {
                    self.type_ahead.push_back(key);
                }
                if !*stop_sent {
                    *stop_sent = true;
                    self.actions.push_back(Action::StopPlayback);
                }
                Flow::Wait
            }
            Some(Playback { barge_in: false, .. }) => Flow::Wait,
            None => self.on_key(now, key),
        }
    }

    /// A key for the waiting node (no prompt playing).
    pub(super) fn on_key(&mut self, now: Instant, key: char) -> Flow {
        match &mut self.state {
            State::Menu { node, attempts, deadline: Some(_) } => {
                let (node, attempts) = (*node, *attempts);
                self.menu_key(now, node, attempts, key)
            }
            State::Entry(_) => self.entry_key(now, key),
            State::Record { recording: true, stop_sent, .. } if key == '#' && !*stop_sent => {
                *stop_sent = true;
                self.actions.push_back(Action::StopRecording);
                Flow::Wait
            }
            State::Survey { node, question, asked_again, reader: Some(reader) } => {
                let (node, question, asked_again) = (*node, *question, *asked_again);
                let outcome = reader.handle_key(now, key);
                self.trace(Trace::KeyPressed { node: self.name(node), key });
                match outcome {
                    Some(outcome) => self.survey_answered(now, node, question, asked_again, outcome),
                    None => Flow::Wait,
                }
            }
            // Queued: the callback key is the ACD's. Others take no keys.
            _ => Flow::Wait,
        }
    }

    /// The prompt of the waiting node ended: start listening, or go on.
    pub(super) fn prompt_ended(&mut self, now: Instant) -> Flow {
        let program = Arc::clone(&self.program);
        match &mut self.state {
            State::Playing { after: After::Go(next) } => Flow::Go(*next),
            State::Playing { after: After::Hangup } => {
                self.hangup();
                Flow::Wait
            }
            State::Menu { node, deadline, .. } => {
                if let Some(NodeKind::Menu { timeout, .. }) = program.nodes.get(node.0 as usize).map(|n| &n.kind) {
                    *deadline = Some(later(now, *timeout));
                }
                Flow::Wait
            }
            State::Entry(_) => {
                self.entry_listen(now);
                Flow::Wait
            }
            State::Survey { node, reader, .. } => {
                if let Some(NodeKind::Survey { timeout, .. }) = program.nodes.get(node.0 as usize).map(|n| &n.kind) {
                    *reader = Some(AnswerReader::start(now, *timeout));
                }
                Flow::Wait
            }
            State::Record { recording: false, .. } => {
                self.start_recording();
                Flow::Wait
            }
            _ => Flow::Wait,
        }
    }

    /// A deadline may have passed (early calls change nothing).
    pub(super) fn timeout(&mut self, now: Instant) -> Flow {
        match &mut self.state {
            State::Menu { node, attempts, deadline: Some(deadline) } if now >= *deadline => {
                let (node, attempts) = (*node, *attempts);
                self.retry(now, node, attempts, Failure::NoInput)
            }
            State::Entry(_) => self.entry_timeout(now),
            State::Survey { node, question, asked_again, reader: Some(reader) } => {
                let (node, question, asked_again) = (*node, *question, *asked_again);
                match reader.handle_timeout(now) {
                    Some(outcome) => self.survey_answered(now, node, question, asked_again, outcome),
                    None => Flow::Wait,
                }
            }
            _ => Flow::Wait,
        }
    }

    /// Asks a menu, collect or callback node (again): `before` (no-input
    /// or invalid prompts) then its prompt; skipped when keys are waiting.
    pub(super) fn ask(&mut self, now: Instant, node: NodeId, attempts: u32, before: &[PromptItem]) -> Flow {
        let program = Arc::clone(&self.program);
        let Some(kind) = program.nodes.get(node.0 as usize).map(|n| &n.kind) else {
            return self.fail(InterpreterError::UnknownNode(node));
        };
        let prompt = match kind {
            NodeKind::Menu { prompt, .. } => {
                self.state = State::Menu { node, attempts, deadline: None };
                prompt
            }
            NodeKind::Collect { prompt, .. } | NodeKind::Callback { prompt, .. } => {
                self.state = State::Entry(super::Entry::new(node, attempts));
                prompt
            }
            _ => return Flow::Wait,
        };
        let prompts: Vec<PromptItem> = before.iter().chain(prompt).cloned().collect();
        if self.type_ahead.is_empty() && self.play(&prompts, true) {
            return Flow::Wait;
        }
        self.prompt_ended(now)
    }

    /// A menu or entry attempt failed: ask again, or go to the default.
    pub(super) fn retry(&mut self, now: Instant, node: NodeId, attempts: u32, failure: Failure) -> Flow {
        let program = Arc::clone(&self.program);
        let retries = match program.nodes.get(node.0 as usize).map(|n| &n.kind) {
            Some(
                NodeKind::Menu { retries, .. } | NodeKind::Collect { retries, .. } | NodeKind::Callback { retries, .. },
            ) => retries,
            _ => return self.fail(InterpreterError::UnknownNode(node)),
        };
        if attempts >= retries.retries {
            self.trace(Trace::RetriesExhausted { node: self.name(node) });
            return Flow::Go(retries.exhausted);
        }
        let before = match failure {
            Failure::NoInput => &retries.no_input,
            Failure::Invalid => &retries.invalid,
        };
        self.ask(now, node, attempts + 1, before)
    }

    fn menu_key(&mut self, now: Instant, node: NodeId, attempts: u32, key: char) -> Flow {
        let program = Arc::clone(&self.program);
        let Some(NodeKind::Menu { options, sets, .. }) = program.nodes.get(node.0 as usize).map(|n| &n.kind) else {
            return Flow::Wait;
        };
        self.trace(Trace::KeyPressed { node: self.name(node), key });
        let Some(target) = options.get(&key) else {
            return self.retry(now, node, attempts, Failure::Invalid);
        };
        if let Some((name, value)) = sets.get(&key) {
            self.set_variable(name, value.clone(), false);
        }
        Flow::Go(*target)
    }

    /// Asks survey question `question` (or, past the last, plays the thanks
    /// and goes on).
    pub(super) fn ask_question(&mut self, now: Instant, node: NodeId, question: usize, asked_again: bool) -> Flow {
        let program = Arc::clone(&self.program);
        let Some(NodeKind::Survey { questions, thanks, next, .. }) =
            program.nodes.get(node.0 as usize).map(|n| &n.kind)
        else {
            return self.fail(InterpreterError::UnknownNode(node));
        };
        let Some(asked) = questions.get(question) else {
            let after = next.map_or(After::Hangup, After::Go);
            return self.play_then(now, thanks, false, after);
        };
        self.state = State::Survey { node, question, asked_again, reader: None };
        if self.type_ahead.is_empty() && self.play(&asked.prompt, true) {
            return Flow::Wait;
        }
        self.prompt_ended(now)
    }

    /// One question is over: store the answer, or ask once more, then move
    /// to the next question.
    fn survey_answered(
        &mut self,
        now: Instant,
        node: NodeId,
        question: usize,
        asked_again: bool,
        outcome: AnswerOutcome,
    ) -> Flow {
        let value = outcome.value();
        if value.is_none() && !asked_again {
            return self.ask_question(now, node, question, true);
        }
        let id = match self.program.nodes.get(node.0 as usize).map(|n| &n.kind) {
            Some(NodeKind::Survey { questions, .. }) => questions.get(question).map(|q| q.id.clone()),
            _ => None,
        };
        if let Some(id) = id {
            self.actions.push_back(Action::SurveyAnswered { question: id, value });
        }
        self.ask_question(now, node, question + 1, false)
    }

    pub(super) fn queue_outcome(&mut self, now: Instant, outcome: QueueOutcome) -> Flow {
        let (node, queued) = match self.state {
            State::Queued { node } => (node, true),
            State::WithOperator { node } => (node, false),
            _ => return Flow::Wait,
        };
        let program = Arc::clone(&self.program);
        let Some(NodeKind::Queue { queue, after_call, on_timeout, on_closed, on_callback, .. }) =
            program.nodes.get(node.0 as usize).map(|n| &n.kind)
        else {
            return Flow::Wait;
        };
        let flow = match outcome {
            QueueOutcome::Answered if queued => {
                self.state = State::WithOperator { node };
                return Flow::Wait;
            }
            QueueOutcome::OperatorHungUp => match after_call {
                Some(next) => Flow::Go(*next),
                None => {
                    self.hangup();
                    return Flow::Wait;
                }
            },
            // Also after an operator: a caller they transferred to a queue
            // waits again and may time out there.
            QueueOutcome::TimedOut => Flow::Go(*on_timeout),
            QueueOutcome::Closed => Flow::Go(*on_closed),
            QueueOutcome::CallbackChosen if queued => match (on_callback, self.caller.clone()) {
                (Some(next), _) => Flow::Go(*next),
                (None, Some(number)) => {
                    self.actions.push_back(Action::RegisterCallback { queue: queue.clone(), number });
                    self.hangup();
                    return Flow::Wait;
                }
                (None, None) => return self.fail(InterpreterError::NoCallerNumber),
            },
            _ => return Flow::Wait,
        };
        // Back in the IVR: its time runs again.
        self.ivr.resume(now);
        flow
    }

    pub(super) fn start_recording(&mut self) {
        let program = Arc::clone(&self.program);
        let State::Record { node, recording, .. } = &mut self.state else {
            return;
        };
        if let Some(NodeKind::Record { beep, max_length, silence, .. }) =
            program.nodes.get(node.0 as usize).map(|n| &n.kind)
        {
            *recording = true;
            self.actions.push_back(Action::StartRecording { beep: *beep, max_length: *max_length, silence: *silence });
        }
    }

    pub(super) fn recording_finished(&mut self, length: Duration) -> Flow {
        let State::Record { node, recording: true, .. } = self.state else {
            return Flow::Wait;
        };
        let next = match self.program.nodes.get(node.0 as usize).map(|n| &n.kind) {
            Some(NodeKind::Record { next, .. }) => *next,
            _ => return Flow::Wait,
        };
        self.trace(Trace::MessageRecorded { node: self.name(node), length });
        Flow::Go(next)
    }

    pub(super) fn transfer_failed(&mut self, status: u16) -> Flow {
        let State::Transferring { node } = self.state else {
            return Flow::Wait;
        };
        let on_failure = match self.program.nodes.get(node.0 as usize).map(|n| &n.kind) {
            Some(NodeKind::Transfer { on_failure, .. }) => *on_failure,
            _ => return Flow::Wait,
        };
        self.trace(Trace::TransferFailed { node: self.name(node), status });
        Flow::Go(on_failure)
    }
}
