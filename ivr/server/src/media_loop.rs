//! The media loop: one OS thread that owns every call's RTP and RTCP sockets
//! and drives each call's sans-IO [`MediaCall`] on its 20 ms grid.
//!
//! Why a thread and not a tokio task per call: timer wake-ups are the enemy
//! of RTP pacing on a busy two-core box (a task and an interval per call
//! reached p99 2.9 ms at 1,000 calls). Here one `mio` poll sleeps exactly
//! until the earliest deadline of all calls, then serves every call that is
//! due, so thousands of calls cost one wake-up per slot.
//!
//! Owns: sockets (non-blocking, registered with mio), the deadline queue, and
//! the per-call `MediaCall`s. Talks to the SIP engine only by messages:
//! [`MediaCommand`] in (through a channel and a mio `Waker`), [`MediaNotice`]
//! out. It must never block on anything but `poll`, never decide call flow,
//! and never let a socket error end a call (an ICMP port-unreachable from a
//! caller that is not listening yet is normal).
//!
//! A browser softphone's media session (`ivr-softphone`'s `SoftphoneLeg`,
//! its offer already answered by the engine) lives in a slot of its own:
//! its RTP socket is the leg's ICE host candidate (RTCP is multiplexed; the
//! pair's second socket stays idle), datagrams go into the leg, the leg's
//! transmits out of that socket and its deadline into the queue. Bridged to
//! a caller, the bridge's leg-B RTP goes into the leg (`send_rtp`; leg B's
//! RTCP is dropped, str0m sends the browser its own) and the leg's
//! decrypted RTP into the bridge's leg B. Unbridged, the session stays up,
//! idle, for the agent's next call.
//!
//! A supervisor's softphone session (no agent of its own) can monitor a
//! bridge ([`MediaCommand::Monitor`]): a stream of its own on the bridge's
//! third leg ([`ivr_media::bridge::monitor`]), whose RTP goes into the
//! supervisor's leg and whose decrypted RTP comes back as the supervisor's
//! voice. The bridge and the supervisor's slot point at each other; either
//! ending (the call unbridged or stopped, the browser's session stopped)
//! detaches the monitor and leaves the other running.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use ivr_media::bridge::{Bridge, BridgeEvent, Endpoint, LegId as BridgeLeg, MonitorMode};
use ivr_media::call::{MediaCall, MediaConfig, MediaEvent, Transmit};
use ivr_media::session::{RtpIdentity, RtpSession};
use ivr_media::dtmf::{DtmfDigit, DtmfMethod};
use ivr_media::prompt::Prompt;
use ivr_media::recorder::{RecordConfig, Recording};
use ivr_softphone::{SoftphoneEvent, SoftphoneLeg};
use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use tokio::sync::mpsc::UnboundedSender;

use crate::deadlines::DeadlineQueue;
use crate::telemetry;

/// The engine's name for a call on the media side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MediaId(pub u64);

#[derive(Debug)]
pub enum MediaCommand {
    Start {
        id: MediaId,
        rtp: StdUdpSocket,
        rtcp: StdUdpSocket,
        config: Box<MediaConfig>,
        seed: u64,
    },
    /// Replace what the call hears. `token` comes back in the
    /// `PlaybackFinished` notice, so the engine knows which play ended.
    Play { id: MediaId, prompts: Vec<Arc<Prompt>>, barge_in: bool, token: u64 },
    /// Stop the playback; its `PlaybackFinished { interrupted: true }`
    /// follows if it was still playing (never a second one).
    StopPlayback { id: MediaId },
    /// Connects two running calls' media (the caller's `a`, an operator's
    /// or transfer target's `b`): each hears the other, keys are reported
    /// per leg, PCMU and PCMA are transcoded.
    Bridge { a: MediaId, b: MediaId },
    /// Splits a bridge: `a` returns to the IVR (prompts, keys), `b` runs on
    /// alone until it is stopped.
    Unbridge { a: MediaId },
    /// The operator put the caller (`a` of a bridge) on hold: music for the caller.
    Hold { a: MediaId, prompts: Vec<Arc<Prompt>> },
    Resume { a: MediaId },
    /// The operator muted (or unmuted) themselves: the caller (`a` of a
    /// bridge) hears silence with the same timing instead of the operator.
    Mute { a: MediaId, agent_muted: bool },
    /// A browser softphone's session: `leg` has answered the browser's
    /// offer with `rtp`'s address as its host candidate.
    SoftphoneStart { id: MediaId, rtp: StdUdpSocket, rtcp: StdUdpSocket, leg: Box<SoftphoneLeg>, seed: u64 },
    /// The supervisor's softphone session `supervisor` hears the bridge
    /// whose caller leg is `a`, in `mode` (again with the same two: the
    /// mode changes). It leaves any bridge it monitored before.
    Monitor { a: MediaId, supervisor: MediaId, mode: MonitorMode },
    /// The supervisor's session stops monitoring (its session stays up).
    StopMonitor { supervisor: MediaId },
    /// A candidate the browser trickled for the session `id`.
    SoftphoneCandidate { id: MediaId, candidate: String },
    StartRecording { id: MediaId, config: Box<RecordConfig> },
    StopRecording { id: MediaId },
    InfoDigit { id: MediaId, digit: DtmfDigit },
    /// A re-INVITE moved the caller's media or put the call on hold.
    Update { id: MediaId, remote_rtp: SocketAddr, sending: bool },
    Stop { id: MediaId },
    Shutdown,
}

