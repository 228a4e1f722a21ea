//! The wallboard at 300 agents and 200 waiting callers (issue 6's target:
//! "the wallboard follows an event within 1 s with 300 agents and 200
//! waiting callers; the page loads in under 300 KB").
//!
//! ```text
//! cargo bench -p agent-console --bench wallboard
//! WALLBOARD_RUNS=3 WALLBOARD_EVENTS=200 WALLBOARD_SUPERVISORS=1,10,50 cargo bench -p agent-console --bench wallboard
//! ```
//!
//! What runs is the real console (`agent_console::app`) served by axum on
//! 127.0.0.1, over the tests' control plane (`tests/api/plane.rs`: a real
//! `ivr_acd::Acd` that publishes its live state on every change) and a real
//! SQLite store holding a busy day of the line up to 17:00 (about 7,000
//! calls, through `ivr_store`), so the wallboard's "today" figures come
//! from real records. The ACD holds 300 agents (170 on a call, 60 in
//! wrap-up, 30 on break, 40 available and idle in a queue nobody waits in)
//! and 200 callers waiting in four queues. N supervisors (1, 10, 50) sign
//! in through `POST /api/login` and open `/api/live` with their cookie and
//! Origin, as the page does.
//!
//! Each of EVENTS changes (bounded) is one of: a supervisor puts an idle
//! agent on break (`POST /api/supervisor/agents/{login}/status` with the
//! CSRF token), takes them back, or a caller joins a queue (the engine
//! side). The latency of a change is from just before it is made until the
//! last of the N supervisors has received a frame showing it. One change in
//! ten comes just after today's figures went stale (the console's clock is
//! moved past `figures_ttl`), so those frames also pay the figures query.
//!
//! The control plane publishes at once; the `ivr` server publishes at most
//! every 250 ms (`LIVE_INTERVAL` in `ivr/server/src/server.rs`), so the
//! bound a supervisor sees is that cadence plus the latency measured here.
//! Also printed: the frame size, the server-side build time of one frame
//! (`views::wallboard` plus JSON), the figures query, and the bytes of
//! `/supervisor` and `/agent` with everything they load (the budget itself
//! is asserted by `tests/pages.rs`). Each run builds everything afresh;
//! the summary is the median of the runs.

