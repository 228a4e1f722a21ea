//! DTMF: the digits a caller presses, however the phone chooses to send them.
//!
//! Owns the three ways a digit reaches the IVR and the rule that makes one
//! key press one digit:
//! - [`rfc4733`]: RTP telephone-events (RFC 4733 §2.3), the normal way;
//! - [`info`]: SIP INFO bodies (`application/dtmf-relay`, `application/dtmf`);
//! - [`goertzel`]: tones in the audio itself (ITU-T Q.23 frequencies, Q.24
//!   reception tolerances), for phones and gateways that send nothing else.
//!
//! Must never: allocate per packet or per audio block, panic on bytes from
//! the network, or report the same key press twice.
//!
//! ## One press, one digit ([`DtmfArbiter`])
//! A phone that sends RFC 4733 usually also leaves the tone in the audio
//! (RFC 4733 §2.6 asks senders to suppress it; many do not). Policy: as soon
//! as one RFC 4733 event is seen on a call, in-band detection is switched off
//! for the rest of that call; the phone has shown that it signals digits
//! out of band. For the very first press the in-band detector may win the
//! race (it needs about 40 ms of tone, the first RFC 4733 packet usually comes
//! earlier but can be lost); an RFC 4733 digit equal to an in-band digit
//! reported less than [`DtmfArbiter::ECHO_WINDOW`] ago is that same press and
//! is not reported again. SIP INFO digits are always reported: a phone
//! configured for INFO sends no telephone-events.

pub mod goertzel;
pub mod info;
pub mod rfc4733;

use std::fmt;
use std::time::{Duration, Instant};

/// One DTMF key (ITU-T Q.23 keypad, RFC 4733 §3.2 events 0..=15).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DtmfDigit {
    D0,
    D1,
    D2,
    D3,
    D4,
    D5,
    D6,
    D7,
    D8,
    D9,
    Star,
    Hash,
    A,
    B,
    C,
    D,
}

impl DtmfDigit {
    /// All sixteen keys in RFC 4733 event-code order.
    pub const ALL: [DtmfDigit; 16] = [
        DtmfDigit::D0,
        DtmfDigit::D1,
        DtmfDigit::D2,
        DtmfDigit::D3,
        DtmfDigit::D4,
        DtmfDigit::D5,
        DtmfDigit::D6,
        DtmfDigit::D7,
        DtmfDigit::D8,
        DtmfDigit::D9,
        DtmfDigit::Star,
        DtmfDigit::Hash,
        DtmfDigit::A,
        DtmfDigit::B,
        DtmfDigit::C,
        DtmfDigit::D,
    ];

    pub fn as_char(self) -> char {
        b"0123456789*#ABCD"[self.event_code() as usize] as char
    }

    /// `0`-`9`, `*`, `#`, `A`-`D` (also lower case `a`-`d`).
    pub fn from_char(c: char) -> Option<DtmfDigit> {
        let code = match c {
            '0'..='9' => c as u8 - b'0',
            '*' => 10,
            '#' => 11,
            'A'..='D' => c as u8 - b'A' + 12,
            'a'..='d' => c as u8 - b'a' + 12,
            _ => return None,
        };
        DtmfDigit::from_event_code(code)
    }

    /// RFC 4733 §3.2 table 3: 0-9, 10 = `*`, 11 = `#`, 12-15 = A-D.
    pub fn from_event_code(code: u8) -> Option<DtmfDigit> {
        DtmfDigit::ALL.get(usize::from(code)).copied()
    }

    pub fn event_code(self) -> u8 {
        self as u8
    }

    /// Keypad row and column (ITU-T Q.23 figure 1): row 0..=3, column 0..=3.
    pub fn keypad_position(self) -> (usize, usize) {
        match self {
            DtmfDigit::D1 => (0, 0),
            DtmfDigit::D2 => (0, 1),
            DtmfDigit::D3 => (0, 2),
            DtmfDigit::A => (0, 3),
            DtmfDigit::D4 => (1, 0),
            DtmfDigit::D5 => (1, 1),
            DtmfDigit::D6 => (1, 2),
            DtmfDigit::B => (1, 3),
            DtmfDigit::D7 => (2, 0),
            DtmfDigit::D8 => (2, 1),
            DtmfDigit::D9 => (2, 2),
            DtmfDigit::C => (2, 3),
            DtmfDigit::Star => (3, 0),
            DtmfDigit::D0 => (3, 1),
            DtmfDigit::Hash => (3, 2),
            DtmfDigit::D => (3, 3),
        }
    }

