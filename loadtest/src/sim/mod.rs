//! `loadtest year --simulated`: a traffic profile's calls, each following
//! its journey through the real 012 dialplan interpreter, the real ACD with
//! a staffing plan sized by Erlang C, and the real call-record store, on a
//! simulated clock with no sockets; then the yearly report from the stored
//! records and the agents' staffing intervals (as the server stores them,
//! from the ACD's logins, logoffs and breaks), set against what Erlang C
//! predicted for the agents not on break.
//!
//! Owns the simulation ([`run`]): loading the line once (`line.rs`), the
//! staffing plan and its prediction (`staffing.rs`), the break rota
//! (`breaks.rs`), the event loop
//! (`engine.rs`), each call's state and record (`call.rs`), and the storage
//! thread (`writer.rs`). Must never reimplement what the cores decide:
//! which prompt plays, where a key leads, who is offered a call, what the
//! report counts.
//!
//! Run-loop contract (as the server's): after every input to the
//! interpreter its actions are drained and carried out; after every event
//! the ACD's outputs are drained until none is left; the next event is the
//! earliest of the next arrival, the ACD's deadline and the heap's top.
//! Prompts take the length of their WAV files; callers press keys a think
//! time after a prompt ends.
//!
//! Invariants: every generated call ends as exactly one record; a database
//! that already holds calls is refused; the same seed gives the same calls,
//! journeys and records.

mod breaks;
mod call;
mod engine;
pub mod line;
pub mod staffing;
mod writer;

use std::path::PathBuf;
use std::time::Instant;

use ivr_store::report::{GroupBy, ReportQuery, ReportTable, Tally};
use jiff::Timestamp;
use serde::Serialize;

pub use engine::EngineStats;
pub use line::{Line, PromptDurations};
pub use staffing::{PlanSlot, Prediction, StaffingPlan};
pub use writer::Stored;

