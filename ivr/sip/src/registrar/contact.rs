//! Reading what a REGISTER asks for: the address-of-record (To) in canonical form, the Contact
//! entries with their `expires` and `q` parameters, and the Expires header.

use crate::message::{self, Message, header_param, name_addr_uri};

/// An address-of-record `sip:user@host` (RFC 3261 10.3 step 5: parameters, port and scheme
/// variants removed, host lowercased, user kept as is since it is case-sensitive).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Aor {
    pub user: String,
    pub canonical: String,
}

impl Aor {
    /// From a To header value or a bare URI; `None` for anything but a `sip:`/`sips:` URI
    /// with a user part.
    pub(super) fn parse(value: &str) -> Option<Aor> {
        let uri = name_addr_uri(value).unwrap_or(value).trim();
        let (scheme, rest) = uri.split_once(':')?;
        if !(scheme.eq_ignore_ascii_case("sip") || scheme.eq_ignore_ascii_case("sips")) {
            return None;
        }
        let rest = rest.split(['?', ';']).next()?;
        let (user, hostport) = rest.rsplit_once('@')?;
        // The user part may carry a password (`user:pw@`); it is not part of the identity.
        let user = user.split(':').next()?;
        let host = if let Some(v6) = hostport.strip_prefix('[') {
            format!("[{}]", v6.split(']').next()?)
        } else {
            hostport.split(':').next()?.to_string()
        };
        let valid = |s: &str| {
            !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c))
        };
        if !valid(user) || !valid(&host) {
            return None;
        }
        Some(Aor {
            user: user.to_string(),
            canonical: format!("sip:{user}@{}", host.to_ascii_lowercase()),
        })
    }
}

/// One Contact entry of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ContactEntry {
    pub uri: String,
    /// The `expires` parameter (RFC 3261 10.2.1.1); malformed values count as absent.
    pub expires: Option<u64>,
    /// The `q` parameter in thousandths (RFC 3261 20.10).
    pub q: Option<u16>,
}

/// The Contact header(s) of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Contacts {
    /// No Contact: a query for the current bindings.
    None,
    /// `Contact: *`, with the number of Contact entries seen (valid only alone).
    Wildcard { entries: usize },
    List(Vec<ContactEntry>),
}

/// Why a REGISTER's contacts cannot be used (answered 400).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BadContact;

pub(super) fn contacts(req: &Message) -> Result<Contacts, BadContact> {
    let values: Vec<&str> = req
        .headers_named("Contact")
        .flat_map(message::split_top_level_commas)
        .collect();
    if values.is_empty() {
        return Ok(Contacts::None);
    }
    if values.iter().any(|v| v.trim() == "*") {
        return Ok(Contacts::Wildcard {
            entries: values.len(),
        });
    }
    values
        .into_iter()
        .map(|v| {
            let uri = name_addr_uri(v).filter(|u| message::is_usable_uri(u)).ok_or(BadContact)?;
            Ok(ContactEntry {
                uri: uri.to_string(),
                expires: header_param(v, "expires").and_then(|e| e.parse().ok()),
                q: header_param(v, "q").and_then(parse_q),
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Contacts::List)
}

/// The Expires header; a malformed one counts as absent (RFC 3261 20.19 lets a registrar use its
/// default).
pub(super) fn expires_header(req: &Message) -> Option<u64> {
    req.header("Expires").and_then(|v| v.trim().parse().ok())
}

/// `0`, `1`, `0.5`, `0.125` (RFC 3261 20.10 qvalue) in thousandths.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let int: u16 = match int {
        "0" => 0,
        "1" => 1,
        _ => return None,
    };
    let frac_value: u16 = format!("{frac:0<3}").parse().ok()?;
    let q = int * 1000 + frac_value;
    (q <= 1000).then_some(q)
}

/// `q` printed back as a qvalue.
pub(super) fn format_q(q: u16) -> String {
    if q >= 1000 {
        "1".into()
    } else {
        let s = format!("0.{q:03}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aor_is_canonical() {
        let a = Aor::parse("\"Agent\" <sip:1001@IVR.Example:5060;transport=udp>;tag=x").expect("ok");
        assert_eq!(a.canonical, "sip:1001@ivr.example");
        assert_eq!(a.user, "1001");
        assert_eq!(Aor::parse("sips:Bob:pw@[2001:DB8::1]:5061").map(|a| a.canonical),
            Some("sip:Bob@[2001:db8::1]".to_string()));
        assert_eq!(Aor::parse("<tel:+34600000000>"), None);
        assert_eq!(Aor::parse("<sip:ivr.example>"), None);
        assert_eq!(Aor::parse("<sip:@ivr.example>"), None);
    }

    #[test]
    fn q_values() {
        assert_eq!(parse_q("0.5"), Some(500));
        assert_eq!(parse_q("1"), Some(1000));
        assert_eq!(parse_q("1.000"), Some(1000));
        assert_eq!(parse_q("1.5"), None);
        assert_eq!(parse_q("0.1234"), None);
        assert_eq!(parse_q("x"), None);
        assert_eq!(format_q(500), "0.5");
        assert_eq!(format_q(125), "0.125");
        assert_eq!(format_q(0), "0");
        assert_eq!(format_q(1000), "1");
    }
}
