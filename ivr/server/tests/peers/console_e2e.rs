//! The agent and supervisor console end to end, in headless Chromium: an
//! operator (`jordi`) signs in to `/agent`, a supervisor (`sup`) watches
//! `/supervisor`, a baresip caller walks the 012 line to the operator
//! (language 1, main menu 6: topic `other`) and is queued; the agent's page
//! shows the offer with what the caller told the IVR, the call is answered,
//! the agent hangs up from the page, wraps up with a disposition code and
//! notes, and is available again; the wallboard follows each step. The
//! caller goes on to the survey.
//!
//! Two ways to answer, one test each: in the browser (the page's softphone
//! with a fake microphone playing a 1 kHz tone; audio is checked both ways:
//! the caller's tone reaches the page in G.711, the caller hears the
//! browser's tone), and on a registered desk phone (baresip switched to
//! manual answer so that the offer rings long enough to be seen; the agent's
//! browser has no microphone, so its softphone has no media session and the
//! engine rings the phone) while the console shows the call. Screenshots
//! come from the browser flow.
//!
//! The server's log is read once: the engine logs the disposition code and
//! whether notes came with the wrap-up (it keeps neither in the call's
//! record yet).
//!
//! Chromium is driven over W3C WebDriver with the peer tests' own client
//! (`webdriver.rs`). Two browsers are two profiles, so each user has their
//! own cookies.
//!
//! Every view is saved as a 1280x800 PNG under
//! `$CARGO_TARGET_TMPDIR/console-screens/` (the test's artifacts), and also
//! copied to `docs/console/` when `IVR_UPDATE_SCREENSHOTS=1` (so a CI run
//! never rewrites the repository).
//!
//! Needs Debian's `chromium`, `chromium-driver`, `baresip-core` and `sox`;
//! without them the test says SKIPPED and passes, unless `CI` is set.
//! Must never wait with a bare sleep for something the DOM or a peer can
//! tell: waits poll the page (every 25 ms) or a peer's events.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::baresip::{self, Baresip};
use crate::operators;
use crate::server::{Server, ServerConfig, TestDialplan};
use crate::support::{self, TempDir};
use crate::webdriver::{self, Browser, Microphone};

const AGENT: &str = "jordi";
/// The demo SIP password of `jordi`'s phone (dialplans/agents.toml).
const PHONE_PASSWORD: &str = "demo-jordi-012";
/// Every console user's password in this test (at least 10 characters).
const CONSOLE_PASSWORD: &str = "console-e2e-password";
const CALLER_HZ: f64 = 440.0;
const AGENT_HZ: f64 = 1000.0;

/// The wallboard follows a change within a second (issue 6); the bound
/// leaves half a second for a busy two-core machine and the 25 ms polling.
const WALLBOARD_WITHIN: Duration = Duration::from_millis(1_500);
/// The agent's page shows an offer within 2 s of the ACD making it.
const OFFER_WITHIN: Duration = Duration::from_secs(2);
/// Page loads, sign-ins, anything not timed by the specification.
const PAGE_WITHIN: Duration = Duration::from_secs(15);

fn peers() -> bool {
    webdriver::available()
        && support::peer_available("baresip", "baresip-core")
        && support::peer_available("sox", "sox")
}

/// How the operator answers: in the browser (the softphone, with a fake
/// microphone), or on a registered desk phone (baresip) while the page
/// shows the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    Browser,
    DeskPhone,
}

#[test]
fn an_operator_answers_in_the_browser_talks_both_ways_and_wraps_up_while_the_wallboard_follows() {
    if peers() {
        work_a_call(Answer::Browser);
    }
}

#[test]
fn an_operator_with_a_desk_phone_works_the_call_from_the_console_while_the_wallboard_follows() {
    if peers() {
        work_a_call(Answer::DeskPhone);
    }
}