/// What a call's media did, for its record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaTotals {
    pub packets_sent: u64,
    pub packets_received: u64,
    /// RFC 3550 A.3 cumulative loss of the caller's stream (never negative here).
    pub packets_lost: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MediaNotice {
    Digit { id: MediaId, digit: DtmfDigit, method: DtmfMethod },
    PlaybackFinished { id: MediaId, token: u64, interrupted: bool },
    RecordingFinished { id: MediaId, recording: Box<Recording> },
    MediaTimeout { id: MediaId },
    /// The call's sockets are closed; the stream's totals.
    Stopped { id: MediaId, totals: MediaTotals },
    /// A softphone session connected, was interrupted, resumed or failed.
    Softphone { id: MediaId, event: SoftphoneEvent },
}

/// The engine's side of the media loop.
#[derive(Clone)]
pub struct MediaHandle {
    commands: Sender<MediaCommand>,
    waker: Arc<Waker>,
}

impl MediaHandle {
    pub fn send(&self, command: MediaCommand) {
        // The loop only stops on Shutdown, after which nothing is sent.
        if self.commands.send(command).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

const WAKER: Token = Token(usize::MAX);

/// The loop serves time in 1 ms slots, the resolution of `epoll_wait`: at a
/// wake-up it serves every deadline that falls before the middle of the next
/// millisecond, and presents that instant to the calls as `now`. A packet
/// therefore leaves between half a millisecond early and half a millisecond
/// late of its 20 ms grid slot when the CPU is free, instead of 0 to 1 ms
/// late, and the loop still wakes at most once per millisecond however many
/// calls it carries. (`ivr_rtp_send_lateness_seconds` is measured against
/// that presented instant.)
const SLOT_LEAD: Duration = Duration::from_micros(500);
const MAX_DATAGRAM: usize = 1500;

pub fn spawn(notices: UnboundedSender<MediaNotice>, realtime: bool) -> std::io::Result<(MediaHandle, JoinHandle<()>)> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let (tx, rx) = mpsc::channel();
    let mut media_loop = MediaLoop::new(poll, rx, notices);
    let join = std::thread::Builder::new()
        .name("ivr-media".into())
        .spawn(move || {
            if realtime {
                raise_priority();
            }
            media_loop.run()
        })?;
    Ok((MediaHandle { commands: tx, waker }, join))
}

/// The SCHED_FIFO priority of the media thread: above every normal thread,
/// low among real-time ones (kernel threads and audio servers use more).
const REALTIME_PRIORITY: u8 = 10;

/// Measured here (docs/benchmarks.md): at normal priority on two busy cores,
/// the load generator's threads delayed 15 % of RTP sends by more than 2 ms.
/// The loop never spins (it sleeps in `poll` until its next deadline), so
/// real-time priority costs other processes only the work it really does.
fn raise_priority() {
    use thread_priority::{
        RealtimeThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let result = set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Crossplatform(REALTIME_PRIORITY.try_into().expect("10 is within 0..=99")),
        ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo),
    );
    match result {
        Ok(()) => tracing::info!(priority = REALTIME_PRIORITY, "media thread runs under SCHED_FIFO"),
        Err(e) => tracing::warn!(error = ?e, "cannot raise the media thread to real-time priority (needs CAP_SYS_NICE); running at normal priority"),
    }
}

/// What a slot's sockets feed.
enum SlotMedia {
    /// A call in the IVR (prompts, keys, recording).
    Call(MediaCall),
    /// A bridge: this slot is its caller leg (A); `partner` holds leg B's sockets.
    Bridge(Box<BridgeUnit>),
    /// Leg B of the bridge held by slot `primary`.
    Partner { primary: usize },
    /// A browser softphone session, bridged or idle.
    Softphone(Box<SoftphoneUnit>),
    /// Transiently, while a slot's media is moved.
    Empty,
}

struct BridgeUnit {
    bridge: Bridge,
    partner: usize,
    /// The slot of the supervisor's softphone session monitoring it.
    monitor: Option<usize>,
}

struct SoftphoneUnit {
    leg: SoftphoneLeg,
    /// The RTP socket's address as the browser knows it (the host
    /// candidate; the socket may be bound to a wildcard address). Also the
    /// name of the browser's stream on the bridge's leg B.
    local: SocketAddr,
    /// The slot of the bridge this session is leg B of.
    primary: Option<usize>,
    /// The slot of the bridge this (supervisor's) session monitors.
    monitoring: Option<usize>,
    rng: fastrand::Rng,
}

struct CallSlot {
    id: MediaId,
    media: SlotMedia,
    rtp: UdpSocket,
    rtcp: UdpSocket,
    /// In-band DTMF detection for this leg when it is back in the IVR.
    inband_dtmf: bool,
    /// The engine's token of the current (or last) playback.
    play_token: u64,
}

/// Counters kept locally and flushed to `metrics` once a second, so the hot
/// path does no registry look-ups.
#[derive(Default)]
struct LocalCounters {
    sent: u64,
    received: u64,
    send_errors: u64,
    late: u64,
}

