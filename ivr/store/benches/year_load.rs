//! A year of the line's calls: load 2 million synthetic calls with their
//! timelines, survey answers and agents' shifts, then time the yearly report
//! by day (issue 5's target: load under a minute, report under a second on
//! SQLite).
//!
//! ```text
//! cargo bench -p ivr-store --bench year_load -- [sqlite|postgres|both] [CALLS] [RUNS]
//! # or, without an optimised build (slower SQLite, same queries):
//! cargo test -p ivr-store --bench year_load -- sqlite 2000000 5
//! ```
//!
//! Defaults: both backends, 2,000,000 calls, 5 report runs. Prints the load
//! time and the median (and min, max) of the report runs, plus one run each
//! by hour, week, agent and topic. SQLite uses a file under the system temp
//! directory; PostgreSQL a database `ivr_store_year_<pid>` created and
//! dropped through `postgres://postgres@127.0.0.1:5432/postgres`.
//!
//! The synthetic year (seeded, so every run loads the same calls): volume
//! by weekday (Sunday a third of a Monday) and by hour (nothing from 22:00 to
//! 07:00 but out-of-hours calls), 35 % served in the IVR, 8 % abandoned in
//! it, 54 % queued, of which 85 % answered (exponential waits, mean 25 s),
//! 10 % abandoned, 3 % called back; talk around 3 minutes, 30 % of answered
//! calls surveyed with one to three questions; 60 agents on 8-hour shifts;
//! 4 to 8 timeline events a call.

use std::time::{Duration, Instant};

use ivr_store::report::{GroupBy, ReportQuery, StaffingInterval, StaffingState, report};
use ivr_store::{
    CallDetails, CallEvent, CallEventKind, CallRecord, Disposition, FinishedCall, Store, SurveyAnswer, SurveyScore,
};
use jiff::civil::date;
use sqlx::Executor;

const PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const BATCH: usize = 2_000;
const TOPICS: [&str; 6] = ["health", "education", "taxes", "housing", "transport", "other-info"];
const AGENTS: usize = 60;

/// Weekday weights, Monday first, and hour weights for 07:00..22:00.
const WEEKDAY: [f64; 7] = [1.0, 0.95, 0.95, 0.9, 0.85, 0.45, 0.33];
const HOUR: [f64; 15] = [0.3, 0.8, 1.0, 1.0, 0.95, 0.9, 0.7, 0.6, 0.7, 0.8, 0.8, 0.7, 0.55, 0.4, 0.25];

fn exponential(rng: &mut fastrand::Rng, mean_ms: f64) -> i64 {
    (-mean_ms * (1.0 - rng.f64()).ln()) as i64
}

/// The start instants (epoch ms) of `total` calls spread over 2026.
fn start_times(rng: &mut fastrand::Rng, total: usize) -> Vec<i64> {
    let tz = ivr_store::report::line_time_zone();
    let days: Vec<jiff::Zoned> = (0..365)
        .map(|d| {
            let day = date(2026, 1, 1).checked_add(jiff::Span::new().days(d)).expect("2026 is in range");
            day.to_zoned(tz.clone()).expect("Madrid midnight exists")
        })
        .collect();
    let weight = |z: &jiff::Zoned| WEEKDAY[usize::from(z.weekday().to_monday_zero_offset() as u8)];
    let hours_total: f64 = HOUR.iter().sum();
    let days_total: f64 = days.iter().map(weight).sum();
    let mut starts = Vec::with_capacity(total);
    for day in &days {
        let day_calls = total as f64 * weight(day) / days_total;
        let midnight = day.timestamp().as_millisecond();
        // About 1 % of a day's calls arrive out of hours, at night.
        for _ in 0..(day_calls * 0.01) as usize {
            starts.push(midnight + rng.i64(0..7 * 3_600_000));
        }
        for (h, w) in HOUR.iter().enumerate() {
            let hour_start = midnight + (7 + h as i64) * 3_600_000;
            for _ in 0..(day_calls * 0.99 * w / hours_total).round() as usize {
                starts.push(hour_start + rng.i64(0..3_600_000));
            }
        }
    }
    starts.truncate(total);
    while starts.len() < total {
        starts.push(days[0].timestamp().as_millisecond() + 10 * 3_600_000 + rng.i64(0..3_600_000));
    }
    starts.sort_unstable();
    starts
}

