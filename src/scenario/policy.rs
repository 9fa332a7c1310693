//! Converting the file's distributions and policies into model values.

use crate::engine::dist::Dist;
use crate::engine::time::SimDuration;
use crate::mechanisms::adaptive::AdaptiveConfig;
use crate::mechanisms::backoff::{Backoff, Jitter};
use crate::mechanisms::breaker::{BreakerConfig, BreakerWindow};
use crate::mechanisms::budget::BudgetConfig;
use crate::mechanisms::outlier::{FailurePercentage, OutlierConfig, SuccessRate};
use crate::mechanisms::thresholds::{RetryBudgetPct, ThresholdsConfig};
use crate::model::config::{Fallback, Hedge, Policy, RetryPolicy};
use crate::model::outcome::{Outcome, OutcomeSet};

use super::raw;

/// Most retries one edge may make per call; beyond this is a typo.
const MAX_RETRIES: u32 = 100;
/// Envoy's `healthy_panic_threshold` default, in percent.
const DEFAULT_PANIC_THRESHOLD: f64 = 50.0;
/// Most extra hedged copies of one call.
const MAX_HEDGES: u32 = 7;

/// Converts a distribution; `Err` says what is wrong with it.
pub fn dist(d: &raw::Dist) -> Result<Dist, String> {
    Ok(match d {
        raw::Dist::Const(v) => Dist::Const(v.0),
        raw::Dist::Exp { mean } => Dist::Exp { mean_ns: mean.0.as_nanos() as f64 },
        raw::Dist::Uniform { min, max } => {
            if min > max {
                return Err(format!("Uniform has min {} above max {}: swap them", min.0, max.0));
            }
            Dist::Uniform { min_ns: min.0.as_nanos(), max_ns: max.0.as_nanos() }
        }
        raw::Dist::LogNormal { median, p99 } => {
            if median.0.is_zero() || p99 <= median {
                return Err(format!(
                    "LogNormal needs 0 < median < p99 (got median {}, p99 {}): the p99 is the slow tail, above the median",
                    median.0, p99.0
                ));
            }
            Dist::lognormal(median.0, p99.0)
        }
        raw::Dist::Mixture(parts) => {
            if parts.is_empty() {
                return Err("Mixture is empty: give (weight, distribution) pairs".into());
            }
            let total: f64 = parts.iter().map(|(w, _)| w.0).sum();
            if (total - 1.0).abs() > 1e-6 {
                return Err(format!("Mixture weights add up to {total}, not 1.0: they are probabilities"));
            }
            let mut cumulative = 0.0;
            let mut out = Vec::with_capacity(parts.len());
            for (i, (w, d)) in parts.iter().enumerate() {
                cumulative += w.0 / total;
                let c = if i + 1 == parts.len() { 1.0 } else { cumulative };
                out.push((c, dist(d)?));
            }
            Dist::Mixture(out)
        }
    })
}

/// Envoy's panic threshold (percent, `None`: never panics) and whether
/// panic fails the traffic instead of spreading it over every target.
fn panic(p: &raw::Policy, outlier: bool, problems: &mut Vec<String>) -> (Option<f64>, bool) {
    // Envoy's default is 50%; a policy without outlier detection has
    // nothing that Envoy would eject, unless it is a balancer's.
    let threshold = match p.healthy_panic_threshold {
        Some(t) if t.0 > 100.0 => {
            problems.push(format!("healthy_panic_threshold {} is a percentage: at most 100", t.0));
            None
        }
        Some(t) => (t.0 > 0.0).then_some(t.0),
        None => outlier.then_some(DEFAULT_PANIC_THRESHOLD),
    };
    if p.fail_traffic_on_panic && threshold.is_none() {
        problems.push(
            "fail_traffic_on_panic without a panic threshold does nothing: set healthy_panic_threshold \
             (outlier_detection sets Envoy's 50 by default)"
                .into(),
        );
    }
    (threshold, p.fail_traffic_on_panic)
}