impl LocalCounters {
    fn is_dirty(&self) -> bool {
        self.sent + self.received + self.send_errors + self.late > 0
    }
}

struct MediaLoop {
    poll: Poll,
    commands: Receiver<MediaCommand>,
    notices: UnboundedSender<MediaNotice>,
    slots: Vec<Option<CallSlot>>,
    free: Vec<usize>,
    by_id: HashMap<MediaId, usize>,
    deadlines: DeadlineQueue<usize>,
    buf: Box<[u8; MAX_DATAGRAM]>,
    counters: LocalCounters,
    lateness: metrics::Histogram,
    next_flush: Instant,
    running: bool,
}

impl MediaLoop {
    fn new(poll: Poll, commands: Receiver<MediaCommand>, notices: UnboundedSender<MediaNotice>) -> MediaLoop {
        MediaLoop {
            poll,
            commands,
            notices,
            slots: Vec::new(),
            free: Vec::new(),
            by_id: HashMap::new(),
            deadlines: DeadlineQueue::default(),
            buf: Box::new([0; MAX_DATAGRAM]),
            counters: LocalCounters::default(),
            lateness: metrics::histogram!(telemetry::RTP_SEND_LATENESS_SECONDS),
            next_flush: Instant::now(),
            running: true,
        }
    }

