//! Who is asking: login, logout, `/api/me`, and the [`Viewer`] extractor
//! every other endpoint starts with.
//!
//! Owns the session cookie (`ivr_session`: HttpOnly, SameSite=Strict,
//! Secure on TLS or when configured), CSRF (a per-session token required in
//! `X-CSRF-Token` on every state-changing request, and the `Origin` check),
//! and login rate limits. Must never say whether a login exists (unknown
//! login and wrong password are the same 401, after the same work), never
//! log a password or a session id.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ivr_store::users::{Role, User};
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Body};
use crate::password;
use crate::session::{Session, SessionRefusal, constant_time_eq, random_token};
use crate::Console;

pub const SESSION_COOKIE: &str = "ivr_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The signed-in user of a request, fresh from the store.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub login: String,
    pub display_name: String,
    pub role: Role,
    pub agent_login: Option<String>,
    pub csrf: String,
    session_id: String,
}

impl Viewer {
    pub(crate) fn session_id(&self) -> &str {
        &self.session_id
    }

    /// At least `role` (admin > supervisor > agent).
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this needs the {role} role")))
        }
    }

    /// The clear caller number may be shown to this viewer.
    pub fn sees_numbers(&self, console: &Console) -> bool {
        self.role >= console.config.clear_numbers_from
    }
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A browser's `Origin` must be this site's (or configured). Requests
/// without one (not from a browser, or a same-origin GET) pass: the CSRF
/// token and SameSite=Strict cover them.
pub fn check_origin(headers: &HeaderMap, console: &Console) -> Result<(), ApiError> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let origin = origin.to_str().map_err(|_| ApiError::forbidden("unreadable Origin header"))?;
    if console.config.allowed_origins.iter().any(|o| o == origin) {
        return Ok(());
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    match (origin_host, host) {
        (Some(o), Some(h)) if o.eq_ignore_ascii_case(h) => Ok(()),
        _ => Err(ApiError::forbidden("cross-origin request refused")),
    }
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

impl FromRequestParts<Console> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Viewer, ApiError> {
        let id = cookie(&parts.headers, SESSION_COOKIE).ok_or_else(|| ApiError::unauthorized("not signed in"))?;
        let now = console.clock.now();
        let session = console.sessions().touch(now, &id).map_err(|refusal| match refusal {
            SessionRefusal::Unknown => ApiError::unauthorized("not signed in"),
            SessionRefusal::Expired => ApiError::new(
                axum::http::StatusCode::UNAUTHORIZED,
                "session_expired",
                "the session expired; sign in again",
            ),
        })?;
        if !is_safe(&parts.method) {
            check_origin(&parts.headers, console)?;
            let token = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !constant_time_eq(token, &session.csrf) {
                return Err(ApiError::forbidden("missing or wrong X-CSRF-Token"));
            }
        }
        // Fresh from the store: a disabled or removed user is out at once.
        let user = console.store.user(&session.login).await?;
        match user {
            Some(user) if !user.disabled => Ok(viewer(user, session, id)),
            _ => {
                console.sessions().remove(&id);
                Err(ApiError::unauthorized("this account is disabled"))
            }
        }
    }
}

fn viewer(user: User, session: Session, session_id: String) -> Viewer {
    Viewer {
        login: user.login,
        display_name: user.display_name,
        role: user.role,
        agent_login: user.agent_login,
        csrf: session.csrf,
        session_id,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    login: String,
    password: String,
}

/// What `/api/login` and `/api/me` return.
#[derive(Debug, Serialize)]
pub struct Me {
    login: String,
    display_name: String,
    role: Role,
    agent_login: Option<String>,
    /// Send it as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE.
    csrf_token: String,
}

impl From<&Viewer> for Me {
    fn from(v: &Viewer) -> Me {
        Me {
            login: v.login.clone(),
            display_name: v.display_name.clone(),
            role: v.role,
            agent_login: v.agent_login.clone(),
            csrf_token: v.csrf.clone(),
        }
    }
}

fn client_key(parts_extensions: &axum::http::Extensions) -> String {
    parts_extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |ConnectInfo(addr)| addr.ip().to_string())
}

