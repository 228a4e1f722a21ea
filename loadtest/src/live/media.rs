//! One call's RTP, as the generator sends and hears it: a 20 ms G.711
//! sender that can press keys (RFC 4733 events or in-band tone pairs, and
//! keeps the time of keys that travel in SIP INFO), and a receiver that counts loss and duplicates, keeps the RFC 3550 jitter
//! estimate and decodes what it hears for the audio checks.
//!
//! Owns packet contents and the pace of keys; never sockets, SIP or the
//! clock: the engine says when a 20 ms slot is due and when a packet
//! arrived, takes the INFO keys that fell due and says when each INFO's
//! outcome came back.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::generate::{self, Law};
use crate::rtp::RtpPacket;

/// Samples in one 20 ms G.711 frame.
pub const FRAME: usize = 160;

/// A looped voice: a steady tone, pre-encoded in both laws.
#[derive(Debug)]
pub struct Voice {
    pcmu: Vec<[u8; FRAME]>,
    pcma: Vec<[u8; FRAME]>,
}

impl Voice {
    /// One second of a sine at `hz` and `dbm0` (a whole number of cycles
    /// when `hz` is a whole number, so the loop has no click).
    pub fn tone(hz: f64, dbm0: f64) -> Arc<Voice> {
        let amplitude = generate::dbm0_amplitude(dbm0);
        let samples: Vec<i16> =
            (0..8000).map(|i| (amplitude * (2.0 * std::f64::consts::PI * hz * f64::from(i) / 8000.0).sin()) as i16).collect();
        let frames = |law: Law| -> Vec<[u8; FRAME]> {
            samples.chunks(FRAME).map(|c| std::array::from_fn(|i| law.encode(c.get(i).copied().unwrap_or(0)))).collect()
        };
        Arc::new(Voice { pcmu: frames(Law::Pcmu), pcma: frames(Law::Pcma) })
    }

    fn frame(&self, law: Law, index: usize) -> &[u8; FRAME] {
        let frames = if law == Law::Pcmu { &self.pcmu } else { &self.pcma };
        &frames[index % frames.len()]
    }
}

/// How a key press travels in the media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMethod {
    Rfc4733,
    Inband,
    /// One SIP INFO per key, sent by the engine when the key falls due
    /// ([`RtpSender::take_info_key`]); the stream carries audio meanwhile.
    SipInfo,
}

/// Slots of one RFC 4733 digit: five with growing duration (100 ms), then
/// the end packet three times (RFC 4733 2.5.1.4), then a pause of audio.
const EVENT_SLOTS: u32 = 5;
const END_REPEATS: u32 = 3;
const KEY_PAUSE_SLOTS: u32 = 5;
/// A key by INFO holds the place an RFC 4733 key takes (its event and
/// end packets, then the pause), so keys are paced alike whichever way
/// they travel.
const INFO_KEY_SLOTS: u32 = EVENT_SLOTS + END_REPEATS - 1 + KEY_PAUSE_SLOTS;

#[derive(Debug, Clone, Copy)]
struct EventInProgress {
    code: u8,
    start_ts: u32,
    slot: u32,
}

/// The sending half of a call's RTP.
#[derive(Debug)]
pub struct RtpSender {
    ssrc: u32,
    seq: u16,
    ts: u32,
    law: Law,
    event_pt: Option<u8>,
    voice: Arc<Voice>,
    frame_index: usize,
    keys: VecDeque<(char, KeyMethod)>,
    event: Option<EventInProgress>,
    inband: VecDeque<i16>,
    pause: u32,
    /// An INFO key fallen due, for the engine to send.
    info_due: Option<char>,
    /// The last INFO has no outcome yet: the next key waits for it, so
    /// that INFOs reach the server in CSeq order (it answers a late one
    /// 500, RFC 3261 12.2.2) and its digit collector sees them in order.
    info_unanswered: bool,
    /// Keys sent, by method (INFO keys are counted by the engine, which
    /// knows whether the request could be sent).
    pub sent_rfc4733: u32,
    pub sent_inband: u32,
}

