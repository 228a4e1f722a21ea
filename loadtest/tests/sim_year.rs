//! The simulated year, small: 20,000 calls in the busy week of January
//! through the real 012 dialplan, ACD and SQLite store. Every call has one
//! record, its disposition and survey answers are what its journey leads
//! to, and the service level from the records agrees with Erlang C.

use std::path::{Path, PathBuf};

use ivr_store::{Disposition, FinishedCall, Store};
use jiff::civil::date;
use loadtest::sim::{self, SimConfig, SimReport};
use loadtest::traffic::{ContactChoice, DurationDist, Intent, Journey};

const CALLS: u64 = 20_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("loadtest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn url(&self) -> String {
        format!("sqlite://{}/calls.db", self.0.display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn week_config(db: String, seed: u64) -> SimConfig {
    let profile = sim::line_profile(&root(), CALLS, Some((date(2026, 1, 12), 7))).expect("profile");
    let mut config = SimConfig::new(root(), profile, seed, db);
    config.keep_journeys = true;
    config.timeline = true;
    config
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// The dispositions a journey can end in, given whether an agent answered.
fn allowed(journey: &Journey, record: &FinishedCall) -> Vec<Disposition> {
    use Disposition::*;
    let unanswered_contact = |out_of_hours: bool| match journey.contact_choice {
        ContactChoice::Callback => CalledBack,
        ContactChoice::Message => MessageLeft,
        // The server's rule: a path through out-of-hours says so; after a
        // queue timeout, goodbye is the IVR's hang-up, a hang-up the caller's.
        ContactChoice::Goodbye if out_of_hours => OutOfHours,
        ContactChoice::HangUp if out_of_hours => OutOfHours,
        ContactChoice::Goodbye => CompletedInIvr,
        ContactChoice::HangUp => AbandonedInIvr,
    };
    match journey.intent {
        // Self-service ends with the caller hanging up after the
        // information: the server records that as abandoned in the IVR.
        Intent::SelfService | Intent::AbandonInIvr => vec![AbandonedInIvr],
        Intent::Operator | Intent::NoInput => {
            if record.details.ivr_path.contains("out-of-hours") {
                vec![unanswered_contact(true)]
            } else if journey.callback_in_queue_after.is_some() {
                vec![Answered, AbandonedInQueue, CalledBack, unanswered_contact(false)]
            } else {
                vec![Answered, AbandonedInQueue, unanswered_contact(false)]
            }
        }
    }
}

fn check_records(report: &SimReport, url: &str) {
    let journeys = report.journeys.as_ref().expect("journeys kept");
    assert_eq!(journeys.len() as u64, CALLS);
    runtime().block_on(async {
        let store = Store::connect(url).await.expect("store");
        // call_id is the primary key and only sim-<n> for n < CALLS exist:
        // a count of CALLS means one record for each generated call.
        assert_eq!(store.count_calls().await.expect("count"), CALLS as i64);
        let mut surveyed = 0;
        for (n, journey) in journeys.iter().enumerate().step_by(7) {
            let id = format!("sim-{n:09}");
            let record = store.finished_call(&id).await.expect("query").unwrap_or_else(|| panic!("{id} has no record"));
            let disposition = record.disposition();
            assert!(allowed(journey, &record).contains(&disposition), "{id}: {disposition} for {journey:?}\n{:?}", record.details);
            let language = record.record.language.as_str();
            match journey.intent {
                Intent::NoInput => assert_eq!(language, "ca", "{id}: nothing pressed, Catalan"),
                // May hang up before choosing.
                Intent::AbandonInIvr => assert!(language == "ca" || language == journey.language.code(), "{id}"),
                _ => assert_eq!(language, journey.language.code(), "{id}"),
            }
            assert_eq!(disposition == Disposition::Answered, record.details.agent.is_some(), "{id}");
            if disposition == Disposition::Answered {
                let stored: Vec<Option<u8>> = record.survey_answers.iter().map(|a| a.value.map(|v| v.value())).collect();
                let expected: Vec<Option<u8>> = journey.survey.map(Vec::from).unwrap_or_default();
                assert_eq!(stored, expected, "{id}: survey answers");
                assert!(record.survey_answers.iter().all(|a| a.agent == record.details.agent));
                let wait = record.details.wait_ms.expect("an answered call waited");
                assert!(wait >= 2_000, "{id}: the ring delay is part of the wait ({wait} ms)");
                let talk = record.details.talk_ms.expect("talk");
                assert!((talk - journey.talk.as_millis() as i64).abs() <= 1, "{id}: talk {talk}");
                surveyed += usize::from(!stored.is_empty());
            } else {
                assert!(record.survey_answers.is_empty(), "{id}");
            }
            if disposition == Disposition::CalledBack {
                assert!(record.callback.is_some(), "{id}: a callback request is stored");
            }
            if record.details.queued_at_ms.is_some() {
                let names: Vec<&str> = record.events.iter().map(|e| e.detail.as_str()).collect();
                assert_eq!(names.first(), Some(&"ENTERQUEUE"), "{id}: the queue log is the timeline");
                if disposition == Disposition::Answered {
                    assert!(names.contains(&"CONNECT") && names.contains(&"COMPLETEAGENT"), "{id}: {names:?}");
                }
            }
            if journey.intent == Intent::AbandonInIvr {
                assert_eq!(record.record.end_reason, "caller_hangup");
            }
        }
        assert!(surveyed > 200, "{surveyed} surveyed calls checked");
        store.close().await;
    });
}

#[test]
fn a_busy_week_leaves_one_right_record_per_call_and_erlang_c_bounds_the_service() {
    let dir = TempDir::new("sim-week");
    let config = week_config(dir.url(), 12);
    let report = sim::run(&config).expect("simulation");
    println!("{}\n{}", sim::summary(&report), sim::speed_report(&report));
    assert_eq!(report.engine.calls, CALLS);
    assert_eq!(report.engine.records, CALLS);
    assert_eq!(report.stored_records, CALLS);
    let t = report.measured();
    assert_eq!(t.offered, CALLS as i64);
    // Every disposition the journeys can lead to happens.
    let count = |name: &str| report.engine.dispositions.iter().find(|(n, _)| n == name).map_or(0, |(_, c)| *c);
    for name in ["answered", "abandoned_in_queue", "abandoned_in_ivr", "called_back", "message_left", "out_of_hours"] {
        assert!(count(name) > 0, "no {name}: {:?}", report.engine.dispositions);
    }
    // Satisfaction from the stored answers: about 8.5.
    let satisfaction = t.satisfaction().expect("scores stored");
    assert!((satisfaction - 8.5).abs() < 0.15, "{satisfaction}");
    // Callers who give up relieve the queue, so Erlang C (infinite
    // patience) is the pessimistic bound: the measured service level is at
    // least the prediction (less a margin for chance), and the queue
    // saw the calls the plan expected.
    let p = report.prediction;
    let sl = t.service_level().expect("answered calls");
    assert!(sl >= p.service_level - 0.03, "SL {sl} against Erlang C {}", p.service_level);
    assert!(sl >= 0.8, "the plan staffs for 80/20: {sl}");
    assert!(t.abandon_rate().expect("queued") <= p.abandon_rate + 0.01);
    assert!(((t.queued as f64) - p.queued_calls).abs() / p.queued_calls < 0.05, "{} vs {}", t.queued, p.queued_calls);
    // Agents take the rota's breaks, stored as `break` staffing intervals
    // (each one closes a ready interval and opens another), and the ACD
    // offers nothing to an agent on break (the run fails otherwise).
    let e = &report.engine;
    assert_eq!(e.offers_on_break, 0);
    assert!(e.breaks > 100, "{} breaks in a busy week", e.breaks);
    assert!((report.break_hours() - p.break_hours).abs() / p.break_hours < 0.2, "{} h against {} h planned", report.break_hours(), p.break_hours);
    assert!(report.stored_staffing > e.breaks * 2, "{} intervals for {} breaks", report.stored_staffing, e.breaks);
    let json = report.to_json();
    assert_eq!(json["staffing"]["breaks"], e.breaks);
    check_records(&report, &dir.url());
}

#[test]
fn with_patient_callers_the_records_service_level_is_erlang_cs() {
    // No abandons and no callbacks: the queue is the M/M/N system Erlang C
    // describes, sized per half-hour, so the measured service level must
    // come out as predicted.
    let dir = TempDir::new("sim-patient");
    let mut config = week_config(dir.url(), 5);
    config.keep_journeys = false;
    config.mix.patience = DurationDist::Fixed { secs: 1e7 };
    config.mix.callback_in_queue = 0.0;
    let report = sim::run(&config).expect("simulation");
    println!("{}", sim::summary(&report));
    let t = report.measured();
    assert_eq!(t.abandoned, 0);
    let (sl, predicted) = (t.service_level().expect("answered"), report.prediction.service_level);
    assert!((sl - predicted).abs() < 0.03, "SL {sl} against Erlang C {predicted}");
}

#[test]
fn the_same_seed_gives_the_same_records_and_a_used_database_is_refused() {
    let dir = TempDir::new("sim-seed");
    let profile = sim::line_profile(&root(), 500, Some((date(2026, 3, 2), 1))).expect("profile");
    let config = SimConfig::new(root(), profile.clone(), 3, dir.url());
    let first = sim::run(&config).expect("simulation");
    assert!(matches!(sim::run(&config), Err(sim::SimError::DatabaseNotEmpty { calls: 500 })));
    let other = TempDir::new("sim-seed-2");
    let second = sim::run(&SimConfig::new(root(), profile, 3, other.url())).expect("simulation");
    assert_eq!(first.engine.dispositions, second.engine.dispositions);
    assert_eq!(first.report.total, second.report.total);
}
