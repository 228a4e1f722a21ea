//! One simulated call: the interpreter running it, the caller's journey
//! and pending moves, and what its record will say.
//!
//! Owns a call's state between its arrival and its record. Must never
//! touch the ACD or the clock: the engine (`engine.rs`) passes `now` and
//! applies the effects. The disposition rules mirror the server's
//! (`ivr/server/src/engine/record.rs`, `docs/metrics.md`).

use std::time::Instant;

use ivr_dialplan::interpreter::{Interpreter, Trace};
use ivr_store::{
    CallDetails, CallEvent, CallEventKind, CallRecord, CallbackRequest, CallbackState, Disposition, FinishedCall, IvrPath,
    SurveyAnswer, SurveyScore,
};

use crate::traffic::{DtmfMethod, Journey, JourneyState, Keys};

/// Callback numbers are kept this long before the purge (30 days).
const CALLBACK_RETENTION_MS: i64 = 30 * 86_400_000;

/// Where the caller stands with the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStage {
    None,
    Waiting,
    Connected,
    /// Chose a callback while waiting: the ACD keeps the place.
    CallbackRequested,
    /// Left the queue (answered and done, timed out, closed).
    Left,
}

/// Keys the caller is pressing, one at a time.
#[derive(Debug, Clone, Copy)]
pub struct Pressing {
    pub keys: Keys,
    pub next: usize,
    pub at: Instant,
}

/// A call in progress.
#[derive(Debug)]
pub struct SimCall {
    pub number: u64,
    pub interpreter: Interpreter,
    pub journey: Journey,
    pub memory: JourneyState,
    pub started_ms: i64,
    pub caller_number: String,
    /// Bumped on every change of the call's next deadline; older heap
    /// entries for it are stale.
    pub generation: u32,
    // ---- caller side: what happens next and when
    pub playing_until: Option<Instant>,
    pub last_prompt: String,
    pub pressing: Option<Pressing>,
    pub hangup_at: Option<Instant>,
    pub recording_until: Option<Instant>,
    pub abandon_at: Option<Instant>,
    pub callback_key_at: Option<Instant>,
    // ---- what the record says
    pub stage: QueueStage,
    pub queued_at_ms: Option<i64>,
    pub answered_ms: Option<i64>,
    pub agent: Option<String>,
    pub talk_end_ms: Option<i64>,
    pub wait_end_ms: Option<i64>,
    pub wrap_up_ms: Option<i64>,
    pub path: IvrPath,
    pub node: String,
    pub node_keys: String,
    pub out_of_hours: bool,
    pub message: bool,
    pub callback: Option<CallbackRequest>,
    pub survey: Vec<SurveyAnswer>,
    pub events: Vec<CallEvent>,
    pub digits: [i64; 3],
}

impl SimCall {
    pub fn new(number: u64, interpreter: Interpreter, journey: Journey, started_ms: i64, caller_number: String) -> SimCall {
        SimCall {
            number,
            interpreter,
            journey,
            memory: JourneyState::default(),
            started_ms,
            caller_number,
            generation: 0,
            playing_until: None,
            last_prompt: String::new(),
            pressing: None,
            hangup_at: None,
            recording_until: None,
            abandon_at: None,
            callback_key_at: None,
            stage: QueueStage::None,
            queued_at_ms: None,
            answered_ms: None,
            agent: None,
            talk_end_ms: None,
            wait_end_ms: None,
            wrap_up_ms: None,
            path: IvrPath::new(),
            node: String::new(),
            node_keys: String::new(),
            out_of_hours: false,
            message: false,
            callback: None,
            survey: Vec::new(),
            events: Vec::new(),
            digits: [0; 3],
        }
    }

    /// The earliest thing the caller or the interpreter will do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.playing_until,
            self.pressing.map(|p| p.at),
            self.hangup_at,
            self.recording_until,
            self.abandon_at,
            self.callback_key_at,
            self.interpreter.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn count_key(&mut self) {
        let i = match self.journey.dtmf {
            DtmfMethod::Rfc4733 => 0,
            DtmfMethod::SipInfo => 1,
            DtmfMethod::Inband => 2,
        };
        self.digits[i] += 1;
    }

    /// Notes a trace on the IVR path (node names and the keys that left
    /// them) and the flags the disposition needs.
    pub fn trace(&mut self, trace: &Trace) {
        match trace {
            Trace::NodeEntered { node } => {
                self.flush_node();
                if node == "out-of-hours" {
                    self.out_of_hours = true;
                }
                node.clone_into(&mut self.node);
            }
            Trace::KeyPressed { key, .. } => self.node_keys.push(*key),
            Trace::MessageRecorded { .. } => self.message = true,
            _ => {}
        }
    }

