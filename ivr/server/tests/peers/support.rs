//! Plumbing shared by the peer tests: temp folders, free ports, bounded
//! waits, signals, peer discovery, reference prompts and the turn of the
//! heavy tests.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The prompts the test servers play are cut to these lengths (seconds) so
/// calls stay short; references are cut the same way.
pub const WELCOME_SECS: f64 = 2.5;
pub const GOODBYE_SECS: f64 = 1.5;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root exists")
}

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios").join(name)
}

/// Whether `binary` is on PATH. When it is not: with `CI` set the test
/// fails (CI must have every peer); without, it prints a loud skip notice
/// and the caller returns early.
pub fn peer_available(binary: &str, debian_package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(binary).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("`{binary}` is not installed and CI is set: apt-get install -y {debian_package}");
    }
    // Written to stderr directly, not with eprintln!, so that the test
    // harness's output capture cannot hide the notice of a passing test.
    let notice = format!(
        "\n!!!!!!!! SKIPPED {}: `{binary}` is not installed (apt-get install -y {debian_package}); \
         this test did NOT run !!!!!!!!\n",
        std::thread::current().name().unwrap_or("a peer test")
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
    false
}

/// A folder under the system temp dir, removed on drop unless the test is
/// failing (then its path is printed) or `IVR_PEERS_KEEP` is set.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("ivr-peers-{}-{n}-{label}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temp dir");
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::thread::panicking() || std::env::var_os("IVR_PEERS_KEEP").is_some() {
            eprintln!("kept test files in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A block of `count` consecutive ports on 127.0.0.1, each free for both
/// UDP and TCP when checked. Blocks never repeat within this process, and
/// each process starts in its own region, so parallel tests do not collide.
pub fn free_ports(count: u16) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let region = 20_000 + (std::process::id() % 40) * 1_000;
    let _ = NEXT.compare_exchange(0, region, Ordering::SeqCst, Ordering::SeqCst);
    for _ in 0..200 {
        let mut first = NEXT.fetch_add(u32::from(count), Ordering::SeqCst);
        if first + u32::from(count) > 65_000 {
            first = 20_000 + first % 40_000;
        }
        let all_free = (first..first + u32::from(count)).all(|p| {
            let p = p as u16;
            UdpSocket::bind(("127.0.0.1", p)).is_ok() && TcpListener::bind(("127.0.0.1", p)).is_ok()
        });
        if all_free {
            return first as u16;
        }
    }
    panic!("no block of {count} free ports found on 127.0.0.1");
}

/// Polls `probe` every 20 ms until it yields a value; panics naming `what`
/// when `timeout` passes first.
pub fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for a child to exit, at most `timeout`; `None` if still running.
pub fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends a signal (`TERM`, `INT`, `KILL`) with kill(1): the workspace
/// forbids `unsafe`, so no libc::kill here.
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .stderr(Stdio::null())
        .status()
        .expect("run kill(1)");
    // Failing to signal a process that has already exited is fine.
    let _ = status;
}

