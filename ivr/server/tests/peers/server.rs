//! The `ivr` binary under test: started on free ports with short prompts
//! and a temp config, probed over HTTP (`/health`, `/metrics`), stopped with
//! SIGTERM.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, TempDir};

/// What a test may change in the server's config file.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub idle_hangup_secs: u64,
    pub media_timeout_secs: u64,
    pub grace_secs: u64,
    pub dialplan: TestDialplan,
    /// Database URL; default: a SQLite file in the test's folder.
    pub db: Option<String>,
    /// The server reads (and the admin page writes) copies of the queue and
    /// agent files in its folder, `queues.toml` and `agents.toml`, instead
    /// of the repository's.
    pub acd_copies: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self { idle_hangup_secs: 4, media_timeout_secs: 10, grace_secs: 5, dialplan: TestDialplan::Readback, db: None, acd_copies: false }
    }
}

/// Which dialplan the server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestDialplan {
    /// [`readback_dialplan`] with the short Catalan prompts.
    Readback,
    /// The line's `dialplans/012.toml` with the repository's prompts, its
    /// queues and agents, and a calendar whose `staffed` schedule is always
    /// open (`staffed: true`) or always closed, so the test does not depend
    /// on the hour it runs at.
    Line012 { staffed: bool },
}

/// Copies the 012 dialplan and its queues into `dir` with a calendar forced
/// open or closed; returns the dialplan's path.
pub fn line_012_dialplan(dir: &TempDir, staffed: bool) -> std::path::PathBuf {
    let root = support::repo_root().join("dialplans");
    let target = dir.join("dialplans");
    std::fs::create_dir_all(target.join("calendars")).expect("create the dialplan folder");
    for file in ["012.toml", "queues.toml", "agents.toml"] {
        std::fs::copy(root.join(file), target.join(file)).expect("copy a dialplan file");
    }
    let hours = if staffed { "monday-sunday = [\"00:00-24:00\"]" } else { "" };
    std::fs::write(
        target.join("calendars/catalonia.toml"),
        format!("time_zone = \"Europe/Madrid\"\n\n[schedules.staffed]\n{hours}\n\n[schedules.ivr]\nmonday-sunday = [\"00:00-24:00\"]\n"),
    )
    .expect("write the test calendar");
    target.join("012.toml")
}

/// The dialplan most peer tests run: the welcome, then every key read back
/// (a key during a prompt stops it), and after `idle_secs` without a key
/// the goodbye and a BYE.
pub fn readback_dialplan(idle_secs: u64) -> String {
    let keys = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "hash"];
    let key_char = |k: &str| match k {
        "star" => "*".to_owned(),
        "hash" => "#".to_owned(),
        d => d.to_owned(),
    };
    let options: Vec<String> = keys.iter().map(|k| format!("\"{}\" = \"say-{k}\"", key_char(k))).collect();
    let mut text = format!(
        "[dialplan]\nname = \"readback\"\nlanguages = [\"ca\"]\nstart = \"welcome\"\n\n\
         [nodes.welcome]\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"listen\"\n\n\
         [nodes.listen]\ntype = \"menu\"\nprompt = [\"pause\"]\noptions = {{ {} }}\ntimeout_secs = {idle_secs}\nretries = 0\ndefault = \"bye\"\n\n\
         [nodes.bye]\ntype = \"hangup\"\nprompts = [\"goodbye\"]\n",
        options.join(", ")
    );
    for k in keys {
        text.push_str(&format!("\n[nodes.say-{k}]\ntype = \"play\"\nprompts = [\"digit-{k}\"]\nnext = \"listen\"\n"));
    }
    text
}

pub struct Server {
    child: Option<Child>,
    pub sip: SocketAddr,
    pub http: SocketAddr,
    pub dir: TempDir,
}

impl Server {
    pub fn start(config: &ServerConfig) -> Self {
        let unbound = SocketAddr::from(([127, 0, 0, 1], 0));
        let mut server = Self { child: None, sip: unbound, http: unbound, dir: TempDir::new("ivr") };
        server.launch(config);
        server
    }

    /// Starts a new server process in this server's folder (the same
    /// config, database, data folder and record journal) on new ports, once
    /// the previous process has exited: a restart after a crash.
    pub fn restart(&mut self, config: &ServerConfig) {
        assert!(!self.is_running(), "restart needs the previous server process to have exited");
        self.child = None;
        self.launch(config);
    }

