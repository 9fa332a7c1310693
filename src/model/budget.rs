//! What a run will hold in memory, estimated from the model before it runs,
//! so that `validate` can refuse a scenario that would not fit instead of
//! letting it abort half-way. Only what grows with the scenario's numbers
//! is counted (time series, per-user state, breaker windows, retry budgets,
//! closed-loop users); what is in flight is bounded by `max_in_flight`.

use crate::engine::keyed::Keyed;
use crate::engine::time::SimTime;
use crate::mechanisms::breaker::Breaker;
use crate::mechanisms::budget::RetryBudget;
use crate::mechanisms::rate_limit::LimitState;

use super::config::{Auth, LimitScope, Load, ModelConfig, NodeKind};

/// Most time buckets, most rows (buckets x nodes) and most nodes of a
/// run's time series, checked before a run and on results read back.
pub const MAX_BUCKETS: u64 = 1_000_000;
pub const MAX_ROWS: u64 = 2_000_000;
pub const MAX_NODES: usize = 10_000;

/// Bytes per time-series row: the row itself, its CSV line and a share of
/// the pictures' copy.
const ROW_BYTES: u64 = 400;
/// Bytes per closed-loop user: its pending arrival and its call.
const CLOSED_USER_BYTES: u64 = 256;

/// One part of the estimate, for the message that refuses a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryItem {
    pub what: &'static str,
    pub bytes: u64,
}

/// The estimate, largest part first.
pub fn estimate(cfg: &ModelConfig) -> Vec<MemoryItem> {
    let mut items = vec![
        MemoryItem { what: "time series", bytes: time_series(cfg) },
        MemoryItem { what: "per-user rate-limit and token-cache state", bytes: per_user(cfg) },
        MemoryItem { what: "breaker windows", bytes: per_edge(cfg, |p| p.breaker.as_ref().map(Breaker::memory_bytes)) },
        MemoryItem {
            what: "retry budgets",
            bytes: per_edge(cfg, |p| p.retry.as_ref().and_then(|r| r.budget.as_ref()).map(RetryBudget::memory_bytes)),
        },
        MemoryItem { what: "adaptive concurrency samples", bytes: adaptive(cfg) },
        MemoryItem { what: "closed-loop users", bytes: closed_users(cfg) },
        MemoryItem {
            what: "traced requests' spans",
            bytes: super::trace::memory_bytes(cfg.trace, requests(cfg), cfg.nodes.len()),
        },
    ];
    items.retain(|i| i.bytes > 0);
    items.sort_by_key(|i| std::cmp::Reverse(i.bytes));
    items
}

pub fn total(items: &[MemoryItem]) -> u64 {
    items.iter().fold(0u64, |t, i| t.saturating_add(i.bytes))
}

fn time_series(cfg: &ModelConfig) -> u64 {
    let buckets = cfg.duration.as_nanos().div_ceil(cfg.resolution.as_nanos().max(1));
    buckets.saturating_mul(cfg.nodes.len() as u64).saturating_mul(ROW_BYTES)
}

/// The open-loop clients' highest total rate, in requests per second
/// (closed-loop users are bounded by their number instead).
pub fn peak_open_rps(cfg: &ModelConfig) -> f64 {
    cfg.nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Clients(c) => open_rps(&c.load),
            _ => None,
        })
        .sum()
}

/// Events per simulated second that no client request causes: health-check
/// probes (a probe and its answer, per balancer and target, every
/// interval), random-chaos episodes (a start and an end per target,
/// every mtbf + mttr on average) and outlier-detection sweeps. A lower
/// bound, like the clients' count.
pub fn background_events_per_s(cfg: &ModelConfig) -> f64 {
    let probes: f64 = cfg
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Balancer(b) => b.health_check.map(|hc| {
                let targets = cfg.edges[b.edge as usize].targets.len() as f64;
                2.0 * targets / hc.interval.as_secs_f64().max(1e-9)
            }),
            _ => None,
        })
        .sum();
    let chaos = cfg
        .chaos
        .as_ref()
        .map_or(0.0, |c| 2.0 * c.targets.len() as f64 / (c.mtbf.as_secs_f64() + c.mttr.as_secs_f64()).max(1e-9));
    // Outlier sweeps: one per calling instance and edge state every interval.
    let sweeps: f64 = cfg
        .edges
        .iter()
        .filter_map(|e| {
            let o = e.policy.outlier?;
            let sweeps = o.success_rate.is_some() || o.failure_percentage.is_some();
            let own = e.shares_with.is_none();
            (sweeps && own).then(|| f64::from(cfg.nodes[e.from as usize].replicas) / o.interval.as_secs_f64().max(1e-9))
        })
        .sum();
    probes + chaos + sweeps
}

