//! DTMF by all three methods, as specifications: RFC 4733 receiver, SIP INFO
//! bodies, and the in-band detector on the ITU-T Q.24 tolerance grid.

use ivr_media::Codec;
use ivr_media::dtmf::DtmfDigit;
use ivr_media::dtmf::goertzel::{DtmfDetector, FREQUENCIES, ZERO_DBM0_PEAK};
use ivr_media::dtmf::info::{DtmfInfoError, parse_info};
use ivr_media::dtmf::rfc4733::{Rfc4733Error, Rfc4733Outcome, Rfc4733Receiver, TelephoneEvent};
use ivr_media::g711;
use proptest::prelude::*;

// ---------------------------------------------------------------- RFC 4733

fn ev(event: u8, end: bool, duration: u16) -> [u8; 4] {
    TelephoneEvent { event, end, volume: 10, duration }.to_bytes()
}

/// The packets of one press as a phone sends them (RFC 4733 §2.5.1):
/// start, updates every 20 ms, then the end packet three times.
fn press(event: u8) -> Vec<[u8; 4]> {
    vec![ev(event, false, 0), ev(event, false, 160), ev(event, false, 320), ev(event, true, 480), ev(event, true, 480), ev(event, true, 480)]
}

fn digits(rx: &mut Rfc4733Receiver, packets: &[(u32, u32, [u8; 4])]) -> Vec<DtmfDigit> {
    packets
        .iter()
        .filter_map(|(ssrc, ts, p)| match rx.handle(std::time::Instant::now(), *ssrc, *ts, p) {
            Ok(Rfc4733Outcome::Digit(d)) => Some(d),
            _ => None,
        })
        .collect()
}

#[test]
fn a_press_with_triple_end_packets_is_one_digit() {
    let mut rx = Rfc4733Receiver::new();
    let pkts: Vec<_> = press(5).into_iter().map(|p| (1, 1000, p)).collect();
    assert_eq!(digits(&mut rx, &pkts), [DtmfDigit::D5]);
}

#[test]
fn the_same_key_twice_is_two_digits_told_apart_by_timestamp() {
    let mut rx = Rfc4733Receiver::new();
    let mut pkts: Vec<_> = press(11).into_iter().map(|p| (1, 1000, p)).collect();
    pkts.extend(press(11).into_iter().map(|p| (1, 2600, p)));
    assert_eq!(digits(&mut rx, &pkts), [DtmfDigit::Hash, DtmfDigit::Hash]);
}

#[test]
fn lost_start_packets_still_give_the_digit_once() {
    let mut rx = Rfc4733Receiver::new();
    // Only the update and end packets arrive.
    let pkts: Vec<_> = press(1).into_iter().skip(2).map(|p| (1, 500, p)).collect();
    assert_eq!(digits(&mut rx, &pkts), [DtmfDigit::D1]);
    // Only the end packets arrive.
    let pkts: Vec<_> = press(2).into_iter().skip(3).map(|p| (1, 900, p)).collect();
    assert_eq!(digits(&mut rx, &pkts), [DtmfDigit::D2]);
}

#[test]
fn events_on_another_ssrc_and_repeated_sequence_numbers_are_fine() {
    // The receiver never looks at sequence numbers (SIPp's pcaps repeat
    // them); the event SSRC need not be the audio SSRC.
    let mut rx = Rfc4733Receiver::new();
    let mut pkts: Vec<_> = press(3).into_iter().map(|p| (0xDEAD_BEEF, 77, p)).collect();
    pkts.extend(press(3).into_iter().map(|p| (0x1234, 77, p)));
    assert_eq!(digits(&mut rx, &pkts), [DtmfDigit::D3, DtmfDigit::D3]);
}

#[test]
fn reordered_packets_across_two_presses_give_each_digit_once() {
    let mut rx = Rfc4733Receiver::new();
    let a = press(7);
    let b = press(8);
    let pkts = vec![
        (1, 100, a[0]),
        (1, 100, a[1]),
        (1, 100, a[3]),
        (1, 900, b[1]), // b's start lost, its update overtakes a's last ends
        (1, 100, a[4]),
        (1, 100, a[2]), // late update of a
        (1, 900, b[0]),
        (1, 100, a[5]),
        (1, 900, b[3]),
        (1, 900, b[4]),
        (1, 900, b[5]),
    ];
    assert_eq!(digits(&mut rx, &pkts), [DtmfDigit::D7, DtmfDigit::D8]);
}

