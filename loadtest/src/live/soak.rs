//! # `loadtest soak`: a steady load for hours, watching the server drift
//!
//! The load is the one of `loadtest run` ([`super::run_observed`]: the same
//! engine, callers, operators, drain and JSON result); this module cuts the
//! load phase into intervals and samples, at the end of each, the server's
//! resident memory (`VmRSS` of `/proc/PID/status`), its open descriptors
//! (`/proc/PID/fd`), its CPU and ours, and the generator's setup latency
//! and RTP figures over the interval. At the end it computes the drift
//! after a warm-up (RSS growth per hour and descriptor growth, both from a
//! least-squares line so one noisy sample does not decide; setup p99 of the
//! first interval against the last) and judges it against [`LeakLimits`].
//!
//! The load phase ends at `duration` or once `max_calls` calls were offered,
//! whichever comes first: every soak is bounded in time and in calls.
//!
//! Owns the interval sampling and the drift arithmetic ([`drift`],
//! [`leaks`], [`slope`] are pure and tested here). Never here: a second
//! copy of the run loop, or a verdict on calls (the run's own report says
//! whether calls failed; [`SoakReport::ok`] needs both).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::engine::Engine;
use super::net::{self, Flow, ShellFigures};
use super::stats::Histogram;
use super::{Finished, LiveError, RunConfig};

/// How much drift a soak tolerates before it calls it a leak.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LeakLimits {
    /// Server RSS growth, MiB per hour (least-squares slope after warm-up).
    pub max_rss_growth_mb_per_hour: f64,
    /// Server descriptors gained over the window after warm-up (fitted).
    pub max_fd_growth: f64,
    /// The last interval's setup p99 may be at most this times the first's
    /// plus [`LeakLimits::setup_p99_slack_ms`].
    pub max_setup_p99_ratio: f64,
    pub setup_p99_slack_ms: f64,
}

impl Default for LeakLimits {
    fn default() -> Self {
        LeakLimits { max_rss_growth_mb_per_hour: 20.0, max_fd_growth: 50.0, max_setup_p99_ratio: 2.0, setup_p99_slack_ms: 20.0 }
    }
}

#[derive(Debug, Clone)]
pub struct SoakConfig {
    /// The load (`Load::Rate` or `Load::Concurrency` for a steady one);
    /// its `duration` is the soak's length.
    pub run: RunConfig,
    pub interval: Duration,
    /// Intervals starting before this are sampled but not in the drift.
    pub warmup: Duration,
    /// The load phase also ends once this many calls were offered.
    pub max_calls: u64,
    pub limits: LeakLimits,
}

/// One interval of the load phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Interval {
    /// Seconds since the load started, at the interval's start and end.
    pub start_s: f64,
    pub end_s: f64,
    /// Calls up at the interval's end.
    pub concurrent: usize,
    pub calls_started: u64,
    pub calls_failed: u64,
    /// Setups completed in the interval, and their p99.
    pub setups: u64,
    pub setup_p99_ms: f64,
    pub rtp_sent: u64,
    pub rtp_received: u64,
    pub rtp_expected: u64,
    pub rtp_lost: u64,
    pub send_deviation_p99_ms: f64,
    pub server_deviation_p99_ms: f64,
    pub generator_cpu_percent: Option<f64>,
    pub server_cpu_percent: Option<f64>,
    pub server_rss_mb: Option<f64>,
    pub server_fds: Option<usize>,
}

/// What changed between the warm-up's end and the soak's end.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Drift {
    /// Intervals after the warm-up: the ones the drift comes from.
    pub intervals_used: usize,
    pub rss_first_mb: Option<f64>,
    pub rss_last_mb: Option<f64>,
    pub rss_growth_mb_per_hour: Option<f64>,
    pub fds_first: Option<usize>,
    pub fds_last: Option<usize>,
    /// The fitted line's rise over the window, in descriptors.
    pub fd_growth: Option<f64>,
    pub setup_p99_first_ms: Option<f64>,
    pub setup_p99_last_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SoakEnd {
    Duration,
    MaxCalls,
}

