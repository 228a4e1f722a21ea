//! RFC 3261 10.3 step 3: authenticating a REGISTER, charging failures to the source, and the
//! MD5 fallback for clients that cannot read a SHA-256 challenge.
//!
//! Why the fallback: RFC 7616 / RFC 8760 say to offer SHA-256 first and MD5 after it, and a
//! client should answer the strongest challenge it supports. libre 1.x (baresip 1.0, the
//! `baresip-core` of Debian 12) instead gives up on the whole response when any challenge names
//! an algorithm other than MD5, and retries later with the same Call-ID and no credentials. So a
//! Call-ID that was challenged and comes back without credentials is offered MD5 alone from then
//! on (sticky while it keeps registering, so that `stale` re-challenges stay readable to it).
//! Known User-Agent prefixes (`md5_only_user_agents`) get MD5 alone at once, without that wait.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{RegisterResponse, Registrar, RegistrationEvent};
use crate::auth::{Algorithm, VerifyError};
use crate::message::{Message, StartLine};

/// Authorization headers looked at per request: bounds the hashing one request can cause.
const MAX_AUTHORIZATIONS: usize = 4;

/// Call-IDs that were challenged, and whether they are on MD5 only.
#[derive(Debug)]
pub(super) struct AlgorithmFallback {
    enabled: bool,
    memo: HashMap<String, Memo>,
    max_entries: usize,
}

#[derive(Debug)]
struct Memo {
    md5_only: bool,
    forget_at: Instant,
}

impl AlgorithmFallback {
    pub(super) fn new(enabled: bool, max_entries: usize) -> Self {
        AlgorithmFallback {
            enabled,
            memo: HashMap::new(),
            max_entries,
        }
    }

    /// A request without credentials: the second one from a challenged Call-ID switches it to
    /// MD5 only.
    fn on_unauthenticated(&mut self, now: Instant, call_id: &str, ttl: Duration) {
        if !self.enabled {
            return;
        }
        if let Some(memo) = self.memo.get_mut(call_id).filter(|m| m.forget_at > now) {
            memo.md5_only = true;
            memo.forget_at = now + ttl;
            return;
        }
        if self.memo.len() >= self.max_entries {
            self.purge(now);
        }
        if self.memo.len() < self.max_entries || self.memo.contains_key(call_id) {
            let memo = Memo {
                md5_only: false,
                forget_at: now + ttl,
            };
            self.memo.insert(call_id.to_string(), memo);
        }
    }

    /// Accepted credentials: a Call-ID on MD5 stays on it; the others need no memory.
    fn on_success(&mut self, now: Instant, call_id: &str, ttl: Duration) {
        match self.memo.get_mut(call_id) {
            Some(memo) if memo.md5_only => memo.forget_at = now + ttl,
            Some(_) => {
                self.memo.remove(call_id);
            }
            None => {}
        }
    }

    fn md5_only(&self, now: Instant, call_id: &str) -> bool {
        self.memo
            .get(call_id)
            .is_some_and(|m| m.md5_only && m.forget_at > now)
    }

    pub(super) fn purge(&mut self, now: Instant) {
        self.memo.retain(|_, m| m.forget_at > now);
    }

    pub(super) fn tracked(&self) -> usize {
        self.memo.len()
    }
}

impl Registrar {
    /// How long a Call-ID's fallback state is kept: a refresh interval plus a nonce's life.
    fn fallback_ttl(&self) -> Duration {
        Duration::from_secs(self.config.max_expires.into()) + self.config.digest.nonce_lifetime
    }

    /// The digest username, or the response to send.
    pub(super) fn authenticate(
        &mut self,
        now: Instant,
        rng: &mut fastrand::Rng,
        source: SocketAddr,
        req: &Message,
    ) -> Result<String, RegisterResponse> {
        let uri = match &req.start {
            StartLine::Request { uri, .. } => uri.as_str(),
            StartLine::Response { .. } => "",
        };
        let call_id = req.core.call_id.as_str();
        let ttl = self.fallback_ttl();
        let known_md5_only = req.header("User-Agent").is_some_and(|ua| {
            let ua = ua.trim().as_bytes();
            self.config.md5_only_user_agents.iter().any(|p| {
                ua.get(..p.len()).is_some_and(|head| head.eq_ignore_ascii_case(p.as_bytes()))
            })
        });
        let mut first_error = None;
        // Several credentials for our realm (libre 3 answers both challenges): any one will do.
        for value in req.headers_named("Authorization").take(MAX_AUTHORIZATIONS) {
            match self.digest.verify(now, "REGISTER", uri, value, &self.credentials) {
                Ok(verified) => {
                    self.fallback.on_success(now, call_id, ttl);
                    return Ok(verified.username);
                }
                // Credentials for another realm are for someone else.
                Err(VerifyError::OtherRealm) => {}
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let Some(error) = first_error else {
            self.fallback.on_unauthenticated(now, call_id, ttl);
            let md5_only = known_md5_only || self.fallback.md5_only(now, call_id);
            return Err(self.challenge(now, rng, md5_only, false));
        };
        if error.counts_as_failure() {
            let username = match &error {
                VerifyError::Rejected { username } | VerifyError::Replayed { username } => {
                    Some(username.clone())
                }
                _ => None,
            };
            self.fail(now, source, username);
        }
        let md5_only = known_md5_only || self.fallback.md5_only(now, call_id);
        Err(match error {
            VerifyError::Stale => self.challenge(now, rng, md5_only, true),
            VerifyError::AlgorithmNotOffered
            | VerifyError::Replayed { .. }
            | VerifyError::OtherRealm => self.challenge(now, rng, md5_only, false),
            VerifyError::Malformed(_) | VerifyError::UriMismatch => RegisterResponse::status(400),
            VerifyError::Rejected { .. } => RegisterResponse::status(403),
        })
    }

    /// 401 with one WWW-Authenticate per offered algorithm (one shared nonce).
    fn challenge(&self, now: Instant, rng: &mut fastrand::Rng, md5_only: bool, stale: bool) -> RegisterResponse {
        let only = [Algorithm::Md5];
        // MD5 alone only where MD5 is offered at all.
        let algorithms: &[Algorithm] = if md5_only && self.config.digest.algorithms.contains(&Algorithm::Md5) {
            &only
        } else {
            &self.config.digest.algorithms
        };
        let mut response = RegisterResponse::status(401);
        for value in self.digest.challenges_with(now, rng, stale, algorithms) {
            response.headers.push(("WWW-Authenticate", value));
        }
        response
    }

    /// Reports a failure and charges it to the source's IP.
    pub(super) fn fail(&mut self, now: Instant, source: SocketAddr, username: Option<String>) {
        self.events
            .push_back(RegistrationEvent::AuthenticationFailed { source, username });
        self.limiter.record_failure(now, source.ip());
        if let Some(retry_after) = self.limiter.blocked(now, source.ip()) {
            self.events
                .push_back(RegistrationEvent::SourceBlocked { source, retry_after });
        }
    }
}
