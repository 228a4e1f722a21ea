//! One direction of a bridge: audio received on one leg, re-stamped,
//! transcoded and repacketised for the other.
//!
//! Owns the mapping from the source's timestamps to the target leg's
//! (`target = source + offset`), the target-law bytes not yet sent, and the
//! direction's counters. Does not own sequence numbers or SSRC (the target's
//! [`RtpSession`](crate::session::RtpSession) stamps them on send) nor
//! decide hold (the bridge does).
//!
//! Must never: send time backwards on the target leg, stall audio behind a
//! partial frame, allocate per packet, or panic on any packet.
//!
//! ## Re-anchoring
//! The offset is set on the first packet and again whenever the source
//! stream is not the one we mapped: a new SSRC (the far side restarted or a
//! transfer brought another phone), or a timestamp that disagrees with the
//! time elapsed since the previous packet by more than [`JUMP_TOLERANCE`]
//! (a restart without an SSRC change). The new anchor is the target's
//! [`next_free_timestamp`](crate::session::RtpSession::next_free_timestamp),
//! and that packet carries the marker bit (RFC 3551 §4.1: a new talkspurt).
//! Between anchors the source's own timing passes through unchanged: a lost
//! packet becomes a timestamp gap of its length, jitter stays jitter for the
//! far phone's jitter buffer, which is the one place that should absorb it.
//!
//! A packet that starts before the end of what was already taken from this
//! source (late, duplicated or overlapping) is dropped: our sequence numbers
//! are given in arrival order, so forwarding it would make the far side play
//! it out of order.

use std::time::{Duration, Instant};

use crate::Codec;
use crate::g711;
use crate::rtp::RtpPacket;

/// A timestamp that disagrees with the arrival time by more than this (in
/// 8 kHz units: one second) means the source restarted its clock.
pub const JUMP_TOLERANCE: i64 = 8000;
/// While repacketising, a gap up to this many samples (200 ms) inside the
/// bytes waiting to be sent is filled with silence; a longer one ends the
/// partial frame early instead.
pub const MAX_FILL: u32 = 1600;
/// A partial frame is sent short once it has waited this long (or three of
/// the target's frames, if longer) for the rest of its samples.
const FLUSH_AFTER_MIN: Duration = Duration::from_millis(60);

/// Counters for one direction (metrics, call records, tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayStats {
    /// Audio packets received from the source leg.
    pub packets_in: u64,
    /// Audio packets written for the target leg.
    pub packets_out: u64,
    /// Audio packets whose bytes went through the law-to-law table.
    pub transcoded: u64,
    /// Late, duplicated or overlapping audio packets dropped.
    pub late_dropped: u64,
    /// Forward jumps in the source's timestamps (lost packets, silence
    /// suppression), passed on as gaps.
    pub gaps: u64,
    /// Silence samples inserted into a partial frame to cover a small gap.
    pub gap_samples_filled: u64,
    /// Re-anchors after the first: SSRC changes, clock restarts, resumes.
    pub resyncs: u64,
    /// Audio packets not relayed because the call is on hold.
    pub held_dropped: u64,
    /// Audio packets relayed as silence because the direction is muted.
    pub muted: u64,
    /// Telephone-event packets forwarded (with the target's payload type).
    pub events_forwarded: u64,
    /// Telephone-event packets not forwarded: the target leg negotiated no
    /// telephone-event payload type, or the call is on hold.
    pub events_dropped: u64,
}

/// One frame ready for the target leg, in the target's law and clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Frame<'a> {
    pub marker: bool,
    pub timestamp: u32,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
struct Source {
    ssrc: u32,
    /// target timestamp = source timestamp + offset (mod 2^32).
    offset: u32,
    /// The source timestamp just past the last packet taken.
    expected: u32,
    last_at: Instant,
}

#[derive(Debug)]
pub(crate) struct Relay {
    table: [u8; 256],
    transcoding: bool,
    silence: u8,
    frame: usize,
    flush_after: Duration,
    source: Option<Source>,
    /// The first event timestamp seen on a stream without audio mapping:
    /// (ssrc, source timestamp, target timestamp).
    event_anchor: Option<(u32, u32, u32)>,
    pending: Vec<u8>,
    pending_ts: u32,
    pending_since: Option<Instant>,
    marker: bool,
    pub(crate) muted: bool,
    pub(crate) stats: RelayStats,
}

impl Relay {
    /// `frame` is the target's frame in samples (its ptime at 8 kHz).
    pub(crate) fn new(from: Codec, to: Codec, frame: usize) -> Relay {
        let frame = frame.clamp(1, crate::call::MAX_FRAME_LEN);
        let frame_time = Duration::from_micros(frame as u64 * 1_000_000 / u64::from(Codec::SAMPLE_RATE));
        Relay {
            table: g711::transcode_table(from, to),
            transcoding: from != to,
            silence: to.silence_byte(),
            frame,
            flush_after: (frame_time * 3).max(FLUSH_AFTER_MIN),
            source: None,
            event_anchor: None,
            pending: Vec::with_capacity(2 * crate::call::MAX_FRAME_LEN),
            pending_ts: 0,
            pending_since: None,
            marker: true,
            muted: false,
            stats: RelayStats::default(),
        }
    }