#[derive(Debug, Clone, Serialize)]
pub struct SoakReport {
    pub server_pid: Option<u32>,
    pub interval_s: f64,
    pub warmup_s: f64,
    pub max_calls: u64,
    pub ended_by: SoakEnd,
    pub limits: LeakLimits,
    pub intervals: Vec<Interval>,
    pub drift: Drift,
    /// Every limit passed, and why drift could not be judged.
    pub leaks: Vec<String>,
    /// No leak, and the run itself was ok (no failed call, no loss).
    pub ok: bool,
}

/// Least-squares slope of `points` (x, y), in y per unit of x; `None`
/// under two points or when every x is the same.
pub fn slope(points: &[(f64, f64)]) -> Option<f64> {
    if points.len() < 2 {
        return None;
    }
    let n = points.len() as f64;
    let mean_x = points.iter().map(|p| p.0).sum::<f64>() / n;
    let mean_y = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxx: f64 = points.iter().map(|p| (p.0 - mean_x).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mean_x) * (p.1 - mean_y)).sum();
    (sxx > 0.0).then(|| sxy / sxx)
}

/// The drift of the intervals that start at or after `warmup_s`.
pub fn drift(intervals: &[Interval], warmup_s: f64) -> Drift {
    let used: Vec<&Interval> = intervals.iter().filter(|i| i.start_s >= warmup_s).collect();
    let rss: Vec<(f64, f64)> = used.iter().filter_map(|i| i.server_rss_mb.map(|m| (i.end_s / 3600.0, m))).collect();
    let fds: Vec<(f64, f64)> = used.iter().filter_map(|i| i.server_fds.map(|f| (i.end_s, f as f64))).collect();
    let span = |points: &[(f64, f64)]| points.last().map_or(0.0, |l| l.0) - points.first().map_or(0.0, |f| f.0);
    let with_setups: Vec<&&Interval> = used.iter().filter(|i| i.setups > 0).collect();
    Drift {
        intervals_used: used.len(),
        rss_first_mb: rss.first().map(|p| p.1),
        rss_last_mb: rss.last().map(|p| p.1),
        rss_growth_mb_per_hour: slope(&rss),
        fds_first: used.iter().find_map(|i| i.server_fds),
        fds_last: used.iter().rev().find_map(|i| i.server_fds),
        fd_growth: slope(&fds).map(|per_sec| per_sec * span(&fds)),
        setup_p99_first_ms: with_setups.first().map(|i| i.setup_p99_ms),
        setup_p99_last_ms: with_setups.last().map(|i| i.setup_p99_ms),
    }
}

/// Every limit the drift passes, in words; also a drift too short to judge.
pub fn leaks(drift: &Drift, limits: &LeakLimits) -> Vec<String> {
    let mut found = Vec::new();
    if drift.intervals_used < 2 {
        found.push(format!("too short to judge drift: {} intervals after the warm-up (need 2)", drift.intervals_used));
        return found;
    }
    if let Some(growth) = drift.rss_growth_mb_per_hour
        && growth > limits.max_rss_growth_mb_per_hour
    {
        found.push(format!("server RSS grows {growth:.2} MiB/h > {} MiB/h", limits.max_rss_growth_mb_per_hour));
    }
    if let Some(growth) = drift.fd_growth
        && growth > limits.max_fd_growth
    {
        found.push(format!("server descriptors grew by {growth:.0} > {}", limits.max_fd_growth));
    }
    if let (Some(first), Some(last)) = (drift.setup_p99_first_ms, drift.setup_p99_last_ms) {
        let allowed = first * limits.max_setup_p99_ratio + limits.setup_p99_slack_ms;
        if last > allowed {
            found.push(format!("setup p99 rose from {first:.1} ms to {last:.1} ms (allowed {allowed:.1} ms)"));
        }
    }
    found
}

