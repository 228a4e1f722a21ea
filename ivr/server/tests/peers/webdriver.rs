//! Headless Chromium for the peer tests, over W3C WebDriver: each
//! [`Browser`] starts its own chromedriver on a free loopback port and opens
//! one session in it (its own profile, so each user has their own cookies),
//! with a 1280x800 page, on the console at a given address.
//!
//! The client is ours and small: JSON over HTTP/1.1 on a std socket, one
//! connection a request, so the server crate's tests need no WebDriver or
//! async dependency. A WebDriver error fails the test, saying what the page
//! showed. Must never wait with a bare sleep: waits poll the page every
//! 25 ms with a bound.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{self, TempDir};

/// The page's size, and so every screenshot's.
pub const VIEWPORT: (u64, u64) = (1280, 800);

/// W3C WebDriver's key for an element reference.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether chromium and chromedriver are installed (see
/// [`support::peer_available`]: a missing one skips, or fails under `CI`).
pub fn available() -> bool {
    support::peer_available("chromium", "chromium") && support::peer_available("chromedriver", "chromium-driver")
}

/// Whether a browser has a microphone: Chromium's fake device playing a
/// file, or none (headless on a machine with no sound card: `getUserMedia`
/// fails, so the page's softphone never sets up a media session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Microphone {
    /// Chromium's fake device playing this WAV (it loops the file), with
    /// the permission granted.
    Playing(PathBuf),
    None,
}

/// chromedriver on a free loopback port, ended when dropped.
struct ChromeDriver {
    child: Child,
    addr: SocketAddr,
}

impl ChromeDriver {
    fn start(logs: &TempDir) -> Self {
        let port = support::free_ports(1);
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", logs.join("chromedriver.log").display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver (apt-get install -y chromium-driver)");
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let driver = Self { child, addr };
        support::wait_for("chromedriver to be ready", Duration::from_secs(10), || {
            webdriver(addr, "GET", "/status", None).ok().filter(|v| v["ready"] == Value::Bool(true)).map(|_| ())
        });
        driver
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        support::stop_child(&mut self.child, "TERM", Duration::from_secs(3));
    }
}

/// The `chromium` on PATH (the test checked that there is one).
fn chromium() -> PathBuf {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths).map(|dir| dir.join("chromium")).find(|p| p.is_file()).unwrap_or_else(|| PathBuf::from("chromium"))
}

/// One WebDriver session in its own chromedriver: a headless Chromium with
/// its own profile and a 1280x800 page, on the console at `http`. Dropping
/// it ends the session, then the driver.
pub struct Browser {
    session: String,
    who: &'static str,
    http: SocketAddr,
    driver: ChromeDriver,
    /// chromedriver's log; kept when the test fails.
    _logs: TempDir,
}