/// Converts a policy; problems are returned as messages for the caller to place.
pub fn policy(p: &raw::Policy, problems: &mut Vec<String>) -> Policy {
    let mut out = Policy {
        timeout: p.timeout.map(|t| t.0),
        detach: !p.propagate_cancel.unwrap_or(true),
        start_deadline: p.propagate_deadline.unwrap_or(false),
        total_timeout: p.total_timeout.map(|t| t.0),
        cluster: p.cluster.clone(),
        ..Policy::default()
    };
    if out.total_timeout == Some(SimDuration::ZERO) {
        problems.push("total_timeout is 0: every call would time out at once; leave it out for none".into());
    }
    if out.start_deadline && out.timeout.is_none() {
        problems.push("propagate_deadline needs a timeout: the deadline is this caller's timeout".into());
    }
    if out.timeout == Some(SimDuration::ZERO) {
        problems.push("timeout is 0: every call would time out at once; leave it out for no timeout".into());
    }
    out.retry = p.retries.as_ref().map(|r| retries(r, problems));
    if let Some(b) = &p.breaker {
        out.breaker = Some(breaker(b, problems));
    }
    out.bulkhead = p.bulkhead.as_ref().map(|b| b.max_concurrent.0);
    out.bulkhead_trips_breaker = p.bulkhead.as_ref().is_some_and(|b| b.trips_breaker);
    if out.bulkhead_trips_breaker && out.breaker.is_none() {
        problems.push("bulkhead trips_breaker needs a breaker on the same policy".into());
    }
    if let Some(h) = &p.hedge {
        if h.max_extra.0 > MAX_HEDGES {
            problems.push(format!("hedge max_extra {} is more than {MAX_HEDGES}", h.max_extra.0));
        }
        out.hedge = Some(Hedge { after: h.after.0, max_extra: h.max_extra.0.min(MAX_HEDGES) });
    }
    if let Some(t) = &p.thresholds {
        out.thresholds = Some(thresholds(t, problems));
    }
    if let Some(o) = &p.outlier_detection {
        out.outlier = Some(outlier(o, problems));
    }
    if let Some(a) = &p.adaptive_concurrency {
        out.adaptive = Some(adaptive(a, problems));
    }
    (out.panic_threshold, out.fail_on_panic) = panic(p, out.outlier.is_some(), problems);
    if let Some(f) = &p.fallback {
        let (cached, latency) = match f {
            raw::Fallback::Cached { latency } => (true, latency),
            raw::Fallback::Static { latency } => (false, latency),
        };
        match dist(latency) {
            Ok(latency) => out.fallback = Some(Fallback { cached, latency }),
            Err(e) => problems.push(format!("fallback latency: {e}")),
        }
    }
    out
}

fn retries(r: &raw::Retries, problems: &mut Vec<String>) -> RetryPolicy {
    if r.max > MAX_RETRIES {
        problems.push(format!("retries max {} is more than {MAX_RETRIES}", r.max));
    }
    if let Some(b) = &r.budget {
        if b.ratio.0 > 1000.0 {
            problems.push(format!("retry budget ratio {} is above 1000", b.ratio.0));
        }
        if b.ttl.is_some_and(|t| t.0 < SimDuration::from_secs(1)) {
            problems.push("retry budget ttl must be at least 1s".into());
        }
    }
    RetryPolicy {
        max: r.max.min(MAX_RETRIES),
        backoff: backoff(r.backoff.as_ref(), problems),
        budget: r.budget.as_ref().map(|b| BudgetConfig {
            ratio: b.ratio.0,
            min_per_s: b.min_per_s.unwrap_or(10),
            ttl: b.ttl.map_or(SimDuration::from_secs(10), |t| t.0),
        }),
        on: retry_on(r.on.as_deref()),
        on_answered: retry_on_answered(r.on.as_deref()),
        other_host: r.other_host.unwrap_or(false),
    }
}

