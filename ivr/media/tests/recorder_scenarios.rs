//! "Leave a message after the tone": the recorder alone and inside a
//! `MediaCall`, on a simulated clock with real RTP packets.

mod support;

use std::io::Cursor;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use ivr_media::Codec;
use ivr_media::call::{MediaCall, MediaConfig, MediaEvent, Transmit};
use ivr_media::dtmf::rfc4733::TelephoneEvent;
use ivr_media::dtmf::{DtmfDigit, DtmfMethod};
use ivr_media::g711;
use ivr_media::recorder::{BeepConfig, RecordConfig, Recorder, Recording, RecordingEnd, beep_prompt, wav_bytes};
use ivr_media::rtp::{RtpPacket, write_rtp_header};
use ivr_media::session::SessionConfig;

const MS20: Duration = Duration::from_millis(20);
const TE_PT: u8 = 101;

fn peer() -> SocketAddr {
    "192.0.2.10:40000".parse().expect("literal address")
}

/// 20 ms of a 300 Hz tone at about -20 dBFS (speech-loud), frame `n`.
fn speech(codec: Codec, n: usize) -> Vec<u8> {
    (0..160)
        .map(|i| {
            let t = (n * 160 + i) as f64 / 8000.0;
            g711::encode(codec, (3000.0 * (2.0 * std::f64::consts::PI * 300.0 * t).sin()) as i16)
        })
        .collect()
}

fn decoded(codec: Codec, bytes: &[u8]) -> Vec<i16> {
    bytes.iter().map(|&b| g711::decode(codec, b)).collect()
}

struct Sim {
    call: MediaCall,
    now: Instant,
    sent: Vec<(Instant, Vec<u8>)>,
    events: Vec<MediaEvent>,
    seq: u16,
    ts: u32,
}

impl Sim {
    fn new() -> Sim {
        let mut session = SessionConfig::new(Codec::Pcmu, peer());
        session.telephone_event_pt = Some(TE_PT);
        let mut config = MediaConfig::new(session);
        config.inband_dtmf = false;
        let now = Instant::now();
        let call = MediaCall::new(config, &mut fastrand::Rng::with_seed(3), now, SystemTime::UNIX_EPOCH);
        Sim { call, now, sent: Vec::new(), events: Vec::new(), seq: 1, ts: 0 }
    }

    fn drain(&mut self) {
        self.call.handle_timeout(self.now);
        let mut buf = vec![0u8; self.call.transmit_buffer_len()];
        while let Some(t) = self.call.poll_transmit(self.now, &mut buf) {
            if let Transmit::Rtp { len, .. } = t {
                self.sent.push((self.now, buf[..len].to_vec()));
            }
        }
        while let Some(e) = self.call.poll_event() {
            self.events.push(e);
        }
    }

    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        support::run_until(self.now, until, |now| {
            self.now = now;
            self.drain();
            self.call.poll_timeout()
        });
    }

    /// The caller's phone sends one 20 ms audio packet, then 20 ms pass.
    fn talk(&mut self, payload: &[u8]) {
        self.packet(0, self.ts, payload);
        self.ts = self.ts.wrapping_add(160);
        self.advance(MS20);
    }

    fn packet(&mut self, pt: u8, ts: u32, payload: &[u8]) {
        let mut bytes = vec![0u8; 12 + payload.len()];
        write_rtp_header(&mut bytes, false, pt, self.seq, ts, 0xCA11);
        bytes[12..].copy_from_slice(payload);
        self.seq = self.seq.wrapping_add(1);
        self.call.handle_rtp(self.now, peer(), &bytes);
        self.drain();
    }

    /// Recording (no beep) with the caller having spoken `frames` x 20 ms.
    fn talking(frames: usize) -> Sim {
        let mut sim = Sim::new();
        sim.call.start_recording(sim.now, RecordConfig { beep: None, ..RecordConfig::default() });
        for n in 0..frames {
            sim.talk(&speech(Codec::Pcmu, n));
        }
        sim
    }

    fn recording(&self) -> Option<&Recording> {
        self.events.iter().find_map(|e| match e {
            MediaEvent::RecordingFinished { recording } => Some(recording),
            _ => None,
        })
    }
}

