//! `GET /api/softphone/config`: the STUN/TURN servers of the server's
//! `webrtc.ice_servers` reach the page's softphone, which builds its
//! `RTCPeerConnection` with them (`assets/softphone.js`).

use agent_console::ConsoleConfig;
use agent_console::softphone_config::IceServer;
use axum::http::StatusCode;
use serde_json::json;

use crate::Harness;

fn configured() -> Vec<IceServer> {
    vec![
        IceServer { urls: vec!["stun:stun.012.test:3478".into()], username: None, credential: None },
        IceServer {
            urls: vec!["turn:turn.012.test:3478?transport=udp".into(), "turns:turn.012.test:5349".into()],
            username: Some("softphone".into()),
            credential: Some("turn-secret".into()),
        },
    ]
}

#[tokio::test]
async fn the_configured_servers_reach_every_signed_in_page_as_configured() {
    let h = Harness::with_config(ConsoleConfig { ice_servers: configured(), voice_processing: false, ..ConsoleConfig::default() })
        .await;
    let expected = json!({ "ice_servers": [
        { "urls": ["stun:stun.012.test:3478"] },
        { "urls": ["turn:turn.012.test:3478?transport=udp", "turns:turn.012.test:5349"],
          "username": "softphone", "credential": "turn-secret" },
    ], "voice_processing": false });
    for login in ["marta", "sara", "anna"] {
        let client = h.login(login).await;
        let got = h.get(Some(&client), "/api/softphone/config").await;
        assert_eq!(got.ok(), &expected, "{login}");
    }
}

#[tokio::test]
async fn none_configured_is_an_empty_list_and_strangers_get_nothing() {
    let h = Harness::new().await;
    let marta = h.login("marta").await;
    assert_eq!(
        h.get(Some(&marta), "/api/softphone/config").await.ok(),
        &json!({ "ice_servers": [], "voice_processing": true }),
        "by default the browser processes the microphone"
    );
    let stranger = h.get(None, "/api/softphone/config").await;
    assert_eq!(stranger.refused(StatusCode::UNAUTHORIZED), "unauthorized");
}

#[test]
fn the_page_builds_its_peer_connection_from_this_endpoint() {
    let script = std::str::from_utf8(agent_console::assets::asset("softphone.js").expect("embedded").body).expect("UTF-8");
    assert!(script.contains("fetch('/api/softphone/config'"), "softphone.js asks the endpoint");
    assert!(script.contains("new RTCPeerConnection({ iceServers })"), "and uses what it answered");
    assert!(
        script.contains("echoCancellation: on, noiseSuppression: on, autoGainControl: on"),
        "and opens the microphone with the processing it answered"
    );
}
