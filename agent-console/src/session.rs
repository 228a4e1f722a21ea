//! Sessions and login rate limits: the console's own in-memory tables.
//!
//! Owns the session table (random 256-bit ids, each with its CSRF token,
//! idle and absolute expiry) and the token buckets that limit login
//! attempts per client address and per login. Both are plain data driven
//! with `now` from the console's clock; they do no IO. Must never keep a
//! password, and never let the tables grow without bound.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ivr_store::users::Role;

/// The most sessions kept; the oldest idle ones go first beyond it.
pub const MAX_SESSIONS: usize = 10_000;
/// The most rate-limit buckets per table; full buckets are dropped first.
pub const MAX_BUCKETS: usize = 10_000;

/// A random 256-bit value as 64 hex digits (session ids, CSRF tokens).
pub fn random_token() -> Option<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).ok()?;
    Some(hex::encode(bytes))
}

/// Comparison whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub login: String,
    pub role: Role,
    pub csrf: String,
    pub created: Instant,
    pub last_seen: Instant,
}

/// Why a session id was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefusal {
    Unknown,
    Expired,
}

#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    max_age: Duration,
    table: HashMap<String, Session>,
}

impl Sessions {
    pub fn new(idle: Duration, max_age: Duration) -> Sessions {
        Sessions { idle, max_age, table: HashMap::new() }
    }

    /// Stores a new session under `id`.
    pub fn insert(&mut self, now: Instant, id: String, session: Session) {
        if self.table.len() >= MAX_SESSIONS {
            self.expire(now);
        }
        if self.table.len() >= MAX_SESSIONS
            && let Some(oldest) = self.table.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| k.clone())
        {
            self.table.remove(&oldest);
        }
        self.table.insert(id, session);
    }

    /// The session, touched (its idle time starts again), unless unknown or
    /// expired (then it is removed).
    pub fn touch(&mut self, now: Instant, id: &str) -> Result<Session, SessionRefusal> {
        let session = self.table.get_mut(id).ok_or(SessionRefusal::Unknown)?;
        let idle = now.saturating_duration_since(session.last_seen);
        let age = now.saturating_duration_since(session.created);
        if idle >= self.idle || age >= self.max_age {
            self.table.remove(id);
            return Err(SessionRefusal::Expired);
        }
        session.last_seen = now;
        Ok(session.clone())
    }

    /// Whether the session is still valid, without touching it (a live
    /// feed left open does not keep a session alive).
    pub fn alive(&self, now: Instant, id: &str) -> bool {
        self.table.get(id).is_some_and(|s| {
            now.saturating_duration_since(s.last_seen) < self.idle && now.saturating_duration_since(s.created) < self.max_age
        })
    }

    pub fn remove(&mut self, id: &str) {
        self.table.remove(id);
    }

    /// Ends every session of `login` (removed, disabled, password changed).
    pub fn remove_login(&mut self, login: &str) {
        self.table.retain(|_, s| s.login != login);
    }

    fn expire(&mut self, now: Instant) {
        let (idle, max_age) = (self.idle, self.max_age);
        self.table.retain(|_, s| {
            now.saturating_duration_since(s.last_seen) < idle && now.saturating_duration_since(s.created) < max_age
        });
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// `burst` attempts at once, then one more every `refill_every`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub burst: u32,
    pub refill_every: Duration,
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets by key (a client address, a login).
#[derive(Debug)]
pub struct Limiter {
    limit: RateLimit,
    buckets: HashMap<String, Bucket>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        Limiter { limit, buckets: HashMap::new() }
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let per = self.limit.refill_every.as_secs_f64().max(f64::MIN_POSITIVE);
        let gained = now.saturating_duration_since(bucket.last).as_secs_f64() / per;
        (bucket.tokens + gained).min(f64::from(self.limit.burst))
    }

    /// How long until `key` may try again; `None`: it may now.
    pub fn wait(&self, key: &str, now: Instant) -> Option<Duration> {
        let bucket = self.buckets.get(key)?;
        let tokens = self.refilled(*bucket, now);
        if tokens >= 1.0 {
            return None;
        }
        let per_ms = self.limit.refill_every.as_millis() as f64;
        Some(Duration::from_millis(((1.0 - tokens) * per_ms).round() as u64))
    }

    /// Spends one attempt of `key` (call after `wait` said none).
    pub fn spend(&mut self, key: &str, now: Instant) {
        if self.buckets.len() >= MAX_BUCKETS && !self.buckets.contains_key(key) {
            let burst = f64::from(self.limit.burst);
            let full: Vec<String> =
                self.buckets.iter().filter(|(_, b)| self.refilled(**b, now) >= burst).map(|(k, _)| k.clone()).collect();
            for k in full {
                self.buckets.remove(&k);
            }
        }
        let start = Bucket { tokens: f64::from(self.limit.burst), last: now };
        let bucket = self.buckets.get(key).copied().unwrap_or(start);
        let tokens = (self.refilled(bucket, now) - 1.0).max(0.0);
        self.buckets.insert(key.to_owned(), Bucket { tokens, last: now });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(login: &str, now: Instant) -> Session {
        Session { login: login.into(), role: Role::Agent, csrf: "t".into(), created: now, last_seen: now }
    }

    #[test]
    fn a_session_expires_after_its_idle_time_and_activity_extends_it() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(3600));
        sessions.insert(t0, "a".into(), session("marta", t0));
        assert!(sessions.touch(t0 + Duration::from_secs(59), "a").is_ok());
        assert!(sessions.touch(t0 + Duration::from_secs(118), "a").is_ok(), "touched at 59 s");
        assert_eq!(sessions.touch(t0 + Duration::from_secs(178), "a"), Err(SessionRefusal::Expired));
        assert_eq!(sessions.touch(t0 + Duration::from_secs(178), "a"), Err(SessionRefusal::Unknown), "removed");
    }

    #[test]
    fn a_session_ends_at_its_maximum_age_even_when_active() {
        let t0 = Instant::now();
        let mut sessions = Sessions::new(Duration::from_secs(60), Duration::from_secs(100));
        sessions.insert(t0, "a".into(), session("marta", t0));
        for s in [50, 99] {
            assert!(sessions.touch(t0 + Duration::from_secs(s), "a").is_ok());
        }
        assert_eq!(sessions.touch(t0 + Duration::from_secs(100), "a"), Err(SessionRefusal::Expired));
    }

    #[test]
    fn the_bucket_allows_a_burst_then_one_per_refill_interval() {
        let t0 = Instant::now();
        let mut limiter = Limiter::new(RateLimit { burst: 3, refill_every: Duration::from_secs(10) });
        for _ in 0..3 {
            assert_eq!(limiter.wait("ip", t0), None);
            limiter.spend("ip", t0);
        }
        assert_eq!(limiter.wait("ip", t0), Some(Duration::from_secs(10)));
        assert_eq!(limiter.wait("other", t0), None, "keys are independent");
        assert_eq!(limiter.wait("ip", t0 + Duration::from_secs(4)), Some(Duration::from_secs(6)));
        assert_eq!(limiter.wait("ip", t0 + Duration::from_secs(10)), None);
    }

    #[test]
    fn tokens_compare_in_constant_time_and_are_256_bits() {
        let token = random_token().expect("OS randomness");
        assert_eq!(token.len(), 64);
        assert!(constant_time_eq(&token, &token.clone()));
        assert!(!constant_time_eq(&token, &token[1..]));
        assert_ne!(token, random_token().expect("OS randomness"));
    }
}