impl Browser {
    /// `who` names the browser in every message (`"agent"`, `"supervisor"`).
    pub fn open(who: &'static str, http: SocketAddr, microphone: Microphone) -> Self {
        let logs = TempDir::new(&format!("chromedriver-{who}"));
        let driver = ChromeDriver::start(&logs);
        let common = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--window-size=1280,800",
            // The operators' browsers speak Catalan: dates in the forms too.
            "--lang=ca",
            "--force-device-scale-factor=1",
            "--hide-scrollbars",
            "--autoplay-policy=no-user-gesture-required",
        ];
        let mut args: Vec<String> = common.iter().map(|a| (*a).to_owned()).collect();
        if let Microphone::Playing(wav) = &microphone {
            args.extend([
                "--use-fake-ui-for-media-stream".to_owned(),
                "--use-fake-device-for-media-stream".to_owned(),
                format!("--use-file-for-fake-audio-capture={}", wav.display()),
                // WebRTC with the engine on 127.0.0.1 also where loopback is the only interface.
                "--allow-loopback-in-peer-connection".to_owned(),
            ]);
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium(), "args": args },
        } } });
        let created = webdriver(driver.addr, "POST", "/session", Some(&capabilities))
            .unwrap_or_else(|e| panic!("open a Chromium session for the {who}: {e}"));
        let session = created["sessionId"].as_str().unwrap_or_else(|| panic!("no sessionId in {created}")).to_owned();
        let browser = Self { session, who, http, driver, _logs: logs };
        // --window-size is the window's; the screenshots are of the page,
        // which is smaller by whatever a headless window keeps around it.
        let frame = browser.js("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight];");
        let (dx, dy) = (frame[0].as_u64().unwrap_or(0), frame[1].as_u64().unwrap_or(0));
        browser.command("POST", "/window/rect", Some(&json!({ "width": VIEWPORT.0 + dx, "height": VIEWPORT.1 + dy })));
        browser
    }

    /// One command of this session; on a WebDriver error the test fails,
    /// saying what the page showed.
    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let url = format!("/session/{}{path}", self.session);
        webdriver(self.driver.addr, method, &url, body)
            .unwrap_or_else(|e| panic!("the {} browser: {method} {path}: {e}\n{}", self.who, self.page_report()))
    }

    /// Opens `path` (`/agent`) on the console.
    pub fn goto(&self, path: &str) {
        self.command("POST", "/url", Some(&json!({ "url": format!("http://{}{path}", self.http) })));
    }

    fn element(&self, css: &str) -> String {
        let found = self.command("POST", "/element", Some(&json!({ "using": "css selector", "value": css })));
        found[ELEMENT_KEY].as_str().unwrap_or_else(|| panic!("no element reference for `{css}`: {found}")).to_owned()
    }

    /// A real click (WebDriver checks the element is visible and enabled).
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.command("POST", &format!("/element/{id}/click"), Some(&json!({})));
    }

    /// Types `text` as key presses into the element.
    pub fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.command("POST", &format!("/element/{id}/value"), Some(&json!({ "text": text })));
    }

    /// The element's rendered text.
    pub fn text(&self, css: &str) -> String {
        let id = self.element(css);
        self.command("GET", &format!("/element/{id}/text"), None).as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body: `return ...;`) in the page and
    /// returns its value.
    pub fn js(&self, script: &str) -> Value {
        self.command("POST", "/execute/sync", Some(&json!({ "script": script, "args": [] })))
    }

    /// Signs in on the login page with `login` and `password`: the form
    /// takes the focus, the keys are typed, the button clicked. Where the
    /// page lands is the caller's to wait for.
    pub fn sign_in(&self, login: &str, password: &str, within: Duration) {
        self.goto("/");
        self.wait_for("the login form to take the focus", within, "document.activeElement?.id === 'login'");
        self.type_into("#login", login);
        self.type_into("#password", password);
        self.click("[data-testid=login-submit]");
    }

    /// On a signed-in console page (`path`, e.g. `/agent`), turns the
    /// softphone on: with the microphone permission already granted the page
    /// does it by itself; otherwise this clicks the button (the fake UI
    /// grants it). The caller then waits for the engine's log of the audio.
    pub fn turn_on_softphone(&self, path: &str, within: Duration) {
        self.wait_for("the console page", within, &format!("location.pathname === '{path}'"));
        self.wait_for("the softphone panel", within, "!!document.getElementById('phone-start')");
        self.js(
            "const p = await navigator.permissions.query({ name: 'microphone' }); \
             if (p.state !== 'granted') document.getElementById('phone-start').click(); return p.state;",
        );
    }

    /// Polls `condition` (a JavaScript expression) every 25 ms until true;
    /// fails the test naming `what` after `within`. Returns how long it took.
    pub fn wait_for(&self, what: &str, within: Duration, condition: &str) -> Duration {
        self.wait_since(Instant::now(), what, within, condition)
    }

    /// [`Browser::wait_for`] with the bound counted from `since` (when the
    /// change was made); returns how long after `since` the page showed it.
    pub fn wait_since(&self, since: Instant, what: &str, within: Duration, condition: &str) -> Duration {
        let script = format!("return Boolean({condition});");
        self.poll(since, what, within, &script, |value| (value == Value::Bool(true)).then_some(()));
        let took = since.elapsed();
        eprintln!("{} page: {what}: {} ms", self.who, took.as_millis());
        took
    }

    /// Polls `body` (a function body that returns a value, or `null` or
    /// `false` while not yet) every 25 ms; returns the first other value.
    pub fn wait_for_value(&self, what: &str, within: Duration, body: &str) -> Value {
        self.poll(Instant::now(), what, within, body, |value| (!matches!(value, Value::Null | Value::Bool(false))).then_some(value))
    }

    fn poll<T>(&self, since: Instant, what: &str, within: Duration, script: &str, done: impl Fn(Value) -> Option<T>) -> T {
        loop {
            if let Some(found) = done(self.js(script)) {
                return found;
            }
            if since.elapsed() > within {
                panic!("the {} page did not show {what} within {within:?}\n{}", self.who, self.page_report());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The page as a 1280x800 PNG.
    pub fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command("GET", "/screenshot", None);
        let png = base64_decode(encoded.as_str().unwrap_or_default()).expect("the screenshot is base64");
        assert!(png.len() > 24 && png.starts_with(b"\x89PNG"), "the {} screenshot is not a PNG", self.who);
        // The IHDR chunk comes first: width and height, big-endian.
        let size = |at: usize| u64::from(u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]));
        assert_eq!((size(16), size(20)), VIEWPORT, "the {} screenshot's size", self.who);
        png
    }

    /// What the page shows, for a failure message: its address, its error
    /// notice and the start of its text.
    pub fn page_report(&self) -> String {
        let script = json!({ "script": "return `${location.href}\\nerror: ${document.getElementById('page-error')?.textContent ?? ''}\\n${((document.querySelector('main') ?? document.body)?.innerText ?? '').slice(0, 1500)}`;", "args": [] });
        match webdriver(self.driver.addr, "POST", &format!("/session/{}/execute/sync", self.session), Some(&script)) {
            Ok(text) => format!("--- {} page ---\n{}", self.who, text.as_str().unwrap_or_default()),
            Err(e) => format!("--- {} page: unreadable ({e}) ---", self.who),
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = webdriver(self.driver.addr, "DELETE", &format!("/session/{}", self.session), None);
    }
}

