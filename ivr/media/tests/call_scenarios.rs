//! `MediaCall` on a simulated clock: what the caller hears and which digits
//! the dialplan sees, as specifications.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ivr_media::Codec;
use ivr_media::call::{MediaCall, MediaConfig, MediaEvent, Transmit};
use ivr_media::dtmf::rfc4733::TelephoneEvent;
use ivr_media::dtmf::{DtmfDigit, DtmfMethod};
use ivr_media::g711;
use ivr_media::prompt::Prompt;
use ivr_media::rtp::{RtpPacket, write_rtp_header};
use ivr_media::session::SessionConfig;

const TE_PT: u8 = 101;
const MS20: Duration = Duration::from_millis(20);

fn peer() -> SocketAddr {
    "192.0.2.10:40000".parse().expect("literal address")
}

struct Sim {
    call: MediaCall,
    t0: Instant,
    now: Instant,
    /// (time, RTP packet bytes) of everything we sent.
    rtp: Vec<(Instant, Vec<u8>)>,
    rtcp: usize,
    events: Vec<MediaEvent>,
    peer_seq: u16,
}

impl Sim {
    fn new(codec: Codec, inband: bool) -> Sim {
        let mut session = SessionConfig::new(codec, peer());
        session.telephone_event_pt = Some(TE_PT);
        let mut config = MediaConfig::new(session);
        config.inband_dtmf = inband;
        let t0 = Instant::now();
        let mut rng = fastrand::Rng::with_seed(12);
        let call = MediaCall::new(config, &mut rng, t0, SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000));
        Sim { call, t0, now: t0, rtp: Vec::new(), rtcp: 0, events: Vec::new(), peer_seq: 1000 }
    }

    fn drain(&mut self) {
        let mut buf = vec![0u8; self.call.transmit_buffer_len()];
        while let Some(t) = self.call.poll_transmit(self.now, &mut buf) {
            match t {
                Transmit::Rtp { to, len } => {
                    assert_eq!(to, peer());
                    self.rtp.push((self.now, buf[..len].to_vec()));
                }
                Transmit::Rtcp { .. } => self.rtcp += 1,
            }
        }
        while let Some(e) = self.call.poll_event() {
            self.events.push(e);
        }
    }

    /// Runs the shell's loop: jump to each deadline up to `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            self.call.handle_timeout(self.now);
            self.drain();
            let next = self.call.poll_timeout();
            assert!(next > self.now, "poll_timeout must move forward once drained");
            if next > until {
                break;
            }
            self.now = next;
        }
        self.now = until;
        self.call.handle_timeout(self.now);
        self.drain();
    }

    fn advance(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    fn deliver(&mut self, pt: u8, ts: u32, ssrc: u32, payload: &[u8]) {
        let mut bytes = vec![0u8; 12 + payload.len()];
        write_rtp_header(&mut bytes, false, pt, self.peer_seq, ts, ssrc);
        bytes[12..].copy_from_slice(payload);
        self.peer_seq = self.peer_seq.wrapping_add(1);
        self.call.handle_rtp(self.now, peer(), &bytes);
        self.drain();
    }

    fn payloads(&self) -> Vec<u8> {
        self.rtp.iter().flat_map(|(_, p)| RtpPacket::parse(p).expect("we send valid RTP").payload.to_vec()).collect()
    }

    fn digits(&self) -> Vec<(DtmfDigit, DtmfMethod)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                MediaEvent::Digit { digit, method } => Some((*digit, *method)),
                _ => None,
            })
            .collect()
    }
}

fn ramp_prompt(name: &str, samples: usize) -> Arc<Prompt> {
    let pcm: Vec<i16> = (0..samples).map(|i| ((i as f64 * 0.05).sin() * 8000.0) as i16).collect();
    Arc::new(Prompt::from_pcm_8k(name, &pcm))
}