fn backoff(b: Option<&raw::Backoff>, problems: &mut Vec<String>) -> Backoff {
    match b {
        None | Some(raw::Backoff::None) => Backoff::None,
        Some(raw::Backoff::Constant(d)) => Backoff::Constant(d.0),
        Some(raw::Backoff::Exponential { base, cap, jitter }) => {
            if base > cap {
                problems.push(format!("backoff base {} is above its cap {}", base.0, cap.0));
            }
            if base.0.is_zero() {
                problems.push("backoff base is 0: use backoff: None for immediate retries".into());
            }
            let jitter = match jitter.unwrap_or(raw::Jitter::None) {
                raw::Jitter::None => Jitter::None,
                raw::Jitter::Full => Jitter::Full,
                raw::Jitter::Equal => Jitter::Equal,
                raw::Jitter::Decorrelated => Jitter::Decorrelated,
            };
            Backoff::Exponential { base: base.0, cap: cap.0.max(base.0), jitter }
        }
        Some(raw::Backoff::Envoy { base, max }) => {
            let base = base.map_or(SimDuration::from_millis(25), |b| b.0);
            let max = max.map_or(SimDuration(base.0.saturating_mul(10)), |m| m.0);
            if base.is_zero() {
                problems.push("Envoy back-off base is 0: it must be greater than zero (Envoy's rule)".into());
            }
            if max < base {
                problems.push(format!("Envoy back-off max {max} is below its base {base} (Envoy's rule)"));
            }
            Backoff::Envoy { base, max: max.max(base) }
        }
    }
}

/// Default: Error, Timeout, Unavailable (Envoy's 5xx, reset and
/// connect-failure, less the overloaded 503s). An overloaded 503 (full
/// queue, bulkhead, open breaker) is not retried unless `Overloaded` (or
/// `Rejected`, for a full queue or bulkhead only) is listed, or, when the
/// callee answered it, one of Envoy's classes `Http5xx` or `GatewayError`
/// (see `retry_on_answered`).
fn retry_on(on: Option<&[raw::RetryOn]>) -> OutcomeSet {
    let Some(list) = on else {
        return OutcomeSet::of(&[Outcome::Error, Outcome::Timeout, Outcome::Unavailable]);
    };
    let mut set = OutcomeSet::default();
    for o in list {
        match o {
            raw::RetryOn::Error => set.insert(Outcome::Error),
            raw::RetryOn::Timeout => set.insert(Outcome::Timeout),
            raw::RetryOn::Rejected => set.insert(Outcome::Rejected),
            raw::RetryOn::Unavailable => set.insert(Outcome::Unavailable),
            raw::RetryOn::RateLimited => set.insert(Outcome::RateLimited),
            raw::RetryOn::Overloaded => {
                set.insert(Outcome::Rejected);
                set.insert(Outcome::ShortCircuited);
            }
            // Envoy's classes. `5xx`: any 5xx or no answer (reset, timeout,
            // connect failure); its overloaded 503s are in `retry_on_answered`.
            raw::RetryOn::Http5xx => {
                set.insert(Outcome::Error);
                set.insert(Outcome::Timeout);
                set.insert(Outcome::Unavailable);
            }
            // `gateway-error`: 502, 503, 504: the callee could not be reached or timed out.
            raw::RetryOn::GatewayError => {
                set.insert(Outcome::Timeout);
                set.insert(Outcome::Unavailable);
            }
            // `reset`: no answer at all (disconnect, reset, read timeout).
            raw::RetryOn::Reset => {
                set.insert(Outcome::Timeout);
                set.insert(Outcome::Unavailable);
            }
            raw::RetryOn::ConnectFailure => set.insert(Outcome::Unavailable),
            // `retriable-4xx` is 409 Conflict, which no gatesim node answers.
            raw::RetryOn::Retriable4xx => {}
        }
    }
    set
}

