//! The browser softphone against the real server: headless Chromium signs
//! in to the console as the operator `jordi` (no desk phone), turns the
//! page's softphone on (a fake microphone playing a 1 kHz tone), logs in to
//! the queue, and a baresip caller walks the 012 line to the operator
//! (language 1, main menu 6: topic `other`). The offer rings in the page,
//! the agent answers there, and audio flows both ways between the caller's
//! RTP and the browser's WebRTC session (the caller hears the tone; the
//! browser's `getStats` counts inbound audio with energy). The agent hangs
//! up in the page and the caller hears the survey's introduction. And when
//! the browser goes away mid-call, the caller waits again with music.
//!
//! Chromium is driven over WebDriver with the peer tests' own client
//! (`webdriver.rs`). Needs Debian's `chromium`, `chromium-driver`,
//! `baresip-core` and `sox`; without them the test says SKIPPED and
//! passes, unless `CI` is set. Waits poll the page or a peer with a bound;
//! the only sleeps are the IVR prompts that take no key and the three
//! seconds of conversation.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::baresip::{self, Baresip};
use crate::operators::press;
use crate::server::{Server, ServerConfig, TestDialplan};
use crate::support::{self, TempDir};
use crate::webdriver::{self, Browser, Microphone};

const AGENT: &str = "jordi";
const CONSOLE_PASSWORD: &str = "softphone-e2e-password";
const CALLER_HZ: f64 = 440.0;
const BROWSER_HZ: f64 = 1000.0;
/// Page loads, sign-in, ICE and DTLS on loopback.
const PAGE_WITHIN: Duration = Duration::from_secs(20);

fn peers() -> bool {
    webdriver::available()
        && support::peer_available("baresip", "baresip-core")
        && support::peer_available("sox", "sox")
}

/// A call answered in the browser: the server, the agent's page, the
/// caller, and when the caller's call was established (the start of what
/// baresip records).
struct Scene {
    _turn: std::sync::MutexGuard<'static, ()>,
    server: Server,
    work: TempDir,
    page: Browser,
    caller: Baresip,
    established: Instant,
}

/// The agent signs in with no desk phone, turns the softphone on and logs
/// in to the queue; a caller walks to the operator; the offer rings in the
/// page and the agent answers it there; the browser counts the caller's
/// audio arriving. `None` (skipped) when a peer is missing.
fn answered_in_the_browser() -> Option<Scene> {
    if !peers() {
        return None;
    }
    let turn = support::one_at_a_time();
    let server = Server::start(&ServerConfig { dialplan: TestDialplan::Line012 { staffed: true }, ..ServerConfig::default() });
    let work = TempDir::new("softphone-e2e");
    add_agent_user(&server, &work);
    let microphone = work.join("browser-tone.wav");
    write_browser_tone(&microphone);
    let page = Browser::open("agent", server.http, Microphone::Playing(microphone));

    // The page's softphone offers its media session as soon as it is on;
    // the engine answers it and ICE and DTLS come up on loopback.
    page.sign_in(AGENT, CONSOLE_PASSWORD, PAGE_WITHIN);
    page.turn_on_softphone("/agent", PAGE_WITHIN);
    wait_log(&server, "softphone audio connected", PAGE_WITHIN);

    // No phone registered: the agent logs in to the queue from the page.
    page.click("[data-testid=status-available]");
    page.wait_for("the agent available", PAGE_WITHIN, "document.getElementById('my-status').classList.contains('available')");

    let mut caller = Baresip::start(&baresip::tone(&work, "caller.wav", CALLER_HZ, 120_000), "pcmu,pcma");
    caller.dial(server.sip);
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let established = Instant::now();
    after_prompt("welcome");
    press(&mut caller, &server, "1");
    sleep_secs(0.7);
    press(&mut caller, &server, "6");
    // The `to-operator` prompt (no barge-in), then the offer.
    after_prompt("to-operator");
    page.wait_for("the offer in the page", Duration::from_secs(10), "!document.getElementById('offer-panel').hidden");
    wait_log(&server, "offer rings in the agent's browser", Duration::from_secs(2));
    page.click("[data-testid=answer]");
    page.wait_for("the call in the page", PAGE_WITHIN, "!document.getElementById('call-panel').hidden");

    // The page measures once a second into #phone-level's data.
    let stats = page.wait_for_value(
        "inbound audio with energy in the browser",
        Duration::from_secs(10),
        "const d = document.getElementById('phone-level').dataset; \
         return Number(d.packetsIn || 0) >= 100 && Number(d.energyIn || 0) > 0 \
           ? { packets: Number(d.packetsIn), energy: Number(d.energyIn), codec: d.codec } : null;",
    );
    let codec = stats["codec"].as_str().unwrap_or_default().to_ascii_lowercase();
    assert!(codec == "audio/pcmu" || codec == "audio/pcma", "G.711 between the engine and the browser, got {stats}");
    Some(Scene { _turn: turn, server, work, page, caller, established })
}

