//! Load balancing: picking one of `n` instances per request, without
//! allocating (this runs once per simulated request).
//!
//! Usability (health, breaker state, ...) and load are supplied by the
//! caller as closures over the instance index; they must be pure for the
//! duration of one `pick`, since they may be called more than once.

use rand::{Rng, RngExt};

/// How an instance is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Balance {
    /// The next usable index after the previous pick.
    RoundRobin,
    /// Uniform among the usable indices.
    Random,
    /// Fewest outstanding requests; ties go round-robin.
    LeastOutstanding,
    /// Two distinct usable indices at random, the less loaded one (ties:
    /// the first drawn).
    PowerOfTwo,
    /// Envoy's `LEAST_REQUEST` (its `N_CHOICES` selection): `choices`
    /// usable indices drawn at random *with replacement*, the least loaded
    /// one (ties: the earliest drawn), as in Envoy's
    /// `LeastRequestLoadBalancer::unweightedHostPick`.
    LeastRequest { choices: u32 },
}

/// Envoy's default overprovisioning factor: a priority level with 1/1.4
/// (71.4%) of its hosts usable counts as fully healthy.
const OVERPROVISIONING: f64 = 1.4;

/// Envoy's panic threshold (`common_lb_config.healthy_panic_threshold`,
/// arch overview "Panic threshold"): with `usable` of `n` hosts usable,
/// whether to balance over all `n` instead. Below `threshold` percent, and
/// only while the one priority level is not fully healthy (usable share x
/// 1.4 under 100%), as Envoy disregards panic thresholds at 100% health.
pub fn panics(usable: usize, n: usize, threshold: f64) -> bool {
    let share = 100.0 * usable as f64 / n.max(1) as f64;
    share < threshold && share * OVERPROVISIONING < 100.0
}

/// Per-caller cursor for round-robin and tie-breaking.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PickState {
    next: u32,
}

/// The `k`-th (0-based) usable index below `n`.
fn kth_usable(n: usize, usable: &impl Fn(usize) -> bool, k: usize) -> Option<usize> {
    (0..n).filter(|&i| usable(i)).nth(k)
}

impl Balance {
    /// Picks an index in `0..n`, or `None` if none is usable. `Random` and
    /// `PowerOfTwo` draw from `rng` only when two or more are usable.
    #[inline]
    pub fn pick<R: Rng + ?Sized>(
        &self,
        state: &mut PickState,
        n: usize,
        usable: impl Fn(usize) -> bool,
        outstanding: impl Fn(usize) -> u32,
        rng: &mut R,
    ) -> Option<usize> {
        if n <= 1 {
            // One instance (or none): nothing to choose, no state, no draw.
            return (n == 1 && usable(0)).then_some(0);
        }
        debug_assert!(u32::try_from(n).is_ok(), "instance count fits u32");
        let start = state.next as usize % n;
        let chosen = match self {
            Balance::RoundRobin => (0..n).map(|i| (start + i) % n).find(|&i| usable(i))?,
            Balance::LeastOutstanding => {
                let scan = (0..n).map(|i| (start + i) % n).filter(|&i| usable(i));
                // min_by_key keeps the first of equal minima: scan order.
                scan.min_by_key(|&i| outstanding(i))?
            }
            Balance::Random => return random_pick(n, &usable, rng),
            Balance::PowerOfTwo => return two_choices(n, &usable, &outstanding, rng),
            Balance::LeastRequest { choices } => return n_choices(n, &usable, &outstanding, *choices, rng),
        };
        state.next = ((chosen + 1) % n) as u32;
        Some(chosen)
    }
}

fn random_pick<R: Rng + ?Sized>(n: usize, usable: &impl Fn(usize) -> bool, rng: &mut R) -> Option<usize> {
    let count = (0..n).filter(|&i| usable(i)).count();
    match count {
        0 => None,
        1 => kth_usable(n, usable, 0),
        _ => kth_usable(n, usable, rng.random_range(0..count)),
    }
}

fn two_choices<R: Rng + ?Sized>(
    n: usize,
    usable: &impl Fn(usize) -> bool,
    outstanding: &impl Fn(usize) -> u32,
    rng: &mut R,
) -> Option<usize> {
    let count = (0..n).filter(|&i| usable(i)).count();
    if count < 2 {
        return kth_usable(n, usable, 0);
    }
    let a = rng.random_range(0..count);
    let mut b = rng.random_range(0..count - 1);
    if b >= a {
        b += 1;
    }
    let (a, b) = (kth_usable(n, usable, a)?, kth_usable(n, usable, b)?);
    Some(if outstanding(b) < outstanding(a) { b } else { a })
}

