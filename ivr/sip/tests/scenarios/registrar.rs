//! The IVR's user agent as a registrar: operator phones send raw REGISTERs (UDP and TCP) on a
//! simulated clock, answer its Digest challenges with the crate's client side, and the ACD-facing
//! events and bindings are checked. One golden ladder shows a phone's life: challenge, register,
//! refresh with a stale nonce, unregister.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ivr_sip::auth::{Algorithm, Credentials, DigestChallenge, UserCredentials};
use ivr_sip::message::{self, Message};
use ivr_sip::{
    CallEvent, Output, Registrar, RegistrarConfig, RegistrationEvent, Transport, UaConfig,
    UserAgent,
};

const IVR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(192, 0, 2, 20),
    5060,
));
const REALM: &str = "012";

/// An operator phone: keeps its Call-ID and CSeq across REGISTERs (RFC 3261 10.2.4) and answers
/// the last challenge it saw, counting `nc` up on each reuse of the nonce.
struct Phone {
    user: &'static str,
    password: &'static str,
    addr: SocketAddr,
    transport: Transport,
    call_id: String,
    cseq: u32,
    challenge: Option<DigestChallenge>,
    nc: u32,
    only_md5: bool,
    user_agent: &'static str,
}

impl Phone {
    fn new(user: &'static str, password: &'static str, last_octet: u8) -> Phone {
        let addr = SocketAddr::from(([198, 51, 100, last_octet], 40000 + u16::from(last_octet)));
        Phone {
            user,
            password,
            addr,
            transport: Transport::Udp,
            call_id: format!("{user}-{last_octet}@10.0.0.{last_octet}"),
            cseq: 0,
            challenge: None,
            nc: 0,
            only_md5: false,
            user_agent: "TestPhone/1.0",
        }
    }

    /// A new REGISTER (new branch, next CSeq) with `headers`, authorised when a challenge is known.
    /// Contacts name private addresses (10.0.0.x): the phones are behind NAT.
    fn register(&mut self, headers: &str) -> Vec<u8> {
        self.cseq += 1;
        let uri = "sip:192.0.2.20";
        let auth = self.challenge.as_ref().map(|ch| {
            self.nc += 1;
            let cnonce = format!("cn{}", self.cseq);
            let value = ch.authorization(self.user, self.password, "REGISTER", uri, &cnonce, self.nc);
            format!("Authorization: {value}\r\n")
        });
        format!(
            "REGISTER {uri} SIP/2.0\r\nVia: SIP/2.0/{} 10.0.0.9:5060;branch=z9hG4bK{}-{}-{};rport\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{}@192.0.2.20>;tag=ph{}\r\nTo: <sip:{}@192.0.2.20>\r\n\
             Call-ID: {}\r\nCSeq: {} REGISTER\r\n{headers}{}User-Agent: {}\r\nContent-Length: 0\r\n\r\n",
            self.transport.via_name(),
            self.user,
            self.addr.port(),
            self.cseq,
            self.user,
            self.user,
            self.user,
            self.call_id,
            self.cseq,
            auth.unwrap_or_default(),
            self.user_agent,
        )
        .into_bytes()
    }

    /// Remembers the challenge of a 401 (SHA-256 preferred unless the phone only knows MD5).
    fn learn(&mut self, response: &Message) {
        let values = response.headers_named("WWW-Authenticate");
        let picked = if self.only_md5 {
            values
                .filter_map(|v| DigestChallenge::parse(v).ok())
                .find(|c| c.algorithm == Algorithm::Md5)
        } else {
            DigestChallenge::pick(values)
        };
        if picked.is_some() {
            self.challenge = picked;
            self.nc = 0;
        }
    }
}

/// The IVR's user agent with a registrar, on a simulated clock, with a ladder of what happened.
struct Bench {
    ua: UserAgent,
    t0: Instant,
    now: Instant,
    ladder: Vec<String>,
    events: Vec<RegistrationEvent>,
}

impl Bench {
    fn new() -> Bench {
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(2026);
        let mut credentials = Credentials::new();
        credentials.insert("1001", UserCredentials::from_password("1001", REALM, "agent-one"));
        // 1002's HA1 values come from the database: no password is stored anywhere.
        let md5 = ivr_sip::auth::ha1(Algorithm::Md5, "1002", REALM, "agent-two");
        let sha = ivr_sip::auth::ha1(Algorithm::Sha256, "1002", REALM, "agent-two");
        credentials.insert(
            "1002",
            UserCredentials::from_ha1(Some(&md5), Some(&sha)).expect("valid HA1"),
        );
        let config = RegistrarConfig::new(REALM, (0..32).collect());
        let registrar = Registrar::new(config, credentials, t0, &mut rng).expect("valid config");
        let mut ua = UserAgent::new(UaConfig::new(IVR), rng);
        ua.set_registrar(registrar);
        Bench {
            ua,
            t0,
            now: t0,
            ladder: Vec::new(),
            events: Vec::new(),
        }
    }

