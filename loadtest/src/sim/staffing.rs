//! The staffing plan of the simulated year, and what Erlang C predicts for
//! it: per half-hour, the calls expected to reach the queue, the agents
//! Erlang C says answer 80 % of them within 20 s, and the service level,
//! ASA and abandonment that follow.
//!
//! Owns the plan and the prediction. Must never look at what the
//! simulation measured: the prediction is made before the first call.
//!
//! The recorded wait (`wait_ms`) runs from joining the queue to the agent
//! answering, so it includes the ring delay, which Erlang C does not
//! model; the target is therefore applied to `target - mean ring delay`
//! (the agent is held while ringing, so the ring is part of the handle
//! time too).
//!
//! Agents take breaks (the rota in [`BREAK_EVERY`] and [`BREAK_LENGTH`]),
//! so each slot logs in more agents than Erlang C asks for (shrinkage):
//! `ready` is Erlang C's number, `agents` the logged-in number that keeps
//! `ready` on the phones while the others are on break. The prediction is
//! made for the agents expected on the phones: those logged in less those
//! the rota has on break in the slot (`on_break`, from each agent's shifts
//! in the plan), never fewer than `ready`; between two whole numbers of
//! agents Erlang C's figures are weighted by the time spent at each.

use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;

use crate::erlang;
use crate::traffic::{DurationDist, JourneyMix, Slot};

use super::line::Line;

/// The break rota: a 15-minute break after every 2 hours logged in (the
/// usual paid rest break of a contact-centre shift, e.g. 8 hours with four
/// short breaks; meal breaks fall between shifts, which the plan models as
/// logins and logouts). An agent busy when the break is due finishes the
/// call and its wrap-up first.
pub const BREAK_EVERY: Duration = Duration::from_secs(2 * 3600);
pub const BREAK_LENGTH: Duration = Duration::from_secs(15 * 60);

/// The share of logged-in time on break: 15 / (120 + 15) = 1/9.
pub fn shrinkage() -> f64 {
    BREAK_LENGTH.as_secs_f64() / (BREAK_EVERY + BREAK_LENGTH).as_secs_f64()
}

/// Agents to log in so that `ready` are on the phones while the others
/// take their breaks: `ready / (1 - shrinkage)`, rounded up, so at least
/// one more than `ready` (a break never leaves the line unanswered).
pub fn logged_in_for(ready: u32) -> u32 {
    if ready == 0 {
        return 0;
    }
    let every = BREAK_EVERY.as_secs();
    let cycle = every + BREAK_LENGTH.as_secs();
    u32::try_from((u64::from(ready) * cycle).div_ceil(every)).unwrap_or(u32::MAX)
}

/// The agents of `slot` expected on the phones on average: logged in less
/// those on break, at least the planned ready ones.
pub fn expected_ready(slot: &PlanSlot) -> f64 {
    (f64::from(slot.agents) - slot.on_break).max(f64::from(slot.ready))
}

const SLOT_MS: u64 = 30 * 60 * 1_000;

/// Fills each slot's `on_break` with the rota on the plan's shifts: agent
/// `k` is logged in while a slot needs more than `k` agents (the engine
/// logs in by number and out in reverse), and takes a break after every
/// [`BREAK_EVERY`] of each shift. The engine may start a break later (a
/// call to finish, or no place on the rota): this is the plan.
fn plan_breaks(slots: &mut [PlanSlot]) {
    let (every, length) = (BREAK_EVERY.as_millis() as u64, BREAK_LENGTH.as_millis() as u64);
    let peak = slots.iter().map(|s| s.agents).max().unwrap_or(0);
    for k in 0..peak {
        let mut i = 0;
        while i < slots.len() {
            if slots[i].agents <= k {
                i += 1;
                continue;
            }
            let start = i;
            while i < slots.len() && slots[i].agents > k {
                i += 1;
            }
            let shift_ms = (i - start) as u64 * SLOT_MS;
            let mut from = every;
            while from < shift_ms {
                let to = (from + length).min(shift_ms);
                let mut at = from;
                while at < to {
                    let slot_end = (at / SLOT_MS + 1) * SLOT_MS;
                    let end = slot_end.min(to);
                    slots[start + (at / SLOT_MS) as usize].on_break += (end - at) as f64 / SLOT_MS as f64;
                    at = end;
                }
                from += every + length;
            }
        }
    }
}

/// `f` at a fractional number of agents: the time-weighted mean of `f` at
/// the whole numbers on either side.
fn weighted(agents: f64, f: impl Fn(u32) -> f64) -> f64 {
    let low = agents.floor();
    let share = agents - low;
    let low = low as u32;
    if share <= 0.0 { f(low) } else { (1.0 - share) * f(low) + share * f(low + 1) }
}

