//! The `ivr` binary's database commands, run as an operator runs them:
//! `ivr migrate`, `ivr report`, `ivr export open-data`, `ivr export caller`
//! and `ivr purge`, against call records inserted through the `ivr_store`
//! API with hand-computed figures (definitions in `docs/metrics.md`).
//!
//! Every test runs on SQLite (a file in its own temp folder) and on
//! PostgreSQL (a database of its own on 127.0.0.1:5432, user `postgres`,
//! trust auth, dropped at the end). Without a reachable PostgreSQL the
//! PostgreSQL half prints a loud SKIP and passes, unless `CI` is set: then it
//! fails. Rows the store API does not read back (the access log) are read
//! with the databases' own clients, `sqlite3` and `psql`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ivr_store::{
    CallDetails, CallRecord, CallbackRequest, CallbackState, Disposition, FinishedCall, Pseudonymizer, Store,
    SurveyAnswer, SurveyScore,
};
use jiff::Zoned;
use serde_json::{Value, json};

#[path = "common/databases.rs"]
mod databases;
use databases::{PgDatabase, sqlite3};


/// The pseudonym key the tests put in the data folder (32 bytes).
const KEY: &[u8] = b"012 line test key, 32 bytes long";
/// The caller of `call-k1` and `call-k5`, as the network gave the number.
const CALLER: &str = "+34600111222";

// ---------------------------------------------------------------------------
// A database of its own per test, and the `ivr` binary.

struct TestDb {
    url: String,
    /// The test's folder: the config file, the data folder, output files
    /// (and the SQLite file).
    dir: PathBuf,
    /// The PostgreSQL database, dropped at the end.
    pg: Option<PgDatabase>,
}

fn unique_suffix() -> String {
    format!("{}_{:016x}", std::process::id(), fastrand::u64(..))
}

fn temp_dir(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ivr-cli-admin-{test}-{}", unique_suffix()));
    std::fs::create_dir_all(&dir).expect("create the test folder");
    dir
}

impl TestDb {
    fn sqlite(test: &str) -> TestDb {
        let dir = temp_dir(test);
        let url = format!("sqlite://{}", dir.join("ivr.db").display());
        TestDb { url, dir, pg: None }
    }

    /// `None` (after a loud notice) when PostgreSQL is unreachable outside CI.
    fn postgres(test: &str) -> Option<TestDb> {
        let pg = PgDatabase::create("ivr_cli_admin", test)?;
        Some(TestDb { url: pg.url(), dir: temp_dir(test), pg: Some(pg) })
    }

    async fn store(&self) -> Store {
        Store::connect(&self.url).await.expect("the test database opens")
    }

    /// Stores `calls` through the store API and closes the pool, so that
    /// the binary has the database to itself.
    async fn insert(&self, calls: &[FinishedCall]) {
        let store = self.store().await;
        store.insert_finished(calls).await.expect("the fixture calls insert");
        store.close().await;
    }

    /// Rows of `sql`, columns split on `|` (NULL is empty), read with the
    /// database's own client.
    fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        let text = match &self.pg {
            Some(pg) => pg.query(sql),
            None => sqlite3(Path::new(self.url.trim_start_matches("sqlite://")), sql),
        };
        text.lines().map(|line| line.split('|').map(str::to_owned).collect()).collect()
    }

    /// A config file whose data folder holds the test's pseudonym key.
    fn config_with_key(&self) -> PathBuf {
        let data = self.dir.join("data");
        std::fs::create_dir_all(&data).expect("create the data folder");
        std::fs::write(data.join("pseudonym.key"), KEY).expect("write the pseudonym key");
        self.config_with_data_dir(&data)
    }

    fn config_with_data_dir(&self, data: &Path) -> PathBuf {
        let config = self.dir.join("ivr.toml");
        std::fs::write(&config, format!("[data]\ndir = \"{}\"\n", data.display())).expect("write the config");
        config
    }

    /// `ivr <args> --db <this database>`, logging warnings only.
    fn ivr(&self, args: &[&str]) -> Run {
        self.ivr_logging(args, "warn")
    }

    /// `ivr <args> --db <this database>` with `RUST_LOG=<log>`.
    fn ivr_logging(&self, args: &[&str], log: &str) -> Run {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--db", &self.url]);
        ivr(&all, log)
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the test folder {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// What one run of the binary did.
#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self) -> String {
        assert_eq!(self.code, Some(0), "ivr failed: {self:?}");
        self.stdout
    }

    /// Asserts a non-zero exit with `message` on stderr.
    fn refused(self, message: &str) {
        assert!(matches!(self.code, Some(c) if c != 0), "expected a failure: {self:?}");
        assert!(self.stderr.contains(message), "stderr should say {message:?}: {self:?}");
    }
}

