//! A sans-IO SIP registrar (RFC 3261 10.3) with Digest authentication (RFC 7616).
//!
//! # What it owns
//! The bindings of each address-of-record (several contacts each, with the source address and
//! transport each REGISTER came from), their expiry, the authentication of REGISTER requests
//! (challenges, verification, nonce-count replay), and the per-source-IP limit on failures.
//! It answers with a [`RegisterResponse`] (status and headers; the user agent prints and sends
//! it through a non-INVITE server transaction) and reports [`RegistrationEvent`]s so that the
//! ACD knows which operator phones are reachable.
//!
//! # What it must never do
//! IO, clock reads, or panics on any REGISTER. It never stores clear-text passwords and never
//! computes a digest for a source that is blocked.
//!
//! # Run-loop contract
//! Standalone: call [`Registrar::handle_register`] for each REGISTER and
//! [`Registrar::handle_timeout`] when [`Registrar::poll_timeout`] is due; drain
//! [`Registrar::poll_event`] after each. Inside a [`crate::UserAgent`] (see
//! `UserAgent::set_registrar`) the user agent does all of this and surfaces the events as
//! [`crate::CallEvent::Registration`].
//!
//! # Policy
//! A user may register only the address-of-record whose user part is its digest username.
//! Bindings are keyed by AOR and contact URI (compared as strings). Requests reach the phone at
//! the address its REGISTER came from (RFC 3581 thinking: a phone behind NAT is reachable where
//! it sent from, not at the private address in its Contact).

mod authenticate;
mod contact;
mod rate_limit;

pub use rate_limit::RateLimitConfig;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::auth::{Algorithm, Credentials, DigestConfig, DigestServer};
use crate::message::Message;
use crate::{OutgoingInvite, Transport};
use authenticate::AlgorithmFallback;
use contact::{Aor, Contacts};
use rate_limit::RateLimiter;

/// How often expired nonce-counts and forgiven sources are swept.
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// Registrar settings (from the server's config file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Digest realm, nonce secret, nonce lifetime and offered algorithms.
    pub digest: DigestConfig,
    /// Shorter non-zero expiries are refused with 423 and Min-Expires (RFC 3261 10.3 step 7).
    pub min_expires: u32,
    /// Longer expiries are shortened to this.
    pub max_expires: u32,
    /// Used when neither the contact's `expires` nor an Expires header says.
    pub default_expires: u32,
    /// When a new contact would exceed this, the binding of that AOR that expires first is
    /// dropped (reported as `Unregistered`).
    pub max_contacts_per_aor: usize,
    pub rate_limit: RateLimitConfig,
    /// Offer MD5 alone to a Call-ID that came back without credentials after a challenge
    /// (libre 1.x, i.e. baresip 1.0, refuses a 401 that names SHA-256 at all, and retries 30 to
    /// 60 s later). See `registrar/authenticate.rs`.
    pub md5_fallback: bool,
    /// User-Agent prefixes (case-insensitive) offered MD5 alone from the first challenge, so
    /// that such clients need not wait for the fallback. Default: `baresip v0.`, `baresip v1.`
    /// (libre 1.x) and `SIPp/` (SIPp 3.6 answers only the first challenge, and only MD5; our
    /// SIPp scenarios send `User-Agent: SIPp/3.6`).
    pub md5_only_user_agents: Vec<String>,
}

