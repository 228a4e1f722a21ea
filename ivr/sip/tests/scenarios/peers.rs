//! Real peers (PEERS.md) register with the registrar over loopback UDP: baresip 1.0 and a SIPp
//! scenario (`tests/sipp/register.xml`). The user agent is driven by a minimal shell inside the
//! test (one socket, the deadline from `poll_timeout`). Each test is skipped with a notice when
//! its peer is not installed (`apt-get install baresip-core sip-tester`).

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ivr_sip::auth::{Credentials, UserCredentials};
use ivr_sip::{
    CallEvent, Output, Registrar, RegistrarConfig, RegistrationEvent, Transport, UaConfig,
    UserAgent,
};

/// A baresip process with its own config folder; killed and removed on drop.
struct Baresip {
    child: Child,
    dir: PathBuf,
}

impl Drop for Baresip {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn installed(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A port free on UDP and TCP (baresip listens on both) and TCP + 1 (TLS).
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind UDP");
        let port = udp.local_addr().expect("local addr").port();
        if port < u16::MAX
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
}

fn start_baresip(account: &str) -> Baresip {
    let dir = std::env::temp_dir().join(format!("ivr-sip-baresip-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).expect("create baresip dir");
    let config = format!(
        "poll_method\t\tepoll\nsip_listen\t\t127.0.0.1:{}\nnet_interface\t\t127.0.0.1\n\
         module_path\t\t/usr/lib/baresip/modules\nmodule\t\t\tg711.so\nmodule_tmp\t\taccount.so\n",
        free_port()
    );
    std::fs::write(dir.join("config"), config).expect("write baresip config");
    std::fs::write(dir.join("accounts"), format!("{account}\n")).expect("write accounts");
    let log = std::fs::File::create(dir.join("baresip.log")).expect("create log");
    let child = Command::new("baresip")
        .arg("-f")
        .arg(&dir)
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("clone log handle"))
        .stderr(log)
        .spawn()
        .expect("start baresip");
    Baresip { child, dir }
}

/// Runs the user agent on `socket` until `done` says so or `limit` passes; returns the events.
fn serve(
    ua: &mut UserAgent,
    socket: &UdpSocket,
    limit: Duration,
    mut done: impl FnMut(&[RegistrationEvent]) -> bool,
) -> Vec<RegistrationEvent> {
    let start = Instant::now();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 65_535];
    while start.elapsed() < limit && !done(&events) {
        let now = Instant::now();
        let wait = ua
            .poll_timeout()
            .map_or(Duration::from_millis(200), |at| at.saturating_duration_since(now))
            .clamp(Duration::from_millis(1), Duration::from_millis(200));
        socket.set_read_timeout(Some(wait)).expect("set timeout");
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => ua.handle_datagram(Instant::now(), Transport::Udp, from, &buf[..n]),
            Err(_) => ua.handle_timeout(Instant::now()),
        }
        while let Some(out) = ua.poll_output() {
            match out {
                Output::Transmit(t) => {
                    socket.send_to(&t.bytes, t.to).expect("send");
                }
                Output::Event(CallEvent::Registration(e)) => events.push(e),
                Output::Event(_) => {}
            }
        }
    }
    events
}

fn registrar_ua(addr: SocketAddr, config: RegistrarConfig) -> UserAgent {
    let now = Instant::now();
    let mut rng = fastrand::Rng::with_seed(99);
    let mut creds = Credentials::new();
    creds.insert("1001", UserCredentials::from_password("1001", "012", "agent-one"));
    let registrar = Registrar::new(config, creds, now, &mut rng).expect("valid config");
    let mut ua = UserAgent::new(UaConfig::new(addr), rng);
    ua.set_registrar(registrar);
    ua
}

#[test]
fn baresip_1_registers_with_md5_digest_at_once_and_unregisters_on_exit() {
    if !installed("baresip", "-h") {
        eprintln!("SKIPPED: baresip is not installed (apt-get install baresip-core)");
        return;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    let mut ua = registrar_ua(addr, RegistrarConfig::new("012", vec![5; 32]));
    let account = format!("<sip:1001@127.0.0.1:{}>;auth_pass=agent-one;regint=600", addr.port());
    let mut phone = start_baresip(&account);
    let registered = |e: &[RegistrationEvent]| e.iter().any(|e| matches!(e, RegistrationEvent::Registered { .. }));
    // libre 1.x answers MD5 only and gives up on a 401 naming SHA-256; the default
    // `md5_only_user_agents` knows baresip 1.x, so the first challenge is already MD5 alone.
    let events = serve(&mut ua, &socket, Duration::from_secs(15), registered);
    let log = std::fs::read_to_string(phone.dir.join("baresip.log")).unwrap_or_default();
    assert!(registered(&events), "baresip did not register: {events:?}\n{log}");
    let bindings = ua.registrar().expect("registrar").lookup("sip:1001@127.0.0.1");
    assert_eq!(bindings.len(), 1, "{bindings:?}");
    assert_eq!(bindings[0].source.ip(), addr.ip());
    // baresip unregisters (Expires: 0) when it is asked to quit.
    let _ = Command::new("kill").arg("-TERM").arg(phone.child.id().to_string()).status();
    let gone = |e: &[RegistrationEvent]| e.iter().any(|e| matches!(e, RegistrationEvent::Unregistered { .. }));
    let events = serve(&mut ua, &socket, Duration::from_secs(10), gone);
    assert!(gone(&events), "no unregistration: {events:?}");
    let _ = phone.child.wait();
}

#[test]
fn sipp_registers_with_md5_digest_then_unregisters_with_wildcard() {
    if !installed("sipp", "-v") {
        eprintln!("SKIPPED: sipp is not installed (apt-get install sip-tester)");
        return;
    }
    let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let addr = socket.local_addr().expect("addr");
    let mut ua = registrar_ua(addr, RegistrarConfig::new("012", vec![5; 32]));
    let scenario = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sipp/register.xml");
    let dir = std::env::temp_dir().join(format!("ivr-sip-sipp-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).expect("create sipp dir");
    let mut sipp = Command::new("sipp")
        .arg(addr.to_string())
        .args(["-sf", scenario, "-m", "1", "-i", "127.0.0.1", "-mi", "127.0.0.1", "-nostdin"])
        .args(["-p", &free_port().to_string(), "-timeout", "10s", "-trace_err"])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start sipp");
    let gone = |e: &[RegistrationEvent]| e.iter().any(|e| matches!(e, RegistrationEvent::Unregistered { .. }));
    let events = serve(&mut ua, &socket, Duration::from_secs(15), gone);
    let status = sipp.wait().expect("sipp exits");
    let errors: String = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "sipp failed: {events:?}\n{errors}");
    assert!(matches!(events.first(), Some(RegistrationEvent::Registered { .. })), "{events:?}");
    assert!(gone(&events));
}
