//! The server side of Digest: credential store, challenges and verification.
//!
//! Nonces are stateless: `hex(issued_ms || random || HMAC-SHA256(secret, salt || issued_ms ||
//! random || realm)[..16])`, so any nonce we minted can be checked and aged without a table. The
//! only state is the nonce-count table (RFC 7616 3.4: a request reusing a nonce must carry a
//! higher `nc`), bounded and purged as nonces expire.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{Algorithm, AuthError, DigestParams, QopParams, ct_eq, quote, response};

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the nonce before its MAC: issued time (ms since the server's origin) and randomness.
const NONCE_BODY: usize = 16;
/// Bytes of the truncated MAC in a nonce.
const NONCE_MAC: usize = 16;

/// HA1 values of one user (RFC 7616 3.4.2), so that no clear-text password need be stored.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCredentials {
    md5: Option<String>,
    sha256: Option<String>,
}

impl UserCredentials {
    /// Computes both HA1 values; the password itself is not kept.
    pub fn from_password(username: &str, realm: &str, password: &str) -> Self {
        UserCredentials {
            md5: Some(super::ha1(Algorithm::Md5, username, realm, password)),
            sha256: Some(super::ha1(Algorithm::Sha256, username, realm, password)),
        }
    }

    /// Stored HA1 values as hex (case-insensitive). A user with only one of them can only answer
    /// that algorithm's challenge.
    pub fn from_ha1(md5: Option<&str>, sha256: Option<&str>) -> Result<Self, AuthError> {
        let check = |algorithm: Algorithm, v: Option<&str>| -> Result<Option<String>, AuthError> {
            let Some(v) = v else { return Ok(None) };
            let v = v.trim().to_ascii_lowercase();
            if v.len() != algorithm.hex_len() || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(AuthError::BadHa1 { algorithm });
            }
            Ok(Some(v))
        };
        Ok(UserCredentials {
            md5: check(Algorithm::Md5, md5)?,
            sha256: check(Algorithm::Sha256, sha256)?,
        })
    }

    fn ha1(&self, algorithm: Algorithm) -> Option<&str> {
        match algorithm {
            Algorithm::Md5 => self.md5.as_deref(),
            Algorithm::Sha256 => self.sha256.as_deref(),
        }
    }
}

impl fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // HA1 is password-equivalent for its realm: never in logs.
        f.debug_struct("UserCredentials")
            .field("md5", &self.md5.as_ref().map(|_| "<redacted>"))
            .field("sha256", &self.sha256.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Users allowed to authenticate, by digest username. Given by the shell (config or database).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    users: HashMap<String, UserCredentials>,
}

impl Credentials {
    pub fn new() -> Self {
        Credentials::default()
    }

    /// Adds or replaces a user.
    pub fn insert(&mut self, username: impl Into<String>, credentials: UserCredentials) {
        self.users.insert(username.into(), credentials);
    }

    /// Removes a user; existing registrations stay until they expire or are removed.
    pub fn remove(&mut self, username: &str) -> bool {
        self.users.remove(username).is_some()
    }

    pub fn contains(&self, username: &str) -> bool {
        self.users.contains_key(username)
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    fn ha1(&self, username: &str, algorithm: Algorithm) -> Option<&str> {
        self.users.get(username)?.ha1(algorithm)
    }
}

/// Digest server settings.
#[derive(Clone, PartialEq, Eq)]
pub struct DigestConfig {
    /// The protection space, shown to users by their phones (e.g. "012").
    pub realm: String,
    /// Key of the nonce MAC. Fill it from the OS random source; 32 bytes.
    pub secret: Vec<u8>,
    /// A nonce older than this is answered `stale=true`.
    pub nonce_lifetime: Duration,
    /// Offered challenges, in order of preference (RFC 7616 3.7: strongest first).
    pub algorithms: Vec<Algorithm>,
    /// Bound of the nonce-count table; when full, new nonces are answered `stale=true` until
    /// old ones expire.
    pub max_tracked_nonces: usize,
}

impl fmt::Debug for DigestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestConfig")
            .field("realm", &self.realm)
            .field("secret", &"<redacted>")
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("algorithms", &self.algorithms)
            .field("max_tracked_nonces", &self.max_tracked_nonces)
            .finish()
    }
}

