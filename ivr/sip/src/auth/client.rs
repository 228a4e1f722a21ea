//! The client side of Digest: reading a challenge and computing the `Authorization` value.

use super::{Algorithm, AuthError, DigestParams, QopParams, quote, response};

/// One `WWW-Authenticate` (or `Proxy-Authenticate`) Digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// The server offered `qop=auth` (otherwise the RFC 2069 form is answered).
    pub qop_auth: bool,
    pub stale: bool,
}

impl DigestChallenge {
    pub fn parse(value: &str) -> Result<DigestChallenge, AuthError> {
        let p = DigestParams::parse(value)?;
        let algorithm = match p.get("algorithm") {
            None => Algorithm::Md5,
            Some(name) => Algorithm::from_name(name).ok_or(AuthError::UnsupportedAlgorithm)?,
        };
        let qop = p.get("qop");
        let qop_auth = qop.is_some_and(|q| q.split(',').any(|o| o.trim().eq_ignore_ascii_case("auth")));
        if qop.is_some() && !qop_auth {
            return Err(AuthError::UnsupportedQop);
        }
        Ok(DigestChallenge {
            realm: p.require("realm")?.to_string(),
            nonce: p.require("nonce")?.to_string(),
            opaque: p.get("opaque").map(str::to_string),
            algorithm,
            qop_auth,
            stale: p.get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The challenge to answer among several header values: SHA-256 over MD5 (RFC 8760 2.4),
    /// unusable ones skipped.
    pub fn pick<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<DigestChallenge> {
        values
            .into_iter()
            .filter_map(|v| DigestChallenge::parse(v).ok())
            .max_by_key(|c| (c.algorithm == Algorithm::Sha256, c.qop_auth))
    }

    /// The `Authorization` value for `method` on `uri`; `nc` counts the requests made with this
    /// nonce (1 for the first). `cnonce` should be fresh random text.
    pub fn authorization(
        &self,
        username: &str,
        password: &str,
        method: &str,
        uri: &str,
        cnonce: &str,
        nc: u32,
    ) -> String {
        let ha1 = super::ha1(self.algorithm, username, &self.realm, password);
        let nc_text = format!("{nc:08x}");
        let qop = self.qop_auth.then_some(QopParams { nc: &nc_text, cnonce });
        let digest = response(self.algorithm, &ha1, &self.nonce, qop, method, uri);
        let mut out = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response=\"{digest}\", algorithm={}",
            quote(username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(uri),
            self.algorithm.name()
        );
        if let Some(opaque) = &self.opaque {
            out.push_str(&format!(", opaque={}", quote(opaque)));
        }
        if self.qop_auth {
            out.push_str(&format!(", qop=auth, nc={nc_text}, cnonce={}", quote(cnonce)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7616_SHA256: &str = "Digest realm=\"http-auth@example.org\", qop=\"auth, auth-int\", \
        algorithm=SHA-256, nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\", \
        opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";

    #[test]
    fn answers_the_rfc7616_sha256_challenge() {
        let ch = DigestChallenge::parse(RFC7616_SHA256).expect("RFC example parses");
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        assert!(ch.qop_auth && !ch.stale);
        let auth = ch
            .authorization(
                "Mufasa",
                "Circle of Life",
                "GET",
                "/dir/index.html",
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                1,
            );
        assert!(
            auth.contains(
                "response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\""
            ),
            "{auth}"
        );
        assert!(auth.contains("nc=00000001") && auth.contains("opaque=\"FQhe/"));
    }

    #[test]
    fn picks_sha256_over_md5_and_skips_unusable() {
        let md5 = RFC7616_SHA256.replace("SHA-256", "MD5");
        let int_only = RFC7616_SHA256.replace("auth, auth-int", "auth-int");
        let picked = DigestChallenge::pick([md5.as_str(), RFC7616_SHA256, int_only.as_str()]);
        assert_eq!(picked.map(|c| c.algorithm), Some(Algorithm::Sha256));
        assert_eq!(DigestChallenge::parse(&int_only), Err(AuthError::UnsupportedQop));
        assert_eq!(DigestChallenge::pick(["Basic realm=x"]), None);
    }

    #[test]
    fn without_qop_answers_in_rfc2069_form() {
        let ch = DigestChallenge::parse("Digest realm=\"r\", nonce=\"n\", stale=TRUE").expect("ok");
        assert!(ch.stale && !ch.qop_auth && ch.algorithm == Algorithm::Md5);
        let auth = ch.authorization("u", "p", "REGISTER", "sip:x", "c", 1);
        assert!(!auth.contains("qop") && !auth.contains("cnonce"));
    }
}
