//! Hot reload of the running dialplan (issue 3: "a reload swaps versions
//! without dropping a call in progress"). The server runs its own copy of
//! the line's `dialplans/012.toml` (calendar forced closed), which each test
//! edits in place as an operator would, then signals the server with SIGHUP
//! or lets its file poller notice. What each call ran is read back from the
//! call records after a clean stop: `dialplan_version`, the nodes it went
//! through (`ivr_path`) and how it ended.
//!
//! Timings come from the repository's prompts: the welcome (6.0 s, no
//! barge-in), then the language menu (a 12.0 s prompt, then its timeout:
//! 5 s in the line's version) whose default is Catalan.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ivr_dialplan::compile::compile_file;
use ivr_dialplan::prompts_catalog::PromptCatalog;
use ivr_store::{FinishedCall, Store};
use loadtest::generate::{Law, PcapSpec};

use crate::server::{Server, ServerConfig, TestDialplan};
use crate::sipp::{RunningSipp, Sipp};
use crate::support;

const RELOADS: &str = "ivr_dialplan_reloads_total";
const INSTALLED: [(&str, &str); 1] = [("result", "installed")];
const REFUSED: [(&str, &str); 1] = [("result", "refused")];
/// The server's file poller looks every 2 s (`dialplan_host::WATCH_INTERVAL`).
const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// A server running its own copy of the line's dialplan.
struct OnACopy {
    server: Server,
    /// The copy, which the test edits.
    dialplan: PathBuf,
    /// The copy's text and version as the server started on them.
    text: String,
    old_version: String,
}

fn start_on_a_copy() -> OnACopy {
    let server = Server::start(&ServerConfig {
        dialplan: TestDialplan::Line012 { staffed: false },
        media_timeout_secs: 30,
        ..ServerConfig::default()
    });
    let dialplan = server.dir.join("dialplans/012.toml");
    let text = std::fs::read_to_string(&dialplan).expect("read the dialplan copy");
    let old_version = version_of(&dialplan);
    OnACopy { server, dialplan, text, old_version }
}

/// The version the compiler gives a dialplan file (the line's dialplan has
/// no `version` key: it is a hash of its text).
fn version_of(dialplan: &Path) -> String {
    let catalog = PromptCatalog::from_dir(&support::repo_root().join("prompts")).expect("the repository's prompts");
    match compile_file(dialplan, &catalog) {
        Ok(out) => out.program.version,
        Err(diagnostics) => panic!("{} does not compile: {diagnostics:?}", dialplan.display()),
    }
}

/// `text` with `from` replaced by `to`; `from` must occur exactly once.
fn edit(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "the dialplan should hold {from:?} exactly once");
    text.replacen(from, to, 1)
}

/// Saves `text` as `path` the way editors do: a new file renamed over the
/// old one, so the server never reads half a file.
fn save(path: &Path, text: &str) {
    let temporary = path.with_extension("toml.saving");
    std::fs::write(&temporary, text).expect("write the new dialplan");
    std::fs::rename(&temporary, path).expect("rename the new dialplan into place");
}

fn sighup(server: &Server) {
    let status = Command::new("kill").arg("-HUP").arg(server.pid().to_string()).status().expect("run kill(1)");
    assert!(status.success(), "kill -HUP {} failed", server.pid());
}

/// A silent caller (no keys) who hangs up after `call_ms`, running.
struct Caller {
    running: RunningSipp,
    /// Owns SIPp's folder (its capture to play): kept until SIPp is done.
    _sipp: Sipp,
}

impl Caller {
    fn call(server: &Server, call_ms: u32) -> Caller {
        let mut sipp = Sipp::new(server.sip, "uac_play.xml");
        let mut spec = PcapSpec::new(Law::Pcmu, 20);
        // Audio for the whole call, so the server's media timeout never fires.
        spec.silence_ms = call_ms + 2_000;
        sipp.generated_pcap("audio.pcap", &spec).call_ms(u64::from(call_ms));
        Caller { running: sipp.spawn(), _sipp: sipp }
    }

