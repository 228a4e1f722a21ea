//! Each call's one record: what the engine knows when the call ends (times,
//! IVR path, queue visit, operator, survey answers, callback request,
//! timeline), turned into the store's `FinishedCall`, and the `CallStart`
//! snapshots that let start-up recovery close a call the server did not
//! live to finish.
//!
//! Owns the disposition rules (`docs/metrics.md`). It must never put the
//! caller's clear number anywhere but the callback request.

use std::time::Instant;

use ivr_store::{
    CallDetails, CallEvent, CallEventKind, CallStart, CallbackRequest, CallbackState, Disposition, FinishedCall,
    SurveyAnswer, SurveyScore,
};

use super::queueing::{QueueState, QueuedCall};
use super::{Call, EndReason, WallClock};

/// One stay in a queue: when, which, how it ended.
#[derive(Debug, Clone)]
pub struct QueueVisit {
    pub queue: String,
    pub entered: Instant,
    pub left: Instant,
    pub last_state: QueueState,
    /// `false` when the queue was closed to the caller on arrival: no
    /// queue visit for the metrics, only the queue a callback was left for.
    pub joined: bool,
}

impl Call {
    /// The caller left the queue (answered, timed out, abandoned...).
    pub(super) fn record_queue(&mut self, q: QueuedCall, now: Instant) {
        self.queue_history.push(QueueVisit { queue: q.queue, entered: q.entered, left: now, last_state: q.state, joined: true });
    }

    /// The queue was closed to the caller on arrival (closed, or nobody
    /// logged in; out of hours a callback request meets the same): they
    /// never joined it, so the visit just recorded does not make the call
    /// queued (docs/metrics.md: `queued` means the call joined a queue).
    /// The refusal stays on the timeline as the queue's event.
    pub(super) fn queue_refused(&mut self, now: Instant) {
        if let Some(visit) = self.queue_history.last_mut().filter(|v| v.entered == now && v.left == now) {
            visit.joined = false;
        }
    }

    /// The last queue the call joined.
    fn last_joined(&self) -> Option<&QueueVisit> {
        self.queue_history.iter().rev().find(|v| v.joined)
    }

    fn disposition(&self, reason: EndReason) -> Disposition {
        if self.transferred {
            return Disposition::Transferred;
        }
        if self.agent_answered_at.is_some() {
            return Disposition::Answered;
        }
        if self.callback_number.is_some() {
            return Disposition::CalledBack;
        }
        if self.message.is_some() {
            return Disposition::MessageLeft;
        }
        match reason {
            EndReason::Signalling | EndReason::MediaTimeout => return Disposition::Failed,
            EndReason::Shutdown => return Disposition::Interrupted,
            _ => {}
        }
        let queued = self.queue.is_some() || self.last_joined().is_some();
        let caller_left = matches!(reason, EndReason::CallerHungUp | EndReason::Cancelled);
        if queued && caller_left && self.queue_history.iter().all(|v| v.last_state != QueueState::Connected) {
            // Left while waiting (or while their turn was ringing).
            if self.queue.is_some() || self.last_joined().is_some_and(|v| v.last_state == QueueState::Waiting) {
                return Disposition::AbandonedInQueue;
            }
        }
        // The dialplan names the outcome of a call that ends in the IVR
        // (e.g. self-service information heard, out of hours).
        if let Some(disposition) = self.dialplan_disposition {
            return disposition;
        }
        if caller_left {
            Disposition::AbandonedInIvr
        } else {
            Disposition::CompletedInIvr
        }
    }

