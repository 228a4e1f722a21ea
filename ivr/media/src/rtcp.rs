//! RTCP compound packets (RFC 3550 §6): what we send (SR or RR with one
//! report block, SDES CNAME, BYE) and what we read from the peer (its SR
//! timestamp for LSR, and the report block it wrote about us).
//!
//! Owns the wire format only. Statistics are computed by
//! [`crate::session`], which hands finished numbers to [`Report::write`].
//!
//! Must never: allocate, panic on any input bytes, or read the clock (NTP
//! time is an input; see [`ntp_from_system_time`]).

use std::time::{Duration, SystemTime, UNIX_EPOCH};
use thiserror::Error;

pub const PT_SR: u8 = 200;
pub const PT_RR: u8 = 201;
pub const PT_SDES: u8 = 202;
pub const PT_BYE: u8 = 203;
const SDES_CNAME: u8 = 1;
const REPORT_BLOCK_LEN: usize = 24;
const SENDER_INFO_LEN: usize = 20;

/// Why a datagram is not a valid compound RTCP packet. `offset` is where the
/// offending packet starts in the datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RtcpError {
    #[error("datagram of {len} bytes is shorter than an RTCP header")]
    TooShort { len: usize },
    #[error("RTCP packet at offset {offset} has version {version}, expected 2")]
    BadVersion { offset: usize, version: u8 },
    #[error("RTCP packet at offset {offset} claims more bytes than the datagram holds")]
    LengthOverrun { offset: usize },
    #[error("RTCP packet at offset {offset} is too short for its {count} report blocks")]
    ReportBlocksOverrun { offset: usize, count: u8 },
    #[error("RTCP packet at offset {offset} has invalid padding")]
    BadPadding { offset: usize },
    #[error("buffer of {available} bytes cannot hold a {needed}-byte RTCP packet")]
    BufferTooSmall { needed: usize, available: usize },
    #[error("CNAME of {len} bytes is longer than 255")]
    CnameTooLong { len: usize },
}

/// RFC 3550 §6.4.1 sender information.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderInfo {
    /// 64-bit NTP timestamp: seconds since 1900 in the high half.
    pub ntp: u64,
    pub rtp_timestamp: u32,
    pub packet_count: u32,
    pub octet_count: u32,
}

/// RFC 3550 §6.4.1 report block: what the writer received from `ssrc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReportBlock {
    pub ssrc: u32,
    /// Fraction lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative lost, a 24-bit signed value (negative with duplicates).
    pub cumulative_lost: i32,
    pub extended_highest_seq: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP time of the last SR received from `ssrc`.
    pub last_sr: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sr: u32,
}

/// One compound packet we send: SR (with `sender_info`) or RR, at most one
/// report block, SDES CNAME, and BYE when `bye` is set (RFC 3550 §6.1: every
/// compound starts with SR or RR and carries a CNAME).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report<'c> {
    pub ssrc: u32,
    pub sender_info: Option<SenderInfo>,
    pub block: Option<ReportBlock>,
    pub cname: &'c str,
    pub bye: bool,
}

impl Report<'_> {
    /// Length of the compound packet [`Report::write`] produces.
    pub fn len(&self) -> usize {
        let report = 8
            + self.sender_info.map_or(0, |_| SENDER_INFO_LEN)
            + self.block.map_or(0, |_| REPORT_BLOCK_LEN);
        report + sdes_len(self.cname.len()) + if self.bye { 8 } else { 0 }
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the compound packet into `buf` and returns its length.
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, RtcpError> {
        if self.cname.len() > 255 {
            return Err(RtcpError::CnameTooLong { len: self.cname.len() });
        }
        let needed = self.len();
        if buf.len() < needed {
            return Err(RtcpError::BufferTooSmall { needed, available: buf.len() });
        }
        let buf = &mut buf[..needed];
        buf.fill(0);
        let mut w = Writer { buf, pos: 0 };

        let count = u8::from(self.block.is_some());
        let (pt, len) = match self.sender_info {
            Some(_) => (PT_SR, 8 + SENDER_INFO_LEN),
            None => (PT_RR, 8),
        };
        w.header(count, pt, len + usize::from(count) * REPORT_BLOCK_LEN);
        w.u32(self.ssrc);
        if let Some(info) = self.sender_info {
            w.u32((info.ntp >> 32) as u32);
            w.u32(info.ntp as u32);
            w.u32(info.rtp_timestamp);
            w.u32(info.packet_count);
            w.u32(info.octet_count);
        }
        if let Some(b) = self.block {
            w.u32(b.ssrc);
            // RFC 3550 §6.4.1: cumulative lost is 24-bit signed, clamped.
            let lost = b.cumulative_lost.clamp(-0x80_0000, 0x7F_FFFF) as u32 & 0x00FF_FFFF;
            w.u32(u32::from(b.fraction_lost) << 24 | lost);
            w.u32(b.extended_highest_seq);
            w.u32(b.jitter);
            w.u32(b.last_sr);
            w.u32(b.delay_since_last_sr);
        }

        let sdes = sdes_len(self.cname.len());
        w.header(1, PT_SDES, sdes);
        w.u32(self.ssrc);
        w.buf[w.pos] = SDES_CNAME;
        w.buf[w.pos + 1] = self.cname.len() as u8;
        w.pos += 2;
        w.buf[w.pos..w.pos + self.cname.len()].copy_from_slice(self.cname.as_bytes());
        // The END item and padding to a word boundary are the zeros from fill.
        w.pos = needed - if self.bye { 8 } else { 0 };

        if self.bye {
            w.header(1, PT_BYE, 8);
            w.u32(self.ssrc);
        }
        Ok(needed)
    }
}