/// The pid of the process with a UDP socket bound to `addr` (or to the
/// wildcard on its port): `/proc/net/udp` for the socket's inode, then
/// the `/proc/PID/fd` links for its owner. `None` if not found or not
/// readable (another user's process, without privileges).
pub fn pid_of_udp_socket(addr: SocketAddr) -> Option<u32> {
    let table = std::fs::read_to_string("/proc/net/udp").ok()?;
    let inode = udp_inode(&table, addr)?;
    let wanted = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else { continue };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == wanted.as_str()) {
                return Some(pid);
            }
        }
    }
    None
}

/// The inode of the socket bound to `addr` in a `/proc/net/udp` table: an
/// exact match first, else one bound to 0.0.0.0 on the same port.
pub fn udp_inode(table: &str, addr: SocketAddr) -> Option<u64> {
    let SocketAddr::V4(v4) = addr else { return None };
    // The kernel prints the address as the u32 in host (little-endian) order.
    let exact = format!("{:08X}:{:04X}", u32::from_le_bytes(v4.ip().octets()), v4.port());
    let wildcard = format!("00000000:{:04X}", v4.port());
    let rows: Vec<(&str, u64)> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            Some((*fields.get(1)?, fields.get(9)?.parse().ok()?))
        })
        .collect();
    let find = |key: &str| rows.iter().find(|(local, _)| local.eq_ignore_ascii_case(key)).map(|r| r.1);
    find(&exact).or_else(|| find(&wildcard))
}

/// Counters at the start of the current interval.
struct IntervalSampler {
    server_pid: Option<u32>,
    interval: Duration,
    max_calls: u64,
    /// The wall end of the load phase.
    duration: Duration,
    progress: bool,
    load_started: Option<Instant>,
    last_end: Instant,
    offered: u64,
    failed: u64,
    setup: Histogram,
    rtp_sent: u64,
    rtp_received: u64,
    lost: u64,
    expected: u64,
    my_cpu: Option<Duration>,
    server_cpu: Option<Duration>,
    intervals: Vec<Interval>,
    ended_by: SoakEnd,
}

impl IntervalSampler {
    fn observe(&mut self, engine: &mut Engine, now: Instant, shell: &mut ShellFigures) -> Flow {
        let Some(started) = self.load_started else {
            self.load_started = Some(now);
            self.rebase(engine, now);
            // Drop what the registration phase left in the per-step figures.
            shell.send_deviation_recent_step();
            engine.figures.arrival_variation_recent = Histogram::default();
            return Flow::Continue;
        };
        let elapsed = now.duration_since(started);
        let at_limit = engine.figures.offered >= self.max_calls;
        let at_end = elapsed >= self.duration;
        if now.duration_since(self.last_end) >= self.interval || at_limit || at_end {
            self.close(engine, now, started, shell);
        }
        if at_limit {
            self.ended_by = SoakEnd::MaxCalls;
            return Flow::Stop;
        }
        if at_end { Flow::Stop } else { Flow::Continue }
    }

    fn failed_calls(engine: &Engine) -> u64 {
        engine.calls.iter().filter(|c| c.failure.is_some()).count() as u64
    }

    fn rebase(&mut self, engine: &Engine, now: Instant) {
        let f = &engine.figures;
        (self.lost, self.expected) = engine.loss_so_far();
        self.last_end = now;
        self.offered = f.offered;
        self.failed = Self::failed_calls(engine);
        self.setup = f.setup.clone();
        self.rtp_sent = f.rtp_sent;
        self.rtp_received = f.rtp_received;
        self.my_cpu = net::cpu_time(std::process::id());
        self.server_cpu = self.server_pid.and_then(net::cpu_time);
    }

