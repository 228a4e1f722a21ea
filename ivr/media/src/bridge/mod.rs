//! `Bridge`: the B2BUA's media between two legs (caller and agent), sans-IO.
//!
//! Owns: both legs' [`RtpSession`]s (each with its own codec, payload type,
//! telephone-event payload type, SSRC, sequence and timestamp space, ptime,
//! RTCP and media timeout), one [`relay`] per direction, hold with music or a
//! message, mute per direction, and the digits pressed on either leg.
//! Does not own signalling: the engine says who holds whom, and it applies
//! the peers' SDP direction with [`Bridge::session_mut`]`.set_sending`.
//!
//! Must never: touch sockets or the clock, panic on a datagram, allocate per
//! packet (the outbox is a fixed ring of buffers sized at construction), or
//! let one leg's SSRC, sequence numbers or timestamps leak to the other.
//!
//! ## Design: relay, re-stamped (not decode and re-encode on a grid)
//! Each received audio packet is forwarded at once, re-stamped onto the
//! other leg's own SSRC, next sequence number and a timestamp mapped by a
//! fixed offset from the source's (see [`relay`] for when the offset is
//! re-anchored: the far side's SSRC change or clock restart, hold, resume).
//! Consequences, chosen deliberately:
//! - no added delay and no jitter buffer of ours: jitter passes through to
//!   the receiving phone, whose jitter buffer is the one that plays out;
//! - each leg sees one continuous stream: its sequence numbers never jump
//!   (a lost packet shows as a timestamp gap of its duration, as with
//!   silence suppression), its SSRC never changes whatever the far side
//!   does, and its timestamps never go backwards (the grid used for hold
//!   music and the relay hand over through
//!   [`RtpSession::next_free_timestamp`] / [`RtpSession::realign_grid`]);
//! - same codec and ptime: the payload bytes are forwarded untouched;
//!   PCMU and PCMA: each byte goes through a 256-entry table built from the
//!   bit-exact G.711 decoder and encoder ([`crate::g711::transcode_table`]), which
//!   is exactly decode-then-encode at a table lookup per byte;
//!   different ptime: bytes are repacketised into the target's frame size,
//!   small gaps inside a frame filled with silence, and a partial frame is
//!   sent short if the source stops (no audio is held back indefinitely).
//!
//! Decode-and-re-encode on our own grid is needed only for mixing: a
//! supervisor's third leg ([`monitor`]: listen, whisper, barge) hears both
//! parties summed on its own grid, and their voice is added (saturating)
//! into the frames relayed to the agent or to both.
//!
//! ## DTMF
//! RFC 4733 events from one leg are reported as [`BridgeEvent::Digit`]
//! (one per press, by [`Rfc4733Receiver`]) and forwarded packet by packet
//! (all updates and the three end packets) with the other leg's
//! telephone-event payload type, SSRC and sequence, and the event's start
//! timestamp mapped like the audio. If the other leg negotiated no
//! telephone-event, the packets are counted in
//! [`RelayStats::events_dropped`]; the tone usually still travels in the
//! audio (RFC 4733 §2.6 is often ignored), but we do not synthesise one.
//!
//! ## Hold and mute
//! [`Bridge::hold`]: the held leg hears the given prompts in a loop (no
//! barge-in) on its own 20 ms grid; the audio of both legs is dropped, so
//! neither the holder's nor the held party's speech crosses. Digits are
//! still reported, not forwarded. [`Bridge::resume`] restores the relay,
//! re-anchoring both directions with a marker bit. [`Bridge::set_muted`]
//! replaces one direction's audio by silence of the same timing (the far
//! phone keeps a steady stream; the console's mute button); key presses
//! still pass.
//!
//! ## Run-loop contract
//! After every input (`handle_rtp`, `handle_rtcp`, `handle_monitor_*`,
//! `hold`, `resume`, `attach_monitor`) and at [`Bridge::poll_timeout`], the
//! shell calls `handle_timeout(now)`, then drains [`Bridge::poll_transmit`]
//! until `None`, sending each datagram from the sockets of the
//! [`Endpoint`] it names, and [`Bridge::poll_event`] until `None`.
//! Transmit buffers must hold [`Bridge::transmit_buffer_len`] bytes.

