//! G.711 companding (ITU-T G.711, 11/1988): mu-law and A-law, both ways.
//!
//! Owns the exact bit-level conversion between 16-bit linear PCM and the
//! 8-bit laws, bit-exact with the ITU-T G.191 software tools (`g711.c`,
//! `ulaw_compress`/`alaw_compress`/`*_expand`), which is what the tests check
//! for every one of the 65,536 inputs and 256 codes.
//!
//! Must never: allocate, panic, or round "nicely". The popular 16-bit
//! mu-law formula (`BIAS = 0x84`, clip at 32635) disagrees with G.191 on 127
//! inputs because it does not drop the two low bits first; here the input is
//! truncated to the 14-bit G.711 range (`>> 2` for mu-law, `>> 3` for A-law)
//! exactly as G.191 does, with negative values taken in one's complement.
//!
//! Decoding is a 256-entry table per law, built at compile time from the
//! G.191 expansion formulas. Encoding finds the segment (chord) with one
//! `leading_zeros`, which is exact and branch-light; no 64 KiB table to evict
//! the caches of a media loop serving thousands of calls.

use crate::Codec;

/// Decodes one mu-law byte to 16-bit linear PCM.
#[inline]
pub fn ulaw_to_linear(code: u8) -> i16 {
    ULAW_DECODE[usize::from(code)]
}

/// Decodes one A-law byte to 16-bit linear PCM.
#[inline]
pub fn alaw_to_linear(code: u8) -> i16 {
    ALAW_DECODE[usize::from(code)]
}

/// Encodes one 16-bit linear sample to mu-law (G.191 `ulaw_compress`).
#[inline]
pub fn linear_to_ulaw(sample: i16) -> u8 {
    // G.711 mu-law works on 14-bit magnitudes; G.191 takes the one's
    // complement of negative inputs so that -1 maps next to +0.
    let magnitude = if sample < 0 { !sample >> 2 } else { sample >> 2 };
    // Biased by 33 (the mu-law offset in 14-bit units) and clipped to 13 bits.
    let biased = (magnitude as u32 + 33).min(0x1FFF);
    // Segment 0 holds biased values 32..63 (6 significant bits).
    let segment = (u32::BITS - biased.leading_zeros()).saturating_sub(6);
    let mantissa = (biased >> (segment + 1)) & 0x0F;
    let code = ((segment << 4) | mantissa) as u8 ^ 0x7F;
    if sample < 0 { code } else { code | 0x80 }
}

/// Encodes one 16-bit linear sample to A-law (G.191 `alaw_compress`).
#[inline]
pub fn linear_to_alaw(sample: i16) -> u8 {
    // A-law works on 13-bit signed values; G.191 shifts by 4 a 16-bit word
    // whose magnitude is therefore 0..=2047 (12 bits incl. segment 0 and 1).
    let magnitude = (if sample < 0 { !sample >> 4 } else { sample >> 4 }) as u32;
    let code = if magnitude < 32 {
        // Segments 0 and 1 share the same step: the code is the magnitude.
        magnitude
    } else {
        let exponent = (u32::BITS - magnitude.leading_zeros()) - 4;
        (exponent << 4) | ((magnitude >> (exponent - 1)) & 0x0F)
    } as u8;
    let signed = if sample < 0 { code } else { code | 0x80 };
    // G.711 A-law inverts the even bits on the line.
    signed ^ 0x55
}

/// Encodes one sample in `codec`'s law.
#[inline]
pub fn encode(codec: Codec, sample: i16) -> u8 {
    match codec {
        Codec::Pcmu => linear_to_ulaw(sample),
        Codec::Pcma => linear_to_alaw(sample),
    }
}

/// Decodes one byte of `codec`'s law.
#[inline]
pub fn decode(codec: Codec, code: u8) -> i16 {
    match codec {
        Codec::Pcmu => ulaw_to_linear(code),
        Codec::Pcma => alaw_to_linear(code),
    }
}