    fn close(&mut self, engine: &mut Engine, now: Instant, started: Instant, shell: &mut ShellFigures) {
        let wall = now.duration_since(self.last_end).as_secs_f64();
        if wall <= 0.0 {
            return;
        }
        let percent = |now: Option<Duration>, then: Option<Duration>| {
            now.zip(then).map(|(a, b)| a.saturating_sub(b).as_secs_f64() * 100.0 / wall)
        };
        let server_deviation = std::mem::take(&mut engine.figures.arrival_variation_recent);
        let (lost, expected) = engine.loss_so_far();
        let f = &engine.figures;
        let mut setup = f.setup.clone();
        setup.subtract(&self.setup);
        let interval = Interval {
            start_s: self.last_end.duration_since(started).as_secs_f64(),
            end_s: now.duration_since(started).as_secs_f64(),
            concurrent: engine.active(),
            calls_started: f.offered - self.offered,
            calls_failed: Self::failed_calls(engine).saturating_sub(self.failed),
            setups: setup.count(),
            setup_p99_ms: setup.percentile_ms(99.0),
            rtp_sent: f.rtp_sent - self.rtp_sent,
            rtp_received: f.rtp_received - self.rtp_received,
            rtp_expected: expected.saturating_sub(self.expected),
            // A late packet can fill a gap counted as lost before: saturate.
            rtp_lost: lost.saturating_sub(self.lost),
            send_deviation_p99_ms: shell.send_deviation_recent_step().percentile_ms(99.0),
            server_deviation_p99_ms: server_deviation.percentile_ms(99.0),
            generator_cpu_percent: percent(net::cpu_time(std::process::id()), self.my_cpu),
            server_cpu_percent: percent(self.server_pid.and_then(net::cpu_time), self.server_cpu),
            server_rss_mb: self.server_pid.and_then(net::rss_mb),
            server_fds: self.server_pid.and_then(net::fd_count),
        };
        if self.progress {
            eprintln!(
                "soak t={:>6.0}s calls {:>5} started {:>6} failed {:>3} setup p99 {:>6.1} ms lost {:>5} rss {} fds {} server cpu {}",
                interval.end_s,
                interval.concurrent,
                interval.calls_started,
                interval.calls_failed,
                interval.setup_p99_ms,
                interval.rtp_lost,
                interval.server_rss_mb.map_or("-".to_owned(), |m| format!("{m:.1} MiB")),
                interval.server_fds.map_or("-".to_owned(), |n| n.to_string()),
                interval.server_cpu_percent.map_or("-".to_owned(), |c| format!("{c:.1} %")),
            );
        }
        self.intervals.push(interval);
        self.rebase(engine, now);
    }
}