pub mod monitor;
pub mod relay;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::call::{MAX_FRAME_LEN, Transmit};
use crate::dtmf::DtmfDigit;
use crate::dtmf::rfc4733::{Rfc4733Outcome, Rfc4733Receiver};
use crate::prompt::{Player, Prompt};
use crate::rtp::RTP_HEADER_LEN;
use crate::session::{PacketKind, RTCP_BUFFER_LEN, RtpIdentity, RtpSession, SessionConfig, StampedPacket};
pub use monitor::MonitorMode;
use monitor::Monitor;
pub use relay::RelayStats;
use relay::{Frame, Relay};

/// Datagrams the outbox holds between two drains (one input yields at most
/// a few: a 200 ms packet repacketised into 20 ms frames is ten).
const OUTBOX_SLOTS: usize = 16;

/// Which leg: by convention `A` is the caller, `B` the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LegId {
    A,
    B,
}

impl LegId {
    pub fn other(self) -> LegId {
        match self {
            LegId::A => LegId::B,
            LegId::B => LegId::A,
        }
    }

    fn index(self) -> usize {
        match self {
            LegId::A => 0,
            LegId::B => 1,
        }
    }
}

/// Whose sockets send a datagram: one of the two legs, or the supervisor's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Leg(LegId),
    Monitor,
}

/// What happened on the bridged media.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeEvent {
    /// A key pressed on `leg` (RFC 4733), once per press.
    Digit { leg: LegId, digit: DtmfDigit },
    /// No RTP or RTCP from `leg` for its media timeout.
    MediaTimeout { leg: LegId },
}

/// Input problems, counted, never fatal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BridgeCounters {
    pub rtp_errors: u64,
    pub rtcp_errors: u64,
    pub telephone_event_errors: u64,
    /// Datagrams dropped because the shell did not drain the outbox.
    pub outbox_overflows: u64,
}

#[derive(Debug)]
struct Leg {
    session: RtpSession,
    rfc4733: Rfc4733Receiver,
    timeout_reported: bool,
}

#[derive(Debug)]
struct Hold {
    held: LegId,
    player: Player,
}

#[derive(Debug)]
struct Slot {
    from: Endpoint,
    transmit: Transmit,
    buf: Box<[u8]>,
}

/// A fixed ring of datagram buffers: relayed packets are produced while a
/// datagram is handled, before the shell offers a buffer.
#[derive(Debug)]
struct Outbox {
    slots: Vec<Slot>,
    head: usize,
    len: usize,
    overflows: u64,
}

impl Outbox {
    fn new(buffer_len: usize) -> Outbox {
        let slots = (0..OUTBOX_SLOTS)
            .map(|_| Slot { from: Endpoint::Monitor, transmit: Transmit::Rtp { to: unspecified(), len: 0 }, buf: vec![0; buffer_len].into() })
            .collect();
        Outbox { slots, head: 0, len: 0, overflows: 0 }
    }

    /// Reserves the next slot and lets `write` fill it; a full ring drops
    /// the datagram before `write` runs (so no sequence number is spent).
    fn push(&mut self, from: Endpoint, write: impl FnOnce(&mut [u8]) -> Option<(SocketAddr, usize)>) {
        if self.len == self.slots.len() {
            self.overflows += 1;
            return;
        }
        let index = (self.head + self.len) % self.slots.len();
        let Some(slot) = self.slots.get_mut(index) else { return };
        if let Some((to, len)) = write(&mut slot.buf) {
            slot.from = from;
            slot.transmit = Transmit::Rtp { to, len };
            self.len += 1;
        }
    }