#[test]
fn star_hash_and_letters_map_from_event_codes_and_flash_is_ignored() {
    let mut rx = Rfc4733Receiver::new();
    let codes = [(10, DtmfDigit::Star), (11, DtmfDigit::Hash), (12, DtmfDigit::A), (15, DtmfDigit::D)];
    for (i, (code, digit)) in codes.into_iter().enumerate() {
        assert_eq!(rx.handle(std::time::Instant::now(), 1, i as u32 * 1000, &ev(code, false, 0)), Ok(Rfc4733Outcome::Digit(digit)));
    }
    assert_eq!(rx.handle(std::time::Instant::now(), 1, 9000, &ev(16, false, 0)), Ok(Rfc4733Outcome::Unsupported { event: 16 }));
    assert_eq!(rx.handle(std::time::Instant::now(), 1, 9000, &[1, 2]), Err(Rfc4733Error::Truncated { len: 2 }));
}

proptest! {
    #[test]
    fn garbage_payloads_never_panic(ssrc in any::<u32>(), ts in any::<u32>(), payload in proptest::collection::vec(any::<u8>(), 0..12)) {
        let mut rx = Rfc4733Receiver::new();
        let first = rx.handle(std::time::Instant::now(), ssrc, ts, &payload);
        let second = rx.handle(std::time::Instant::now(), ssrc, ts, &payload);
        if payload.len() < 4 {
            prop_assert!(first.is_err());
        } else if payload[0] < 16 {
            prop_assert!(matches!(first, Ok(Rfc4733Outcome::Digit(_))));
            prop_assert_eq!(second, Ok(Rfc4733Outcome::Repeat));
        }
    }
}

// ---------------------------------------------------------------- SIP INFO

#[test]
fn dtmf_relay_bodies_in_the_forms_phones_send() {
    let cases: &[(&str, &[u8], DtmfDigit)] = &[
        ("application/dtmf-relay", b"Signal=5\r\nDuration=160\r\n", DtmfDigit::D5),
        ("Application/DTMF-Relay; charset=utf-8", b"Signal=*\r\nDuration=100\r\n", DtmfDigit::Star),
        ("application/dtmf-relay", b"signal = #\nduration = 250\n", DtmfDigit::Hash),
        ("application/dtmf-relay", b"Duration=160\r\nSignal= 11\r\n", DtmfDigit::Hash),
        ("application/dtmf-relay", b"Signal=10", DtmfDigit::Star),
        ("application/dtmf-relay", b"SIGNAL=d\r\n", DtmfDigit::D),
        ("application/dtmf-relay", b"Signal=0\r\n", DtmfDigit::D0),
    ];
    for (ct, body, digit) in cases {
        assert_eq!(parse_info(ct, body), Ok(*digit), "{ct} {:?}", String::from_utf8_lossy(body));
    }
}

#[test]
fn dtmf_bodies_carry_the_key_or_its_event_code() {
    assert_eq!(parse_info("application/dtmf", b"5"), Ok(DtmfDigit::D5));
    assert_eq!(parse_info("application/dtmf", b" #\r\n"), Ok(DtmfDigit::Hash));
    assert_eq!(parse_info("APPLICATION/DTMF", b"11"), Ok(DtmfDigit::Hash));
    assert_eq!(parse_info("application/dtmf", b"10"), Ok(DtmfDigit::Star));
    assert_eq!(parse_info("application/dtmf", b"12"), Ok(DtmfDigit::A));
}

#[test]
fn bad_info_bodies_are_typed_errors() {
    assert_eq!(parse_info("application/sdp", b"v=0"), Err(DtmfInfoError::UnsupportedContentType));
    assert_eq!(parse_info("application/dtmf-relay", b"Duration=160\r\n"), Err(DtmfInfoError::MissingSignal));
    assert_eq!(parse_info("application/dtmf-relay", b"Signal=\r\n"), Err(DtmfInfoError::InvalidSignal));
    assert_eq!(parse_info("application/dtmf-relay", b"Signal=16"), Err(DtmfInfoError::InvalidSignal));
    assert_eq!(parse_info("application/dtmf", b"55"), Err(DtmfInfoError::InvalidSignal));
    assert_eq!(parse_info("application/dtmf", b"\xff"), Err(DtmfInfoError::InvalidSignal));
    assert_eq!(parse_info("application/dtmf", b""), Err(DtmfInfoError::InvalidSignal));
}

