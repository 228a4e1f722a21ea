//! Receive statistics for the peer's audio source: sequence tracking
//! (RFC 3550 A.1), loss (A.3) and interarrival jitter (A.8), plus duplicate
//! and reordering counts for our own dashboards.
//!
//! Owns the per-source arithmetic only; which packets feed it is decided by
//! [`super::RtpSession`]. Integer arithmetic throughout so that tests can
//! state exact numbers.

use crate::rtcp::ReportBlock;

const RTP_SEQ_MOD: u32 = 1 << 16;
/// RFC 3550 A.1 suggested limits.
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u32 = 2;
/// Width of the duplicate-detection window behind the highest sequence.
const WINDOW: u16 = 64;

/// What one packet did to the sequence state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SeqOutcome {
    /// Still proving the source (A.1 probation); not counted.
    Probation,
    /// Counted, advancing or equal to the highest sequence.
    InOrder,
    /// Counted (A.1 counts duplicates, §6.4.1 lets loss go negative).
    Duplicate,
    /// Counted, arrived behind the highest sequence for the first time.
    OutOfOrder,
    /// A very large jump not yet confirmed by its successor; not counted.
    BadJump,
}

impl SeqOutcome {
    pub(crate) fn counted(self) -> bool {
        matches!(self, SeqOutcome::InOrder | SeqOutcome::Duplicate | SeqOutcome::OutOfOrder)
    }
}

#[derive(Debug, Clone)]
pub(crate) struct SourceStats {
    pub(crate) ssrc: u32,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    /// Relative transit time of the previous packet (A.8), in timestamp units.
    transit: Option<u32>,
    /// Jitter scaled by 16, the integer form of A.8.
    jitter_q4: u32,
    /// Bit i set: sequence `max_seq - i` has been received.
    seen: u64,
    /// Fraction lost computed by the last report (A.3).
    pub(crate) last_fraction: u8,
}

impl SourceStats {
    /// A.1 `init_seq` followed by the probation set-up for a new source.
    pub(crate) fn new(ssrc: u32, seq: u16) -> Self {
        let mut s = SourceStats {
            ssrc,
            max_seq: seq,
            cycles: 0,
            base_seq: u32::from(seq),
            bad_seq: RTP_SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter_q4: 0,
            seen: 0,
            last_fraction: 0,
        };
        s.max_seq = seq.wrapping_sub(1);
        s
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
        self.seen = 1;
    }

