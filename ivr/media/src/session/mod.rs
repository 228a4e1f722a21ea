//! One call's RTP stream: the 20 ms send grid, symmetric-RTP latching,
//! receive statistics, RTCP reports and the media timeout.
//!
//! Owns: sequence numbers, timestamps and SSRC of what we send; the peer's
//! address as learnt from its packets; RFC 3550 statistics in both
//! directions. Does not own payloads (the caller hands one G.711 frame to
//! [`RtpSession::poll_rtp`]) nor DTMF decoding (telephone-event packets are
//! classified and passed up untouched).
//!
//! Must never: read the clock (every input carries `now`), touch a socket,
//! allocate per packet, or panic on network bytes.
//!
//! ## Run-loop contract
//! The shell calls [`RtpSession::handle_rtp`] / [`RtpSession::handle_rtcp`]
//! for each datagram, and at [`RtpSession::poll_timeout`] it calls
//! [`RtpSession::poll_rtp`] until it returns `None` (a late wake-up may owe
//! up to [`MAX_CATCH_UP_FRAMES`] + 1 packets), then
//! [`RtpSession::poll_rtcp`], then checks [`RtpSession::is_media_timed_out`].
//!
//! ## Choices (documented because RFCs leave them open)
//! - Symmetric RTP (RFC 4961 behaviour towards NATed phones): the first
//!   valid RTP packet latches the destination to its source address, once.
//!   Later packets from other addresses are accepted (DTMF, stats) but do not
//!   move the stream: re-latching on any packet would let anyone who can
//!   guess the port hijack the call audio. A re-INVITE moves it through
//!   [`RtpSession::set_remote`], which also re-arms the latch.
//! - RTCP interval: `rtcp_interval × U[0.5, 1.5)` (RFC 3550 §6.3.1
//!   randomisation, without the bandwidth-based part: a two-party G.711
//!   call always sits at the 5 s minimum). The first report comes after
//!   half an interval (§6.2 "initial" halving). The generator is seeded
//!   from our SSRC, itself drawn from the injected rng, so runs replay.
//! - The audio source is the first SSRC seen on the audio payload type; a
//!   different SSRC replaces it only once the current one has been silent
//!   for [`SOURCE_SWITCH_SILENCE`] (a peer or B2BUA restarting its stream),
//!   so a stray stream cannot reset the statistics.
//! - Receive statistics follow the source's SSRC, not the payload type:
//!   a peer sends its RFC 4733 events (and comfort noise) in the audio's
//!   RTP stream, taking the next sequence numbers of that SSRC, so they
//!   count in RFC 3550 A.1/A.3 like audio. Counting only audio would read
//!   every event packet as a lost one (seven per key from our load
//!   generator). They stay out of the jitter estimate (A.8): an event's
//!   packets repeat its start timestamp while being sent 20 ms apart.
//!   Events on another SSRC (SIPp's DTMF pcaps) are passed up uncounted.
//! - Loss is RFC 3550 A.3 only: expected = extended highest sequence
//!   received − base + 1, lost = expected − received. Nothing is expected
//!   from elapsed time, so a peer that stops sending before its BYE (or
//!   before ours) has lost nothing.

#[cfg(test)]
mod loss_tests;
mod receive;
mod stamped;

pub use stamped::StampedPacket;

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use crate::Codec;
use crate::rtcp::{self, Report, RtcpError};
use crate::rtp::{RtpError, RtpHeader, RtpPacket};
use crate::sdp::Negotiated;
use receive::{SeqOutcome, SourceStats};

