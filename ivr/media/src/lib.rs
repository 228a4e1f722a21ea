//! # ivr-media: the sans-IO media core of the 012 IVR
//!
//! Owns everything that happens to a call's audio once SIP has set it up:
//! SDP offer/answer ([`sdp`]), RTP and RTCP packets ([`rtp`], [`rtcp`]), the
//! per-call RTP stream with its 20 ms send grid, symmetric-RTP latching,
//! loss/jitter statistics and media timeout ([`session`]), G.711 ([`g711`]),
//! DTMF by RFC 4733, SIP INFO and in-band tones ([`dtmf`]), prompts encoded
//! once and shared by all calls ([`prompt`]), the per-call composite that
//! ties them together ([`call`]), the message recorder ([`recorder`]) and
//! the B2BUA's two-leg media bridge ([`bridge`]).
//!
//! ## What it must never do
//! No sockets, no files, no threads, no clock reads, no tokio. Every input
//! carries `now: Instant`; every output is returned to the caller, who owns
//! the sockets (the `ivr` server's media loop). Randomness (SSRC, sequence and
//! timestamp bases) comes from a seeded [`fastrand::Rng`] handed in by the
//! caller, so transcripts are reproducible.
//!
//! ## Run-loop contract
//! [`call::MediaCall`]: after every input (`handle_*`, a command such as
//! `play`), the shell drains `poll_transmit` and `poll_event` until they
//! return `None`, then sleeps until `poll_timeout()` (or until a datagram
//! arrives) and calls `handle_timeout(now)`.
//! [`bridge::Bridge`] (two legs of a B2BUA call, plus an optional
//! supervisor): the same contract, each datagram sent from the sockets of
//! the [`bridge::Endpoint`] that `poll_transmit` names.
//! [`session::RtpSession`] (used by both): drain `poll_rtp` and
//! `poll_rtcp` until `None`, then wait for `poll_timeout()`.
//! [`recorder::Recorder`] is driven by `MediaCall` (`start_recording`).
//!
//! ## Invariants
//! Nothing from the network panics: malformed RTP, RTCP or SDP is a typed
//! error. The send grid never drifts: packet `n` is due at `start + n * ptime`
//! whatever the lateness of earlier wake-ups.

pub mod bridge;
pub mod call;
pub mod dtmf;
pub mod g711;
pub mod prompt;
pub mod recorder;
pub mod rtcp;
pub mod rtp;
pub mod sdp;
pub mod session;

/// The audio codecs the line speaks: G.711 in both laws (RFC 3551 static
/// payload types 0 and 8, 8 kHz, one byte per sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    Pcmu,
    Pcma,
}

impl Codec {
    pub const SAMPLE_RATE: u32 = 8000;

    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    /// The encoding name used in SDP `a=rtpmap` (RFC 3551 table 4).
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The byte that encodes silence (linear 0) in this law.
    pub fn silence_byte(self) -> u8 {
        match self {
            Codec::Pcmu => 0xFF,
            Codec::Pcma => 0xD5,
        }
    }
}
