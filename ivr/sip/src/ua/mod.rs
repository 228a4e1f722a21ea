//! The user agent: transaction bookkeeping, the timer heap and input dispatch. Incoming-call
//! (UAS) behaviour lives in `uas.rs`, outgoing-call (UAC) behaviour in `uac.rs`, REFER received
//! in `refer.rs`, INFO sent in `info.rs`.

mod info;
mod refer;
mod uac;
mod uas;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::message::{self, Message, Method, StartLine};
use crate::transaction::{
    InviteClient, InviteServer, InviteServerState, NonInviteClient, NonInviteServer, TimerConfig,
    TxAction,
};
use crate::registrar::Registrar;
use crate::{CallEvent, LegId, Output, Transmit, Transport, UaConfig, UaStats};

/// Retry-After (seconds) on the 503 sent while not accepting calls.
const SHUTDOWN_RETRY_AFTER_SECS: u32 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct TxId(u32);

/// RFC 3261 17.1.3 / 17.2.3 matching key: top Via branch plus method (ACK counts as INVITE).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TxKey {
    branch: String,
    method: Method,
    server: bool,
}

#[derive(Debug)]
enum TxKind {
    InviteClient(InviteClient),
    NonInviteClient(NonInviteClient),
    InviteServer(InviteServer),
    NonInviteServer(NonInviteServer),
}

impl TxKind {
    fn next_deadline(&self) -> Option<Instant> {
        match self {
            TxKind::InviteClient(t) => t.next_deadline(),
            TxKind::NonInviteClient(t) => t.next_deadline(),
            TxKind::InviteServer(t) => t.next_deadline(),
            TxKind::NonInviteServer(t) => t.next_deadline(),
        }
    }

    fn is_terminated(&self) -> bool {
        match self {
            TxKind::InviteClient(t) => t.is_terminated(),
            TxKind::NonInviteClient(t) => t.is_terminated(),
            TxKind::InviteServer(t) => t.is_terminated(),
            TxKind::NonInviteServer(t) => t.is_terminated(),
        }
    }

    fn on_timeout(&mut self, now: Instant) -> Vec<TxAction> {
        match self {
            TxKind::InviteClient(t) => t.on_timeout(now),
            TxKind::NonInviteClient(t) => t.on_timeout(now),
            TxKind::InviteServer(t) => t.on_timeout(now),
            TxKind::NonInviteServer(t) => t.on_timeout(now),
        }
    }
}

/// Why a client transaction was started: decides what its responses mean to the leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TxPurpose {
    Invite,
    ReInvite,
    Bye,
    Cancel,
    /// Our INFO: its outcome is [`CallEvent::InfoResult`].
    Info,
    /// Server transactions and requests whose outcome does not matter to the leg.
    Other,
}

#[derive(Debug)]
struct TxEntry {
    kind: TxKind,
    key: TxKey,
    transport: Transport,
    peer: SocketAddr,
    leg: Option<LegId>,
    purpose: TxPurpose,
    scheduled: Option<Instant>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Uas,
    Uac,
}

/// Dialog state of a leg (RFC 3261 12, with the UAS's wait for ACK made explicit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LegState {
    /// Before a 2xx: the INVITE transaction is in progress.
    Early,
    /// UAS: 2xx sent, retransmitting it until the ACK.
    AwaitingAck,
    Confirmed,
    /// Our BYE is in flight.
    Terminating,
}

/// A 2xx we retransmit until its ACK (RFC 3261 13.3.1.4).
#[derive(Debug)]
struct Pending2xx {
    bytes: Vec<u8>,
    cseq: u32,
    interval: Duration,
    retransmit_at: Option<Instant>,
    give_up_at: Instant,
}

