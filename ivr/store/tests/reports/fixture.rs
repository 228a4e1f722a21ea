//! Fifteen calls with known outcomes, and the agents' shifts.
//!
//! In the report range (Saturday 2026-10-24 and Sunday 2026-10-25, local):
//!
//! | call | local start          | outcome                         | wait | agent | talk/hold/wrap s | scores |
//! |------|----------------------|---------------------------------|------|-------|------------------|--------|
//! | c01  | 24th 10:00 +02       | completed in IVR (health, ca)   |      |       |                  |        |
//! | c02  | 24th 10:15 +02       | abandoned in IVR (no topic, es) |      |       |                  |        |
//! | c03  | 24th 10:30 +02       | answered (health, ca)           | 12 s | a1    | 200/20/30        | 9, 10  |
//! | c04  | 24th 10:45 +02       | answered (taxes, es)            | 25 s | a2    | 100/0/20         | 6      |
//! | c05  | 24th 11:05 +02       | abandoned in queue (taxes, ca)  | 3 s (short)  |  |                  |        |
//! | c06  | 24th 11:20 +02       | abandoned in queue (health, ca) | 15 s |       |                  |        |
//! | c07  | 24th 11:40 +02       | abandoned in queue (health, es) | 45 s |       |                  |        |
//! | c08  | 25th 02:10 **+02**   | out of hours (no topic, ca)     |      |       |                  |        |
//! | c09  | 25th 02:20 **+01**   | out of hours (no topic, en)     |      |       |                  |        |
//! | c10  | 25th 09:00 +01       | answered (health, ca)           | 20 s | a1    | 300/60/40        | 10, unanswered |
//! | c11  | 25th 09:30 +01       | answered (transport, ca)        | 21 s | a1    | 120/0/20         | 8      |
//! | c12  | 25th 09:45 +01       | called back (housing, es)       | 30 s |       |                  |        |
//! | c13  | 25th 23:59:50 +01    | answered after midnight (health, ca) | 30 s | a2 | 60/0/10         |        |
//!
//! Outside it, both in October: c00 (23rd 23:59:59 +02) and c14 (26th
//! 00:00:05 +01), completed in IVR (health, ca).
//!
//! Totals over the range: offered 13; IVR completed 1, abandoned 1; out of
//! hours 2; queued 9 (c03-c07, c10-c13); answered 5, 2 within 20 s (c03, c10
//! at exactly 20 s): SL 2/5 = 0.4; abandoned 3, short 1 (c05), 1 within 20 s
//! (c06): SL2 = (2 + 1) / (5 + 3 − 1) = 3/7; abandon rate (3 − 1) / (9 − 1)
//! = 0.25; called back 1; ASA (12+25+20+21+30)/5 = 21.6 s; talk 780 s, hold
//! 80 s, wrap 120 s: AHT 980/5 = 196 s, ACW 24 s; longest wait 45 s; scores
//! 9, 10, 6, 10, 8: 5 scores, mean 8.6.
//!
//! Shifts (`ready`): a1 24th 10:00-12:00 +02 and 25th 09:00-11:00 +01 (then
//! a break 11:00-11:30), a2 24th 10:00-12:00 +02 and 25th 23:00 +01 to 26th
//! 00:30 (cut at the range's end: 1 h). Staffed a1 4 h, a2 3 h, 7 h in all;
//! occupancy 980 s / 25,200 s.

use ivr_store::report::{StaffingInterval, StaffingState};
use ivr_store::{
    CallDetails, CallRecord, Disposition, FinishedCall, Store, SurveyAnswer, SurveyScore,
};
use jiff::Zoned;

/// Epoch ms of a local Madrid time with its offset, e.g.
/// `2026-10-25T02:10+02:00`.
pub fn at(local: &str) -> i64 {
    format!("{local}[Europe/Madrid]").parse::<Zoned>().expect("valid fixture time").timestamp().as_millisecond()
}

/// A pseudonym that must never appear in any report or export.
pub const PSEUDONYM_PREFIX: &str = "feedc0ffee";

struct Queued {
    wait_s: i64,
    agent: Option<&'static str>,
    talk_hold_wrap_s: (i64, i64, i64),
    scores: &'static [Option<u8>],
}

