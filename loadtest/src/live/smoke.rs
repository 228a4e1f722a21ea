//! `loadtest smoke`: the CI guard. Starts a real `ivr serve` on loopback
//! with the 012 dialplan (its calendar forced open, as the peer tests do)
//! and a few dozen generated operators, drives a short burst of a few
//! hundred concurrent callers through it, stops it, and reads its
//! database back. Fails on any failed call, any missing or duplicated
//! record, audio that is not the expected prompt, or a call the generator
//! had to hang up at the drain deadline.
//!
//! The profile is sized so that the run lasts about a minute and every
//! call ends by itself: journeys are bounded (see [`smoke_mix`]), queue
//! patience and talk are scaled down hard, and the run stops when the last
//! call has ended. A call cut by the drain deadline would be hung up by
//! the generator in the middle of its script, and the server may then
//! rightly record it otherwise than the script expects (a caller in the
//! queue, or one the operator answered as the BYE left): a false record
//! mismatch. Here such a cut is itself reported as the problem.
//!
//! Owns the server's temporary folder and process for the run; never
//! leaves the process running (it is killed on every path out) and binds
//! 127.0.0.1 only.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::operator::OperatorConfig;
use super::report::{LiveReport, live_report, with_records};
use super::{Finished, Load, LiveError, RunConfig};
use crate::traffic::{DurationDist, JourneyMix};

#[derive(Debug, Clone)]
pub struct SmokeConfig {
    /// The `ivr` binary.
    pub ivr: PathBuf,
    /// The repository root (dialplans/, prompts/).
    pub root: PathBuf,
    pub calls_per_sec: f64,
    /// How long calls arrive.
    pub arrivals: Duration,
    pub operators: usize,
    pub seed: u64,
    pub progress: bool,
    /// Keep the server's folder (log, database) after the run.
    pub keep: bool,
}

impl SmokeConfig {
    /// The CI profile: 22 calls/s for 12 s (about 265 calls, nearly all of
    /// them up at once: no journey but the abandoning caller's is shorter
    /// than 18 s), 60 operators (the queue's callers arrive faster than 40
    /// could take them with 2 s of wrap-up).
    pub fn ci(ivr: PathBuf, root: PathBuf) -> SmokeConfig {
        SmokeConfig { ivr, root, calls_per_sec: 22.0, arrivals: Duration::from_secs(12), operators: 60, seed: 12, progress: true, keep: false }
    }
}

/// Minutes of queue patience and of talk become about a second: patience
/// (exponential, mean 180 s) 1.8 s on average, talk (log-normal, median
/// 180 s) 1.8 s, at least 1 s. Their longest draws among a hundred
/// callers stay under 10 s.
pub const TIME_SCALE: f64 = 0.01;
/// Operators answer after this (they ring 1 to 4 s on the live line):
/// short, so that callers with a second of patience are still answered
/// often, not so short that no patience runs out while it rings.
pub const RING_DELAY: (Duration, Duration) = (Duration::from_millis(300), Duration::from_millis(1_200));
/// After the last arrival, how long calls may take to end by themselves.
/// The longest journey of [`smoke_mix`] is about a minute (welcome, two
/// menus, an information prompt of up to 29 s and its options; or two
/// menus, the queue, the talk and the survey), so this is only reached by a
/// call that is stuck, and that is reported.
pub const DRAIN: Duration = Duration::from_secs(80);