    fn log(&mut self, line: String) {
        let t = (self.now - self.t0).as_secs_f64();
        self.ladder.push(format!("t={t:.3} {line}"));
    }

    /// Delivers bytes from `phone` and returns the responses sent back to it.
    fn deliver(&mut self, phone: &Phone, bytes: &[u8]) -> Vec<Message> {
        self.log(format!("{}->IVR REGISTER", label(phone)));
        self.ua.handle_datagram(self.now, phone.transport, phone.addr, bytes);
        self.drain(Some(phone))
    }

    fn drain(&mut self, phone: Option<&Phone>) -> Vec<Message> {
        let mut responses = Vec::new();
        while let Some(out) = self.ua.poll_output() {
            match out {
                Output::Transmit(t) => {
                    let msg = message::parse(&t.bytes).expect("our output parses");
                    if let Some(phone) = phone {
                        assert_eq!((t.to, t.transport), (phone.addr, phone.transport));
                    }
                    self.log(format!("IVR->{} {}", phone.map_or("?".into(), label), summary(&msg)));
                    responses.push(msg);
                }
                Output::Event(CallEvent::Registration(ev)) => {
                    self.log(format!("IVR event {}", event_summary(&ev)));
                    self.events.push(ev);
                }
                Output::Event(other) => panic!("unexpected call event {other:?}"),
            }
        }
        responses
    }

    /// Sends a REGISTER, answers one 401 challenge, returns the final status.
    fn register(&mut self, phone: &mut Phone, headers: &str) -> u16 {
        let bytes = phone.register(headers);
        let mut status = self.final_status(phone, &bytes);
        if status == 401 {
            let bytes = phone.register(headers);
            status = self.final_status(phone, &bytes);
        }
        status
    }

    fn final_status(&mut self, phone: &mut Phone, bytes: &[u8]) -> u16 {
        let responses = self.deliver(phone, bytes);
        let last = responses.last().expect("a response");
        phone.learn(last);
        last.status().expect("a response")
    }

    /// Moves the clock by `d`, firing every deadline on the way.
    fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(at) = self.ua.poll_timeout().filter(|at| *at <= end) {
            self.now = self.now.max(at);
            self.ua.handle_timeout(self.now);
            self.drain(None);
        }
        self.now = end;
    }

    fn take_events(&mut self) -> Vec<RegistrationEvent> {
        std::mem::take(&mut self.events)
    }

    fn contacts(&self, aor: &str) -> Vec<String> {
        let registrar = self.ua.registrar().expect("registrar set");
        registrar.lookup(aor).into_iter().map(|b| b.contact).collect()
    }
}

/// `1001/198.51.100.7`: the user and the address it sends from.
fn label(phone: &Phone) -> String {
    format!("{}/{}", phone.user, phone.addr.ip())
}

fn summary(msg: &Message) -> String {
    let status = msg.status().unwrap_or_default();
    let mut s = format!("{status} {}", message::reason_phrase(status));
    let stale = msg.headers_named("WWW-Authenticate").any(|v| v.contains("stale=true"));
    if stale {
        s.push_str(" stale");
    }
    for (name, value) in &msg.headers {
        if ["Contact", "Min-Expires", "Retry-After"].contains(&name.as_str()) {
            s.push_str(&format!(" [{name}: {value}]"));
        }
    }
    s
}

fn event_summary(ev: &RegistrationEvent) -> String {
    match ev {
        RegistrationEvent::Registered { aor, contact, binding } => {
            format!("Registered {aor} {contact} via {:?} {}", binding.transport, binding.source)
        }
        RegistrationEvent::Unregistered { aor, contact } => format!("Unregistered {aor} {contact}"),
        RegistrationEvent::Expired { aor, contact } => format!("Expired {aor} {contact}"),
        RegistrationEvent::AuthenticationFailed { source, username } => {
            format!("AuthenticationFailed {source} {username:?}")
        }
        RegistrationEvent::SourceBlocked { source, retry_after } => {
            format!("SourceBlocked {source} {}s", retry_after.as_secs())
        }
    }
}

const AOR_1001: &str = "sip:1001@192.0.2.20";