    /// Waits for the caller's BYE and its 200 (SIPp counts the call as
    /// successful only if the server never ended it first).
    fn hangs_up(mut self) {
        self.running.wait_ok(Duration::from_secs(45));
    }
}

/// Waits until the server's log has a line that `wanted` accepts; returns it.
fn wait_log_line(server: &Server, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let log = server.dir.join("server.log");
    support::wait_for(what, Duration::from_secs(10), || {
        std::fs::read_to_string(&log).ok()?.lines().find(|l| wanted(l)).map(str::to_owned)
    })
}

/// The server's ids of the calls it answered, in order (from its log:
/// `call{id=...}: ... call answered`).
fn answered_call_ids(server: &Server) -> Vec<String> {
    let log = std::fs::read_to_string(server.dir.join("server.log")).expect("read server.log");
    log.lines()
        .filter(|l| l.contains("call answered"))
        .filter_map(|l| {
            let rest = &l[l.find("call{id=")? + "call{id=".len()..];
            Some(rest[..rest.find([' ', '}'])?].to_owned())
        })
        .collect()
}

/// Stops the server cleanly (every record written), then reads the record
/// of each call it answered, in order.
fn stop_and_read_records(mut server: Server) -> Vec<FinishedCall> {
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(15));
    assert!(status.success(), "the server exited with {status}\n{}", server.log_tail());
    let ids = answered_call_ids(&server);
    let url = format!("sqlite://{}", server.dir.join("ivr.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(async {
        let store = Store::connect(&url).await.expect("open the server's database");
        let mut records = Vec::new();
        for id in &ids {
            let record = store.finished_call(id).await.expect("read a call record");
            records.push(record.unwrap_or_else(|| panic!("call {id} was answered but left no record")));
        }
        assert_eq!(store.count_calls().await.expect("count the calls"), ids.len() as i64, "records of calls never answered");
        store.close().await;
        records
    })
}

fn version(record: &FinishedCall) -> &str {
    record.details.dialplan_version.as_deref().unwrap_or("(none)")
}

#[test]
fn sighup_swaps_the_version_for_new_calls_while_a_call_in_progress_finishes_on_its_own() {
    if !support::sipp_and_sox() {
        return;
    }
    let OnACopy { server, dialplan, text, old_version } = start_on_a_copy();
    // The first caller stays silent through the welcome and the language
    // menu, whose default (Catalan) it takes after 6 + 12 + 5 s, and hangs
    // up in the main menu.
    let first = Caller::call(&server, 27_000);
    server.wait_metric("ivr_calls_active", &[], 1.0, Duration::from_secs(10));

    // Version test-2: a shorter welcome, and the language menu defaults to
    // Spanish after 1 s.
    let text = edit(&text, "name = \"012\"\n", "name = \"012\"\nversion = \"test-2\"\n");
    let text = edit(&text, "prompts = [\"welcome\"]\n", "prompts = [\"goodbye\"]\n");
    let text = edit(
        &text,
        "timeout_secs = 5\nretries = 0\ndefault = \"lang-ca\"",
        "timeout_secs = 1\nretries = 0\ndefault = \"lang-es\"",
    );
    save(&dialplan, &text);
    sighup(&server);
    let reloaded = wait_log_line(&server, "the SIGHUP reload to test-2 in the log", |l| {
        l.contains("dialplan reloaded: new calls run the new version") && l.contains("cause=\"SIGHUP\"") && l.contains("to=test-2")
    });
    assert!(reloaded.contains(&format!("from={old_version}")) || reloaded.contains("from=test-2"), "{reloaded}");
    assert!(server.metric(RELOADS, &INSTALLED) >= 1.0);
    assert_eq!(server.metric(RELOADS, &REFUSED), 0.0);
    assert_eq!(server.metric("ivr_calls_active", &[]), 1.0, "the first call is still in the flow");

    // The second caller, on test-2: goodbye (3.2 s), the menu's prompt
    // (12 s) and 1 s, then Spanish; it hangs up in the main menu.
    let second = Caller::call(&server, 20_000);
    first.hangs_up();
    second.hangs_up();

    let records = stop_and_read_records(server);
    assert_eq!(records.len(), 2, "two calls answered");
    let (first, second) = (&records[0], &records[1]);
    assert_eq!(version(first), old_version, "the call in progress keeps the version it started on");
    assert!(
        first.details.ivr_path.starts_with("welcome>choose-language>lang-ca>main"),
        "after the reload the first call still took its version's default (Catalan): {}",
        first.details.ivr_path
    );
    assert_eq!(first.record.end_reason, "caller_hangup", "the first call ended normally, by its caller");
    assert_eq!(version(second), "test-2", "a call started after the reload runs the new version");
    assert!(
        second.details.ivr_path.starts_with("welcome>choose-language>lang-es>main"),
        "the second call took the new default (Spanish): {}",
        second.details.ivr_path
    );
    assert_eq!(second.record.end_reason, "caller_hangup");
}