fn over_tls(headers: &HeaderMap) -> bool {
    headers.get("x-forwarded-proto").and_then(|v| v.to_str().ok()).is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

fn session_cookie(console: &Console, headers: &HeaderMap, value: &str, max_age_secs: u64) -> HeaderValue {
    let secure = if console.config.secure_cookies || over_tls(headers) { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age_secs}{secure}");
    HeaderValue::from_str(&cookie).expect("invariant: hex id and ASCII attributes")
}

/// `POST /api/login`.
pub async fn login(
    State(console): State<Console>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    Body(request): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    check_origin(&headers, &console)?;
    let now = console.clock.now();
    let client = client_key(&extensions);
    let user_key = request.login.chars().take(64).collect::<String>();
    {
        let mut limits = console.limits();
        let wait = limits.per_client.wait(&client, now).max(limits.per_login.wait(&user_key, now));
        if let Some(wait) = wait {
            return Err(ApiError::too_many(wait.as_secs_f64().ceil() as u64));
        }
        limits.per_client.spend(&client, now);
        limits.per_login.spend(&user_key, now);
    }
    let user = console.store.user(&request.login).await?.filter(|u| !u.disabled);
    let matches = password::verify_blocking(user.as_ref().map(|u| u.password_hash.clone()), request.password).await;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!(login = %user_key, "console login refused");
        return Err(ApiError::unauthorized("wrong login or password"));
    };
    let (Some(id), Some(csrf)) = (random_token(), random_token()) else {
        return Err(ApiError::internal(&password::PasswordError::NoRandom));
    };
    let session = Session { login: user.login.clone(), role: user.role, csrf, created: now, last_seen: now };
    console.sessions().insert(now, id.clone(), session.clone());
    tracing::info!(login = %user.login, role = %user.role, "console login");
    let me = Me::from(&viewer(user, session, id.clone()));
    let max_age = console.config.session_max_age.as_secs();
    Ok(([(header::SET_COOKIE, session_cookie(&console, &headers, &id, max_age))], Json(me)).into_response())
}

/// `POST /api/logout`.
pub async fn logout(State(console): State<Console>, headers: HeaderMap, viewer: Viewer) -> Response {
    console.sessions().remove(&viewer.session_id);
    ([(header::SET_COOKIE, session_cookie(&console, &headers, "", 0))], Json(serde_json::json!({ "ok": true })))
        .into_response()
}

/// `GET /api/me`.
pub async fn me(viewer: Viewer) -> Json<Me> {
    Json(Me::from(&viewer))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/me/password`: every session of the user ends but this one.
pub async fn change_password(
    State(console): State<Console>,
    viewer: Viewer,
    Body(change): Body<PasswordChange>,
) -> Result<Json<serde_json::Value>, ApiError> {
    password::check_new_password(&change.new).map_err(|e| ApiError::invalid(e.to_string()))?;
    let user = console.store.user(&viewer.login).await?.ok_or_else(|| ApiError::unauthorized("not signed in"))?;
    if !password::verify_blocking(Some(user.password_hash), change.current).await {
        return Err(ApiError::forbidden("the current password is wrong"));
    }
    let hash = password::hash_blocking(change.new).await.map_err(|e| ApiError::invalid(e.to_string()))?;
    console.store.set_password_hash(&viewer.login, &hash, console.clock.wall_ms()).await?;
    let now = console.clock.now();
    let mut sessions = console.sessions();
    sessions.remove_login(&viewer.login);
    let session = Session { login: viewer.login.clone(), role: viewer.role, csrf: viewer.csrf.clone(), created: now, last_seen: now };
    sessions.insert(now, viewer.session_id.clone(), session);
    Ok(Json(serde_json::json!({ "ok": true })))
}
