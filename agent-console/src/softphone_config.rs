//! The browser softphone's configuration: the STUN/TURN servers its
//! `RTCPeerConnection` is built with and whether the browser processes the
//! microphone (echo cancellation, noise suppression, gain control), served
//! at `GET /api/softphone/config`.
//!
//! Owns the [`IceServer`] shape (the W3C `RTCIceServer` dictionary, with
//! snake-case keys) and its check, which the server runs on its config
//! file's `webrtc.ice_servers` at start-up, so that a browser is never
//! handed a server it would refuse. Must never log a TURN credential.
//!
//! Why the browser and not the engine: the engine offers host candidates on
//! a known address (docs/adr/0003-webrtc.md); a browser behind NAT gathers
//! reflexive or relayed candidates through these servers, which reach the
//! engine's host candidates as peer-reflexive pairs.

use std::fmt;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::Viewer;
use crate::Console;

/// One STUN or TURN server for the browser (`RTCIceServer`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    /// `stun:`, `stuns:`, `turn:` or `turns:` URLs (RFC 7064, RFC 7065).
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The TURN password (long-term credential).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

impl fmt::Debug for IceServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IceServer")
            .field("urls", &self.urls)
            .field("username", &self.username)
            .field("credential", &self.credential.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a server list would be refused by a browser. `index` counts from 0
/// in the configured list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IceServerError {
    #[error("server {index}: `urls` is empty")]
    NoUrls { index: usize },
    #[error("server {index}: {url:?} is not a stun:, stuns:, turn: or turns: URL")]
    Scheme { index: usize, url: String },
    #[error("server {index}: {url:?} names no host")]
    NoHost { index: usize, url: String },
    #[error("server {index}: {url:?} is a TURN server, which needs `username` and `credential`")]
    TurnWithoutCredentials { index: usize, url: String },
}

/// Checks every server as a browser's `RTCPeerConnection` constructor does
/// (an unknown scheme is a `SyntaxError`, TURN without credentials an
/// `InvalidAccessError`).
pub fn check_ice_servers(servers: &[IceServer]) -> Result<(), IceServerError> {
    for (index, server) in servers.iter().enumerate() {
        if server.urls.is_empty() {
            return Err(IceServerError::NoUrls { index });
        }
        for url in &server.urls {
            let Some((scheme, rest)) = url.split_once(':') else {
                return Err(IceServerError::Scheme { index, url: url.clone() });
            };
            let turn = match scheme {
                "stun" | "stuns" => false,
                "turn" | "turns" => true,
                _ => return Err(IceServerError::Scheme { index, url: url.clone() }),
            };
            // `host[:port][?transport=udp|tcp]`: no `//`, no empty host.
            let host = rest.split(['?', ':']).next().unwrap_or("");
            if host.is_empty() || rest.starts_with("//") {
                return Err(IceServerError::NoHost { index, url: url.clone() });
            }
            if turn && (server.username.is_none() || server.credential.is_none()) {
                return Err(IceServerError::TurnWithoutCredentials { index, url: url.clone() });
            }
        }
    }
    Ok(())
}

pub fn routes() -> Router<Console> {
    Router::new().route("/api/softphone/config", get(config))
}

/// What the page's softphone needs before it builds a peer connection.
#[derive(Debug, Serialize)]
struct SoftphoneConfig {
    ice_servers: Vec<IceServer>,
    voice_processing: bool,
}

/// `GET /api/softphone/config`: any signed-in user (agents answer calls,
/// supervisors monitor them through the same softphone); the `Viewer`
/// extractor refuses anyone else.
async fn config(State(console): State<Console>, _viewer: Viewer) -> Json<SoftphoneConfig> {
    Json(SoftphoneConfig {
        ice_servers: console.config.ice_servers.clone(),
        voice_processing: console.config.voice_processing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(urls: &[&str], username: Option<&str>, credential: Option<&str>) -> IceServer {
        IceServer {
            urls: urls.iter().map(|u| (*u).to_owned()).collect(),
            username: username.map(str::to_owned),
            credential: credential.map(str::to_owned),
        }
    }

    #[test]
    fn stun_and_turn_with_credentials_pass() {
        let servers = [
            server(&["stun:stun.example.cat:3478", "stuns:stun.example.cat"], None, None),
            server(&["turn:turn.example.cat:3478?transport=udp", "turns:turn.example.cat:5349"], Some("u"), Some("p")),
        ];
        assert_eq!(check_ice_servers(&servers), Ok(()));
        assert_eq!(check_ice_servers(&[]), Ok(()), "none: host candidates only");
    }

    #[test]
    fn what_a_browser_would_refuse_is_refused_with_the_server_and_url() {
        let http = server(&["http://stun.example.cat"], None, None);
        assert_eq!(check_ice_servers(&[http]), Err(IceServerError::Scheme { index: 0, url: "http://stun.example.cat".into() }));
        assert_eq!(check_ice_servers(&[server(&[], None, None)]), Err(IceServerError::NoUrls { index: 0 }));
        assert!(matches!(check_ice_servers(&[server(&["stun:"], None, None)]), Err(IceServerError::NoHost { .. })));
        assert!(matches!(check_ice_servers(&[server(&["stun://x"], None, None)]), Err(IceServerError::NoHost { .. })));
        let ok = server(&["stun:a"], None, None);
        let turn = server(&["turn:b"], Some("u"), None);
        assert_eq!(
            check_ice_servers(&[ok, turn]),
            Err(IceServerError::TurnWithoutCredentials { index: 1, url: "turn:b".into() })
        );
    }

    #[test]
    fn the_credential_is_never_in_debug_output() {
        let text = format!("{:?}", server(&["turn:b"], Some("u"), Some("s3cret")));
        assert!(!text.contains("s3cret"), "{text}");
    }
}