impl RtpSender {
    pub fn new(ssrc: u32, seq: u16, ts: u32, law: Law, event_pt: Option<u8>, voice: Arc<Voice>) -> RtpSender {
        RtpSender {
            ssrc,
            seq,
            ts,
            law,
            event_pt,
            voice,
            frame_index: 0,
            keys: VecDeque::new(),
            event: None,
            inband: VecDeque::new(),
            pause: 0,
            info_due: None,
            info_unanswered: false,
            sent_rfc4733: 0,
            sent_inband: 0,
        }
    }

    /// Queues keys; RFC 4733 falls back to in-band when the peer did not
    /// accept telephone-event.
    pub fn press(&mut self, keys: &[char], method: KeyMethod) {
        let method = if self.event_pt.is_none() && method == KeyMethod::Rfc4733 { KeyMethod::Inband } else { method };
        self.keys.extend(keys.iter().map(|k| (*k, method)));
    }

    /// True while keys are queued or being sent (an INFO key until its
    /// outcome is known).
    pub fn pressing(&self) -> bool {
        !self.keys.is_empty() || self.event.is_some() || !self.inband.is_empty() || self.info_due.is_some() || self.info_unanswered
    }

    /// The INFO key that fell due on the last slot, if any: the engine
    /// sends it and reports back with [`RtpSender::info_answered`].
    pub fn take_info_key(&mut self) -> Option<char> {
        self.info_due.take()
    }

    /// The last INFO key's outcome is known (or it could not be sent): the
    /// next key may start once its pause is over.
    pub fn info_answered(&mut self) {
        self.info_unanswered = false;
    }

    /// The packet of the next 20 ms slot, appended to `out`.
    pub fn next_packet(&mut self, out: &mut Vec<u8>) {
        let slot_ts = self.ts;
        self.ts = self.ts.wrapping_add(FRAME as u32);
        if self.event.is_none() && self.inband.is_empty() && self.pause == 0 && !self.info_unanswered {
            self.start_next_key(slot_ts);
        }
        if let (Some(mut event), Some(pt)) = (self.event, self.event_pt) {
            let ending = event.slot + 1 >= EVENT_SLOTS;
            let duration = (FRAME as u32 * (event.slot + 1).min(EVENT_SLOTS)) as u16;
            let marker = event.slot == 0;
            // Volume 10 (-10 dBm0), the end bit on the last packets.
            let payload = [event.code, if ending { 0x80 | 10 } else { 10 }, (duration >> 8) as u8, duration as u8];
            self.push_header(out, pt, marker, event.start_ts);
            out.extend_from_slice(&payload);
            event.slot += 1;
            self.event = Some(event);
            if event.slot >= EVENT_SLOTS + END_REPEATS - 1 {
                self.event = None;
                self.pause = KEY_PAUSE_SLOTS;
            }
            return;
        }
        self.pause = self.pause.saturating_sub(1);
        self.push_header(out, self.law.payload_type(), false, slot_ts);
        if self.inband.is_empty() {
            out.extend_from_slice(self.voice.frame(self.law, self.frame_index));
        } else {
            let law = self.law;
            out.extend((0..FRAME).map(|_| law.encode(self.inband.pop_front().unwrap_or(0))));
            if self.inband.is_empty() {
                self.pause = KEY_PAUSE_SLOTS;
            }
        }
        self.frame_index += 1;
    }