/// Ends a child we started: a polite signal, then SIGKILL after a bound.
pub fn stop_child(child: &mut Child, first_signal: &str, grace: Duration) -> Option<ExitStatus> {
    if let Ok(Some(status)) = child.try_wait() {
        return Some(status);
    }
    signal(child, first_signal);
    if let Some(status) = wait_child(child, grace) {
        return Some(status);
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

pub fn run_sox(args: &[&str]) {
    let out = Command::new("sox").args(args).output().expect("run sox (apt-get install -y sox)");
    assert!(out.status.success(), "sox {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The repository's Catalan prompts cut short (welcome, goodbye) into
/// `dir/ca/`, as the server's `--prompts` folder.
pub fn short_prompts(dir: &TempDir) -> PathBuf {
    let prompts = dir.join("prompts");
    let ca = prompts.join("ca");
    std::fs::create_dir_all(&ca).expect("create prompts dir");
    let source = repo_root().join("prompts/ca");
    for entry in std::fs::read_dir(&source).expect("prompts/ca exists") {
        let path = entry.expect("read prompts/ca").path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else { continue };
        if !name.ends_with(".wav") {
            continue;
        }
        let target = ca.join(name);
        let cut = match name {
            "welcome.wav" => Some(WELCOME_SECS),
            "goodbye.wav" => Some(GOODBYE_SECS),
            _ => None,
        };
        match cut {
            Some(secs) => run_sox(&[
                path.to_str().expect("utf-8 path"),
                target.to_str().expect("utf-8 path"),
                "trim",
                "0",
                &secs.to_string(),
            ]),
            None => {
                std::fs::copy(&path, &target).expect("copy a prompt");
            }
        }
    }
    // The read-back dialplan's listening menu plays this: a menu needs a prompt.
    let pause = ca.join("pause.wav");
    run_sox(&["-n", "-r", "8000", "-b", "16", "-c", "1", pause.to_str().expect("utf-8 path"), "trim", "0", "0.1"]);
    prompts
}

/// Length of a repository prompt (`prompts/ca/<name>.wav`), in seconds:
/// how long the full 012 line plays it.
pub fn prompt_secs(name: &str) -> f64 {
    let (samples, rate) = loadtest::audio::read_wav(&repo_root().join(format!("prompts/ca/{name}.wav")))
        .unwrap_or_else(|e| panic!("read prompts/ca/{name}.wav: {e}"));
    samples.len() as f64 / f64::from(rate)
}

/// One heavy test at a time: the tests that run the full 012 dialplan (709
/// prompts to load at start-up) with browsers or several peers, in real
/// time. In parallel, on a busy two-core machine, servers miss the
/// harness's 20 s start-up bound. Hold the guard for the whole test.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A failed test poisons the lock; the next one runs all the same.
    LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A prompt as a caller should hear it: the repository's WAV resampled to
/// 8 kHz mono by sox (a resampler independent of the server's), cut to
/// what the test server plays.
pub fn reference(dir: &TempDir, prompt: &str) -> Vec<i16> {
    let source = repo_root().join(format!("prompts/ca/{prompt}.wav"));
    let target = dir.join(&format!("ref-{prompt}.wav"));
    let mut args = vec![
        source.to_str().expect("utf-8 path").to_owned(),
        "-r".into(),
        "8000".into(),
        "-c".into(),
        "1".into(),
        "-b".into(),
        "16".into(),
        target.to_str().expect("utf-8 path").to_owned(),
    ];
    let cut = match prompt {
        "welcome" => Some(WELCOME_SECS),
        "goodbye" => Some(GOODBYE_SECS),
        _ => None,
    };
    if let Some(secs) = cut {
        args.extend(["trim".into(), "0".into(), secs.to_string()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run_sox(&args);
    let (samples, rate) = loadtest::audio::read_wav(&target).expect("read the reference");
    assert_eq!(rate, 8000);
    samples
}

/// Asserts that `heard` contains `prompt` (normalised cross-correlation
/// above `min_score`) and returns the match.
pub fn assert_contains(heard: &[i16], reference: &[i16], prompt: &str, min_score: f64) -> loadtest::audio::Match {
    let found = loadtest::audio::find(heard, reference);
    let Some(m) = found else {
        panic!(
            "the caller heard {:.2} s of audio ({:.1} dBFS), too little or too quiet to hold the {:.2} s `{prompt}` prompt",
            heard.len() as f64 / 8000.0,
            loadtest::audio::rms_dbfs(heard),
            reference.len() as f64 / 8000.0
        );
    };
    assert!(
        m.score > min_score,
        "the caller's audio does not contain `{prompt}`: best correlation {:.3} at {:.2} s (want > {min_score})",
        m.score,
        m.offset as f64 / 8000.0
    );
    m
}

/// SIPp, and sox, which every test needs to cut the server's prompts.
pub fn sipp_and_sox() -> bool {
    peer_available("sipp", "sip-tester") && peer_available("sox", "sox")
}
