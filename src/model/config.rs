//! The validated model: plain structs the simulation runs from.
//!
//! Built by `scenario::build` from a scenario file; nothing here can be
//! invalid. Names are resolved to dense indices (`NodeId`, `InstId`,
//! `EdgeId`, `PathId`) so the hot path does no string work.

use crate::engine::dist::Dist;
use crate::engine::time::{SimDuration, SimTime};
use crate::mechanisms::backoff::Backoff;
use crate::mechanisms::balance::Balance;
use crate::mechanisms::breaker::BreakerConfig;
use crate::mechanisms::budget::BudgetConfig;
use crate::mechanisms::rate_limit::LimitConfig;
use crate::mechanisms::shed::{Priority, ShedConfig};
use crate::mechanisms::thresholds::ThresholdsConfig;

use super::outcome::OutcomeSet;

pub type NodeId = u32;
pub type InstId = u32;
pub type EdgeId = u32;
pub type PathId = u16;

#[derive(Clone, Debug)]
pub struct ModelConfig {
    pub name: String,
    pub seed: u64,
    pub duration: SimDuration,
    pub warmup: SimDuration,
    pub network: Dist,
    pub resolution: SimDuration,
    pub max_events: u64,
    /// Calls in flight at once (and `PENDING_PER_CALL` x as many live timers and messages).
    pub max_in_flight: u32,
    /// Events within one simulated millisecond.
    pub max_events_per_ms: u64,
    /// Check the world's invariants at every tick (on in debug builds; the
    /// tests turn it on in release builds too).
    pub check_invariants: bool,
    pub nodes: Vec<NodeConfig>,
    /// Every replica of every node, in node order.
    pub instances: Vec<Instance>,
    /// Every caller -> callee edge with its policy.
    pub edges: Vec<Edge>,
    /// Distinct (method, path) pairs that clients send.
    pub paths: Vec<PathInfo>,
    pub faults: Vec<FaultSpec>,
    pub chaos: Option<ChaosSpec>,
    pub slo: Slo,
    /// Share of client requests traced (`report: (trace)`), if any.
    pub trace: Option<f64>,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub name: String,
    pub kind: NodeKind,
    pub first_instance: InstId,
    pub replicas: u32,
    /// How callers spread requests over this node's replicas.
    pub balance: Balance,
}

impl ModelConfig {
    /// Distinct user ids over all clients (ids are `0..total_users()`).
    pub fn total_users(&self) -> u32 {
        self.nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Clients(c) => c.user_base.saturating_add(c.users),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }
}

