//! The typed call record and everything stored with it: the v1 columns the
//! engine fills today ([`CallRecord`]), the v2 columns ([`CallDetails`]),
//! the timeline ([`CallEvent`]), survey answers, a callback request, and the
//! in-progress marker ([`CallStart`]) that lets start-up recovery close a
//! call the server did not live to finish.
//!
//! Never here: a clear caller number, except in [`CallbackRequest`] (the
//! only row that needs it, purged after its retention), and DTMF digits
//! collected as `sensitive` ([`CallEvent::digits`] masks them).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One finished call, as stored in the `calls` table: the columns of schema
/// version 1. The columns added by version 2 are in [`CallDetails`]; both
/// travel together in [`FinishedCall`].
///
/// No caller number is stored here: it is personal data, only its keyed
/// pseudonym is ([`CallDetails::caller_pseudonym`]).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallRecord {
    /// Our own id for the call (a random hex string made by the server);
    /// unique, the table's primary key.
    pub call_id: String,
    /// Request-URI user part, e.g. "012".
    pub dialled: String,
    /// Epoch milliseconds when the INVITE was received.
    pub started_at_ms: i64,
    /// Epoch milliseconds when we answered (200 OK), if we did.
    pub answered_at_ms: Option<i64>,
    /// Epoch milliseconds when the call ended.
    pub ended_at_ms: i64,
    /// "caller_hangup", "ivr_hangup", "media_timeout", "cancelled",
    /// "shutdown", "signalling", "rejected" or "interrupted" (closed by
    /// start-up recovery).
    pub end_reason: String,
    /// The final SIP status when the call was rejected (488, 503).
    pub sip_status: Option<i64>,
    /// Negotiated codec: "PCMU" or "PCMA".
    pub codec: Option<String>,
    /// Prompt language, e.g. "ca".
    pub language: String,
    pub digits_rfc4733: i64,
    pub digits_sip_info: i64,
    pub digits_inband: i64,
    pub rtp_packets_sent: i64,
    pub rtp_packets_received: i64,
    pub rtp_packets_lost: i64,
}

/// The `calls` columns added by schema version 2. Every field may be left
/// at its default; a record without a [`disposition`](Self::disposition)
/// gets the one [`Disposition::infer`] reads from its end reason.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallDetails {
    /// [`crate::Pseudonymizer::pseudonym`] of the caller's number.
    pub caller_pseudonym: Option<String>,
    /// Version (hash or tag) of the dialplan that ran the call.
    pub dialplan_version: Option<String>,
    /// Nodes and the keys that left them, e.g.
    /// `welcome>choose-language[2]>main[3]>health`; see [`IvrPath`].
    pub ivr_path: String,
    pub topic: Option<String>,
    /// The queue the call joined, if any.
    pub queue: Option<String>,
    pub queued_at_ms: Option<i64>,
    /// Time in queue until answered by an agent or abandoned.
    pub wait_ms: Option<i64>,
    pub agent: Option<String>,
    pub answered_by_agent_at_ms: Option<i64>,
    pub talk_ms: Option<i64>,
    pub hold_ms: Option<i64>,
    pub wrap_up_ms: Option<i64>,
    pub disposition: Option<Disposition>,
    /// The SIP status of the failure when the disposition is `failed` or a
    /// transfer failed.
    pub failure_sip_status: Option<i64>,
    /// Path of the recorded message when the disposition is `message_left`.
    pub message_recording: Option<String>,
    /// `true` only for a record closed by start-up recovery: a later,
    /// non-provisional record for the same call replaces it (see
    /// [`crate::Store::insert_finished`]).
    pub provisional: bool,
}

/// A stored text that names no [`Disposition`] (or other stored enum).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} {value:?}")]
pub struct UnknownName {
    pub kind: &'static str,
    pub value: String,
}

/// A fieldless enum stored as TEXT: its snake_case names (the same in
/// JSON), `ALL`, `as_str`, `FromStr` and `Display`.
macro_rules! stored_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| UnknownName { kind: $kind, value: s.to_owned() })
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

