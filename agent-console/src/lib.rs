//! # agent-console: the HTTP face of the 012 line
//!
//! Owns the axum application: `/health` and `/metrics`, and the agent and
//! supervisor console's API under `/api` (accounts and sessions, the agent's
//! status and calls, the live queue, the wallboard and its WebSocket feed,
//! reports, the dialplan, administration, the softphone's signalling
//! socket), described in OpenAPI at `/api/openapi.json` and in
//! `docs/console.md`. The pages (`assets/`) are built on this API.
//!
//! It talks to the engine only through [`ConsoleControl`] (and
//! [`ControlPlane`] for health and metrics), which the `ivr` server
//! implements by sending commands to its engine task; it reads users and
//! reports from the [`Store`]. It must never reach into engine internals,
//! hold a lock across an `.await`, decide call behaviour itself, or show a
//! clear caller number to a role that may not see it.
//!
//! Every request is checked here, before the engine sees it: a session
//! (cookie), the CSRF token and Origin on every state change, the role, and
//! ownership (an agent acts only on their own status and on calls offered
//! or connected to them). Bad input of any kind is a 4xx JSON
//! `{ "error", "reason" }` and changes nothing.

// The OpenAPI schema table is one large `json!` literal.
#![recursion_limit = "512"]

mod admin;
mod agent;
pub mod assets;
mod auth;
pub mod control;
mod error;
mod live;
mod openapi;
pub mod password;
pub mod session;
pub mod softphone_config;
mod supervisor;
pub mod views;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ivr_store::Store;
use ivr_store::users::Role;

pub use auth::{CSRF_HEADER, SESSION_COOKIE};
pub use control::{
    AcdFiles, AgentCommand, CalendarFile, CallContext, CallMonitor, ConsoleControl, ControlError, ControlPlane, DialplanInfo, Health,
    LiveState, MonitorMode, MonitorRequest, Reply, SoftphoneLink, SoftphoneMessage, TransferTarget,
};
pub use error::ApiError;
pub use session::RateLimit;

/// The console's settings (`[console]` in the server's config file).
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleConfig {
    /// Mark the session cookie `Secure` even when no proxy says the request
    /// came over TLS (`X-Forwarded-Proto: https` does it per request).
    pub secure_cookies: bool,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after login, used or not.
    pub session_max_age: Duration,
    /// Origins besides the console's own host allowed to send state changes.
    pub allowed_origins: Vec<String>,
    /// The largest request body accepted (bytes).
    pub body_limit: usize,
    /// The lowest role that sees callers' numbers in clear.
    pub clear_numbers_from: Role,
    /// The disposition codes an agent may give at wrap-up (the agent page
    /// offers these, from `GET /api/agent/disposition-codes`; any other is
    /// refused with 422). Default: `resolved`, `information`, `referred`, `callback_needed`,
    /// `complaint`, `wrong_number`, `other`.
    pub disposition_codes: Vec<String>,
    pub login_per_client: RateLimit,
    pub login_per_user: RateLimit,
    /// How long today's figures from the store are reused.
    pub figures_ttl: Duration,
    /// STUN/TURN servers for the browser softphone (`webrtc.ice_servers`,
    /// checked with [`softphone_config::check_ice_servers`]); none: host
    /// candidates only.
    pub ice_servers: Vec<softphone_config::IceServer>,
    /// The browser's echo cancellation, noise suppression and automatic
    /// gain control on the softphone's microphone (`webrtc.voice_processing`):
    /// on for loudspeakers; off suits headsets, and tests that send tones
    /// (the processing fades a steady tone in over seconds).
    pub voice_processing: bool,
}

impl Default for ConsoleConfig {
    fn default() -> ConsoleConfig {
        ConsoleConfig {
            secure_cookies: false,
            session_idle: Duration::from_secs(30 * 60),
            session_max_age: Duration::from_secs(12 * 3600),
            allowed_origins: Vec::new(),
            body_limit: 64 * 1024,
            clear_numbers_from: Role::Supervisor,
            disposition_codes: agent::DEFAULT_DISPOSITION_CODES.map(String::from).to_vec(),
            login_per_client: RateLimit { burst: 20, refill_every: Duration::from_secs(6) },
            login_per_user: RateLimit { burst: 5, refill_every: Duration::from_secs(60) },
            figures_ttl: Duration::from_secs(15),
            ice_servers: Vec::new(),
            voice_processing: true,
        }
    }
}

/// Time for sessions, rate limits and "today": the real clock in the
/// server, a hand-moved one in tests.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Instant;
    fn wall(&self) -> jiff::Timestamp;
    fn wall_ms(&self) -> i64 {
        self.wall().as_millisecond()
    }
}

