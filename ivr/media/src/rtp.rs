//! RTP packets (RFC 3550 §5): a zero-copy parser and a header writer.
//!
//! Owns the wire format of one RTP packet and nothing else: no sequence
//! tracking (that is [`crate::session`]), no payload decoding (that is
//! [`crate::g711`] and [`crate::dtmf`]).
//!
//! Must never: allocate, panic on any input bytes, or read the clock. Every
//! malformed packet is an [`RtpError`].

use thiserror::Error;

/// RFC 3550 §5.1: the only version in use.
pub const RTP_VERSION: u8 = 2;
/// Fixed header length without CSRCs or extension.
pub const RTP_HEADER_LEN: usize = 12;

/// Why a datagram is not a valid RTP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtpError {
    #[error("datagram of {len} bytes is shorter than the 12-byte RTP header")]
    TooShort { len: usize },
    #[error("RTP version {version}, expected 2")]
    BadVersion { version: u8 },
    #[error("{count} CSRCs do not fit in a {len}-byte datagram")]
    CsrcOverrun { count: u8, len: usize },
    #[error("header extension does not fit in a {len}-byte datagram")]
    ExtensionOverrun { len: usize },
    #[error("padding count {padding} is invalid with {available} bytes after the header")]
    BadPadding { padding: u8, available: usize },
    #[error("buffer of {available} bytes cannot hold a {needed}-byte packet")]
    BufferTooSmall { needed: usize, available: usize },
}

/// A header extension (RFC 3550 §5.3.1), kept as bytes: we use none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpExtension<'a> {
    /// The "defined by profile" 16 bits (0xBEDE for RFC 8285 one-byte headers).
    pub profile: u16,
    pub data: &'a [u8],
}

/// A parsed RTP packet borrowing the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    /// Raw CSRC list, 4 bytes per entry; see [`RtpPacket::csrcs`].
    pub csrc_bytes: &'a [u8],
    pub extension: Option<RtpExtension<'a>>,
    /// Padding bytes stripped from the end (0 when the P bit is clear).
    pub padding_len: u8,
    /// The payload with padding removed.
    pub payload: &'a [u8],
}

impl<'a> RtpPacket<'a> {
    /// Parses and validates one RTP packet (RFC 3550 §5.1, §5.3.1, A.1 checks
    /// that do not need per-source state).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RtpError> {
        let len = bytes.len();
        if len < RTP_HEADER_LEN {
            return Err(RtpError::TooShort { len });
        }
        let version = bytes[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion { version });
        }
        let has_padding = bytes[0] & 0x20 != 0;
        let has_extension = bytes[0] & 0x10 != 0;
        let csrc_count = bytes[0] & 0x0F;
        let marker = bytes[1] & 0x80 != 0;
        let payload_type = bytes[1] & 0x7F;
        let sequence = u16::from_be_bytes([bytes[2], bytes[3]]);
        let timestamp = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let ssrc = u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);

        let csrc_end = RTP_HEADER_LEN + 4 * usize::from(csrc_count);
        let csrc_bytes = bytes
            .get(RTP_HEADER_LEN..csrc_end)
            .ok_or(RtpError::CsrcOverrun { count: csrc_count, len })?;

        let mut offset = csrc_end;
        let extension = if has_extension {
            let head = bytes
                .get(offset..offset + 4)
                .ok_or(RtpError::ExtensionOverrun { len })?;
            let profile = u16::from_be_bytes([head[0], head[1]]);
            let words = usize::from(u16::from_be_bytes([head[2], head[3]]));
            let start = offset + 4;
            let end = start + 4 * words;
            let data = bytes.get(start..end).ok_or(RtpError::ExtensionOverrun { len })?;
            offset = end;
            Some(RtpExtension { profile, data })
        } else {
            None
        };

        let mut end = len;
        let mut padding_len = 0;
        if has_padding {
            // RFC 3550 §5.1: the last octet counts the padding, itself included,
            // so zero is invalid and it may not reach into the header.
            let padding = bytes[len - 1];
            let available = len - offset;
            if padding == 0 || usize::from(padding) > available {
                return Err(RtpError::BadPadding { padding, available });
            }
            padding_len = padding;
            end = len - usize::from(padding);
        }

        Ok(RtpPacket {
            marker,
            payload_type,
            sequence,
            timestamp,
            ssrc,
            csrc_bytes,
            extension,
            padding_len,
            payload: &bytes[offset..end],
        })
    }

    pub fn csrc_count(&self) -> usize {
        self.csrc_bytes.len() / 4
    }

    /// The contributing sources, in order.
    pub fn csrcs(&self) -> impl Iterator<Item = u32> + 'a {
        self.csrc_bytes
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// The fields of a header we send: no padding, no extension, no CSRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpHeader {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
}

