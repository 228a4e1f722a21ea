//! A crash during calls: the server is SIGKILLed while two SIPp calls are
//! up, then started again on the same folder, database and record journal.
//! Each call in progress must then have exactly one record, closed as
//! `interrupted` from its last journaled snapshot; a call that finished
//! before the crash keeps its own record; nothing is stored twice.
//!
//! Run on SQLite (the default, a file in the server's folder) and on
//! PostgreSQL (a database of its own on 127.0.0.1:5432, created and dropped
//! with `psql`; a loud skip when unreachable, a failure when `CI` is set).
//! The `calls` rows are read with the databases' own clients (`sqlite3`,
//! `psql`), independently of the server's code.

use std::collections::HashSet;
use std::process::Command;
use std::time::Duration;

use ivr_store::journal::{JOURNAL_FILE, JournalEntry, decode_frames};
use loadtest::generate::{Law, PcapSpec};

use crate::databases::{self, PgDatabase};
use crate::server::{Server, ServerConfig};
use crate::sipp::Sipp;
use crate::support;

/// One row of `calls`, as the test reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredCall {
    call_id: String,
    end_reason: String,
    disposition: String,
    provisional: bool,
    answered: bool,
    ended_after_start: bool,
}

const SELECT_CALLS: &str = "SELECT call_id, end_reason, disposition, provisional, \
     CASE WHEN answered_at_ms IS NULL THEN 0 ELSE 1 END, \
     CASE WHEN ended_at_ms >= started_at_ms THEN 1 ELSE 0 END \
     FROM calls ORDER BY started_at_ms, call_id";

/// Where the records go, and how the test reads them.
enum Database {
    /// The harness's default: `<server folder>/ivr.db`.
    Sqlite,
    Postgres(PgDatabase),
}

impl Database {
    /// A new PostgreSQL database; `None` (after a loud notice) when
    /// PostgreSQL or psql is missing outside CI.
    fn postgres() -> Option<Database> {
        PgDatabase::create("ivr_crash", std::thread::current().name().unwrap_or("a crash test")).map(Database::Postgres)
    }

    /// The server's `--db`; `None` for the harness's SQLite default.
    fn url(&self) -> Option<String> {
        match self {
            Database::Sqlite => None,
            Database::Postgres(pg) => Some(pg.url()),
        }
    }

    /// Every row of `calls`; empty while the table does not exist yet.
    fn calls(&self, server: &Server) -> Vec<StoredCall> {
        let text = match self {
            Database::Sqlite => databases::sqlite3(&server.dir.join("ivr.db"), SELECT_CALLS),
            Database::Postgres(pg) => pg.query(SELECT_CALLS),
        };
        text.lines()
            .map(|line| {
                let cells: Vec<&str> = line.split('|').collect();
                assert_eq!(cells.len(), 6, "a calls row: {line}");
                StoredCall {
                    call_id: cells[0].to_owned(),
                    end_reason: cells[1].to_owned(),
                    disposition: cells[2].to_owned(),
                    provisional: cells[3] == "1",
                    answered: cells[4] == "1",
                    ended_after_start: cells[5] == "1",
                }
            })
            .collect()
    }

    /// Polls until `calls` has `count` rows; returns them.
    fn wait_calls(&self, server: &Server, count: usize, what: &str) -> Vec<StoredCall> {
        support::wait_for(what, Duration::from_secs(15), || {
            let calls = self.calls(server);
            assert!(calls.len() <= count, "more records than calls: {calls:#?}\n{}", server.log_tail());
            (calls.len() == count).then_some(calls)
        })
    }
}

/// The calls whose start marker is in the server's journal and whose
/// finished record is not: what recovery will close as interrupted.
fn open_calls_in_journal(server: &Server) -> HashSet<String> {
    let bytes = std::fs::read(server.dir.join("data/journal").join(JOURNAL_FILE)).unwrap_or_default();
    let mut open = HashSet::new();
    for entry in decode_frames(&bytes).0 {
        match entry {
            JournalEntry::Started(start) => {
                open.insert(start.call_id);
            }
            JournalEntry::Finished(call) => {
                open.remove(call.call_id());
            }
        }
    }
    open
}