impl DigestConfig {
    /// SHA-256 then MD5, 5-minute nonces, 65,536 tracked nonces.
    pub fn new(realm: impl Into<String>, secret: Vec<u8>) -> Self {
        DigestConfig {
            realm: realm.into(),
            secret,
            nonce_lifetime: Duration::from_secs(300),
            algorithms: vec![Algorithm::Sha256, Algorithm::Md5],
            max_tracked_nonces: 65_536,
        }
    }
}

/// A request whose credentials were accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub username: String,
    pub algorithm: Algorithm,
}

/// Why credentials were not accepted. See [`VerifyError::counts_as_failure`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The header cannot be read, lacks `qop=auth`/`nc`/`cnonce`, or its `uri` is not the
    /// Request-URI.
    #[error("malformed credentials: {0}")]
    Malformed(AuthError),
    #[error("digest uri does not match the Request-URI")]
    UriMismatch,
    /// Credentials for another realm: treated as no credentials.
    #[error("credentials for another realm")]
    OtherRealm,
    /// An algorithm we do not offer (or a `-sess` one): challenge again.
    #[error("algorithm not offered")]
    AlgorithmNotOffered,
    /// Unknown user or wrong response: indistinguishable on purpose.
    #[error("wrong credentials for user {username}")]
    Rejected { username: String },
    /// The response is right but the nonce is expired or not one of ours (e.g. minted before a
    /// restart): RFC 7616 3.3 `stale=true`, the client retries without asking its user.
    #[error("stale nonce")]
    Stale,
    /// A nonce-count not higher than one already seen with this nonce.
    #[error("nonce-count replayed")]
    Replayed { username: String },
}

impl VerifyError {
    /// Whether the source should be charged a failure for rate limiting (stale nonces, other
    /// realms and algorithms are honest client behaviour).
    pub fn counts_as_failure(&self) -> bool {
        matches!(
            self,
            VerifyError::Malformed(_)
                | VerifyError::UriMismatch
                | VerifyError::Rejected { .. }
                | VerifyError::Replayed { .. }
        )
    }
}

/// Highest nonce-count seen per nonce.
#[derive(Debug)]
struct NonceUse {
    last_nc: u32,
    expires_at: Instant,
}

/// Mints challenges and verifies credentials. Time is relative to `origin` (given at creation).
pub struct DigestServer {
    config: DigestConfig,
    origin: Instant,
    /// Per-instance salt mixed into every MAC, so a reused secret does not revive nonces of an
    /// earlier process whose `origin` was different.
    salt: [u8; 8],
    opaque: String,
    seen: HashMap<String, NonceUse>,
}

impl fmt::Debug for DigestServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestServer")
            .field("config", &self.config)
            .field("tracked_nonces", &self.seen.len())
            .finish()
    }
}

impl DigestServer {
    pub fn new(config: DigestConfig, origin: Instant, rng: &mut fastrand::Rng) -> Self {
        let salt = rng.u64(..).to_be_bytes();
        let mut server = DigestServer {
            config,
            origin,
            salt,
            opaque: String::new(),
            seen: HashMap::new(),
        };
        let opaque_mac = server.mac(&[b"opaque"]);
        server.opaque = hex::encode(opaque_mac.get(..8).unwrap_or_default());
        server
    }

    pub fn realm(&self) -> &str {
        &self.config.realm
    }

    pub fn config(&self) -> &DigestConfig {
        &self.config
    }

    /// `WWW-Authenticate` values, one per offered algorithm in order of preference.
    pub fn challenges(&self, now: Instant, rng: &mut fastrand::Rng, stale: bool) -> Vec<String> {
        self.challenges_with(now, rng, stale, &self.config.algorithms)
    }

    /// Challenges for `algorithms` only (those not in the configuration are left out).
    pub fn challenges_with(
        &self,
        now: Instant,
        rng: &mut fastrand::Rng,
        stale: bool,
        algorithms: &[Algorithm],
    ) -> Vec<String> {
        let nonce = self.mint_nonce(now, rng);
        algorithms
            .iter()
            .filter(|a| self.config.algorithms.contains(a))
            .map(|a| {
                format!(
                    "Digest realm={}, nonce=\"{nonce}\", opaque=\"{}\", algorithm={}, qop=\"auth\"{}",
                    quote(&self.config.realm),
                    self.opaque,
                    a.name(),
                    if stale { ", stale=true" } else { "" }
                )
            })
            .collect()
    }

