//! The message recorder behind the dialplan's `record` node: "leave a
//! message after the tone".
//!
//! Owns: one recording's 8 kHz 16-bit samples, placed by RTP timestamp;
//! the decision to end it (maximum length, silence after speech, nothing
//! said at all, a stop request); the beep played before it; and the WAV
//! encoding of the result. [`crate::call::MediaCall::start_recording`] plays
//! the beep and feeds the recorder; this module never sends anything.
//!
//! Must never: read the clock or files, panic on any packet, or grow past
//! the maximum length (memory is bounded by the configuration, whatever
//! the peer sends).
//!
//! ## Placing audio
//! The first packet is placed at the current end of the recording; each
//! later packet of the same stream at `first position + (timestamp - first
//! timestamp)`. A forward jump is a gap filled with silence and remembered
//! as a hole; a packet that arrives late into a remembered hole is written
//! into it (reordering repaired); any other packet behind the end is a
//! duplicate and ignored. A new SSRC or a timestamp that disagrees with the
//! arrival time by more than a second re-anchors at the end. When no audio
//! arrives at all, [`Recorder::handle_timeout`] pads with silence up to the
//! wallclock (less [`JITTER_ALLOWANCE`]), so that a phone that stops sending
//! still ends the recording by silence or length.
//!
//! ## Ending
//! Energy per 20 ms block with hysteresis: a block above
//! `speech_dbfs` is loud, below `quiet_dbfs` is quiet, in between keeps the
//! current state. Speech has started after [`SPEECH_ONSET_BLOCKS`] loud
//! blocks in a row. After that, `silence` of continuous quiet ends it with
//! [`RecordingEnd::Silence`] and the trailing quiet is trimmed to
//! [`KEPT_TRAILING_SILENCE`]. Before it, `silence + no_speech_grace` of
//! recording ends it with [`RecordingEnd::NoSpeech`]. `max_length` (at most
//! [`MAX_RECORDING`]) cuts it at exactly that many samples.

use std::f64::consts::PI;
use std::time::{Duration, Instant};

use crate::dtmf::DtmfDigit;
use crate::prompt::Prompt;
use crate::{Codec, g711};

/// Samples per analysis block (20 ms).
pub const BLOCK: usize = 160;
/// Loud blocks in a row that make speech (60 ms: a click is not speech).
pub const SPEECH_ONSET_BLOCKS: u32 = 3;
/// Trailing silence kept after the last speech when silence ends it.
pub const KEPT_TRAILING_SILENCE: Duration = Duration::from_millis(300);
/// How far behind the wallclock the recording may lag before missing audio
/// is padded with silence (packets in flight, the peer's jitter).
pub const JITTER_ALLOWANCE: Duration = Duration::from_millis(200);
/// The longest recording kept whatever `max_length` says (9.6 MB of
/// samples): a message line, not a call recorder.
pub const MAX_RECORDING: Duration = Duration::from_secs(600);
/// Holes remembered for late packets.
const HOLES: usize = 8;
/// A timestamp this far (1 s in 8 kHz units) from the arrival time is a new
/// stream.
const JUMP_TOLERANCE: i64 = 8000;

/// The tone before the recording.
#[derive(Debug, Clone, PartialEq)]
pub struct BeepConfig {
    pub frequency_hz: f64,
    pub duration: Duration,
    pub level_dbfs: f64,
}

impl Default for BeepConfig {
    /// 1 kHz for 250 ms at -12 dBFS.
    fn default() -> Self {
        BeepConfig { frequency_hz: 1000.0, duration: Duration::from_millis(250), level_dbfs: -12.0 }
    }
}