/// Overloaded 503s retried only when the callee answered them. Envoy
/// retries a 503 carrying `x-envoy-overloaded` under `5xx` and
/// `gateway-error` since 1.15 (envoyproxy/envoy PR 10847; the router
/// docs: "Envoy retries requests when x-envoy-overloaded is present"), but
/// never its own local overflow (`wouldRetryFromReset` refuses
/// `StreamResetReason::Overflow`): the caller's own breaker, bulkhead or
/// connection pool refusing an attempt is not retried under these classes.
fn retry_on_answered(on: Option<&[raw::RetryOn]>) -> OutcomeSet {
    let envoy = on.unwrap_or_default().iter().any(|o| matches!(o, raw::RetryOn::Http5xx | raw::RetryOn::GatewayError));
    if envoy { OutcomeSet::of(&[Outcome::Rejected, Outcome::ShortCircuited]) } else { OutcomeSet::default() }
}

fn breaker(b: &raw::Breaker, problems: &mut Vec<String>) -> BreakerConfig {
    let window = match b.window {
        raw::Window::Count(n) => BreakerWindow::Count(n.0),
        raw::Window::Time(d) => {
            let ns = d.0.as_nanos();
            if ns == 0 || ns % 1_000_000_000 != 0 {
                problems.push(format!(
                    "breaker window Time({}) must be a whole number of seconds (resilience4j keeps 1-second buckets)",
                    d.0
                ));
            }
            BreakerWindow::Time(SimDuration::from_secs((ns / 1_000_000_000).max(1)))
        }
    };
    if b.failure_rate.0 == 0.0 {
        problems.push("breaker failure_rate 0 would open on the first result: use a share in (0, 1]".into());
    }
    if b.slow_call_rate.is_some_and(|r| r.0 == 0.0) {
        problems.push("breaker slow_call_rate 0 would open on any result: use a share in (0, 1]".into());
    }
    if b.open_for.0.is_zero() {
        problems.push("breaker open_for is 0: it must stay open for some time".into());
    }
    BreakerConfig {
        window,
        min_calls: b.min_calls.0,
        failure_rate: b.failure_rate.0.max(f64::MIN_POSITIVE),
        slow_call: b.slow_call.map(|d| d.0),
        slow_call_rate: b.slow_call_rate.map_or(1.0, |r| r.0.max(f64::MIN_POSITIVE)),
        open_for: b.open_for.0,
        half_open_calls: b.half_open_calls.0,
    }
}

/// Envoy's thresholds, with Envoy's default for every field left out.
fn thresholds(t: &raw::Thresholds, problems: &mut Vec<String>) -> ThresholdsConfig {
    let d = ThresholdsConfig::default();
    let retry_budget = t.retry_budget.as_ref().map(|b| {
        let d = RetryBudgetPct::default();
        let budget_percent = b.budget_percent.map_or(d.budget_percent, |p| p.0);
        if budget_percent > 100.0 {
            problems.push(format!("retry_budget budget_percent {budget_percent} is above 100: it is a percentage"));
        }
        RetryBudgetPct {
            budget_percent,
            min_retry_concurrency: b.min_retry_concurrency.unwrap_or(d.min_retry_concurrency),
        }
    });
    if t.retry_budget.is_some() && t.max_retries.is_some() {
        problems
            .push("thresholds has both max_retries and retry_budget: Envoy ignores max_retries then; keep one".into());
    }
    ThresholdsConfig {
        max_connections: t.max_connections.unwrap_or(d.max_connections),
        max_pending_requests: t.max_pending_requests.unwrap_or(d.max_pending_requests),
        max_requests: t.max_requests.unwrap_or(d.max_requests),
        max_retries: t.max_retries.unwrap_or(d.max_retries),
        retry_budget,
    }
}

/// Whether an `enforcing_*` percentage turns its detector on (`None`: the
/// Envoy default `on`). gatesim enforces all or nothing.
fn enforced(name: &str, value: Option<u32>, on: bool, problems: &mut Vec<String>) -> bool {
    match value {
        None => on,
        Some(0) => false,
        Some(100) => true,
        Some(v) => {
            problems.push(format!("{name} is {v}: gatesim enforces a detector fully or not at all (100 or 0)"));
            v > 0
        }
    }
}