/// The whole scenario. Screenshots are taken in the browser flow, the one
/// operators use.
fn work_a_call(answer: Answer) {
    let _turn = support::one_at_a_time();
    let server = Server::start(&ServerConfig { dialplan: TestDialplan::Line012 { staffed: true }, ..ServerConfig::default() });
    let work = TempDir::new("console-e2e");
    add_user(&server, &work, "sup", "supervisor", None);
    add_user(&server, &work, AGENT, "agent", Some(AGENT));
    add_user(&server, &work, "anna", "admin", None);
    let screens = Screens::new(answer == Answer::Browser);
    let survey_intro = support::reference(&work, "survey-intro");

    // The desk phone registers (which logs jordi in to the ACD) and rings
    // until the test answers it. The browser flow has no phone, and its
    // agent a microphone playing the agent's tone.
    let mut phone = (answer == Answer::DeskPhone).then(|| {
        let mut phone = Baresip::start_phone(&baresip::tone(&work, "agent.wav", AGENT_HZ, 120_000), "pcmu,pcma", AGENT, PHONE_PASSWORD, server.sip);
        phone.wait_registered(Duration::from_secs(10));
        phone.command("answermode", "manual");
        phone
    });
    let sup = Browser::open("supervisor", server.http, Microphone::None);
    // An agent whose browser softphone has a media session is offered calls
    // there, not on the desk phone: with no microphone, it has none.
    let microphone = match answer {
        Answer::Browser => Microphone::Playing(browser_tone(&work)),
        Answer::DeskPhone => Microphone::None,
    };
    let agent = Browser::open("agent", server.http, microphone);

    // 1. The supervisor's wallboard; the agent signs in and goes available.
    sign_in(&sup, "sup", "/supervisor");
    sup.wait_for("jordi on the wallboard", PAGE_WITHIN, &agent_row("", ""));
    agent.goto("/");
    agent.wait_for("the login form to take the focus", PAGE_WITHIN, "document.activeElement?.id === 'login'");
    agent.type_into("#login", AGENT);
    agent.type_into("#password", CONSOLE_PASSWORD);
    screens.take(&agent, "login");
    agent.click("[data-testid=login-submit]");
    wait_page(&agent, "/agent");
    if answer == Answer::Browser {
        agent.wait_for("the browser softphone's media session (packets sent)", PAGE_WITHIN, "Number(document.getElementById('phone-level').dataset.packetsOut || 0) > 0");
        agent.wait_for("the agent's own status: out of the queue", PAGE_WITHIN, &my_status("logged_out", ""));
        let asked = Instant::now();
        agent.click("[data-testid=status-available]");
        agent.wait_for("the agent's page to show available", PAGE_WITHIN, &my_status("available", "idle"));
        sup.wait_since(asked, "the wallboard to show jordi signed in to the queue", WALLBOARD_WITHIN, &agent_row("available", "idle"));
    }
    agent.wait_for("the agent's own status: available, idle", PAGE_WITHIN, &my_status("available", "idle"));
    let asked = Instant::now();
    agent.click("[data-testid=status-break]");
    agent.wait_for("the agent's page to show the break", PAGE_WITHIN, &my_status("on_break", ""));
    sup.wait_since(asked, "the wallboard to show jordi on break", WALLBOARD_WITHIN, &agent_row("on_break", ""));
    let asked = Instant::now();
    agent.click("[data-testid=status-available]");
    agent.wait_for("the agent's page to show available", PAGE_WITHIN, &my_status("available", "idle"));
    sup.wait_since(
        asked,
        "the wallboard to show jordi available again",
        WALLBOARD_WITHIN,
        &format!("{} && {}", agent_row("available", "idle"), tile_is("agents_available", "1")),
    );
    agent.wait_for("the live queue to say nobody waits", PAGE_WITHIN, "!document.getElementById('callers-empty').hidden");
    screens.take(&agent, "agent-idle");

    // 2. A caller walks to the operator and is queued: the offer rings for
    //    jordi and shows on the page with the caller's context.
    let mut caller = Baresip::start(&baresip::tone(&work, "caller.wav", CALLER_HZ, 120_000), "pcmu,pcma");
    caller.dial(server.sip);
    caller.wait_event("CALL_ESTABLISHED", Duration::from_secs(10));
    sup.wait_since(Instant::now(), "the wallboard to count one caller in the IVR", WALLBOARD_WITHIN, &tile_is("in_ivr", "1"));
    // The welcome has no barge-in; the menus take a key at once.
    std::thread::sleep(Duration::from_secs_f64(support::prompt_secs("welcome") + 0.7));
    let mut last_key = Instant::now();
    for key in ["1", "6"] {
        operators::press(&mut caller, &server, key);
        last_key = Instant::now();
        std::thread::sleep(Duration::from_millis(700));
    }
    // to-operator (no barge-in), then the queue offers the caller to jordi.
    let queued = last_key + Duration::from_secs_f64(support::prompt_secs("to-operator"));
    agent.wait_since(queued, "the offer on the agent's page", OFFER_WITHIN, "!document.getElementById('offer-panel').hidden");
    let offered = Instant::now();
    let offer = agent.text("#offer-facts");
    for (what, expected) in [("language", "català"), ("topic", "Altres"), ("IVR path", "choose-language[1]"), ("IVR path", "main[6]")] {
        assert!(offer.contains(expected), "the offer's context lacks the {what} `{expected}`:\n{offer}");
    }
    sup.wait_since(
        offered,
        "the wallboard to show one caller waiting and jordi being offered the call",
        WALLBOARD_WITHIN,
        &format!("{} && {} && {}", tile_is("waiting", "1"), agent_row("available", "offered"), "document.getElementById('callers').rows.length === 1"),
    );
    agent.wait_since(offered, "the caller in the agent's live queue", WALLBOARD_WITHIN, "document.getElementById('callers').rows.length === 1");
    screens.take(&agent, "agent-offer");
    screens.take(&sup, "supervisor-wallboard");

    // 3. Answered: the page shows the call, the wallboard the agent on the
    //    call and nobody waiting.
    let answered = match phone.as_mut() {
        None => {
            let asked = Instant::now();
            agent.click("[data-testid=answer]");
            asked
        }
        Some(phone) => {
            phone.wait_event("CALL_INCOMING", Duration::from_secs(5));
            phone.command("accept", "");
            phone.wait_event("CALL_ESTABLISHED", Duration::from_secs(5));
            Instant::now()
        }
    };
    agent.wait_since(
        answered,
        "the call on the agent's page",
        WALLBOARD_WITHIN,
        "!document.getElementById('call-panel').hidden && document.getElementById('offer-panel').hidden",
    );
    let call = agent.text("#call-facts");
    assert!(call.contains("català") && call.contains("main[6]"), "the call's context on the page:\n{call}");
    sup.wait_since(
        answered,
        "the wallboard to show jordi on the call and nobody waiting",
        WALLBOARD_WITHIN,
        &format!("{} && {} && {}", agent_row("available", "on_call"), tile_is("waiting", "0"), tile_is("agents_on_call", "1")),
    );
    if answer == Answer::Browser {
        // The caller's tone reaches the browser, in G.711 (no transcoding).
        agent.wait_for(
            "the caller's audio in the browser (level and G.711 codec)",
            Duration::from_secs(5),
            "(() => { const m = document.getElementById('phone-level'); \
             return m.value > 0.05 && ['audio/PCMU', 'audio/PCMA'].includes(m.dataset.codec); })()",
        );
    }
    agent.wait_for("the talk time to tick", Duration::from_secs(3), "document.getElementById('call-time').textContent.trim() !== '0:00'");
    screens.take(&agent, "agent-call");
    // The caller hears the agent for a while before the agent hangs up.
    std::thread::sleep(Duration::from_millis(1_500));

    // The agent hangs up from the page: wrap-up starts.
    let hung_up = Instant::now();
    agent.click("[data-testid=hangup]");
    if let Some(phone) = phone.as_mut() {
        phone.wait_event("CALL_CLOSED", Duration::from_secs(5));
    }
    agent.wait_since(hung_up, "the wrap-up form on the agent's page", WALLBOARD_WITHIN, "!document.getElementById('wrapup-panel').hidden && document.getElementById('call-panel').hidden");
    sup.wait_since(hung_up, "the wallboard to show jordi in wrap-up", WALLBOARD_WITHIN, &format!("{} && {}", agent_row("available", "wrap_up"), tile_is("agents_wrap_up", "1")));
    agent.wait_for("the wrap-up countdown", PAGE_WITHIN, "/^\\d+:\\d\\d$/.test(document.getElementById('wrapup-countdown').textContent.trim())");
    agent.click("#disposition option[value=information]");
    agent.type_into("#notes", "Horaris de l'oficina d'atenció ciutadana de Girona.");
    screens.take(&agent, "agent-wrap-up");
    let done = Instant::now();
    agent.click("[data-testid=wrapup-done]");
    agent.wait_since(done, "the agent available and idle after wrap-up", WALLBOARD_WITHIN, &format!("{} && document.getElementById('wrapup-panel').hidden", my_status("available", "idle")));
    sup.wait_since(done, "the wallboard to show jordi available and idle again", WALLBOARD_WITHIN, &format!("{} && {}", agent_row("available", "idle"), tile_is("agents_wrap_up", "0")));
    let log = std::fs::read_to_string(server.dir.join("server.log")).unwrap_or_default();
    assert!(
        log.lines().any(|l| l.contains("wrap-up done") && l.contains("information") && l.contains("notes=true")),
        "the engine did not receive the disposition code and notes:\n{}",
        server.log_tail()
    );

    // 4. The caller heard the agent, then went on to the survey.
    let since_hangup = hung_up.elapsed();
    if since_hangup < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_secs(3) - since_hangup);
    }
    caller.command("hangup", "");
    caller.wait_event("CALL_CLOSED", Duration::from_secs(5));
    caller.quit();
    let heard = caller.heard();
    let agent_tone = sine(AGENT_HZ, 8_000, 2_000);
    support::assert_contains(&heard, &agent_tone, "the agent's tone", 0.8);
    support::assert_contains(&heard, &survey_intro[..16_000], "survey-intro", 0.8);
    if let Some(mut phone) = phone {
        phone.quit();
    }

    // 5. The other views: reports (supervisor) and admin.
    sup.goto("/reports");
    wait_page_ready(&sup, "/reports", "!document.getElementById('rep-results').hidden");
    screens.take(&sup, "reports");
    sup.click("[data-testid=signout]");
    sup.wait_for("the sign-out to return to the login page", PAGE_WITHIN, "location.pathname === '/' && document.activeElement?.id === 'login'");
    sign_in(&sup, "anna", "/admin");
    sup.wait_for("the admin page's list of users", PAGE_WITHIN, "document.getElementById('users').rows.length >= 3");
    screens.take(&sup, "admin");

    drop(agent);
    drop(sup);
    server.stop(Duration::from_secs(5));
}