/// One `record` node's parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordConfig {
    /// Played to the caller before recording starts; `None`: no beep.
    pub beep: Option<BeepConfig>,
    pub max_length: Duration,
    /// Continuous quiet after speech that ends the message.
    pub silence: Duration,
    /// With nothing said at all, the recording ends after
    /// `silence + no_speech_grace`.
    pub no_speech_grace: Duration,
    /// A block louder than this is speech (default -36 dBFS).
    pub speech_dbfs: f64,
    /// A block quieter than this is silence (default -42 dBFS).
    pub quiet_dbfs: f64,
    /// The key that ends the message in the media path itself (default
    /// `#`); the engine may also call `stop_recording`.
    pub stop_digit: Option<DtmfDigit>,
}

impl Default for RecordConfig {
    fn default() -> Self {
        RecordConfig {
            beep: Some(BeepConfig::default()),
            max_length: Duration::from_secs(120),
            silence: Duration::from_secs(3),
            no_speech_grace: Duration::from_secs(2),
            speech_dbfs: -36.0,
            quiet_dbfs: -42.0,
            stop_digit: Some(DtmfDigit::Hash),
        }
    }
}

/// Why a recording ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordingEnd {
    /// `silence` of quiet after the caller spoke.
    Silence,
    /// Nothing was said for `silence + no_speech_grace`.
    NoSpeech,
    MaxLength,
    /// The configured stop key.
    Digit(DtmfDigit),
    /// The engine stopped it (its own `#` handling, a hang-up).
    Stopped,
}

/// A finished recording: 8 kHz, mono, 16-bit linear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recording {
    pub samples: Vec<i16>,
    pub end: RecordingEnd,
    pub speech_detected: bool,
}

impl Recording {
    pub fn duration(&self) -> Duration {
        samples_to_duration(self.samples.len())
    }

    /// The recording as a WAV file (see [`wav_bytes`]).
    pub fn to_wav(&self) -> Vec<u8> {
        wav_bytes(&self.samples)
    }
}

/// Packets and repairs, for tests and call records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecorderStats {
    pub packets: u64,
    pub duplicates_ignored: u64,
    /// Silence samples inserted for gaps and missing audio.
    pub gap_samples: u64,
    /// Late packets written into a hole.
    pub holes_repaired: u64,
    pub restarts: u64,
}

#[derive(Debug, Clone, Copy)]
struct Anchor {
    ssrc: u32,
    timestamp: u32,
    position: usize,
    /// Source timestamp just past the last packet placed, and when.
    expected: u32,
    last_at: Instant,
}

#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    max_samples: usize,
    silence_samples: usize,
    no_speech_samples: usize,
    speech_level: u64,
    quiet_level: u64,
    samples: Vec<i16>,
    anchor: Option<Anchor>,
    holes: [Option<(usize, usize)>; HOLES],
    next_hole: usize,
    analysed: usize,
    loud_run: u32,
    speaking: bool,
    speech_detected: bool,
    /// Position where the current quiet run began (after speech).
    quiet_from: Option<usize>,
    finished: Option<Recording>,
    done: bool,
    stats: RecorderStats,
}

impl Recorder {
    /// Recording starts at `now` (the beep, if any, is over).
    pub fn new(config: &RecordConfig, now: Instant) -> Recorder {
        let max_samples = duration_to_samples(config.max_length.min(MAX_RECORDING));
        let silence_samples = duration_to_samples(config.silence).max(BLOCK);
        Recorder {
            start: now,
            max_samples,
            silence_samples,
            no_speech_samples: silence_samples.saturating_add(duration_to_samples(config.no_speech_grace)),
            speech_level: mean_square_at(config.speech_dbfs),
            quiet_level: mean_square_at(config.quiet_dbfs),
            samples: Vec::with_capacity(max_samples.min(8000 * 30)),
            anchor: None,
            holes: [None; HOLES],
            next_hole: 0,
            analysed: 0,
            loud_run: 0,
            speaking: false,
            speech_detected: false,
            quiet_from: None,
            finished: None,
            done: false,
            stats: RecorderStats::default(),
        }
    }