/// SDES packet with one chunk holding one CNAME item, null-terminated and
/// padded to 32 bits (RFC 3550 §6.5).
fn sdes_len(cname_len: usize) -> usize {
    let chunk = 4 + 2 + cname_len + 1;
    4 + chunk.div_ceil(4) * 4
}

struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Writer<'_> {
    fn header(&mut self, count: u8, pt: u8, total_len: usize) {
        self.buf[self.pos] = 0x80 | (count & 0x1F);
        self.buf[self.pos + 1] = pt;
        let words = (total_len / 4 - 1) as u16;
        self.buf[self.pos + 2..self.pos + 4].copy_from_slice(&words.to_be_bytes());
        self.pos += 4;
    }

    fn u32(&mut self, v: u32) {
        self.buf[self.pos..self.pos + 4].copy_from_slice(&v.to_be_bytes());
        self.pos += 4;
    }
}

/// What a compound packet from the peer told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RtcpSummary {
    /// SSRC of the first SR or RR.
    pub sender_ssrc: Option<u32>,
    /// The sender info of an SR, for LSR/DLSR.
    pub sender_info: Option<SenderInfo>,
    /// The report block whose SSRC is ours: the peer's view of our stream.
    pub report_about_us: Option<ReportBlock>,
    pub bye: bool,
    /// Number of RTCP packets in the compound, unknown types included.
    pub packets: usize,
}