#[test]
fn beep_then_speech_then_silence_ends_the_message_at_the_silence() {
    let mut sim = Sim::new();
    sim.call.start_recording(sim.now, RecordConfig::default());
    assert!(sim.call.is_recording());
    sim.advance(Duration::from_millis(260));
    // The beep went out first, whole, in the call's law.
    let beep = beep_prompt(&BeepConfig::default());
    let heard: Vec<u8> = sim.sent.iter().flat_map(|(_, p)| RtpPacket::parse(p).expect("valid").payload.to_vec()).collect();
    assert_eq!(&heard[..2000], beep.payload(Codec::Pcmu));
    assert!(sim.events.is_empty(), "the beep's end is not a PlaybackFinished: {:?}", sim.events);
    let mut said = Vec::new();
    for n in 0..50 {
        let frame = speech(Codec::Pcmu, n);
        said.extend(decoded(Codec::Pcmu, &frame));
        sim.talk(&frame);
    }
    for _ in 0..200 {
        sim.talk(&[0xFF; 160]);
        if sim.recording().is_some() {
            break;
        }
    }
    let rec = sim.recording().expect("silence ended the recording");
    assert_eq!(rec.end, RecordingEnd::Silence);
    assert!(rec.speech_detected);
    assert_eq!(&rec.samples[..8000], &said[..], "one second of speech, sample for sample");
    assert_eq!(rec.samples.len(), 8000 + 2400, "the trailing silence is trimmed to 300 ms");
    assert!(rec.samples[8000..].iter().all(|&s| s == 0));
    assert!(!sim.call.is_recording());
}

#[test]
fn the_maximum_length_cuts_the_message_exactly() {
    let mut sim = Sim::new();
    let config = RecordConfig { beep: None, max_length: Duration::from_secs(2), ..RecordConfig::default() };
    sim.call.start_recording(sim.now, config);
    for n in 0..150 {
        sim.talk(&speech(Codec::Pcmu, n));
    }
    let rec = sim.recording().expect("ended");
    assert_eq!((rec.end, rec.samples.len()), (RecordingEnd::MaxLength, 16_000));
    assert_eq!(rec.duration(), Duration::from_secs(2));
}

fn press(sim: &mut Sim, digit: DtmfDigit, ts: u32) {
    for (i, end) in [false, false, true, true, true].into_iter().enumerate() {
        let te = TelephoneEvent { event: digit.event_code(), end, volume: 10, duration: 160 * (i as u16 + 1) };
        sim.packet(TE_PT, ts, &te.to_bytes());
    }
}

#[test]
fn the_hash_key_ends_the_message_after_reporting_the_digit() {
    let mut sim = Sim::talking(25);
    let ts = sim.ts;
    press(&mut sim, DtmfDigit::Hash, ts);
    assert_eq!(sim.events[0], MediaEvent::Digit { digit: DtmfDigit::Hash, method: DtmfMethod::Rfc4733 });
    let rec = sim.recording().expect("ended by the key");
    assert_eq!((rec.end, rec.samples.len()), (RecordingEnd::Digit(DtmfDigit::Hash), 4000));
    assert_eq!(sim.events.len(), 2);
}

#[test]
fn the_engine_can_stop_a_recording_and_other_keys_do_not() {
    let mut sim = Sim::talking(10);
    let ts = sim.ts;
    press(&mut sim, DtmfDigit::D1, ts);
    assert!(sim.recording().is_none());
    sim.call.stop_recording(sim.now);
    sim.drain();
    let rec = sim.recording().expect("stopped");
    assert_eq!((rec.end, rec.samples.len()), (RecordingEnd::Stopped, 1600));
    // Stopping again is a no-op.
    sim.call.stop_recording(sim.now);
    sim.drain();
    assert_eq!(sim.events.iter().filter(|e| matches!(e, MediaEvent::RecordingFinished { .. })).count(), 1);
}

#[test]
fn nothing_said_ends_after_the_silence_plus_the_grace() {
    let mut sim = Sim::new();
    sim.call.start_recording(sim.now, RecordConfig { beep: None, ..RecordConfig::default() });
    for _ in 0..300 {
        sim.talk(&[0xFF; 160]);
    }
    let rec = sim.recording().expect("ended");
    assert_eq!((rec.end, rec.speech_detected, rec.samples.len()), (RecordingEnd::NoSpeech, false, 5 * 8000));
}

#[test]
fn a_phone_that_stops_sending_after_speaking_is_ended_by_the_silence_it_leaves() {
    let mut sim = Sim::talking(25);
    sim.advance(Duration::from_secs(2));
    assert!(sim.recording().is_none(), "200 ms allowance + 3 s of silence not yet over");
    sim.advance(Duration::from_millis(1300));
    let rec = sim.recording().expect("padded silence ended it");
    assert_eq!((rec.end, rec.samples.len()), (RecordingEnd::Silence, 4000 + 2400));
}

