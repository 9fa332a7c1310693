//! Envoy's outlier detection: a caller ejects an upstream host from its
//! load-balancing set when the host's own results stand out, and lets it
//! back after an ejection time that grows with each ejection.
//!
//! As Envoy documents it (arch overview "Outlier detection",
//! `config.cluster.v3.OutlierDetection`), per caller and cluster:
//! - **consecutive 5xx** (default 5, enforced): that many server failures
//!   in a row (5xx, timeouts, resets) eject the host at once;
//! - **consecutive gateway failures** (default 5, *not* enforced unless
//!   set): 502/503/504 in a row;
//! - **success rate**, checked every `interval` (default 10 s): among hosts
//!   with at least `request_volume` (100) requests in the interval, when at
//!   least `minimum_hosts` (5) qualify, a host whose success rate is below
//!   mean - `stdev_factor` (1.9) x stdev is ejected;
//! - **failure percentage** (not enforced unless set): a qualifying host
//!   (`request_volume` 50, `minimum_hosts` 5) failing at least
//!   `threshold`% (85) is ejected;
//! - an ejection lasts `base_ejection_time` (30 s) x the host's ejection
//!   multiplier, at most `max_ejection_time` (300 s); each ejection adds
//!   one to the multiplier (while `multiplier x base < max + base`), and
//!   each interval timer that finds the host back for a whole interval
//!   takes one off, after that timer's ejections (Envoy's
//!   `ejectTimeBackoff`, decremented at the end of `onIntervalTimer`), so a
//!   host that fails again after a long healthy spell is ejected for
//!   `base` again. Envoy's timer runs whichever detectors are enforced;
//!   here the decrements are counted when they matter, at the next
//!   ejection, from the timer's grid (`k x interval`, k >= 1);
//! - no ejection that would put more than `max_ejection_percent` (10%) of
//!   the hosts out: `(ejected + 1) / hosts <= max`, so with the default
//!   fewer than 10 hosts eject nothing, unless `always_eject_one_host`
//!   lets the first one go (Envoy 1.27 and later; 1.31 added the flag);
//! - reaching a consecutive-failure count tries to eject and starts the
//!   count again either way; a host coming back starts both counts from
//!   zero (`onConsecutiveErrorWorker`, `checkHostForUneject` in
//!   outlier_detection_impl.cc).
//!
//! Pure: the caller reports results and sweeps; it schedules the returns.

use crate::engine::time::{SimDuration, SimTime};

/// Success-rate ejection (`success_rate_*` fields).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SuccessRate {
    pub minimum_hosts: u32,
    pub request_volume: u32,
    pub stdev_factor: f64,
}

impl Default for SuccessRate {
    fn default() -> Self {
        SuccessRate { minimum_hosts: 5, request_volume: 100, stdev_factor: 1.9 }
    }
}

/// Failure-percentage ejection (`failure_percentage_*` fields).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FailurePercentage {
    pub threshold: f64,
    pub minimum_hosts: u32,
    pub request_volume: u32,
}

impl Default for FailurePercentage {
    fn default() -> Self {
        FailurePercentage { threshold: 85.0, minimum_hosts: 5, request_volume: 50 }
    }
}

/// An `outlier_detection` block; `None` turns a detector off.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutlierConfig {
    pub consecutive_5xx: Option<u32>,
    pub consecutive_gateway_failure: Option<u32>,
    pub success_rate: Option<SuccessRate>,
    pub failure_percentage: Option<FailurePercentage>,
    pub interval: SimDuration,
    pub base_ejection_time: SimDuration,
    pub max_ejection_time: SimDuration,
    pub max_ejection_percent: f64,
    /// One host may be ejected whatever `max_ejection_percent` says.
    pub always_eject_one_host: bool,
}

/// Envoy's defaults: the detectors it enforces by default are on.
impl Default for OutlierConfig {
    fn default() -> Self {
        OutlierConfig {
            consecutive_5xx: Some(5),
            consecutive_gateway_failure: None,
            success_rate: Some(SuccessRate::default()),
            failure_percentage: None,
            interval: SimDuration::from_secs(10),
            base_ejection_time: SimDuration::from_secs(30),
            max_ejection_time: SimDuration::from_secs(300),
            max_ejection_percent: 10.0,
            always_eject_one_host: false,
        }
    }
}