#[test]
fn challenge_then_authenticated_register_with_sha256() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    let first = phone.register("Contact: <sip:1001@10.0.0.7:5060>\r\nExpires: 600\r\n");
    let challenge = b.deliver(&phone, &first);
    assert_eq!(challenge.len(), 1);
    let values: Vec<&str> = challenge[0].headers_named("WWW-Authenticate").collect();
    assert_eq!(values.len(), 2, "both algorithms offered");
    assert!(values[0].contains("algorithm=SHA-256") && values[1].contains("algorithm=MD5"));
    phone.learn(&challenge[0]);
    assert_eq!(phone.challenge.as_ref().map(|c| c.algorithm), Some(Algorithm::Sha256));
    let second = phone.register("Contact: <sip:1001@10.0.0.7:5060>\r\nExpires: 600\r\n");
    let ok = b.deliver(&phone, &second);
    assert_eq!(ok[0].status(), Some(200));
    assert_eq!(ok[0].header("Contact"), Some("<sip:1001@10.0.0.7:5060>;expires=600"));
    assert!(matches!(b.take_events().as_slice(), [RegistrationEvent::Registered { aor, .. }] if aor == AOR_1001));
    // A retransmission of the REGISTER (same branch) gets the same 200 from the transaction.
    let again = b.deliver(&phone, &second);
    assert_eq!(again[0].status(), Some(200));
    assert!(b.take_events().is_empty());
}

#[test]
fn md5_only_phone_and_stored_ha1_user_register() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1002", "agent-two", 8);
    phone.only_md5 = true;
    assert_eq!(b.register(&mut phone, "Contact: <sip:1002@10.0.0.8>\r\n"), 200);
    assert_eq!(phone.challenge.as_ref().map(|c| c.algorithm), Some(Algorithm::Md5));
    assert_eq!(b.contacts("sip:1002@192.0.2.20"), ["sip:1002@10.0.0.8"]);
}

/// libre 1.x (baresip 1.0) fails on any 401 that names SHA-256 and retries 30-60 s later with
/// the same Call-ID and no credentials: that retry is offered MD5 alone, and so are its later
/// (stale) challenges.
#[test]
fn a_phone_that_cannot_read_sha256_is_offered_md5_alone_on_its_retry() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    phone.only_md5 = true;
    let algorithms = |r: &Message| -> Vec<String> {
        r.headers_named("WWW-Authenticate")
            .filter_map(|v| DigestChallenge::parse(v).ok())
            .map(|c| c.algorithm.name().to_string())
            .collect()
    };
    let first = phone.register("Contact: <sip:1001@10.0.0.7>\r\n");
    let r = b.deliver(&phone, &first);
    assert_eq!(algorithms(&r[0]), ["SHA-256", "MD5"]);
    // It gives up (sends nothing) and retries later without credentials.
    b.advance(Duration::from_secs(45));
    let retry = phone.register("Contact: <sip:1001@10.0.0.7>\r\n");
    let r = b.deliver(&phone, &retry);
    assert_eq!(algorithms(&r[0]), ["MD5"]);
    phone.learn(&r[0]);
    let answer = phone.register("Contact: <sip:1001@10.0.0.7>\r\n");
    assert_eq!(b.deliver(&phone, &answer)[0].status(), Some(200));
    // Half an hour later its nonce is stale: the stale challenge is MD5 alone too.
    b.advance(Duration::from_secs(1800));
    let refresh = phone.register("Contact: <sip:1001@10.0.0.7>\r\n");
    let r = b.deliver(&phone, &refresh);
    assert_eq!(algorithms(&r[0]), ["MD5"]);
    assert!(r[0].headers_named("WWW-Authenticate").all(|v| v.ends_with("stale=true")));
    // Another phone, unknown to this Call-ID, still gets both.
    let mut other = Phone::new("1002", "agent-two", 8);
    let request = other.register("Contact: <sip:1002@10.0.0.8>\r\n");
    let r = b.deliver(&other, &request);
    assert_eq!(algorithms(&r[0]), ["SHA-256", "MD5"]);
}

#[test]
fn a_known_md5_only_user_agent_is_offered_md5_alone_at_once() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    phone.user_agent = "baresip v1.0.0 (x86_64/linux)";
    let first = phone.register("Contact: <sip:1001@10.0.0.7>\r\n");
    let r = b.deliver(&phone, &first);
    let values: Vec<&str> = r[0].headers_named("WWW-Authenticate").collect();
    assert_eq!(values.len(), 1);
    assert!(values[0].contains("algorithm=MD5"));
}

