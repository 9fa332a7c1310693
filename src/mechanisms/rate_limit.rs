//! Request rate limiters: token bucket (Stripe), fixed window (Kong) and
//! sliding window (Kong advanced), in exact integer arithmetic.
//!
//! The config ([`LimitConfig`]) is shared; the per-key state
//! ([`LimitState`]) is a small `Copy` value whose `Default` means "never
//! used", so thousands of per-user buckets cost 32 bytes each.

use crate::engine::time::{SimDuration, SimTime};

/// Which limiting algorithm a [`LimitConfig`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    /// Refills `limit` tokens per `per`, holds at most `burst` (>= 1);
    /// starts full on first use, refilled lazily (Stripe).
    TokenBucket { burst: u32 },
    /// At most `limit` per window `[k*per, (k+1)*per)` aligned to time 0.
    FixedWindow,
    /// `prev * (per - elapsed) / per + current <= limit` over aligned windows.
    /// With `penalty` (Kong rate-limiting-advanced's default,
    /// `disable_penalty = false`) denied requests count too, so a client
    /// that keeps sending too fast stays blocked; without it only admitted
    /// requests count.
    SlidingWindow { penalty: bool },
}

/// A rate limit: `limit` requests (>= 1) per `per` (> 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LimitConfig {
    pub limit: u64,
    pub per: SimDuration,
    pub algorithm: Algorithm,
}

/// One key's limiter state. `Default` is "never used".
///
/// Token bucket: `stamp` is the last refill time in ns and `hi:lo` the
/// tokens as a u128 in units where one token is `per` ns worth (`per`
/// units); refill adds `limit` units per elapsed ns, so refill is exact.
/// Windows: `stamp` is the current window index, `lo` its admitted count
/// and `hi` the previous window's admitted count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LimitState {
    used: bool,
    stamp: u64,
    hi: u64,
    lo: u64,
}

impl LimitState {
    fn units(&self) -> u128 {
        (u128::from(self.hi) << 64) | u128::from(self.lo)
    }

    fn set_units(&mut self, u: u128) {
        self.hi = (u >> 64) as u64;
        self.lo = u as u64;
    }

    /// Rolls the window state to window `idx` (never backwards).
    fn roll_to(&mut self, idx: u64) {
        if !self.used || idx > self.stamp {
            self.hi = if self.used && idx == self.stamp.wrapping_add(1) { self.lo } else { 0 };
            self.lo = 0;
            self.stamp = idx;
            self.used = true;
        }
    }
}

/// The answer to [`LimitConfig::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Admit,
    /// Rejected; a request `retry_after` (> 0) later would be admitted if
    /// no other traffic came in between.
    Reject {
        retry_after: SimDuration,
    },
}

impl LimitConfig {
    /// Checks one request at `now`; `Admit` consumes one unit.
    /// Calls for one state must come at non-decreasing `now`.
    pub fn check(&self, state: &mut LimitState, now: SimTime) -> Decision {
        debug_assert!(self.limit >= 1 && self.per.0 > 0, "validated config");
        let limit = self.limit.max(1);
        let per = self.per.0.max(1);
        match self.algorithm {
            Algorithm::TokenBucket { burst } => token_bucket(limit, per, burst, state, now.0),
            Algorithm::FixedWindow => fixed_window(limit, per, state, now.0),
            Algorithm::SlidingWindow { penalty } => sliding_window(limit, per, penalty, state, now.0),
        }
    }
}

fn reject(wait: u128) -> Decision {
    let ns = u64::try_from(wait).unwrap_or(u64::MAX).max(1);
    Decision::Reject { retry_after: SimDuration(ns) }
}

fn token_bucket(limit: u64, per: u64, burst: u32, st: &mut LimitState, now: u64) -> Decision {
    debug_assert!(burst >= 1, "validated config");
    let one = u128::from(per);
    let cap = u128::from(burst.max(1)) * one;
    let units = if !st.used {
        st.used = true;
        st.stamp = now;
        cap
    } else {
        let dt = now.saturating_sub(st.stamp);
        st.stamp = st.stamp.max(now);
        let refill = u128::from(dt) * u128::from(limit); // < 2^128
        st.units().saturating_add(refill).min(cap)
    };
    if units >= one {
        st.set_units(units - one);
        Decision::Admit
    } else {
        st.set_units(units);
        reject((one - units).div_ceil(u128::from(limit)))
    }
}

fn fixed_window(limit: u64, per: u64, st: &mut LimitState, now: u64) -> Decision {
    let idx = now / per;
    st.roll_to(idx);
    if st.lo < limit {
        st.lo += 1;
        Decision::Admit
    } else {
        reject((u128::from(idx) + 1) * u128::from(per) - u128::from(now))
    }
}

