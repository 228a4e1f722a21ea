//! The hourly summaries (migration 0005) against the records: reports read
//! from the summaries equal reports read from the records alone, for every
//! grouping, whole and cut ranges, a time zone with a half-hour offset, one
//! survey question, after replays, provisional records replaced by final
//! ones, late survey answers, and a rebuild from the records.

use ivr_store::report::{GroupBy, ReportQuery, ReportSource, report_from};
use ivr_store::{CallDetails, CallRecord, Disposition, FinishedCall, Store, SurveyAnswer, SurveyScore};
use jiff::Timestamp;
use jiff::tz::{Offset, TimeZone};

use crate::fixture::at;

const QUEUES: [Option<&str>; 3] = [Some("general"), Some("salut"), None];
const TOPICS: [Option<&str>; 3] = [Some("health"), Some("taxes"), None];
const LANGUAGES: [&str; 3] = ["ca", "es", "en"];
const AGENTS: [Option<&str>; 4] = [Some("a1"), Some("a2"), Some("a3"), None];
const DISPOSITIONS: [Disposition; 7] = [
    Disposition::CompletedInIvr,
    Disposition::AbandonedInIvr,
    Disposition::OutOfHours,
    Disposition::Answered,
    Disposition::AbandonedInQueue,
    Disposition::CalledBack,
    Disposition::Failed,
];

