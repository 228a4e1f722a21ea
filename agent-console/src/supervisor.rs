//! The supervisor's endpoints: the wallboard, any agent's status,
//! listen/whisper/barge (start, change mode, stop), reports (JSON and CSV),
//! wrap-ups by disposition code, and the dialplan.
//!
//! Owns the supervisor-only checks and today's figures cache. Must never
//! let an agent read a report or change another agent.

use std::time::Instant;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ivr_store::report::{GroupBy, ReportQuery, ReportTable, report};
use ivr_store::users::Role;
use ivr_store::wrapup::disposition_csv;
use serde::Deserialize;

use crate::agent::{StatusRequest, today_query};
use crate::auth::Viewer;
use crate::control::{DialplanInfo, MonitorMode, MonitorRequest};
use crate::error::{ApiError, Body, Query};
use crate::views::{self, AgentView, Figures, Wallboard};
use crate::Console;

pub fn routes() -> Router<Console> {
    Router::new()
        .route("/api/supervisor/wallboard", get(wallboard))
        .route("/api/supervisor/agents/{login}/status", post(set_agent_status))
        .route("/api/supervisor/monitor", post(monitor).delete(stop_monitor))
        .route("/api/reports", get(report_json))
        .route("/api/reports/csv", get(report_csv))
        .route("/api/reports/wrap-ups", get(wrap_up_report))
        .route("/api/dialplan", get(dialplan))
        .route("/api/dialplan/reload", post(reload))
}

/// Today's line-wide figures, reused for `figures_ttl`; `None` when the
/// store cannot be read (logged).
pub async fn today_figures(console: &Console) -> Option<Figures> {
    let now = console.clock.now();
    {
        let cached = console.figures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, figures)) = cached.as_ref()
            && now.saturating_duration_since(*at) < console.config.figures_ttl
        {
            return Some(figures.clone());
        }
    }
    let query = today_query(console, GroupBy::Day).ok()?;
    match report(&console.store, &query).await {
        Ok(table) => {
            let figures = views::figures(&table.total);
            *console.figures.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some((now, figures.clone()));
            Some(figures)
        }
        Err(e) => {
            tracing::warn!(error = %e, "today's figures unavailable");
            None
        }
    }
}

pub async fn wallboard_now(console: &Console, viewer: &Viewer) -> Wallboard {
    let today = today_figures(console).await;
    let live = console.control.live().borrow().clone();
    views::wallboard(&live, viewer.sees_numbers(console), today)
}

async fn wallboard(State(console): State<Console>, viewer: Viewer) -> Result<Json<Wallboard>, ApiError> {
    viewer.require(Role::Supervisor)?;
    Ok(Json(wallboard_now(&console, &viewer).await))
}

async fn set_agent_status(
    State(console): State<Console>,
    viewer: Viewer,
    Path(login): Path<String>,
    Body(request): Body<StatusRequest>,
) -> Result<Json<AgentView>, ApiError> {
    viewer.require(Role::Supervisor)?;
    let command = request.command()?;
    let id = agent_id(&console, &login)?;
    console.control.agent_command(id, command).await?;
    let live = console.control.live().borrow().clone();
    let agent = live.acd.agents.iter().find(|a| a.id == id).ok_or_else(|| ApiError::not_found("agent gone"))?;
    tracing::info!(supervisor = %viewer.login, agent = %login, "agent status changed by a supervisor");
    Ok(Json(views::agent_view(agent, live.taken_at)))
}