#[test]
fn a_played_prompt_is_what_the_caller_receives_on_the_20_ms_grid() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut sim = Sim::new(codec, true);
        let a = ramp_prompt("you pressed", 4000);
        let b = ramp_prompt("five", 1000);
        sim.call.play([a.clone(), b.clone()], false);
        assert!(sim.call.is_playing());
        sim.advance(Duration::from_millis(700));
        // 5000 samples = 31.25 frames: the 32nd frame ends the playback.
        let expected = [a.payload(codec), b.payload(codec)].concat();
        let got = sim.payloads();
        assert_eq!(&got[..5000], &expected[..], "{codec:?}");
        assert!(got[5000..].iter().all(|&s| s == codec.silence_byte()));
        assert_eq!(sim.events, [MediaEvent::PlaybackFinished { interrupted: false }]);
        assert!(!sim.call.is_playing());
        // Grid: one packet per 20 ms from t0, timestamps +160, seq +1.
        assert_eq!(sim.rtp.len(), 36);
        let first = RtpPacket::parse(&sim.rtp[0].1).expect("valid");
        assert_eq!(first.payload_type, codec.payload_type());
        for (i, (at, bytes)) in sim.rtp.iter().enumerate() {
            let p = RtpPacket::parse(bytes).expect("valid");
            assert_eq!(*at, sim.t0 + MS20 * i as u32);
            assert_eq!(p.timestamp, first.timestamp.wrapping_add(160 * i as u32));
            assert_eq!(p.sequence, first.sequence.wrapping_add(i as u16));
            assert_eq!(p.payload.len(), 160);
        }
    }
}

#[test]
fn an_idle_call_keeps_sending_silence_on_the_grid() {
    let mut sim = Sim::new(Codec::Pcma, true);
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.rtp.len(), 101);
    assert!(sim.payloads().iter().all(|&b| b == 0xD5));
    assert!(sim.events.is_empty());
}

fn te(event: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent { event, end, volume: 10, duration }.to_bytes()
}

/// A press as telephone-events: start, updates, triple end, 20 ms apart.
fn send_rfc4733_press(sim: &mut Sim, event: u8, ts: u32, ssrc: u32) {
    for (end, dur) in [(false, 0), (false, 160), (false, 320), (true, 480), (true, 480), (true, 480)] {
        sim.deliver(TE_PT, ts, ssrc, &te(event, end, dur));
        sim.advance(MS20);
    }
}

#[test]
fn an_rfc4733_press_is_one_digit_even_on_another_ssrc() {
    let mut sim = Sim::new(Codec::Pcmu, true);
    sim.advance(Duration::from_millis(100));
    send_rfc4733_press(&mut sim, 5, 8000, 0xAAAA);
    send_rfc4733_press(&mut sim, 11, 16000, 0xBBBB);
    sim.advance(Duration::from_millis(100));
    assert_eq!(sim.digits(), [(DtmfDigit::D5, DtmfMethod::Rfc4733), (DtmfDigit::Hash, DtmfMethod::Rfc4733)]);
    assert_eq!(sim.call.counters().digits_rfc4733, 2);
}

#[test]
fn sipp_style_events_with_repeated_sequence_numbers_are_one_digit_per_press() {
    let mut sim = Sim::new(Codec::Pcmu, true);
    for (press, ts) in [(4u8, 1000u32), (4, 5000)] {
        for (end, dur) in [(false, 0), (false, 160), (true, 320), (true, 320), (true, 320)] {
            sim.peer_seq = 7; // every packet carries the same sequence number
            sim.deliver(TE_PT, ts, 0x0C0C, &te(press, end, dur));
            sim.advance(MS20);
        }
    }
    assert_eq!(sim.digits(), [(DtmfDigit::D4, DtmfMethod::Rfc4733); 2]);
}

fn tone_frames(codec: Codec, digit: DtmfDigit, ms: usize) -> Vec<Vec<u8>> {
    let freqs = ivr_media::dtmf::goertzel::FREQUENCIES;
    let (r, c) = digit.keypad_position();
    let (fl, fh) = (freqs[r] as f64, freqs[4 + c] as f64);
    let pcm: Vec<i16> = (0..ms * 8)
        .map(|n| {
            let t = n as f64 / 8000.0;
            (5000.0 * ((2.0 * std::f64::consts::PI * fl * t).sin() + (2.0 * std::f64::consts::PI * fh * t).sin())) as i16
        })
        .collect();
    let mut bytes = vec![0u8; pcm.len()];
    g711::encode_into(codec, &pcm, &mut bytes);
    bytes.chunks(160).map(|c| c.to_vec()).collect()
}

