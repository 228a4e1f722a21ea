//! `ivr-sip`: a sans-IO SIP user agent core for the 012 IVR (RFC 3261 transactions and dialogs,
//! RFC 6026, RFC 3581 symmetric response routing).
//!
//! # What this crate owns
//! Parsing and printing SIP messages (over `rsipstack::sip`, see `docs/adr/0001-sip-stack.md`),
//! the four RFC 3261 section 17 transaction machines and their timers, and the dialogs of calls
//! ("legs") as the IVR sees them: incoming calls it answers or rejects and outgoing calls it
//! places. It speaks to the application in [`LegId`]s and [`CallEvent`]s.
//!
//! # What it must never do
//! No IO, no sockets, no threads, no async, no clock reads (`Instant::now` appears only in
//! tests), no global state. Randomness (tags, branches, Call-IDs) comes only from the
//! `fastrand::Rng` handed to [`UserAgent::new`], so a seeded run is reproducible. No byte from the
//! network may reach a panic: malformed input is answered with 400 when it can be addressed and
//! dropped (and counted in [`UaStats`]) otherwise.
//!
//! # Run-loop contract
//! The shell owns the sockets and the clock and, for every input:
//! 1. calls one of [`UserAgent::handle_datagram`] (one whole SIP message; for TCP use one
//!    [`framing::StreamFramer`] per connection first), [`UserAgent::handle_timeout`] or a command
//!    ([`UserAgent::answer`], [`UserAgent::invite`], ...), passing the current `now`;
//! 2. drains [`UserAgent::poll_output`] until it returns `None`, sending each
//!    [`Output::Transmit`] on the named transport to `to` and acting on each [`Output::Event`];
//! 3. asks [`UserAgent::poll_timeout`] for the next deadline and waits for a datagram or that
//!    deadline, whichever comes first (a deadline in the past means "call `handle_timeout` now";
//!    an early wake-up is harmless).
//!
//! Commands on a leg that no longer exists, or in a state where they make no sense (answering a
//! call the caller already cancelled), are ignored: such races are normal and the leg's terminal
//! event is already queued.
//!
//! # Invariants
//! - Every leg produces exactly one terminal event: [`CallEvent::Terminated`],
//!   [`CallEvent::Cancelled`] (incoming call cancelled before answer) or [`CallEvent::Failed`]
//!   (outgoing call got a final failure). After it, the leg id is never used again.
//! - Responses go to the source address and port of the request (RFC 3581), whatever its Via
//!   says. Requests inside a dialog go to the address the dialog was established with: the
//!   source address of the initial INVITE (incoming calls) or `to_addr` (outgoing calls); the
//!   remote Contact is used only as the Request-URI. This is robust behind NAT and SBCs.
//!
//! # Registrar
//! A [`Registrar`] (RFC 3261 10.3 with RFC 7616 Digest authentication, module [`registrar`],
//! digest in [`auth`]) can be attached with [`UserAgent::set_registrar`]: it answers REGISTER and
//! knows where each operator phone is reachable ([`Binding::invite`]). Behaviour, configuration
//! and security notes: `docs/registrar.md`.
//!
//! # Transfers (REFER)
//! An in-dialog REFER is checked (RFC 3515 2.4.2: 400 without exactly one Refer-To, 481 on an
//! unknown dialog or outside one, 491 while an earlier one is unfinished) and surfaced as
//! [`CallEvent::Refer`]; the application answers with [`UserAgent::accept_refer`] /
//! [`UserAgent::notify_refer`] or [`UserAgent::reject_refer`]. We never send REFER ourselves.
//!
//! # INFO
//! An in-dialog INFO we receive is answered 200 and surfaced as [`CallEvent::Info`] (the body
//! as sent). [`UserAgent::info`] sends one on a confirmed leg (RFC 6086 legacy usage, e.g. an
//! `application/dtmf-relay` key) as a non-INVITE client transaction; its outcome is
//! [`CallEvent::InfoResult`].
//!
//! # Known limits
//! No PRACK/100rel, session timers, UPDATE, out-of-dialog REFER or SUBSCRIBE (incoming NOTIFY
//! gets 405), authentication of our own requests, or DNS (the
//! shell gives socket addresses). Registrations live in memory only; no RFC 5626 outbound,
//! GRUU or Path. Forked 2xx from several remote tags are not ACKed/BYEd beyond the first. The ACK
//! of a re-INVITE we answered raises no event (an answer carried in that ACK is not surfaced).
//! Server transactions match on branch and method only (not sent-by).

pub mod auth;
pub mod framing;
pub mod message;
pub mod registrar;
pub mod transaction;
mod ua;

use std::net::SocketAddr;
use std::time::Duration;

pub use registrar::{Binding, Registrar, RegistrarConfig, RegistrationEvent};
pub use ua::UserAgent;

/// The transport a message arrived on or must leave on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Udp,
    Tcp,
}

impl Transport {
    pub fn via_name(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
        }
    }

    pub fn is_reliable(self) -> bool {
        self == Transport::Tcp
    }
}