/// `n` samples of a `hz` sine at -12 dBFS, sampled at `rate`.
fn sine(hz: f64, rate: u32, n: usize) -> Vec<i16> {
    let amplitude = 32767.0 * 10f64.powf(-12.0 / 20.0);
    (0..n).map(|i| (amplitude * (2.0 * std::f64::consts::PI * hz * i as f64 / f64::from(rate)).sin()) as i16).collect()
}

/// The browser's microphone: two seconds of the agent's tone at 48 kHz
/// (Chromium loops the file).
fn browser_tone(work: &TempDir) -> PathBuf {
    let path = work.join("browser-microphone.wav");
    loadtest::audio::write_wav(&path, &sine(AGENT_HZ, 48_000, 96_000), 48_000).expect("write the browser's microphone");
    path
}

/// `ivr user add` against the running server's database, the password from
/// a file.
fn add_user(server: &Server, work: &TempDir, login: &str, role: &str, agent: Option<&str>) {
    let password_file = work.join("console-password");
    std::fs::write(&password_file, CONSOLE_PASSWORD).expect("write the password file");
    let mut command = Command::new(env!("CARGO_BIN_EXE_ivr"));
    command.args(["user", "add", login, "--role", role, "--password-file"]).arg(&password_file);
    if let Some(agent) = agent {
        command.args(["--agent", agent]);
    }
    command.args(["--db", &format!("sqlite://{}", server.dir.join("ivr.db").display())]);
    let out = command.output().expect("run ivr user add");
    assert!(out.status.success(), "ivr user add {login} failed: {}", String::from_utf8_lossy(&out.stderr));
}