    fn start_next_key(&mut self, slot_ts: u32) {
        let Some((key, method)) = self.keys.pop_front() else { return };
        let Some(code) = generate::event_code(key) else { return };
        match method {
            KeyMethod::Rfc4733 => {
                self.event = Some(EventInProgress { code, start_ts: slot_ts, slot: 0 });
                self.sent_rfc4733 += 1;
            }
            KeyMethod::Inband => {
                // ITU-T Q.24: at least 40 ms of tone; 100 ms at -10 dBm0 each.
                self.inband.extend(generate::dtmf_tones(&key.to_string(), 100, 0, -10.0));
                self.sent_inband += 1;
            }
            KeyMethod::SipInfo => {
                self.info_due = Some(key);
                self.info_unanswered = true;
                self.pause = INFO_KEY_SLOTS;
            }
        }
    }

    fn push_header(&mut self, out: &mut Vec<u8>, pt: u8, marker: bool, ts: u32) {
        out.push(0x80);
        out.push(pt | if marker { 0x80 } else { 0 });
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&ts.to_be_bytes());
        out.extend_from_slice(&self.ssrc.to_be_bytes());
        self.seq = self.seq.wrapping_add(1);
    }
}

/// The receiving half: RFC 3550 A.1 sequence accounting and A.8 jitter.
#[derive(Debug, Default, Clone)]
pub struct RtpReceiver {
    ssrc: Option<u32>,
    base_seq: u16,
    max_ext: i64,
    cycles: i64,
    received: u64,
    duplicates: u64,
    seen: Vec<u64>,
    /// Previous transit (arrival minus timestamp) in timestamp units.
    transit: Option<f64>,
    jitter: f64,
    /// |D(i-1, i)| of the last audio packet (RFC 3550 6.4.1), in ms.
    pub last_variation_ms: Option<f64>,
    /// Counts of the sources heard before the current one (the server
    /// may change SSRC between prompts).
    past: ReceiveStats,
}

/// Loss, duplicates and jitter of one received stream.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ReceiveStats {
    pub received: u64,
    pub expected: u64,
    pub lost: u64,
    pub duplicates: u64,
    /// RFC 3550 A.8 interarrival jitter, in ms.
    pub jitter_ms: f64,
}

impl RtpReceiver {
    /// Accounts one packet that arrived at `arrival_secs` (any fixed
    /// origin) and returns its G.711 law when it carries audio.
    pub fn receive(&mut self, packet: &RtpPacket, arrival_secs: f64) -> Option<Law> {
        if self.ssrc != Some(packet.ssrc) {
            // A new source: its own sequence space, the old one's counts kept.
            let past = self.stats();
            *self = RtpReceiver { ssrc: Some(packet.ssrc), base_seq: packet.seq, past, ..RtpReceiver::default() };
        }
        let offset = i64::from(packet.seq.wrapping_sub(self.base_seq));
        let mut ext = offset + self.cycles;
        if ext < self.max_ext - 32_768 {
            self.cycles += 65_536;
            ext += 65_536;
        } else if ext > self.max_ext + 32_768 {
            ext -= 65_536;
        }
        if ext < 0 {
            return None;
        }
        let (word, bit) = ((ext / 64) as usize, ext % 64);
        if self.seen.len() <= word {
            self.seen.resize(word + 1, 0);
        }
        if self.seen[word] & (1 << bit) != 0 {
            self.duplicates += 1;
            return None;
        }
        self.seen[word] |= 1 << bit;
        self.received += 1;
        self.max_ext = self.max_ext.max(ext);
        let law = match packet.payload_type {
            0 => Law::Pcmu,
            8 => Law::Pcma,
            _ => return None,
        };
        let transit = arrival_secs * 8000.0 - f64::from(packet.timestamp);
        if let Some(previous) = self.transit {
            let mut d = (transit - previous).abs();
            // Timestamps wrap at 2^32 units.
            if d > 2_147_483_648.0 {
                d = (d - 4_294_967_296.0).abs();
            }
            self.jitter += (d - self.jitter) / 16.0;
            self.last_variation_ms = Some(d / 8.0);
        }
        self.transit = Some(transit);
        Some(law)
    }