/// A caller late by more than this many frames skips the missed slots
/// instead of sending them in a burst.
pub const MAX_CATCH_UP_FRAMES: u64 = 3;
/// Silence after which another SSRC may take over as the audio source.
pub const SOURCE_SWITCH_SILENCE: Duration = Duration::from_millis(200);
/// A buffer of this size always holds one of our RTCP compounds.
pub const RTCP_BUFFER_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub codec: Codec,
    /// The payload type we send audio with and recognise from the peer:
    /// the offerer's number (a dynamic PT may carry PCMU/PCMA).
    pub payload_type: u8,
    /// Our send packetisation time.
    pub ptime: Duration,
    pub telephone_event_pt: Option<u8>,
    pub remote_rtp: SocketAddr,
    /// `None`: RTP port + 1 (RFC 3550 §11).
    pub remote_rtcp: Option<SocketAddr>,
    /// Silence from the peer after which the call is considered dead.
    pub media_timeout: Duration,
    pub rtcp_interval: Duration,
    /// Latch on the first packet's source address.
    pub symmetric: bool,
}

impl SessionConfig {
    /// Defaults: static PT of `codec`, 20 ms, no telephone-event, 30 s media
    /// timeout, 5 s RTCP, symmetric.
    pub fn new(codec: Codec, remote_rtp: SocketAddr) -> Self {
        SessionConfig {
            codec,
            payload_type: codec.payload_type(),
            ptime: Duration::from_millis(20),
            telephone_event_pt: None,
            remote_rtp,
            remote_rtcp: None,
            media_timeout: Duration::from_secs(30),
            rtcp_interval: Duration::from_secs(5),
            symmetric: true,
        }
    }

    /// The stream offer/answer agreed on. We send 20 ms frames even when the
    /// peer's `a=ptime` asks for 30: ptime is a receiver preference (RFC 4566
    /// §6) that every G.711 endpoint we meet tolerates, and one frame size
    /// keeps the prompt cache shared; set `ptime` afterwards to honour it.
    pub fn from_negotiated(negotiated: &Negotiated) -> Self {
        SessionConfig {
            payload_type: negotiated.payload_type,
            telephone_event_pt: negotiated.telephone_event_pt,
            remote_rtcp: negotiated.remote_rtcp,
            ..SessionConfig::new(negotiated.codec, negotiated.remote_rtp)
        }
    }
}

/// Our side of the stream's identity (RFC 3550 §5.1: all three random).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpIdentity {
    pub ssrc: u32,
    pub first_seq: u16,
    pub first_timestamp: u32,
}

impl RtpIdentity {
    pub fn random(rng: &mut fastrand::Rng) -> Self {
        RtpIdentity { ssrc: rng.u32(..), first_seq: rng.u16(..), first_timestamp: rng.u32(..) }
    }
}

/// What a received RTP packet carries, by payload type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketKind {
    Audio,
    TelephoneEvent,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceivedRtp<'a> {
    pub kind: PacketKind,
    pub packet: RtpPacket<'a>,
}

/// A snapshot for metrics and call records.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RtpStats {
    pub packets_sent: u64,
    /// Payload octets, as in the SR octet count.
    pub octets_sent: u64,
    /// All valid RTP packets, any payload type or SSRC.
    pub packets_received: u64,
    pub octets_received: u64,
    pub audio_packets_received: u64,
    pub telephone_event_packets_received: u64,
    /// RFC 3550 A.3 for the current audio source: extended highest
    /// sequence received − base + 1, over every packet of its SSRC (audio,
    /// RFC 4733 events, comfort noise), never from elapsed time.
    pub expected: u64,
    /// Cumulative lost (A.3): `expected` − packets received from the
    /// source; negative when duplicates outnumber losses.
    pub lost: i64,
    /// Fraction lost (1/256) in the last RTCP interval we reported.
    pub fraction_lost: u8,
    /// Interarrival jitter of the audio source (A.8).
    pub jitter_ms: f64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub late_frames_skipped: u64,
    pub max_send_lateness: Duration,
    pub rtcp_sent: u64,
    pub rtcp_received: u64,
    /// From the peer's report block about our stream.
    pub peer_fraction_lost: Option<u8>,
    pub peer_cumulative_lost: Option<i32>,
    pub peer_jitter_ms: Option<f64>,
    pub peer_sent_bye: bool,
    /// Whether symmetric RTP has latched onto the peer's source address.
    pub latched: bool,
}