#[test]
fn an_operator_with_no_desk_phone_answers_talks_and_hangs_up_in_the_browser() {
    let Some(Scene { _turn, server, work, page, mut caller, .. }) = answered_in_the_browser() else { return };
    let survey_intro = support::reference(&work, "survey-intro");
    sleep_secs(3.0);
    page.click("[data-testid=hangup]");
    wait_log(&server, "the operator hung up", Duration::from_secs(3));

    // The caller goes on to the survey (its introduction takes no key).
    after_prompt("survey-intro");
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(5));
    caller.quit();
    let heard = caller.heard();
    let tone = tone_secs(&heard, BROWSER_HZ);
    assert!(tone > 1.5, "the caller heard the browser's {BROWSER_HZ} Hz microphone for {tone:.2} s of a 3 s conversation");
    support::assert_contains(&heard, &survey_intro, "survey-intro", 0.8);

    // The session outlives the call: it did not fail.
    assert!(!server.log_tail().contains("softphone session failed"), "{}", server.log_tail());
    drop(page);
    server.stop(Duration::from_secs(5));
}

#[test]
fn a_browser_that_goes_away_mid_call_leaves_the_caller_waiting_with_music_not_in_silence() {
    let Some(Scene { _turn, server, work: _work, page, mut caller, established }) = answered_in_the_browser() else { return };
    sleep_secs(1.0);
    // The agent's browser goes: its console socket closes.
    drop(page);
    let dropped = established.elapsed();
    wait_log(&server, "back to the head of the queue", Duration::from_secs(5));
    wait_log(&server, "softphone gone: agent logged out", Duration::from_secs(1));
    sleep_secs(4.0);
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(5));
    caller.quit();

    // From a second after the drop: audio (hold music or the queue's
    // message), and no more of the browser's tone.
    let heard = caller.heard();
    let from = ((dropped.as_secs_f64() + 1.0) * 8000.0) as usize;
    let after = heard.get(from..(from + 2 * 8000).min(heard.len())).unwrap_or_default();
    assert!(after.len() >= 8000, "the caller's recording ends {:.1} s in, before the drop at {dropped:?}", heard.len() as f64 / 8000.0);
    let level = loadtest::audio::rms_dbfs(after);
    assert!(level > -40.0, "the caller heard {level:.1} dBFS after the operator's browser went away: silence");
    assert!(tone_secs(after, BROWSER_HZ) < 0.3, "the browser's tone went on after the browser left");
    server.stop(Duration::from_secs(5));
}

/// `jordi` as a console user with the agent role, by the `ivr user` command.
fn add_agent_user(server: &Server, work: &TempDir) {
    let password_file = work.join("console-password");
    std::fs::write(&password_file, CONSOLE_PASSWORD).expect("write the password file");
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(["user", "add", AGENT, "--role", "agent", "--agent", AGENT, "--password-file"])
        .arg(&password_file)
        .args(["--db", &format!("sqlite://{}", server.dir.join("ivr.db").display())])
        .output()
        .expect("run ivr user add");
    assert!(out.status.success(), "ivr user add failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// Two seconds of a `BROWSER_HZ` sine at 48 kHz, which Chromium loops as its
/// fake microphone.
fn write_browser_tone(path: &Path) {
    let samples: Vec<i16> = (0..96_000u32)
        .map(|n| (12_000.0 * (2.0 * std::f64::consts::PI * BROWSER_HZ * f64::from(n) / 48_000.0).sin()) as i16)
        .collect();
    loadtest::audio::write_wav(path, &samples, 48_000).expect("write the browser's microphone");
}

/// Seconds of `samples` (8 kHz) made of the `hz` tone: each 100 ms block
/// whose best alignment with 40 ms of that sine correlates above 0.8 (the
/// browser's audio processing leaves some noise beside the tone; speech and
/// music stay far below).
fn tone_secs(samples: &[i16], hz: f64) -> f64 {
    let sine: Vec<i16> = (0..320u32).map(|n| (10_000.0 * (2.0 * std::f64::consts::PI * hz * f64::from(n) / 8000.0).sin()) as i16).collect();
    let blocks = samples
        .chunks_exact(800)
        .filter(|block| loadtest::audio::rms_dbfs(block) > -50.0)
        .filter(|block| loadtest::audio::find(block, &sine).is_some_and(|m| m.score > 0.8))
        .count();
    blocks as f64 * 0.1
}

fn wait_log(server: &Server, line: &str, timeout: Duration) {
    let log = server.dir.join("server.log");
    support::wait_for(&format!("the server to log `{line}`"), timeout, || {
        std::fs::read_to_string(&log).ok().filter(|text| text.contains(line)).map(|_| ())
    });
}

/// How long the server plays a Catalan prompt of the repository, then half
/// a second more (the next prompt's start, the network).
fn after_prompt(name: &str) {
    sleep_secs(support::prompt_secs(name) + 0.5);
}

fn sleep_secs(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs));
}
