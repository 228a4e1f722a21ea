//! Figures gathered during a live run: a log-linear histogram (setup
//! latency, send-time deviation) and the per-second timeline the reports
//! draw.
//!
//! Owns arithmetic only; never reads the clock (values come in measured).

use serde::Serialize;

/// Sub-buckets per power of two: a value is kept to within 1/32 (3 %).
const SUB: u64 = 32;

/// A histogram of microsecond values with bounded relative error and
/// constant memory, so a capacity run can record every packet.
#[derive(Debug, Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram { counts: vec![0; (64 * SUB) as usize], total: 0, max: 0 }
    }
}

fn bucket(v: u64) -> usize {
    if v < SUB {
        return v as usize;
    }
    let exp = 63 - u64::from(v.leading_zeros()); // v >= 2^exp, exp >= 5
    let shift = exp - 5;
    let sub = (v >> shift) - SUB;
    ((exp - 4) * SUB + sub) as usize
}

/// The lowest value of a bucket.
fn bucket_low(b: usize) -> u64 {
    let b = b as u64;
    if b < SUB {
        return b;
    }
    let exp = b / SUB + 4;
    let sub = b % SUB;
    (SUB + sub) << (exp - 5)
}

impl Histogram {
    pub fn record(&mut self, micros: u64) {
        let b = bucket(micros).min(self.counts.len() - 1);
        self.counts[b] += 1;
        self.total += 1;
        self.max = self.max.max(micros);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.max = self.max.max(other.max);
    }

    /// Nearest-rank percentile, in ms (the bucket's low edge; 0 if empty).
    /// Removes the counts of an earlier copy of this histogram (the
    /// figures of an interval; the maximum is kept).
    pub fn subtract(&mut self, earlier: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&earlier.counts) {
            *a = a.saturating_sub(*b);
        }
        self.total = self.counts.iter().sum();
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return bucket_low(b).min(self.max) as f64 / 1000.0;
            }
        }
        self.max as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.max as f64 / 1000.0
    }

    pub fn summary(&self) -> Percentiles {
        Percentiles {
            count: self.total,
            p50_ms: self.percentile_ms(50.0),
            p95_ms: self.percentile_ms(95.0),
            p99_ms: self.percentile_ms(99.0),
            max_ms: self.max_ms(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// One second of the run, for the progress line and the charts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Second {
    pub t: u64,
    pub concurrent: usize,
    pub in_queue: usize,
    pub started: u64,
    pub failed: u64,
    pub setup_p99_ms: f64,
    pub send_deviation_p99_ms: f64,
    pub jitter_max_ms: f64,
    pub packets_sent: u64,
    pub packets_received: u64,
    pub generator_cpu_percent: f64,
    pub server_cpu_percent: Option<f64>,
    pub server_rss_mb: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_within_three_percent() {
        let mut last = 0;
        for v in (0..100_000u64).step_by(7).chain([1 << 40, u64::MAX / 2]) {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            last = b;
            let low = bucket_low(b);
            assert!(low <= v && (v - low) as f64 <= v as f64 / 31.0 + 1.0, "{v} -> {low}");
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut h = Histogram::default();
        for v in 1..=1000u64 {
            h.record(v * 10);
        }
        let s = h.summary();
        assert_eq!(s.count, 1000);
        assert!((s.p50_ms - 5.0).abs() < 0.2, "{s:?}");
        assert!((s.p99_ms - 9.9).abs() < 0.35, "{s:?}");
        assert_eq!(s.max_ms, 10.0);
        let mut other = Histogram::default();
        other.record(50_000);
        h.merge(&other);
        assert_eq!(h.max_ms(), 50.0);
        assert_eq!(Histogram::default().percentile_ms(99.0), 0.0);
    }
}