    /// Checks one `Authorization` value for `method` on `request_uri`.
    pub fn verify(
        &mut self,
        now: Instant,
        method: &str,
        request_uri: &str,
        authorization: &str,
        credentials: &Credentials,
    ) -> Result<Verified, VerifyError> {
        let p = DigestParams::parse(authorization).map_err(VerifyError::Malformed)?;
        let realm = p.require("realm").map_err(VerifyError::Malformed)?;
        if realm != self.config.realm {
            return Err(VerifyError::OtherRealm);
        }
        let algorithm = match p.get("algorithm") {
            // RFC 7616 3.4: absent means MD5.
            None => Algorithm::Md5,
            Some(name) => Algorithm::from_name(name).ok_or(VerifyError::AlgorithmNotOffered)?,
        };
        if !self.config.algorithms.contains(&algorithm) {
            return Err(VerifyError::AlgorithmNotOffered);
        }
        let field = |k: &'static str| p.require(k).map_err(VerifyError::Malformed);
        let (username, nonce, uri, given) =
            (field("username")?, field("nonce")?, field("uri")?, field("response")?);
        // We always offer qop="auth": RFC 7616 3.4 obliges the client to use it, and nc is
        // what makes replay detectable.
        if !field("qop")?.eq_ignore_ascii_case("auth") {
            return Err(VerifyError::Malformed(AuthError::UnsupportedQop));
        }
        let (nc_text, cnonce) = (field("nc")?, field("cnonce")?);
        let nc = (nc_text.len() == 8)
            .then(|| u32::from_str_radix(nc_text, 16).ok())
            .flatten()
            .filter(|n| *n > 0)
            .ok_or(VerifyError::Malformed(AuthError::BadParam("nc")))?;
        if cnonce.is_empty() {
            return Err(VerifyError::Malformed(AuthError::BadParam("cnonce")));
        }
        if uri != request_uri {
            return Err(VerifyError::UriMismatch);
        }
        let given = given.to_ascii_lowercase();
        let qop = QopParams { nc: nc_text, cnonce };
        // An unknown user costs the same hashing as a known one (no user enumeration by timing).
        let known = credentials.ha1(username, algorithm);
        let dummy;
        let ha1 = match known {
            Some(h) => h,
            None => {
                dummy = algorithm.hex_digest(&self.mac(&[b"dummy", username.as_bytes()]));
                &dummy
            }
        };
        let expected = response(algorithm, ha1, nonce, Some(qop), method, uri);
        if !(ct_eq(expected.as_bytes(), given.as_bytes()) && known.is_some()) {
            return Err(VerifyError::Rejected {
                username: username.to_string(),
            });
        }
        let opaque_ok = p.get("opaque").is_none_or(|o| ct_eq(o.as_bytes(), self.opaque.as_bytes()));
        let Some(expires_at) = self.nonce_expiry(nonce).filter(|at| *at > now && opaque_ok) else {
            return Err(VerifyError::Stale);
        };
        match self.seen.get_mut(nonce) {
            Some(entry) if nc <= entry.last_nc => {
                return Err(VerifyError::Replayed {
                    username: username.to_string(),
                });
            }
            Some(entry) => entry.last_nc = nc,
            None => {
                if self.seen.len() >= self.config.max_tracked_nonces {
                    self.purge(now);
                }
                if self.seen.len() >= self.config.max_tracked_nonces {
                    return Err(VerifyError::Stale);
                }
                self.seen.insert(nonce.to_string(), NonceUse { last_nc: nc, expires_at });
            }
        }
        Ok(Verified {
            username: username.to_string(),
            algorithm,
        })
    }

    /// Forgets the nonce-counts of expired nonces (they are answered `stale` anyway).
    pub fn purge(&mut self, now: Instant) {
        self.seen.retain(|_, u| u.expires_at > now);
    }

    /// Nonces whose counts are remembered.
    pub fn tracked_nonces(&self) -> usize {
        self.seen.len()
    }

