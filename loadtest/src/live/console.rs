//! Operators through the agent console's JSON API (docs/console.md): a
//! small blocking HTTP/1.1 client of our own and the driver threads that
//! run it beside the generator's event loop.
//!
//! The console's rules, as `agent-console/src/auth.rs` applies them:
//! `POST /api/login {login, password}` sets the `ivr_session` cookie;
//! `GET /api/me` returns the session's `csrf_token`, which every `POST`
//! must carry as `X-CSRF-Token`; `POST /api/agent/status {status,
//! reason?}` (`login`, `available`, `break` with a reason, `logout`)
//! answers with the agent's own view (`agent.status`, `agent.state`) as the
//! command left it; over the login rate limit the answer is 429 with
//! `Retry-After`. We send no `Origin` header (not a browser), which the
//! console accepts.
//!
//! Owns the HTTP exchange (one connection per request, `Connection:
//! close`, Content-Length or chunked bodies, bounded sizes and timeouts)
//! and each operator's session (cookie and token, kept on its driver
//! thread). Never on the RTP loop's thread: the engine asks by
//! [`ConsoleCommand`] and hears back by [`ConsoleReply`], and the shell
//! carries both over channels ([`ConsoleDriver`]). Never panics on what
//! the server sends: every oddity is a [`ConsoleError`].

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Deserialize;

/// The console's session cookie and CSRF header.
pub const SESSION_COOKIE: &str = "ivr_session";
pub const CSRF_HEADER: &str = "X-CSRF-Token";
/// A response head larger than this is refused.
const MAX_HEAD: usize = 16 * 1024;
/// A response body larger than this is refused (an agent view is a few KiB).
const MAX_BODY: usize = 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// Reading and writing: a login waits for Argon2 on a loaded server.
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// Sign-in attempts refused by the login rate limit before giving up, and
/// the longest wait honoured between two.
const LOGIN_ATTEMPTS: u32 = 40;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("console URL {url:?}: {reason}")]
    Url { url: String, reason: &'static str },
    #[error("connecting to the console at {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("{method} {path}: {source}")]
    Io { method: &'static str, path: &'static str, source: io::Error },
    #[error("{method} {path}: malformed response: {reason}")]
    Malformed { method: &'static str, path: &'static str, reason: &'static str },
    #[error("{method} {path}: {status} {error}: {reason}")]
    Refused { method: &'static str, path: &'static str, status: u16, error: String, reason: String },
    #[error("{method} {path}: still rate-limited after {attempts} attempts")]
    RateLimited { method: &'static str, path: &'static str, attempts: u32 },
    #[error("POST /api/login: no ivr_session cookie in the response")]
    NoSessionCookie,
    #[error("{method} {path}: unexpected JSON: {source}")]
    Json { method: &'static str, path: &'static str, source: serde_json::Error },
    #[error("console user {login} acts as no agent (ivr user add ... --agent LOGIN)")]
    NotAnAgent { login: String },
    #[error("not signed in to the console")]
    NotSignedIn,
    #[error("the run stopped before the console answered")]
    Stopped,
}

/// Where the console is: `http://HOST:PORT` (no TLS; a path is ignored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleTarget {
    pub addr: SocketAddr,
    /// The `Host` header: `HOST:PORT` as given.
    pub host: String,
}

impl ConsoleTarget {
    pub fn parse(url: &str) -> Result<ConsoleTarget, ConsoleError> {
        let bad = |reason| ConsoleError::Url { url: url.to_owned(), reason };
        let rest = url.strip_prefix("http://").ok_or_else(|| bad("only http://HOST:PORT is supported"))?;
        let host = rest.split('/').next().unwrap_or_default();
        if host.is_empty() || !host.contains(':') {
            return Err(bad("give the port: http://HOST:PORT"));
        }
        let addr = host.to_socket_addrs().map_err(|_| bad("not a HOST:PORT"))?.next().ok_or_else(|| bad("resolves to nothing"))?;
        Ok(ConsoleTarget { addr, host: host.to_owned() })
    }
}

/// A response as read: status, headers (names lower-cased), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The value of cookie `name` among the `Set-Cookie` headers.
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .filter_map(|(_, v)| v.split(';').next()?.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v)
    }
}