/// One WebDriver request: JSON over HTTP/1.1, one connection each. The
/// response's `value`, or the WebDriver error and message.
fn webdriver(driver: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect_timeout(&driver, Duration::from_secs(2)).map_err(|e| format!("connect: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {driver}\r\nContent-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    // Read until the body announced by Content-Length is in (or the peer closes).
    loop {
        if let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|n| raw.len() >= head_end + 4 + n) {
                break;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            // A child process ending (SIPp, baresip) delivers SIGCHLD to
            // the test process; a read it interrupts is simply retried.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("no HTTP header in the response")?;
    let status: u16 = String::from_utf8_lossy(&raw[..head_end]).split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or("no HTTP status")?;
    let reply: Value = serde_json::from_slice(&raw[head_end + 4..]).map_err(|e| format!("HTTP {status}, not JSON: {e}"))?;
    let value = reply.get("value").cloned().unwrap_or(Value::Null);
    if status == 200 {
        Ok(value)
    } else {
        Err(format!("HTTP {status}: {} {}", value["error"], value["message"]))
    }
}

/// Standard base64 (RFC 4648 section 4), padding optional; `None` on any
/// other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut held) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=' && !c.is_ascii_whitespace()) {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(sextet);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push((bits >> held) as u8);
            bits &= (1 << held) - 1;
        }
    }
    Some(out)
}

#[test]
fn base64_decodes_padded_and_unpadded_text_and_refuses_other_characters() {
    assert_eq!(base64_decode("iVBORw0KGgo=").as_deref(), Some(&b"\x89PNG\r\n\x1a\n"[..]));
    assert_eq!(base64_decode("TWFu").as_deref(), Some(&b"Man"[..]));
    assert_eq!(base64_decode("TWE").as_deref(), Some(&b"Ma"[..]));
    assert_eq!(base64_decode("TQ==").as_deref(), Some(&b"M"[..]));
    assert_eq!(base64_decode(""), Some(Vec::new()));
    assert_eq!(base64_decode("TW!u"), None);
}