impl RtpHeader {
    /// Writes header and payload into `buf`, returning the packet length.
    pub fn write_packet(&self, payload: &[u8], buf: &mut [u8]) -> Result<usize, RtpError> {
        let needed = RTP_HEADER_LEN + payload.len();
        if buf.len() < needed {
            return Err(RtpError::BufferTooSmall { needed, available: buf.len() });
        }
        write_rtp_header(
            buf,
            self.marker,
            self.payload_type,
            self.sequence,
            self.timestamp,
            self.ssrc,
        );
        buf[RTP_HEADER_LEN..needed].copy_from_slice(payload);
        Ok(needed)
    }
}

/// Writes a 12-byte RTP header (V=2, no padding, no extension, no CSRC) at
/// the start of `buf` and returns 12. `payload_type` is masked to 7 bits.
///
/// # Panics
/// If `buf` is shorter than 12 bytes: buffers are ours, so that is a bug.
pub fn write_rtp_header(buf: &mut [u8], marker: bool, pt: u8, seq: u16, ts: u32, ssrc: u32) -> usize {
    let header = &mut buf[..RTP_HEADER_LEN];
    header[0] = RTP_VERSION << 6;
    header[1] = (u8::from(marker) << 7) | (pt & 0x7F);
    header[2..4].copy_from_slice(&seq.to_be_bytes());
    header[4..8].copy_from_slice(&ts.to_be_bytes());
    header[8..12].copy_from_slice(&ssrc.to_be_bytes());
    RTP_HEADER_LEN
}

/// What a datagram on a port carrying both RTP and RTCP is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Demuxed {
    Rtp,
    Rtcp,
    /// Not version 2 or too short (STUN, DTLS, garbage).
    Other,
}