fn ivr(args: &[&str], log: &str) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_ivr"))
        .args(args)
        .env("RUST_LOG", log)
        .output()
        .expect("run the ivr binary");
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

// ---------------------------------------------------------------------------
// The fixture: eight calls with known outcomes.
//
// | call | local start (Europe/Madrid) | outcome            | topic   | lang | wait | agent | scores              |
// |------|-----------------------------|--------------------|---------|------|------|-------|---------------------|
// | k0   | 2026-11-09 23:59:59         | completed in IVR   | housing | ca   |      |       |                     |
// | k1   | 2026-11-10 10:00            | answered           | health  | ca   | 20 s | a1    | overall 9, resolved 7 |
// | k2   | 2026-11-10 10:10            | answered           | taxes   | es   | 30 s | a2    | overall 6           |
// | k3   | 2026-11-10 10:20            | abandoned in queue | health  | ca   | 40 s |       |                     |
// | k4   | 2026-11-10 10:30            | completed in IVR   | health  | ca   |      |       |                     |
// | k5   | 2026-11-11 09:00            | answered           | health  | ca   | 17 s | a1    | overall 10, resolved unanswered |
// | k6   | 2026-11-11 09:30            | abandoned in queue | taxes   | ca   | 3 s (short) |  |                     |
// | k9   | 2026-11-12 00:00:05         | completed in IVR   | housing | ca   |      |       |                     |
//
// k1 and k5 are from CALLER; the others from other numbers.
//
// Report --from 2026-11-10 --to 2026-11-11 (k0 and k9 are outside):
// - 10th: offered 4, answered 2, abandoned 1; SL 1/2 (k1 at exactly 20 s is
//   within); ASA (20+30)/2 = 25 s; scores 9, 7, 6: 3 surveys, 22/3 = 7.33.
// - 11th: offered 2, answered 1, abandoned 1 (short); SL 1/1; ASA 17 s;
//   scores 10 (the unanswered question is not a score): 1 survey, 10.00.
// - Total: offered 6, answered 3, abandoned 2; SL 2/3; ASA 67/3 = 22.33 s;
//   4 surveys, 32/4 = 8.00 (question `overall` only: 9, 6, 10 = 8.33).

/// Epoch ms of a local Madrid time, e.g. `2026-11-10T10:00`.
fn at(local: &str) -> i64 {
    format!("{local}[Europe/Madrid]").parse::<Zoned>().expect("a valid fixture time").timestamp().as_millisecond()
}

struct Queue {
    wait_s: i64,
    agent: Option<&'static str>,
    scores: &'static [(&'static str, Option<u8>)],
}

