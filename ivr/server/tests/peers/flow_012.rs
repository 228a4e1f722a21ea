//! The line's real flow end to end: SIPp callers walk `dialplans/012.toml`
//! (the repository's prompts in ca, es, en and oc) by RFC 4733 keys; tcpdump
//! hears what the server sent them, matched against the prompts' WAVs; after
//! a clean stop the server's SQLite file is read back through `ivr-store`,
//! and every call must have left exactly one correct record (issue 3's
//! end-to-end walk, issue 5's "exactly one record").
//!
//! Each caller sends one continuous PCMU stream, as a phone does, with its
//! keys and voice placed on the call's own clock (milliseconds from the
//! ACK): after the welcome, which ignores keys (`barge_in = false`), and
//! while barge-in prompts are still playing, so no call sits through a whole
//! menu. Callers call from their own number (the From user part), which must
//! never be stored or logged in clear.

use std::path::PathBuf;
use std::time::Duration;

use ivr_store::{Access, CallEventKind, Disposition, FinishedCall, Pseudonymizer, Store};
use loadtest::generate::{Law, PcapSpec, rtp_packets};
use loadtest::pcap::UdpDatagram;
use loadtest::rtp::{self, RtpPacket};

use crate::server::{Server, ServerConfig, TestDialplan};
use crate::sipp::{Capture, RunningSipp, Sipp};
use crate::support::{self, TempDir};

const PTIME_MS: u32 = 20;
/// A key is held this long (RFC 4733 updates, then three end packets).
const KEY_MS: u32 = 100;
/// The welcome is Catalan until a language is chosen, and takes no keys:
/// the first key goes this long after it ends.
const AFTER_WELCOME_MS: u32 = 1_000;
/// How long after the language key the topic key goes (the main menu is
/// playing by then).
const MENU_KEY_GAP_MS: u32 = 1_500;
/// Prompt excerpts matched against what the caller heard.
const EXCERPT_SECS: f64 = 2.5;
const MIN_SCORE: f64 = 0.8;
/// The four languages and their key at the language menu.
const LANGUAGES: [(&str, char); 4] = [("ca", '1'), ("es", '2'), ("en", '3'), ("oc", '4')];

/// A server running the line's flow with its calendar forced open
/// (`staffed`) or closed, and a folder for reference excerpts; `None` (the
/// test is skipped, loudly) when SIPp, sox or tcpdump is missing.
fn line_012(staffed: bool) -> Option<(Server, TempDir)> {
    if !(support::sipp_and_sox() && support::peer_available("tcpdump", "tcpdump")) {
        return None;
    }
    let config = ServerConfig { dialplan: TestDialplan::Line012 { staffed }, media_timeout_secs: 20, ..ServerConfig::default() };
    Some((Server::start(&config), TempDir::new("refs")))
}

// ---------------------------------------------------------------- prompts

fn prompt_path(lang: &str, id: &str) -> PathBuf {
    support::repo_root().join(format!("prompts/{lang}/{id}.wav"))
}

