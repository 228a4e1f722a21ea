//! The agent's view: status, offers with the caller's context, in-call
//! controls, wrap-up, ownership.

use std::time::Duration;

use axum::http::StatusCode;
use serde_json::json;

use agent_console::AgentCommand;

use crate::{Client, Harness};

async fn state_of(h: &Harness, client: &Client) -> String {
    h.get(Some(client), "/api/agent/state").await.json["agent"]["state"].as_str().unwrap_or("?").to_owned()
}

const NUMBER: &str = "+34612345678";

#[tokio::test]
async fn an_agent_logs_in_takes_a_break_with_a_reason_comes_back_and_logs_out() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    let state = h.post(Some(&marta), "/api/agent/status", &json!({ "status": "login" })).await;
    assert_eq!(state.ok()["agent"]["status"], "available");
    assert_eq!(state.json["queues"][0]["name"], "general");
    let state = h.post(Some(&marta), "/api/agent/status", &json!({ "status": "break", "reason": "dinar" })).await;
    assert_eq!((state.ok()["agent"]["status"].as_str(), state.json["agent"]["break_reason"].as_str()), (Some("on_break"), Some("dinar")));
    let state = h.post(Some(&marta), "/api/agent/status", &json!({ "status": "available" })).await;
    assert_eq!(state.ok()["agent"]["status"], "available");
    let state = h.post(Some(&marta), "/api/agent/status", &json!({ "status": "logout" })).await;
    assert_eq!(state.ok()["agent"]["status"], "logged_out");
    // The ACD refuses a break when logged out: 409, nothing changed.
    let refused = h.post(Some(&marta), "/api/agent/status", &json!({ "status": "break", "reason": "cafè" })).await;
    assert_eq!(refused.refused(StatusCode::CONFLICT), "conflict");
    assert_eq!(h.get(Some(&marta), "/api/agent/state").await.ok()["agent"]["status"], "logged_out");
}

#[tokio::test]
async fn an_offer_shows_the_callers_context_with_the_number_masked_for_an_agent() {
    let h = Harness::new().await;
    let marta = h.available("marta").await;
    h.plane.caller_joins(2, "general", "ca", "health", Some(NUMBER));
    let state = h.get(Some(&marta), "/api/agent/state").await;
    let offer = &state.ok()["offer"];
    assert_eq!(state.json["agent"]["state"], "offered");
    assert_eq!((offer["call"].as_u64(), offer["language"].as_str(), offer["topic"].as_str()), (Some(2), Some("ca"), Some("health")));
    assert_eq!(offer["ivr_path"], "welcome>choose-language>main>health");
    assert_eq!((offer["repeat_caller"].as_bool(), offer["callback"].as_bool()), (Some(true), Some(false)));
    assert_eq!((offer["caller_number"].as_str(), offer["number_masked"].as_bool()), (Some("*********678"), Some(true)));
    assert!(!state.text.contains(NUMBER));
}

#[tokio::test]
async fn answer_hold_mute_hang_up_and_wrap_up_with_a_disposition() {
    let h = Harness::new().await;
    let marta = h.available("marta").await;
    h.plane.caller_joins(1, "general", "ca", "procedures", None);
    let act = |action: &'static str| json!({ "call": 1, "action": action });
    let state = h.post(Some(&marta), "/api/agent/call", &act("answer")).await;
    assert_eq!(state.ok()["agent"]["state"], "on_call");
    assert_eq!(state.json["call"]["call"], 1);
    assert!(state.json["call"]["caller_number"].is_null(), "withheld");
    let state = h.post(Some(&marta), "/api/agent/call", &act("hold")).await;
    assert_eq!(state.ok()["call"]["on_hold"], true);
    let state = h.post(Some(&marta), "/api/agent/call", &act("resume")).await;
    assert_eq!(state.ok()["call"]["on_hold"], false);
    let state = h.post(Some(&marta), "/api/agent/call", &act("mute")).await;
    assert_eq!(state.ok()["call"]["muted"], true);
    h.post(Some(&marta), "/api/agent/call", &act("unmute")).await.ok();
    let state = h.post(Some(&marta), "/api/agent/call", &act("hangup")).await;
    assert_eq!(state.ok()["agent"]["state"], "wrap_up");
    assert_eq!(state.json["agent"]["remaining_ms"], 30_000, "the queue's wrap_up_secs");
    // A second hang-up: the call is gone (not hers any more).
    h.post(Some(&marta), "/api/agent/call", &act("hangup")).await.refused(StatusCode::FORBIDDEN);

    let done = json!({ "call": 1, "disposition": "information", "notes": "Cita CAP demanada" });
    let state = h.post(Some(&marta), "/api/agent/wrap-up", &done).await;
    assert_eq!(state.ok()["agent"]["state"], "idle");
    let recorded = h.plane.recorded(|r| r.wrap_ups.clone());
    assert!(matches!(&recorded[..], [AgentCommand::WrapUpDone { disposition: Some(d), .. }] if d == "information"));
    h.post(Some(&marta), "/api/agent/wrap-up", &json!({})).await.refused(StatusCode::CONFLICT);
}

#[tokio::test]
async fn wrap_up_ends_by_itself_when_its_time_runs_out() {
    let h = Harness::new().await;
    let marta = h.available("marta").await;
    h.plane.caller_joins(1, "general", "ca", "procedures", None);
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "answer" })).await.ok();
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "survey" })).await.ok();
    h.clock.advance(Duration::from_secs(30));
    h.plane.tick();
    assert_eq!(h.get(Some(&marta), "/api/agent/state").await.ok()["agent"]["state"], "idle");
}

