//! The supervisor's view: wallboard, agents' status, monitoring, reports,
//! the dialplan.

use agent_console::MonitorMode;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::Harness;

#[tokio::test]
async fn the_wallboard_shows_queues_agents_calls_with_clear_numbers_and_todays_figures() {
    let h = Harness::new().await;
    let sara = h.login("sara").await;
    h.available("marta").await;
    h.plane.set_in_ivr(4);
    h.plane.caller_joins(1, "general", "ca", "health", Some("+34612345678"));
    h.plane.caller_joins(2, "general", "oc", "other", None);
    let board = h.get(Some(&sara), "/api/supervisor/wallboard").await;
    let board = board.ok();
    assert_eq!(board["in_ivr"], 4);
    assert_eq!(board["queues"][0]["name"], "general");
    assert_eq!(board["queues"][0]["waiting"].as_array().map(Vec::len), Some(2));
    let marta = board["agents"].as_array().expect("agents").iter().find(|a| a["login"] == "marta").expect("marta");
    assert_eq!((marta["status"].as_str(), marta["state"].as_str(), marta["call"].as_u64()), (Some("available"), Some("offered"), Some(1)));
    assert_eq!(board["calls"][0]["caller_number"], "+34612345678", "supervisors see numbers");
    assert_eq!(board["calls"][0]["number_masked"], false);
    assert_eq!(board["today"]["offered"], 0, "from the (empty) store");
    assert_eq!(board["agents"].as_array().map(Vec::len), Some(4), "every configured agent");
}

#[tokio::test]
async fn a_supervisor_changes_any_agents_status() {
    let h = Harness::new().await;
    let sara = h.login("sara").await;
    let path = "/api/supervisor/agents/jordi/status";
    assert_eq!(h.post(Some(&sara), path, &json!({ "status": "login" })).await.ok()["status"], "available");
    let brk = h.post(Some(&sara), path, &json!({ "status": "break", "reason": "reunió" })).await;
    assert_eq!((brk.ok()["status"].as_str(), brk.json["break_reason"].as_str()), (Some("on_break"), Some("reunió")));
    let unknown = h.post(Some(&sara), "/api/supervisor/agents/nobody/status", &json!({ "status": "login" })).await;
    assert_eq!(unknown.refused(StatusCode::NOT_FOUND), "not_found");
    let jordi = h.login("jordi").await;
    assert_eq!(h.get(Some(&jordi), "/api/agent/state").await.json["agent"]["status"], "on_break");
}

#[tokio::test]
async fn listen_whisper_and_barge_need_an_agent_on_a_call() {
    let h = Harness::new().await;
    let sara = h.login("sara").await;
    let marta = h.available("marta").await;
    let ask = |mode: &str| json!({ "agent": "marta", "mode": mode });
    h.post(Some(&sara), "/api/supervisor/monitor", &ask("listen")).await.refused(StatusCode::CONFLICT);
    h.plane.caller_joins(1, "general", "ca", "health", None);
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "answer" })).await.ok();
    for mode in ["listen", "whisper", "barge"] {
        h.post(Some(&sara), "/api/supervisor/monitor", &ask(mode)).await.ok();
    }
    h.post(Some(&sara), "/api/supervisor/monitor", &ask("shout")).await.refused(StatusCode::UNPROCESSABLE_ENTITY);
    let nobody = json!({ "agent": "nobody", "mode": "listen" });
    h.post(Some(&sara), "/api/supervisor/monitor", &nobody).await.refused(StatusCode::NOT_FOUND);
    let modes: Vec<MonitorMode> = h.plane.recorded(|r| r.monitors.iter().map(|m| m.mode).collect());
    assert_eq!(modes, [MonitorMode::Listen, MonitorMode::Whisper, MonitorMode::Barge]);
    assert!(h.plane.recorded(|r| r.monitors.iter().all(|m| m.supervisor == "sara")));
}