fn n_choices<R: Rng + ?Sized>(
    n: usize,
    usable: &impl Fn(usize) -> bool,
    outstanding: &impl Fn(usize) -> u32,
    choices: u32,
    rng: &mut R,
) -> Option<usize> {
    let count = (0..n).filter(|&i| usable(i)).count();
    if count < 2 {
        return kth_usable(n, usable, 0);
    }
    // With every index usable (the common case) the k-th is k: no scan per draw.
    let kth = |k: usize| if count == n { Some(k) } else { kth_usable(n, usable, k) };
    let mut best = kth(rng.random_range(0..count))?;
    for _ in 1..choices {
        let drawn = kth(rng.random_range(0..count))?;
        if outstanding(drawn) < outstanding(best) {
            best = drawn;
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn panic_below_the_threshold_unless_fully_healthy_after_overprovisioning() {
        assert!(panics(1, 4, 50.0), "25% < 50%");
        assert!(!panics(2, 4, 50.0), "50% is not below 50%");
        assert!(!panics(3, 4, 80.0), "75% x 1.4 = 105%: fully healthy");
        assert!(panics(7, 10, 80.0), "70% x 1.4 = 98%: not fully healthy, and below 80%");
        assert!(panics(0, 3, 1.0) && !panics(1, 3, 1.0), "1%: only when none is usable");
        assert!(!panics(0, 3, 0.0), "0 never panics");
    }

    fn rng(seed: u64) -> ChaCha8Rng {
        ChaCha8Rng::seed_from_u64(seed)
    }

    #[test]
    fn round_robin_visits_usable_equally() {
        let mut st = PickState::default();
        let mut counts = [0u32; 5];
        let usable = |i: usize| i != 2;
        for _ in 0..400 {
            let i = Balance::RoundRobin.pick(&mut st, 5, usable, |_| 0, &mut rng(0)).unwrap();
            counts[i] += 1;
        }
        assert_eq!(counts, [100, 100, 0, 100, 100]);
    }

    #[test]
    fn nothing_usable_gives_none() {
        for b in [
            Balance::RoundRobin,
            Balance::Random,
            Balance::LeastOutstanding,
            Balance::PowerOfTwo,
            Balance::LeastRequest { choices: 2 },
        ] {
            let mut st = PickState::default();
            assert_eq!(b.pick(&mut st, 4, |_| false, |_| 0, &mut rng(1)), None);
            assert_eq!(b.pick(&mut st, 0, |_| true, |_| 0, &mut rng(1)), None);
        }
    }

    #[test]
    fn single_usable_consumes_no_randomness() {
        for b in [Balance::Random, Balance::PowerOfTwo, Balance::LeastRequest { choices: 3 }] {
            let mut r = rng(7);
            let mut st = PickState::default();
            assert_eq!(b.pick(&mut st, 1, |_| true, |_| 0, &mut r), Some(0));
            assert_eq!(b.pick(&mut st, 3, |i| i == 1, |_| 0, &mut r), Some(1));
            assert_eq!(r, rng(7));
        }
    }

    #[test]
    fn random_is_uniform_ish() {
        let mut r = rng(42);
        let mut st = PickState::default();
        let mut counts = [0u32; 6];
        let usable = |i: usize| i != 4;
        for _ in 0..10_000 {
            counts[Balance::Random.pick(&mut st, 6, usable, |_| 0, &mut r).unwrap()] += 1;
        }
        assert_eq!(counts[4], 0);
        // Expected 2000 each; sd ~ 40, so +-200 is 5 sd.
        for (i, &c) in counts.iter().enumerate().filter(|(i, _)| *i != 4) {
            assert!((1800..=2200).contains(&c), "index {i}: {c}");
        }
    }

    #[test]
    fn least_outstanding_spreads_ties_round_robin() {
        let mut st = PickState::default();
        let load = [3u32, 1, 1, 1];
        let picks: Vec<usize> = (0..6)
            .map(|_| Balance::LeastOutstanding.pick(&mut st, 4, |_| true, |i| load[i], &mut rng(0)).unwrap())
            .collect();
        assert_eq!(picks, [1, 2, 3, 1, 2, 3]);
    }

    #[test]
    fn power_of_two_takes_less_loaded_of_two() {
        let mut r = rng(3);
        let mut st = PickState::default();
        let load = [9u32, 0, 9];
        let mut counts = [0u32; 3];
        for _ in 0..3000 {
            counts[Balance::PowerOfTwo.pick(&mut st, 3, |_| true, |i| load[i], &mut r).unwrap()] += 1;
        }
        // Index 1 loses only if it is not drawn: P = 1/3.
        assert!(counts[1] > 1800 && counts[1] < 2200, "{counts:?}");
        // With two usable, the less loaded always wins.
        for _ in 0..100 {
            let p = Balance::PowerOfTwo.pick(&mut st, 3, |i| i != 1, |i| [5, 0, 2][i], &mut r);
            assert_eq!(p, Some(2));
        }
    }

    #[test]
    fn least_request_draws_with_replacement_as_envoy_does() {
        // Two hosts, one busy: Envoy's N_CHOICES compares a host with itself
        // when both draws hit it, so the busy one wins (1/2)^choices of the
        // time; PowerOfTwo's two distinct draws never pick it.
        for (choices, expected) in [(2u32, 0.25), (3, 0.125)] {
            let (mut r, mut st) = (rng(11), PickState::default());
            let b = Balance::LeastRequest { choices };
            let busy = (0..40_000).filter(|_| b.pick(&mut st, 2, |_| true, |i| [5, 0][i], &mut r) == Some(0)).count();
            let share = busy as f64 / 40_000.0;
            // sd = sqrt(p(1-p)/n) <= 0.0022: 0.01 is over 4 sd.
            assert!((share - expected).abs() < 0.01, "{choices} choices: busy host {share}, expected {expected}");
        }
        let (mut r, mut st) = (rng(11), PickState::default());
        assert!((0..1000).all(|_| Balance::PowerOfTwo.pick(&mut st, 2, |_| true, |i| [5, 0][i], &mut r) == Some(1)));
    }

    fn arb_balance() -> impl Strategy<Value = Balance> {
        prop_oneof![
            Just(Balance::RoundRobin),
            Just(Balance::Random),
            Just(Balance::LeastOutstanding),
            Just(Balance::PowerOfTwo),
            (2u32..5).prop_map(|choices| Balance::LeastRequest { choices })
        ]
    }

    proptest! {
        // For any policy, usability mask and loads: the pick is Some iff some
        // index is usable, and then it is a usable index; LeastOutstanding
        // never picks an index with strictly more outstanding than another
        // usable one; PowerOfTwo (with >= 2 usable) picks an index that some
        // other usable index is at least as loaded as (never a unique max).
        #[test]
        fn picks_are_usable_and_least_is_minimal(
            b in arb_balance(),
            cells in proptest::collection::vec((any::<bool>(), 0u32..5), 1..12),
            start in 0u32..20,
            seed in any::<u64>(),
        ) {
            let n = cells.len();
            let usable = |i: usize| cells[i].0;
            let load = |i: usize| cells[i].1;
            let mut st = PickState { next: start };
            let got = b.pick(&mut st, n, usable, load, &mut rng(seed));
            let usable_loads = cells.iter().filter(|c| c.0).map(|c| c.1);
            let min = usable_loads.clone().min();
            prop_assert_eq!(got.is_some(), min.is_some());
            if let Some(i) = got {
                prop_assert!(usable(i));
                if b == Balance::LeastOutstanding {
                    prop_assert_eq!(Some(load(i)), min);
                }
                let n_usable = usable_loads.clone().count();
                let at_least = usable_loads.filter(|&l| l >= load(i)).count();
                if b == Balance::PowerOfTwo && n_usable >= 2 {
                    prop_assert!(at_least >= 2, "picked the unique maximum");
                }
            }
        }

        // Round robin over a fixed mask: in any run of k * usable picks, each
        // usable index is picked exactly k times.
        #[test]
        fn round_robin_is_fair(mask in proptest::collection::vec(any::<bool>(), 1..10), k in 1usize..4) {
            let usable = |i: usize| mask[i];
            let m = mask.iter().filter(|&&u| u).count();
            let mut st = PickState::default();
            let mut counts = vec![0usize; mask.len()];
            for _ in 0..k * m {
                let i = Balance::RoundRobin.pick(&mut st, mask.len(), usable, |_| 0, &mut rng(0)).unwrap();
                counts[i] += 1;
            }
            for (i, &c) in counts.iter().enumerate() {
                prop_assert_eq!(c, if mask[i] { k } else { 0 });
            }
        }
    }
}
