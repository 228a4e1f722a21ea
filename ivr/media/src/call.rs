//! `MediaCall`: everything one call's media needs, behind one sans-IO type.
//!
//! Owns, per call: the RTP session ([`RtpSession`]: grid, latching, stats,
//! RTCP, media timeout), the prompt [`Player`], DTMF reception by all three
//! methods with one-press-one-digit arbitration ([`DtmfArbiter`]), and the
//! events the dialplan sees. The server's media loop drives thousands of
//! these; each is a few kilobytes and allocates nothing per packet or frame.
//!
//! Must never: touch sockets or the clock, panic on a datagram, or stop
//! sending while the call is up. An idle IVR still sends G.711 silence on
//! the grid: NAT bindings stay open and the peer's jitter buffer never sees
//! the timestamps drift (RFC 3550 §5.1 timestamps advance with real time).
//!
//! ## Run-loop contract
//! After every input (`handle_*`, `play`, `stop_playback`) and at
//! [`MediaCall::poll_timeout`], the shell calls `handle_timeout(now)`, then
//! drains [`MediaCall::poll_transmit`] until `None` (a late wake-up may owe
//! several packets) and [`MediaCall::poll_event`] until `None`.
//! Transmit buffers must hold [`MediaCall::transmit_buffer_len`] bytes.
//!
//! ## Choices
//! - A digit during a barge-in playback stops it at once: the events are
//!   `Digit` then `PlaybackFinished { interrupted: true }`. A digit during a
//!   playback without barge-in is reported and the playback continues to its
//!   natural `PlaybackFinished { interrupted: false }`. `stop_playback` (the
//!   dialplan's own decision) emits nothing.
//! - DTMF arbitration is [`DtmfArbiter`]'s: the first RFC 4733 packet turns
//!   in-band detection off for the rest of the call.
//! - `MediaTimeout` is emitted once per silent episode; it is the server's
//!   decision to hang up.
//! - Recording ([`MediaCall::start_recording`]): the beep is played like a
//!   prompt but its end emits no `PlaybackFinished`; the recorder starts
//!   when its last frame leaves. A new `play` during the beep cuts it short
//!   and recording starts at once. The configured stop key ends the
//!   recording (`Digit` first, then `RecordingFinished`).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::dtmf::goertzel::DtmfDetector;
use crate::dtmf::rfc4733::{Rfc4733Outcome, Rfc4733Receiver};
use crate::dtmf::{DtmfArbiter, DtmfDigit, DtmfMethod};
use crate::g711;
use crate::prompt::{FrameFill, Player, Prompt};
use crate::recorder::{RecordConfig, Recorder, Recording, RecordingEnd, beep_prompt};
use crate::rtp::RTP_HEADER_LEN;
use crate::session::{PacketKind, RTCP_BUFFER_LEN, RtpIdentity, RtpSession, SessionConfig};

/// The longest frame we send: 200 ms of G.711.
pub const MAX_FRAME_LEN: usize = 1600;
/// Decoding chunk for in-band detection (one 20 ms frame).
const DECODE_CHUNK: usize = 160;
/// In-band digits one audio packet can yield (one, really: a digit needs
/// 32 ms of tone; this bounds a 200 ms packet).
const MAX_DIGITS_PER_PACKET: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    pub session: SessionConfig,
    /// Listen for DTMF tones in the audio (until the peer shows it sends
    /// RFC 4733). Default true.
    pub inband_dtmf: bool,
}

impl MediaConfig {
    pub fn new(session: SessionConfig) -> Self {
        MediaConfig { session, inband_dtmf: true }
    }
}

/// What happened on the call's media.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MediaEvent {
    Digit { digit: DtmfDigit, method: DtmfMethod },
    /// The playback ended: it played out, or a digit barged in.
    PlaybackFinished { interrupted: bool },
    /// No RTP or RTCP from the peer for the configured media timeout.
    MediaTimeout,
    /// A recording ended; `recording.end` says why, `recording.to_wav()`
    /// gives the file to store.
    RecordingFinished { recording: Recording },
}

/// Where a recording started by [`MediaCall::start_recording`] stands.
#[derive(Debug)]
enum RecordingState {
    Beeping(RecordConfig),
    /// The beep was cut by a `play`: the recorder starts at the next `now`.
    Starting(RecordConfig),
    Recording { recorder: Box<Recorder>, stop_digit: Option<DtmfDigit> },
}

/// A datagram written into the caller's buffer, with its destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transmit {
    Rtp { to: SocketAddr, len: usize },
    Rtcp { to: SocketAddr, len: usize },
}

