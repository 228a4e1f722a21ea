//! Accounts and security: login, cookie, CSRF, Origin, expiry, rate limits,
//! bad bodies.

use std::net::SocketAddr;
use std::time::Duration;

use agent_console::ConsoleConfig;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use crate::{Harness, password, session_cookie};

#[tokio::test]
async fn login_sets_a_strict_http_only_session_cookie_and_me_returns_the_csrf_token() {
    let h = Harness::new().await;
    let resp = h.try_login("marta", &password("marta")).await;
    let body = resp.ok();
    assert_eq!((body["role"].as_str(), body["agent_login"].as_str()), (Some("agent"), Some("marta")));
    let set_cookie = resp.headers[header::SET_COOKIE].to_str().expect("ascii");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    assert!(!set_cookie.contains("Secure"), "plain HTTP without secure_cookies: {set_cookie}");
    let id = session_cookie(&resp.headers).expect("cookie");
    assert_eq!(id.len(), 64, "256 bits in hex");
    let client = h.login("marta").await;
    let me = h.get(Some(&client), "/api/me").await;
    assert_eq!(me.ok()["csrf_token"], client.csrf.as_str());
    assert_eq!(me.json["login"], "marta");
    assert!(!me.text.contains("argon2"), "never the hash");
}

#[tokio::test]
async fn the_cookie_is_secure_behind_tls_or_when_configured() {
    let h = Harness::new().await;
    let request = Harness::request(Method::POST, "/api/login", None)
        .header(header::CONTENT_TYPE, "application/json")
        .header("x-forwarded-proto", "https")
        .body(Body::from(json!({ "login": "sara", "password": password("sara") }).to_string()))
        .expect("request");
    let resp = h.send(request).await;
    assert!(resp.headers[header::SET_COOKIE].to_str().expect("ascii").ends_with("; Secure"));

    let h = Harness::with_config(ConsoleConfig { secure_cookies: true, ..ConsoleConfig::default() }).await;
    let resp = h.try_login("sara", &password("sara")).await;
    assert!(resp.headers[header::SET_COOKIE].to_str().expect("ascii").contains("Secure"));
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_login_are_the_same_401_without_a_cookie() {
    let h = Harness::new().await;
    let wrong = h.try_login("marta", "not-her-password").await;
    let unknown = h.try_login("nobody", "not-her-password").await;
    assert_eq!(wrong.refused(StatusCode::UNAUTHORIZED), "unauthorized");
    assert_eq!((wrong.status, &wrong.json), (unknown.status, &unknown.json));
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    assert_eq!(h.console.session_count(), 0);
}

#[tokio::test]
async fn login_attempts_are_limited_per_login_with_retry_after() {
    let h = Harness::new().await;
    for _ in 0..5 {
        h.try_login("marta", "guess-guess-guess").await.refused(StatusCode::UNAUTHORIZED);
    }
    // Even the right password waits now.
    let limited = h.try_login("marta", &password("marta")).await;
    assert_eq!(limited.refused(StatusCode::TOO_MANY_REQUESTS), "rate_limited");
    assert_eq!(limited.headers[header::RETRY_AFTER], "60");
    // Another login is not limited by marta's bucket.
    h.login("jordi").await;
    h.clock.advance(Duration::from_secs(60));
    h.login("marta").await;
}

#[tokio::test]
async fn login_attempts_are_limited_per_client_address() {
    let per_user = agent_console::RateLimit { burst: 100, refill_every: Duration::from_secs(1) };
    let h = Harness::with_config(ConsoleConfig { login_per_user: per_user, ..ConsoleConfig::default() }).await;
    let from = |addr: &str| {
        let mut request = Harness::request(Method::POST, "/api/login", None)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "login": "marta", "password": "x-x-x-x-x-x" }).to_string()))
            .expect("request");
        request.extensions_mut().insert(ConnectInfo(addr.parse::<SocketAddr>().expect("addr")));
        request
    };
    for _ in 0..20 {
        h.send(from("192.0.2.7:4000")).await.refused(StatusCode::UNAUTHORIZED);
    }
    let limited = h.send(from("192.0.2.7:4001")).await;
    assert_eq!(limited.refused(StatusCode::TOO_MANY_REQUESTS), "rate_limited");
    assert_eq!(limited.headers[header::RETRY_AFTER], "6");
    h.send(from("192.0.2.8:4000")).await.refused(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_endpoint_but_login_and_openapi_needs_a_session() {
    let h = Harness::new().await;
    let document = h.get(None, "/api/openapi.json").await;
    let paths = document.ok()["paths"].as_object().expect("paths").clone();
    for (path, operations) in paths {
        for (method, operation) in operations.as_object().expect("operations") {
            let concrete = path.replace("{login}", "marta").replace("{name}", "catalonia.toml");
            let method: Method = method.to_uppercase().parse().expect("method");
            let request = Harness::request(method.clone(), &concrete, None)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .expect("request");
            let resp = h.send(request).await;
            if operation["x-minimum-role"] == "public" {
                assert_ne!(resp.status, StatusCode::UNAUTHORIZED, "{method} {path}");
            } else {
                assert_eq!(resp.refused(StatusCode::UNAUTHORIZED), "unauthorized", "{method} {path}");
            }
        }
    }
}

#[tokio::test]
async fn state_changes_need_the_csrf_token_and_nothing_changes_without_it() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    for token in [None, Some("0".repeat(64)), Some(marta.csrf[1..].to_owned())] {
        let mut request = Harness::request(Method::POST, "/api/agent/status", None)
            .header(header::COOKIE, format!("ivr_session={}", marta.cookie))
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        let resp = h.send(request.body(Body::from(r#"{"status":"login"}"#)).expect("request")).await;
        assert_eq!(resp.refused(StatusCode::FORBIDDEN), "forbidden");
    }
    let state = h.get(Some(&marta), "/api/agent/state").await;
    assert_eq!(state.ok()["agent"]["status"], "logged_out", "nothing changed");
}

#[tokio::test]
async fn cross_origin_requests_are_refused_and_same_origin_ones_pass() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    let with_origin = |origin: &str| {
        Harness::request(Method::POST, "/api/agent/status", Some(&marta))
            .header(header::ORIGIN, origin)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(r#"{"status":"login"}"#))
            .expect("request")
    };
    let resp = h.send(with_origin("https://evil.example")).await;
    assert_eq!(resp.refused(StatusCode::FORBIDDEN), "forbidden");
    let login = Harness::request(Method::POST, "/api/login", None)
        .header(header::ORIGIN, "https://evil.example")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(json!({ "login": "marta", "password": password("marta") }).to_string()))
        .expect("request");
    h.send(login).await.refused(StatusCode::FORBIDDEN);
    h.send(with_origin(&format!("https://{}", crate::HOST))).await.ok();
}

#[tokio::test]
async fn an_idle_session_expires_and_activity_keeps_it() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    h.clock.advance(Duration::from_secs(29 * 60));
    h.get(Some(&marta), "/api/me").await.ok();
    h.clock.advance(Duration::from_secs(29 * 60));
    h.get(Some(&marta), "/api/me").await.ok();
    h.clock.advance(Duration::from_secs(30 * 60));
    let expired = h.get(Some(&marta), "/api/me").await;
    assert_eq!(expired.refused(StatusCode::UNAUTHORIZED), "session_expired");
    h.get(Some(&marta), "/api/me").await.refused(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn logout_ends_the_session_and_clears_the_cookie() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    let resp = h.post(Some(&marta), "/api/logout", &json!({})).await;
    resp.ok();
    assert!(resp.headers[header::SET_COOKIE].to_str().expect("ascii").contains("Max-Age=0"));
    h.get(Some(&marta), "/api/me").await.refused(StatusCode::UNAUTHORIZED);
    assert_eq!(h.console.session_count(), 0);
}

#[tokio::test]
async fn malformed_bodies_are_4xx_json_and_change_nothing() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    let raw = |body: String, content_type: &str| {
        Harness::request(Method::POST, "/api/agent/status", Some(&marta))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request")
    };
    let cases = [
        (raw("{".into(), "application/json"), StatusCode::BAD_REQUEST, "bad_request"),
        // serde_json reports a number where an enum's name belongs as syntax.
        (raw(r#"{"status":7}"#.into(), "application/json"), StatusCode::BAD_REQUEST, "bad_request"),
        (raw(r#"{"status":"break","reason":7}"#.into(), "application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (raw(r#"{"status":"login","reason":"why"}"#.into(), "application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (raw(r#"{"status":"break"}"#.into(), "application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (raw(r#"{"status":"login","extra":1}"#.into(), "application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (raw(r#"{"status":"sleeping"}"#.into(), "application/json"), StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
        (raw(r#"{"status":"login"}"#.into(), "text/plain"), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        (
            raw(format!(r#"{{"status":"break","reason":"{}"}}"#, "x".repeat(70 * 1024)), "application/json"),
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
        ),
        (
            raw(r#"{"status":"break","reason":"   "}"#.into(), "application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
        ),
    ];
    for (request, status, code) in cases {
        assert_eq!(h.send(request).await.refused(status), code);
    }
    let state = h.get(Some(&marta), "/api/agent/state").await;
    assert_eq!(state.ok()["agent"]["status"], "logged_out", "nothing changed");
    let nowhere = h.get(Some(&marta), "/api/nowhere").await;
    assert_eq!(nowhere.refused(StatusCode::NOT_FOUND), "not_found");
}

#[tokio::test]
async fn a_disabled_user_is_out_at_once() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    let update = ivr_store::users::UserUpdate { disabled: Some(true), ..Default::default() };
    h.store.update_user("marta", &update, 1).await.expect("disable");
    h.get(Some(&marta), "/api/me").await.refused(StatusCode::UNAUTHORIZED);
    h.try_login("marta", &password("marta")).await.refused(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_user_changes_their_password_with_the_current_one() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    let change = |current: &str, new: &str| json!({ "current": current, "new": new });
    let wrong = h.post(Some(&marta), "/api/me/password", &change("wrong-password", "a new long password")).await;
    wrong.refused(StatusCode::FORBIDDEN);
    let short = h.post(Some(&marta), "/api/me/password", &change(&password("marta"), "short")).await;
    short.refused(StatusCode::UNPROCESSABLE_ENTITY);
    h.post(Some(&marta), "/api/me/password", &change(&password("marta"), "a new long password")).await.ok();
    h.get(Some(&marta), "/api/me").await.ok();
    h.try_login("marta", &password("marta")).await.refused(StatusCode::UNAUTHORIZED);
    h.try_login("marta", "a new long password").await.ok();
}

#[tokio::test]
async fn the_pages_are_served_by_the_same_application_without_a_session() {
    let h = Harness::new().await;
    let page = h.get(None, "/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.headers[header::CONTENT_TYPE].to_str().is_ok_and(|t| t.starts_with("text/html")));
    assert_eq!(h.get(None, "/health").await.status, StatusCode::OK);
}