    /// An audio packet from the source leg. `free_ts` is the target's
    /// [`next_free_timestamp`](crate::session::RtpSession::next_free_timestamp)
    /// at `now`, used if the packet starts a new mapping.
    pub(crate) fn push_audio(&mut self, now: Instant, packet: &RtpPacket<'_>, free_ts: u32, out: &mut impl FnMut(Frame<'_>)) {
        let len = packet.payload.len().min(crate::call::MAX_FRAME_LEN);
        let Some(payload) = packet.payload.get(..len).filter(|p| !p.is_empty()) else { return };
        let samples = len as u32;
        self.stats.packets_in += 1;
        let source = match self.source {
            Some(s) if !restarted(&s, now, packet) => s,
            previous => {
                let pending_end = self.pending_ts.wrapping_add(self.pending.len() as u32);
                let had_pending = !self.pending.is_empty();
                self.flush(out);
                let anchor = if had_pending { later(free_ts, pending_end) } else { free_ts };
                if previous.is_some() {
                    self.stats.resyncs += 1;
                }
                self.marker = true;
                let fresh = Source { ssrc: packet.ssrc, offset: anchor.wrapping_sub(packet.timestamp), expected: packet.timestamp, last_at: now };
                self.source = Some(fresh);
                fresh
            }
        };
        let delta = packet.timestamp.wrapping_sub(source.expected) as i32;
        if delta < 0 {
            self.stats.late_dropped += 1;
            return;
        }
        if delta > 0 {
            self.stats.gaps += 1;
            if !self.pending.is_empty() {
                if delta as u32 <= MAX_FILL {
                    self.stats.gap_samples_filled += delta as u64;
                    self.pending.resize(self.pending.len() + delta as usize, self.silence);
                } else {
                    self.flush(out);
                }
            }
        }
        if self.pending.is_empty() {
            self.pending_ts = packet.timestamp.wrapping_add(source.offset);
        }
        if self.muted {
            self.stats.muted += 1;
            self.pending.resize(self.pending.len() + len, self.silence);
        } else {
            let table = &self.table;
            self.pending.extend(payload.iter().map(|&b| table[usize::from(b)]));
            if self.transcoding {
                self.stats.transcoded += 1;
            }
        }
        self.marker |= packet.marker;
        self.source = Some(Source { expected: packet.timestamp.wrapping_add(samples), last_at: now, ..source });
        let mut taken = 0;
        while self.pending.len() - taken >= self.frame {
            let payload = self.pending.get(taken..taken + self.frame).unwrap_or_default();
            out(Frame { marker: self.marker, timestamp: self.pending_ts, payload });
            self.marker = false;
            self.stats.packets_out += 1;
            self.pending_ts = self.pending_ts.wrapping_add(self.frame as u32);
            taken += self.frame;
        }
        self.pending.drain(..taken);
        if self.pending.is_empty() {
            self.pending_since = None;
        } else if taken > 0 || self.pending_since.is_none() {
            self.pending_since = Some(now);
        }
    }

    /// The target timestamp for a telephone-event packet from the source
    /// leg: mapped like the audio when it shares the audio's SSRC, else
    /// anchored at `free_ts` per event (all packets of one event keep its
    /// start timestamp, RFC 4733 §2.5.1.2).
    pub(crate) fn event_timestamp(&mut self, packet: &RtpPacket<'_>, free_ts: u32) -> u32 {
        if let Some(s) = self.source.filter(|s| s.ssrc == packet.ssrc) {
            return packet.timestamp.wrapping_add(s.offset);
        }
        match self.event_anchor {
            Some((ssrc, from, to)) if ssrc == packet.ssrc && from == packet.timestamp => to,
            _ => {
                self.event_anchor = Some((packet.ssrc, packet.timestamp, free_ts));
                free_ts
            }
        }
    }

    /// When a partial frame must go out short, if one is waiting.
    pub(crate) fn flush_deadline(&self) -> Option<Instant> {
        self.pending_since.map(|since| since + self.flush_after)
    }

    /// Sends a partial frame that has waited too long.
    pub(crate) fn flush_due(&mut self, now: Instant, out: &mut impl FnMut(Frame<'_>)) {
        if self.flush_deadline().is_some_and(|at| now >= at) {
            self.flush(out);
        }
    }

    /// Forgets the mapping and any partial frame (hold, resume): the next
    /// packet re-anchors and starts a talkspurt.
    pub(crate) fn reset(&mut self) {
        if self.source.take().is_some() {
            self.stats.resyncs += 1;
        }
        self.event_anchor = None;
        self.pending.clear();
        self.pending_since = None;
        self.marker = true;
    }

    fn flush(&mut self, out: &mut impl FnMut(Frame<'_>)) {
        if !self.pending.is_empty() {
            out(Frame { marker: self.marker, timestamp: self.pending_ts, payload: &self.pending });
            self.marker = false;
            self.stats.packets_out += 1;
            self.pending_ts = self.pending_ts.wrapping_add(self.pending.len() as u32);
            self.pending.clear();
        }
        self.pending_since = None;
    }
}

/// Whether `packet` belongs to a different stream than the one mapped.
fn restarted(source: &Source, now: Instant, packet: &RtpPacket<'_>) -> bool {
    if source.ssrc != packet.ssrc {
        return true;
    }
    let delta = i64::from(packet.timestamp.wrapping_sub(source.expected) as i32);
    let nanos = now.saturating_duration_since(source.last_at).as_nanos();
    let elapsed = i64::try_from(nanos * u128::from(Codec::SAMPLE_RATE) / 1_000_000_000).unwrap_or(i64::MAX);
    delta < -JUMP_TOLERANCE || (delta - elapsed).abs() > JUMP_TOLERANCE
}

/// The later of two RTP timestamps (modulo 2^32).
fn later(a: u32, b: u32) -> u32 {
    if (b.wrapping_sub(a) as i32) > 0 { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::write_rtp_header;

    fn packet(buf: &mut Vec<u8>, ssrc: u32, ts: u32, payload: &[u8]) {
        buf.clear();
        buf.resize(12, 0);
        write_rtp_header(buf, false, 0, 1, ts, ssrc);
        buf.extend_from_slice(payload);
    }

    fn run(relay: &mut Relay, now: Instant, ssrc: u32, ts: u32, payload: &[u8], free: u32) -> Vec<(bool, u32, Vec<u8>)> {
        let mut bytes = Vec::new();
        packet(&mut bytes, ssrc, ts, payload);
        let p = RtpPacket::parse(&bytes).expect("valid");
        let mut got = Vec::new();
        relay.push_audio(now, &p, free, &mut |f: Frame<'_>| got.push((f.marker, f.timestamp, f.payload.to_vec())));
        got
    }

    #[test]
    fn twenty_ms_packets_become_thirty_ms_frames_with_continuous_timestamps() {
        let t0 = Instant::now();
        let mut r = Relay::new(Codec::Pcmu, Codec::Pcmu, 240);
        let ms = |n| t0 + Duration::from_millis(n);
        assert!(run(&mut r, t0, 7, 1000, &[1; 160], 50_000).is_empty());
        assert_eq!(r.flush_deadline(), Some(t0 + Duration::from_millis(90)));
        let a = run(&mut r, ms(20), 7, 1160, &[2; 160], 0);
        assert_eq!(a.len(), 1);
        assert_eq!((a[0].0, a[0].1), (true, 50_000));
        assert_eq!(a[0].2, [vec![1; 160], vec![2; 80]].concat());
        let b = run(&mut r, ms(40), 7, 1320, &[3; 160], 0);
        assert_eq!((b[0].0, b[0].1, b[0].2.len()), (false, 50_240, 240));
        assert_eq!(r.flush_deadline(), None);
    }

    #[test]
    fn a_partial_frame_goes_out_short_when_the_source_stops() {
        let t0 = Instant::now();
        let mut r = Relay::new(Codec::Pcma, Codec::Pcmu, 240);
        run(&mut r, t0, 7, 0, &[0xD5; 160], 100);
        let mut got = Vec::new();
        r.flush_due(t0 + Duration::from_millis(89), &mut |f: Frame<'_>| got.push(f.payload.len()));
        assert!(got.is_empty());
        r.flush_due(t0 + Duration::from_millis(90), &mut |f: Frame<'_>| got.push(f.payload.len()));
        assert_eq!(got, [160]);
        assert_eq!(r.stats.transcoded, 1);
    }

    #[test]
    fn a_clock_restart_without_ssrc_change_re_anchors_but_silence_suppression_does_not() {
        let t0 = Instant::now();
        let mut r = Relay::new(Codec::Pcmu, Codec::Pcmu, 160);
        run(&mut r, t0, 7, 1000, &[1; 160], 500);
        // Five seconds of silence suppression: the gap passes through.
        let after_dtx = run(&mut r, t0 + Duration::from_secs(5), 7, 1160 + 40_000, &[1; 160], 99_999);
        assert_eq!(after_dtx[0].1, 500 + 160 + 40_000);
        // The same SSRC jumps by an hour's worth of samples 20 ms later.
        let restarted = run(&mut r, t0 + Duration::from_millis(5020), 7, 3_000_000_000, &[1; 160], 77_000);
        assert_eq!((restarted[0].0, restarted[0].1), (true, 77_000));
        assert_eq!((r.stats.resyncs, r.stats.gaps), (1, 1));
    }
}
