//! RFC 3264 offer/answer for one audio stream, and the SDP text we send.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use super::{Direction, MediaDescription, SdpError, SessionDescription};
use crate::Codec;

/// What we offer or accept: our media address and preferences.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalMedia {
    pub addr: IpAddr,
    pub rtp_port: u16,
    /// In preference order (used for our offers; in answers the offerer's
    /// order decides among these).
    pub codecs: Vec<Codec>,
    /// Payload type for telephone-event in our offers (101 by habit).
    pub telephone_event_pt: u8,
    /// The ptime we ask for, in ms.
    pub ptime: u32,
}

/// The `o=` line's session id and version (RFC 4566 §5.2): the version
/// grows with every SDP we send for the session, offer or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpSessionVersion {
    session_id: u64,
    version: u64,
}

impl SdpSessionVersion {
    pub fn new(session_id: u64) -> Self {
        SdpSessionVersion { session_id, version: 0 }
    }

    /// A random id below 2^62, so it also fits an NTP-style reader.
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        Self::new(rng.u64(1..1 << 62))
    }

    pub fn session_id(&self) -> u64 {
        self.session_id
    }

    /// The version of the last SDP written (0 before the first).
    pub fn version(&self) -> u64 {
        self.version
    }

    fn next(&mut self) -> u64 {
        self.version += 1;
        self.version
    }
}

/// The outcome of offer/answer: everything the RTP session needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub codec: Codec,
    /// The payload type number to send audio with (the offerer's).
    pub payload_type: u8,
    pub telephone_event_pt: Option<u8>,
    pub remote_rtp: SocketAddr,
    /// From the peer's `a=rtcp:` (RFC 3605), else `None` (port + 1).
    pub remote_rtcp: Option<SocketAddr>,
    /// The packetisation time the peer asked to receive.
    pub remote_ptime: Option<u32>,
    /// Our direction, as written in (or implied by) our side of the SDP.
    pub direction: Direction,
    /// The peer put us on hold: it will not receive (sendonly, inactive)
    /// or gave the RFC 2543 hold address `c=0.0.0.0`.
    pub on_hold: bool,
}

impl Negotiated {
    /// Whether we should send RTP: our direction allows it and the peer
    /// gave a usable address.
    pub fn we_send(&self) -> bool {
        self.direction.sends() && !self.remote_rtp.ip().is_unspecified()
    }
}

/// The stream chosen from a description: index of its m= line and result.
fn choose_audio(sdp: &SessionDescription, local: &LocalMedia) -> Result<Option<(usize, Negotiated)>, SdpError> {
    for (index, m) in sdp.media.iter().enumerate() {
        if m.media != "audio" || m.port == 0 || !rtp_profile(&m.proto) {
            continue;
        }
        // The offerer's order decides (RFC 3264 §6.1 lets the answerer pick;
        // following the caller's preference avoids transcoding upstream).
        let Some((payload_type, codec)) = m
            .payload_types()
            .find_map(|pt| m.codec_for(pt).filter(|c| local.codecs.contains(c)).map(|c| (pt, c)))
        else {
            continue;
        };
        let connection = sdp.connection_for(m).ok_or(SdpError::MissingConnection { line: m.line })?;
        let peer_direction = sdp.direction_for(m);
        let negotiated = Negotiated {
            codec,
            payload_type,
            telephone_event_pt: m.telephone_event_pt(),
            remote_rtp: SocketAddr::new(connection.addr, m.port),
            remote_rtcp: m.rtcp_port.map(|p| SocketAddr::new(connection.addr, p)),
            remote_ptime: m.ptime,
            direction: peer_direction.reversed(),
            on_hold: !peer_direction.receives() || connection.is_hold(),
        };
        return Ok(Some((index, negotiated)));
    }
    Ok(None)
}