fn call(id: &str, start: &str, disposition: Disposition, topic: &str, language: &str, number: &str, queue: Option<Queue>) -> FinishedCall {
    let pseudonymizer = Pseudonymizer::new(KEY).expect("the test key is long enough");
    let started_at_ms = at(start);
    let mut details = CallDetails {
        caller_pseudonym: Some(pseudonymizer.pseudonym(number)),
        ivr_path: "welcome>main[1]".to_owned(),
        topic: Some(topic.to_owned()),
        disposition: Some(disposition),
        ..CallDetails::default()
    };
    let mut ended_at_ms = started_at_ms + 30_000;
    let mut survey_answers = Vec::new();
    if let Some(q) = queue {
        let queued_at = started_at_ms + 10_000;
        details.queue = Some("general".to_owned());
        details.queued_at_ms = Some(queued_at);
        details.wait_ms = Some(q.wait_s * 1_000);
        ended_at_ms = queued_at + q.wait_s * 1_000;
        if let Some(agent) = q.agent {
            details.agent = Some(agent.to_owned());
            details.answered_by_agent_at_ms = Some(ended_at_ms);
            details.talk_ms = Some(120_000);
            details.hold_ms = Some(0);
            details.wrap_up_ms = Some(10_000);
            ended_at_ms += 120_000;
        }
        for (n, (question, score)) in q.scores.iter().enumerate() {
            survey_answers.push(SurveyAnswer {
                question: (*question).to_owned(),
                value: score.and_then(SurveyScore::new),
                answered_at_ms: ended_at_ms + 5_000 * (n as i64 + 1),
                agent: details.agent.clone(),
                queue: details.queue.clone(),
                topic: details.topic.clone(),
                language: language.to_owned(),
            });
        }
    }
    FinishedCall {
        record: CallRecord {
            call_id: format!("call-{id}"),
            dialled: "012".to_owned(),
            started_at_ms,
            answered_at_ms: Some(started_at_ms + 200),
            ended_at_ms,
            end_reason: "caller_hangup".to_owned(),
            language: language.to_owned(),
            ..CallRecord::default()
        },
        details,
        survey_answers,
        ..FinishedCall::default()
    }
}

fn calls() -> Vec<FinishedCall> {
    use Disposition::*;
    let answered = |wait_s, agent, scores| Some(Queue { wait_s, agent: Some(agent), scores });
    let waited = |wait_s| Some(Queue { wait_s, agent: None, scores: &[] });
    vec![
        call("k0", "2026-11-09T23:59:59", CompletedInIvr, "housing", "ca", "+34600999000", None),
        call("k1", "2026-11-10T10:00", Answered, "health", "ca", CALLER, answered(20, "a1", &[("overall", Some(9)), ("resolved", Some(7))])),
        call("k2", "2026-11-10T10:10", Answered, "taxes", "es", "+34600200200", answered(30, "a2", &[("overall", Some(6))])),
        call("k3", "2026-11-10T10:20", AbandonedInQueue, "health", "ca", "+34600300300", waited(40)),
        call("k4", "2026-11-10T10:30", CompletedInIvr, "health", "ca", "+34600400400", None),
        call("k5", "2026-11-11T09:00", Answered, "health", "ca", CALLER, answered(17, "a1", &[("overall", Some(10)), ("resolved", None)])),
        call("k6", "2026-11-11T09:30", AbandonedInQueue, "taxes", "ca", "+34600600600", waited(3)),
        call("k9", "2026-11-12T00:00:05", CompletedInIvr, "housing", "ca", "+34600999000", None),
    ]
}

/// A CSV report as one map per line (header name -> cell), keyed by the
/// first column.
fn csv_rows(csv: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().expect("a header line").split(',').collect();
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "a CSV line with as many cells as the header: {line}");
            let row: BTreeMap<String, String> = header.iter().zip(&cells).map(|(h, c)| ((*h).to_owned(), (*c).to_owned())).collect();
            (cells[0].to_owned(), row)
        })
        .collect()
}

/// Asserts the named cells of one CSV row.
fn assert_cells(rows: &BTreeMap<String, BTreeMap<String, String>>, group: &str, expected: &[(&str, &str)]) {
    let row = rows.get(group).unwrap_or_else(|| panic!("no row {group:?} in {:?}", rows.keys().collect::<Vec<_>>()));
    for (column, value) in expected {
        assert_eq!(row.get(*column).map(String::as_str), Some(*value), "{group} / {column}");
    }
}

/// Asserts the named fields of a JSON report row.
fn assert_fields(row: &Value, expected: &Value) {
    for (name, value) in expected.as_object().expect("an object of expected fields") {
        assert_eq!(&row[name], value, "{name} of {row}");
    }
}

// ---------------------------------------------------------------------------
// The tests, each once per backend.