/// Counters for metrics and call records (input problems are counted, never
/// fatal).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaCounters {
    pub rtp_errors: u64,
    pub rtcp_errors: u64,
    pub telephone_event_errors: u64,
    pub unsupported_events: u64,
    pub digits_rfc4733: u64,
    pub digits_sip_info: u64,
    pub digits_inband: u64,
}

/// One call's media (see the module docs for the run-loop contract).
#[derive(Debug)]
pub struct MediaCall {
    session: RtpSession,
    player: Player,
    rfc4733: Rfc4733Receiver,
    detector: Option<Box<DtmfDetector>>,
    arbiter: DtmfArbiter,
    events: VecDeque<MediaEvent>,
    counters: MediaCounters,
    frame_len: usize,
    timeout_reported: bool,
    recording: Option<RecordingState>,
}

impl MediaCall {
    pub fn new(config: MediaConfig, rng: &mut fastrand::Rng, now: Instant, wallclock: SystemTime) -> Self {
        let samples = config.session.ptime.as_micros() * u128::from(crate::Codec::SAMPLE_RATE) / 1_000_000;
        let frame_len = usize::try_from(samples).unwrap_or(MAX_FRAME_LEN).clamp(1, MAX_FRAME_LEN);
        let session = RtpSession::new(config.session, RtpIdentity::random(rng), now, wallclock);
        MediaCall {
            session,
            player: Player::new(),
            rfc4733: Rfc4733Receiver::new(),
            detector: config.inband_dtmf.then(|| Box::new(DtmfDetector::new())),
            arbiter: DtmfArbiter::new(),
            events: VecDeque::with_capacity(8),
            counters: MediaCounters::default(),
            frame_len,
            timeout_reported: false,
            recording: None,
        }
    }

    /// Resumes the IVR on a stream that was bridged (from
    /// [`crate::bridge::Bridge::into_sessions`]): same SSRC, sequence and
    /// timestamps, so the phone sees one continuous stream; in-band DTMF
    /// detection as configured.
    pub fn from_session(session: RtpSession, inband_dtmf: bool) -> Self {
        let samples = session.config().ptime.as_micros() * u128::from(crate::Codec::SAMPLE_RATE) / 1_000_000;
        let frame_len = usize::try_from(samples).unwrap_or(MAX_FRAME_LEN).clamp(1, MAX_FRAME_LEN);
        MediaCall {
            session,
            player: Player::new(),
            rfc4733: Rfc4733Receiver::new(),
            detector: inband_dtmf.then(|| Box::new(DtmfDetector::new())),
            arbiter: DtmfArbiter::new(),
            events: VecDeque::with_capacity(8),
            counters: MediaCounters::default(),
            frame_len,
            timeout_reported: false,
            recording: None,
        }
    }

    /// The size `poll_transmit` and `hangup` buffers must have.
    pub fn transmit_buffer_len(&self) -> usize {
        (RTP_HEADER_LEN + self.frame_len).max(RTCP_BUFFER_LEN)
    }

    /// An RTP datagram from the peer: audio goes to the in-band detector (if
    /// still enabled), telephone-events to the RFC 4733 receiver.
    pub fn handle_rtp(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        self.start_pending_recording(now);
        let received = match self.session.handle_rtp(now, from, bytes) {
            Ok(r) => r,
            Err(_) => {
                self.counters.rtp_errors += 1;
                return;
            }
        };
        let packet = received.packet;
        match received.kind {
            PacketKind::TelephoneEvent => {
                self.arbiter.note_rfc4733_activity();
                match self.rfc4733.handle(now, packet.ssrc, packet.timestamp, packet.payload) {
                    Ok(Rfc4733Outcome::Digit(d)) => self.digit(now, d, DtmfMethod::Rfc4733),
                    Ok(Rfc4733Outcome::Repeat) => {}
                    Ok(Rfc4733Outcome::Unsupported { .. }) => self.counters.unsupported_events += 1,
                    Err(_) => self.counters.telephone_event_errors += 1,
                }
            }
            PacketKind::Audio => {
                if let Some(RecordingState::Recording { recorder, .. }) = self.recording.as_mut() {
                    let codec = self.session.config().codec;
                    recorder.handle_audio(now, codec, packet.ssrc, packet.timestamp, packet.payload);
                    self.collect_recording();
                }
                self.detect_inband(now, packet.payload);
            }
            PacketKind::Other => {}
        }
    }