/// Sends 20 ms audio frames: `digit` tone for `ms` (None: silence).
fn send_audio(sim: &mut Sim, codec: Codec, ts: &mut u32, digit: Option<DtmfDigit>, ms: usize) {
    let frames = match digit {
        Some(d) => tone_frames(codec, d, ms),
        None => vec![vec![codec.silence_byte(); 160]; ms / 20],
    };
    for f in frames {
        sim.deliver(codec.payload_type(), *ts, 0x5151, &f);
        *ts = ts.wrapping_add(160);
        sim.advance(MS20);
    }
}

#[test]
fn an_inband_tone_in_the_audio_is_one_digit() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        let mut sim = Sim::new(codec, true);
        let mut ts = 0;
        send_audio(&mut sim, codec, &mut ts, None, 100);
        send_audio(&mut sim, codec, &mut ts, Some(DtmfDigit::D7), 120);
        send_audio(&mut sim, codec, &mut ts, None, 100);
        send_audio(&mut sim, codec, &mut ts, Some(DtmfDigit::D7), 60);
        send_audio(&mut sim, codec, &mut ts, None, 100);
        assert_eq!(sim.digits(), [(DtmfDigit::D7, DtmfMethod::InBand); 2], "{codec:?}");
    }
}

#[test]
fn inband_detection_can_be_configured_off() {
    let mut sim = Sim::new(Codec::Pcmu, false);
    let mut ts = 0;
    send_audio(&mut sim, Codec::Pcmu, &mut ts, Some(DtmfDigit::D7), 200);
    assert_eq!(sim.digits(), []);
}

#[test]
fn a_sip_info_digit_is_reported_as_such() {
    let mut sim = Sim::new(Codec::Pcmu, true);
    sim.call.handle_info_dtmf(DtmfDigit::Star);
    sim.drain();
    assert_eq!(sim.digits(), [(DtmfDigit::Star, DtmfMethod::SipInfo)]);
}

#[test]
fn a_phone_sending_both_rfc4733_and_the_tone_gives_one_digit_per_press() {
    let codec = Codec::Pcmu;
    let mut sim = Sim::new(codec, true);
    let mut ts = 0u32;
    let tones = tone_frames(codec, DtmfDigit::D3, 100);
    // Press 1: the tone and the events go out together, events first.
    for press in 0..2u32 {
        let event_ts = 40_000 + press * 8000;
        for (i, frame) in tones.iter().enumerate() {
            let (end, dur) = (i + 1 == tones.len(), (i as u16 + 1) * 160);
            sim.deliver(TE_PT, event_ts, 0x5151, &te(3, end, dur));
            sim.deliver(codec.payload_type(), ts, 0x5151, frame);
            ts = ts.wrapping_add(160);
            sim.advance(MS20);
        }
        send_audio(&mut sim, codec, &mut ts, None, 200);
    }
    assert_eq!(sim.digits(), [(DtmfDigit::D3, DtmfMethod::Rfc4733); 2]);
}

#[test]
fn a_tone_detected_before_the_late_first_event_is_not_reported_twice() {
    let codec = Codec::Pcma;
    let mut sim = Sim::new(codec, true);
    let mut ts = 0u32;
    send_audio(&mut sim, codec, &mut ts, Some(DtmfDigit::D9), 80);
    assert_eq!(sim.digits(), [(DtmfDigit::D9, DtmfMethod::InBand)]);
    // The start packets were lost; the end packets arrive now.
    for _ in 0..3 {
        sim.deliver(TE_PT, 12_345, 0x5151, &te(9, true, 640));
    }
    // Later presses come by RFC 4733 only; the tone is ignored.
    send_audio(&mut sim, codec, &mut ts, None, 500);
    send_rfc4733_press(&mut sim, 1, 20_000, 0x5151);
    send_audio(&mut sim, codec, &mut ts, Some(DtmfDigit::D2), 100);
    assert_eq!(sim.digits(), [(DtmfDigit::D9, DtmfMethod::InBand), (DtmfDigit::D1, DtmfMethod::Rfc4733)]);
}