/// Why a response could not be read (the caller adds method and path).
#[derive(Debug)]
enum ReadError {
    Io(io::Error),
    Malformed(&'static str),
}

/// Reads one HTTP/1.1 response from `r` (the connection closes after it).
fn read_response(r: &mut impl Read) -> Result<HttpResponse, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        if buf.len() > MAX_HEAD {
            return Err(ReadError::Malformed("response head too large"));
        }
        let n = r.read(&mut chunk).map_err(ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Malformed("connection closed before the end of the head"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| ReadError::Malformed("head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    if !parts.next().is_some_and(|v| v.starts_with("HTTP/1.")) {
        return Err(ReadError::Malformed("not an HTTP/1.x status line"));
    }
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).filter(|s| (100..600).contains(s)).ok_or(ReadError::Malformed("bad status code"))?;
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(ReadError::Malformed("header line without a colon"))?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let mut rest = buf.split_off(head_end + 4);
    let header = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let body = if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        read_to_end_bounded(r, &mut rest)?;
        dechunk(&rest)?
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| ReadError::Malformed("bad Content-Length"))?;
        if length > MAX_BODY {
            return Err(ReadError::Malformed("body too large"));
        }
        while rest.len() < length {
            let n = r.read(&mut chunk).map_err(ReadError::Io)?;
            if n == 0 {
                return Err(ReadError::Malformed("connection closed before the end of the body"));
            }
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(length);
        rest
    } else if status == 204 || status == 304 || status < 200 {
        Vec::new()
    } else {
        read_to_end_bounded(r, &mut rest)?;
        rest
    };
    Ok(HttpResponse { status, headers, body })
}

fn read_to_end_bounded(r: &mut impl Read, into: &mut Vec<u8>) -> Result<(), ReadError> {
    let mut chunk = [0u8; 4096];
    loop {
        let n = r.read(&mut chunk).map_err(ReadError::Io)?;
        if n == 0 {
            return Ok(());
        }
        into.extend_from_slice(&chunk[..n]);
        if into.len() > MAX_BODY + MAX_HEAD {
            return Err(ReadError::Malformed("body too large"));
        }
    }
}

/// A chunked body (RFC 9112 7.1) put back together; trailers are ignored.
fn dechunk(mut raw: &[u8]) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    loop {
        let line_end = find(raw, b"\r\n").ok_or(ReadError::Malformed("chunk size line without CRLF"))?;
        let line = std::str::from_utf8(&raw[..line_end]).map_err(|_| ReadError::Malformed("chunk size is not text"))?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or_default().trim(), 16)
            .map_err(|_| ReadError::Malformed("bad chunk size"))?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        if size > MAX_BODY || raw.len() < size + 2 || &raw[size..size + 2] != b"\r\n" {
            return Err(ReadError::Malformed("truncated chunk"));
        }
        body.extend_from_slice(&raw[..size]);
        if body.len() > MAX_BODY {
            return Err(ReadError::Malformed("body too large"));
        }
        raw = &raw[size + 2..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub cookie: String,
    pub csrf: String,
    pub agent_login: String,
}

/// A status change, as `POST /api/agent/status` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    Login,
    Available,
    Break { reason: String },
    Logout,
}

impl StatusChange {
    fn body(&self) -> serde_json::Value {
        match self {
            StatusChange::Login => serde_json::json!({ "status": "login" }),
            StatusChange::Available => serde_json::json!({ "status": "available" }),
            StatusChange::Break { reason } => serde_json::json!({ "status": "break", "reason": reason }),
            StatusChange::Logout => serde_json::json!({ "status": "logout" }),
        }
    }
}

/// The agent as the console answered: `status` is `logged_out`,
/// `available` or `on_break`; `state` is `idle`, `resting`, `offered`,
/// `reserved`, `on_call` or `wrap_up`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AgentStatus {
    pub status: String,
    pub state: String,
    #[serde(default)]
    pub break_reason: Option<String>,
}

#[derive(Deserialize)]
struct AgentSelf {
    agent: AgentStatus,
}

#[derive(Deserialize)]
struct Me {
    login: String,
    agent_login: Option<String>,
    csrf_token: String,
}

#[derive(Deserialize)]
struct ApiRefusal {
    #[serde(default)]
    error: String,
    #[serde(default)]
    reason: String,
}

/// The blocking client: one TCP connection per request.
#[derive(Debug, Clone)]
pub struct ConsoleClient {
    pub target: ConsoleTarget,
}

impl ConsoleClient {
    pub fn new(target: ConsoleTarget) -> ConsoleClient {
        ConsoleClient { target }
    }

