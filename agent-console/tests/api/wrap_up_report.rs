//! Disposition codes end to end: the wrap-up form's list comes from the
//! configuration (`GET /api/agent/disposition-codes`), and supervisors read
//! the stored wrap-ups by code (`GET /api/reports/wrap-ups`, JSON and CSV)
//! for whole days in the line's time zone (Europe/Madrid, UTC+1 in November).

use axum::http::{StatusCode, header};
use ivr_store::wrapup::CallWrapUp;
use serde_json::json;

use agent_console::ConsoleConfig;

use crate::Harness;

fn at(utc: &str) -> i64 {
    utc.parse::<jiff::Timestamp>().expect("a UTC instant").as_millisecond()
}

async fn stored(h: &Harness, call_id: &str, code: &str, finished_utc: &str, wrap_up_ms: Option<i64>) {
    let wrap_up = CallWrapUp {
        call_id: call_id.into(),
        agent: "marta".into(),
        disposition_code: code.into(),
        notes: None,
        finished_at_ms: at(finished_utc),
        wrap_up_ms,
    };
    assert!(h.store.insert_wrap_up(&wrap_up).await.expect("insert"), "{call_id} stored");
}

#[tokio::test]
async fn the_wrap_up_form_offers_exactly_the_configured_codes() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    let codes = h.get(Some(&marta), "/api/agent/disposition-codes").await;
    assert_eq!(
        codes.ok()["codes"],
        json!(["resolved", "information", "referred", "callback_needed", "complaint", "wrong_number", "other"])
    );
    h.get(None, "/api/agent/disposition-codes").await.refused(StatusCode::UNAUTHORIZED);

    let config = ConsoleConfig { disposition_codes: vec!["sent_to_061".into(), "attended".into()], ..ConsoleConfig::default() };
    let h = Harness::with_config(config).await;
    let marta = h.available("marta").await;
    assert_eq!(h.get(Some(&marta), "/api/agent/disposition-codes").await.ok()["codes"], json!(["sent_to_061", "attended"]));
    // The list the page shows is the list the wrap-up accepts.
    h.plane.caller_joins(1, "general", "ca", "health", None);
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "answer" })).await.ok();
    h.post(Some(&marta), "/api/agent/call", &json!({ "call": 1, "action": "hangup" })).await.ok();
    let refused = h.post(Some(&marta), "/api/agent/wrap-up", &json!({ "call": 1, "disposition": "resolved" })).await;
    assert!(refused.json["reason"].as_str().is_some_and(|r| r.contains("one of sent_to_061, attended")), "{}", refused.text);
    assert_eq!(refused.refused(StatusCode::UNPROCESSABLE_ENTITY), "invalid");
    let done = h.post(Some(&marta), "/api/agent/wrap-up", &json!({ "call": 1, "disposition": "sent_to_061" })).await;
    assert_eq!(done.ok()["agent"]["state"], "idle");
}

#[tokio::test]
async fn the_wrap_up_report_is_for_supervisors_and_admins_only() {
    let h = Harness::new().await;
    let path = "/api/reports/wrap-ups?from=2026-11-01&to=2026-11-07";
    for login in ["sara", "anna"] {
        let client = h.login(login).await;
        assert_eq!(h.get(Some(&client), path).await.ok()["rows"], json!([]), "{login}");
        let csv = h.get(Some(&client), &format!("{path}&format=csv")).await;
        assert_eq!((csv.status, csv.text.as_str()), (StatusCode::OK, "disposition_code,wrap_ups,wrap_up_s\n"), "{login}");
    }
    let marta = h.login("marta").await;
    for format in ["json", "csv"] {
        h.get(Some(&marta), &format!("{path}&format={format}")).await.refused(StatusCode::FORBIDDEN);
    }
    h.get(None, path).await.refused(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_ranges_and_formats_are_refused_with_a_reason() {
    let h = Harness::new().await;
    let sara = h.login("sara").await;
    let bad = [
        ("from=yesterday&to=2026-11-07", StatusCode::UNPROCESSABLE_ENTITY, "from \"yesterday\" is not a date like 2026-11-28"),
        ("from=2026-11-01&to=2026-13-01", StatusCode::UNPROCESSABLE_ENTITY, "to \"2026-13-01\" is not a date"),
        ("from=2026-11-08&to=2026-11-07", StatusCode::UNPROCESSABLE_ENTITY, "from is after to"),
        ("to=2026-11-07", StatusCode::BAD_REQUEST, "from"),
        ("from=2026-11-01&to=2026-11-07&format=xlsx", StatusCode::BAD_REQUEST, "xlsx"),
        ("from=2026-11-01&to=2026-11-07&by=agent", StatusCode::BAD_REQUEST, "by"),
    ];
    for (query, status, reason) in bad {
        let resp = h.get(Some(&sara), &format!("/api/reports/wrap-ups?{query}")).await;
        resp.refused(status);
        assert!(resp.json["reason"].as_str().is_some_and(|r| r.contains(reason)), "{query}: {}", resp.text);
    }
}

#[tokio::test]
async fn wrap_ups_are_counted_by_code_within_whole_local_days() {
    let h = Harness::new().await;
    // Local midnight of 2 November is 23:00 UTC on the 1st.
    stored(&h, "c-before", "resolved", "2026-11-01T22:59:59Z", Some(99_000)).await;
    stored(&h, "c-1", "resolved", "2026-11-01T23:00:00Z", Some(12_000)).await;
    stored(&h, "c-2", "complaint", "2026-11-02T10:00:00Z", None).await;
    stored(&h, "c-3", "resolved", "2026-11-03T16:30:00Z", Some(13_500)).await;
    stored(&h, "c-4", "callback_needed", "2026-11-03T22:59:59Z", Some(40_000)).await;
    stored(&h, "c-after", "complaint", "2026-11-03T23:00:00Z", Some(5_000)).await;
    let sara = h.login("sara").await;

    let report = h.get(Some(&sara), "/api/reports/wrap-ups?from=2026-11-02&to=2026-11-03").await;
    assert_eq!(
        *report.ok(),
        json!({
            "from": "2026-11-02",
            "to": "2026-11-03",
            "rows": [
                { "disposition_code": "callback_needed", "wrap_ups": 1, "wrap_up_ms": 40_000 },
                { "disposition_code": "complaint", "wrap_ups": 1, "wrap_up_ms": 0 },
                { "disposition_code": "resolved", "wrap_ups": 2, "wrap_up_ms": 25_500 },
            ],
            "total": { "wrap_ups": 4, "wrap_up_ms": 65_500 },
        })
    );

    let csv = h.get(Some(&sara), "/api/reports/wrap-ups?from=2026-11-02&to=2026-11-03&format=csv").await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.headers[header::CONTENT_TYPE], "text/csv; charset=utf-8");
    assert_eq!(csv.headers[header::CONTENT_DISPOSITION], "attachment; filename=\"012-wrap-ups-2026-11-02-2026-11-03.csv\"");
    assert_eq!(csv.text, "disposition_code,wrap_ups,wrap_up_s\ncallback_needed,1,40.0\ncomplaint,1,0.0\nresolved,2,25.5\n");

    // One day: only that day's wrap-up.
    let one_day = h.get(Some(&sara), "/api/reports/wrap-ups?from=2026-11-01&to=2026-11-01").await;
    assert_eq!(one_day.ok()["rows"], json!([{ "disposition_code": "resolved", "wrap_ups": 1, "wrap_up_ms": 99_000 }]));
}
