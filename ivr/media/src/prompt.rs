//! Prompts and their per-call playback.
//!
//! Owns: [`Prompt`], an immutable recording already at 8 kHz mono, encoded
//! once into both G.711 laws when it is loaded and then shared by every call
//! as `Arc<Prompt>`; and [`Player`], one call's cursor over a queue of
//! prompts ("you pressed" + "5"), which cuts them into RTP frames.
//!
//! Must never: read files, resample, encode on the call path or allocate per
//! frame. Reading WAV files and resampling to 8 kHz are the server's job, at
//! start-up or upload (see DEPENDENCIES.md, Media).
//!
//! Barge-in is per playback: `Player::interrupt` stops only a playback
//! started with `barge_in = true`; the caller's digit is reported either way.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use crate::{Codec, g711};

/// An 8 kHz mono recording in both laws.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prompt {
    name: String,
    pcmu: Box<[u8]>,
    pcma: Box<[u8]>,
}

impl Prompt {
    /// Encodes `samples` (8 kHz, mono, 16-bit linear) into both laws.
    pub fn from_pcm_8k(name: impl Into<String>, samples: &[i16]) -> Prompt {
        let mut pcmu = vec![0u8; samples.len()].into_boxed_slice();
        let mut pcma = vec![0u8; samples.len()].into_boxed_slice();
        g711::encode_into(Codec::Pcmu, samples, &mut pcmu);
        g711::encode_into(Codec::Pcma, samples, &mut pcma);
        Prompt { name: name.into(), pcmu, pcma }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The encoded audio, one byte per 8 kHz sample.
    pub fn payload(&self, codec: Codec) -> &[u8] {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }

    pub fn len_samples(&self) -> usize {
        self.pcmu.len()
    }

    pub fn duration(&self) -> Duration {
        Duration::from_micros(self.len_samples() as u64 * 1_000_000 / u64::from(Codec::SAMPLE_RATE))
    }
}

/// What [`Player::fill_frame`] put in the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameFill {
    /// Prompt audio (the queue goes on after this frame).
    Audio,
    /// The last prompt audio, padded with silence: the queue has drained.
    PromptFinished,
    /// Nothing is playing: all silence.
    Silence,
}

/// One call's playback cursor.
#[derive(Debug, Clone, Default)]
pub struct Player {
    queue: VecDeque<Arc<Prompt>>,
    /// Byte offset into the front prompt.
    offset: usize,
    barge_in: bool,
    playing: bool,
    /// Non-empty: the playback loops over these (hold music) until stopped.
    looped: Vec<Arc<Prompt>>,
}

impl Player {
    pub fn new() -> Self {
        Self::default()
    }

    /// Replaces whatever is playing by `prompts`, in order. An empty
    /// sequence (or only empty prompts) finishes on the next frame.
    pub fn play(&mut self, prompts: impl IntoIterator<Item = Arc<Prompt>>, barge_in: bool) {
        self.queue.clear();
        self.queue.extend(prompts);
        self.offset = 0;
        self.barge_in = barge_in;
        self.playing = true;
        self.looped.clear();
    }

    /// Plays `prompts` in a loop, without barge-in and without a gap
    /// between the end of the last and the start of the first, until
    /// [`stop`](Self::stop) or another `play` (music on hold). Prompts that
    /// are all empty give silence.
    pub fn play_looping(&mut self, prompts: impl IntoIterator<Item = Arc<Prompt>>) {
        self.play(std::iter::empty(), false);
        self.looped.extend(prompts.into_iter().filter(|p| p.len_samples() > 0));
        self.queue.extend(self.looped.iter().cloned());
        self.playing = !self.looped.is_empty();
    }

    /// Whether a playback is in progress (its last frame not yet filled).
    pub fn is_playing(&self) -> bool {
        self.playing
    }

    /// Whether the current playback may be interrupted by the caller.
    pub fn barge_in(&self) -> bool {
        self.playing && self.barge_in
    }

    /// The caller pressed a key: stops the playback if it allows barge-in.
    /// Returns whether it stopped.
    pub fn interrupt(&mut self) -> bool {
        if self.barge_in() {
            self.stop();
            true
        } else {
            false
        }
    }

    /// Stops unconditionally (the dialplan moved on, the call ends).
    pub fn stop(&mut self) {
        self.looped.clear();
        self.queue.clear();
        self.offset = 0;
        self.playing = false;
    }

