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

use std::collections::HashMap;
use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use ivr_media::call::{MediaCall, MediaConfig, MediaEvent, Transmit};
use ivr_media::dtmf::{DtmfDigit, DtmfMethod};
use ivr_media::prompt::Prompt;
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
    Play { id: MediaId, prompts: Vec<Arc<Prompt>>, barge_in: bool },
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
    PlaybackFinished { id: MediaId, interrupted: bool },
    MediaTimeout { id: MediaId },
    /// The call's sockets are closed; the stream's totals.
    Stopped { id: MediaId, totals: MediaTotals },
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

struct CallSlot {
    id: MediaId,
    call: MediaCall,
    rtp: UdpSocket,
    rtcp: UdpSocket,
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
            MediaCommand::Play { id, prompts, barge_in } => {
                if let Some(slot) = self.slot_of(id) {
                    if let Some(s) = self.slots[slot].as_mut() {
                        s.call.play(prompts, barge_in);
                    }
                    self.service(slot, now);
                }
            }
            MediaCommand::InfoDigit { id, digit } => {
                if let Some(slot) = self.slot_of(id) {
                    if let Some(s) = self.slots[slot].as_mut() {
                        s.call.handle_info_dtmf(digit);
                    }
                    self.service(slot, now);
                }
            }
            MediaCommand::Update { id, remote_rtp, sending } => {
                if let Some(slot) = self.slot_of(id) {
                    if let Some(s) = self.slots[slot].as_mut() {
                        let session = s.call.session_mut();
                        session.set_remote(remote_rtp, None);
                        session.set_sending(sending);
                    }
                    self.service(slot, now);
                }
            }
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

    fn slot_of(&self, id: MediaId) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    fn start(&mut self, now: Instant, id: MediaId, rtp: StdUdpSocket, rtcp: StdUdpSocket, config: MediaConfig, seed: u64) {
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
            let _ = self.notices.send(MediaNotice::MediaTimeout { id });
            return;
        }
        let mut rng = fastrand::Rng::with_seed(seed);
        let call = MediaCall::new(config, &mut rng, now, SystemTime::now());
        self.slots[slot] = Some(CallSlot { id, call, rtp, rtcp });
        self.by_id.insert(id, slot);
        self.service(slot, now);
    }

    fn stop(&mut self, id: MediaId) {
        let Some(slot) = self.by_id.remove(&id) else { return };
        let Some(mut s) = self.slots[slot].take() else { return };
        if let Some(Transmit::Rtcp { to, len }) = s.call.hangup(&mut self.buf[..]) {
            let _ = s.rtcp.send_to(&self.buf[..len], to);
        }
        let registry = self.poll.registry();
        let _ = registry.deregister(&mut s.rtp);
        let _ = registry.deregister(&mut s.rtcp);
        self.deadlines.schedule(slot, None);
        self.free.push(slot);
        let stats = s.call.session().stats();
        let totals = MediaTotals {
            packets_sent: stats.packets_sent,
            packets_received: stats.packets_received,
            packets_lost: stats.lost.max(0) as u64,
        };
        let _ = self.notices.send(MediaNotice::Stopped { id, totals });
    }

    /// Reads every datagram waiting on one of a call's sockets.
    fn receive(&mut self, slot: usize, is_rtcp: bool) {
        let now = Instant::now();
        let Some(Some(s)) = self.slots.get_mut(slot) else { return };
        loop {
            let socket = if is_rtcp { &s.rtcp } else { &s.rtp };
            match socket.recv_from(&mut self.buf[..]) {
                Ok((len, from)) => {
                    let bytes = &self.buf[..len];
                    if is_rtcp {
                        s.call.handle_rtcp(now, from, bytes);
                    } else {
                        self.counters.received += 1;
                        s.call.handle_rtp(now, from, bytes);
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // ICMP errors surface here on some kernels: never fatal.
                Err(e) if e.kind() == ErrorKind::Interrupted || e.kind() == ErrorKind::ConnectionRefused => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "RTP receive error");
                    break;
                }
            }
        }
        self.service(slot, now);
    }

    /// Runs a call's timers, sends what is due, forwards its events and
    /// schedules its next deadline.
    fn service(&mut self, slot: usize, now: Instant) {
        let Some(Some(s)) = self.slots.get_mut(slot) else { return };
        s.call.handle_timeout(now);
        while let Some(transmit) = s.call.poll_transmit(now, &mut self.buf[..]) {
            let (socket, to, len, is_rtp) = match transmit {
                Transmit::Rtp { to, len } => (&s.rtp, to, len, true),
                Transmit::Rtcp { to, len } => (&s.rtcp, to, len, false),
            };
            match socket.send_to(&self.buf[..len], to) {
                Ok(_) if is_rtp => {
                    self.counters.sent += 1;
                    let lateness = s.call.session().send_lateness();
                    if lateness > telemetry::LATE_SEND_THRESHOLD {
                        self.counters.late += 1;
                    }
                    self.lateness.record(lateness.as_secs_f64());
                }
                Ok(_) => {}
                Err(_) => self.counters.send_errors += 1,
            }
        }
        while let Some(event) = s.call.poll_event() {
            let id = s.id;
            let notice = match event {
                MediaEvent::Digit { digit, method } => MediaNotice::Digit { id, digit, method },
                MediaEvent::PlaybackFinished { interrupted } => MediaNotice::PlaybackFinished { id, interrupted },
                MediaEvent::MediaTimeout => MediaNotice::MediaTimeout { id },
            };
            let _ = self.notices.send(notice);
        }
        self.deadlines.schedule(slot, Some(s.call.poll_timeout()));
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