    fn detect_inband(&mut self, now: Instant, payload: &[u8]) {
        if !self.arbiter.inband_enabled() {
            return;
        }
        let Some(detector) = self.detector.as_mut() else { return };
        let codec = self.session.config().codec;
        let mut found = [None; MAX_DIGITS_PER_PACKET];
        let mut count = 0;
        let mut pcm = [0i16; DECODE_CHUNK];
        for chunk in payload.chunks(DECODE_CHUNK) {
            let n = g711::decode_into(codec, chunk, &mut pcm);
            detector.process(pcm.get(..n).unwrap_or_default(), |d| {
                if let Some(slot) = found.get_mut(count) {
                    *slot = Some(d);
                    count += 1;
                }
            });
        }
        for d in found.into_iter().flatten() {
            self.digit(now, d, DtmfMethod::InBand);
        }
    }

    /// An RTCP datagram from the peer.
    pub fn handle_rtcp(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if self.session.handle_rtcp(now, from, bytes).is_err() {
            self.counters.rtcp_errors += 1;
        }
    }

    /// A digit from a SIP INFO (the server parsed it with
    /// [`crate::dtmf::info::parse_info`]).
    pub fn handle_info_dtmf(&mut self, digit: DtmfDigit) {
        self.counters.digits_sip_info += 1;
        self.report_digit(digit, DtmfMethod::SipInfo);
    }