fn sigkill_during_calls_then_restart(database: &Database) {
    let config = ServerConfig {
        // Nothing but the crash may end the two long calls (SIPp sends them no RTP).
        idle_hangup_secs: 60,
        media_timeout_secs: 60,
        db: database.url(),
        ..ServerConfig::default()
    };
    let mut server = Server::start(&config);

    // A call that ends normally before the crash, its record stored.
    let mut finished = Sipp::new(server.sip, "uac_play.xml");
    let mut silence = PcapSpec::new(Law::Pcmu, 20);
    silence.silence_ms = 500;
    finished.generated_pcap("audio.pcap", &silence).call_ms(500);
    finished.run_ok(Duration::from_secs(20));
    let before = database.wait_calls(&server, 1, "the finished call's record in the database");

    // Two calls that stay up until the server ends them.
    let mut up = [Sipp::new(server.sip, "uac_await_bye.xml"), Sipp::new(server.sip, "uac_await_bye.xml")];
    let _running: Vec<_> = up.iter_mut().map(|sipp| sipp.spawn()).collect();
    server.wait_metric("ivr_calls_active", &[], 2.0, Duration::from_secs(10));
    // Answered is not yet journaled: wait for both start markers on disk.
    let open = support::wait_for("both calls' start markers in the journal", Duration::from_secs(10), || {
        let open = open_calls_in_journal(&server);
        (open.len() == 2).then_some(open)
    });

    let killed = Command::new("kill").args(["-KILL", &server.pid().to_string()]).status().expect("run kill(1)");
    assert!(killed.success(), "kill -KILL {} failed", server.pid());
    support::wait_for("the killed server to exit", Duration::from_secs(5), || (!server.is_running()).then_some(()));
    assert_eq!(database.calls(&server), before, "the calls in progress have no record before the restart");

    server.restart(&config);
    let after = database.wait_calls(&server, 3, "the two interrupted calls' records after the restart");

    assert_eq!(after[0], before[0], "the call that ended before the crash keeps its record, unchanged");
    assert_ne!(before[0].disposition, "interrupted", "{:?}", before[0]);
    assert!(!before[0].provisional);
    let ids: HashSet<String> = after.iter().map(|c| c.call_id.clone()).collect();
    assert_eq!(ids.len(), 3, "one record per call: {after:#?}");
    for call in &after[1..] {
        assert!(open.contains(&call.call_id), "{} was not a call in progress at the crash ({open:?})", call.call_id);
        assert_eq!(
            (call.end_reason.as_str(), call.disposition.as_str(), call.provisional),
            ("interrupted", "interrupted", true),
            "a call in progress at the crash is closed as interrupted: {call:?}"
        );
        assert!(call.answered && call.ended_after_start, "closed from its last snapshot (answered, ends after it starts): {call:?}");
    }

    // The restarted server stops cleanly and leaves the records as they are.
    server.sigterm();
    let status = server.wait_exit(Duration::from_secs(config.grace_secs + 5));
    assert!(status.success(), "the restarted server exited with {status}\n{}", server.log_tail());
    assert_eq!(database.calls(&server), after, "a clean stop after recovery changes no record");
}

#[test]
fn sigkill_during_two_calls_closes_them_as_interrupted_on_restart_sqlite() {
    if !support::sipp_and_sox() || !support::peer_available("sqlite3", "sqlite3") {
        return;
    }
    sigkill_during_calls_then_restart(&Database::Sqlite);
}

#[test]
fn sigkill_during_two_calls_closes_them_as_interrupted_on_restart_postgres() {
    if !support::sipp_and_sox() {
        return;
    }
    if let Some(database) = Database::postgres() {
        sigkill_during_calls_then_restart(&database);
    }
}
