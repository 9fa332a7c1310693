//! Retry backoff delays: constant, capped exponential with the jitter
//! variants of Brooker's "Exponential Backoff And Jitter" (AWS), or Envoy's
//! router back-off (fully jittered, in `[0, 2^(N-1) x base)`, capped).
//!
//! Delays are integer nanoseconds; randomness comes only from the caller's
//! RNG, drawn with `random_range` on `u64` so runs are reproducible.

use crate::engine::time::SimDuration;
use rand::{Rng, RngExt};

/// How an exponential delay is randomised.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Jitter {
    /// Exactly `v = min(cap, base * 2^(retry-1))`.
    None,
    /// Uniform in `[0, v)`.
    Full,
    /// `v/2` plus uniform in `[0, v/2]`, so in `[v/2, v]`.
    Equal,
    /// `min(cap, uniform in [base, 3 * prev])`, `prev = base` at first.
    Decorrelated,
}

/// A retry backoff policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backoff {
    /// Retry at once.
    None,
    /// Always the same delay.
    Constant(SimDuration),
    /// Doubling from `base`, capped at `cap`. If `base > cap` the cap wins:
    /// every delay is at most `cap`.
    Exponential { base: SimDuration, cap: SimDuration, jitter: Jitter },
    /// Envoy's router: retry N waits uniformly in `[0, interval)`, the
    /// interval starting at `base` and doubling per retry up to `max`
    /// (defaults 25 ms and 10 x base: 0-25, 0-50, 0-100, 0-200, then
    /// 0-250 ms). This is Envoy's code, `JitteredExponentialBackOffStrategy`
    /// in source/common/common/backoff_strategy.cc; the router docs' older
    /// `(2^N - 1) x base` was its first implementation, since replaced.
    Envoy { base: SimDuration, max: SimDuration },
}

/// Envoy's interval for retry `retry` (1 = the first): `base`, then, per
/// retry, doubled while below half of `max`, else `max`
/// (`nextBackOffMs`, which never overflows).
fn envoy_interval(base: u64, max: u64, retry: u32) -> u64 {
    let mut next = base;
    for _ in 1..retry {
        if next >= max {
            break;
        }
        next = if next < max / 2 { next * 2 } else { max };
    }
    next.min(max)
}

/// `min(cap, base * 2^(retry-1))` without overflow; retry 0 counts as 1.
fn capped_exp(base: u64, cap: u64, retry: u32) -> u64 {
    let shift = retry.saturating_sub(1);
    let v = if base == 0 {
        0
    } else if shift >= 64 || base > (u64::MAX >> shift) {
        u64::MAX
    } else {
        base << shift
    };
    v.min(cap)
}

impl Backoff {
    /// The longest any retry can wait: `Exponential`'s cap, `Envoy`'s max.
    pub fn longest(&self) -> SimDuration {
        match *self {
            Backoff::None => SimDuration::ZERO,
            Backoff::Constant(d) => d,
            Backoff::Exponential { cap, .. } => cap,
            Backoff::Envoy { max, .. } => max,
        }
    }

    /// The delay before retry number `retry` (1 = first retry). `prev` is
    /// the previous delay returned (ZERO before the first retry); only the
    /// decorrelated jitter uses it.
    pub fn delay<R: Rng + ?Sized>(&self, retry: u32, prev: SimDuration, rng: &mut R) -> SimDuration {
        let (base, cap, jitter) = match *self {
            Backoff::None => return SimDuration::ZERO,
            Backoff::Constant(d) => return d,
            Backoff::Exponential { base, cap, jitter } => (base.0, cap.0, jitter),
            Backoff::Envoy { base, max } => {
                let v = envoy_interval(base.0, max.0, retry.max(1));
                return SimDuration(if v == 0 { 0 } else { rng.random_range(0..v) });
            }
        };
        let ns = match jitter {
            Jitter::None => capped_exp(base, cap, retry),
            Jitter::Full => {
                let v = capped_exp(base, cap, retry);
                if v == 0 { 0 } else { rng.random_range(0..v) }
            }
            Jitter::Equal => {
                let half = capped_exp(base, cap, retry) / 2;
                half + rng.random_range(0..=half)
            }
            Jitter::Decorrelated => {
                let prev = if prev.is_zero() { base } else { prev.0 };
                let hi = prev.saturating_mul(3).max(base);
                rng.random_range(base..=hi).min(cap)
            }
        };
        SimDuration(ns)
    }