    /// One audio packet's payload in `codec`, with its RTP SSRC and
    /// timestamp.
    pub fn handle_audio(&mut self, now: Instant, codec: Codec, ssrc: u32, timestamp: u32, payload: &[u8]) {
        if self.done || payload.is_empty() {
            return;
        }
        self.stats.packets += 1;
        let anchor = match self.anchor {
            Some(a) if !restarted(&a, now, ssrc, timestamp) => a,
            previous => {
                self.stats.restarts += u64::from(previous.is_some());
                let fresh = Anchor { ssrc, timestamp, position: self.samples.len(), expected: timestamp, last_at: now };
                self.anchor = Some(fresh);
                fresh
            }
        };
        let offset = timestamp.wrapping_sub(anchor.timestamp) as i32;
        let Ok(offset) = usize::try_from(offset) else {
            self.stats.duplicates_ignored += 1; // before the anchor: very late
            return;
        };
        let position = anchor.position.saturating_add(offset);
        if timestamp.wrapping_sub(anchor.expected) as i32 >= 0 {
            self.anchor = Some(Anchor { expected: timestamp.wrapping_add(payload.len() as u32), last_at: now, ..anchor });
        }
        self.place(codec, position, payload);
        self.analyse();
    }

    /// Pads missing audio up to the wallclock and applies the limits.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.done {
            return;
        }
        let behind = now.saturating_duration_since(self.start).saturating_sub(JITTER_ALLOWANCE);
        let target = duration_to_samples(behind).min(self.max_samples);
        if target > self.samples.len() {
            let from = self.samples.len();
            self.pad_to(target);
            self.remember_hole(from, target);
        }
        self.analyse();
    }

    /// Ends the recording now (a key, the engine, a hang-up).
    pub fn stop(&mut self, end: RecordingEnd) {
        if !self.done {
            self.finish(self.samples.len(), end);
        }
    }

    /// The finished recording, once.
    pub fn poll_finished(&mut self) -> Option<Recording> {
        self.finished.take()
    }

    pub fn is_done(&self) -> bool {
        self.done
    }

    /// When [`handle_timeout`](Self::handle_timeout) would pad the next
    /// block of missing audio.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.done {
            return None;
        }
        Some(self.start + samples_to_duration(self.samples.len() + BLOCK) + JITTER_ALLOWANCE)
    }

    pub fn stats(&self) -> RecorderStats {
        self.stats
    }

    fn place(&mut self, codec: Codec, position: usize, payload: &[u8]) {
        let end = self.samples.len();
        if position >= end {
            let start = position.min(self.max_samples);
            if start > end {
                self.pad_to(start);
                self.remember_hole(end, start);
            }
            let room = self.max_samples - self.samples.len();
            let take = payload.get(..payload.len().min(room)).unwrap_or_default();
            self.samples.extend(take.iter().map(|&b| g711::decode(codec, b)));
            return;
        }
        let span = (position, position + payload.len());
        if let Some(i) = self.holes.iter().position(|h| h.is_some_and(|(a, b)| a <= span.0 && span.1 <= b)) {
            if let Some(dst) = self.samples.get_mut(span.0..span.1) {
                g711::decode_into(codec, payload, dst);
            }
            self.split_hole(i, span);
            self.stats.holes_repaired += 1;
            return;
        }
        // Behind the end and not into a hole: a duplicate, or overlapping
        // the end (only the new part is kept).
        let new_part = payload.get(end - position..).unwrap_or_default();
        if new_part.is_empty() {
            self.stats.duplicates_ignored += 1;
        } else {
            let room = self.max_samples - self.samples.len();
            let take = new_part.get(..new_part.len().min(room)).unwrap_or_default();
            self.samples.extend(take.iter().map(|&b| g711::decode(codec, b)));
        }
    }

    fn pad_to(&mut self, len: usize) {
        let n = len.saturating_sub(self.samples.len());
        self.stats.gap_samples += n as u64;
        self.samples.resize(len, 0);
    }

    fn remember_hole(&mut self, from: usize, to: usize) {
        if let Some(slot) = self.holes.get_mut(self.next_hole) {
            *slot = Some((from, to));
        }
        self.next_hole = (self.next_hole + 1) % HOLES;
    }

    fn split_hole(&mut self, i: usize, (a, b): (usize, usize)) {
        let Some(Some((from, to))) = self.holes.get(i).copied() else { return };
        self.holes[i] = (from < a).then_some((from, a));
        if b < to {
            self.remember_hole(b, to);
        }
    }

    /// Runs the level detector over every complete new block; ends the
    /// recording at the first block that decides it.
    fn analyse(&mut self) {
        while !self.done && self.analysed + BLOCK <= self.samples.len() {
            let block = self.samples.get(self.analysed..self.analysed + BLOCK).unwrap_or_default();
            let level = block.iter().map(|&s| i64::from(s).pow(2) as u64).sum::<u64>() / BLOCK as u64;
            self.analysed += BLOCK;
            if level > self.speech_level {
                self.loud_run += 1;
                if self.loud_run >= SPEECH_ONSET_BLOCKS {
                    self.speaking = true;
                    self.speech_detected = true;
                }
            } else {
                self.loud_run = 0;
                if level < self.quiet_level {
                    self.speaking = false;
                }
            }
            if self.speaking {
                self.quiet_from = None;
            } else if self.speech_detected && self.loud_run == 0 {
                let from = *self.quiet_from.get_or_insert(self.analysed - BLOCK);
                if self.analysed - from >= self.silence_samples {
                    let keep = from + duration_to_samples(KEPT_TRAILING_SILENCE);
                    self.finish(keep.min(self.analysed), RecordingEnd::Silence);
                }
            }
            if !self.speech_detected && !self.done && self.analysed >= self.no_speech_samples {
                self.finish(self.analysed, RecordingEnd::NoSpeech);
            }
        }
        if !self.done && self.samples.len() >= self.max_samples {
            self.finish(self.max_samples, RecordingEnd::MaxLength);
        }
    }

    fn finish(&mut self, len: usize, end: RecordingEnd) {
        self.done = true;
        let mut samples = std::mem::take(&mut self.samples);
        samples.truncate(len);
        self.finished = Some(Recording { samples, end, speech_detected: self.speech_detected });
    }
}

