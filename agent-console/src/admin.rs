//! The administrator's endpoints: queues, agents and their skills (the two
//! ACD files), holiday calendars, and console users.
//!
//! Owns validating every write with the parsers the files are read with at
//! start-up (`AcdConfig::parse`, `Calendar::parse`), so that the console
//! can never apply what `ivr check` or `ivr serve` would refuse; errors come
//! back with file, line and column. Must never apply a write that did not
//! validate, or keep a clear password.

use axum::extract::{Path, State};
use axum::routing::{get, patch, put};
use axum::{Json, Router};
use ivr_acd::{AcdConfig, Strategy};
use ivr_dialplan::calendar::Calendar;
use ivr_store::users::{NewUser, Role, User, UserUpdate};
use serde::{Deserialize, Serialize};

use crate::auth::Viewer;
use crate::control::{AcdFiles, CalendarFile};
use crate::error::{ApiError, Body};
use crate::password;
use crate::Console;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/api/admin/acd", get(acd).put(put_acd))
        .route("/api/admin/calendars", get(calendars))
        .route("/api/admin/calendars/{name}", put(put_calendar))
        .route("/api/admin/users", get(users).post(add_user))
        .route("/api/admin/users/{login}", patch(update_user).delete(remove_user))
}

/// The files as text and what they define, for the editor.
#[derive(Debug, Serialize)]
struct AcdView {
    files: AcdFiles,
    queues: Vec<QueueSummary>,
    agents: Vec<AgentSummary>,
}

#[derive(Debug, Serialize)]
struct QueueSummary {
    name: String,
    strategy: &'static str,
    skills: Vec<String>,
    relax_steps: usize,
    wrap_up_secs: u64,
    max_wait_secs: u64,
}

#[derive(Debug, Serialize)]
struct AgentSummary {
    login: String,
    display_name: String,
    queues: Vec<String>,
    /// [skill, value, level]
    skills: Vec<(String, String, u8)>,
}

fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::LongestIdle => "longest_idle",
        Strategy::LeastTalkTime => "least_talk_time",
        Strategy::RoundRobin => "round_robin",
        Strategy::RingAll => "ring_all",
    }
}

fn parse_acd(files: &AcdFiles) -> Result<AcdConfig, ApiError> {
    AcdConfig::parse(&files.queues_file, &files.queues_toml, &files.agents_file, &files.agents_toml)
        .map_err(|e| ApiError::invalid(e.to_string()))
}

fn acd_view(files: AcdFiles, config: &AcdConfig) -> AcdView {
    let queues = config
        .queues
        .iter()
        .map(|q| QueueSummary {
            name: q.name.clone(),
            strategy: strategy_name(q.strategy),
            skills: q.skills.clone(),
            relax_steps: q.relax.len(),
            wrap_up_secs: q.wrap_up.as_secs(),
            max_wait_secs: q.max_wait.as_secs(),
        })
        .collect();
    let agents = config
        .agents
        .iter()
        .map(|a| AgentSummary {
            login: a.login.clone(),
            display_name: a.display_name.clone(),
            queues: a.queues.clone(),
            skills: a.skills.clone(),
        })
        .collect();
    AcdView { files, queues, agents }
}