/// The machine's clocks.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn wall(&self) -> jiff::Timestamp {
        jiff::Timestamp::now()
    }
}

struct Limits {
    per_client: session::Limiter,
    per_login: session::Limiter,
}

/// The console's shared state: cheap to clone.
#[derive(Clone)]
pub struct Console(Arc<Inner>);

pub struct Inner {
    pub control: Arc<dyn ConsoleControl>,
    pub store: Store,
    pub config: ConsoleConfig,
    pub clock: Arc<dyn Clock>,
    sessions: Mutex<session::Sessions>,
    limits: Mutex<Limits>,
    figures: Mutex<Option<(Instant, views::Figures)>>,
}

impl std::ops::Deref for Console {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl Console {
    pub fn new(control: Arc<dyn ConsoleControl>, store: Store, config: ConsoleConfig, clock: Arc<dyn Clock>) -> Console {
        let sessions = session::Sessions::new(config.session_idle, config.session_max_age);
        let limits = Limits {
            per_client: session::Limiter::new(config.login_per_client),
            per_login: session::Limiter::new(config.login_per_user),
        };
        Console(Arc::new(Inner {
            control,
            store,
            config,
            clock,
            sessions: Mutex::new(sessions),
            limits: Mutex::new(limits),
            figures: Mutex::new(None),
        }))
    }

    // The tables are plain data: a panic while one is held cannot leave it
    // half-changed in a way that matters, so a poisoned lock is used as is.
    fn sessions(&self) -> MutexGuard<'_, session::Sessions> {
        self.sessions.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn limits(&self) -> MutexGuard<'_, Limits> {
        self.limits.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn session_alive(&self, id: &str) -> bool {
        self.sessions().alive(self.clock.now(), id)
    }

    /// Sessions open now (for metrics and tests).
    pub fn session_count(&self) -> usize {
        self.sessions().len()
    }
}

/// `/health` and `/metrics` only: for a server without the console.
pub fn router(control: Arc<dyn ControlPlane>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state(control)
}

/// The whole application: health, metrics and the console API. Serve it
/// with `into_make_service_with_connect_info::<SocketAddr>()` so that login
/// attempts are limited per client address.
pub fn app(console: Console) -> Router {
    let control: Arc<dyn ControlPlane> = console.control.clone();
    let limit = console.config.body_limit;
    let api = Router::new()
        .route("/api/openapi.json", get(openapi::serve))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/me/password", post(auth::change_password))
        .route("/api/live", get(live::serve))
        .route("/api/softphone", get(live::softphone))
        .merge(agent::routes())
        .merge(supervisor::routes())
        .merge(admin::routes())
        .merge(softphone_config::routes())
        .route("/api/{*rest}", axum::routing::any(error::api_not_found))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(console);
    router(control).merge(api).merge(assets::routes())
}

/// 200 while serving, 503 while draining, so a balancer stops sending calls.
async fn health(State(control): State<Arc<dyn ControlPlane>>) -> Response {
    let health = control.health();
    let status = if health.accepting_calls { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(health)).into_response()
}

async fn metrics(State(control): State<Arc<dyn ControlPlane>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        control.render_metrics(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use std::sync::atomic::{AtomicBool, Ordering};
    use tower::ServiceExt;

    struct Engine {
        accepting: AtomicBool,
    }

    impl ControlPlane for Engine {
        fn health(&self) -> Health {
            Health { accepting_calls: self.accepting.load(Ordering::Relaxed), active_calls: 3, prompts_loaded: 42 }
        }
        fn render_metrics(&self) -> String {
            "ivr_calls_active 3\n".to_owned()
        }
    }

    async fn get(router: Router, path: &str) -> (StatusCode, String) {
        let res = router.oneshot(Request::get(path).body(Body::empty()).expect("request")).await.expect("infallible");
        let status = res.status();
        let body = to_bytes(res.into_body(), 1 << 20).await.expect("body");
        (status, String::from_utf8(body.to_vec()).expect("utf-8"))
    }

    #[tokio::test]
    async fn health_is_200_while_accepting_and_503_while_draining() {
        let engine = Arc::new(Engine { accepting: AtomicBool::new(true) });
        let (status, body) = get(router(engine.clone()), "/health").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("\"active_calls\":3"), "{body}");
        engine.accepting.store(false, Ordering::Relaxed);
        let (status, _) = get(router(engine), "/health").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test]
    async fn metrics_are_prometheus_text() {
        let engine = Arc::new(Engine { accepting: AtomicBool::new(true) });
        let (status, body) = get(router(engine), "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, "ivr_calls_active 3\n");
    }

    #[tokio::test]
    async fn unknown_paths_are_404() {
        let engine = Arc::new(Engine { accepting: AtomicBool::new(true) });
        let (status, _) = get(router(engine), "/nope").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