/// `prev * (per - elapsed) + (cur + 1) * per <= limit * per`: would one more
/// request be admitted, `elapsed` ns into a window with these counts?
fn sliding_fits(limit: u64, per: u64, prev: u64, cur: u64, elapsed: u64) -> bool {
    let lhs = u128::from(prev) * u128::from(per - elapsed) + (u128::from(cur) + 1) * u128::from(per);
    lhs <= u128::from(limit) * u128::from(per)
}

/// Smallest elapsed time into a window with counts `prev`, `cur` at which
/// one more request fits; `None` if none before the window ends.
fn sliding_earliest(limit: u64, per: u64, prev: u64, cur: u64) -> Option<u64> {
    let room = u128::from(limit.checked_sub(cur)?.checked_sub(1)?) * u128::from(per);
    if prev == 0 {
        return Some(0);
    }
    // Need prev * (per - e) <= room, i.e. per - e <= room / prev.
    let keep = (room / u128::from(prev)).min(u128::from(per)) as u64;
    let e = per - keep;
    (e < per).then_some(e)
}

fn sliding_window(limit: u64, per: u64, penalty: bool, st: &mut LimitState, now: u64) -> Decision {
    let idx = now / per;
    st.roll_to(idx);
    let elapsed = now - idx * per;
    let (prev, cur) = (st.hi, st.lo);
    if sliding_fits(limit, per, prev, cur, elapsed) {
        st.lo += 1;
        return Decision::Admit;
    }
    // A denied request counts too (Kong's penalty): Retry-After is then the
    // earliest fit given the count that includes it.
    let cur = if penalty {
        st.lo = st.lo.saturating_add(1);
        st.lo
    } else {
        cur
    };
    let start = u128::from(idx) * u128::from(per);
    let at = match sliding_earliest(limit, per, prev, cur) {
        Some(e) => start + u128::from(e),
        // Next window: prev becomes `cur`, current is empty. If even its
        // end is too early (limit 1), the window after is empty: e = per.
        None => start + u128::from(per) + u128::from(sliding_earliest(limit, per, cur, 0).unwrap_or(per)),
    };
    reject(at - u128::from(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;

    fn cfg(limit: u64, per_ns: u64, algorithm: Algorithm) -> LimitConfig {
        LimitConfig { limit, per: SimDuration(per_ns), algorithm }
    }

    fn at(c: &LimitConfig, st: &mut LimitState, ns: u64) -> Decision {
        c.check(st, SimTime(ns))
    }

    fn rej(ns: u64) -> Decision {
        Decision::Reject { retry_after: SimDuration(ns) }
    }

    use Decision::Admit;

    #[test]
    fn token_bucket_starts_full_and_refills_exactly() {
        let c = cfg(1, 1000 * MS, Algorithm::TokenBucket { burst: 3 });
        let mut st = LimitState::default();
        for _ in 0..3 {
            assert_eq!(at(&c, &mut st, 0), Admit);
        }
        assert_eq!(at(&c, &mut st, 0), rej(1000 * MS));
        assert_eq!(at(&c, &mut st, 500 * MS), rej(500 * MS));
        assert_eq!(at(&c, &mut st, 1000 * MS), Admit);
        // Idle for long: refills to the burst, not beyond.
        let mut n = 0;
        while at(&c, &mut st, 60_000 * MS) == Admit {
            n += 1;
        }
        assert_eq!(n, 3);
    }

    #[test]
    fn token_bucket_fractional_rate_retry_after_is_ceiled() {
        // 3 per second: one token every 333_333_333.3 ns.
        let c = cfg(3, 1000 * MS, Algorithm::TokenBucket { burst: 1 });
        let mut st = LimitState::default();
        assert_eq!(at(&c, &mut st, 0), Admit);
        assert_eq!(at(&c, &mut st, 0), rej(333_333_334));
        let mut early = st;
        assert_eq!(at(&c, &mut early, 333_333_333), rej(1));
        assert_eq!(at(&c, &mut st, 333_333_334), Admit);
    }

    #[test]
    fn fixed_window_counts_admitted_and_resets_at_edge() {
        let c = cfg(2, 1000 * MS, Algorithm::FixedWindow);
        let mut st = LimitState::default();
        assert_eq!(at(&c, &mut st, 100 * MS), Admit);
        assert_eq!(at(&c, &mut st, 200 * MS), Admit);
        assert_eq!(at(&c, &mut st, 300 * MS), rej(700 * MS));
        assert_eq!(at(&c, &mut st, 999 * MS), rej(MS));
        assert_eq!(at(&c, &mut st, 1000 * MS), Admit);
    }

    #[test]
    fn fixed_window_admits_twice_the_limit_across_an_edge() {
        let c = cfg(5, 1000 * MS, Algorithm::FixedWindow);
        let mut st = LimitState::default();
        let times = (0..5).map(|i| 999 * MS + i).chain((0..5).map(|i| 1000 * MS + i));
        let admitted = times.filter(|&t| at(&c, &mut st, t) == Admit).count();
        // 10 = 2 * limit within 1 ms + 5 ns, a span far shorter than `per`.
        assert_eq!(admitted, 10);
    }

    #[test]
    fn sliding_window_weights_previous_window() {
        let c = cfg(10, 1000 * MS, Algorithm::SlidingWindow { penalty: false });
        let mut st = LimitState::default();
        for i in 0..10 {
            assert_eq!(at(&c, &mut st, 500 * MS + i), Admit);
        }
        // Full: the earliest fit is 0.1 s into window 1 (see below).
        assert_eq!(at(&c, &mut st, 600 * MS), rej(500 * MS));
        // Window 1 at 0 ms: estimate 10 -> need 10 * (1 - e) + 1 <= 10, e >= 0.1 s.
        assert_eq!(at(&c, &mut st, 1000 * MS), rej(100 * MS));
        let mut early = st;
        assert_eq!(at(&c, &mut early, 1100 * MS - 1), rej(1));
        assert_eq!(at(&c, &mut st, 1100 * MS), Admit);
        // Two windows later the previous window is empty again.
        for i in 0..10 {
            assert_eq!(at(&c, &mut st, 3000 * MS + i), Admit);
        }
    }

    #[test]
    fn sliding_window_limit_one_waits_two_windows() {
        let c = cfg(1, 100, Algorithm::SlidingWindow { penalty: false });
        let mut st = LimitState::default();
        assert_eq!(at(&c, &mut st, 50), Admit);
        // Window 1 is fully weighed down by the one in window 0.
        assert_eq!(at(&c, &mut st, 60), rej(140));
        assert_eq!(at(&c, &mut st, 199), rej(1));
        assert_eq!(at(&c, &mut st, 200), Admit);
    }

    /// Issue 9: Kong rate-limiting-advanced counts denied requests by
    /// default (`disable_penalty = false`), so a client that keeps sending
    /// too fast stays blocked; without the penalty it gets through as soon
    /// as the estimate allows.
    #[test]
    fn issue9_sliding_window_penalty_counts_denied_requests() {
        let blocked = |penalty: bool| {
            let c = cfg(10, 1000 * MS, Algorithm::SlidingWindow { penalty });
            let mut st = LimitState::default();
            // 20 requests per second, evenly spaced, for 3 seconds.
            (0..60u64).filter(|i| at(&c, &mut st, i * 50 * MS) != Admit).count()
        };
        // Without the penalty about half get through; with it, a client
        // that never slows down sees the window stay full: window 0 admits
        // 10 and counts 20, so window 1's estimate starts at 20 > 10.
        let (without, with) = (blocked(false), blocked(true));
        assert!(without <= 32, "without penalty {without} of 60 blocked");
        assert!(with >= 45, "with penalty {with} of 60 blocked");
        // Retry-After with the penalty accounts for the denied request itself.
        let c = cfg(1, 100, Algorithm::SlidingWindow { penalty: true });
        let mut st = LimitState::default();
        assert_eq!(at(&c, &mut st, 50), Admit);
        // Window 0 now counts 2, which weighs window 1 down all through
        // (2 * (100 - e) / 100 + 1 <= 1 only at e = 100): the next fit is
        // window 2, whose previous window is empty.
        assert_eq!(at(&c, &mut st, 60), rej(140));
        // Asking again inside window 1 is denied and counted there too.
        let mut again = st;
        assert_eq!(at(&c, &mut again, 150), rej(150));
        assert_eq!(at(&c, &mut st, 200), Admit);
    }

    #[test]
    fn state_is_small() {
        assert!(std::mem::size_of::<LimitState>() <= 32);
    }

    #[test]
    fn extreme_configs_do_not_overflow() {
        let far = u64::MAX - 1;
        for algorithm in [
            Algorithm::TokenBucket { burst: u32::MAX },
            Algorithm::TokenBucket { burst: 1 },
            Algorithm::FixedWindow,
            Algorithm::SlidingWindow { penalty: false },
            Algorithm::SlidingWindow { penalty: true },
        ] {
            for (limit, per) in [(u64::MAX, u64::MAX), (1, u64::MAX), (u64::MAX, 1), (1, 1)] {
                let c = cfg(limit, per, algorithm);
                let mut st = LimitState::default();
                for t in [0, 1, far / 2, far, far, u64::MAX] {
                    if let Decision::Reject { retry_after } = at(&c, &mut st, t) {
                        assert!(retry_after.0 > 0);
                    }
                }
            }
        }
    }

    /// A random config for `alg` and increasing request times: gaps are
    /// multiples of `per / 16` so that window edges are hit exactly.
    fn arb_run(alg: u8) -> impl Strategy<Value = (LimitConfig, Vec<u64>)> {
        (1u64..8, 1u64..5000, 1u32..6, proptest::collection::vec(0u64..40, 1..150)).prop_map(
            move |(limit, per, burst, gaps)| {
                let algorithm = match alg {
                    0 => Algorithm::TokenBucket { burst },
                    1 => Algorithm::FixedWindow,
                    2 => Algorithm::SlidingWindow { penalty: false },
                    _ => Algorithm::SlidingWindow { penalty: true },
                };
                let mut now = 0;
                let times = gaps
                    .iter()
                    .map(|g| {
                        now += g * per / 16;
                        now
                    })
                    .collect();
                (cfg(limit, per, algorithm), times)
            },
        )
    }

    /// Runs the requests; on each reject checks that retrying exactly
    /// `retry_after` later is admitted and (when `minimal`) that one ns
    /// earlier is not. Returns the admitted times.
    fn run(c: &LimitConfig, times: &[u64], minimal: bool) -> Result<Vec<u64>, TestCaseError> {
        let mut st = LimitState::default();
        let mut admitted = Vec::new();
        for &t in times {
            match at(c, &mut st, t) {
                Admit => admitted.push(t),
                Decision::Reject { retry_after } => {
                    let r = retry_after.0;
                    prop_assert!(r > 0);
                    prop_assert_eq!(at(c, &mut st.clone(), t + r), Admit);
                    if minimal {
                        prop_assert_ne!(at(c, &mut st.clone(), t + r - 1), Admit);
                    }
                }
            }
        }
        Ok(admitted)
    }

    proptest! {
        // Token bucket: over any interval [t_i, t_j] between two admissions,
        // admitted * per <= burst * per + (t_j - t_i) * limit, exactly (no +1:
        // refill is exact and the bucket never holds more than burst).
        // Tokens stay within [0, burst]. A Reject's retry_after is > 0, a
        // retry exactly then is admitted and one ns earlier is not.
        #[test]
        fn token_bucket_bounds_any_interval((c, times) in arb_run(0)) {
            let Algorithm::TokenBucket { burst } = c.algorithm else { unreachable!() };
            let (limit, per) = (u128::from(c.limit), u128::from(c.per.0));
            let mut st = LimitState::default();
            for &t in &times {
                at(&c, &mut st, t);
                prop_assert!(st.units() <= u128::from(burst) * per);
            }
            let adm = run(&c, &times, true)?;
            for i in 0..adm.len() {
                for j in i..adm.len() {
                    let n = (j - i + 1) as u128;
                    let span = u128::from(adm[j] - adm[i]);
                    prop_assert!(n * per <= u128::from(burst) * per + span * limit);
                }
            }
        }

        // Fixed window: never more than `limit` admitted within one aligned
        // window; retry_after is > 0, minimal, and a retry then is admitted.
        #[test]
        fn fixed_window_caps_each_window((c, times) in arb_run(1)) {
            let adm = run(&c, &times, true)?;
            for w in adm.chunk_by(|a, b| a / c.per.0 == b / c.per.0) {
                prop_assert!(w.len() as u64 <= c.limit);
            }
        }

        // Sliding window: a request is admitted iff the exact estimate
        // including it, prev * (per - elapsed) / per + cur, is <= limit,
        // recomputed from the counted times (admitted ones, and with the
        // penalty denied ones too); retry_after is > 0, minimal, and a
        // retry exactly then is admitted.
        #[test]
        fn sliding_window_estimate_within_limit(penalty in any::<bool>(), (c, times) in arb_run(2)) {
            let c = LimitConfig { algorithm: Algorithm::SlidingWindow { penalty }, ..c };
            run(&c, &times, true)?;
            let (limit, per) = (u128::from(c.limit), c.per.0);
            let mut st = LimitState::default();
            let mut counted: Vec<u64> = Vec::new();
            for &t in &times {
                let idx = t / per;
                let prev = counted.iter().filter(|&&a| a / per + 1 == idx).count() as u128;
                let cur = counted.iter().filter(|&&a| a / per == idx).count() as u128 + 1;
                let est = prev * u128::from(per - t % per) + cur * u128::from(per);
                let admitted = at(&c, &mut st, t) == Admit;
                prop_assert_eq!(admitted, est <= limit * u128::from(per));
                if admitted || penalty {
                    counted.push(t);
                }
            }
        }
    }
}