#[tokio::test]
async fn a_supervisor_stops_monitoring_and_an_agent_may_neither_monitor_nor_stop() {
    let h = Harness::new().await;
    let sara = h.login("sara").await;
    let marta = h.available("marta").await;
    // Nothing monitored yet: nothing to stop.
    h.json(Method::DELETE, Some(&sara), "/api/supervisor/monitor", &json!({})).await.refused(StatusCode::CONFLICT);
    h.plane.caller_joins(1, "general", "ca", "health", None);
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "answer" })).await.ok();
    let listen = json!({ "agent": "marta", "mode": "listen" });
    h.post(Some(&marta), "/api/supervisor/monitor", &listen).await.refused(StatusCode::FORBIDDEN);
    h.post(Some(&sara), "/api/supervisor/monitor", &listen).await.ok();
    h.json(Method::DELETE, Some(&marta), "/api/supervisor/monitor", &json!({})).await.refused(StatusCode::FORBIDDEN);
    h.json(Method::DELETE, Some(&sara), "/api/supervisor/monitor", &json!({})).await.ok();
    assert_eq!(h.plane.recorded(|r| r.monitors_stopped.clone()), ["sara"]);
}

#[tokio::test]
async fn reports_come_as_json_and_csv_and_bad_parameters_are_refused() {
    let h = Harness::new().await;
    let sara = h.login("sara").await;
    let json_report = h.get(Some(&sara), "/api/reports?from=2026-11-01&to=2026-11-07&by=day").await;
    assert_eq!(json_report.ok()["rows"].as_array().map(Vec::len), Some(7), "{}", json_report.text);
    let csv = h.get(Some(&sara), "/api/reports/csv?from=2026-11-01&to=2026-11-07&by=language&question=overall").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(
        csv.headers[header::CONTENT_DISPOSITION],
        "attachment; filename=\"012-report-2026-11-01-2026-11-07-by-language.csv\""
    );
    assert!(csv.text.lines().next().is_some_and(|header| header.contains("offered")), "{}", csv.text);
    let bad = [
        ("/api/reports?from=2026-11-01&to=2026-11-07&by=month", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/reports?from=yesterday&to=2026-11-07", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/reports?from=2026-11-08&to=2026-11-07", StatusCode::UNPROCESSABLE_ENTITY),
        ("/api/reports?to=2026-11-07", StatusCode::BAD_REQUEST),
        ("/api/reports?from=2026-11-01&to=2026-11-07&color=red", StatusCode::BAD_REQUEST),
        ("/api/reports/csv?from=2026-11-01&to=2046-11-07&by=hour", StatusCode::UNPROCESSABLE_ENTITY),
    ];
    for (path, status) in bad {
        h.get(Some(&sara), path).await.refused(status);
    }
}

#[tokio::test]
async fn the_dialplan_reloads_and_a_broken_one_is_refused_with_its_diagnostics() {
    let h = Harness::new().await;
    let sara = h.login("sara").await;
    assert_eq!(h.get(Some(&sara), "/api/dialplan").await.ok()["version"], "boot");
    let reloaded = h.post(Some(&sara), "/api/dialplan/reload", &json!({})).await;
    assert_eq!(reloaded.ok()["reloads"], 1, "{}", reloaded.text);
    let version = reloaded.json["version"].as_str().expect("version").to_owned();
    assert_ne!(version, "boot");

    let path = h.plane.dir.join("012.toml");
    let text = std::fs::read_to_string(&path).expect("dialplan");
    std::fs::write(&path, text.replacen("[dialplan]", "[dialplan]\nnonsense = [", 1)).expect("break it");
    let refused = h.post(Some(&sara), "/api/dialplan/reload", &json!({})).await;
    assert_eq!(refused.refused(StatusCode::UNPROCESSABLE_ENTITY), "invalid");
    assert!(refused.json["reason"].as_str().is_some_and(|r| r.contains("012.toml")), "{}", refused.text);
    let status = h.get(Some(&sara), "/api/dialplan").await;
    assert_eq!((status.ok()["version"].as_str(), status.json["refusals"].as_u64()), (Some(version.as_str()), Some(1)));
    assert!(!status.json["last_refusal"].as_array().expect("diagnostics").is_empty());
}
