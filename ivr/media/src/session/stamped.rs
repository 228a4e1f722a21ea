//! Packets whose timing comes from elsewhere, sent alongside the grid.
//!
//! A bridge relays the other leg's audio as it arrives, re-stamped onto
//! this leg's SSRC, sequence and timestamp space, and forwards RFC 4733
//! events whose timestamp is the event's start. Those packets are not paced
//! by [`RtpSession::poll_rtp`]; they still take our next sequence number,
//! count in the SR, and move [`RtpSession::next_free_timestamp`] so that the
//! grid (hold music) and the relay can take turns without ever sending time
//! backwards.
//!
//! Must never: reorder our sequence numbers, or let a grid packet after a
//! relayed one carry an earlier timestamp.

use std::net::SocketAddr;
use std::time::Instant;

use super::RtpSession;
use crate::rtp::RtpHeader;

/// One packet to send now with a timestamp chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampedPacket<'p> {
    pub payload_type: u8,
    /// Start of a talkspurt (ORed with a pending marker after resume).
    pub marker: bool,
    pub timestamp: u32,
    /// Audio samples the payload covers; 0 for a telephone-event, whose
    /// timestamp is the event's start and does not advance media time.
    pub samples: u32,
    pub payload: &'p [u8],
}

impl RtpSession {
    /// Our RTP clock at `now`: the timestamp a sample taken at `now` gets.
    pub fn timestamp_at(&self, now: Instant) -> u32 {
        self.identity.first_timestamp.wrapping_add(self.media_clock(now))
    }

    /// The earliest timestamp a new talkspurt may start at: our clock at
    /// `now`, or just past the last audio sent if that runs ahead of it
    /// (relayed audio carries the far side's jitter).
    pub fn next_free_timestamp(&self, now: Instant) -> u32 {
        let clock = self.timestamp_at(now);
        match self.last_sent_end {
            Some(end) if (end.wrapping_sub(clock) as i32) > 0 => end,
            _ => clock,
        }
    }

    /// Writes `packet` into `buf` with our SSRC and next sequence number.
    /// `None` when we are not sending (the peer is on hold) or `buf` is too
    /// small.
    pub fn send_stamped(&mut self, now: Instant, packet: StampedPacket<'_>, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if !self.sending {
            return None;
        }
        let header = RtpHeader {
            marker: packet.marker || self.marker_pending,
            payload_type: packet.payload_type,
            sequence: self.next_seq,
            timestamp: packet.timestamp,
            ssrc: self.identity.ssrc,
        };
        let len = header.write_packet(packet.payload, buf).ok()?;
        if self.resumed {
            self.resumed = false;
            self.last_activity = self.last_activity.max(now);
        }
        self.marker_pending = false;
        self.next_seq = self.next_seq.wrapping_add(1);
        self.sent_since_report = true;
        self.stats.packets_sent += 1;
        self.stats.octets_sent += packet.payload.len() as u64;
        if packet.samples > 0 {
            let end = packet.timestamp.wrapping_add(packet.samples);
            let later = self.last_sent_end.is_none_or(|last| (end.wrapping_sub(last) as i32) > 0);
            if later {
                self.last_sent_end = Some(end);
            }
        }
        Some((self.remote_rtp, len))
    }

    /// Moves the send grid to the first slot that is neither in the past
    /// nor before the end of audio already sent, without counting the
    /// skipped slots as late: for a leg that goes back to paced sending
    /// (hold music) after relayed audio.
    pub fn realign_grid(&mut self, now: Instant) {
        let since = u64::try_from(now.saturating_duration_since(self.start).as_nanos()).unwrap_or(u64::MAX);
        let by_time = since.div_ceil(self.ptime_nanos);
        let clock = u64::from(self.media_clock(now));
        let ahead = self
            .last_sent_end
            .map_or(0, |end| i64::from(end.wrapping_sub(self.timestamp_at(now)) as i32).max(0) as u64);
        let by_timestamp = (clock + ahead).div_ceil(u64::from(self.samples_per_frame.max(1)));
        self.next_slot = self.next_slot.max(by_time).max(by_timestamp);
    }

    /// When the next RTCP report is due.
    pub fn next_rtcp_at(&self) -> Instant {
        self.next_rtcp_at
    }

    /// Whether [`media_timeout_at`](Self::media_timeout_at) is a real
    /// deadline: we are sending and not waiting for the first packet after
    /// a resume.
    pub fn media_timeout_armed(&self) -> bool {
        self.sending && !self.resumed
    }

    /// Samples in one of our frames (160 at 20 ms).
    pub fn samples_per_frame(&self) -> u32 {
        self.samples_per_frame
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::Codec;
    use crate::rtp::RtpPacket;
    use crate::session::{RtpIdentity, SessionConfig};

    fn session(now: Instant) -> RtpSession {
        let config = SessionConfig::new(Codec::Pcmu, "192.0.2.1:4000".parse().expect("literal"));
        let identity = RtpIdentity { ssrc: 0xABCD, first_seq: 100, first_timestamp: 1000 };
        RtpSession::new(config, identity, now, SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn stamped_packets_take_our_sequence_and_the_grid_resumes_after_them() {
        let t0 = Instant::now();
        let mut s = session(t0);
        let mut buf = [0u8; 200];
        // Relayed audio running 30 ms ahead of our clock (far-side jitter).
        let ts = s.timestamp_at(t0) + 240;
        let p = StampedPacket { payload_type: 0, marker: false, timestamp: ts, samples: 160, payload: &[0xFF; 160] };
        let (_, n) = s.send_stamped(t0, p, &mut buf).expect("sending");
        let sent = RtpPacket::parse(&buf[..n]).expect("valid");
        assert_eq!((sent.sequence, sent.timestamp, sent.ssrc, sent.marker), (100, 1240, 0xABCD, true));
        assert_eq!(s.next_free_timestamp(t0), 1400);
        s.realign_grid(t0);
        let (_, n) = s.poll_rtp(t0 + Duration::from_millis(60), &[0xFF; 160], &mut buf).expect("due");
        let grid = RtpPacket::parse(&buf[..n]).expect("valid");
        assert_eq!(grid.sequence, 101);
        assert!(grid.timestamp >= 1400, "{}", grid.timestamp);
        assert_eq!(s.stats().late_frames_skipped, 0);
    }

    #[test]
    fn nothing_is_stamped_while_the_peer_holds() {
        let t0 = Instant::now();
        let mut s = session(t0);
        s.set_sending(false);
        let p = StampedPacket { payload_type: 0, marker: false, timestamp: 5, samples: 160, payload: &[0; 160] };
        assert_eq!(s.send_stamped(t0, p, &mut [0u8; 200]), None);
        s.set_sending(true);
        assert_eq!(s.send_stamped(t0, p, &mut [0u8; 20]), None, "a short buffer is refused, not a panic");
        assert!(s.send_stamped(t0, p, &mut [0u8; 200]).is_some());
    }
}
