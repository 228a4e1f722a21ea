//! The agent's endpoints: their status, their offer and call, wrap-up,
//! their figures for the day, and the live queue.
//!
//! Owns the ownership rule: an agent acts only as the ACD agent their user
//! names, and only on a call offered or connected to that agent. Must never
//! send the engine a command for another agent's call.

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use ivr_acd::{AgentSnapshot, AgentState, CallId};
use ivr_store::report::{GroupBy, ReportQuery, report};
use ivr_store::users::Role;
use serde::Deserialize;

use crate::auth::Viewer;
use crate::control::{AgentCommand, ControlError, LiveState, TransferTarget};
use crate::error::{ApiError, Body};
use crate::views::{self, AgentSelf, Figures, QueueView};
use crate::Console;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/api/agent/state", get(state))
        .route("/api/agent/status", post(set_status))
        .route("/api/agent/wrap-up", post(wrap_up))
        .route("/api/agent/disposition-codes", get(disposition_codes))
        .route("/api/agent/call", post(call_action))
        .route("/api/agent/transfer", post(transfer))
        .route("/api/agent/today", get(today))
        .route("/api/queue", get(queue))
}

/// The default of `ConsoleConfig::disposition_codes` (the server's
/// `console.disposition_codes`); the page has words for each in `i18n.json`.
pub const DEFAULT_DISPOSITION_CODES: [&str; 7] =
    ["resolved", "information", "referred", "callback_needed", "complaint", "wrong_number", "other"];

/// The most characters of a break reason.
pub const MAX_REASON_CHARS: usize = 64;

/// The ACD agent `viewer` acts as, in `live`.
pub fn my_agent<'a>(live: &'a LiveState, viewer: &Viewer) -> Result<&'a AgentSnapshot, ApiError> {
    let login = viewer.agent_login.as_deref().ok_or_else(|| ApiError::forbidden("this user is not an agent"))?;
    live.acd
        .agents
        .iter()
        .find(|a| a.login == login)
        .ok_or_else(|| ApiError::conflict(format!("agent {login:?} is not in the queue configuration")))
}

fn me_now(console: &Console, viewer: &Viewer) -> Result<AgentSelf, ApiError> {
    let live = console.control.live().borrow().clone();
    let agent = my_agent(&live, viewer)?;
    Ok(views::agent_self(&live, agent, viewer.sees_numbers(console)))
}

async fn state(State(console): State<Console>, viewer: Viewer) -> Result<Json<AgentSelf>, ApiError> {
    me_now(&console, &viewer).map(Json)
}

/// A manual status, as the agent (or a supervisor) asks for it:
/// `{"status": "break", "reason": "lunch"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusRequest {
    status: StatusKind,
    /// Required for a break, refused otherwise.
    reason: Option<String>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum StatusKind {
    Login,
    Available,
    Break,
    Logout,
}

fn check_text(field: &str, text: &str, max: usize) -> Result<(), ApiError> {
    if text.trim().is_empty() || text.chars().count() > max || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(ApiError::invalid(format!("{field}: 1 to {max} characters, no control characters")));
    }
    Ok(())
}

impl StatusRequest {
    pub fn command(self) -> Result<AgentCommand, ApiError> {
        Ok(match (self.status, self.reason) {
            (StatusKind::Break, Some(reason)) => {
                check_text("reason", &reason, MAX_REASON_CHARS)?;
                AgentCommand::Break { reason }
            }
            (StatusKind::Break, None) => return Err(ApiError::invalid("a break needs a reason")),
            (_, Some(_)) => return Err(ApiError::invalid("only a break has a reason")),
            (StatusKind::Login, None) => AgentCommand::Login,
            (StatusKind::Available, None) => AgentCommand::Available,
            (StatusKind::Logout, None) => AgentCommand::Logout,
        })
    }
}

