//! `SoftphoneConfig`: what one browser leg offers the browser (addresses,
//! codecs) and how long it waits before it gives a browser up.
//!
//! Owns only data; never opens a socket or resolves a name.

use std::net::SocketAddr;
use std::time::Duration;

use ivr_media::Codec;

/// One STUN or TURN server, as the browser's `RTCConfiguration.iceServers`
/// wants it. The engine does not gather through these servers (its sockets
/// are on a known address: host candidates, plus [`MappedAddress`] behind a
/// static NAT); they are handed to the browser, whose own candidates
/// (server-reflexive, relayed through TURN) then reach the engine's host
/// candidates as peer-reflexive pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IceServer {
    /// `stun:host:port`, `turn:host:port?transport=udp`, `turns:...`.
    pub urls: Vec<String>,
    pub username: Option<String>,
    pub credential: Option<String>,
}

/// A public address that a static (1:1) NAT maps onto one of the leg's
/// local sockets; offered as a server-reflexive candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappedAddress {
    pub public: SocketAddr,
    /// The local socket address (one of the host candidates) it maps to.
    pub local: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftphoneConfig {
    /// The local UDP socket addresses of this leg, each offered as a host
    /// candidate (RFC 8445 5.1.1.1). Not the unspecified address.
    pub host_candidates: Vec<SocketAddr>,
    pub mapped_addresses: Vec<MappedAddress>,
    /// Handed to the browser; see [`IceServer`].
    pub ice_servers: Vec<IceServer>,
    /// Codecs the answer may choose, preferred first: the first one the
    /// browser offers is the only audio codec in the answer (put the
    /// caller's codec first and the bridge passes bytes through).
    pub codecs: Vec<Codec>,
    /// From the accepted offer to DTLS-SRTP up; then the leg fails.
    pub connect_timeout: Duration,
    /// How long ICE may stay disconnected (consent lost, RFC 7675) before
    /// the leg fails; a browser that comes back sooner resumes the call.
    pub disconnect_grace: Duration,
}

impl SoftphoneConfig {
    /// Host candidates only, PCMU preferred, 15 s to connect, 5 s of grace.
    pub fn new(host_candidates: Vec<SocketAddr>) -> SoftphoneConfig {
        SoftphoneConfig {
            host_candidates,
            mapped_addresses: Vec::new(),
            ice_servers: Vec::new(),
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            connect_timeout: Duration::from_secs(15),
            disconnect_grace: Duration::from_secs(5),
        }
    }
}