#[tokio::test]
async fn rejecting_an_offer_puts_the_call_back_and_the_agent_rests() {
    let h = Harness::new().await;
    let marta = h.available("marta").await;
    h.plane.caller_joins(1, "general", "ca", "procedures", None);
    let state = h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "reject" })).await;
    assert_eq!(state.ok()["agent"]["state"], "resting");
    let queue = h.get(Some(&marta), "/api/queue").await;
    assert_eq!(queue.ok()[0]["waiting"][0]["call"], 1, "kept its place");
    assert_eq!(queue.json[0]["waiting"][0]["language"], "ca");
}

#[tokio::test]
async fn an_agent_cannot_touch_another_agents_call_or_status_or_see_reports() {
    let h = Harness::new().await;
    let marta = h.available("marta").await;
    let jordi = h.available("jordi").await;
    h.plane.caller_joins(1, "general", "ca", "health", None);
    // Marta (health 6) is offered the call; Jordi has no health skill.
    assert_eq!(state_of(&h, &marta).await, "offered");
    let steal = h.post(Some(&jordi), "/api/agent/call", &json!({ "call": 1, "action": "answer" })).await;
    assert_eq!(steal.refused(StatusCode::FORBIDDEN), "forbidden");
    // Not yet connected: hanging up her own ringing call is a conflict.
    let early = h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "hangup" })).await;
    assert_eq!(early.refused(StatusCode::CONFLICT), "conflict");
    assert_eq!(state_of(&h, &marta).await, "offered", "nothing changed");

    let forbidden = [
        ("/api/supervisor/agents/marta/status", json!({ "status": "logout" })),
        ("/api/supervisor/monitor", json!({ "agent": "marta", "mode": "listen" })),
        ("/api/dialplan/reload", json!({})),
        ("/api/admin/users", json!({ "login": "x", "display_name": "X", "role": "admin", "password": "0123456789ab" })),
    ];
    for (path, body) in forbidden {
        assert_eq!(h.post(Some(&jordi), path, &body).await.refused(StatusCode::FORBIDDEN), "forbidden", "{path}");
    }
    for path in ["/api/reports?from=2026-11-01&to=2026-11-02", "/api/reports/csv?from=2026-11-01&to=2026-11-02", "/api/supervisor/wallboard", "/api/admin/acd", "/api/admin/users", "/api/dialplan"] {
        assert_eq!(h.get(Some(&jordi), path).await.refused(StatusCode::FORBIDDEN), "forbidden", "{path}");
    }
    assert_eq!(state_of(&h, &marta).await, "offered");
    assert_eq!(h.get(Some(&marta), "/api/agent/state").await.json["agent"]["status"], "available");
}

#[tokio::test]
async fn a_transfer_to_a_queue_goes_first_in_line_and_bad_targets_are_refused() {
    let h = Harness::new().await;
    let marta = h.available("marta").await;
    h.plane.caller_joins(1, "general", "es", "health", None);
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "answer" })).await.ok();
    let bad = [
        (json!({ "call": 1, "queue": "nowhere" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "call": 1 }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "call": 1, "queue": "general", "agent": "jordi" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "call": 1, "agent": "marta" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "call": 1, "agent": "jordi" }), StatusCode::NOT_IMPLEMENTED),
        (json!({ "call": "one", "queue": "general" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "call": 2, "queue": "general" }), StatusCode::FORBIDDEN),
    ];
    for (body, status) in bad {
        h.post(Some(&marta), "/api/agent/transfer", &body).await.refused(status);
    }
    assert_eq!(h.get(Some(&marta), "/api/agent/state").await.json["agent"]["state"], "on_call", "nothing changed");
    h.plane.caller_joins(3, "general", "es", "health", None);
    let state = h.post(Some(&marta), "/api/agent/transfer", &json!({ "call": 1, "queue": "general" })).await;
    assert_eq!(state.ok()["agent"]["state"], "wrap_up");
    let queue = h.get(Some(&marta), "/api/queue").await;
    let waiting: Vec<_> = queue.ok()[0]["waiting"].as_array().expect("waiting").iter().map(|w| w["call"].clone()).collect();
    assert_eq!(waiting, [json!(1), json!(3)], "the transferred call first");
}

#[tokio::test]
async fn users_who_are_not_agents_have_no_agent_state_and_every_role_sees_the_queue() {
    let h = Harness::new().await;
    let sara = h.login("sara").await;
    h.get(Some(&sara), "/api/agent/state").await.refused(StatusCode::FORBIDDEN);
    h.post(Some(&sara), "/api/agent/status", &json!({ "status": "login" })).await.refused(StatusCode::FORBIDDEN);
    // Jordi (no "work" skill) keeps the queue open without taking the call.
    h.available("jordi").await;
    h.plane.caller_joins(5, "general", "en", "work", Some(NUMBER));
    let queue = h.get(Some(&sara), "/api/queue").await;
    let waiting = &queue.ok()[0]["waiting"][0];
    assert_eq!((waiting["call"].as_u64(), waiting["language"].as_str(), waiting["callback"].as_bool()), (Some(5), Some("en"), Some(false)));
    assert!(!queue.text.contains("678"), "the queue never shows numbers");
}

#[tokio::test]
async fn an_agent_sees_their_own_figures_for_today() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    let today = h.get(Some(&marta), "/api/agent/today").await;
    assert_eq!((today.ok()["offered"].as_i64(), today.json["service_level_target"].as_f64()), (Some(0), Some(0.8)));
    assert!(today.json["service_level"].is_null(), "no calls: no ratio");
}
