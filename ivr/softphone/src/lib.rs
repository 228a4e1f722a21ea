//! `ivr-softphone`: the engine's end of an agent's browser softphone, sans-IO.
//!
//! Owns: one WebRTC peer connection with one browser (ICE as the answering,
//! controlled side, DTLS-SRTP, RTCP), the SDP answer that accepts only
//! PCMU or PCMA (whichever the engine prefers and the browser offers) and
//! telephone-event/8000, and the translation between SRTP towards the
//! browser and plain RTP datagrams for [`ivr_media::bridge::Bridge`]'s
//! agent leg. str0m does the protocol work underneath (docs/adr/0003-webrtc.md).
//!
//! Does not own: sockets, the clock, signalling transport (the console's
//! WebSocket carries the offer, the answer and the candidates), the bridge
//! itself, or what the engine does when a browser drops (put the caller
//! back at the head of the queue, play a message).
//!
//! Must never: read the clock, touch a socket, panic on anything the
//! browser sends (SDP, candidates, datagrams), or transcode: the payload
//! bytes pass through untouched in both directions.
//!
//! ## Run-loop contract
//! Either the browser offers ([`SoftphoneLeg::accept_offer`] returns our
//! answer) or the engine does ([`SoftphoneLeg::create_offer`], then
//! [`SoftphoneLeg::accept_answer`]); both SDPs carry the engine's
//! candidates, the browser's may trickle in.
//!
//! After every input ([`SoftphoneLeg::accept_offer`], `create_offer`,
//! `accept_answer`,
//! [`SoftphoneLeg::add_remote_candidate`], [`SoftphoneLeg::handle_datagram`],
//! [`SoftphoneLeg::handle_timeout`], [`SoftphoneLeg::send_rtp`],
//! [`SoftphoneLeg::close`]) the shell drains [`SoftphoneLeg::poll_transmit`]
//! (send each datagram from the socket bound to its `from`),
//! [`SoftphoneLeg::poll_rtp`] (hand each to the bridge's leg B) and
//! [`SoftphoneLeg::poll_event`] until each returns `None`, then sleeps until
//! [`SoftphoneLeg::poll_timeout`] and calls `handle_timeout(now)` then.
//! (str0m's own rule, "drain every output after each mutation", is kept
//! inside the leg: each input drains str0m into the leg's queues.)
//!
//! ## Invariants
//! - Once [`SoftphoneEvent::Failed`] is emitted the leg is dead: inputs are
//!   ignored, nothing more is transmitted, `poll_timeout` is `None`.
//! - Exactly one `Failed` per leg, and only after `accept_offer` succeeded.
//! - RTP handed to the bridge is plain RFC 3550 (12-byte header, no
//!   extensions, no CSRC) carrying the browser's SSRC, sequence and
//!   timestamp; the bridge re-stamps it like any SIP phone's.

mod config;
mod leg;
mod offer;
mod rtp;
#[cfg(test)]
mod tests;

pub use config::{IceServer, MappedAddress, SoftphoneConfig};
pub use leg::{FailReason, Negotiated, SoftphoneCounters, SoftphoneEvent, SoftphoneLeg, Transmit};
pub use offer::OfferError;

/// What can go wrong when driving a leg. Network input never yields an
/// error (bad datagrams are counted in [`SoftphoneCounters`]); these come
/// from signalling and from the engine's own calls.
#[derive(Debug, thiserror::Error)]
pub enum SoftphoneError {
    #[error("the SDP has no usable audio: {0}")]
    Offer(#[from] OfferError),
    #[error("the WebRTC engine refused the offer: {0}")]
    Rejected(String),
    #[error("the remote ICE candidate cannot be parsed: {0}")]
    BadCandidate(String),
    #[error("host candidate {addr} is not usable: {reason}")]
    BadLocalCandidate { addr: std::net::SocketAddr, reason: String },
    #[error("no host candidate configured: the browser would have nothing to reach")]
    NoHostCandidate,
    #[error("no codec configured: the answer needs PCMU or PCMA")]
    NoCodec,
    #[error("no offer has been accepted yet")]
    NotNegotiated,
    #[error("the bridge's RTP datagram is malformed: {0}")]
    BadRtp(#[from] ivr_media::rtp::RtpError),
    #[error("payload type {0} is neither the negotiated codec nor telephone-event")]
    UnknownPayloadType(u8),
}