    /// One request; `session` adds the cookie and, on a POST, the CSRF token.
    pub fn request(
        &self,
        method: &'static str,
        path: &'static str,
        session: Option<&Session>,
        body: Option<&serde_json::Value>,
    ) -> Result<HttpResponse, ConsoleError> {
        let io = |source| ConsoleError::Io { method, path, source };
        let addr = self.target.addr;
        let mut stream = TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT).map_err(|source| ConsoleError::Connect { addr, source })?;
        stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(io)?;
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let mut text = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: loadtest\r\nAccept: application/json\r\nConnection: close\r\n",
            self.target.host
        );
        if let Some(s) = session {
            text.push_str(&format!("Cookie: {SESSION_COOKIE}={}\r\n", s.cookie));
            if method != "GET" {
                text.push_str(&format!("{CSRF_HEADER}: {}\r\n", s.csrf));
            }
        }
        if method != "GET" {
            if !body.is_empty() {
                text.push_str("Content-Type: application/json\r\n");
            }
            text.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        text.push_str("\r\n");
        text.push_str(&body);
        stream.write_all(text.as_bytes()).map_err(io)?;
        read_response(&mut stream).map_err(|e| match e {
            ReadError::Io(source) => ConsoleError::Io { method, path, source },
            ReadError::Malformed(reason) => ConsoleError::Malformed { method, path, reason },
        })
    }

    /// A request whose answer must be 2xx JSON of type `T`; 429 is
    /// `Ok(Err(retry_after))`.
    fn json<T: for<'de> Deserialize<'de>>(
        &self,
        method: &'static str,
        path: &'static str,
        session: Option<&Session>,
        body: Option<&serde_json::Value>,
    ) -> Result<Result<(T, HttpResponse), Duration>, ConsoleError> {
        let response = self.request(method, path, session, body)?;
        if response.status == 429 {
            let secs = response.header("retry-after").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(6);
            return Ok(Err(Duration::from_secs(secs.max(1))));
        }
        if !(200..300).contains(&response.status) {
            let refusal: ApiRefusal = serde_json::from_slice(&response.body)
                .unwrap_or_else(|_| ApiRefusal { error: String::new(), reason: String::from_utf8_lossy(&response.body).chars().take(200).collect() });
            return Err(ConsoleError::Refused { method, path, status: response.status, error: refusal.error, reason: refusal.reason });
        }
        let value = serde_json::from_slice(&response.body).map_err(|source| ConsoleError::Json { method, path, source })?;
        Ok(Ok((value, response)))
    }

    /// `POST /api/login`, then `GET /api/me` for the CSRF token. A 429 is
    /// `Ok(Err(retry_after))`: the caller decides whether to wait.
    pub fn sign_in(&self, login: &str, password: &str) -> Result<Result<Session, Duration>, ConsoleError> {
        let body = serde_json::json!({ "login": login, "password": password });
        let response = match self.json::<serde_json::Value>("POST", "/api/login", None, Some(&body))? {
            Ok((_, response)) => response,
            Err(wait) => return Ok(Err(wait)),
        };
        let cookie = response.set_cookie(SESSION_COOKIE).filter(|c| !c.is_empty()).ok_or(ConsoleError::NoSessionCookie)?.to_owned();
        let mut session = Session { cookie, csrf: String::new(), agent_login: String::new() };
        let me = match self.json::<Me>("GET", "/api/me", Some(&session), None)? {
            Ok((me, _)) => me,
            Err(_) => return Err(ConsoleError::RateLimited { method: "GET", path: "/api/me", attempts: 1 }),
        };
        session.csrf = me.csrf_token;
        session.agent_login = me.agent_login.ok_or(ConsoleError::NotAnAgent { login: me.login })?;
        Ok(Ok(session))
    }

    /// `POST /api/agent/status`: the agent as the change left it.
    pub fn set_status(&self, session: &Session, change: &StatusChange) -> Result<AgentStatus, ConsoleError> {
        const PATH: &str = "/api/agent/status";
        match self.json::<AgentSelf>("POST", PATH, Some(session), Some(&change.body()))? {
            Ok((view, _)) => Ok(view.agent),
            Err(_) => Err(ConsoleError::RateLimited { method: "POST", path: PATH, attempts: 1 }),
        }
    }

    /// `POST /api/logout`: the session ends.
    pub fn sign_out(&self, session: &Session) -> Result<(), ConsoleError> {
        match self.json::<serde_json::Value>("POST", "/api/logout", Some(session), None)? {
            Ok(_) => Ok(()),
            Err(_) => Err(ConsoleError::RateLimited { method: "POST", path: "/api/logout", attempts: 1 }),
        }
    }
}

