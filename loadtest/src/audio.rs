//! Audio checks on what a peer heard: WAV in and out, level, and whether a
//! recording contains a reference prompt (normalised cross-correlation).

use std::path::Path;

/// Reads a WAV file to mono i16 samples (channels averaged) and its rate.
pub fn read_wav(path: &Path) -> anyhow::Result<(Vec<i16>, u32)> {
    let mut reader = hound::WavReader::open(path)?;
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f64> = match spec.sample_format {
        hound::SampleFormat::Int => {
            let shift = i32::from(spec.bits_per_sample) - 16;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| if shift >= 0 { f64::from(v >> shift) } else { f64::from(v << -shift) }))
                .collect::<Result<_, _>>()?
        }
        hound::SampleFormat::Float => {
            reader.samples::<f32>().map(|s| s.map(|v| f64::from(v) * 32767.0)).collect::<Result<_, _>>()?
        }
    };
    let mono = interleaved
        .chunks(channels)
        .map(|frame| (frame.iter().sum::<f64>() / frame.len() as f64).clamp(-32768.0, 32767.0) as i16)
        .collect();
    Ok((mono, spec.sample_rate))
}

pub fn write_wav(path: &Path, samples: &[i16], sample_rate: u32) -> anyhow::Result<()> {
    let spec = hound::WavSpec { channels: 1, sample_rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for s in samples {
        writer.write_sample(*s)?;
    }
    writer.finalize()?;
    Ok(())
}

/// Root mean square level, in dBFS (full scale sine is -3 dBFS); -inf for
/// digital silence.
pub fn rms_dbfs(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return f64::NEG_INFINITY;
    }
    let mean_square = samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64;
    10.0 * (mean_square / (32768.0f64 * 32768.0)).log10()
}

/// True when no 20 ms window of `samples` (8 kHz) rises above `threshold_dbfs`.
pub fn is_silent(samples: &[i16], threshold_dbfs: f64) -> bool {
    samples.chunks(160).all(|w| rms_dbfs(w) <= threshold_dbfs)
}

/// Where a reference best lines up inside a recording.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Match {
    /// Normalised cross-correlation in [-1, 1]: 1 is the same waveform at
    /// any gain.
    pub score: f64,
    /// Sample offset of the reference's start in the recording.
    pub offset: usize,
}

/// Searches `recording` for `reference` (same sample rate) and returns the
/// best normalised cross-correlation over every offset where the reference
/// fits wholly. Windows of the recording that are nearly silent are skipped
/// (their score would be noise over noise). `None` when the reference is
/// longer than the recording or silent.
pub fn find(recording: &[i16], reference: &[i16]) -> Option<Match> {
    let m = reference.len();
    let n = recording.len();
    if m == 0 || m > n {
        return None;
    }
    let x: Vec<f64> = recording.iter().map(|s| f64::from(*s)).collect();
    let y: Vec<f64> = reference.iter().map(|s| f64::from(*s)).collect();
    let ref_energy: f64 = y.iter().map(|v| v * v).sum();
    if ref_energy <= m as f64 {
        return None;
    }
    let dots = cross_correlate(&x, &y);
    let mut prefix = vec![0.0f64; n + 1];
    for (i, v) in x.iter().enumerate() {
        prefix[i + 1] = prefix[i] + v * v;
    }
    let mut best: Option<Match> = None;
    for (offset, dot) in dots.iter().enumerate().take(n - m + 1) {
        let window_energy = prefix[offset + m] - prefix[offset];
        // Below about -70 dBFS on average: nothing to correlate with.
        if window_energy < m as f64 * 0.1 {
            continue;
        }
        let score = dot / (ref_energy * window_energy).sqrt();
        if best.is_none_or(|b| score > b.score) {
            best = Some(Match { score, offset });
        }
    }
    best
}

/// `out[k] = sum_i x[k + i] * y[i]` for every k, by FFT.
fn cross_correlate(x: &[f64], y: &[f64]) -> Vec<f64> {
    let size = (x.len() + y.len()).next_power_of_two();
    let mut a: Vec<(f64, f64)> = x.iter().map(|v| (*v, 0.0)).chain(std::iter::repeat((0.0, 0.0))).take(size).collect();
    // Correlation is convolution with the time-reversed reference.
    let mut b: Vec<(f64, f64)> =
        y.iter().rev().map(|v| (*v, 0.0)).chain(std::iter::repeat((0.0, 0.0))).take(size).collect();
    fft(&mut a, false);
    fft(&mut b, false);
    for (p, q) in a.iter_mut().zip(&b) {
        *p = (p.0 * q.0 - p.1 * q.1, p.0 * q.1 + p.1 * q.0);
    }
    fft(&mut a, true);
    // Convolution index j = k + m - 1 holds the lag-k correlation.
    a.iter().skip(y.len() - 1).take(x.len()).map(|c| c.0 / size as f64).collect()
}

