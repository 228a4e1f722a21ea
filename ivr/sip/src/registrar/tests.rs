//! The registrar on its own: RFC 3261 10.3 rules, expiry and the events for the ACD.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::*;
use crate::auth::{DigestChallenge, UserCredentials};
use crate::message::parse;

const PHONE: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::new(198, 51, 100, 7),
    40000,
));

struct Fixture {
    registrar: Registrar,
    rng: fastrand::Rng,
    t0: Instant,
    cseq: u32,
    call_id: String,
}

fn fixture() -> Fixture {
    let t0 = Instant::now();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut creds = Credentials::new();
    creds.insert("1001", UserCredentials::from_password("1001", "012", "pw1001"));
    creds.insert("1002", UserCredentials::from_password("1002", "012", "pw1002"));
    let config = RegistrarConfig::new("012", vec![7; 32]);
    let registrar = Registrar::new(config, creds, t0, &mut rng).expect("valid config");
    Fixture {
        registrar,
        rng,
        t0,
        cseq: 0,
        call_id: "reg-1".into(),
    }
}

impl Fixture {
    /// One REGISTER for `user` with `headers` (Contact, Expires...), answered to the challenge
    /// first when `password` is given. Returns the final response.
    fn register(&mut self, now: Instant, user: &str, password: Option<&str>, headers: &str) -> RegisterResponse {
        let first = self.send(now, user, headers, None);
        let Some(password) = password else { return first };
        assert_eq!(first.status, 401, "challenged first");
        let values = first.headers.iter().map(|(_, v)| v.as_str());
        let ch = DigestChallenge::pick(values).expect("a usable challenge");
        let auth = ch.authorization(user, password, "REGISTER", "sip:192.0.2.20", "cn", 1);
        self.send(now, user, headers, Some(&auth))
    }

    fn send(&mut self, now: Instant, user: &str, headers: &str, auth: Option<&str>) -> RegisterResponse {
        self.cseq += 1;
        let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
        let text = format!(
            "REGISTER sip:192.0.2.20 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.7:5060;branch=z9hG4bK{}\r\n\
             Max-Forwards: 70\r\nFrom: <sip:{user}@192.0.2.20>;tag=f\r\nTo: <sip:{user}@192.0.2.20>\r\n\
             Call-ID: {}\r\nCSeq: {} REGISTER\r\n{headers}{auth}Content-Length: 0\r\n\r\n",
            self.cseq, self.call_id, self.cseq
        );
        let req = parse(text.as_bytes()).expect("test REGISTER parses");
        self.registrar
            .handle_register(now, &mut self.rng, PHONE, Transport::Udp, &req)
    }

    fn events(&mut self) -> Vec<RegistrationEvent> {
        std::iter::from_fn(|| self.registrar.poll_event()).collect()
    }
}

