//! The simulated agents' break rota: who is due a break, who may go now,
//! and when each comes back, on the simulated clock.
//!
//! Owns each agent's place in the rota ([`BREAK_EVERY`] logged in, then
//! [`BREAK_LENGTH`] off) and the rule that at most `allowance` agents (the
//! plan's logged-in agents less its ready ones) are away at once, the
//! others due waiting their turn in order. Must never talk to the ACD or
//! read the wall clock: the engine asks the ACD for the break
//! ([`BreakRota::next_request`]), tells the rota when the ACD has the
//! agent idle on break ([`BreakRota::started`]: a call and its wrap-up
//! finish first), and makes them available when [`BreakRota::back`] says.

use std::collections::VecDeque;
use std::time::Instant;

use super::staffing::{BREAK_EVERY, BREAK_LENGTH};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    LoggedOut,
    Working { due: Instant },
    /// Due, waiting for a place on the rota.
    Waiting,
    /// Asked the ACD for the break; still on a call or in wrap-up.
    Requested,
    OnBreak { back: Instant },
}

/// The rota of `n` agents, by agent index.
#[derive(Debug)]
pub(super) struct BreakRota {
    places: Vec<Place>,
    waiting: VecDeque<u32>,
    /// Agents requested or on break.
    away: u32,
}

impl BreakRota {
    pub(super) fn new(agents: usize) -> BreakRota {
        BreakRota { places: vec![Place::LoggedOut; agents], waiting: VecDeque::new(), away: 0 }
    }

    /// The agent logged in at `now`; their first break is due at the time
    /// returned.
    pub(super) fn login(&mut self, now: Instant, agent: u32) -> Instant {
        self.leave(agent);
        let due = now + BREAK_EVERY;
        if let Some(p) = self.places.get_mut(agent as usize) {
            *p = Place::Working { due };
        }
        due
    }

    /// The agent logged out (a break in progress ends with the shift).
    pub(super) fn logout(&mut self, agent: u32) {
        self.leave(agent);
    }

    fn leave(&mut self, agent: u32) {
        if let Some(p) = self.places.get_mut(agent as usize) {
            if matches!(p, Place::Requested | Place::OnBreak { .. }) {
                self.away = self.away.saturating_sub(1);
            }
            *p = Place::LoggedOut;
        }
    }

    /// A due time came: the agent joins the queue for a break if it is
    /// theirs (a wake left from an earlier shift or break is ignored).
    pub(super) fn due(&mut self, now: Instant, agent: u32) {
        if let Some(p) = self.places.get_mut(agent as usize)
            && matches!(*p, Place::Working { due } if due <= now)
        {
            *p = Place::Waiting;
            self.waiting.push_back(agent);
        }
    }

    /// The next agent to send on break while fewer than `allowance` are
    /// away, first due first.
    pub(super) fn next_request(&mut self, allowance: u32) -> Option<u32> {
        while self.away < allowance {
            let agent = self.waiting.pop_front()?;
            if let Some(p) = self.places.get_mut(agent as usize).filter(|p| **p == Place::Waiting) {
                *p = Place::Requested;
                self.away += 1;
                return Some(agent);
            }
        }
        None
    }

    /// The ACD has the requested agent idle on break at `now`: the break
    /// runs until the time returned.
    pub(super) fn started(&mut self, now: Instant, agent: u32) -> Option<Instant> {
        let p = self.places.get_mut(agent as usize).filter(|p| **p == Place::Requested)?;
        let back = now + BREAK_LENGTH;
        *p = Place::OnBreak { back };
        Some(back)
    }

    /// The break's end came: the agent is back to work and their next
    /// break is due at the time returned.
    pub(super) fn back(&mut self, now: Instant, agent: u32) -> Option<Instant> {
        let p = self.places.get_mut(agent as usize).filter(|p| matches!(p, Place::OnBreak { back } if *back <= now))?;
        let due = now + BREAK_EVERY;
        *p = Place::Working { due };
        self.away = self.away.saturating_sub(1);
        Some(due)
    }

    #[cfg(test)]
    fn away(&self) -> u32 {
        self.away
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn mins(m: u64) -> Duration {
        Duration::from_secs(m * 60)
    }

    #[test]
    fn an_agent_is_due_a_break_two_hours_after_login_and_back_a_quarter_hour_after_going_idle() {
        let t0 = Instant::now();
        let mut rota = BreakRota::new(1);
        assert_eq!(rota.login(t0, 0), t0 + mins(120));
        rota.due(t0 + mins(119), 0);
        assert_eq!(rota.next_request(1), None, "not due yet");
        rota.due(t0 + mins(120), 0);
        assert_eq!(rota.next_request(1), Some(0));
        // On a call until 2 h 4 min: the break starts when it and its
        // wrap-up end.
        assert_eq!(rota.started(t0 + mins(124), 0), Some(t0 + mins(139)));
        assert_eq!(rota.back(t0 + mins(138), 0), None, "still on break");
        assert_eq!(rota.back(t0 + mins(139), 0), Some(t0 + mins(259)), "the next break two hours later");
        assert_eq!(rota.away(), 0);
    }

    #[test]
    fn no_more_agents_are_away_than_the_allowance_and_the_first_due_goes_first() {
        let t0 = Instant::now();
        let mut rota = BreakRota::new(3);
        for agent in [2, 0, 1] {
            rota.login(t0, agent);
            rota.due(t0 + mins(120), agent);
        }
        assert_eq!(rota.next_request(1), Some(2));
        assert_eq!(rota.next_request(1), None, "one away at a time");
        rota.started(t0 + mins(120), 2);
        assert_eq!(rota.next_request(1), None, "still one away");
        rota.back(t0 + mins(135), 2);
        assert_eq!(rota.next_request(1), Some(0));
        assert_eq!(rota.next_request(2), Some(1), "a larger allowance lets the next one go");
        assert_eq!(rota.away(), 2);
    }

    #[test]
    fn a_logout_ends_the_break_and_wakes_from_the_earlier_shift_are_ignored() {
        let t0 = Instant::now();
        let mut rota = BreakRota::new(1);
        rota.login(t0, 0);
        rota.due(t0 + mins(120), 0);
        assert_eq!(rota.next_request(1), Some(0));
        let back = rota.started(t0 + mins(120), 0).expect("on break");
        rota.logout(0);
        assert_eq!(rota.away(), 0, "the shift ended the break");
        assert_eq!(rota.back(back, 0), None, "nobody to bring back");
        // Logged in again at 2 h 10 min: the old due time is not theirs.
        assert_eq!(rota.login(t0 + mins(130), 0), t0 + mins(250));
        rota.due(t0 + mins(240), 0);
        assert_eq!(rota.next_request(1), None);
        assert_eq!(rota.started(t0 + mins(240), 0), None, "a break starts only when requested");
    }

    #[test]
    fn an_agent_waiting_for_a_place_who_logs_out_is_skipped() {
        let t0 = Instant::now();
        let mut rota = BreakRota::new(2);
        rota.login(t0, 0);
        rota.login(t0, 1);
        rota.due(t0 + mins(120), 0);
        rota.due(t0 + mins(120), 1);
        rota.logout(0);
        assert_eq!(rota.next_request(1), Some(1));
    }
}
