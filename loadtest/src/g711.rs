//! G.711 (ITU-T G.711) mu-law and A-law, written from the standard's
//! segment tables: an oracle independent of the server's `ivr_media::g711`.

const BIAS: i32 = 0x84;
const CLIP: i32 = 32635;

pub fn ulaw_decode(byte: u8) -> i16 {
    let u = !byte;
    let sign = u & 0x80;
    let exponent = i32::from((u >> 4) & 0x07);
    let mantissa = i32::from(u & 0x0f);
    let magnitude = (((mantissa << 3) + BIAS) << exponent) - BIAS;
    let value = if sign != 0 { -magnitude } else { magnitude };
    value as i16
}

pub fn ulaw_encode(sample: i16) -> u8 {
    let mut s = i32::from(sample);
    let sign = if s < 0 { 0x80 } else { 0 };
    if s < 0 {
        s = -s;
    }
    s = s.min(CLIP) + BIAS;
    let mut exponent = 7;
    let mut mask = 0x4000;
    while exponent > 0 && s & mask == 0 {
        exponent -= 1;
        mask >>= 1;
    }
    let mantissa = (s >> (exponent + 3)) & 0x0f;
    !((sign | (exponent << 4) | mantissa) as u8)
}

pub fn alaw_decode(byte: u8) -> i16 {
    let a = byte ^ 0x55;
    let exponent = i32::from((a >> 4) & 0x07);
    let mantissa = i32::from(a & 0x0f);
    let magnitude = if exponent == 0 {
        (mantissa << 4) + 8
    } else {
        ((mantissa << 4) + 0x108) << (exponent - 1)
    };
    let value = if a & 0x80 != 0 { magnitude } else { -magnitude };
    value as i16
}

pub fn alaw_encode(sample: i16) -> u8 {
    let s = i32::from(sample);
    let (sign, mut magnitude) = if s >= 0 { (0x80, s) } else { (0x00, -s - 1) };
    magnitude = magnitude.min(0x7fff);
    let byte = if magnitude < 256 {
        (magnitude >> 4) as u8
    } else {
        let mut exponent = 1;
        while exponent < 7 && magnitude >= (256 << exponent) {
            exponent += 1;
        }
        ((exponent << 4) | ((magnitude >> (exponent + 3)) & 0x0f)) as u8
    };
    (byte | sign) ^ 0x55
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_survives_decode_then_encode() {
        for byte in 0..=255u8 {
            // mu-law has two zeros (0x7f, 0xff); both decode to 0, which encodes as 0xff.
            let back = ulaw_encode(ulaw_decode(byte));
            assert!(back == byte || ulaw_decode(back) == ulaw_decode(byte), "ulaw {byte:#x}");
            assert_eq!(alaw_encode(alaw_decode(byte)), byte, "alaw {byte:#x}");
        }
    }

    #[test]
    fn known_points_of_the_laws() {
        assert_eq!(ulaw_decode(0xff), 0);
        assert_eq!(ulaw_decode(0x80), 32124);
        assert_eq!(ulaw_decode(0x00), -32124);
        assert_eq!(alaw_decode(0xd5), 8);
        assert_eq!(alaw_decode(0xaa), 32256);
        assert_eq!(alaw_decode(0x2a), -32256);
    }

    #[test]
    fn quantisation_error_stays_within_the_segment_step() {
        for s in (-32000..32000).step_by(37) {
            let s = s as i16;
            let u = i32::from(ulaw_decode(ulaw_encode(s)));
            let a = i32::from(alaw_decode(alaw_encode(s)));
            let tol = (i32::from(s).abs() / 16).max(16);
            assert!((u - i32::from(s)).abs() <= tol, "ulaw {s} -> {u}");
            assert!((a - i32::from(s)).abs() <= tol, "alaw {s} -> {a}");
        }
    }
}
