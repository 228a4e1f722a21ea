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

/// Per-call receiver state: a small ring of recent press identities.
#[derive(Debug, Clone)]
pub struct Rfc4733Receiver {
    recent: [Option<PressId>; RECENT_EVENTS],
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

    /// Handles one telephone-event packet's RTP `ssrc`, `timestamp` and
    /// payload.
    pub fn handle(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) -> Result<Rfc4733Outcome, Rfc4733Error> {
        let event = TelephoneEvent::parse(payload)?;
        let Some(digit) = event.digit() else {
            return Ok(Rfc4733Outcome::Unsupported { event: event.event });
        };
        let id = PressId { ssrc, timestamp, event: event.event };
        if self.recent.contains(&Some(id)) {
            return Ok(Rfc4733Outcome::Repeat);
        }
        if let Some(slot) = self.recent.get_mut(self.next) {
            *slot = Some(id);
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
}