/// What an operator asks of the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsoleAction {
    /// Sign in, then status `login` and `available`.
    SignIn { login: String, password: String },
    Break { reason: String },
    Available,
    /// Status `logout`, then end the session.
    SignOut,
}

impl ConsoleAction {
    pub fn kind(&self) -> ActionKind {
        match self {
            ConsoleAction::SignIn { .. } => ActionKind::SignIn,
            ConsoleAction::Break { .. } => ActionKind::Break,
            ConsoleAction::Available => ActionKind::Available,
            ConsoleAction::SignOut => ActionKind::SignOut,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    SignIn,
    Break,
    Available,
    SignOut,
}

/// An operator's request, from the engine to a driver thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleCommand {
    pub operator: u16,
    pub action: ConsoleAction,
}

/// The console's answer, from a driver thread to the engine.
#[derive(Debug)]
pub struct ConsoleReply {
    pub operator: u16,
    pub kind: ActionKind,
    pub outcome: Result<AgentStatus, ConsoleError>,
}

/// Runs operators' console requests on their own threads (operator `o` on
/// thread `o % threads`, so that one operator's requests keep their
/// order), so that HTTP latency never delays the RTP loop. Dropping it
/// stops the threads: a request in flight ends within its timeouts.
pub struct ConsoleDriver {
    senders: Vec<mpsc::Sender<ConsoleCommand>>,
    replies: mpsc::Receiver<ConsoleReply>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl ConsoleDriver {
    pub fn start(client: ConsoleClient, threads: usize) -> Result<ConsoleDriver, io::Error> {
        let (reply_tx, replies) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let mut driver = ConsoleDriver { senders: Vec::new(), replies, stop, threads: Vec::new() };
        for k in 0..threads.max(1) {
            let (tx, rx) = mpsc::channel::<ConsoleCommand>();
            let (client, replies, stop) = (client.clone(), reply_tx.clone(), driver.stop.clone());
            let handle = std::thread::Builder::new()
                .name(format!("loadtest-console-{k}"))
                .spawn(move || console_worker(&client, &rx, &replies, &stop))?;
            driver.senders.push(tx);
            driver.threads.push(handle);
        }
        Ok(driver)
    }

    /// Queues a command; false when its thread has gone (it panicked).
    pub fn send(&self, command: ConsoleCommand) -> bool {
        let k = usize::from(command.operator) % self.senders.len().max(1);
        self.senders.get(k).is_some_and(|tx| tx.send(command).is_ok())
    }

    pub fn try_recv(&self) -> Option<ConsoleReply> {
        self.replies.try_recv().ok()
    }
}

impl Drop for ConsoleDriver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.senders.clear();
        for handle in self.threads.drain(..) {
            let _ = handle.join();
        }
    }
}

fn console_worker(client: &ConsoleClient, commands: &mpsc::Receiver<ConsoleCommand>, replies: &mpsc::Sender<ConsoleReply>, stop: &AtomicBool) {
    let mut sessions: HashMap<u16, Session> = HashMap::new();
    for ConsoleCommand { operator, action } in commands {
        let kind = action.kind();
        let outcome = if stop.load(Ordering::Relaxed) {
            Err(ConsoleError::Stopped)
        } else {
            perform(client, &mut sessions, operator, action, stop)
        };
        if replies.send(ConsoleReply { operator, kind, outcome }).is_err() {
            return;
        }
    }
}

fn perform(client: &ConsoleClient, sessions: &mut HashMap<u16, Session>, operator: u16, action: ConsoleAction, stop: &AtomicBool) -> Result<AgentStatus, ConsoleError> {
    match action {
        ConsoleAction::SignIn { login, password } => {
            let session = sign_in_waiting(client, &login, &password, stop)?;
            client.set_status(&session, &StatusChange::Login)?;
            let status = client.set_status(&session, &StatusChange::Available);
            sessions.insert(operator, session);
            status
        }
        ConsoleAction::Break { reason } => client.set_status(sessions.get(&operator).ok_or(ConsoleError::NotSignedIn)?, &StatusChange::Break { reason }),
        ConsoleAction::Available => client.set_status(sessions.get(&operator).ok_or(ConsoleError::NotSignedIn)?, &StatusChange::Available),
        ConsoleAction::SignOut => {
            let session = sessions.remove(&operator).ok_or(ConsoleError::NotSignedIn)?;
            let status = client.set_status(&session, &StatusChange::Logout)?;
            client.sign_out(&session)?;
            Ok(status)
        }
    }
}