    /// The record of a call that ends now.
    pub(super) fn finish(
        &mut self,
        now: Instant,
        clock: &WallClock,
        reason: EndReason,
        pseudonym: Option<String>,
        callback_retention_ms: i64,
    ) -> FinishedCall {
        let ms = |t: Instant| clock.epoch_ms(t);
        let disposition = self.disposition(reason);
        let mut record = self.record.clone();
        record.ended_at_ms = ms(now);
        record.end_reason = reason.label().to_owned();
        let visit = self.last_joined();
        let queued_at = visit.map(|v| v.entered).or(self.queue.as_ref().map(|q| q.entered));
        let wait_end = self.agent_answered_at.or(visit.map(|v| v.left)).unwrap_or(now);
        let talk_end = self.agent_ended_at.unwrap_or(now);
        let details = CallDetails {
            caller_pseudonym: pseudonym,
            dialplan_version: self.dialplan_version.clone(),
            ivr_path: self.path.as_str().to_owned(),
            topic: self.topic.clone().filter(|t| !t.is_empty()),
            queue: visit.map(|v| v.queue.clone()).or(self.queue.as_ref().map(|q| q.queue.clone())),
            queued_at_ms: queued_at.map(ms),
            wait_ms: queued_at.map(|q| wait_end.saturating_duration_since(q).as_millis() as i64),
            agent: self.agent.clone(),
            answered_by_agent_at_ms: self.agent_answered_at.map(ms),
            talk_ms: self.agent_answered_at.map(|a| talk_end.saturating_duration_since(a).as_millis() as i64),
            hold_ms: None,
            wrap_up_ms: None,
            disposition: Some(disposition),
            failure_sip_status: record.sip_status,
            message_recording: None,
            provisional: false,
        };
        let dropped = self.timeline.dropped();
        if dropped > 0 {
            self.timeline.push(now, "note", format!("{dropped} later events not kept"));
        }
        let events = self
            .timeline
            .take()
            .into_iter()
            .enumerate()
            .map(|(i, e)| CallEvent::new(i as i64, ms(e.at), event_kind(e.kind), e.detail))
            .collect();
        let survey_answers = self
            .survey
            .iter()
            .map(|(question, value, at_ms)| SurveyAnswer {
                question: question.clone(),
                value: value.and_then(SurveyScore::new),
                answered_at_ms: *at_ms,
                agent: self.agent.clone(),
                queue: details.queue.clone(),
                topic: details.topic.clone(),
                language: record.language.clone(),
            })
            .collect();
        // A callback left out of hours names the queue that refused the call.
        let callback_queue = self.callback_queue.clone().or_else(|| details.queue.clone());
        let callback = self.callback_number.as_ref().map(|number| CallbackRequest {
            queue: callback_queue.unwrap_or_default(),
            number_clear: Some(number.clone()),
            requested_at_ms: ms(now),
            purge_after_ms: ms(now) + callback_retention_ms,
            state: CallbackState::Pending,
        });
        FinishedCall { record, details, events, survey_answers, callback }
    }

    /// What recovery needs if the server dies during this call.
    pub(super) fn snapshot(&self, now: Instant, clock: &WallClock, pseudonym: Option<String>) -> CallStart {
        let ms = |t: Instant| clock.epoch_ms(t);
        CallStart {
            call_id: self.record.call_id.clone(),
            dialled: self.record.dialled.clone(),
            started_at_ms: self.record.started_at_ms,
            at_ms: ms(now),
            answered_at_ms: self.record.answered_at_ms,
            language: self.record.language.clone(),
            caller_pseudonym: pseudonym,
            dialplan_version: self.dialplan_version.clone(),
            ivr_path: self.path.as_str().to_owned(),
            topic: self.topic.clone(),
            queue: self.queue.as_ref().map(|q| q.queue.clone()),
            queued_at_ms: self.queue.as_ref().map(|q| ms(q.entered)),
            agent: self.agent.clone(),
            answered_by_agent_at_ms: self.agent_answered_at.map(ms),
        }
    }
}

fn event_kind(kind: &str) -> CallEventKind {
    match kind {
        "queue" => CallEventKind::Queue,
        "dtmf" | "key" => CallEventKind::Dtmf,
        "prompt" => CallEventKind::Prompt,
        "transfer_failed" => CallEventKind::Transfer,
        _ => CallEventKind::Note,
    }
}
