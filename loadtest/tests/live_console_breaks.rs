//! Operators through the agent console, against the real `ivr` binary
//! (issue 7: operators "go available, ..., take breaks"): the benchmark
//! server script (`loadtest/bench/live-server.sh`, with `CONSOLE_USERS`)
//! starts a server on free loopback ports with four operators who are
//! console users too; the generator registers them over SIP, signs each in
//! through `POST /api/login` and `POST /api/agent/status`, and has them
//! take a 3 s break every 6 s (staggered, never during a call) while about
//! two dozen callers go through the 012 line and queue for them.
//!
//! Then: every operator took breaks; no offer rang an operator the console
//! had confirmed on break; every call left exactly one record (the
//! records check of the smoke test); every console request succeeded.
//! About a minute: the run ends when the last call has ended by itself
//! (the smoke profile's bounded journeys); the server is killed on every
//! path out.
//!
//! The server binary is `IVR_BIN`, or `ivr` beside this test's target
//! folder (`cargo build -p ivr` first). Without it the test is skipped,
//! unless `CI` is set: there it fails.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use loadtest::live::console::ConsoleTarget;
use loadtest::live::operator::{BreakPlan, operators_from_files};
use loadtest::live::report::{live_report, with_records};
use loadtest::live::smoke::{DRAIN, RING_DELAY, TIME_SCALE, smoke_mix};
use loadtest::live::{Load, RunConfig, expected_records, records, run};

const OPERATORS: usize = 4;
/// In the profile's time, scaled by the smoke's 0.01: 3 s of break every 6 s.
const BREAKS: &str = "600:300";

/// `IVR_BIN`, else target/<profile>/ivr (this test is
/// target/<profile>/deps/live_console_breaks-<hash>).
fn ivr_binary() -> Option<PathBuf> {
    let beside = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.join("ivr"))).filter(|p| p.exists());
    std::env::var_os("IVR_BIN").map(PathBuf::from).or(beside)
}

/// The server the script started (not our child: it is polled in /proc),
/// SIGKILLed if still there when dropped; its folder removed.
struct Server {
    pid: i32,
    dir: PathBuf,
    sip: SocketAddr,
    http: SocketAddr,
}

