//! RTP streams found in a capture, and what a listener can say about them:
//! loss, duplicates, RFC 3550 interarrival jitter, and how far each packet
//! left the ideal send grid that its RTP timestamp promises.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddrV4;
use std::time::Duration;

use serde::Serialize;

use crate::pcap::UdpDatagram;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtpPacket {
    pub marker: bool,
    pub payload_type: u8,
    pub seq: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: Vec<u8>,
}

impl RtpPacket {
    /// Parses an RTP packet (RFC 3550 5.1); RTCP (packet types 200..=207 in
    /// the second byte) and anything not version 2 is refused.
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        if bytes.len() < 12 || bytes[0] >> 6 != 2 || (200..=207).contains(&bytes[1]) {
            return None;
        }
        let csrc_count = usize::from(bytes[0] & 0x0f);
        let mut off = 12 + 4 * csrc_count;
        if bytes[0] & 0x10 != 0 {
            let words = usize::from(u16::from_be_bytes([*bytes.get(off + 2)?, *bytes.get(off + 3)?]));
            off += 4 + 4 * words;
        }
        let mut end = bytes.len();
        if bytes[0] & 0x20 != 0 {
            end = end.checked_sub(usize::from(*bytes.last()?))?;
        }
        Some(Self {
            marker: bytes[1] & 0x80 != 0,
            payload_type: bytes[1] & 0x7f,
            seq: u16::from_be_bytes([bytes[2], bytes[3]]),
            timestamp: u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]),
            ssrc: u32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]),
            payload: bytes.get(off..end)?.to_vec(),
        })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(12 + self.payload.len());
        b.push(0x80);
        b.push(self.payload_type | if self.marker { 0x80 } else { 0 });
        b.extend_from_slice(&self.seq.to_be_bytes());
        b.extend_from_slice(&self.timestamp.to_be_bytes());
        b.extend_from_slice(&self.ssrc.to_be_bytes());
        b.extend_from_slice(&self.payload);
        b
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct StreamKey {
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
    pub ssrc: u32,
}

/// The packets of one (source, destination, SSRC) in capture order.
#[derive(Debug, Clone)]
pub struct RtpStream {
    pub key: StreamKey,
    pub packets: Vec<(Duration, RtpPacket)>,
}

impl RtpStream {
    /// The payload type most packets carry (the audio codec, as event
    /// packets are a minority).
    pub fn main_payload_type(&self) -> Option<u8> {
        let mut counts = [0usize; 128];
        for (_, p) in &self.packets {
            counts[usize::from(p.payload_type)] += 1;
        }
        (0..128u8).filter(|pt| counts[usize::from(*pt)] > 0).max_by_key(|pt| counts[usize::from(*pt)])
    }

    /// The audio payloads in sequence order (duplicates dropped), decoded
    /// to linear PCM at 8 kHz. Only PCMU (0) and PCMA (8) packets count; a
    /// gap in sequence numbers is filled with silence so offsets stay true.
    pub fn decode_g711(&self) -> Vec<i16> {
        let mut by_seq: BTreeMap<i64, &RtpPacket> = BTreeMap::new();
        for (ext, (_, p)) in extended_seqs(&self.packets).into_iter().zip(&self.packets) {
            if p.payload_type == 0 || p.payload_type == 8 {
                by_seq.entry(ext).or_insert(p);
            }
        }
        let mut pcm = Vec::new();
        let mut previous: Option<(i64, usize)> = None;
        for (ext, p) in by_seq {
            if let Some((prev, len)) = previous {
                let missing = (ext - prev - 1).clamp(0, 500) as usize;
                pcm.extend(std::iter::repeat_n(0i16, missing * len));
            }
            let decode = if p.payload_type == 0 { crate::g711::ulaw_decode } else { crate::g711::alaw_decode };
            pcm.extend(p.payload.iter().map(|b| decode(*b)));
            previous = Some((ext, p.payload.len()));
        }
        pcm
    }
}

