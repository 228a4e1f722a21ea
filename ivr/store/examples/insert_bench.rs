//! Insert throughput of the call-record store (issue 5's benchmark target).
//!
//! ```text
//! cargo run -p ivr-store --example insert_bench -- [sqlite|postgres] [CALLS]
//! ```
//!
//! For each backend it measures, on a fresh database:
//! 1. `Store::insert_finished` in batches of `MAX_BATCH` with v1-only
//!    records (the `calls` row alone);
//! 2. the same with full calls (row + 5 timeline events + 2 survey answers
//!    + a callback request: 9 rows a call);
//! 3. the whole writer path: `RecordSender` -> fsynced journal -> batched
//!    inserts, with a start marker and a full call per call, timed from the
//!    first send until everything is committed.
//!
//! SQLite uses a file under the system temp directory; PostgreSQL a
//! database `ivr_store_bench_<pid>` created and dropped through
//! `postgres://postgres@127.0.0.1:5432/postgres`.

use std::time::{Duration, Instant};

use ivr_store::{
    CallDetails, CallEvent, CallEventKind, CallRecord, CallStart, CallbackRequest, CallbackState, Disposition,
    FinishedCall, MAX_BATCH, RecordWriter, Store, SurveyAnswer, SurveyScore,
};
use sqlx::Executor;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn record(n: u64) -> CallRecord {
    let t0 = 1_795_000_000_000 + n as i64 * 1_000;
    CallRecord {
        call_id: format!("{n:032x}"),
        dialled: "012".to_owned(),
        started_at_ms: t0,
        answered_at_ms: Some(t0 + 250),
        ended_at_ms: t0 + 180_000,
        end_reason: "caller_hangup".to_owned(),
        sip_status: None,
        codec: Some("PCMA".to_owned()),
        language: "ca".to_owned(),
        digits_rfc4733: 3,
        digits_sip_info: 0,
        digits_inband: 0,
        rtp_packets_sent: 9_000,
        rtp_packets_received: 8_990,
        rtp_packets_lost: 10,
    }
}

fn full_call(n: u64) -> FinishedCall {
    let record = record(n);
    let t0 = record.started_at_ms;
    let answer = |question: &str, value: u8| SurveyAnswer {
        question: question.to_owned(),
        value: SurveyScore::new(value),
        answered_at_ms: t0 + 170_000,
        agent: Some("agent-042".to_owned()),
        queue: Some("salut".to_owned()),
        topic: Some("health".to_owned()),
        language: "ca".to_owned(),
    };
    FinishedCall {
        details: CallDetails {
            caller_pseudonym: Some(format!("{:032x}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15))),
            dialplan_version: Some("2026-11-01.3".to_owned()),
            ivr_path: "welcome>choose-language[2]>main[3]>health".to_owned(),
            topic: Some("health".to_owned()),
            queue: Some("salut".to_owned()),
            queued_at_ms: Some(t0 + 20_000),
            wait_ms: Some(15_000),
            agent: Some("agent-042".to_owned()),
            answered_by_agent_at_ms: Some(t0 + 35_000),
            talk_ms: Some(120_000),
            hold_ms: Some(0),
            wrap_up_ms: Some(30_000),
            disposition: Some(Disposition::Answered),
            ..CallDetails::default()
        },
        events: vec![
            CallEvent::new(1, t0 + 1_000, CallEventKind::Prompt, "welcome"),
            CallEvent::digits(2, t0 + 5_000, "2", false),
            CallEvent::digits(3, t0 + 9_000, "3", false),
            CallEvent::new(4, t0 + 20_000, CallEventKind::Queue, r#"{"event":"joined","queue":"salut"}"#),
            CallEvent::new(5, t0 + 35_000, CallEventKind::Queue, r#"{"event":"answered","agent":"agent-042"}"#),
        ],
        survey_answers: vec![answer("overall", 9), answer("resolved", 10)],
        callback: Some(CallbackRequest {
            queue: "salut".to_owned(),
            number_clear: Some(format!("+34600{:06}", n % 1_000_000)),
            requested_at_ms: t0 + 30_000,
            purge_after_ms: t0 + 7 * 86_400_000,
            state: CallbackState::Pending,
        }),
        record,
    }
}

fn rate(calls: u64, elapsed: Duration) -> String {
    format!("{calls} calls in {:.2} s = {:.0} calls/s", elapsed.as_secs_f64(), calls as f64 / elapsed.as_secs_f64())
}

async fn bench(url: &str, calls: u64, journal_dir: &std::path::Path) -> anyhow::Result<()> {
    let store = Store::connect(url).await?;

    let started = Instant::now();
    for chunk in (0..calls).collect::<Vec<_>>().chunks(MAX_BATCH) {
        let batch: Vec<FinishedCall> = chunk.iter().map(|&n| FinishedCall::from(record(n))).collect();
        store.insert_finished(&batch).await?;
    }
    println!("  v1 records, batches of {MAX_BATCH}:          {}", rate(calls, started.elapsed()));

    let started = Instant::now();
    for chunk in (calls..2 * calls).collect::<Vec<_>>().chunks(MAX_BATCH) {
        let batch: Vec<FinishedCall> = chunk.iter().map(|&n| full_call(n)).collect();
        store.insert_finished(&batch).await?;
    }
    println!("  full calls (9 rows), batches of {MAX_BATCH}: {}", rate(calls, started.elapsed()));

    let (sender, writer, _) = RecordWriter::open(store.clone(), journal_dir, 65_536).await?;
    let started = Instant::now();
    for n in 2 * calls..3 * calls {
        let call = full_call(n);
        let start = CallStart {
            call_id: call.record.call_id.clone(),
            started_at_ms: call.record.started_at_ms,
            at_ms: call.record.started_at_ms,
            ..CallStart::default()
        };
        let mut start = start;
        while let Err(back) = sender.call_started(start) {
            start = *back;
            tokio::task::yield_now().await;
        }
        let mut call = call;
        while let Err(back) = sender.try_send_finished(call) {
            call = *back;
            tokio::task::yield_now().await;
        }
    }
    drop(sender);
    let report = writer.await?;
    println!("  writer + fsynced journal, full calls:   {}", rate(report.written, started.elapsed()));
    anyhow::ensure!(report.written == calls && report.lost == 0, "writer lost records: {report:?}");
    anyhow::ensure!(store.count_calls().await? == 3 * calls as i64, "not every call stored");
    store.close().await;
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let backend = args.next().unwrap_or_else(|| "sqlite".to_owned());
    let calls: u64 = args.next().map(|n| n.parse()).transpose()?.unwrap_or(20_000);
    let tmp = std::env::temp_dir().join(format!("ivr-store-bench-{}", std::process::id()));
    let journal_dir = tmp.join("journal");
    println!("{backend}: {calls} calls per run");
    match backend.as_str() {
        "sqlite" => {
            let url = format!("sqlite://{}/bench.db", tmp.display());
            let outcome = bench(&url, calls, &journal_dir).await;
            let _ = std::fs::remove_dir_all(&tmp);
            outcome
        }
        "postgres" => {
            sqlx::any::install_default_drivers();
            let admin = sqlx::AnyPool::connect(PG_ADMIN_URL).await?;
            let name = format!("ivr_store_bench_{}", std::process::id());
            admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await?;
            let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
            let outcome = bench(&url, calls, &journal_dir).await;
            admin.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await?;
            let _ = std::fs::remove_dir_all(&tmp);
            outcome
        }
        other => anyhow::bail!("unknown backend {other:?}: sqlite or postgres"),
    }
}