/// Parses a compound RTCP datagram, validating each packet's version and
/// length (RFC 3550 A.2) and skipping SDES, APP and unknown types.
///
/// Tolerant where A.2 is strict: the first packet need not be SR/RR
/// (RFC 5506 reduced-size RTCP exists in the wild), but padding is only
/// accepted on the last packet and lengths must add up exactly.
pub fn parse_compound(bytes: &[u8], our_ssrc: u32) -> Result<RtcpSummary, RtcpError> {
    if bytes.len() < 4 {
        return Err(RtcpError::TooShort { len: bytes.len() });
    }
    let mut summary = RtcpSummary::default();
    let mut offset = 0;
    while offset < bytes.len() {
        let head = bytes
            .get(offset..offset + 4)
            .ok_or(RtcpError::LengthOverrun { offset })?;
        let version = head[0] >> 6;
        if version != 2 {
            return Err(RtcpError::BadVersion { offset, version });
        }
        let padded = head[0] & 0x20 != 0;
        let count = head[0] & 0x1F;
        let pt = head[1];
        let len = (usize::from(u16::from_be_bytes([head[2], head[3]])) + 1) * 4;
        let packet = bytes
            .get(offset..offset + len)
            .ok_or(RtcpError::LengthOverrun { offset })?;
        let mut body_end = len;
        if padded {
            let padding = usize::from(packet[len - 1]);
            let is_last = offset + len == bytes.len();
            if !is_last || padding == 0 || padding > len - 4 {
                return Err(RtcpError::BadPadding { offset });
            }
            body_end = len - padding;
        }
        let body = &packet[..body_end];
        match pt {
            PT_SR | PT_RR => {
                let fixed = if pt == PT_SR { 8 + SENDER_INFO_LEN } else { 8 };
                if body.len() < fixed + usize::from(count) * REPORT_BLOCK_LEN {
                    return Err(RtcpError::ReportBlocksOverrun { offset, count });
                }
                let ssrc = be32(&body[4..8]);
                summary.sender_ssrc.get_or_insert(ssrc);
                if pt == PT_SR {
                    summary.sender_info = Some(SenderInfo {
                        ntp: u64::from(be32(&body[8..12])) << 32 | u64::from(be32(&body[12..16])),
                        rtp_timestamp: be32(&body[16..20]),
                        packet_count: be32(&body[20..24]),
                        octet_count: be32(&body[24..28]),
                    });
                }
                for block in body[fixed..]
                    .chunks_exact(REPORT_BLOCK_LEN)
                    .take(usize::from(count))
                {
                    let b = parse_block(block);
                    if b.ssrc == our_ssrc {
                        summary.report_about_us = Some(b);
                    }
                }
            }
            PT_BYE => summary.bye = true,
            _ => {} // SDES, APP, XR, feedback: nothing we act on.
        }
        summary.packets += 1;
        offset += len;
    }
    Ok(summary)
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn parse_block(b: &[u8]) -> ReportBlock {
    let word = be32(&b[4..8]);
    // Sign-extend the 24-bit cumulative loss.
    let cumulative_lost = ((word << 8) as i32) >> 8;
    ReportBlock {
        ssrc: be32(&b[0..4]),
        fraction_lost: (word >> 24) as u8,
        cumulative_lost,
        extended_highest_seq: be32(&b[8..12]),
        jitter: be32(&b[12..16]),
        last_sr: be32(&b[16..20]),
        delay_since_last_sr: be32(&b[20..24]),
    }
}

/// Seconds between the NTP era (1900) and the Unix epoch.
const NTP_UNIX_OFFSET: u64 = 2_208_988_800;

/// The 64-bit NTP timestamp of a wallclock time (RFC 3550 §4). Times before
/// 1970 map to the Unix epoch: they do not occur in practice.
pub fn ntp_from_system_time(t: SystemTime) -> u64 {
    let since_unix = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since_unix.as_secs() + NTP_UNIX_OFFSET;
    let frac = (u64::from(since_unix.subsec_nanos()) << 32) / 1_000_000_000;
    (secs << 32) | frac
}

/// The middle 32 bits of an NTP timestamp, as carried in LSR (§6.4.1).
pub fn ntp_middle(ntp: u64) -> u32 {
    (ntp >> 16) as u32
}

/// A duration in units of 1/65536 s, as carried in DLSR (§6.4.1).
pub fn dlsr_units(d: Duration) -> u32 {
    let units = d.as_nanos() * 65_536 / 1_000_000_000;
    u32::try_from(units).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn block() -> ReportBlock {
        ReportBlock {
            ssrc: 0x1111_2222,
            fraction_lost: 64,
            cumulative_lost: -3,
            extended_highest_seq: 0x0001_0005,
            jitter: 42,
            last_sr: 0xAABB_CCDD,
            delay_since_last_sr: 65_536,
        }
    }

    #[test]
    fn sender_report_with_block_and_cname_round_trips() {
        let info = SenderInfo { ntp: 0x1234_5678_9ABC_DEF0, rtp_timestamp: 160, packet_count: 10, octet_count: 1600 };
        let report = Report { ssrc: 7, sender_info: Some(info), block: Some(block()), cname: "ivr@example", bye: false };
        let mut buf = [0u8; 200];
        let n = report.write(&mut buf).expect("fits");
        assert_eq!(n % 4, 0);
        assert_eq!(n, 52 + 4 + 20); // SR+block, SDES(4+4+2+11+1 -> 20)
        let s = parse_compound(&buf[..n], 0x1111_2222).expect("valid");
        assert_eq!(s.sender_ssrc, Some(7));
        assert_eq!(s.sender_info, Some(info));
        assert_eq!(s.report_about_us, Some(block()));
        assert_eq!(s.packets, 2);
        assert!(!s.bye);
    }

    #[test]
    fn receiver_report_with_bye_and_no_block() {
        let report = Report { ssrc: 9, sender_info: None, block: None, cname: "abcd", bye: true };
        let mut buf = [0u8; 64];
        let n = report.write(&mut buf).expect("fits");
        assert_eq!(buf[1], PT_RR);
        let s = parse_compound(&buf[..n], 1).expect("valid");
        assert!(s.bye);
        assert_eq!(s.report_about_us, None);
        assert_eq!(s.packets, 3);
    }

    #[test]
    fn blocks_about_other_sources_are_ignored() {
        let report = Report { ssrc: 9, sender_info: None, block: Some(block()), cname: "x", bye: false };
        let mut buf = [0u8; 64];
        let n = report.write(&mut buf).expect("fits");
        assert_eq!(parse_compound(&buf[..n], 5).expect("valid").report_about_us, None);
    }

    #[test]
    fn cumulative_loss_is_clamped_to_24_bits() {
        let mut b = block();
        b.cumulative_lost = 10_000_000;
        let report = Report { ssrc: 9, sender_info: None, block: Some(b), cname: "x", bye: false };
        let mut buf = [0u8; 64];
        let n = report.write(&mut buf).expect("fits");
        let got = parse_compound(&buf[..n], b.ssrc).expect("valid").report_about_us.expect("block");
        assert_eq!(got.cumulative_lost, 0x7F_FFFF);
    }

    #[test]
    fn length_overrun_and_bad_version_are_errors() {
        let report = Report { ssrc: 9, sender_info: None, block: Some(block()), cname: "x", bye: false };
        let mut buf = [0u8; 64];
        let n = report.write(&mut buf).expect("fits");
        assert_eq!(parse_compound(&buf[..n - 4], 0), Err(RtcpError::LengthOverrun { offset: 32 }));
        buf[0] = 0x40 | 1;
        assert_eq!(parse_compound(&buf[..n], 0), Err(RtcpError::BadVersion { offset: 0, version: 1 }));
        // RC=2 but room for one block.
        let mut rr = [0u8; 64];
        let n = Report { ssrc: 1, sender_info: None, block: Some(block()), cname: "x", bye: false }
            .write(&mut rr)
            .expect("fits");
        let mut bad = rr[..n].to_vec();
        bad[0] = 0x82;
        assert_eq!(parse_compound(&bad, 0), Err(RtcpError::ReportBlocksOverrun { offset: 0, count: 2 }));
    }

    #[test]
    fn ntp_of_the_unix_epoch_is_the_1970_offset() {
        let ntp = ntp_from_system_time(UNIX_EPOCH + Duration::from_millis(1500));
        assert_eq!(ntp >> 32, NTP_UNIX_OFFSET + 1);
        assert_eq!(ntp as u32, 1 << 31);
        assert_eq!(ntp_middle(ntp), ((NTP_UNIX_OFFSET + 1) as u32) << 16 | 0x8000);
        assert_eq!(dlsr_units(Duration::from_millis(500)), 32_768);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..200), ssrc: u32) {
            let _ = parse_compound(&bytes, ssrc);
        }

        #[test]
        fn version_2_compounds_with_random_tails_never_panic(
            head in proptest::collection::vec((0x80u8..0xC0, 195u8..210, 0u8..8), 1..4),
            tail in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let mut bytes = Vec::new();
            for (first, pt, words) in head {
                bytes.extend_from_slice(&[first, pt, 0, words]);
            }
            bytes.extend_from_slice(&tail);
            let _ = parse_compound(&bytes, 0);
        }

        #[test]
        fn written_reports_round_trip(
            ssrc: u32, block_ssrc: u32, fraction: u8, lost in -0x80_0000i32..0x80_0000,
            ext: u32, jitter: u32, lsr: u32, dlsr: u32, sr: Option<(u64, u32, u32, u32)>,
            cname in "[a-z0-9@.]{0,40}", bye: bool,
        ) {
            let b = ReportBlock { ssrc: block_ssrc, fraction_lost: fraction, cumulative_lost: lost,
                extended_highest_seq: ext, jitter, last_sr: lsr, delay_since_last_sr: dlsr };
            let info = sr.map(|(ntp, rtp_timestamp, packet_count, octet_count)| SenderInfo { ntp, rtp_timestamp, packet_count, octet_count });
            let report = Report { ssrc, sender_info: info, block: Some(b), cname: &cname, bye };
            let mut buf = [0u8; 400];
            let n = report.write(&mut buf).expect("fits");
            prop_assert_eq!(n, report.len());
            let s = parse_compound(&buf[..n], block_ssrc).expect("own packets parse");
            prop_assert_eq!(s.sender_ssrc, Some(ssrc));
            prop_assert_eq!(s.sender_info, info);
            prop_assert_eq!(s.report_about_us, Some(b));
            prop_assert_eq!(s.bye, bye);
        }
    }
}
