//! Means and confidence intervals over replications (Student t), cut to
//! the range the values can take.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::metrics::summary::round;

/// The values a metric can take. Student's interval is symmetric, so over
/// a few replications of a skewed metric (a count that is 0 in four runs
/// of five) `mean ± half-width` reaches below 0; the interval is cut to
/// the range, so no file or table shows a negative count, latency or
/// share.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Range {
    pub lo: f64,
    pub hi: f64,
}

impl Range {
    /// A difference between two runs: any sign.
    pub const ANY: Range = Range { lo: f64::NEG_INFINITY, hi: f64::INFINITY };
    /// A latency, a count, a rate, a duration.
    pub const NON_NEGATIVE: Range = Range { lo: 0.0, hi: f64::INFINITY };
    /// A share from 0 to 1.
    pub const SHARE: Range = Range { lo: 0.0, hi: 1.0 };
    /// A share as a percentage.
    pub const PERCENT: Range = Range { lo: 0.0, hi: 100.0 };
}

/// A mean with its 95% confidence interval (Student t over `n` values).
/// Over no values there is no mean: the files write `null`, never a 0 that
/// would read as "recovers at once" for runs that never recovered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(into = "EstimateFile", from = "EstimateFile")]
pub struct Estimate {
    pub n: usize,
    pub mean: f64,
    /// Half-width of the 95% interval; `None` with fewer than 2 values.
    pub ci95: Option<f64>,
    /// The interval's ends, `mean ∓ ci95` cut to the metric's `Range`
    /// (both `mean` without an interval).
    low: f64,
    high: f64,
}

/// How an estimate is written: `mean` is `null` when `n` is 0; `low` and
/// `high` (the interval cut to the metric's range) only with `ci95`.
#[derive(Serialize, Deserialize)]
struct EstimateFile {
    n: usize,
    mean: Option<f64>,
    ci95: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    low: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    high: Option<f64>,
}

impl From<Estimate> for EstimateFile {
    fn from(e: Estimate) -> Self {
        let interval = |v: f64| e.ci95.map(|_| v);
        EstimateFile {
            n: e.n,
            mean: (e.n > 0).then_some(e.mean),
            ci95: e.ci95,
            low: interval(e.low),
            high: interval(e.high),
        }
    }
}

impl From<EstimateFile> for Estimate {
    fn from(e: EstimateFile) -> Self {
        let mean = e.mean.unwrap_or(0.0);
        let h = e.ci95.unwrap_or(0.0);
        let (low, high) = (e.low.unwrap_or(round(mean - h, 6)), e.high.unwrap_or(round(mean + h, 6)));
        Estimate { n: e.n, mean, ci95: e.ci95, low, high }
    }
}

