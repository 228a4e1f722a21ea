//! Per-source-IP limit on authentication failures: a token bucket kept as one "theoretical
//! arrival time" per address (GCRA). `max_failures` failures may happen at once; they are
//! forgiven at `max_failures` per `window`. While the bucket is empty the source is blocked and
//! its requests are refused before any digest is computed.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How many authentication failures a source may make before it is refused for a while.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitConfig {
    /// Failures allowed in a burst (K). Zero disables the limit.
    pub max_failures: u32,
    /// Time over which `max_failures` failures are forgiven.
    pub window: Duration,
    /// Bound of the table of sources; when full (after dropping forgiven sources) new sources
    /// are not tracked, so memory stays bounded under a spoofed-source flood.
    pub max_tracked_sources: usize,
}

impl Default for RateLimitConfig {
    /// Five failures, forgiven over a minute; 10,000 sources.
    fn default() -> Self {
        RateLimitConfig {
            max_failures: 5,
            window: Duration::from_secs(60),
            max_tracked_sources: 10_000,
        }
    }
}

#[derive(Debug)]
pub(super) struct RateLimiter {
    config: RateLimitConfig,
    /// When each source's bucket will be full again.
    full_at: HashMap<IpAddr, Instant>,
}

impl RateLimiter {
    pub(super) fn new(config: RateLimitConfig) -> Self {
        RateLimiter {
            config,
            full_at: HashMap::new(),
        }
    }

    fn interval(&self) -> Duration {
        self.config.window / self.config.max_failures.max(1)
    }

    /// `Some(wait)` when `ip` is blocked at `now`: the time until its next token.
    pub(super) fn blocked(&self, now: Instant, ip: IpAddr) -> Option<Duration> {
        if self.config.max_failures == 0 {
            return None;
        }
        let full_at = *self.full_at.get(&ip)?;
        // K failures at once put `full_at` a whole window ahead: the bucket is empty.
        let debt = full_at.saturating_duration_since(now);
        (debt + self.interval() > self.config.window)
            .then(|| debt + self.interval() - self.config.window)
    }

    /// Charges `ip` one failure.
    pub(super) fn record_failure(&mut self, now: Instant, ip: IpAddr) {
        if self.config.max_failures == 0 {
            return;
        }
        if !self.full_at.contains_key(&ip) && self.full_at.len() >= self.config.max_tracked_sources {
            self.purge(now);
            if self.full_at.len() >= self.config.max_tracked_sources {
                return;
            }
        }
        let interval = self.interval();
        let entry = self.full_at.entry(ip).or_insert(now);
        *entry = (*entry).max(now) + interval;
    }

    /// Forgets sources whose bucket is full again.
    pub(super) fn purge(&mut self, now: Instant) {
        self.full_at.retain(|_, at| *at > now);
    }

    pub(super) fn tracked(&self) -> usize {
        self.full_at.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    #[test]
    fn k_failures_block_until_one_is_forgiven() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(RateLimitConfig::default());
        for _ in 0..4 {
            rl.record_failure(t0, IP);
            assert_eq!(rl.blocked(t0, IP), None);
        }
        rl.record_failure(t0, IP);
        assert_eq!(rl.blocked(t0, IP), Some(Duration::from_secs(12)));
        let later = t0 + Duration::from_secs(12);
        assert_eq!(rl.blocked(later, IP), None, "one failure forgiven per 12 s");
        rl.record_failure(later, IP);
        assert!(rl.blocked(later, IP).is_some());
        rl.purge(t0 + Duration::from_secs(72));
        assert_eq!(rl.tracked(), 0);
    }

    #[test]
    fn spread_out_failures_never_block_and_other_sources_are_apart() {
        let t0 = Instant::now();
        let mut rl = RateLimiter::new(RateLimitConfig::default());
        for i in 0..20 {
            let now = t0 + Duration::from_secs(13 * i);
            rl.record_failure(now, IP);
            assert_eq!(rl.blocked(now, IP), None);
        }
        let other = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 10));
        assert_eq!(rl.blocked(t0, other), None);
    }

    #[test]
    fn table_is_bounded_and_zero_disables() {
        let t0 = Instant::now();
        let config = RateLimitConfig {
            max_tracked_sources: 2,
            ..RateLimitConfig::default()
        };
        let mut rl = RateLimiter::new(config);
        for last in 1..=3u8 {
            rl.record_failure(t0, IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, last)));
        }
        assert_eq!(rl.tracked(), 2);
        let mut off = RateLimiter::new(RateLimitConfig {
            max_failures: 0,
            ..RateLimitConfig::default()
        });
        for _ in 0..10 {
            off.record_failure(t0, IP);
        }
        assert_eq!(off.blocked(t0, IP), None);
    }
}
