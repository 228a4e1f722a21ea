//! The raw counts and sums of one report row, and the metrics derived from
//! them (definitions in `docs/metrics.md`). Rows add up by summing tallies,
//! so totals are never averages of averages.

use serde::Serialize;

/// Counts and sums for one group of calls. Every field is additive except
/// `longest_wait_ms` (a maximum) and `staffed_ms` (unknown stays unknown
/// only if every part is unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Tally {
    pub offered: i64,
    pub ivr_completed: i64,
    pub ivr_abandoned: i64,
    pub out_of_hours: i64,
    pub queued: i64,
    pub answered: i64,
    /// Answered with `wait_ms <= SERVICE_LEVEL_MS`.
    pub answered_in_sl: i64,
    /// Σ `wait_ms` of answered calls.
    pub answer_wait_ms: i64,
    /// Abandoned in queue, short abandons included.
    pub abandoned: i64,
    pub short_abandoned: i64,
    /// Abandoned, not short, with `wait_ms <= SERVICE_LEVEL_MS`.
    pub abandoned_in_sl: i64,
    pub called_back: i64,
    /// Σ over answered calls.
    pub talk_ms: i64,
    pub hold_ms: i64,
    pub wrap_up_ms: i64,
    pub longest_wait_ms: Option<i64>,
    /// Agents' ready time in the group; `None` when not defined for it.
    pub staffed_ms: Option<i64>,
    /// Number of scores of each value 0..=10.
    pub scores: [i64; 11],
}

impl Tally {
    /// Adds `other` into `self` (for totals and folds).
    pub fn add(&mut self, other: &Tally) {
        self.offered += other.offered;
        self.ivr_completed += other.ivr_completed;
        self.ivr_abandoned += other.ivr_abandoned;
        self.out_of_hours += other.out_of_hours;
        self.queued += other.queued;
        self.answered += other.answered;
        self.answered_in_sl += other.answered_in_sl;
        self.answer_wait_ms += other.answer_wait_ms;
        self.abandoned += other.abandoned;
        self.short_abandoned += other.short_abandoned;
        self.abandoned_in_sl += other.abandoned_in_sl;
        self.called_back += other.called_back;
        self.talk_ms += other.talk_ms;
        self.hold_ms += other.hold_ms;
        self.wrap_up_ms += other.wrap_up_ms;
        self.longest_wait_ms = match (self.longest_wait_ms, other.longest_wait_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.staffed_ms = match (self.staffed_ms, other.staffed_ms) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
        for (mine, theirs) in self.scores.iter_mut().zip(other.scores) {
            *mine += theirs;
        }
    }

    /// Offered calls that are in none of the named outcomes.
    pub fn other(&self) -> i64 {
        self.offered
            - self.ivr_completed
            - self.ivr_abandoned
            - self.out_of_hours
            - self.answered
            - self.abandoned
            - self.called_back
    }

    /// Answered within the threshold / answered.
    pub fn service_level(&self) -> Option<f64> {
        ratio(self.answered_in_sl, self.answered)
    }

    /// (Answered + abandoned within the threshold) / (answered + abandoned),
    /// short abandons left out.
    pub fn service_level_2(&self) -> Option<f64> {
        ratio(
            self.answered_in_sl + self.abandoned_in_sl,
            self.answered + self.abandoned - self.short_abandoned,
        )
    }

    /// (Abandoned − short) / (queued − short).
    pub fn abandon_rate(&self) -> Option<f64> {
        ratio(self.abandoned - self.short_abandoned, self.queued - self.short_abandoned)
    }

    /// Average speed of answer, seconds.
    pub fn asa_s(&self) -> Option<f64> {
        seconds(self.answer_wait_ms, self.answered)
    }

    pub fn handle_ms(&self) -> i64 {
        self.talk_ms + self.hold_ms + self.wrap_up_ms
    }

    /// Average handle time (talk + hold + wrap-up), seconds.
    pub fn aht_s(&self) -> Option<f64> {
        seconds(self.handle_ms(), self.answered)
    }

    /// Average after-call work (wrap-up), seconds.
    pub fn acw_s(&self) -> Option<f64> {
        seconds(self.wrap_up_ms, self.answered)
    }

    /// Handle time / staffed time.
    pub fn occupancy(&self) -> Option<f64> {
        self.staffed_ms.and_then(|staffed| ratio(self.handle_ms(), staffed))
    }

    pub fn longest_wait_s(&self) -> Option<f64> {
        self.longest_wait_ms.map(|ms| ms as f64 / 1_000.0)
    }

    /// Number of survey scores.
    pub fn surveys(&self) -> i64 {
        self.scores.iter().sum()
    }

    /// Mean score, 0.0..=10.0.
    pub fn satisfaction(&self) -> Option<f64> {
        let sum: i64 = self.scores.iter().zip(0..).map(|(n, value)| n * value).sum();
        ratio(sum, self.surveys())
    }
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

fn seconds(total_ms: i64, count: i64) -> Option<f64> {
    ratio(total_ms, count).map(|ms| ms / 1_000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_ratios_are_none_not_zero() {
        let empty = Tally::default();
        assert_eq!(empty.service_level(), None);
        assert_eq!(empty.service_level_2(), None);
        assert_eq!(empty.asa_s(), None);
        assert_eq!(empty.satisfaction(), None);
        assert_eq!(empty.occupancy(), None);
    }

    #[test]
    fn totals_sum_counts_and_take_the_longest_wait() {
        let mut total = Tally { answered: 1, answered_in_sl: 1, longest_wait_ms: Some(5_000), ..Tally::default() };
        let mut scores = [0; 11];
        scores[9] = 1;
        total.add(&Tally { answered: 3, longest_wait_ms: Some(40_000), scores, ..Tally::default() });
        total.add(&Tally { longest_wait_ms: None, staffed_ms: Some(60_000), ..Tally::default() });
        assert_eq!(total.answered, 4);
        assert_eq!(total.service_level(), Some(0.25));
        assert_eq!(total.longest_wait_ms, Some(40_000));
        assert_eq!(total.staffed_ms, Some(60_000));
        assert_eq!(total.satisfaction(), Some(9.0));
    }
}