/// RFC 5761 §4: on a muxed port, a second octet of 192..=223 (RTCP packet
/// types 192..223, i.e. RTP payload types 64..95 with the marker bit) is
/// RTCP. We use separate ports, but the shell may still want to tell a
/// stray RTCP packet on the RTP port from media.
pub fn demux(bytes: &[u8]) -> Demuxed {
    match bytes {
        [first, second, ..] if bytes.len() >= 8 && first >> 6 == RTP_VERSION => {
            if (192..=223).contains(second) {
                Demuxed::Rtcp
            } else {
                Demuxed::Rtp
            }
        }
        _ => Demuxed::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header_bytes(first: u8) -> Vec<u8> {
        vec![first, 0x80 | 8, 0x12, 0x34, 0, 0, 0x01, 0x40, 0xDE, 0xAD, 0xBE, 0xEF]
    }

    #[test]
    fn a_plain_packet_exposes_every_header_field() {
        let mut bytes = header_bytes(0x80);
        bytes.extend_from_slice(&[1, 2, 3]);
        let p = RtpPacket::parse(&bytes).expect("valid");
        assert!(p.marker);
        assert_eq!(p.payload_type, 8);
        assert_eq!(p.sequence, 0x1234);
        assert_eq!(p.timestamp, 320);
        assert_eq!(p.ssrc, 0xDEAD_BEEF);
        assert_eq!(p.payload, &[1, 2, 3]);
        assert_eq!(p.csrc_count(), 0);
        assert_eq!(p.extension, None);
    }

    #[test]
    fn padding_is_stripped_and_its_count_validated() {
        let mut bytes = header_bytes(0xA0);
        bytes.extend_from_slice(&[9, 9, 0, 0, 3]);
        let p = RtpPacket::parse(&bytes).expect("valid");
        assert_eq!(p.payload, &[9, 9]);
        assert_eq!(p.padding_len, 3);

        let mut zero = header_bytes(0xA0);
        zero.extend_from_slice(&[9, 0]);
        assert!(matches!(RtpPacket::parse(&zero), Err(RtpError::BadPadding { padding: 0, .. })));

        let mut too_long = header_bytes(0xA0);
        too_long.extend_from_slice(&[9, 200]);
        assert!(matches!(RtpPacket::parse(&too_long), Err(RtpError::BadPadding { .. })));
    }

    #[test]
    fn padding_may_consume_the_whole_payload() {
        let mut bytes = header_bytes(0xA0);
        bytes.extend_from_slice(&[0, 0, 0, 4]);
        assert_eq!(RtpPacket::parse(&bytes).expect("valid").payload, &[] as &[u8]);
    }

    #[test]
    fn csrcs_and_extension_are_skipped_before_the_payload() {
        let mut bytes = header_bytes(0x92); // X=1, CC=2
        bytes.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 2]);
        bytes.extend_from_slice(&[0xBE, 0xDE, 0, 1, 0x10, 0xAA, 0, 0]);
        bytes.extend_from_slice(&[7, 7]);
        let p = RtpPacket::parse(&bytes).expect("valid");
        assert_eq!(p.csrcs().collect::<Vec<_>>(), vec![1, 2]);
        let ext = p.extension.expect("extension");
        assert_eq!(ext.profile, 0xBEDE);
        assert_eq!(ext.data, &[0x10, 0xAA, 0, 0]);
        assert_eq!(p.payload, &[7, 7]);
    }

    #[test]
    fn truncated_csrc_or_extension_is_an_error() {
        let bytes = header_bytes(0x83);
        assert!(matches!(RtpPacket::parse(&bytes), Err(RtpError::CsrcOverrun { count: 3, .. })));
        let mut ext = header_bytes(0x90);
        ext.extend_from_slice(&[0xBE, 0xDE, 0, 2, 0, 0, 0, 0]);
        assert!(matches!(RtpPacket::parse(&ext), Err(RtpError::ExtensionOverrun { .. })));
        let short_ext = header_bytes(0x90);
        assert!(matches!(RtpPacket::parse(&short_ext), Err(RtpError::ExtensionOverrun { .. })));
    }

    #[test]
    fn wrong_version_and_short_datagrams_are_rejected() {
        assert_eq!(RtpPacket::parse(&[0x80; 11]), Err(RtpError::TooShort { len: 11 }));
        assert_eq!(RtpPacket::parse(&header_bytes(0x40)), Err(RtpError::BadVersion { version: 1 }));
    }

    #[test]
    fn writer_refuses_a_small_buffer() {
        let header = RtpHeader { marker: false, payload_type: 0, sequence: 1, timestamp: 2, ssrc: 3 };
        let mut buf = [0u8; 20];
        assert_eq!(
            header.write_packet(&[0; 160], &mut buf),
            Err(RtpError::BufferTooSmall { needed: 172, available: 20 })
        );
    }

    #[test]
    fn demux_tells_rtcp_from_rtp_by_rfc_5761_ranges() {
        let mut rr = [0u8; 8];
        rr[0] = 0x80;
        rr[1] = 201;
        assert_eq!(demux(&rr), Demuxed::Rtcp);
        let mut rtp = [0u8; 12];
        write_rtp_header(&mut rtp, true, 0, 1, 2, 3);
        assert_eq!(demux(&rtp), Demuxed::Rtp);
        assert_eq!(demux(&[0x00, 0x01, 0, 0, 0, 0, 0, 0]), Demuxed::Other); // STUN
        assert_eq!(demux(&[0x80]), Demuxed::Other);
    }

    proptest! {
        #[test]
        fn write_then_parse_round_trips(
            marker: bool, pt in 0u8..128, seq: u16, ts: u32, ssrc: u32,
            payload in proptest::collection::vec(any::<u8>(), 0..400),
        ) {
            let header = RtpHeader { marker, payload_type: pt, sequence: seq, timestamp: ts, ssrc };
            let mut buf = [0u8; 512];
            let n = header.write_packet(&payload, &mut buf).expect("fits");
            let p = RtpPacket::parse(&buf[..n]).expect("own packets parse");
            prop_assert_eq!((p.marker, p.payload_type, p.sequence, p.timestamp, p.ssrc), (marker, pt, seq, ts, ssrc));
            prop_assert_eq!(p.payload, &payload[..]);
        }

        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(p) = RtpPacket::parse(&bytes) {
                prop_assert!(p.payload.len() + RTP_HEADER_LEN <= bytes.len());
            }
            let _ = demux(&bytes);
        }

        #[test]
        fn version_2_headers_with_random_flags_never_panic(
            first in 0x80u8..0xC0, rest in proptest::collection::vec(any::<u8>(), 11..120),
        ) {
            let mut bytes = vec![first];
            bytes.extend_from_slice(&rest);
            let _ = RtpPacket::parse(&bytes);
        }
    }
}
