//! # The live generator: real SIP and RTP against a running `ivr serve`
//!
//! `loadtest run`, `loadtest capacity` and `loadtest smoke` drive the
//! server as its peers would: callers over UDP with G.711 audio who follow
//! journeys of the 012 flow ([`crate::traffic`]) by RFC 4733 (or in-band)
//! keys, check by correlation that what they hear is the prompt the flow
//! plays, and give up with their patience in the queue; operators who
//! register with digest credentials, answer after a ring delay and talk
//! for a log-normal time, and optionally sign in to the agent console and
//! take breaks there ([`console`]). At the end the server's database is read back:
//! one record per generated call, with the disposition and path the
//! script implies ([`records`]).
//!
//! Layout: [`engine`] is the sans-IO core (every call and operator, the
//! shared timers); [`caller`] and [`operator`] are the scripts; [`console`]
//! the console's HTTP client and its driver threads; [`media`]
//! the RTP; [`prompts`] the expected audio; [`net`] the one-thread shell
//! with batched sockets; [`stats`] the histograms; this module the run
//! modes and the JSON result.
//!
//! Never here: the server's media crate (our RTP, G.711 and correlation
//! are the independent oracle of `crate::g711` and `crate::audio`), or a
//! call left up after a run ends (a drain deadline hangs up the rest).

pub mod caller;
pub mod console;
pub mod engine;
pub mod html;
pub mod media;
pub mod net;
pub mod operator;
pub mod prompts;
pub mod records;
pub mod report;
pub mod sdp;
pub mod smoke;
pub mod soak;
pub mod stats;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::traffic::{JourneyMix, TrafficProfile};
pub use caller::Line;
use engine::{Engine, EngineConfig};
use net::{Flow, ShellFigures, Sockets};
use operator::OperatorConfig;
pub use report::{CapacityReport, CapacityStep, LiveReport};
use stats::Second;

/// How calls arrive during the load phase.
#[derive(Debug, Clone)]
pub enum Load {
    /// Poisson arrivals at a fixed rate.
    Rate { per_sec: f64 },
    /// Poisson arrivals following a traffic profile's half-hour curve, its
    /// time compressed `speed` times, from `start_slot` (half-hours since
    /// the profile's start).
    Profile { profile: Box<TrafficProfile>, speed: f64, start_slot: usize },
    /// A fixed number of calls up at once.
    Concurrency { calls: usize },
}

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub server: SocketAddr,
    pub bind: Ipv4Addr,
    pub rtp_sockets: usize,
    pub prompts: PathBuf,
    pub mix: JourneyMix,
    pub time_scale: f64,
    pub operators: Vec<OperatorConfig>,
    pub ring_delay: (Duration, Duration),
    pub seed: u64,
    pub load: Load,
    pub duration: Duration,
    /// After the load phase, how long calls may take to end by themselves.
    pub drain: Duration,
    pub setup_timeout: Duration,
    /// The server's pid, for its CPU and memory over time.
    pub server_pid: Option<u32>,
    /// A progress line on stderr every second.
    pub progress: bool,
    /// Share of calls whose heard audio is correlated with the prompt
    /// (1: every call; a capacity ramp can sample to leave the CPU to the
    /// server).
    pub audio_check_share: f64,
    /// The server's line open (staffed) or closed during the run: the
    /// generator cannot read its calendar (`loadtest/bench/live-server.sh`
    /// with `STAFFED=never` closes it).
    pub line: Line,
    /// The agent console: operators sign in there too, as the console user
    /// of their own login and password (`loadtest/bench/live-server.sh`
    /// with `CONSOLE_USERS` makes them).
    pub console: Option<console::ConsoleTarget>,
    /// Operators' breaks through the console (needs `console`).
    pub breaks: Option<operator::BreakPlan>,
}