#[test]
fn stopping_during_the_beep_gives_an_empty_recording() {
    let mut sim = Sim::new();
    sim.call.start_recording(sim.now, RecordConfig::default());
    sim.advance(Duration::from_millis(100));
    sim.call.stop_recording(sim.now);
    sim.drain();
    let rec = sim.recording().expect("stopped");
    assert!(rec.samples.is_empty());
    assert!(!sim.call.is_playing());
}

// The recorder alone: where packets land.

fn recorder() -> (Recorder, Instant) {
    let t0 = Instant::now();
    (Recorder::new(&RecordConfig { beep: None, ..RecordConfig::default() }, t0), t0)
}

#[test]
fn lost_packets_become_silence_and_a_late_one_fills_its_hole() {
    let (mut r, t0) = recorder();
    let at = |n: u64| t0 + MS20 * n as u32;
    let frame = |v: u8| vec![v; 160];
    r.handle_audio(at(0), Codec::Pcma, 5, 1000, &frame(0x10));
    r.handle_audio(at(3), Codec::Pcma, 5, 1480, &frame(0x40)); // 1160 and 1320 missing
    r.handle_audio(at(3), Codec::Pcma, 5, 1320, &frame(0x30)); // one arrives late
    r.handle_audio(at(3), Codec::Pcma, 5, 1320, &frame(0x30)); // and again
    r.handle_audio(at(3), Codec::Pcma, 5, 1000, &frame(0x10)); // an old duplicate
    r.stop(RecordingEnd::Stopped);
    let rec = r.poll_finished().expect("stopped");
    let v = |code: u8| g711::alaw_to_linear(code);
    let expected: Vec<i16> =
        [vec![v(0x10); 160], vec![0; 160], vec![v(0x30); 160], vec![v(0x40); 160]].concat();
    assert_eq!(rec.samples, expected);
    let stats = r.stats();
    assert_eq!((stats.gap_samples, stats.holes_repaired, stats.duplicates_ignored), (320, 1, 2));
    assert!(r.poll_finished().is_none(), "delivered once");
}

#[test]
fn a_new_ssrc_continues_at_the_end_without_a_gap() {
    let (mut r, t0) = recorder();
    r.handle_audio(t0, Codec::Pcmu, 1, 50, &[0x80; 160]);
    r.handle_audio(t0 + MS20, Codec::Pcmu, 2, 3_000_000_000, &[0x81; 160]);
    r.stop(RecordingEnd::Stopped);
    let rec = r.poll_finished().expect("stopped");
    assert_eq!(rec.samples.len(), 320);
    assert_eq!(r.stats().restarts, 1);
}

#[test]
fn the_wav_file_is_8_khz_mono_16_bit_pcm_and_reads_back() {
    let samples: Vec<i16> = (0..8000).map(|i| ((i * 37) % 65536 - 32768) as i16).collect();
    let wav = wav_bytes(&samples);
    assert_eq!(wav.len(), 44 + 16_000);
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(u32::from_le_bytes([wav[4], wav[5], wav[6], wav[7]]), 36 + 16_000);
    let mut reader = hound::WavReader::new(Cursor::new(wav)).expect("a valid WAV");
    let spec = reader.spec();
    assert_eq!((spec.channels, spec.sample_rate, spec.bits_per_sample), (1, 8000, 16));
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    let back: Vec<i16> = reader.samples::<i16>().collect::<Result<_, _>>().expect("samples");
    assert_eq!(back, samples);
    let empty = hound::WavReader::new(Cursor::new(wav_bytes(&[]))).expect("an empty WAV is valid");
    assert_eq!(empty.len(), 0);
}

#[test]
fn any_packets_never_panic_and_never_exceed_the_maximum() {
    let mut rng = fastrand::Rng::with_seed(11);
    let t0 = Instant::now();
    let config = RecordConfig { beep: None, max_length: Duration::from_secs(1), ..RecordConfig::default() };
    for _ in 0..50 {
        let mut r = Recorder::new(&config, t0);
        let mut now = t0;
        for _ in 0..200 {
            let payload: Vec<u8> = (0..rng.usize(0..400)).map(|_| rng.u8(..)).collect();
            let ts = if rng.bool() { rng.u32(..) } else { rng.u32(0..20_000) };
            r.handle_audio(now, Codec::Pcmu, rng.u32(0..3), ts, &payload);
            now += Duration::from_millis(rng.u64(0..40));
            r.handle_timeout(now);
        }
        r.stop(RecordingEnd::Stopped);
        if let Some(rec) = r.poll_finished() {
            assert!(rec.samples.len() <= 8000);
        }
    }
}