    /// An upper bound on `delay(retry, _, _)` for any `prev` and RNG (the
    /// property tests' oracle).
    #[cfg(test)]
    fn max_delay(&self, retry: u32) -> SimDuration {
        match *self {
            Backoff::None => SimDuration::ZERO,
            Backoff::Constant(d) => d,
            Backoff::Exponential { cap, jitter: Jitter::Decorrelated, .. } => cap,
            Backoff::Exponential { base, cap, .. } => SimDuration(capped_exp(base.0, cap.0, retry)),
            Backoff::Envoy { base, max } => SimDuration(envoy_interval(base.0, max.0, retry.max(1))),
        }
    }

    /// A lower bound on `delay(retry, _, _)` for any `prev` and RNG.
    #[cfg(test)]
    fn min_delay(&self, retry: u32) -> SimDuration {
        match *self {
            Backoff::None => SimDuration::ZERO,
            Backoff::Constant(d) => d,
            Backoff::Exponential { base, cap, jitter } => SimDuration(match jitter {
                Jitter::None => capped_exp(base.0, cap.0, retry),
                Jitter::Full => 0,
                Jitter::Equal => capped_exp(base.0, cap.0, retry) / 2,
                Jitter::Decorrelated => base.0.min(cap.0),
            }),
            Backoff::Envoy { .. } => SimDuration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn ms(n: u64) -> SimDuration {
        SimDuration::from_millis(n)
    }

    fn exp(jitter: Jitter) -> Backoff {
        Backoff::Exponential { base: ms(100), cap: ms(1000), jitter }
    }

    #[test]
    fn none_and_constant() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(Backoff::None.delay(3, ms(5), &mut rng), SimDuration::ZERO);
        assert_eq!(Backoff::Constant(ms(7)).delay(9, ms(5), &mut rng), ms(7));
    }

    #[test]
    fn exponential_doubles_then_caps() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let b = exp(Jitter::None);
        let got: Vec<u64> = (1..=6).map(|r| b.delay(r, ms(0), &mut rng).0 / 1_000_000).collect();
        assert_eq!(got, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(b.delay(0, ms(0), &mut rng), ms(100));
        assert_eq!(b.delay(u32::MAX, ms(0), &mut rng), ms(1000));
    }

    #[test]
    fn huge_values_saturate() {
        assert_eq!(capped_exp(u64::MAX, u64::MAX, 2), u64::MAX);
        assert_eq!(capped_exp(1, u64::MAX, 64), 1 << 63);
        assert_eq!(capped_exp(1, u64::MAX, 65), u64::MAX);
        assert_eq!(capped_exp(0, 5, 200), 0);
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let b = Backoff::Exponential { base: SimDuration::MAX, cap: SimDuration::MAX, jitter: Jitter::Decorrelated };
        assert_eq!(b.delay(3, SimDuration::MAX, &mut rng), SimDuration::MAX);
        let z = Backoff::Exponential { base: SimDuration::ZERO, cap: SimDuration::ZERO, jitter: Jitter::Full };
        assert_eq!(z.delay(3, SimDuration::ZERO, &mut rng), SimDuration::ZERO);
    }

    #[test]
    fn envoy_back_off_is_fully_jittered_in_a_doubling_interval() {
        // Envoy's nextBackOffMs with the default 25 ms: the interval is 25,
        // 50, 100, 200 ms (each doubled while below max / 2 = 125 ms), then
        // 10 x base (250 ms) from the 5th retry on.
        let b = Backoff::Envoy { base: ms(25), max: ms(250) };
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        for (retry, bound) in [(1, 25), (2, 50), (3, 100), (4, 200), (5, 250), (9, 250)] {
            let draws: Vec<SimDuration> = (0..2000).map(|_| b.delay(retry, SimDuration::ZERO, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d < ms(bound)), "retry {retry}");
            // Uniform: the mean is half the bound, within 5%.
            let mean = draws.iter().map(|d| d.0 as f64).sum::<f64>() / draws.len() as f64;
            assert!((mean / (ms(bound).0 as f64 / 2.0) - 1.0).abs() < 0.05, "retry {retry}: mean {mean}");
        }
        assert_eq!(envoy_interval(u64::MAX, u64::MAX, 70), u64::MAX);
        // 60 is not below 110 / 2: the next step is max itself.
        assert_eq!([1, 2, 3, 4].map(|n| envoy_interval(30, 110, n)), [30, 60, 110, 110]);
        assert_eq!(envoy_interval(1, u64::MAX, u32::MAX), u64::MAX);
    }

    #[test]
    fn decorrelated_first_retry_is_in_base_to_three_base() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let b = exp(Jitter::Decorrelated);
        for _ in 0..1000 {
            let d = b.delay(1, SimDuration::ZERO, &mut rng);
            assert!(ms(100) <= d && d <= ms(300));
        }
    }