#[derive(Debug)]
struct Leg {
    role: Role,
    state: LegState,
    transport: Transport,
    peer: SocketAddr,
    call_id: String,
    local_tag: String,
    remote_tag: Option<String>,
    /// Our From value (with tag) for requests we send in this dialog.
    local_party: String,
    /// Their To value for requests we send (with their tag once known).
    remote_party: String,
    /// Request-URI of in-dialog requests: the remote Contact.
    remote_target: String,
    routes: Vec<String>,
    local_cseq: u32,
    remote_cseq: Option<u32>,
    invite_tx: Option<TxId>,
    /// UAS: the initial INVITE, to build responses to it.
    invite: Option<Message>,
    pending_2xx: Option<Pending2xx>,
    /// UAS: an incoming re-INVITE waiting for the application.
    reinvite_in: Option<(TxId, Message)>,
    /// UAC: our re-INVITE in flight.
    reinvite_out: Option<TxId>,
    /// UAC: the ACK we sent for a 2xx, with the CSeq it acknowledges (re-sent on retransmission).
    ack: Option<(u32, Vec<u8>)>,
    /// UAC: the INVITE carried no offer; the application supplies the ACK's answer.
    ack_needs_sdp: bool,
    provisional_seen: bool,
    cancel_sent: bool,
    hangup_requested: bool,
    terminal_reported: bool,
    /// An incoming REFER (RFC 3515) waiting for the application, or the subscription it made.
    refer: Option<refer::ReferIn>,
    /// `hangup_after`: when the user agent ends the call by itself.
    hangup_at: Option<Instant>,
    scheduled: Option<Instant>,
}