impl RunConfig {
    /// Defaults for a local server at `server`: the live journey mix, no
    /// operators, 10 calls/s for a minute.
    pub fn new(server: SocketAddr, prompts: PathBuf) -> RunConfig {
        RunConfig {
            server,
            bind: Ipv4Addr::LOCALHOST,
            rtp_sockets: 4,
            prompts,
            mix: live_mix(),
            time_scale: 1.0,
            operators: Vec::new(),
            ring_delay: (Duration::from_secs(1), Duration::from_secs(4)),
            seed: 12,
            load: Load::Rate { per_sec: 10.0 },
            duration: Duration::from_secs(60),
            drain: Duration::from_secs(120),
            setup_timeout: Duration::from_secs(10),
            server_pid: None,
            progress: true,
            audio_check_share: 1.0,
            line: Line::Open,
            console: None,
            breaks: None,
        }
    }
}

/// The line's journey mix as the live generator can carry it: callers who
/// press nothing, or leave a survey question unanswered, wait on menu
/// timeouts the script does not model yet; their share goes to
/// self-service and to answered questions. Callbacks from the queue and
/// the contact options (callback, message, goodbye, hang up) are scripted
/// and keep their shares; the contact options are met with the line
/// closed ([`RunConfig::line`]). Not scripted: the queue's own way out to
/// `operators-unavailable` (its 900 s maximum wait, which a scaled
/// patience does not reach, or a queue with nobody logged in).
pub fn live_mix() -> JourneyMix {
    let mut mix = JourneyMix::default();
    mix.intents[0] += mix.intents[3];
    mix.intents[3] = 0.0;
    mix.survey_skip = 0.0;
    mix
}

