//! Retry budget with Finagle `TokenRetryBudget` semantics: retries may be
//! at most a ratio of recent requests plus a small per-second reserve.
//!
//! Each original request deposits `DEPOSIT` (1000) units and each retry
//! withdraws `W = round(1000 / ratio)` units (ratio 0: deposits are 0 and
//! `W` is 1, so only the reserve is spendable). Deposits and withdrawals
//! expire `ttl` later, kept in a ring of one-second buckets aligned to
//! `SimTime` 0; the ttl is whole seconds `K = ttl / 1s` (>= 1). A constant
//! reserve of `min_per_s * K * W` units is always added to the balance.
//!
//! Exact bound: a retry at second `s` is allowed iff
//! `DEPOSIT * requests(s-K+1..=s) - W * retries(s-K+1..=s) + reserve >= W`
//! (counts over the K whole seconds ending with the current one). Hence
//! after every allowed retry `W * retries <= DEPOSIT * requests + reserve`
//! over those K seconds, i.e. retries <= (1000 / W) * requests +
//! `min_per_s * K`; and over any K aligned seconds `a..a+K`, retries are at
//! most that with requests counted over `a-K+1..a+K` (deposits made up to
//! K-1 seconds earlier may still be spent).

use crate::engine::time::{SimDuration, SimTime};

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Units one request deposits (Finagle's `ScaleFactor`).
const DEPOSIT: u64 = 1000;

/// Retry budget configuration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BudgetConfig {
    /// Retries allowed per request, in [0, 1000] (0.2 = 20%).
    pub ratio: f64,
    /// Retries per second allowed regardless of traffic.
    pub min_per_s: u32,
    /// How long deposits last; whole seconds, >= 1s.
    pub ttl: SimDuration,
}

impl Default for BudgetConfig {
    /// Finagle's defaults: 20% of requests, 10 retries/s reserve, 10 s ttl.
    fn default() -> Self {
        BudgetConfig { ratio: 0.2, min_per_s: 10, ttl: SimDuration::from_secs(10) }
    }
}

impl BudgetConfig {
    /// Units one retry withdraws: `round(1000 / ratio)`, at least 1; 1 for
    /// ratio 0 (nothing is deposited then).
    fn withdraw_units(&self) -> u64 {
        debug_assert!((0.0..=1000.0).contains(&self.ratio), "ratio in [0, 1000]");
        if self.ratio > 0.0 { ((DEPOSIT as f64 / self.ratio).round() as u64).max(1) } else { 1 }
    }

    /// Units one request deposits: 1000, or 0 when ratio is 0.
    fn deposit_units(&self) -> u64 {
        if self.ratio > 0.0 { DEPOSIT } else { 0 }
    }

