//! Generates RTP captures for SIPp's `play_pcap_audio`: G.711 audio from
//! samples (a WAV, silence), optionally with in-band DTMF tone pairs and
//! RFC 4733 telephone events, written as an Ethernet pcap.

use std::net::SocketAddrV4;
use std::time::Duration;

use crate::pcap::UdpDatagram;
use crate::rtp::RtpPacket;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Law {
    Pcmu,
    Pcma,
}

impl Law {
    pub fn payload_type(self) -> u8 {
        match self {
            Law::Pcmu => 0,
            Law::Pcma => 8,
        }
    }

    pub fn encode(self, sample: i16) -> u8 {
        match self {
            Law::Pcmu => crate::g711::ulaw_encode(sample),
            Law::Pcma => crate::g711::alaw_encode(sample),
        }
    }
}

/// RFC 4733 event code of a DTMF key (`0`-`9`, `*`, `#`, `A`-`D`).
pub fn event_code(key: char) -> Option<u8> {
    match key {
        '0'..='9' => Some(key as u8 - b'0'),
        '*' => Some(10),
        '#' => Some(11),
        'A'..='D' => Some(key as u8 - b'A' + 12),
        _ => None,
    }
}

/// The (low, high) frequency pair of a DTMF key, in Hz (ITU-T Q.23).
pub fn dtmf_frequencies(key: char) -> Option<(f64, f64)> {
    const ROWS: [f64; 4] = [697.0, 770.0, 852.0, 941.0];
    const COLS: [f64; 4] = [1209.0, 1336.0, 1477.0, 1633.0];
    const KEYS: [[char; 4]; 4] = [['1', '2', '3', 'A'], ['4', '5', '6', 'B'], ['7', '8', '9', 'C'], ['*', '0', '#', 'D']];
    KEYS.iter().enumerate().find_map(|(r, row)| row.iter().position(|k| *k == key).map(|c| (ROWS[r], COLS[c])))
}

/// Peak amplitude (16-bit linear) of a sine at `dbm0` (G.711: +3.17 dBm0
/// is the largest sine the law carries).
pub fn dbm0_amplitude(dbm0: f64) -> f64 {
    32767.0 * 10f64.powf((dbm0 - 3.17) / 20.0)
}

/// In-band DTMF: each key as a tone pair of `tone_ms` at `dbm0` per
/// frequency, followed by `gap_ms` of silence. 8 kHz samples.
pub fn dtmf_tones(keys: &str, tone_ms: u32, gap_ms: u32, dbm0: f64) -> Vec<i16> {
    let amplitude = dbm0_amplitude(dbm0);
    let mut out = Vec::new();
    for key in keys.chars() {
        let Some((low, high)) = dtmf_frequencies(key) else { continue };
        for i in 0..tone_ms * 8 {
            let t = f64::from(i) / 8000.0;
            let v = amplitude * ((2.0 * std::f64::consts::PI * low * t).sin() + (2.0 * std::f64::consts::PI * high * t).sin());
            out.push(v.round().clamp(-32768.0, 32767.0) as i16);
        }
        out.extend(std::iter::repeat_n(0i16, (gap_ms * 8) as usize));
    }
    out
}

/// What to put in a generated capture.
#[derive(Debug, Clone)]
pub struct PcapSpec {
    pub law: Law,
    pub ptime_ms: u32,
    /// Leading silence, in ms.
    pub silence_ms: u32,
    /// Audio after the leading silence (8 kHz), e.g. from a WAV.
    pub audio: Vec<i16>,
    /// In-band DTMF keys, played after the audio, or mixed into it from
    /// `dtmf_at_ms` (counted from the start, leading silence included).
    pub inband_dtmf: String,
    pub dtmf_at_ms: Option<u32>,
    pub tone_ms: u32,
    pub gap_ms: u32,
    pub tone_dbm0: f64,
    /// RFC 4733 keys, sent after everything else, each `tone_ms` long with
    /// `gap_ms` of audio between; the audio packets pause during an event.
    pub rfc4733: String,
    pub event_payload_type: u8,
    /// Trailing silence, in ms.
    pub tail_ms: u32,
    pub ssrc: u32,
    pub src: SocketAddrV4,
    pub dst: SocketAddrV4,
}

impl PcapSpec {
    pub fn new(law: Law, ptime_ms: u32) -> Self {
        Self {
            law,
            ptime_ms,
            silence_ms: 0,
            audio: Vec::new(),
            inband_dtmf: String::new(),
            dtmf_at_ms: None,
            tone_ms: 80,
            gap_ms: 80,
            tone_dbm0: -10.0,
            rfc4733: String::new(),
            event_payload_type: 101,
            tail_ms: 200,
            ssrc: 0x0012_3456,
            src: SocketAddrV4::new([10, 0, 0, 1].into(), 6000),
            dst: SocketAddrV4::new([10, 0, 0, 2].into(), 6000),
        }
    }
}