/// The live mix with every journey bounded to about a minute of prompts,
/// so that the run is short and no call needs the drain deadline:
///
/// - a caller who wants an operator asks for one from the main menu (key
///   of "other queries"), not after an information prompt: their topics
///   are "other" only, while self-service callers keep the line's
///   topics. The other way (information, then "2" in its options, then
///   the survey) would be 80 s of prompts on its own;
/// - nobody hears the information twice (80 s of prompts as well);
/// - a fifth of the queued callers press the queue's callback key if
///   still waiting 0.2 to 0.5 s after joining (20 to 50 s scaled by
///   [`TIME_SCALE`], while patience is 1.8 s on average). With this many
///   operators the key nearly always meets a phone ringing for them
///   (ignored, the offer wins: they talk) or the operator's answer, the
///   race that found keys counted twice (RFC 4733) or not at all (SIP
///   INFO); a caller still unoffered would be offered a callback;
/// - 40 % of the answered callers take the survey (three questions and
///   their keys, the server's thanks and goodbye);
/// - a caller thinks 0.5 to 1.2 s after hearing the opening of a menu
///   before pressing (0.8 to 3 s on the line): keys still barge in while
///   the menu plays, and the prompt checks use only the opening.
pub fn smoke_mix() -> JourneyMix {
    let mut mix = super::live_mix();
    mix.operator_topics = Some([0.0, 0.0, 0.0, 0.0, 0.0, 1.0]);
    mix.hear_again = 0.0;
    mix.callback_in_queue = 0.2;
    mix.callback_after = DurationDist::Uniform { min_secs: 20.0, max_secs: 50.0 };
    mix.survey_participation = 0.4;
    mix.think = DurationDist::Uniform { min_secs: 0.5, max_secs: 1.2 };
    mix
}

/// Calls still up when the drain deadline came (hung up by the
/// generator), or that lasted as long as the drain: neither happens to a
/// journey of [`smoke_mix`] that goes as scripted.
fn cut_by_drain(finished: &Finished, drain: Duration) -> usize {
    finished
        .engine
        .calls
        .iter()
        .filter(|c| c.ended_at.is_none_or(|end| end.saturating_duration_since(c.invited_at) >= drain))
        .count()
}

