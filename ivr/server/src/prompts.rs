//! The prompt library: every WAV file under the prompts directory, read once
//! at start-up, mixed to mono, resampled to 8 kHz and encoded into both G.711
//! laws, then shared by all calls as `Arc<Prompt>`.
//!
//! Owns file reading (`hound`) and resampling (`rubato`). It must never run on
//! the call path: calls only look prompts up by id (`ca/welcome`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use audioadapter_buffers::owned::InterleavedOwned;
use ivr_media::prompt::Prompt;
use rubato::{Fft, FixedSync, Resampler};

const TARGET_RATE: u32 = 8000;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("cannot read the prompts directory {path}: {source}")]
    Dir { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a readable WAV file: {source}")]
    Wav { path: PathBuf, source: hound::Error },
    #[error("{path}: {format} WAV is not supported; convert it to PCM (sox in.wav -e signed-integer out.wav)")]
    Unsupported { path: PathBuf, format: String },
    #[error("{path}: cannot resample from {rate} Hz: {reason}")]
    Resample { path: PathBuf, rate: u32, reason: String },
    #[error("{path}: the file holds no audio")]
    Empty { path: PathBuf },
}

/// Prompts by id: `<language>/<name>` without the `.wav` extension.
#[derive(Debug, Default)]
pub struct PromptLibrary {
    prompts: HashMap<String, Arc<Prompt>>,
}

impl PromptLibrary {
    /// Loads every `*.wav` below `dir` (one level of language folders, and
    /// files at the top level under their bare name).
    pub fn load(dir: &Path) -> Result<PromptLibrary, PromptError> {
        let mut library = PromptLibrary::default();
        let mut files = Vec::new();
        collect_wavs(dir, dir, &mut files)?;
        files.sort();
        for (id, path) in files {
            let samples = read_mono_8k(&path)?;
            library.prompts.insert(id.clone(), Arc::new(Prompt::from_pcm_8k(id, &samples)));
        }
        Ok(library)
    }

    pub fn get(&self, id: &str) -> Option<&Arc<Prompt>> {
        self.prompts.get(id)
    }

    pub fn len(&self) -> usize {
        self.prompts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prompts.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.prompts.keys().map(String::as_str)
    }
}

fn collect_wavs(root: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> Result<(), PromptError> {
    let entries = std::fs::read_dir(dir).map_err(|source| PromptError::Dir { path: dir.to_path_buf(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| PromptError::Dir { path: dir.to_path_buf(), source })?;
        let path = entry.path();
        if path.is_dir() {
            if dir == root {
                collect_wavs(root, &path, out)?;
            }
            continue;
        }
        if path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
            let rel = path.strip_prefix(root).unwrap_or(&path).with_extension("");
            let id = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            out.push((id, path));
        }
    }
    Ok(())
}

/// Reads a PCM WAV of any rate and channel count into 8 kHz mono i16.
pub fn read_mono_8k(path: &Path) -> Result<Vec<i16>, PromptError> {
    let wav_err = |source| PromptError::Wav { path: path.to_path_buf(), source };
    let mut reader = match hound::WavReader::open(path) {
        Ok(r) => r,
        // hound refuses mu-law and A-law WAV (format tags 6 and 7): say so plainly.
        Err(hound::Error::Unsupported) => {
            return Err(PromptError::Unsupported { path: path.to_path_buf(), format: "a non-PCM (e.g. mu-law or A-law)".into() });
        }
        Err(e) => return Err(wav_err(e)),
    };
    let spec = reader.spec();
    let channels = usize::from(spec.channels.max(1));
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>().map_err(wav_err)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(wav_err)?
        }
    };
    let mono: Vec<f32> = interleaved
        .chunks(channels)
        .map(|frame| frame.iter().sum::<f32>() / frame.len() as f32)
        .collect();
    if mono.is_empty() {
        return Err(PromptError::Empty { path: path.to_path_buf() });
    }
    let resampled = if spec.sample_rate == TARGET_RATE {
        mono
    } else {
        resample(&mono, spec.sample_rate).map_err(|reason| PromptError::Resample {
            path: path.to_path_buf(),
            rate: spec.sample_rate,
            reason,
        })?
    };
    Ok(resampled.iter().map(|&s| (s.clamp(-1.0, 1.0) * 32767.0).round() as i16).collect())
}

fn resample(mono: &[f32], rate: u32) -> Result<Vec<f32>, String> {
    let mut resampler = Fft::<f32>::new(rate as usize, TARGET_RATE as usize, 1024, 1, FixedSync::Both)
        .map_err(|e| e.to_string())?;
    let input = InterleavedOwned::new_from(mono.to_vec(), 1, mono.len()).map_err(|e| e.to_string())?;
    let output = resampler.process_all(&input, mono.len(), None).map_err(|e| e.to_string())?;
    Ok(output.take_data())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_wav(path: &Path, rate: u32, channels: u16, seconds: f32, freq: f32) {
        let spec = hound::WavSpec { channels, sample_rate: rate, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(path, spec).unwrap();
        let n = (rate as f32 * seconds) as usize;
        for i in 0..n {
            let v = (0.5 * (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin() * 32767.0) as i16;
            for _ in 0..channels {
                w.write_sample(v).unwrap();
            }
        }
        w.finalize().unwrap();
    }

    fn temp_dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("ivr-prompts-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("ca")).unwrap();
        d
    }

    #[test]
    fn any_rate_and_channel_count_becomes_8k_mono_of_the_same_length() {
        let d = temp_dir("rates");
        for (rate, ch) in [(8000, 1), (16000, 1), (22050, 1), (44100, 2), (48000, 2)] {
            let p = d.join(format!("ca/tone-{rate}.wav"));
            write_wav(&p, rate, ch, 1.0, 440.0);
            let s = read_mono_8k(&p).unwrap();
            assert!((s.len() as i64 - 8000).abs() <= 16, "{rate} Hz gave {} samples", s.len());
            // A 440 Hz tone at half scale keeps its level through resampling.
            let rms = (s[1000..7000].iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / 6000.0).sqrt();
            assert!((rms - 0.5 * 32767.0 / 2f64.sqrt()).abs() < 600.0, "{rate} Hz rms {rms}");
        }
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_library_names_prompts_by_language_and_file() {
        let d = temp_dir("lib");
        write_wav(&d.join("ca/welcome.wav"), 16000, 1, 0.2, 300.0);
        write_wav(&d.join("beep.wav"), 8000, 1, 0.1, 1000.0);
        std::fs::write(d.join("ca/notes.txt"), "not audio").unwrap();
        let lib = PromptLibrary::load(&d).unwrap();
        assert_eq!(lib.len(), 2);
        assert!(lib.get("ca/welcome").is_some());
        assert!(lib.get("beep").is_some());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn a_broken_file_is_a_clear_error_naming_it() {
        let d = temp_dir("broken");
        std::fs::write(d.join("ca/bad.wav"), b"RIFF....WAVEjunk").unwrap();
        let err = PromptLibrary::load(&d).unwrap_err();
        assert!(err.to_string().contains("bad.wav"), "{err}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_shipped_prompts_load() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../prompts");
        let lib = PromptLibrary::load(&dir).unwrap();
        for lang in ["ca", "es", "en"] {
            for name in ["welcome", "goodbye", "digit-0", "digit-9", "digit-star", "digit-hash"] {
                assert!(lib.get(&format!("{lang}/{name}")).is_some(), "{lang}/{name} missing");
            }
        }
    }
}
