//! Erlang B and Erlang C: how many trunks and how many operators a given
//! traffic needs.
//!
//! Owns the queueing formulas used for sizing (`loadtest erlang`,
//! `docs/capacity.md`) and as the prediction the simulated year is checked
//! against. Must never overflow or lose precision on large staffs: both
//! formulas use the iterative form of Erlang B,
//! `B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1))`, which stays in `[0, 1]` at
//! every step (no factorials, no powers), and Erlang C is derived from it.
//!
//! Conventions: traffic `A` in erlangs (arrivals per second × mean holding
//! time in seconds); `servers` are trunks (Erlang B) or agents (Erlang C);
//! times in seconds. Inputs that mean nothing (negative or non-finite
//! traffic) give the pessimistic answer (blocking 1, always waiting) rather
//! than a panic.

/// Traffic in erlangs offered by `calls_per_hour` calls holding `aht_secs` each.
pub fn erlangs(calls_per_hour: f64, aht_secs: f64) -> f64 {
    calls_per_hour * aht_secs / 3600.0
}

/// Erlang B: the probability that a call finds all `servers` busy and is
/// lost (blocked calls cleared), for `traffic` erlangs offered.
pub fn erlang_b(traffic: f64, servers: u32) -> f64 {
    if !(traffic.is_finite() && traffic >= 0.0) {
        return 1.0;
    }
    let mut b = 1.0;
    for n in 1..=servers {
        let ab = traffic * b;
        b = ab / (f64::from(n) + ab);
    }
    b
}

/// Erlang C: the probability that a call has to wait (blocked calls
/// delayed, infinite patience), for `traffic` erlangs and `agents`. 1 when
/// the agents cannot carry the traffic (`agents <= traffic`).
pub fn erlang_c(traffic: f64, agents: u32) -> f64 {
    let n = f64::from(agents);
    if !(traffic.is_finite() && traffic >= 0.0) || n <= traffic {
        return 1.0;
    }
    let b = erlang_b(traffic, agents);
    (n * b / (n - traffic * (1.0 - b))).clamp(0.0, 1.0)
}

/// The share of calls answered within `target_secs` (Erlang C, first come
/// first served): `1 - C · exp(-(N - A) · t / AHT)`.
pub fn service_level(traffic: f64, agents: u32, aht_secs: f64, target_secs: f64) -> f64 {
    let n = f64::from(agents);
    if n <= traffic || aht_secs <= 0.0 {
        return 0.0;
    }
    let c = erlang_c(traffic, agents);
    (1.0 - c * (-(n - traffic) * target_secs.max(0.0) / aht_secs).exp()).clamp(0.0, 1.0)
}

/// Average speed of answer in seconds over all calls (those that do not
/// wait count 0): `C · AHT / (N - A)`. Infinite when the agents cannot
/// carry the traffic.
pub fn average_speed_of_answer(traffic: f64, agents: u32, aht_secs: f64) -> f64 {
    let n = f64::from(agents);
    if n <= traffic {
        return f64::INFINITY;
    }
    erlang_c(traffic, agents) * aht_secs / (n - traffic)
}

/// The share of time agents are busy: `A / N` (at most 1).
pub fn occupancy(traffic: f64, agents: u32) -> f64 {
    if agents == 0 {
        return 1.0;
    }
    (traffic / f64::from(agents)).min(1.0)
}

/// The fewest agents that answer `target_sl` of the calls within
/// `target_secs` (80/20: 0.8 and 20). No traffic needs no agents.
pub fn agents_for_service_level(traffic: f64, aht_secs: f64, target_sl: f64, target_secs: f64) -> u32 {
    if !(traffic.is_finite() && traffic > 0.0) {
        return 0;
    }
    // Start just above the traffic: fewer agents never carry it.
    let mut agents = traffic.floor() as u32 + 1;
    while service_level(traffic, agents, aht_secs, target_secs) < target_sl {
        agents += 1;
    }
    agents
}

/// The fewest trunks (or ports, or channels) that keep Erlang B blocking at
/// or under `target_blocking` (e.g. 0.01 for 1 %).
pub fn servers_for_blocking(traffic: f64, target_blocking: f64) -> u32 {
    if !(traffic.is_finite() && traffic > 0.0) {
        return 0;
    }
    let target = target_blocking.max(1e-12);
    // The same recurrence as `erlang_b`, stopped at the first n that meets it.
    let (mut b, mut n) = (1.0, 0u32);
    while b > target {
        n += 1;
        let ab = traffic * b;
        b = ab / (f64::from(n) + ab);
    }
    n
}

/// Everything `loadtest erlang` prints for one half-hour or hour of traffic.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Sizing {
    pub calls_per_hour: f64,
    pub aht_secs: f64,
    pub erlangs: f64,
    pub target_sl: f64,
    pub target_secs: f64,
    /// Agents for the service-level target (Erlang C).
    pub agents: u32,
    pub probability_of_wait: f64,
    pub service_level: f64,
    pub asa_secs: f64,
    pub occupancy: f64,
}

impl Sizing {
    /// Sizes the agents for `calls_per_hour` calls of `aht_secs` (talk plus
    /// after-call work) to answer `target_sl` within `target_secs`.
    pub fn for_service_level(calls_per_hour: f64, aht_secs: f64, target_sl: f64, target_secs: f64) -> Sizing {
        let a = erlangs(calls_per_hour, aht_secs);
        let agents = agents_for_service_level(a, aht_secs, target_sl, target_secs);
        Sizing {
            calls_per_hour,
            aht_secs,
            erlangs: a,
            target_sl,
            target_secs,
            agents,
            probability_of_wait: erlang_c(a, agents),
            service_level: service_level(a, agents, aht_secs, target_secs),
            asa_secs: average_speed_of_answer(a, agents, aht_secs),
            occupancy: occupancy(a, agents),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_b_starts_at_certain_blocking_with_no_server() {
        assert_eq!(erlang_b(3.0, 0), 1.0);
        assert_eq!(erlang_b(0.0, 5), 0.0);
        // One server: A / (1 + A).
        assert!((erlang_b(1.0, 1) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn nonsense_traffic_is_pessimistic_not_a_panic() {
        assert_eq!(erlang_b(f64::NAN, 10), 1.0);
        assert_eq!(erlang_c(-1.0, 10), 1.0);
        assert_eq!(agents_for_service_level(f64::INFINITY, 180.0, 0.8, 20.0), 0);
        assert_eq!(servers_for_blocking(f64::NAN, 0.01), 0);
    }

    #[test]
    fn large_staffs_stay_finite() {
        // 5,000 erlangs on 5,200 trunks: factorials would overflow here.
        let b = erlang_b(5000.0, 5200);
        assert!(b.is_finite() && (0.0..0.01).contains(&b), "{b}");
        let c = erlang_c(5000.0, 5100);
        assert!(c.is_finite() && (0.0..1.0).contains(&c), "{c}");
    }
}