    /// Checks the media timeout and the recording's limits.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.start_pending_recording(now);
        if let Some(RecordingState::Recording { recorder, .. }) = self.recording.as_mut() {
            recorder.handle_timeout(now);
            self.collect_recording();
        }
        if self.session.is_media_timed_out(now) {
            if !self.timeout_reported {
                self.timeout_reported = true;
                self.events.push_back(MediaEvent::MediaTimeout);
            }
        } else {
            self.timeout_reported = false;
        }
    }

    /// Replaces what is playing by `prompts` in order. With `barge_in`, the
    /// caller's first digit stops it.
    pub fn play(&mut self, prompts: impl IntoIterator<Item = Arc<Prompt>>, barge_in: bool) {
        // A beep cut short: recording starts at the next input.
        self.recording = match self.recording.take() {
            Some(RecordingState::Beeping(config)) => Some(RecordingState::Starting(config)),
            other => other,
        };
        self.player.play(prompts, barge_in);
        self.session.mark_talkspurt();
    }

    /// Stops the playback without an event (the dialplan decided).
    pub fn stop_playback(&mut self) {
        self.player.stop();
    }

    pub fn is_playing(&self) -> bool {
        self.player.is_playing()
    }

    /// Writes the next due datagram into `buf`: an RTCP report when one is
    /// due, else the RTP frame due on the grid (prompt audio, or silence when
    /// idle). `None` when nothing is due, or if `buf` is shorter than
    /// [`transmit_buffer_len`](Self::transmit_buffer_len).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if buf.len() < self.transmit_buffer_len() {
            return None;
        }
        if let Some((to, len)) = self.session.poll_rtcp(now, buf) {
            return Some(Transmit::Rtcp { to, len });
        }
        if !self.session.is_sending() || now < self.session.next_send_at() {
            return None;
        }
        let codec = self.session.config().codec;
        let mut storage = [0u8; MAX_FRAME_LEN];
        let frame = storage.get_mut(..self.frame_len)?;
        let fill = self.player.fill_frame(codec, frame);
        let (to, len) = self.session.poll_rtp(now, frame, buf)?;
        if fill == FrameFill::PromptFinished {
            match self.recording.take() {
                Some(RecordingState::Beeping(config)) => self.begin_recording(now, config),
                other => {
                    self.recording = other;
                    self.events.push_back(MediaEvent::PlaybackFinished { interrupted: false });
                }
            }
        }
        Some(Transmit::Rtp { to, len })
    }

    pub fn poll_event(&mut self) -> Option<MediaEvent> {
        self.events.pop_front()
    }

    /// Records what the caller says (the dialplan's `record` node): stops
    /// any playback (silently), plays the beep if configured, then records
    /// until a limit, silence, the stop key or
    /// [`stop_recording`](Self::stop_recording); the result comes as
    /// [`MediaEvent::RecordingFinished`]. A recording already in progress
    /// is replaced (its audio discarded).
    pub fn start_recording(&mut self, now: Instant, config: RecordConfig) {
        self.player.stop();
        self.recording = None;
        match &config.beep {
            Some(beep) => {
                self.player.play([Arc::new(beep_prompt(beep))], false);
                self.session.mark_talkspurt();
                self.recording = Some(RecordingState::Beeping(config));
            }
            None => self.begin_recording(now, config),
        }
    }

    /// Ends the recording now ([`RecordingEnd::Stopped`]): the engine saw
    /// its own stop key, or the caller hung up. Stopping during the beep
    /// gives an empty recording. No-op if nothing is being recorded.
    pub fn stop_recording(&mut self, _now: Instant) {
        match self.recording.take() {
            Some(state @ (RecordingState::Beeping(_) | RecordingState::Starting(_))) => {
                if matches!(state, RecordingState::Beeping(_)) {
                    self.player.stop();
                }
                let recording = Recording { samples: Vec::new(), end: RecordingEnd::Stopped, speech_detected: false };
                self.events.push_back(MediaEvent::RecordingFinished { recording });
            }
            Some(RecordingState::Recording { mut recorder, .. }) => {
                recorder.stop(RecordingEnd::Stopped);
                if let Some(recording) = recorder.poll_finished() {
                    self.events.push_back(MediaEvent::RecordingFinished { recording });
                }
            }
            None => {}
        }
    }

    /// Whether a recording (or its beep) is in progress.
    pub fn is_recording(&self) -> bool {
        self.recording.is_some()
    }

    fn start_pending_recording(&mut self, now: Instant) {
        match self.recording.take() {
            Some(RecordingState::Starting(config)) => self.begin_recording(now, config),
            other => self.recording = other,
        }
    }

    fn begin_recording(&mut self, now: Instant, config: RecordConfig) {
        let recorder = Box::new(Recorder::new(&config, now));
        self.recording = Some(RecordingState::Recording { recorder, stop_digit: config.stop_digit });
    }

    fn collect_recording(&mut self) {
        let Some(RecordingState::Recording { recorder, .. }) = self.recording.as_mut() else { return };
        if let Some(recording) = recorder.poll_finished() {
            self.recording = None;
            self.events.push_back(MediaEvent::RecordingFinished { recording });
        }
    }

    /// When to call `handle_timeout` / `poll_transmit` next.
    pub fn poll_timeout(&self) -> Instant {
        let at = self.session.poll_timeout();
        let at = match &self.recording {
            Some(RecordingState::Recording { recorder, .. }) => recorder.poll_timeout().map_or(at, |r| r.min(at)),
            _ => at,
        };
        if self.timeout_reported && self.session.is_sending() {
            // The session keeps pointing at the expired media timeout; the
            // next frame slot (which also polls RTCP) is the next real work.
            return self.session.next_send_at();
        }
        at
    }

    /// The call ends: stops playback and writes an RTCP BYE.
    pub fn hangup(&mut self, buf: &mut [u8]) -> Option<Transmit> {
        self.player.stop();
        if buf.len() < RTCP_BUFFER_LEN {
            return None;
        }
        self.session.rtcp_bye(buf).map(|(to, len)| Transmit::Rtcp { to, len })
    }

    pub fn session(&self) -> &RtpSession {
        &self.session
    }

    pub fn session_mut(&mut self) -> &mut RtpSession {
        &mut self.session
    }

    /// Ends the IVR part of the call and hands over its RTP stream (e.g. to
    /// a [`crate::bridge::Bridge`]), so that the caller's phone keeps seeing
    /// one SSRC and continuous sequence numbers and timestamps.
    pub fn into_session(self) -> RtpSession {
        self.session
    }

    /// As [`MediaCall::into_session`], with the RFC 4733 receiver that
    /// remembers the presses already reported: handed to the bridge
    /// ([`crate::bridge::Bridge::with_presses`]), a key whose packets
    /// straddle the handover (pressed as an operator answers) is reported
    /// once, not once by each.
    pub fn into_parts(self) -> (RtpSession, Rfc4733Receiver) {
        (self.session, self.rfc4733)
    }

    /// Takes over the presses a bridge already reported (see
    /// [`crate::bridge::Bridge::into_parts`]).
    pub fn with_presses(mut self, presses: Rfc4733Receiver) -> Self {
        self.rfc4733 = presses;
        self
    }

    pub fn counters(&self) -> MediaCounters {
        self.counters
    }

    fn digit(&mut self, now: Instant, digit: DtmfDigit, method: DtmfMethod) {
        if !self.arbiter.accept(now, digit, method) {
            return;
        }
        match method {
            DtmfMethod::Rfc4733 => self.counters.digits_rfc4733 += 1,
            DtmfMethod::InBand => self.counters.digits_inband += 1,
            DtmfMethod::SipInfo => self.counters.digits_sip_info += 1,
        }
        self.report_digit(digit, method);
    }

    fn report_digit(&mut self, digit: DtmfDigit, method: DtmfMethod) {
        self.events.push_back(MediaEvent::Digit { digit, method });
        if let Some(RecordingState::Recording { recorder, stop_digit }) = self.recording.as_mut()
            && *stop_digit == Some(digit)
        {
            recorder.stop(RecordingEnd::Digit(digit));
            self.collect_recording();
        }
        if self.player.interrupt() {
            self.events.push_back(MediaEvent::PlaybackFinished { interrupted: true });
        }
    }
}