impl RegistrarConfig {
    /// Expiry 60..=3600 s (default 3600), 5 contacts per AOR, default rate limit, SHA-256 and
    /// MD5 challenges. `nonce_secret` must come from the OS random source.
    pub fn new(realm: impl Into<String>, nonce_secret: Vec<u8>) -> Self {
        RegistrarConfig {
            digest: DigestConfig::new(realm, nonce_secret),
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            max_contacts_per_aor: 5,
            rate_limit: RateLimitConfig::default(),
            md5_fallback: true,
            md5_only_user_agents: ["baresip v0.", "baresip v1.", "SIPp/"].map(String::from).to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistrarError {
    #[error("the digest realm is empty")]
    EmptyRealm,
    #[error("the nonce secret has {0} bytes; at least 16 are needed")]
    ShortSecret(usize),
    #[error("no digest algorithm is offered")]
    NoAlgorithm,
    #[error("expiry bounds are inconsistent: min {min} default {default} max {max}")]
    ExpiryBounds { min: u32, default: u32, max: u32 },
    #[error("max_contacts_per_aor must be at least 1")]
    NoContacts,
}

/// One registered contact of an address-of-record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// Canonical `sip:user@host`.
    pub aor: String,
    /// The Contact URI as the phone registered it: the Request-URI of requests to it.
    pub contact: String,
    /// Where the REGISTER came from: requests to the phone go here (NAT-safe; for TCP this is
    /// the connection's remote address).
    pub source: SocketAddr,
    pub transport: Transport,
    pub expires_at: Instant,
    /// `q` in thousandths, when given.
    pub q: Option<u16>,
    /// RFC 3261 10.3 step 7: refreshes are ordered by Call-ID and CSeq.
    pub call_id: String,
    pub cseq: u32,
    /// When this contact was first bound (kept across refreshes).
    pub registered_at: Instant,
}

impl Binding {
    /// An INVITE to this phone from `from_uri`: sent to [`Binding::source`] over its transport,
    /// with the contact as Request-URI and the AOR as To.
    pub fn invite(&self, from_uri: impl Into<String>, sdp: Option<Vec<u8>>) -> OutgoingInvite {
        OutgoingInvite {
            to_addr: self.source,
            transport: self.transport,
            request_uri: self.contact.clone(),
            from_uri: from_uri.into(),
            to_uri: self.aor.clone(),
            sdp,
        }
    }

    pub fn expires_in(&self, now: Instant) -> Duration {
        self.expires_at.saturating_duration_since(now)
    }
}

/// Facts about registrations, in the order they happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistrationEvent {
    /// A new contact, or a known one now reached at another address or transport.
    Registered { aor: String, contact: String, binding: Binding },
    /// Removed by the phone (`Expires: 0`, `*`) or displaced by a newer contact.
    Unregistered { aor: String, contact: String },
    /// Not refreshed in time.
    Expired { aor: String, contact: String },
    /// Credentials refused (wrong password, unknown user, replay, malformed); for security logs.
    AuthenticationFailed { source: SocketAddr, username: Option<String> },
    /// A source reached its failure limit and is refused for a while.
    SourceBlocked { source: SocketAddr, retry_after: Duration },
}

/// The registrar's answer to one REGISTER: the user agent prints it as a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
}

impl RegisterResponse {
    fn status(status: u16) -> Self {
        RegisterResponse {
            status,
            headers: Vec::new(),
        }
    }

