//! Simulated operators: phones that register with the server's registrar
//! (RFC 3261 10.2, answered with RFC 7616 Digest through `ivr_sip::auth`),
//! ring for a while when the ACD offers a call, answer, talk for a
//! log-normal handle time and hang up. Wrap-up is the server's ACD's (it
//! puts an agent in wrap-up after each call).
//!
//! Optionally through the agent console as well (`--console-url`): once
//! registered, an operator signs in and sets its status `login` and
//! `available`, takes breaks by a [`BreakPlan`] (status `break`, only when
//! not on a call, and `available` after the break's length) and at the end
//! `logout`. An offer that rings an operator the console has confirmed on
//! break is counted ([`Operator::offers_on_break`]): the ACD must never
//! offer to an agent on break.
//!
//! Owns the REGISTER exchange text and each operator's small state,
//! console and breaks included; never sockets, HTTP or the clock. Calls
//! themselves run on the engine's shared `UserAgent`; the engine routes an
//! incoming INVITE here by its Request-URI user (the Contact each operator
//! registered), and carries console requests out and answers in.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_sip::LegId;
use ivr_sip::auth::DigestChallenge;
use ivr_sip::message::{Message, StartLine};

use super::console::{ActionKind, AgentStatus, ConsoleAction};

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
    pub console: ConsoleState,
    pub breaks: BreakState,
    /// Signed in to the console at some point of the run.
    pub console_signed_in: bool,
    pub breaks_taken: u64,
    /// Time on break, from the console's confirmation to asking to be
    /// available again.
    pub break_time: Duration,
    /// Offers that rang while the console had confirmed a break.
    pub offers_on_break: u64,
    /// Console requests that failed or were answered otherwise than asked,
    /// and the first few reasons.
    pub console_failures: u64,
    pub console_errors: Vec<String>,
}

/// The operator's standing in the agent console.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleState {
    /// The run does not use the console.
    Unused,
    SignedOut,
    SigningIn,
    SignedIn,
    /// The sign-in failed: the operator works by its phone only.
    Refused,
    SigningOut,
}

/// Where an operator is in its break plan. `due` is the planned start of
/// the current (or next) break; the one after is planned a period later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakState {
    /// No break planned (no plan, or the run is ending).
    Unplanned,
    Working { due: Instant },
    /// Due during a call: asked for as soon as the call ends.
    Deferred { due: Instant },
    /// Asked for; the console's answer is pending.
    Asked { due: Instant },
    /// Confirmed by the console at `since`, until `until`. `grace`: an
    /// offer was already ringing (or a callback reserved) as the break
    /// began and its INVITE had not arrived yet; that one is no fault.
    OnBreak { due: Instant, since: Instant, until: Instant, grace: bool },
    /// `available` asked; offers are expected again from now.
    Returning { due: Instant },
}

/// Breaks: every `every` an operator takes one of `length` with `reason`.
/// Given in the profile's time and scaled like talk times
/// ([`BreakPlan::scaled`]); staggered by the engine so that operators do
/// not all break at once.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakPlan {
    pub every: Duration,
    pub length: Duration,
    pub reason: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BreakPlanError {
    #[error("{0:?}: give EVERY_SECS:LENGTH_SECS, e.g. 3600:600")]
    Shape(String),
    #[error("{0:?}: seconds must be positive numbers")]
    Number(String),
    #[error("{0:?}: a break must be shorter than its period")]
    TooLong(String),
}

impl BreakPlan {
    /// `EVERY_SECS:LENGTH_SECS` (the reason is `loadtest`).
    pub fn parse(text: &str) -> Result<BreakPlan, BreakPlanError> {
        let (every, length) = text.split_once(':').ok_or_else(|| BreakPlanError::Shape(text.to_owned()))?;
        let secs = |t: &str| {
            t.trim().parse::<f64>().ok().filter(|s| s.is_finite() && *s > 0.0 && *s < 1e9).ok_or_else(|| BreakPlanError::Number(text.to_owned()))
        };
        let (every, length) = (secs(every)?, secs(length)?);
        if length >= every {
            return Err(BreakPlanError::TooLong(text.to_owned()));
        }
        Ok(BreakPlan { every: Duration::from_secs_f64(every), length: Duration::from_secs_f64(length), reason: "loadtest".to_owned() })
    }

    /// In the run's time: both scaled, at least a second, the break at
    /// most half its period.
    pub fn scaled(&self, scale: f64) -> BreakPlan {
        let every = self.every.mul_f64(scale.max(0.0)).max(Duration::from_secs(1));
        let length = self.length.mul_f64(scale.max(0.0)).max(Duration::from_secs(1)).min(every / 2);
        BreakPlan { every, length, reason: self.reason.clone() }
    }
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
            console: ConsoleState::Unused,
            breaks: BreakState::Unplanned,
            console_signed_in: false,
            breaks_taken: 0,
            break_time: Duration::ZERO,
            offers_on_break: 0,
            console_failures: 0,
            console_errors: Vec::new(),
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

