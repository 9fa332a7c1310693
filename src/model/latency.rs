//! A streaming latency recorder: an HDR histogram for percentiles plus an
//! exact sum for the mean, so memory does not grow with the run's length.

use hdrhistogram::Histogram;

use crate::engine::time::SimDuration;

/// Latencies are recorded in microseconds (rounded up, at least 1), which
/// with 3 significant digits is precise to 0.1% and keeps histograms small.
#[derive(Clone)]
pub struct LatencyRecorder {
    hist: Histogram<u64>,
    sum_ns: u128,
    count: u64,
    max_ns: u64,
}

impl LatencyRecorder {
    pub fn new(sigfig: u8) -> Self {
        LatencyRecorder { hist: Histogram::new(sigfig).expect("sigfig in 1..=5"), sum_ns: 0, count: 0, max_ns: 0 }
    }

    #[inline]
    pub fn record(&mut self, d: SimDuration) {
        let ns = d.as_nanos();
        self.sum_ns += u128::from(ns);
        self.count += 1;
        self.max_ns = self.max_ns.max(ns);
        // Auto-resizing histogram: cannot fail for values below u64::MAX / 2.
        let us = ns.div_ceil(1_000).clamp(1, u64::MAX >> 2);
        self.hist.record(us).expect("histogram auto-resizes");
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    /// Exact mean in milliseconds (from the nanosecond sum).
    pub fn mean_ms(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.sum_ns as f64 / self.count as f64 / 1e6 }
    }

    pub fn sum_ns(&self) -> u128 {
        self.sum_ns
    }

    /// The `q`-quantile (0..=1) in milliseconds; 0 when empty. Never above
    /// the exact maximum: the histogram reports a bucket's highest equivalent
    /// value, which can lie above every value recorded in it.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.count == 0 { 0.0 } else { (self.hist.value_at_quantile(q) as f64 / 1e3).min(self.max_ms()) }
    }

    /// The share of recorded latencies above `threshold` (to histogram precision).
    pub fn fraction_above(&self, threshold: SimDuration) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let us = threshold.as_nanos().div_ceil(1_000);
        let at_or_below = self.hist.count_between(0, us);
        (self.count - at_or_below.min(self.count)) as f64 / self.count as f64
    }

    pub fn max_ms(&self) -> f64 {
        self.max_ns as f64 / 1e6
    }

    pub fn reset(&mut self) {
        self.hist.reset();
        self.sum_ns = 0;
        self.count = 0;
        self.max_ns = 0;
    }

    pub fn merge(&mut self, other: &LatencyRecorder) {
        self.hist.add(&other.hist).expect("same precision, auto-resizing");
        self.sum_ns += other.sum_ns;
        self.count += other.count;
        self.max_ns = self.max_ns.max(other.max_ns);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_is_exact_and_quantiles_close() {
        let mut r = LatencyRecorder::new(3);
        for ms in 1..=1000u64 {
            r.record(SimDuration::from_millis(ms));
        }
        assert_eq!(r.mean_ms(), 500.5);
        assert!((r.quantile_ms(0.99) - 990.0).abs() < 1.0, "{}", r.quantile_ms(0.99));
        assert_eq!(r.max_ms(), 1000.0);
    }

    /// Issue 9: a percentile above the largest value ever recorded is wrong.
    #[test]
    fn issue9_percentiles_never_exceed_max() {
        let mut r = LatencyRecorder::new(2);
        // 1.234567 ms: the 2-digit histogram's bucket reaches up to 1.239 ms.
        r.record(SimDuration::from_nanos(1_234_567));
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            assert!(r.quantile_ms(q) <= r.max_ms(), "q {q}: {} > max {}", r.quantile_ms(q), r.max_ms());
        }
        assert_eq!(r.quantile_ms(0.99), r.max_ms());
    }
}