/// An open-loop load's highest rate (`None` for closed-loop users).
pub fn open_rps(load: &Load) -> Option<f64> {
    match load {
        Load::Poisson { rps } => Some(*rps),
        Load::Profile(steps) => Some(steps.iter().map(|s| s.1).fold(0.0, f64::max)),
        Load::Closed { .. } => None,
    }
}

/// Requests the clients may issue over the run (an upper estimate), which
/// bounds the number of distinct users a sparse store can see.
fn requests(cfg: &ModelConfig) -> u64 {
    let secs = cfg.duration.as_secs_f64();
    let per_client = |load: &Load| -> f64 {
        match (open_rps(load), load) {
            (Some(rps), _) => rps * secs,
            (None, Load::Closed { users, .. }) => f64::from(*users) * secs.max(1.0),
            (None, _) => 0.0,
        }
    };
    let total: f64 = cfg
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Clients(c) => Some(per_client(&c.load)),
            _ => None,
        })
        .sum();
    if total.is_finite() { total.min(u64::MAX as f64) as u64 } else { u64::MAX }
}

fn per_user(cfg: &ModelConfig) -> u64 {
    let users = cfg.total_users();
    let seen = requests(cfg);
    let limit_state = Keyed::<LimitState>::memory_bytes(users, seen);
    let token_cache = Keyed::<SimTime>::memory_bytes(users, seen);
    let mut bytes = 0u64;
    for node in &cfg.nodes {
        let NodeKind::Gateway(g) = &node.kind else { continue };
        let replicas = u64::from(node.replicas);
        for l in g.rate_limits.iter().filter(|l| matches!(l.scope, LimitScope::PerUser)) {
            // Local state per replica, or one cluster-wide store.
            let copies = if l.store.is_some() { 1 } else { replicas };
            bytes = bytes.saturating_add(limit_state.saturating_mul(copies));
        }
        if matches!(g.auth, Auth::Remote { .. }) {
            bytes = bytes.saturating_add(token_cache.saturating_mul(replicas));
        }
    }
    bytes
}

/// `per_caller(policy)` bytes for every calling instance of every edge.
fn per_edge(cfg: &ModelConfig, per_caller: impl Fn(&super::config::Policy) -> Option<u64>) -> u64 {
    cfg.edges
        .iter()
        .filter_map(|e| {
            let callers = u64::from(cfg.nodes[e.from as usize].replicas);
            per_caller(&e.policy).map(|b| b.saturating_mul(callers))
        })
        .fold(0u64, u64::saturating_add)
}

/// Adaptive concurrency controllers: one per caller instance and edge on
/// a policy, one per instance on a sidecar or a gateway.
fn adaptive(cfg: &ModelConfig) -> u64 {
    let one = crate::mechanisms::adaptive::AdaptiveLimit::memory_bytes();
    let sidecars: u64 = cfg
        .nodes
        .iter()
        .filter(|n| match &n.kind {
            NodeKind::Service(s) => s.inbound_adaptive.is_some(),
            NodeKind::Gateway(g) => g.inbound_adaptive.is_some(),
            _ => false,
        })
        .map(|n| u64::from(n.replicas))
        .fold(0u64, u64::saturating_add);
    per_edge(cfg, |p| p.adaptive.as_ref().map(|_| one)).saturating_add(sidecars.saturating_mul(one))
}

fn closed_users(cfg: &ModelConfig) -> u64 {
    cfg.nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Clients(c) => match c.load {
                Load::Closed { users, .. } => Some(u64::from(users).saturating_mul(CLOSED_USER_BYTES)),
                _ => None,
            },
            _ => None,
        })
        .fold(0u64, u64::saturating_add)
}