    // ------------------------------------------------- console and breaks

    /// Registered and never signed in to the console yet: sign in now (a
    /// binding refreshed after the sign-out at the run's end is not).
    pub fn console_sign_in(&mut self) -> Option<ConsoleAction> {
        if self.console != ConsoleState::SignedOut || self.console_signed_in || self.registration != Registration::Registered {
            return None;
        }
        self.console = ConsoleState::SigningIn;
        Some(ConsoleAction::SignIn { login: self.config.login.clone(), password: self.config.password.clone() })
    }

    /// The first break of the plan is due at `first`.
    pub fn plan_breaks(&mut self, first: Instant) {
        self.breaks = BreakState::Working { due: first };
    }

    /// When [`Operator::break_wake`] has something to do.
    pub fn next_break_wake(&self) -> Option<Instant> {
        match self.breaks {
            BreakState::Working { due } => Some(due),
            BreakState::OnBreak { until, .. } => Some(until),
            _ => None,
        }
    }

    /// A break falls due (asked for now, or after the call in progress),
    /// or ends (back to `available`).
    pub fn break_wake(&mut self, now: Instant, plan: &BreakPlan) -> Option<ConsoleAction> {
        match self.breaks {
            BreakState::Working { due } if due <= now => {
                if self.console != ConsoleState::SignedIn {
                    // Not signed in (refused, or not yet): this one is skipped.
                    self.breaks = BreakState::Working { due: due + plan.every };
                    None
                } else if self.call.is_some() {
                    self.breaks = BreakState::Deferred { due };
                    None
                } else {
                    self.breaks = BreakState::Asked { due };
                    Some(ConsoleAction::Break { reason: plan.reason.clone() })
                }
            }
            BreakState::OnBreak { due, since, until, .. } if until <= now => {
                self.break_time += now.saturating_duration_since(since);
                self.breaks = BreakState::Returning { due };
                Some(ConsoleAction::Available)
            }
            _ => None,
        }
    }

    /// The operator's call ended: a deferred break is asked for now.
    pub fn call_ended(&mut self, plan: &BreakPlan) -> Option<ConsoleAction> {
        match self.breaks {
            BreakState::Deferred { due } if self.console == ConsoleState::SignedIn && self.call.is_none() => {
                self.breaks = BreakState::Asked { due };
                Some(ConsoleAction::Break { reason: plan.reason.clone() })
            }
            _ => None,
        }
    }

    /// An offer rang this operator: true when it rang during a break the
    /// console had confirmed (a fault of the server, counted).
    pub fn offered(&mut self) -> bool {
        match &mut self.breaks {
            BreakState::OnBreak { grace, .. } if *grace => {
                *grace = false;
                false
            }
            BreakState::OnBreak { .. } => {
                self.offers_on_break += 1;
                true
            }
            _ => false,
        }
    }

    /// The console's answer to this operator's request; returns when the
    /// break plan wants waking next (a timer to arm).
    pub fn console_answered(&mut self, now: Instant, kind: ActionKind, outcome: Result<&AgentStatus, String>, plan: Option<&BreakPlan>) -> Option<Instant> {
        let every = plan.map_or(Duration::ZERO, |p| p.every);
        let answered_as = |wanted: &str| match &outcome {
            Ok(s) if s.status == wanted => Ok(*s),
            Ok(s) => Err(format!("{kind:?}: the console answered status {} (state {}), not {wanted}", s.status, s.state)),
            Err(e) => Err(format!("{kind:?}: {e}")),
        };
        let result = match (kind, self.console, self.breaks) {
            (ActionKind::SignIn, ConsoleState::SigningIn, _) => {
                let result = answered_as("available");
                self.console = if result.is_ok() { ConsoleState::SignedIn } else { ConsoleState::Refused };
                self.console_signed_in |= result.is_ok();
                result.map(|_| None).map_err(|e| (e, None))
            }
            (ActionKind::Break, ConsoleState::SignedIn, BreakState::Asked { due }) => match answered_as("on_break") {
                Ok(s) => {
                    // A ringing offer keeps ringing on a break (the ACD's
                    // rule); its INVITE may still be on its way.
                    let grace = matches!(s.state.as_str(), "offered" | "reserved") && self.call.is_none();
                    let until = now + plan.map_or(Duration::ZERO, |p| p.length);
                    self.breaks = BreakState::OnBreak { due, since: now, until, grace };
                    self.breaks_taken += 1;
                    Ok(Some(until))
                }
                Err(e) => {
                    self.breaks = BreakState::Working { due: due + every };
                    Err((e, Some(due + every)))
                }
            },
            (ActionKind::Available, ConsoleState::SignedIn, BreakState::Returning { due }) => {
                let next = (due + every).max(now);
                self.breaks = BreakState::Working { due: next };
                answered_as("available").map(|_| Some(next)).map_err(|e| (e, Some(next)))
            }
            (ActionKind::SignOut, ConsoleState::SigningOut, _) => {
                self.console = ConsoleState::SignedOut;
                answered_as("logged_out").map(|_| None).map_err(|e| (e, None))
            }
            // An answer the run has moved on from (a break answered after
            // the sign-out began): its errors still count.
            _ => outcome.as_ref().map(|_| None).map_err(|e| (format!("{kind:?}: {e}"), None)),
        };
        match result {
            Ok(wake) => wake,
            Err((error, wake)) => {
                self.console_failures += 1;
                if self.console_errors.len() < 3 {
                    self.console_errors.push(error);
                }
                wake
            }
        }
    }