/// How long a repository prompt plays, in ms.
fn prompt_ms(lang: &str, id: &str) -> u32 {
    let path = prompt_path(lang, id);
    let (samples, rate) = loadtest::audio::read_wav(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    (samples.len() as u64 * 1000 / u64::from(rate)) as u32
}

/// The first `secs` of a prompt as the caller should hear it: resampled to
/// 8 kHz mono by sox, independently of the server.
fn excerpt(refs: &TempDir, lang: &str, id: &str, secs: f64) -> Vec<i16> {
    let source = prompt_path(lang, id);
    let target = refs.join(&format!("{lang}-{id}-{secs}.wav"));
    let (source, target_str) = (source.to_str().expect("utf-8 path"), target.to_str().expect("utf-8 path"));
    support::run_sox(&[source, "-r", "8000", "-c", "1", "-b", "16", target_str, "trim", "0", &secs.to_string()]);
    loadtest::audio::read_wav(&target).expect("read the excerpt").0
}

/// Asserts that the caller heard the start of `lang/id`.
fn assert_heard(heard: &[i16], refs: &TempDir, lang: &str, id: &str) -> f64 {
    support::assert_contains(heard, &excerpt(refs, lang, id, EXCERPT_SECS), &format!("{lang}/{id}"), MIN_SCORE).score
}

/// Asserts that the caller heard the start of `lang/id`, and that the same
/// prompt in every other language matches clearly worse: it was said in
/// the caller's language.
fn assert_heard_in_language(heard: &[i16], refs: &TempDir, lang: &str, id: &str) {
    let score = assert_heard(heard, refs, lang, id);
    for (other, _) in LANGUAGES.iter().filter(|(l, _)| *l != lang) {
        let Some(wrong) = loadtest::audio::find(heard, &excerpt(refs, other, id, EXCERPT_SECS)) else { continue };
        assert!(
            wrong.score < score - 0.3,
            "{other}/{id} matches what the caller heard ({:.3}) nearly as well as {lang}/{id} ({score:.3})",
            wrong.score
        );
    }
}

// ---------------------------------------------------------------- the caller's side

enum Sound {
    Key(char),
    Speech(Vec<i16>),
}

/// What one caller sends, on the call's clock: keys as RFC 4733 events and
/// speech at given instants, silence in between and until the end, as one
/// PCMU stream with continuous sequence numbers and timestamps.
#[derive(Default)]
struct CallerAudio {
    sounds: Vec<(u32, Sound)>,
}

impl CallerAudio {
    fn key(mut self, at_ms: u32, key: char) -> Self {
        self.sounds.push((at_ms, Sound::Key(key)));
        self
    }

    /// `keys` one after another, `every_ms` apart; returns when the last went.
    fn keys(mut self, at_ms: u32, keys: &str, every_ms: u32) -> (Self, u32) {
        let mut at = at_ms;
        for (i, key) in keys.chars().enumerate() {
            at = at_ms + i as u32 * every_ms;
            self = self.key(at, key);
        }
        (self, at)
    }

    fn speech(mut self, at_ms: u32, samples: Vec<i16>) -> Self {
        self.sounds.push((at_ms, Sound::Speech(samples)));
        self
    }

    /// The stream, silence up to `until_ms` after the last sound.
    fn packets(&self, until_ms: u32) -> Vec<(Duration, RtpPacket)> {
        let mut out: Vec<(Duration, RtpPacket)> = Vec::new();
        let mut sounds: Vec<&(u32, Sound)> = self.sounds.iter().collect();
        sounds.sort_by_key(|(at, _)| *at);
        let segment = |silence_ms: u32| {
            let mut spec = PcapSpec::new(Law::Pcmu, PTIME_MS);
            (spec.silence_ms, spec.tail_ms, spec.tone_ms, spec.gap_ms) = (silence_ms, 0, KEY_MS, 0);
            spec
        };
        for (at, sound) in sounds {
            // One packet per 20 ms tick, events included.
            let now_ms = out.len() as u32 * PTIME_MS;
            let silence = at.checked_sub(now_ms).unwrap_or_else(|| panic!("the caller's sound at {at} ms overlaps the one before"));
            let mut spec = segment(silence);
            match sound {
                Sound::Key(key) => spec.rfc4733 = key.to_string(),
                Sound::Speech(samples) => spec.audio = samples.clone(),
            }
            append(&mut out, &spec);
        }
        let now_ms = out.len() as u32 * PTIME_MS;
        append(&mut out, &segment(until_ms.saturating_sub(now_ms)));
        out
    }

    /// Writes the stream as `./pcap/caller.pcap` of `sipp`.
    fn write(&self, sipp: &Sipp, until_ms: u32) {
        let (src, dst) = ("127.0.0.1:6000".parse().expect("address"), "127.0.0.1:6002".parse().expect("address"));
        let start = Duration::from_secs(1_700_000_000);
        let datagrams: Vec<UdpDatagram> = self
            .packets(until_ms)
            .into_iter()
            .map(|(t, p)| UdpDatagram { time: start + t, src, dst, payload: p.to_bytes() })
            .collect();
        let file = std::fs::File::create(sipp.dir.join("pcap/caller.pcap")).expect("create the caller's pcap");
        loadtest::pcap::write_udp(std::io::BufWriter::new(file), &datagrams).expect("write the caller's pcap");
    }
}

/// Appends one generated segment, renumbered to follow the stream so far.
fn append(out: &mut Vec<(Duration, RtpPacket)>, spec: &PcapSpec) {
    let base = out.len() as u32;
    for (i, (_, mut packet)) in rtp_packets(spec).into_iter().enumerate() {
        let tick = base + i as u32;
        packet.seq = 1_000u16.wrapping_add(tick as u16);
        packet.timestamp = packet.timestamp.wrapping_add(base * PTIME_MS * 8);
        // Only the stream's first packet and each event's first are marked.
        packet.marker = tick == 0 || (packet.marker && packet.payload_type == spec.event_payload_type);
        out.push((Duration::from_millis(u64::from(tick * PTIME_MS)), packet));
    }
}

/// One caller: who, in which language, what they send, and when they hang
/// up (`None`: the flow ends the call).
struct Caller {
    number: &'static str,
    lang: &'static str,
    audio: CallerAudio,
    hang_up_at_ms: Option<u32>,
}

impl Caller {
    /// Calls `number`, waits out the welcome and picks `lang`; returns the
    /// instant of the language key too.
    fn choosing(number: &'static str, lang: &'static str) -> (Self, u32) {
        let key = LANGUAGES.iter().find(|(l, _)| *l == lang).map(|(_, k)| *k).expect("one of the four languages");
        let at = prompt_ms("ca", "welcome") + AFTER_WELCOME_MS;
        let caller = Caller { number, lang, audio: CallerAudio::default().key(at, key), hang_up_at_ms: None };
        (caller, at)
    }

    fn language_key(&self) -> char {
        LANGUAGES.iter().find(|(l, _)| *l == self.lang).map(|(_, k)| *k).expect("one of the four languages")
    }
}

struct Placed {
    sipp: Sipp,
    run: RunningSipp,
    capture: Capture,
}

/// Places every call at once and returns what each caller heard, in order,
/// once every call has ended as its scenario expects.
fn run_calls(server: &Server, callers: &[Caller]) -> Vec<Vec<i16>> {
    let placed: Vec<Placed> = callers
        .iter()
        .map(|caller| {
            let scenario = if caller.hang_up_at_ms.is_some() { "flow_012_caller_hangs_up.xml" } else { "flow_012_ivr_hangs_up.xml" };
            let mut sipp = Sipp::new(server.sip, scenario);
            let last = caller.audio.sounds.iter().map(|(at, _)| *at).max().unwrap_or(0);
            // The stream outlasts the call: no media timeout, no early end.
            let until = caller.hang_up_at_ms.unwrap_or(last + 40_000) + 2_000;
            caller.audio.write(&sipp, until);
            sipp.key("caller", caller.number).call_ms(u64::from(caller.hang_up_at_ms.unwrap_or(0)));
            let capture = Capture::start(&sipp.dir, "heard.pcap", &format!("udp and dst port {}", sipp.media_port));
            let run = sipp.spawn();
            Placed { sipp, run, capture }
        })
        .collect();
    placed
        .into_iter()
        .map(|Placed { sipp, mut run, capture }| {
            run.wait_ok(Duration::from_secs(60));
            let datagrams = capture.stop();
            let streams: Vec<rtp::RtpStream> =
                rtp::streams(&datagrams).into_iter().filter(|s| s.key.dst.port() == sipp.media_port).collect();
            assert_eq!(streams.len(), 1, "one RTP stream from the server to {}\n{}", sipp.media_port, server.log_tail());
            streams.into_iter().next().expect("one stream").decode_g711()
        })
        .collect()
}

// ---------------------------------------------------------------- the records

/// The server's records, read back from its SQLite file after a clean stop.
struct Stored {
    total: i64,
    /// Each caller's records, found by the pseudonym of their number (the
    /// right-of-access export), in the order the callers were given.
    by_caller: Vec<Vec<FinishedCall>>,
}

impl Stored {
    /// Exactly one record per call: each caller made one call and has one
    /// record, and the table holds nothing else.
    fn one_each(self, callers: &[Caller]) -> Vec<FinishedCall> {
        assert_eq!(self.total, callers.len() as i64, "{} calls made, {} records stored", callers.len(), self.total);
        self.by_caller
            .into_iter()
            .zip(callers)
            .map(|(mut records, caller)| {
                assert_eq!(records.len(), 1, "the call from {} left {} records", caller.lang, records.len());
                records.remove(0)
            })
            .collect()
    }
}

/// SIGTERM, a clean exit, then the records of `callers`.
fn stop_and_read(server: &mut Server, callers: &[Caller]) -> Stored {
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "the server exited with {status}\n{}", server.log_tail());
    let key = std::fs::read(server.dir.join("data/pseudonym.key")).expect("the server made its pseudonym key");
    let pseudonymizer = Pseudonymizer::new(&key).expect("the server's key is long enough");
    let url = format!("sqlite://{}", server.dir.join("ivr.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let store = Store::connect(&url).await.expect("open the server's database");
        let total = store.count_calls().await.expect("count the calls");
        let access = Access { who: "flow_012 test", why: "check the records of the test's calls", at_ms: 0 };
        let mut by_caller = Vec::new();
        for caller in callers {
            let export = store.export_caller(&pseudonymizer, caller.number, &access).await.expect("export a caller");
            by_caller.push(export.calls);
        }
        store.close().await;
        Stored { total, by_caller }
    })
}