/// A call leg (one dialog, or one dialog-to-be) of this user agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LegId(pub u32);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UaConfig {
    /// Advertised in Via and Contact.
    pub local_addr: SocketAddr,
    /// Sent as User-Agent (requests) and Server (responses).
    pub user_agent: String,
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    /// When false, new INVITEs are answered 503 with Retry-After (graceful shutdown).
    pub accepting_calls: bool,
    /// Larger datagrams are dropped (and counted).
    pub max_message_size: usize,
}

impl UaConfig {
    /// RFC 3261 timer defaults (T1 500 ms, T2 4 s, T4 5 s), accepting calls, 64 KiB messages.
    pub fn new(local_addr: SocketAddr) -> Self {
        UaConfig {
            local_addr,
            user_agent: "ivr-012".to_string(),
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            accepting_calls: true,
            max_message_size: 65_535,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub transport: Transport,
    pub to: SocketAddr,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Transmit(Transmit),
    Event(CallEvent),
}

/// Facts about calls, in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// A new INVITE; 100 Trying is already sent. Answer with `ringing`/`answer`/`reject`.
    Incoming {
        leg: LegId,
        request_uri: String,
        from_uri: String,
        to_uri: String,
        remote: SocketAddr,
        transport: Transport,
        sdp: Option<Vec<u8>>,
    },
    /// The ACK for our 2xx arrived (carries the answer when the INVITE had no offer).
    Confirmed { leg: LegId, ack_sdp: Option<Vec<u8>> },
    /// The caller cancelled before we answered: 200 to CANCEL and 487 to INVITE are sent.
    Cancelled { leg: LegId },
    /// An in-dialog re-INVITE; reply with `answer_reinvite` or `reject_reinvite`.
    ReInvite { leg: LegId, sdp: Option<Vec<u8>> },
    /// In-dialog INFO (e.g. application/dtmf-relay), already answered 200.
    Info {
        leg: LegId,
        content_type: String,
        body: Vec<u8>,
    },
    /// The leg is over.
    Terminated { leg: LegId, reason: TerminationReason },
    /// Outgoing call: a provisional response other than 100.
    Progress {
        leg: LegId,
        status: u16,
        sdp: Option<Vec<u8>>,
    },
    /// Outgoing call: 2xx received and ACKed (unless the INVITE had no offer: then call
    /// `acknowledge` with the answer).
    Answered { leg: LegId, sdp: Option<Vec<u8>> },
    /// Outgoing call: final failure response (terminal).
    Failed { leg: LegId, status: u16 },
    /// Outcome of our re-INVITE (`reinvite`): 2xx (already ACKed) or a failure; the call stays.
    ReInviteResult {
        leg: LegId,
        status: u16,
        sdp: Option<Vec<u8>>,
    },
    /// Outcome of our INFO ([`UserAgent::info`]): its final status (2xx: delivered), or 408 when
    /// no final response came in time (Timer F, RFC 3261 8.1.3.1). The call stays either way;
    /// none comes after the leg's terminal event.
    InfoResult { leg: LegId, status: u16 },
    /// An in-dialog REFER (RFC 3515) on a confirmed leg, either role (e.g. an operator's phone
    /// transferring the call it took from us): exactly one Refer-To, its URI as sent (with any
    /// `?headers`). Answer with [`UserAgent::accept_refer`] (then
    /// [`UserAgent::notify_refer`] with the outcome) or [`UserAgent::reject_refer`]. The call
    /// itself goes on: RFC 5589 has the transferor send BYE once told of the outcome.
    Refer {
        leg: LegId,
        refer_to: String,
        /// The Referred-By URI, when the REFER has one (RFC 3892).
        referred_by: Option<String>,
    },
    /// From the registrar (see [`UserAgent::set_registrar`]): a phone became reachable, was
    /// unregistered or expired, or a source failed authentication. Not about a leg.
    Registration(RegistrationEvent),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationReason {
    /// The peer sent BYE (answered 200).
    ByeReceived,
    /// Our BYE completed or timed out (Timer F).
    ByeSent,
    /// No ACK for our 2xx within 64*T1: we sent BYE.
    AckTimeout,
    /// Timer B: no final response to our INVITE.
    TransactionTimeout,
    /// We rejected the incoming call with this status.
    Rejected { status: u16 },
}

/// Counters of inputs that produced no call activity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UaStats {
    pub malformed_answered: u64,
    pub malformed_dropped: u64,
    pub oversize_dropped: u64,
    pub stray_responses: u64,
}

/// An outgoing call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingInvite {
    pub to_addr: SocketAddr,
    pub transport: Transport,
    pub request_uri: String,
    pub from_uri: String,
    pub to_uri: String,
    pub sdp: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SipError {
    #[error("{field} is not a sip:, sips: or tel: URI")]
    UnsupportedUri { field: &'static str },
    #[error("{field} is not a valid URI for a Request-URI or header")]
    UnsafeUri { field: &'static str },
    #[error("leg {0:?} does not exist")]
    UnknownLeg(LegId),
    #[error("leg {leg:?} cannot {command} in its current state")]
    InvalidState { leg: LegId, command: &'static str },
    #[error("a Content-Type must be non-empty and free of control characters")]
    InvalidContentType,
}