impl Server {
    fn gone(&self) -> bool {
        // A zombie waiting for its reaper has exited as well.
        std::fs::read_to_string(format!("/proc/{}/stat", self.pid))
            .map_or(true, |stat| stat.rsplit(')').next().is_none_or(|rest| rest.trim_start().starts_with('Z')))
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid), signal);
    }

    /// SIGTERM (records flushed), then wait at most `within`.
    fn stop(&self, within: Duration) -> bool {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        let until = Instant::now() + within;
        while Instant::now() < until {
            if self.gone() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    fn log(&self) -> String {
        let text = std::fs::read_to_string(self.dir.join("ivr.log")).unwrap_or_default();
        text.lines().rev().take(30).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.gone() {
            self.signal(nix::sys::signal::Signal::SIGKILL);
        }
        if std::env::var_os("LOADTEST_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The first of `len` consecutive ports free for UDP and TCP on loopback.
fn free_block(len: u16) -> Option<u16> {
    let seed = (std::process::id() % 30_000) as u16;
    (0..50u16).map(|k| 21_000 + (seed + k * 1_231) % 30_000).find(|&first| {
        (first..first + len).all(|p| UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok() && TcpListener::bind((Ipv4Addr::LOCALHOST, p)).is_ok())
    })
}

/// `loadtest/bench/live-server.sh` with console users for every operator.
fn start_server(ivr: &Path, root: &Path) -> Server {
    let first = free_block(2 + 400).expect("a block of free loopback ports");
    let dir = std::env::temp_dir().join(format!("loadtest-console-breaks-{}", std::process::id()));
    let out = Command::new("bash")
        .arg(root.join("loadtest/bench/live-server.sh"))
        .arg(OPERATORS.to_string())
        // `ivr check` there finds prompts/ from the repository root.
        .current_dir(root)
        .env("IVR_BIN", ivr)
        .env("DIR", &dir)
        .env("SIP", format!("127.0.0.1:{first}"))
        .env("HTTP", format!("127.0.0.1:{}", first + 1))
        .env("RTP", format!("{}-{}", first + 2, first + 401))
        .env("CONSOLE_USERS", OPERATORS.to_string())
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .output()
        .expect("run loadtest/bench/live-server.sh");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let pid = stdout.lines().next().and_then(|l| l.trim().parse().ok());
    let (true, Some(pid)) = (out.status.success(), pid) else {
        // The script stops the server it started when it fails.
        let _ = std::fs::remove_dir_all(&dir);
        panic!("the server script failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    };
    Server { pid, dir, sip: SocketAddr::from((Ipv4Addr::LOCALHOST, first)), http: SocketAddr::from((Ipv4Addr::LOCALHOST, first + 1)) }
}

#[test]
fn operators_signed_in_through_the_console_take_breaks_while_callers_queue_and_are_never_rung_on_break() {
    let ivr = match (ivr_binary(), std::env::var_os("CI")) {
        (Some(ivr), _) => ivr,
        (None, Some(_)) => panic!("CI: no ivr binary to test against (cargo build -p ivr, or set IVR_BIN)"),
        (None, None) => return eprintln!("skipped: no ivr binary (cargo build -p ivr, or set IVR_BIN)"),
    };
    let root = std::path::absolute(Path::new(env!("CARGO_MANIFEST_DIR")).join("..")).expect("the repository root");
    let server = start_server(&ivr, &root);
    let plans = server.dir.join("dialplans");
    let mut config = RunConfig::new(server.sip, root.join("prompts"));
    config.operators = operators_from_files(&plans.join("queues.toml"), &plans.join("agents.toml")).expect("the script's ACD files");
    assert_eq!(config.operators.len(), OPERATORS);
    config.console = Some(ConsoleTarget::parse(&format!("http://{}", server.http)).expect("the console URL"));
    config.breaks = Some(BreakPlan::parse(BREAKS).expect("a break plan"));
    config.load = Load::Rate { per_sec: 2.0 };
    config.duration = Duration::from_secs(12);
    config.drain = DRAIN;
    config.mix = smoke_mix();
    config.time_scale = TIME_SCALE;
    config.ring_delay = RING_DELAY;
    config.server_pid = Some(server.pid as u32);
    config.progress = std::env::var_os("LOADTEST_PROGRESS").is_some();
    let finished = run(&config).expect("the run completes");
    assert!(server.stop(Duration::from_secs(30)), "the server did not stop on SIGTERM; its log:\n{}", server.log());
    let db = format!("sqlite://{}", server.dir.join("ivr.db").display());
    let checked = records::check(&db, &server.dir.join("data/pseudonym.key"), &expected_records(&finished.engine), Duration::from_secs(10))
        .expect("the records are read");
    let report = with_records(live_report("console-breaks", &finished, None), checked);
    let per_operator: Vec<(String, u64, u64, f64)> = finished
        .engine
        .operators
        .iter()
        .map(|o| (o.config.login.clone(), o.calls_answered, o.breaks_taken, o.break_time.as_secs_f64()))
        .collect();
    let summary = serde_json::to_string_pretty(&serde_json::json!({
        "calls": &report.calls, "operators": &report.operators, "per_operator": per_operator,
        "records": &report.records, "queue": &report.queue, "problems": &report.problems,
    }))
    .expect("the report serialises");
    eprintln!("the console and breaks run, {:.1} s of calls:\n{summary}", report.elapsed_s);

    let console = report.operators.console.as_ref().expect("the console figures");
    assert_eq!((console.signed_in, console.failures), (OPERATORS, 0), "console sign-in or requests failed: {summary}");
    // (a) breaks were taken, by every operator.
    assert!(finished.engine.operators.iter().all(|o| o.breaks_taken >= 1), "an operator took no break: {summary}");
    assert!(console.break_seconds >= OPERATORS as f64 * 2.0, "{summary}");
    // (b) the ACD rang nobody on break.
    assert_eq!(console.offers_on_break, 0, "offers rang operators on break: {summary}\nthe server's log:\n{}", server.log());
    // Callers did queue and operators answered them between breaks.
    assert!(report.queue.queued >= 3 && report.operators.calls_answered >= 1, "nobody queued or was answered: {summary}");
    // (c) one record per call.
    let records = report.records.as_ref().expect("the records were read");
    assert_eq!((records.missing, records.duplicated), (0, 0), "lost or duplicated records: {summary}");
    assert_eq!(records.found as u64, report.calls.offered, "{summary}");
}