/// What a server node is, with its settings: every node but Clients.
#[derive(Clone, Copy)]
pub enum Server<'a> {
    Gateway(&'a GatewayConfig),
    Service(&'a ServiceConfig),
    Balancer(&'a BalancerConfig),
}

impl ModelConfig {
    /// Node `node`'s server settings. Only servers receive requests
    /// (validation makes every reference point at a non-client node).
    #[inline]
    pub fn server(&self, node: NodeId) -> Server<'_> {
        match &self.nodes[node as usize].kind {
            NodeKind::Gateway(g) => Server::Gateway(g),
            NodeKind::Service(s) => Server::Service(s),
            NodeKind::Balancer(b) => Server::Balancer(b),
            NodeKind::Clients(_) => unreachable!("clients receive no requests (validated)"),
        }
    }

    /// The settings of Clients node `node`.
    pub fn clients(&self, node: NodeId) -> &ClientsConfig {
        match &self.nodes[node as usize].kind {
            NodeKind::Clients(c) => c,
            _ => unreachable!("a client's node is a Clients node"),
        }
    }
}

impl NodeConfig {
    pub fn is_clients(&self) -> bool {
        matches!(self.kind, NodeKind::Clients(_))
    }

    pub fn instances(&self) -> std::ops::Range<InstId> {
        self.first_instance..self.first_instance + self.replicas
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Instance {
    pub node: NodeId,
    pub replica: u32,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    Clients(ClientsConfig),
    Balancer(BalancerConfig),
    Gateway(GatewayConfig),
    Service(ServiceConfig),
}

#[derive(Clone, Debug)]
pub struct ClientsConfig {
    pub edge: EdgeId,
    pub load: Load,
    /// Cumulative weights (last is 1.0) with the path each picks and its class.
    pub mix: Vec<(f64, PathId, Priority)>,
    pub users: u32,
    /// Global user ids of this client are `user_base..user_base + users`.
    pub user_base: u32,
    pub skew: f64,
    pub invalid_tokens: f64,
    pub honor_retry_after: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Load {
    Poisson {
        rps: f64,
    },
    Closed {
        users: u32,
        think: Dist,
    },
    /// Piecewise-constant Poisson rate: (from, rps), sorted by time.
    Profile(Vec<(SimTime, f64)>),
}

#[derive(Clone, Debug)]
pub struct BalancerConfig {
    pub edge: EdgeId,
    pub health_check: Option<HealthCheck>,
}

#[derive(Clone, Copy, Debug)]
pub struct HealthCheck {
    pub interval: SimDuration,
    pub timeout: SimDuration,
    pub unhealthy_after: u32,
    pub healthy_after: u32,
}

#[derive(Clone, Debug)]
pub struct GatewayConfig {
    pub workers: u32,
    pub queue: u32,
    pub overhead: Dist,
    pub auth: Auth,
    pub rate_limits: Vec<RateLimit>,
    pub routes: Vec<Route>,
    /// For each `PathId`: the route that the longest matching prefix picks.
    pub route_of_path: Vec<Option<u16>>,
    pub translation: Dist,
    /// Priority load shedding at admission.
    pub shed: Option<ShedConfig>,
    /// Envoy's adaptive concurrency filter in the gateway's own chain: one
    /// limit per instance over every request it admits.
    pub inbound_adaptive: Option<Box<crate::mechanisms::adaptive::AdaptiveConfig>>,
}

#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Local { verify: Dist },
    Remote { edge: EdgeId, cache_ttl: SimDuration },
}

#[derive(Clone, Debug)]
pub struct RateLimit {
    pub label: String,
    pub scope: LimitScope,
    pub config: LimitConfig,
    /// `Some((edge to the store, fail_open))` for a cluster-wide limit.
    pub store: Option<(EdgeId, bool)>,
}

#[derive(Clone, Debug)]
pub enum LimitScope {
    PerUser,
    /// Applies to requests whose `PathId` is marked true.
    Route(Vec<bool>),
    Global,
}

#[derive(Clone, Debug)]
pub struct Route {
    /// The prefix (or aggregate path) as written.
    pub path: String,
    pub kind: RouteKind,
    pub grpc: bool,
}

#[derive(Clone, Debug)]
pub enum RouteKind {
    Forward {
        edge: EdgeId,
    },
    /// Envoy's `weighted_clusters`: one edge per request, drawn by weight
    /// (`upto[i]` sums the weights of edges 0..=i); retries stay on it.
    Split {
        edges: Vec<EdgeId>,
        upto: Vec<u32>,
    },
    Aggregate {
        edges: Vec<EdgeId>,
        degrade: bool,
    },
}

#[derive(Clone, Debug)]
pub struct ServiceConfig {
    pub workers: u32,
    pub queue: u32,
    pub work: Dist,
    pub errors: f64,
    /// Steps in order; the edges of one step run in parallel.
    pub steps: Vec<Vec<EdgeId>>,
    pub sidecar: Option<Dist>,
    /// Envoy's adaptive concurrency filter on the sidecar's inbound listener:
    /// one controller per instance, over every caller's requests.
    /// Boxed: a node's config stays small (it is read on every event).
    pub inbound_adaptive: Option<Box<crate::mechanisms::adaptive::AdaptiveConfig>>,
}

/// One caller -> callee relation, with the caller's policy on it.
#[derive(Clone, Debug)]
pub struct Edge {
    pub from: NodeId,
    /// The node named by the reference (the first, for a balancer's list).
    pub to: NodeId,
    /// The instances that may serve a call over this edge.
    pub targets: Vec<InstId>,
    pub balance: Balance,
    pub policy: Policy,
    /// e.g. "gw -> users (/api/users)".
    pub label: String,
    /// The caller's first edge in the same cluster (`policy.cluster`), whose
    /// caller-side state this edge uses; `None`: its own state.
    pub shares_with: Option<EdgeId>,
}

#[derive(Clone, Debug, Default)]
pub struct Policy {
    pub timeout: Option<SimDuration>,
    pub retry: Option<RetryPolicy>,
    pub breaker: Option<BreakerConfig>,
    pub bulkhead: Option<u32>,
    /// A full bulkhead is a failure for the breaker (resilience4j's
    /// CircuitBreaker records its `BulkheadFullException`), not a permit
    /// given back unused.
    pub bulkhead_trips_breaker: bool,
    pub hedge: Option<Hedge>,
    pub fallback: Option<Fallback>,
    /// Envoy's cluster circuit breakers, per caller instance.
    pub thresholds: Option<ThresholdsConfig>,
    /// When this caller gives up on an attempt, the callee is not told (its
    /// downstream calls go on). False by default: Envoy resets the stream.
    pub detach: bool,
    /// This caller starts a deadline from its timeout (gRPC propagation).
    pub start_deadline: bool,
    /// The whole call, retries and back-off included (Envoy's route `timeout`).
    pub total_timeout: Option<SimDuration>,
    /// Envoy's outlier detection, per caller instance.
    pub outlier: Option<crate::mechanisms::outlier::OutlierConfig>,
    /// Envoy's adaptive concurrency (gradient controller), per caller instance.
    pub adaptive: Option<crate::mechanisms::adaptive::AdaptiveConfig>,
    /// The Envoy cluster this call goes to (`shares_with` on the edge).
    pub cluster: Option<String>,
    /// Envoy's panic threshold in percent: with fewer usable targets (not
    /// ejected by a health check or outlier detection), use them all.
    pub panic_threshold: Option<f64>,
    /// In panic, send to no target instead of all (Envoy's `fail_traffic_on_panic`).
    pub fail_on_panic: bool,
}

#[derive(Clone, Debug)]
pub struct RetryPolicy {
    pub max: u32,
    pub backoff: Backoff,
    pub budget: Option<BudgetConfig>,
    pub on: OutcomeSet,
    /// Retried only when the callee answered them, never when the caller
    /// refused its own attempt: Envoy retries an upstream's overloaded 503
    /// under `5xx` and `gateway-error`, but not its own local overflow.
    pub on_answered: OutcomeSet,
    /// Each retry avoids the instances already tried (Envoy's `previous_hosts`).
    pub other_host: bool,
}

#[derive(Clone, Copy, Debug)]
pub struct Hedge {
    pub after: SimDuration,
    pub max_extra: u32,
}

#[derive(Clone, Debug)]
pub struct Fallback {
    pub cached: bool,
    pub latency: Dist,
}

#[derive(Clone, Debug)]
pub struct PathInfo {
    pub method: &'static str,
    pub path: String,
}

#[derive(Clone, Debug)]
pub struct FaultSpec {
    /// As written, for reports: "users", "gw#1" or "gw->orders".
    pub label: String,
    pub target: FaultTarget,
    pub at: SimTime,
    pub until: SimTime,
    pub kind: FaultKind,
}

#[derive(Clone, Debug)]
pub enum FaultTarget {
    Instances(Vec<InstId>),
    /// Both directions between two nodes.
    Link(NodeId, NodeId),
}

#[derive(Clone, Debug)]
pub enum FaultKind {
    Crash,
    Hang,
    Slow { factor: f64 },
    Latency { add: Dist },
    Errors { rate: f64 },
    Partition,
}

impl FaultKind {
    pub fn name(&self) -> FaultKindName {
        match self {
            FaultKind::Crash => FaultKindName::Crash,
            FaultKind::Hang => FaultKindName::Hang,
            FaultKind::Slow { .. } => FaultKindName::Slow,
            FaultKind::Latency { .. } => FaultKindName::Latency,
            FaultKind::Errors { .. } => FaultKindName::Errors,
            FaultKind::Partition => FaultKindName::Partition,
        }
    }
}

/// A fault's kind as outputs name it (the scenario's spelling): part of the
/// output vocabulary, like `Outcome`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FaultKindName {
    Crash,
    Hang,
    Slow,
    Latency,
    Errors,
    Partition,
}

impl std::fmt::Display for FaultKindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(&format!("{self:?}"))
    }
}

#[derive(Clone, Debug)]
pub struct ChaosSpec {
    pub targets: Vec<NodeId>,
    pub mtbf: SimDuration,
    pub mttr: SimDuration,
    pub kinds: Vec<FaultKind>,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct Slo {
    /// Objective on the p99 of successful answers.
    pub p99: Option<SimDuration>,
    /// Objective on successes / requests not excluded.
    pub success_rate: Option<f64>,
    /// Outcomes the success rate leaves out (SRE practice: the client's doing).
    pub exclude: OutcomeSet,
}