/// Encodes `min(input.len(), output.len())` samples; returns that count.
/// (Callers size both slices the same; a mismatch never panics.)
pub fn encode_into(codec: Codec, input: &[i16], output: &mut [u8]) -> usize {
    let n = input.len().min(output.len());
    let pairs = input.iter().zip(output.iter_mut());
    match codec {
        Codec::Pcmu => pairs.for_each(|(s, o)| *o = linear_to_ulaw(*s)),
        Codec::Pcma => pairs.for_each(|(s, o)| *o = linear_to_alaw(*s)),
    }
    n
}

/// Decodes `min(input.len(), output.len())` bytes; returns that count.
pub fn decode_into(codec: Codec, input: &[u8], output: &mut [i16]) -> usize {
    let n = input.len().min(output.len());
    let table = match codec {
        Codec::Pcmu => &ULAW_DECODE,
        Codec::Pcma => &ALAW_DECODE,
    };
    for (c, o) in input.iter().zip(output.iter_mut()) {
        *o = table[usize::from(*c)];
    }
    n
}

/// A byte-to-byte table from one law to another through 16-bit linear:
/// `table[code] == encode(to, decode(from, code))`, so transcoding with it
/// is bit-exact with decoding then encoding. Identity when the laws are
/// equal: a relay between legs of one law never alters a byte (even the
/// "negative zero" codes that a trip through linear would normalise).
pub fn transcode_table(from: Codec, to: Codec) -> [u8; 256] {
    let mut table = [0u8; 256];
    for (code, out) in (0..=u8::MAX).zip(table.iter_mut()) {
        *out = if from == to { code } else { encode(to, decode(from, code)) };
    }
    table
}

/// G.191 `ulaw_expand` for every code.
static ULAW_DECODE: [i16; 256] = build_ulaw_table();
/// G.191 `alaw_expand` for every code.
static ALAW_DECODE: [i16; 256] = build_alaw_table();

const fn build_ulaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0usize;
    while code < 256 {
        let inverted = !(code as u8);
        let exponent = ((inverted >> 4) & 0x07) as i32;
        let mantissa = (inverted & 0x0F) as i32;
        let step = 4 << (exponent + 1);
        // Segment base + mantissa steps + half a step (mid-riser), minus the
        // bias of 33 in 14-bit units scaled to 16 bits.
        let magnitude = (0x80 << exponent) + step * mantissa + step / 2 - 4 * 33;
        table[code] = if code < 0x80 { -magnitude as i16 } else { magnitude as i16 };
        code += 1;
    }
    table
}

const fn build_alaw_table() -> [i16; 256] {
    let mut table = [0i16; 256];
    let mut code = 0usize;
    while code < 256 {
        let line = ((code as u8) ^ 0x55) & 0x7F;
        let exponent = (line >> 4) as i32;
        let mut mantissa = (line & 0x0F) as i32;
        if exponent > 0 {
            mantissa += 16; // implicit leading one above segment 0
        }
        let mut magnitude = (mantissa << 4) + 8; // mid-step reconstruction
        if exponent > 1 {
            magnitude <<= exponent - 1;
        }
        table[code] = if code > 0x7F { magnitude as i16 } else { -magnitude as i16 };
        code += 1;
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_bytes_decode_to_near_zero() {
        assert_eq!(ulaw_to_linear(Codec::Pcmu.silence_byte()), 0);
        assert_eq!(alaw_to_linear(Codec::Pcma.silence_byte()), 8);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        assert_eq!(linear_to_alaw(0), 0xD5);
    }

    #[test]
    fn extremes_do_not_overflow() {
        assert_eq!(linear_to_ulaw(i16::MAX), 0x80);
        assert_eq!(linear_to_ulaw(i16::MIN), 0x00);
        assert_eq!(linear_to_alaw(i16::MAX), 0xAA);
        assert_eq!(linear_to_alaw(i16::MIN), 0x2A);
    }

    #[test]
    fn slice_helpers_stop_at_the_shorter_slice() {
        let mut out = [0u8; 2];
        assert_eq!(encode_into(Codec::Pcmu, &[0, 0, 0], &mut out), 2);
        let mut pcm = [1i16; 3];
        assert_eq!(decode_into(Codec::Pcma, &[0xD5], &mut pcm), 1);
        assert_eq!(pcm, [8, 1, 1]);
    }
}