    /// The inverse of [`keypad_position`](Self::keypad_position).
    pub fn from_keypad_position(row: usize, column: usize) -> Option<DtmfDigit> {
        const KEYPAD: [[DtmfDigit; 4]; 4] = [
            [DtmfDigit::D1, DtmfDigit::D2, DtmfDigit::D3, DtmfDigit::A],
            [DtmfDigit::D4, DtmfDigit::D5, DtmfDigit::D6, DtmfDigit::B],
            [DtmfDigit::D7, DtmfDigit::D8, DtmfDigit::D9, DtmfDigit::C],
            [DtmfDigit::Star, DtmfDigit::D0, DtmfDigit::Hash, DtmfDigit::D],
        ];
        KEYPAD.get(row)?.get(column).copied()
    }
}

impl fmt::Display for DtmfDigit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_char())
    }
}

/// How a digit reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DtmfMethod {
    Rfc4733,
    SipInfo,
    InBand,
}

/// Per-call de-duplication across methods (see the module docs).
#[derive(Debug, Clone, Default)]
pub struct DtmfArbiter {
    rfc4733_seen: bool,
    last_inband: Option<(DtmfDigit, Instant)>,
}

impl DtmfArbiter {
    /// How long after an in-band detection an equal RFC 4733 digit is taken
    /// as the same press: longer than the in-band detection delay plus the
    /// network skew between the audio and the event stream, shorter than the
    /// fastest repeat of one key (two 40 ms tones and a 40 ms pause, Q.24,
    /// are already 120 ms; human repeats are well above 250 ms).
    pub const ECHO_WINDOW: Duration = Duration::from_millis(250);

    pub fn new() -> Self {
        Self::default()
    }

    /// Whether the in-band detector should still listen on this call.
    pub fn inband_enabled(&self) -> bool {
        !self.rfc4733_seen
    }

    /// Any RFC 4733 packet (even an unsupported event or a repeat) proves
    /// that the phone signals out of band.
    pub fn note_rfc4733_activity(&mut self) {
        self.rfc4733_seen = true;
    }

    /// Returns whether to report `digit` received by `method` at `now`.
    pub fn accept(&mut self, now: Instant, digit: DtmfDigit, method: DtmfMethod) -> bool {
        match method {
            DtmfMethod::SipInfo => true,
            DtmfMethod::InBand => {
                if self.rfc4733_seen {
                    return false;
                }
                self.last_inband = Some((digit, now));
                true
            }
            DtmfMethod::Rfc4733 => {
                self.rfc4733_seen = true;
                !matches!(self.last_inband.take(),
                    Some((d, at)) if d == digit && now.saturating_duration_since(at) < Self::ECHO_WINDOW)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chars_and_event_codes_round_trip() {
        for d in DtmfDigit::ALL {
            assert_eq!(DtmfDigit::from_char(d.as_char()), Some(d));
            assert_eq!(DtmfDigit::from_event_code(d.event_code()), Some(d));
            let (r, c) = d.keypad_position();
            assert_eq!(DtmfDigit::from_keypad_position(r, c), Some(d));
            assert_eq!(d.to_string(), d.as_char().to_string());
        }
        assert_eq!(DtmfDigit::from_event_code(10), Some(DtmfDigit::Star));
        assert_eq!(DtmfDigit::from_event_code(11), Some(DtmfDigit::Hash));
        assert_eq!(DtmfDigit::from_event_code(16), None);
        assert_eq!(DtmfDigit::from_char('b'), Some(DtmfDigit::B));
        assert_eq!(DtmfDigit::from_char('E'), None);
    }

    #[test]
    fn rfc4733_switches_inband_off_and_swallows_the_echo_of_an_inband_digit() {
        let t0 = Instant::now();
        let mut a = DtmfArbiter::new();
        assert!(a.accept(t0, DtmfDigit::D5, DtmfMethod::InBand));
        // The same press arriving as an event shortly after: not again.
        assert!(!a.accept(t0 + Duration::from_millis(30), DtmfDigit::D5, DtmfMethod::Rfc4733));
        assert!(!a.inband_enabled());
        assert!(!a.accept(t0 + Duration::from_secs(1), DtmfDigit::D6, DtmfMethod::InBand));
        assert!(a.accept(t0 + Duration::from_secs(1), DtmfDigit::D5, DtmfMethod::Rfc4733));
        assert!(a.accept(t0 + Duration::from_secs(2), DtmfDigit::D5, DtmfMethod::SipInfo));
    }
}
