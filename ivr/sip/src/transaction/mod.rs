//! RFC 3261 section 17 transactions, as four sans-IO state machines.
//!
//! Each machine owns its timers in a [`TimerTable`] indexed by [`Timer`] (the RFC names) and
//! answers every input with a list of [`TxAction`]s; the user agent sends the bytes to the
//! transaction's peer and hands responses to the dialog layer. RFC 6026 is applied: a 2xx moves
//! INVITE transactions to `Accepted` (Timers L and M) instead of destroying them, so 2xx
//! retransmissions and INVITE retransmissions are absorbed rather than treated as new.

mod invite_client;
mod invite_server;
mod non_invite_client;
mod non_invite_server;

pub use invite_client::{InviteClient, InviteClientState};
pub use invite_server::{InviteServer, InviteServerState};
pub use non_invite_client::{NonInviteClient, NonInviteClientState};
pub use non_invite_server::{NonInviteServer, NonInviteServerState};

use std::time::{Duration, Instant};

use crate::message::Message;

/// Transaction timers by their RFC 3261 / RFC 6026 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Timer {
    /// INVITE client: request retransmission (unreliable transports), doubling.
    A,
    /// INVITE client: transaction timeout, 64*T1.
    B,
    /// INVITE client: wait for response retransmissions in Completed.
    D,
    /// Non-INVITE client: request retransmission, doubling up to T2.
    E,
    /// Non-INVITE client: transaction timeout, 64*T1.
    F,
    /// INVITE server: final response retransmission, doubling up to T2.
    G,
    /// INVITE server: wait for ACK, 64*T1.
    H,
    /// INVITE server: absorb ACK retransmissions in Confirmed, T4.
    I,
    /// Non-INVITE server: absorb request retransmissions in Completed, 64*T1.
    J,
    /// Non-INVITE client: absorb response retransmissions in Completed, T4.
    K,
    /// INVITE server (RFC 6026): stay in Accepted for 64*T1.
    L,
    /// INVITE client (RFC 6026): stay in Accepted for 64*T1 to catch 2xx retransmissions.
    M,
}

const TIMER_COUNT: usize = 12;

impl Timer {
    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines of one transaction's timers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TimerTable {
    deadlines: [Option<Instant>; TIMER_COUNT],
}

impl TimerTable {
    pub fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
    }

    pub fn clear(&mut self, timer: Timer) {
        self.deadlines[timer.index()] = None;
    }

    pub fn clear_all(&mut self) {
        self.deadlines = [None; TIMER_COUNT];
    }

    pub fn deadline(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    pub fn next(&self) -> Option<Instant> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Removes and returns the earliest timer due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        const ALL: [Timer; TIMER_COUNT] = [
            Timer::A,
            Timer::B,
            Timer::D,
            Timer::E,
            Timer::F,
            Timer::G,
            Timer::H,
            Timer::I,
            Timer::J,
            Timer::K,
            Timer::L,
            Timer::M,
        ];
        let timer = ALL
            .into_iter()
            .filter(|t| self.deadline(*t).is_some_and(|at| at <= now))
            .min_by_key(|t| self.deadline(*t))?;
        self.clear(timer);
        Some(timer)
    }
}

/// The RFC 3261 timer values, and whether the transport is reliable (TCP: no retransmissions and
/// zero-length D, I, J, K waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    pub t1: Duration,
    pub t2: Duration,
    pub t4: Duration,
    pub reliable: bool,
}

impl TimerConfig {
    pub fn rfc3261(reliable: bool) -> Self {
        TimerConfig {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            reliable,
        }
    }

    /// 64*T1: Timers B, F, H, J (unreliable), L, M.
    pub fn timeout(&self) -> Duration {
        self.t1 * 64
    }

    /// A wait that is zero on reliable transports (Timers D, I, J, K).
    fn unreliable_wait(&self, d: Duration) -> Duration {
        if self.reliable { Duration::ZERO } else { d }
    }
}

/// What a transaction asks of the user agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxAction {
    /// Send these bytes to the transaction's peer.
    Transmit(Vec<u8>),
    /// A response for the transaction user (client transactions).
    Response(Box<Message>),
    /// Timer B, F (no final response) or H (no ACK) fired.
    TimedOut,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timer_table_pops_due_timers_earliest_first_and_reports_the_next_deadline() {
        let t0 = Instant::now();
        let mut table = TimerTable::default();
        table.set(Timer::B, t0 + Duration::from_secs(32));
        table.set(Timer::A, t0 + Duration::from_millis(500));
        table.set(Timer::D, t0 + Duration::from_millis(100));
        assert_eq!(table.next(), Some(t0 + Duration::from_millis(100)));
        assert_eq!(table.pop_due(t0), None);
        let now = t0 + Duration::from_secs(1);
        assert_eq!(table.pop_due(now), Some(Timer::D));
        assert_eq!(table.pop_due(now), Some(Timer::A));
        assert_eq!(table.pop_due(now), None);
        table.clear(Timer::B);
        assert_eq!(table.next(), None);
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use std::net::SocketAddr;

    use crate::Transport;
    use crate::message::{Message, Method, OutRequest, parse};

    pub fn invite_request() -> OutRequest {
        OutRequest {
            method: Method::Invite,
            uri: "sip:012@ivr.example".into(),
            transport: Transport::Udp,
            local_addr: SocketAddr::from(([192, 0, 2, 1], 5060)),
            branch: "z9hG4bKict".into(),
            from: "<sip:anna@example.com>;tag=f1".into(),
            to: "<sip:012@ivr.example>".into(),
            call_id: "c1".into(),
            cseq: 1,
            contact: Some("<sip:anna@192.0.2.1>".into()),
            routes: Vec::new(),
            extra: Vec::new(),
            content_type: None,
            body: Vec::new(),
        }
    }

    pub fn response_to(status: u16, to_tag: Option<&str>) -> Message {
        let req = parse(&invite_request().to_bytes()).expect("our INVITE parses");
        let bytes = crate::message::build_response(&req, None, status, to_tag, &[], None);
        parse(&bytes).expect("our response parses")
    }
}
