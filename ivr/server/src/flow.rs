//! The built-in call flow, until dialplans land: answer, play the welcome
//! prompt, read back every key pressed, and after a quiet spell say goodbye
//! and hang up.
//!
//! A sans-IO state machine like the cores: inputs carry `now`, it returns
//! [`FlowAction`]s and exposes its next deadline. It owns the call's
//! conversational state only; it must never touch media, SIP or the clock.

use std::time::{Duration, Instant};

use ivr_media::dtmf::DtmfDigit;

/// What the flow asks of the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FlowAction {
    /// Play these prompt ids (already resolved for the call's language),
    /// replacing whatever is playing.
    Play { prompts: Vec<String>, barge_in: bool },
    /// End the call (BYE).
    Hangup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowState {
    /// A prompt is playing (welcome or a read-back).
    Speaking,
    /// Waiting for a key until the idle deadline.
    Listening { idle_deadline: Instant },
    /// Playing goodbye; hang up when it ends.
    Closing,
    Ended,
}

#[derive(Debug)]
pub struct BuiltinFlow {
    language: String,
    idle_hangup: Duration,
    hard_deadline: Instant,
    state: FlowState,
}

impl BuiltinFlow {
    /// Starts the flow on answer: the first action is the welcome prompt.
    pub fn start(now: Instant, language: &str, idle_hangup: Duration, max_call: Duration) -> (BuiltinFlow, FlowAction) {
        let flow = BuiltinFlow {
            language: language.to_owned(),
            idle_hangup,
            hard_deadline: now + max_call,
            state: FlowState::Speaking,
        };
        let action = flow.play("welcome", true);
        (flow, action)
    }

    /// A key was pressed (any method): read it back.
    pub fn on_digit(&mut self, _now: Instant, digit: DtmfDigit) -> Option<FlowAction> {
        if matches!(self.state, FlowState::Closing | FlowState::Ended) {
            return None;
        }
        let name = prompt_for_digit(digit)?;
        self.state = FlowState::Speaking;
        Some(self.play(&name, true))
    }

    /// The prompt queue drained (or was interrupted by a key).
    pub fn on_playback_finished(&mut self, now: Instant, interrupted: bool) -> Option<FlowAction> {
        match self.state {
            // An interrupted prompt is followed by the read-back the key asked for.
            FlowState::Speaking if interrupted => None,
            FlowState::Speaking => {
                self.state = FlowState::Listening { idle_deadline: now + self.idle_hangup };
                None
            }
            FlowState::Closing => {
                self.state = FlowState::Ended;
                Some(FlowAction::Hangup)
            }
            FlowState::Listening { .. } | FlowState::Ended => None,
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) -> Option<FlowAction> {
        if self.state == FlowState::Ended {
            return None;
        }
        if now >= self.hard_deadline {
            self.state = FlowState::Ended;
            return Some(FlowAction::Hangup);
        }
        match self.state {
            FlowState::Listening { idle_deadline } if now >= idle_deadline => {
                self.state = FlowState::Closing;
                Some(self.play("goodbye", false))
            }
            _ => None,
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            FlowState::Ended => None,
            FlowState::Listening { idle_deadline } => Some(idle_deadline.min(self.hard_deadline)),
            FlowState::Speaking | FlowState::Closing => Some(self.hard_deadline),
        }
    }

    fn play(&self, name: &str, barge_in: bool) -> FlowAction {
        FlowAction::Play { prompts: vec![format!("{}/{name}", self.language)], barge_in }
    }
}

/// The read-back prompt of a key; A to D have none and are not read back.
fn prompt_for_digit(digit: DtmfDigit) -> Option<String> {
    match digit.as_char() {
        c @ '0'..='9' => Some(format!("digit-{c}")),
        '*' => Some("digit-star".to_owned()),
        '#' => Some("digit-hash".to_owned()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digit(c: char) -> DtmfDigit {
        DtmfDigit::from_char(c).expect("a DTMF key")
    }

    fn play(ids: &[&str], barge_in: bool) -> FlowAction {
        FlowAction::Play { prompts: ids.iter().map(|s| s.to_string()).collect(), barge_in }
    }

    #[test]
    fn welcome_then_read_back_then_goodbye_then_hangup() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(10);
        let (mut flow, first) = BuiltinFlow::start(t0, "ca", idle, Duration::from_secs(900));
        assert_eq!(first, play(&["ca/welcome"], true));

        // A key during the welcome interrupts it and is read back.
        let t1 = t0 + Duration::from_secs(2);
        assert_eq!(flow.on_digit(t1, digit('5')), Some(play(&["ca/digit-5"], true)));
        assert_eq!(flow.on_playback_finished(t1, true), None);
        assert_eq!(flow.on_digit(t1, digit('#')), Some(play(&["ca/digit-hash"], true)));
        let t2 = t1 + Duration::from_millis(700);
        assert_eq!(flow.on_playback_finished(t2, false), None);
        assert_eq!(flow.poll_timeout(), Some(t2 + idle));

        // Nothing before the idle deadline, goodbye at it (not interruptible), then BYE.
        assert_eq!(flow.handle_timeout(t2 + idle - Duration::from_millis(1)), None);
        assert_eq!(flow.handle_timeout(t2 + idle), Some(play(&["ca/goodbye"], false)));
        assert_eq!(flow.on_digit(t2 + idle, digit('1')), None, "keys during goodbye are ignored");
        assert_eq!(flow.on_playback_finished(t2 + idle + Duration::from_secs(2), false), Some(FlowAction::Hangup));
        assert_eq!(flow.poll_timeout(), None);
    }

    #[test]
    fn a_key_while_listening_restarts_the_idle_wait() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(4);
        let (mut flow, _) = BuiltinFlow::start(t0, "es", idle, Duration::from_secs(900));
        assert_eq!(flow.on_playback_finished(t0 + Duration::from_secs(9), false), None);
        let t = t0 + Duration::from_secs(12);
        assert_eq!(flow.on_digit(t, digit('*')), Some(play(&["es/digit-star"], true)));
        assert_eq!(flow.handle_timeout(t0 + Duration::from_secs(13) + idle), None, "speaking: no idle hangup");
    }

    #[test]
    fn keys_a_to_d_are_not_read_back() {
        let t0 = Instant::now();
        let (mut flow, _) = BuiltinFlow::start(t0, "ca", Duration::from_secs(4), Duration::from_secs(900));
        assert_eq!(flow.on_digit(t0, digit('A')), None);
    }

    #[test]
    fn the_maximum_call_length_always_ends_the_call() {
        let t0 = Instant::now();
        let max = Duration::from_secs(60);
        let (mut flow, _) = BuiltinFlow::start(t0, "ca", Duration::from_secs(4), max);
        assert_eq!(flow.poll_timeout(), Some(t0 + max));
        assert_eq!(flow.handle_timeout(t0 + max), Some(FlowAction::Hangup));
        assert_eq!(flow.handle_timeout(t0 + max), None);
    }
}