/// How a result counts for the detectors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Result {
    Success,
    /// A 5xx that is not a gateway failure (a 500).
    ServerError,
    /// 502, 503, 504: a timeout, a reset, a refused connection, a 503.
    GatewayFailure,
}

#[derive(Clone, Copy, Debug, Default)]
struct Host {
    consecutive_5xx: u32,
    consecutive_gateway: u32,
    /// Successes and requests in the current interval.
    ok: u32,
    total: u32,
    /// The ejection time multiplier (Envoy's `ejectTimeBackoff`).
    multiplier: u32,
    /// Ejected until then.
    until: Option<SimTime>,
    /// Back in the set since then (its last return).
    back_since: Option<SimTime>,
}

/// One caller's detector over the hosts of one cluster.
#[derive(Clone, Debug)]
pub struct OutlierDetector {
    hosts: Vec<Host>,
}

impl OutlierDetector {
    pub fn new(hosts: usize) -> Self {
        OutlierDetector { hosts: vec![Host::default(); hosts] }
    }

    pub fn is_ejected(&self, host: usize) -> bool {
        self.hosts[host].until.is_some()
    }

    fn ejected(&self) -> usize {
        self.hosts.iter().filter(|h| h.until.is_some()).count()
    }

    /// Whether one more ejection is allowed: with it, at most
    /// `max_ejection_percent` of the hosts are out (Envoy's `ejectHost`),
    /// or it is the first and `always_eject_one_host` is set.
    fn may_eject(&self, cfg: &OutlierConfig) -> bool {
        let n = self.ejected();
        (n == 0 && cfg.always_eject_one_host)
            || ((n + 1) as f64 / self.hosts.len() as f64) * 100.0 <= cfg.max_ejection_percent
    }

    /// Ejects `host` at `now` if allowed; returns until when.
    fn eject(&mut self, cfg: &OutlierConfig, host: usize, now: SimTime) -> Option<SimTime> {
        if self.hosts[host].until.is_some() || !self.may_eject(cfg) {
            return None;
        }
        let h = &mut self.hosts[host];
        if let Some(back) = h.back_since {
            h.multiplier = h.multiplier.saturating_sub(timers_back(back, now, cfg.interval));
        }
        let (base, max) = (cfg.base_ejection_time.as_nanos(), cfg.max_ejection_time.as_nanos());
        if base.saturating_mul(u64::from(h.multiplier)) < max.saturating_add(base) {
            h.multiplier += 1;
        }
        let ns = base.saturating_mul(u64::from(h.multiplier));
        let d = SimDuration(ns.min(max.max(base)));
        let until = SimTime(now.0.saturating_add(d.as_nanos()));
        h.until = Some(until);
        Some(until)
    }

    /// A result from `host` at `now`; `Some(until)` if it ejects the host.
    pub fn record(&mut self, cfg: &OutlierConfig, host: usize, result: Result, now: SimTime) -> Option<SimTime> {
        let h = &mut self.hosts[host];
        h.total = h.total.saturating_add(1);
        if result == Result::Success {
            h.ok = h.ok.saturating_add(1);
            (h.consecutive_5xx, h.consecutive_gateway) = (0, 0);
            return None;
        }
        h.consecutive_5xx += 1;
        if result == Result::GatewayFailure {
            h.consecutive_gateway += 1;
        } else {
            h.consecutive_gateway = 0;
        }
        let five = cfg.consecutive_5xx.is_some_and(|n| h.consecutive_5xx >= n);
        let gateway = cfg.consecutive_gateway_failure.is_some_and(|n| h.consecutive_gateway >= n);
        if !(five || gateway) || h.until.is_some() {
            return None; // an ejected host's count only runs on
        }
        // Envoy tries the ejection, then starts the count that fired again,
        // whether `max_ejection_percent` let the host go or not.
        let until = self.eject(cfg, host, now);
        let h = &mut self.hosts[host];
        if five {
            h.consecutive_5xx = 0;
        }
        if gateway {
            h.consecutive_gateway = 0;
        }
        until
    }

