//! HTTP Digest authentication as SIP uses it (RFC 3261 22, RFC 7616, RFC 2617, RFC 8760).
//!
//! # What this module owns
//! The digest computations (MD5 and SHA-256), the parsing and printing of `WWW-Authenticate` /
//! `Authorization` values, the server side ([`DigestServer`]: challenges with stateless,
//! HMAC-signed, expiring nonces; verification against stored HA1 values; the nonce-count replay
//! table) and the client side ([`DigestChallenge`]: answering a challenge, for our load
//! generator's simulated agents and for tests).
//!
//! # What it must never do
//! Read the clock (time is the `now` argument), keep clear-text passwords (the credential store
//! holds HA1 values only), compare a response or a MAC in variable time, or panic on a header
//! from the network.

mod client;
mod server;

pub use client::DigestChallenge;
pub use server::{Credentials, DigestConfig, DigestServer, UserCredentials, Verified, VerifyError};

use md5::Md5;
use sha2::{Digest, Sha256};

/// A digest algorithm (RFC 7616 3.3; the `-sess` variants are not supported).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Md5,
    Sha256,
}

impl Algorithm {
    /// The token of the `algorithm` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Sha256 => "SHA-256",
        }
    }

    /// Case-insensitive (RFC 7616 3.3: the token is case-insensitive).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        [Algorithm::Md5, Algorithm::Sha256]
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }

    /// Length of the lowercase hex digest.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Md5 => 32,
            Algorithm::Sha256 => 64,
        }
    }

    /// `H(data)` as lowercase hex.
    pub fn hex_digest(self, data: &[u8]) -> String {
        match self {
            Algorithm::Md5 => hex::encode(Md5::digest(data)),
            Algorithm::Sha256 => hex::encode(Sha256::digest(data)),
        }
    }

    /// `H(a:b:c...)`.
    fn hash_joined(self, parts: &[&str]) -> String {
        self.hex_digest(parts.join(":").as_bytes())
    }
}

/// RFC 7616 3.4.2: `HA1 = H(username:realm:password)`.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash_joined(&[username, realm, password])
}

/// RFC 7616 3.4.1 with `qop=auth` (or RFC 2069 without qop): the `response` value.
pub fn response(algorithm: Algorithm, ha1: &str, nonce: &str, qop: Option<QopParams<'_>>, method: &str, uri: &str) -> String {
    let ha2 = algorithm.hash_joined(&[method, uri]);
    match qop {
        Some(q) => algorithm.hash_joined(&[ha1, nonce, q.nc, q.cnonce, "auth", &ha2]),
        None => algorithm.hash_joined(&[ha1, nonce, &ha2]),
    }
}

/// The client's `nc` (8 hex digits, as sent) and `cnonce` for `qop=auth`.
#[derive(Debug, Clone, Copy)]
pub struct QopParams<'a> {
    pub nc: &'a str,
    pub cnonce: &'a str,
}

