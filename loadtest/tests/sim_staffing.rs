//! The simulated year stores its agents' staffing as the server does: two
//! days of the 012 line (Monday and Tuesday of the busy January week)
//! through the real dialplan, ACD and SQLite store. Each simulated agent's
//! ready time in `agent_staffing` plus their breaks (the queue log's PAUSE
//! to UNPAUSE, stored as `break` intervals) is exactly the staffing plan's
//! hours for them, and the store's occupancy by agent is talk + hold +
//! wrap-up of their calls (summed here from the call records) over that
//! ready time, between 0 and 1.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ivr_store::Store;
use ivr_store::report::{GroupBy, NO_GROUP, ReportQuery, ReportSource, report_from};
use jiff::Timestamp;
use jiff::civil::date;
use loadtest::sim::{self, SimConfig, StaffingPlan, line::agent_login};

const CALLS: u64 = 5_000;
const SLOT_MS: i64 = 30 * 60 * 1_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Agent `k` (the plan logs agents in by number and out in reverse) is
/// logged in in every half-hour whose plan needs more than `k` agents.
fn planned_logged_in_ms(plan: &StaffingPlan) -> BTreeMap<String, i64> {
    let mut ready = BTreeMap::new();
    for slot in &plan.slots {
        for k in 0..slot.agents {
            *ready.entry(agent_login(k)).or_insert(0) += SLOT_MS;
        }
    }
    ready
}

#[test]
fn every_agents_ready_time_is_the_plans_less_their_breaks_and_occupancy_is_their_handle_time_over_it() {
    let dir = TempDir(std::env::temp_dir().join(format!("loadtest-staffing-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir.0);
    let url = format!("sqlite://{}/calls.db", dir.0.display());
    let profile = sim::line_profile(&root(), CALLS, Some((date(2026, 1, 12), 2))).expect("profile");
    let config = SimConfig::new(root(), profile, 12, url.clone());
    let report = sim::run(&config).expect("simulation");
    println!("{}", sim::summary(&report));
    assert_eq!(report.stored_records, CALLS);

    let logged_in = planned_logged_in_ms(&report.plan);
    let logged_in_total: i64 = logged_in.values().sum();
    assert!(logged_in.len() > 5, "a busy Monday needs a team: {logged_in:?}");
    assert_eq!(logged_in_total as f64, report.prediction.agent_hours * 3_600_000.0, "the plan's agent-hours");
    // Breaks: 15 minutes each, longer when the call in progress and its
    // wrap-up end after the break was asked for; each one a `break`
    // interval and a new `ready` one after it.
    let e = &report.engine;
    assert_eq!(e.offers_on_break, 0, "the run fails otherwise");
    assert!(e.breaks > 10, "a full day's shifts take breaks: {}", e.breaks);
    assert!(e.break_ms >= e.breaks as i64 * 15 * 60_000 - 2 * 15 * 60_000, "{} breaks of {} ms", e.breaks, e.break_ms);
    assert!(e.break_ms < e.breaks as i64 * 30 * 60_000, "{} breaks of {} ms", e.breaks, e.break_ms);
    assert_eq!(e.break_ms_by_agent.iter().map(|(_, ms)| ms).sum::<i64>(), e.break_ms);
    assert!(report.stored_staffing >= logged_in.len() as u64 + e.breaks, "a login interval per agent, one more per break");
    let breaks: BTreeMap<String, i64> = e.break_ms_by_agent.iter().cloned().collect();
    let planned: BTreeMap<String, i64> =
        logged_in.iter().map(|(a, ms)| (a.clone(), ms - breaks.get(a).copied().unwrap_or(0))).collect();
    let planned_total: i64 = planned.values().sum();
    assert_eq!(planned_total, logged_in_total - e.break_ms);
    // The daily report the run makes has the ready time of every day.
    assert_eq!(report.report.total.staffed_ms, Some(planned_total));

    let first = report.plan.slots.first().expect("slots").start_ms;
    let end = report.plan.slots.last().expect("slots").start_ms + SLOT_MS;
    let ts = |ms| Timestamp::from_millisecond(ms).expect("timestamp");
    let query = ReportQuery::new(ts(first), ts(end), GroupBy::Agent);
    let (by_agent, handled) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(async {
            let store = Store::connect(&url).await.expect("store");
            let table = report_from(&store, &query, ReportSource::Records).await.expect("report");
            // Handle time by agent, from each call's record.
            let mut handled: BTreeMap<String, i64> = BTreeMap::new();
            for n in 0..CALLS {
                let id = format!("sim-{n:09}");
                let call = store.finished_call(&id).await.expect("query").unwrap_or_else(|| panic!("{id} has no record"));
                let d = call.details;
                if let Some(agent) = d.agent {
                    *handled.entry(agent).or_insert(0) +=
                        d.talk_ms.unwrap_or(0) + d.hold_ms.unwrap_or(0) + d.wrap_up_ms.unwrap_or(0);
                }
            }
            store.close().await;
            (table, handled)
        });

    let stored: BTreeMap<&str, _> =
        by_agent.rows.iter().filter(|r| r.group != NO_GROUP).map(|r| (r.group.as_str(), &r.tally)).collect();
    let staffed: BTreeMap<String, i64> =
        stored.iter().filter_map(|(a, t)| t.staffed_ms.filter(|ms| *ms > 0).map(|ms| ((*a).to_owned(), ms))).collect();
    assert_eq!(staffed, planned, "each agent's ready time is the plan's hours for them less their breaks");
    assert!(handled.keys().all(|a| planned.contains_key(a)), "only staffed agents took calls: {:?}", handled.keys());
    assert!(handled.len() > planned.len() / 2, "most agents took calls: {} of {}", handled.len(), planned.len());

    for (agent, ready_ms) in &planned {
        let tally = stored[agent.as_str()];
        let handle_ms = handled.get(agent).copied().unwrap_or(0);
        assert_eq!(tally.handle_ms(), handle_ms, "{agent}: the report's handle time is the records'");
        let occupancy = tally.occupancy().expect("staffed agents have an occupancy");
        assert_eq!(occupancy, handle_ms as f64 / *ready_ms as f64, "{agent}");
        assert!((0.0..=1.0).contains(&occupancy), "{agent}: occupancy {occupancy}");
    }
    let all = by_agent.total.occupancy().expect("occupancy of the whole team");
    println!("occupancy of the team: {:.1} %", all * 100.0);
    assert!(all > 0.3 && all < 1.0, "an Erlang C plan for 80/20 keeps agents busy but not saturated: {all}");
}
