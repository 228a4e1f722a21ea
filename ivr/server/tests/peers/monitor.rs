//! A supervisor monitors a call from the browser, against real peers: a
//! baresip caller walks the 012 line to the operator `jordi`, who answers
//! on a registered baresip desk phone; the supervisor `sara` (no agent
//! login) signs in to the console in headless Chromium, turns on the
//! supervisor page's softphone (its own session; a fake microphone playing
//! a 1 kHz tone), and picks jordi's call on the wallboard: first listening,
//! then whispering to jordi, then barging in; then the browser goes away
//! mid-call.
//!
//! Checked by audio: while sara listens, nobody hears her tone and her
//! browser receives the call's audio; while she whispers, the agent hears
//! her and the caller does not; once she barges in, the caller and the
//! agent hear her tone; after her browser is gone, the caller and the
//! agent still hear each other and no more of her. Checked in the server's
//! log: each start, mode change and end is logged in the call's span (the
//! call's timeline). Needs `chromium`, `chromium-driver`, `baresip-core`
//! and `sox`; without them the test says SKIPPED, unless `CI` is set.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::baresip::{self, Baresip};
use crate::server::{Server, ServerConfig, TestDialplan};
use crate::support::{self, TempDir};
use crate::webdriver::{self, Browser, Microphone};

const AGENT: &str = "jordi";
const AGENT_PASSWORD: &str = "demo-jordi-012";
const SUPERVISOR: &str = "sara";
const CONSOLE_PASSWORD: &str = "monitor-e2e-password";
const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 660.0;
const SUPERVISOR_HZ: f64 = 1000.0;
const DIGITS: &str = "ivr_dtmf_digits_total";
const PAGE_WITHIN: Duration = Duration::from_secs(20);

fn peers() -> bool {
    webdriver::available() && support::peer_available("baresip", "baresip-core") && support::peer_available("sox", "sox")
}

#[test]
fn a_supervisor_listens_unheard_whispers_to_the_agent_barges_in_and_leaving_leaves_the_call_as_it_was() {
    if !peers() {
        return;
    }
    // One at a time: the whole 012 dialplan, Chromium and two baresips in real time.
    let _turn = support::one_at_a_time();
    let server = Server::start(&ServerConfig { dialplan: TestDialplan::Line012 { staffed: true }, ..ServerConfig::default() });
    let work = TempDir::new("monitor-e2e");
    add_supervisor_user(&server, &work);
    let microphone = work.join("supervisor-tone.wav");
    write_supervisor_tone(&microphone);

    // The supervisor's page and its own softphone session.
    let page = Browser::open("supervisor", server.http, Microphone::Playing(microphone));
    page.sign_in(SUPERVISOR, CONSOLE_PASSWORD, PAGE_WITHIN);
    page.turn_on_softphone("/supervisor", PAGE_WITHIN);
    wait_log(&server, "supervisor softphone audio connected", PAGE_WITHIN);

    // The operator on a desk phone (auto-answer), the caller to the operator.
    let mut phone = Baresip::start_phone(&baresip::tone(&work, "agent.wav", AGENT_HZ, 120_000), "pcmu,pcma", AGENT, AGENT_PASSWORD, server.sip);
    phone.wait_registered(Duration::from_secs(10));
    let mut caller = Baresip::start(&baresip::tone(&work, "caller.wav", CALLER_HZ, 120_000), "pcmu,pcma");
    caller.dial(server.sip);
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let caller_from = Instant::now();
    sleep_secs(support::prompt_secs("welcome") + 0.7);
    press(&mut caller, &server, "1");
    sleep_secs(0.7);
    press(&mut caller, &server, "6");
    phone.wait_event("CALL_ESTABLISHED", Duration::from_secs_f64(support::prompt_secs("to-operator") + 10.0));
    let agent_from = Instant::now();

    // Listen: chosen on the wallboard's row of the agent.
    let row = format!("[data-testid=agent-row-{AGENT}]");
    page.wait_for("the agent on a call", PAGE_WITHIN, &format!("!document.querySelector('{row} button[data-mode=listen]').disabled"));
    page.click(&format!("{row} button[data-mode=listen]"));
    wait_log(&server, "monitoring: sara started listen", Duration::from_secs(3));
    let listening = Instant::now();
    page.wait_for(
        "the wallboard showing the monitor",
        Duration::from_secs(3),
        &format!("document.querySelector('{row} [data-testid=monitor-state]').dataset.mode === 'listen'"),
    );
    page.wait_for_value(
        "the call's audio in the supervisor's browser",
        Duration::from_secs(10),
        "const d = document.getElementById('phone-level').dataset; \
         return Number(d.packetsIn || 0) >= 50 && Number(d.energyIn || 0) > 0 ? Number(d.packetsIn) : null;",
    );
    sleep_secs(3.0);

    // Whisper: the agent hears her, the caller does not.
    page.click(&format!("{row} button[data-mode=whisper]"));
    wait_log(&server, "monitoring: sara now whisper", Duration::from_secs(3));
    let whispering = Instant::now();
    sleep_secs(3.0);

    // Barge in: the same call, another mode.
    page.click(&format!("{row} button[data-mode=barge]"));
    wait_log(&server, "monitoring: sara now barge", Duration::from_secs(3));
    let barging = Instant::now();
    sleep_secs(3.0);

    // The supervisor's browser goes away: the call goes on.
    drop(page);
    wait_log(&server, "monitoring: sara stopped: the supervisor's softphone went away", Duration::from_secs(10));
    let gone = Instant::now();
    sleep_secs(3.0);
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(5));
    phone.wait_event("CALL_CLOSED", Duration::from_secs(5));
    caller.quit();
    phone.quit();

    let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
    for line in ["monitoring: sara started listen", "monitoring: sara now whisper", "monitoring: sara now barge", "monitoring: sara stopped"] {
        let logged = log.lines().find(|l| l.contains(line)).unwrap_or_default();
        assert!(logged.contains("call{id="), "`{line}` is logged in the call's span (its timeline): {logged:?}");
    }

    // (who, what they heard, from when, the other party's tone, hears a whisper)
    for (who, heard, from, other_hz, hears_whisper) in
        [("caller", caller.heard(), caller_from, AGENT_HZ, false), ("agent", phone.heard(), agent_from, CALLER_HZ, true)]
    {
        let window = |start: Instant, secs: f64| {
            let at = (start.saturating_duration_since(from).as_secs_f64() * 8000.0) as usize;
            heard.get(at..(at + (secs * 8000.0) as usize).min(heard.len())).unwrap_or_default().to_vec()
        };
        // From half a second after each change (the browser's jitter buffer, the network).
        let listen = window(listening + Duration::from_millis(500), 2.5);
        let whisper = window(whispering + Duration::from_millis(700), 2.0);
        let barge = window(barging + Duration::from_millis(700), 2.0);
        let after = window(gone + Duration::from_millis(700), 2.0);
        assert!(
            listen.len() >= 16_000 && whisper.len() >= 12_000 && barge.len() >= 12_000 && after.len() >= 12_000,
            "the {who}'s recording is too short: {} s",
            heard.len() / 8000
        );
        let t = |samples: &[i16], hz| tone_secs(samples, hz);
        assert!(t(&listen, SUPERVISOR_HZ) < 0.3, "the {who} heard the listening supervisor for {:.2} s", t(&listen, SUPERVISOR_HZ));
        assert!(t(&listen, other_hz) > 2.0, "the {who} heard the other party for only {:.2} s of 2.5 s while monitored", t(&listen, other_hz));
        if hears_whisper {
            assert!(t(&whisper, SUPERVISOR_HZ) > 1.6, "the {who} heard the whispering supervisor for only {:.2} s of 2 s", t(&whisper, SUPERVISOR_HZ));
        } else {
            assert!(t(&whisper, SUPERVISOR_HZ) < 0.3, "the {who} overheard the whisper for {:.2} s", t(&whisper, SUPERVISOR_HZ));
        }
        assert!(t(&whisper, other_hz) > 1.6, "the {who} heard the other party for only {:.2} s of 2 s during the whisper", t(&whisper, other_hz));
        assert!(t(&barge, SUPERVISOR_HZ) > 1.6, "the {who} heard the barging supervisor for only {:.2} s of 2 s", t(&barge, SUPERVISOR_HZ));
        assert!(t(&after, SUPERVISOR_HZ) < 0.3, "the {who} still heard the supervisor after their browser left");
        assert!(t(&after, other_hz) > 1.5, "the {who} heard the other party for only {:.2} s of 2 s after the supervisor left", t(&after, other_hz));
    }
    server.stop(Duration::from_secs(5));
}

