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

/// The p50 and p99 of one time bucket, as `LatencyRecorder::quantile_ms`
/// would give them, at a fraction of the cost: values are kept as they
/// come (a push each) and the two quantiles are selected when the bucket
/// closes, then mapped to the same histogram bucket's highest value as
/// HDR's `value_at_quantile` does, so the numbers are identical. Past
/// `SPILL` values in one bucket they go into a histogram instead, so
/// memory stays bounded.
#[derive(Clone)]
pub struct BucketQuantiles {
    values: Vec<u64>,
    spill: Option<Histogram<u64>>,
    /// An empty histogram of the same precision: its bucket boundaries.
    shape: Histogram<u64>,
    max_ns: u64,
}

/// Values one bucket keeps before it falls back to a histogram.
const SPILL: usize = 1 << 16;

impl BucketQuantiles {
    pub fn new(sigfig: u8) -> Self {
        BucketQuantiles {
            values: Vec::new(),
            spill: None,
            shape: Histogram::new(sigfig).expect("sigfig in 1..=5"),
            max_ns: 0,
        }
    }

    #[inline]
    pub fn record(&mut self, d: SimDuration) {
        let ns = d.as_nanos();
        self.max_ns = self.max_ns.max(ns);
        let us = ns.div_ceil(1_000).clamp(1, u64::MAX >> 2);
        match &mut self.spill {
            Some(h) => h.record(us).expect("histogram auto-resizes"),
            None if self.values.len() < SPILL => self.values.push(us),
            None => {
                let mut h = self.shape.clone();
                for &v in &self.values {
                    h.record(v).expect("histogram auto-resizes");
                }
                h.record(us).expect("histogram auto-resizes");
                self.values.clear();
                self.spill = Some(h);
            }
        }
    }

    /// The `q`-quantiles in milliseconds (0 when empty, never above the
    /// maximum), exactly as an HDR histogram of this precision reports them.
    pub fn quantiles_ms(&mut self, qs: [f64; 2]) -> [f64; 2] {
        let max_ms = self.max_ns as f64 / 1e6;
        if let Some(h) = &self.spill {
            return qs.map(|q| (h.value_at_quantile(q) as f64 / 1e3).min(max_ms));
        }
        let n = self.values.len();
        if n == 0 {
            return [0.0; 2];
        }
        qs.map(|q| {
            // HDR: the ceil(q * n)-th smallest value (at least the first).
            let k = ((q * n as f64).ceil() as usize).clamp(1, n);
            let (_, v, _) = self.values.select_nth_unstable(k - 1);
            (self.shape.highest_equivalent(*v) as f64 / 1e3).min(max_ms)
        })
    }

    /// Nothing was recorded since the last reset.
    pub fn is_empty(&self) -> bool {
        self.max_ns == 0 && self.values.is_empty() && self.spill.is_none()
    }

    pub fn reset(&mut self) {
        self.values.clear();
        self.spill = None;
        self.max_ns = 0;
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

    /// The bucket quantiles equal the histogram's, below and past the spill.
    #[test]
    fn bucket_quantiles_equal_the_histograms() {
        for n in [1u64, 2, 7, 100, 5_000, (SPILL as u64) + 10] {
            let (mut h, mut b) = (LatencyRecorder::new(2), BucketQuantiles::new(2));
            let mut x: u64 = 0x2545_f491;
            for _ in 0..n {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let d = SimDuration::from_nanos(x % 50_000_000);
                h.record(d);
                b.record(d);
            }
            let want = [h.quantile_ms(0.5), h.quantile_ms(0.99)];
            assert_eq!(b.quantiles_ms([0.5, 0.99]), want, "{n} values");
        }
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