    /// A.1 `update_seq`, extended with a 64-packet window that tells
    /// duplicates from late arrivals.
    pub(crate) fn update_seq(&mut self, seq: u16) -> SeqOutcome {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            // Sequential packets are required to accept a new source.
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return SeqOutcome::InOrder;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return SeqOutcome::Probation;
        }
        let outcome = if udelta < MAX_DROPOUT {
            // In order, with a permissible gap.
            if udelta == 0 {
                SeqOutcome::Duplicate
            } else {
                if seq < self.max_seq {
                    // Sequence number wrapped: count another 64K cycle.
                    self.cycles = self.cycles.wrapping_add(RTP_SEQ_MOD);
                }
                self.max_seq = seq;
                self.seen = if udelta >= WINDOW { 1 } else { (self.seen << udelta) | 1 };
                SeqOutcome::InOrder
            }
        } else if u32::from(udelta) <= RTP_SEQ_MOD - u32::from(MAX_MISORDER) {
            // The sequence number made a very large jump.
            if u32::from(seq) == self.bad_seq {
                // Two sequential packets: assume the other side restarted
                // without telling us, so just re-sync.
                self.init_seq(seq);
                SeqOutcome::InOrder
            } else {
                self.bad_seq = u32::from(seq.wrapping_add(1));
                return SeqOutcome::BadJump;
            }
        } else {
            // Duplicate or reordered packet.
            let back = self.max_seq.wrapping_sub(seq);
            if back < WINDOW {
                let bit = 1u64 << back;
                if self.seen & bit != 0 {
                    SeqOutcome::Duplicate
                } else {
                    self.seen |= bit;
                    SeqOutcome::OutOfOrder
                }
            } else {
                SeqOutcome::OutOfOrder
            }
        };
        self.received += 1;
        outcome
    }

    /// A.8: `arrival` is the arrival time in timestamp units (8 kHz).
    pub(crate) fn update_jitter(&mut self, arrival: u32, timestamp: u32) {
        let transit = arrival.wrapping_sub(timestamp);
        if let Some(previous) = self.transit {
            let d = (transit.wrapping_sub(previous) as i32).unsigned_abs();
            // J += (|D| - J) / 16, kept scaled by 16 (A.8's integer form).
            self.jitter_q4 = self
                .jitter_q4
                .wrapping_add(d)
                .wrapping_sub((self.jitter_q4 + 8) >> 4);
        }
        self.transit = Some(transit);
    }

    pub(crate) fn extended_max(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// A.3: packets expected since the source was validated.
    pub(crate) fn expected(&self) -> u32 {
        if self.probation > 0 {
            return 0;
        }
        self.extended_max().wrapping_sub(self.base_seq).wrapping_add(1)
    }

    #[cfg(test)]
    pub(crate) fn received(&self) -> u32 {
        self.received
    }

    pub(crate) fn cumulative_lost(&self) -> i64 {
        i64::from(self.expected()) - i64::from(self.received)
    }

    /// Jitter in timestamp units.
    pub(crate) fn jitter(&self) -> u32 {
        self.jitter_q4 >> 4
    }

    /// A report block about this source (A.3), advancing the interval
    /// counters. LSR and DLSR are filled in by the caller.
    pub(crate) fn report_block(&mut self) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        self.last_fraction = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        ReportBlock {
            ssrc: self.ssrc,
            fraction_lost: self.last_fraction,
            cumulative_lost: self.cumulative_lost().clamp(-0x80_0000, 0x7F_FFFF) as i32,
            extended_highest_seq: self.extended_max(),
            jitter: self.jitter(),
            last_sr: 0,
            delay_since_last_sr: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validated(first: u16) -> SourceStats {
        let mut s = SourceStats::new(1, first);
        assert_eq!(s.update_seq(first), SeqOutcome::Probation);
        assert_eq!(s.update_seq(first.wrapping_add(1)), SeqOutcome::InOrder);
        s
    }

    #[test]
    fn a_source_is_validated_after_two_sequential_packets() {
        let s = validated(10);
        assert_eq!((s.expected(), s.received()), (1, 1));
    }

    #[test]
    fn probation_restarts_on_a_gap() {
        let mut s = SourceStats::new(1, 10);
        assert_eq!(s.update_seq(10), SeqOutcome::Probation);
        assert_eq!(s.update_seq(12), SeqOutcome::Probation);
        assert_eq!(s.update_seq(13), SeqOutcome::InOrder);
        assert_eq!(s.expected(), 1);
    }

    #[test]
    fn wrap_at_65535_counts_a_cycle() {
        let mut s = validated(65_533);
        // 65_534 was counted; 0 is lost.
        for seq in [65_535u16, 1] {
            assert_eq!(s.update_seq(seq), SeqOutcome::InOrder);
        }
        assert_eq!(s.extended_max(), 65_536 + 1);
        assert_eq!(s.expected(), 4);
        assert_eq!(s.received(), 3);
        assert_eq!(s.cumulative_lost(), 1);
    }

    #[test]
    fn duplicates_and_late_packets_are_told_apart() {
        let mut s = validated(100);
        assert_eq!(s.update_seq(103), SeqOutcome::InOrder);
        assert_eq!(s.update_seq(102), SeqOutcome::OutOfOrder);
        assert_eq!(s.update_seq(102), SeqOutcome::Duplicate);
        assert_eq!(s.update_seq(103), SeqOutcome::Duplicate);
        assert_eq!(s.expected(), 3);
        assert_eq!(s.received(), 5);
        assert_eq!(s.cumulative_lost(), -2);
    }

    #[test]
    fn a_big_jump_resyncs_only_when_confirmed() {
        let mut s = validated(100);
        assert_eq!(s.update_seq(40_000), SeqOutcome::BadJump);
        assert_eq!(s.update_seq(102), SeqOutcome::InOrder);
        assert_eq!(s.update_seq(20_000), SeqOutcome::BadJump);
        assert_eq!(s.update_seq(20_001), SeqOutcome::InOrder);
        assert_eq!((s.expected(), s.received()), (1, 1));
    }

    #[test]
    fn fraction_lost_covers_the_interval_since_the_last_report() {
        let mut s = validated(0); // counts seq 1
        for seq in 2..=8u16 {
            if seq % 3 != 0 {
                s.update_seq(seq);
            }
        }
        // expected 8 (1..=8), received 6.
        let b = s.report_block();
        assert_eq!((b.fraction_lost, b.cumulative_lost, b.extended_highest_seq), (64, 2, 8));
        for seq in 9..=12u16 {
            s.update_seq(seq);
        }
        assert_eq!(s.report_block().fraction_lost, 0);
    }

    #[test]
    fn constant_transit_means_zero_jitter_and_alternating_delay_converges() {
        let mut s = validated(0);
        for i in 0..100u32 {
            s.update_jitter(1000 + i * 160, i * 160);
        }
        assert_eq!(s.jitter(), 0);
        for i in 0..400u32 {
            let delay = if i % 2 == 0 { 0 } else { 80 };
            s.update_jitter(i * 160 + delay, i * 160);
        }
        // |D| = 80 each packet; the integer filter settles just under 80.
        assert!((79..=80).contains(&s.jitter()), "{}", s.jitter());
    }
}
