//! Queues and agents edited from the admin page while callers wait
//! (`PUT /api/admin/acd`): applied at once without a restart, callers keep
//! their place, and what would leave a caller or a call stranded is a 409
//! with the reason that changes nothing, files included.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{Client, Harness};

async fn files(h: &Harness, admin: &Client) -> (String, String) {
    let files = h.get(Some(admin), "/api/admin/acd").await.ok()["files"].clone();
    let text = |k: &str| files[k].as_str().expect("file text").to_owned();
    (text("queues_toml"), text("agents_toml"))
}

async fn put(h: &Harness, admin: &Client, queues: &str, agents: &str) -> crate::Resp {
    h.json(Method::PUT, Some(admin), "/api/admin/acd", &json!({ "queues_toml": queues, "agents_toml": agents })).await
}

/// The calls holding a place in `general`, in order (`GET /api/queue`).
fn waiting(queues: &Value) -> Vec<u64> {
    let queue = queues.as_array().expect("queues").iter().find(|q| q["name"] == "general").expect("general");
    queue["waiting"].as_array().expect("waiting").iter().map(|w| w["call"].as_u64().expect("call id")).collect()
}

#[tokio::test]
async fn a_queue_edited_live_keeps_its_callers_in_place_and_routes_them_again() {
    let h = Harness::new().await;
    let anna = h.login("anna").await;
    let marta = h.available("marta").await;
    let (queues, agents) = files(&h, &anna).await;
    // Marta knows nothing of transport: two transport callers wait.
    h.plane.caller_joins(1, "general", "ca", "transport", None);
    h.plane.caller_joins(2, "general", "ca", "transport", None);
    assert!(h.get(Some(&marta), "/api/agent/state").await.ok()["offer"].is_null());
    assert_eq!(waiting(h.get(Some(&marta), "/api/queue").await.ok()), [1, 2]);

    // The queue stops requiring a topic and gets a 45 s wrap-up.
    let edited = queues
        .replace(r#"skills = ["language", "topic"]"#, r#"skills = ["language"]"#)
        .lines()
        .filter(|l| !l.contains("skill = \"topic\"") && !l.starts_with("min_level"))
        .collect::<Vec<_>>()
        .join("\n")
        .replace("wrap_up_secs = 30", "wrap_up_secs = 45");
    let view = put(&h, &anna, &edited, &agents).await;
    assert_eq!(view.ok()["queues"][0]["wrap_up_secs"], 45);
    assert_eq!(std::fs::read_to_string(h.plane.dir.join("queues.toml")).expect("written"), edited, "persisted");

    assert_eq!(h.get(Some(&marta), "/api/agent/state").await.ok()["offer"]["call"], 1, "the first caller, at once");
    assert_eq!(waiting(h.get(Some(&marta), "/api/queue").await.ok()), [1, 2], "both kept their place");
}

#[tokio::test]
async fn an_agent_on_a_call_or_a_queue_with_callers_cannot_be_removed_and_nothing_changes() {
    let h = Harness::new().await;
    let anna = h.login("anna").await;
    let marta = h.available("marta").await;
    let (queues, agents) = files(&h, &anna).await;
    h.plane.caller_joins(7, "general", "ca", "health", None);
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 7, "action": "answer" })).await.ok();
    h.plane.caller_joins(8, "general", "ca", "health", None);

    let start = agents.find("[agents.marta]").expect("marta in the demo file");
    let end = agents[start + 1..].find("[agents.").map_or(agents.len(), |i| start + 1 + i);
    let without_marta = format!("{}{}", &agents[..start], &agents[end..]);
    let refused = put(&h, &anna, &queues, &without_marta).await;
    assert_eq!(refused.refused(StatusCode::CONFLICT), "conflict");
    assert!(refused.json["reason"].as_str().is_some_and(|r| r.contains("marta") && r.contains("busy")), "{}", refused.text);
    assert_eq!(files(&h, &anna).await, (queues.clone(), agents.clone()), "files untouched");
    assert_eq!(h.get(Some(&marta), "/api/agent/state").await.ok()["call"]["call"], 7, "still on her call");

    let no_queues = queues.replace("[queues.general]", "[queues.renamed]");
    let refused = put(&h, &anna, &no_queues, &agents.replace("\"general\"", "\"renamed\"")).await;
    assert_eq!(refused.refused(StatusCode::CONFLICT), "conflict");
    assert!(refused.json["reason"].as_str().is_some_and(|r| r.contains("general") && r.contains("caller")), "{}", refused.text);
    assert_eq!(files(&h, &anna).await, (queues.clone(), agents.clone()));

    // Her call ends (she is in wrap-up): now she can be removed, and the file says so.
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 7, "action": "hangup" })).await.ok();
    let view = put(&h, &anna, &queues, &without_marta).await;
    assert!(view.ok()["agents"].as_array().expect("agents").iter().all(|a| a["login"] != "marta"));
    assert_eq!(std::fs::read_to_string(h.plane.dir.join("agents.toml")).expect("written"), without_marta);
    let state = h.get(Some(&marta), "/api/agent/state").await;
    assert!(!state.status.is_success(), "her user no longer has an agent in the queue: {}", state.text);
}