/// Groups the RTP packets among `datagrams` by (source, destination, SSRC).
/// Datagrams that do not parse as RTP (SIP, RTCP, STUN) are ignored.
pub fn streams(datagrams: &[UdpDatagram]) -> Vec<RtpStream> {
    let mut map: BTreeMap<StreamKey, Vec<(Duration, RtpPacket)>> = BTreeMap::new();
    for d in datagrams {
        // SIP text starts with a letter; RTP version 2 bytes are 0x80..0xbf.
        if let Some(p) = RtpPacket::parse(&d.payload) {
            map.entry(StreamKey { src: d.src, dst: d.dst, ssrc: p.ssrc }).or_default().push((d.time, p));
        }
    }
    map.into_iter().map(|(key, packets)| RtpStream { key, packets }).collect()
}

/// Sequence numbers unwrapped across 16-bit rollover, relative to the first.
fn extended_seqs(packets: &[(Duration, RtpPacket)]) -> Vec<i64> {
    unwrap_counter(packets.iter().map(|(_, p)| u32::from(p.seq)), 16)
}

/// RTP timestamps unwrapped across 32-bit rollover, relative to the first.
fn extended_timestamps(packets: &[(Duration, RtpPacket)]) -> Vec<i64> {
    unwrap_counter(packets.iter().map(|(_, p)| p.timestamp), 32)
}

/// A wrapping `bits`-wide counter as signed steps from its first value:
/// each step is the shortest way round the circle (RFC 3550 A.1).
fn unwrap_counter(values: impl Iterator<Item = u32>, bits: u32) -> Vec<i64> {
    let modulus = 1i64 << bits;
    let mut out = Vec::new();
    let mut last: Option<(i64, i64)> = None;
    for v in values {
        let v = i64::from(v);
        let ext = match last {
            None => 0,
            Some((prev, ext)) => {
                let step = (v - prev).rem_euclid(modulus);
                ext + if step >= modulus / 2 { step - modulus } else { step }
            }
        };
        out.push(ext);
        last = Some((v, ext));
    }
    out
}

#[derive(Debug, Clone, Serialize)]
pub struct StreamStats {
    pub src: String,
    pub dst: String,
    pub ssrc: u32,
    pub payload_type: Option<u8>,
    pub packets: usize,
    /// Highest minus lowest extended sequence number, plus one.
    pub expected: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// RFC 3550 A.8 interarrival jitter at the end of the stream, in ms.
    pub jitter_ms: f64,
    /// Median and largest packet interval, in ms.
    pub interval_p50_ms: f64,
    pub interval_max_ms: f64,
    /// Per packet: arrival minus the ideal arrival its RTP timestamp implies
    /// (first packet's arrival plus elapsed media time), shifted so the
    /// earliest packet of the stream is 0. In ms.
    #[serde(skip)]
    pub deviations_ms: Vec<f64>,
}

