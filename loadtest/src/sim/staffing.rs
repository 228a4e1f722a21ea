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

use jiff::Timestamp;
use serde::Serialize;

use crate::erlang;
use crate::traffic::{DurationDist, JourneyMix, Slot};

use super::line::Line;

/// One half-hour of the plan.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PlanSlot {
    pub start_ms: i64,
    /// Operators are in (the dialplan's `staffed` schedule).
    pub staffed: bool,
    /// Calls expected to reach the queue in the slot.
    pub queued_calls: f64,
    pub erlangs: f64,
    pub agents: u32,
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
    pub peak_agents: u32,
    pub agent_hours: f64,
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
                let agents = if staffed {
                    erlang::agents_for_service_level(erlangs, aht_secs, target_sl, effective_target).max(1)
                } else {
                    0
                };
                PlanSlot { start_ms: s.start.as_millisecond(), staffed, queued_calls: queued, erlangs, agents }
            })
            .collect();
        // The half-hour after closing keeps the last staff, to answer the
        // callers still waiting.
        for i in 1..plan.len() {
            if !plan[i].staffed && plan[i - 1].staffed {
                plan[i].agents = plan[i - 1].agents;
            }
        }
        StaffingPlan { slots: plan, aht_secs, ring_secs, target_sl, target_secs }
    }

    pub fn peak_agents(&self) -> u32 {
        self.slots.iter().map(|s| s.agents).max().unwrap_or(0)
    }

    /// The Erlang C prediction for callers of `patience`.
    pub fn predict(&self, patience: &DurationDist) -> Prediction {
        let effective_target = (self.target_secs - self.ring_secs).max(0.0);
        let mut p = Prediction { peak_agents: self.peak_agents(), ..Prediction::default() };
        for s in &self.slots {
            p.agent_hours += f64::from(s.agents) / 2.0;
            if s.queued_calls <= 0.0 {
                continue;
            }
            let n = f64::from(s.agents);
            let c = erlang::erlang_c(s.erlangs, s.agents);
            let theta = (n - s.erlangs).max(0.0) / self.aht_secs;
            p.queued_calls += s.queued_calls;
            p.service_level += s.queued_calls * erlang::service_level(s.erlangs, s.agents, self.aht_secs, effective_target);
            p.asa_secs += s.queued_calls * (erlang::average_speed_of_answer(s.erlangs, s.agents, self.aht_secs) + self.ring_secs);
            p.abandon_rate += s.queued_calls * c * patience.laplace(theta);
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