#[derive(Debug, thiserror::Error)]
pub enum SmokeError {
    #[error("preparing the server's folder {path}: {source}")]
    Folder { path: String, source: std::io::Error },
    #[error("starting {ivr}: {source}")]
    Spawn { ivr: String, source: std::io::Error },
    #[error("the server did not answer GET /health within {0:?}; its log:\n{1}")]
    NotHealthy(Duration, String),
    #[error("no block of {0} free UDP ports on 127.0.0.1")]
    NoPorts(u16),
    #[error(transparent)]
    Live(#[from] LiveError),
    #[error(transparent)]
    Records(#[from] super::records::RecordsError),
}

/// A running server, killed when dropped.
struct ServerProcess {
    child: Child,
    dir: PathBuf,
    keep: bool,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl ServerProcess {
    /// SIGTERM (graceful: records flushed), then wait up to `within`.
    fn stop(&mut self, within: Duration) -> bool {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// `count` consecutive ports free for UDP and TCP on 127.0.0.1.
fn free_ports(count: u16) -> Result<u16, SmokeError> {
    let region = 40_000 + (std::process::id() % 20) as u16 * 1_000;
    for attempt in 0..40u16 {
        let first = 30_000 + (region - 30_000 + attempt * 887) % 34_000;
        let all_free = (first..first.saturating_add(count))
            .all(|p| UdpSocket::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free && first.checked_add(count).is_some() {
            return Ok(first);
        }
    }
    Err(SmokeError::NoPorts(count))
}

fn http_status(addr: SocketAddr, path: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(300)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    String::from_utf8_lossy(&raw).split_whitespace().nth(1)?.parse().ok()
}

/// The operators' file: `n` agents with every language and topic.
pub fn agents_file(n: usize) -> (String, Vec<OperatorConfig>) {
    let mut text = String::from("# Generated by loadtest smoke: demo agents for a local test server.\n");
    let mut operators = Vec::new();
    for i in 0..n {
        let login = format!("op{i:03}");
        let password = format!("demo-{login}-012");
        text.push_str(&format!(
            "\n[agents.{login}]\nname = \"Operator {i}\"\npassword = {{ demo = \"{password}\" }}\n\
             skills = {{ language = {{ ca = 10, es = 10, en = 10, oc = 10 }}, topic = {{ procedures = 10, health = 10, education = 10, work = 10, transport = 10, other = 10 }} }}\n"
        ));
        operators.push(OperatorConfig { login, password });
    }
    (text, operators)
}

fn prepare(dir: &Path, root: &Path, operators: usize, sip: u16) -> Result<(PathBuf, Vec<OperatorConfig>), std::io::Error> {
    let plans = dir.join("dialplans");
    std::fs::create_dir_all(plans.join("calendars"))?;
    std::fs::copy(root.join("dialplans/012.toml"), plans.join("012.toml"))?;
    // Wrap-up shortened so that each operator takes several calls.
    let queues = std::fs::read_to_string(root.join("dialplans/queues.toml"))?.replace("wrap_up_secs = 30", "wrap_up_secs = 2");
    std::fs::write(plans.join("queues.toml"), queues)?;
    let (agents, configs) = agents_file(operators);
    std::fs::write(plans.join("agents.toml"), agents)?;
    std::fs::write(
        plans.join("calendars/catalonia.toml"),
        "time_zone = \"Europe/Madrid\"\n\n[schedules.staffed]\nmonday-sunday = [\"00:00-24:00\"]\n\n[schedules.ivr]\nmonday-sunday = [\"00:00-24:00\"]\n",
    )?;
    let config = dir.join("ivr.toml");
    std::fs::write(
        &config,
        format!(
            "dialplan = \"{}\"\n\n[media]\nmedia_timeout_secs = 30\n\n[shutdown]\ngrace_secs = 5\n\n[acd]\nqueues = \"{}\"\nagents = \"{}\"\n",
            plans.join("012.toml").display(),
            plans.join("queues.toml").display(),
            plans.join("agents.toml").display()
        ),
    )?;
    let _ = sip;
    Ok((config, configs))
}

/// Runs the smoke profile; the report's `ok` is the verdict.
pub fn run(config: &SmokeConfig) -> Result<LiveReport, SmokeError> {
    // The server runs in its own folder: relative paths would point there.
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let config = &SmokeConfig { ivr: absolute(&config.ivr), root: absolute(&config.root), ..config.clone() };
    let dir = std::env::temp_dir().join(format!("loadtest-smoke-{}-{}", std::process::id(), config.seed));
    let folder = |source| SmokeError::Folder { path: dir.display().to_string(), source };
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(folder)?;
    // Two legs per call that reaches an operator: room for twice the calls.
    let rtp_count = ((config.calls_per_sec * 60.0) as u16).clamp(200, 4_000) * 2;
    // One block, so that no two of them are the same free port.
    let sip = free_ports(rtp_count + 2)?;
    let http = sip + 1;
    let rtp = sip + 2;
    let (config_path, operators) = prepare(&dir, &config.root, config.operators, sip).map_err(folder)?;
    let log = std::fs::File::create(dir.join("server.log")).map_err(folder)?;
    let db = format!("sqlite://{}", dir.join("ivr.db").display());
    let child = Command::new(&config.ivr)
        .arg("serve")
        .args(["--sip", &format!("127.0.0.1:{sip}")])
        .args(["--http", &format!("127.0.0.1:{http}")])
        .arg("--prompts")
        .arg(config.root.join("prompts"))
        .args(["--rtp-ports", &format!("{rtp}-{}", rtp + rtp_count - 1)])
        .arg("--config")
        .arg(&config_path)
        .args(["--db", &db])
        .current_dir(&dir)
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(folder)?)
        .stderr(log)
        .spawn()
        .map_err(|source| SmokeError::Spawn { ivr: config.ivr.display().to_string(), source })?;
    let mut server = ServerProcess { child, dir: dir.clone(), keep: config.keep };
    let http_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, http));
    let start_within = Duration::from_secs(90);
    let started = Instant::now();
    while http_status(http_addr, "/health") != Some(200) {
        if started.elapsed() > start_within || server.child.try_wait().ok().flatten().is_some() {
            return Err(SmokeError::NotHealthy(start_within, server.log_tail()));
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    let mut run = RunConfig::new(SocketAddr::from((Ipv4Addr::LOCALHOST, sip)), config.root.join("prompts"));
    run.load = Load::Rate { per_sec: config.calls_per_sec };
    run.duration = config.arrivals;
    run.drain = DRAIN;
    run.operators = operators;
    run.seed = config.seed;
    run.server_pid = Some(server.child.id());
    run.progress = config.progress;
    run.time_scale = TIME_SCALE;
    run.ring_delay = RING_DELAY;
    run.mix = smoke_mix();
    let healthy = started.elapsed();
    let finished = super::run(&run)?;
    let stopping = Instant::now();
    let clean_exit = server.stop(Duration::from_secs(30));
    let stopped = stopping.elapsed();
    let expected = super::expected_records(&finished.engine);
    let records = super::records::check(&db, &dir.join("data/pseudonym.key"), &expected, Duration::from_secs(10))?;
    if config.progress {
        eprintln!(
            "smoke: server healthy in {:.1} s, calls {:.1} s, server stopped in {:.1} s, records read in {:.1} s",
            healthy.as_secs_f64(),
            finished.elapsed.as_secs_f64(),
            stopped.as_secs_f64(),
            (stopping.elapsed() - stopped).as_secs_f64()
        );
    }
    let mut report = with_records(live_report("smoke", &finished, None), records);
    let cut = cut_by_drain(&finished, DRAIN);
    if cut > 0 {
        report.problems.push(format!(
            "{cut} calls were still up {} s after their start and were hung up by the generator: a journey of this profile ends within about a minute, and a cut call's record may differ from its script",
            DRAIN.as_secs()
        ));
        report.ok = false;
    }
    if !clean_exit {
        report.problems.push(format!("the server did not exit cleanly on SIGTERM; its log:\n{}", server.log_tail()));
        report.ok = false;
    }
    if !report.ok && config.keep {
        report.problems.push(format!("the server's folder is kept: {}", dir.display()));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::{Intent, Topic};

    #[test]
    fn the_smoke_mix_keeps_every_journey_to_about_a_minute_of_prompts_every_topic_for_self_service_and_queued_callbacks() {
        let mix = smoke_mix();
        let mut rng = fastrand::Rng::with_seed(12);
        let mut topics_served = std::collections::BTreeSet::new();
        let (mut to_operator, mut surveyed, mut asked_callback) = (0, 0, 0);
        for _ in 0..20_000 {
            let journey = mix.draw(&mut rng);
            assert!(!journey.hear_again, "nobody hears the information twice");
            if let Some(after) = journey.callback_in_queue_after {
                asked_callback += 1;
                let scaled = after.mul_f64(TIME_SCALE);
                assert!(scaled >= Duration::from_millis(200) && scaled < Duration::from_millis(500), "{scaled:?}");
            }
            assert!(journey.think <= Duration::from_millis(1_200), "{:?}", journey.think);
            match journey.intent {
                // Information, its options and then the queue and the
                // survey would be over 80 s of prompts.
                Intent::Operator => {
                    assert_eq!(journey.topic, Topic::Other, "an operator caller goes to the queue from the main menu");
                    to_operator += 1;
                    surveyed += usize::from(journey.survey.is_some());
                }
                Intent::SelfService => {
                    topics_served.insert(journey.topic.key());
                }
                Intent::AbandonInIvr | Intent::NoInput => {}
            }
        }
        assert_eq!(topics_served.len(), 5, "every topic's information is heard: {topics_served:?}");
        assert!(to_operator > 6_000 && surveyed > to_operator / 3, "{to_operator} to the operator, {surveyed} surveyed");
        // A fifth of the callers would press it, if still queued by then.
        assert!((3_600..4_400).contains(&asked_callback), "{asked_callback} with a callback time");
    }

    #[test]
    fn patience_and_talk_scaled_to_the_smoke_profile_end_well_within_the_drain() {
        // The longest of ten thousand draws, far more than a run's callers.
        let mix = smoke_mix();
        let mut rng = fastrand::Rng::with_seed(7);
        let longest = (0..10_000)
            .map(|_| mix.draw(&mut rng))
            .map(|j| j.patience.mul_f64(TIME_SCALE) + super::super::operator::scaled_talk(j.talk, TIME_SCALE))
            .max()
            .expect("draws");
        // About 50 s of prompts at most: the welcome, two menus, the
        // longest information prompt (29 s) and its options; or the menus,
        // the operator prompt and the survey.
        assert!(Duration::from_secs(50) + longest < DRAIN, "{longest:?}");
    }
}
