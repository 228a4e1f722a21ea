//! RFC 4733 telephone-events: the payload format and a receiver that turns a
//! stream of event packets into key presses.
//!
//! Owns: parsing the 4-byte event payload (RFC 4733 §2.3) and deciding which
//! packet starts a new key press. Must never: use RTP sequence numbers (SIPp's
//! DTMF captures repeat them, and the event stream may use its own SSRC), or
//! report one press twice.
//!
//! ## How presses are told apart
//! RFC 4733 §2.5.1.2: all packets of one event carry the event's start
//! timestamp; a new event (even the same key again) gets a new timestamp.
//! §2.5.1.4: the final (E bit) packet is sent three times. So a press is
//! identified by `(SSRC, RTP timestamp, event code)`.
//!
//! Policy: a press is reported on the **first packet seen** with a new
//! identity, whatever its E bit or duration: lowest latency, and a lost start
//! packet (§2.5.1.2 allows loss; the end packets are the redundant ones)
//! still yields the digit from a later update or end packet. Identities of
//! the last [`RECENT_EVENTS`] presses are remembered, so continuation
//! packets, the three end packets and packets of an earlier press reordered
//! behind a newer one are all reported as [`Rfc4733Outcome::Repeat`].

use std::time::{Duration, Instant};

use thiserror::Error;

use super::DtmfDigit;

/// How many recent press identities are remembered against duplicates.
pub const RECENT_EVENTS: usize = 16;

/// One telephone-event payload block (RFC 4733 §2.3, figure 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TelephoneEvent {
    /// Event code (§3.2: 0-15 are the DTMF keys, 16 is flash).
    pub event: u8,
    /// E bit: this packet ends the event.
    pub end: bool,
    /// Power level in -dBm0 (0..=63); informational for DTMF.
    pub volume: u8,
    /// Duration so far, in RTP timestamp units.
    pub duration: u16,
}

impl TelephoneEvent {
    pub const LEN: usize = 4;

    /// Parses the first block of `payload`. Extra bytes (a second block some
    /// gateways append, or padding) are ignored; the R bit is ignored as
    /// §2.3 requires of receivers.
    pub fn parse(payload: &[u8]) -> Result<TelephoneEvent, Rfc4733Error> {
        let &[event, flags, d0, d1, ..] = payload else {
            return Err(Rfc4733Error::Truncated { len: payload.len() });
        };
        Ok(TelephoneEvent {
            event,
            end: flags & 0x80 != 0,
            volume: flags & 0x3F,
            duration: u16::from_be_bytes([d0, d1]),
        })
    }

    /// The wire form (for senders and tests).
    pub fn to_bytes(self) -> [u8; 4] {
        let flags = if self.end { 0x80 } else { 0 } | (self.volume & 0x3F);
        let [d0, d1] = self.duration.to_be_bytes();
        [self.event, flags, d0, d1]
    }