    fn pop_into(&mut self, buf: &mut [u8]) -> Option<(Endpoint, Transmit)> {
        if self.len == 0 {
            return None;
        }
        let slot = self.slots.get(self.head)?;
        let (Transmit::Rtp { len, .. } | Transmit::Rtcp { len, .. }) = slot.transmit;
        buf.get_mut(..len)?.copy_from_slice(slot.buf.get(..len)?);
        self.head = (self.head + 1) % self.slots.len();
        self.len -= 1;
        Some((slot.from, slot.transmit))
    }
}

fn unspecified() -> SocketAddr {
    SocketAddr::from(([0, 0, 0, 0], 0))
}

/// The media of one bridged call (see the module docs for the contract).
#[derive(Debug)]
pub struct Bridge {
    legs: [Leg; 2],
    /// `relays[i]` carries audio received on leg `i` to the other leg.
    relays: [Relay; 2],
    hold: Option<Hold>,
    monitor: Option<Box<Monitor>>,
    outbox: Outbox,
    events: VecDeque<BridgeEvent>,
    counters: BridgeCounters,
    buffer_len: usize,
}

impl Bridge {
    /// Two fresh legs with random identities from `rng`.
    pub fn new(a: SessionConfig, b: SessionConfig, rng: &mut fastrand::Rng, now: Instant, wallclock: SystemTime) -> Bridge {
        let a = RtpSession::new(a, RtpIdentity::random(rng), now, wallclock);
        let b = RtpSession::new(b, RtpIdentity::random(rng), now, wallclock);
        Bridge::from_sessions(a, b)
    }

    /// Bridges sessions that already exist: the caller's stream from the IVR
    /// ([`crate::call::MediaCall::into_session`]) keeps its SSRC, sequence
    /// and timestamps, as a phone expects within one call.
    pub fn from_sessions(a: RtpSession, b: RtpSession) -> Bridge {
        let (codec_a, codec_b) = (a.config().codec, b.config().codec);
        let relays = [Relay::new(codec_a, codec_b, frame_len(&b)), Relay::new(codec_b, codec_a, frame_len(&a))];
        let buffer_len = (RTP_HEADER_LEN + frame_len(&a).max(frame_len(&b))).max(RTCP_BUFFER_LEN);
        let leg = |session| Leg { session, rfc4733: Rfc4733Receiver::new(), timeout_reported: false };
        Bridge {
            legs: [leg(a), leg(b)],
            relays,
            hold: None,
            monitor: None,
            outbox: Outbox::new(buffer_len),
            events: VecDeque::with_capacity(8),
            counters: BridgeCounters::default(),
            buffer_len,
        }
    }

    /// The size `poll_transmit` and `hangup` buffers must have.
    pub fn transmit_buffer_len(&self) -> usize {
        self.buffer_len
    }