    fn with(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// The registrar. See the module documentation for the run-loop contract.
#[derive(Debug)]
pub struct Registrar {
    config: RegistrarConfig,
    digest: DigestServer,
    credentials: Credentials,
    limiter: RateLimiter,
    fallback: AlgorithmFallback,
    bindings: HashMap<String, Vec<Binding>>,
    /// (expires_at, aor, contact) of every binding.
    expiry: BTreeSet<(Instant, String, String)>,
    events: VecDeque<RegistrationEvent>,
    next_sweep: Instant,
}

impl Registrar {
    /// `now` is the origin of nonce timestamps; `rng` salts this instance's nonces.
    pub fn new(
        config: RegistrarConfig,
        credentials: Credentials,
        now: Instant,
        rng: &mut fastrand::Rng,
    ) -> Result<Registrar, RegistrarError> {
        let d = &config.digest;
        if d.realm.is_empty() {
            return Err(RegistrarError::EmptyRealm);
        }
        if d.secret.len() < 16 {
            return Err(RegistrarError::ShortSecret(d.secret.len()));
        }
        if d.algorithms.is_empty() {
            return Err(RegistrarError::NoAlgorithm);
        }
        let (min, default, max) = (config.min_expires, config.default_expires, config.max_expires);
        if min == 0 || !(min <= default && default <= max) {
            return Err(RegistrarError::ExpiryBounds { min, default, max });
        }
        if config.max_contacts_per_aor == 0 {
            return Err(RegistrarError::NoContacts);
        }
        let algorithms = &config.digest.algorithms;
        let fallback = config.md5_fallback && algorithms.contains(&Algorithm::Md5) && algorithms.len() > 1;
        Ok(Registrar {
            fallback: AlgorithmFallback::new(fallback, config.digest.max_tracked_nonces),
            digest: DigestServer::new(config.digest.clone(), now, rng),
            limiter: RateLimiter::new(config.rate_limit),
            config,
            credentials,
            bindings: HashMap::new(),
            expiry: BTreeSet::new(),
            events: VecDeque::new(),
            next_sweep: now + SWEEP_INTERVAL,
        })
    }

    pub fn config(&self) -> &RegistrarConfig {
        &self.config
    }

    /// The credential store, to add or remove users while running.
    pub fn credentials_mut(&mut self) -> &mut Credentials {
        &mut self.credentials
    }

    /// Replaces the whole credential store (the agents file changed while running) and removes
    /// the bindings of every user it no longer holds, which are returned. No event is reported
    /// for them: the caller made the change and is told here.
    pub fn replace_credentials(&mut self, credentials: Credentials) -> Vec<Binding> {
        self.credentials = credentials;
        let gone: Vec<String> = self
            .bindings
            .keys()
            .filter(|aor| Aor::parse(aor).is_none_or(|a| !self.credentials.contains(&a.user)))
            .cloned()
            .collect();
        let mut removed = Vec::new();
        for aor in gone {
            for binding in self.bindings.remove(&aor).unwrap_or_default() {
                self.expiry.remove(&(binding.expires_at, binding.aor.clone(), binding.contact.clone()));
                removed.push(binding);
            }
        }
        removed
    }

    /// Current bindings of an AOR (any form: `sip:1001@host:port;params` is canonicalised),
    /// highest `q` first, then most recently registered.
    pub fn lookup(&self, aor: &str) -> Vec<Binding> {
        let Some(aor) = Aor::parse(aor) else { return Vec::new() };
        let mut found = self.bindings.get(&aor.canonical).cloned().unwrap_or_default();
        found.sort_by(|a, b| {
            b.q.unwrap_or(1000)
                .cmp(&a.q.unwrap_or(1000))
                .then(b.registered_at.cmp(&a.registered_at))
        });
        found
    }

    /// Number of bindings over all AORs.
    pub fn binding_count(&self) -> usize {
        self.expiry.len()
    }

    pub fn poll_event(&mut self) -> Option<RegistrationEvent> {
        self.events.pop_front()
    }

    /// The next binding expiry, or the next sweep of the nonce and rate-limit tables when they
    /// hold anything.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let tables = self.digest.tracked_nonces() + self.limiter.tracked() + self.fallback.tracked();
        let sweep = (tables > 0).then_some(self.next_sweep);
        let expiry = self.expiry.first().map(|(at, _, _)| *at);
        [sweep, expiry].into_iter().flatten().min()
    }

    /// Removes bindings expired at `now` (reported as `Expired`) and sweeps the tables.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some((at, aor, contact)) = self.expiry.first().cloned() {
            if at > now {
                break;
            }
            self.remove_binding(&aor, &contact);
            self.events.push_back(RegistrationEvent::Expired { aor, contact });
        }
        if now >= self.next_sweep {
            self.digest.purge(now);
            self.limiter.purge(now);
            self.fallback.purge(now);
            self.next_sweep = now + SWEEP_INTERVAL;
        }
    }

    /// Processes one REGISTER received from `source` over `transport` (RFC 3261 10.3).
    pub fn handle_register(
        &mut self,
        now: Instant,
        rng: &mut fastrand::Rng,
        source: SocketAddr,
        transport: Transport,
        req: &Message,
    ) -> RegisterResponse {
        if let Some(wait) = self.limiter.blocked(now, source.ip()) {
            // RFC 3261 21.5.4: 503 with Retry-After; no digest is computed for this source.
            let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
            return RegisterResponse::status(503).with("Retry-After", secs.max(1).to_string());
        }
        // RFC 3261 10.3 step 2: we support no extension a REGISTER could require.
        if let Some(required) = req.header("Require").filter(|r| !r.trim().is_empty()) {
            return RegisterResponse::status(420).with("Unsupported", required.trim().to_string());
        }
        // Step 5 before step 3: a To we cannot read is not worth a digest.
        let Some(aor) = Aor::parse(&req.core.to) else {
            return RegisterResponse::status(404);
        };
        let username = match self.authenticate(now, rng, source, req) {
            Ok(username) => username,
            Err(response) => return response,
        };
        // Step 4: a user registers its own AOR only.
        if username != aor.user {
            self.fail(now, source, Some(username));
            return RegisterResponse::status(403);
        }
        match contact::contacts(req) {
            Err(contact::BadContact) => RegisterResponse::status(400),
            Ok(contacts) => self.update(now, source, transport, req, &aor, contacts),
        }
    }

    /// Steps 6-8: checks the whole request first, then applies it, so that a refused request
    /// changes nothing.
    fn update(
        &mut self,
        now: Instant,
        source: SocketAddr,
        transport: Transport,
        req: &Message,
        aor: &Aor,
        contacts: Contacts,
    ) -> RegisterResponse {
        let (call_id, cseq) = (req.core.call_id.as_str(), req.core.cseq);
        let existing = self.bindings.get(&aor.canonical).map(Vec::as_slice).unwrap_or_default();
        // A request older than what a binding already saw from the same Call-ID is out of order.
        let out_of_order = |b: &Binding| b.call_id == call_id && cseq <= b.cseq;
        let header_expires = contact::expires_header(req);
        match contacts {
            Contacts::None => {}
            Contacts::Wildcard { entries } => {
                if entries != 1 || header_expires != Some(0) {
                    return RegisterResponse::status(400);
                }
                if existing.iter().any(out_of_order) {
                    return RegisterResponse::status(500);
                }
                let contacts: Vec<String> = existing.iter().map(|b| b.contact.clone()).collect();
                for contact in contacts {
                    self.unregister(&aor.canonical, &contact);
                }
            }
            Contacts::List(list) => {
                let mut changes = Vec::with_capacity(list.len());
                for entry in list {
                    let asked = entry.expires.or(header_expires).unwrap_or(self.config.default_expires.into());
                    if asked > 0 && asked < u64::from(self.config.min_expires) {
                        return RegisterResponse::status(423)
                            .with("Min-Expires", self.config.min_expires.to_string());
                    }
                    let found = existing.iter().find(|b| b.contact == entry.uri);
                    if found.is_some_and(out_of_order) {
                        return RegisterResponse::status(500);
                    }
                    let secs = asked.min(self.config.max_expires.into());
                    changes.push((entry, secs));
                }
                for (entry, secs) in changes {
                    if secs == 0 {
                        self.unregister(&aor.canonical, &entry.uri);
                        continue;
                    }
                    let binding = Binding {
                        aor: aor.canonical.clone(),
                        contact: entry.uri,
                        source,
                        transport,
                        expires_at: now + Duration::from_secs(secs),
                        q: entry.q,
                        call_id: call_id.to_string(),
                        cseq,
                        registered_at: now,
                    };
                    self.bind(binding);
                }
            }
        }
        let mut ok = RegisterResponse::status(200);
        for b in self.lookup(&aor.canonical) {
            let secs = b.expires_in(now).as_secs_f64().ceil() as u64;
            let q = b.q.map(|q| format!(";q={}", contact::format_q(q))).unwrap_or_default();
            ok.headers.push(("Contact", format!("<{}>;expires={secs}{q}", b.contact)));
        }
        ok
    }

    fn bind(&mut self, mut binding: Binding) {
        let aor = binding.aor.clone();
        let list = self.bindings.entry(aor.clone()).or_default();
        if let Some(old) = list.iter_mut().find(|b| b.contact == binding.contact) {
            let moved = old.source != binding.source || old.transport != binding.transport;
            binding.registered_at = old.registered_at;
            self.expiry.remove(&(old.expires_at, aor.clone(), old.contact.clone()));
            *old = binding.clone();
            self.expiry.insert((binding.expires_at, aor.clone(), binding.contact.clone()));
            if moved {
                self.events.push_back(RegistrationEvent::Registered {
                    aor,
                    contact: binding.contact.clone(),
                    binding,
                });
            }
            return;
        }
        if list.len() >= self.config.max_contacts_per_aor {
            let first = list.iter().min_by_key(|b| b.expires_at).map(|b| b.contact.clone());
            if let Some(contact) = first {
                self.unregister(&aor, &contact);
            }
        }
        self.expiry.insert((binding.expires_at, aor.clone(), binding.contact.clone()));
        self.bindings.entry(aor.clone()).or_default().push(binding.clone());
        self.events.push_back(RegistrationEvent::Registered {
            aor,
            contact: binding.contact.clone(),
            binding,
        });
    }

    fn unregister(&mut self, aor: &str, contact: &str) {
        if self.remove_binding(aor, contact) {
            self.events.push_back(RegistrationEvent::Unregistered {
                aor: aor.to_string(),
                contact: contact.to_string(),
            });
        }
    }

    fn remove_binding(&mut self, aor: &str, contact: &str) -> bool {
        let Some(list) = self.bindings.get_mut(aor) else { return false };
        let Some(pos) = list.iter().position(|b| b.contact == contact) else { return false };
        let removed = list.remove(pos);
        if list.is_empty() {
            self.bindings.remove(aor);
        }
        self.expiry.remove(&(removed.expires_at, removed.aor, removed.contact));
        true
    }
}

#[cfg(test)]
mod tests;
