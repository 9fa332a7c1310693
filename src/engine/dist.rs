//! Distributions of durations, sampled into integer nanoseconds.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Exp1, StandardNormal};

use super::time::SimDuration;

/// The z-score of the 99th percentile of a standard normal distribution.
const Z_99: f64 = 2.326_347_874_040_840_8;

/// A validated distribution (see `scenario` for how it is written).
#[derive(Clone, Debug, PartialEq)]
pub enum Dist {
    Const(SimDuration),
    Exp {
        mean_ns: f64,
    },
    Uniform {
        min_ns: u64,
        max_ns: u64,
    },
    /// ln(X) ~ Normal(mu, sigma), X in nanoseconds.
    LogNormal {
        mu: f64,
        sigma: f64,
    },
    /// Cumulative weights (last is 1.0) and components.
    Mixture(Vec<(f64, Dist)>),
}

/// Nanoseconds from a non-negative float, rounded to nearest. `+ 0.5` and
/// a saturating cast instead of `f64::round`, which is a libm call on the
/// hot path; the results are identical for the non-negative values here.
#[inline]
pub fn ns_from_f64(x: f64) -> SimDuration {
    debug_assert!(x >= 0.0 || x.is_nan());
    SimDuration((x + 0.5) as u64)
}

impl Dist {
    pub const ZERO: Dist = Dist::Const(SimDuration::ZERO);

    /// LogNormal from its median and 99th percentile (`p99 > median > 0`).
    pub fn lognormal(median: SimDuration, p99: SimDuration) -> Dist {
        let mu = (median.0 as f64).ln();
        let sigma = ((p99.0 as f64).ln() - mu) / Z_99;
        Dist::LogNormal { mu, sigma }
    }

    /// Draws one duration. Constant distributions draw no random number, so
    /// they never shift the stream they share with others.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> SimDuration {
        match self {
            Dist::Const(d) => *d,
            Dist::Exp { mean_ns } => {
                let x: f64 = Exp1.sample(rng);
                ns_from_f64(x * mean_ns)
            }
            Dist::Uniform { min_ns, max_ns } => {
                if min_ns == max_ns {
                    SimDuration(*min_ns)
                } else {
                    SimDuration(rng.random_range(*min_ns..=*max_ns))
                }
            }
            Dist::LogNormal { mu, sigma } => {
                let z: f64 = StandardNormal.sample(rng);
                // Saturating float->int cast: a huge draw becomes u64::MAX ns.
                ns_from_f64((mu + sigma * z).exp())
            }
            Dist::Mixture(parts) => {
                let u: f64 = rng.random();
                let i = parts.iter().position(|(c, _)| u < *c).unwrap_or(parts.len() - 1);
                parts[i].1.sample(rng)
            }
        }
    }

    /// The mean in nanoseconds.
    pub fn mean_ns(&self) -> f64 {
        match self {
            Dist::Const(d) => d.0 as f64,
            Dist::Exp { mean_ns } => *mean_ns,
            Dist::Uniform { min_ns, max_ns } => (*min_ns as f64 + *max_ns as f64) / 2.0,
            Dist::LogNormal { mu, sigma } => (mu + sigma * sigma / 2.0).exp(),
            Dist::Mixture(parts) => {
                let mut prev = 0.0;
                let mut mean = 0.0;
                for (c, d) in parts {
                    mean += (c - prev) * d.mean_ns();
                    prev = *c;
                }
                mean
            }
        }
    }

    pub fn is_zero(&self) -> bool {
        matches!(self, Dist::Const(d) if d.is_zero())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::stream;

    fn sample_mean(d: &Dist, n: usize) -> f64 {
        let mut rng = stream(1, "test", "dist", 0);
        (0..n).map(|_| d.sample(&mut rng).0 as f64).sum::<f64>() / n as f64
    }

    #[test]
    fn exp_mean_is_right() {
        let d = Dist::Exp { mean_ns: 1e6 };
        let m = sample_mean(&d, 200_000);
        // sd of the mean = 1e6/sqrt(2e5) = 2236 ns; allow 4 sd.
        assert!((m - 1e6).abs() < 4.0 * 2236.0, "{m}");
    }

    #[test]
    fn lognormal_hits_its_median_and_p99() {
        let d = Dist::lognormal(SimDuration::from_millis(4), SimDuration::from_millis(30));
        let mut rng = stream(2, "test", "dist", 0);
        let mut xs: Vec<u64> = (0..100_000).map(|_| d.sample(&mut rng).0).collect();
        xs.sort_unstable();
        let median = xs[50_000] as f64 / 1e6;
        let p99 = xs[99_000] as f64 / 1e6;
        assert!((median - 4.0).abs() < 0.1, "median {median}");
        assert!((p99 - 30.0).abs() < 1.5, "p99 {p99}");
    }

    #[test]
    fn mixture_mean_weights_components() {
        let d = Dist::Mixture(vec![
            (0.99, Dist::Const(SimDuration::from_millis(10))),
            (1.0, Dist::Const(SimDuration::from_millis(1000))),
        ]);
        assert!((d.mean_ns() - 19.9e6).abs() < 1.0);
        let m = sample_mean(&d, 200_000);
        // Bernoulli(0.01) * 990ms: sd of mean = 990e6*sqrt(0.0099/2e5) = 220e3.
        assert!((m - 19.9e6).abs() < 4.0 * 220e3, "{m}");
    }
}