    /// Over every source heard; the jitter is the current source's.
    pub fn stats(&self) -> ReceiveStats {
        let expected = if self.received == 0 { 0 } else { (self.max_ext + 1) as u64 };
        ReceiveStats {
            received: self.past.received + self.received,
            expected: self.past.expected + expected,
            lost: self.past.lost + expected.saturating_sub(self.received),
            duplicates: self.past.duplicates + self.duplicates,
            jitter_ms: if self.received > 1 { self.jitter / 8.0 } else { self.past.jitter_ms },
        }
    }
}

/// Decodes a G.711 payload onto `out`.
pub fn decode_into(law: Law, payload: &[u8], out: &mut Vec<i16>) {
    let decode = if law == Law::Pcmu { crate::g711::ulaw_decode } else { crate::g711::alaw_decode };
    out.extend(payload.iter().map(|b| decode(*b)));
}

/// Power of `hz` in a frame relative to the frame's energy (Goertzel): near
/// 1 for a pure tone at `hz`, small for speech or silence.
pub fn tone_share(samples: &[i16], hz: f64) -> f64 {
    let n = samples.len() as f64;
    if samples.is_empty() {
        return 0.0;
    }
    let coeff = 2.0 * (2.0 * std::f64::consts::PI * hz / 8000.0).cos();
    let (mut s1, mut s2, mut energy) = (0.0f64, 0.0f64, 0.0f64);
    for x in samples {
        let x = f64::from(*x);
        energy += x * x;
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    if energy < n * 100.0 {
        return 0.0;
    }
    let power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    (2.0 * power / (n * energy)).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender(event_pt: Option<u8>) -> RtpSender {
        RtpSender::new(0x1234, 65_534, 1000, Law::Pcmu, event_pt, Voice::tone(440.0, -20.0))
    }

    fn packets(s: &mut RtpSender, n: usize) -> Vec<RtpPacket> {
        (0..n)
            .map(|_| {
                let mut b = Vec::new();
                s.next_packet(&mut b);
                RtpPacket::parse(&b).expect("we send RTP")
            })
            .collect()
    }

    #[test]
    fn audio_advances_twenty_ms_per_slot_and_wraps_its_sequence_numbers() {
        let p = packets(&mut sender(Some(101)), 3);
        assert_eq!(p.iter().map(|p| (p.seq, p.timestamp, p.payload.len())).collect::<Vec<_>>(), vec![
            (65_534, 1000, 160),
            (65_535, 1160, 160),
            (0, 1320, 160)
        ]);
    }

    #[test]
    fn a_key_is_five_event_slots_then_three_end_packets_all_on_the_event_start_timestamp() {
        let mut s = sender(Some(101));
        s.press(&['5'], KeyMethod::Rfc4733);
        let p = packets(&mut s, 9);
        let events: Vec<_> = p.iter().take(7).map(|p| (p.payload_type, p.marker, p.timestamp, p.payload.clone())).collect();
        assert!(events.iter().all(|(pt, _, ts, payload)| *pt == 101 && *ts == 1000 && payload[0] == 5));
        assert!(events[0].1 && !events[1].1, "marker on the first packet only");
        let ends: Vec<bool> = events.iter().map(|e| e.3[1] & 0x80 != 0).collect();
        assert_eq!(ends, vec![false, false, false, false, true, true, true]);
        assert_eq!(u16::from_be_bytes([events[6].3[2], events[6].3[3]]), 800);
        // Audio resumes on the media clock: slot 7 is 7 x 160 after the start.
        assert_eq!((p[7].payload_type, p[7].timestamp), (0, 1000 + 7 * 160));
        assert!(!s.pressing());
        assert_eq!(s.sent_rfc4733, 1);
    }

    #[test]
    fn without_telephone_event_keys_go_in_band() {
        let mut s = sender(None);
        s.press(&['1', '#'], KeyMethod::Rfc4733);
        let p = packets(&mut s, 30);
        assert!(p.iter().all(|p| p.payload_type == 0));
        assert_eq!(s.sent_inband, 2);
        let mut pcm = Vec::new();
        decode_into(Law::Pcmu, &p[0].payload, &mut pcm);
        assert!(tone_share(&pcm, 697.0) > 0.3, "the row tone of 1 is in the first frame");
    }

    #[test]
    fn info_keys_fall_due_on_the_rfc4733_pace_each_after_the_last_ones_outcome() {
        let mut s = sender(Some(101));
        s.press(&['4', '2', '#'], KeyMethod::SipInfo);
        let (mut due, mut outcome_at) = (Vec::new(), None);
        for slot in 0..60 {
            let p = packets(&mut s, 1);
            assert_eq!(p[0].payload_type, 0, "slot {slot}: INFO keys leave the audio as it is");
            if let Some(key) = s.take_info_key() {
                assert!(outcome_at.is_none(), "one INFO at a time");
                due.push((slot, key));
                // The second INFO's outcome is late (a retransmission).
                outcome_at = Some(slot + if key == '2' { 20 } else { 3 });
            }
            if outcome_at == Some(slot) {
                assert!(s.pressing());
                s.info_answered();
                outcome_at = None;
            }
        }
        // An RFC 4733 key takes 12 slots (7 event packets, 5 of pause):
        // the second key falls due on slot 12; the third waits for the
        // second one's late outcome (slot 32).
        assert_eq!(due, vec![(0, '4'), (12, '2'), (33, '#')]);
        assert!(!s.pressing());
        assert_eq!((s.sent_rfc4733, s.sent_inband), (0, 0));

        let mut r = sender(Some(101));
        r.press(&['4', '2'], KeyMethod::Rfc4733);
        let starts: Vec<usize> = packets(&mut r, 40).iter().enumerate().filter(|(_, p)| p.marker).map(|(i, _)| i).collect();
        assert_eq!(starts, vec![0, 12], "the same pace by RFC 4733");
    }

    #[test]
    fn info_keys_need_no_telephone_event() {
        let mut s = sender(None);
        s.press(&['9'], KeyMethod::SipInfo);
        packets(&mut s, 1);
        assert_eq!(s.take_info_key(), Some('9'));
        assert_eq!(s.sent_inband, 0);
    }

    #[test]
    fn the_receiver_counts_loss_duplicates_and_jitter_across_the_wrap() {
        let mut r = RtpReceiver::default();
        for (i, seq) in [65_533u16, 65_534, 65_535, 1, 2, 2].iter().enumerate() {
            let p = RtpPacket { marker: false, payload_type: 8, seq: *seq, timestamp: 160 * i as u32, ssrc: 9, payload: vec![0xd5; 160] };
            let late = if i == 3 { 0.004 } else { 0.0 };
            r.receive(&p, 0.02 * i as f64 + late);
        }
        let s = r.stats();
        assert_eq!((s.received, s.expected, s.lost, s.duplicates), (5, 6, 1, 1));
        assert!(s.jitter_ms > 0.3 && s.jitter_ms < 1.0, "{s:?}");
        // A new SSRC starts its own sequence space; the counts add up.
        let p = RtpPacket { marker: false, payload_type: 8, seq: 9_000, timestamp: 0, ssrc: 10, payload: vec![0xd5; 160] };
        r.receive(&p, 1.0);
        let s = r.stats();
        assert_eq!((s.received, s.expected, s.lost, s.duplicates), (6, 7, 1, 1));
    }

    #[test]
    fn a_pure_tone_is_found_and_speechlike_noise_is_not() {
        let tone: Vec<i16> = (0..160).map(|i| (8000.0 * (2.0 * std::f64::consts::PI * 1850.0 * f64::from(i) / 8000.0).sin()) as i16).collect();
        assert!(tone_share(&tone, 1850.0) > 0.8);
        assert!(tone_share(&tone, 440.0) < 0.05);
        assert_eq!(tone_share(&[0; 160], 1850.0), 0.0);
    }
}