/// Whether a packet belongs to another stream than the anchored one.
fn restarted(anchor: &Anchor, now: Instant, ssrc: u32, timestamp: u32) -> bool {
    if anchor.ssrc != ssrc {
        return true;
    }
    let delta = i64::from(timestamp.wrapping_sub(anchor.expected) as i32);
    let elapsed = i64::try_from(duration_to_samples(now.saturating_duration_since(anchor.last_at))).unwrap_or(i64::MAX);
    delta < -JUMP_TOLERANCE || (delta - elapsed).abs() > JUMP_TOLERANCE
}

/// The longest beep we generate, whatever the configuration says.
pub const MAX_BEEP: Duration = Duration::from_secs(2);

/// The beep as a prompt: a sine at the configured frequency and level, with
/// 5 ms raised-cosine ramps so that it starts and stops without a click.
pub fn beep_prompt(beep: &BeepConfig) -> Prompt {
    let n = duration_to_samples(beep.duration.min(MAX_BEEP));
    let amplitude = 32767.0 * 10f64.powf(beep.level_dbfs.min(0.0) / 20.0);
    let ramp = (n / 2).min(40);
    let samples: Vec<i16> = (0..n)
        .map(|i| {
            let edge = i.min(n - 1 - i);
            let gain = if edge < ramp { 0.5 - 0.5 * (PI * edge as f64 / ramp as f64).cos() } else { 1.0 };
            let phase = 2.0 * PI * beep.frequency_hz * i as f64 / f64::from(Codec::SAMPLE_RATE);
            (amplitude * gain * phase.sin()).round() as i16
        })
        .collect();
    Prompt::from_pcm_8k("beep", &samples)
}

