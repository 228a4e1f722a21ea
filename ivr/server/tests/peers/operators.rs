//! The operator path of the 012 line against real peers: a caller (baresip)
//! walks `dialplans/012.toml` to an operator (language 1, main menu 6: topic
//! `other`), waits in the `general` queue, and is put through to an
//! operator's phone that registered with digest credentials: baresip with
//! auto-answer, or SIPp scenarios that register and then ring, answer,
//! refuse, put on hold or hang up. What each side heard is checked on the
//! audio baresip recorded, and what happened on the call's record.
//!
//! The phone registers as `jordi` (dialplans/agents.toml): the only demo
//! agent who speaks Catalan and takes topic `other` at the queue's minimum
//! level, so the ACD offers these callers to him at once.
//!
//! The 012 prompts are played whole (welcome 6 s, no barge-in): the caller
//! presses keys only once the prompt that drops them is over.

use std::path::Path;
use std::time::{Duration, Instant};

use ivr_store::{CallEventKind, Disposition, FinishedCall, Store};
use loadtest::generate::{Law, PcapSpec};

use crate::baresip::{self, Baresip};
use crate::server::{Server, ServerConfig, TestDialplan};
use crate::sipp::Sipp;
use crate::support::{self, TempDir};

const AGENT: &str = "jordi";
const PASSWORD: &str = "demo-jordi-012";
const DIGITS: &str = "ivr_dtmf_digits_total";
/// The caller's microphone tone and the operator's: neither is a DTMF
/// frequency, so the IVR's in-band detector hears no key in them.
const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 1000.0;

fn peers() -> bool {
    support::peer_available("baresip", "baresip-core")
        && support::peer_available("sipp", "sip-tester")
        && support::peer_available("sox", "sox")
}

/// What every test here starts with: its turn, a server running the 012
/// dialplan with the calendar forced open, and a folder for references and
/// microphones. `None` (the test is skipped) when a peer is missing.
struct Line {
    turn: std::sync::MutexGuard<'static, ()>,
    server: Server,
    refs: TempDir,
}

impl Line {
    fn start() -> Option<Line> {
        if !peers() {
            return None;
        }
        let turn = support::one_at_a_time();
        let server = Server::start(&ServerConfig { dialplan: TestDialplan::Line012 { staffed: true }, ..ServerConfig::default() });
        Some(Line { turn, server, refs: TempDir::new("refs") })
    }
}

/// The caller hangs up and baresip sees the call closed.
fn hang_up(caller: &mut Baresip) {
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(5));
}

/// How long the phone may take to ring after the caller's last key: the
/// `to-operator` prompt (no barge-in), then the offer.
pub(crate) fn ring_within() -> Duration {
    Duration::from_secs_f64(support::prompt_secs("to-operator") + 10.0)
}

fn sleep_secs(secs: f64) {
    std::thread::sleep(Duration::from_secs_f64(secs));
}

/// Presses `key` (RFC 4733) and waits until the server has counted it.
pub(crate) fn press(caller: &mut Baresip, server: &Server, key: &str) {
    let before = server.metric(DIGITS, &[("method", "rfc4733")]);
    caller.command("sndcode", key);
    server.wait_metric(DIGITS, &[("method", "rfc4733")], before + 1.0, Duration::from_secs(5));
}

/// A baresip caller that dials the line, waits out the welcome (no
/// barge-in), chooses Catalan (1) and the operator (6). Returns the id of
/// the call's record. The caller then hears `to-operator` and waits in the
/// queue.
pub(crate) fn call_the_operator(server: &Server, microphone: &Path) -> (Baresip, String) {
    let mut caller = Baresip::start(microphone, "pcmu,pcma");
    caller.dial(server.sip);
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    let call_id = record_id(server);
    sleep_secs(support::prompt_secs("welcome") + 0.7);
    press(&mut caller, server, "1");
    sleep_secs(0.7);
    press(&mut caller, server, "6");
    (caller, call_id)
}