proptest! {
    #[test]
    fn info_parsing_never_panics(ct in ".{0,40}", body in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = parse_info(&ct, &body);
        let _ = parse_info("application/dtmf-relay", &body);
        let _ = parse_info("application/dtmf", &body);
    }
}

// ---------------------------------------------------------------- in-band

const MS: usize = 8; // samples per millisecond at 8 kHz

fn peak(dbm0: f64) -> f64 {
    ZERO_DBM0_PEAK as f64 * 10f64.powf(dbm0 / 20.0)
}

/// `ms` of the sum of sines (frequency, level in dBm0).
fn sines(parts: &[(f64, f64)], ms: usize) -> Vec<i16> {
    (0..ms * MS)
        .map(|n| {
            let t = n as f64 / 8000.0;
            let v: f64 = parts.iter().map(|(f, l)| peak(*l) * (2.0 * std::f64::consts::PI * f * t + f * 0.001).sin()).sum();
            v.round().clamp(-32768.0, 32767.0) as i16
        })
        .collect()
}

fn freqs(d: DtmfDigit) -> (f64, f64) {
    let (r, c) = d.keypad_position();
    (FREQUENCIES[r] as f64, FREQUENCIES[4 + c] as f64)
}

/// A key press: `ms` of the digit's two tones at `low`/`high` dBm0, with the
/// frequencies scaled by (1 + dev_low) / (1 + dev_high).
fn key(d: DtmfDigit, ms: usize, low: f64, high: f64, dev_low: f64, dev_high: f64) -> Vec<i16> {
    let (fl, fh) = freqs(d);
    sines(&[(fl * (1.0 + dev_low), low), (fh * (1.0 + dev_high), high)], ms)
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0; ms * MS]
}

fn detect(signal: &[i16]) -> Vec<DtmfDigit> {
    // Pad so the detector sees the tone end, as on a real call.
    let mut s = signal.to_vec();
    s.extend(silence(100));
    DtmfDetector::new().detect_all(&s)
}

#[test]
fn every_key_is_detected_once_at_nominal_and_within_1_5_percent() {
    for d in DtmfDigit::ALL {
        for (dl, dh) in [(0.0, 0.0), (0.015, 0.015), (-0.015, -0.015), (0.015, -0.015), (-0.015, 0.015)] {
            let s = [silence(30), key(d, 100, -10.0, -10.0, dl, dh)].concat();
            assert_eq!(detect(&s), [d], "{d} at {dl:+}/{dh:+}");
        }
    }
}

#[test]
fn no_key_is_detected_at_3_5_percent_off() {
    for d in DtmfDigit::ALL {
        for (dl, dh) in [(0.035, 0.0), (-0.035, 0.0), (0.0, 0.035), (0.0, -0.035), (0.035, 0.035)] {
            let s = key(d, 100, -10.0, -10.0, dl, dh);
            assert_eq!(detect(&s), [], "{d} at {dl:+}/{dh:+}");
        }
    }
}

#[test]
fn twist_up_to_8_db_normal_and_4_db_reverse_is_accepted() {
    for d in DtmfDigit::ALL {
        // Normal twist: the high group weaker.
        assert_eq!(detect(&key(d, 100, -6.0, -13.0, 0.0, 0.0)), [d], "{d} normal 7 dB");
        assert_eq!(detect(&key(d, 100, -6.0, -15.0, 0.0, 0.0)), [], "{d} normal 9 dB");
        // Reverse twist: the low group weaker.
        assert_eq!(detect(&key(d, 100, -9.0, -6.0, 0.0, 0.0)), [d], "{d} reverse 3 dB");
        assert_eq!(detect(&key(d, 100, -11.0, -6.0, 0.0, 0.0)), [], "{d} reverse 5 dB");
    }
}

