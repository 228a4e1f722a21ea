//! The call record: what is stored, and what storing it twice does.

use ivr_store::{
    CallDetails, CallEvent, CallEventKind, CallRecord, CallbackRequest, CallbackState, Disposition, FinishedCall,
    Store, SurveyAnswer, SurveyScore,
};

pub(crate) fn record(n: u32) -> CallRecord {
    CallRecord {
        call_id: format!("{n:032x}"),
        dialled: "012".to_owned(),
        started_at_ms: 1_795_000_000_000 + i64::from(n) * 1_000,
        answered_at_ms: Some(1_795_000_000_250 + i64::from(n) * 1_000),
        ended_at_ms: 1_795_000_060_000 + i64::from(n) * 1_000,
        end_reason: "caller_hangup".to_owned(),
        sip_status: None,
        codec: Some("PCMU".to_owned()),
        language: "ca".to_owned(),
        digits_rfc4733: 3,
        digits_sip_info: 0,
        digits_inband: 1,
        rtp_packets_sent: 3_000,
        rtp_packets_received: 2_990,
        rtp_packets_lost: 10,
    }
}

pub(crate) async fn migrations_apply_twice(store: Store, url: String) {
    store.insert_calls(&[record(1)]).await.expect("insert");
    let again = Store::connect(&url).await.expect("second connect re-runs migrations");
    assert_eq!(again.count_calls().await.expect("count"), 1, "data survives");
    again.close().await;
}

pub(crate) async fn every_field_round_trips(store: Store, _url: String) {
    let answered = CallRecord {
        call_id: "9f86d081884c7d659a2feaa0c55ad015".to_owned(),
        // Extremes of every integer column, and non-ASCII text.
        started_at_ms: i64::MIN,
        answered_at_ms: Some(i64::MAX),
        ended_at_ms: 0,
        dialled: "012·català".to_owned(),
        digits_rfc4733: i64::MAX,
        rtp_packets_lost: -1,
        ..record(2)
    };
    let rejected = CallRecord {
        call_id: "a3f1c0de00000000000000000000beef".to_owned(),
        answered_at_ms: None,
        end_reason: "rejected".to_owned(),
        sip_status: Some(488),
        codec: None,
        ..record(3)
    };
    store.insert_calls(&[answered.clone(), rejected.clone()]).await.expect("insert");
    assert_eq!(store.call(&answered.call_id).await.expect("read"), Some(answered));
    assert_eq!(store.call(&rejected.call_id).await.expect("read"), Some(rejected));
    assert_eq!(store.call("no-such-call").await.expect("read"), None);
}

pub(crate) async fn reinsert_is_a_no_op(store: Store, _url: String) {
    let first = record(4);
    store.insert_calls(std::slice::from_ref(&first)).await.expect("insert");
    let changed = CallRecord { end_reason: "shutdown".to_owned(), ..first.clone() };
    store.insert_calls(&[changed, record(5)]).await.expect("re-insert with a new record");
    assert_eq!(store.count_calls().await.expect("count"), 2);
    assert_eq!(store.call(&first.call_id).await.expect("read"), Some(first), "first write wins");
}

pub(crate) async fn a_thousand_records_in_one_call(store: Store, _url: String) {
    let records: Vec<_> = (0..1_000).map(record).collect();
    store.insert_calls(&records).await.expect("batch insert");
    assert_eq!(store.count_calls().await.expect("count"), 1_000);
    assert_eq!(store.call(&records[999].call_id).await.expect("read"), Some(records[999].clone()));
    store.insert_calls(&[]).await.expect("an empty batch is fine");
}