/// The record id of the one call the server has taken, from its log (the
/// `call{id=..}` span): the server names records itself, not by Call-ID.
pub(crate) fn record_id(server: &Server) -> String {
    let log = server.dir.join("server.log");
    support::wait_for("the server to log the call", Duration::from_secs(5), || {
        let text = std::fs::read_to_string(&log).ok()?;
        let mut ids: Vec<&str> = text.split("call{id=").skip(1).filter_map(|rest| rest.split([' ', '}']).next()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert!(ids.len() <= 1, "one call expected, the server logged {ids:?}");
        ids.first().map(|id| (*id).to_owned())
    })
}

/// The call's stored record, once the writer has committed it.
pub(crate) fn stored_call(server: &Server, call_id: &str) -> FinishedCall {
    let url = format!("sqlite://{}", server.dir.join("ivr.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let store = Store::connect(&url).await.unwrap_or_else(|e| panic!("open {url}: {e}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match store.finished_call(call_id).await {
                Ok(Some(call)) if !call.details.provisional => return call,
                Ok(_) => {}
                Err(e) => panic!("read the record of {call_id}: {e}"),
            }
            assert!(Instant::now() < deadline, "no record of call {call_id} within 10 s\n{}", server.log_tail());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

/// Seconds of `samples` (8 kHz) in which a `hz` tone carries most of the
/// energy, measured per 50 ms block with the Goertzel algorithm.
fn tone_secs(samples: &[i16], hz: f64) -> f64 {
    const BLOCK: usize = 400;
    let coefficient = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let blocks = samples
        .chunks_exact(BLOCK)
        .filter(|block| {
            let (mut s1, mut s2) = (0.0f64, 0.0f64);
            let mut energy = 0.0;
            for &x in *block {
                let x = f64::from(x);
                energy += x * x;
                let s0 = x + coefficient * s1 - s2;
                s2 = s1;
                s1 = s0;
            }
            let power = s1 * s1 + s2 * s2 - coefficient * s1 * s2;
            // A pure tone puts energy * BLOCK / 2 in its bin; speech, music and
            // other tones put a small share there. Near silence never counts.
            let loud = energy / BLOCK as f64 > 100.0 * 100.0;
            loud && power > 0.5 * energy * BLOCK as f64 / 2.0
        })
        .count();
    blocks as f64 * BLOCK as f64 / 8000.0
}

/// An operator's phone played by SIPp: registers `jordi` from a port of its
/// own (SIPp's `operators_register.xml`), then runs a UAS `scenario` on that
/// same port, where the server's INVITEs arrive.
pub(crate) struct SippPhone {
    sipp: Sipp,
    running: crate::sipp::RunningSipp,
}

impl SippPhone {
    pub(crate) fn register_and_run(server: &Server, scenario: &str, configure: impl FnOnce(&mut Sipp)) -> Self {
        let register = Sipp::new(server.sip, "operators_register.xml");
        register.run_ok(Duration::from_secs(15));
        Self::run_on(server, register.port, scenario, configure)
    }

    /// The same phone, registered earlier from `port`, runs another scenario.
    pub(crate) fn run_on(server: &Server, port: u16, scenario: &str, configure: impl FnOnce(&mut Sipp)) -> Self {
        let mut sipp = Sipp::new(server.sip, scenario);
        sipp.port = port;
        configure(&mut sipp);
        let running = sipp.spawn();
        Self { sipp, running }
    }

    /// Waits until the scenario has left the file `step` (an exec touch).
    pub(crate) fn wait_step(&self, step: &str, timeout: Duration) {
        let path = self.sipp.dir.join(step);
        support::wait_for(&format!("the SIPp phone to reach `{step}`"), timeout, || path.exists().then_some(()));
    }

    pub(crate) fn finish(mut self, timeout: Duration) {
        self.running.wait_ok(timeout);
    }
}

/// `operators_phone_answer.xml` set up to answer PCMA and play a 2 s tone.
fn answer_with_tone(sipp: &mut Sipp) {
    sipp.generated_pcap("audio.pcap", &pcma_tone(2, AGENT_HZ)).key("offer", "8 101").call_ms(2_000);
}

/// A `secs` PCMA tone at `hz` for the SIPp phone to play, 20 ms packets.
fn pcma_tone(secs: u32, hz: f64) -> PcapSpec {
    let mut spec = PcapSpec::new(Law::Pcma, 20);
    let amplitude = 32767.0 * 10f64.powf(-12.0 / 20.0);
    spec.audio = (0..secs * 8000)
        .map(|n| (amplitude * (2.0 * std::f64::consts::PI * hz * f64::from(n) / 8000.0).sin()) as i16)
        .collect();
    spec
}

#[test]
fn a_caller_reaches_a_registered_operator_talks_both_ways_then_answers_the_survey() {
    let Some(Line { turn: _turn, server, refs }) = Line::start() else { return };
    let survey_intro = support::reference(&refs, "survey-intro");
    let mut phone = Baresip::start_phone(&baresip::tone(&refs, "agent.wav", AGENT_HZ, 120_000), "pcmu,pcma", AGENT, PASSWORD, server.sip);
    phone.wait_registered(Duration::from_secs(10));

    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", CALLER_HZ, 120_000));
    // to-operator (no barge-in), then the offer rings the phone, which answers at once.
    let rung = Instant::now();
    phone.wait_event("CALL_ESTABLISHED", ring_within());
    let waited = rung.elapsed();
    sleep_secs(1.5);
    // A key the caller presses while talking reaches the operator's phone.
    press(&mut caller, &server, "5");
    let dtmf = phone.wait_event("CALL_DTMF_START", Duration::from_secs(3));
    assert_eq!(dtmf.get("param").and_then(serde_json::Value::as_str), Some("5"), "{dtmf}");
    sleep_secs(1.5);
    phone.command("hangup", "");
    phone.wait_event("CALL_CLOSED", Duration::from_secs(5));

    // The survey intro has no barge-in; then each question takes a score and '#'.
    sleep_secs(support::prompt_secs("survey-intro") + 1.0);
    for keys in [["9", "#"].as_slice(), &["7", "#"], &["1", "0", "#"]] {
        for key in keys {
            press(&mut caller, &server, key);
        }
        sleep_secs(0.5);
    }
    // Thanks, goodbye, and the line hangs up.
    caller.wait_event("CALL_CLOSED", Duration::from_secs(20));
    caller.quit();
    phone.quit();

    let heard_by_caller = caller.heard();
    let heard_by_agent = phone.heard();
    let agent_tone = tone_secs(&heard_by_caller, AGENT_HZ);
    assert!(agent_tone > 2.0, "the caller heard the operator's {AGENT_HZ} Hz tone for {agent_tone:.2} s of a 3 s conversation");
    let caller_tone = tone_secs(&heard_by_agent, CALLER_HZ);
    assert!(caller_tone > 2.0, "the operator heard the caller's {CALLER_HZ} Hz tone for {caller_tone:.2} s of a 3 s conversation");
    assert!(tone_secs(&heard_by_agent, AGENT_HZ) < 0.5, "the operator heard their own tone back (echo through the bridge)");
    support::assert_contains(&heard_by_caller, &survey_intro, "survey-intro", 0.8);

    let call = stored_call(&server, &call_id);
    let d = &call.details;
    assert_eq!(d.disposition, Some(Disposition::Answered), "{d:?}");
    assert_eq!(d.agent.as_deref(), Some(AGENT));
    assert_eq!(d.queue.as_deref(), Some("general"));
    assert_eq!(d.topic.as_deref(), Some("other"));
    let wait = d.wait_ms.expect("a wait time");
    assert!(wait >= 0 && wait < waited.as_millis() as i64 + 1_000, "wait {wait} ms; the phone rang {waited:?} after the second key");
    let talk = d.talk_ms.expect("a talk time");
    assert!((2_500..=5_000).contains(&talk), "talk {talk} ms for a 3 s conversation");
    let answers: Vec<(&str, Option<u8>)> =
        call.survey_answers.iter().map(|a| (a.question.as_str(), a.value.map(|v| v.value()))).collect();
    assert_eq!(answers, [("overall", Some(9)), ("resolved", Some(7)), ("operator", Some(10))]);
    assert!(call.survey_answers.iter().all(|a| a.agent.as_deref() == Some(AGENT)), "answers are credited to the operator");
    server.stop(Duration::from_secs(5));
}

/// The callback key pressed while the operator's phone already rings is
/// ignored (docs/acd.md): the offer goes on, the operator answers, and when
/// they hang up the caller goes to the survey like any answered caller. (It
/// used to send the caller to the callback node with the phone still
/// ringing: the answer bridged them from there, and after the operator's
/// BYE the line stayed silent.)
#[test]
fn the_callback_key_pressed_while_the_operators_phone_rings_is_ignored_and_the_survey_follows_the_call() {
    let Some(Line { turn: _turn, server, refs }) = Line::start() else { return };
    let survey_intro = support::reference(&refs, "survey-intro");
    let phone = SippPhone::register_and_run(&server, "operators_phone_rings_then_answers.xml", |sipp| {
        answer_with_tone(sipp);
        sipp.call_ms(4_000);
    });
    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", CALLER_HZ, 90_000));
    phone.wait_step("ringing", ring_within());
    press(&mut caller, &server, "1");
    phone.wait_step("answered", Duration::from_secs(10));
    phone.wait_step("hung-up", Duration::from_secs(10));
    sleep_secs(support::prompt_secs("survey-intro") + 1.0);
    hang_up(&mut caller);
    caller.quit();
    phone.finish(Duration::from_secs(10));
    support::assert_contains(&caller.heard(), &survey_intro, "survey-intro", 0.8);

    let call = stored_call(&server, &call_id);
    let d = &call.details;
    assert_eq!(d.disposition, Some(Disposition::Answered), "{d:?}");
    assert_eq!(d.agent.as_deref(), Some(AGENT));
    assert!(d.ivr_path.ends_with(">to-operator>queue>survey-intro>survey"), "path {:?}", d.ivr_path);
    assert!(call.callback.is_none(), "no callback request: the offer won");
    server.stop(Duration::from_secs(5));
}

#[test]
fn a_caller_who_hangs_up_while_the_phone_rings_cancels_it_and_is_abandoned_in_queue() {
    let Some(Line { turn: _turn, server, refs }) = Line::start() else { return };
    let phone = SippPhone::register_and_run(&server, "operators_phone_cancelled.xml", |_| {});
    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", CALLER_HZ, 60_000));
    phone.wait_step("invited-1", ring_within());
    hang_up(&mut caller);
    phone.wait_step("cancelled", Duration::from_secs(5));
    phone.finish(Duration::from_secs(10));

    let call = stored_call(&server, &call_id);
    assert_eq!(call.details.disposition, Some(Disposition::AbandonedInQueue), "{:?}", call.details);
    assert_eq!(call.details.agent, None, "nobody answered");
    assert_eq!(call.details.queue.as_deref(), Some("general"));
    server.stop(Duration::from_secs(5));
}

#[test]
fn a_busy_phone_sends_the_caller_back_to_the_head_of_the_queue_and_the_operator_rests_first() {
    let Some(Line { turn: _turn, server, refs }) = Line::start() else { return };
    let busy = SippPhone::register_and_run(&server, "operators_phone_busy.xml", |_| {});
    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", CALLER_HZ, 90_000));
    busy.wait_step("invited-1", ring_within());
    let refused = Instant::now();
    let port = busy.sipp.port;
    busy.finish(Duration::from_secs(10));
    // The same phone (the binding stays) now answers: the ACD offers the
    // same caller again once the agent's rest after a refusal is over
    // (queues.toml: no_answer_delay_secs = 5).
    let answer = SippPhone::run_on(&server, port, "operators_phone_answer.xml", answer_with_tone);
    answer.wait_step("answered", Duration::from_secs(20));
    let second_offer = refused.elapsed();
    assert!(second_offer >= Duration::from_millis(4_500), "offered again {second_offer:?} after a 486: the agent must rest 5 s");
    answer.finish(Duration::from_secs(15));
    hang_up(&mut caller);

    let call = stored_call(&server, &call_id);
    let d = &call.details;
    assert_eq!(d.disposition, Some(Disposition::Answered), "{d:?}");
    assert_eq!(d.agent.as_deref(), Some(AGENT));
    assert!(d.wait_ms.is_some_and(|w| w >= 4_500), "the wait includes the refused offer and the rest: {:?}", d.wait_ms);
    let queue_log: Vec<&str> = call.events.iter().map(|e| e.detail.as_str()).filter(|d| d.contains("Busy")).collect();
    assert!(!queue_log.is_empty(), "the queue log in the call's timeline records the refusal: {:?}", call.events);
    server.stop(Duration::from_secs(5));
}

#[test]
fn a_wrong_password_is_refused_and_callers_then_hear_that_no_operator_is_available() {
    let Some(Line { turn: _turn, server, refs }) = Line::start() else { return };
    let unavailable = support::reference(&refs, "operators-unavailable");
    // The scenario fails unless the second REGISTER gets 403.
    Sipp::new(server.sip, "operators_register_wrong_password.xml").run_ok(Duration::from_secs(15));

    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", CALLER_HZ, 60_000));
    sleep_secs(support::prompt_secs("to-operator") + support::prompt_secs("operators-unavailable") + 1.0);
    hang_up(&mut caller);
    caller.quit();
    support::assert_contains(&caller.heard(), &unavailable, "operators-unavailable", 0.8);

    let call = stored_call(&server, &call_id);
    assert_eq!(call.details.agent, None);
    assert!(call.details.ivr_path.contains("unavailable"), "the closed branch: {}", call.details.ivr_path);
    server.stop(Duration::from_secs(5));
}

#[test]
fn an_operator_puts_a_pcmu_caller_on_hold_with_music_and_resumes_from_a_pcma_phone() {
    let Some(Line { turn: _turn, server, refs }) = Line::start() else { return };
    let (music, rate) = loadtest::audio::read_wav(&support::repo_root().join("prompts/hold-music.wav")).expect("read hold-music.wav");
    assert_eq!(rate, 8000);
    let phone = SippPhone::register_and_run(&server, "operators_phone_hold.xml", |sipp| {
        // The phone answers PCMA only; the caller offers PCMU first.
        sipp.generated_pcap("audio.pcap", &pcma_tone(3, AGENT_HZ)).key("offer", "8 101").call_ms(4_000);
    });
    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", CALLER_HZ, 90_000));
    phone.wait_step("answered", ring_within());
    phone.wait_step("hung-up", Duration::from_secs(20));
    phone.finish(Duration::from_secs(5));
    hang_up(&mut caller);
    caller.quit();

    let heard = caller.heard();
    // Held for 4 s: the music from its start, after the IVR's prompts.
    let held = support::assert_contains(&heard, &music[..24_000], "hold-music", 0.7);
    let ivr_secs = support::prompt_secs("welcome") + support::prompt_secs("to-operator");
    assert!(held.offset as f64 / 8000.0 > ivr_secs, "hold music at {:.2} s, before the operator answered", held.offset as f64 / 8000.0);
    // The phone plays its tone after resuming, for the 1.5 s before its BYE.
    let tone = tone_secs(&heard, AGENT_HZ);
    assert!(tone > 1.0, "the PCMU caller heard the PCMA phone's tone (transcoded) for only {tone:.2} s");

    let call = stored_call(&server, &call_id);
    assert_eq!(call.details.disposition, Some(Disposition::Answered));
    assert_eq!(call.details.agent.as_deref(), Some(AGENT));
    assert_eq!(call.record.codec.as_deref(), Some("PCMU"));
    server.stop(Duration::from_secs(5));
}

#[test]
fn an_answer_that_crosses_the_offer_timeouts_cancel_is_hung_up_and_the_caller_keeps_waiting() {
    let Some(Line { turn: _turn, server, refs }) = Line::start() else { return };
    let survey_intro = support::reference(&refs, "survey-intro");
    // Rings until the ACD's offer timeout (queues.toml: 20 s) cancels it,
    // then picks up all the same.
    let late = SippPhone::register_and_run(&server, "operators_phone_answers_after_cancel.xml", |_| {});
    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", CALLER_HZ, 120_000));
    late.wait_step("invited-1", ring_within());
    late.wait_step("cancelled", Duration::from_secs(25));
    // The server ACKs the late answer and hangs it up (the scenario fails otherwise).
    let port = late.sipp.port;
    late.finish(Duration::from_secs(10));
    // The caller kept their place: once the agent's rest after the missed
    // offer is over, the phone rings again and this time it is answered.
    let answer = SippPhone::run_on(&server, port, "operators_phone_answer.xml", answer_with_tone);
    answer.wait_step("answered", Duration::from_secs(20));
    answer.finish(Duration::from_secs(15));
    sleep_secs(3.0);
    hang_up(&mut caller);
    caller.quit();

    let heard = caller.heard();
    let tone = tone_secs(&heard, AGENT_HZ);
    assert!(tone > 1.0, "the caller heard the second answer's tone for only {tone:.2} s");
    let call = stored_call(&server, &call_id);
    let d = &call.details;
    assert_eq!(d.disposition, Some(Disposition::Answered), "{d:?}");
    assert!(d.wait_ms.is_some_and(|w| w >= 20_000), "answered after the offer timeout and the rest: {:?}", d.wait_ms);
    assert!(d.talk_ms.is_some_and(|t| t < 5_000), "talked only with the second answer: {:?}", d.talk_ms);
    // The late answer was never taken for a conversation: the caller went to
    // the survey once, after the real one.
    let answered_at = d.answered_by_agent_at_ms.expect("answered");
    let surveys: Vec<i64> = call.events.iter().filter(|e| e.kind == CallEventKind::Prompt && e.detail.contains("survey-intro")).map(|e| e.at_ms).collect();
    assert_eq!(surveys.len(), 1, "the survey started {} times: {:?}", surveys.len(), call.events);
    assert!(surveys[0] > answered_at, "the survey began before the operator answered");
    support::assert_contains(&heard, &survey_intro[..16_000], "survey-intro", 0.8);
    server.stop(Duration::from_secs(5));
}

#[test]
fn a_caller_who_hangs_up_during_the_conversation_hangs_up_the_operators_phone() {
    let Some(Line { turn: _turn, server, refs }) = Line::start() else { return };
    let phone = SippPhone::register_and_run(&server, "operators_phone_answer_until_bye.xml", |sipp| {
        sipp.generated_pcap("audio.pcap", &pcma_tone(10, AGENT_HZ)).key("offer", "8 101");
    });
    let (mut caller, call_id) = call_the_operator(&server, &baresip::tone(&refs, "caller.wav", CALLER_HZ, 60_000));
    phone.wait_step("answered", ring_within());
    sleep_secs(2.0);
    hang_up(&mut caller);
    // The scenario fails unless the server sends BYE to the phone.
    phone.wait_step("hung-up", Duration::from_secs(5));
    phone.finish(Duration::from_secs(5));

    let call = stored_call(&server, &call_id);
    let d = &call.details;
    assert_eq!(d.disposition, Some(Disposition::Answered), "{d:?}");
    assert_eq!(d.agent.as_deref(), Some(AGENT));
    assert!(d.talk_ms.is_some_and(|t| (1_500..=4_000).contains(&t)), "talk {:?} ms for a 2 s conversation", d.talk_ms);
    assert!(call.survey_answers.is_empty(), "the caller left before any survey");
    server.stop(Duration::from_secs(5));
}

/// A phone that sends its keys by SIP INFO keeps being heard once bridged:
/// a key pressed while talking to the operator is counted in the record
/// like the IVR's (the media loop dropped INFO keys of a bridged call).
#[test]
fn a_key_sent_by_sip_info_while_talking_to_the_operator_is_counted_in_the_record() {
    let Some(Line { turn: _turn, server, refs: _refs }) = Line::start() else { return };
    let phone = SippPhone::register_and_run(&server, "operators_phone_answer_until_bye.xml", |sipp| {
        sipp.generated_pcap("audio.pcap", &pcma_tone(10, AGENT_HZ)).key("offer", "8 101");
    });
    assert!(support::prompt_secs("welcome") < 6.4, "the scenario presses its first key 6.7 s in");
    let mut caller = Sipp::new(server.sip, "uac_info_to_operator.xml");
    // After "6": the to-operator prompt, the queue, the phone's answer.
    let mut voice = PcapSpec::new(Law::Pcmu, 20);
    voice.silence_ms = 30_000;
    caller
        .generated_pcap("audio.pcap", &voice)
        .key("offer", "0 101")
        .call_ms(((support::prompt_secs("to-operator") + 3.0) * 1000.0) as u64);
    let before = server.metric(DIGITS, &[("method", "sip_info")]);
    let mut running = caller.spawn();
    phone.wait_step("answered", ring_within() + Duration::from_secs(10));
    running.wait_ok(Duration::from_secs(30));
    phone.wait_step("hung-up", Duration::from_secs(5));
    phone.finish(Duration::from_secs(5));

    let counted = server.wait_metric(DIGITS, &[("method", "sip_info")], before + 3.0, Duration::from_secs(2)) - before;
    assert_eq!(counted, 3.0, "1 and 6 in the IVR, 5 while talking");
    let call = stored_call(&server, &record_id(&server));
    let d = &call.details;
    assert_eq!(d.disposition, Some(Disposition::Answered), "{d:?}");
    assert_eq!(call.record.digits_sip_info, 3, "{:?}", call.record);
    server.stop(Duration::from_secs(5));
}

/// The admin page's live edit of the agents file (`PUT /api/admin/acd`)
/// reaches the registrar at once: an added agent's desk phone registers
/// with digest without a restart, a removed agent's phone is refused as an
/// unknown user, and a file with a password that cannot be read changes
/// nothing. The server runs on copies of the queue and agent files.
#[test]
fn agents_added_and_removed_from_the_admin_page_register_and_are_refused_without_a_restart() {
    if !support::peer_available("sipp", "sip-tester") {
        return;
    }
    let _turn = support::one_at_a_time();
    let server = Server::start(&ServerConfig { acd_copies: true, ..ServerConfig::default() });
    let admin = Admin::sign_in(&server);
    let queues = std::fs::read_to_string(server.dir.join("queues.toml")).expect("read the queues copy");
    let agents = std::fs::read_to_string(server.dir.join("agents.toml")).expect("read the agents copy");
    let register = |scenario: &str| Sipp::new(server.sip, scenario).run_ok(Duration::from_secs(15));
    // Before the edit Núria is nobody: her phone is refused.
    register("operators_register_nuria_refused.xml");

    // A file naming an environment variable that is not set is refused
    // whole: the file on disk and the registrar stay as they were.
    let unreadable = format!(
        "{agents}\n[agents.nuria]\nname = \"Núria Soler\"\npassword = {{ demo = \"demo-nuria-012\" }}\n\n\
         [agents.pau]\nname = \"Pau Roig\"\npassword = {{ env = \"IVR_PEERS_NO_SUCH_PASSWORD_VARIABLE\" }}\n"
    );
    let (status, body) = admin.put_acd(&queues, &unreadable);
    assert_eq!(status, 422, "refused: {body}");
    assert!(
        body.contains("agent `pau`: environment variable IVR_PEERS_NO_SUCH_PASSWORD_VARIABLE is not set"),
        "the reason: {body}"
    );
    assert_eq!(std::fs::read_to_string(server.dir.join("agents.toml")).expect("read"), agents, "the file is not written");
    register("operators_register_nuria_refused.xml");

    // Núria is added: her phone registers at once.
    let added = format!("{agents}\n[agents.nuria]\nname = \"Núria Soler\"\npassword = {{ demo = \"demo-nuria-012\" }}\n");
    let (status, body) = admin.put_acd(&queues, &added);
    assert_eq!(status, 200, "applied: {body}");
    register("operators_register_nuria.xml");

    // Núria is removed again: her binding goes and her phone is refused.
    let (status, body) = admin.put_acd(&queues, &agents);
    assert_eq!(status, 200, "applied: {body}");
    assert!(server.log_tail().contains("phone binding dropped"), "her binding is dropped: {}", server.log_tail());
    register("operators_register_nuria_refused.xml");
    // The agents who stayed still register.
    register("operators_register.xml");
    server.stop(Duration::from_secs(5));
}

/// An admin signed in to the running server's console (a user added with
/// `ivr user add`), speaking plain HTTP/1.1.
struct Admin {
    http: std::net::SocketAddr,
    cookie: String,
    csrf: String,
}

impl Admin {
    const LOGIN: &str = "anna";
    const PASSWORD: &str = "anna-admin-password";

    fn sign_in(server: &Server) -> Admin {
        let password_file = server.dir.join("admin-password");
        std::fs::write(&password_file, Self::PASSWORD).expect("write the password file");
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ivr"))
            .args(["user", "add", Self::LOGIN, "--role", "admin", "--password-file"])
            .arg(&password_file)
            .args(["--db", &format!("sqlite://{}", server.dir.join("ivr.db").display())])
            .output()
            .expect("run ivr user add");
        assert!(out.status.success(), "ivr user add failed: {}", String::from_utf8_lossy(&out.stderr));
        let login = serde_json::json!({ "login": Self::LOGIN, "password": Self::PASSWORD }).to_string();
        let (status, head, body) = http(server.http, "POST", "/api/login", &[], &login);
        assert_eq!(status, 200, "sign in: {body}");
        let cookie = head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, value)| value.trim().split(';').next().filter(|c| c.starts_with("ivr_session=")))
            .expect("a session cookie")
            .to_owned();
        let me: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let csrf = me["csrf_token"].as_str().expect("a CSRF token").to_owned();
        Admin { http: server.http, cookie, csrf }
    }

    /// `PUT /api/admin/acd`: the status and the body.
    fn put_acd(&self, queues: &str, agents: &str) -> (u16, String) {
        let body = serde_json::json!({ "queues_toml": queues, "agents_toml": agents }).to_string();
        let headers = [("Cookie", self.cookie.as_str()), ("X-CSRF-Token", self.csrf.as_str())];
        let (status, _, body) = http(self.http, "PUT", "/api/admin/acd", &headers, &body);
        (status, body)
    }
}

/// One HTTP/1.1 request with a JSON body and `Connection: close`: the
/// status, the head and the body.
fn http(addr: std::net::SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect to the console");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
    let extra: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    (status, head.to_owned(), body.to_owned())
}