/// The caller's number is in no file the server wrote (database, WAL,
/// journal, log), in clear.
fn assert_number_nowhere(server: &Server, number: &str) {
    let mut files = vec![server.dir.join("server.log")];
    let mut folders = vec![server.dir.join("data")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() { folders.push(path) } else { files.push(path) }
        }
    }
    for entry in std::fs::read_dir(server.dir.path()).expect("the server's folder").flatten() {
        if entry.file_name().to_string_lossy().starts_with("ivr.db") {
            files.push(entry.path());
        }
    }
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_default();
        assert!(
            !bytes.windows(number.len()).any(|w| w == number.as_bytes()),
            "the number {number} is stored in clear in {}",
            file.display()
        );
    }
}

/// What every record of this file's calls has: the version that ran it, a
/// pseudonym (not the number), the caller's language, the keys counted, and
/// a path that starts with the welcome and the language key.
fn assert_common(record: &FinishedCall, caller: &Caller, keys: i64) {
    let (r, d) = (&record.record, &record.details);
    assert!(d.dialplan_version.as_deref().is_some_and(|v| !v.is_empty()), "no dialplan version: {d:?}");
    let pseudonym = d.caller_pseudonym.as_deref().expect("the caller's pseudonym");
    assert_ne!(pseudonym, caller.number);
    assert_eq!(r.dialled, "012");
    assert_eq!(r.language, caller.lang);
    assert_eq!(r.codec.as_deref(), Some("PCMU"));
    assert_eq!((r.digits_rfc4733, r.digits_sip_info, r.digits_inband), (keys, 0, 0), "keys counted by method");
    assert!(r.answered_at_ms.is_some_and(|a| a >= r.started_at_ms && a <= r.ended_at_ms), "times out of order: {r:?}");
    let lang_key = caller.language_key();
    let start = format!("welcome>choose-language[{lang_key}]>lang-{}>main", caller.lang);
    assert!(d.ivr_path.starts_with(&start), "the path {:?} does not start with {start:?}", d.ivr_path);
    assert!(!d.provisional);
    let text = serde_json::to_string(&(r, d, &record.events, &record.survey_answers)).expect("records serialise");
    assert!(!text.contains(caller.number), "the caller's number is in the record: {text}");
}