/// Why a Digest header value could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("not a Digest credential or challenge")]
    NotDigest,
    #[error("malformed Digest parameter list")]
    MalformedParams,
    #[error("missing Digest parameter {0}")]
    MissingParam(&'static str),
    #[error("malformed Digest parameter {0}")]
    BadParam(&'static str),
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    #[error("the challenge offers no qop this client supports")]
    UnsupportedQop,
    #[error("stored HA1 for {algorithm:?} is not {} hex digits", algorithm.hex_len())]
    BadHa1 { algorithm: Algorithm },
}

/// Parameters of a `Digest` challenge or credential, keys lowercased, values unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DigestParams(Vec<(String, String)>);

/// More parameters than any real header carries: refuse rather than grow.
const MAX_PARAMS: usize = 32;

impl DigestParams {
    /// Parses `Digest k1=token, k2="quoted \" string", ...` (RFC 7616 3.3 / 3.4 grammar).
    pub(crate) fn parse(value: &str) -> Result<DigestParams, AuthError> {
        let value = value.trim_start();
        let scheme_end = value.find([' ', '\t']).ok_or(AuthError::NotDigest)?;
        if !value.get(..scheme_end).is_some_and(|s| s.eq_ignore_ascii_case("Digest")) {
            return Err(AuthError::NotDigest);
        }
        let mut params = Vec::new();
        let mut chars = value.get(scheme_end..).unwrap_or_default().chars().peekable();
        loop {
            while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
            if chars.peek().is_none() {
                break;
            }
            let mut key = String::new();
            while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace() && *c != ',') {
                key.push(c.to_ascii_lowercase());
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            if chars.next() != Some('=') || key.is_empty() {
                return Err(AuthError::MalformedParams);
            }
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let mut val = String::new();
            if chars.next_if_eq(&'"').is_some() {
                loop {
                    match chars.next() {
                        None => return Err(AuthError::MalformedParams),
                        Some('"') => break,
                        Some('\\') => val.push(chars.next().ok_or(AuthError::MalformedParams)?),
                        Some(c) => val.push(c),
                    }
                }
            } else {
                while let Some(c) = chars.next_if(|c| *c != ',' && !c.is_whitespace()) {
                    val.push(c);
                }
            }
            if params.len() == MAX_PARAMS {
                return Err(AuthError::MalformedParams);
            }
            params.push((key, val));
        }
        Ok(DigestParams(params))
    }

    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    pub(crate) fn require(&self, key: &'static str) -> Result<&str, AuthError> {
        self.get(key).ok_or(AuthError::MissingParam(key))
    }
}

/// A quoted-string with `"` and `\` escaped (RFC 3261 25.1).
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Compares two byte strings in time that depends on their lengths only.
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7616 3.9.1: the same request answered with SHA-256 and with MD5.
    const NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn rfc7616(algorithm: Algorithm) -> String {
        let ha1 = ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life");
        let qop = QopParams { nc: "00000001", cnonce: CNONCE };
        response(algorithm, &ha1, NONCE, Some(qop), "GET", "/dir/index.html")
    }

    #[test]
    fn rfc7616_sha256_example() {
        assert_eq!(
            rfc7616(Algorithm::Sha256),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc7616_md5_example() {
        assert_eq!(rfc7616(Algorithm::Md5), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc2617_example() {
        let ha1 = ha1(Algorithm::Md5, "Mufasa", "testrealm@host.com", "Circle Of Life");
        let qop = QopParams { nc: "00000001", cnonce: "0a4f113b" };
        let nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
        assert_eq!(
            response(Algorithm::Md5, &ha1, nonce, Some(qop), "GET", "/dir/index.html"),
            "6629fae49393a05397450978507c4ef1"
        );
    }

    #[test]
    fn params_parse_quoted_escaped_and_bare_values() {
        let p = DigestParams::parse(
            "Digest realm=\"a \\\"b\\\", c\",nonce=\"n\" , algorithm=SHA-256,qop=\"auth,auth-int\"",
        )
        .expect("valid");
        assert_eq!(p.get("realm"), Some("a \"b\", c"));
        assert_eq!(p.get("nonce"), Some("n"));
        assert_eq!(p.get("algorithm"), Some("SHA-256"));
        assert_eq!(p.get("qop"), Some("auth,auth-int"));
        assert_eq!(p.get("opaque"), None);
    }

    #[test]
    fn params_refuse_other_schemes_and_broken_lists() {
        assert_eq!(DigestParams::parse("Basic abc=d"), Err(AuthError::NotDigest));
        assert_eq!(DigestParams::parse("Digest"), Err(AuthError::NotDigest));
        assert_eq!(DigestParams::parse("Digest realm=\"open"), Err(AuthError::MalformedParams));
        assert_eq!(DigestParams::parse("Digest realm"), Err(AuthError::MalformedParams));
        assert_eq!(DigestParams::parse("Digest =x"), Err(AuthError::MalformedParams));
        let many = format!("Digest {}", "a=b,".repeat(MAX_PARAMS + 1));
        assert_eq!(DigestParams::parse(&many), Err(AuthError::MalformedParams));
    }

    #[test]
    fn quote_escapes_and_ct_eq_compares() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }
}