    /// Fills exactly `out.len()` bytes (one frame: 160 for 20 ms) in
    /// `codec`, continuing across prompt boundaries and padding with the
    /// codec's silence after the last one.
    pub fn fill_frame(&mut self, codec: Codec, out: &mut [u8]) -> FrameFill {
        if !self.playing {
            out.fill(codec.silence_byte());
            return FrameFill::Silence;
        }
        let mut written = 0;
        while written < out.len() {
            let Some(prompt) = self.queue.front() else { break };
            let source = prompt.payload(codec).get(self.offset..).unwrap_or_default();
            let n = source.len().min(out.len() - written);
            if let (Some(dst), Some(src)) = (out.get_mut(written..written + n), source.get(..n)) {
                dst.copy_from_slice(src);
            }
            written += n;
            self.offset += n;
            if n == source.len() {
                self.queue.pop_front();
                self.offset = 0;
                if self.queue.is_empty() {
                    // Looping: only non-empty prompts are kept, so every
                    // turn of this loop makes progress.
                    self.queue.extend(self.looped.iter().cloned());
                }
            }
        }
        if let Some(rest) = out.get_mut(written..) {
            rest.fill(codec.silence_byte());
        }
        if self.queue.is_empty() {
            self.playing = false;
            FrameFill::PromptFinished
        } else {
            FrameFill::Audio
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt(name: &str, len: usize) -> Arc<Prompt> {
        let pcm: Vec<i16> = (0..len).map(|i| (i as i16).wrapping_mul(97)).collect();
        Arc::new(Prompt::from_pcm_8k(name, &pcm))
    }

    #[test]
    fn a_prompt_is_encoded_once_in_both_laws() {
        let p = Prompt::from_pcm_8k("beep", &[0, 1000, -1000]);
        assert_eq!(p.payload(Codec::Pcmu), [0xFF, g711::linear_to_ulaw(1000), g711::linear_to_ulaw(-1000)]);
        assert_eq!(p.payload(Codec::Pcma), [0xD5, g711::linear_to_alaw(1000), g711::linear_to_alaw(-1000)]);
        assert_eq!(Prompt::from_pcm_8k("x", &[0; 12_000]).duration(), Duration::from_millis(1500));
    }

    #[test]
    fn frames_run_across_prompts_and_pad_the_end_with_silence() {
        let a = prompt("you pressed", 250);
        let b = prompt("five", 100);
        let mut player = Player::new();
        player.play([a.clone(), b.clone()], false);
        let mut sent = Vec::new();
        let mut frame = [0u8; 160];
        assert_eq!(player.fill_frame(Codec::Pcma, &mut frame), FrameFill::Audio);
        sent.extend_from_slice(&frame);
        assert_eq!(player.fill_frame(Codec::Pcma, &mut frame), FrameFill::Audio);
        sent.extend_from_slice(&frame);
        assert_eq!(player.fill_frame(Codec::Pcma, &mut frame), FrameFill::PromptFinished);
        sent.extend_from_slice(&frame);
        assert!(!player.is_playing());
        let expected = [a.payload(Codec::Pcma), b.payload(Codec::Pcma)].concat();
        assert_eq!(&sent[..350], &expected[..]);
        assert!(sent[350..].iter().all(|&s| s == 0xD5));
        assert_eq!(player.fill_frame(Codec::Pcma, &mut frame), FrameFill::Silence);
        assert!(frame.iter().all(|&s| s == 0xD5));
    }

    #[test]
    fn an_exact_multiple_of_the_frame_finishes_on_its_last_frame() {
        let mut player = Player::new();
        player.play([prompt("a", 320)], true);
        let mut frame = [0u8; 160];
        assert_eq!(player.fill_frame(Codec::Pcmu, &mut frame), FrameFill::Audio);
        assert_eq!(player.fill_frame(Codec::Pcmu, &mut frame), FrameFill::PromptFinished);
    }

    #[test]
    fn an_empty_playback_finishes_on_the_next_frame() {
        let mut player = Player::new();
        player.play([prompt("empty", 0)], false);
        let mut frame = [0u8; 160];
        assert_eq!(player.fill_frame(Codec::Pcmu, &mut frame), FrameFill::PromptFinished);
        assert!(frame.iter().all(|&s| s == 0xFF));
    }

    #[test]
    fn a_looping_playback_wraps_without_a_gap_until_stopped() {
        let mut player = Player::new();
        let a = prompt("a", 100);
        let b = prompt("b", 150);
        player.play_looping([a.clone(), prompt("empty", 0), b.clone()]);
        assert!(!player.interrupt(), "hold music takes no barge-in");
        let mut got = Vec::new();
        let mut frame = [0u8; 160];
        for _ in 0..5 {
            assert_eq!(player.fill_frame(Codec::Pcmu, &mut frame), FrameFill::Audio);
            got.extend_from_slice(&frame);
        }
        let turn = [a.payload(Codec::Pcmu), b.payload(Codec::Pcmu)].concat();
        let expected: Vec<u8> = turn.iter().cycle().take(800).copied().collect();
        assert_eq!(got, expected);
        player.stop();
        assert_eq!(player.fill_frame(Codec::Pcmu, &mut frame), FrameFill::Silence);
        player.play_looping([prompt("empty", 0)]);
        assert!(!player.is_playing());
        assert_eq!(player.fill_frame(Codec::Pcmu, &mut frame), FrameFill::Silence);
    }

    #[test]
    fn interrupt_only_stops_a_barge_in_playback() {
        let mut player = Player::new();
        player.play([prompt("menu", 8000)], false);
        assert!(!player.interrupt());
        assert!(player.is_playing());
        player.play([prompt("menu", 8000)], true);
        assert!(player.interrupt());
        assert!(!player.is_playing());
        let mut frame = [0u8; 160];
        assert_eq!(player.fill_frame(Codec::Pcmu, &mut frame), FrameFill::Silence);
    }
}