    /// An RTP datagram received on `leg`'s socket.
    pub fn handle_rtp(&mut self, now: Instant, leg: LegId, from: SocketAddr, bytes: &[u8]) {
        let [a, b] = &mut self.legs;
        let (source, target) = if leg == LegId::A { (a, b) } else { (b, a) };
        let relay = &mut self.relays[leg.index()];
        let received = match source.session.handle_rtp(now, from, bytes) {
            Ok(r) => r,
            Err(_) => {
                self.counters.rtp_errors += 1;
                return;
            }
        };
        let packet = received.packet;
        let to = leg.other();
        match received.kind {
            PacketKind::Audio if self.hold.is_some() => relay.stats.held_dropped += 1,
            PacketKind::Audio => {
                let free = target.session.next_free_timestamp(now);
                let mut out = Target { session: &mut target.session, outbox: &mut self.outbox, monitor: self.monitor.as_deref_mut(), from: leg };
                relay.push_audio(now, &packet, free, &mut |f: Frame<'_>| out.send(now, f));
            }
            PacketKind::TelephoneEvent => {
                match source.rfc4733.handle(now, packet.ssrc, packet.timestamp, packet.payload) {
                    Ok(Rfc4733Outcome::Digit(digit)) => self.events.push_back(BridgeEvent::Digit { leg, digit }),
                    Ok(Rfc4733Outcome::Repeat | Rfc4733Outcome::Unsupported { .. }) => {}
                    Err(_) => {
                        self.counters.telephone_event_errors += 1;
                        return;
                    }
                }
                let Some(pt) = target.session.config().telephone_event_pt.filter(|_| self.hold.is_none()) else {
                    relay.stats.events_dropped += 1;
                    return;
                };
                let timestamp = relay.event_timestamp(&packet, target.session.next_free_timestamp(now));
                let event = StampedPacket { payload_type: pt, marker: packet.marker, timestamp, samples: 0, payload: packet.payload };
                let session = &mut target.session;
                self.outbox.push(Endpoint::Leg(to), |buf| session.send_stamped(now, event, buf));
                relay.stats.events_forwarded += 1;
            }
            PacketKind::Other => {}
        }
    }

    /// An RTCP datagram received on `leg`'s RTCP socket: it feeds that
    /// leg's own reports only (RTCP is per leg, never relayed).
    pub fn handle_rtcp(&mut self, now: Instant, leg: LegId, from: SocketAddr, bytes: &[u8]) {
        if self.legs[leg.index()].session.handle_rtcp(now, from, bytes).is_err() {
            self.counters.rtcp_errors += 1;
        }
    }

    /// Media timeouts, and partial frames that waited long enough.
    pub fn handle_timeout(&mut self, now: Instant) {
        for (i, leg) in self.legs.iter_mut().enumerate() {
            let id = if i == 0 { LegId::A } else { LegId::B };
            if leg.session.is_media_timed_out(now) {
                if !leg.timeout_reported {
                    leg.timeout_reported = true;
                    self.events.push_back(BridgeEvent::MediaTimeout { leg: id });
                }
            } else {
                leg.timeout_reported = false;
            }
        }
        for from in [LegId::A, LegId::B] {
            let session = &mut self.legs[from.other().index()].session;
            let mut out = Target { session, outbox: &mut self.outbox, monitor: self.monitor.as_deref_mut(), from };
            self.relays[from.index()].flush_due(now, &mut |f: Frame<'_>| out.send(now, f));
        }
    }

    /// `held` is put on hold by the other leg: it hears `prompts` in a loop
    /// (music or a message), and no audio crosses until [`resume`](Self::resume).
    pub fn hold(&mut self, now: Instant, held: LegId, prompts: impl IntoIterator<Item = Arc<Prompt>>) {
        let mut player = Player::new();
        player.play_looping(prompts);
        for relay in &mut self.relays {
            relay.reset();
        }
        let session = &mut self.legs[held.index()].session;
        session.realign_grid(now);
        session.mark_talkspurt();
        self.hold = Some(Hold { held, player });
    }

    /// Ends the hold: the relay resumes in both directions, re-anchored.
    pub fn resume(&mut self, _now: Instant) {
        if let Some(hold) = self.hold.take() {
            self.legs[hold.held.index()].session.mark_talkspurt();
            for relay in &mut self.relays {
                relay.reset();
            }
        }
    }

    /// Who is held, if anyone.
    pub fn held(&self) -> Option<LegId> {
        self.hold.as_ref().map(|h| h.held)
    }

    /// Mutes (or unmutes) the audio received on `from`: the other leg gets
    /// silence with the same timing.
    pub fn set_muted(&mut self, from: LegId, muted: bool) {
        self.relays[from.index()].muted = muted;
    }

    pub fn is_muted(&self, from: LegId) -> bool {
        self.relays[from.index()].muted
    }

    /// Writes the next datagram into `buf` and names the leg whose sockets
    /// send it: relayed packets first, then RTCP reports, then hold music on
    /// its grid. `None` when nothing is due or `buf` is shorter than
    /// [`transmit_buffer_len`](Self::transmit_buffer_len).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(Endpoint, Transmit)> {
        if buf.len() < self.buffer_len {
            return None;
        }
        if let Some(out) = self.outbox.pop_into(buf) {
            return Some(out);
        }
        for id in [LegId::A, LegId::B] {
            if let Some((to, len)) = self.legs[id.index()].session.poll_rtcp(now, buf) {
                return Some((Endpoint::Leg(id), Transmit::Rtcp { to, len }));
            }
        }
        if let Some(monitor) = self.monitor.as_deref_mut() {
            if let Some((to, len)) = monitor.session.poll_rtcp(now, buf) {
                return Some((Endpoint::Monitor, Transmit::Rtcp { to, len }));
            }
            if let Some((to, len)) = monitor.poll_rtp(now, buf) {
                return Some((Endpoint::Monitor, Transmit::Rtp { to, len }));
            }
        }
        let hold = self.hold.as_mut()?;
        let session = &mut self.legs[hold.held.index()].session;
        if !session.is_sending() || now < session.next_send_at() {
            return None;
        }
        let codec = session.config().codec;
        let mut storage = [0u8; MAX_FRAME_LEN];
        let frame = storage.get_mut(..frame_len(session))?;
        hold.player.fill_frame(codec, frame);
        let (to, len) = session.poll_rtp(now, frame, buf)?;
        Some((Endpoint::Leg(hold.held), Transmit::Rtp { to, len }))
    }

    pub fn poll_event(&mut self) -> Option<BridgeEvent> {
        self.events.pop_front()
    }

    /// When to call `handle_timeout` / `poll_transmit` next: RTCP, media
    /// timeouts, the held leg's grid, partial frames waiting.
    pub fn poll_timeout(&self) -> Instant {
        let mut at = self.legs.iter().map(|l| l.session.next_rtcp_at()).min().unwrap_or_else(|| self.legs[0].session.next_rtcp_at());
        for leg in &self.legs {
            if leg.session.media_timeout_armed() && !leg.timeout_reported {
                at = at.min(leg.session.media_timeout_at());
            }
        }
        if let Some(hold) = &self.hold {
            let session = &self.legs[hold.held.index()].session;
            if session.is_sending() {
                at = at.min(session.next_send_at());
            }
        }
        for relay in &self.relays {
            if let Some(flush) = relay.flush_deadline() {
                at = at.min(flush);
            }
        }
        if let Some(monitor) = &self.monitor {
            at = at.min(monitor.session.next_rtcp_at());
            if monitor.session.is_sending() {
                at = at.min(monitor.session.next_send_at());
            }
        }
        at
    }

    /// A supervisor joins with their own stream (`session`, created with
    /// its own identity at `now`): they hear both parties mixed on its
    /// grid; in `Whisper` the agent (leg B), in `Barge` both parties, hear
    /// them too. Replaces a supervisor already attached.
    pub fn attach_monitor(&mut self, session: RtpSession, mode: MonitorMode) {
        // The supervisor's frames are written straight into the shell's
        // buffer (never through the outbox), which may have to grow.
        self.buffer_len = self.buffer_len.max(RTP_HEADER_LEN + frame_len(&session));
        self.monitor = Some(Box::new(Monitor::new(session, mode)));
    }

    /// Listen, whisper or barge (the console's buttons).
    pub fn set_monitor_mode(&mut self, mode: MonitorMode) {
        if let Some(monitor) = self.monitor.as_deref_mut() {
            monitor.mode = mode;
            for to in 0..2 {
                if !monitor.heard_by(to) {
                    monitor.spoken[to].clear();
                }
            }
        }
    }

    pub fn monitor_mode(&self) -> Option<MonitorMode> {
        self.monitor.as_ref().map(|m| m.mode)
    }

    /// The supervisor leaves; their session is handed back (for its BYE).
    pub fn detach_monitor(&mut self) -> Option<RtpSession> {
        self.monitor.take().map(|m| m.session)
    }

    pub fn monitor_session(&self) -> Option<&RtpSession> {
        self.monitor.as_ref().map(|m| &m.session)
    }

    /// An RTP datagram from the supervisor's phone: their voice, for whisper
    /// and barge (ignored while only listening).
    pub fn handle_monitor_rtp(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Some(monitor) = self.monitor.as_deref_mut() else { return };
        match monitor.session.handle_rtp(now, from, bytes) {
            Ok(received) if received.kind == PacketKind::Audio => {
                let payload = received.packet.payload;
                monitor.push_spoken(payload);
            }
            Ok(_) => {}
            Err(_) => self.counters.rtp_errors += 1,
        }
    }

    pub fn handle_monitor_rtcp(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Some(monitor) = self.monitor.as_deref_mut() else { return };
        if monitor.session.handle_rtcp(now, from, bytes).is_err() {
            self.counters.rtcp_errors += 1;
        }
    }

    /// `leg` hangs up or is torn down: an RTCP BYE for its peer.
    pub fn hangup(&mut self, leg: LegId, buf: &mut [u8]) -> Option<Transmit> {
        if buf.len() < RTCP_BUFFER_LEN {
            return None;
        }
        self.legs[leg.index()].session.rtcp_bye(buf).map(|(to, len)| Transmit::Rtcp { to, len })
    }

    pub fn session(&self, leg: LegId) -> &RtpSession {
        &self.legs[leg.index()].session
    }

    /// For re-INVITEs: `set_remote`, `set_sending` (the peer's SDP
    /// direction).
    pub fn session_mut(&mut self, leg: LegId) -> &mut RtpSession {
        &mut self.legs[leg.index()].session
    }

    /// Counters of the direction carrying audio received on `from`.
    pub fn relay_stats(&self, from: LegId) -> RelayStats {
        self.relays[from.index()].stats
    }

    pub fn counters(&self) -> BridgeCounters {
        BridgeCounters { outbox_overflows: self.outbox.overflows, ..self.counters }
    }

    /// Ends the bridge, handing back both sessions (e.g. the caller goes
    /// back to the IVR for the survey with its stream intact).
    pub fn into_sessions(self) -> (RtpSession, RtpSession) {
        let [a, b] = self.legs;
        (a.session, b.session)
    }

    /// As [`Bridge::into_sessions`], each leg with its RFC 4733 receiver
    /// (for [`crate::call::MediaCall::with_presses`]).
    pub fn into_parts(self) -> [(RtpSession, Rfc4733Receiver); 2] {
        self.legs.map(|leg| (leg.session, leg.rfc4733))
    }

    /// `leg` continues a stream whose presses `presses` already reported
    /// (from [`crate::call::MediaCall::into_parts`]): their remaining
    /// packets are not reported again.
    pub fn with_presses(mut self, leg: LegId, presses: Rfc4733Receiver) -> Bridge {
        self.legs[leg.index()].rfc4733 = presses;
        self
    }
}

fn frame_len(session: &RtpSession) -> usize {
    usize::try_from(session.samples_per_frame()).unwrap_or(MAX_FRAME_LEN).clamp(1, MAX_FRAME_LEN)
}

/// Where one direction's frames go: the other leg's session and the
/// outbox, past the supervisor (who hears them and may speak into them).
struct Target<'a> {
    session: &'a mut RtpSession,
    outbox: &'a mut Outbox,
    monitor: Option<&'a mut Monitor>,
    from: LegId,
}

impl Target<'_> {
    fn send(&mut self, now: Instant, f: Frame<'_>) {
        let to = self.from.other();
        let codec = self.session.config().codec;
        let mut mixed = [0u8; MAX_FRAME_LEN];
        let mut payload = f.payload;
        if let Some(monitor) = self.monitor.as_deref_mut() {
            monitor.heard[self.from.index()].push_encoded(codec, f.payload);
            if monitor.heard_by(to.index())
                && let Some(frame) = mixed.get_mut(..f.payload.len())
            {
                frame.copy_from_slice(f.payload);
                monitor.mix_towards(to.index(), codec, frame);
                payload = frame;
            }
        }
        let packet = StampedPacket {
            payload_type: self.session.config().payload_type,
            marker: f.marker,
            timestamp: f.timestamp,
            samples: payload.len() as u32,
            payload,
        };
        let session = &mut *self.session;
        self.outbox.push(Endpoint::Leg(to), |buf| session.send_stamped(now, packet, buf));
    }
}