/// A call that went through the IVR, a queue and an agent, with a survey
/// and a callback request: every table gets rows.
pub(crate) fn full_call(n: u32) -> FinishedCall {
    let base = record(n);
    let t0 = base.started_at_ms;
    FinishedCall {
        details: CallDetails {
            caller_pseudonym: Some(format!("{:032x}", u64::from(n) * 7919)),
            dialplan_version: Some("2026-11-01.3".to_owned()),
            ivr_path: "welcome>choose-language[2]>main[3]>health".to_owned(),
            topic: Some("health".to_owned()),
            queue: Some("salut".to_owned()),
            queued_at_ms: Some(t0 + 20_000),
            wait_ms: Some(15_000),
            agent: Some("agent-042".to_owned()),
            answered_by_agent_at_ms: Some(t0 + 35_000),
            talk_ms: Some(20_000),
            hold_ms: Some(2_000),
            wrap_up_ms: Some(30_000),
            disposition: Some(Disposition::Answered),
            failure_sip_status: None,
            message_recording: None,
            provisional: false,
        },
        events: vec![
            CallEvent::new(1, t0 + 1_000, CallEventKind::Prompt, "welcome"),
            CallEvent::digits(2, t0 + 5_000, "2", false),
            CallEvent::digits(3, t0 + 9_000, "12345678Z", true),
            CallEvent::new(4, t0 + 20_000, CallEventKind::Queue, r#"{"event":"joined","queue":"salut"}"#),
            CallEvent::new(5, t0 + 35_000, CallEventKind::Queue, r#"{"event":"answered","agent":"agent-042"}"#),
        ],
        survey_answers: vec![
            survey_answer("overall", Some(9), t0 + 58_000),
            survey_answer("resolved", None, t0 + 59_000),
        ],
        callback: Some(CallbackRequest {
            queue: "salut".to_owned(),
            number_clear: Some(format!("+34600{n:06}")),
            requested_at_ms: t0 + 30_000,
            purge_after_ms: t0 + 7 * 86_400_000,
            state: CallbackState::Pending,
        }),
        record: base,
    }
}

fn survey_answer(question: &str, value: Option<u8>, at_ms: i64) -> SurveyAnswer {
    SurveyAnswer {
        question: question.to_owned(),
        value: value.map(|v| SurveyScore::new(v).expect("0..=10")),
        answered_at_ms: at_ms,
        agent: Some("agent-042".to_owned()),
        queue: Some("salut".to_owned()),
        topic: Some("health".to_owned()),
        language: "ca".to_owned(),
    }
}

pub(crate) async fn count(store_url: &str, sql: &str) -> i64 {
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(store_url).await.expect("raw pool");
    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&pool).await.expect(sql);
    pool.close().await;
    n
}

pub(crate) async fn migrate_is_idempotent_and_reports_the_schema_version(store: Store, _url: String) {
    let version = store.migrate().await.expect("migrate again");
    assert!(version >= 2, "schema v{version}: the full call record is version 2");
    assert_eq!(store.migrate().await.expect("and again"), version);
    store.insert_finished(&[full_call(1)]).await.expect("the schema takes a full call");
}

pub(crate) async fn a_full_call_round_trips_with_its_timeline_answers_and_callback(store: Store, _url: String) {
    let call = full_call(30);
    store.insert_finished(std::slice::from_ref(&call)).await.expect("insert");
    let stored = store.finished_call(call.call_id()).await.expect("read").expect("stored");
    assert_eq!(stored, call);
    assert_eq!(stored.events[2].detail, ivr_store::MASKED_DIGITS, "sensitive digits never stored");

    // A v1 record (what the engine sends today) gets an inferred disposition.
    let rejected = CallRecord { end_reason: "rejected".to_owned(), sip_status: Some(503), ..record(31) };
    store.insert_calls(std::slice::from_ref(&rejected)).await.expect("insert v1");
    let stored = store.finished_call(&rejected.call_id).await.expect("read").expect("stored");
    assert_eq!(stored.details.disposition, Some(Disposition::Failed));
    assert_eq!((stored.events.len(), stored.survey_answers.len(), stored.callback), (0, 0, None));
}

pub(crate) async fn a_batch_bound_ahead_stores_what_insert_finished_stores(store: Store, _url: String) {
    let calls = vec![full_call(40), full_call(41)];
    // Bound on another thread, as the simulated year's binding thread does.
    let binder = store.clone();
    let to_bind = calls.clone();
    let bound = std::thread::spawn(move || binder.bind_batch(to_bind)).join().expect("binding thread");
    assert_eq!(bound.calls(), &calls[..]);
    let given_back = store.insert_bound(bound).await.expect("insert bound");
    assert_eq!(given_back, calls);
    for call in &calls {
        assert_eq!(store.finished_call(call.call_id()).await.expect("read").as_ref(), Some(call));
    }
    // Bound again and stored again: nothing twice, like insert_finished.
    store.insert_bound(store.bind_batch(calls.clone())).await.expect("insert again");
    let report_rows = store.count_calls().await.expect("count");
    assert_eq!(report_rows, 2);
    assert!(store.insert_bound(store.bind_batch(Vec::new())).await.expect("an empty batch").is_empty());
}

pub(crate) async fn a_final_record_replaces_a_provisional_one_and_never_the_reverse(store: Store, _url: String) {
    let final_call = full_call(40);
    let start = ivr_store::CallStart {
        call_id: final_call.call_id().to_owned(),
        dialled: "012".to_owned(),
        started_at_ms: final_call.record.started_at_ms,
        at_ms: final_call.record.started_at_ms + 25_000,
        language: "ca".to_owned(),
        queue: Some("salut".to_owned()),
        ..ivr_store::CallStart::default()
    };
    let interrupted = start.interrupted();
    store.insert_finished(std::slice::from_ref(&interrupted)).await.expect("provisional");
    let stored = store.finished_call(final_call.call_id()).await.expect("read").expect("stored");
    assert_eq!(stored.details.disposition, Some(Disposition::Interrupted));
    assert!(stored.details.provisional);

    store.insert_finished(std::slice::from_ref(&final_call)).await.expect("final replaces provisional");
    assert_eq!(store.finished_call(final_call.call_id()).await.expect("read"), Some(final_call.clone()));

    store.insert_finished(&[interrupted]).await.expect("a late provisional record is a no-op");
    let other_final = FinishedCall { details: CallDetails { agent: Some("someone-else".to_owned()), ..final_call.details.clone() }, ..final_call.clone() };
    store.insert_finished(&[other_final]).await.expect("a second final record is a no-op");
    assert_eq!(store.finished_call(final_call.call_id()).await.expect("read"), Some(final_call), "first final wins");
    assert_eq!(store.count_calls().await.expect("count"), 1);

    // The same rules inside one batch (one multi-row statement per table).
    let second = full_call(41);
    let second_interrupted = ivr_store::CallStart { call_id: second.call_id().to_owned(), ..start.clone() }.interrupted();
    let second_other =
        FinishedCall { details: CallDetails { agent: Some("late".to_owned()), ..second.details.clone() }, ..second.clone() };
    store
        .insert_finished(&[second_interrupted.clone(), second.clone(), second_other, second_interrupted, second.clone()])
        .await
        .expect("one batch with the same call five times");
    assert_eq!(store.finished_call(second.call_id()).await.expect("read"), Some(second), "the first final record");
    assert_eq!(store.count_calls().await.expect("count"), 2);
}

pub(crate) async fn replayed_events_answers_and_callbacks_are_not_duplicated(store: Store, url: String) {
    let calls: Vec<_> = (50..60).map(full_call).collect();
    store.insert_finished(&calls).await.expect("insert");
    store.insert_finished(&calls).await.expect("replay the same batch");
    store.insert_finished(&calls[3..5]).await.expect("replay part of it");
    store.insert_survey_answers(calls[0].call_id(), &calls[0].survey_answers).await.expect("answers again");
    assert_eq!(store.count_calls().await.expect("count"), 10);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM call_events").await, 50);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM survey_answers").await, 20);
    assert_eq!(count(&url, "SELECT COUNT(*) FROM callback_requests").await, 10);

    // An answer given after the record was written is added once.
    let late = survey_answer("recommend", Some(10), calls[0].record.ended_at_ms + 1);
    store.insert_survey_answers(calls[0].call_id(), std::slice::from_ref(&late)).await.expect("late answer");
    store.insert_survey_answers(calls[0].call_id(), std::slice::from_ref(&late)).await.expect("late answer again");
    let stored = store.finished_call(calls[0].call_id()).await.expect("read").expect("stored");
    assert_eq!(stored.survey_answers.len(), 3);
    assert_eq!(stored.survey_answers[2], late);
}
