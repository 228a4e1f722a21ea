//! RFC 3261 17.2.1 INVITE server transaction, with RFC 6026's Accepted state.

use std::time::{Duration, Instant};

use super::{Timer, TimerConfig, TimerTable, TxAction};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InviteServerState {
    Proceeding,
    /// RFC 6026: a 2xx was sent; the UA core retransmits it until the ACK (a new transaction).
    Accepted,
    Completed,
    Confirmed,
    Terminated,
}

#[derive(Debug)]
pub struct InviteServer {
    state: InviteServerState,
    config: TimerConfig,
    last_response: Option<Vec<u8>>,
    timers: TimerTable,
    g_interval: Duration,
}

impl InviteServer {
    pub fn new(config: TimerConfig) -> Self {
        InviteServer {
            state: InviteServerState::Proceeding,
            config,
            last_response: None,
            timers: TimerTable::default(),
            g_interval: config.t1,
        }
    }

    pub fn state(&self) -> InviteServerState {
        self.state
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == InviteServerState::Terminated
    }

    /// The TU's response. Returns nothing when the state does not allow it (e.g. a second final).
    pub fn respond(&mut self, now: Instant, status: u16, bytes: Vec<u8>) -> Vec<TxAction> {
        use InviteServerState::*;
        match (self.state, status) {
            (Proceeding, 100..=199) => {
                self.last_response = Some(bytes.clone());
            }
            (Proceeding, 200..=299) => {
                self.state = Accepted;
                self.timers.set(Timer::L, now + self.config.timeout());
            }
            // RFC 6026 8.5: the TU's 2xx retransmissions pass through Accepted.
            (Accepted, 200..=299) => {}
            (Proceeding, 300..=699) => {
                self.state = Completed;
                self.last_response = Some(bytes.clone());
                if !self.config.reliable {
                    self.timers.set(Timer::G, now + self.config.t1);
                }
                self.timers.set(Timer::H, now + self.config.timeout());
            }
            _ => return Vec::new(),
        }
        vec![TxAction::Transmit(bytes)]
    }

    /// A retransmitted INVITE (`is_ack == false`) or the ACK for our non-2xx final response.
    pub fn on_request(&mut self, now: Instant, is_ack: bool) -> Vec<TxAction> {
        use InviteServerState::*;
        match (self.state, is_ack) {
            // RFC 3261 17.2.1: retransmissions get the most recent provisional or final response.
            (Proceeding | Completed, false) => {
                self.last_response.iter().cloned().map(TxAction::Transmit).collect()
            }
            (Completed, true) => {
                self.state = Confirmed;
                self.timers.clear_all();
                let wait = self.config.unreliable_wait(self.config.t4);
                self.timers.set(Timer::I, now + wait);
                Vec::new()
            }
            // Accepted (RFC 6026 8.7: absorbed) and Confirmed absorb everything.
            _ => Vec::new(),
        }
    }

    pub fn on_timeout(&mut self, now: Instant) -> Vec<TxAction> {
        let mut actions = Vec::new();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::G => {
                    // RFC 3261 17.2.1: Timer G doubles up to T2.
                    self.g_interval = (self.g_interval * 2).min(self.config.t2);
                    self.timers.set(Timer::G, now + self.g_interval);
                    actions.extend(self.last_response.iter().cloned().map(TxAction::Transmit));
                }
                Timer::H => {
                    self.terminate();
                    actions.push(TxAction::TimedOut);
                }
                Timer::I | Timer::L => self.terminate(),
                _ => {}
            }
        }
        actions
    }

    fn terminate(&mut self) {
        self.state = InviteServerState::Terminated;
        self.timers.clear_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transmits(actions: &[TxAction]) -> usize {
        actions.iter().filter(|a| matches!(a, TxAction::Transmit(_))).count()
    }

    #[test]
    fn retransmitted_invite_gets_last_provisional() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(TimerConfig::rfc3261(false));
        assert_eq!(tx.on_request(t0, false), vec![]);
        tx.respond(t0, 100, b"100".to_vec());
        tx.respond(t0, 180, b"180".to_vec());
        assert_eq!(tx.on_request(t0, false), vec![TxAction::Transmit(b"180".to_vec())]);
    }

    #[test]
    fn timer_g_doubles_up_to_t2_until_timer_h() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(TimerConfig::rfc3261(false));
        tx.respond(t0, 486, b"486".to_vec());
        assert_eq!(tx.state(), InviteServerState::Completed);
        let mut sent = Vec::new();
        let mut timed_out = false;
        while let Some(at) = tx.next_deadline() {
            let out = tx.on_timeout(at);
            timed_out |= out.contains(&TxAction::TimedOut);
            for _ in 0..transmits(&out) {
                sent.push((at - t0).as_millis());
            }
        }
        assert_eq!(&sent[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
        assert!(timed_out, "Timer H reports the missing ACK");
        assert!(tx.is_terminated());
    }

    #[test]
    fn ack_confirms_then_timer_i_terminates() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(TimerConfig::rfc3261(false));
        tx.respond(t0, 487, b"487".to_vec());
        assert_eq!(tx.on_request(t0, false), vec![TxAction::Transmit(b"487".to_vec())]);
        tx.on_request(t0, true);
        assert_eq!(tx.state(), InviteServerState::Confirmed);
        assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(5)));
        assert!(tx.on_request(t0, false).is_empty(), "Confirmed absorbs");
        tx.on_timeout(t0 + Duration::from_secs(5));
        assert!(tx.is_terminated());
    }

    #[test]
    fn reliable_transport_zero_timer_i_and_no_g() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(TimerConfig::rfc3261(true));
        tx.respond(t0, 503, b"503".to_vec());
        assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(32)), "only H");
        tx.on_request(t0, true);
        assert_eq!(tx.next_deadline(), Some(t0));
    }

    #[test]
    fn two_hundred_enters_accepted_which_absorbs_invites_until_timer_l() {
        let t0 = Instant::now();
        let mut tx = InviteServer::new(TimerConfig::rfc3261(false));
        assert_eq!(transmits(&tx.respond(t0, 200, b"200".to_vec())), 1);
        assert_eq!(tx.state(), InviteServerState::Accepted);
        assert!(tx.on_request(t0, false).is_empty());
        assert_eq!(transmits(&tx.respond(t0, 200, b"200".to_vec())), 1, "TU retransmission");
        assert!(tx.respond(t0, 486, b"486".to_vec()).is_empty(), "no second final");
        tx.on_timeout(t0 + Duration::from_secs(32));
        assert!(tx.is_terminated());
    }
}