#[path = "../tests/api/plane.rs"]
#[allow(dead_code)]
mod plane;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent_console::views::{self, Figures};
use agent_console::{AcdFiles, AgentCommand, Clock, Console, ConsoleConfig, ConsoleControl, RateLimit, SESSION_COOKIE};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use futures_util::StreamExt;
use ivr_acd::{AcdConfig, AgentState, AgentStatus};
use ivr_store::report::{GroupBy, ReportQuery, line_time_zone, report};
use ivr_store::users::{NewUser, Role};
use ivr_store::{CallDetails, CallRecord, Disposition, FinishedCall, Store, SurveyAnswer, SurveyScore};
use plane::{AcdPlane, ManualClock};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Queues callers wait in; every busy agent serves all four.
const QUEUES: [&str; 4] = ["general", "salut", "educacio", "treball"];
/// The queue of the idle agents, where nobody waits.
const IDLE_QUEUE: &str = "aranes";
const TOPICS: [&str; 6] = ["procedures", "health", "education", "work", "transport", "other"];
const BUSY_AGENTS: usize = 260;
const IDLE_AGENTS: usize = 40;
const ON_BREAK: usize = 30;
const IN_WRAP_UP: usize = 60;
const WAITING: u64 = 200;
const IN_IVR: u32 = 140;
const PASSWORD: &str = "bench-supervisor-012";
/// No change may take longer than this to reach every supervisor.
const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A seeded linear congruential generator (Knuth's MMIX constants): the
/// same day of records every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

// The ACD's configuration ---------------------------------------------------------

/// The line's own queue settings (`dialplans/queues.toml`, one queue)
/// repeated under each queue name.
fn queues_toml(line_queues: &str) -> String {
    let (_, settings) = line_queues.split_once("[queues.general]").expect("the line has a general queue");
    QUEUES.iter().chain([&IDLE_QUEUE]).map(|name| format!("[queues.{name}]{settings}\n")).collect()
}

fn agent_name(i: usize) -> (String, String) {
    if i < BUSY_AGENTS { (format!("op-{i:03}"), format!("Operator {i:03}")) } else { (format!("ar-{i:03}"), format!("Aranese {i:03}")) }
}

fn agents_toml() -> String {
    let mut toml = String::new();
    for i in 0..BUSY_AGENTS + IDLE_AGENTS {
        let (login, name) = agent_name(i);
        let (queues, languages) = if i < BUSY_AGENTS {
            (format!("{:?}", QUEUES), format!("ca = 10, es = {}, en = {}", 7 + i % 4, 1 + i % 9))
        } else {
            (format!("[{IDLE_QUEUE:?}]"), "oc = 10, ca = 9".to_owned())
        };
        let topics: Vec<String> = TOPICS.iter().enumerate().map(|(t, topic)| format!("{topic} = {}", 2 + (i + t) % 9)).collect();
        toml += &format!(
            "[agents.{login}]\nname = {name:?}\nqueues = {queues}\nskills = {{ language = {{ {languages} }}, topic = {{ {} }} }}\n\n",
            topics.join(", ")
        );
    }
    toml
}

async fn command(plane: &AcdPlane, login: &str, command: AgentCommand) {
    ConsoleControl::agent_command(plane, plane.agent(login), command).await.unwrap_or_else(|e| panic!("{login}: {e}"));
}

fn caller(plane: &AcdPlane, call: u64) {
    let queue = QUEUES[(call % 4) as usize];
    let language = ["ca", "ca", "es", "en"][(call % 7 % 4) as usize];
    let number = (call % 10 != 0).then(|| format!("+3461{:07}", call * 7919 % 10_000_000));
    plane.caller_joins(call, queue, language, TOPICS[(call % 6) as usize], number.as_deref());
}

/// 300 agents in mixed states and 200 callers waiting.
async fn busy_plane(clock: Arc<ManualClock>, dir: &std::path::Path) -> Arc<AcdPlane> {
    let plane = AcdPlane::new(clock, dir);
    let line_queues = std::fs::read_to_string(plane.dir.join("queues.toml")).expect("the line's queues.toml");
    let files = AcdFiles {
        queues_file: "queues.toml".into(),
        queues_toml: queues_toml(&line_queues),
        agents_file: "agents.toml".into(),
        agents_toml: agents_toml(),
    };
    let config = AcdConfig::parse("queues.toml", &files.queues_toml, "agents.toml", &files.agents_toml).expect("bench ACD files");
    ConsoleControl::apply_acd_files(&*plane, files, config).await.expect("apply the bench's ACD");
    for i in 0..BUSY_AGENTS + IDLE_AGENTS {
        command(&plane, &agent_name(i).0, AgentCommand::Login).await;
    }
    for i in 0..ON_BREAK {
        command(&plane, &agent_name(i).0, AgentCommand::Break { reason: ["lunch", "training"][i % 2].into() }).await;
    }
    // Every free operator gets a caller offered; they all answer.
    let busy = (BUSY_AGENTS - ON_BREAK) as u64;
    for call in 1..=busy {
        caller(&plane, call);
    }
    let offers: Vec<_> = plane.live().borrow().acd.agents.iter().filter_map(|a| match a.state {
        AgentState::Offered { call } => Some((a.login.clone(), call)),
        _ => None,
    }).collect();
    assert_eq!(offers.len() as u64, busy, "every free operator is offered a caller");
    for (n, (login, call)) in offers.iter().enumerate() {
        command(&plane, login, AgentCommand::Answer { call: *call }).await;
        if n < IN_WRAP_UP {
            command(&plane, login, AgentCommand::Hangup { call: *call }).await;
        }
    }
    for call in busy + 1..=busy + WAITING {
        caller(&plane, call);
    }
    plane.set_in_ivr(IN_IVR);
    let live = plane.live().borrow().clone();
    let count = |f: &dyn Fn(&ivr_acd::AgentSnapshot) -> bool| live.acd.agents.iter().filter(|a| f(a)).count();
    let states = (
        count(&|a| a.status == AgentStatus::Available && matches!(a.state, AgentState::Idle)),
        count(&|a| matches!(a.status, AgentStatus::OnBreak(_))),
        count(&|a| matches!(a.state, AgentState::OnCall { .. })),
        count(&|a| matches!(a.state, AgentState::WrapUp { .. })),
        live.acd.queues.iter().map(|q| q.calls.len()).sum::<usize>(),
    );
    let expected = (IDLE_AGENTS, ON_BREAK, BUSY_AGENTS - ON_BREAK - IN_WRAP_UP, IN_WRAP_UP, WAITING as usize);
    assert_eq!(states, expected, "(idle, on break, on a call, wrap-up, waiting)");
    plane
}

// The store: a busy day up to now, and the supervisors -----------------------------

/// About 700 calls an hour from 07:00 until shortly before `until_ms`.
fn todays_calls(seven_ms: i64, until_ms: i64) -> Vec<FinishedCall> {
    let mut rng = Rng(0x0012_5eed_0012);
    let span = until_ms - seven_ms - 30 * 60_000;
    let count = (span / 3_600_000 * 700) as usize;
    (0..count)
        .map(|n| {
            let start = seven_ms + span * n as i64 / count as i64;
            let language = ["ca", "ca", "ca", "es", "es", "en"][rng.below(6) as usize];
            let topic = TOPICS[rng.below(6) as usize];
            let queue = QUEUES[rng.below(4) as usize];
            let queued = start + 15_000 + rng.below(30_000) as i64;
            let wait = (rng.below(40_000) + rng.below(40_000)) as i64;
            let mut details = CallDetails {
                ivr_path: format!("welcome>choose-language>main>{topic}"),
                topic: Some(topic.into()),
                caller_pseudonym: Some(format!("{:064x}", rng.below(u64::MAX))),
                ..CallDetails::default()
            };
            let mut answers = Vec::new();
            let (disposition, end) = match rng.below(100) {
                0..35 => (Disposition::CompletedInIvr, queued),
                35..40 => (Disposition::AbandonedInIvr, queued - 5_000),
                roll => {
                    details.queue = Some(queue.into());
                    details.queued_at_ms = Some(queued);
                    details.wait_ms = Some(wait);
                    if roll >= 88 {
                        (Disposition::AbandonedInQueue, queued + wait)
                    } else {
                        let talk = 60_000 + rng.below(360_000) as i64;
                        let agent = agent_name(rng.below(BUSY_AGENTS as u64) as usize).0;
                        details.agent = Some(agent.clone());
                        details.answered_by_agent_at_ms = Some(queued + wait);
                        details.talk_ms = Some(talk);
                        details.hold_ms = Some(0);
                        details.wrap_up_ms = Some(20_000);
                        if rng.below(10) < 3 {
                            answers.push(SurveyAnswer {
                                question: "overall".into(),
                                value: SurveyScore::new(6 + rng.below(5) as u8),
                                answered_at_ms: queued + wait + talk + 10_000,
                                agent: Some(agent),
                                queue: details.queue.clone(),
                                topic: details.topic.clone(),
                                language: language.into(),
                            });
                        }
                        (Disposition::Answered, queued + wait + talk)
                    }
                }
            };
            details.disposition = Some(disposition);
            let record = CallRecord {
                call_id: format!("wallboard-bench-{n:06}"),
                dialled: "012".into(),
                started_at_ms: start,
                answered_at_ms: Some(start + 300),
                ended_at_ms: end,
                end_reason: "caller_hangup".into(),
                codec: Some("PCMA".into()),
                language: language.into(),
                ..CallRecord::default()
            };
            FinishedCall { record, details, events: Vec::new(), survey_answers: answers, callback: None }
        })
        .collect()
}

fn supervisor(i: usize) -> String {
    format!("sup-{i:02}")
}

async fn fill_store(store: &Store, at: jiff::Timestamp, supervisors: usize) -> usize {
    let seven = at.to_zoned(line_time_zone()).with().hour(7).minute(0).second(0).subsec_nanosecond(0).build().expect("07:00");
    let calls = todays_calls(seven.timestamp().as_millisecond(), at.as_millisecond());
    for batch in calls.chunks(1_000) {
        store.insert_finished(batch).await.expect("insert the day's calls");
    }
    // Small Argon2id parameters, as the API tests: verification uses the
    // parameters in the hash, and the login is not what is measured.
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(1024, 1, 1, None).expect("valid parameters");
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let salt = SaltString::encode_b64(b"wallboard-bench").expect("salt");
    let hash = argon2.hash_password(PASSWORD.as_bytes(), &salt).expect("hash").to_string();
    for i in 0..supervisors {
        let user = NewUser {
            login: supervisor(i),
            display_name: format!("Supervisor {i}"),
            role: Role::Supervisor,
            password_hash: hash.clone(),
            agent_login: None,
        };
        store.add_user(&user, 0).await.expect("add supervisor");
    }
    calls.len()
}

// The console over loopback ------------------------------------------------------

/// A manual clock (plane.rs) moved to `at`.
fn clock_at(at: jiff::Timestamp) -> Arc<ManualClock> {
    let clock = Arc::new(ManualClock::new());
    clock.advance(Duration::try_from(at.duration_since(clock.wall())).expect("`at` is ahead"));
    clock
}

struct SignedIn {
    cookie: String,
    csrf: String,
}

/// A request from the page at `addr` through the app's router.
async fn call(app: &Router, addr: SocketAddr, method: Method, path: &str, who: Option<&SignedIn>, body: Option<Value>) -> (StatusCode, Vec<u8>, Option<String>) {
    let mut request = Request::builder().method(method).uri(path).header(header::HOST, addr.to_string()).header(header::ORIGIN, format!("http://{addr}"));
    if let Some(who) = who {
        request = request.header(header::COOKIE, format!("{SESSION_COOKIE}={}", who.cookie)).header(agent_console::CSRF_HEADER, &who.csrf);
    }
    let body = match body {
        Some(json) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(json.to_string())
        }
        None => Body::empty(),
    };
    use tower::ServiceExt;
    let response = app.clone().oneshot(request.body(body).expect("request")).await.expect("infallible");
    let status = response.status();
    let cookie = response.headers().get(header::SET_COOKIE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    (status, to_bytes(response.into_body(), 16 << 20).await.expect("body").to_vec(), cookie)
}

async fn login(app: &Router, addr: SocketAddr, login: &str) -> SignedIn {
    let (status, body, cookie) = call(app, addr, Method::POST, "/api/login", None, Some(json!({ "login": login, "password": PASSWORD }))).await;
    assert_eq!(status, StatusCode::OK, "login {login}: {}", String::from_utf8_lossy(&body));
    let cookie = cookie.and_then(|c| c.strip_prefix(&format!("{SESSION_COOKIE}=")).and_then(|c| c.split(';').next()).map(str::to_owned));
    let me: Value = serde_json::from_slice(&body).expect("JSON");
    SignedIn { cookie: cookie.expect("a session cookie"), csrf: me["csrf_token"].as_str().expect("a CSRF token").to_owned() }
}

/// What the supervisors wait for: the change numbered `seq` shows as
/// `needle` in the frame's text.
#[derive(Clone)]
struct Awaited {
    seq: u64,
    needle: String,
}

struct Seen {
    seq: u64,
    at: Instant,
    bytes: usize,
    text: Option<String>,
}

/// One supervisor's page: reads every frame and reports the first that
/// shows the awaited change. Ends when the awaited channel closes.
async fn supervisor_page(addr: SocketAddr, who: SignedIn, mut awaited: watch::Receiver<Awaited>, seen: mpsc::UnboundedSender<Seen>, keep_text: bool) {
    let mut request = format!("ws://{addr}/api/live").into_client_request().expect("request");
    request.headers_mut().insert("cookie", format!("{SESSION_COOKIE}={}", who.cookie).parse().expect("cookie"));
    request.headers_mut().insert("origin", format!("http://{addr}").parse().expect("origin"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.expect("the live feed opens");
    let mut reported = None;
    loop {
        tokio::select! {
            changed = awaited.changed() => if changed.is_err() {
                let _ = socket.close(None).await;
                return;
            },
            message = socket.next() => match message {
                Some(Ok(Message::Text(text))) => {
                    let at = Instant::now();
                    let want = awaited.borrow().clone();
                    if reported != Some(want.seq) && text.contains(want.needle.as_str()) {
                        reported = Some(want.seq);
                        let bytes = text.len();
                        let text = (keep_text && want.seq == 0).then(|| text.to_string());
                        let _ = seen.send(Seen { seq: want.seq, at, bytes, text });
                    }
                }
                Some(Ok(_)) => {}
                other => panic!("the live feed ended: {other:?}"),
            },
        }
    }
}

/// Waits until `n` supervisors have seen change `seq`.
async fn all_seen(seen: &mut mpsc::UnboundedReceiver<Seen>, seq: u64, n: usize) -> Vec<Seen> {
    let deadline = tokio::time::Instant::now() + EVENT_TIMEOUT;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match tokio::time::timeout_at(deadline, seen.recv()).await {
            Ok(Some(s)) if s.seq == seq => got.push(s),
            Ok(Some(_)) => {}
            Ok(None) => panic!("a supervisor's page ended"),
            Err(_) => panic!("change {seq} reached {} of {n} supervisors within {EVENT_TIMEOUT:?}", got.len()),
        }
    }
    got
}

async fn set_status(app: &Router, addr: SocketAddr, who: &SignedIn, login: &str, body: Value) {
    let path = format!("/api/supervisor/agents/{login}/status");
    let (status, body, _) = call(app, addr, Method::POST, &path, Some(who), Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {}", String::from_utf8_lossy(&body));
}

/// The first frame is the whole picture: 300 agents, 200 waiting, 170
/// calls, and today's figures from the day's records.
fn check_first_frame(text: &str) -> String {
    let frame: Value = serde_json::from_str(text).expect("a JSON frame");
    let data = &frame["data"];
    let len = |v: &Value| v.as_array().map_or(0, Vec::len);
    let waiting: usize = data["queues"].as_array().expect("queues").iter().map(|q| len(&q["waiting"])).sum();
    let shape = (len(&data["agents"]), waiting, len(&data["calls"]));
    let expected = (BUSY_AGENTS + IDLE_AGENTS, WAITING as usize, BUSY_AGENTS - ON_BREAK - IN_WRAP_UP);
    assert_eq!(shape, expected, "(agents, waiting, calls) on the wallboard");
    let offered = data["today"]["offered"].as_i64().expect("today's figures");
    assert!(offered > 0, "today's figures count the day's records");
    format!("{} agents, {} waiting in {} queues, {} calls, today offered {offered}", shape.0, shape.1, len(&data["queues"]), shape.2)
}

/// What a frame costs the server, outside the feed: today's figures from
/// the store, the wallboard view, its JSON.
struct FrameCost {
    figures: Duration,
    view: Duration,
    json: Duration,
}

async fn frame_cost(plane: &AcdPlane, store: &Store, at: jiff::Timestamp) -> FrameCost {
    let day = at.to_zoned(line_time_zone()).date();
    let query = ReportQuery::days(day, day, GroupBy::Day).expect("today");
    let mut figures: Option<Figures> = None;
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let table = report(store, &query).await.expect("today's report");
        times.push(started.elapsed());
        figures = Some(views::figures(&table.total));
    }
    let live = plane.live().borrow().clone();
    let (mut view, mut json) = (Vec::new(), Vec::new());
    for _ in 0..50 {
        let started = Instant::now();
        let wallboard = views::wallboard(&live, true, figures.clone());
        view.push(started.elapsed());
        let started = Instant::now();
        std::hint::black_box(serde_json::to_string(&wallboard).expect("JSON"));
        json.push(started.elapsed());
    }
    FrameCost { figures: median(times), view: median(view), json: median(json) }
}

struct RunResult {
    all: Vec<Duration>,
    /// Changes right after today's figures went stale.
    refresh: Vec<Duration>,
    frame_bytes: usize,
    cost: FrameCost,
}

/// One run with `supervisors` pages open: a fresh ACD, console and server.
async fn run(store: &Store, at: jiff::Timestamp, dir: &std::path::Path, supervisors: usize, events: usize, first_run: bool) -> RunResult {
    let plane = busy_plane(clock_at(at), dir).await;
    let cost = frame_cost(&plane, store, at).await;
    let console_clock = clock_at(at);
    let config = ConsoleConfig {
        login_per_client: RateLimit { burst: 1_000, refill_every: Duration::from_millis(1) },
        ..ConsoleConfig::default()
    };
    let figures_ttl = config.figures_ttl;
    let app = agent_console::app(Console::new(plane.clone(), store.clone(), config, console_clock.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let service = app.clone().into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, service)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    let (awaited, awaited_rx) = watch::channel(Awaited { seq: 0, needle: "\"type\":\"wallboard\"".into() });
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let mut pages = JoinSet::new();
    let mut acting = None;
    for i in 0..supervisors {
        let who = login(&app, addr, &supervisor(i)).await;
        if i == 0 {
            acting = Some(SignedIn { cookie: who.cookie.clone(), csrf: who.csrf.clone() });
        }
        pages.spawn(supervisor_page(addr, who, awaited_rx.clone(), seen_tx.clone(), i == 0));
    }
    drop(seen_tx);
    let acting = acting.expect("at least one supervisor");
    let firsts = all_seen(&mut seen, 0, supervisors).await;
    let shape = check_first_frame(firsts.iter().find_map(|s| s.text.as_deref()).expect("the first page keeps its frame"));
    if first_run {
        println!("  wallboard: {shape}; frame {} bytes", firsts[0].bytes);
    }

    let (mut all, mut refresh, mut bytes) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..events {
        let seq = i as u64 + 1;
        let stale = i % 10 == 9;
        if stale {
            console_clock.advance(figures_ttl + Duration::from_secs(1));
        }
        let (login, name) = agent_name(BUSY_AGENTS + (i / 3) % IDLE_AGENTS);
        let new_caller = 100_000 + i as u64;
        let needle = match i % 3 {
            0 => format!("\"status\":\"on_break\",\"break_reason\":\"bench-{i}\""),
            1 => format!("\"login\":\"{login}\",\"display_name\":\"{name}\",\"status\":\"available\""),
            _ => format!("{{\"call\":{new_caller},\"position\":"),
        };
        awaited.send_replace(Awaited { seq, needle });
        let started = Instant::now();
        match i % 3 {
            0 => set_status(&app, addr, &acting, &login, json!({ "status": "break", "reason": format!("bench-{i}") })).await,
            1 => set_status(&app, addr, &acting, &login, json!({ "status": "available" })).await,
            _ => caller(&plane, new_caller),
        }
        let got = all_seen(&mut seen, seq, supervisors).await;
        let latency = got.iter().map(|s| s.at).max().expect("n > 0") - started;
        bytes.extend(got.iter().map(|s| s.bytes));
        all.push(latency);
        if stale {
            refresh.push(latency);
        }
    }

    drop(awaited);
    let closed = tokio::time::timeout(Duration::from_secs(10), async { while pages.join_next().await.is_some() {} }).await;
    closed.expect("every page closed");
    let _ = stop.send(());
    let served = tokio::time::timeout(Duration::from_secs(10), server).await.expect("the server stops within 10 s");
    served.expect("the server task").expect("the server ran");
    bytes.sort_unstable();
    RunResult { all, refresh, frame_bytes: bytes[bytes.len() / 2], cost }
}

// Page weight ------------------------------------------------------------------

/// `/static/...` names a text mentions (a bare prefix built at run time
/// answers 404 and is not counted).
fn static_refs(text: &str) -> Vec<String> {
    text.match_indices("/static/")
        .map(|(at, _)| {
            let rest = &text[at..];
            let end = rest.find(|c: char| matches!(c, '\'' | '"' | '`' | ')' | '?' | '#') || c.is_whitespace()).unwrap_or(rest.len());
            rest[..end].to_owned()
        })
        .filter(|url| url.len() > "/static/".len())
        .collect()
}

/// The bytes of `page` and of every file it and its files name, as
/// served (bodies; headers not counted), and how many files.
async fn page_weight(app: &Router, addr: SocketAddr, page: &str) -> (usize, Vec<String>) {
    let (status, body, _) = call(app, addr, Method::GET, page, None, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let (mut total, mut files) = (body.len(), Vec::new());
    let mut fetched = BTreeSet::new();
    let mut todo = vec![String::from_utf8_lossy(&body).into_owned()];
    while let Some(text) = todo.pop() {
        for url in static_refs(&text) {
            if !fetched.insert(url.clone()) {
                continue;
            }
            let (status, body, _) = call(app, addr, Method::GET, &url, None, None).await;
            if status != StatusCode::OK {
                continue;
            }
            total += body.len();
            files.push(url.trim_start_matches("/static/").to_owned());
            if url.ends_with(".js") || url.ends_with(".css") || url.ends_with(".html") {
                todo.push(String::from_utf8_lossy(&body).into_owned());
            }
        }
    }
    (total, files)
}

// Figures -------------------------------------------------------------------------

fn median<T: Ord + Copy>(mut values: Vec<T>) -> T {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Nearest-rank percentile.
fn percentile(values: &[Duration], p: f64) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let rank = ((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// 17:00 in Madrid, today or tomorrow: the day's records go up to then.
fn five_pm() -> jiff::Timestamp {
    let now = jiff::Timestamp::now().to_zoned(line_time_zone());
    let today = now.with().hour(17).minute(0).second(0).subsec_nanosecond(0).build().expect("17:00");
    let at = if today > now { today } else { today.tomorrow().expect("tomorrow") };
    at.timestamp()
}

async fn bench(runs: usize, events: usize, sizes: Vec<usize>) {
    let dir = std::env::temp_dir().join(format!("agent-console-wallboard-{}", std::process::id()));
    let at = five_pm();
    let store = Store::connect(&format!("sqlite://{}/wallboard.db", dir.display())).await.expect("SQLite store");
    let supervisors = sizes.iter().copied().max().unwrap_or(1);
    let started = Instant::now();
    let calls = fill_store(&store, at, supervisors).await;
    println!("store: {calls} calls today up to {at} ({:.1} s to insert), {supervisors} supervisors", started.elapsed().as_secs_f64());

    let pages_clock = clock_at(at);
    let pages_app = agent_console::app(Console::new(AcdPlane::new(pages_clock.clone(), &dir.join("pages")), store.clone(), ConsoleConfig::default(), pages_clock));
    let here: SocketAddr = "127.0.0.1:8012".parse().expect("address");
    for page in ["/supervisor", "/agent"] {
        let (bytes, files) = page_weight(&pages_app, here, page).await;
        println!("page {page}: {bytes} bytes ({:.1} KiB; budget 300 KB) with {}", bytes as f64 / 1024.0, files.join(", "));
    }

    let mut results: Vec<(usize, RunResult)> = Vec::new();
    for r in 0..runs {
        for &n in &sizes {
            let result = run(&store, at, &dir.join(format!("run-{r}-{n}")), n, events, r == 0 && n == sizes[0]).await;
            println!(
                "run {} N={n:>2}: all supervisors have the change p50 {:.1} / p95 {:.1} / max {:.1} ms; after figures went stale p50 {:.1} / max {:.1} ms; frame {} bytes; server frame: figures {:.2} ms, view {:.2} ms, JSON {:.2} ms",
                r + 1,
                ms(percentile(&result.all, 50.0)),
                ms(percentile(&result.all, 95.0)),
                ms(percentile(&result.all, 100.0)),
                ms(percentile(&result.refresh, 50.0)),
                ms(percentile(&result.refresh, 100.0)),
                result.frame_bytes,
                ms(result.cost.figures),
                ms(result.cost.view),
                ms(result.cost.json),
            );
            results.push((n, result));
        }
    }

    println!("\nmedian of {runs} runs, {events} changes each (ms unless said):");
    println!("| supervisors | p50 | p95 | max | stale figures p50 | stale figures max | frame bytes | figures query | view | JSON |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &n in &sizes {
        let of_n: Vec<&RunResult> = results.iter().filter(|(m, _)| *m == n).map(|(_, r)| r).collect();
        let med = |f: &dyn Fn(&RunResult) -> Duration| ms(median(of_n.iter().map(|r| f(r)).collect()));
        println!(
            "| {n} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {:.2} | {:.2} | {:.2} |",
            med(&|r| percentile(&r.all, 50.0)),
            med(&|r| percentile(&r.all, 95.0)),
            med(&|r| percentile(&r.all, 100.0)),
            med(&|r| percentile(&r.refresh, 50.0)),
            med(&|r| percentile(&r.refresh, 100.0)),
            median(of_n.iter().map(|r| r.frame_bytes).collect()),
            med(&|r| r.cost.figures),
            med(&|r| r.cost.view),
            med(&|r| r.cost.json),
        );
    }
    store.close().await;
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let runs = env_or("WALLBOARD_RUNS", 3usize).clamp(1, 20);
    let events = env_or("WALLBOARD_EVENTS", 200usize).clamp(10, 5_000);
    let sizes: Vec<usize> = std::env::var("WALLBOARD_SUPERVISORS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).filter(|n| (1..=200).contains(n)).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 10, 50]);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    runtime.block_on(bench(runs, events, sizes));
}