// What the pages show, as JavaScript conditions. Badges carry the status or
// state as a class (`badge on_call`), so no condition depends on the
// language of the page; `""` matches any.

/// The wallboard's row of `jordi` shows `status` and `state`.
fn agent_row(status: &str, state: &str) -> String {
    format!(
        "(() => {{ const r = document.querySelector('tr[data-testid=\"agent-row-{AGENT}\"]'); \
         return !!r && ('{status}' === '' || r.cells[1].firstChild.classList.contains('{status}')) \
         && ('{state}' === '' || r.cells[2].firstChild.classList.contains('{state}')); }})()"
    )
}

/// The agent's own status and state badges.
fn my_status(status: &str, state: &str) -> String {
    format!(
        "(document.getElementById('my-status').classList.contains('{status}') \
         && ('{state}' === '' || document.getElementById('my-state').classList.contains('{state}')))"
    )
}

/// A wallboard tile's value.
fn tile_is(tile: &str, value: &str) -> String {
    format!("(document.querySelector('[data-testid=\"tile-{tile}-value\"]')?.textContent.trim() === '{value}')")
}

/// Where the screenshots go: the test's artifacts, and `docs/console/`
/// when asked.
struct Screens {
    /// `None`: this run takes no screenshots.
    artifacts: Option<PathBuf>,
    docs: Option<PathBuf>,
}