fn contacts_of(r: &RegisterResponse) -> Vec<&str> {
    r.headers
        .iter()
        .filter(|(n, _)| *n == "Contact")
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn config_is_checked() {
    let t0 = Instant::now();
    let mut rng = fastrand::Rng::with_seed(1);
    let mut bad = |f: &dyn Fn(&mut RegistrarConfig)| {
        let mut c = RegistrarConfig::new("012", vec![7; 32]);
        f(&mut c);
        Registrar::new(c, Credentials::new(), t0, &mut rng).map(|_| ()).expect_err("refused")
    };
    assert_eq!(bad(&|c| c.digest.secret = vec![1; 8]), RegistrarError::ShortSecret(8));
    assert_eq!(bad(&|c| c.digest.realm.clear()), RegistrarError::EmptyRealm);
    assert_eq!(bad(&|c| c.digest.algorithms.clear()), RegistrarError::NoAlgorithm);
    assert!(matches!(bad(&|c| c.min_expires = 4000), RegistrarError::ExpiryBounds { .. }));
    assert_eq!(bad(&|c| c.max_contacts_per_aor = 0), RegistrarError::NoContacts);
}

#[test]
fn authenticated_register_binds_the_contact_at_its_source_address() {
    let mut f = fixture();
    let now = f.t0;
    let r = f.register(now, "1001", Some("pw1001"), "Contact: <sip:1001@10.0.0.7:5060>\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(contacts_of(&r), ["<sip:1001@10.0.0.7:5060>;expires=3600"]);
    let bindings = f.registrar.lookup("sip:1001@192.0.2.20:5060;transport=udp");
    assert_eq!(bindings.len(), 1);
    let b = &bindings[0];
    assert_eq!((b.aor.as_str(), b.source, b.transport), ("sip:1001@192.0.2.20", PHONE, Transport::Udp));
    let invite = b.invite("sip:012@192.0.2.20", None);
    assert_eq!(invite.to_addr, PHONE, "NAT: sent where the REGISTER came from");
    assert_eq!(invite.request_uri, "sip:1001@10.0.0.7:5060");
    assert!(matches!(f.events().as_slice(), [RegistrationEvent::Registered { contact, .. }] if contact == "sip:1001@10.0.0.7:5060"));
}

#[test]
fn replaced_credentials_drop_the_bindings_of_users_that_went_and_take_new_users_at_once() {
    let mut f = fixture();
    let now = f.t0;
    assert_eq!(f.register(now, "1001", Some("pw1001"), "Contact: <sip:1001@10.0.0.7>\r\n").status, 200);
    assert_eq!(f.register(now, "1002", Some("pw1002"), "Contact: <sip:1002@10.0.0.7>\r\n").status, 200);
    f.events();
    // 1001 goes, 1002 gets a new password, 1003 is new.
    let mut creds = Credentials::new();
    creds.insert("1002", UserCredentials::from_password("1002", "012", "new1002"));
    creds.insert("1003", UserCredentials::from_password("1003", "012", "pw1003"));
    let dropped = f.registrar.replace_credentials(creds);
    assert_eq!(dropped.iter().map(|b| b.aor.as_str()).collect::<Vec<_>>(), ["sip:1001@192.0.2.20"]);
    assert!(f.registrar.lookup("sip:1001@192.0.2.20").is_empty());
    assert_eq!(f.registrar.lookup("sip:1002@192.0.2.20").len(), 1, "a changed password keeps the binding");
    assert_eq!(f.registrar.binding_count(), 1);
    assert!(f.events().is_empty(), "the caller is told by the return value");
    assert_eq!(f.register(now, "1003", Some("pw1003"), "Contact: <sip:1003@10.0.0.7>\r\n").status, 200);
    assert_eq!(f.register(now, "1002", Some("new1002"), "Contact: <sip:1002@10.0.0.7>\r\n").status, 200);
    assert_eq!(f.register(now, "1002", Some("pw1002"), "Contact: <sip:1002@10.0.0.7>\r\n").status, 403);
    assert_eq!(f.register(now, "1001", Some("pw1001"), "Contact: <sip:1001@10.0.0.7>\r\n").status, 403);
}

#[test]
fn a_user_registers_only_its_own_aor() {
    let mut f = fixture();
    let first = f.send(f.t0, "1002", "Contact: <sip:x@10.0.0.7>\r\n", None);
    let ch = DigestChallenge::pick(first.headers.iter().map(|(_, v)| v.as_str())).expect("challenge");
    // 1001's valid credentials on 1002's AOR.
    let auth = ch.authorization("1001", "pw1001", "REGISTER", "sip:192.0.2.20", "cn", 1);
    let r = f.send(f.t0, "1002", "Contact: <sip:x@10.0.0.7>\r\n", Some(&auth));
    assert_eq!(r.status, 403);
    assert!(f.registrar.lookup("sip:1002@192.0.2.20").is_empty());
}

#[test]
fn expiry_comes_from_the_contact_then_the_header_and_is_bounded() {
    let mut f = fixture();
    let now = f.t0;
    let too_short = f.register(now, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>\r\nExpires: 30\r\n");
    assert_eq!(too_short.status, 423);
    assert_eq!(too_short.headers, [("Min-Expires", "60".to_string())]);
    let r = f.register(
        now,
        "1001",
        Some("pw1001"),
        "Contact: <sip:a@10.0.0.7>;expires=120, <sip:b@10.0.0.7>;q=0.5\r\nContact: <sip:c@10.0.0.7>;expires=99999\r\nExpires: 600\r\n",
    );
    assert_eq!(r.status, 200);
    // Highest q first (absent means 1), then the most recent.
    let listed = contacts_of(&r);
    assert_eq!(listed.len(), 3);
    assert!(listed.contains(&"<sip:a@10.0.0.7>;expires=120"));
    assert!(listed.contains(&"<sip:c@10.0.0.7>;expires=3600"));
    assert_eq!(listed[2], "<sip:b@10.0.0.7>;expires=600;q=0.5");
    assert_eq!(f.registrar.poll_timeout(), Some(now + Duration::from_secs(30)), "sweep first");
}

#[test]
fn bindings_expire_on_time_with_an_event() {
    let mut f = fixture();
    let now = f.t0;
    f.register(now, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>;expires=120\r\n");
    f.events();
    f.registrar.handle_timeout(now + Duration::from_secs(119));
    assert_eq!(f.registrar.binding_count(), 1);
    f.registrar.handle_timeout(now + Duration::from_secs(120));
    assert_eq!(f.registrar.binding_count(), 0);
    assert_eq!(
        f.events(),
        [RegistrationEvent::Expired {
            aor: "sip:1001@192.0.2.20".into(),
            contact: "sip:a@10.0.0.7".into()
        }]
    );
}

#[test]
fn refresh_with_a_lower_cseq_of_the_same_call_id_is_refused_and_changes_nothing() {
    let mut f = fixture();
    let now = f.t0;
    f.register(now, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>\r\n");
    f.cseq = 0; // the phone restarts its CSeq but keeps the Call-ID
    let r = f.register(now, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>\r\nExpires: 0\r\n");
    assert_eq!(r.status, 500);
    assert_eq!(f.registrar.binding_count(), 1);
    // A new Call-ID (a rebooted phone) may replace it whatever its CSeq.
    f.call_id = "reg-2".into();
    let r = f.register(now, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>\r\nExpires: 0\r\n");
    assert_eq!(r.status, 200);
    assert_eq!(f.registrar.binding_count(), 0);
}

#[test]
fn wildcard_needs_expires_zero_and_removes_every_contact() {
    let mut f = fixture();
    let now = f.t0;
    f.register(now, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>, <sip:b@10.0.0.7>\r\n");
    f.events();
    let bad = f.register(now, "1001", Some("pw1001"), "Contact: *\r\n");
    assert_eq!(bad.status, 400);
    let bad = f.register(now, "1001", Some("pw1001"), "Contact: *, <sip:a@10.0.0.7>\r\nExpires: 0\r\n");
    assert_eq!(bad.status, 400);
    let ok = f.register(now, "1001", Some("pw1001"), "Contact: *\r\nExpires: 0\r\n");
    assert_eq!(ok.status, 200);
    assert!(contacts_of(&ok).is_empty());
    let gone: Vec<_> = f
        .events()
        .into_iter()
        .filter(|e| matches!(e, RegistrationEvent::Unregistered { .. }))
        .collect();
    assert_eq!(gone.len(), 2);
}

#[test]
fn too_many_contacts_displace_the_one_expiring_first() {
    let mut f = fixture();
    let now = f.t0;
    for i in 0..5 {
        let h = format!("Contact: <sip:c{i}@10.0.0.7>;expires={}\r\n", 600 + i);
        assert_eq!(f.register(now, "1001", Some("pw1001"), &h).status, 200);
    }
    f.events();
    let r = f.register(now, "1001", Some("pw1001"), "Contact: <sip:new@10.0.0.7>\r\n");
    assert_eq!(contacts_of(&r).len(), 5);
    let events = f.events();
    assert!(matches!(&events[0], RegistrationEvent::Unregistered { contact, .. } if contact == "sip:c0@10.0.0.7"));
    assert!(matches!(&events[1], RegistrationEvent::Registered { contact, .. } if contact == "sip:new@10.0.0.7"));
}

#[test]
fn refresh_from_a_new_address_is_reported_and_a_plain_refresh_is_not() {
    let mut f = fixture();
    let now = f.t0;
    f.register(now, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>\r\n");
    f.events();
    f.register(now + Duration::from_secs(60), "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>\r\n");
    assert!(f.events().is_empty(), "same address: a quiet refresh");
    let b = &f.registrar.lookup("sip:1001@192.0.2.20")[0];
    assert_eq!(b.expires_at, now + Duration::from_secs(3660));
    assert_eq!(b.registered_at, now);
}

#[test]
fn query_lists_bindings_and_bad_requests_are_refused() {
    let mut f = fixture();
    let now = f.t0;
    f.register(now, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>\r\n");
    let query = f.register(now, "1001", Some("pw1001"), "");
    assert_eq!((query.status, contacts_of(&query).len()), (200, 1));
    let bad = f.register(now, "1001", Some("pw1001"), "Contact: <http://x>\r\n");
    assert_eq!(bad.status, 400);
    let require = f.send(now, "1001", "Require: gruu\r\nContact: <sip:a@10.0.0.7>\r\n", None);
    assert_eq!(require.status, 420);
    assert_eq!(require.headers, [("Unsupported", "gruu".to_string())]);
}

#[test]
fn failures_from_one_source_block_it_without_computing_digests() {
    let mut f = fixture();
    let now = f.t0;
    for _ in 0..5 {
        let r = f.register(now, "1001", Some("wrong"), "Contact: <sip:a@10.0.0.7>\r\n");
        assert_eq!(r.status, 403);
    }
    let events = f.events();
    assert_eq!(
        events.iter().filter(|e| matches!(e, RegistrationEvent::AuthenticationFailed { .. })).count(),
        5
    );
    assert!(matches!(events.last(), Some(RegistrationEvent::SourceBlocked { .. })));
    // Even the right password is refused now, before any challenge.
    let blocked = f.send(now, "1001", "Contact: <sip:a@10.0.0.7>\r\n", None);
    assert_eq!(blocked.status, 503);
    assert_eq!(blocked.headers, [("Retry-After", "12".to_string())]);
    let later = now + Duration::from_secs(12);
    let r = f.register(later, "1001", Some("pw1001"), "Contact: <sip:a@10.0.0.7>\r\n");
    assert_eq!(r.status, 200);
}