/// The highest migration number in the store's migrations folder: the
/// version `ivr migrate` must report.
fn latest_migration(backend: &str) -> i64 {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../store/migrations").join(backend);
    std::fs::read_dir(&dir)
        .expect("the store's migrations folder")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.split('_').next()?.parse::<i64>().ok())
        .max()
        .expect("at least one migration")
}

async fn migrate_reports_the_schema_version_and_is_idempotent(db: &TestDb) {
    let (folder, name) = if db.pg.is_some() { ("postgres", "PostgreSQL") } else { ("sqlite", "SQLite") };
    let first = db.ivr(&["migrate"]).ok();
    let expected = format!("schema at version {} ({name})", latest_migration(folder));
    assert!(first.contains(&expected), "`ivr migrate` should say {expected:?}, said {first:?}");
    let second = db.ivr(&["migrate"]).ok();
    assert_eq!(first, second, "a second migrate changes nothing and says the same");
    let store = db.store().await;
    assert_eq!(store.count_calls().await.expect("count"), 0, "the migrated schema is usable and empty");
    store.close().await;
}

async fn report_by_day_prints_the_hand_computed_figures_as_csv_and_json(db: &TestDb) {
    db.insert(&calls()).await;
    let range = ["report", "--from", "2026-11-10", "--to", "2026-11-11", "--by", "day"];

    let csv = db.ivr(&[&range[..], &["--format", "csv"]].concat()).ok();
    let rows = csv_rows(&csv);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["2026-11-10", "2026-11-11", "Total"], "{csv}");
    assert_cells(&rows, "2026-11-10", &[
        ("offered", "4"), ("answered", "2"), ("abandoned", "1"), ("short_abandoned", "0"), ("ivr_completed", "1"),
        ("service_level", "0.5000"), ("asa_s", "25.0"), ("longest_wait_s", "40.0"), ("surveys", "3"), ("satisfaction", "7.33"),
        ("score_6", "1"), ("score_7", "1"), ("score_9", "1"), ("score_10", "0"),
    ]);
    assert_cells(&rows, "2026-11-11", &[
        ("offered", "2"), ("answered", "1"), ("abandoned", "1"), ("short_abandoned", "1"),
        ("service_level", "1.0000"), ("asa_s", "17.0"), ("surveys", "1"), ("satisfaction", "10.00"), ("score_10", "1"),
    ]);
    assert_cells(&rows, "Total", &[
        ("offered", "6"), ("answered", "3"), ("abandoned", "2"), ("short_abandoned", "1"),
        ("service_level", "0.6667"), ("asa_s", "22.3"), ("surveys", "4"), ("satisfaction", "8.00"),
    ]);

    let json: Value = serde_json::from_str(&db.ivr(&[&range[..], &["--format", "json"]].concat()).ok()).expect("JSON output");
    assert_eq!(json["by"], "day");
    let json_rows = json["rows"].as_array().expect("rows");
    assert_eq!(json_rows.len(), 2, "{json}");
    assert_fields(&json_rows[0], &json!({
        "group": "2026-11-10", "offered": 4, "answered": 2, "abandoned": 1,
        "service_level": 0.5, "asa_s": 25.0, "surveys": 3, "satisfaction": 7.3333,
        "scores": [0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0],
    }));
    assert_fields(&json_rows[1], &json!({
        "group": "2026-11-11", "offered": 2, "answered": 1, "abandoned": 1, "short_abandoned": 1,
        "service_level": 1.0, "asa_s": 17.0, "surveys": 1, "satisfaction": 10.0,
    }));
    assert_fields(&json["total"], &json!({
        "offered": 6, "answered": 3, "abandoned": 2, "service_level": 0.6667, "asa_s": 22.3333,
        "surveys": 4, "satisfaction": 8.0,
    }));

    // One survey question only: 9, 6, 10.
    let overall = db.ivr(&[&range[..], &["--format", "csv", "--question", "overall"]].concat()).ok();
    assert_cells(&csv_rows(&overall), "Total", &[("offered", "6"), ("surveys", "3"), ("satisfaction", "8.33")]);

    // The text table shows the same total.
    let text = db.ivr(&range).ok();
    let total = text.lines().find(|l| l.starts_with("Total")).unwrap_or_else(|| panic!("a Total line in {text}"));
    assert!(total.contains("66.7%") && total.contains("22.3") && total.contains("8.00"), "{total}");
}