/// Runs the soak: the load, sampled by interval, then the drain and the
/// end of every call as in `loadtest run`. The run's own report comes from
/// [`super::report::live_report`] on the returned [`Finished`].
pub fn run(config: &SoakConfig) -> Result<(SoakReport, Finished), LiveError> {
    let mut run = config.run.clone();
    // The sampler ends the load phase itself (closing its last interval
    // first); the run's own end is only a backstop.
    run.duration = config.run.duration + config.interval + Duration::from_secs(60);
    let start = Instant::now();
    let mut sampler = IntervalSampler {
        server_pid: config.run.server_pid,
        interval: config.interval.max(Duration::from_secs(1)),
        max_calls: config.max_calls,
        duration: config.run.duration,
        progress: config.run.progress,
        load_started: None,
        last_end: start,
        offered: 0,
        failed: 0,
        setup: Histogram::default(),
        rtp_sent: 0,
        rtp_received: 0,
        lost: 0,
        expected: 0,
        my_cpu: None,
        server_cpu: None,
        intervals: Vec::new(),
        ended_by: SoakEnd::Duration,
    };
    let finished = super::run_observed(&run, |engine, now, shell| sampler.observe(engine, now, shell))?;
    let warmup_s = config.warmup.as_secs_f64();
    let drift = drift(&sampler.intervals, warmup_s);
    let leaks = leaks(&drift, &config.limits);
    let report = SoakReport {
        server_pid: config.run.server_pid,
        interval_s: sampler.interval.as_secs_f64(),
        warmup_s,
        max_calls: config.max_calls,
        ended_by: sampler.ended_by,
        limits: config.limits,
        intervals: sampler.intervals,
        drift,
        ok: leaks.is_empty(),
        leaks,
    };
    Ok((report, finished))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Intervals of a minute from t = 0, with the server's RSS and
    /// descriptors at each end given by `rss(t)` and `fds(t)`.
    fn minutes(n: usize, rss: impl Fn(f64) -> f64, fds: impl Fn(f64) -> usize, setup_p99: impl Fn(usize) -> f64) -> Vec<Interval> {
        (0..n)
            .map(|i| {
                let (start_s, end_s) = (i as f64 * 60.0, (i + 1) as f64 * 60.0);
                Interval {
                    start_s,
                    end_s,
                    setups: 100,
                    setup_p99_ms: setup_p99(i),
                    server_rss_mb: Some(rss(end_s)),
                    server_fds: Some(fds(end_s)),
                    ..Interval::default()
                }
            })
            .collect()
    }

    #[test]
    fn the_slope_of_a_line_is_its_rise_per_unit_and_needs_two_distinct_points() {
        let line: Vec<(f64, f64)> = (0..10).map(|x| (x as f64, 3.0 + 0.5 * x as f64)).collect();
        assert!((slope(&line).expect("a line has a slope") - 0.5).abs() < 1e-12);
        assert_eq!(slope(&[(1.0, 2.0)]), None);
        assert_eq!(slope(&[(1.0, 2.0), (1.0, 5.0)]), None);
        assert_eq!(slope(&[]), None);
    }

    #[test]
    fn a_server_gaining_30_mib_an_hour_is_a_leak_and_a_flat_one_is_not() {
        let limits = LeakLimits::default();
        // Two hours; memory climbs 0.5 MiB a minute after a warm-up jump.
        let leaking = minutes(120, |t| if t < 600.0 { 50.0 } else { 80.0 + t / 120.0 }, |_| 40, |_| 5.0);
        let d = drift(&leaking, 600.0);
        assert_eq!(d.intervals_used, 110);
        assert!((d.rss_growth_mb_per_hour.expect("RSS sampled") - 30.0).abs() < 1e-6, "{d:?}");
        let found = leaks(&d, &limits);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("RSS grows 30.00 MiB/h"), "{found:?}");

        // The same warm-up jump, then flat with noise: the jump is excluded.
        let flat = minutes(120, |t| if t < 600.0 { 50.0 } else { 80.0 + ((t / 60.0) as i64 % 3) as f64 * 0.3 }, |_| 40, |_| 5.0);
        let d = drift(&flat, 600.0);
        assert!(d.rss_growth_mb_per_hour.expect("RSS sampled").abs() < 0.1, "{d:?}");
        assert_eq!(leaks(&d, &limits), Vec::<String>::new());
        // Without the warm-up excluded the jump reads as growth.
        assert!(drift(&flat, 0.0).rss_growth_mb_per_hour.expect("RSS sampled") > 5.0);
    }

    #[test]
    fn descriptors_that_keep_rising_are_a_leak_and_ones_that_wobble_with_calls_are_not() {
        let limits = LeakLimits::default();
        // One descriptor lost a minute for 100 minutes: the fit rises 99.
        let leaking = minutes(100, |_| 60.0, |t| 500 + (t / 60.0) as usize, |_| 5.0);
        let d = drift(&leaking, 0.0);
        assert_eq!((d.fds_first, d.fds_last), (Some(501), Some(600)));
        assert!((d.fd_growth.expect("descriptors sampled") - 99.0).abs() < 1e-6, "{d:?}");
        assert!(leaks(&d, &limits).iter().any(|l| l.contains("descriptors grew by 99")));

        // Calls coming and going move the count by up to 120 either way.
        let wobbling = minutes(100, |_| 60.0, |t| if ((t / 60.0) as usize).is_multiple_of(2) { 440 } else { 560 }, |_| 5.0);
        let d = drift(&wobbling, 0.0);
        assert!(d.fd_growth.expect("descriptors sampled").abs() < 10.0, "{d:?}");
        assert!(leaks(&d, &limits).is_empty());
    }

    #[test]
    fn setup_latency_may_rise_within_ratio_and_slack_but_not_beyond() {
        let limits = LeakLimits::default(); // last <= first * 2 + 20 ms
        let within = minutes(10, |_| 60.0, |_| 40, |i| if i == 9 { 28.0 } else { 4.0 });
        assert_eq!(leaks(&drift(&within, 0.0), &limits), Vec::<String>::new());
        let beyond = minutes(10, |_| 60.0, |_| 40, |i| if i == 9 { 29.0 } else { 4.0 + i as f64 });
        let d = drift(&beyond, 0.0);
        assert_eq!((d.setup_p99_first_ms, d.setup_p99_last_ms), (Some(4.0), Some(29.0)));
        // 4 * 2 + 20 = 28 < 29
        let found = leaks(&d, &limits);
        assert_eq!(found, vec!["setup p99 rose from 4.0 ms to 29.0 ms (allowed 28.0 ms)".to_owned()]);
    }

    #[test]
    fn intervals_with_no_setup_do_not_count_as_first_or_last_latency() {
        let mut intervals = minutes(5, |_| 60.0, |_| 40, |i| i as f64 * 100.0);
        intervals[0].setups = 0;
        intervals[4].setups = 0;
        let d = drift(&intervals, 0.0);
        assert_eq!((d.setup_p99_first_ms, d.setup_p99_last_ms), (Some(100.0), Some(300.0)));
    }

    #[test]
    fn a_soak_shorter_than_two_intervals_after_warm_up_cannot_pass() {
        let d = drift(&minutes(3, |_| 60.0, |_| 40, |_| 5.0), 120.0);
        assert_eq!(d.intervals_used, 1);
        assert_eq!(leaks(&d, &LeakLimits::default()), vec!["too short to judge drift: 1 intervals after the warm-up (need 2)".to_owned()]);
    }

    #[test]
    fn without_a_server_pid_only_latency_is_judged() {
        let mut intervals = minutes(10, |_| 60.0, |_| 40, |_| 5.0);
        for i in &mut intervals {
            (i.server_rss_mb, i.server_fds) = (None, None);
        }
        let d = drift(&intervals, 0.0);
        assert_eq!((d.rss_growth_mb_per_hour, d.fd_growth, d.fds_first), (None, None, None));
        assert!(leaks(&d, &LeakLimits::default()).is_empty());
    }

    const UDP_TABLE: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  120: 0100007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 4242 2 0000000000000000 0
  121: 00000000:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 777 2 0000000000000000 0
  122: 0200007F:13C4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 99 2 0000000000000000 0
";

    #[test]
    fn the_socket_of_an_address_is_found_exactly_or_on_the_wildcard() {
        let at = |s: &str| s.parse::<SocketAddr>().expect("an address");
        assert_eq!(udp_inode(UDP_TABLE, at("127.0.0.1:5060")), Some(4242));
        assert_eq!(udp_inode(UDP_TABLE, at("127.0.0.2:5060")), Some(99));
        assert_eq!(udp_inode(UDP_TABLE, at("127.0.0.1:8080")), Some(777));
        assert_eq!(udp_inode(UDP_TABLE, at("127.0.0.1:5061")), None);
        assert_eq!(udp_inode("garbage\n1: x\n", at("127.0.0.1:5060")), None);
    }

    #[test]
    fn this_process_is_found_from_its_own_socket() {
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
        let addr = socket.local_addr().expect("a bound socket");
        assert_eq!(pid_of_udp_socket(addr), Some(std::process::id()));
    }
}
