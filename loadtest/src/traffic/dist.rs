//! The random distributions the traffic model draws from: shares
//! (categorical), exponential and log-normal durations, and the Laplace
//! transform of a patience distribution that the abandonment prediction
//! needs.
//!
//! Owns the sampling arithmetic only; every draw takes the caller's seeded
//! generator, so a seed gives the same year on every machine. Never panics:
//! weights that are all zero or not finite pick the first entry.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// A duration distribution for handle times, patience, think times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DurationDist {
    /// Always this long.
    Fixed { secs: f64 },
    /// Uniform in `[min_secs, max_secs)`.
    Uniform { min_secs: f64, max_secs: f64 },
    /// Exponential with this mean.
    Exponential { mean_secs: f64 },
    /// Log-normal: `exp(N(ln median, sigma²))`, mean `median · exp(sigma²/2)`.
    LogNormal { median_secs: f64, sigma: f64 },
}

impl DurationDist {
    pub fn sample(&self, rng: &mut fastrand::Rng) -> Duration {
        let secs = match *self {
            DurationDist::Fixed { secs } => secs,
            DurationDist::Uniform { min_secs, max_secs } => min_secs + (max_secs - min_secs) * rng.f64(),
            // 1 - u is in (0, 1]: ln never sees 0.
            DurationDist::Exponential { mean_secs } => -mean_secs * (1.0 - rng.f64()).ln(),
            DurationDist::LogNormal { median_secs, sigma } => median_secs * (sigma * standard_normal(rng)).exp(),
        };
        Duration::try_from_secs_f64(secs.max(0.0)).unwrap_or(Duration::ZERO)
    }

    pub fn mean_secs(&self) -> f64 {
        match *self {
            DurationDist::Fixed { secs } => secs,
            DurationDist::Uniform { min_secs, max_secs } => (min_secs + max_secs) / 2.0,
            DurationDist::Exponential { mean_secs } => mean_secs,
            DurationDist::LogNormal { median_secs, sigma } => median_secs * (sigma * sigma / 2.0).exp(),
        }
    }

    /// `E[exp(-theta · X)]`: with Erlang C's exponential wait tail
    /// `P(W > t) = C · exp(-theta · t)`, the share of callers of this
    /// patience who abandon is `C · laplace(theta)`.
    pub fn laplace(&self, theta: f64) -> f64 {
        match *self {
            DurationDist::Fixed { secs } => (-theta * secs).exp(),
            DurationDist::Uniform { min_secs, max_secs } => {
                let width = max_secs - min_secs;
                if theta <= 0.0 || width <= 0.0 {
                    return (-theta * min_secs).exp();
                }
                ((-theta * min_secs).exp() - (-theta * max_secs).exp()) / (theta * width)
            }
            DurationDist::Exponential { mean_secs } => 1.0 / (1.0 + theta * mean_secs),
            DurationDist::LogNormal { median_secs, sigma } => {
                // Midpoint rule over the standard normal, ±8 sigma.
                const STEPS: u32 = 800;
                let dz = 16.0 / f64::from(STEPS);
                (0..STEPS)
                    .map(|i| {
                        let z = -8.0 + (f64::from(i) + 0.5) * dz;
                        let x = median_secs * (sigma * z).exp();
                        (-theta * x).exp() * (-z * z / 2.0).exp() * dz / (2.0 * std::f64::consts::PI).sqrt()
                    })
                    .sum()
            }
        }
    }
}

/// A standard normal draw (Box-Muller, one of the pair).
pub fn standard_normal(rng: &mut fastrand::Rng) -> f64 {
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Picks an index with probability proportional to its weight.
pub fn pick(rng: &mut fastrand::Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().filter(|w| w.is_finite() && **w > 0.0).sum();
    if total <= 0.0 {
        return 0;
    }
    let mut x = rng.f64() * total;
    for (i, w) in weights.iter().enumerate() {
        if w.is_finite() && *w > 0.0 {
            if x < *w {
                return i;
            }
            x -= w;
        }
    }
    weights.iter().rposition(|w| w.is_finite() && *w > 0.0).unwrap_or(0)
}

/// True with probability `p`.
pub fn chance(rng: &mut fastrand::Rng, p: f64) -> bool {
    rng.f64() < p
}

/// Weighted mean of the indices (for score distributions).
pub fn mean_index(weights: &[f64]) -> f64 {
    let total: f64 = weights.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    weights.iter().enumerate().map(|(i, w)| i as f64 * w).sum::<f64>() / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_have_the_stated_means() {
        let mut rng = fastrand::Rng::with_seed(7);
        for dist in [
            DurationDist::Exponential { mean_secs: 120.0 },
            DurationDist::LogNormal { median_secs: 180.0, sigma: 0.6 },
            DurationDist::Uniform { min_secs: 2.0, max_secs: 6.0 },
        ] {
            let n = 200_000;
            let mean = (0..n).map(|_| dist.sample(&mut rng).as_secs_f64()).sum::<f64>() / f64::from(n);
            let want = dist.mean_secs();
            assert!((mean - want).abs() / want < 0.01, "{dist:?}: {mean} vs {want}");
        }
    }

    #[test]
    fn laplace_transform_matches_sampling() {
        let mut rng = fastrand::Rng::with_seed(9);
        let theta = 1.0 / 60.0;
        for dist in [DurationDist::Exponential { mean_secs: 150.0 }, DurationDist::LogNormal { median_secs: 90.0, sigma: 1.0 }] {
            let n = 200_000;
            let sampled = (0..n).map(|_| (-theta * dist.sample(&mut rng).as_secs_f64()).exp()).sum::<f64>() / f64::from(n);
            assert!((sampled - dist.laplace(theta)).abs() < 0.005, "{dist:?}: {sampled} vs {}", dist.laplace(theta));
        }
    }

    #[test]
    fn pick_follows_weights_and_survives_zeros() {
        let mut rng = fastrand::Rng::with_seed(1);
        let mut counts = [0u32; 3];
        for _ in 0..100_000 {
            counts[pick(&mut rng, &[1.0, 0.0, 3.0])] += 1;
        }
        assert_eq!(counts[1], 0);
        assert!((f64::from(counts[2]) / 100_000.0 - 0.75).abs() < 0.01, "{counts:?}");
        assert_eq!(pick(&mut rng, &[0.0, f64::NAN]), 0);
        assert_eq!(pick(&mut rng, &[]), 0);
    }
}