impl Screens {
    /// `enabled: false` takes none (a second run of the same views).
    fn new(enabled: bool) -> Self {
        if !enabled {
            return Self { artifacts: None, docs: None };
        }
        let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screens");
        std::fs::create_dir_all(&artifacts).expect("create the screenshot folder");
        let docs = (std::env::var("IVR_UPDATE_SCREENSHOTS").as_deref() == Ok("1")).then(|| support::repo_root().join("docs/console"));
        if let Some(docs) = &docs {
            std::fs::create_dir_all(docs).expect("create docs/console");
        }
        Self { artifacts: Some(artifacts), docs }
    }

    fn take(&self, browser: &Browser, name: &str) {
        let Some(artifacts) = &self.artifacts else { return };
        let png = browser.screenshot();
        let path = artifacts.join(format!("{name}.png"));
        std::fs::write(&path, &png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        if let Some(docs) = &self.docs {
            std::fs::copy(&path, docs.join(format!("{name}.png"))).expect("copy a screenshot into docs/console");
        }
        eprintln!("screenshot {name}: {} ({} KB)", path.display(), png.len() / 1024);
    }
}

/// Waits until the page at `path` has loaded and its live feed is up.
fn wait_page(browser: &Browser, path: &str) {
    wait_page_ready(browser, path, "document.getElementById('feed-state')?.dataset.state === 'connected'");
}

fn wait_page_ready(browser: &Browser, path: &str, ready: &str) {
    browser.wait_for(&format!("{path} ready"), PAGE_WITHIN, &format!("location.pathname === '{path}' && ({ready})"));
}

/// Signs in on the login page and waits for the page of the role.
fn sign_in(browser: &Browser, login: &str, lands_on: &str) {
    browser.sign_in(login, CONSOLE_PASSWORD, PAGE_WITHIN);
    if lands_on == "/admin" {
        wait_page_ready(browser, lands_on, "document.getElementById('who')?.textContent.trim() !== ''");
    } else {
        wait_page(browser, lands_on);
    }
}
