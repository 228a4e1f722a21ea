//! G.711 is bit-exact with the ITU-T G.191 reference (via the
//! `audio-codec-algorithms` crate, whose tables and encoders are checked
//! against G.191 output), for every possible input.

use audio_codec_algorithms::{decode_alaw, decode_ulaw, encode_alaw, encode_ulaw};
use ivr_media::Codec;
use ivr_media::g711;
use proptest::prelude::*;

#[test]
fn mu_law_encode_matches_g191_for_all_65536_inputs() {
    for x in i16::MIN..=i16::MAX {
        assert_eq!(g711::linear_to_ulaw(x), encode_ulaw(x), "input {x}");
    }
}

#[test]
fn a_law_encode_matches_g191_for_all_65536_inputs() {
    for x in i16::MIN..=i16::MAX {
        assert_eq!(g711::linear_to_alaw(x), encode_alaw(x), "input {x}");
    }
}

#[test]
fn decode_matches_g191_for_all_256_codes() {
    for c in 0..=u8::MAX {
        assert_eq!(g711::ulaw_to_linear(c), decode_ulaw(c), "mu-law code {c:#04x}");
        assert_eq!(g711::alaw_to_linear(c), decode_alaw(c), "A-law code {c:#04x}");
    }
}

#[test]
fn the_bias_0x84_shortcut_would_differ_from_g191_here() {
    // The widespread formula: clip to 32635, add 0x84, find the segment.
    fn bias_formula(x: i16) -> u8 {
        let sign = if x < 0 { 0x80 } else { 0 };
        let mut m = (x as i32).abs().min(32635) + 0x84;
        let mut seg = 0;
        let mut probe = m >> 7;
        while probe > 1 {
            probe >>= 1;
            seg += 1;
        }
        m = (m >> (seg + 3)) & 0x0F;
        !((sign | (seg << 4) | m) as u8)
    }
    let differing = (i16::MIN..=i16::MAX).filter(|&x| bias_formula(x) != encode_ulaw(x)).count();
    assert_eq!(differing, 127, "oracle sanity: DEPENDENCIES.md's 127 inputs");
    for x in i16::MIN..=i16::MAX {
        assert_eq!(g711::linear_to_ulaw(x), encode_ulaw(x));
    }
}

#[test]
fn every_code_survives_decode_then_encode() {
    // Each code decodes to the centre of its step, which encodes back to it,
    // except negative zero (mu-law 0x7F, decoding to 0) which encodes as +0.
    for c in 0..=u8::MAX {
        let back = g711::linear_to_ulaw(g711::ulaw_to_linear(c));
        if c == 0x7F {
            assert_eq!(back, 0xFF);
        } else {
            assert_eq!(back, c, "mu-law {c:#04x}");
        }
        assert_eq!(g711::linear_to_alaw(g711::alaw_to_linear(c)), c, "A-law {c:#04x}");
    }
}

fn law() -> impl Strategy<Value = Codec> {
    prop_oneof![Just(Codec::Pcmu), Just(Codec::Pcma)]
}

proptest! {
    #[test]
    fn encode_is_idempotent_through_decode(codec in law(), x in any::<i16>()) {
        let once = g711::encode(codec, x);
        let twice = g711::encode(codec, g711::decode(codec, once));
        prop_assert_eq!(g711::decode(codec, once), g711::decode(codec, twice));
    }

    #[test]
    fn quantisation_error_is_within_half_a_segment_step(codec in law(), x in any::<i16>()) {
        let y = g711::decode(codec, g711::encode(codec, x)) as i32;
        let err = (y - x as i32).abs();
        // Largest step is 1024 (mu-law) / 1024 (A-law) in 16-bit units; the
        // error is at most half a step, plus the clipped top of mu-law.
        let bound = ((x as i32).abs() / 16).max(16) + 16;
        prop_assert!(err <= bound.max(700), "x={} y={} err={}", x, y, err);
    }

    #[test]
    fn slice_helpers_equal_the_scalar_functions(codec in law(), pcm in proptest::collection::vec(any::<i16>(), 0..400)) {
        let mut bytes = vec![0u8; pcm.len()];
        prop_assert_eq!(g711::encode_into(codec, &pcm, &mut bytes), pcm.len());
        for (s, b) in pcm.iter().zip(&bytes) {
            prop_assert_eq!(*b, g711::encode(codec, *s));
        }
        let mut back = vec![0i16; pcm.len()];
        g711::decode_into(codec, &bytes, &mut back);
        for (b, s) in bytes.iter().zip(&back) {
            prop_assert_eq!(*s, g711::decode(codec, *b));
        }
    }
}