use crate::traffic::{DurationDist, Journey, JourneyMix, ProfileError, TrafficProfile};

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cannot list the prompts: {0}")]
    Prompts(#[source] ivr_dialplan::prompts_catalog::PromptCatalogError),
    #[error("dialplans/012.toml does not compile: {}", first_error(diagnostics))]
    Dialplan { diagnostics: Vec<ivr_dialplan::diagnostics::Diagnostic> },
    #[error("the calendar has no schedule {name:?}")]
    MissingSchedule { name: &'static str },
    #[error("the queues file has no queue {name:?}")]
    MissingQueue { name: &'static str },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("cannot read the prompt {}: {source}", path.display())]
    Wav { path: PathBuf, source: hound::Error },
    #[error("the queue configuration is invalid: {0}")]
    Acd(#[source] ivr_acd::ConfigError),
    #[error(transparent)]
    Profile(#[from] ProfileError),
    #[error("call-record store: {0}")]
    Store(#[from] ivr_store::StoreError),
    #[error("report: {0}")]
    Report(#[from] ivr_store::report::ReportError),
    #[error("the database already holds {calls} calls: give a new file")]
    DatabaseNotEmpty { calls: i64 },
    #[error("cannot start the storage thread: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("the storage thread stopped early")]
    WriterGone,
    #[error("the ACD offered {offers} calls to agents on break")]
    OfferedOnBreak { offers: u64 },
}

fn first_error(diagnostics: &[ivr_dialplan::diagnostics::Diagnostic]) -> String {
    diagnostics.first().map_or_else(String::new, |d| format!("{}:{}: {}", d.file, d.position.line, d.message))
}

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The repository root (with `dialplans/` and `prompts/`).
    pub root: PathBuf,
    pub profile: TrafficProfile,
    pub mix: JourneyMix,
    pub seed: u64,
    /// `sqlite://path`: must be new or empty.
    pub db_url: String,
    /// Records per insert transaction.
    pub batch: usize,
    pub target_sl: f64,
    pub target_secs: f64,
    /// From the offer to the agent's answer.
    pub ring: DurationDist,
    /// Keep every call's journey in the result (for tests).
    pub keep_journeys: bool,
    /// Store each call's queue events as its timeline (`call_events`):
    /// about three more rows a call, so off for the year's speed run.
    pub timeline: bool,
}

impl SimConfig {
    /// `profile` into `db_url`, the line's journey mix, 80/20.
    pub fn new(root: PathBuf, profile: TrafficProfile, seed: u64, db_url: String) -> SimConfig {
        SimConfig {
            root,
            profile,
            mix: JourneyMix::default(),
            seed,
            db_url,
            batch: 5_000,
            target_sl: 0.8,
            target_secs: 20.0,
            ring: DurationDist::Uniform { min_secs: 2.0, max_secs: 5.0 },
            keep_journeys: false,
            timeline: false,
        }
    }
}

/// The line's year (2026, Catalan holidays from the line's calendar) with
/// `calls` calls, or `days` of it from `from` with `calls` calls in them.
pub fn line_profile(root: &std::path::Path, calls: u64, window: Option<(jiff::civil::Date, u32)>) -> Result<TrafficProfile, SimError> {
    let holidays = Line::load_calendar_holidays(root)?;
    let year = TrafficProfile::line_year(2026, calls, holidays)?;
    Ok(match window {
        None => year,
        Some((from, days)) => TrafficProfile { total_calls: calls, ..year.window("window", from, days)? },
    })
}

/// Wall-clock time of each phase.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Timings {
    pub load_secs: f64,
    pub simulate_secs: f64,
    /// The simulation waiting on the storage thread.
    pub blocked_on_store_secs: f64,
    pub insert_secs: f64,
    pub report_secs: f64,
    pub total_secs: f64,
    /// CPU time of the simulation thread alone, and of the whole process
    /// (simulation, storage and SQLite threads): on a shared machine these
    /// say more than wall-clock time. `None` off Linux.
    pub simulation_cpu_secs: Option<f64>,
    pub process_cpu_secs: Option<f64>,
}

/// utime + stime from a `/proc/.../stat` file, in seconds (the kernel
/// reports them in USER_HZ, 100 a second on every Linux ABI).
fn cpu_secs(stat_path: &str) -> Option<f64> {
    let text = std::fs::read_to_string(stat_path).ok()?;
    // The command name may hold spaces: fields are counted after its ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after ')'.
    Some((ticks(11)? + ticks(12)?) / 100.0)
}

/// The result of a simulated run.
#[derive(Debug, Clone)]
pub struct SimReport {
    pub profile: String,
    pub seed: u64,
    pub engine: EngineStats,
    pub stored_records: u64,
    pub batches: u64,
    /// Agents' staffing intervals stored (`agent_staffing`).
    pub stored_staffing: u64,
    pub plan: StaffingPlan,
    pub prediction: Prediction,
    /// The store's report over the profile, by day.
    pub report: ReportTable,
    pub timings: Timings,
    /// By call number (`sim-<number>`), when asked for.
    pub journeys: Option<Vec<Journey>>,
}

impl SimReport {
    pub fn measured(&self) -> &Tally {
        &self.report.total
    }

    /// Hours agents spent on break (the `break` staffing intervals).
    pub fn break_hours(&self) -> f64 {
        self.engine.break_ms as f64 / 3_600_000.0
    }

    /// The figures as JSON (without the per-slot plan and the journeys).
    pub fn to_json(&self) -> serde_json::Value {
        let t = self.measured();
        serde_json::json!({
            "profile": self.profile,
            "seed": self.seed,
            "engine": self.engine,
            "stored_records": self.stored_records,
            "batches": self.batches,
            "staffing": { "peak_agents": self.plan.peak_agents(), "aht_secs": self.plan.aht_secs,
                          "agent_hours": self.prediction.agent_hours, "ready_hours": self.prediction.ready_hours,
                          "intervals": self.stored_staffing, "breaks": self.engine.breaks, "break_hours": self.break_hours() },
            "predicted": self.prediction,
            "measured": {
                "offered": t.offered, "queued": t.queued, "answered": t.answered, "abandoned": t.abandoned,
                "service_level": t.service_level(), "asa_secs": t.asa_s(), "abandon_rate": t.abandon_rate(),
                "aht_secs": t.aht_s(), "occupancy": t.occupancy(), "satisfaction": t.satisfaction(), "surveys": t.surveys(),
            },
            "timings": self.timings,
        })
    }
}

/// Simulates `config` and reports.
pub fn run(config: &SimConfig) -> Result<SimReport, SimError> {
    let began = Instant::now();
    let line = Line::load(&config.root)?;
    let slots = config.profile.slots()?;
    let wrap_up_secs = line
        .acd_config(0)?
        .queues
        .iter()
        .find(|q| q.name == line::QUEUE)
        .map_or(0.0, |q| q.wrap_up.as_secs_f64());
    let plan = StaffingPlan::new(&line, &slots, &config.mix, wrap_up_secs, &config.ring, config.target_sl, config.target_secs);
    let prediction = plan.predict(&config.mix.patience);
    let first = slots.first().map_or(Timestamp::UNIX_EPOCH, |s| s.start);
    let last = slots.last().map_or(first, |s| s.start);
    let to = last.checked_add(jiff::SignedDuration::from_mins(30)).unwrap_or(last);
    let query = ReportQuery::new(first, to, GroupBy::Day);
    let mut sink = writer::RecordSink::start(&config.db_url, query)?;
    let load = began.elapsed();

    let simulating = Instant::now();
    let arrivals = config.profile.arrivals(config.seed)?;
    let engine = engine::Engine::new(
        &line,
        &config.mix,
        &plan,
        config.ring,
        config.seed,
        first.as_millisecond(),
        usize::try_from(config.profile.total_calls).unwrap_or(0),
        config.batch,
        config.keep_journeys,
        config.timeline,
        &mut sink,
    )?;
    let (engine, journeys) = engine.run(arrivals)?;
    let simulate = simulating.elapsed();
    let simulation_cpu_secs = cpu_secs("/proc/thread-self/stat");
    let stored = sink.finish()?;
    Ok(SimReport {
        profile: config.profile.name.clone(),
        seed: config.seed,
        engine,
        stored_records: stored.records,
        batches: stored.batches,
        stored_staffing: stored.staffing_intervals,
        plan,
        prediction,
        report: stored.report,
        timings: Timings {
            load_secs: load.as_secs_f64(),
            simulate_secs: simulate.as_secs_f64(),
            blocked_on_store_secs: sink.blocked.as_secs_f64(),
            insert_secs: stored.insert_time.as_secs_f64(),
            report_secs: stored.report_time.as_secs_f64(),
            total_secs: began.elapsed().as_secs_f64(),
            simulation_cpu_secs,
            process_cpu_secs: cpu_secs("/proc/self/stat"),
        },
        journeys,
    })
}

/// The text summary `loadtest year` prints.
pub fn summary(report: &SimReport) -> String {
    let t = report.measured();
    let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1} %", v * 100.0));
    let secs = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} s"));
    let p = &report.prediction;
    let mut out = format!(
        "profile {}: {} calls simulated, {} records stored in {} batches, {} concurrent at most\n",
        report.profile, report.engine.calls, report.stored_records, report.batches, report.engine.max_concurrent
    );
    for (name, count) in report.engine.dispositions.iter().filter(|(_, c)| *c > 0) {
        out.push_str(&format!("  {name:<20} {count}\n"));
    }
    out.push_str(&format!(
        "staffing: peak {} agents, {:.0} agent-hours logged in ({:.0} planned ready, the rest break cover), AHT {:.0} s (talk + wrap-up + ring); {} intervals stored\n",
        report.plan.peak_agents(),
        p.agent_hours,
        p.ready_hours,
        report.plan.aht_secs,
        report.stored_staffing
    ));
    out.push_str(&format!(
        "breaks: {} taken, {:.0} break hours ({:.0} planned, {:.1} % of logged-in time); Erlang C below is for the agents not on break\n",
        report.engine.breaks,
        report.break_hours(),
        p.break_hours,
        if p.agent_hours > 0.0 { report.break_hours() / p.agent_hours * 100.0 } else { 0.0 }
    ));
    out.push_str(&format!(
        "                 measured (records)   Erlang C\n  service level  {:>18}   {:.1} %\n  ASA            {:>18}   {:.1} s\n  abandon rate   {:>18}   {:.1} %\n  queued         {:>18}   {:.0}\n",
        pct(t.service_level()),
        p.service_level * 100.0,
        secs(t.asa_s()),
        p.asa_secs,
        pct(t.abandon_rate()),
        p.abandon_rate * 100.0,
        t.queued,
        p.queued_calls
    ));
    out.push_str(&format!("  occupancy      {:>18}   {:.1} %\n", pct(t.occupancy()), p.occupancy * 100.0));
    out.push_str(&format!(
        "  satisfaction   {:>18}   ({} scores)\n",
        t.satisfaction().map_or("-".to_owned(), |s| format!("{s:.2}")),
        t.surveys()
    ));
    out
}

/// Elapsed time formatted for the speed report.
pub fn speed_report(report: &SimReport) -> String {
    let t = &report.timings;
    let rate = |secs: f64| if secs > 0.0 { report.engine.calls as f64 / secs } else { 0.0 };
    let cpu = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} s"));
    format!(
        "speed: load {:.2} s, simulate {:.2} s ({:.0} calls/s, {} events, {} stale), blocked on store {:.2} s, insert {:.2} s, report {:.2} s, total {:.2} s ({:.0} calls/s); CPU: simulation thread {}, whole process {}",
        t.load_secs,
        t.simulate_secs,
        rate(t.simulate_secs),
        report.engine.events,
        report.engine.stale_events,
        t.blocked_on_store_secs,
        t.insert_secs,
        t.report_secs,
        t.total_secs,
        rate(t.total_secs),
        cpu(t.simulation_cpu_secs),
        cpu(t.process_cpu_secs)
    )
}