/// Signs in, waiting out the login rate limit (20 attempts per client
/// address, then one every 6 s): bounded by [`LOGIN_ATTEMPTS`].
fn sign_in_waiting(client: &ConsoleClient, login: &str, password: &str, stop: &AtomicBool) -> Result<Session, ConsoleError> {
    for _ in 0..LOGIN_ATTEMPTS {
        let wait = match client.sign_in(login, password)? {
            Ok(session) => return Ok(session),
            Err(wait) => wait.min(MAX_RETRY_WAIT),
        };
        let mut slept = Duration::ZERO;
        while slept < wait {
            if stop.load(Ordering::Relaxed) {
                return Err(ConsoleError::Stopped);
            }
            std::thread::sleep(Duration::from_millis(100));
            slept += Duration::from_millis(100);
        }
    }
    Err(ConsoleError::RateLimited { method: "POST", path: "/api/login", attempts: LOGIN_ATTEMPTS })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot server on 127.0.0.1: answers each connection with the
    /// next canned response and hands back what it was sent.
    fn canned(responses: Vec<Vec<u8>>) -> (ConsoleClient, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("local addr");
        let server = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for response in responses {
                let Ok((mut conn, _)) = listener.accept() else { break };
                let mut buf = vec![0u8; 8192];
                let mut got = Vec::new();
                // The head, then the body its Content-Length announces.
                while let Ok(n) = conn.read(&mut buf) {
                    got.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&got).to_string();
                    if let Some(at) = text.find("\r\n\r\n") {
                        let length = text.lines().find_map(|l| l.strip_prefix("Content-Length: ")).and_then(|v| v.parse().ok()).unwrap_or(0);
                        if got.len() >= at + 4 + length {
                            break;
                        }
                    }
                    if n == 0 {
                        break;
                    }
                }
                requests.push(String::from_utf8_lossy(&got).to_string());
                let _ = conn.write_all(&response);
            }
            requests
        });
        (ConsoleClient::new(ConsoleTarget { addr, host: addr.to_string() }), server)
    }

    /// A response with `headers` and `body` (its Content-Length added).
    fn answer(status: &str, headers: &str, body: &str) -> Vec<u8> {
        format!("HTTP/1.1 {status}\r\n{headers}content-length: {}\r\n\r\n{body}", body.len()).into_bytes()
    }

    fn login_ok() -> Vec<u8> {
        answer("200 OK", "set-cookie: ivr_session=abc123; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200\r\n", "{}")
    }

    fn me() -> Vec<u8> {
        answer("200 OK", "", r#"{"login":"op001","display_name":"Op","role":"agent","agent_login":"op001","csrf_token":"tok"}"#)
    }

    #[test]
    fn signing_in_keeps_the_session_cookie_and_sends_the_csrf_token_from_api_me_on_every_post() {
        let on_break = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
            1e\r\n{\"agent\":{\"status\":\"on_break\",\r\n2d\r\n\"state\":\"wrap_up\",\"break_reason\":\"loadtest\"}}\r\n0\r\n\r\n";
        let (client, server) = canned(vec![login_ok(), me(), on_break.to_vec()]);
        let session = client.sign_in("op001", "demo-op001-012").expect("no transport error").expect("not rate-limited");
        assert_eq!((session.cookie.as_str(), session.csrf.as_str(), session.agent_login.as_str()), ("abc123", "tok", "op001"));
        let status = client.set_status(&session, &StatusChange::Break { reason: "loadtest".into() }).expect("a break");
        assert_eq!(status, AgentStatus { status: "on_break".into(), state: "wrap_up".into(), break_reason: Some("loadtest".into()) });

        let requests = server.join().expect("the canned server");
        assert!(requests[0].starts_with("POST /api/login HTTP/1.1\r\n"), "{}", requests[0]);
        assert!(requests[0].contains("Content-Type: application/json\r\n"), "{}", requests[0]);
        assert!(requests[0].ends_with(r#"{"login":"op001","password":"demo-op001-012"}"#), "{}", requests[0]);
        assert!(!requests[0].contains("Cookie:") && !requests[0].contains("Origin:"));
        assert!(requests[1].starts_with("GET /api/me ") && requests[1].contains("Cookie: ivr_session=abc123\r\n"));
        assert!(!requests[1].contains(CSRF_HEADER), "a GET needs no token");
        assert!(requests[2].starts_with("POST /api/agent/status ") && requests[2].contains("X-CSRF-Token: tok\r\n"), "{}", requests[2]);
        assert!(requests[2].contains(r#""status":"break""#) && requests[2].contains(r#""reason":"loadtest""#), "{}", requests[2]);
    }

    #[test]
    fn refusals_rate_limits_and_broken_answers_are_typed_errors() {
        let refused = answer("409 Conflict", "", r#"{"error":"conflict","reason":"agent 3 is logged out"}"#);
        let limited = answer("429 Too Many Requests", "retry-after: 6\r\n", "");
        let no_cookie = answer("200 OK", "", "{}");
        let garbage = b"SIP/2.0 200 OK\r\n\r\n".to_vec();
        let short = b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\n{\"agent\":".to_vec();
        let not_json = answer("200 OK", "", "hello");
        let (client, server) = canned(vec![refused, limited, no_cookie, garbage, short, not_json]);
        let session = Session { cookie: "c".into(), csrf: "t".into(), agent_login: "op".into() };
        let err = client.set_status(&session, &StatusChange::Break { reason: "x".into() }).expect_err("409");
        assert!(matches!(&err, ConsoleError::Refused { status: 409, error, .. } if error == "conflict"), "{err}");
        assert_eq!(client.sign_in("a", "b").expect("no transport error"), Err(Duration::from_secs(6)));
        assert!(matches!(client.sign_in("a", "b"), Err(ConsoleError::NoSessionCookie)));
        assert!(matches!(client.set_status(&session, &StatusChange::Available), Err(ConsoleError::Malformed { .. })));
        assert!(matches!(client.set_status(&session, &StatusChange::Available), Err(ConsoleError::Malformed { .. })));
        assert!(matches!(client.set_status(&session, &StatusChange::Available), Err(ConsoleError::Json { .. })));
        server.join().expect("the canned server");
    }

    #[test]
    fn the_driver_runs_an_operators_requests_in_order_off_the_callers_thread_and_reports_each() {
        let available = || answer("200 OK", "", r#"{"agent":{"status":"available","state":"idle"},"offer":null}"#);
        let (client, server) = canned(vec![login_ok(), me(), available(), available()]);
        let driver = ConsoleDriver::start(client, 2).expect("threads");
        // Operators 4 and 6 share a thread: 6's request waits for 4's sign-in.
        assert!(driver.send(ConsoleCommand { operator: 4, action: ConsoleAction::SignIn { login: "op001".into(), password: "p".into() } }));
        assert!(driver.send(ConsoleCommand { operator: 6, action: ConsoleAction::Available }));
        let mut replies = Vec::new();
        for _ in 0..250 {
            replies.extend(std::iter::from_fn(|| driver.try_recv()));
            if replies.len() == 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(replies.len(), 2);
        assert_eq!((replies[0].operator, replies[0].kind), (4, ActionKind::SignIn));
        assert_eq!(replies[0].outcome.as_ref().map(|s| s.status.as_str()).ok(), Some("available"));
        assert_eq!((replies[1].operator, replies[1].kind), (6, ActionKind::Available));
        assert!(matches!(replies[1].outcome, Err(ConsoleError::NotSignedIn)), "operator 6 never signed in");
        drop(driver);
        let requests = server.join().expect("the canned server");
        assert_eq!(requests.len(), 4);
        assert!(requests[2].contains(r#""status":"login""#) && requests[3].contains(r#""status":"available""#));
    }

    #[test]
    fn urls_name_an_http_host_and_port() {
        let t = ConsoleTarget::parse("http://127.0.0.1:47180/").expect("parses");
        assert_eq!((t.addr, t.host.as_str()), ("127.0.0.1:47180".parse().expect("literal"), "127.0.0.1:47180"));
        assert!(ConsoleTarget::parse("https://127.0.0.1:47180").is_err());
        assert!(ConsoleTarget::parse("http://127.0.0.1").is_err());
        assert!(ConsoleTarget::parse("127.0.0.1:80").is_err());
    }
}