    /// The ttl in whole seconds, at least 1.
    fn ttl_secs(&self) -> u64 {
        debug_assert!(self.ttl.0 >= NANOS_PER_SEC, "ttl >= 1s");
        (self.ttl.0 / NANOS_PER_SEC).max(1)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Bucket {
    sec: u64,
    net: i128,
}

/// One retry budget's state (bounded: `ttl_secs` buckets).
#[derive(Clone, Debug)]
pub struct RetryBudget {
    deposit: i128,
    withdraw: i128,
    reserve: i128,
    buckets: Vec<Bucket>,
}

impl RetryBudget {
    /// The bytes one budget of this config holds (a bucket per ttl second).
    pub fn memory_bytes(cfg: &BudgetConfig) -> u64 {
        cfg.ttl_secs().saturating_mul(std::mem::size_of::<Bucket>() as u64) + std::mem::size_of::<RetryBudget>() as u64
    }

    pub fn new(cfg: &BudgetConfig) -> Self {
        let k = cfg.ttl_secs();
        let withdraw = i128::from(cfg.withdraw_units());
        let reserve = i128::from(cfg.min_per_s).saturating_mul(i128::from(k)).saturating_mul(withdraw);
        RetryBudget {
            deposit: i128::from(cfg.deposit_units()),
            withdraw,
            reserve,
            buckets: vec![Bucket::default(); usize::try_from(k).unwrap_or(usize::MAX)],
        }
    }

    /// Records one original request at `now`.
    pub fn deposit(&mut self, now: SimTime) {
        let d = self.deposit;
        self.add(now, d);
    }

    /// Asks to retry at `now`; `true` means allowed, and it is counted.
    pub fn try_withdraw(&mut self, now: SimTime) -> bool {
        let w = self.withdraw;
        if self.balance(now) >= w {
            self.add(now, -w);
            true
        } else {
            false
        }
    }

    /// Units in the budget at `now`: live deposits less live withdrawals
    /// plus the reserve. May be negative once deposits expire before the
    /// withdrawals they paid for.
    pub fn balance(&self, now: SimTime) -> i128 {
        let s = now.0 / NANOS_PER_SEC;
        let k = self.buckets.len() as u64;
        let live = self.buckets.iter().filter(|b| b.sec <= s && b.sec + k > s);
        live.fold(self.reserve, |acc, b| acc.saturating_add(b.net))
    }

    /// How many retries would be allowed at `now` with no other traffic.
    #[cfg(test)]
    fn available(&self, now: SimTime) -> u64 {
        let n = self.balance(now).max(0) / self.withdraw;
        u64::try_from(n).unwrap_or(u64::MAX)
    }

    fn add(&mut self, now: SimTime, units: i128) {
        let s = now.0 / NANOS_PER_SEC;
        let i = (s % self.buckets.len() as u64) as usize;
        let b = &mut self.buckets[i];
        if b.sec != s {
            *b = Bucket { sec: s, net: 0 };
        }
        b.net = b.net.saturating_add(units);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: u64 = NANOS_PER_SEC;

    fn cfg(ratio: f64, min_per_s: u32, ttl_s: u64) -> BudgetConfig {
        BudgetConfig { ratio, min_per_s, ttl: SimDuration::from_secs(ttl_s) }
    }

    fn t(ns: u64) -> SimTime {
        SimTime(ns)
    }

    fn drain(b: &mut RetryBudget, at: u64) -> u64 {
        let mut n = 0;
        while b.try_withdraw(t(at)) {
            n += 1;
        }
        n
    }

    #[test]
    fn ratio_of_requests_can_retry() {
        let mut b = RetryBudget::new(&cfg(0.5, 0, 10));
        assert!(!b.try_withdraw(t(0)));
        for i in 0..10 {
            b.deposit(t(i * 100_000_000));
        }
        assert_eq!(b.available(t(S)), 5);
        assert_eq!(drain(&mut b, S), 5);
    }

    #[test]
    fn deposits_expire_after_ttl() {
        let mut b = RetryBudget::new(&cfg(1.0, 0, 3));
        b.deposit(t(S / 2)); // second 0
        assert_eq!(b.available(t(3 * S - 1)), 1); // second 2: still live
        assert_eq!(b.available(t(3 * S)), 0); // second 3: expired
    }

    #[test]
    fn reserve_allows_min_per_s_times_ttl() {
        let mut b = RetryBudget::new(&cfg(0.2, 2, 10));
        assert_eq!(drain(&mut b, 0), 20);
        // The withdrawals expire with the ttl and the reserve is whole again.
        assert_eq!(drain(&mut b, 10 * S), 20);
    }

    #[test]
    fn zero_ratio_and_zero_reserve_never_retries() {
        let mut b = RetryBudget::new(&cfg(0.0, 0, 10));
        for i in 0..100 {
            b.deposit(t(i));
        }
        assert!(!b.try_withdraw(t(100)));
        let mut b = RetryBudget::new(&cfg(0.0, 1, 2));
        b.deposit(t(0));
        assert_eq!(drain(&mut b, 0), 2);
    }

    #[test]
    fn withdraw_units_round_and_clamp() {
        assert_eq!(cfg(0.2, 0, 1).withdraw_units(), 5000);
        assert_eq!(cfg(3.0, 0, 1).withdraw_units(), 333);
        assert_eq!(cfg(1000.0, 0, 1).withdraw_units(), 1);
        assert_eq!(cfg(0.0, 0, 1).withdraw_units(), 1);
        assert_eq!(cfg(1e-300, 0, 1).withdraw_units(), u64::MAX);
        let mut b = RetryBudget::new(&cfg(1e-300, u32::MAX, 60));
        assert!(b.try_withdraw(t(0))); // the saturated reserve still allows
    }

    fn arb_cfg() -> impl Strategy<Value = BudgetConfig> {
        let ratio = prop_oneof![Just(0.0), Just(1000.0), 0.01f64..3.0];
        (ratio, 0u32..4, 1u64..6).prop_map(|(r, m, k)| cfg(r, m, k))
    }

    proptest! {
        // Model check with exact integers: with D = deposit_units, W =
        // withdraw_units and R = min_per_s * K * W, a retry at second s is
        // allowed iff D * requests - W * retries + R >= W over seconds
        // s-K+1..=s. So after each allowed retry W * retries <= D * requests
        // + R over those K seconds, and over any K aligned seconds a..a+K
        // W * retries <= D * requests(a-K+1..a+K) + R.
        #[test]
        fn retries_bounded_by_ratio_plus_reserve(
            c in arb_cfg(),
            ops in proptest::collection::vec((0u64..700, any::<bool>()), 1..300),
        ) {
            let (d, w) = (i128::from(c.deposit_units()), i128::from(c.withdraw_units()));
            let k = c.ttl_secs();
            let r = i128::from(c.min_per_s) * i128::from(k) * w;
            let mut b = RetryBudget::new(&c);
            let (mut now, mut reqs, mut rets) = (0u64, Vec::new(), Vec::new());
            let count = |v: &Vec<u64>, lo: u64, hi: u64| {
                v.iter().filter(|&&x| lo <= x && x <= hi).count() as i128
            };
            for (dt_ms, is_retry) in ops {
                now += dt_ms * 1_000_000;
                let s = now / S;
                let lo = (s + 1).saturating_sub(k);
                if !is_retry {
                    b.deposit(t(now));
                    reqs.push(s);
                    continue;
                }
                let want = d * count(&reqs, lo, s) - w * count(&rets, lo, s) + r >= w;
                prop_assert_eq!(b.try_withdraw(t(now)), want);
                if want {
                    rets.push(s);
                    prop_assert!(w * count(&rets, lo, s) <= d * count(&reqs, lo, s) + r);
                }
            }
            let last = now / S;
            for a in 0..=last {
                let deps = count(&reqs, (a + 1).saturating_sub(k), a + k - 1);
                prop_assert!(w * count(&rets, a, a + k - 1) <= d * deps + r);
            }
        }
    }
}
