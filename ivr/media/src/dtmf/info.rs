//! DTMF carried in SIP INFO request bodies.
//!
//! Owns the two body formats phones actually send (neither is an RFC; RFC
//! 6086 §1 leaves INFO packages to be defined, and these predate it):
//! - `application/dtmf-relay` (Cisco-style): lines `Signal=5` and
//!   `Duration=160`; some phones send `Signal=10` / `Signal=11` for `*` / `#`
//!   (RFC 4733 event codes), some add spaces or use lower case or bare LF;
//! - `application/dtmf`: the body is the key itself (`5`, `#`) or its event
//!   code (`11`).
//!
//! Must never: panic on any body, or allocate. The SIP layer hands over the
//! raw `Content-Type` value and body; the server reports the digit to the
//! call (`MediaCall::handle_info_dtmf`) and answers the INFO 200 whatever
//! this returns, or 415 for an unsupported content type.

use thiserror::Error;

use super::DtmfDigit;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DtmfInfoError {
    #[error("INFO content type is not a DTMF body")]
    UnsupportedContentType,
    #[error("dtmf-relay body has no Signal line")]
    MissingSignal,
    #[error("DTMF value is not a key (0-9, *, #, A-D or event code 0-15)")]
    InvalidSignal,
}

/// Parses the digit out of an INFO body. `content_type` is the header value;
/// its media type is matched case-insensitively and parameters are ignored.
pub fn parse_info(content_type: &str, body: &[u8]) -> Result<DtmfDigit, DtmfInfoError> {
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if media_type.eq_ignore_ascii_case("application/dtmf-relay") {
        parse_relay(body)
    } else if media_type.eq_ignore_ascii_case("application/dtmf") {
        parse_value(body)
    } else {
        Err(DtmfInfoError::UnsupportedContentType)
    }
}

fn parse_relay(body: &[u8]) -> Result<DtmfDigit, DtmfInfoError> {
    for line in body.split(|&b| b == b'\n') {
        let Some(eq) = line.iter().position(|&b| b == b'=') else { continue };
        let (key, value) = line.split_at(eq);
        if key.trim_ascii().eq_ignore_ascii_case(b"signal") {
            return parse_value(value.get(1..).unwrap_or_default());
        }
    }
    Err(DtmfInfoError::MissingSignal)
}

/// A key character or an RFC 4733 event code, surrounding whitespace allowed.
fn parse_value(value: &[u8]) -> Result<DtmfDigit, DtmfInfoError> {
    let value = value.trim_ascii();
    match value {
        [c] => DtmfDigit::from_char(char::from(*c)).ok_or(DtmfInfoError::InvalidSignal),
        [b'1', c @ b'0'..=b'5'] => DtmfDigit::from_event_code(10 + (c - b'0')).ok_or(DtmfInfoError::InvalidSignal),
        _ => Err(DtmfInfoError::InvalidSignal),
    }
}