/// One half-hour of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlanSlot {
    pub start_ms: i64,
    /// Operators are in (the dialplan's `staffed` schedule).
    pub staffed: bool,
    /// Calls expected to reach the queue in the slot.
    pub queued_calls: f64,
    pub erlangs: f64,
    /// Agents on the phones (Erlang C's number).
    pub ready: u32,
    /// Agents logged in: `ready` plus the cover for breaks.
    pub agents: u32,
    /// Agents the rota has on break, on average over the slot.
    pub on_break: f64,
}

/// The whole plan, with the handle time it assumed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaffingPlan {
    pub slots: Vec<PlanSlot>,
    /// Talk + wrap-up + ring, in seconds.
    pub aht_secs: f64,
    pub ring_secs: f64,
    pub target_sl: f64,
    pub target_secs: f64,
}

/// What Erlang C predicts over the plan, weighted by queued calls.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Prediction {
    pub queued_calls: f64,
    pub service_level: f64,
    pub asa_secs: f64,
    pub abandon_rate: f64,
    /// Logged-in agents at the peak, and logged-in hours.
    pub peak_agents: u32,
    pub agent_hours: f64,
    /// Hours of agents planned on the phones (the rest is break cover).
    pub ready_hours: f64,
    /// Hours the rota plans on break.
    pub break_hours: f64,
    /// Handle time (talk + wrap-up, the ring left out as the records
    /// leave it out) over the hours expected ready.
    pub occupancy: f64,
}

impl StaffingPlan {
    /// Plans every slot of `slots` for the share of callers who want an
    /// operator, `wrap_up_secs` after each call and `ring` before it.
    pub fn new(
        line: &Line,
        slots: &[Slot],
        mix: &JourneyMix,
        wrap_up_secs: f64,
        ring: &DurationDist,
        target_sl: f64,
        target_secs: f64,
    ) -> StaffingPlan {
        let ring_secs = ring.mean_secs();
        let aht_secs = mix.talk.mean_secs() + wrap_up_secs + ring_secs;
        let effective_target = (target_secs - ring_secs).max(0.0);
        let operator_share = mix.operator_share();
        let mut plan: Vec<PlanSlot> = slots
            .iter()
            .map(|s| {
                // Checked a minute in: a slot opening on the hour is open.
                let probe = s.start.checked_add(jiff::SignedDuration::from_mins(1)).unwrap_or(s.start);
                let staffed = line.program.calendar.is_open(line.staffed, probe);
                let queued = if staffed { s.expected_calls * operator_share } else { 0.0 };
                let erlangs = queued / 1800.0 * aht_secs;
                let ready = if staffed {
                    erlang::agents_for_service_level(erlangs, aht_secs, target_sl, effective_target).max(1)
                } else {
                    0
                };
                let agents = logged_in_for(ready);
                PlanSlot { start_ms: s.start.as_millisecond(), staffed, queued_calls: queued, erlangs, ready, agents, on_break: 0.0 }
            })
            .collect();
        // The half-hour after closing keeps the last staff, to answer the
        // callers still waiting.
        for i in 1..plan.len() {
            if !plan[i].staffed && plan[i - 1].staffed {
                plan[i].agents = plan[i - 1].agents;
                plan[i].ready = plan[i - 1].ready;
            }
        }
        plan_breaks(&mut plan);
        StaffingPlan { slots: plan, aht_secs, ring_secs, target_sl, target_secs }
    }

    pub fn peak_agents(&self) -> u32 {
        self.slots.iter().map(|s| s.agents).max().unwrap_or(0)
    }