#[test]
fn a_broken_version_is_refused_with_its_diagnostics_logged_and_the_old_one_keeps_running() {
    if !support::sipp_and_sox() {
        return;
    }
    let OnACopy { server, dialplan, text, old_version } = start_on_a_copy();

    let broken = edit(&text, "language = \"es\"\nnext = \"main\"", "language = \"es\"\nnext = \"mian\"");
    let (line, column) = position_of(&broken, "\"mian\"");
    save(&dialplan, &broken);
    sighup(&server);

    let expected = format!(
        "{}:{line}:{column}: error: unknown node `mian` (did you mean `main`?)",
        dialplan.display()
    );
    wait_log_line(&server, "the refused reload's diagnostic in the log", |l| l.ends_with(&expected));
    wait_log_line(&server, "the refusal in the log", |l| {
        l.contains("dialplan reload refused; the running version stays") && l.contains(&format!("version={old_version}"))
    });
    let refused = server.wait_metric(RELOADS, &REFUSED, 1.0, Duration::from_secs(5));
    assert_eq!(server.metric(RELOADS, &INSTALLED), 0.0);
    // The poller does not try the same broken files again and again: the
    // count stays put over two of its rounds.
    std::thread::sleep(WATCH_INTERVAL * 2 + Duration::from_millis(500));
    assert_eq!(server.metric(RELOADS, &REFUSED), refused, "a refused version is retried only when a file changes");

    // New calls still run the old version.
    Caller::call(&server, 3_000).hangs_up();
    let records = stop_and_read_records(server);
    assert_eq!(records.len(), 1);
    assert_eq!(version(&records[0]), old_version);
    assert_eq!(records[0].record.end_reason, "caller_hangup");
}

#[test]
fn a_saved_change_is_picked_up_without_sighup_within_a_few_seconds() {
    if !support::sipp_and_sox() {
        return;
    }
    let OnACopy { server, dialplan, text, old_version } = start_on_a_copy();

    save(&dialplan, &edit(&text, "name = \"012\"\n", "name = \"012\"\nversion = \"test-polled\"\n"));
    let saved = Instant::now();
    // One poll interval, the settling check and the compile (the prompts'
    // audio is kept: no WAV changed), with room for a busy machine.
    server.wait_metric(RELOADS, &INSTALLED, 1.0, WATCH_INTERVAL * 4);
    let noticed = saved.elapsed();
    let line = wait_log_line(&server, "the reload in the log", |l| l.contains("dialplan reloaded"));
    assert!(
        line.contains("cause=\"files changed\"") && line.contains(&format!("from={old_version}")) && line.contains("to=test-polled"),
        "{line}"
    );

    Caller::call(&server, 3_000).hangs_up();
    let records = stop_and_read_records(server);
    assert_eq!(records.len(), 1);
    assert_eq!(version(&records[0]), "test-polled", "installed {noticed:?} after the save");
}

/// The 1-based line and column (in characters) where `needle` starts.
fn position_of(text: &str, needle: &str) -> (usize, usize) {
    let offset = text.find(needle).expect("the needle is in the text");
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}