#[test]
fn tones_of_40_ms_are_accepted_and_of_20_ms_rejected_at_any_alignment() {
    for d in [DtmfDigit::D1, DtmfDigit::D0, DtmfDigit::Hash, DtmfDigit::D] {
        for offset in 0..51 {
            let lead = vec![0i16; offset];
            assert_eq!(detect(&[lead.clone(), key(d, 40, -10.0, -10.0, 0.0, 0.0)].concat()), [d], "{d} 40 ms +{offset}");
            assert_eq!(detect(&[lead.clone(), key(d, 20, -10.0, -10.0, 0.0, 0.0)].concat()), [], "{d} 20 ms +{offset}");
            assert_eq!(detect(&[lead.clone(), key(d, 23, -10.0, -10.0, 0.0, 0.0)].concat()), [], "{d} 23 ms +{offset}");
            assert_eq!(detect(&[lead, key(d, 34, -10.0, -10.0, 0.0, 0.0)].concat()), [d], "{d} 34 ms +{offset}");
        }
    }
}

#[test]
fn levels_from_minus_25_to_0_dbm0_are_accepted_and_minus_35_is_not() {
    for d in DtmfDigit::ALL {
        for level in [0.0, -5.0, -10.0, -15.0, -20.0, -25.0] {
            assert_eq!(detect(&key(d, 60, level, level, 0.0, 0.0)), [d], "{d} at {level} dBm0");
        }
        assert_eq!(detect(&key(d, 100, -35.0, -35.0, 0.0, 0.0)), [], "{d} at -35 dBm0");
        assert_eq!(detect(&key(d, 100, -45.0, -45.0, 0.0, 0.0)), [], "{d} at -45 dBm0");
    }
}

fn through_g711(codec: Codec, pcm: &[i16]) -> Vec<i16> {
    let mut bytes = vec![0u8; pcm.len()];
    g711::encode_into(codec, pcm, &mut bytes);
    let mut out = vec![0i16; pcm.len()];
    g711::decode_into(codec, &bytes, &mut out);
    out
}

#[test]
fn detection_survives_g711_in_both_laws() {
    for codec in [Codec::Pcmu, Codec::Pcma] {
        for d in DtmfDigit::ALL {
            for (level, dev) in [(-3.0, 0.0), (-25.0, 0.0), (-20.0, 0.015), (-20.0, -0.015)] {
                let s = through_g711(codec, &key(d, 45, level, level, dev, dev));
                assert_eq!(detect(&s), [d], "{codec:?} {d} {level} dBm0 {dev:+}");
            }
        }
    }
}

#[test]
fn ten_fast_digits_with_40_ms_pauses_are_exactly_ten() {
    let keys = "0123456789".chars().filter_map(DtmfDigit::from_char).collect::<Vec<_>>();
    for codec in [None, Some(Codec::Pcmu), Some(Codec::Pcma)] {
        let mut s = silence(40);
        for d in &keys {
            s.extend(key(*d, 40, -12.0, -12.0, 0.0, 0.0));
            s.extend(silence(40));
        }
        let s = codec.map_or(s.clone(), |c| through_g711(c, &s));
        assert_eq!(detect(&s), keys, "{codec:?}");
    }
}

#[test]
fn the_same_key_twice_with_a_40_ms_pause_is_two_but_a_10_ms_break_is_one() {
    let d = DtmfDigit::D5;
    let tone = key(d, 60, -10.0, -10.0, 0.0, 0.0);
    for offset in (0..51).step_by(10) {
        let lead = vec![0i16; offset];
        let twice = [lead.clone(), tone.clone(), silence(40), tone.clone()].concat();
        assert_eq!(detect(&twice), [d, d], "offset {offset}");
        let broken = [lead, tone.clone(), silence(10), tone.clone()].concat();
        assert_eq!(detect(&broken), [d], "offset {offset}");
    }
}

#[test]
fn any_chunking_of_the_input_gives_the_same_digits() {
    let mut s = Vec::new();
    for d in [DtmfDigit::D9, DtmfDigit::Star, DtmfDigit::D9] {
        s.extend(key(d, 70, -8.0, -8.0, 0.0, 0.0));
        s.extend(silence(60));
    }
    let mut rng = fastrand::Rng::with_seed(42);
    for _ in 0..5 {
        let mut det = DtmfDetector::new();
        let mut got = Vec::new();
        let mut rest = &s[..];
        while !rest.is_empty() {
            let n = rng.usize(0..=rest.len().min(333));
            let (a, b) = rest.split_at(n);
            det.process(a, |d| got.push(d));
            rest = b;
        }
        assert_eq!(got, [DtmfDigit::D9, DtmfDigit::Star, DtmfDigit::D9]);
    }
}

// --- talk-off: signals that are not key presses