stored_enum!(
    /// How a call ended, from the line's point of view.
    Disposition, "disposition" {
        CompletedInIvr = "completed_in_ivr",
        AbandonedInIvr = "abandoned_in_ivr",
        AbandonedInQueue = "abandoned_in_queue",
        Answered = "answered",
        CalledBack = "called_back",
        OutOfHours = "out_of_hours",
        MessageLeft = "message_left",
        Transferred = "transferred",
        Failed = "failed",
        /// The server stopped (crash, kill, shutdown) while the call was in
        /// progress.
        Interrupted = "interrupted",
    }
);

impl Disposition {
    /// The disposition of a record that does not say (the engine's v1
    /// records): what its end reason implies for a call that never reached
    /// a queue. The migration to schema v2 applies the same mapping to the
    /// rows it finds.
    pub fn infer(record: &CallRecord) -> Disposition {
        match record.end_reason.as_str() {
            "rejected" | "signalling" | "media_timeout" => Disposition::Failed,
            "cancelled" => Disposition::AbandonedInIvr,
            "shutdown" | "interrupted" => Disposition::Interrupted,
            _ => Disposition::CompletedInIvr,
        }
    }
}

/// Builds the `ivr_path` text: node names joined by `>`, each followed by
/// the keys that left it in brackets. Brackets and `>` in a node name are
/// replaced by `_` so that the text can be split again.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IvrPath(String);

impl IvrPath {
    pub fn new() -> Self {
        IvrPath::default()
    }

    /// Appends `node`, and `keys` when the caller left it by pressing them.
    pub fn push(&mut self, node: &str, keys: Option<&str>) -> &mut Self {
        if !self.0.is_empty() {
            self.0.push('>');
        }
        self.0.extend(node.chars().map(|c| if matches!(c, '>' | '[' | ']') { '_' } else { c }));
        if let Some(keys) = keys {
            self.0.push('[');
            self.0.extend(keys.chars().filter(|c| c.is_ascii_digit() || matches!(c, '*' | '#' | 'A'..='D')));
            self.0.push(']');
        }
        self
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

stored_enum!(
    /// What happened, in one row of `call_events`.
    CallEventKind, "call event kind" {
        /// A queue log entry (joined, offered, answered, abandoned...): the
        /// detail says which.
        Queue = "queue",
        Dtmf = "dtmf",
        Prompt = "prompt",
        Transfer = "transfer",
        Survey = "survey",
        /// Anything else the engine wants on the timeline.
        Note = "note",
    }
);

/// The detail stored for digits collected as `sensitive`: only that there
/// were some, never which or how many.
pub const MASKED_DIGITS: &str = "(sensitive)";

/// One entry of a call's timeline. `seq` orders a call's events and makes a
/// replayed event a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallEvent {
    pub seq: i64,
    pub at_ms: i64,
    pub kind: CallEventKind,
    /// Free text or JSON, e.g. `{"queue":"health","event":"joined"}`.
    pub detail: String,
}

impl CallEvent {
    pub fn new(seq: i64, at_ms: i64, kind: CallEventKind, detail: impl Into<String>) -> Self {
        CallEvent { seq, at_ms, kind, detail: detail.into() }
    }

    /// A DTMF event; digits collected as `sensitive` are replaced by
    /// [`MASKED_DIGITS`], so they cannot reach the database or the journal.
    pub fn digits(seq: i64, at_ms: i64, digits: &str, sensitive: bool) -> Self {
        let detail = if sensitive { MASKED_DIGITS.to_owned() } else { digits.to_owned() };
        CallEvent { seq, at_ms, kind: CallEventKind::Dtmf, detail }
    }
}

/// A satisfaction score, 0 to 10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct SurveyScore(u8);

impl SurveyScore {
    pub const MAX: u8 = 10;