fn synthetic_call(rng: &mut fastrand::Rng, n: usize, start: i64) -> FinishedCall {
    let local_hour = (start.rem_euclid(86_400_000) / 3_600_000 + 1) % 24;
    let language = match rng.u32(0..100) {
        0..60 => "ca",
        60..95 => "es",
        95..99 => "en",
        _ => "oc",
    };
    let topic = TOPICS[rng.usize(0..TOPICS.len())];
    let mut details = CallDetails {
        ivr_path: format!("welcome>choose-language[1]>main[{}]>{topic}", rng.u8(1..7)),
        topic: Some(topic.to_owned()),
        caller_pseudonym: Some(format!("{:064x}", rng.u64(..))),
        ..CallDetails::default()
    };
    let mut events = vec![
        CallEvent::new(1, start, CallEventKind::Prompt, "welcome"),
        CallEvent::digits(2, start + 4_000, "1", false),
        CallEvent::new(3, start + 6_000, CallEventKind::Prompt, "main"),
        CallEvent::digits(4, start + 12_000, "3", false),
    ];
    let mut end = start + 20_000 + rng.i64(0..60_000);
    let mut answered_at = Some(start + 300);
    let mut survey_answers = Vec::new();
    let roll = rng.u32(0..100);
    let disposition = if !(7..22).contains(&local_hour) {
        Disposition::OutOfHours
    } else if roll < 35 {
        Disposition::CompletedInIvr
    } else if roll < 43 {
        Disposition::AbandonedInIvr
    } else if roll < 46 {
        answered_at = None;
        end = start + rng.i64(1_000..10_000);
        Disposition::Failed
    } else {
        let queued = start + 15_000;
        details.queue = Some(format!("q-{topic}"));
        details.queued_at_ms = Some(queued);
        events.push(CallEvent::new(5, queued, CallEventKind::Queue, "ENTERQUEUE"));
        let outcome = rng.u32(0..100);
        if outcome < 85 {
            let wait = exponential(rng, 25_000.0);
            let talk = 30_000 + exponential(rng, 150_000.0);
            let hold = if rng.u32(0..100) < 20 { exponential(rng, 30_000.0) } else { 0 };
            let agent = format!("agent-{:02}", rng.usize(0..AGENTS));
            details.wait_ms = Some(wait);
            details.answered_by_agent_at_ms = Some(queued + wait);
            details.talk_ms = Some(talk);
            details.hold_ms = Some(hold);
            details.wrap_up_ms = Some(10_000 + exponential(rng, 20_000.0));
            end = queued + wait + talk + hold;
            events.push(CallEvent::new(6, queued + wait, CallEventKind::Queue, "CONNECT"));
            events.push(CallEvent::new(7, end, CallEventKind::Queue, "COMPLETECALLER"));
            if rng.u32(0..100) < 30 {
                for (q, question) in ["overall", "resolved", "agent"].iter().take(rng.usize(1..4)).enumerate() {
                    // Skewed high: mostly 8 to 10, mean about 8.5.
                    let value = 10u8.saturating_sub(rng.u8(0..4) * rng.u8(0..3)).min(10);
                    survey_answers.push(SurveyAnswer {
                        question: (*question).to_owned(),
                        value: if rng.u32(0..100) < 95 { SurveyScore::new(value) } else { None },
                        answered_at_ms: end + 10_000 * (q as i64 + 1),
                        agent: Some(agent.clone()),
                        queue: details.queue.clone(),
                        topic: details.topic.clone(),
                        language: language.to_owned(),
                    });
                }
            }
            details.agent = Some(agent);
            Disposition::Answered
        } else if outcome < 95 {
            let wait = exponential(rng, 40_000.0);
            details.wait_ms = Some(wait);
            end = queued + wait;
            events.push(CallEvent::new(6, end, CallEventKind::Queue, "ABANDON"));
            Disposition::AbandonedInQueue
        } else if outcome < 98 {
            let wait = exponential(rng, 30_000.0);
            details.wait_ms = Some(wait);
            end = queued + wait + 20_000;
            Disposition::CalledBack
        } else {
            details.wait_ms = Some(120_000);
            end = queued + 180_000;
            Disposition::MessageLeft
        }
    };
    details.disposition = Some(disposition);
    FinishedCall {
        record: CallRecord {
            call_id: format!("{n:016x}{:016x}", rng.u64(..)),
            dialled: "012".to_owned(),
            started_at_ms: start,
            answered_at_ms: answered_at,
            ended_at_ms: end,
            end_reason: "caller_hangup".to_owned(),
            codec: Some("PCMA".to_owned()),
            language: language.to_owned(),
            digits_rfc4733: 2,
            rtp_packets_sent: (end - start) / 20,
            rtp_packets_received: (end - start) / 20,
            ..CallRecord::default()
        },
        details,
        events,
        survey_answers,
        callback: None,
    }
}