fn call(
    id: &str,
    start: &str,
    disposition: Disposition,
    topic: Option<&str>,
    language: &str,
    queued: Option<Queued>,
) -> FinishedCall {
    let started_at_ms = at(start);
    let mut details = CallDetails {
        caller_pseudonym: Some(format!("{PSEUDONYM_PREFIX}{id}")),
        ivr_path: "welcome>main[1]".to_owned(),
        topic: topic.map(str::to_owned),
        disposition: Some(disposition),
        ..CallDetails::default()
    };
    let mut ended_at_ms = started_at_ms + 30_000;
    let mut survey_answers = Vec::new();
    if let Some(q) = queued {
        let queued_at = started_at_ms + 10_000;
        let wait_ms = q.wait_s * 1_000;
        details.queue = Some("general".to_owned());
        details.queued_at_ms = Some(queued_at);
        details.wait_ms = Some(wait_ms);
        ended_at_ms = queued_at + wait_ms;
        if let Some(agent) = q.agent {
            let (talk, hold, wrap) = q.talk_hold_wrap_s;
            details.agent = Some(agent.to_owned());
            details.answered_by_agent_at_ms = Some(queued_at + wait_ms);
            details.talk_ms = Some(talk * 1_000);
            details.hold_ms = Some(hold * 1_000);
            details.wrap_up_ms = Some(wrap * 1_000);
            ended_at_ms += (talk + hold) * 1_000;
        }
        for (n, score) in q.scores.iter().enumerate() {
            survey_answers.push(SurveyAnswer {
                question: ["overall", "resolved"][n].to_owned(),
                value: score.and_then(SurveyScore::new),
                answered_at_ms: ended_at_ms + 5_000 * (n as i64 + 1),
                agent: details.agent.clone(),
                queue: details.queue.clone(),
                topic: details.topic.clone(),
                language: language.to_owned(),
            });
        }
    }
    FinishedCall {
        record: CallRecord {
            call_id: id.to_owned(),
            dialled: "012".to_owned(),
            started_at_ms,
            answered_at_ms: Some(started_at_ms + 200),
            ended_at_ms,
            end_reason: "caller_hangup".to_owned(),
            language: language.to_owned(),
            ..CallRecord::default()
        },
        details,
        survey_answers,
        ..FinishedCall::default()
    }
}

fn answered(wait_s: i64, agent: &'static str, thw: (i64, i64, i64), scores: &'static [Option<u8>]) -> Option<Queued> {
    Some(Queued { wait_s, agent: Some(agent), talk_hold_wrap_s: thw, scores })
}

fn waited(wait_s: i64) -> Option<Queued> {
    Some(Queued { wait_s, agent: None, talk_hold_wrap_s: (0, 0, 0), scores: &[] })
}

pub fn calls() -> Vec<FinishedCall> {
    use Disposition::*;
    let health = Some("health");
    vec![
        call("c00", "2026-10-23T23:59:59+02:00", CompletedInIvr, health, "ca", None),
        call("c01", "2026-10-24T10:00+02:00", CompletedInIvr, health, "ca", None),
        call("c02", "2026-10-24T10:15+02:00", AbandonedInIvr, None, "es", None),
        call("c03", "2026-10-24T10:30+02:00", Answered, health, "ca", answered(12, "a1", (200, 20, 30), &[Some(9), Some(10)])),
        call("c04", "2026-10-24T10:45+02:00", Answered, Some("taxes"), "es", answered(25, "a2", (100, 0, 20), &[Some(6)])),
        call("c05", "2026-10-24T11:05+02:00", AbandonedInQueue, Some("taxes"), "ca", waited(3)),
        call("c06", "2026-10-24T11:20+02:00", AbandonedInQueue, health, "ca", waited(15)),
        call("c07", "2026-10-24T11:40+02:00", AbandonedInQueue, health, "es", waited(45)),
        call("c08", "2026-10-25T02:10+02:00", OutOfHours, None, "ca", None),
        call("c09", "2026-10-25T02:20+01:00", OutOfHours, None, "en", None),
        call("c10", "2026-10-25T09:00+01:00", Answered, health, "ca", answered(20, "a1", (300, 60, 40), &[Some(10), None])),
        call("c11", "2026-10-25T09:30+01:00", Answered, Some("transport"), "ca", answered(21, "a1", (120, 0, 20), &[Some(8)])),
        call("c12", "2026-10-25T09:45+01:00", CalledBack, Some("housing"), "es", waited(30)),
        call("c13", "2026-10-25T23:59:50+01:00", Answered, health, "ca", answered(30, "a2", (60, 0, 10), &[])),
        call("c14", "2026-10-26T00:00:05+01:00", CompletedInIvr, health, "ca", None),
    ]
}

pub fn shifts() -> Vec<StaffingInterval> {
    let shift = |agent: &str, from: &str, to: &str, state| StaffingInterval {
        agent: agent.to_owned(),
        from_ms: at(from),
        to_ms: at(to),
        state,
    };
    vec![
        shift("a1", "2026-10-24T10:00+02:00", "2026-10-24T12:00+02:00", StaffingState::Ready),
        shift("a1", "2026-10-25T09:00+01:00", "2026-10-25T11:00+01:00", StaffingState::Ready),
        shift("a1", "2026-10-25T11:00+01:00", "2026-10-25T11:30+01:00", StaffingState::Break),
        shift("a2", "2026-10-24T10:00+02:00", "2026-10-24T12:00+02:00", StaffingState::Ready),
        shift("a2", "2026-10-25T23:00+01:00", "2026-10-26T00:30+01:00", StaffingState::Ready),
    ]
}

/// Stores the calls and, with `staffing`, the report schema and the shifts.
pub async fn load(store: &Store, staffing: bool) {
    store.insert_finished(&calls()).await.expect("fixture calls insert");
    if staffing {
        store.apply_report_schema().await.expect("report schema applies");
        store.insert_staffing(&shifts()).await.expect("fixture shifts insert");
    }
}