fn has_event(record: &FinishedCall, detail: &str) -> bool {
    record.events.iter().any(|e| e.detail == detail)
}

// ---------------------------------------------------------------- the tests

#[test]
fn flow_012_in_each_language_a_caller_picks_health_hears_its_information_and_hangs_up_leaving_one_record() {
    let Some((mut server, refs)) = line_012(false) else { return };
    let numbers = ["600111001", "600111002", "600111003", "600111004"];
    let callers: Vec<Caller> = LANGUAGES
        .iter()
        .zip(numbers)
        .map(|((lang, _), number)| {
            let (mut caller, at) = Caller::choosing(number, lang);
            let topic_at = at + MENU_KEY_GAP_MS;
            caller.audio = caller.audio.key(topic_at, '2');
            // Four seconds of the information, then a hang-up.
            caller.hang_up_at_ms = Some(topic_at + 4_000);
            caller
        })
        .collect();

    let heard = run_calls(&server, &callers);

    for (caller, heard) in callers.iter().zip(&heard) {
        assert_heard(heard, &refs, "ca", "welcome");
        assert_heard_in_language(heard, &refs, caller.lang, "info-health");
    }
    let records = stop_and_read(&mut server, &callers).one_each(&callers);
    for (caller, record) in callers.iter().zip(&records) {
        assert_common(record, caller, 2);
        let d = &record.details;
        assert_eq!(d.ivr_path, format!("welcome>choose-language[{}]>lang-{}>main[2]>health", caller.language_key(), caller.lang));
        assert_eq!(d.topic.as_deref(), Some("health"));
        // docs/metrics.md: hung up in the IVR before reaching a queue.
        assert_eq!(record.disposition(), Disposition::AbandonedInIvr, "{}", caller.lang);
        assert_eq!(record.record.end_reason, "caller_hangup");
        assert_eq!((d.queue.as_deref(), d.queued_at_ms, d.agent.as_deref()), (None, None, None));
        assert!(record.callback.is_none() && record.survey_answers.is_empty());
        assert!(has_event(record, &format!("{}/info-health", caller.lang)), "the timeline names the information played: {:?}", record.events);
        assert_number_nowhere(&server, caller.number);
    }
}