impl Leg {
    fn next_deadline(&self) -> Option<Instant> {
        let retransmit = self
            .pending_2xx
            .as_ref()
            .map(|p| p.retransmit_at.map_or(p.give_up_at, |r| r.min(p.give_up_at)));
        [retransmit, self.hangup_at].into_iter().flatten().min()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerOwner {
    Tx(TxId),
    Leg(LegId),
}

/// The SIP user agent. See the crate documentation for the run-loop contract.
pub struct UserAgent {
    config: UaConfig,
    rng: fastrand::Rng,
    next_tx: u32,
    next_leg: u32,
    txs: HashMap<TxId, TxEntry>,
    tx_index: HashMap<TxKey, TxId>,
    legs: HashMap<LegId, Leg>,
    /// (Call-ID, local tag) -> leg.
    dialogs: HashMap<(String, String), LegId>,
    /// Deadlines with lazy deletion: an entry is live only if its owner's `scheduled` matches.
    timers: BinaryHeap<Reverse<(Instant, TimerOwner)>>,
    outputs: VecDeque<Output>,
    stats: UaStats,
    /// Answers REGISTER when set; otherwise REGISTER gets 405.
    registrar: Option<Registrar>,
}

impl UserAgent {
    pub fn new(config: UaConfig, rng: fastrand::Rng) -> Self {
        UserAgent {
            config,
            rng,
            next_tx: 0,
            next_leg: 0,
            txs: HashMap::new(),
            tx_index: HashMap::new(),
            legs: HashMap::new(),
            dialogs: HashMap::new(),
            timers: BinaryHeap::new(),
            outputs: VecDeque::new(),
            stats: UaStats::default(),
            registrar: None,
        }
    }

    /// One complete SIP message received from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        transport: Transport,
        from: SocketAddr,
        bytes: &[u8],
    ) {
        if bytes.len() > self.config.max_message_size {
            self.stats.oversize_dropped += 1;
            return;
        }
        // CRLF keep-alives (RFC 5626 3.5.1) carry no message.
        if bytes.iter().all(|b| matches!(b, b'\r' | b'\n' | b' ' | b'\t')) {
            return;
        }
        match message::parse(bytes) {
            Ok(msg) => match msg.start {
                StartLine::Request { .. } => self.on_request(now, transport, from, msg),
                StartLine::Response { .. } => self.on_response(now, msg),
            },
            Err(rejected) => match rejected.reply {
                Some(reply) => {
                    self.stats.malformed_answered += 1;
                    self.transmit(transport, from, reply);
                }
                None => self.stats.malformed_dropped += 1,
            },
        }
        self.prune_timers();
    }

    /// Fires every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, owner))) = self.timers.peek().copied() {
            if at > now {
                break;
            }
            self.timers.pop();
            match owner {
                TimerOwner::Tx(id) => {
                    let Some(entry) = self.txs.get_mut(&id) else { continue };
                    if entry.scheduled != Some(at) {
                        continue;
                    }
                    entry.scheduled = None;
                    self.drive_tx(now, id, |kind| kind.on_timeout(now));
                }
                TimerOwner::Leg(id) => {
                    let Some(leg) = self.legs.get_mut(&id) else { continue };
                    if leg.scheduled != Some(at) {
                        continue;
                    }
                    leg.scheduled = None;
                    self.on_leg_timeout(now, id);
                }
            }
        }
        if let Some(registrar) = self.registrar.as_mut()
            && registrar.poll_timeout().is_some_and(|at| at <= now)
        {
            registrar.handle_timeout(now);
            self.drain_registrar_events();
        }
        self.prune_timers();
    }

    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next deadline; cheap (a heap peek, and the registrar's first expiry).
    pub fn poll_timeout(&self) -> Option<Instant> {
        let registrar = self.registrar.as_ref().and_then(Registrar::poll_timeout);
        let ours = self.timers.peek().map(|Reverse((at, _))| *at);
        [ours, registrar].into_iter().flatten().min()
    }

    /// Makes this user agent a registrar: out-of-dialog REGISTER requests are answered by it
    /// (through non-INVITE server transactions) and its events come out as
    /// [`CallEvent::Registration`]. Replaces (and drops the bindings of) any earlier one.
    pub fn set_registrar(&mut self, registrar: Registrar) {
        self.registrar = Some(registrar);
    }

    /// The registrar, for `lookup` of operator phones.
    pub fn registrar(&self) -> Option<&Registrar> {
        self.registrar.as_ref()
    }

    /// The registrar, to change its credentials while running.
    pub fn registrar_mut(&mut self) -> Option<&mut Registrar> {
        self.registrar.as_mut()
    }

    /// When false, new INVITEs get 503 with Retry-After; existing calls continue.
    pub fn set_accepting_calls(&mut self, accepting: bool) {
        self.config.accepting_calls = accepting;
    }

    /// Legs still held: calls in progress plus ended calls whose BYE is still in flight (so
    /// zero means the SIP side has nothing left to finish).
    pub fn leg_count(&self) -> usize {
        self.legs.len()
    }

    /// Live transactions (for metrics and leak tests).
    pub fn transaction_count(&self) -> usize {
        self.txs.len()
    }

    pub fn stats(&self) -> UaStats {
        self.stats
    }

    // ---- plumbing shared by uas.rs and uac.rs ----

    fn timer_config(&self, transport: Transport) -> TimerConfig {
        TimerConfig {
            t1: self.config.t1,
            t2: self.config.t2,
            t4: self.config.t4,
            reliable: transport.is_reliable(),
        }
    }

    fn token(&mut self, len: usize) -> String {
        (0..len).map(|_| self.rng.alphanumeric()).collect()
    }

    fn new_branch(&mut self) -> String {
        // RFC 3261 8.1.1.7: the magic cookie marks RFC 3261 branches.
        format!("z9hG4bK{}", self.token(16))
    }

    fn contact(&self, transport: Transport) -> String {
        let hp = message::host_port(self.config.local_addr);
        match transport {
            Transport::Udp => format!("<sip:ivr@{hp}>"),
            Transport::Tcp => format!("<sip:ivr@{hp};transport=tcp>"),
        }
    }

    fn transmit(&mut self, transport: Transport, to: SocketAddr, bytes: Vec<u8>) {
        self.outputs.push_back(Output::Transmit(Transmit {
            transport,
            to,
            bytes,
        }));
    }

    fn emit(&mut self, event: CallEvent) {
        self.outputs.push_back(Output::Event(event));
    }

    fn drain_registrar_events(&mut self) {
        while let Some(event) = self.registrar.as_mut().and_then(Registrar::poll_event) {
            self.emit(CallEvent::Registration(event));
        }
    }

    fn add_tx(
        &mut self,
        kind: TxKind,
        key: TxKey,
        transport: Transport,
        peer: SocketAddr,
        leg: Option<LegId>,
        purpose: TxPurpose,
    ) -> TxId {
        let id = TxId(self.next_tx);
        self.next_tx = self.next_tx.wrapping_add(1);
        self.tx_index.insert(key.clone(), id);
        self.txs.insert(
            id,
            TxEntry {
                kind,
                key,
                transport,
                peer,
                leg,
                purpose,
                scheduled: None,
            },
        );
        id
    }

    /// Runs `f` on a transaction, carries out its actions and reschedules or removes it.
    fn drive_tx(&mut self, now: Instant, id: TxId, f: impl FnOnce(&mut TxKind) -> Vec<TxAction>) {
        let Some(entry) = self.txs.get_mut(&id) else {
            return;
        };
        let actions = f(&mut entry.kind);
        let (transport, peer, leg, purpose) = (entry.transport, entry.peer, entry.leg, entry.purpose);
        self.refresh_tx(id);
        for action in actions {
            match action {
                TxAction::Transmit(bytes) => self.transmit(transport, peer, bytes),
                TxAction::Response(msg) => self.on_client_response(now, leg, purpose, *msg),
                TxAction::TimedOut => self.on_tx_timed_out(now, leg, purpose),
            }
        }
    }

    fn refresh_tx(&mut self, id: TxId) {
        let Some(entry) = self.txs.get_mut(&id) else {
            return;
        };
        if entry.kind.is_terminated() {
            if let Some(entry) = self.txs.remove(&id) {
                if self.tx_index.get(&entry.key) == Some(&id) {
                    self.tx_index.remove(&entry.key);
                }
            }
            return;
        }
        let next = entry.kind.next_deadline();
        if next != entry.scheduled {
            entry.scheduled = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, TimerOwner::Tx(id))));
            }
        }
    }

    fn refresh_leg(&mut self, id: LegId) {
        let Some(leg) = self.legs.get_mut(&id) else {
            return;
        };
        let next = leg.next_deadline();
        if next != leg.scheduled {
            leg.scheduled = next;
            if let Some(at) = next {
                self.timers.push(Reverse((at, TimerOwner::Leg(id))));
            }
        }
    }

    /// Drops stale heap entries at the top so that `poll_timeout` does not wake the shell early.
    fn prune_timers(&mut self) {
        while let Some(Reverse((at, owner))) = self.timers.peek().copied() {
            let live = match owner {
                TimerOwner::Tx(id) => self.txs.get(&id).is_some_and(|e| e.scheduled == Some(at)),
                TimerOwner::Leg(id) => self.legs.get(&id).is_some_and(|l| l.scheduled == Some(at)),
            };
            if live {
                break;
            }
            self.timers.pop();
        }
    }

    fn remove_leg(&mut self, id: LegId) {
        if let Some(leg) = self.legs.remove(&id) {
            self.dialogs.remove(&(leg.call_id, leg.local_tag));
        }
    }

    /// Emits the leg's terminal event unless one was already emitted, and forgets the leg.
    fn finish_leg(&mut self, id: LegId, event: CallEvent) {
        if let Some(leg) = self.legs.get(&id) {
            if !leg.terminal_reported {
                self.emit(event);
            }
        }
        self.remove_leg(id);
    }

    fn on_response(&mut self, now: Instant, msg: Message) {
        let key = TxKey {
            branch: msg.core.branch.clone(),
            method: msg.core.cseq_method.clone(),
            server: false,
        };
        let Some(&id) = self.tx_index.get(&key) else {
            // RFC 3261 18.1.2: responses matching no client transaction are discarded.
            self.stats.stray_responses += 1;
            return;
        };
        self.drive_tx(now, id, |kind| match kind {
            TxKind::InviteClient(t) => t.on_response(now, msg),
            TxKind::NonInviteClient(t) => t.on_response(now, msg),
            _ => Vec::new(),
        });
    }

    fn on_tx_timed_out(&mut self, now: Instant, leg: Option<LegId>, purpose: TxPurpose) {
        let Some(id) = leg else { return };
        match purpose {
            TxPurpose::Invite => self.on_invite_timed_out(id),
            TxPurpose::ReInvite => self.on_reinvite_result(now, id, 408, None),
            TxPurpose::Bye => self.finish_leg(
                id,
                CallEvent::Terminated {
                    leg: id,
                    reason: crate::TerminationReason::ByeSent,
                },
            ),
            TxPurpose::Info => self.on_info_result(id, None),
            TxPurpose::Cancel | TxPurpose::Other => {}
        }
    }

    fn ist_state(&self, id: TxId) -> Option<InviteServerState> {
        match self.txs.get(&id).map(|e| &e.kind) {
            Some(TxKind::InviteServer(t)) => Some(t.state()),
            _ => None,
        }
    }
}
