//! RFC 3261 17.1.1 INVITE client transaction, with RFC 6026's Accepted state.

use std::time::{Duration, Instant};

use super::{Timer, TimerConfig, TimerTable, TxAction};
use crate::message::{Message, OutRequest};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteClientState {
    Calling,
    Proceeding,
    /// RFC 6026: a 2xx was received; further 2xx are passed up until Timer M.
    Accepted,
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct InviteClient {
    state: InviteClientState,
    config: TimerConfig,
    request: OutRequest,
    bytes: Vec<u8>,
    ack: Option<Vec<u8>>,
    timers: TimerTable,
    a_interval: Duration,
}

impl InviteClient {
    /// Sends the INVITE and arms Timer A (unreliable only) and Timer B.
    pub fn start(now: Instant, request: OutRequest, config: TimerConfig) -> (Self, Vec<TxAction>) {
        let bytes = request.to_bytes();
        let mut timers = TimerTable::default();
        if !config.reliable {
            timers.set(Timer::A, now + config.t1);
        }
        timers.set(Timer::B, now + config.timeout());
        let tx = InviteClient {
            state: InviteClientState::Calling,
            config,
            request,
            bytes: bytes.clone(),
            ack: None,
            timers,
            a_interval: config.t1,
        };
        (tx, vec![TxAction::Transmit(bytes)])
    }

    pub fn state(&self) -> InviteClientState {
        self.state
    }

    pub fn request(&self) -> &OutRequest {
        &self.request
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteClientState::Terminated
    }

    pub fn on_response(&mut self, now: Instant, response: Message) -> Vec<TxAction> {
        use InviteClientState::*;
        let Some(status) = response.status() else {
            return Vec::new();
        };
        match (self.state, status) {
            (Calling | Proceeding, 100..=199) => {
                self.state = Proceeding;
                self.timers.clear(Timer::A);
                vec![TxAction::Response(Box::new(response))]
            }
            (Calling | Proceeding, 200..=299) => {
                self.state = Accepted;
                self.timers.clear_all();
                self.timers.set(Timer::M, now + self.config.timeout());
                vec![TxAction::Response(Box::new(response))]
            }
            // RFC 6026 7.2: 2xx retransmissions (or forks) go to the TU, which re-sends its ACK.
            (Accepted, 200..=299) => vec![TxAction::Response(Box::new(response))],
            (Calling | Proceeding, _) => {
                self.state = Completed;
                self.timers.clear_all();
                let wait = self.config.unreliable_wait(Duration::from_secs(32));
                self.timers.set(Timer::D, now + wait);
                let ack = self.request.ack_for_failure(&response.core.to).to_bytes();
                self.ack = Some(ack.clone());
                vec![
                    TxAction::Transmit(ack),
                    TxAction::Response(Box::new(response)),
                ]
            }
            // RFC 3261 17.1.1.2: a retransmitted final response is answered with the same ACK.
            (Completed, 300..=699) => self.ack.iter().cloned().map(TxAction::Transmit).collect(),
            _ => Vec::new(),
        }
    }

    pub fn on_timeout(&mut self, now: Instant) -> Vec<TxAction> {
        let mut actions = Vec::new();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::A => {
                    // RFC 3261 17.1.1.2: Timer A doubles without the T2 cap.
                    self.a_interval *= 2;
                    self.timers.set(Timer::A, now + self.a_interval);
                    actions.push(TxAction::Transmit(self.bytes.clone()));
                }
                Timer::B => {
                    self.terminate();
                    actions.push(TxAction::TimedOut);
                }
                Timer::D | Timer::M => self.terminate(),
                _ => {}
            }
        }
        actions
    }

    fn terminate(&mut self) {
        self.state = InviteClientState::Terminated;
        self.timers.clear_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::test_support::{invite_request, response_to};

    fn start(reliable: bool) -> (Instant, InviteClient) {
        let now = Instant::now();
        let (tx, actions) = InviteClient::start(now, invite_request(), TimerConfig::rfc3261(reliable));
        assert!(matches!(actions.as_slice(), [TxAction::Transmit(_)]));
        (now, tx)
    }

    #[test]
    fn timer_a_doubles_without_cap_until_timer_b() {
        let (t0, mut tx) = start(false);
        let mut sent_at = Vec::new();
        while let Some(at) = tx.next_deadline() {
            let now = at;
            for a in tx.on_timeout(now) {
                match a {
                    TxAction::Transmit(_) => sent_at.push((now - t0).as_millis()),
                    TxAction::TimedOut => assert_eq!((now - t0).as_secs(), 32),
                    TxAction::Response(_) => panic!("no response expected"),
                }
            }
        }
        assert_eq!(sent_at, vec![500, 1500, 3500, 7500, 15500, 31500]);
        assert_eq!(tx.state(), InviteClientState::Terminated);
    }

    #[test]
    fn reliable_transport_has_no_timer_a() {
        let (t0, tx) = start(true);
        assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(32)));
    }

    #[test]
    fn provisional_stops_retransmission_and_failure_is_acked_once_per_retransmission() {
        let (t0, mut tx) = start(false);
        let out = tx.on_response(t0, response_to(180, None));
        assert!(matches!(out.as_slice(), [TxAction::Response(_)]));
        assert_eq!(tx.state(), InviteClientState::Proceeding);
        assert_eq!(tx.timers.deadline(Timer::A), None);
        let out = tx.on_response(t0, response_to(486, Some("x")));
        let [TxAction::Transmit(ack), TxAction::Response(_)] = out.as_slice() else {
            panic!("ACK then response expected: {out:?}");
        };
        let ack = String::from_utf8(ack.clone()).expect("utf8");
        assert!(ack.starts_with("ACK sip:012@ivr.example SIP/2.0"));
        assert!(ack.contains("branch=z9hG4bKict"));
        assert!(ack.contains("CSeq: 1 ACK"));
        assert!(ack.contains(";tag=x"));
        assert_eq!(tx.state(), InviteClientState::Completed);
        let again = tx.on_response(t0, response_to(486, Some("x")));
        assert!(matches!(again.as_slice(), [TxAction::Transmit(_)]));
        assert!(tx.on_timeout(t0 + Duration::from_secs(32)).is_empty());
        assert!(tx.is_terminated());
    }

    #[test]
    fn two_hundred_enters_accepted_and_passes_retransmissions_up() {
        let (t0, mut tx) = start(false);
        tx.on_response(t0, response_to(200, Some("x")));
        assert_eq!(tx.state(), InviteClientState::Accepted);
        let again = tx.on_response(t0, response_to(200, Some("x")));
        assert!(matches!(again.as_slice(), [TxAction::Response(_)]));
        tx.on_timeout(t0 + Duration::from_secs(32));
        assert!(tx.is_terminated());
    }
}