async fn acd(State(console): State<Console>, viewer: Viewer) -> Result<Json<AcdView>, ApiError> {
    viewer.require(Role::Admin)?;
    let files = console.control.acd_files().await?;
    let config = parse_acd(&files)?;
    Ok(Json(acd_view(files, &config)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AcdWrite {
    queues_toml: String,
    agents_toml: String,
}

/// `PUT /api/admin/acd`: both files at once (agents name queues), checked
/// as `ivr serve` checks them, then written and applied by the engine.
async fn put_acd(
    State(console): State<Console>,
    viewer: Viewer,
    Body(write): Body<AcdWrite>,
) -> Result<Json<AcdView>, ApiError> {
    viewer.require(Role::Admin)?;
    let current = console.control.acd_files().await?;
    let files = AcdFiles { queues_toml: write.queues_toml, agents_toml: write.agents_toml, ..current };
    let config = parse_acd(&files)?;
    console.control.apply_acd_files(files.clone(), config.clone()).await?;
    tracing::info!(by = %viewer.login, "queue and agent files changed from the console");
    Ok(Json(acd_view(files, &config)))
}

async fn calendars(State(console): State<Console>, viewer: Viewer) -> Result<Json<Vec<CalendarFile>>, ApiError> {
    viewer.require(Role::Admin)?;
    Ok(Json(console.control.calendars().await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CalendarWrite {
    toml: String,
}

async fn put_calendar(
    State(console): State<Console>,
    viewer: Viewer,
    Path(name): Path<String>,
    Body(write): Body<CalendarWrite>,
) -> Result<Json<CalendarFile>, ApiError> {
    viewer.require(Role::Admin)?;
    let known = console.control.calendars().await?;
    if !known.iter().any(|c| c.name == name) {
        return Err(ApiError::not_found(format!("no calendar file is named {name:?}")));
    }
    Calendar::parse(&name, &write.toml).map_err(|diagnostics| {
        ApiError::invalid(diagnostics.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))
    })?;
    let file = CalendarFile { name, toml: write.toml };
    console.control.apply_calendar(file.clone()).await?;
    tracing::info!(by = %viewer.login, calendar = %file.name, "calendar changed from the console");
    Ok(Json(file))
}

/// A user as the admin page sees it: never the hash.
#[derive(Debug, Serialize)]
struct UserView {
    login: String,
    display_name: String,
    role: Role,
    agent_login: Option<String>,
    disabled: bool,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl From<User> for UserView {
    fn from(u: User) -> UserView {
        UserView {
            login: u.login,
            display_name: u.display_name,
            role: u.role,
            agent_login: u.agent_login,
            disabled: u.disabled,
            created_at_ms: u.created_at_ms,
            updated_at_ms: u.updated_at_ms,
        }
    }
}

async fn users(State(console): State<Console>, viewer: Viewer) -> Result<Json<Vec<UserView>>, ApiError> {
    viewer.require(Role::Admin)?;
    Ok(Json(console.store.users().await?.into_iter().map(UserView::from).collect()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    login: String,
    display_name: String,
    role: Role,
    password: String,
    agent_login: Option<String>,
}

async fn add_user(
    State(console): State<Console>,
    viewer: Viewer,
    Body(body): Body<NewUserBody>,
) -> Result<(axum::http::StatusCode, Json<UserView>), ApiError> {
    viewer.require(Role::Admin)?;
    password::check_new_password(&body.password).map_err(|e| ApiError::invalid(e.to_string()))?;
    // Checked before the (slow) hash; the store checks again.
    let mut user = NewUser {
        login: body.login,
        display_name: body.display_name,
        role: body.role,
        password_hash: "$argon2id$".to_owned(),
        agent_login: body.agent_login,
    };
    user.check()?;
    user.password_hash = password::hash_blocking(body.password).await.map_err(|e| ApiError::invalid(e.to_string()))?;
    console.store.add_user(&user, console.clock.wall_ms()).await?;
    tracing::info!(by = %viewer.login, login = %user.login, role = %user.role, "console user added");
    let stored = console.store.user(&user.login).await?.ok_or_else(|| ApiError::not_found("user vanished"))?;
    Ok((axum::http::StatusCode::CREATED, Json(stored.into())))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    display_name: Option<String>,
    role: Option<Role>,
    /// `null` clears it; absent leaves it.
    #[serde(default, deserialize_with = "present")]
    agent_login: Option<Option<String>>,
    disabled: Option<bool>,
    /// A new password (the user's sessions end).
    password: Option<String>,
}

/// Tells an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

async fn update_user(
    State(console): State<Console>,
    viewer: Viewer,
    Path(login): Path<String>,
    Body(patch): Body<UserPatch>,
) -> Result<Json<UserView>, ApiError> {
    viewer.require(Role::Admin)?;
    let demotes_self = patch.role.is_some_and(|r| r != Role::Admin) || patch.disabled == Some(true);
    if login == viewer.login && demotes_self {
        return Err(ApiError::conflict("you cannot disable or demote yourself; ask another admin"));
    }
    let hash = match &patch.password {
        Some(new) => Some(password::hash_blocking(new.clone()).await.map_err(|e| ApiError::invalid(e.to_string()))?),
        None => None,
    };
    let update = UserUpdate {
        display_name: patch.display_name,
        role: patch.role,
        agent_login: patch.agent_login,
        disabled: patch.disabled,
    };
    let now_ms = console.clock.wall_ms();
    let user = console.store.update_user(&login, &update, now_ms).await?;
    if let Some(hash) = hash {
        console.store.set_password_hash(&login, &hash, now_ms).await?;
    }
    if user.disabled || patch.password.is_some() || patch.role.is_some() {
        console.sessions().remove_login(&login);
    }
    tracing::info!(by = %viewer.login, login = %login, "console user changed");
    Ok(Json(user.into()))
}

async fn remove_user(
    State(console): State<Console>,
    viewer: Viewer,
    Path(login): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    viewer.require(Role::Admin)?;
    if login == viewer.login {
        return Err(ApiError::conflict("you cannot remove yourself; ask another admin"));
    }
    console.store.remove_user(&login).await?;
    console.sessions().remove_login(&login);
    tracing::info!(by = %viewer.login, login = %login, "console user removed");
    Ok(Json(serde_json::json!({ "ok": true })))
}