async fn set_status(
    State(console): State<Console>,
    viewer: Viewer,
    Body(request): Body<StatusRequest>,
) -> Result<Json<AgentSelf>, ApiError> {
    let command = request.command()?;
    let id = my_agent(&console.control.live().borrow(), &viewer)?.id;
    console.control.agent_command(id, command).await?;
    me_now(&console, &viewer).map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrapUpRequest {
    /// The call wrapped up (the page remembers it); optional: the engine
    /// knows the agent's last call.
    call: Option<u64>,
    /// One of `ConsoleConfig::disposition_codes`; without it nothing is
    /// stored (wrap-up just ends).
    disposition: Option<String>,
    /// Free text, at most [`MAX_NOTES_CHARS`] characters; needs a code.
    notes: Option<String>,
}

impl WrapUpRequest {
    /// The checks that need no engine state: a configured code, notes that
    /// fit the store's limit and come with a code.
    fn check(&self, codes: &[String]) -> Result<(), ApiError> {
        if let Some(code) = &self.disposition
            && !codes.contains(code)
        {
            return Err(ApiError::invalid(format!(
                "disposition: unknown code {code:?} (one of {})",
                codes.join(", ")
            )));
        }
        if let Some(notes) = &self.notes {
            ivr_store::wrapup::check_notes(notes).map_err(|e| ApiError::invalid(format!("notes: {e}")))?;
            if self.disposition.is_none() {
                return Err(ApiError::invalid("notes: a disposition code is needed to keep notes"));
            }
        }
        Ok(())
    }
}

/// `POST /api/agent/wrap-up`: the agent ends wrap-up; with a disposition
/// code (and notes) the engine stores them with the call (`call_wrapups`).
/// Another agent's call is 403: the engine refuses a call that is not the
/// one this agent wraps up.
async fn wrap_up(
    State(console): State<Console>,
    viewer: Viewer,
    Body(request): Body<WrapUpRequest>,
) -> Result<Json<AgentSelf>, ApiError> {
    request.check(&console.config.disposition_codes)?;
    let (id, state) = {
        let live = console.control.live().borrow().clone();
        let agent = my_agent(&live, &viewer)?;
        (agent.id, agent.state)
    };
    if !matches!(state, AgentState::WrapUp { .. }) {
        return Err(ApiError::conflict("not in wrap-up"));
    }
    let command =
        AgentCommand::WrapUpDone { call: request.call.map(CallId), disposition: request.disposition, notes: request.notes };
    match console.control.agent_command(id, command).await {
        Err(ControlError::NotYourCall(call)) => Err(ApiError::forbidden(format!("call {} is not yours", call.0))),
        other => other.map_err(ApiError::from),
    }?;
    me_now(&console, &viewer).map(Json)
}

/// `GET /api/agent/disposition-codes`: the codes the wrap-up form offers,
/// in the configured order: `{"codes": ["resolved", ...]}`.
async fn disposition_codes(State(console): State<Console>, viewer: Viewer) -> Result<Json<serde_json::Value>, ApiError> {
    viewer.require(Role::Agent)?;
    Ok(Json(serde_json::json!({ "codes": console.config.disposition_codes })))
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum CallAction {
    Answer,
    Reject,
    Hangup,
    Hold,
    Resume,
    Mute,
    Unmute,
    Survey,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CallRequest {
    call: u64,
    action: CallAction,
}

/// The agent's call in the state `offered` (answer/reject) or connected
/// (everything else): another agent's call is 403, a state that does not
/// fit is 409.
fn owned_call(live: &LiveState, viewer: &Viewer, call: CallId, offered: bool) -> Result<ivr_acd::AgentId, ApiError> {
    let agent = my_agent(live, viewer)?;
    let fits = match agent.state {
        AgentState::Offered { call: c } => offered && c == call,
        AgentState::OnCall { call: c } => !offered && c == call,
        _ => false,
    };
    if fits {
        return Ok(agent.id);
    }
    let mine = matches!(agent.state, AgentState::Offered { call: c } | AgentState::OnCall { call: c } if c == call);
    if mine {
        let what = if offered { "ringing" } else { "connected" };
        Err(ApiError::conflict(format!("call {} is not {what}", call.0)))
    } else {
        Err(ApiError::forbidden(format!("call {} is not yours", call.0)))
    }
}

async fn call_action(
    State(console): State<Console>,
    viewer: Viewer,
    Body(request): Body<CallRequest>,
) -> Result<Json<AgentSelf>, ApiError> {
    let call = CallId(request.call);
    let offered = matches!(request.action, CallAction::Answer | CallAction::Reject);
    let agent = owned_call(&console.control.live().borrow(), &viewer, call, offered)?;
    let command = match request.action {
        CallAction::Answer => AgentCommand::Answer { call },
        CallAction::Reject => AgentCommand::Reject { call },
        CallAction::Hangup => AgentCommand::Hangup { call },
        CallAction::Hold => AgentCommand::Hold { call, on: true },
        CallAction::Resume => AgentCommand::Hold { call, on: false },
        CallAction::Mute => AgentCommand::Mute { call, on: true },
        CallAction::Unmute => AgentCommand::Mute { call, on: false },
        CallAction::Survey => AgentCommand::SendToSurvey { call },
    };
    console.control.agent_command(agent, command).await?;
    me_now(&console, &viewer).map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferRequest {
    call: u64,
    /// A queue name, or...
    queue: Option<String>,
    /// ...an agent login (exactly one of the two).
    agent: Option<String>,
}

async fn transfer(
    State(console): State<Console>,
    viewer: Viewer,
    Body(request): Body<TransferRequest>,
) -> Result<Json<AgentSelf>, ApiError> {
    let call = CallId(request.call);
    let (agent, target) = {
        let live = console.control.live().borrow().clone();
        let agent = owned_call(&live, &viewer, call, false)?;
        let target = match (&request.queue, &request.agent) {
            (Some(name), None) => live
                .acd
                .queues
                .iter()
                .find(|q| &q.name == name)
                .map(|q| TransferTarget::Queue(q.id))
                .ok_or_else(|| ApiError::invalid(format!("no queue is named {name:?}")))?,
            (None, Some(login)) => {
                let to = live
                    .acd
                    .agents
                    .iter()
                    .find(|a| &a.login == login)
                    .ok_or_else(|| ApiError::invalid(format!("no agent has login {login:?}")))?;
                if to.id == agent {
                    return Err(ApiError::invalid("cannot transfer a call to yourself"));
                }
                TransferTarget::Agent(to.id)
            }
            _ => return Err(ApiError::invalid("give exactly one of queue or agent")),
        };
        (agent, target)
    };
    console.control.agent_command(agent, AgentCommand::Transfer { call, to: target }).await?;
    me_now(&console, &viewer).map(Json)
}

/// `GET /api/agent/today`: the agent's own figures since local midnight.
async fn today(State(console): State<Console>, viewer: Viewer) -> Result<Json<Figures>, ApiError> {
    let login = viewer.agent_login.clone().ok_or_else(|| ApiError::forbidden("this user is not an agent"))?;
    let query = today_query(&console, GroupBy::Agent)?;
    let table = report(&console.store, &query).await.map_err(|e| ApiError::internal(&e))?;
    let tally = table.rows.into_iter().find(|r| r.group == login).map(|r| r.tally).unwrap_or_default();
    Ok(Json(views::figures(&tally)))
}

/// Today, midnight to midnight in the line's time zone.
pub fn today_query(console: &Console, by: GroupBy) -> Result<ReportQuery, ApiError> {
    let day = console.clock.wall().to_zoned(ivr_store::report::line_time_zone()).date();
    ReportQuery::days(day, day, by).map_err(|e| ApiError::internal(&e))
}

/// `GET /api/queue`: callers waiting in every queue (any role: agents see
/// who waits, never a number).
async fn queue(State(console): State<Console>, viewer: Viewer) -> Result<Json<Vec<QueueView>>, ApiError> {
    viewer.require(Role::Agent)?;
    let live = console.control.live().borrow().clone();
    Ok(Json(live.acd.queues.iter().map(|q| views::queue_view(&live, q)).collect()))
}
