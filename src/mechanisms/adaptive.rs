//! Adaptive concurrency: Envoy's gradient controller
//! (`envoy.filters.http.adaptive_concurrency`, after Netflix's
//! concurrency-limits): the number of requests allowed in flight follows
//! the measured latency against a minimum-RTT baseline; a request over the
//! limit gets a 503 at once.
//!
//! As Envoy documents it:
//! - every `interval` (Envoy's `concurrency_update_interval`; 100 ms unless set) the
//!   `percentile` (p50) of the latencies sampled since is compared with the
//!   baseline: `gradient = clamp((min_rtt x (1 + buffer)) / sample, 0.5, 2)`,
//!   and `limit = gradient x limit + sqrt(gradient x limit)` (the headroom),
//!   clamped to [`min_concurrency`, `max_concurrency_limit`];
//! - every `min_rtt_calc_interval` (and at the start) the limit is pinned
//!   to `min_concurrency` (3) until `request_count` (50) samples are in;
//!   their percentile is the new `min_rtt`, and the limit goes back to
//!   where it was;
//! - `buffer` (25%) is how much above the ideal latency is tolerated;
//! - the next baseline is measured `min_rtt_calc_interval` after the last
//!   one ended, or at once when the limit has been set to `min_concurrency`
//!   for five intervals in a row (the baseline may be stale: a service that
//!   became slower for good would otherwise stay pinned at the floor);
//! - a request sent before the latest baseline window began is no sample
//!   (`recordLatencySample` disregards `rq_send_time < min_rtt_epoch_`):
//!   one queued behind the old limit would skew the new baseline.
//!
//! Pure: `now` comes in; samples are kept per interval, at most
//! `MAX_SAMPLES` of them (the first ones), so memory is bounded.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use crate::engine::time::{SimDuration, SimTime};

/// Most latency samples one interval keeps.
const MAX_SAMPLES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdaptiveConfig {
    pub interval: SimDuration,
    pub percentile: f64,
    pub buffer: f64,
    /// Each new baseline starts up to this share of `min_rtt_calc_interval`
    /// later, at random, so that callers do not all measure at once.
    pub jitter: f64,
    pub min_rtt_calc_interval: SimDuration,
    pub request_count: u32,
    pub min_concurrency: u32,
    pub max_concurrency: u32,
}

/// Envoy's defaults (`min_rtt_calc_interval` has none there; 60 s here).
impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            interval: SimDuration::from_millis(100),
            percentile: 0.5,
            buffer: 0.25,
            jitter: 0.15,
            min_rtt_calc_interval: SimDuration::from_secs(60),
            request_count: 50,
            min_concurrency: 3,
            max_concurrency: 1000,
        }
    }
}

/// One caller's controller towards one callee.
#[derive(Clone, Debug)]
pub struct AdaptiveLimit {
    limit: f64,
    in_flight: u32,
    min_rtt: Option<u64>,
    samples: Vec<u64>,
    /// Measuring the baseline: the limit to return to afterwards.
    probing: Option<f64>,
    next_update: SimTime,
    next_probe: SimTime,
    /// When the latest baseline window began (Envoy's `min_rtt_epoch_`).
    epoch: SimTime,
    /// Intervals in a row that set the limit to `min_concurrency` again
    /// (Envoy's `consecutive_min_concurrency_set_`).
    at_floor: u32,
    /// This controller's own stream, for the jitter of its baselines.
    rng: ChaCha8Rng,
    rejected: u64,
}

/// The `p`-quantile of `xs` (nearest rank), reordering them.
fn quantile(xs: &mut [u64], p: f64) -> u64 {
    let k = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    *xs.select_nth_unstable(k - 1).1
}

impl AdaptiveLimit {
    /// Starts by measuring the baseline, at `min_concurrency`; `rng` is
    /// its own random stream (the jitter of later baselines).
    pub fn new(cfg: &AdaptiveConfig, rng: ChaCha8Rng) -> Self {
        AdaptiveLimit {
            limit: f64::from(cfg.min_concurrency),
            in_flight: 0,
            min_rtt: None,
            samples: Vec::new(),
            probing: Some(f64::from(cfg.min_concurrency)),
            next_update: SimTime::ZERO + cfg.interval,
            next_probe: SimTime::ZERO + cfg.min_rtt_calc_interval,
            epoch: SimTime::ZERO,
            at_floor: 0,
            rng,
            rejected: 0,
        }
    }

    /// The limit now (whole requests).
    pub fn limit(&self) -> u32 {
        self.limit as u32
    }

    pub fn rejected(&self) -> u64 {
        self.rejected
    }

    /// Places taken and not given back.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// At most what one controller holds: its samples and itself.
    pub fn memory_bytes() -> u64 {
        (MAX_SAMPLES * std::mem::size_of::<u64>() + std::mem::size_of::<AdaptiveLimit>()) as u64
    }