    /// The ejection of `host` is over (its time is up): it is back, its
    /// consecutive counts from zero (Envoy: "to avoid re-ejection on very
    /// few new errors").
    pub fn release(&mut self, host: usize, now: SimTime) {
        let h = &mut self.hosts[host];
        h.until = None;
        h.back_since = Some(now);
        (h.consecutive_5xx, h.consecutive_gateway) = (0, 0);
    }

    /// The interval's sweep: success-rate and failure-percentage
    /// ejections, then a fresh interval. Returns (host, until) for each.
    pub fn sweep(&mut self, cfg: &OutlierConfig, now: SimTime) -> Vec<(usize, SimTime)> {
        let mut out = Vec::new();
        let rate = |h: &Host| f64::from(h.ok) / f64::from(h.total.max(1));
        if let Some(sr) = cfg.success_rate {
            let rates: Vec<(usize, f64)> = (0..self.hosts.len())
                .filter(|&i| self.hosts[i].until.is_none() && self.hosts[i].total >= sr.request_volume)
                .map(|i| (i, rate(&self.hosts[i])))
                .collect();
            if rates.len() >= sr.minimum_hosts as usize {
                let mean = rates.iter().map(|r| r.1).sum::<f64>() / rates.len() as f64;
                let var = rates.iter().map(|r| (r.1 - mean).powi(2)).sum::<f64>() / rates.len() as f64;
                let floor = mean - sr.stdev_factor * var.sqrt();
                for &(i, _) in rates.iter().filter(|r| r.1 < floor) {
                    out.extend(self.eject(cfg, i, now).map(|u| (i, u)));
                }
            }
        }
        if let Some(fp) = cfg.failure_percentage {
            let qualifying: Vec<usize> = (0..self.hosts.len())
                .filter(|&i| self.hosts[i].until.is_none() && self.hosts[i].total >= fp.request_volume)
                .collect();
            if qualifying.len() >= fp.minimum_hosts as usize {
                for i in qualifying {
                    if (1.0 - rate(&self.hosts[i])) * 100.0 >= fp.threshold {
                        out.extend(self.eject(cfg, i, now).map(|u| (i, u)));
                    }
                }
            }
        }
        for h in &mut self.hosts {
            (h.ok, h.total) = (0, 0);
        }
        out
    }
}