    fn mac(&self, parts: &[&[u8]]) -> Vec<u8> {
        // HMAC accepts keys of any length: this cannot fail.
        let mut mac = HmacSha256::new_from_slice(&self.config.secret)
            .expect("invariant: HMAC takes keys of any length");
        mac.update(&self.salt);
        for part in parts {
            mac.update(part);
        }
        mac.update(self.config.realm.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    fn mint_nonce(&self, now: Instant, rng: &mut fastrand::Rng) -> String {
        let issued = now.saturating_duration_since(self.origin).as_millis() as u64;
        let mut body = [0u8; NONCE_BODY];
        body[..8].copy_from_slice(&issued.to_be_bytes());
        body[8..].copy_from_slice(&rng.u64(..).to_be_bytes());
        let mac = self.mac(&[&body]);
        let mut nonce = hex::encode(body);
        nonce.push_str(&hex::encode(mac.get(..NONCE_MAC).unwrap_or_default()));
        nonce
    }

    /// When a nonce we minted stops being fresh; `None` if it is not ours.
    fn nonce_expiry(&self, nonce: &str) -> Option<Instant> {
        let bytes = hex::decode(nonce).ok()?;
        if bytes.len() != NONCE_BODY + NONCE_MAC {
            return None;
        }
        let (body, tag) = bytes.split_at(NONCE_BODY);
        let mut mac = HmacSha256::new_from_slice(&self.config.secret).ok()?;
        mac.update(&self.salt);
        mac.update(body);
        mac.update(self.config.realm.as_bytes());
        mac.verify_truncated_left(tag).ok()?;
        let issued = u64::from_be_bytes(body.get(..8)?.try_into().ok()?);
        self.origin
            .checked_add(Duration::from_millis(issued))?
            .checked_add(self.config.nonce_lifetime)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::DigestChallenge;

    const URI: &str = "sip:192.0.2.20";

    fn setup() -> (DigestServer, Credentials, fastrand::Rng, Instant) {
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(7);
        let server = DigestServer::new(DigestConfig::new("012", vec![9; 32]), t0, &mut rng);
        let mut creds = Credentials::new();
        creds.insert("1001", UserCredentials::from_password("1001", "012", "secret"));
        (server, creds, rng, t0)
    }

    fn answer(challenge: &str, password: &str, nc: u32) -> String {
        let ch = DigestChallenge::parse(challenge).expect("our challenge parses");
        ch.authorization("1001", password, "REGISTER", URI, "cn0nce", nc)
    }

    #[test]
    fn challenges_offer_sha256_first_then_md5_with_one_nonce() {
        let (server, _, mut rng, t0) = setup();
        let ch = server.challenges(t0, &mut rng, false);
        assert_eq!(ch.len(), 2);
        assert!(ch[0].contains("algorithm=SHA-256") && ch[1].contains("algorithm=MD5"));
        assert!(ch[0].starts_with("Digest realm=\"012\", nonce=\""), "{}", ch[0]);
        assert!(ch[0].contains("qop=\"auth\"") && !ch[0].contains("stale"));
        let nonce = |c: &str| DigestChallenge::parse(c).expect("parses").nonce;
        assert_eq!(nonce(&ch[0]), nonce(&ch[1]));
        assert!(server.challenges(t0, &mut rng, true)[0].ends_with(", stale=true"));
    }

    #[test]
    fn right_password_verifies_with_either_algorithm() {
        let (mut server, creds, mut rng, t0) = setup();
        // Both challenges share one nonce, so the second answer counts on from the first.
        for (nc, ch) in (1..).zip(server.challenges(t0, &mut rng, false)) {
            let auth = answer(&ch, "secret", nc);
            let ok = server.verify(t0, "REGISTER", URI, &auth, &creds).expect("verifies");
            assert_eq!(ok.username, "1001");
        }
    }

    #[test]
    fn stored_ha1_verifies_without_the_password() {
        let (mut server, _, mut rng, t0) = setup();
        let md5 = crate::auth::ha1(Algorithm::Md5, "1001", "012", "secret").to_uppercase();
        let mut creds = Credentials::new();
        creds.insert("1001", UserCredentials::from_ha1(Some(&md5), None).expect("valid HA1"));
        let ch = server.challenges(t0, &mut rng, false);
        let md5_auth = answer(&ch[1], "secret", 1);
        assert!(server.verify(t0, "REGISTER", URI, &md5_auth, &creds).is_ok());
        // No SHA-256 HA1 stored: that answer cannot be checked and is refused.
        let sha_auth = answer(&ch[0], "secret", 2);
        assert!(matches!(
            server.verify(t0, "REGISTER", URI, &sha_auth, &creds),
            Err(VerifyError::Rejected { .. })
        ));
        assert_eq!(
            UserCredentials::from_ha1(Some("abc"), None),
            Err(AuthError::BadHa1 { algorithm: Algorithm::Md5 })
        );
    }

    #[test]
    fn wrong_password_and_unknown_user_are_the_same_rejection() {
        let (mut server, creds, mut rng, t0) = setup();
        let ch = server.challenges(t0, &mut rng, false);
        let wrong = answer(&ch[0], "guess", 1);
        assert_eq!(
            server.verify(t0, "REGISTER", URI, &wrong, &creds),
            Err(VerifyError::Rejected { username: "1001".into() })
        );
        let other = DigestChallenge::parse(&ch[0])
            .expect("parses")
            .authorization("9999", "secret", "REGISTER", URI, "c", 1);
        assert!(matches!(
            server.verify(t0, "REGISTER", URI, &other, &creds),
            Err(VerifyError::Rejected { .. })
        ));
    }

    #[test]
    fn expired_or_foreign_nonce_with_right_password_is_stale() {
        let (mut server, creds, mut rng, t0) = setup();
        let ch = server.challenges(t0, &mut rng, false);
        let auth = answer(&ch[0], "secret", 1);
        let late = t0 + Duration::from_secs(301);
        assert_eq!(server.verify(late, "REGISTER", URI, &auth, &creds), Err(VerifyError::Stale));
        // A nonce minted by another instance (other salt): stale, not rejected.
        let mut other_rng = fastrand::Rng::with_seed(8);
        let other = DigestServer::new(DigestConfig::new("012", vec![9; 32]), t0, &mut other_rng);
        let foreign = answer(&other.challenges(t0, &mut rng, false)[0], "secret", 1);
        assert_eq!(server.verify(t0, "REGISTER", URI, &foreign, &creds), Err(VerifyError::Stale));
    }

    #[test]
    fn nonce_count_must_grow() {
        let (mut server, creds, mut rng, t0) = setup();
        let ch = server.challenges(t0, &mut rng, false);
        let first = answer(&ch[0], "secret", 1);
        assert!(server.verify(t0, "REGISTER", URI, &first, &creds).is_ok());
        assert_eq!(
            server.verify(t0, "REGISTER", URI, &first, &creds),
            Err(VerifyError::Replayed { username: "1001".into() })
        );
        let third = answer(&ch[0], "secret", 3);
        assert!(server.verify(t0, "REGISTER", URI, &third, &creds).is_ok());
        let second = answer(&ch[0], "secret", 2);
        assert!(matches!(
            server.verify(t0, "REGISTER", URI, &second, &creds),
            Err(VerifyError::Replayed { .. })
        ));
        assert_eq!(server.tracked_nonces(), 1);
        server.purge(t0 + Duration::from_secs(301));
        assert_eq!(server.tracked_nonces(), 0);
    }

    #[test]
    fn malformed_credentials_are_classified() {
        let (mut server, creds, mut rng, t0) = setup();
        let ch = server.challenges(t0, &mut rng, false);
        let auth = answer(&ch[0], "secret", 1);
        let verify = |s: &mut DigestServer, a: &str| s.verify(t0, "REGISTER", URI, a, &creds);
        assert_eq!(
            verify(&mut server, &auth.replace("qop=auth", "qop=auth-int")),
            Err(VerifyError::Malformed(AuthError::UnsupportedQop))
        );
        assert_eq!(
            verify(&mut server, &auth.replace("nc=00000001", "nc=1")),
            Err(VerifyError::Malformed(AuthError::BadParam("nc")))
        );
        assert_eq!(
            verify(&mut server, &auth.replace("realm=\"012\"", "realm=\"other\"")),
            Err(VerifyError::OtherRealm)
        );
        assert_eq!(
            verify(&mut server, &auth.replace("algorithm=SHA-256", "algorithm=SHA-256-sess")),
            Err(VerifyError::AlgorithmNotOffered)
        );
        assert_eq!(
            server.verify(t0, "REGISTER", "sip:elsewhere", &auth, &creds),
            Err(VerifyError::UriMismatch)
        );
        assert!(matches!(verify(&mut server, "Digest username"), Err(VerifyError::Malformed(_))));
        assert!(VerifyError::UriMismatch.counts_as_failure());
        assert!(!VerifyError::Stale.counts_as_failure());
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let (server, creds, _, _) = setup();
        let text = format!("{server:?} {creds:?}");
        assert!(!text.contains("9, 9") && text.contains("<redacted>"), "{text}");
    }
}