async fn report_by_agent_and_by_topic(db: &TestDb) {
    db.insert(&calls()).await;
    let report = |by: &str| {
        csv_rows(&db.ivr(&["report", "--from", "2026-11-10", "--to", "2026-11-11", "--by", by, "--format", "csv"]).ok())
    };

    let agents = report("agent");
    assert_eq!(agents.keys().collect::<Vec<_>>(), ["(none)", "Total", "a1", "a2"]);
    assert_cells(&agents, "(none)", &[
        ("offered", "3"), ("answered", "0"), ("abandoned", "2"), ("service_level", ""), ("asa_s", ""), ("surveys", "0"), ("satisfaction", ""),
    ]);
    assert_cells(&agents, "a1", &[
        ("offered", "2"), ("answered", "2"), ("service_level", "1.0000"), ("asa_s", "18.5"), ("surveys", "3"), ("satisfaction", "8.67"),
    ]);
    assert_cells(&agents, "a2", &[
        ("offered", "1"), ("answered", "1"), ("service_level", "0.0000"), ("asa_s", "30.0"), ("surveys", "1"), ("satisfaction", "6.00"),
    ]);
    assert_cells(&agents, "Total", &[("offered", "6"), ("answered", "3"), ("service_level", "0.6667")]);

    let topics = report("topic");
    assert_eq!(topics.keys().collect::<Vec<_>>(), ["Total", "health", "taxes"]);
    assert_cells(&topics, "health", &[
        ("offered", "4"), ("answered", "2"), ("abandoned", "1"), ("ivr_completed", "1"),
        ("service_level", "1.0000"), ("asa_s", "18.5"), ("surveys", "3"), ("satisfaction", "8.67"),
    ]);
    assert_cells(&topics, "taxes", &[
        ("offered", "2"), ("answered", "1"), ("abandoned", "1"), ("short_abandoned", "1"),
        ("service_level", "0.0000"), ("asa_s", "30.0"), ("surveys", "1"), ("satisfaction", "6.00"),
    ]);
}

// Open data for November with --min-group 3 (all eight calls are in it):
// - by day: only the 10th (4 calls); the 9th (1), 11th (2), 12th (1) are omitted;
// - by hour: only 10:00 (k1-k4); 09:00 (2), 23:00 and 00:00 (1) are omitted;
// - by topic: health (4); taxes (2) and housing (2) merged into (other) (4);
// - by language: ca (7); es (1) merged into (other), itself too small: omitted;
// - satisfaction only where 3 scores or more; the month's distribution
//   withholds every non-zero count (each score value occurs once).
async fn export_open_data_suppresses_small_groups(db: &TestDb) {
    db.insert(&calls()).await;
    let out = db.dir.join("open-data");
    let out_arg = out.to_str().expect("a UTF-8 temp path");
    let listed = db.ivr(&["export", "open-data", "--month", "2026-11", "--out", out_arg, "--min-group", "3"]).ok();
    let read = |name: &str| {
        let path = out.join(format!("open-data-2026-11{name}"));
        assert!(listed.contains(path.to_str().expect("UTF-8")), "{} not listed in {listed:?}", path.display());
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    };
    let header = "calls,answered,abandoned_in_ivr,abandoned_in_queue,service_level,satisfaction,satisfaction_scores";
    assert_eq!(read("-by-day.csv"), format!("day,{header}\n2026-11-10,4,2,0,1,0.5000,7.33,3\n"));
    assert_eq!(read("-by-hour.csv"), format!("hour,{header}\n10,4,2,0,1,0.5000,7.33,3\n"));
    assert_eq!(read("-by-topic.csv"), format!("topic,{header}\nhealth,4,2,0,1,1.0000,8.67,3\n(other),4,1,0,1,0.0000,,\n"));
    assert_eq!(read("-by-language.csv"), format!("language,{header}\nca,7,2,0,2,1.0000,8.67,3\n"));
    let totals = read("-totals.csv");
    assert!(totals.lines().nth(1).is_some_and(|l| l.starts_with("2026-11,8,3,0,2,0.6667,8.00,4,")), "{totals}");

    let json: Value = serde_json::from_str(&read(".json")).expect("the JSON file parses");
    assert_eq!(json["min_group"], 3);
    assert_eq!(json["totals"]["calls"], 8);
    assert_eq!(json["totals"]["satisfaction_distribution"], json!([0, 0, 0, 0, 0, 0, null, null, 0, null, null]));
    let languages: Vec<&Value> = json["by_language"].as_array().expect("by_language").iter().map(|r| &r["group"]).collect();
    assert_eq!(languages, [&json!("ca")], "es has one call: not published, not even as (other)");

    // Nothing about an individual in any file.
    let pseudonym = Pseudonymizer::new(KEY).expect("key").pseudonym(CALLER);
    for entry in std::fs::read_dir(&out).expect("the output folder") {
        let path = entry.expect("an output file").path();
        let text = std::fs::read_to_string(&path).expect("read an output file");
        for secret in ["call-k", "a1", "a2", &pseudonym, "600111222", "welcome>"] {
            assert!(!text.contains(secret), "{} contains {secret:?}", path.display());
        }
    }

    db.ivr(&["export", "open-data", "--month", "2026-11", "--out", out_arg, "--min-group", "0"]).refused("--min-group");
    db.ivr(&["export", "open-data", "--month", "2026-13", "--out", out_arg]).refused("2026-13");
}

