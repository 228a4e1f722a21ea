//! RFC 3261 17.1.2 non-INVITE client transaction (BYE, CANCEL, INFO, OPTIONS we send).

use std::time::{Duration, Instant};

use super::{Timer, TimerConfig, TimerTable, TxAction};
use crate::message::Message;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonInviteClientState {
    Trying,
    Proceeding,
    Completed,
    Terminated,
}

#[derive(Debug)]
pub struct NonInviteClient {
    state: NonInviteClientState,
    config: TimerConfig,
    bytes: Vec<u8>,
    timers: TimerTable,
    e_interval: Duration,
}

impl NonInviteClient {
    pub fn start(now: Instant, bytes: Vec<u8>, config: TimerConfig) -> (Self, Vec<TxAction>) {
        let mut timers = TimerTable::default();
        if !config.reliable {
            timers.set(Timer::E, now + config.t1);
        }
        timers.set(Timer::F, now + config.timeout());
        let tx = NonInviteClient {
            state: NonInviteClientState::Trying,
            config,
            bytes: bytes.clone(),
            timers,
            e_interval: config.t1,
        };
        (tx, vec![TxAction::Transmit(bytes)])
    }

    pub fn state(&self) -> NonInviteClientState {
        self.state
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    pub fn is_terminated(&self) -> bool {
        self.state == NonInviteClientState::Terminated
    }

    pub fn on_response(&mut self, now: Instant, response: Message) -> Vec<TxAction> {
        use NonInviteClientState::*;
        let Some(status) = response.status() else {
            return Vec::new();
        };
        match (self.state, status) {
            (Trying | Proceeding, 100..=199) => {
                self.state = Proceeding;
                vec![TxAction::Response(Box::new(response))]
            }
            (Trying | Proceeding, _) => {
                self.state = Completed;
                self.timers.clear_all();
                let wait = self.config.unreliable_wait(self.config.t4);
                self.timers.set(Timer::K, now + wait);
                vec![TxAction::Response(Box::new(response))]
            }
            // Completed absorbs retransmitted responses.
            _ => Vec::new(),
        }
    }

    pub fn on_timeout(&mut self, now: Instant) -> Vec<TxAction> {
        let mut actions = Vec::new();
        while let Some(timer) = self.timers.pop_due(now) {
            match timer {
                Timer::E => {
                    // RFC 3261 17.1.2.2: doubling up to T2 in Trying, every T2 in Proceeding.
                    self.e_interval = if self.state == NonInviteClientState::Proceeding {
                        self.config.t2
                    } else {
                        (self.e_interval * 2).min(self.config.t2)
                    };
                    self.timers.set(Timer::E, now + self.e_interval);
                    actions.push(TxAction::Transmit(self.bytes.clone()));
                }
                Timer::F => {
                    self.terminate();
                    actions.push(TxAction::TimedOut);
                }
                Timer::K => self.terminate(),
                _ => {}
            }
        }
        actions
    }

    fn terminate(&mut self) {
        self.state = NonInviteClientState::Terminated;
        self.timers.clear_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transaction::test_support::response_to;

    fn retransmission_times(tx: &mut NonInviteClient, t0: Instant) -> (Vec<u128>, bool) {
        let mut sent = Vec::new();
        let mut timed_out = false;
        while let Some(at) = tx.next_deadline() {
            for a in tx.on_timeout(at) {
                match a {
                    TxAction::Transmit(_) => sent.push((at - t0).as_millis()),
                    TxAction::TimedOut => timed_out = true,
                    TxAction::Response(_) => {}
                }
            }
        }
        (sent, timed_out)
    }

    #[test]
    fn timer_e_doubles_up_to_t2_then_timer_f_times_out() {
        let t0 = Instant::now();
        let (mut tx, _) = NonInviteClient::start(t0, b"BYE".to_vec(), TimerConfig::rfc3261(false));
        let (sent, timed_out) = retransmission_times(&mut tx, t0);
        assert_eq!(&sent[..6], &[500, 1500, 3500, 7500, 11500, 15500]);
        assert_eq!(*sent.last().expect("retransmissions"), 31500);
        assert!(timed_out);
        assert!(tx.is_terminated());
    }

    #[test]
    fn reliable_transport_never_retransmits() {
        let t0 = Instant::now();
        let (mut tx, _) = NonInviteClient::start(t0, b"BYE".to_vec(), TimerConfig::rfc3261(true));
        let (sent, timed_out) = retransmission_times(&mut tx, t0);
        assert!(sent.is_empty());
        assert!(timed_out);
    }

    #[test]
    fn final_response_completes_and_timer_k_terminates() {
        let t0 = Instant::now();
        let (mut tx, _) = NonInviteClient::start(t0, b"BYE".to_vec(), TimerConfig::rfc3261(false));
        assert_eq!(tx.on_response(t0, response_to(200, Some("a"))).len(), 1);
        assert_eq!(tx.state(), NonInviteClientState::Completed);
        assert!(tx.on_response(t0, response_to(200, Some("a"))).is_empty());
        assert_eq!(tx.next_deadline(), Some(t0 + Duration::from_secs(5)));
        tx.on_timeout(t0 + Duration::from_secs(5));
        assert!(tx.is_terminated());
    }

    #[test]
    fn proceeding_retransmits_every_t2() {
        let t0 = Instant::now();
        let (mut tx, _) = NonInviteClient::start(t0, b"BYE".to_vec(), TimerConfig::rfc3261(false));
        tx.on_response(t0, response_to(100, None));
        tx.on_timeout(t0 + Duration::from_millis(500));
        assert_eq!(tx.timers.deadline(Timer::E), Some(t0 + Duration::from_millis(4500)));
    }
}