#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Net(#[from] net::NetError),
    #[error(transparent)]
    Prompts(#[from] prompts::PromptError),
    #[error(transparent)]
    Records(#[from] records::RecordsError),
    #[error("the traffic profile: {0}")]
    Profile(#[from] crate::traffic::ProfileError),
    #[error("starting the console driver threads: {0}")]
    ConsoleThreads(std::io::Error),
}

/// Everything a run leaves: the engine (every call's outcome) and the
/// shell's and the timeline's figures.
pub struct Finished {
    pub engine: Engine,
    pub shell: ShellFigures,
    pub timeline: Vec<Second>,
    pub elapsed: Duration,
    pub generator_cpu: Option<Duration>,
    pub server_cpu: Option<Duration>,
    pub server_rss_max_mb: Option<f64>,
    pub server_fds_max: Option<usize>,
}

/// Samples this process's and the server's CPU once a second.
struct Sampler {
    started: Instant,
    last: Instant,
    my_cpu0: Option<Duration>,
    my_cpu_last: Option<Duration>,
    server_pid: Option<u32>,
    server_cpu0: Option<Duration>,
    server_cpu_last: Option<Duration>,
    rss_max: Option<f64>,
    fds_max: Option<usize>,
    timeline: Vec<Second>,
    started_before: u64,
    failed_before: u64,
    sent_before: u64,
    received_before: u64,
}

impl Sampler {
    fn new(now: Instant, server_pid: Option<u32>) -> Sampler {
        let my = net::cpu_time(std::process::id());
        let server = server_pid.and_then(net::cpu_time);
        Sampler {
            started: now,
            last: now,
            my_cpu0: my,
            my_cpu_last: my,
            server_pid,
            server_cpu0: server,
            server_cpu_last: server,
            rss_max: None,
            fds_max: None,
            timeline: Vec::new(),
            started_before: 0,
            failed_before: 0,
            sent_before: 0,
            received_before: 0,
        }
    }

    /// The run's end: CPU used since the start, by us and by the server.
    fn finish(self, engine: Engine, shell: ShellFigures, start: Instant) -> Finished {
        let since = |now: Option<Duration>, then: Option<Duration>| now.zip(then).map(|(a, b)| a.saturating_sub(b));
        Finished {
            engine,
            shell,
            generator_cpu: since(net::cpu_time(std::process::id()), self.my_cpu0),
            server_cpu: since(self.server_pid.and_then(net::cpu_time), self.server_cpu0),
            timeline: self.timeline,
            elapsed: start.elapsed(),
            server_rss_max_mb: self.rss_max,
            server_fds_max: self.fds_max,
        }
    }

    /// Once a second: a timeline entry (and the progress line).
    fn tick(&mut self, engine: &mut Engine, now: Instant, shell: &mut ShellFigures, progress: bool) {
        let wall = now.saturating_duration_since(self.last).as_secs_f64();
        if wall < 1.0 {
            return;
        }
        self.last = now;
        let percent = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
            (Some(a), Some(b)) => (a.saturating_sub(b)).as_secs_f64() * 100.0 / wall,
            _ => 0.0,
        };
        let my = net::cpu_time(std::process::id());
        let generator_cpu_percent = percent(my, self.my_cpu_last);
        self.my_cpu_last = my;
        let server = self.server_pid.and_then(net::cpu_time);
        let server_cpu_percent = self.server_pid.map(|_| percent(server, self.server_cpu_last));
        self.server_cpu_last = server;
        let server_rss_mb = self.server_pid.and_then(net::rss_mb);
        if let Some(rss) = server_rss_mb {
            self.rss_max = Some(self.rss_max.map_or(rss, |m: f64| m.max(rss)));
        }
        if let Some(fds) = self.server_pid.and_then(net::fd_count) {
            self.fds_max = Some(self.fds_max.map_or(fds, |m: usize| m.max(fds)));
        }
        let f = &engine.figures;
        let failed = engine.calls.iter().filter(|c| c.failure.is_some()).count() as u64;
        let second = Second {
            t: now.saturating_duration_since(self.started).as_secs(),
            concurrent: engine.active(),
            in_queue: engine.in_queue(),
            started: f.offered - self.started_before,
            failed: failed - self.failed_before,
            setup_p99_ms: f.setup.percentile_ms(99.0),
            send_deviation_p99_ms: shell.send_deviation_recent.percentile_ms(99.0),
            jitter_max_ms: f.jitter.max_ms(),
            packets_sent: f.rtp_sent - self.sent_before,
            packets_received: f.rtp_received - self.received_before,
            generator_cpu_percent,
            server_cpu_percent,
            server_rss_mb,
        };
        self.started_before = f.offered;
        self.failed_before = failed;
        self.sent_before = f.rtp_sent;
        self.received_before = f.rtp_received;
        shell.send_deviation_recent = stats::Histogram::default();
        if progress {
            eprintln!(
                "t={:>4}s calls {:>5} queue {:>4} offered {:>6} failed {:>4} setup p99 {:>6.1} ms send dev p99 {:>5.2} ms rtp {:>6}/s in {:>6}/s cpu {:>5.1} % server {}",
                second.t,
                second.concurrent,
                second.in_queue,
                f.offered,
                failed,
                second.setup_p99_ms,
                second.send_deviation_p99_ms,
                second.packets_sent,
                second.packets_received,
                second.generator_cpu_percent,
                second.server_cpu_percent.map_or("-".to_owned(), |c| format!("{c:.1} %")),
            );
        }
        self.timeline.push(second);
    }
}

/// The rate of a profile `elapsed` into a run at `speed`.
pub fn profile_rate(profile: &TrafficProfile, slots: &[crate::traffic::Slot], speed: f64, start_slot: usize, elapsed: Duration) -> f64 {
    let profile_secs = elapsed.as_secs_f64() * speed;
    let index = start_slot + (profile_secs / 1800.0) as usize;
    let _ = profile;
    slots.get(index).map_or(0.0, |s| s.expected_calls / 1800.0 * speed)
}

/// Runs the load, the drain and the end of every call; returns what is
/// needed for the report (see [`report::live_report`]).
pub fn run(config: &RunConfig) -> Result<Finished, LiveError> {
    run_observed(config, |_, _, _| Flow::Continue)
}

/// [`run`] with `observe` called on every control tick of the load phase
/// (at least every 100 ms); its [`Flow::Stop`] ends the load phase early
/// (the drain follows as at the end of `duration`). `loadtest soak` samples
/// its intervals here.
pub fn run_observed(
    config: &RunConfig,
    mut observe: impl FnMut(&mut Engine, Instant, &mut ShellFigures) -> Flow,
) -> Result<Finished, LiveError> {
    let (mut engine, mut sockets, start) = start_engine(config, config.console.is_some())?;
    // Console requests on their own threads (up to four; an operator's
    // requests stay on one, in order), never on the RTP loop's.
    let driver = match &config.console {
        Some(target) => Some(
            console::ConsoleDriver::start(console::ConsoleClient::new(target.clone()), config.operators.len().clamp(1, 4))
                .map_err(LiveError::ConsoleThreads)?,
        ),
        None => None,
    };
    // Sign-in waits for the console's login limit: 20 at once, then one
    // every 6 s from one address.
    let settle_within = match &driver {
        Some(_) => Duration::from_secs(15) + Duration::from_secs(7) * config.operators.len().saturating_sub(20) as u32,
        None => Duration::from_secs(5),
    };
    let slots = match &config.load {
        Load::Profile { profile, .. } => profile.slots()?,
        _ => Vec::new(),
    };
    let mut sampler = Sampler::new(start, config.server_pid);
    engine.register_operators();
    #[derive(PartialEq)]
    enum Stage {
        Registering,
        Load(Instant),
        Drain(Instant),
        Closing(Instant),
    }
    let mut stage = Stage::Registering;
    let shell = net::drive(&mut engine, &mut sockets, |engine, now, shell| {
        sampler.tick(engine, now, shell, config.progress);
        if let Some(driver) = &driver {
            pump_console(engine, driver, now);
        }
        match stage {
            Stage::Registering => {
                if (engine.operators_settled() && engine.console_settled()) || now.duration_since(start) > settle_within {
                    stage = Stage::Load(now);
                    engine.start_breaks(now);
                    if let Load::Concurrency { calls } = config.load {
                        engine.set_concurrency(now, calls);
                    }
                }
            }
            Stage::Load(since) => {
                let elapsed = now.duration_since(since);
                match &config.load {
                    Load::Rate { per_sec } => engine.set_arrival_rate(now, *per_sec),
                    Load::Profile { profile, speed, start_slot } => {
                        engine.set_arrival_rate(now, profile_rate(profile, &slots, *speed, *start_slot, elapsed))
                    }
                    Load::Concurrency { .. } => {}
                }
                let observed = observe(engine, now, shell);
                if elapsed >= config.duration || observed == Flow::Stop {
                    engine.stop_arrivals();
                    stage = Stage::Drain(now);
                }
            }
            Stage::Drain(since) => {
                if engine.active() == 0 || now.duration_since(since) >= config.drain {
                    engine.hang_up_all(now);
                    engine.sign_out_operators(now);
                    stage = Stage::Closing(now);
                }
            }
            Stage::Closing(since) => {
                let bye_done = engine.active() == 0 || now.duration_since(since) > Duration::from_secs(5);
                let checks_done = engine.checks_pending() == 0 || now.duration_since(since) > Duration::from_secs(30);
                let console_done = engine.console_settled() || now.duration_since(since) > Duration::from_secs(20);
                if bye_done && checks_done && console_done {
                    return Flow::Stop;
                }
            }
        }
        Flow::Continue
    })?;
    Ok(sampler.finish(engine, shell, start))
}

/// Carries operators' console requests to the driver and its answers back.
fn pump_console(engine: &mut Engine, driver: &console::ConsoleDriver, now: Instant) {
    for command in engine.take_console_commands() {
        let (operator, kind) = (command.operator, command.action.kind());
        if !driver.send(command) {
            let outcome = Err(console::ConsoleError::Stopped);
            engine.handle_console(now, console::ConsoleReply { operator, kind, outcome });
        }
    }
    while let Some(reply) = driver.try_recv() {
        engine.handle_console(now, reply);
    }
}

/// The engine and sockets of a run, its prompts loaded; `console`: its
/// operators use the console (only a run carries their requests).
fn start_engine(config: &RunConfig, console: bool) -> Result<(Engine, Sockets, Instant), LiveError> {
    let library = Arc::new(prompts::PromptLibrary::load(&config.prompts)?);
    let sockets = Sockets::bind(config.bind, config.rtp_sockets)?;
    let start = Instant::now();
    let engine_config = EngineConfig {
        server: config.server,
        sip_local: sockets.sip_addr()?,
        rtp_locals: sockets.rtp_addrs()?,
        dialled: "012".to_owned(),
        mix: config.mix.clone(),
        time_scale: config.time_scale,
        operators: config.operators.clone(),
        ring_delay: config.ring_delay,
        seed: config.seed,
        setup_timeout: config.setup_timeout,
        audio_check_share: config.audio_check_share,
        line: config.line,
        console,
        breaks: config.breaks.clone(),
    };
    Ok((Engine::new(engine_config, library, start), sockets, start))
}

/// What the records check needs from each generated call.
pub fn expected_records(engine: &Engine) -> Vec<records::Expected> {
    engine
        .calls
        .iter()
        .map(|c| records::Expected {
            number: c.caller.number.clone(),
            disposition: c.answered_at.map(|_| c.caller.expected_disposition()),
            also: c.caller.also_accepted(),
            keys_cut: c.keys_cut,
            path_prefix: c.caller.expected_path_prefix(),
            survey_answers: (c.caller.talked && c.caller.survey_answers == 3).then_some(3),
            keys_rfc4733: c.keys_rfc4733,
            keys_inband: c.keys_inband,
            keys_sip_info: c.keys_sip_info,
        })
        .collect()
}

/// The capacity ramp: concurrency from `start` up by `step` every `hold`,
/// until a step fails (p99 deviation over `max_deviation_ms`, any loss, or
/// any failed setup) or `max` is reached.
#[derive(Debug, Clone)]
pub struct CapacityConfig {
    pub run: RunConfig,
    pub start: usize,
    pub step: usize,
    pub max: usize,
    pub hold: Duration,
    pub max_deviation_ms: f64,
}

pub fn capacity(config: &CapacityConfig) -> Result<(CapacityReport, Finished), LiveError> {
    let (mut engine, mut sockets, start) = start_engine(&config.run, false)?;
    let mut sampler = Sampler::new(start, config.run.server_pid);
    let mut steps: Vec<CapacityStep> = Vec::new();
    let mut level = config.start.max(1);
    let mut step_started = start;
    let mut base = report::StepBase::default();
    let mut closing: Option<Instant> = None;
    engine.set_concurrency(start, level);
    let shell = net::drive(&mut engine, &mut sockets, |engine, now, shell| {
        sampler.tick(engine, now, shell, config.run.progress);
        if let Some(since) = closing {
            let done = engine.active() == 0 || now.duration_since(since) > Duration::from_secs(5);
            return if done { Flow::Stop } else { Flow::Continue };
        }
        if now.duration_since(step_started) < config.hold {
            return Flow::Continue;
        }
        let step = report::close_step(level, engine, shell, &mut base, &sampler.timeline, config.max_deviation_ms);
        let passed = step.passed;
        steps.push(step);
        if passed && level + config.step <= config.max {
            level += config.step;
            step_started = now;
            engine.set_concurrency(now, level);
        } else {
            engine.stop_arrivals();
            engine.hang_up_all(now);
            closing = Some(now);
        }
        Flow::Continue
    })?;
    let knee = steps.iter().take_while(|s| s.passed).last().map(|s| s.concurrency);
    let limit = steps.iter().find(|s| !s.passed).map(|s| s.reasons.join("; "));
    Ok((
        CapacityReport { knee, limited_by: limit, steps },
        sampler.finish(engine, shell, start),
    ))
}
