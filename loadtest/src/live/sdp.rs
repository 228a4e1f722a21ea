//! The little SDP the generator speaks (RFC 4566, RFC 3264): an offer or an
//! answer with PCMU, PCMA and telephone-event, and the remote address,
//! audio law and event payload type read back from the peer's body.
//!
//! Owns only text building and lenient parsing; must never panic on a body
//! from the network (a body it cannot use reads as `None`).

use std::net::{IpAddr, SocketAddr};

use crate::generate::Law;

/// What the generator needs from the peer's SDP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RemoteMedia {
    pub addr: SocketAddr,
    pub law: Law,
    /// Payload type of telephone-event/8000, if offered or accepted.
    pub event_pt: Option<u8>,
}

/// An offer (or an answer choosing `law`) for audio at `rtp`.
pub fn body(rtp: SocketAddr, session_id: u64, laws: &[Law]) -> Vec<u8> {
    let ip = rtp.ip();
    let family = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let pts: Vec<String> = laws.iter().map(|l| l.payload_type().to_string()).chain(["101".to_owned()]).collect();
    let mut text = format!(
        "v=0\r\no=loadtest {session_id} {session_id} IN {family} {ip}\r\ns=loadtest\r\nc=IN {family} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {}\r\n",
        rtp.port(),
        pts.join(" ")
    );
    for law in laws {
        let name = if *law == Law::Pcmu { "PCMU" } else { "PCMA" };
        text.push_str(&format!("a=rtpmap:{} {name}/8000\r\n", law.payload_type()));
    }
    text.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n");
    text.into_bytes()
}

/// Reads the first audio stream: connection address (media or session
/// level), port, the first G.711 payload type listed and telephone-event.
pub fn parse(sdp: &[u8]) -> Option<RemoteMedia> {
    let text = std::str::from_utf8(sdp).ok()?;
    let mut ip: Option<IpAddr> = None;
    let mut port: Option<u16> = None;
    let mut formats: Vec<u8> = Vec::new();
    let mut event_pt = None;
    let mut in_audio = false;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("m=") {
            if port.is_some() {
                break;
            }
            let mut parts = rest.split_whitespace();
            in_audio = parts.next() == Some("audio");
            if in_audio {
                port = parts.next().and_then(|p| p.parse().ok());
                formats = parts.skip(1).filter_map(|f| f.parse().ok()).collect();
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            // Session level, or the audio stream's own (which wins).
            if port.is_none() || in_audio {
                ip = rest.split_whitespace().nth(2).and_then(|a| a.parse().ok()).or(ip);
            }
        } else if let Some(rest) = line.strip_prefix("a=rtpmap:")
            && in_audio
            && rest.to_ascii_lowercase().contains("telephone-event/8000")
        {
            event_pt = rest.split_whitespace().next().and_then(|p| p.parse().ok());
        }
    }
    let law = formats.iter().find_map(|pt| match pt {
        0 => Some(Law::Pcmu),
        8 => Some(Law::Pcma),
        _ => None,
    })?;
    Some(RemoteMedia { addr: SocketAddr::new(ip?, port.filter(|p| *p != 0)?), law, event_pt })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_offer_reads_back_as_itself() {
        let addr: SocketAddr = "127.0.0.1:40000".parse().expect("literal");
        let offer = body(addr, 7, &[Law::Pcmu, Law::Pcma]);
        assert_eq!(parse(&offer), Some(RemoteMedia { addr, law: Law::Pcmu, event_pt: Some(101) }));
    }

    #[test]
    fn an_answer_with_media_level_address_and_pcma_only() {
        let sdp = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 20002 RTP/AVP 8 96\r\nc=IN IP4 127.0.0.2\r\na=rtpmap:96 telephone-event/8000\r\n";
        let media = parse(sdp).expect("usable");
        assert_eq!(media.addr, "127.0.0.2:20002".parse().expect("literal"));
        assert_eq!((media.law, media.event_pt), (Law::Pcma, Some(96)));
    }

    #[test]
    fn garbage_or_a_rejected_stream_is_none() {
        assert_eq!(parse(b"\xff\xfe"), None);
        assert_eq!(parse(b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 0 RTP/AVP 0\r\n"), None);
        assert_eq!(parse(b"v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 18\r\n"), None);
    }
}