/// `n` seeded calls over six days around the October clock change, every
/// outcome, waits around the 5 s and 20 s thresholds, some survey answers.
fn calls(seed: u64, n: usize, id_prefix: &str) -> Vec<FinishedCall> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let start = at("2026-10-22T00:00+02:00");
    (0..n)
        .map(|i| {
            let started_at_ms = start + rng.i64(0..6 * 86_400_000);
            let disposition = DISPOSITIONS[rng.usize(..DISPOSITIONS.len())];
            let queued = matches!(
                disposition,
                Disposition::Answered | Disposition::AbandonedInQueue | Disposition::CalledBack
            ) || rng.u8(..10) == 0;
            let wait_ms = queued.then(|| [0, 4_999, 5_000, 20_000, 20_001][rng.usize(..5)] + rng.i64(0..3) * 7_000);
            let answered = disposition == Disposition::Answered || (queued && rng.u8(..8) == 0);
            let agent = if answered { AGENTS[rng.usize(..AGENTS.len())] } else { None };
            let id = format!("{id_prefix}{i:05}");
            let survey_answers = if answered && rng.bool() {
                ["overall", "agent"]
                    .into_iter()
                    .map(|question| SurveyAnswer {
                        question: question.to_owned(),
                        value: (rng.u8(..6) > 0).then(|| SurveyScore::try_from(rng.i64(0..=10)).expect("0..=10")),
                        answered_at_ms: started_at_ms + rng.i64(60_000..7_200_000),
                        agent: agent.map(str::to_owned),
                        queue: Some("general".to_owned()),
                        topic: Some("health".to_owned()),
                        language: "ca".to_owned(),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            FinishedCall {
                record: CallRecord {
                    call_id: id,
                    dialled: "012".to_owned(),
                    started_at_ms,
                    ended_at_ms: started_at_ms + 120_000,
                    end_reason: "caller_hangup".to_owned(),
                    language: LANGUAGES[rng.usize(..LANGUAGES.len())].to_owned(),
                    ..CallRecord::default()
                },
                details: CallDetails {
                    topic: TOPICS[rng.usize(..TOPICS.len())].map(str::to_owned),
                    queue: if queued { QUEUES[rng.usize(..QUEUES.len())].map(str::to_owned) } else { None },
                    queued_at_ms: queued.then_some(started_at_ms + 10_000),
                    wait_ms,
                    agent: agent.map(str::to_owned),
                    answered_by_agent_at_ms: answered.then_some(started_at_ms + 30_000),
                    talk_ms: answered.then(|| rng.i64(10_000..600_000)),
                    hold_ms: (answered && rng.bool()).then(|| rng.i64(0..60_000)),
                    wrap_up_ms: answered.then(|| rng.i64(0..60_000)),
                    disposition: Some(disposition),
                    ..CallDetails::default()
                },
                events: Vec::new(),
                survey_answers,
                callback: None,
            }
        })
        .collect()
}

/// The final record's provisional forerunner, as start-up recovery writes
/// it: interrupted, at another hour, without agent or answers.
fn provisional(call: &FinishedCall) -> FinishedCall {
    let mut early = call.clone();
    early.record.started_at_ms -= 3 * 3_600_000;
    early.details = CallDetails {
        queue: call.details.queue.clone(),
        queued_at_ms: call.details.queued_at_ms,
        wait_ms: Some(90_000),
        disposition: Some(Disposition::Interrupted),
        provisional: true,
        ..CallDetails::default()
    };
    early.survey_answers.clear();
    early
}

fn ts(local: &str) -> Timestamp {
    Timestamp::from_millisecond(at(local)).expect("valid time")
}

/// Every grouping over whole local days, a range cut mid-hour, and the
/// same in a time zone at +05:30, with and without a question filter:
/// summaries and records agree.
async fn assert_summary_matches_records(store: &Store) {
    let whole = (ts("2026-10-22T00:00+02:00"), ts("2026-10-28T00:00+01:00"));
    let cut = (ts("2026-10-23T07:13+02:00"), ts("2026-10-26T18:41+01:00"));
    let half_hour = TimeZone::fixed(Offset::from_seconds(5 * 3600 + 1800).expect("valid offset"));
    for by in GroupBy::ALL {
        for (range, zone) in [(whole, None), (cut, None), (whole, Some(&half_hour))] {
            for question in [None, Some("overall")] {
                let mut query = ReportQuery::new(range.0, range.1, by);
                if let Some(zone) = zone {
                    query.time_zone = zone.clone();
                }
                query.question = question.map(str::to_owned);
                let summary = report_from(store, &query, ReportSource::Summary).await.expect("summary report");
                let records = report_from(store, &query, ReportSource::Records).await.expect("records report");
                assert_eq!(summary, records, "{by} over {range:?} in {zone:?}, question {question:?}");
                assert!(summary.total.offered > 0, "{by}: the fixture has calls in range");
            }
        }
    }
}

pub async fn summary_reports_equal_record_reports(store: Store) {
    let batch = calls(7, 1_500, "s");
    for chunk in batch.chunks(256) {
        store.insert_finished(chunk).await.expect("batch inserts");
    }
    assert_summary_matches_records(&store).await;
}

pub async fn replays_provisional_records_and_late_answers_keep_the_summary_equal(store: Store) {
    let batch = calls(11, 600, "r");
    // Start-up recovery closed the first 100 calls as provisional...
    let early: Vec<FinishedCall> = batch[..100].iter().map(provisional).collect();
    store.insert_finished(&early).await.expect("provisional records insert");
    // ...the journal replays everything, some of it twice, in one batch and
    // in later ones, with a provisional record arriving again after its
    // final one.
    let mut replay: Vec<FinishedCall> = batch[..300].to_vec();
    replay.extend(batch[250..300].iter().cloned());
    replay.push(provisional(&batch[150]));
    store.insert_finished(&replay).await.expect("first replay inserts");
    store.insert_finished(&batch[200..]).await.expect("second replay inserts");
    store.insert_finished(&batch).await.expect("the whole batch again");
    // Answers given after the call, one of them repeated.
    let late = SurveyAnswer {
        question: "overall".to_owned(),
        value: Some(SurveyScore::try_from(3).expect("0..=10")),
        answered_at_ms: batch[5].record.started_at_ms + 600_000,
        agent: Some("a9".to_owned()),
        queue: None,
        topic: Some("taxes".to_owned()),
        language: "es".to_owned(),
    };
    let id = batch[5].call_id();
    let late = vec![late.clone(), SurveyAnswer { question: "extra".to_owned(), ..late }];
    store.insert_survey_answers(id, &late).await.expect("late answers insert");
    store.insert_survey_answers(id, &late).await.expect("late answers again");
    assert_eq!(store.count_calls().await.expect("count"), 600);
    assert_summary_matches_records(&store).await;

    // A rebuild from the records gives the summary the writer kept.
    let query = ReportQuery::new(ts("2026-10-22T00:00+02:00"), ts("2026-10-28T00:00+01:00"), GroupBy::Hour);
    let kept = report_from(&store, &query, ReportSource::Summary).await.expect("summary report");
    store.rebuild_report_summary().await.expect("rebuild");
    let rebuilt = report_from(&store, &query, ReportSource::Summary).await.expect("summary report");
    assert_eq!(kept, rebuilt);
}

/// A database with records from before migration 0005 (simulated by
/// emptying the summaries and marking them not filled) gets its summaries
/// filled at the next start-up.
#[tokio::test]
async fn start_up_fills_the_summaries_from_older_records_once() {
    let dir = std::env::temp_dir().join(format!("ivr-store-backfill-{}", crate::unique_suffix()));
    let url = format!("sqlite://{}/calls.db", dir.display());
    let store = Store::connect(&url).await.expect("SQLite connects");
    store.insert_finished(&calls(3, 400, "b")).await.expect("calls insert");
    store.close().await;

    let raw = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.expect("raw connection");
    for sql in [
        "DELETE FROM call_summary_hourly",
        "DELETE FROM survey_summary_hourly",
        "UPDATE report_summary_state SET backfilled = 0",
    ] {
        sqlx::query(sql).execute(&raw).await.expect("summary emptied");
    }
    raw.close().await;

    let store = Store::connect(&url).await.expect("SQLite reconnects");
    assert_summary_matches_records(&store).await;
    store.close().await;
    let _ = std::fs::remove_dir_all(dir);
}
