//! The WebSockets over loopback: the live feed follows a change within a
//! second, filtered by role; the softphone socket relays signalling both
//! ways and tells the engine when the browser goes.

use std::net::SocketAddr;
use std::time::Duration;

use agent_console::SoftphoneMessage;
use axum::http::StatusCode;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::{Client, HOST, Harness};

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Serves the harness's app on loopback until the test ends.
async fn serve(h: &Harness) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = h.app.clone().into_make_service_with_connect_info::<SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

async fn connect(addr: SocketAddr, path: &str, client: &Client, origin: Option<&str>) -> Result<Socket, String> {
    let mut request = format!("ws://{addr}{path}").into_client_request().expect("request");
    let headers = request.headers_mut();
    headers.insert("cookie", format!("ivr_session={}", client.cookie).parse().expect("cookie"));
    if let Some(origin) = origin {
        headers.insert("origin", origin.parse().expect("origin"));
    }
    tokio_tungstenite::connect_async(request).await.map(|(socket, _)| socket).map_err(|e| e.to_string())
}

/// The next text frame, within `within`.
async fn next_json(socket: &mut Socket, within: Duration) -> Value {
    loop {
        let message = tokio::time::timeout(within, socket.next()).await.expect("a frame in time").expect("open").expect("ok");
        if let Message::Text(text) = message {
            return serde_json::from_str(&text).expect("JSON frame");
        }
    }
}

#[tokio::test]
async fn the_agent_feed_follows_an_offer_within_a_second_and_shows_only_their_own_state() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    let marta = h.available("marta").await;
    let mut feed = connect(addr, "/api/live", &marta, Some(&format!("http://{addr}"))).await.expect("connect");
    let first = next_json(&mut feed, Duration::from_secs(1)).await;
    assert_eq!((first["type"].as_str(), first["data"]["agent"]["state"].as_str()), (Some("agent"), Some("idle")));
    assert!(first["data"].get("agents").is_none(), "no other agents");

    h.plane.caller_joins(7, "general", "ca", "health", Some("+34611222333"));
    let frame = next_json(&mut feed, Duration::from_secs(1)).await;
    assert_eq!(frame["data"]["offer"]["call"], 7);
    assert_eq!(frame["data"]["offer"]["caller_number"], "*********333");
    assert_eq!(frame["data"]["queues"][0]["waiting"], 1);
}

#[tokio::test]
async fn the_supervisor_feed_is_the_wallboard_and_ends_with_the_session() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    let sara = h.login("sara").await;
    let mut feed = connect(addr, "/api/live", &sara, None).await.expect("connect");
    let first = next_json(&mut feed, Duration::from_secs(1)).await;
    assert_eq!(first["type"], "wallboard");
    h.post(Some(&sara), "/api/supervisor/agents/jordi/status", &json!({ "status": "login" })).await.ok();
    let frame = next_json(&mut feed, Duration::from_secs(1)).await;
    let jordi = frame["data"]["agents"].as_array().expect("agents").iter().find(|a| a["login"] == "jordi").cloned();
    assert_eq!(jordi.expect("jordi")["status"], "available");

    h.post(Some(&sara), "/api/logout", &json!({})).await.ok();
    h.plane.set_in_ivr(1);
    let closed = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(message)) = feed.next().await {
            if let Message::Close(frame) = message {
                return frame.map(|f| f.reason.to_string());
            }
        }
        None
    });
    assert_eq!(closed.await.expect("closed in time").as_deref(), Some("session ended"));
}

#[tokio::test]
async fn the_feed_refuses_other_origins_and_plain_requests() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    let marta = h.login("marta").await;
    let refused = connect(addr, "/api/live", &marta, Some("https://evil.example")).await;
    assert!(refused.is_err_and(|e| e.contains("403")));
    let plain = h.get(Some(&marta), "/api/live").await;
    assert_eq!(plain.refused(StatusCode::BAD_REQUEST), "bad_request");
    assert!(HOST.contains('.'));
}

#[tokio::test]
async fn the_softphone_socket_relays_signalling_both_ways_and_reports_the_browser_gone() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    let marta = h.login("marta").await;
    let mut phone = connect(addr, "/api/softphone", &marta, None).await.expect("connect");
    // The engine holds the link once the socket is up.
    let (agent, mut link) = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            if let Some(link) = h.plane.recorded(|r| r.softphones.pop()) {
                return link;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the engine got the link");
    assert_eq!(agent, h.plane.agent("marta"));

    let offer = SoftphoneMessage::Offer { call: Some(7), sdp: "v=0\r\n".into() };
    link.to_browser.send(offer).await.expect("to browser");
    let got = next_json(&mut phone, Duration::from_secs(1)).await;
    assert_eq!(got, json!({ "type": "offer", "call": 7, "sdp": "v=0\r\n" }));

    let answer = json!({ "type": "answer", "call": 7, "sdp": "v=0\r\na=sendrecv\r\n" });
    phone.send(Message::text(answer.to_string())).await.expect("send");
    let from_browser = tokio::time::timeout(Duration::from_secs(1), link.from_browser.recv()).await.expect("in time");
    assert_eq!(from_browser, Some(SoftphoneMessage::Answer { call: Some(7), sdp: "v=0\r\na=sendrecv\r\n".into() }));

    phone.send(Message::text(r#"{"type":"answer","sdp":5}"#)).await.expect("send");
    assert_eq!(next_json(&mut phone, Duration::from_secs(1)).await["type"], "error");

    phone.close(None).await.expect("close");
    let gone = tokio::time::timeout(Duration::from_secs(1), link.from_browser.recv()).await.expect("in time");
    assert_eq!(gone, None, "the engine sees the browser gone");
}

#[tokio::test]
async fn an_agents_softphone_needs_an_agent_login_and_a_supervisors_needs_the_role() {
    let h = Harness::new().await;
    let addr = serve(&h).await;
    let sara = h.login("sara").await;
    let refused = connect(addr, "/api/softphone", &sara, None).await;
    assert!(refused.is_err_and(|e| e.contains("403")));
    let marta = h.login("marta").await;
    let refused = connect(addr, "/api/softphone?role=supervisor", &marta, None).await;
    assert!(refused.is_err_and(|e| e.contains("403")), "an agent gets no supervisor's session");

    // A supervisor's own session, by login, not tied to an agent.
    let _phone = connect(addr, "/api/softphone?role=supervisor", &sara, None).await.expect("connect");
    let (login, _link) = tokio::time::timeout(Duration::from_secs(1), async {
        loop {
            if let Some(link) = h.plane.recorded(|r| r.supervisor_softphones.pop()) {
                return link;
            }
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the engine got the supervisor's link");
    assert_eq!(login, "sara");
    assert!(h.plane.recorded(|r| r.softphones.is_empty()), "not an agent's link");
}