/// `sara` as a console user with the supervisor role and no agent login.
fn add_supervisor_user(server: &Server, work: &TempDir) {
    let password_file = work.join("console-password");
    std::fs::write(&password_file, CONSOLE_PASSWORD).expect("write the password file");
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(["user", "add", SUPERVISOR, "--role", "supervisor", "--password-file"])
        .arg(&password_file)
        .args(["--db", &format!("sqlite://{}", server.dir.join("ivr.db").display())])
        .output()
        .expect("run ivr user add");
    assert!(out.status.success(), "ivr user add failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two seconds of the supervisor's tone at 48 kHz, looped by Chromium.
fn write_supervisor_tone(path: &std::path::Path) {
    let samples: Vec<i16> = (0..96_000u32)
        .map(|n| (12_000.0 * (2.0 * std::f64::consts::PI * SUPERVISOR_HZ * f64::from(n) / 48_000.0).sin()) as i16)
        .collect();
    loadtest::audio::write_wav(path, &samples, 48_000).expect("write the supervisor's microphone");
}

/// Seconds of `samples` (8 kHz) in which a `hz` tone is present at more
/// than -40 dBFS, whatever else sounds with it (a mix of two parties): per
/// 50 ms block, the Hann-windowed Goertzel amplitude at `hz`.
fn tone_secs(samples: &[i16], hz: f64) -> f64 {
    const BLOCK: usize = 400;
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let present = samples
        .chunks_exact(BLOCK)
        .filter(|block| {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            for (n, &x) in block.iter().enumerate() {
                let hann = 0.5 - 0.5 * (2.0 * std::f64::consts::PI * n as f64 / BLOCK as f64).cos();
                let s0 = f64::from(x) * hann + coefficient * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let magnitude = (s1 * s1 + s2 * s2 - coefficient * s1 * s2).max(0.0).sqrt();
            let amplitude = 4.0 * magnitude / BLOCK as f64;
            amplitude > 328.0
        })
        .count();
    present as f64 * 0.05
}

fn wait_log(server: &Server, line: &str, timeout: Duration) {
    let log = server.dir.join("server.log");
    support::wait_for(&format!("the server to log `{line}`"), timeout, || {
        std::fs::read_to_string(&log).ok().filter(|text| text.contains(line)).map(|_| ())
    });
}

/// Presses `key` (RFC 4733) and waits until the server has counted it.
fn press(caller: &mut Baresip, server: &Server, key: &str) {
    let before = server.metric(DIGITS, &[("method", "rfc4733")]);
    caller.command("sndcode", key);
    server.wait_metric(DIGITS, &[("method", "rfc4733")], before + 1.0, Duration::from_secs(5));
}

fn sleep_secs(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs));
}
