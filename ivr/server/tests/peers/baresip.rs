//! baresip as a caller, or as an operator's phone that registers and
//! answers on its own: its own config folder, a WAV as its microphone
//! (`aufile`), what it hears dumped to WAV (`sndfile`), driven over
//! `ctrl_tcp` with netstring-framed JSON (`dial`, `sndcode`, `hangup` come
//! from the `menu` module).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{self, TempDir};

pub struct Baresip {
    child: Option<Child>,
    pub dir: TempDir,
    ctrl: TcpStream,
    messages: mpsc::Receiver<Value>,
    /// Events seen while waiting for something else, oldest first.
    backlog: Vec<Value>,
    next_token: u32,
}

impl Baresip {
    /// Starts baresip with `microphone` (8 kHz mono 16-bit WAV, longer than
    /// the call: baresip ends the call when it runs out, PEERS.md pitfall 2)
    /// offering `codecs` (e.g. "pcmu,pcma").
    pub fn start(microphone: &Path, codecs: &str) -> Self {
        Self::launch("baresip", microphone, &format!("<sip:caller@127.0.0.1>;regint=0;audio_codecs={codecs}"))
    }

    /// Starts baresip as an operator's phone: it registers as `user` with
    /// digest `password` at `registrar` (the AOR's host is the registrar,
    /// realm whatever the challenge says) and answers every call at once
    /// (`answermode=auto`). Wait for `REGISTER_OK` (or `REGISTER_FAIL`).
    pub fn start_phone(microphone: &Path, codecs: &str, user: &str, password: &str, registrar: SocketAddr) -> Self {
        let account = format!(
            "<sip:{user}@{registrar}>;auth_pass={password};answermode=auto;regint=600;audio_codecs={codecs}"
        );
        Self::launch(&format!("phone-{user}"), microphone, &account)
    }

    fn launch(label: &str, microphone: &Path, account: &str) -> Self {
        let dir = TempDir::new(label);
        let config_dir = dir.join("config");
        let recordings = dir.join("recordings");
        std::fs::create_dir_all(&config_dir).expect("create baresip config dir");
        std::fs::create_dir_all(&recordings).expect("create baresip recordings dir");
        // baresip listens for SIP on UDP and TCP at the port and for TLS on
        // the port + 1.
        let sip_port = support::free_ports(2);
        let ctrl_port = support::free_ports(1);
        let rtp_first = support::free_ports(10);
        // `net_interface 127.0.0.1` keeps eth0's address out of the SDP
        // (PEERS.md pitfall 1).
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t127.0.0.1:{sip_port}\n\
             net_interface\t\t127.0.0.1\n\
             rtp_ports\t\t{rtp_first}-{}\n\
             call_local_timeout\t30\n\
             call_max_calls\t\t1\n\
             audio_source\t\taufile,{}\n\
             audio_player\t\taufile,/dev/null\n\
             audio_alert\t\taufile,/dev/null\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\taufile.so\n\
             module\t\t\tsndfile.so\n\
             module_tmp\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t127.0.0.1:{ctrl_port}\n\
             snd_path\t\t{}\n",
            rtp_first + 9,
            microphone.display(),
            recordings.display()
        );
        std::fs::write(config_dir.join("config"), config).expect("write baresip config");
        std::fs::write(config_dir.join("accounts"), format!("{account}\n")).expect("write baresip accounts");
        let log = std::fs::File::create(dir.join("baresip.log")).expect("create baresip.log");
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&config_dir)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone handle"))
            .stderr(log)
            .spawn()
            .expect("start baresip (apt-get install -y baresip-core)");
        let ctrl_addr = SocketAddr::from(([127, 0, 0, 1], ctrl_port));
        let ctrl = support::wait_for("baresip's ctrl_tcp port to accept", Duration::from_secs(10), || {
            TcpStream::connect_timeout(&ctrl_addr, Duration::from_millis(200)).ok()
        });
        let reader = ctrl.try_clone().expect("clone ctrl socket");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || read_netstrings(reader, tx));
        Self { child: Some(child), dir, ctrl, messages, backlog: Vec::new(), next_token: 0 }
    }

    /// Sends a command and waits (bounded) for its response; returns it.
    pub fn command(&mut self, command: &str, params: &str) -> Value {
        self.next_token += 1;
        let token = format!("t{}", self.next_token);
        let body = serde_json::json!({ "command": command, "params": params, "token": token }).to_string();
        write!(self.ctrl, "{}:{body},", body.len()).expect("write to baresip ctrl_tcp");
        let response = self.wait_message(&format!("the response to `{command} {params}`"), Duration::from_secs(5), |m| {
            m.get("response").is_some() && m.get("token").and_then(Value::as_str) == Some(token.as_str())
        });
        assert_eq!(response.get("ok"), Some(&Value::Bool(true)), "baresip refused `{command} {params}`: {response}");
        response
    }

    pub fn dial(&mut self, target: SocketAddr) {
        self.command("dial", &format!("sip:012@{target}"));
    }

    /// Waits for an event of `kind` (e.g. `CALL_ESTABLISHED`), at most `timeout`.
    pub fn wait_event(&mut self, kind: &str, timeout: Duration) -> Value {
        if let Some(i) = self.backlog.iter().position(|m| m.get("type").and_then(Value::as_str) == Some(kind)) {
            return self.backlog.remove(i);
        }
        self.wait_message(&format!("baresip event {kind}"), timeout, |m| m.get("type").and_then(Value::as_str) == Some(kind))
    }

    fn wait_message(&mut self, what: &str, timeout: Duration, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.messages.recv_timeout(left) {
                Ok(m) if wanted(&m) => return m,
                Ok(m) => self.backlog.push(m),
                Err(_) => panic!(
                    "timed out after {timeout:?} waiting for {what}; seen: {:?}\n--- baresip log ---\n{}",
                    self.backlog.iter().filter_map(|m| m.get("type")).collect::<Vec<_>>(),
                    support::tail(&self.dir.join("baresip.log"), 30)
                ),
            }
        }
    }

    /// Waits (at most `timeout`) until the account is registered. The
    /// `REGISTER_OK` event may come before the control connection is up,
    /// so this asks `reginfo` until it reports the registration.
    pub fn wait_registered(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let info = self.command("reginfo", "");
            let text = info.get("data").and_then(Value::as_str).unwrap_or_default().to_owned();
            if text.contains("OK") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "baresip did not register within {timeout:?}: {text}\n--- baresip log ---\n{}",
                support::tail(&self.dir.join("baresip.log"), 30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What baresip heard: the `sndfile` dump of the decoded audio.
    pub fn heard(&self) -> Vec<i16> {
        let recordings = self.dir.join("recordings");
        let path: PathBuf = std::fs::read_dir(&recordings)
            .expect("read recordings dir")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| panic!("baresip wrote no *-dec.wav in {}", recordings.display()));
        let (samples, rate) = loadtest::audio::read_wav(&path).expect("read baresip's recording");
        assert_eq!(rate, 8000, "baresip recorded at {rate} Hz");
        samples
    }

    /// Ends baresip (SIGTERM, then SIGKILL after a bound). A call still up
    /// is hung up by baresip itself on exit.
    pub fn quit(&mut self) {
        if let Some(mut child) = self.child.take() {
            support::stop_child(&mut child, "TERM", Duration::from_secs(3));
        }
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        self.quit();
    }
}