    /// The end of the run: `logout` (a break in progress ends with it).
    pub fn console_sign_out(&mut self, now: Instant) -> Option<ConsoleAction> {
        if let BreakState::OnBreak { since, .. } = self.breaks {
            self.break_time += now.saturating_duration_since(since);
        }
        self.breaks = BreakState::Unplanned;
        if self.console != ConsoleState::SignedIn {
            return None;
        }
        self.console = ConsoleState::SigningOut;
        Some(ConsoleAction::SignOut)
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

    /// A registered operator signed in to the console, with a plan of a
    /// 3 s break every 10 s.
    fn signed_in(t0: Instant) -> (Operator, BreakPlan) {
        let (mut op, _, _, _) = phone("op001", "demo-op001-012");
        op.registration = Registration::Registered;
        op.console = ConsoleState::SignedOut;
        let sign_in = op.console_sign_in().expect("signs in once registered");
        assert_eq!(sign_in, ConsoleAction::SignIn { login: "op001".into(), password: "demo-op001-012".into() });
        assert_eq!(op.console_sign_in(), None, "one sign-in");
        assert_eq!(op.console_answered(t0, ActionKind::SignIn, Ok(&agent("available", "idle")), None), None);
        assert_eq!((op.console, op.console_signed_in), (ConsoleState::SignedIn, true));
        let plan = BreakPlan { every: Duration::from_secs(10), length: Duration::from_secs(3), reason: "loadtest".into() };
        op.plan_breaks(t0 + Duration::from_secs(5));
        (op, plan)
    }

    fn agent(status: &str, state: &str) -> AgentStatus {
        AgentStatus { status: status.into(), state: state.into(), break_reason: None }
    }

    /// [`signed_in`] with its first break (due 5 s in) asked for.
    fn break_asked(t0: Instant) -> (Operator, BreakPlan, Instant) {
        let (mut op, plan) = signed_in(t0);
        let due = t0 + Duration::from_secs(5);
        assert_eq!(op.break_wake(due, &plan), Some(ConsoleAction::Break { reason: "loadtest".into() }));
        (op, plan, due)
    }

    #[test]
    fn a_break_is_asked_for_off_a_call_lasts_its_length_and_ends_by_asking_to_be_available() {
        let t0 = Instant::now();
        let (mut op, plan) = signed_in(t0);
        let due = t0 + Duration::from_secs(5);
        assert_eq!(op.next_break_wake(), Some(due));
        assert_eq!(op.break_wake(due - Duration::from_millis(1), &plan), None, "not yet");
        assert_eq!(op.break_wake(due, &plan), Some(ConsoleAction::Break { reason: "loadtest".into() }));
        // Confirmed 50 ms later: on break for the plan's length from then.
        let confirmed = due + Duration::from_millis(50);
        let until = op.console_answered(confirmed, ActionKind::Break, Ok(&agent("on_break", "idle")), Some(&plan));
        assert_eq!(until, Some(confirmed + Duration::from_secs(3)));
        assert_eq!(op.breaks_taken, 1);
        assert_eq!(op.break_wake(confirmed + Duration::from_secs(3), &plan), Some(ConsoleAction::Available));
        assert_eq!(op.break_time, Duration::from_secs(3));
        // Back: the next break a period after this one was due.
        let back = op.console_answered(confirmed + Duration::from_secs(3), ActionKind::Available, Ok(&agent("available", "idle")), Some(&plan));
        assert_eq!(back, Some(due + Duration::from_secs(10)));
        assert_eq!(op.console_failures, 0);
    }

    #[test]
    fn a_break_due_during_a_call_is_asked_for_as_soon_as_the_call_ends() {
        let t0 = Instant::now();
        let (mut op, plan) = signed_in(t0);
        op.call = Some(OperatorCall::Talking { leg: LegId(1), until: t0 + Duration::from_secs(30) });
        assert_eq!(op.break_wake(t0 + Duration::from_secs(5), &plan), None, "never during a call");
        assert_eq!(op.next_break_wake(), None);
        assert_eq!(op.call_ended(&plan), None, "the call is not over yet");
        op.call = None;
        assert_eq!(op.call_ended(&plan), Some(ConsoleAction::Break { reason: "loadtest".into() }));
        assert_eq!(op.call_ended(&plan), None, "asked once");
    }

    #[test]
    fn an_offer_during_a_confirmed_break_is_counted_but_one_already_ringing_as_it_began_is_not() {
        let t0 = Instant::now();
        let (mut op, plan, due) = break_asked(t0);
        // Asked but not yet confirmed: the ACD may rightly offer meanwhile.
        assert!(!op.offered());
        // The console says the agent was offered a call as the break began
        // (a ringing offer keeps ringing): its INVITE is no fault, once.
        op.console_answered(due, ActionKind::Break, Ok(&agent("on_break", "offered")), Some(&plan));
        assert!(!op.offered());
        assert!(op.offered(), "a second offer during the break is the server's fault");
        assert_eq!(op.offers_on_break, 1);
        // Available asked: offers are expected again.
        assert_eq!(op.break_wake(due + Duration::from_secs(3), &plan), Some(ConsoleAction::Available));
        assert!(!op.offered());
        assert_eq!(op.offers_on_break, 1);

        // Had the INVITE already arrived, there is no grace.
        let (mut op, plan, due) = break_asked(t0);
        op.call = Some(OperatorCall::Ringing { leg: LegId(1), answer_at: due });
        op.console_answered(due, ActionKind::Break, Ok(&agent("on_break", "offered")), Some(&plan));
        op.call = None;
        assert!(op.offered());
    }

    #[test]
    fn console_refusals_are_counted_and_the_plan_goes_on() {
        let (mut op, plan, due) = break_asked(Instant::now());
        let next = op.console_answered(due, ActionKind::Break, Err("POST /api/agent/status: 409 conflict: logged out".into()), Some(&plan));
        assert_eq!(next, Some(due + Duration::from_secs(10)));
        assert_eq!((op.console_failures, op.breaks_taken), (1, 0));
        assert!(op.console_errors[0].contains("409"), "{:?}", op.console_errors);
        // A break the console did not grant is a failure too.
        op.break_wake(due + Duration::from_secs(10), &plan);
        op.console_answered(due, ActionKind::Break, Ok(&agent("available", "idle")), Some(&plan));
        assert_eq!((op.console_failures, op.breaks_taken), (2, 0));
        // Signing out mid-break ends the break; the late answer is ignored.
        op.break_wake(due + Duration::from_secs(20), &plan);
        assert_eq!(op.console_sign_out(due + Duration::from_secs(20)), Some(ConsoleAction::SignOut));
        op.console_answered(due, ActionKind::Break, Ok(&agent("on_break", "idle")), Some(&plan));
        assert_eq!((op.breaks_taken, op.next_break_wake()), (0, None));
        op.console_answered(due, ActionKind::SignOut, Ok(&agent("logged_out", "idle")), Some(&plan));
        assert_eq!((op.console, op.console_failures), (ConsoleState::SignedOut, 2));
        assert_eq!(op.console_sign_in(), None, "a refresh after the sign-out signs nobody in again");
    }

    #[test]
    fn break_plans_are_every_and_length_in_seconds_scaled_like_talk_times() {
        let plan = BreakPlan::parse("3600:600").expect("parses");
        assert_eq!((plan.every, plan.length, plan.reason.as_str()), (Duration::from_secs(3600), Duration::from_secs(600), "loadtest"));
        let scaled = plan.scaled(0.01);
        assert_eq!((scaled.every, scaled.length), (Duration::from_secs(36), Duration::from_secs(6)));
        // At least a second each, the break at most half its period.
        let tiny = plan.scaled(0.0001);
        assert_eq!((tiny.every, tiny.length), (Duration::from_secs(1), Duration::from_millis(500)));
        assert!(matches!(BreakPlan::parse("600"), Err(BreakPlanError::Shape(_))));
        assert!(matches!(BreakPlan::parse("600:-1"), Err(BreakPlanError::Number(_))));
        assert!(matches!(BreakPlan::parse("x:1"), Err(BreakPlanError::Number(_))));
        assert!(matches!(BreakPlan::parse("60:60"), Err(BreakPlanError::TooLong(_))));
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