async fn export_caller_finds_the_callers_calls_and_logs_the_access(db: &TestDb) {
    db.insert(&calls()).await;
    let config = db.config_with_key();
    let config = config.to_str().expect("a UTF-8 temp path");
    // Written as a person would type it: spaces are not part of the number.
    let who = "dpo@012.gencat.cat";
    let why = "right of access request 2026/117";
    let run = db.ivr_logging(&["export", "caller", "--config", config, "--number", "+34 600 111 222", "--who", who, "--why", why], "debug");
    for shape in ["600111222", "600 111 222"] {
        assert!(!run.stderr.contains(shape), "the number reached the log (RUST_LOG=debug): {}", run.stderr);
    }
    let export = run.ok();
    let json: Value = serde_json::from_str(&export).unwrap_or_else(|e| panic!("JSON export ({e}): {export}"));
    assert_eq!(json["pseudonym"], Pseudonymizer::new(KEY).expect("key").pseudonym(CALLER));
    let ids: Vec<&Value> = json["calls"].as_array().expect("calls").iter().map(|c| &c["record"]["call_id"]).collect();
    assert_eq!(ids, [&json!("call-k1"), &json!("call-k5")], "the caller's calls, oldest first, and only theirs");
    let k1 = &json["calls"][0];
    assert_eq!(k1["details"]["agent"], "a1");
    assert_eq!(k1["survey_answers"].as_array().map(Vec::len), Some(2), "with everything stored with the call");

    assert_eq!(db.rows("SELECT who, why, call_id FROM clear_number_access_log"), [[who, why, ""]], "the access is logged");

    // A number with no calls: an empty export, logged all the same.
    let none = db.ivr(&["export", "caller", "--config", config, "--number", "+34600000001", "--who", who, "--why", why]).ok();
    let none: Value = serde_json::from_str(&none).expect("JSON export");
    assert_eq!(none["calls"], json!([]));
    assert_eq!(db.rows("SELECT COUNT(*) FROM clear_number_access_log"), [["2"]]);
}