/// Parses `len:json,` frames until the socket closes.
fn read_netstrings(mut stream: TcpStream, tx: mpsc::Sender<Value>) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            // SIGCHLD from another peer ending interrupts the read: retry.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        };
        buffer.extend_from_slice(&chunk[..n]);
        while let Some(colon) = buffer.iter().position(|b| *b == b':') {
            let Some(len) = std::str::from_utf8(&buffer[..colon]).ok().and_then(|s| s.trim().parse::<usize>().ok()) else {
                return; // not a netstring: give up on this stream
            };
            if buffer.len() < colon + 1 + len + 1 {
                break;
            }
            let frame = buffer[colon + 1..colon + 1 + len].to_vec();
            buffer.drain(..colon + 1 + len + 1);
            if let Ok(value) = serde_json::from_slice::<Value>(&frame)
                && tx.send(value).is_err()
            {
                return;
            }
        }
    }
}

/// Writes the WAV baresip plays as its microphone: `lead_ms` of silence,
/// in-band DTMF `keys`, then silence up to `total_ms`.
pub fn microphone(dir: &TempDir, lead_ms: u32, keys: &str, total_ms: u32) -> PathBuf {
    let mut samples = vec![0i16; (lead_ms * 8) as usize];
    samples.extend(loadtest::generate::dtmf_tones(keys, 80, 80, -10.0));
    samples.resize((total_ms * 8) as usize, 0);
    let path = dir.join("microphone.wav");
    loadtest::audio::write_wav(&path, &samples, 8000).expect("write the microphone WAV");
    path
}

/// Writes `name`, a WAV for a microphone: a steady `hz` sine at -12 dBFS
/// for `total_ms` (a tone the other side can be checked to hear).
pub fn tone(dir: &TempDir, name: &str, hz: f64, total_ms: u32) -> PathBuf {
    let amplitude = 32767.0 * 10f64.powf(-12.0 / 20.0);
    let samples: Vec<i16> = (0..total_ms * 8)
        .map(|n| (amplitude * (2.0 * std::f64::consts::PI * hz * f64::from(n) / 8000.0).sin()) as i16)
        .collect();
    let path = dir.join(name);
    loadtest::audio::write_wav(&path, &samples, 8000).expect("write a tone WAV");
    path
}