fn noise(rng: &mut fastrand::Rng, ms: usize, amplitude: f64) -> Vec<i16> {
    (0..ms * MS).map(|_| ((rng.f64() * 2.0 - 1.0) * amplitude) as i16).collect()
}

#[test]
fn white_noise_is_not_a_digit() {
    let mut rng = fastrand::Rng::with_seed(1);
    for amplitude in [500.0, 3000.0, 12000.0, 30000.0] {
        assert_eq!(detect(&noise(&mut rng, 3000, amplitude)), [], "noise {amplitude}");
    }
}

#[test]
fn single_tones_and_pairs_within_one_group_are_not_digits() {
    for f in FREQUENCIES {
        assert_eq!(detect(&sines(&[(f as f64, -6.0)], 300)), [], "{f} Hz alone");
    }
    for (i, a) in FREQUENCIES.iter().enumerate() {
        for b in &FREQUENCIES[i + 1..] {
            let same_group = (*a < 1000.0) == (*b < 1000.0);
            if same_group {
                assert_eq!(detect(&sines(&[(*a as f64, -8.0), (*b as f64, -8.0)], 300)), [], "{a}+{b}");
            }
        }
    }
}

#[test]
fn a_sweep_is_not_a_digit() {
    // 300 -> 3400 Hz in 2 s, and a dual sweep keeping the DTMF spacing.
    let n = 2 * 8000;
    let mut phase = (0f64, 0f64);
    let sweep: Vec<i16> = (0..n)
        .map(|i| {
            let f = 300.0 + 3100.0 * i as f64 / n as f64;
            phase.0 += 2.0 * std::f64::consts::PI * f / 8000.0;
            phase.1 += 2.0 * std::f64::consts::PI * (f * 1.7346) / 8000.0;
            (peak(-10.0) * (phase.0.sin() + phase.1.sin())) as i16
        })
        .collect();
    assert_eq!(detect(&sweep), []);
}

#[test]
fn music_like_chords_are_not_digits() {
    // A DTMF pair plus a third note of equal level, and a chord of four
    // harmonics that contains 697 and 1209 Hz approximately.
    for d in DtmfDigit::ALL {
        let (fl, fh) = freqs(d);
        assert_eq!(detect(&sines(&[(fl, -10.0), (fh, -10.0), (fl * 1.26, -10.0)], 300)), [], "{d} + third");
        assert_eq!(detect(&sines(&[(fl, -10.0), (fh, -10.0), (fh * 1.5, -12.0)], 300)), [], "{d} + fifth");
    }
    let f0 = 232.3;
    let chord: Vec<(f64, f64)> = (1..=8).map(|h| (f0 * h as f64, -14.0)).collect();
    assert_eq!(detect(&sines(&chord, 500)), []);
}

#[test]
fn speech_like_voiced_sound_is_not_a_digit() {
    // Glottal-pulse-like harmonics with moving pitch and formants, syllabic
    // amplitude modulation, plus breath noise.
    let mut rng = fastrand::Rng::with_seed(9);
    let n = 5 * 8000;
    let mut phase = 0f64;
    let mut s = Vec::with_capacity(n);
    for i in 0..n {
        let t = i as f64 / 8000.0;
        let f0 = 110.0 + 60.0 * (t * 1.3).sin() + 20.0 * (t * 5.1).sin();
        phase += 2.0 * std::f64::consts::PI * f0 / 8000.0;
        let formant1 = 500.0 + 300.0 * (t * 2.1).sin();
        let formant2 = 1500.0 + 500.0 * (t * 1.7).cos();
        let mut v = 0.0;
        for h in 1..=30 {
            let f = f0 * h as f64;
            if f > 3800.0 {
                break;
            }
            let g = 1.0 / (1.0 + ((f - formant1) / 150.0).powi(2)) + 0.6 / (1.0 + ((f - formant2) / 200.0).powi(2));
            v += g * (phase * h as f64).sin();
        }
        let envelope = (0.5 + 0.5 * (2.0 * std::f64::consts::PI * 4.0 * t).sin()).max(0.05);
        v = v * envelope * 6000.0 + (rng.f64() - 0.5) * 400.0;
        s.push(v.clamp(-32768.0, 32767.0) as i16);
    }
    for codec in [None, Some(Codec::Pcmu)] {
        let s = codec.map_or(s.clone(), |c| through_g711(c, &s));
        assert_eq!(detect(&s), [], "{codec:?}");
    }
}