enum Slot {
    Audio(Vec<i16>),
    Event { code: u8, packets: u32 },
}

/// The RTP packets of `spec`, each with its send time from 0.
pub fn rtp_packets(spec: &PcapSpec) -> Vec<(Duration, RtpPacket)> {
    let frame = (spec.ptime_ms * 8) as usize;
    let mut samples = vec![0i16; (spec.silence_ms * 8) as usize];
    samples.extend_from_slice(&spec.audio);
    let tones = dtmf_tones(&spec.inband_dtmf, spec.tone_ms, spec.gap_ms, spec.tone_dbm0);
    match spec.dtmf_at_ms {
        None => samples.extend(tones),
        Some(at_ms) => {
            let at = (at_ms * 8) as usize;
            if samples.len() < at + tones.len() {
                samples.resize(at + tones.len(), 0);
            }
            for (s, t) in samples[at..].iter_mut().zip(&tones) {
                *s = s.saturating_add(*t);
            }
        }
    }
    let mut slots: Vec<Slot> = samples.chunks(frame).map(|c| Slot::Audio(c.to_vec())).collect();
    for key in spec.rfc4733.chars() {
        let Some(code) = event_code(key) else { continue };
        let frames = spec.tone_ms.div_ceil(spec.ptime_ms).max(1);
        slots.push(Slot::Event { code, packets: frames });
        let gap = vec![0i16; (spec.gap_ms * 8) as usize];
        slots.extend(gap.chunks(frame).map(|c| Slot::Audio(c.to_vec())));
    }
    let tail = vec![0i16; (spec.tail_ms * 8) as usize];
    slots.extend(tail.chunks(frame).map(|c| Slot::Audio(c.to_vec())));

    let mut out = Vec::new();
    let mut seq: u16 = 1000;
    let mut tick: u32 = 0; // frames elapsed
    let ptime = Duration::from_millis(u64::from(spec.ptime_ms));
    let mut first = true;
    for slot in slots {
        match slot {
            Slot::Audio(mut chunk) => {
                chunk.resize(frame, 0);
                out.push((
                    ptime * tick,
                    RtpPacket {
                        marker: std::mem::take(&mut first),
                        payload_type: spec.law.payload_type(),
                        seq,
                        timestamp: tick * frame as u32,
                        ssrc: spec.ssrc,
                        payload: chunk.iter().map(|s| spec.law.encode(*s)).collect(),
                    },
                ));
                seq = seq.wrapping_add(1);
                tick += 1;
            }
            Slot::Event { code, packets } => {
                let start_ts = tick * frame as u32;
                // RFC 4733 2.5.1: an update every ptime with a growing
                // duration, the first with the marker bit; the final packet
                // is sent three times at the update interval (2.5.1.4).
                for i in 0..packets + 2 {
                    let end = i + 1 >= packets;
                    let duration = ((i.min(packets - 1) + 1) * frame as u32) as u16;
                    out.push((
                        ptime * (tick + i),
                        RtpPacket {
                            marker: i == 0,
                            payload_type: spec.event_payload_type,
                            seq,
                            timestamp: start_ts,
                            ssrc: spec.ssrc,
                            payload: vec![code, if end { 0x80 } else { 0 } | 10, (duration >> 8) as u8, duration as u8],
                        },
                    ));
                    seq = seq.wrapping_add(1);
                }
                tick += packets + 2;
            }
        }
    }
    out
}