async fn export_caller_without_who_why_or_key_is_refused(db: &TestDb) {
    db.insert(&calls()).await;
    let config = db.config_with_key();
    let config = config.to_str().expect("a UTF-8 temp path");
    let base = ["export", "caller", "--config", config, "--number", CALLER];
    db.ivr(&[&base[..], &["--why", "request 1"]].concat()).refused("--who");
    db.ivr(&[&base[..], &["--who", "dpo"]].concat()).refused("--why");
    db.ivr(&[&base[..], &["--who", " ", "--why", "request 1"]].concat()).refused("--who and --why are required");
    db.ivr(&[&base[..], &["--who", "dpo", "--why", ""]].concat()).refused("--who and --why are required");

    // Without the key the pseudonyms cannot be recomputed: a new random key
    // would find nothing, so the export is refused and no key is created.
    let empty = db.dir.join("no-key-data");
    let config = db.config_with_data_dir(&empty);
    let config = config.to_str().expect("a UTF-8 temp path");
    db.ivr(&["export", "caller", "--config", config, "--number", CALLER, "--who", "dpo", "--why", "r"]).refused("pseudonym.key");
    assert!(!empty.join("pseudonym.key").exists(), "a refused export creates no key");

    assert_eq!(db.rows("SELECT COUNT(*) FROM clear_number_access_log"), [["0"]], "a refused export reads nothing");
}

async fn purge_erases_expired_callback_numbers_and_keeps_fresh_ones(db: &TestDb) {
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let with_callback = |id: &str, number: &str, purge_after_ms: i64| {
        let mut c = call(id, "2026-11-10T10:00", Disposition::CalledBack, "health", "ca", number, None);
        c.callback = Some(CallbackRequest {
            queue: "general".to_owned(),
            number_clear: Some(number.to_owned()),
            requested_at_ms: c.record.started_at_ms,
            purge_after_ms,
            state: CallbackState::Completed,
        });
        c
    };
    db.insert(&[
        with_callback("expired", "+34600700700", now_ms - 3_600_000),
        with_callback("fresh", "+34600800800", now_ms + 30 * 24 * 3_600_000),
    ])
    .await;

    assert_eq!(db.ivr(&["purge"]).ok().trim(), "1 callback number(s) purged");
    assert_eq!(db.ivr(&["purge"]).ok().trim(), "0 callback number(s) purged", "a second purge has nothing left to do");

    let store = db.store().await;
    let callback = |call: Option<FinishedCall>| call.and_then(|c| c.callback).expect("the callback request stays");
    let expired = callback(store.finished_call("call-expired").await.expect("read"));
    assert_eq!(expired.number_clear, None, "the expired number is erased");
    assert_eq!(expired.state, CallbackState::Completed, "the request itself stays, for statistics");
    let fresh = callback(store.finished_call("call-fresh").await.expect("read"));
    assert_eq!(fresh.number_clear.as_deref(), Some("+34600800800"), "a number within its retention is kept");
    store.close().await;
    assert_eq!(db.rows("SELECT COUNT(*) FROM callback_requests WHERE number_clear IS NOT NULL"), [["1"]]);
}

/// Each test once per backend: `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&super::TestDb::sqlite(stringify!($name))).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    if let Some(db) = super::TestDb::postgres(stringify!($name)) {
                        super::$name(&db).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    migrate_reports_the_schema_version_and_is_idempotent,
    report_by_day_prints_the_hand_computed_figures_as_csv_and_json,
    report_by_agent_and_by_topic,
    export_open_data_suppresses_small_groups,
    export_caller_finds_the_callers_calls_and_logs_the_access,
    export_caller_without_who_why_or_key_is_refused,
    purge_erases_expired_callback_numbers_and_keeps_fresh_ones,
);

// Backend-independent: arguments are checked before the database is opened.

#[test]
fn bad_report_arguments_exit_non_zero_with_a_clear_message_and_touch_no_database() {
    let db = TestDb::sqlite("bad_report_arguments");
    let report = |from: &str, to: &str, extra: &[&str]| db.ivr(&[&["report", "--from", from, "--to", to][..], extra].concat());
    report("2026-11-10", "2026-11-11", &["--by", "month"]).refused("unknown report grouping \"month\"");
    report("2026-11-11", "2026-11-10", &[]).refused("--to 2026-11-10 is before --from 2026-11-11");
    report("2026-02-30", "2026-03-01", &[]).refused("--from \"2026-02-30\" is not a date");
    report("2026-11-10", "10/11/2026", &[]).refused("--to \"10/11/2026\" is not a date");
    report("2026-11-10", "2026-11-11", &["--format", "xml"]).refused("xml");
    assert!(!db.dir.join("ivr.db").exists(), "a refused report opens no database");
}
