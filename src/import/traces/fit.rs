//! A distribution for a histogram of durations, written as scenario text:
//! `Const` when it hardly varies, `LogNormal(median, p99)` when that fits
//! the other quantiles too, else the measured quantiles themselves (an
//! empirical distribution: a `Mixture` of `Uniform`s between quantiles,
//! which keeps every listed quantile exactly).

use super::stats::Hist;

/// Quantiles where a log-normal through the median and p99 is judged.
const JUDGED: [(f64, f64); 4] = [(0.1, -1.2816), (0.25, -0.6745), (0.75, 0.6745), (0.9, 1.2816)];
/// Largest relative error at a judged quantile that still fits.
const FIT: f64 = 0.15;
/// The empirical distribution's quantiles (the last segment ends at the maximum).
const POINTS: [f64; 15] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0];

/// A duration in nanoseconds as scenario text, to 3 significant figures
/// (the histograms hold 2: more digits would be noise): "1.23ms".
pub(super) fn duration(ns: u64) -> String {
    let mut scale = 1u64;
    while ns / scale >= 1000 {
        scale *= 10;
    }
    let ns = (ns + scale / 2) / scale * scale;
    let ms = format!("{}.{:06}", ns / 1_000_000, ns % 1_000_000);
    let ms = ms.trim_end_matches('0').trim_end_matches('.');
    format!("{ms}ms")
}

/// How the fit was chosen, for the comment beside it.
pub(super) enum Shape {
    Const,
    LogNormal,
    Empirical { worst: f64 },
}

/// The distribution of `h` and how it was chosen.
pub(super) fn dist(h: &Hist) -> (String, Shape) {
    if h.is_empty() {
        return ("Const(\"0ms\")".into(), Shape::Const);
    }
    let q = |p: f64| h.value_at_quantile(p);
    let (median, p99) = (q(0.5), q(0.99));
    if p99 as f64 <= median as f64 * 1.02 || median == 0 {
        return (format!("Const({:?})", duration(median)), Shape::Const);
    }
    let sigma = (p99 as f64 / median as f64).ln() / 2.326;
    let worst = JUDGED
        .iter()
        .map(|&(p, z)| {
            let fitted = median as f64 * (z * sigma).exp();
            (fitted / (q(p).max(1) as f64) - 1.0).abs()
        })
        .fold(0.0, f64::max);
    if worst <= FIT {
        return (format!("LogNormal(median: {:?}, p99: {:?})", duration(median), duration(p99)), Shape::LogNormal);
    }
    let value = |p: f64| {
        if p >= 1.0 {
            h.max()
        } else if p <= 0.0 {
            h.min()
        } else {
            q(p)
        }
    };
    let parts: Vec<String> = POINTS
        .windows(2)
        .map(|w| {
            let weight = ((w[1] - w[0]) * 1000.0).round() / 1000.0;
            format!("({weight}, Uniform(min: {:?}, max: {:?}))", duration(value(w[0])), duration(value(w[1])))
        })
        .collect();
    (format!("Mixture([{}])", parts.join(", ")), Shape::Empirical { worst })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_exact_milliseconds() {
        assert_eq!(duration(1_234_567), "1.23ms");
        assert_eq!(duration(1_235_567), "1.24ms");
        assert_eq!(duration(200_063), "0.2ms");
        assert_eq!(duration(5_000_000), "5ms");
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(500), "0.0005ms");
    }

    #[test]
    fn a_log_normal_sample_fits_a_log_normal_and_a_spread_one_does_not() {
        use rand::{RngExt, SeedableRng};
        use rand_distr::Distribution;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let ln = rand_distr::LogNormal::new((5e6f64).ln(), 0.8).unwrap();
        let mut h = super::super::stats::histogram();
        for _ in 0..50_000 {
            super::super::stats::record(&mut h, ln.sample(&mut rng) as u64);
        }
        assert!(matches!(dist(&h).1, Shape::LogNormal), "{}", dist(&h).0);
        let mut bimodal = super::super::stats::histogram();
        for _ in 0..50_000 {
            let v: u64 = if rng.random_bool(0.5) { 1_000_000 } else { 50_000_000 };
            super::super::stats::record(&mut bimodal, v);
        }
        let (text, shape) = dist(&bimodal);
        assert!(matches!(shape, Shape::Empirical { .. }), "{text}");
        let weights: f64 = POINTS.windows(2).map(|w| ((w[1] - w[0]) * 1000.0).round() / 1000.0).sum();
        assert!((weights - 1.0).abs() < 1e-9);
    }
}