    /// A request wants to go: `true` takes a place (give it back with
    /// [`AdaptiveLimit::release`]), `false` is an overloaded 503.
    pub fn try_acquire(&mut self, cfg: &AdaptiveConfig, now: SimTime) -> bool {
        self.update(cfg, now);
        if self.in_flight < self.limit() {
            self.in_flight += 1;
            true
        } else {
            self.rejected += 1;
            false
        }
    }

    /// A place taken for a request that was never sent.
    pub fn release_unused(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// A request that took a place ended after `rtt`.
    pub fn release(&mut self, cfg: &AdaptiveConfig, now: SimTime, rtt: SimDuration) {
        debug_assert!(self.in_flight > 0, "release without acquire");
        self.in_flight = self.in_flight.saturating_sub(1);
        if now.0.saturating_sub(rtt.as_nanos()) < self.epoch.0 {
            // Sent before this baseline window: its latency says nothing of it.
            return self.update(cfg, now);
        }
        if self.samples.len() < MAX_SAMPLES {
            self.samples.push(rtt.as_nanos());
        }
        if let Some(back_to) = self.probing
            && self.samples.len() >= cfg.request_count as usize
        {
            self.min_rtt = Some(quantile(&mut self.samples, cfg.percentile).max(1));
            self.samples.clear();
            self.limit = back_to;
            self.probing = None;
            self.next_update = now + cfg.interval;
            // Envoy arms the next measurement when this one ends (`updateMinRTT`),
            // `min_rtt_calc_interval` later plus up to `jitter` of it (`applyJitter`).
            let spread = (cfg.min_rtt_calc_interval.as_nanos() as f64 * cfg.jitter) as u64;
            let jitter = if spread == 0 { 0 } else { self.rng.random_range(0..spread) };
            self.next_probe = now + cfg.min_rtt_calc_interval + SimDuration(jitter);
        }
        self.update(cfg, now);
    }

    /// Interval boundaries passed by `now`: a new limit, or a new baseline.
    fn update(&mut self, cfg: &AdaptiveConfig, now: SimTime) {
        if self.probing.is_some() {
            return;
        }
        if now >= self.next_probe {
            self.probing = Some(self.limit);
            self.limit = f64::from(cfg.min_concurrency);
            self.samples.clear();
            self.epoch = now;
            self.at_floor = 0;
            return;
        }
        if now < self.next_update {
            return;
        }
        self.next_update = now + cfg.interval;
        let (Some(min_rtt), false) = (self.min_rtt, self.samples.is_empty()) else { return };
        let sample = quantile(&mut self.samples, cfg.percentile).max(1) as f64;
        self.samples.clear();
        let gradient = (min_rtt as f64 * (1.0 + cfg.buffer) / sample).clamp(0.5, 2.0);
        let limit = gradient * self.limit;
        let old = self.limit();
        self.limit = (limit + limit.sqrt()).clamp(f64::from(cfg.min_concurrency), f64::from(cfg.max_concurrency));
        let floor = cfg.min_concurrency;
        self.at_floor = if old == floor && self.limit() == floor { self.at_floor + 1 } else { 0 };
        if self.at_floor >= 5 {
            // Envoy's `updateConcurrencyLimit`: measure the baseline again now.
            self.next_probe = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rng() -> ChaCha8Rng {
        rand::SeedableRng::seed_from_u64(7)
    }

    fn ms(x: u64) -> SimDuration {
        SimDuration::from_millis(x)
    }

    /// A controller past its first baseline (10 ms), at `limit`.
    fn with_baseline(cfg: &AdaptiveConfig, limit: f64) -> AdaptiveLimit {
        let mut a = AdaptiveLimit::new(cfg, rng());
        a.min_rtt = Some(ms(10).as_nanos());
        a.probing = None;
        a.limit = limit;
        a
    }

    /// A fresh controller whose first baseline (10 ms samples) ends at `end`.
    fn measured_at(cfg: &AdaptiveConfig, rng: ChaCha8Rng, end: SimTime) -> AdaptiveLimit {
        let mut a = AdaptiveLimit::new(cfg, rng);
        for _ in 0..cfg.request_count {
            assert!(a.try_acquire(cfg, end));
            a.release(cfg, end, ms(10));
        }
        assert!(a.probing.is_none(), "the first baseline is measured");
        a
    }

    #[test]
    fn it_measures_the_baseline_at_min_concurrency_first() {
        let cfg = AdaptiveConfig::default();
        let mut a = AdaptiveLimit::new(&cfg, rng());
        assert_eq!(a.limit(), 3);
        assert!(a.try_acquire(&cfg, SimTime::ZERO));
        assert!(a.try_acquire(&cfg, SimTime::ZERO));
        assert!(a.try_acquire(&cfg, SimTime::ZERO));
        assert!(!a.try_acquire(&cfg, SimTime::ZERO), "the fourth waits for the baseline");
        for k in 0..50 {
            a.release(&cfg, SimTime(k), ms(10));
            assert!(a.try_acquire(&cfg, SimTime(k)));
        }
        assert_eq!(a.min_rtt, Some(ms(10).as_nanos()));
    }

    #[test]
    fn the_limit_grows_while_latency_stays_at_the_baseline_and_shrinks_when_it_doubles() {
        let cfg = AdaptiveConfig::default();
        let mut a = with_baseline(&cfg, f64::from(cfg.min_concurrency));
        let mut now = SimTime::ZERO;
        // At the baseline: gradient 1.25 until the clamp, plus headroom.
        for _ in 0..20 {
            now += ms(100);
            a.in_flight = 1;
            a.release(&cfg, now, ms(10));
        }
        let grown = a.limit();
        assert!(grown > 100, "{grown}");
        // Latency at 4x the baseline: the gradient is clamped at 0.5.
        now += ms(100);
        a.in_flight = 1;
        a.release(&cfg, now, ms(40));
        let l = grown as f64 * 0.5;
        assert_eq!(a.limit(), (l + l.sqrt()) as u32);
    }

    #[test]
    fn the_next_baseline_starts_an_interval_after_this_one_plus_jitter() {
        // Envoy: "if the interval is 10s and the jitter is 15%, the next
        // window will begin somewhere in the range (10s - 11.5s)".
        let cfg = AdaptiveConfig { min_rtt_calc_interval: ms(10_000), ..Default::default() };
        let end = SimTime::ZERO + ms(500);
        let starts: Vec<SimTime> =
            (0..20).map(|seed| measured_at(&cfg, rand::SeedableRng::seed_from_u64(seed), end).next_probe).collect();
        let (from, to) = (SimTime::ZERO + ms(10_500), SimTime::ZERO + ms(12_000));
        assert!(starts.iter().all(|t| (from..to).contains(t)), "{starts:?}");
        assert!(starts.iter().any(|t| *t != starts[0]), "callers' baselines do not start together");
        let none = AdaptiveConfig { jitter: 0.0, ..cfg };
        assert_eq!(measured_at(&none, rng(), end).next_probe, from, "no jitter: exactly one interval later");
    }

    #[test]
    fn five_intervals_at_the_floor_measure_the_baseline_again() {
        let cfg = AdaptiveConfig::default();
        let mut a = with_baseline(&cfg, 20.0);
        let mut now = SimTime::ZERO;
        // The service is ten times slower for good: the limit halves down to
        // the floor (3), then sits there.
        let mut at_floor = 0;
        while a.probing.is_none() {
            now += ms(100);
            a.in_flight = 1;
            a.release(&cfg, now, ms(100));
            if a.probing.is_none() && a.limit() == 3 {
                at_floor += 1;
            }
            assert!(now < SimTime::ZERO + ms(5_000), "no new baseline long before the 60 s interval");
        }
        // Five intervals set the floor again after the one that first reached it.
        assert_eq!(at_floor, 6, "the baseline is measured again after five intervals at the floor");
        assert_eq!(a.limit(), 3);
    }

    #[test]
    fn a_request_sent_before_the_baseline_window_is_no_sample() {
        let cfg = AdaptiveConfig::default();
        let mut a = with_baseline(&cfg, 20.0);
        // Sent at 59.9 s, before the window that opens at 60 s.
        let mut now = SimTime::ZERO + ms(59_900);
        assert!(a.try_acquire(&cfg, now));
        now = SimTime::ZERO + ms(60_000);
        assert!(a.try_acquire(&cfg, now), "the window opens, at min_concurrency");
        assert_eq!((a.probing, a.limit()), (Some(20.0), 3));
        // 49 fresh samples and the old request's: not yet the 50 the baseline needs.
        // Each fresh one sent within the window (10 ms before it ends).
        for k in 0..49 {
            a.release(&cfg, now + ms(10 + k), ms(10));
            assert!(a.try_acquire(&cfg, now + ms(10 + k)));
        }
        a.release(&cfg, now + ms(150), ms(250));
        assert!(a.probing.is_some(), "the request from before the window was not counted");
        a.release(&cfg, now + ms(160), ms(10));
        assert_eq!((a.probing, a.min_rtt, a.limit()), (None, Some(ms(10).as_nanos()), 20));
    }

    proptest! {
        // The limit always stays within [min_concurrency, max_concurrency]
        // and requests in flight never exceed the limit they were admitted under.
        #[test]
        fn the_limit_stays_in_bounds(
            rtts in proptest::collection::vec((1u64..200, 0u64..50, any::<bool>()), 1..500),
        ) {
            let cfg = AdaptiveConfig { max_concurrency: 40, ..Default::default() };
            let mut a = AdaptiveLimit::new(&cfg, rng());
            let mut now = SimTime::ZERO;
            let mut held = 0u32;
            for (rtt, step, acquire) in rtts {
                now += ms(step);
                if acquire || held == 0 {
                    if a.try_acquire(&cfg, now) { held += 1; }
                } else {
                    a.release(&cfg, now, ms(rtt));
                    held -= 1;
                }
                prop_assert!((3..=40).contains(&a.limit()), "{}", a.limit());
                prop_assert!(a.in_flight == held);
            }
        }
    }
}
