//! # loadtest: measuring the 012 IVR from the outside
//!
//! Owns the tools that judge the server as a peer would: reading `tcpdump`
//! captures ([`pcap`]), grouping and analysing RTP streams ([`rtp`]: loss,
//! duplicates, RFC 3550 jitter, deviation from the 20 ms send grid),
//! checking what a caller heard ([`audio`]: level, and whether a recording
//! contains a prompt), and generating the RTP captures SIPp replays
//! ([`generate`]: G.711 from a WAV, in-band DTMF tones, RFC 4733 events).
//!
//! It also owns the traffic model of the line ([`traffic`]: profiles and
//! caller journeys), the queueing formulas used for sizing ([`erlang`]), and
//! the simulated year ([`sim`]): the real dialplan interpreter, ACD and
//! store driven on a simulated clock, with no sockets.
//!
//! ## Invariants
//! The media oracles are independent of the server's media crate on purpose
//! ([`g711`] is its own implementation): a test oracle that shared the
//! server's codec would agree with its bugs. The simulated year, by
//! contrast, must run the server's own dialplan, ACD and store cores: it
//! measures them. Nothing here panics on a malformed capture.

pub mod audio;
pub mod erlang;
pub mod g711;
pub mod generate;
pub mod live;
pub mod pcap;
pub mod rtp;
pub mod sim;
pub mod traffic;