/// Interval timers (at `k x interval`, k >= 1) before `now` that found a
/// host back since `back` for a whole interval: each lowers its multiplier.
/// A timer at `now` itself is not counted: its ejections come before its
/// decrements. (Envoy returns hosts only at its timer; one back at `back`
/// here is back there at the first timer after, and the first decrement
/// comes a whole interval later, at `back + interval` or after.)
fn timers_back(back: SimTime, now: SimTime, interval: SimDuration) -> u32 {
    let i = interval.as_nanos().max(1);
    let first = back.0.saturating_add(i).div_ceil(i); // first k with k*i >= back + i
    let last = now.0.div_ceil(i).saturating_sub(1); // last k with k*i < now
    u32::try_from(last.saturating_sub(first.saturating_sub(1))).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn s(x: u64) -> SimTime {
        SimTime(x * 1_000_000_000)
    }

    /// Envoy's defaults, but any share of the hosts may be ejected (at the
    /// default 10%, fewer than ten hosts eject nothing).
    fn open() -> OutlierConfig {
        OutlierConfig { max_ejection_percent: 100.0, ..Default::default() }
    }

    #[test]
    fn five_consecutive_5xx_eject_for_base_times_the_ejections() {
        let cfg = open();
        let mut d = OutlierDetector::new(3);
        for _ in 0..4 {
            assert_eq!(d.record(&cfg, 0, Result::ServerError, s(1)), None);
        }
        // A success in between starts the count again.
        d.record(&cfg, 0, Result::Success, s(1));
        for _ in 0..4 {
            assert_eq!(d.record(&cfg, 0, Result::GatewayFailure, s(2)), None);
        }
        assert_eq!(d.record(&cfg, 0, Result::ServerError, s(2)), Some(s(32)), "30 s x 1");
        assert!(d.is_ejected(0));
        d.release(0, s(32));
        for _ in 0..4 {
            d.record(&cfg, 0, Result::ServerError, s(40));
        }
        assert_eq!(d.record(&cfg, 0, Result::ServerError, s(40)), Some(s(100)), "30 s x 2");
    }

    #[test]
    fn ejection_time_grows_with_the_ejections_up_to_max_ejection_time() {
        // Envoy: base_ejection_time x ejections, capped at max_ejection_time
        // (30 s and 300 s by default): 30, 60, ..., 300, then 300 again,
        // for a host that fails again as soon as it is back.
        let cfg = OutlierConfig { consecutive_5xx: Some(1), ..open() };
        let mut d = OutlierDetector::new(1);
        let mut lengths = Vec::new();
        let mut now = s(0);
        for _ in 0..12 {
            let until = d.record(&cfg, 0, Result::ServerError, now).expect("one 5xx ejects");
            lengths.push((until.0 - now.0) / 1_000_000_000);
            d.release(0, until);
            now = until;
        }
        assert_eq!(lengths, [30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 300, 300]);
    }

    #[test]
    fn each_interval_back_in_the_set_takes_one_off_the_multiplier() {
        // Envoy's ejectTimeBackoff: +1 per ejection while multiplier x base
        // < max + base (so at most 11 with 30 s and 300 s), -1 per interval
        // timer that finds the host back; it returns hosts at that timer,
        // so the first interval after a return does not count.
        let cfg = OutlierConfig { consecutive_5xx: Some(1), ..open() };
        let eject = |d: &mut OutlierDetector, now: SimTime| {
            let until = d.record(&cfg, 0, Result::ServerError, now).expect("one 5xx ejects");
            (until.0 - now.0) / 1_000_000_000
        };
        // No sweep is ever called: the timers are counted from their grid
        // (every 10 s), as they run in Envoy whatever is enforced.
        let mut d = OutlierDetector::new(1);
        assert_eq!(eject(&mut d, s(0)), 30);
        d.release(0, s(30));
        assert_eq!(eject(&mut d, s(36)), 60, "no timer at 40 s yet: multiplier 2");
        d.release(0, s(96));
        // Timers at 100 (back 4 s only), 110 and 120 (back a whole interval).
        assert_eq!(eject(&mut d, s(121)), 30, "two timers found it back: 2 -> 0, then +1");
        d.release(0, s(151));
        // Twenty quick ejections stop the multiplier at 11 (300 s).
        let mut now = s(200);
        for _ in 0..20 {
            now = SimTime(now.0 + eject(&mut d, now) * 1_000_000_000);
            d.release(0, now);
        }
        assert_eq!(d.hosts[0].multiplier, 11);
        // Back at `now` (on the grid): timers at now+10 s ... now+100 s.
        assert_eq!(eject(&mut d, SimTime(now.0 + 105_000_000_000)), 60, "10 timers: 11 -> 1, then +1");
        // A timer at the ejection's own instant comes after it.
        let mut d = OutlierDetector::new(1);
        eject(&mut d, s(0));
        d.release(0, s(30));
        assert_eq!(eject(&mut d, s(40)), 60, "the timer at 40 s decrements after this ejection");
    }

    #[test]
    fn gateway_failures_count_only_when_enforced() {
        let cfg = OutlierConfig { consecutive_5xx: None, consecutive_gateway_failure: Some(3), ..open() };
        let mut d = OutlierDetector::new(2);
        for _ in 0..10 {
            assert_eq!(d.record(&cfg, 0, Result::ServerError, s(1)), None, "a 500 is no gateway failure");
        }
        d.record(&cfg, 1, Result::GatewayFailure, s(1));
        d.record(&cfg, 1, Result::GatewayFailure, s(1));
        assert!(d.record(&cfg, 1, Result::GatewayFailure, s(1)).is_some());
    }

    #[test]
    fn success_rate_ejects_the_host_below_mean_minus_stdev_factor_stdevs() {
        let cfg = OutlierConfig { consecutive_5xx: None, ..open() };
        let mut d = OutlierDetector::new(6);
        for host in 0..6 {
            let ok = if host == 5 { 50 } else { 99 + host as u32 % 2 };
            for k in 0..100 {
                let r = if k < ok { Result::Success } else { Result::ServerError };
                d.record(&cfg, host, r, s(1));
            }
        }
        assert_eq!(d.sweep(&cfg, s(10)), vec![(5, s(40))]);
        // The next interval starts empty: no qualifying hosts, no ejection.
        assert!(d.sweep(&cfg, s(20)).is_empty());
    }

    #[test]
    fn failure_percentage_needs_enough_hosts_and_volume() {
        let fp = FailurePercentage { threshold: 50.0, minimum_hosts: 2, request_volume: 10 };
        let cfg = OutlierConfig { consecutive_5xx: None, success_rate: None, failure_percentage: Some(fp), ..open() };
        let mut d = OutlierDetector::new(2);
        for _ in 0..10 {
            d.record(&cfg, 0, Result::ServerError, s(1));
            d.record(&cfg, 1, Result::Success, s(1));
        }
        assert_eq!(d.sweep(&cfg, s(10)), vec![(0, s(40))]);
    }

    #[test]
    fn at_the_default_ten_percent_fewer_than_ten_hosts_eject_nothing_unless_one_always_may() {
        // Envoy 1.27+: (ejected + 1) / hosts <= max_ejection_percent.
        let fails = |cfg: &OutlierConfig, hosts: usize| {
            let mut d = OutlierDetector::new(hosts);
            (0..5).filter_map(|_| d.record(cfg, 0, Result::ServerError, s(1))).count()
        };
        let cfg = OutlierConfig::default();
        assert_eq!(fails(&cfg, 9), 0, "1 of 9 is 11%");
        assert_eq!(fails(&cfg, 10), 1, "1 of 10 is 10%");
        let one = OutlierConfig { always_eject_one_host: true, ..cfg };
        assert_eq!(fails(&one, 3), 1);
        // The second of three is 67%, over 50%, even with the flag.
        let half = OutlierConfig { max_ejection_percent: 50.0, always_eject_one_host: true, ..cfg };
        let mut d = OutlierDetector::new(3);
        for h in [0, 1] {
            for _ in 0..5 {
                d.record(&half, h, Result::ServerError, s(1));
            }
        }
        assert!(d.is_ejected(0) && !d.is_ejected(1));
    }

    #[test]
    fn a_count_that_fired_starts_again_and_a_returning_host_starts_from_zero() {
        // A refused ejection (10% of 3 hosts) starts the count again: the
        // next four failures do not try again, the fifth does.
        let cfg = OutlierConfig::default();
        let mut d = OutlierDetector::new(3);
        for _ in 0..5 {
            d.record(&cfg, 0, Result::ServerError, s(1));
        }
        assert_eq!(d.hosts[0].consecutive_5xx, 0);
        // Results of attempts still out when a host is ejected keep coming;
        // once back, it needs five new failures in a row, not one.
        let cfg = open();
        let mut d = OutlierDetector::new(3);
        for _ in 0..5 {
            d.record(&cfg, 0, Result::ServerError, s(1));
        }
        assert!(d.is_ejected(0));
        for _ in 0..10 {
            assert_eq!(d.record(&cfg, 0, Result::ServerError, s(2)), None);
        }
        d.release(0, s(31));
        for _ in 0..4 {
            assert_eq!(d.record(&cfg, 0, Result::ServerError, s(40)), None);
        }
        assert!(d.record(&cfg, 0, Result::ServerError, s(40)).is_some());
    }

    proptest! {
        // Whatever the results: at most max_ejection_percent of the hosts
        // are ejected at a time, or one if one always may be.
        #[test]
        fn ejections_respect_max_ejection_percent(
            hosts in 1usize..12, pct in 0.0f64..100.0, always in any::<bool>(),
            results in proptest::collection::vec((0usize..12, 0u8..4, any::<bool>()), 0..400),
        ) {
            let cfg = OutlierConfig {
                consecutive_5xx: Some(2), max_ejection_percent: pct, always_eject_one_host: always, ..Default::default()
            };
            let mut d = OutlierDetector::new(hosts);
            for (h, r, release) in results {
                let h = h % hosts;
                if release && d.is_ejected(h) { d.release(h, SimTime(0)); continue; }
                let r = [Result::Success, Result::ServerError, Result::GatewayFailure][r as usize % 3];
                d.record(&cfg, h, r, SimTime(0));
                let n = d.ejected();
                prop_assert!(
                    (n <= 1 && always) || (n as f64 / hosts as f64) * 100.0 <= pct,
                    "{n} of {hosts} at {pct}%"
                );
            }
        }
    }
}