    fn flush_node(&mut self) {
        if !self.node.is_empty() {
            let keys = (!self.node_keys.is_empty()).then_some(self.node_keys.as_str());
            self.path.push(&self.node, keys);
        }
        self.node.clear();
        self.node_keys.clear();
    }

    pub fn event(&mut self, at_ms: i64, kind: CallEventKind, detail: &str) {
        let seq = self.events.len() as i64;
        self.events.push(CallEvent::new(seq, at_ms, kind, detail));
    }

    pub fn survey_answer(&mut self, at_ms: i64, question: String, value: Option<u8>) {
        self.survey.push(SurveyAnswer {
            question,
            value: value.and_then(SurveyScore::new),
            answered_at_ms: at_ms,
            agent: self.agent.clone(),
            queue: self.queued_at_ms.map(|_| super::line::QUEUE.to_owned()),
            topic: None,
            language: String::new(),
        });
    }

    pub fn request_callback(&mut self, at_ms: i64, queue: &str, number: &str) {
        self.callback = Some(CallbackRequest {
            queue: queue.to_owned(),
            number_clear: Some(number.to_owned()),
            requested_at_ms: at_ms,
            purge_after_ms: at_ms + CALLBACK_RETENTION_MS,
            state: CallbackState::Pending,
        });
    }

    /// The server's disposition rules, for a call that ends now.
    pub fn disposition(&self, caller_left: bool) -> Disposition {
        if self.answered_ms.is_some() {
            return Disposition::Answered;
        }
        if self.callback.is_some() {
            return Disposition::CalledBack;
        }
        if self.message {
            return Disposition::MessageLeft;
        }
        if caller_left && self.stage == QueueStage::Waiting {
            return Disposition::AbandonedInQueue;
        }
        if self.out_of_hours {
            return Disposition::OutOfHours;
        }
        if caller_left { Disposition::AbandonedInIvr } else { Disposition::CompletedInIvr }
    }

    /// The call's one record. `caller_left`: the caller hung up (else the
    /// IVR did); `timeline`: keep the queue events as the call's timeline.
    pub fn finish(mut self, ended_ms: i64, caller_left: bool, version: &str, timeline: bool) -> FinishedCall {
        self.flush_node();
        let disposition = self.disposition(caller_left);
        let language = self.interpreter.language().to_owned();
        let topic = self.interpreter.variable("topic").filter(|t| !t.is_empty()).map(str::to_owned);
        let queue = self.queued_at_ms.map(|_| super::line::QUEUE.to_owned());
        for answer in &mut self.survey {
            answer.topic.clone_from(&topic);
            answer.language.clone_from(&language);
        }
        let wait_end = self.answered_ms.or(self.wait_end_ms).unwrap_or(ended_ms);
        FinishedCall {
            record: CallRecord {
                call_id: format!("sim-{:09}", self.number),
                dialled: "012".to_owned(),
                started_at_ms: self.started_ms,
                answered_at_ms: Some(self.started_ms),
                ended_at_ms: ended_ms,
                end_reason: if caller_left { "caller_hangup" } else { "ivr_hangup" }.to_owned(),
                sip_status: None,
                codec: Some("PCMA".to_owned()),
                language,
                digits_rfc4733: self.digits[0],
                digits_sip_info: self.digits[1],
                digits_inband: self.digits[2],
                ..CallRecord::default()
            },
            details: CallDetails {
                dialplan_version: Some(version.to_owned()),
                ivr_path: self.path.into_string(),
                topic,
                queue,
                queued_at_ms: self.queued_at_ms,
                wait_ms: self.queued_at_ms.map(|q| (wait_end - q).max(0)),
                agent: self.agent,
                answered_by_agent_at_ms: self.answered_ms,
                talk_ms: self.answered_ms.map(|a| (self.talk_end_ms.unwrap_or(ended_ms) - a).max(0)),
                hold_ms: self.answered_ms.map(|_| 0),
                wrap_up_ms: self.answered_ms.and(self.wrap_up_ms),
                disposition: Some(disposition),
                ..CallDetails::default()
            },
            events: if timeline { self.events } else { Vec::new() },
            survey_answers: self.survey,
            callback: self.callback,
        }
    }
}