#[derive(Debug)]
pub struct RtpSession {
    config: SessionConfig,
    identity: RtpIdentity,
    cname: String,
    /// Grid origin: slot `n` is due at `start + n * ptime`.
    start: Instant,
    ntp_at_start: u64,
    ptime_nanos: u64,
    samples_per_frame: u32,

    next_slot: u64,
    next_seq: u16,
    marker_pending: bool,
    sending: bool,
    /// Sending resumed after hold: skip the held slots without counting
    /// them as late, and restart the media-timeout clock.
    resumed: bool,
    last_lateness: Duration,

    remote_rtp: SocketAddr,
    remote_rtcp: SocketAddr,
    rtp_latched: bool,
    rtcp_latched: bool,

    last_activity: Instant,
    source: Option<SourceStats>,
    /// When the audio source last sent a packet (any payload type).
    last_source_at: Instant,
    /// Middle NTP bits of the peer's last SR and when it arrived.
    last_sr: Option<(u32, Instant)>,
    sent_since_report: bool,
    rtcp_rng: fastrand::Rng,
    next_rtcp_at: Instant,
    /// Timestamp just past the last audio we sent (grid or stamped), so
    /// that switching between the two never sends time backwards.
    last_sent_end: Option<u32>,

    stats: RtpStats,
}

impl RtpSession {
    /// `now` starts the send grid (slot 0 is due immediately) and the
    /// media-timeout clock; `wallclock` is the same instant as wallclock
    /// time, for SR NTP timestamps.
    pub fn new(config: SessionConfig, identity: RtpIdentity, now: Instant, wallclock: SystemTime) -> Self {
        let ptime_nanos = u64::try_from(config.ptime.as_nanos()).unwrap_or(u64::MAX).max(1);
        let samples_per_frame = (ptime_nanos * u64::from(Codec::SAMPLE_RATE) / 1_000_000_000) as u32;
        let remote_rtcp = config.remote_rtcp.unwrap_or_else(|| next_port(config.remote_rtp));
        let mut rtcp_rng = fastrand::Rng::with_seed(u64::from(identity.ssrc) ^ 0x9E37_79B9_7F4A_7C15);
        let first_rtcp = randomised(config.rtcp_interval, &mut rtcp_rng) / 2;
        RtpSession {
            cname: format!("ivr-{:08x}", identity.ssrc),
            start: now,
            ntp_at_start: rtcp::ntp_from_system_time(wallclock),
            ptime_nanos,
            samples_per_frame,
            next_slot: 0,
            next_seq: identity.first_seq,
            marker_pending: true,
            sending: true,
            resumed: false,
            last_lateness: Duration::ZERO,
            remote_rtp: config.remote_rtp,
            remote_rtcp,
            rtp_latched: false,
            rtcp_latched: false,
            last_activity: now,
            source: None,
            last_source_at: now,
            last_sr: None,
            sent_since_report: false,
            next_rtcp_at: now + first_rtcp,
            rtcp_rng,
            last_sent_end: None,
            stats: RtpStats::default(),
            identity,
            config,
        }
    }

    pub fn identity(&self) -> RtpIdentity {
        self.identity
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Where RTP and RTCP currently go.
    pub fn remote(&self) -> (SocketAddr, SocketAddr) {
        (self.remote_rtp, self.remote_rtcp)
    }

    /// Classifies an RTP datagram, latches, and updates audio statistics.
    pub fn handle_rtp<'a>(&mut self, now: Instant, from: SocketAddr, bytes: &'a [u8]) -> Result<ReceivedRtp<'a>, RtpError> {
        let packet = RtpPacket::parse(bytes)?;
        self.touch(now);
        if self.config.symmetric && !self.rtp_latched {
            self.rtp_latched = true;
            self.stats.latched = true;
            self.remote_rtp = from;
            if !self.rtcp_latched {
                self.remote_rtcp = next_port(from);
            }
        }
        self.stats.packets_received += 1;
        self.stats.octets_received += packet.payload.len() as u64;

