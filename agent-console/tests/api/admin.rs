//! Administration: the ACD files, calendars and users, validated like the
//! config and effective without a restart.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::{Client, Harness, Resp, password};

async fn patch_rita(h: &Harness, admin: &Client, body: serde_json::Value) -> Resp {
    h.json(Method::PATCH, Some(admin), "/api/admin/users/rita", &body).await
}

const NEW_AGENT: &str = "\n[agents.pau]\nname = \"Pau Serra\"\npassword = { demo = \"demo-pau-012\" }\nskills = { language = { ca = 10 }, topic = { work = 9 } }\n";

#[tokio::test]
async fn an_admin_adds_an_agent_who_can_work_at_once() {
    let h = Harness::new().await;
    let anna = h.login("anna").await;
    let acd = h.get(Some(&anna), "/api/admin/acd").await;
    let files = acd.ok()["files"].clone();
    assert_eq!(acd.json["queues"][0]["name"], "general");
    assert_eq!(acd.json["queues"][0]["strategy"], "longest_idle");
    assert_eq!(acd.json["agents"].as_array().map(Vec::len), Some(4));
    let agents = format!("{}{NEW_AGENT}", files["agents_toml"].as_str().expect("agents"));
    let write = json!({ "queues_toml": files["queues_toml"], "agents_toml": agents });
    let written = h.json(Method::PUT, Some(&anna), "/api/admin/acd", &write).await;
    assert_eq!(written.ok()["agents"].as_array().map(Vec::len), Some(5));
    assert!(std::fs::read_to_string(h.plane.dir.join("agents.toml")).expect("file").contains("[agents.pau]"));

    // Pau, with a console user, logs in and is offered a work call.
    let pau = json!({ "login": "pau", "display_name": "Pau Serra", "role": "agent", "password": password("pau"), "agent_login": "pau" });
    h.post(Some(&anna), "/api/admin/users", &pau).await.ok();
    let pau = h.available("pau").await;
    h.plane.caller_joins(9, "general", "ca", "work", None);
    assert_eq!(h.get(Some(&pau), "/api/agent/state").await.ok()["offer"]["call"], 9);
}

