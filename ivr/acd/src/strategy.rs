//! Routing policy: which of the agents able to take a call gets it.
//!
//! Owns: the choice only. The candidates arrive already filtered (free,
//! in the queue, skilled enough); offers, timeouts and states are the
//! engine's mechanism. Never panics, never sees a call's caller.

use std::time::{Duration, Instant};

use crate::config::Strategy;
use crate::ids::AgentId;

/// What the policy may look at for one candidate agent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub agent: AgentId,
    /// Since when the agent has been idle (end of the last wrap-up, or
    /// when they became available).
    pub idle_since: Instant,
    /// Talk time since login.
    pub talk_time: Duration,
}

/// The agents to offer the call to: one, or every candidate for ring-all.
/// `last_offered` is the queue's round-robin cursor. Candidates come in
/// agent id order; ties are broken by the lower id.
pub(crate) fn choose(strategy: Strategy, candidates: &[Candidate], last_offered: Option<AgentId>) -> Vec<AgentId> {
    let longest_idle = |c: &&Candidate| (c.idle_since, c.agent);
    let pick = match strategy {
        Strategy::RingAll => return candidates.iter().map(|c| c.agent).collect(),
        Strategy::LongestIdle => candidates.iter().min_by_key(longest_idle),
        Strategy::LeastTalkTime => candidates.iter().min_by_key(|c| (c.talk_time, c.idle_since, c.agent)),
        Strategy::RoundRobin => match last_offered {
            Some(last) => candidates.iter().find(|c| c.agent > last).or_else(|| candidates.first()),
            None => candidates.first(),
        },
    };
    pick.map(|c| vec![c.agent]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(t0: Instant) -> Vec<Candidate> {
        vec![
            Candidate { agent: AgentId(1), idle_since: t0 + Duration::from_secs(10), talk_time: Duration::from_secs(50) },
            Candidate { agent: AgentId(4), idle_since: t0, talk_time: Duration::from_secs(90) },
            Candidate { agent: AgentId(7), idle_since: t0 + Duration::from_secs(5), talk_time: Duration::from_secs(20) },
        ]
    }

    #[test]
    fn each_strategy_picks_as_documented() {
        let t0 = Instant::now();
        let c = candidates(t0);
        assert_eq!(choose(Strategy::LongestIdle, &c, None), [AgentId(4)]);
        assert_eq!(choose(Strategy::LeastTalkTime, &c, None), [AgentId(7)]);
        assert_eq!(choose(Strategy::RoundRobin, &c, None), [AgentId(1)]);
        assert_eq!(choose(Strategy::RoundRobin, &c, Some(AgentId(4))), [AgentId(7)]);
        assert_eq!(choose(Strategy::RoundRobin, &c, Some(AgentId(7))), [AgentId(1)], "wraps around");
        assert_eq!(choose(Strategy::RingAll, &c, None), [AgentId(1), AgentId(4), AgentId(7)]);
        assert!(choose(Strategy::LongestIdle, &[], None).is_empty());
    }
}