    fn run(&mut self) {
        let mut events = Events::with_capacity(1024);
        while self.running {
            let now = Instant::now();
            let mut wake_at = self.deadlines.next();
            if self.counters.is_dirty() {
                wake_at = Some(wake_at.map_or(self.next_flush, |at| at.min(self.next_flush)));
            }
            // Aim half a slot early: mio rounds the timeout up to whole
            // milliseconds, so the wake-up lands within half a slot of the
            // deadline on either side, and the slot is then served whole.
            let timeout = wake_at.map(|at| at.saturating_duration_since(now + SLOT_LEAD));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != ErrorKind::Interrupted {
                    tracing::error!(error = %e, "media poll failed");
                    std::thread::sleep(Duration::from_millis(1));
                }
                continue;
            }
            for event in events.iter() {
                match event.token() {
                    WAKER => self.drain_commands(),
                    Token(t) => self.receive(t / 2, t % 2 == 1),
                }
            }
            let now = Instant::now();
            let slot_now = now + SLOT_LEAD;
            while let Some(slot) = self.deadlines.pop_due(slot_now) {
                self.service(slot, slot_now);
            }
            if now >= self.next_flush {
                self.flush_counters(now);
            }
        }
        self.flush_counters(Instant::now());
    }

    fn drain_commands(&mut self) {
        loop {
            match self.commands.try_recv() {
                Ok(command) => self.command(command),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.running = false;
                    return;
                }
            }
        }
    }

    fn command(&mut self, command: MediaCommand) {
        let now = Instant::now();
        match command {
            MediaCommand::Start { id, rtp, rtcp, config, seed } => self.start(now, id, rtp, rtcp, *config, seed),
            MediaCommand::Play { id, prompts, barge_in, token } => self.with_call(id, now, |s, call| {
                call.play(prompts, barge_in);
                s.play_token = token;
            }),
            MediaCommand::StopPlayback { id } => {
                let notices = self.notices.clone();
                self.with_call(id, now, |s, call| {
                    if call.is_playing() {
                        call.stop_playback();
                        let _ = notices.send(MediaNotice::PlaybackFinished { id, token: s.play_token, interrupted: true });
                    }
                });
            }
            MediaCommand::SoftphoneStart { id, rtp, rtcp, leg, seed } => self.start_softphone(now, id, rtp, rtcp, leg, seed),
            MediaCommand::Monitor { a, supervisor, mode } => self.monitor(now, a, supervisor, mode),
            MediaCommand::StopMonitor { supervisor } => {
                if let Some(slot) = self.slot_of(supervisor) {
                    self.stop_monitoring(now, slot);
                }
            }
            MediaCommand::SoftphoneCandidate { id, candidate } => {
                let Some(slot) = self.slot_of(id) else { return };
                if let Some(Some(CallSlot { media: SlotMedia::Softphone(unit), .. })) = self.slots.get_mut(slot)
                    && let Err(e) = unit.leg.add_remote_candidate(now, &candidate)
                {
                    tracing::debug!(?id, error = %e, "softphone candidate refused");
                }
                self.service(slot, now);
            }
            MediaCommand::StartRecording { id, config } => self.with_call(id, now, |_, call| call.start_recording(now, *config)),
            MediaCommand::StopRecording { id } => self.with_call(id, now, |_, call| call.stop_recording(now)),
            MediaCommand::InfoDigit { id, digit } => self.info_digit(id, digit, now),
            MediaCommand::Update { id, remote_rtp, sending } => {
                if let Some(slot) = self.slot_of(id) {
                    if let Some(session) = self.session_mut(slot) {
                        session.set_remote(remote_rtp, None);
                        session.set_sending(sending);
                    }
                    self.service(slot, now);
                }
            }
            MediaCommand::Bridge { a, b } => self.bridge(now, a, b),
            MediaCommand::Unbridge { a } => {
                if let Some(slot) = self.slot_of(a) {
                    self.unbridge(now, slot);
                }
            }
            MediaCommand::Hold { a, prompts } => self.with_bridge(a, now, |bridge| bridge.hold(now, BridgeLeg::A, prompts)),
            MediaCommand::Resume { a } => self.with_bridge(a, now, |bridge| bridge.resume(now)),
            MediaCommand::Mute { a, agent_muted } => self.with_bridge(a, now, |bridge| bridge.set_muted(BridgeLeg::B, agent_muted)),
            MediaCommand::Stop { id } => self.stop(id),
            MediaCommand::Shutdown => {
                let ids: Vec<MediaId> = self.by_id.keys().copied().collect();
                for id in ids {
                    self.stop(id);
                }
                self.running = false;
            }
        }
    }

    /// Runs `f` on a call in IVR mode (not bridged), then services it.
    fn with_call(&mut self, id: MediaId, now: Instant, f: impl FnOnce(&mut CallSlot, &mut MediaCall)) {
        let Some(slot) = self.slot_of(id) else { return };
        if let Some(mut s) = self.slots[slot].take() {
            if let SlotMedia::Call(mut call) = std::mem::replace(&mut s.media, SlotMedia::Empty) {
                f(&mut s, &mut call);
                s.media = SlotMedia::Call(call);
            } else {
                tracing::debug!(?id, "IVR command for bridged media: ignored");
            }
            self.slots[slot] = Some(s);
        }
        self.service(slot, now);
    }

    /// A key the caller's phone sent by SIP INFO. In the IVR it goes
    /// through the call's DTMF arbiter (and barges in); bridged to an
    /// operator it is reported as it is, like the bridge's RFC 4733 keys
    /// (it was dropped there, and the call record missed it).
    fn info_digit(&mut self, id: MediaId, digit: DtmfDigit, now: Instant) {
        let Some(slot) = self.slot_of(id) else { return };
        if let Some(Some(CallSlot { media: SlotMedia::Call(call), .. })) = self.slots.get_mut(slot) {
            call.handle_info_dtmf(digit);
            self.service(slot, now);
        } else {
            let _ = self.notices.send(MediaNotice::Digit { id, digit, method: DtmfMethod::SipInfo });
        }
    }

    /// Runs `f` on the bridge whose caller leg is `a`, then services it.
    fn with_bridge(&mut self, a: MediaId, now: Instant, f: impl FnOnce(&mut Bridge)) {
        let Some(slot) = self.slot_of(a) else { return };
        if let Some(Some(CallSlot { media: SlotMedia::Bridge(unit), .. })) = self.slots.get_mut(slot) {
            f(&mut unit.bridge);
        }
        self.service(slot, now);
    }

    fn session_mut(&mut self, slot: usize) -> Option<&mut RtpSession> {
        let partner = match self.slots.get(slot)?.as_ref()?.media {
            SlotMedia::Partner { primary } => Some(primary),
            _ => None,
        };
        if let Some(primary) = partner {
            if let Some(Some(CallSlot { media: SlotMedia::Bridge(unit), .. })) = self.slots.get_mut(primary) {
                return Some(unit.bridge.session_mut(BridgeLeg::B));
            }
            return None;
        }
        match &mut self.slots.get_mut(slot)?.as_mut()?.media {
            SlotMedia::Call(call) => Some(call.session_mut()),
            SlotMedia::Bridge(unit) => Some(unit.bridge.session_mut(BridgeLeg::A)),
            SlotMedia::Partner { .. } | SlotMedia::Softphone(_) | SlotMedia::Empty => None,
        }
    }

    /// Joins two calls' media: `a`'s slot holds the bridge, `b`'s slot keeps
    /// its sockets and points at it.
    fn bridge(&mut self, now: Instant, a: MediaId, b: MediaId) {
        let (Some(sa), Some(sb)) = (self.slot_of(a), self.slot_of(b)) else {
            tracing::warn!(?a, ?b, "bridge of media that is not running");
            return;
        };
        if sa == sb {
            return;
        }
        let take_call = |slots: &mut Vec<Option<CallSlot>>, i: usize| -> Option<MediaCall> {
            let s = slots.get_mut(i)?.as_mut()?;
            match std::mem::replace(&mut s.media, SlotMedia::Empty) {
                SlotMedia::Call(call) => Some(call),
                other => {
                    s.media = other;
                    None
                }
            }
        };
        let Some(call_a) = take_call(&mut self.slots, sa) else { return };
        if let Some(Some(CallSlot { media: SlotMedia::Softphone(unit), .. })) = self.slots.get_mut(sb) {
            let session_b = match unit.leg.negotiated() {
                Some(n) if unit.primary.is_none() && unit.monitoring.is_none() => {
                    let identity = RtpIdentity::random(&mut unit.rng);
                    Some(RtpSession::new(n.session_config(unit.local), identity, now, SystemTime::now()))
                }
                _ => None,
            };
            let Some(session_b) = session_b else {
                tracing::warn!(?a, ?b, "bridge to a softphone session that is not negotiated or already bridged");
                if let Some(Some(s)) = self.slots.get_mut(sa) {
                    s.media = SlotMedia::Call(call_a);
                }
                return;
            };
            unit.primary = Some(sa);
            let (session_a, presses_a) = call_a.into_parts();
            let bridge = Bridge::from_sessions(session_a, session_b).with_presses(BridgeLeg::A, presses_a);
            if let Some(Some(s)) = self.slots.get_mut(sa) {
                s.media = SlotMedia::Bridge(Box::new(BridgeUnit { bridge, partner: sb, monitor: None }));
            }
            self.service(sa, now);
            return;
        }
        let Some(call_b) = take_call(&mut self.slots, sb) else {
            if let Some(Some(s)) = self.slots.get_mut(sa) {
                s.media = SlotMedia::Call(call_a);
            }
            return;
        };
        let ((session_a, presses_a), (session_b, presses_b)) = (call_a.into_parts(), call_b.into_parts());
        let bridge =
            Bridge::from_sessions(session_a, session_b).with_presses(BridgeLeg::A, presses_a).with_presses(BridgeLeg::B, presses_b);
        if let Some(Some(s)) = self.slots.get_mut(sa) {
            s.media = SlotMedia::Bridge(Box::new(BridgeUnit { bridge, partner: sb, monitor: None }));
        }
        if let Some(Some(s)) = self.slots.get_mut(sb) {
            s.media = SlotMedia::Partner { primary: sa };
        }
        self.deadlines.schedule(sb, None);
        self.service(sa, now);
    }

    /// Splits the bridge held by `slot` (either leg's slot): both legs go
    /// back to being calls of their own.
    fn unbridge(&mut self, now: Instant, slot: usize) {
        let primary = match self.slots.get(slot).and_then(Option::as_ref).map(|s| &s.media) {
            Some(SlotMedia::Partner { primary }) => *primary,
            Some(SlotMedia::Softphone(unit)) => match unit.primary {
                Some(primary) => primary,
                None => return,
            },
            Some(SlotMedia::Bridge(_)) => slot,
            _ => return,
        };
        self.detach_monitor(now, primary);
        let Some(Some(s)) = self.slots.get_mut(primary) else { return };
        let SlotMedia::Bridge(unit) = std::mem::replace(&mut s.media, SlotMedia::Empty) else { return };
        let inband = s.inband_dtmf;
        let partner = unit.partner;
        let [(session_a, presses_a), (session_b, presses_b)] = unit.bridge.into_parts();
        s.media = SlotMedia::Call(MediaCall::from_session(session_a, inband).with_presses(presses_a));
        if let Some(Some(p)) = self.slots.get_mut(partner) {
            match &mut p.media {
                // The browser's session stays up, idle, for the next call.
                SlotMedia::Softphone(unit) => unit.primary = None,
                _ => p.media = SlotMedia::Call(MediaCall::from_session(session_b, p.inband_dtmf).with_presses(presses_b)),
            }
        }
        self.service(primary, now);
        self.service(partner, now);
    }

    /// The supervisor's session `supervisor` monitors the bridge of `a`
    /// in `mode`: attached on its own stream, or its mode changed.
    fn monitor(&mut self, now: Instant, a: MediaId, supervisor: MediaId, mode: MonitorMode) {
        let (Some(sa), Some(ss)) = (self.slot_of(a), self.slot_of(supervisor)) else {
            tracing::warn!(?a, ?supervisor, "monitor of media that is not running");
            return;
        };
        let watching = match self.slots.get(ss).and_then(Option::as_ref).map(|s| &s.media) {
            Some(SlotMedia::Softphone(unit)) if unit.primary.is_none() && unit.leg.negotiated().is_some() => unit.monitoring,
            _ => {
                tracing::warn!(?supervisor, "monitor by a session that is not a free, negotiated softphone");
                return;
            }
        };
        if !matches!(self.slots.get(sa).and_then(Option::as_ref).map(|s| &s.media), Some(SlotMedia::Bridge(_))) {
            tracing::warn!(?a, "monitor of a call that is not bridged");
            return;
        }
        if watching == Some(sa) {
            return self.with_bridge(a, now, |bridge| bridge.set_monitor_mode(mode));
        }
        if let Some(before) = watching {
            self.detach_monitor(now, before);
        }
        // Another supervisor on this bridge gives way.
        self.detach_monitor(now, sa);
        let Some(Some(CallSlot { media: SlotMedia::Softphone(unit), .. })) = self.slots.get_mut(ss) else { return };
        let Some(negotiated) = unit.leg.negotiated() else { return };
        let identity = RtpIdentity::random(&mut unit.rng);
        let session = RtpSession::new(negotiated.session_config(unit.local), identity, now, SystemTime::now());
        unit.monitoring = Some(sa);
        if let Some(Some(CallSlot { media: SlotMedia::Bridge(bridge), .. })) = self.slots.get_mut(sa) {
            bridge.bridge.attach_monitor(session, mode);
            bridge.monitor = Some(ss);
        }
        self.service(sa, now);
    }

    /// The supervisor's session in `slot` stops monitoring, if it was.
    fn stop_monitoring(&mut self, now: Instant, slot: usize) {
        let watching = match self.slots.get(slot).and_then(Option::as_ref).map(|s| &s.media) {
            Some(SlotMedia::Softphone(unit)) => unit.monitoring,
            _ => None,
        };
        if let Some(primary) = watching {
            self.detach_monitor(now, primary);
        }
    }

    /// The bridge held by `primary` loses its supervisor (if any); both the
    /// call and the supervisor's session run on.
    fn detach_monitor(&mut self, now: Instant, primary: usize) {
        let Some(Some(CallSlot { media: SlotMedia::Bridge(unit), .. })) = self.slots.get_mut(primary) else { return };
        let Some(supervisor) = unit.monitor.take() else { return };
        unit.bridge.detach_monitor();
        if let Some(Some(CallSlot { media: SlotMedia::Softphone(sp), .. })) = self.slots.get_mut(supervisor) {
            sp.monitoring = None;
        }
        self.service(primary, now);
    }

    fn slot_of(&self, id: MediaId) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    fn start(&mut self, now: Instant, id: MediaId, rtp: StdUdpSocket, rtcp: StdUdpSocket, config: MediaConfig, seed: u64) {
        let Some((slot, rtp, rtcp)) = self.register(rtp, rtcp) else {
            let _ = self.notices.send(MediaNotice::MediaTimeout { id });
            return;
        };
        let mut rng = fastrand::Rng::with_seed(seed);
        let inband_dtmf = config.inband_dtmf;
        let call = MediaCall::new(config, &mut rng, now, SystemTime::now());
        self.slots[slot] = Some(CallSlot { id, media: SlotMedia::Call(call), rtp, rtcp, play_token: 0, inband_dtmf });
        self.by_id.insert(id, slot);
        self.service(slot, now);
    }

    fn start_softphone(&mut self, now: Instant, id: MediaId, rtp: StdUdpSocket, rtcp: StdUdpSocket, leg: Box<SoftphoneLeg>, seed: u64) {
        let Some(&local) = leg.config().host_candidates.first() else {
            tracing::error!(?id, "softphone leg without a host candidate");
            let _ = self.notices.send(MediaNotice::Softphone { id, event: SoftphoneEvent::Failed(ivr_softphone::FailReason::Closed) });
            return;
        };
        let Some((slot, rtp, rtcp)) = self.register(rtp, rtcp) else {
            let _ = self.notices.send(MediaNotice::Softphone { id, event: SoftphoneEvent::Failed(ivr_softphone::FailReason::Closed) });
            return;
        };
        let unit = SoftphoneUnit { leg: *leg, local, primary: None, monitoring: None, rng: fastrand::Rng::with_seed(seed) };
        let media = SlotMedia::Softphone(Box::new(unit));
        self.slots[slot] = Some(CallSlot { id, media, rtp, rtcp, play_token: 0, inband_dtmf: false });
        self.by_id.insert(id, slot);
        self.service(slot, now);
    }

    /// A free slot with both sockets registered under its tokens.
    fn register(&mut self, rtp: StdUdpSocket, rtcp: StdUdpSocket) -> Option<(usize, UdpSocket, UdpSocket)> {
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(None);
            self.slots.len() - 1
        });
        let mut rtp = UdpSocket::from_std(rtp);
        let mut rtcp = UdpSocket::from_std(rtcp);
        let registry = self.poll.registry();
        if let Err(e) = registry
            .register(&mut rtp, Token(slot * 2), Interest::READABLE)
            .and_then(|()| registry.register(&mut rtcp, Token(slot * 2 + 1), Interest::READABLE))
        {
            tracing::error!(error = %e, "cannot register RTP sockets");
            self.free.push(slot);
            return None;
        }
        Some((slot, rtp, rtcp))
    }

    fn stop(&mut self, id: MediaId) {
        let Some(&slot) = self.by_id.get(&id) else { return };
        // A bridged leg leaves the bridge first; the other leg runs on alone.
        // A monitoring session leaves its bridge, which runs on unaffected.
        self.unbridge(Instant::now(), slot);
        self.stop_monitoring(Instant::now(), slot);
        self.by_id.remove(&id);
        let Some(mut s) = self.slots[slot].take() else { return };
        let totals = match std::mem::replace(&mut s.media, SlotMedia::Empty) {
            SlotMedia::Call(mut call) => {
                if let Some(Transmit::Rtcp { to, len }) = call.hangup(&mut self.buf[..]) {
                    let _ = s.rtcp.send_to(&self.buf[..len], to);
                }
                let stats = call.session().stats();
                MediaTotals {
                    packets_sent: stats.packets_sent,
                    packets_received: stats.packets_received,
                    packets_lost: stats.lost.max(0) as u64,
                }
            }
            SlotMedia::Softphone(mut unit) => {
                unit.leg.close();
                MediaTotals::default()
            }
            _ => MediaTotals::default(),
        };
        let registry = self.poll.registry();
        let _ = registry.deregister(&mut s.rtp);
        let _ = registry.deregister(&mut s.rtcp);
        self.deadlines.schedule(slot, None);
        self.free.push(slot);
        let _ = self.notices.send(MediaNotice::Stopped { id, totals });
    }

    /// Reads every datagram waiting on one of a call's sockets, into the
    /// call, or into the bridge the socket's leg belongs to.
    fn receive(&mut self, slot: usize, is_rtcp: bool) {
        let now = Instant::now();
        let target = match self.slots.get(slot).and_then(Option::as_ref).map(|s| &s.media) {
            Some(SlotMedia::Partner { primary }) => (*primary, BridgeLeg::B),
            Some(_) => (slot, BridgeLeg::A),
            None => return,
        };
        loop {
            let Some(Some(s)) = self.slots.get(slot) else { return };
            let socket = if is_rtcp { &s.rtcp } else { &s.rtp };
            let (len, from) = match socket.recv_from(&mut self.buf[..]) {
                Ok(r) => r,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // ICMP errors surface here on some kernels: never fatal.
                Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "RTP receive error");
                    break;
                }
            };
            if !is_rtcp {
                self.counters.received += 1;
            }
            let bytes = &self.buf[..len];
            let Some(Some(t)) = self.slots.get_mut(target.0) else { return };
            match (&mut t.media, is_rtcp) {
                (SlotMedia::Call(call), false) => call.handle_rtp(now, from, bytes),
                (SlotMedia::Call(call), true) => call.handle_rtcp(now, from, bytes),
                (SlotMedia::Bridge(unit), false) => unit.bridge.handle_rtp(now, target.1, from, bytes),
                (SlotMedia::Bridge(unit), true) => unit.bridge.handle_rtcp(now, target.1, from, bytes),
                (SlotMedia::Softphone(unit), false) => unit.leg.handle_datagram(now, from, unit.local, bytes),
                (SlotMedia::Softphone(_), true) | (SlotMedia::Partner { .. } | SlotMedia::Empty, _) => {}
            }
        }
        self.service(target.0, now);
    }

    /// Runs a call's (or a bridge's) timers, sends what is due, forwards its
    /// events and schedules its next deadline.
    fn service(&mut self, slot: usize, now: Instant) {
        let Some(Some(mut s)) = self.slots.get_mut(slot).map(Option::take) else { return };
        let CallSlot { id, media, rtp, rtcp, play_token, .. } = &mut s;
        let mut to_bridge = None;
        let deadline = match media {
            SlotMedia::Call(call) => Some(self.service_call(rtp, rtcp, *id, *play_token, call, now)),
            SlotMedia::Bridge(unit) => {
                let partner = unit.partner;
                let mut partner_slot = self.slots.get_mut(partner).and_then(Option::take);
                let mut monitor_slot = unit.monitor.and_then(|m| self.slots.get_mut(m).and_then(Option::take));
                let deadline =
                    partner_slot.as_mut().map(|p| self.service_bridge((*id, rtp, rtcp), p, monitor_slot.as_mut(), unit, now));
                for (at, taken) in [(Some(partner), partner_slot), (unit.monitor, monitor_slot)] {
                    let (Some(at), Some(p)) = (at, taken) else { continue };
                    // A softphone keeps its own deadline (str0m's timers).
                    if let SlotMedia::Softphone(sp) = &p.media {
                        self.deadlines.schedule(at, sp.leg.poll_timeout());
                    }
                    self.slots[at] = Some(p);
                }
                deadline
            }
            SlotMedia::Softphone(unit) => {
                let (deadline, rtp_in) = self.service_softphone(*id, rtp, unit, now);
                let bridge = unit.primary.map(|p| (p, Endpoint::Leg(BridgeLeg::B))).or(unit.monitoring.map(|p| (p, Endpoint::Monitor)));
                to_bridge = bridge.filter(|_| !rtp_in.is_empty()).map(|(p, from)| (p, from, unit.local, rtp_in));
                deadline
            }
            SlotMedia::Partner { .. } | SlotMedia::Empty => None,
        };
        self.slots[slot] = Some(s);
        self.deadlines.schedule(slot, deadline);
        // The browser's audio into the bridge it is leg B of, or, from a
        // supervisor's session, into the bridge it monitors.
        if let Some((primary, from, label, packets)) = to_bridge {
            if let Some(Some(CallSlot { media: SlotMedia::Bridge(unit), .. })) = self.slots.get_mut(primary) {
                for packet in &packets {
                    match from {
                        Endpoint::Monitor => unit.bridge.handle_monitor_rtp(now, label, packet),
                        Endpoint::Leg(leg) => unit.bridge.handle_rtp(now, leg, label, packet),
                    }
                }
            }
            self.service(primary, now);
        }
    }

    /// Runs a softphone session's timers, sends its datagrams, forwards its
    /// events; returns its deadline and the browser's RTP for the bridge
    /// (dropped by the caller when the session is not bridged).
    fn service_softphone(&mut self, id: MediaId, socket: &UdpSocket, unit: &mut SoftphoneUnit, now: Instant) -> (Option<Instant>, Vec<Vec<u8>>) {
        if unit.leg.poll_timeout().is_some_and(|at| at <= now) {
            unit.leg.handle_timeout(now);
        }
        self.send_softphone(socket, &mut unit.leg);
        while let Some(event) = unit.leg.poll_event() {
            tracing::debug!(?id, ?event, "softphone session");
            let _ = self.notices.send(MediaNotice::Softphone { id, event });
        }
        let mut rtp = Vec::new();
        while let Some(packet) = unit.leg.poll_rtp() {
            rtp.push(packet);
        }
        (unit.leg.poll_timeout(), rtp)
    }

    fn send_softphone(&mut self, socket: &UdpSocket, leg: &mut SoftphoneLeg) {
        while let Some(t) = leg.poll_transmit() {
            if socket.send_to(&t.bytes, t.to).is_err() {
                self.counters.send_errors += 1;
            }
        }
    }

    fn service_call(&mut self, rtp: &UdpSocket, rtcp: &UdpSocket, id: MediaId, token: u64, call: &mut MediaCall, now: Instant) -> Instant {
        call.handle_timeout(now);
        while let Some(transmit) = call.poll_transmit(now, &mut self.buf[..]) {
            let (socket, to, len, is_rtp) = match transmit {
                Transmit::Rtp { to, len } => (rtp, to, len, true),
                Transmit::Rtcp { to, len } => (rtcp, to, len, false),
            };
            let lateness = is_rtp.then(|| call.session().send_lateness());
            self.send(socket, to, len, lateness);
        }
        while let Some(event) = call.poll_event() {
            let notice = match event {
                MediaEvent::Digit { digit, method } => MediaNotice::Digit { id, digit, method },
                MediaEvent::PlaybackFinished { interrupted } => MediaNotice::PlaybackFinished { id, token, interrupted },
                MediaEvent::RecordingFinished { recording } => MediaNotice::RecordingFinished { id, recording: Box::new(recording) },
                MediaEvent::MediaTimeout => MediaNotice::MediaTimeout { id },
            };
            let _ = self.notices.send(notice);
        }
        call.poll_timeout()
    }

    fn service_bridge(
        &mut self,
        a: (MediaId, &UdpSocket, &UdpSocket),
        b: &mut CallSlot,
        mut monitor: Option<&mut CallSlot>,
        unit: &mut BridgeUnit,
        now: Instant,
    ) -> Instant {
        let bridge = &mut unit.bridge;
        bridge.handle_timeout(now);
        while let Some((endpoint, transmit)) = bridge.poll_transmit(now, &mut self.buf[..]) {
            let (rtp, rtcp) = match (endpoint, &mut b.media) {
                (Endpoint::Leg(BridgeLeg::A), _) => (a.1, a.2),
                // The browser's leg: RTP into the leg (SRTP out of its
                // socket below); str0m sends the browser its own RTCP.
                (Endpoint::Leg(BridgeLeg::B), SlotMedia::Softphone(sp)) => {
                    if let Transmit::Rtp { len, .. } = transmit
                        && let Err(e) = sp.leg.send_rtp(now, &self.buf[..len])
                    {
                        tracing::debug!(error = %e, "bridge RTP refused by the softphone leg");
                    }
                    continue;
                }
                (Endpoint::Leg(BridgeLeg::B), _) => (&b.rtp, &b.rtcp),
                // The supervisor's browser: like the agent's, RTP only.
                (Endpoint::Monitor, _) => {
                    if let (Transmit::Rtp { len, .. }, Some(CallSlot { media: SlotMedia::Softphone(sp), .. })) =
                        (transmit, monitor.as_deref_mut())
                        && let Err(e) = sp.leg.send_rtp(now, &self.buf[..len])
                    {
                        tracing::debug!(error = %e, "bridge RTP refused by the supervisor's softphone leg");
                    }
                    continue;
                }
            };
            match transmit {
                Transmit::Rtp { to, len } => self.send(rtp, to, len, None),
                Transmit::Rtcp { to, len } => self.send(rtcp, to, len, None),
            }
        }
        if let SlotMedia::Softphone(sp) = &mut b.media {
            self.send_softphone(&b.rtp, &mut sp.leg);
        }
        if let Some(CallSlot { media: SlotMedia::Softphone(sp), rtp, .. }) = monitor {
            self.send_softphone(rtp, &mut sp.leg);
        }
        while let Some(event) = bridge.poll_event() {
            let id_of = |leg| if leg == BridgeLeg::A { a.0 } else { b.id };
            let notice = match event {
                BridgeEvent::Digit { leg, digit } => MediaNotice::Digit { id: id_of(leg), digit, method: DtmfMethod::Rfc4733 },
                BridgeEvent::MediaTimeout { leg } => MediaNotice::MediaTimeout { id: id_of(leg) },
            };
            let _ = self.notices.send(notice);
        }
        bridge.poll_timeout()
    }

    fn send(&mut self, socket: &UdpSocket, to: SocketAddr, len: usize, lateness: Option<Duration>) {
        match socket.send_to(&self.buf[..len], to) {
            Ok(_) => {
                if let Some(lateness) = lateness {
                    self.counters.sent += 1;
                    if lateness > telemetry::LATE_SEND_THRESHOLD {
                        self.counters.late += 1;
                    }
                    self.lateness.record(lateness.as_secs_f64());
                }
            }
            Err(_) => self.counters.send_errors += 1,
        }
    }

    fn flush_counters(&mut self, now: Instant) {
        let c = std::mem::take(&mut self.counters);
        metrics::counter!(telemetry::RTP_PACKETS_SENT_TOTAL).increment(c.sent);
        metrics::counter!(telemetry::RTP_PACKETS_RECEIVED_TOTAL).increment(c.received);
        metrics::counter!(telemetry::RTP_SEND_ERRORS_TOTAL).increment(c.send_errors);
        metrics::counter!(telemetry::RTP_LATE_SENDS_TOTAL).increment(c.late);
        self.next_flush = now + Duration::from_secs(1);
    }
}