/// A WAV file (RIFF, PCM format 1, 8 kHz, mono, 16-bit little-endian) of
/// `samples`. A recording longer than a RIFF size can state (over 74 hours)
/// is cut at that size.
pub fn wav_bytes(samples: &[i16]) -> Vec<u8> {
    const HEADER: usize = 44;
    let max_samples = (u32::MAX as usize - HEADER) / 2;
    let samples = samples.get(..samples.len().min(max_samples)).unwrap_or_default();
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(HEADER + samples.len() * 2);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes()); // fmt chunk size
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&Codec::SAMPLE_RATE.to_le_bytes());
    out.extend_from_slice(&(Codec::SAMPLE_RATE * 2).to_le_bytes()); // byte rate
    out.extend_from_slice(&2u16.to_le_bytes()); // block align
    out.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

fn duration_to_samples(d: Duration) -> usize {
    usize::try_from(d.as_micros() * u128::from(Codec::SAMPLE_RATE) / 1_000_000).unwrap_or(usize::MAX)
}

fn samples_to_duration(n: usize) -> Duration {
    Duration::from_micros(n as u64 * 1_000_000 / u64::from(Codec::SAMPLE_RATE))
}

/// The mean square of 16-bit samples whose RMS is `dbfs` below full scale.
fn mean_square_at(dbfs: f64) -> u64 {
    let rms = 32768.0 * 10f64.powf(dbfs.min(0.0) / 20.0);
    (rms * rms) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_beep_is_a_quarter_second_of_1_khz_without_clicks() {
        let beep = beep_prompt(&BeepConfig::default());
        assert_eq!(beep.duration(), Duration::from_millis(250));
        let pcm: Vec<i16> = beep.payload(Codec::Pcmu).iter().map(|&b| g711::ulaw_to_linear(b)).collect();
        assert!(pcm[0].abs() < 100 && pcm[pcm.len() - 1].abs() < 100);
        let peak = pcm.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
        assert!((7800..=8400).contains(&peak), "-12 dBFS peak: {peak}");
    }

    #[test]
    fn extreme_configurations_neither_panic_nor_allocate_without_bound() {
        let t0 = Instant::now();
        let config = RecordConfig {
            beep: Some(BeepConfig { frequency_hz: f64::NAN, duration: Duration::MAX, level_dbfs: f64::INFINITY }),
            max_length: Duration::MAX,
            silence: Duration::MAX,
            no_speech_grace: Duration::MAX,
            speech_dbfs: f64::NAN,
            quiet_dbfs: -1000.0,
            stop_digit: None,
        };
        assert_eq!(beep_prompt(config.beep.as_ref().expect("set")).duration(), MAX_BEEP);
        let mut r = Recorder::new(&config, t0);
        r.handle_audio(t0, Codec::Pcmu, 1, 0, &[0x80; 160]);
        r.handle_timeout(t0 + Duration::from_secs(3600));
        let capped = r.poll_finished().expect("capped at MAX_RECORDING");
        assert_eq!((capped.end, capped.duration()), (RecordingEnd::MaxLength, MAX_RECORDING));
        let mut empty = Recorder::new(&RecordConfig { max_length: Duration::ZERO, ..RecordConfig::default() }, t0);
        empty.handle_timeout(t0);
        assert_eq!(empty.poll_finished().map(|r| (r.end, r.samples.len())), Some((RecordingEnd::MaxLength, 0)));
    }

    #[test]
    fn thresholds_follow_the_decibels() {
        assert_eq!(mean_square_at(0.0), 32768 * 32768);
        assert!(mean_square_at(-36.0) > mean_square_at(-42.0));
        assert_eq!(duration_to_samples(Duration::from_millis(20)), 160);
    }
}