/// Out of hours (the calendar is closed), the operator option gives the
/// out-of-hours message and the contact menu: 1 a callback, 2 a message.
/// Both callers interrupt the out-of-hours message with their choice.
#[test]
fn flow_012_out_of_hours_one_caller_leaves_a_message_and_another_asks_to_be_called_back() {
    let Some((mut server, refs)) = line_012(false) else { return };
    let contact = |number, lang, key| {
        let (mut caller, at): (Caller, u32) = Caller::choosing(number, lang);
        let contact_at = at + MENU_KEY_GAP_MS + 3_000;
        caller.audio = caller.audio.key(at + MENU_KEY_GAP_MS, '6').key(contact_at, key);
        (caller, contact_at)
    };

    // In Spanish, 2: a message. The request takes no keys and the beep
    // follows it; the caller speaks, then ends the message with '#'.
    let (mut messenger, message_at) = contact("600222001", "es", '2');
    let speech_at = message_at + prompt_ms("es", "leave-message") + 1_500;
    let voice = excerpt(&refs, "ca", "info-work", 3.0);
    let hash_at = speech_at + voice.len() as u32 / 8 + 300;
    messenger.audio = messenger.audio.speech(speech_at, voice.clone()).key(hash_at, '#');
    messenger.hang_up_at_ms = Some(hash_at + 3_500);

    // In English, 1: a callback. Three seconds into the offer ("1 for this
    // number, or dial another and #") another number is typed over it; "you
    // entered" and the first digits are said back, then 1 confirms.
    let callback_number = "612345678";
    let (mut asker, callback_at) = contact("600333001", "en", '1');
    let (audio, typed_at) = asker.audio.keys(callback_at + 3_000, &format!("{callback_number}#"), 300);
    let confirm_at = typed_at + 2_500;
    asker.audio = audio.key(confirm_at, '1');
    asker.hang_up_at_ms = Some(confirm_at + 3_500);
    let callers = [messenger, asker];

    let heard = run_calls(&server, &callers);

    assert_heard_in_language(&heard[0], &refs, "es", "out-of-hours");
    assert_heard(&heard[0], &refs, "es", "leave-message");
    assert_heard(&heard[0], &refs, "es", "message-saved");
    assert_heard_in_language(&heard[1], &refs, "en", "callback-offer");
    for id in ["out-of-hours", "you-entered", "callback-registered"] {
        assert_heard(&heard[1], &refs, "en", id);
    }
    let records = stop_and_read(&mut server, &callers).one_each(&callers);

    let (message, caller) = (&records[0], &callers[0]);
    assert_common(message, caller, 4);
    let d = &message.details;
    assert_eq!(d.ivr_path, "welcome>choose-language[2]>lang-es>main[6]>operator>closed-now>out-of-hours>contact-options[2]>message>message-done");
    assert_eq!(d.topic.as_deref(), Some("other"));
    assert_eq!(message.disposition(), Disposition::MessageLeft);
    assert!(message.callback.is_none());
    assert_eq!((d.queue.as_deref(), d.queued_at_ms), (None, None));
    let path = d.message_recording.clone().expect("the record names the message's file");
    assert_eq!(path, format!("messages/{}.wav", message.record.call_id));
    let file = server.dir.join("data").join(&path);
    let (wav, rate) = loadtest::audio::read_wav(&file).unwrap_or_else(|e| panic!("the message {} is not a WAV: {e}", file.display()));
    assert_eq!(rate, 8000);
    let secs = wav.len() as f64 / 8000.0;
    // From the beep's end to the '#': the voice and the quiet around it.
    assert!((3.0..6.0).contains(&secs), "the message lasts {secs:.2} s");
    support::assert_contains(&wav, &voice[..16_000], "the caller's voice", MIN_SCORE);

    let (callback, caller) = (&records[1], &callers[1]);
    // Every key of a number entry is masked, '#' included.
    assert_common(callback, caller, 14);
    let d = &callback.details;
    assert_eq!(d.ivr_path, "welcome>choose-language[3]>lang-en>main[6]>operator>closed-now>out-of-hours>contact-options[1]>callback[*][*][*][*][*][*][*][*][*][*][1]>callback-done");
    assert_eq!(callback.disposition(), Disposition::CalledBack);
    // Out of hours nobody is logged in: the request names the queue, but
    // the call never joined it.
    assert_eq!((d.queue.as_deref(), d.queued_at_ms, d.wait_ms), (None, None, None));
    let request = callback.callback.as_ref().expect("a callback request");
    assert_eq!(request.number_clear.as_deref(), Some(callback_number));
    assert_eq!(request.queue, "general");
    // Nowhere else: not in the calls row, the timeline or survey answers, nor the log.
    let text = serde_json::to_string(&(&callback.record, d, &callback.events, &callback.survey_answers)).expect("records serialise");
    assert!(!text.contains(callback_number), "the callback number leaked outside the callback request: {text}");
    let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
    assert!(!log.contains(callback_number), "the callback number is in the server's log");

    for caller in &callers {
        assert_number_nowhere(&server, caller.number);
    }
}