/// Sixty agents, each on an 8-hour shift on weekdays (09:00 or 13:00 UTC
/// start) with a 30-minute break in the middle.
fn shifts() -> Vec<StaffingInterval> {
    let year_start = date(2026, 1, 1).to_zoned(ivr_store::report::line_time_zone()).expect("midnight").timestamp();
    let mut out = Vec::new();
    for day in 0..365i64 {
        let midnight = year_start.as_millisecond() + day * 86_400_000;
        // 2026-01-01 is a Thursday: day 2 and 3 are the first weekend.
        if matches!((day + 3) % 7, 5 | 6) {
            continue;
        }
        for agent in 0..AGENTS {
            let start = midnight + if agent % 2 == 0 { 8 } else { 12 } * 3_600_000;
            let name = format!("agent-{agent:02}");
            let piece = |from_ms, to_ms, state| StaffingInterval { agent: name.clone(), from_ms, to_ms, state };
            out.push(piece(start, start + 4 * 3_600_000, StaffingState::Ready));
            out.push(piece(start + 4 * 3_600_000, start + 4 * 3_600_000 + 1_800_000, StaffingState::Break));
            out.push(piece(start + 4 * 3_600_000 + 1_800_000, start + 8 * 3_600_000 + 1_800_000, StaffingState::Ready));
        }
    }
    out
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

async fn run(store: &Store, calls: usize, runs: usize, vacuum_url: Option<&str>) {
    store.apply_report_schema().await.expect("report schema applies");
    let mut rng = fastrand::Rng::with_seed(12);
    let starts = start_times(&mut rng, calls);
    let (mut events, mut answers) = (0usize, 0usize);
    let began = Instant::now();
    for (chunk_no, chunk) in starts.chunks(BATCH).enumerate() {
        let batch: Vec<FinishedCall> = chunk
            .iter()
            .enumerate()
            .map(|(i, &start)| synthetic_call(&mut rng, chunk_no * BATCH + i, start))
            .collect();
        events += batch.iter().map(|c| c.events.len()).sum::<usize>();
        answers += batch.iter().map(|c| c.survey_answers.len()).sum::<usize>();
        store.insert_finished(&batch).await.expect("batch inserts");
    }
    let staffing = shifts();
    for chunk in staffing.chunks(BATCH) {
        store.insert_staffing(chunk).await.expect("shifts insert");
    }
    let load = began.elapsed();
    println!(
        "  load: {calls} calls, {events} events, {answers} survey answers, {} shift intervals in {:.1} s ({:.0} calls/s)",
        staffing.len(),
        load.as_secs_f64(),
        calls as f64 / load.as_secs_f64()
    );
    if let Some(url) = vacuum_url {
        // What autovacuum would do after a load: statistics, and the
        // visibility map that index-only scans need.
        let pool = sqlx::AnyPool::connect(url).await.expect("PostgreSQL reachable");
        pool.execute("VACUUM ANALYZE").await.expect("vacuum");
        pool.close().await;
    }

    let year = ReportQuery::days(date(2026, 1, 1), date(2026, 12, 31), GroupBy::Day).expect("2026");
    let mut times = Vec::new();
    let mut offered = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let table = report(store, &year).await.expect("report by day");
        times.push(t.elapsed());
        offered = table.total.offered;
        assert_eq!(table.rows.len(), 365);
    }
    let (min, max) = (times.iter().min().copied(), times.iter().max().copied());
    println!(
        "  report by day (365 rows, {offered} calls), {runs} runs: median {:.3} s (min {:.3}, max {:.3})",
        median(times).as_secs_f64(),
        min.unwrap_or_default().as_secs_f64(),
        max.unwrap_or_default().as_secs_f64()
    );
    for by in [GroupBy::Week, GroupBy::Hour, GroupBy::Agent, GroupBy::Topic] {
        let t = Instant::now();
        let table = report(store, &ReportQuery { by, ..year.clone() }).await.expect("report");
        println!("  report by {by}: {} rows in {:.3} s", table.rows.len(), t.elapsed().as_secs_f64());
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // `cargo bench` passes `--bench`; only positional arguments are ours.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let backends = args.first().map(String::as_str).unwrap_or("both");
    let calls: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(2_000_000);
    let runs: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(5).max(1);
    sqlx::any::install_default_drivers();

    if matches!(backends, "sqlite" | "both") {
        let dir = std::env::temp_dir().join(format!("ivr-store-year-{}", std::process::id()));
        let store = Store::connect(&format!("sqlite://{}/calls.db", dir.display())).await.expect("SQLite");
        println!("SQLite ({}):", dir.display());
        run(&store, calls, runs, None).await;
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }
    if matches!(backends, "postgres" | "both") {
        let name = format!("ivr_store_year_{}", std::process::id());
        match sqlx::any::AnyPoolOptions::new().max_connections(1).connect(PG_ADMIN_URL).await {
            Err(error) => println!("PostgreSQL: SKIPPED, {PG_ADMIN_URL} unreachable ({error})"),
            Ok(admin) => {
                admin.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.expect("create db");
                let url = format!("postgres://postgres@127.0.0.1:5432/{name}");
                let store = Store::connect(&url).await.expect("PostgreSQL store connects");
                println!("PostgreSQL ({name}):");
                run(&store, calls, runs, Some(&url)).await;
                store.close().await;
                admin
                    .execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                    .await
                    .expect("drop db");
            }
        }
    }
}