    pub fn new(value: u8) -> Option<SurveyScore> {
        (value <= Self::MAX).then_some(SurveyScore(value))
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

/// A score outside 0..=10.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("survey score {0} is outside 0..=10")]
pub struct ScoreOutOfRange(pub i64);

impl TryFrom<i64> for SurveyScore {
    type Error = ScoreOutOfRange;

    fn try_from(value: i64) -> Result<Self, Self::Error> {
        u8::try_from(value).ok().and_then(SurveyScore::new).ok_or(ScoreOutOfRange(value))
    }
}

impl From<SurveyScore> for i64 {
    fn from(score: SurveyScore) -> i64 {
        i64::from(score.0)
    }
}

/// One answered (or unanswered) survey question of a call. The call's
/// agent, queue, topic and language are copied in so that satisfaction
/// reports need no join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyAnswer {
    /// The question's id in the survey configuration, e.g. "overall".
    pub question: String,
    /// `None` when the caller did not answer (timeout, invalid keys).
    pub value: Option<SurveyScore>,
    pub answered_at_ms: i64,
    pub agent: Option<String>,
    pub queue: Option<String>,
    pub topic: Option<String>,
    pub language: String,
}

stored_enum!(
    /// Where a callback request stands.
    CallbackState, "callback state" {
        Pending = "pending",
        Completed = "completed",
        Failed = "failed",
        Cancelled = "cancelled",
    }
);

/// A caller asked to be called back: the one row that keeps the number in
/// clear, until `purge_after_ms`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackRequest {
    pub queue: String,
    /// The number to call back; `None` once purged.
    pub number_clear: Option<String>,
    pub requested_at_ms: i64,
    /// After this instant [`crate::Store::purge_expired_numbers`] erases
    /// the number.
    pub purge_after_ms: i64,
    pub state: CallbackState,
}

impl fmt::Debug for CallbackRequest {
    // The number is personal data: never in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackRequest")
            .field("queue", &self.queue)
            .field("number_clear", &self.number_clear.as_ref().map(|_| "***"))
            .field("requested_at_ms", &self.requested_at_ms)
            .field("purge_after_ms", &self.purge_after_ms)
            .field("state", &self.state)
            .finish()
    }
}

/// Everything stored for one call, written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FinishedCall {
    pub record: CallRecord,
    pub details: CallDetails,
    pub events: Vec<CallEvent>,
    pub survey_answers: Vec<SurveyAnswer>,
    pub callback: Option<CallbackRequest>,
}

impl FinishedCall {
    pub fn call_id(&self) -> &str {
        &self.record.call_id
    }

    /// The stated disposition, or the one inferred from the end reason.
    pub fn disposition(&self) -> Disposition {
        self.details.disposition.unwrap_or_else(|| Disposition::infer(&self.record))
    }
}

impl From<CallRecord> for FinishedCall {
    fn from(record: CallRecord) -> Self {
        FinishedCall { record, ..FinishedCall::default() }
    }
}

/// A call in progress, as last reported by the engine: sent when the call
/// starts and again whenever the engine wants recovery to know more (queue
/// joined, agent answered). If the server dies before the call's
/// [`FinishedCall`] is journaled, start-up recovery closes the call from the
/// last of these as [`Disposition::Interrupted`].
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct CallStart {
    pub call_id: String,
    pub dialled: String,
    pub started_at_ms: i64,
    /// When this snapshot was taken: the end time recovery gives the call.
    pub at_ms: i64,
    pub answered_at_ms: Option<i64>,
    pub language: String,
    pub caller_pseudonym: Option<String>,
    pub dialplan_version: Option<String>,
    pub ivr_path: String,
    pub topic: Option<String>,
    pub queue: Option<String>,
    pub queued_at_ms: Option<i64>,
    pub agent: Option<String>,
    pub answered_by_agent_at_ms: Option<i64>,
}