    #[test]
    fn full_jitter_is_seed_reproducible() {
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (1..=8).map(|r| exp(Jitter::Full).delay(r, SimDuration::ZERO, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(42), draw(42));
        assert_ne!(draw(42), draw(43));
    }

    fn arb_jitter() -> impl Strategy<Value = Jitter> {
        prop_oneof![Just(Jitter::None), Just(Jitter::Full), Just(Jitter::Equal), Just(Jitter::Decorrelated)]
    }

    proptest! {
        // For random base <= cap, retry and prev, with v = min(cap, base *
        // 2^(retry-1)): None gives v, Full is in [0, v) (0 when v = 0), Equal
        // in [v/2, v], Decorrelated in [base, cap]; and every delay lies in
        // [min_delay(retry), max_delay(retry)].
        #[test]
        fn delays_stay_in_range(
            base in prop_oneof![0u64..8, 0u64..1u64 << 40],
            extra in prop_oneof![0u64..1000, 0u64..u64::MAX / 2],
            retry in 0u32..80,
            prev in prop_oneof![Just(0u64), 0u64..u64::MAX],
            jitter in arb_jitter(),
            seed in any::<u64>(),
        ) {
            let cap = base + extra;
            let b = Backoff::Exponential { base: SimDuration(base), cap: SimDuration(cap), jitter };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let d = b.delay(retry, SimDuration(prev), &mut rng).0;
            let v = capped_exp(base, cap, retry);
            prop_assert!(v <= cap);
            match jitter {
                Jitter::None => prop_assert_eq!(d, v),
                Jitter::Full => prop_assert!(d < v || (v == 0 && d == 0)),
                Jitter::Equal => prop_assert!(v / 2 <= d && d <= v),
                Jitter::Decorrelated => prop_assert!(base <= d && d <= cap),
            }
            prop_assert!(b.min_delay(retry).0 <= d && d <= b.max_delay(retry).0);
            prop_assert!(d <= b.longest().0);
        }

        // Envoy's back-off stays below its interval, at most
        // min(max, 2^(n-1) x base), and below max at any retry.
        #[test]
        fn envoy_delays_stay_below_their_interval(
            base in 1u64..1u64 << 40, mult in 1u64..100, retry in 0u32..80, seed in any::<u64>(),
        ) {
            let max = base.saturating_mul(mult);
            let b = Backoff::Envoy { base: SimDuration(base), max: SimDuration(max) };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let d = b.delay(retry, SimDuration::ZERO, &mut rng);
            prop_assert!(d < b.max_delay(retry) && d.0 < max);
            let doubled = base.checked_shl(retry.max(1) - 1).filter(|v| v >> (retry.max(1) - 1) == base);
            prop_assert!(b.max_delay(retry).0 <= doubled.map_or(max, |v| v.min(max)));
        }

        // A decorrelated chain (each delay fed back as prev) stays within
        // [base, cap] at every step and never exceeds 3x the previous delay.
        #[test]
        fn decorrelated_chain_stays_in_base_cap(
            base in 1u64..1_000_000_000,
            mult in 1u64..1000,
            seed in any::<u64>(),
        ) {
            let (lo, hi) = (SimDuration(base), SimDuration(base * mult));
            let b = Backoff::Exponential { base: lo, cap: hi, jitter: Jitter::Decorrelated };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut prev = SimDuration::ZERO;
            for retry in 1..30 {
                let d = b.delay(retry, prev, &mut rng);
                prop_assert!(lo <= d && d <= hi);
                prop_assert!(d.0 <= prev.0.max(base).saturating_mul(3));
                prev = d;
            }
        }
    }
}