        let kind = if packet.payload_type == self.config.payload_type {
            PacketKind::Audio
        } else if Some(packet.payload_type) == self.config.telephone_event_pt {
            PacketKind::TelephoneEvent
        } else {
            PacketKind::Other
        };
        match kind {
            PacketKind::Audio => self.receive_audio(now, &packet),
            PacketKind::TelephoneEvent => {
                self.stats.telephone_event_packets_received += 1;
                self.receive_in_sequence(now, &packet);
            }
            PacketKind::Other => self.receive_in_sequence(now, &packet),
        }
        Ok(ReceivedRtp { kind, packet })
    }

    fn receive_audio(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        self.stats.audio_packets_received += 1;
        let switch = match &self.source {
            None => true,
            Some(s) => s.ssrc != packet.ssrc && now.saturating_duration_since(self.last_source_at) >= SOURCE_SWITCH_SILENCE,
        };
        if switch {
            self.source = Some(SourceStats::new(packet.ssrc, packet.sequence));
        }
        let arrival = self.media_clock(now);
        let Some(source) = self.source.as_mut().filter(|s| s.ssrc == packet.ssrc) else {
            return; // A concurrent foreign stream: passed up, not counted.
        };
        self.last_source_at = now;
        let outcome = source.update_seq(packet.sequence);
        count_outcome(&mut self.stats, outcome);
        if outcome.counted() {
            source.update_jitter(arrival, packet.timestamp);
        }
    }

    /// A packet of another payload type (an RFC 4733 event, comfort noise)
    /// from the audio source takes a sequence number of its stream: it
    /// counts in A.1/A.3, not in jitter (see the module's choices).
    fn receive_in_sequence(&mut self, now: Instant, packet: &RtpPacket<'_>) {
        let Some(source) = self.source.as_mut().filter(|s| s.ssrc == packet.ssrc) else {
            return; // Before any audio, or another source: passed up, not counted.
        };
        self.last_source_at = now;
        count_outcome(&mut self.stats, source.update_seq(packet.sequence));
    }

    /// Reads a compound RTCP datagram from the peer.
    pub fn handle_rtcp(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Result<(), RtcpError> {
        let summary = rtcp::parse_compound(bytes, self.identity.ssrc)?;
        self.touch(now);
        if self.config.symmetric && !self.rtcp_latched {
            self.rtcp_latched = true;
            self.remote_rtcp = from;
        }
        self.stats.rtcp_received += 1;
        if let Some(info) = summary.sender_info {
            self.last_sr = Some((rtcp::ntp_middle(info.ntp), now));
        }
        if let Some(block) = summary.report_about_us {
            self.stats.peer_fraction_lost = Some(block.fraction_lost);
            self.stats.peer_cumulative_lost = Some(block.cumulative_lost);
            self.stats.peer_jitter_ms = Some(timestamp_units_to_ms(block.jitter));
        }
        self.stats.peer_sent_bye |= summary.bye;
        Ok(())
    }

    /// When the next RTP packet is due on the grid.
    pub fn next_send_at(&self) -> Instant {
        self.slot_time(self.next_slot)
    }

    /// Writes the next due RTP packet carrying `payload` (one frame) into
    /// `buf`, or returns `None` if nothing is due or we are not sending.
    ///
    /// # Panics
    /// If `buf` cannot hold 12 bytes plus `payload`: the buffer is ours.
    pub fn poll_rtp(&mut self, now: Instant, payload: &[u8], buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if !self.sending {
            return None;
        }
        let due = self.slot_time(self.next_slot);
        if now < due {
            return None;
        }
        let late_frames = u64::try_from((now - due).as_nanos() / u128::from(self.ptime_nanos)).unwrap_or(u64::MAX);
        if late_frames > MAX_CATCH_UP_FRAMES {
            // Jump to the slot in progress: the timestamp gap tells the
            // receiver's jitter buffer that audio is missing, which beats a
            // burst that overflows it.
            if !self.resumed {
                self.stats.late_frames_skipped += late_frames;
            }
            self.next_slot += late_frames;
        }
        if self.resumed {
            self.resumed = false;
            self.last_activity = self.last_activity.max(now);
        }
        let slot = self.next_slot;
        let header = RtpHeader {
            marker: self.marker_pending,
            payload_type: self.config.payload_type,
            sequence: self.next_seq,
            timestamp: self.slot_timestamp(slot),
            ssrc: self.identity.ssrc,
        };
        let len = header
            .write_packet(payload, buf)
            .expect("the shell's RTP buffer holds a header and one frame");
        self.marker_pending = false;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.next_slot += 1;
        self.last_sent_end = Some(header.timestamp.wrapping_add(self.samples_per_frame));
        self.sent_since_report = true;
        self.last_lateness = now - self.slot_time(slot);
        self.stats.max_send_lateness = self.stats.max_send_lateness.max(self.last_lateness);
        self.stats.packets_sent += 1;
        self.stats.octets_sent += payload.len() as u64;
        Some((self.remote_rtp, len))
    }

    /// How late the last packet left relative to its grid slot.
    pub fn send_lateness(&self) -> Duration {
        self.last_lateness
    }

    /// The next packet starts a talkspurt (RFC 3551 §4.1: marker bit).
    pub fn mark_talkspurt(&mut self) {
        self.marker_pending = true;
    }

    /// Writes an RTCP compound (SR if we sent since the last report, else
    /// RR; a report block once the peer's audio source is known; SDES CNAME)
    /// when one is due. `buf` should be [`RTCP_BUFFER_LEN`] bytes.
    pub fn poll_rtcp(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if now < self.next_rtcp_at {
            return None;
        }
        let len = self.write_report(now, false, buf);
        self.sent_since_report = false;
        self.next_rtcp_at = now + randomised(self.config.rtcp_interval, &mut self.rtcp_rng);
        Some((self.remote_rtcp, len))
    }

    /// An RTCP BYE for hangup (RFC 3550 §6.6), headed by an RR without a
    /// report block: without `now` there is no honest SR timestamp or DLSR.
    pub fn rtcp_bye(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        let report = Report { ssrc: self.identity.ssrc, sender_info: None, block: None, cname: &self.cname, bye: true };
        let len = report.write(buf).expect("the shell's RTCP buffer holds RTCP_BUFFER_LEN bytes");
        self.stats.rtcp_sent += 1;
        Some((self.remote_rtcp, len))
    }

    fn write_report(&mut self, now: Instant, bye: bool, buf: &mut [u8]) -> usize {
        let since_start = now.saturating_duration_since(self.start);
        let sender_info = self.sent_since_report.then(|| rtcp::SenderInfo {
            ntp: ntp_add(self.ntp_at_start, since_start),
            rtp_timestamp: self
                .identity
                .first_timestamp
                .wrapping_add(self.media_clock(now)),
            packet_count: self.stats.packets_sent as u32,
            octet_count: self.stats.octets_sent as u32,
        });
        let last_sr = self.last_sr;
        let block = self.source.as_mut().filter(|s| s.expected() > 0).map(|s| {
            let mut b = s.report_block();
            if let Some((lsr, at)) = last_sr {
                b.last_sr = lsr;
                b.delay_since_last_sr = rtcp::dlsr_units(now.saturating_duration_since(at));
            }
            b
        });
        if let Some(b) = block {
            self.stats.fraction_lost = b.fraction_lost;
        }
        let report = Report { ssrc: self.identity.ssrc, sender_info, block, cname: &self.cname, bye };
        let len = report.write(buf).expect("the shell's RTCP buffer holds RTCP_BUFFER_LEN bytes");
        self.stats.rtcp_sent += 1;
        len
    }

    /// When the peer's silence becomes a media timeout.
    pub fn media_timeout_at(&self) -> Instant {
        self.last_activity + self.config.media_timeout
    }

    /// Whether the peer has been silent too long. Never while we are not
    /// sending (a held caller legitimately sends nothing), nor before the
    /// first packet after a resume restarts the clock.
    pub fn is_media_timed_out(&self, now: Instant) -> bool {
        self.sending && !self.resumed && now >= self.media_timeout_at()
    }

    /// The earliest instant at which a `poll_*` or the timeout check has
    /// something to do.
    pub fn poll_timeout(&self) -> Instant {
        let mut at = self.next_rtcp_at;
        if self.sending {
            at = at.min(self.next_send_at());
            if !self.resumed {
                at = at.min(self.media_timeout_at());
            }
        }
        at
    }

    /// A re-INVITE moved the peer: send there, and latch afresh.
    pub fn set_remote(&mut self, rtp: SocketAddr, rtcp: Option<SocketAddr>) {
        self.remote_rtp = rtp;
        self.remote_rtcp = rtcp.unwrap_or_else(|| next_port(rtp));
        self.config.remote_rtp = rtp;
        self.config.remote_rtcp = rtcp;
        self.rtp_latched = false;
        self.rtcp_latched = false;
        self.stats.latched = false;
    }

    /// Hold and resume (RFC 3264 §8.4): when the peer's SDP says it will not
    /// receive (sendonly/inactive, or c=0.0.0.0) we stop sending; the grid
    /// keeps running so the timestamps stay true to elapsed time, and the
    /// first packet after resuming carries the marker bit.
    pub fn set_sending(&mut self, sending: bool) {
        if sending && !self.sending {
            self.resumed = true;
            self.marker_pending = true;
        }
        self.sending = sending;
    }

    pub fn is_sending(&self) -> bool {
        self.sending
    }

    pub fn stats(&self) -> RtpStats {
        let mut stats = self.stats.clone();
        if let Some(s) = &self.source {
            stats.expected = u64::from(s.expected());
            stats.lost = s.cumulative_lost();
            stats.jitter_ms = timestamp_units_to_ms(s.jitter());
        }
        stats
    }

    fn touch(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
    }

    fn slot_time(&self, slot: u64) -> Instant {
        self.start + Duration::from_nanos(self.ptime_nanos.saturating_mul(slot))
    }

    fn slot_timestamp(&self, slot: u64) -> u32 {
        // Truncation is the RTP timestamp's own modulo-2^32 arithmetic.
        self.identity
            .first_timestamp
            .wrapping_add((slot as u32).wrapping_mul(self.samples_per_frame))
    }

    /// Time since the session started, in 8 kHz timestamp units (mod 2^32).
    fn media_clock(&self, now: Instant) -> u32 {
        let nanos = now.saturating_duration_since(self.start).as_nanos();
        (nanos * u128::from(Codec::SAMPLE_RATE) / 1_000_000_000) as u32
    }
}

