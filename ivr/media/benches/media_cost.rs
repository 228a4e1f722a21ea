//! CPU cost of the per-call media path, in microseconds per call-second.
//! std::time only (no criterion): `cargo bench -p ivr-media --bench media_cost`
//! with `[[bench]] name = "media_cost", harness = false` in Cargo.toml.
//! Reference budget: about 50 µs per call-second for in-band DTMF detection.
#![allow(dead_code)]

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ivr_media::Codec;
use ivr_media::bridge::{Bridge, LegId};
use ivr_media::call::{MediaCall, MediaConfig};
use ivr_media::dtmf::goertzel::DtmfDetector;
use ivr_media::g711;
use ivr_media::prompt::Prompt;
use ivr_media::rtp::write_rtp_header;
use ivr_media::session::SessionConfig;

const SECONDS: usize = 60;

fn report(name: &str, elapsed: Duration) {
    println!("{name:<40} {:>8.1} us per call-second", elapsed.as_secs_f64() * 1e6 / SECONDS as f64);
}

fn noisy_speech_like(rng: &mut fastrand::Rng) -> Vec<i16> {
    (0..8000 * SECONDS)
        .map(|i| {
            let envelope = 0.5 + 0.5 * (i as f64 / 8000.0 * 25.0).sin();
            ((rng.f64() * 2.0 - 1.0) * 8000.0 * envelope) as i16
        })
        .collect()
}

fn main() {
    let mut rng = fastrand::Rng::with_seed(1);
    let speech = noisy_speech_like(&mut rng);
    let silence = vec![0i16; speech.len()];

    for (name, signal) in [("goertzel: loud noise", &speech), ("goertzel: silence", &silence)] {
        let mut detector = DtmfDetector::new();
        let t = Instant::now();
        for frame in signal.chunks(160) {
            detector.process(black_box(frame), |d| {
                black_box(d);
            });
        }
        report(name, t.elapsed());
    }

    let mut encoded = vec![0u8; speech.len()];
    let t = Instant::now();
    g711::encode_into(Codec::Pcmu, black_box(&speech), &mut encoded);
    report("g711: mu-law encode", t.elapsed());
    let mut decoded = vec![0i16; speech.len()];
    let t = Instant::now();
    g711::decode_into(Codec::Pcma, black_box(&encoded), &mut decoded);
    report("g711: A-law decode", t.elapsed());

    // A whole call: 20 ms audio in (in-band detection on), a prompt out.
    let peer: SocketAddr = "192.0.2.1:4000".parse().expect("literal");
    let t0 = Instant::now();
    let mut call = MediaCall::new(MediaConfig::new(SessionConfig::new(Codec::Pcmu, peer)), &mut rng, t0, SystemTime::now());
    let prompt = Arc::new(Prompt::from_pcm_8k("bench", &speech));
    call.play([prompt], false);
    let mut packet = [0u8; 172];
    let mut out = vec![0u8; call.transmit_buffer_len()];
    let start = Instant::now();
    for (i, frame) in encoded.chunks(160).enumerate() {
        let now = t0 + Duration::from_millis(20 * i as u64);
        write_rtp_header(&mut packet, false, 0, i as u16, 160 * i as u32, 7);
        packet[12..12 + frame.len()].copy_from_slice(frame);
        call.handle_rtp(now, peer, &packet[..12 + frame.len()]);
        call.handle_timeout(now);
        while call.poll_transmit(now, &mut out).is_some() {}
        while call.poll_event().is_some() {}
    }
    report("MediaCall: audio in + prompt out", start.elapsed());

    // A bridged call: 20 ms audio in on both legs, relayed out on the other
    // (same law: bytes untouched; PCMU/PCMA: the transcoding table).
    for (name, codec_b, pt_b) in [("Bridge: relay, both legs PCMU", Codec::Pcmu, 0), ("Bridge: relay, PCMU <-> PCMA", Codec::Pcma, 8)] {
        let agent: SocketAddr = "192.0.2.2:5000".parse().expect("literal");
        let mut bridge = Bridge::new(
            SessionConfig::new(Codec::Pcmu, peer),
            SessionConfig::new(codec_b, agent),
            &mut rng,
            t0,
            SystemTime::now(),
        );
        let mut out = vec![0u8; bridge.transmit_buffer_len()];
        let mut relayed = 0u64;
        let start = Instant::now();
        for (i, frame) in encoded.chunks(160).enumerate() {
            let now = t0 + Duration::from_millis(20 * i as u64);
            for (leg, pt, from) in [(LegId::A, 0, peer), (LegId::B, pt_b, agent)] {
                write_rtp_header(&mut packet, false, pt, i as u16, 160 * i as u32, 7);
                packet[12..12 + frame.len()].copy_from_slice(frame);
                bridge.handle_rtp(now, leg, from, black_box(&packet[..12 + frame.len()]));
            }
            bridge.handle_timeout(now);
            while bridge.poll_transmit(now, &mut out).is_some() {
                relayed += 1;
            }
            while bridge.poll_event().is_some() {}
        }
        let elapsed = start.elapsed();
        report(name, elapsed);
        println!("{:<40} {:>8.0} ns per relayed packet", "", elapsed.as_nanos() as f64 / relayed.max(1) as f64);
    }
}