    /// The server process's id (to signal it).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Writes the config into `self.dir`, spawns the binary on free ports
    /// and waits until it is healthy.
    fn launch(&mut self, config: &ServerConfig) {
        let dir = &self.dir;
        let (prompts, dialplan) = match config.dialplan {
            TestDialplan::Readback => {
                let dialplan = dir.join("readback.toml");
                std::fs::write(&dialplan, readback_dialplan(config.idle_hangup_secs)).expect("write the test dialplan");
                (support::short_prompts(dir), dialplan)
            }
            TestDialplan::Line012 { staffed } => (support::repo_root().join("prompts"), line_012_dialplan(dir, staffed)),
        };
        let config_path = dir.join("ivr.toml");
        let [queues, agents] = ["queues.toml", "agents.toml"].map(|name| {
            let original = support::repo_root().join("dialplans").join(name);
            if !config.acd_copies {
                return original;
            }
            let copy = dir.join(name);
            std::fs::copy(&original, &copy).unwrap_or_else(|e| panic!("copy {}: {e}", original.display()));
            copy
        });
        // The browsers in these tests speak synthetic tones, which Chrome's
        // echo cancellation, noise suppression and gain control fade in over
        // seconds: their softphones send the microphone as it is.
        std::fs::write(
            &config_path,
            format!(
                "dialplan = \"{}\"\n\n[media]\nmedia_timeout_secs = {}\n\n[shutdown]\ngrace_secs = {}\n\n\
                 [acd]\nqueues = \"{}\"\nagents = \"{}\"\n\n[webrtc]\nvoice_processing = false\n",
                dialplan.display(),
                config.media_timeout_secs,
                config.grace_secs,
                queues.display(),
                agents.display(),
            ),
        )
        .expect("write the server config");
        let sip_port = support::free_ports(1);
        let http_port = support::free_ports(1);
        let rtp_first = support::free_ports(40);
        // Appended to, so that a restarted server's log follows the first one's.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("server.log"))
            .expect("open server.log");
        let child = Command::new(env!("CARGO_BIN_EXE_ivr"))
            .arg("serve")
            .args(["--sip", &format!("127.0.0.1:{sip_port}")])
            .args(["--http", &format!("127.0.0.1:{http_port}")])
            .arg("--prompts")
            .arg(&prompts)
            .args(["--rtp-ports", &format!("{rtp_first}-{}", rtp_first + 39)])
            .arg("--config")
            .arg(&config_path)
            // Call records go to the test's folder, not the repository.
            .args(["--db", &config.db.clone().unwrap_or_else(|| format!("sqlite://{}", dir.join("ivr.db").display()))])
            .current_dir(dir.path())
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("start the ivr binary");
        self.child = Some(child);
        self.sip = SocketAddr::from(([127, 0, 0, 1], sip_port));
        self.http = SocketAddr::from(([127, 0, 0, 1], http_port));
        self.wait_healthy(Duration::from_secs(60));
    }

    fn wait_healthy(&mut self, timeout: Duration) {
        let http = self.http;
        let log = self.dir.join("server.log");
        let child = self.child.as_mut().expect("the server was just started");
        support::wait_for("the server's GET /health to return 200", timeout, || {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("the server exited during start-up ({status}):\n{}", support::tail(&log, 40));
            }
            http_get(http, "/health").filter(|(code, _)| *code == 200).map(|_| ())
        });
    }

    pub fn metrics_text(&self) -> String {
        match http_get(self.http, "/metrics") {
            Some((200, body)) => body,
            other => panic!("GET /metrics failed: {other:?}"),
        }
    }

    /// The sum of every sample of `name` whose labels include all of
    /// `labels` (e.g. `[("method", "rfc4733")]`); 0 when absent, as a
    /// counter that never moved may not be exported yet.
    pub fn metric(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        metric_value(&self.metrics_text(), name, labels)
    }

    /// Waits until `metric` reaches at least `target`; returns its value.
    pub fn wait_metric(&self, name: &str, labels: &[(&str, &str)], target: f64, timeout: Duration) -> f64 {
        let deadline = Instant::now() + timeout;
        loop {
            let value = self.metric(name, labels);
            if value >= target {
                return value;
            }
            assert!(Instant::now() < deadline, "{name}{labels:?} stayed at {value}, expected {target} within {timeout:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    pub fn sigterm(&self) {
        support::signal(self.child.as_ref().expect("server running"), "TERM");
    }

    /// Waits (bounded) for the server to exit after SIGTERM; kills it if it
    /// does not and fails the test.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        match support::wait_child(&mut child, timeout) {
            Some(status) => status,
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the server did not exit within {timeout:?} of SIGTERM:\n{}",
                    support::tail(&self.dir.join("server.log"), 40)
                );
            }
        }
    }

    /// SIGTERM and a clean exit (status 0) within the grace time plus slack.
    pub fn stop(mut self, grace: Duration) {
        self.sigterm();
        let status = self.wait_exit(grace + Duration::from_secs(5));
        assert!(
            status.success(),
            "the server exited with {status} after SIGTERM:\n{}",
            support::tail(&self.dir.join("server.log"), 40)
        );
    }

    pub fn log_tail(&self) -> String {
        support::tail(&self.dir.join("server.log"), 60)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            support::stop_child(&mut child, "TERM", Duration::from_secs(3));
            if std::thread::panicking() {
                eprintln!("--- server log (tail) ---\n{}", support::tail(&self.dir.join("server.log"), 60));
            }
        }
    }
}

/// A minimal HTTP/1.1 GET with `Connection: close`; `None` when the server
/// does not answer (not listening yet).
pub fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    stream.set_write_timeout(Some(Duration::from_secs(3))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Some((code, body))
}

/// Sums the samples of a Prometheus text exposition that match.
pub fn metric_value(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric, label_text) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            let wanted = metric == name && labels.iter().all(|(k, v)| label_text.split(',').any(|kv| kv.trim() == format!("{k}=\"{v}\"")));
            wanted.then(|| value.trim().parse::<f64>().ok()).flatten()
        })
        .sum()
}

#[test]
fn metric_lines_are_matched_by_name_and_labels() {
    let text = "# TYPE ivr_dtmf_digits_total counter\nivr_dtmf_digits_total{method=\"rfc4733\"} 3\nivr_dtmf_digits_total{method=\"inband\"} 2\nivr_calls_total 7\nivr_calls_total_x 1\n";
    assert_eq!(metric_value(text, "ivr_dtmf_digits_total", &[("method", "rfc4733")]), 3.0);
    assert_eq!(metric_value(text, "ivr_dtmf_digits_total", &[]), 5.0);
    assert_eq!(metric_value(text, "ivr_calls_total", &[]), 7.0);
    assert_eq!(metric_value(text, "ivr_dtmf_digits_total", &[("method", "sip_info")]), 0.0);
}
