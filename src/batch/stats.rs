//! Means and confidence intervals over replications (Student t).

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

use crate::metrics::summary::round;

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
}

/// How an estimate is written: `mean` is `null` when `n` is 0.
#[derive(Serialize, Deserialize)]
struct EstimateFile {
    n: usize,
    mean: Option<f64>,
    ci95: Option<f64>,
}

impl From<Estimate> for EstimateFile {
    fn from(e: Estimate) -> Self {
        EstimateFile { n: e.n, mean: (e.n > 0).then_some(e.mean), ci95: e.ci95 }
    }
}

impl From<EstimateFile> for Estimate {
    fn from(e: EstimateFile) -> Self {
        Estimate { n: e.n, mean: e.mean.unwrap_or(0.0), ci95: e.ci95 }
    }
}

impl Estimate {
    /// From values in a fixed order (the sum is order-sensitive in floating
    /// point, so callers always pass replications in replication order).
    pub fn of(xs: &[f64]) -> Estimate {
        let n = xs.len();
        if n == 0 {
            return Estimate::default();
        }
        let mean = xs.iter().sum::<f64>() / n as f64;
        let ci95 = (n >= 2).then(|| {
            let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
            t_quantile_975(n - 1) * (var / n as f64).sqrt()
        });
        Estimate { n, mean: round(mean, 6), ci95: ci95.map(|h| round(h, 6)) }
    }

    pub fn low(&self) -> f64 {
        self.mean - self.ci95.unwrap_or(0.0)
    }

    pub fn high(&self) -> f64 {
        self.mean + self.ci95.unwrap_or(0.0)
    }

    /// "12.3 ± 0.4" with `d` decimals.
    pub fn show(&self, d: usize) -> String {
        match self.ci95 {
            Some(h) => format!("{:.d$} ± {:.d$}", self.mean, h),
            None => format!("{:.d$}", self.mean),
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
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0]);
        assert_eq!(e.mean, 2.5);
        // sd = 1.29099, se = 0.645497, t(3) = 3.182446
        assert!((e.ci95.unwrap() - 2.054_24).abs() < 1e-4, "{e:?}");
        assert_eq!(Estimate::of(&[5.0]).ci95, None);
    }
}
