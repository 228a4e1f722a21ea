//! SIPp as the caller, and tcpdump as the ear on its media port (SIPp does
//! not read what arrives there, PEERS.md pitfall 6).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use loadtest::pcap::UdpDatagram;

use crate::support::{self, TempDir};

/// One SIPp run: a scenario from tests/scenarios, in its own folder with
/// `./pcap/` holding the captures the scenario plays.
pub struct Sipp {
    pub dir: TempDir,
    pub port: u16,
    pub media_port: u16,
    target: SocketAddr,
    scenario: String,
    /// `-key` values; SIPp keeps the first of repeated keys, so a later
    /// setting must replace, not append.
    keys: BTreeMap<String, String>,
    call_ms: u64,
    args: Vec<String>,
}

impl Sipp {
    /// A caller of `target` running `scenario` once, offering PCMU and
    /// telephone-event in 20 ms packets unless told otherwise.
    pub fn new(target: SocketAddr, scenario: &str) -> Self {
        let dir = TempDir::new(scenario.trim_end_matches(".xml"));
        std::fs::create_dir_all(dir.join("pcap")).expect("create ./pcap");
        let port = support::free_ports(1);
        // SIPp uses media port + 0..3 (RTP, RTCP, video RTP, video RTCP).
        let media_port = support::free_ports(4);
        let mut sipp = Self {
            dir,
            port,
            media_port,
            target,
            scenario: scenario.to_owned(),
            keys: BTreeMap::new(),
            call_ms: 1000,
            args: Vec::new(),
        };
        sipp.key("offer", "0 101").key("ptime", "20");
        sipp
    }

    pub fn key(&mut self, key: &str, value: &str) -> &mut Self {
        self.keys.insert(key.into(), value.into());
        self
    }

    /// How long `<pause/>` lasts in the scenario (SIPp `-d`).
    pub fn call_ms(&mut self, ms: u64) -> &mut Self {
        self.call_ms = ms;
        self
    }

    pub fn tcp(&mut self) -> &mut Self {
        self.args.extend(["-t".into(), "t1".into()]);
        self
    }

    /// Copies a capture to `./pcap/name` for `play_pcap_audio`.
    pub fn pcap(&mut self, name: &str, source: &Path) -> &mut Self {
        std::fs::copy(source, self.dir.join("pcap").join(name))
            .unwrap_or_else(|e| panic!("copy {} into ./pcap: {e}", source.display()));
        self
    }

    /// Writes a generated capture to `./pcap/name`.
    pub fn generated_pcap(&mut self, name: &str, spec: &loadtest::generate::PcapSpec) -> &mut Self {
        let datagrams = loadtest::generate::datagrams(spec, Duration::from_secs(1_700_000_000));
        let file = std::fs::File::create(self.dir.join("pcap").join(name)).expect("create a pcap");
        loadtest::pcap::write_udp(std::io::BufWriter::new(file), &datagrams).expect("write a pcap");
        self
    }

    pub fn spawn(&self) -> RunningSipp {
        let stdout = std::fs::File::create(self.dir.join("sipp.out")).expect("create sipp.out");
        let child = Command::new("sipp")
            .arg(self.target.to_string())
            .arg("-sf")
            .arg(support::scenario(&self.scenario))
            .args(["-s", "012", "-i", "127.0.0.1", "-mi", "127.0.0.1"])
            .args(["-p", &self.port.to_string(), "-mp", &self.media_port.to_string()])
            .args(["-m", "1", "-l", "1", "-nostdin", "-trace_err"])
            .arg("-error_file")
            .arg(self.dir.join("errors.log"))
            // A scenario that hangs fails within a bound even if SIPp's own
            // timers do not fire.
            .args(["-timeout", "60s", "-timeout_error", "-recv_timeout", "30000"])
            .args(["-d", &self.call_ms.to_string()])
            .args(self.keys.iter().flat_map(|(k, v)| ["-key", k.as_str(), v.as_str()]))
            .args(&self.args)
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(stdout.try_clone().expect("clone handle"))
            .stderr(stdout)
            .spawn()
            .expect("start sipp (apt-get install -y sip-tester)");
        RunningSipp { child: Some(child), dir: self.dir.path().to_owned(), scenario: self.scenario.clone() }
    }

    /// Runs the scenario to its end (at most `timeout`) and asserts that
    /// SIPp counted the call as successful (exit status 0).
    pub fn run_ok(&self, timeout: Duration) {
        self.spawn().wait_ok(timeout);
    }
}

pub struct RunningSipp {
    child: Option<Child>,
    dir: PathBuf,
    scenario: String,
}

impl RunningSipp {
    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("sipp running");
        match support::wait_child(&mut child, timeout) {
            Some(status) => status,
            None => {
                support::stop_child(&mut child, "KILL", Duration::from_secs(2));
                panic!("sipp {} did not finish within {timeout:?}\n{}", self.scenario, self.report());
            }
        }
    }

    /// Waits for the end and asserts exit status 0 (every call succeeded).
    pub fn wait_ok(&mut self, timeout: Duration) {
        let status = self.wait(timeout);
        assert!(status.success(), "sipp {} failed ({status})\n{}", self.scenario, self.report());
    }

    fn report(&self) -> String {
        let errors = std::fs::read_to_string(self.dir.join("errors.log")).unwrap_or_default();
        let errors: Vec<&str> = errors.lines().filter(|l| !l.contains("looking for pcap files next to the scenario")).collect();
        format!(
            "--- sipp errors.log ---\n{}\n--- sipp output (tail) ---\n{}",
            errors.join("\n"),
            support::tail(&self.dir.join("sipp.out"), 25)
        )
    }
}

impl Drop for RunningSipp {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            support::stop_child(&mut child, "KILL", Duration::from_secs(2));
        }
    }
}

/// tcpdump on `lo` writing a capture of what matches `filter`.
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
}

impl Capture {
    /// Starts tcpdump and returns once it reports that it is listening, so
    /// nothing sent afterwards is missed.
    pub fn start(dir: &TempDir, name: &str, filter: &str) -> Self {
        let file = dir.join(name);
        let mut child = Command::new("tcpdump")
            .args(["-i", "lo", "-n", "-U", "-s", "0", "-w"])
            .arg(&file)
            .arg(filter)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tcpdump (apt-get install -y tcpdump)");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        loop {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(line) if line.contains("listening on") => break,
                Ok(line) => seen.push(line),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "tcpdump did not start listening on lo within 5 s (it needs CAP_NET_RAW: run as root): {}",
                        seen.join("\n")
                    );
                }
            }
        }
        Self { child: Some(child), file }
    }

    /// Stops tcpdump with SIGINT (it flushes and closes the file) and reads
    /// the UDP datagrams it captured.
    pub fn stop(mut self) -> Vec<UdpDatagram> {
        if let Some(mut child) = self.child.take() {
            support::stop_child(&mut child, "INT", Duration::from_secs(5));
        }
        loadtest::pcap::read_udp_file(&self.file).unwrap_or_else(|e| panic!("read {}: {e}", self.file.display()))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            support::stop_child(&mut child, "INT", Duration::from_secs(3));
        }
    }
}
