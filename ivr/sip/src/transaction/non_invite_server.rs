//! RFC 3261 17.2.2 non-INVITE server transaction.

use std::time::Instant;

use super::{Timer, TimerConfig, TimerTable, TxAction};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteServerState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteServer {
    state: NonInviteServerState,
    config: TimerConfig,
    last_response: Option<Vec<u8>>,
    timers: TimerTable,
}

impl NonInviteServer {
    pub fn new(config: TimerConfig) -> Self {
        NonInviteServer {
            state: NonInviteServerState::Trying,
            config,
            last_response: None,
            timers: TimerTable::default(),
        }
    }

    pub fn state(&self) -> NonInviteServerState {
        self.state
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == NonInviteServerState::Terminated
    }

    pub fn respond(&mut self, now: Instant, status: u16, bytes: Vec<u8>) -> Vec<TxAction> {
        use NonInviteServerState::*;
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => self.state = Proceeding,
            (Trying | Proceeding, _) => {
                self.state = Completed;
                let wait = self.config.unreliable_wait(self.config.timeout());
                self.timers.set(Timer::J, now + wait);
            }
            _ => return Vec::new(),
        }
        self.last_response = Some(bytes.clone());
        vec![TxAction::Transmit(bytes)]
    }

    /// A retransmission of the request: RFC 3261 17.2.2 answers it with the last response.
    pub fn on_request(&mut self) -> Vec<TxAction> {
        match self.state {
            NonInviteServerState::Proceeding | NonInviteServerState::Completed => {
                self.last_response.iter().cloned().map(TxAction::Transmit).collect()
            }
            _ => Vec::new(),
        }
    }

    pub fn on_timeout(&mut self, now: Instant) -> Vec<TxAction> {
        while let Some(timer) = self.timers.pop_due(now) {
            if timer == Timer::J {
                self.state = NonInviteServerState::Terminated;
                self.timers.clear_all();
            }
        }
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn retransmitted_request_gets_the_final_response_until_timer_j() {
        let t0 = Instant::now();
        let mut tx = NonInviteServer::new(TimerConfig::rfc3261(false));
        assert!(tx.on_request().is_empty(), "Trying absorbs");
        tx.respond(t0, 200, b"200".to_vec());
        assert_eq!(tx.on_request(), vec![TxAction::Transmit(b"200".to_vec())]);
        assert!(tx.respond(t0, 500, b"500".to_vec()).is_empty());
        assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(32)));
        tx.on_timeout(t0 + Duration::from_secs(32));
        assert!(tx.is_terminated());
    }

    #[test]
    fn reliable_transport_has_zero_timer_j() {
        let t0 = Instant::now();
        let mut tx = NonInviteServer::new(TimerConfig::rfc3261(true));
        tx.respond(t0, 200, b"200".to_vec());
        assert_eq!(tx.next_deadline(), Some(t0));
    }
}