    /// The Erlang C prediction for callers of `patience`, with each slot's
    /// agents expected ready (those on break answer nothing).
    pub fn predict(&self, patience: &DurationDist) -> Prediction {
        let effective_target = (self.target_secs - self.ring_secs).max(0.0);
        let mut p = Prediction { peak_agents: self.peak_agents(), ..Prediction::default() };
        let (mut handle_hours, mut expected_ready_hours) = (0.0, 0.0);
        for s in &self.slots {
            expected_ready_hours += if s.agents > 0 { expected_ready(s) / 2.0 } else { 0.0 };
            handle_hours += s.erlangs * (self.aht_secs - self.ring_secs) / self.aht_secs / 2.0;
            p.agent_hours += f64::from(s.agents) / 2.0;
            p.ready_hours += f64::from(s.ready) / 2.0;
            p.break_hours += s.on_break / 2.0;
            if s.queued_calls <= 0.0 {
                continue;
            }
            let ready = expected_ready(s);
            let abandon = |agents: u32| {
                let theta = (f64::from(agents) - s.erlangs).max(0.0) / self.aht_secs;
                erlang::erlang_c(s.erlangs, agents) * patience.laplace(theta)
            };
            p.queued_calls += s.queued_calls;
            p.service_level +=
                s.queued_calls * weighted(ready, |n| erlang::service_level(s.erlangs, n, self.aht_secs, effective_target));
            p.asa_secs += s.queued_calls
                * (weighted(ready, |n| erlang::average_speed_of_answer(s.erlangs, n, self.aht_secs)) + self.ring_secs);
            p.abandon_rate += s.queued_calls * weighted(ready, abandon);
        }
        if expected_ready_hours > 0.0 {
            p.occupancy = handle_hours / expected_ready_hours;
        }
        if p.queued_calls > 0.0 {
            p.service_level /= p.queued_calls;
            p.asa_secs /= p.queued_calls;
            p.abandon_rate /= p.queued_calls;
        }
        p
    }

    /// The plan slot covering `at` (the last one that started before it).
    pub fn slot_at(&self, at: Timestamp) -> Option<&PlanSlot> {
        let ms = at.as_millisecond();
        let i = self.slots.partition_point(|s| s.start_ms <= ms);
        i.checked_sub(1).and_then(|i| self.slots.get(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rota_is_a_quarter_hour_off_in_every_two_and_a_quarter() {
        assert_eq!(BREAK_EVERY, Duration::from_secs(7_200));
        assert_eq!(BREAK_LENGTH, Duration::from_secs(900));
        assert!((shrinkage() - 1.0 / 9.0).abs() < 1e-12);
    }

    #[test]
    fn the_prediction_counts_the_agents_expected_on_the_phones() {
        let slot = |ready, agents, on_break| PlanSlot { start_ms: 0, staffed: true, queued_calls: 1.0, erlangs: 1.0, ready, agents, on_break };
        assert_eq!(expected_ready(&slot(8, 9, 1.0)), 8.0);
        assert_eq!(expected_ready(&slot(4, 5, 0.5)), 4.5, "the cover is on break half the slot");
        assert_eq!(expected_ready(&slot(4, 5, 2.0)), 4.0, "never fewer than planned ready");
        assert_eq!(weighted(4.0, f64::from), 4.0);
        assert!((weighted(4.25, |n| f64::from(n * n)) - (0.75 * 16.0 + 0.25 * 25.0)).abs() < 1e-12);
    }

    #[test]
    fn the_plan_puts_each_shift_on_break_after_two_hours_for_a_quarter_hour() {
        // Agent 0 from slot 0 to 10 (5 h), agent 1 from slot 2 to 7 (2.5 h).
        let agents = [1, 1, 2, 2, 2, 2, 2, 1, 1, 1, 0, 0];
        let mut slots: Vec<PlanSlot> = agents
            .iter()
            .map(|&agents| PlanSlot { start_ms: 0, staffed: true, queued_calls: 0.0, erlangs: 0.0, ready: 1, agents, on_break: 0.0 })
            .collect();
        plan_breaks(&mut slots);
        let on_break: Vec<f64> = slots.iter().map(|s| s.on_break).collect();
        // Agent 0: 2:00-2:15 (slot 4) and 4:15-4:30 (slot 8); agent 1:
        // 2:00 after 1:00, 3:00-3:15 (slot 6).
        assert_eq!(on_break, [0.0, 0.0, 0.0, 0.0, 0.5, 0.0, 0.5, 0.0, 0.5, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn logged_in_agents_cover_the_ready_ones_for_breaks() {
        assert_eq!(logged_in_for(0), 0, "a closed slot logs nobody in");
        assert_eq!(logged_in_for(1), 2, "a single agent's break never leaves the line unanswered");
        assert_eq!(logged_in_for(8), 9, "8 / (1 - 1/9) is exactly 9");
        assert_eq!(logged_in_for(9), 11);
        for ready in 1..500 {
            let n = logged_in_for(ready);
            assert!(n > ready, "{ready}: at least one agent of cover");
            assert!(f64::from(n) * (1.0 - shrinkage()) >= f64::from(ready) - 1e-9, "{ready}: {n} cover the shrinkage");
            assert!(f64::from(n - 1) * (1.0 - shrinkage()) < f64::from(ready), "{ready}: {n} is the fewest that do");
        }
    }
}
