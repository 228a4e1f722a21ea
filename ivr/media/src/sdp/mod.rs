//! SDP (RFC 4566) as far as an IVR needs it, and RFC 3264 offer/answer for
//! one G.711 audio stream with telephone-event.
//!
//! Owns: a tolerant parser into [`SessionDescription`] (unknown lines and
//! attributes are ignored, malformed required lines are a typed
//! [`SdpError`] with the line number), the choice of codec and direction
//! ([`answer_offer`], [`accept_answer`]) and the SDP text we send
//! ([`make_offer`], the answer). Does not own the RTP stream: the result,
//! [`Negotiated`], is what [`crate::session::SessionConfig::from_negotiated`]
//! is built from.
//!
//! Must never: panic on any input text, resolve host names, or read the clock.

mod negotiate;

use std::net::IpAddr;
use thiserror::Error;

pub use negotiate::{LocalMedia, Negotiated, SdpSessionVersion, accept_answer, answer_offer, make_offer};

/// Which required line was malformed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SdpLineKind {
    Version,
    Origin,
    Connection,
    Media,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum SdpError {
    #[error("line {line}: malformed {kind:?} line")]
    Malformed { line: usize, kind: SdpLineKind },
    #[error("no v=0 line")]
    MissingVersion,
    #[error("line {line}: audio m= line without a c= address at media or session level")]
    MissingConnection { line: usize },
    /// No audio stream shares a codec with us: the server answers 488.
    #[error("no audio stream with a codec in common")]
    NoCommonCodec,
}

/// Media direction attributes (RFC 4566 §6, RFC 3264 §5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// RFC 3264 §6.1: the answerer's direction for an offered one (also our
    /// own direction when reading an answer to our offer).
    pub fn reversed(self) -> Direction {
        match self {
            Direction::SendRecv => Direction::SendRecv,
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            Direction::Inactive => Direction::Inactive,
        }
    }

    pub fn sends(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::SendOnly)
    }

    pub fn receives(self) -> bool {
        matches!(self, Direction::SendRecv | Direction::RecvOnly)
    }

    fn from_attribute(name: &str) -> Option<Direction> {
        match name {
            "sendrecv" => Some(Direction::SendRecv),
            "sendonly" => Some(Direction::SendOnly),
            "recvonly" => Some(Direction::RecvOnly),
            "inactive" => Some(Direction::Inactive),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub username: String,
    pub session_id: String,
    pub session_version: String,
    pub address: String,
}

/// A `c=` line. The unspecified address (`0.0.0.0`) is RFC 2543 hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub addr: IpAddr,
}

