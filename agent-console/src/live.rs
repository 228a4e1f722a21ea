//! The two WebSockets: `/api/live` (the live feed) and `/api/softphone`
//! (WebRTC signalling, relayed to the engine).
//!
//! Owns the per-viewer feed: a new frame whenever the engine's live state
//! changes (the watch channel coalesces bursts, so a frame is never more
//! than one change behind), filtered by role, sent only when it differs
//! from the last one, and the socket closed when the session ends. Owns
//! the softphone relay's JSON framing; the signalling itself is the
//! engine's. Must never send an agent anything but their own state and the
//! queue summary.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use ivr_store::users::Role;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::agent::my_agent;
use crate::auth::{Viewer, check_origin};
use crate::control::{SoftphoneLink, SoftphoneMessage};
use crate::error::{ApiError, Query};
use crate::views::{self, AgentSelf, Wallboard};
use crate::{Console, supervisor};

/// The largest message a browser may send on either socket.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Supervisors' frames are rebuilt this often even without a change, so
/// that today's figures move.
pub const FIGURES_REFRESH: Duration = Duration::from_secs(15);
/// Signalling messages buffered each way.
pub const SOFTPHONE_QUEUE: usize = 64;

/// One frame of `/api/live`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum LiveFrame {
    /// For role agent: their own state, offer, call, and the queue summary.
    Agent(Box<AgentSelf>),
    /// For supervisors and admins.
    Wallboard(Box<Wallboard>),
    /// The viewer's agent is not in the queue configuration.
    Error { reason: String },
}

/// The frame `viewer` should see now.
pub async fn frame(console: &Console, viewer: &Viewer) -> LiveFrame {
    if viewer.role >= Role::Supervisor {
        return LiveFrame::Wallboard(Box::new(supervisor::wallboard_now(console, viewer).await));
    }
    let live = console.control.live().borrow().clone();
    match my_agent(&live, viewer) {
        Ok(agent) => LiveFrame::Agent(Box::new(views::agent_self(&live, agent, viewer.sees_numbers(console)))),
        Err(e) => LiveFrame::Error { reason: e.reason },
    }
}

fn upgrade(ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>) -> Result<WebSocketUpgrade, ApiError> {
    ws.map(|ws| ws.max_message_size(MAX_MESSAGE_BYTES).max_frame_size(MAX_MESSAGE_BYTES))
        .map_err(|e| ApiError::bad_request(format!("expected a WebSocket upgrade: {}", e.body_text())))
}

/// `GET /api/live`.
pub async fn serve(
    State(console): State<Console>,
    viewer: Viewer,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // A WebSocket is not covered by SameSite alone in every browser: check
    // the Origin as for a state change.
    check_origin(&headers, &console)?;
    let ws = upgrade(ws)?;
    Ok(ws.on_upgrade(move |socket| feed(console, viewer, socket)))
}

async fn close(mut socket: WebSocket, reason: &'static str) {
    let frame = CloseFrame { code: close_code::POLICY, reason: Utf8Bytes::from_static(reason) };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

async fn feed(console: Console, viewer: Viewer, mut socket: WebSocket) {
    let mut live = console.control.live();
    live.mark_changed();
    let mut refresh = tokio::time::interval(FIGURES_REFRESH);
    let mut last = String::new();
    loop {
        tokio::select! {
            changed = live.changed() => if changed.is_err() { return close(socket, "server stopping").await },
            _ = refresh.tick() => {}
            message = socket.recv() => match message {
                Some(Ok(Message::Close(_)) | Err(_)) | None => return,
                // Pings are answered by axum; the feed takes no input.
                Some(Ok(_)) => continue,
            },
        }
        if !console.session_alive(viewer.session_id()) {
            return close(socket, "session ended").await;
        }
        let text = match serde_json::to_string(&frame(&console, &viewer).await) {
            Ok(text) => text,
            Err(e) => return tracing::error!(error = %e, "live frame not serialisable"),
        };
        if text != last {
            if socket.send(Message::text(text.clone())).await.is_err() {
                return;
            }
            last = text;
        }
    }
}

/// Whose softphone a socket is: `?role=agent` (the default) or
/// `?role=supervisor` (a supervisor's own session, for monitoring).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhoneRole {
    #[default]
    Agent,
    Supervisor,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SoftphoneParams {
    #[serde(default)]
    role: PhoneRole,
}

/// Who the engine serves a softphone link for.
#[derive(Debug, Clone)]
enum PhoneOwner {
    Agent(ivr_acd::AgentId),
    Supervisor(String),
}

/// `GET /api/softphone[?role=supervisor]`: the browser softphone's
/// signalling, for the viewer's agent or (supervisors and admins) for the
/// viewer as a supervisor.
pub async fn softphone(
    State(console): State<Console>,
    viewer: Viewer,
    headers: HeaderMap,
    Query(params): Query<SoftphoneParams>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    check_origin(&headers, &console)?;
    let owner = match params.role {
        PhoneRole::Agent => PhoneOwner::Agent(my_agent(&console.control.live().borrow(), &viewer)?.id),
        PhoneRole::Supervisor => {
            viewer.require(Role::Supervisor)?;
            PhoneOwner::Supervisor(viewer.login.clone())
        }
    };
    let ws = upgrade(ws)?;
    Ok(ws.on_upgrade(move |socket| relay(console, viewer, owner, socket)))
}

fn text(message: &SoftphoneMessage) -> Message {
    Message::text(serde_json::to_string(message).unwrap_or_else(|_| r#"{"type":"error","reason":"internal"}"#.to_owned()))
}

async fn relay(console: Console, viewer: Viewer, owner: PhoneOwner, mut socket: WebSocket) {
    let (to_engine, from_browser) = mpsc::channel(SOFTPHONE_QUEUE);
    let (to_browser, mut for_browser) = mpsc::channel(SOFTPHONE_QUEUE);
    let link = SoftphoneLink { from_browser, to_browser };
    let linked = match owner {
        PhoneOwner::Agent(agent) => console.control.softphone(agent, link).await,
        PhoneOwner::Supervisor(login) => console.control.supervisor_softphone(login, link).await,
    };
    if let Err(e) = linked {
        let _ = socket.send(text(&SoftphoneMessage::Error { reason: e.to_string() })).await;
        return close(socket, "softphone refused").await;
    }
    tracing::info!(login = %viewer.login, "softphone connected");
    loop {
        tokio::select! {
            message = socket.recv() => match message {
                Some(Ok(Message::Text(t))) => match serde_json::from_str::<SoftphoneMessage>(&t) {
                    Ok(m) => if to_engine.send(m).await.is_err() { break },
                    Err(e) => {
                        let reply = SoftphoneMessage::Error { reason: format!("unreadable message: {e}") };
                        if socket.send(text(&reply)).await.is_err() { break }
                    }
                },
                Some(Ok(Message::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
            out = for_browser.recv() => match out {
                Some(m) => if socket.send(text(&m)).await.is_err() { break },
                None => return close(socket, "softphone ended").await,
            },
        }
        if !console.session_alive(viewer.session_id()) {
            return close(socket, "session ended").await;
        }
    }
    // Dropping `to_engine` tells the engine the browser is gone.
    tracing::info!(login = %viewer.login, "softphone disconnected");
}