/// In-place iterative radix-2 FFT; `data.len()` is a power of two.
fn fft(data: &mut [(f64, f64)], inverse: bool) {
    let n = data.len();
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            data.swap(i, j);
        }
    }
    let mut len = 2;
    while len <= n {
        let angle = 2.0 * std::f64::consts::PI / len as f64 * if inverse { 1.0 } else { -1.0 };
        let (w_re, w_im) = (angle.cos(), angle.sin());
        for chunk in data.chunks_mut(len) {
            let (mut re, mut im) = (1.0, 0.0);
            for k in 0..len / 2 {
                let (u, v) = (chunk[k], chunk[k + len / 2]);
                let t = (v.0 * re - v.1 * im, v.0 * im + v.1 * re);
                chunk[k] = (u.0 + t.0, u.1 + t.1);
                chunk[k + len / 2] = (u.0 - t.0, u.1 - t.1);
                (re, im) = (re * w_re - im * w_im, re * w_im + im * w_re);
            }
        }
        len <<= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic speech-like signal: chirps with a syllable envelope.
    fn voice(seed: u32, samples: usize) -> Vec<i16> {
        let mut state = seed.wrapping_mul(2_654_435_761).max(1);
        let mut out = Vec::with_capacity(samples);
        let mut phase = 0.0f64;
        for i in 0..samples {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let t = i as f64 / 8000.0;
            let pitch = 120.0 + 80.0 * (t * (1.3 + f64::from(seed % 7))).sin();
            phase += 2.0 * std::f64::consts::PI * pitch * (3.0 + f64::from(seed % 3)) / 8000.0;
            let envelope = (t * 4.0 * std::f64::consts::PI).sin().abs();
            let noise = f64::from(state % 2000) - 1000.0;
            out.push((envelope * (8000.0 * phase.sin()) + noise) as i16);
        }
        out
    }

    #[test]
    fn a_reference_is_found_inside_noise_at_its_offset() {
        let reference = voice(1, 8000);
        let mut recording = voice(99, 20_000).iter().map(|s| s / 20).collect::<Vec<i16>>();
        for (i, s) in reference.iter().enumerate() {
            recording[5_123 + i] = recording[5_123 + i].saturating_add(*s / 2);
        }
        let m = find(&recording, &reference).expect("reference fits");
        assert_eq!(m.offset, 5_123);
        assert!(m.score > 0.95, "{m:?}");
    }

    #[test]
    fn a_different_prompt_scores_low() {
        let reference = voice(1, 8000);
        let recording = voice(2, 20_000);
        let m = find(&recording, &reference).expect("reference fits");
        assert!(m.score < 0.5, "{m:?}");
    }

    #[test]
    fn g711_round_trip_keeps_the_match() {
        let reference = voice(3, 8000);
        let mut recording = vec![0i16; 3_000];
        recording.extend(reference.iter().map(|s| crate::g711::alaw_decode(crate::g711::alaw_encode(*s))));
        recording.extend(vec![0i16; 1_000]);
        let m = find(&recording, &reference).expect("reference fits");
        assert_eq!(m.offset, 3_000);
        assert!(m.score > 0.99, "{m:?}");
    }

    #[test]
    fn silence_is_silent_and_a_tone_is_not() {
        assert!(is_silent(&[0i16; 800], -60.0));
        let tone: Vec<i16> = (0..800).map(|i| (10_000.0 * (f64::from(i) * 0.3).sin()) as i16).collect();
        assert!(!is_silent(&tone, -60.0));
        assert!((rms_dbfs(&tone) - (-13.3)).abs() < 0.5, "{}", rms_dbfs(&tone));
        assert_eq!(find(&[0i16; 100], &tone), None);
    }

    #[test]
    fn wav_files_round_trip() {
        let dir = std::env::temp_dir().join(format!("loadtest-wav-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("x.wav");
        let samples = voice(4, 1000);
        write_wav(&path, &samples, 8000).expect("write");
        assert_eq!(read_wav(&path).expect("read"), (samples, 8000));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