fn agent_id(console: &Console, login: &str) -> Result<ivr_acd::AgentId, ApiError> {
    let live = console.control.live().borrow().clone();
    live.acd
        .agents
        .iter()
        .find(|a| a.login == login)
        .map(|a| a.id)
        .ok_or_else(|| ApiError::not_found(format!("no agent has login {login:?}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MonitorBody {
    agent: String,
    mode: MonitorMode,
}

async fn monitor(
    State(console): State<Console>,
    viewer: Viewer,
    Body(request): Body<MonitorBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    viewer.require(Role::Supervisor)?;
    let agent = agent_id(&console, &request.agent)?;
    let on_call = {
        let live = console.control.live().borrow().clone();
        live.acd.agents.iter().any(|a| a.id == agent && matches!(a.state, ivr_acd::AgentState::OnCall { .. }))
    };
    if !on_call {
        return Err(ApiError::conflict(format!("{} is not on a call", request.agent)));
    }
    let monitor = MonitorRequest { supervisor: viewer.login.clone(), agent, mode: request.mode };
    console.control.monitor(monitor).await?;
    tracing::info!(supervisor = %viewer.login, agent = %request.agent, mode = ?request.mode, "call monitoring started or changed");
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// `DELETE /api/supervisor/monitor`: stop monitoring (409 when not monitoring).
async fn stop_monitor(State(console): State<Console>, viewer: Viewer) -> Result<Json<serde_json::Value>, ApiError> {
    viewer.require(Role::Supervisor)?;
    console.control.stop_monitor(viewer.login.clone()).await?;
    tracing::info!(supervisor = %viewer.login, "call monitoring stopped");
    Ok(Json(serde_json::json!({ "ok": true })))
}

/// `?from=2026-11-01&to=2026-11-28&by=day&question=overall`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    from: String,
    to: String,
    #[serde(default = "default_by")]
    by: String,
    question: Option<String>,
}

fn default_by() -> String {
    "day".to_owned()
}

/// Whole local days `from` to `to` (`2026-11-28`), checked: 422 naming the
/// field when one is not a date or `from` is after `to`.
fn day_range(from: &str, to: &str) -> Result<(jiff::civil::Date, jiff::civil::Date), ApiError> {
    let date = |s: &str, field: &str| -> Result<jiff::civil::Date, ApiError> {
        s.parse().map_err(|_| ApiError::invalid(format!("{field} {s:?} is not a date like 2026-11-28")))
    };
    let (from, to) = (date(from, "from")?, date(to, "to")?);
    if from > to {
        return Err(ApiError::invalid("from is after to"));
    }
    Ok((from, to))
}

/// A CSV download named `name` (reduced to letters, digits, `-`, `.`, `_`).
fn csv_download(name: &str, csv: String) -> Response {
    let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')).collect();
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        csv,
    )
        .into_response()
}

async fn run_report(console: &Console, viewer: &Viewer, params: ReportParams) -> Result<ReportTable, ApiError> {
    viewer.require(Role::Supervisor)?;
    let by: GroupBy = params.by.parse().map_err(|e: ivr_store::report::UnknownGroupBy| ApiError::invalid(e.to_string()))?;
    let (from, to) = day_range(&params.from, &params.to)?;
    let mut query = ReportQuery::days(from, to, by).map_err(|e| ApiError::invalid(e.to_string()))?;
    query.question = params.question;
    report(&console.store, &query).await.map_err(|e| match e {
        ivr_store::report::ReportError::Store(_) => ApiError::internal(&e),
        other => ApiError::invalid(other.to_string()),
    })
}

async fn report_json(
    State(console): State<Console>,
    viewer: Viewer,
    Query(params): Query<ReportParams>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let started = Instant::now();
    let table = run_report(&console, &viewer, params).await?;
    tracing::debug!(rows = table.rows.len(), took_ms = started.elapsed().as_millis() as u64, "report");
    Ok(Json(table.to_json_value()))
}

async fn report_csv(
    State(console): State<Console>,
    viewer: Viewer,
    Query(params): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let name = format!("012-report-{}-{}-by-{}.csv", params.from, params.to, params.by);
    let table = run_report(&console, &viewer, params).await?;
    Ok(csv_download(&name, table.to_csv()))
}

/// `?from=2026-11-01&to=2026-11-28&format=csv`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WrapUpReportParams {
    from: String,
    to: String,
    #[serde(default)]
    format: ReportFormat,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum ReportFormat {
    #[default]
    Json,
    Csv,
}

/// `GET /api/reports/wrap-ups`: wrap-ups finished in whole local days
/// `from` to `to`, counted by disposition code with their total wrap-up
/// time (`call_wrapups`), as JSON or as a CSV download.
async fn wrap_up_report(
    State(console): State<Console>,
    viewer: Viewer,
    Query(params): Query<WrapUpReportParams>,
) -> Result<Response, ApiError> {
    viewer.require(Role::Supervisor)?;
    let (from, to) = day_range(&params.from, &params.to)?;
    let range = ReportQuery::days(from, to, GroupBy::Day).map_err(|e| ApiError::invalid(e.to_string()))?;
    let counts = console
        .store
        .disposition_counts(range.from.as_millisecond(), range.to.as_millisecond())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(match params.format {
        ReportFormat::Csv => {
            csv_download(&format!("012-wrap-ups-{}-{}.csv", params.from, params.to), disposition_csv(&counts))
        }
        ReportFormat::Json => {
            let wrap_ups: i64 = counts.iter().map(|c| c.wrap_ups).sum();
            let wrap_up_ms: i64 = counts.iter().map(|c| c.wrap_up_ms).sum();
            Json(serde_json::json!({
                "from": from.to_string(),
                "to": to.to_string(),
                "rows": counts,
                "total": { "wrap_ups": wrap_ups, "wrap_up_ms": wrap_up_ms },
            }))
            .into_response()
        }
    })
}

async fn dialplan(State(console): State<Console>, viewer: Viewer) -> Result<Json<DialplanInfo>, ApiError> {
    viewer.require(Role::Supervisor)?;
    Ok(Json(console.control.dialplan()))
}

async fn reload(State(console): State<Console>, viewer: Viewer) -> Result<Json<DialplanInfo>, ApiError> {
    viewer.require(Role::Supervisor)?;
    tracing::info!(by = %viewer.login, "dialplan reload asked from the console");
    console.control.reload_dialplan().await?;
    Ok(Json(console.control.dialplan()))
}