#[test]
fn wrong_password_gets_403_and_registers_nothing() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "not-my-password", 7);
    assert_eq!(b.register(&mut phone, "Contact: <sip:1001@10.0.0.7>\r\n"), 403);
    assert!(b.contacts(AOR_1001).is_empty());
    assert!(matches!(
        b.take_events().as_slice(),
        [RegistrationEvent::AuthenticationFailed { username: Some(u), .. }] if u == "1001"
    ));
}

#[test]
fn repeated_failures_are_rate_limited_per_source_ip() {
    let mut b = Bench::new();
    let mut attacker = Phone::new("1001", "guess", 66);
    for _ in 0..5 {
        attacker.challenge = None;
        assert_eq!(b.register(&mut attacker, "Contact: <sip:1001@10.0.0.66>\r\n"), 403);
    }
    attacker.challenge = None;
    let blocked = attacker.register("Contact: <sip:1001@10.0.0.66>\r\n");
    let r = b.deliver(&attacker, &blocked);
    assert_eq!(r[0].status(), Some(503));
    assert_eq!(r[0].header("Retry-After"), Some("12"));
    assert!(r[0].header("WWW-Authenticate").is_none(), "no challenge while blocked");
    // The real phone at another address is not affected.
    let mut phone = Phone::new("1001", "agent-one", 7);
    assert_eq!(b.register(&mut phone, "Contact: <sip:1001@10.0.0.7>\r\n"), 200);
    // Twelve seconds later one failure is forgiven.
    b.advance(Duration::from_secs(12));
    attacker.challenge = None;
    assert_eq!(b.register(&mut attacker, "Contact: <sip:1001@10.0.0.66>\r\n"), 403);
}

#[test]
fn a_binding_expires_by_time_with_an_event_for_the_acd() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    assert_eq!(b.register(&mut phone, "Contact: <sip:1001@10.0.0.7>;expires=120\r\n"), 200);
    b.take_events();
    b.advance(Duration::from_secs(119));
    assert_eq!(b.contacts(AOR_1001).len(), 1);
    b.advance(Duration::from_secs(1));
    assert!(b.contacts(AOR_1001).is_empty());
    assert_eq!(
        b.take_events(),
        [RegistrationEvent::Expired {
            aor: AOR_1001.into(),
            contact: "sip:1001@10.0.0.7".into()
        }]
    );
    // Nothing left to wake for once the tables are swept.
    b.advance(Duration::from_secs(600));
    assert_eq!(b.ua.poll_timeout(), None);
    assert_eq!(b.ua.transaction_count(), 0);
}

#[test]
fn two_phones_of_one_agent_are_both_bound_and_an_invite_reaches_each_where_it_sent_from() {
    let mut b = Bench::new();
    let mut desk = Phone::new("1001", "agent-one", 7);
    let mut soft = Phone::new("1001", "agent-one", 9);
    soft.transport = Transport::Tcp;
    assert_eq!(b.register(&mut desk, "Contact: <sip:1001@10.0.0.7:5060>\r\n"), 200);
    assert_eq!(b.register(&mut soft, "Contact: <sip:1001@10.0.0.9:5060;transport=tcp>;q=0.5\r\n"), 200);
    let bindings = b.ua.registrar().expect("registrar").lookup(AOR_1001);
    assert_eq!(bindings.len(), 2);
    assert_eq!((bindings[0].source, bindings[0].transport), (desk.addr, Transport::Udp));
    assert_eq!((bindings[1].source, bindings[1].transport), (soft.addr, Transport::Tcp));
    for binding in &bindings {
        let now = b.now;
        b.ua.invite(now, binding.invite("sip:012@192.0.2.20", None)).expect("valid INVITE");
        let Some(Output::Transmit(t)) = b.ua.poll_output() else { panic!("INVITE sent") };
        assert_eq!((t.to, t.transport), (binding.source, binding.transport));
        let text = String::from_utf8_lossy(&t.bytes);
        assert!(text.starts_with(&format!("INVITE {} SIP/2.0", binding.contact)), "{text}");
        assert!(text.contains("To: <sip:1001@192.0.2.20>"));
    }
}

#[test]
fn wildcard_unregisters_every_contact_of_the_aor() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    let contacts = "Contact: <sip:1001@10.0.0.7>, <sip:1001@10.0.0.7:5070>\r\n";
    assert_eq!(b.register(&mut phone, contacts), 200);
    assert_eq!(b.contacts(AOR_1001).len(), 2);
    b.take_events();
    assert_eq!(b.register(&mut phone, "Contact: *\r\nExpires: 0\r\n"), 200);
    assert!(b.contacts(AOR_1001).is_empty());
    let events = b.take_events();
    assert_eq!(events.len(), 2);
    assert!(events.iter().all(|e| matches!(e, RegistrationEvent::Unregistered { .. })));
}