/// Envoy's outlier detection, with Envoy's default for every field left out.
fn outlier(o: &raw::OutlierDetection, problems: &mut Vec<String>) -> OutlierConfig {
    let d = OutlierConfig::default();
    let positive = |name: &str, v: Option<super::units::Dur>, default: SimDuration, problems: &mut Vec<String>| {
        let v = v.map_or(default, |x| x.0);
        if v.is_zero() {
            problems.push(format!("outlier_detection {name} is 0: it must be more than 0"));
        }
        v.max(SimDuration(1))
    };
    let (sr, fp) = (SuccessRate::default(), FailurePercentage::default());
    let five = enforced("enforcing_consecutive_5xx", o.enforcing_consecutive_5xx, true, problems);
    let gateway =
        enforced("enforcing_consecutive_gateway_failure", o.enforcing_consecutive_gateway_failure, false, problems);
    let rate = enforced("enforcing_success_rate", o.enforcing_success_rate, true, problems);
    let pct = enforced("enforcing_failure_percentage", o.enforcing_failure_percentage, false, problems);
    let base = positive("base_ejection_time", o.base_ejection_time, d.base_ejection_time, problems);
    OutlierConfig {
        consecutive_5xx: five.then(|| o.consecutive_5xx.unwrap_or(5).max(1)),
        consecutive_gateway_failure: gateway.then(|| o.consecutive_gateway_failure.unwrap_or(5).max(1)),
        success_rate: rate.then(|| SuccessRate {
            minimum_hosts: o.success_rate_minimum_hosts.unwrap_or(sr.minimum_hosts),
            request_volume: o.success_rate_request_volume.unwrap_or(sr.request_volume),
            stdev_factor: o.success_rate_stdev_factor.map_or(sr.stdev_factor, |f| f64::from(f) / 1000.0),
        }),
        failure_percentage: pct.then(|| FailurePercentage {
            threshold: o.failure_percentage_threshold.map_or(fp.threshold, |t| t.0.min(100.0)),
            minimum_hosts: o.failure_percentage_minimum_hosts.unwrap_or(fp.minimum_hosts),
            request_volume: o.failure_percentage_request_volume.unwrap_or(fp.request_volume),
        }),
        interval: positive("interval", o.interval, d.interval, problems),
        base_ejection_time: base,
        max_ejection_time: o.max_ejection_time.map_or(d.max_ejection_time, |m| m.0).max(base),
        max_ejection_percent: o.max_ejection_percent.map_or(d.max_ejection_percent, |p| p.0.min(100.0)),
        always_eject_one_host: o.always_eject_one_host.unwrap_or(d.always_eject_one_host),
    }
}

/// Envoy's gradient controller, with its default for every field left out.
pub(super) fn adaptive(a: &raw::AdaptiveConcurrency, problems: &mut Vec<String>) -> AdaptiveConfig {
    let d = AdaptiveConfig::default();
    let c = AdaptiveConfig {
        interval: a.concurrency_update_interval.map_or(d.interval, |x| x.0),
        percentile: a.sample_aggregate_percentile.map_or(d.percentile, |x| x.0),
        buffer: a.buffer.map_or(d.buffer, |x| x.0),
        jitter: a.jitter.map_or(d.jitter, |x| x.0),
        min_rtt_calc_interval: a.min_rtt_calc_interval.map_or(d.min_rtt_calc_interval, |x| x.0),
        request_count: a.request_count.unwrap_or(d.request_count),
        min_concurrency: a.min_concurrency.unwrap_or(d.min_concurrency),
        max_concurrency: a.max_concurrency_limit.unwrap_or(d.max_concurrency),
    };
    if c.interval.is_zero() || c.min_rtt_calc_interval.is_zero() {
        problems.push("adaptive_concurrency intervals must be more than 0".into());
    }
    if c.request_count == 0 || c.min_concurrency == 0 || c.max_concurrency < c.min_concurrency {
        problems.push(
            "adaptive_concurrency needs request_count >= 1 and 1 <= min_concurrency <= max_concurrency_limit".into(),
        );
    }
    if c.percentile == 0.0 {
        problems.push("adaptive_concurrency sample_aggregate_percentile must be more than 0".into());
    }
    c
}