/// Plain RTP profiles only: SRTP (SAVP) needs keys we do not have; AVPF is
/// accepted and answered as offered (we simply send no feedback).
fn rtp_profile(proto: &str) -> bool {
    proto.eq_ignore_ascii_case("RTP/AVP") || proto.eq_ignore_ascii_case("RTP/AVPF")
}

/// Answers an offer (RFC 3264 §6): the first audio m= line with a common
/// codec is accepted with one codec (plus telephone-event if offered);
/// every other m= line is rejected with port 0, in the same order.
pub fn answer_offer(
    offer: &SessionDescription,
    local: &LocalMedia,
    session: &mut SdpSessionVersion,
) -> Result<(Negotiated, String), SdpError> {
    let (chosen, negotiated) = choose_audio(offer, local)?.ok_or(SdpError::NoCommonCodec)?;
    let mut text = session_header(local, session);
    for (index, m) in offer.media.iter().enumerate() {
        if index == chosen {
            let mut pts = vec![(negotiated.payload_type, negotiated.codec.encoding_name())];
            if let Some(te) = negotiated.telephone_event_pt {
                pts.push((te, "telephone-event"));
            }
            write_audio(&mut text, local.rtp_port, &m.proto, &pts, local.ptime, negotiated.direction);
        } else {
            write_rejected(&mut text, m);
        }
    }
    Ok((negotiated, text))
}

/// Our offer (INVITE without SDP: offer in the 200): every local codec in
/// preference order, static payload types, telephone-event 0-16, sendrecv.
pub fn make_offer(local: &LocalMedia, session: &mut SdpSessionVersion) -> String {
    let mut text = session_header(local, session);
    let mut pts: Vec<(u8, &str)> = local.codecs.iter().map(|c| (c.payload_type(), c.encoding_name())).collect();
    pts.push((local.telephone_event_pt, "telephone-event"));
    write_audio(&mut text, local.rtp_port, "RTP/AVP", &pts, local.ptime, Direction::SendRecv);
    text
}

/// Reads the answer to our offer (in the ACK, or from a called agent).
pub fn accept_answer(answer: &SessionDescription, local: &LocalMedia) -> Result<Negotiated, SdpError> {
    choose_audio(answer, local)?.map(|(_, n)| n).ok_or(SdpError::NoCommonCodec)
}

fn session_header(local: &LocalMedia, session: &mut SdpSessionVersion) -> String {
    let version = session.next();
    let addr = addr_fields(local.addr);
    let mut text = String::with_capacity(400);
    // Writing to a String cannot fail.
    let _ = write!(
        text,
        "v=0\r\no=- {id} {version} {addr}\r\ns=-\r\nc={addr}\r\nt=0 0\r\n",
        id = session.session_id
    );
    text
}

fn addr_fields(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(a) => format!("IN IP4 {a}"),
        IpAddr::V6(a) => format!("IN IP6 {a}"),
    }
}

fn write_audio(text: &mut String, port: u16, proto: &str, pts: &[(u8, &str)], ptime: u32, direction: Direction) {
    let _ = write!(text, "m=audio {port} {proto}");
    for (pt, _) in pts {
        let _ = write!(text, " {pt}");
    }
    text.push_str("\r\n");
    for (pt, name) in pts {
        let _ = write!(text, "a=rtpmap:{pt} {name}/8000\r\n");
        if *name == "telephone-event" {
            // RFC 4733 §7.1.1: events 0-15 are the DTMF digits, 16 flash.
            let _ = write!(text, "a=fmtp:{pt} 0-16\r\n");
        }
    }
    let _ = write!(text, "a=ptime:{ptime}\r\na={}\r\n", direction.as_str());
}

/// RFC 3264 §6: a rejected stream keeps its m= line with port 0.
fn write_rejected(text: &mut String, m: &MediaDescription) {
    let formats = if m.formats.is_empty() { "0".to_owned() } else { m.formats.join(" ") };
    let _ = write!(text, "m={} 0 {} {}\r\n", m.media, m.proto, formats);
}