impl Estimate {
    /// From values in a fixed order (the sum is order-sensitive in floating
    /// point, so callers always pass replications in replication order),
    /// each within `range`.
    pub fn of(xs: &[f64], range: Range) -> Estimate {
        let n = xs.len();
        if n == 0 {
            return Estimate::default();
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let ci95 = (n >= 2).then(|| {
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            round(t_quantile_975(n - 1) * (var / n as f64).sqrt(), 6)
        });
        let (mean, h) = (round(mean, 6), ci95.unwrap_or(0.0));
        let (low, high) = (round(mean - h, 6).max(range.lo), round(mean + h, 6).min(range.hi));
        Estimate { n, mean, ci95, low, high }
    }

    /// The same estimate in other units (a share as a percentage).
    pub fn scaled(&self, factor: f64) -> Estimate {
        Estimate {
            mean: self.mean * factor,
            ci95: self.ci95.map(|h| h * factor),
            low: self.low * factor,
            high: self.high * factor,
            ..*self
        }
    }

    /// The interval's lower end, cut to the metric's range.
    pub fn low(&self) -> f64 {
        self.low
    }

    /// The interval's upper end, cut to the metric's range.
    pub fn high(&self) -> f64 {
        self.high
    }

    /// Whether the range cut the interval (then `show` gives both ends).
    /// The ends are rounded to 6 decimals (and may be scaled since), so
    /// a difference within that rounding is no cut.
    fn is_cut(&self) -> bool {
        self.ci95.is_some_and(|h| {
            let slack = 1e-6 * (1.0 + self.mean.abs() + h);
            self.low - (self.mean - h) > slack || (self.mean + h) - self.high > slack
        })
    }

    /// "12.3 ± 0.4" with `d` decimals, or "0.4 [0, 1.1]" where the range
    /// cut the interval.
    pub fn show(&self, d: usize) -> String {
        self.show_with(|x| format!("{x:.d$}"))
    }

    /// As `show`, each number written by `num`.
    pub fn show_with(&self, num: impl Fn(f64) -> String) -> String {
        match self.ci95 {
            Some(_) if self.is_cut() => format!("{} [{}, {}]", num(self.mean), num(self.low), num(self.high)),
            Some(h) => format!("{} ± {}", num(self.mean), num(h)),
            None => num(self.mean),
        }
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
fn t_quantile_975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).expect("df >= 1").inverse_cdf(0.975)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t_quantiles_match_tables() {
        assert!((t_quantile_975(1) - 12.706).abs() < 1e-3);
        assert!((t_quantile_975(9) - 2.262).abs() < 1e-3);
        assert!((t_quantile_975(29) - 2.045).abs() < 1e-3);
        assert!((t_quantile_975(1000) - 1.962).abs() < 1e-3);
    }

    #[test]
    fn estimate_of_known_values() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0], Range::ANY);
        assert_eq!(e.mean, 2.5);
        // sd = 1.29099, se = 0.645497, t(3) = 3.182446
        assert!((e.ci95.unwrap() - 2.054_24).abs() < 1e-4, "{e:?}");
        assert_eq!((e.low(), e.high()), (round(2.5 - e.ci95.unwrap(), 6), round(2.5 + e.ci95.unwrap(), 6)));
        assert!(!e.is_cut());
        assert_eq!(e.show(2), "2.50 ± 2.05");
        assert_eq!(Estimate::of(&[5.0], Range::ANY).ci95, None);
    }

    #[test]
    fn an_interval_is_cut_to_the_metrics_range() {
        // A count that is 0 in four runs of five: mean 2, sd sqrt(20) = 4.472,
        // se 2, t(4) = 2.776: Student's interval is 2 ± 5.55, from -3.55.
        let e = Estimate::of(&[0.0, 0.0, 10.0, 0.0, 0.0], Range::NON_NEGATIVE);
        assert!((e.ci95.unwrap() - 5.552).abs() < 1e-3, "{e:?}");
        assert_eq!(e.low(), 0.0);
        assert_eq!(e.high(), round(2.0 + e.ci95.unwrap(), 6));
        assert!(e.is_cut());
        assert_eq!(e.show(1), "2.0 [0.0, 7.6]");
        // A share near 1 is cut at the top.
        let s = Estimate::of(&[1.0, 1.0, 0.9], Range::SHARE);
        assert_eq!(s.high(), 1.0);
        assert!(s.low() < s.mean && s.low() > 0.0);
        // Scaled to a percentage, the ends scale with it.
        let pct = s.scaled(100.0);
        assert_eq!((pct.low(), pct.high()), (s.low() * 100.0, 100.0));
        assert!(pct.is_cut());
        // Scaling an uncut interval leaves it uncut (no float noise read as a cut).
        let wide = Estimate::of(&[0.94, 0.95, 0.96], Range::SHARE).scaled(100.0);
        assert!(!wide.is_cut(), "{wide:?}");
        assert!(wide.show(2).contains('±'), "{}", wide.show(2));
        // Differences are not cut.
        let d = Estimate::of(&[0.0, 0.0, 10.0, 0.0, 0.0], Range::ANY);
        assert!(d.low() < 0.0 && !d.is_cut());
    }

    #[test]
    fn the_cut_interval_survives_its_file() {
        let e = Estimate::of(&[0.0, 0.0, 10.0, 0.0, 0.0], Range::NON_NEGATIVE);
        let json = serde_json::to_string(&e).unwrap();
        assert!(json.contains(r#""low":0.0"#), "{json}");
        assert_eq!(serde_json::from_str::<Estimate>(&json).unwrap(), e);
        // A file without the ends (written before they existed) reads as uncut.
        let old: Estimate = serde_json::from_str(r#"{"n":2,"mean":1.0,"ci95":0.5}"#).unwrap();
        assert_eq!((old.low(), old.high()), (0.5, 1.5));
        // No interval: no ends written.
        let one = serde_json::to_string(&Estimate::of(&[3.0], Range::ANY)).unwrap();
        assert!(!one.contains("low"), "{one}");
    }
}
