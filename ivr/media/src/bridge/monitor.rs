//! A supervisor's third leg on a bridged call: silent monitoring, whisper
//! (coaching the agent) and barge (joining the conversation).
//!
//! Owns: the supervisor's [`RtpSession`] with its own 20 ms grid, short
//! queues of decoded audio per party, and the mixing. Unlike the two-party
//! relay, mixing needs time-aligned linear samples, so this leg is decoded
//! and re-encoded: the supervisor hears, on its own grid, the sum of what
//! the caller and the agent said; what the supervisor says is added into
//! the frames relayed to the agent (whisper) or to both (barge).
//!
//! Must never: delay or alter the two-party relay when no supervisor
//! speaks into it, let a queue grow (each is capped), or wrap around on a
//! loud sum (additions saturate at the 16-bit limits).
//!
//! Limits, chosen: the supervisor's voice rides on the relayed frames, so a
//! party whose counterpart sends nothing (silence suppression, hold) does
//! not hear the supervisor in that time; G.711 phones send continuously.

use std::time::Instant;

use crate::Codec;
use crate::call::MAX_FRAME_LEN;
use crate::g711;
use crate::session::RtpSession;

/// Samples a queue keeps at most (60 ms): older audio is dropped so the
/// supervisor's delay stays short whatever the arrival jitter.
const MAX_QUEUED: usize = 480;

/// What the supervisor does on the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MonitorMode {
    /// Hears both parties; nobody hears the supervisor.
    Listen,
    /// Hears both; only the agent (leg B) hears the supervisor.
    Whisper,
    /// Hears both; both hear the supervisor.
    Barge,
}

/// A bounded FIFO of linear samples (a ring over a fixed array).
#[derive(Debug)]
pub(crate) struct SampleQueue {
    ring: Box<[i16; MAX_QUEUED]>,
    head: usize,
    len: usize,
}

impl SampleQueue {
    pub(crate) fn new() -> SampleQueue {
        SampleQueue { ring: Box::new([0; MAX_QUEUED]), head: 0, len: 0 }
    }

    /// Appends `codec` bytes decoded; the oldest samples give way.
    pub(crate) fn push_encoded(&mut self, codec: Codec, bytes: &[u8]) {
        for &b in bytes {
            let sample = g711::decode(codec, b);
            if self.len == MAX_QUEUED {
                self.head = (self.head + 1) % MAX_QUEUED;
                self.len -= 1;
            }
            self.ring[(self.head + self.len) % MAX_QUEUED] = sample;
            self.len += 1;
        }
    }

    /// Adds the next `out.len()` samples into `out` (saturating) if that
    /// many are queued; otherwise adds nothing and keeps them, so a late
    /// packet is played on the next frame instead of in pieces.
    pub(crate) fn mix_into(&mut self, out: &mut [i16]) -> bool {
        if self.len < out.len() {
            return false;
        }
        for o in out.iter_mut() {
            *o = o.saturating_add(self.ring[self.head]);
            self.head = (self.head + 1) % MAX_QUEUED;
            self.len -= 1;
        }
        true
    }

    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }
}

#[derive(Debug)]
pub(crate) struct Monitor {
    pub(crate) session: RtpSession,
    pub(crate) mode: MonitorMode,
    /// Audio received from leg A and leg B, for the supervisor's ear.
    pub(crate) heard: [SampleQueue; 2],
    /// The supervisor's voice waiting to be mixed towards leg A and leg B.
    pub(crate) spoken: [SampleQueue; 2],
}

impl Monitor {
    pub(crate) fn new(session: RtpSession, mode: MonitorMode) -> Monitor {
        Monitor { session, mode, heard: [SampleQueue::new(), SampleQueue::new()], spoken: [SampleQueue::new(), SampleQueue::new()] }
    }

    /// Whether the party on leg index `to` hears the supervisor.
    pub(crate) fn heard_by(&self, to: usize) -> bool {
        match self.mode {
            MonitorMode::Listen => false,
            MonitorMode::Whisper => to == 1,
            MonitorMode::Barge => true,
        }
    }

    /// The supervisor spoke: queue it for whoever hears them.
    pub(crate) fn push_spoken(&mut self, payload: &[u8]) {
        let codec = self.session.config().codec;
        for to in 0..2 {
            if self.heard_by(to) {
                self.spoken[to].push_encoded(codec, payload);
            }
        }
    }

    /// Mixes the supervisor's voice into a frame relayed to leg index `to`
    /// (in `codec`), re-encoding it; untouched when nothing is queued.
    pub(crate) fn mix_towards(&mut self, to: usize, codec: Codec, frame: &mut [u8]) {
        if !self.heard_by(to) {
            return;
        }
        let mut pcm = [0i16; MAX_FRAME_LEN];
        let Some(pcm) = pcm.get_mut(..frame.len()) else { return };
        g711::decode_into(codec, frame, pcm);
        if self.spoken[to].mix_into(pcm) {
            g711::encode_into(codec, pcm, frame);
        }
    }

    /// The supervisor's next frame, if due: both parties mixed.
    pub(crate) fn poll_rtp(&mut self, now: Instant, buf: &mut [u8]) -> Option<(std::net::SocketAddr, usize)> {
        if !self.session.is_sending() || now < self.session.next_send_at() {
            return None;
        }
        let codec = self.session.config().codec;
        let n = usize::try_from(self.session.samples_per_frame()).unwrap_or(MAX_FRAME_LEN).clamp(1, MAX_FRAME_LEN);
        let mut pcm = [0i16; MAX_FRAME_LEN];
        let mut bytes = [0u8; MAX_FRAME_LEN];
        let (pcm, bytes) = (pcm.get_mut(..n)?, bytes.get_mut(..n)?);
        for queue in &mut self.heard {
            queue.mix_into(pcm);
        }
        g711::encode_into(codec, pcm, bytes);
        self.session.poll_rtp(now, bytes, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_keeps_the_newest_samples_and_mixes_only_whole_frames() {
        let mut q = SampleQueue::new();
        let loud: Vec<u8> = vec![g711::linear_to_ulaw(30_000); 600];
        q.push_encoded(Codec::Pcmu, &loud);
        assert_eq!(q.len, MAX_QUEUED);
        let mut out = [10_000i16; 160];
        assert!(q.mix_into(&mut out));
        assert!(out.iter().all(|&s| s == i16::MAX), "a loud sum saturates");
        q.clear();
        q.push_encoded(Codec::Pcmu, &[0xFF; 100]);
        let mut out = [7i16; 160];
        assert!(!q.mix_into(&mut out));
        assert_eq!(out, [7; 160]);
        assert_eq!(q.len, 100);
    }
}