#[test]
fn a_digit_barges_in_only_when_the_playback_allows_it() {
    // Barge-in: Digit, then PlaybackFinished { interrupted }, then silence.
    let mut sim = Sim::new(Codec::Pcmu, true);
    sim.call.play([ramp_prompt("menu", 16_000)], true);
    sim.advance(Duration::from_millis(300));
    send_rfc4733_press(&mut sim, 2, 4000, 1);
    assert_eq!(
        sim.events,
        [MediaEvent::Digit { digit: DtmfDigit::D2, method: DtmfMethod::Rfc4733 }, MediaEvent::PlaybackFinished { interrupted: true }]
    );
    assert!(!sim.call.is_playing());
    let before = sim.rtp.len();
    sim.advance(Duration::from_millis(200));
    let silent = sim.rtp[before..].iter().all(|(_, p)| RtpPacket::parse(p).expect("valid").payload.iter().all(|&b| b == 0xFF));
    assert!(silent);

    // No barge-in: the digit is reported and the prompt plays to its end.
    let mut sim = Sim::new(Codec::Pcmu, true);
    let prompt = ramp_prompt("legal notice", 8000);
    sim.call.play([prompt.clone()], false);
    sim.advance(Duration::from_millis(300));
    sim.call.handle_info_dtmf(DtmfDigit::D0);
    sim.drain();
    assert!(sim.call.is_playing());
    sim.advance(Duration::from_millis(900));
    assert_eq!(
        sim.events,
        [MediaEvent::Digit { digit: DtmfDigit::D0, method: DtmfMethod::SipInfo }, MediaEvent::PlaybackFinished { interrupted: false }]
    );
    assert_eq!(&sim.payloads()[..8000], prompt.payload(Codec::Pcmu));
}

#[test]
fn a_new_play_marks_a_talkspurt() {
    let mut sim = Sim::new(Codec::Pcmu, true);
    sim.advance(Duration::from_millis(100));
    sim.call.play([ramp_prompt("hello", 800)], true);
    let before = sim.rtp.len();
    sim.advance(MS20);
    let p = RtpPacket::parse(&sim.rtp[before].1).expect("valid");
    assert!(p.marker);
}

#[test]
fn silence_from_the_peer_becomes_one_media_timeout() {
    let mut sim = Sim::new(Codec::Pcmu, true);
    let mut ts = 0;
    send_audio(&mut sim, Codec::Pcmu, &mut ts, None, 1000);
    sim.advance(Duration::from_secs(29));
    assert!(!sim.events.contains(&MediaEvent::MediaTimeout));
    sim.advance(Duration::from_secs(2));
    assert_eq!(sim.events, [MediaEvent::MediaTimeout]);
    // Still sending on the grid afterwards, and not reported again.
    let before = sim.rtp.len();
    sim.advance(Duration::from_secs(5));
    assert_eq!(sim.events, [MediaEvent::MediaTimeout]);
    assert_eq!(sim.rtp.len() - before, 250);
    assert!(sim.rtcp > 0);
}

#[test]
fn garbage_datagrams_are_counted_never_fatal() {
    let mut sim = Sim::new(Codec::Pcmu, true);
    let mut rng = fastrand::Rng::with_seed(3);
    for len in 0..200 {
        let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        sim.call.handle_rtp(sim.now, peer(), &bytes);
        sim.call.handle_rtcp(sim.now, peer(), &bytes);
    }
    // Truncated telephone-events.
    sim.deliver(TE_PT, 1, 1, &[1, 2]);
    sim.deliver(TE_PT, 1, 1, &te(16, false, 0));
    sim.advance(Duration::from_millis(100));
    let c = sim.call.counters();
    assert!(c.rtp_errors > 0 && c.rtcp_errors > 0);
    assert_eq!((c.telephone_event_errors, c.unsupported_events), (1, 1));
    assert!(sim.digits().is_empty());
}

#[test]
fn hangup_sends_an_rtcp_bye() {
    let mut sim = Sim::new(Codec::Pcmu, true);
    sim.call.play([ramp_prompt("bye", 8000)], false);
    sim.advance(Duration::from_millis(100));
    let mut buf = vec![0u8; sim.call.transmit_buffer_len()];
    let t = sim.call.hangup(&mut buf);
    assert!(matches!(t, Some(Transmit::Rtcp { len, .. }) if len > 8));
    assert!(!sim.call.is_playing());
}