#[test]
fn flow_012_staffed_hours_with_no_operator_logged_in_the_queue_is_closed_and_the_caller_gets_the_contact_options() {
    let Some((mut server, refs)) = line_012(true) else { return };
    let lang = "oc";
    let (mut caller, at) = Caller::choosing("600444001", lang);
    let operator_at = at + MENU_KEY_GAP_MS;
    // "Putting you through" takes no keys; the queue is closed at once, and
    // "no operator is available" leads to the contact menu: 3, goodbye.
    let goodbye_at = operator_at + prompt_ms(lang, "to-operator") + prompt_ms(lang, "operators-unavailable") + 3_000;
    caller.audio = caller.audio.key(operator_at, '6').key(goodbye_at, '3');
    let callers = [caller];

    let heard = run_calls(&server, &callers);

    assert_heard_in_language(&heard[0], &refs, lang, "operators-unavailable");
    for id in ["to-operator", "contact-options", "goodbye"] {
        assert_heard(&heard[0], &refs, lang, id);
    }
    let record = stop_and_read(&mut server, &callers).one_each(&callers).remove(0);
    assert_common(&record, &callers[0], 3);
    let d = &record.details;
    assert_eq!(d.ivr_path, "welcome>choose-language[4]>lang-oc>main[6]>operator>to-operator>queue>unavailable>contact-options[3]>goodbye");
    assert_eq!(record.record.end_reason, "ivr_hangup");
    // The queue refused the caller on arrival: the refusal is on the
    // timeline, but the call never joined a queue, waited or reached an
    // operator, and the flow ended it (docs/metrics.md).
    let closed = record.events.iter().any(|e| e.kind == CallEventKind::Queue && e.detail.starts_with("CLOSED"));
    assert!(closed, "the queue's refusal is on the timeline: {:?}", record.events);
    assert_eq!((d.queue.as_deref(), d.queued_at_ms, d.wait_ms), (None, None, None), "a closed queue was never joined");
    assert_eq!((d.agent.as_deref(), d.answered_by_agent_at_ms), (None, None));
    assert!(record.callback.is_none());
    assert_eq!(record.disposition(), Disposition::CompletedInIvr);
    assert_number_nowhere(&server, callers[0].number);
}