#[tokio::test]
async fn acd_files_that_do_not_validate_are_refused_with_their_position_and_change_nothing() {
    let h = Harness::new().await;
    let anna = h.login("anna").await;
    let files = h.get(Some(&anna), "/api/admin/acd").await.ok()["files"].clone();
    let (queues, agents) = (files["queues_toml"].as_str().expect("q"), files["agents_toml"].as_str().expect("a"));
    let cases = [
        (queues.to_owned(), format!("{agents}\n[agents.pau]\nqueues = [\"nowhere\"]\n"), "agents.toml:"),
        (queues.to_owned(), agents.replace("ca = 10", "ca = 11"), "out of range"),
        (queues.replace("wrap_up_secs = 30", "wrap_up_secs = \"long\""), agents.to_owned(), "queues.toml:"),
        ("".to_owned(), agents.to_owned(), "no queue"),
    ];
    for (queues_toml, agents_toml, needle) in cases {
        let write = json!({ "queues_toml": queues_toml, "agents_toml": agents_toml });
        let resp = h.json(Method::PUT, Some(&anna), "/api/admin/acd", &write).await;
        assert_eq!(resp.refused(StatusCode::UNPROCESSABLE_ENTITY), "invalid");
        assert!(resp.json["reason"].as_str().is_some_and(|r| r.contains(needle)), "{needle}: {}", resp.text);
    }
    let missing = h.json(Method::PUT, Some(&anna), "/api/admin/acd", &json!({ "queues_toml": queues })).await;
    missing.refused(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(h.get(Some(&anna), "/api/admin/acd").await.ok()["files"], files, "nothing changed");
}

#[tokio::test]
async fn calendars_are_validated_with_the_calendar_parser() {
    let h = Harness::new().await;
    let anna = h.login("anna").await;
    let list = h.get(Some(&anna), "/api/admin/calendars").await;
    let calendar = list.ok()[0].clone();
    assert_eq!(calendar["name"], "catalonia.toml");
    let text = calendar["toml"].as_str().expect("toml");
    let path = "/api/admin/calendars/catalonia.toml";
    let added = text.replace("dates = [", "dates = [\n  { date = \"2026-09-24\", name = \"La Mercè\" },");
    let resp = h.json(Method::PUT, Some(&anna), path, &json!({ "toml": added })).await;
    resp.ok();
    let bad = text.replace("dates = [", "dates = [\n  { date = \"2026-02-30\", name = \"Dia Impossible\" },");
    let refused = h.json(Method::PUT, Some(&anna), path, &json!({ "toml": bad })).await;
    assert_eq!(refused.refused(StatusCode::UNPROCESSABLE_ENTITY), "invalid");
    assert!(refused.json["reason"].as_str().is_some_and(|r| r.contains("catalonia.toml:")), "{}", refused.text);
    let unknown = h.json(Method::PUT, Some(&anna), "/api/admin/calendars/mars.toml", &json!({ "toml": text })).await;
    unknown.refused(StatusCode::NOT_FOUND);
    let stored = std::fs::read_to_string(h.plane.dir.join("calendars/catalonia.toml")).expect("file");
    assert!(stored.contains("La Mercè") && !stored.contains("Dia Impossible"));
    let sara = h.login("sara").await;
    h.json(Method::PUT, Some(&sara), path, &json!({ "toml": text })).await.refused(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_admin_manages_users_and_never_sees_a_hash() {
    let h = Harness::new().await;
    let anna = h.login("anna").await;
    let list = h.get(Some(&anna), "/api/admin/users").await;
    assert_eq!(list.ok().as_array().map(Vec::len), Some(4));
    assert!(!list.text.contains("argon2"));
    let new = json!({ "login": "rita", "display_name": "Rita", "role": "supervisor", "password": password("rita") });
    let created = h.post(Some(&anna), "/api/admin/users", &new).await;
    assert_eq!((created.status, created.json["role"].as_str()), (StatusCode::CREATED, Some("supervisor")));
    let refused = [
        (new.clone(), StatusCode::CONFLICT),
        (json!({ "login": "Rita X", "display_name": "R", "role": "agent", "password": "0123456789", "agent_login": "marta" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "login": "rita2", "display_name": "R", "role": "root", "password": "0123456789" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "login": "rita2", "display_name": "R", "role": "agent", "password": "0123456789" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "login": "rita2", "display_name": "R", "role": "admin", "password": "short" }), StatusCode::UNPROCESSABLE_ENTITY),
        (json!({ "login": "rita2", "role": "admin", "password": "0123456789" }), StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (body, status) in refused {
        h.post(Some(&anna), "/api/admin/users", &body).await.refused(status);
    }
    assert_eq!(h.get(Some(&anna), "/api/admin/users").await.ok().as_array().map(Vec::len), Some(5));

    // Disabling ends the user's session; a new password works at once.
    let rita = h.login("rita").await;
    assert_eq!(patch_rita(&h, &anna, json!({ "disabled": true })).await.ok()["disabled"], true);
    h.get(Some(&rita), "/api/me").await.refused(StatusCode::UNAUTHORIZED);
    patch_rita(&h, &anna, json!({ "disabled": false, "password": "another-password" })).await.ok();
    h.try_login("rita", "another-password").await.ok();
    patch_rita(&h, &anna, json!({ "role": "agent" })).await.refused(StatusCode::UNPROCESSABLE_ENTITY);
    patch_rita(&h, &anna, json!({ "role": "agent", "agent_login": "jordi" })).await.ok();
    patch_rita(&h, &anna, json!({ "agent_login": null })).await.refused(StatusCode::UNPROCESSABLE_ENTITY);
    patch_rita(&h, &anna, json!({ "colour": "red" })).await.refused(StatusCode::UNPROCESSABLE_ENTITY);
    h.json(Method::PATCH, Some(&anna), "/api/admin/users/nobody", &json!({ "disabled": true })).await.refused(StatusCode::NOT_FOUND);

    // Admins cannot lock themselves out.
    h.json(Method::PATCH, Some(&anna), "/api/admin/users/anna", &json!({ "role": "agent", "agent_login": "marta" }))
        .await
        .refused(StatusCode::CONFLICT);
    h.json(Method::DELETE, Some(&anna), "/api/admin/users/anna", &json!({})).await.refused(StatusCode::CONFLICT);
    h.json(Method::DELETE, Some(&anna), "/api/admin/users/rita", &json!({})).await.ok();
    h.json(Method::DELETE, Some(&anna), "/api/admin/users/rita", &json!({})).await.refused(StatusCode::NOT_FOUND);
    h.try_login("rita", "another-password").await.refused(StatusCode::UNAUTHORIZED);

    let sara = h.login("sara").await;
    h.get(Some(&sara), "/api/admin/users").await.refused(StatusCode::FORBIDDEN);
    h.json(Method::DELETE, Some(&sara), "/api/admin/users/marta", &json!({})).await.refused(StatusCode::FORBIDDEN);
}