/// The datagrams of `spec`, timed from `start` (a capture time since the epoch).
pub fn datagrams(spec: &PcapSpec, start: Duration) -> Vec<UdpDatagram> {
    rtp_packets(spec)
        .into_iter()
        .map(|(t, p)| UdpDatagram { time: start + t, src: spec.src, dst: spec.dst, payload: p.to_bytes() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{pcap, rtp};

    fn through_a_pcap(spec: &PcapSpec) -> Vec<rtp::RtpStream> {
        let mut file = Vec::new();
        pcap::write_udp(&mut file, &datagrams(spec, Duration::from_secs(1_700_000_000))).expect("write to a Vec");
        rtp::streams(&pcap::parse_udp(&file).expect("own pcap parses"))
    }

    #[test]
    fn pcmu_20ms_audio_round_trips_through_a_pcap() {
        let mut spec = PcapSpec::new(Law::Pcmu, 20);
        spec.silence_ms = 100;
        spec.audio = (0..8000).map(|i| (8000.0 * (f64::from(i) * 0.05).sin()) as i16).collect();
        spec.tail_ms = 0;
        let streams = through_a_pcap(&spec);
        assert_eq!(streams.len(), 1);
        let s = &streams[0];
        assert_eq!(s.packets.len(), 55);
        assert!(s.packets.iter().all(|(_, p)| p.payload_type == 0 && p.payload.len() == 160));
        let r = rtp::report(&streams, 8000);
        assert_eq!((r.lost, r.duplicates), (0, 0));
        assert!(r.deviation_max_ms < 0.01, "{r:?}");
        let pcm = s.decode_g711();
        let m = crate::audio::find(&pcm, &spec.audio).expect("fits");
        assert_eq!(m.offset, 800);
        assert!(m.score > 0.99);
    }

    #[test]
    fn pcma_30ms_packets_carry_240_samples() {
        let mut spec = PcapSpec::new(Law::Pcma, 30);
        spec.silence_ms = 300;
        let s = &through_a_pcap(&spec)[0];
        assert!(s.packets.iter().all(|(_, p)| p.payload_type == 8 && p.payload.len() == 240));
        assert_eq!(s.packets[1].1.timestamp - s.packets[0].1.timestamp, 240);
        assert_eq!(s.packets[1].0 - s.packets[0].0, Duration::from_millis(30));
    }

    #[test]
    fn rfc4733_digits_are_events_with_three_end_packets() {
        let mut spec = PcapSpec::new(Law::Pcmu, 20);
        spec.rfc4733 = "1#".into();
        let packets = rtp_packets(&spec);
        let events: Vec<_> = packets.iter().filter(|(_, p)| p.payload_type == 101).collect();
        // 80 ms at 20 ms: 4 packets, the last sent three times.
        assert_eq!(events.len(), 2 * 6);
        let ends: Vec<_> = events.iter().filter(|(_, p)| p.payload[1] & 0x80 != 0).collect();
        assert_eq!(ends.len(), 6);
        assert_eq!(ends[0].1.payload[0], 1);
        assert_eq!(ends[3].1.payload[0], 11);
        assert_eq!(u16::from_be_bytes([ends[0].1.payload[2], ends[0].1.payload[3]]), 640);
        assert!(events.iter().filter(|(_, p)| p.marker).count() == 2);
    }

    #[test]
    fn inband_tones_hold_the_two_frequencies_at_the_asked_level() {
        let tones = dtmf_tones("5", 80, 80, -10.0);
        assert_eq!(tones.len(), 1280);
        let tone = &tones[..640];
        // Two sines at -10 dBm0 each: -10 - 3.17 dBFS each, sum +3 dB.
        let level = crate::audio::rms_dbfs(tone);
        assert!((level - (-10.0 - 3.17 - 3.01 + 3.01)).abs() < 0.6, "{level}");
        assert!(crate::audio::is_silent(&tones[640..], -90.0));
        for (f, expected) in [(770.0, true), (1336.0, true), (697.0, false), (1477.0, false)] {
            let power = goertzel(tone, f);
            assert_eq!(power > 1e3, expected, "{f} Hz: {power}");
        }
        assert_eq!(dtmf_frequencies('#'), Some((941.0, 1477.0)));
    }

    #[test]
    fn tones_mixed_into_audio_keep_the_audio_length_and_add_the_tone() {
        let mut spec = PcapSpec::new(Law::Pcmu, 20);
        spec.audio = vec![100i16; 8000];
        spec.inband_dtmf = "1".into();
        spec.dtmf_at_ms = Some(200);
        spec.tail_ms = 0;
        let packets = rtp_packets(&spec);
        assert_eq!(packets.len(), 50, "mixing does not lengthen a 1 s WAV");
        let pcm: Vec<i16> = packets.iter().flat_map(|(_, p)| p.payload.iter().map(|b| crate::g711::ulaw_decode(*b))).collect();
        assert!(crate::audio::rms_dbfs(&pcm[..1600]) < -40.0);
        assert!(crate::audio::rms_dbfs(&pcm[1600..2240]) > -15.0);
    }

    fn goertzel(samples: &[i16], freq: f64) -> f64 {
        let coeff = 2.0 * (2.0 * std::f64::consts::PI * freq / 8000.0).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for x in samples {
            let s = f64::from(*x) / 32768.0 + coeff * s1 - s2;
            s2 = s1;
            s1 = s;
        }
        s1 * s1 + s2 * s2 - coeff * s1 * s2
    }
}
