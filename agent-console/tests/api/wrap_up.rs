//! Wrap-up with a disposition code and notes: what the console refuses
//! before the engine sees it (a code not in the configured list, notes over
//! 2,000 characters or without a code), and another agent's call (403).
//! Every refusal leaves the agent in wrap-up and sends the engine nothing.

use axum::http::StatusCode;
use serde_json::{Value, json};

use agent_console::{AgentCommand, ConsoleConfig};

use crate::{Client, Harness};

/// `login` answers call `call` and hangs up: they are in wrap-up for it.
async fn wrapping_up(h: &Harness, login: &str, call: u64) -> Client {
    let client = h.available(login).await;
    h.plane.caller_joins(call, "general", "ca", "procedures", None);
    h.post(Some(&client), "/api/agent/call", &json!({ "call": call, "action": "answer" })).await.ok();
    let state = h.post(Some(&client), "/api/agent/call", &json!({ "call": call, "action": "hangup" })).await;
    assert_eq!(state.ok()["agent"]["state"], "wrap_up");
    client
}

async fn still_wrapping_up(h: &Harness, client: &Client) {
    assert_eq!(h.get(Some(client), "/api/agent/state").await.ok()["agent"]["state"], "wrap_up");
    assert!(h.plane.recorded(|r| r.wrap_ups.is_empty()), "the engine was sent nothing");
}

#[tokio::test]
async fn an_unknown_disposition_code_is_422_with_the_codes_allowed() {
    let h = Harness::new().await;
    let marta = wrapping_up(&h, "marta", 1).await;
    for code in ["informed", "RESOLVED", "", "resolved "] {
        let resp = h.post(Some(&marta), "/api/agent/wrap-up", &json!({ "call": 1, "disposition": code })).await;
        assert_eq!(resp.refused(StatusCode::UNPROCESSABLE_ENTITY), "invalid");
        let reason = resp.json["reason"].as_str().unwrap_or_default();
        assert!(reason.starts_with("disposition: unknown code") && reason.contains("callback_needed"), "{reason}");
    }
    still_wrapping_up(&h, &marta).await;
}

#[tokio::test]
async fn the_codes_are_the_configured_list() {
    let config = ConsoleConfig { disposition_codes: vec!["attended".into(), "sent_to_061".into()], ..ConsoleConfig::default() };
    let h = Harness::with_config(config).await;
    let marta = wrapping_up(&h, "marta", 1).await;
    let refused = h.post(Some(&marta), "/api/agent/wrap-up", &json!({ "call": 1, "disposition": "resolved" })).await;
    assert_eq!(refused.refused(StatusCode::UNPROCESSABLE_ENTITY), "invalid");
    still_wrapping_up(&h, &marta).await;
    let done = h.post(Some(&marta), "/api/agent/wrap-up", &json!({ "call": 1, "disposition": "sent_to_061" })).await;
    assert_eq!(done.ok()["agent"]["state"], "idle");
}

#[tokio::test]
async fn notes_over_2000_characters_or_without_a_code_are_422() {
    let h = Harness::new().await;
    let marta = wrapping_up(&h, "marta", 1).await;
    let body = |notes: Value, code: Option<&str>| json!({ "call": 1, "disposition": code, "notes": notes });
    let refusals = [
        (body(json!("à".repeat(2_001)), Some("resolved")), "notes: notes have 2001 characters"),
        (body(json!(" \n "), Some("resolved")), "notes: notes must not be blank"),
        (body(json!("a\u{1b}[31m"), Some("resolved")), "notes: notes must not be blank or hold control characters"),
        (body(json!("Trucarà demà"), None), "notes: a disposition code is needed"),
    ];
    for (request, reason) in refusals {
        let resp = h.post(Some(&marta), "/api/agent/wrap-up", &request).await;
        assert_eq!(resp.refused(StatusCode::UNPROCESSABLE_ENTITY), "invalid");
        assert!(resp.json["reason"].as_str().is_some_and(|r| r.starts_with(reason)), "{}", resp.text);
    }
    still_wrapping_up(&h, &marta).await;

    // Exactly 2,000 characters (4,000 bytes), with line breaks: accepted.
    let notes = format!("{}\n{}", "à".repeat(1_000), "é".repeat(999));
    let done = h.post(Some(&marta), "/api/agent/wrap-up", &body(json!(notes), Some("callback_needed"))).await;
    assert_eq!(done.ok()["agent"]["state"], "idle");
    let recorded = h.plane.recorded(|r| r.wrap_ups.clone());
    assert_eq!(
        recorded,
        [AgentCommand::WrapUpDone {
            call: Some(ivr_acd::CallId(1)),
            disposition: Some("callback_needed".into()),
            notes: Some(notes),
        }]
    );
}

#[tokio::test]
async fn wrapping_up_someone_elses_call_is_403_and_changes_nothing() {
    let h = Harness::new().await;
    let marta = wrapping_up(&h, "marta", 1).await;
    let jordi = wrapping_up(&h, "jordi", 2).await;
    // Jordi names Marta's call (and a call nobody had).
    for call in [1, 99] {
        let resp = h.post(Some(&jordi), "/api/agent/wrap-up", &json!({ "call": call, "disposition": "resolved" })).await;
        assert_eq!(resp.refused(StatusCode::FORBIDDEN), "forbidden");
        assert_eq!(resp.json["reason"], format!("call {call} is not yours"));
    }
    still_wrapping_up(&h, &jordi).await;
    still_wrapping_up(&h, &marta).await;
    // Each wraps up their own.
    let done = h.post(Some(&jordi), "/api/agent/wrap-up", &json!({ "call": 2, "disposition": "complaint" })).await;
    assert_eq!(done.ok()["agent"]["state"], "idle");
    let done = h.post(Some(&marta), "/api/agent/wrap-up", &json!({ "call": 1, "disposition": "resolved" })).await;
    assert_eq!(done.ok()["agent"]["state"], "idle");
    // A supervisor without an agent login has no wrap-up to finish.
    let sara = h.login("sara").await;
    let resp = h.post(Some(&sara), "/api/agent/wrap-up", &json!({ "call": 1, "disposition": "resolved" })).await;
    assert_eq!(resp.refused(StatusCode::FORBIDDEN), "forbidden");
}
