//! The console API, end to end without a server (`tower::ServiceExt::oneshot`)
//! and, for the WebSockets, over loopback: a real ACD behind the control
//! plane (`plane.rs`), a real SQLite store with real Argon2id hashes, a
//! clock moved by hand for expiry and rate limits.
//!
//! Users: marta and jordi (agents of the same name), sara (supervisor),
//! anna (admin); each one's password is `secret-<login>-012`.

mod admin;
mod admin_live;
mod agent;
mod auth;
mod live;
mod plane;
mod softphone_config;
mod supervisor;
mod wrap_up;
mod wrap_up_report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use agent_console::{Console, ConsoleConfig, CSRF_HEADER, SESSION_COOKIE};
use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use ivr_store::Store;
use ivr_store::users::{NewUser, Role};
use serde_json::{Value, json};
use tower::ServiceExt;

use plane::{AcdPlane, ManualClock};

pub const HOST: &str = "console.012.test";

const USERS: [(&str, Role, Option<&str>); 4] = [
    ("marta", Role::Agent, Some("marta")),
    ("jordi", Role::Agent, Some("jordi")),
    ("sara", Role::Supervisor, None),
    ("anna", Role::Admin, None),
];

pub fn password(login: &str) -> String {
    format!("secret-{login}-012")
}

/// Argon2id hashes of the fixture users' passwords, with small parameters
/// so that a debug build verifies them quickly (verification uses the
/// parameters in the hash; the console's own hashes use the defaults,
/// tested in `password.rs` and by the user endpoints here).
static HASHES: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let params = argon2::Params::new(1024, 1, 1, None).expect("valid parameters");
    let argon2 = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    USERS
        .iter()
        .map(|(login, _, _)| {
            let salt = SaltString::encode_b64(format!("salt-of-{login}").as_bytes()).expect("salt");
            (*login, argon2.hash_password(password(login).as_bytes(), &salt).expect("hash").to_string())
        })
        .collect()
});

pub struct Harness {
    pub app: Router,
    pub console: Console,
    pub plane: Arc<AcdPlane>,
    pub clock: Arc<ManualClock>,
    pub store: Store,
    dir: PathBuf,
}

impl Drop for Harness {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A signed-in browser: its cookie and CSRF token.
#[derive(Debug, Clone)]
pub struct Client {
    pub cookie: String,
    pub csrf: String,
}

/// A response, its body parsed as JSON when it is JSON.
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Resp {
    /// A 4xx with the error shape, and its `error` code.
    #[track_caller]
    pub fn refused(&self, status: StatusCode) -> &str {
        assert_eq!(self.status, status, "{}", self.text);
        assert!(self.json["reason"].as_str().is_some_and(|r| !r.is_empty()), "no reason: {}", self.text);
        self.json["error"].as_str().expect("error code")
    }

    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert!(self.status.is_success(), "{} {}", self.status, self.text);
        &self.json
    }
}

impl Harness {
    pub async fn new() -> Harness {
        Harness::with_config(ConsoleConfig::default()).await
    }

    pub async fn with_config(config: ConsoleConfig) -> Harness {
        let dir = std::env::temp_dir().join(format!("agent-console-test-{}-{}", std::process::id(), unique()));
        let clock = Arc::new(ManualClock::new());
        let plane = AcdPlane::new(clock.clone(), &dir);
        let store = Store::connect(&format!("sqlite://{}/console.db", dir.display())).await.expect("store");
        for (login, role, agent) in USERS {
            let user = NewUser {
                login: login.into(),
                display_name: format!("{login} (test)"),
                role,
                password_hash: HASHES[login].clone(),
                agent_login: agent.map(Into::into),
            };
            store.add_user(&user, 0).await.expect("add user");
        }
        let console = Console::new(plane.clone(), store.clone(), config, clock.clone());
        let app = agent_console::app(console.clone());
        Harness { app, console, plane, clock, store, dir }
    }

    pub async fn send(&self, request: Request<Body>) -> Resp {
        let response = self.app.clone().oneshot(request).await.expect("infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = to_bytes(response.into_body(), 16 << 20).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Resp { status, headers, json, text }
    }

    /// A request from this site's pages: Host set, cookie and CSRF token
    /// of `client` when given.
    pub fn request(method: Method, path: &str, client: Option<&Client>) -> axum::http::request::Builder {
        let mut builder = Request::builder().method(method.clone()).uri(path).header(header::HOST, HOST);
        if let Some(client) = client {
            builder = builder.header(header::COOKIE, format!("{SESSION_COOKIE}={}", client.cookie));
            if method != Method::GET {
                builder = builder.header(CSRF_HEADER, &client.csrf);
            }
        }
        builder
    }

    pub async fn get(&self, client: Option<&Client>, path: &str) -> Resp {
        self.send(Harness::request(Method::GET, path, client).body(Body::empty()).expect("request")).await
    }

    pub async fn json(&self, method: Method, client: Option<&Client>, path: &str, body: &Value) -> Resp {
        let request = Harness::request(method, path, client)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .expect("request");
        self.send(request).await
    }

    pub async fn post(&self, client: Option<&Client>, path: &str, body: &Value) -> Resp {
        self.json(Method::POST, client, path, body).await
    }

    pub async fn try_login(&self, login: &str, password: &str) -> Resp {
        self.post(None, "/api/login", &json!({ "login": login, "password": password })).await
    }

    pub async fn login(&self, login: &str) -> Client {
        let resp = self.try_login(login, &password(login)).await;
        let body = resp.ok();
        let cookie = session_cookie(&resp.headers).expect("a session cookie");
        Client { cookie, csrf: body["csrf_token"].as_str().expect("csrf token").to_owned() }
    }

    /// Signs `login` in and puts their agent in the queue (available).
    pub async fn available(&self, login: &str) -> Client {
        let client = self.login(login).await;
        self.post(Some(&client), "/api/agent/status", &json!({ "status": "login" })).await.ok();
        client
    }
}

/// The value of the `ivr_session` cookie set by a response.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let set = headers.get(header::SET_COOKIE)?.to_str().ok()?;
    let value = set.strip_prefix(&format!("{SESSION_COOKIE}="))?.split(';').next()?;
    (!value.is_empty()).then(|| value.to_owned())
}

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}