#[test]
fn stale_nonce_is_answered_stale_true_and_the_phone_reregisters_silently() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    assert_eq!(b.register(&mut phone, "Contact: <sip:1001@10.0.0.7>\r\n"), 200);
    b.advance(Duration::from_secs(1800));
    // The refresh reuses the five-minute nonce it knows (nc=2): right password, old nonce.
    let refresh = phone.register("Contact: <sip:1001@10.0.0.7>\r\n");
    let r = b.deliver(&phone, &refresh);
    assert_eq!(r[0].status(), Some(401));
    assert!(r[0].headers_named("WWW-Authenticate").all(|v| v.ends_with("stale=true")));
    assert!(!b.events.iter().any(|e| matches!(e, RegistrationEvent::AuthenticationFailed { .. })));
    phone.learn(&r[0]);
    let retry = phone.register("Contact: <sip:1001@10.0.0.7>\r\n");
    assert_eq!(b.deliver(&phone, &retry)[0].status(), Some(200));
}

#[test]
fn a_replayed_nonce_count_is_challenged_not_accepted() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    assert_eq!(b.register(&mut phone, "Contact: <sip:1001@10.0.0.7>\r\n"), 200);
    // An eavesdropper replays the authenticated REGISTER as a new transaction (new branch and
    // CSeq) with a contact of its own: the Authorization still says nc=00000001.
    let captured = phone.register("Contact: <sip:1001@10.0.0.7>\r\n");
    let text = String::from_utf8_lossy(&captured).into_owned();
    let forged = text
        .replace(";branch=z9hG4bK1001-40007-3", ";branch=z9hG4bKevil")
        .replace("CSeq: 3 REGISTER", "CSeq: 9 REGISTER")
        .replace("Contact: <sip:1001@10.0.0.7>", "Contact: <sip:1001@203.0.113.66>");
    assert!(text.contains("nc=00000002"), "{text}");
    assert_eq!(b.deliver(&phone, captured.as_slice())[0].status(), Some(200));
    let r = b.deliver(&phone, forged.as_bytes());
    assert_eq!(r[0].status(), Some(401), "the nonce-count was already used");
    assert_eq!(b.contacts(AOR_1001), ["sip:1001@10.0.0.7"]);
}

#[test]
fn too_brief_expiry_gets_423_with_min_expires() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    assert_eq!(b.register(&mut phone, "Contact: <sip:1001@10.0.0.7>\r\nExpires: 10\r\n"), 423);
    assert!(b.ladder.last().is_some_and(|l| l.contains("[Min-Expires: 60]")));
}

#[test]
fn options_lists_register_when_the_registrar_is_set() {
    let mut b = Bench::new();
    let phone = Phone::new("1001", "agent-one", 7);
    let options = "OPTIONS sip:192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bKo1\r\n\
        Max-Forwards: 70\r\nFrom: <sip:1001@192.0.2.20>;tag=o\r\nTo: <sip:192.0.2.20>\r\n\
        Call-ID: o1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let r = b.deliver(&phone, options.as_bytes());
    assert_eq!(r[0].header("Allow"), Some("INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, REGISTER"));
}

/// `UPDATE_GOLDEN=1 cargo test -p ivr-sip golden` rewrites it after a reviewed change.
#[test]
fn golden_ladder_phone_registers_refreshes_and_unregisters() {
    let mut b = Bench::new();
    let mut phone = Phone::new("1001", "agent-one", 7);
    let contact = "Contact: <sip:1001@10.0.0.7:5060>\r\nExpires: 900\r\n";
    assert_eq!(b.register(&mut phone, contact), 200);
    b.advance(Duration::from_secs(450));
    assert_eq!(b.register(&mut phone, contact), 200);
    b.advance(Duration::from_secs(5));
    let mut wrong = Phone::new("1001", "guess", 66);
    assert_eq!(b.register(&mut wrong, "Contact: <sip:1001@203.0.113.66>\r\n"), 403);
    b.advance(Duration::from_secs(60));
    assert_eq!(b.register(&mut phone, "Contact: *\r\nExpires: 0\r\n"), 200);
    let mut ladder = b.ladder.join("\n");
    ladder.push('\n');
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/golden/register_with_digest.txt");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(path, &ladder).expect("write golden file");
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    assert_eq!(ladder, expected, "ladder changed; review and rerun with UPDATE_GOLDEN=1");
}