    /// The DTMF key this event stands for, if it is one.
    pub fn digit(self) -> Option<DtmfDigit> {
        DtmfDigit::from_event_code(self.event)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Rfc4733Error {
    #[error("telephone-event payload of {len} bytes, need at least 4 (RFC 4733 §2.3)")]
    Truncated { len: usize },
}

/// What one telephone-event packet meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rfc4733Outcome {
    /// The first packet of a new press: report this digit.
    Digit(DtmfDigit),
    /// Another packet of a press already reported (update, end, repeat,
    /// reordered).
    Repeat,
    /// A valid event that is not a DTMF key (e.g. 16 = flash): ignored.
    Unsupported { event: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PressId {
    ssrc: u32,
    timestamp: u32,
    event: u8,
}

#[derive(Debug, Clone, Copy)]
struct PressRecord {
    id: PressId,
    /// When the first end packet of this press arrived.
    ended_at: Option<Instant>,
}

/// A non-end packet carrying the identity of a press that ended at least
/// this long ago is a new press. Real phones give every press a new RTP
/// timestamp, but a replayed capture (SIPp's `dtmf_2833_N.pcap` played twice
/// for the same key) repeats SSRC, sequence numbers and timestamp exactly.
/// A reordered packet of the same press arrives within milliseconds of its
/// end packets, far inside this gap.
pub const REPLAY_GAP: Duration = Duration::from_millis(200);

/// Reports each key press once, however many packets carry it.
#[derive(Debug, Clone)]
pub struct Rfc4733Receiver {
    recent: [Option<PressRecord>; RECENT_EVENTS],
    next: usize,
}

impl Default for Rfc4733Receiver {
    fn default() -> Self {
        Self::new()
    }
}

impl Rfc4733Receiver {
    pub fn new() -> Self {
        Rfc4733Receiver { recent: [None; RECENT_EVENTS], next: 0 }
    }

    /// Handles one telephone-event payload received at `now` on RTP stream
    /// `ssrc` with RTP `timestamp` (the event's start, RFC 4733 §2.3.1).
    pub fn handle(&mut self, now: Instant, ssrc: u32, timestamp: u32, payload: &[u8]) -> Result<Rfc4733Outcome, Rfc4733Error> {
        let event = TelephoneEvent::parse(payload)?;
        let Some(digit) = event.digit() else {
            return Ok(Rfc4733Outcome::Unsupported { event: event.event });
        };
        let id = PressId { ssrc, timestamp, event: event.event };
        if let Some(record) = self.recent.iter_mut().flatten().find(|r| r.id == id) {
            if event.end {
                record.ended_at.get_or_insert(now);
                return Ok(Rfc4733Outcome::Repeat);
            }
            let replayed = record.ended_at.is_some_and(|ended| now.saturating_duration_since(ended) >= REPLAY_GAP);
            if !replayed {
                return Ok(Rfc4733Outcome::Repeat);
            }
            record.ended_at = None;
            return Ok(Rfc4733Outcome::Digit(digit));
        }
        if let Some(slot) = self.recent.get_mut(self.next) {
            *slot = Some(PressRecord { id, ended_at: event.end.then_some(now) });
        }
        self.next = (self.next + 1) % RECENT_EVENTS;
        Ok(Rfc4733Outcome::Digit(digit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_rfc_layout() {
        let e = TelephoneEvent::parse(&[11, 0x8A, 0x03, 0x20]).expect("4 bytes");
        assert_eq!(e, TelephoneEvent { event: 11, end: true, volume: 10, duration: 800 });
        assert_eq!(e.digit(), Some(DtmfDigit::Hash));
        assert_eq!(e.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        // R bit set: ignored.
        assert_eq!(TelephoneEvent::parse(&[1, 0x4A, 0, 0]).map(|e| e.volume), Ok(10));
        assert_eq!(TelephoneEvent::parse(&[1, 2, 3]), Err(Rfc4733Error::Truncated { len: 3 }));
    }

    #[test]
    fn a_replayed_capture_of_the_same_key_is_a_second_press_but_reordering_is_not() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut rx = Rfc4733Receiver::new();
        let start = [1, 0x0A, 0, 0];
        let end = [1, 0x8A, 0x08, 0xC0];
        assert_eq!(rx.handle(t0, 7, 13280, &start), Ok(Rfc4733Outcome::Digit(DtmfDigit::D1)));
        for i in 0..3 {
            assert_eq!(rx.handle(t0 + ms(140 + i), 7, 13280, &end), Ok(Rfc4733Outcome::Repeat));
        }
        // A late, reordered continuation packet of the same press.
        assert_eq!(rx.handle(t0 + ms(150), 7, 13280, &start), Ok(Rfc4733Outcome::Repeat));
        // The same capture played again 660 ms later: the caller pressed 1 again.
        assert_eq!(rx.handle(t0 + ms(800), 7, 13280, &start), Ok(Rfc4733Outcome::Digit(DtmfDigit::D1)));
        assert_eq!(rx.handle(t0 + ms(940), 7, 13280, &end), Ok(Rfc4733Outcome::Repeat));
    }
}