impl Connection {
    pub fn is_hold(self) -> bool {
        self.addr.is_unspecified()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpMap {
    pub payload_type: u8,
    pub encoding: String,
    pub clock_rate: u32,
    pub channels: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fmtp {
    pub payload_type: u8,
    pub params: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaDescription {
    /// 1-based line number of the `m=` line.
    pub line: usize,
    pub media: String,
    pub port: u16,
    pub proto: String,
    /// Formats as written (payload type numbers for RTP profiles).
    pub formats: Vec<String>,
    pub connection: Option<Connection>,
    pub rtpmaps: Vec<RtpMap>,
    pub fmtps: Vec<Fmtp>,
    pub ptime: Option<u32>,
    pub maxptime: Option<u32>,
    pub direction: Option<Direction>,
    /// RFC 3605 `a=rtcp:` port.
    pub rtcp_port: Option<u16>,
}

impl MediaDescription {
    /// Formats that are payload type numbers, in offer order.
    pub fn payload_types(&self) -> impl Iterator<Item = u8> + '_ {
        self.formats.iter().filter_map(|f| f.parse::<u8>().ok().filter(|pt| *pt < 128))
    }

    pub fn rtpmap(&self, pt: u8) -> Option<&RtpMap> {
        self.rtpmaps.iter().find(|m| m.payload_type == pt)
    }

    /// The G.711 codec a payload type carries: by `a=rtpmap` when present
    /// (dynamic numbers included), else by RFC 3551 static assignment.
    pub fn codec_for(&self, pt: u8) -> Option<crate::Codec> {
        match self.rtpmap(pt) {
            Some(map) => {
                let mono = matches!(map.channels, None | Some(1));
                if map.clock_rate != crate::Codec::SAMPLE_RATE || !mono {
                    return None;
                }
                [crate::Codec::Pcmu, crate::Codec::Pcma]
                    .into_iter()
                    .find(|c| map.encoding.eq_ignore_ascii_case(c.encoding_name()))
            }
            None => crate::Codec::from_payload_type(pt),
        }
    }

    /// The payload type of `telephone-event/8000` (RFC 4733), if offered.
    pub fn telephone_event_pt(&self) -> Option<u8> {
        self.payload_types().find(|pt| {
            self.rtpmap(*pt)
                .is_some_and(|m| m.encoding.eq_ignore_ascii_case("telephone-event") && m.clock_rate == 8000)
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionDescription {
    pub origin: Option<Origin>,
    pub session_name: String,
    pub connection: Option<Connection>,
    /// Session-level direction attribute, the default for every m= line.
    pub direction: Option<Direction>,
    pub media: Vec<MediaDescription>,
}

impl SessionDescription {
    /// Parses SDP text with CRLF or LF line ends.
    pub fn parse(text: &str) -> Result<Self, SdpError> {
        let mut sdp = SessionDescription::default();
        let mut saw_version = false;
        for (index, raw) in text.split('\n').enumerate() {
            let line = index + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw).trim_end();
            let Some((kind, value)) = raw.split_once('=') else { continue };
            let value = value.trim();
            match kind.trim() {
                "v" => {
                    if value != "0" {
                        return Err(SdpError::Malformed { line, kind: SdpLineKind::Version });
                    }
                    saw_version = true;
                }
                "o" => sdp.origin = Some(parse_origin(value).ok_or(SdpError::Malformed { line, kind: SdpLineKind::Origin })?),
                "s" => sdp.session_name = value.to_owned(),
                "c" => {
                    let c = parse_connection(value).ok_or(SdpError::Malformed { line, kind: SdpLineKind::Connection })?;
                    match sdp.media.last_mut() {
                        Some(m) => m.connection = Some(c),
                        None => sdp.connection = Some(c),
                    }
                }
                "m" => sdp.media.push(parse_media(line, value).ok_or(SdpError::Malformed { line, kind: SdpLineKind::Media })?),
                "a" => sdp.apply_attribute(value),
                _ => {} // t=, b=, k=, i=, u=, e=, p=, z=, r= and anything else.
            }
        }
        if !saw_version {
            return Err(SdpError::MissingVersion);
        }
        Ok(sdp)
    }

    /// Parses a SIP body; invalid UTF-8 (a Latin-1 `s=` line) is replaced.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self, SdpError> {
        Self::parse(&String::from_utf8_lossy(bytes))
    }

    /// Attributes we do not know, or whose values do not parse, are ignored.
    fn apply_attribute(&mut self, value: &str) {
        let (name, arg) = match value.split_once(':') {
            Some((n, a)) => (n.trim(), a.trim()),
            None => (value.trim(), ""),
        };
        if let Some(direction) = Direction::from_attribute(name) {
            match self.media.last_mut() {
                Some(m) => m.direction = Some(direction),
                None => self.direction = Some(direction),
            }
            return;
        }
        let Some(m) = self.media.last_mut() else { return };
        match name {
            "rtpmap" => m.rtpmaps.extend(parse_rtpmap(arg)),
            "fmtp" => {
                if let Some((pt, params)) = arg.split_once(char::is_whitespace)
                    && let Ok(payload_type) = pt.parse()
                {
                    m.fmtps.push(Fmtp { payload_type, params: params.trim().to_owned() });
                }
            }
            "ptime" => m.ptime = parse_millis(arg).or(m.ptime),
            "maxptime" => m.maxptime = parse_millis(arg).or(m.maxptime),
            "rtcp" => m.rtcp_port = arg.split_whitespace().next().and_then(|p| p.parse().ok()),
            _ => {}
        }
    }

    /// The connection that applies to media line `m` (media level first).
    pub fn connection_for(&self, m: &MediaDescription) -> Option<Connection> {
        m.connection.or(self.connection)
    }

    /// The direction that applies to media line `m`; sendrecv by default.
    pub fn direction_for(&self, m: &MediaDescription) -> Direction {
        m.direction.or(self.direction).unwrap_or(Direction::SendRecv)
    }
}

fn parse_origin(value: &str) -> Option<Origin> {
    let f: Vec<&str> = value.split_whitespace().collect();
    let [username, session_id, session_version, _net, _addrtype, address] = f.as_slice() else {
        return None;
    };
    Some(Origin {
        username: (*username).to_owned(),
        session_id: (*session_id).to_owned(),
        session_version: (*session_version).to_owned(),
        address: (*address).to_owned(),
    })
}

/// `IN IP4 192.0.2.1[/ttl[/count]]` or `IN IP6 2001:db8::1`.
fn parse_connection(value: &str) -> Option<Connection> {
    let mut f = value.split_whitespace();
    let (net, addrtype, addr) = (f.next()?, f.next()?, f.next()?);
    if !net.eq_ignore_ascii_case("IN") {
        return None;
    }
    let addr = addr.split('/').next()?;
    let addr: IpAddr = match addrtype.to_ascii_uppercase().as_str() {
        "IP4" => IpAddr::V4(addr.parse().ok()?),
        "IP6" => IpAddr::V6(addr.parse().ok()?),
        _ => return None,
    };
    Some(Connection { addr })
}

/// `audio 49170[/2] RTP/AVP 0 8 101`.
fn parse_media(line: usize, value: &str) -> Option<MediaDescription> {
    let mut f = value.split_whitespace();
    let media = f.next()?.to_owned();
    let port = f.next()?.split('/').next()?.parse().ok()?;
    let proto = f.next()?.to_owned();
    let formats = f.map(str::to_owned).collect();
    Some(MediaDescription {
        line,
        media,
        port,
        proto,
        formats,
        connection: None,
        rtpmaps: Vec::new(),
        fmtps: Vec::new(),
        ptime: None,
        maxptime: None,
        direction: None,
        rtcp_port: None,
    })
}

/// `101 telephone-event/8000` or `0 PCMU/8000/1`.
fn parse_rtpmap(arg: &str) -> Option<RtpMap> {
    let (pt, rest) = arg.split_once(char::is_whitespace)?;
    let mut parts = rest.trim().split('/');
    let encoding = parts.next()?.to_owned();
    let clock_rate = parts.next()?.trim().parse().ok()?;
    let channels = match parts.next() {
        Some(c) => Some(c.trim().parse().ok()?),
        None => None,
    };
    Some(RtpMap { payload_type: pt.parse().ok()?, encoding, clock_rate, channels })
}

/// `20`, or `20.0` as some phones write it.
fn parse_millis(arg: &str) -> Option<u32> {
    arg.parse::<u32>().ok().or_else(|| {
        let f = arg.parse::<f64>().ok()?;
        (f.is_finite() && f > 0.0 && f < 10_000.0).then(|| f.round() as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lf_only_and_unknown_lines_are_accepted() {
        let sdp = SessionDescription::parse(
            "v=0\no=- 1 2 IN IP4 192.0.2.1\ns=x\nc=IN IP4 192.0.2.1/127\nt=0 0\nb=AS:64\nz=junk\nm=audio 4000 RTP/AVP 0\na=x-foo\n",
        )
        .expect("valid");
        assert_eq!(sdp.connection.map(|c| c.addr.to_string()), Some("192.0.2.1".into()));
        assert_eq!(sdp.media.len(), 1);
        assert_eq!(sdp.media[0].line, 8);
    }

    #[test]
    fn malformed_required_lines_name_their_line() {
        let e = SessionDescription::parse("v=0\r\no=- 1 2 IN IP4 h\r\nc=IN IP4 not-an-ip\r\n");
        assert_eq!(e, Err(SdpError::Malformed { line: 3, kind: SdpLineKind::Connection }));
        let e = SessionDescription::parse("v=0\nm=audio port RTP/AVP 0\n");
        assert_eq!(e, Err(SdpError::Malformed { line: 2, kind: SdpLineKind::Media }));
        assert_eq!(SessionDescription::parse("v=1\n"), Err(SdpError::Malformed { line: 1, kind: SdpLineKind::Version }));
        assert_eq!(SessionDescription::parse("m=audio 1 RTP/AVP 0\n"), Err(SdpError::MissingVersion));
    }

    #[test]
    fn attributes_land_on_their_media_line_and_bad_values_are_ignored() {
        let sdp = SessionDescription::parse(
            "v=0\r\na=sendonly\r\nm=audio 4000 RTP/AVP 96 97\r\na=rtpmap:96 PCMA/8000/1\r\na=rtpmap:97 telephone-event/8000\r\na=rtpmap:bad\r\na=fmtp:97 0-15\r\na=ptime:20.0\r\na=maxptime:x\r\na=rtcp:4001 IN IP4 192.0.2.1\r\nm=video 0 RTP/AVP 31\r\na=recvonly\r\n",
        )
        .expect("valid");
        let audio = &sdp.media[0];
        assert_eq!(audio.codec_for(96), Some(crate::Codec::Pcma));
        assert_eq!(audio.telephone_event_pt(), Some(97));
        assert_eq!(audio.fmtps, vec![Fmtp { payload_type: 97, params: "0-15".into() }]);
        assert_eq!((audio.ptime, audio.maxptime, audio.rtcp_port), (Some(20), None, Some(4001)));
        assert_eq!(sdp.direction_for(audio), Direction::SendOnly);
        assert_eq!(sdp.direction_for(&sdp.media[1]), Direction::RecvOnly);
    }

    #[test]
    fn static_payload_types_need_no_rtpmap_but_a_wrong_rtpmap_wins() {
        let sdp = SessionDescription::parse("v=0\nm=audio 1 RTP/AVP 0 8 18\na=rtpmap:8 PCMA/16000\n").expect("valid");
        let m = &sdp.media[0];
        assert_eq!(m.codec_for(0), Some(crate::Codec::Pcmu));
        assert_eq!(m.codec_for(8), None);
        assert_eq!(m.codec_for(18), None);
    }

    proptest! {
        #[test]
        fn any_text_parses_or_fails_without_panicking(text in "\\PC{0,300}") {
            let _ = SessionDescription::parse(&text);
        }

        #[test]
        fn sdp_shaped_lines_never_panic(lines in proptest::collection::vec(
            ("[vocmast]", "[ -~]{0,40}"), 0..20)) {
            let mut text = String::from("v=0\r\n");
            for (k, v) in lines {
                text.push_str(&format!("{k}={v}\r\n"));
            }
            let _ = SessionDescription::parse(&text);
        }

        #[test]
        fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = SessionDescription::parse_bytes(&bytes);
        }
    }
}