/// Analyses one stream. `clock_rate` is the RTP clock (8000 for G.711).
/// Only packets of the stream's main payload type enter the deviation
/// and jitter figures: RFC 4733 events hold their timestamp for a whole
/// digit and would read as lateness.
pub fn analyse(stream: &RtpStream, clock_rate: u32) -> StreamStats {
    let main_pt = stream.main_payload_type();
    // A stream of events only (RFC 4733 held timestamps) has no send grid.
    let media: Vec<(Duration, RtpPacket)> = stream
        .packets
        .iter()
        .filter(|(_, p)| Some(p.payload_type) == main_pt && p.payload_type < 96)
        .cloned()
        .collect();
    let seqs = extended_seqs(&stream.packets);
    let unique: HashSet<i64> = seqs.iter().copied().collect();
    let expected = match (seqs.iter().min(), seqs.iter().max()) {
        (Some(lo), Some(hi)) => (hi - lo + 1) as u64,
        _ => 0,
    };
    let rate = f64::from(clock_rate);
    let timestamps = extended_timestamps(&media);
    let mut deviations: Vec<f64> = Vec::with_capacity(media.len());
    let mut jitter = 0.0f64;
    let mut intervals = Vec::new();
    if let Some((t0, _)) = media.first() {
        for (i, ((t, _), ts)) in media.iter().zip(&timestamps).enumerate() {
            let arrival = (t.as_secs_f64() - t0.as_secs_f64()) * 1000.0;
            let media_ms = *ts as f64 * 1000.0 / rate;
            deviations.push(arrival - media_ms);
            if i > 0 {
                let (tp, _) = &media[i - 1];
                let d = (t.as_secs_f64() - tp.as_secs_f64()) * 1000.0 - (ts - timestamps[i - 1]) as f64 * 1000.0 / rate;
                jitter += (d.abs() - jitter) / 16.0;
                intervals.push((t.as_secs_f64() - tp.as_secs_f64()) * 1000.0);
            }
        }
    }
    let floor = deviations.iter().copied().fold(f64::INFINITY, f64::min);
    for d in &mut deviations {
        *d -= floor;
    }
    intervals.sort_by(f64::total_cmp);
    StreamStats {
        src: stream.key.src.to_string(),
        dst: stream.key.dst.to_string(),
        ssrc: stream.key.ssrc,
        payload_type: main_pt,
        packets: stream.packets.len(),
        expected,
        lost: expected.saturating_sub(unique.len() as u64),
        duplicates: (seqs.len() - unique.len()) as u64,
        jitter_ms: jitter,
        interval_p50_ms: percentile(&intervals, 50.0),
        interval_max_ms: intervals.last().copied().unwrap_or(0.0),
        deviations_ms: deviations,
    }
}

/// Nearest-rank percentile of sorted values (0 when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The figures of a whole capture, over every stream in it.
#[derive(Debug, Clone, Serialize)]
pub struct CaptureReport {
    pub streams: usize,
    pub packets: usize,
    pub lost: u64,
    pub expected: u64,
    pub loss_percent: f64,
    pub duplicates: u64,
    pub deviation_p50_ms: f64,
    pub deviation_p99_ms: f64,
    pub deviation_max_ms: f64,
    pub jitter_max_ms: f64,
    pub per_stream: Vec<StreamStats>,
}