impl CallStart {
    /// The record recovery writes for a call that never finished: its last
    /// known data, ended at the snapshot's time, `interrupted`, provisional.
    pub fn interrupted(&self) -> FinishedCall {
        let ended_at_ms = self.at_ms.max(self.started_at_ms);
        let wait_ms = self.queued_at_ms.map(|queued| self.answered_by_agent_at_ms.unwrap_or(ended_at_ms) - queued);
        FinishedCall {
            record: CallRecord {
                call_id: self.call_id.clone(),
                dialled: self.dialled.clone(),
                started_at_ms: self.started_at_ms,
                answered_at_ms: self.answered_at_ms,
                ended_at_ms,
                end_reason: "interrupted".to_owned(),
                language: self.language.clone(),
                ..CallRecord::default()
            },
            details: CallDetails {
                caller_pseudonym: self.caller_pseudonym.clone(),
                dialplan_version: self.dialplan_version.clone(),
                ivr_path: self.ivr_path.clone(),
                topic: self.topic.clone(),
                queue: self.queue.clone(),
                queued_at_ms: self.queued_at_ms,
                wait_ms,
                agent: self.agent.clone(),
                answered_by_agent_at_ms: self.answered_by_agent_at_ms,
                talk_ms: self.answered_by_agent_at_ms.map(|answered| ended_at_ms - answered),
                disposition: Some(Disposition::Interrupted),
                provisional: true,
                ..CallDetails::default()
            },
            ..FinishedCall::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_disposition_round_trips_through_its_stored_name() {
        for &disposition in Disposition::ALL {
            assert_eq!(disposition.as_str().parse(), Ok(disposition));
            let json = serde_json::to_string(&disposition).expect("serialises");
            assert_eq!(json, format!("\"{}\"", disposition.as_str()));
        }
        assert!("Answered".parse::<Disposition>().is_err());
        for &kind in CallEventKind::ALL {
            assert_eq!(kind.as_str().parse(), Ok(kind));
        }
        for &state in CallbackState::ALL {
            assert_eq!(state.as_str().parse(), Ok(state));
        }
    }

    #[test]
    fn a_v1_record_gets_its_disposition_from_the_end_reason() {
        let with = |end_reason: &str| FinishedCall::from(CallRecord { end_reason: end_reason.into(), ..CallRecord::default() });
        assert_eq!(with("rejected").disposition(), Disposition::Failed);
        assert_eq!(with("cancelled").disposition(), Disposition::AbandonedInIvr);
        assert_eq!(with("caller_hangup").disposition(), Disposition::CompletedInIvr);
        assert_eq!(with("shutdown").disposition(), Disposition::Interrupted);
        let stated = FinishedCall {
            details: CallDetails { disposition: Some(Disposition::Answered), ..CallDetails::default() },
            ..with("caller_hangup")
        };
        assert_eq!(stated.disposition(), Disposition::Answered);
    }

    #[test]
    fn survey_scores_are_zero_to_ten_and_checked_when_read_back() {
        assert_eq!(SurveyScore::new(10).map(SurveyScore::value), Some(10));
        assert_eq!(SurveyScore::new(11), None);
        assert_eq!(SurveyScore::try_from(-1), Err(ScoreOutOfRange(-1)));
        assert!(serde_json::from_str::<SurveyScore>("11").is_err());
        assert_eq!(serde_json::from_str::<SurveyScore>("7").ok(), SurveyScore::new(7));
    }

    #[test]
    fn sensitive_digits_are_masked_and_ivr_path_reads_like_the_dialplan() {
        assert_eq!(CallEvent::digits(1, 0, "12345678Z", true).detail, MASKED_DIGITS);
        assert_eq!(CallEvent::digits(1, 0, "2", false).detail, "2");
        let mut path = IvrPath::new();
        path.push("welcome", None).push("choose-language", Some("2")).push("main", Some("3")).push("health", None);
        assert_eq!(path.as_str(), "welcome>choose-language[2]>main[3]>health");
        assert_eq!(IvrPath::new().push("a>b[c]", Some("1x0#")).as_str(), "a_b_c_[10#]");
    }

    #[test]
    fn a_call_start_closes_as_interrupted_with_its_last_known_data() {
        let start = CallStart {
            call_id: "c1".into(),
            started_at_ms: 1_000,
            at_ms: 61_000,
            queue: Some("health".into()),
            queued_at_ms: Some(10_000),
            agent: Some("agent-7".into()),
            answered_by_agent_at_ms: Some(40_000),
            ..CallStart::default()
        };
        let closed = start.interrupted();
        assert_eq!(closed.record.ended_at_ms, 61_000);
        assert_eq!(closed.record.end_reason, "interrupted");
        assert_eq!(closed.disposition(), Disposition::Interrupted);
        assert_eq!(closed.details.wait_ms, Some(30_000));
        assert_eq!(closed.details.talk_ms, Some(21_000));
        assert!(closed.details.provisional);
    }

    #[test]
    fn callback_debug_never_shows_the_number() {
        let request = CallbackRequest {
            queue: "q".into(),
            number_clear: Some("+34600111222".into()),
            requested_at_ms: 0,
            purge_after_ms: 0,
            state: CallbackState::Pending,
        };
        assert!(!format!("{request:?}").contains("600111222"));
    }
}