fn count_outcome(stats: &mut RtpStats, outcome: SeqOutcome) {
    match outcome {
        SeqOutcome::Duplicate => stats.duplicates += 1,
        SeqOutcome::OutOfOrder => stats.out_of_order += 1,
        _ => {}
    }
}

fn next_port(addr: SocketAddr) -> SocketAddr {
    let mut rtcp = addr;
    rtcp.set_port(addr.port().checked_add(1).unwrap_or(addr.port()));
    rtcp
}

fn randomised(interval: Duration, rng: &mut fastrand::Rng) -> Duration {
    interval.mul_f64(0.5 + rng.f64())
}

fn ntp_add(ntp: u64, d: Duration) -> u64 {
    let frac = (u64::from(d.subsec_nanos()) << 32) / 1_000_000_000;
    ntp.wrapping_add(d.as_secs() << 32).wrapping_add(frac)
}

fn timestamp_units_to_ms(units: u32) -> f64 {
    f64::from(units) * 1000.0 / f64::from(Codec::SAMPLE_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    fn session(now: Instant) -> RtpSession {
        let config = SessionConfig::new(Codec::Pcmu, addr("192.0.2.1:4000"));
        let identity = RtpIdentity { ssrc: 0xABCD, first_seq: 100, first_timestamp: 1000 };
        RtpSession::new(config, identity, now, SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn rtcp_goes_to_rtp_port_plus_one_by_default() {
        let s = session(Instant::now());
        assert_eq!(s.remote(), (addr("192.0.2.1:4000"), addr("192.0.2.1:4001")));
    }

    #[test]
    fn the_first_packet_carries_the_marker_and_the_identity() {
        let t0 = Instant::now();
        let mut s = session(t0);
        let mut buf = [0u8; 200];
        let (to, n) = s.poll_rtp(t0, &[0xFF; 160], &mut buf).expect("slot 0 is due at start");
        assert_eq!(to, addr("192.0.2.1:4000"));
        let p = RtpPacket::parse(&buf[..n]).expect("valid");
        assert!(p.marker);
        assert_eq!((p.sequence, p.timestamp, p.ssrc, p.payload_type), (100, 1000, 0xABCD, 0));
        assert_eq!(s.poll_rtp(t0, &[0xFF; 160], &mut buf), None);
        assert_eq!(s.next_send_at(), t0 + Duration::from_millis(20));
    }

    #[test]
    fn hold_stops_sending_and_resume_marks_a_talkspurt_without_counting_late_frames() {
        let t0 = Instant::now();
        let mut s = session(t0);
        let mut buf = [0u8; 200];
        s.poll_rtp(t0, &[0; 160], &mut buf).expect("first");
        s.set_sending(false);
        let later = t0 + Duration::from_secs(60);
        assert_eq!(s.poll_rtp(later, &[0; 160], &mut buf), None);
        assert!(!s.is_media_timed_out(later));
        s.set_sending(true);
        assert!(!s.is_media_timed_out(later));
        let (_, n) = s.poll_rtp(later, &[0; 160], &mut buf).expect("resumed");
        let p = RtpPacket::parse(&buf[..n]).expect("valid");
        assert!(p.marker);
        assert_eq!(p.sequence, 101);
        assert_eq!(p.timestamp, 1000 + 3000 * 160);
        assert_eq!(s.stats().late_frames_skipped, 0);
        assert!(!s.is_media_timed_out(later + Duration::from_secs(29)));
        assert!(s.is_media_timed_out(later + Duration::from_secs(30)));
    }

    fn audio(seq: u16, ssrc: u32) -> Vec<u8> {
        let mut buf = vec![0u8; 172];
        let header = RtpHeader { marker: false, payload_type: 0, sequence: seq, timestamp: u32::from(seq) * 160, ssrc };
        let n = header.write_packet(&[0xFF; 160], &mut buf).expect("fits");
        buf.truncate(n);
        buf
    }

    #[test]
    fn a_second_audio_ssrc_takes_over_only_after_the_first_falls_silent() {
        let t0 = Instant::now();
        let mut s = session(t0);
        let peer = addr("198.51.100.7:5555");
        for seq in 1..=10u16 {
            s.handle_rtp(t0 + Duration::from_millis(20 * u64::from(seq)), peer, &audio(seq, 0xA)).expect("valid");
        }
        let last_a = t0 + Duration::from_millis(200);
        // A stray stream while A is live: passed up as audio, not counted.
        let stray = audio(5000, 0xB);
        let got = s.handle_rtp(last_a, peer, &stray).expect("valid");
        assert_eq!(got.kind, PacketKind::Audio);
        assert_eq!((s.stats().expected, s.stats().lost), (9, 0));
        // A falls silent; B restarts the statistics after its probation.
        let later = last_a + SOURCE_SWITCH_SILENCE;
        for (i, seq) in (6000..6005u16).enumerate() {
            s.handle_rtp(later + Duration::from_millis(20 * i as u64), peer, &audio(seq, 0xB)).expect("valid");
        }
        assert_eq!((s.stats().expected, s.stats().lost), (4, 0));
        assert_eq!(s.stats().audio_packets_received, 16);
    }
}