pub fn report(streams: &[RtpStream], clock_rate: u32) -> CaptureReport {
    let per_stream: Vec<StreamStats> = streams.iter().map(|s| analyse(s, clock_rate)).collect();
    let mut all: Vec<f64> = per_stream.iter().flat_map(|s| s.deviations_ms.iter().copied()).collect();
    all.sort_by(f64::total_cmp);
    let lost: u64 = per_stream.iter().map(|s| s.lost).sum();
    let expected: u64 = per_stream.iter().map(|s| s.expected).sum();
    CaptureReport {
        streams: per_stream.len(),
        packets: per_stream.iter().map(|s| s.packets).sum(),
        lost,
        expected,
        loss_percent: if expected == 0 { 0.0 } else { lost as f64 * 100.0 / expected as f64 },
        duplicates: per_stream.iter().map(|s| s.duplicates).sum(),
        deviation_p50_ms: percentile(&all, 50.0),
        deviation_p99_ms: percentile(&all, 99.0),
        deviation_max_ms: all.last().copied().unwrap_or(0.0),
        jitter_max_ms: per_stream.iter().map(|s| s.jitter_ms).fold(0.0, f64::max),
        per_stream,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn datagram(ms: f64, seq: u16, ts: u32, ssrc: u32) -> UdpDatagram {
        let p = RtpPacket { marker: false, payload_type: 0, seq, timestamp: ts, ssrc, payload: vec![0xff; 160] };
        UdpDatagram {
            time: Duration::from_secs(1_000) + Duration::from_secs_f64(ms / 1000.0),
            src: "127.0.0.1:4000".parse().expect("literal"),
            dst: "127.0.0.1:6000".parse().expect("literal"),
            payload: p.to_bytes(),
        }
    }

    #[test]
    fn a_perfect_stream_has_no_loss_and_no_deviation() {
        let caps: Vec<_> = (0..100u16).map(|i| datagram(f64::from(i) * 20.0, 65500u16.wrapping_add(i), u32::from(i) * 160, 7)).collect();
        let r = report(&streams(&caps), 8000);
        assert_eq!((r.streams, r.packets, r.lost, r.duplicates), (1, 100, 0, 0));
        assert!(r.deviation_max_ms < 1e-6 && r.jitter_max_ms < 1e-6, "{r:?}");
        assert!((r.per_stream[0].interval_p50_ms - 20.0).abs() < 1e-6);
    }

    #[test]
    fn gaps_and_repeats_in_sequence_numbers_count_as_loss_and_duplicates() {
        let mut caps: Vec<_> = (0..50u16)
            .filter(|i| ![10, 11, 30].contains(i))
            .map(|i| datagram(f64::from(i) * 20.0, i, u32::from(i) * 160, 7))
            .collect();
        caps.push(datagram(1000.0, 49, 49 * 160, 7));
        let r = report(&streams(&caps), 8000);
        assert_eq!((r.expected, r.lost, r.duplicates), (50, 3, 1));
    }

    #[test]
    fn late_packets_show_as_deviation_from_the_grid() {
        // Every tenth packet 5 ms late, one packet 12 ms late, others on time.
        let caps: Vec<_> = (0..200u16)
            .map(|i| {
                let late = if i == 77 { 12.0 } else if i % 10 == 3 { 5.0 } else { 0.0 };
                datagram(f64::from(i) * 20.0 + late, i, u32::from(i) * 160, 9)
            })
            .collect();
        let r = report(&streams(&caps), 8000);
        assert!(r.deviation_p50_ms.abs() < 1e-6, "{}", r.deviation_p50_ms);
        assert!((r.deviation_p99_ms - 5.0).abs() < 1e-3, "{}", r.deviation_p99_ms);
        assert!((r.deviation_max_ms - 12.0).abs() < 1e-3, "{}", r.deviation_max_ms);
        assert!(r.jitter_max_ms > 0.0);
    }

    #[test]
    fn streams_are_told_apart_by_ssrc_and_non_rtp_is_ignored() {
        let mut caps = vec![datagram(0.0, 1, 0, 1), datagram(20.0, 2, 160, 1), datagram(0.0, 1, 0, 2)];
        caps.push(UdpDatagram { payload: b"OPTIONS sip:x SIP/2.0\r\n".to_vec(), ..caps[0].clone() });
        caps.push(UdpDatagram { payload: vec![0x80, 200, 0, 6, 0, 0, 0, 1], ..caps[0].clone() });
        let s = streams(&caps);
        assert_eq!(s.iter().map(|s| (s.key.ssrc, s.packets.len())).collect::<Vec<_>>(), vec![(1, 2), (2, 1)]);
    }

    #[test]
    fn sipps_own_pcma_30ms_capture_reads_as_one_clean_stream() {
        // Shipped by Debian's sip-tester; skipped where it is not installed.
        let path = std::path::Path::new("/usr/share/sip-tester/g711a.pcap");
        if !path.exists() {
            eprintln!("skipped: {} not installed (apt-get install -y sip-tester)", path.display());
            return;
        }
        let streams = streams(&crate::pcap::read_udp_file(path).expect("SIPp's pcap parses"));
        assert_eq!(streams.len(), 1);
        let stats = analyse(&streams[0], 8000);
        assert_eq!((stats.payload_type, stats.packets, stats.lost, stats.duplicates), (Some(8), 236, 0, 0));
        assert!((stats.interval_p50_ms - 30.0).abs() < 1.0, "{stats:?}");
        assert!(streams[0].packets.iter().all(|(_, p)| p.payload.len() == 240));
    }

    #[test]
    fn decoding_fills_lost_packets_with_silence() {
        let caps: Vec<_> = [0u16, 1, 3].iter().map(|i| datagram(f64::from(*i) * 20.0, *i, u32::from(*i) * 160, 7)).collect();
        assert_eq!(streams(&caps)[0].decode_g711().len(), 4 * 160);
    }
}
