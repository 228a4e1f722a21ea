//! Simulated operators: phones that register with the server's registrar
//! (RFC 3261 10.2, answered with RFC 7616 Digest through `ivr_sip::auth`),
//! ring for a while when the ACD offers a call, answer, talk for a
//! log-normal handle time and hang up. Wrap-up and breaks are the server's
//! ACD's (it puts an agent in wrap-up after each call).
//!
//! Owns the REGISTER exchange text and each operator's small state; never
//! sockets or the clock. Calls themselves run on the engine's shared
//! `UserAgent`; the engine routes an incoming INVITE here by its
//! Request-URI user (the Contact each operator registered).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_sip::LegId;
use ivr_sip::auth::DigestChallenge;
use ivr_sip::message::{Message, StartLine};

/// Registration lifetime asked for; the registrar may grant less (ours
/// caps it at an hour), and the binding is refreshed at half of what was
/// granted (RFC 3261 10.2.4), so a soak of hours keeps its operators.
const EXPIRES_SECS: u32 = 7200;

/// An operator as configured: login (the registrar's user) and password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorConfig {
    pub login: String,
    pub password: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Unregistered,
    /// REGISTER sent (`authorized`: with credentials).
    Pending { authorized: bool },
    Registered,
    /// Refused (403, or a second 401): counted, not retried.
    Refused { status: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorCall {
    Ringing { leg: LegId, answer_at: Instant },
    Talking { leg: LegId, until: Instant },
}

pub struct Operator {
    pub config: OperatorConfig,
    /// The Contact user: unique per operator in this run.
    pub contact_user: String,
    pub registration: Registration,
    call_id: String,
    from_tag: String,
    cseq: u32,
    /// A refresh in flight (`authorized`: with credentials); the binding
    /// stays in force meanwhile.
    refreshing: Option<bool>,
    /// When to refresh the binding (half the granted lifetime).
    pub refresh_at: Option<Instant>,
    pub call: Option<OperatorCall>,
    pub calls_answered: u64,
    pub offers_missed: u64,
}

impl Operator {
    pub fn new(config: OperatorConfig, rng: &mut fastrand::Rng) -> Operator {
        let contact_user = format!("{}-{:06x}", config.login, rng.u32(..0xff_ffff));
        Operator {
            config,
            contact_user,
            registration: Registration::Unregistered,
            call_id: format!("reg-{:016x}@loadtest", rng.u64(..)),
            from_tag: format!("{:08x}", rng.u32(..)),
            cseq: 0,
            refreshing: None,
            refresh_at: None,
            call: None,
            calls_answered: 0,
            offers_missed: 0,
        }
    }

    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// The first REGISTER, without credentials.
    pub fn register(&mut self, local: SocketAddr, server: SocketAddr, rng: &mut fastrand::Rng) -> Vec<u8> {
        self.registration = Registration::Pending { authorized: false };
        self.request(local, server, None, rng)
    }

    /// Refreshes the binding before it expires: the same Call-ID, the
    /// next CSeq; the operator stays registered (and takes calls) while it
    /// is in flight.
    pub fn refresh(&mut self, local: SocketAddr, server: SocketAddr, rng: &mut fastrand::Rng) -> Option<Vec<u8>> {
        if self.registration != Registration::Registered || self.refreshing.is_some() {
            return None;
        }
        self.refresh_at = None;
        self.refreshing = Some(false);
        Some(self.request(local, server, None, rng))
    }

    /// The lifetime the registrar granted our contact: its Contact's
    /// `expires` parameter, else the Expires header, else what we asked.
    fn granted(&self, response: &Message) -> u32 {
        let param = response.headers_named("Contact").find(|c| c.contains(self.contact_user.as_str())).and_then(|c| {
            let at = c.find("expires=")? + "expires=".len();
            c[at..].split(|ch: char| !ch.is_ascii_digit()).next()?.parse().ok()
        });
        param.or_else(|| response.header("Expires").and_then(|e| e.trim().parse().ok())).unwrap_or(EXPIRES_SECS)
    }

    fn request(&mut self, local: SocketAddr, server: SocketAddr, authorization: Option<String>, rng: &mut fastrand::Rng) -> Vec<u8> {
        self.cseq += 1;
        let host = ivr_sip::message::host_port(server);
        let me = ivr_sip::message::host_port(local);
        let aor = format!("sip:{}@{host}", self.config.login);
        let mut text = format!(
            "REGISTER sip:{host} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{:016x};rport\r\nMax-Forwards: 70\r\n\
             From: <{aor}>;tag={}\r\nTo: <{aor}>\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\n\
             Contact: <sip:{}@{me}>\r\nExpires: {EXPIRES_SECS}\r\nUser-Agent: loadtest\r\n",
            rng.u64(..),
            self.from_tag,
            self.call_id,
            self.cseq,
            self.contact_user,
        );
        if let Some(value) = authorization {
            text.push_str(&format!("Authorization: {value}\r\n"));
        }
        text.push_str("Content-Length: 0\r\n\r\n");
        text.into_bytes()
    }

    /// A response to our REGISTER: a challenge is answered once (the
    /// request to send back is returned); 2xx registers; anything else
    /// refuses.
    pub fn on_response(&mut self, now: Instant, response: &Message, local: SocketAddr, server: SocketAddr, rng: &mut fastrand::Rng) -> Option<Vec<u8>> {
        let StartLine::Response { status, .. } = response.start else { return None };
        let authorized = match (self.registration, self.refreshing) {
            (Registration::Pending { authorized }, _) | (Registration::Registered, Some(authorized)) => authorized,
            _ => return None,
        };
        match status {
            100..=199 => None,
            200..=299 => {
                self.registration = Registration::Registered;
                self.refreshing = None;
                self.refresh_at = Some(now + Duration::from_secs(u64::from(self.granted(response).max(2) / 2)));
                None
            }
            401 | 407 if !authorized => {
                let header = if status == 401 { "WWW-Authenticate" } else { "Proxy-Authenticate" };
                let Some(challenge) = DigestChallenge::pick(response.headers_named(header)) else {
                    self.registration = Registration::Refused { status };
                    return None;
                };
                let uri = format!("sip:{}", ivr_sip::message::host_port(server));
                let cnonce = format!("{:016x}", rng.u64(..));
                let value = challenge.authorization(&self.config.login, &self.config.password, "REGISTER", &uri, &cnonce, 1);
                if self.refreshing.is_some() {
                    self.refreshing = Some(true);
                } else {
                    self.registration = Registration::Pending { authorized: true };
                }
                Some(self.request(local, server, Some(value), rng))
            }
            _ => {
                self.registration = Registration::Refused { status };
                self.refreshing = None;
                None
            }
        }
    }

    pub fn is_free(&self) -> bool {
        self.registration == Registration::Registered && self.call.is_none()
    }

    pub fn leg(&self) -> Option<LegId> {
        match self.call {
            Some(OperatorCall::Ringing { leg, .. } | OperatorCall::Talking { leg, .. }) => Some(leg),
            None => None,
        }
    }

    pub fn next_wake(&self) -> Option<Instant> {
        match self.call {
            Some(OperatorCall::Ringing { answer_at, .. }) => Some(answer_at),
            Some(OperatorCall::Talking { until, .. }) => Some(until),
            None => None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("reading {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the ACD files: {0}")]
    Config(#[from] ivr_acd::ConfigError),
    #[error("agent {login}: password from environment variable {var}, which is not set")]
    MissingEnv { login: String, var: String },
}

/// The operators of the server's own ACD files, with their passwords
/// resolved as the server resolves them (demo, environment, file).
/// Agents without a password cannot register and are left out.
pub fn operators_from_files(queues: &std::path::Path, agents: &std::path::Path) -> Result<Vec<OperatorConfig>, OperatorsError> {
    let read = |p: &std::path::Path| std::fs::read_to_string(p).map_err(|source| OperatorsError::Read { path: p.display().to_string(), source });
    let config = ivr_acd::AcdConfig::parse(&queues.display().to_string(), &read(queues)?, &agents.display().to_string(), &read(agents)?)?;
    let mut out = Vec::new();
    for agent in config.agents {
        let password = match agent.password {
            Some(ivr_acd::SecretRef::Demo(p)) => p,
            Some(ivr_acd::SecretRef::Env(var)) => {
                std::env::var(&var).map_err(|_| OperatorsError::MissingEnv { login: agent.login.clone(), var })?
            }
            Some(ivr_acd::SecretRef::File(path)) => read(std::path::Path::new(&path))?.trim_end().to_owned(),
            None => continue,
        };
        out.push(OperatorConfig { login: agent.sip_user, password });
    }
    Ok(out)
}

/// The user part of a SIP URI (`sip:user@host;params`).
pub fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri.strip_prefix("sip:").or_else(|| uri.strip_prefix("sips:"))?;
    rest.split_once('@').map(|(user, _)| user)
}

/// A talk time from the journey model, scaled and at least a second.
pub fn scaled_talk(talk: Duration, scale: f64) -> Duration {
    talk.mul_f64(scale.max(0.0)).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ivr_sip::auth::{Credentials, DigestConfig, DigestServer, UserCredentials};

    /// An operator's phone on 127.0.0.1:5070 for the server at :5060.
    fn phone(login: &str, password: &str) -> (Operator, SocketAddr, SocketAddr, fastrand::Rng) {
        let mut rng = fastrand::Rng::with_seed(7);
        let local: SocketAddr = "127.0.0.1:5070".parse().expect("literal");
        let server: SocketAddr = "127.0.0.1:5060".parse().expect("literal");
        let op = Operator::new(OperatorConfig { login: login.into(), password: password.into() }, &mut rng);
        (op, local, server, rng)
    }

    #[test]
    fn register_is_challenged_answered_with_digest_and_accepted_by_the_servers_own_verifier() {
        let (mut op, local, server, mut rng) = phone("jordi", "demo-jordi-012");
        let request = op.register(local, server, &mut rng);
        let first = ivr_sip::message::parse(&request).expect("our REGISTER parses");
        assert_eq!(first.header("Authorization"), None);
        assert!(first.header("Contact").is_some_and(|c| c.contains(&op.contact_user)));

        let now = Instant::now();
        let mut digest = DigestServer::new(DigestConfig::new("012", vec![9; 32]), now, &mut rng);
        let challenge = digest.challenges(now, &mut rng, false).join("\r\nWWW-Authenticate: ");
        let response = response_to(&request, "401 Unauthorized", &format!("WWW-Authenticate: {challenge}\r\n"));
        let second = op.on_response(now, &response, local, server, &mut rng).expect("the challenge is answered");
        let second = ivr_sip::message::parse(&second).expect("parses");
        assert_eq!(second.core.cseq, 2);
        let authorization = second.header("Authorization").expect("credentials");
        let mut credentials = Credentials::new();
        credentials.insert("jordi", UserCredentials::from_password("jordi", "012", "demo-jordi-012"));
        let verified = digest.verify(now, "REGISTER", "sip:127.0.0.1:5060", authorization, &credentials);
        assert!(verified.is_ok(), "{verified:?}");
        // A second 401 after credentials is a refusal, not a loop.
        assert_eq!(op.on_response(now, &response, local, server, &mut rng), None);
        assert_eq!(op.registration, Registration::Refused { status: 401 });
    }

    fn response_to(request: &[u8], status: &str, extra: &str) -> Message {
        let r = ivr_sip::message::parse(request).expect("our REGISTER parses");
        let text = format!(
            "SIP/2.0 {status}\r\nVia: {}\r\nFrom: {}\r\nTo: {};tag=s1\r\nCall-ID: {}\r\nCSeq: {} REGISTER\r\n{extra}Content-Length: 0\r\n\r\n",
            r.core.vias[0],
            r.header("From").expect("From"),
            r.header("To").expect("To"),
            r.core.call_id,
            r.core.cseq
        );
        ivr_sip::message::parse(text.as_bytes()).expect("the response parses")
    }

    /// The soak's finding: our registrar grants an hour, the operators
    /// asked for two and never refreshed, and after an hour the queue had
    /// nobody logged in.
    #[test]
    fn a_binding_is_refreshed_at_half_its_granted_lifetime_and_the_operator_stays_available_meanwhile() {
        let (mut op, local, server, mut rng) = phone("marta", "x");
        let t0 = Instant::now();
        let first = op.register(local, server, &mut rng);
        let contact = format!("Contact: <sip:{}@127.0.0.1:5070>;expires=3600\r\n", op.contact_user);
        assert_eq!(op.on_response(t0, &response_to(&first, "200 OK", &contact), local, server, &mut rng), None);
        assert_eq!(op.registration, Registration::Registered);
        assert_eq!(op.refresh_at, Some(t0 + Duration::from_secs(1800)));

        let again = op.refresh(local, server, &mut rng).expect("a refresh");
        let parsed = ivr_sip::message::parse(&again).expect("parses");
        assert_eq!((parsed.core.call_id.as_str(), parsed.core.cseq), (op.call_id(), 2));
        assert!(op.is_free(), "still registered while the refresh is in flight");
        assert_eq!(op.refresh(local, server, &mut rng), None, "one refresh at a time");
        // The registrar challenges the refresh: answered with credentials.
        let challenge = "WWW-Authenticate: Digest realm=\"012\", nonce=\"abc\", algorithm=MD5, qop=\"auth\"\r\n";
        let with_credentials = op.on_response(t0, &response_to(&again, "401 Unauthorized", challenge), local, server, &mut rng).expect("answered");
        assert!(ivr_sip::message::parse(&with_credentials).expect("parses").header("Authorization").is_some());
        assert!(op.is_free());
        // Granted by the Expires header this time.
        let t1 = t0 + Duration::from_secs(1800);
        op.on_response(t1, &response_to(&with_credentials, "200 OK", "Expires: 600\r\n"), local, server, &mut rng);
        assert_eq!(op.refresh_at, Some(t1 + Duration::from_secs(300)));
        assert_eq!(op.registration, Registration::Registered);
    }

    #[test]
    fn the_repositorys_demo_agents_are_read_with_their_sip_users_and_passwords() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../dialplans");
        let ops = operators_from_files(&root.join("queues.toml"), &root.join("agents.toml")).expect("the demo files parse");
        assert!(ops.contains(&OperatorConfig { login: "jordi".into(), password: "demo-jordi-012".into() }), "{ops:?}");
    }

    #[test]
    fn uri_users_and_talk_times() {
        assert_eq!(uri_user("sip:marta-00a1b2@127.0.0.1:5070;transport=udp"), Some("marta-00a1b2"));
        assert_eq!(uri_user("tel:+3412"), None);
        assert_eq!(scaled_talk(Duration::from_secs(180), 0.01), Duration::from_secs(1) + Duration::from_millis(800));
        assert_eq!(scaled_talk(Duration::from_secs(180), 0.0), Duration::from_secs(1));
    }
}
