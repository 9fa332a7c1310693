//! Converting the file's distributions and policies into model values.

use crate::engine::dist::Dist;
use crate::engine::time::SimDuration;
use crate::mechanisms::backoff::{Backoff, Jitter};
use crate::mechanisms::breaker::{BreakerConfig, BreakerWindow};
use crate::mechanisms::budget::BudgetConfig;
use crate::mechanisms::thresholds::{RetryBudgetPct, ThresholdsConfig};
use crate::model::config::{Fallback, Hedge, Policy, RetryPolicy};
use crate::model::outcome::{Outcome, OutcomeSet};

use super::raw;

/// Most retries one edge may make per call; beyond this is a typo.
const MAX_RETRIES: u32 = 100;
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

/// Converts a policy; problems are returned as messages for the caller to place.
pub fn policy(p: &raw::Policy, problems: &mut Vec<String>) -> Policy {
    let mut out = Policy {
        timeout: p.timeout.map(|t| t.0),
        detach: !p.propagate_cancel.unwrap_or(true),
        start_deadline: p.propagate_deadline.unwrap_or(false),
        ..Policy::default()
    };
    if out.start_deadline && out.timeout.is_none() {
        problems.push("propagate_deadline needs a timeout: the deadline is this caller's timeout".into());
    }
    if out.timeout == Some(SimDuration::ZERO) {
        problems.push("timeout is 0: every call would time out at once; leave it out for no timeout".into());
    }
    if let Some(r) = &p.retries {
        if r.max > MAX_RETRIES {
            problems.push(format!("retries max {} is more than {MAX_RETRIES}", r.max));
        }
        out.retry = Some(RetryPolicy {
            max: r.max.min(MAX_RETRIES),
            backoff: backoff(r.backoff.as_ref(), problems),
            budget: r.budget.as_ref().map(|b| BudgetConfig {
                ratio: b.ratio.0,
                min_per_s: b.min_per_s.unwrap_or(10),
                ttl: b.ttl.map_or(SimDuration::from_secs(10), |t| t.0),
            }),
            on: retry_on(r.on.as_deref()),
        });
        if let Some(b) = &r.budget {
            if b.ratio.0 > 1000.0 {
                problems.push(format!("retry budget ratio {} is above 1000", b.ratio.0));
            }
            if b.ttl.is_some_and(|t| t.0 < SimDuration::from_secs(1)) {
                problems.push("retry budget ttl must be at least 1s".into());
            }
        }
    }
    if let Some(b) = &p.breaker {
        out.breaker = Some(breaker(b, problems));
    }
    out.bulkhead = p.bulkhead.as_ref().map(|b| b.max_concurrent.0);
    if let Some(h) = &p.hedge {
        if h.max_extra.0 > MAX_HEDGES {
            problems.push(format!("hedge max_extra {} is more than {MAX_HEDGES}", h.max_extra.0));
        }
        out.hedge = Some(Hedge { after: h.after.0, max_extra: h.max_extra.0.min(MAX_HEDGES) });
    }
    if let Some(t) = &p.thresholds {
        out.thresholds = Some(thresholds(t, problems));
    }
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
    }
}

/// Default: Error, Timeout, Unavailable (Envoy's 5xx, reset and
/// connect-failure). An overloaded 503 (full queue, bulkhead, open breaker)
/// carries `x-envoy-overloaded` and is not retried unless `Overloaded` (or
/// `Rejected`, for a full queue or bulkhead only) is listed.
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
        }
    }
    set
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
