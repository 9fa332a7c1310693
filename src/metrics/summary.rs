//! The run's summary (summary.json): the clients' view, every node, routes,
//! limiters, breakers, faults and the SLO verdict.
//!
//! Only this module and the report derive `Serialize`. Maps keep the
//! scenario's order (a `Vec` of pairs serialised as a JSON object), floats
//! are rounded to fixed decimals, and nothing depends on the wall clock, so
//! the same file and seed give the same bytes on any machine.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde::{Deserialize as DeriveDeserialize, Serialize as DeriveSerialize};

use crate::chaos::cascade::is_zero;
use crate::engine::SimTime;
use crate::engine::keyed::Keyed;
use crate::mechanisms::breaker::BreakerState;
use crate::model::RunOutput;
pub use crate::model::config::FaultKindName;
use crate::model::config::{FaultKind, LimitScope, NodeKind};
use crate::model::outcome::{Outcome, OutcomeCounts};
use crate::model::record::RouteStats;

use crate::model::latency::LatencyRecorder;

/// A JSON object whose keys keep insertion order.
#[derive(Clone, Debug, PartialEq)]
pub struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Reads a JSON object back in document order (serde's visitor sees the
/// entries as written), so a saved summary keeps the scenario's order.
impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<V>, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0).min(4096));
                while let Some(entry) = map.next_entry::<String, V>()? {
                    out.push(entry);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// A node's kind as reports name it.
/// A caller instance whose usable targets fell below its
/// `healthy_panic_threshold`: while in panic it sent to every target,
/// ejected ones included (Envoy's panic threshold).
#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct PanicSummary {
    pub caller: String,
    pub target: String,
    pub edge: String,
    /// Times it went into panic, the first time, and the time spent in panic.
    pub entered: u32,
    pub first_at_s: f64,
    pub panic_s: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, DeriveSerialize, DeriveDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKindName {
    Clients,
    LoadBalancer,
    Gateway,
    Service,
}

impl NodeKindName {
    pub fn of(kind: &NodeKind) -> NodeKindName {
        match kind {
            NodeKind::Clients(_) => NodeKindName::Clients,
            NodeKind::Balancer(_) => NodeKindName::LoadBalancer,
            NodeKind::Gateway(_) => NodeKindName::Gateway,
            NodeKind::Service(_) => NodeKindName::Service,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            NodeKindName::Clients => "clients",
            NodeKindName::LoadBalancer => "load_balancer",
            NodeKindName::Gateway => "gateway",
            NodeKindName::Service => "service",
        }
    }

    /// Gateways and services have workers (utilization, queues).
    pub fn has_workers(self) -> bool {
        matches!(self, NodeKindName::Gateway | NodeKindName::Service)
    }
}

impl std::fmt::Display for NodeKindName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.key())
    }
}

pub use crate::chaos::health::round;

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub duration_s: f64,
    pub warmup_s: f64,
    /// Width of a timeseries.csv bucket.
    pub resolution_s: f64,
    pub events: u64,
    pub requests: Requests,
    pub success_rate: f64,
    pub goodput_rps: f64,
    pub attempts: Attempts,
    /// Latency of the clients' successful requests (ok, partial, fallback).
    pub latency_ms: Latency,
    /// Latency of the clients' requests that got a failure as an answer
    /// (a gateway's 504 included; a client's own timeout is not an answer).
    pub failure_latency_ms: Latency,
    pub nodes: Ordered<NodeSummary>,
    pub routes: Ordered<RouteSummary>,
    pub rate_limits: Vec<LimitSummary>,
    pub breakers: Vec<BreakerSummary>,
    /// Envoy thresholds' overflows per edge (absent when no edge has thresholds).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub thresholds: Vec<ThresholdSummary>,
    /// Requests refused at once by a full queue or an adaptive limit, and
    /// attempts refused by a caller's bulkhead or adaptive limit: where
    /// `rejected` answers start (absent when there were none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refusals: Vec<RefusalSummary>,
    pub ejections: Vec<EjectionSummary>,
    /// Callers that went into panic (absent when none did).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub panics: Vec<PanicSummary>,
    pub faults: Vec<FaultSummary>,
    /// Random-chaos episodes beyond the first 200, which `faults` does not list.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub faults_not_listed: u64,
    pub slo: SloSummary,
    pub cascade: crate::chaos::Cascade,
    /// What `validate` warns about in the scenario (filled in by `gatesim run`).
    pub warnings: Vec<Warning>,
    pub topology: Topology,
}

/// A legal but risky setup in the scenario, with what to change.
#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct Warning {
    /// Where: `node "gw"`, `line 12:5` or a field name.
    pub place: String,
    pub message: String,
    pub hint: Option<String>,
}

/// The graph, for pictures redrawn without the scenario file.
#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct Topology {
    pub nodes: Vec<TopologyNode>,
    pub edges: Vec<TopologyEdge>,
}

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct TopologyNode {
    pub name: String,
    pub kind: NodeKindName,
    pub replicas: u32,
    /// Gateways and balancers: routes, auth and limits, one per line.
    pub detail: Vec<String>,
}

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct TopologyEdge {
    pub from: String,
    pub to: String,
    pub label: String,
    /// The caller's policy in a few words, e.g. "timeout 300ms, 1 retry, breaker".
    pub policy: String,
}

/// Outcome counts as named fields; `total` includes `unfinished`.
#[derive(Clone, Debug, Default, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct Requests {
    pub total: u64,
    pub ok: u64,
    pub partial: u64,
    pub fallback: u64,
    pub error: u64,
    pub timeout: u64,
    pub rate_limited: u64,
    pub unauthorized: u64,
    pub not_found: u64,
    pub rejected: u64,
    pub short_circuited: u64,
    pub unavailable: u64,
    /// Still waiting when the run ended (e.g. behind a hang with no timeout).
    pub unfinished: u64,
}

impl Requests {
    fn from_counts(c: &OutcomeCounts, unfinished: u64) -> Self {
        let mut r = Requests { total: c.total() + unfinished, unfinished, ..Requests::default() };
        for o in Outcome::ALL {
            *r.count_mut(o) = c.get(o);
        }
        r
    }

    pub fn successes(&self) -> u64 {
        Outcome::ALL.iter().filter(|o| o.is_success()).map(|o| self.count(*o)).sum()
    }

    /// Every outcome with its count, in `Outcome::ALL` order.
    pub fn by_outcome(&self) -> [(Outcome, u64); Outcome::COUNT] {
        Outcome::ALL.map(|o| (o, self.count(o)))
    }

    /// The count of outcome `o` (the field named `o.key()`).
    pub fn count(&self, o: Outcome) -> u64 {
        match o {
            Outcome::Ok => self.ok,
            Outcome::Partial => self.partial,
            Outcome::Fallback => self.fallback,
            Outcome::Error => self.error,
            Outcome::Timeout => self.timeout,
            Outcome::RateLimited => self.rate_limited,
            Outcome::Unauthorized => self.unauthorized,
            Outcome::NotFound => self.not_found,
            Outcome::Rejected => self.rejected,
            Outcome::ShortCircuited => self.short_circuited,
            Outcome::Unavailable => self.unavailable,
        }
    }

    fn count_mut(&mut self, o: Outcome) -> &mut u64 {
        match o {
            Outcome::Ok => &mut self.ok,
            Outcome::Partial => &mut self.partial,
            Outcome::Fallback => &mut self.fallback,
            Outcome::Error => &mut self.error,
            Outcome::Timeout => &mut self.timeout,
            Outcome::RateLimited => &mut self.rate_limited,
            Outcome::Unauthorized => &mut self.unauthorized,
            Outcome::NotFound => &mut self.not_found,
            Outcome::Rejected => &mut self.rejected,
            Outcome::ShortCircuited => &mut self.short_circuited,
            Outcome::Unavailable => &mut self.unavailable,
        }
    }
}

#[derive(Clone, Debug, Default, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct Attempts {
    pub total: u64,
    pub retries: u64,
    pub hedges: u64,
}

#[derive(Clone, Debug, Default, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct Latency {
    pub count: u64,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

impl Latency {
    fn from_recorder(r: &LatencyRecorder) -> Self {
        Latency {
            count: r.count(),
            mean: round(r.mean_ms(), 4),
            p50: round(r.quantile_ms(0.5), 3),
            p90: round(r.quantile_ms(0.9), 3),
            p99: round(r.quantile_ms(0.99), 3),
            p999: round(r.quantile_ms(0.999), 3),
            max: round(r.max_ms(), 3),
        }
    }
}

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct NodeSummary {
    pub kind: NodeKindName,
    pub replicas: u32,
    /// Requests this node received (Clients: issued).
    pub arrivals: u64,
    /// Answers it gave (Clients: requests that ended).
    pub completed: u64,
    /// Received but never answered (swallowed by a hang, lost in a crash).
    pub dropped: u64,
    /// Still being worked on (or waited for) when the run ended.
    /// arrivals = completed + dropped + in_progress_at_end.
    pub in_progress_at_end: u64,
    /// Answers given after the caller had given up, or requests that
    /// arrived after it had: work done in vain.
    pub wasted: u64,
    pub throughput_rps: f64,
    pub utilization: f64,
    /// Time-average number of requests in the node (queued + in service).
    pub mean_in_system: f64,
    /// Successes over everything it accepted: swallowed, lost and
    /// unfinished requests count as failures (Clients: over all requests).
    pub success_rate: f64,
    /// Latency of its successful answers.
    pub latency_ms: Latency,
    /// Latency of its answered failures.
    pub failure_latency_ms: Latency,
    pub outcomes: Requests,
    /// Attempts this node made as a caller.
    pub attempts: Attempts,
    /// Requests whose caller gave up while this node waited on its own
    /// calls: ended at once with those calls cancelled (in `outcomes` as
    /// `timeout`). Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub cancelled: u64,
    /// Requests past their deadline (propagated deadlines), answered
    /// `timeout` without work. Absent when none.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub expired: u64,
    /// A gateway's priority load shedding: requests shed per class (absent when none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shed: Vec<(crate::mechanisms::shed::Priority, u64)>,
    /// Calls this node made that ended in their fallback.
    pub fallbacks_served: u64,
    /// How it fared against its own usual level (see `chaos::health`).
    pub health: crate::chaos::cascade::NodeHealthSummary,
}

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct RouteSummary {
    pub gateways: Vec<String>,
    pub requests: Requests,
    pub latency_ms: Latency,
    pub failure_latency_ms: Latency,
}

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct LimitSummary {
    pub gateway: String,
    pub limit: String,
    pub rejected: u64,
    /// For a PerUser limit: the users it rejected most, heaviest first.
    pub top_users: Vec<UserRejections>,
}

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct UserRejections {
    /// "<client>:<n>": the n-th API key of that client (0 = the most active under Zipf skew).
    pub user: String,
    pub rejected: u64,
}

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct BreakerSummary {
    pub caller: String,
    pub target: String,
    pub edge: String,
    pub opened: u64,
    pub open_s: f64,
    pub first_open_s: Option<f64>,
    pub state_at_end: BreakerPhase,
    /// (time in s, new state) for every change, oldest first (at most 1000).
    pub transitions: Vec<(f64, BreakerPhase)>,
}

/// Where `rejected` answers start: one node's full queue or inbound limit,
/// or one edge's bulkhead or adaptive limit at its callers (after the
/// warm-up). Shedding and Envoy's thresholds have their own counts.
#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct RefusalSummary {
    /// The node (`queue_full`, `inbound_limit`) or the edge (`bulkhead`, `adaptive_limit`).
    pub at: String,
    pub by: RefusedBy,
    /// Requests (at a node) or attempts (on an edge) refused.
    pub rejected: u64,
}

/// Which mechanism refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, DeriveSerialize, DeriveDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusedBy {
    /// Every worker busy and the queue full.
    QueueFull,
    /// The adaptive concurrency limit on the node's inbound side (a
    /// service's sidecar, a gateway's own filter chain).
    InboundLimit,
    /// The caller's bulkhead.
    Bulkhead,
    /// The caller's adaptive concurrency limit.
    AdaptiveLimit,
}

impl RefusedBy {
    /// Its name in the run's text and the report: "queue full".
    pub fn words(self) -> &'static str {
        match self {
            RefusedBy::QueueFull => "queue full",
            RefusedBy::InboundLimit => "inbound adaptive limit",
            RefusedBy::Bulkhead => "bulkhead",
            RefusedBy::AdaptiveLimit => "adaptive limit",
        }
    }

    /// What it counts: a node refuses requests, a caller's limit attempts.
    pub fn counts(self) -> &'static str {
        match self {
            RefusedBy::QueueFull | RefusedBy::InboundLimit => "requests",
            RefusedBy::Bulkhead | RefusedBy::AdaptiveLimit => "attempts",
        }
    }
}

/// One edge's Envoy thresholds over the run, summed over its calling
/// instances (each keeps its own counts, as each Envoy does). The counters
/// carry Envoy's cluster statistics' names.
#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct ThresholdSummary {
    pub caller: String,
    pub target: String,
    pub edge: String,
    /// Requests that had to wait because no connection could be opened.
    pub upstream_cx_overflow: u64,
    /// Requests failed at once (503, overloaded): pending queue or max_requests full.
    pub upstream_rq_pending_overflow: u64,
    /// Retries not sent (max_retries or retry_budget).
    pub upstream_rq_retry_overflow: u64,
    /// The most requests one caller instance had waiting at once.
    pub pending_peak: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, DeriveSerialize, DeriveDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveName {
    /// The p99 of successful answers, in ms.
    P99Ms,
    /// Successes over the requests not excluded.
    SuccessRate,
}

/// A breaker's state as reports name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, DeriveSerialize, DeriveDeserialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerPhase {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerPhase {
    fn is_open(self) -> bool {
        self == BreakerPhase::Open
    }

    fn of(s: BreakerState) -> BreakerPhase {
        match s {
            BreakerState::Closed => BreakerPhase::Closed,
            BreakerState::Open => BreakerPhase::Open,
            BreakerState::HalfOpen => BreakerPhase::HalfOpen,
        }
    }
}

pub use crate::chaos::cascade::{EjectionSummary, FaultSummary};

/// The SLO and its verdict. The success rate counts every request but the
/// excluded outcomes (by default the client's own doing: 401, 404, 429);
/// the p99 is that of successful answers.
#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct SloSummary {
    pub p99_ms: Option<f64>,
    pub success_rate: Option<f64>,
    /// Outcomes left out of the success rate.
    pub exclude: Vec<Outcome>,
    /// Requests the success rate counts, and those it leaves out.
    pub counted_requests: u64,
    pub excluded_requests: u64,
    pub measured_p99_ms: f64,
    pub measured_success_rate: f64,
    /// Each objective with its own verdict.
    pub objectives: Vec<Objective>,
    /// `None` when the scenario sets no SLO.
    pub met: Option<bool>,
}

#[derive(Clone, Debug, DeriveSerialize, DeriveDeserialize, PartialEq)]
pub struct Objective {
    pub name: ObjectiveName,
    pub target: f64,
    /// `None` when there was nothing to measure (no successful answer).
    pub measured: Option<f64>,
    pub met: bool,
}

fn instance_name(run: &RunOutput, inst: u32) -> String {
    let cfg = &run.cfg;
    let i = cfg.instances[inst as usize];
    let node = &cfg.nodes[i.node as usize];
    if node.replicas > 1 { format!("{}#{}", node.name, i.replica) } else { node.name.clone() }
}

impl Summary {
    pub fn from_run(run: &RunOutput) -> Summary {
        let (cfg, rec) = (&run.cfg, &run.rec);
        let window_s = (cfg.duration.as_secs_f64() - cfg.warmup.as_secs_f64()).max(1e-9);
        let (breakers, ejections, faults) = (breakers(run), ejections(run), faults(run));
        let analysis = crate::chaos::analyze(
            &crate::chaos::cascade::Input {
                rows: &rec.rows,
                nodes: cfg.nodes.iter().map(|n| (n.name.clone(), matches!(n.kind, NodeKind::Clients(_)))).collect(),
                resolution_s: cfg.resolution.as_secs_f64(),
                warmup_s: cfg.warmup.as_secs_f64(),
                duration_s: cfg.duration.as_secs_f64(),
                faults: &faults,
                breaker_openings: &openings(&breakers),
                ejections: &ejections,
                settle_s: client_settle_s(cfg),
            },
            crate::chaos::Rules::default(),
        );
        let mut clients = ClientTotals::default();
        let mut nodes = Ordered::default();
        for ((id, node), health) in cfg.nodes.iter().enumerate().zip(analysis.health) {
            let s = &rec.nodes[id];
            if matches!(node.kind, NodeKind::Clients(_)) {
                clients.add(s, rec.unfinished[id]);
            }
            nodes.0.push((node.name.clone(), node_summary(run, id, window_s, health)));
        }
        let requests = Requests::from_counts(&clients.outcomes, clients.unfinished);
        let success_rate = if requests.total == 0 { 1.0 } else { requests.successes() as f64 / requests.total as f64 };
        let latency_ms = Latency::from_recorder(&clients.latency);
        let slo = slo(cfg, &clients.outcomes, requests.total, &latency_ms);
        Summary {
            scenario: cfg.name.clone(),
            seed: cfg.seed,
            duration_s: round(cfg.duration.as_secs_f64(), 9),
            warmup_s: round(cfg.warmup.as_secs_f64(), 9),
            resolution_s: round(cfg.resolution.as_secs_f64(), 9),
            events: run.events,
            goodput_rps: round(requests.successes() as f64 / window_s, 3),
            success_rate: round(success_rate, 6),
            requests,
            attempts: clients.attempts,
            latency_ms,
            failure_latency_ms: Latency::from_recorder(&clients.failure_latency),
            nodes,
            routes: routes(run),
            rate_limits: limits(run),
            breakers,
            thresholds: thresholds(run),
            refusals: refusals(run),
            ejections,
            panics: panics(run),
            faults,
            faults_not_listed: run.chaos_total.saturating_sub(run.chaos.len() as u64),
            slo,
            cascade: analysis.cascade,
            warnings: Vec::new(),
            topology: topology(run),
        }
    }
}

/// The clients' view, summed over Clients nodes.
struct ClientTotals {
    outcomes: OutcomeCounts,
    latency: LatencyRecorder,
    failure_latency: LatencyRecorder,
    attempts: Attempts,
    unfinished: u64,
}

impl Default for ClientTotals {
    fn default() -> Self {
        ClientTotals {
            outcomes: OutcomeCounts::default(),
            latency: LatencyRecorder::new(3),
            failure_latency: LatencyRecorder::new(3),
            attempts: Attempts::default(),
            unfinished: 0,
        }
    }
}

impl ClientTotals {
    fn add(&mut self, s: &crate::model::record::NodeStats, unfinished: u64) {
        self.outcomes.merge(&s.outcomes);
        self.latency.merge(&s.latency);
        self.failure_latency.merge(&s.failure_latency);
        self.attempts.total += s.attempts;
        self.attempts.retries += s.retries;
        self.attempts.hedges += s.hedges;
        self.unfinished += unfinished;
    }
}

fn node_summary(
    run: &RunOutput,
    id: usize,
    window_s: f64,
    health: crate::chaos::cascade::NodeHealthSummary,
) -> NodeSummary {
    let (cfg, rec) = (&run.cfg, &run.rec);
    let node = &cfg.nodes[id];
    let s = &rec.nodes[id];
    let capacity = match &node.kind {
        NodeKind::Gateway(g) => f64::from(g.workers) * f64::from(node.replicas),
        NodeKind::Service(sv) => f64::from(sv.workers) * f64::from(node.replicas),
        _ => 0.0,
    };
    let window_ns = window_s * 1e9;
    let accepted = s.arrivals.max(s.outcomes.total());
    NodeSummary {
        kind: NodeKindName::of(&node.kind),
        replicas: node.replicas,
        arrivals: s.arrivals,
        completed: s.outcomes.total(),
        dropped: s.dropped,
        in_progress_at_end: rec.unfinished[id],
        wasted: s.wasted,
        throughput_rps: round(s.outcomes.total() as f64 / window_s, 3),
        utilization: if capacity > 0.0 { round(s.busy_area as f64 / (capacity * window_ns), 4) } else { 0.0 },
        mean_in_system: round(s.in_system_area as f64 / window_ns, 4),
        success_rate: if accepted == 0 { 1.0 } else { round(s.outcomes.successes() as f64 / accepted as f64, 6) },
        latency_ms: Latency::from_recorder(&s.latency),
        failure_latency_ms: Latency::from_recorder(&s.failure_latency),
        outcomes: Requests::from_counts(&s.outcomes, rec.unfinished[id]),
        attempts: Attempts { total: s.attempts, retries: s.retries, hedges: s.hedges },
        cancelled: s.cancelled,
        expired: s.expired,
        shed: crate::mechanisms::shed::Priority::ALL
            .iter()
            .zip(s.shed)
            .filter(|(_, n)| *n > 0)
            .map(|(p, n)| (*p, n))
            .collect(),
        fallbacks_served: s.fallbacks,
        health,
    }
}

/// The SLO's verdict, objective by objective.
fn slo(cfg: &crate::model::ModelConfig, outcomes: &OutcomeCounts, total: u64, latency: &Latency) -> SloSummary {
    let slo = &cfg.slo;
    let excluded: u64 = Outcome::ALL.iter().filter(|o| slo.exclude.contains(**o)).map(|o| outcomes.get(*o)).sum();
    let counted = total - excluded;
    let rate = if counted == 0 { 1.0 } else { outcomes.successes() as f64 / counted as f64 };
    let mut objectives = Vec::new();
    if let Some(p) = slo.p99 {
        // No successful answer: the latency objective has nothing to stand on.
        let measured = (latency.count > 0).then_some(latency.p99);
        let target = round(p.as_millis_f64(), 3);
        objectives.push(Objective {
            name: ObjectiveName::P99Ms,
            target,
            measured,
            met: measured.is_some_and(|m| m <= target),
        });
    }
    if let Some(target) = slo.success_rate {
        objectives.push(Objective {
            name: ObjectiveName::SuccessRate,
            target,
            measured: Some(round(rate, 6)),
            met: rate >= target,
        });
    }
    SloSummary {
        p99_ms: slo.p99.map(|d| round(d.as_millis_f64(), 3)),
        success_rate: slo.success_rate,
        exclude: Outcome::ALL.iter().copied().filter(|o| slo.exclude.contains(*o)).collect(),
        counted_requests: counted,
        excluded_requests: excluded,
        measured_p99_ms: latency.p99,
        measured_success_rate: round(rate, 6),
        met: (!objectives.is_empty()).then(|| objectives.iter().all(|o| o.met)),
        objectives,
    }
}

fn ejections(run: &RunOutput) -> Vec<EjectionSummary> {
    run.health_events
        .iter()
        .map(|e| EjectionSummary {
            balancer: match e.outlier {
                Some(caller) => instance_name(run, caller),
                None => run.cfg.nodes[e.balancer as usize].name.clone(),
            },
            outlier_detection: e.outlier.is_some(),
            instance: instance_name(run, e.inst),
            at_s: round(e.at.as_secs_f64(), 6),
            ejected: e.ejected,
        })
        .collect()
}

/// The faults that happened: the scenario's, then the first random chaos
/// episodes (at most `MAX_LISTED_CHAOS`), in time order.
fn faults(run: &RunOutput) -> Vec<FaultSummary> {
    let cfg = &run.cfg;
    let end = cfg.duration.as_secs_f64();
    let summary = |target: String, kind: &FaultKind, at: SimTime, until: SimTime| FaultSummary {
        target,
        kind: kind.name(),
        at_s: round(at.as_secs_f64(), 6),
        until_s: round(until.as_secs_f64().min(end), 6),
    };
    let mut out: Vec<FaultSummary> = cfg
        .faults
        .iter()
        .filter(|f| f.at < SimTime(cfg.duration.as_nanos()))
        .map(|f| summary(f.label.clone(), &f.kind, f.at, f.until))
        .collect();
    if let Some(chaos) = &cfg.chaos {
        for e in &run.chaos {
            out.push(summary(instance_name(run, e.inst), &chaos.kinds[e.kind as usize], e.at, e.until));
        }
    }
    out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    out
}

fn topology(run: &RunOutput) -> Topology {
    let cfg = &run.cfg;
    let nodes = cfg
        .nodes
        .iter()
        .map(|n| TopologyNode {
            name: n.name.clone(),
            kind: NodeKindName::of(&n.kind),
            replicas: n.replicas,
            detail: match &n.kind {
                NodeKind::Gateway(g) => {
                    let mut d: Vec<String> = g
                        .rate_limits
                        .iter()
                        .map(|l| format!("limit {}: {}/{}", l.label, l.config.limit, l.config.per))
                        .collect();
                    d.insert(0, format!("{} workers, queue {}", g.workers, g.queue));
                    if g.inbound_adaptive.is_some() {
                        d.insert(1, "adaptive concurrency limit".into());
                    }
                    d
                }
                NodeKind::Service(s) => {
                    let mut d = vec![format!("{} workers, queue {}", s.workers, s.queue)];
                    if s.inbound_adaptive.is_some() {
                        d.push("sidecar adaptive concurrency limit".into());
                    }
                    d
                }
                _ => Vec::new(),
            },
        })
        .collect();
    let edges = cfg
        .edges
        .iter()
        .map(|e| TopologyEdge {
            from: cfg.nodes[e.from as usize].name.clone(),
            to: cfg.nodes[e.to as usize].name.clone(),
            label: e.label.clone(),
            policy: policy_words(&e.policy),
        })
        .collect();
    Topology { nodes, edges }
}

/// A policy in a few words, for edge labels.
fn policy_words(p: &crate::model::config::Policy) -> String {
    let mut words = Vec::new();
    if let Some(t) = p.timeout {
        words.push(format!("timeout {t}"));
    }
    if let Some(r) = &p.retry {
        let mut w = format!("{} retr{}", r.max, if r.max == 1 { "y" } else { "ies" });
        if let Some(b) = &r.budget {
            w.push_str(&format!(" (budget {}%)", round(b.ratio * 100.0, 1)));
        }
        words.push(w);
    }
    if let Some(b) = &p.breaker {
        words.push(format!("breaker {}%", round(b.failure_rate * 100.0, 1)));
    }
    if let Some(b) = p.bulkhead {
        words.push(format!("bulkhead {b}"));
    }
    if p.adaptive.is_some() {
        words.push("adaptive limit".into());
    }
    if let Some(t) = &p.thresholds {
        words.push(format!("envoy {} conns/{} pending", t.max_connections, t.max_pending_requests));
    }
    if let Some(h) = &p.hedge {
        words.push(format!("hedge {}", h.after));
    }
    if let Some(f) = &p.fallback {
        words.push(if f.cached { "fallback cached".into() } else { "fallback static".into() });
    }
    if let Some(c) = &p.cluster {
        words.push(format!("cluster {c}"));
    }
    words.join(", ")
}

/// The name of a caller-side state (a breaker, thresholds): its edge's
/// label, or the cluster's when the state is one (shared by its calls).
fn state_label(cfg: &crate::model::config::ModelConfig, edge: &crate::model::config::Edge) -> String {
    match &edge.policy.cluster {
        Some(c) => {
            format!("{} -> {} (cluster {c})", cfg.nodes[edge.from as usize].name, cfg.nodes[edge.to as usize].name)
        }
        None => edge.label.clone(),
    }
}

/// Routes keyed by path, summed over gateways that share the path.
fn routes(run: &RunOutput) -> Ordered<RouteSummary> {
    let cfg = &run.cfg;
    let mut out: Ordered<(Vec<String>, RouteStats)> = Ordered::default();
    for (id, node) in cfg.nodes.iter().enumerate() {
        let NodeKind::Gateway(g) = &node.kind else { continue };
        for (r, route) in g.routes.iter().enumerate() {
            let stats = &run.rec.routes[id][r];
            match out.0.iter_mut().find(|(k, _)| *k == route.path) {
                Some((_, (gws, sum))) => {
                    gws.push(node.name.clone());
                    sum.outcomes.merge(&stats.outcomes);
                    sum.latency.merge(&stats.latency);
                    sum.failure_latency.merge(&stats.failure_latency);
                }
                None => out.0.push((route.path.clone(), (vec![node.name.clone()], stats.clone()))),
            }
        }
    }
    Ordered(
        out.0
            .into_iter()
            .map(|(k, (gateways, r))| {
                (
                    k,
                    RouteSummary {
                        gateways,
                        requests: Requests::from_counts(&r.outcomes, 0),
                        latency_ms: Latency::from_recorder(&r.latency),
                        failure_latency_ms: Latency::from_recorder(&r.failure_latency),
                    },
                )
            })
            .collect(),
    )
}

fn limits(run: &RunOutput) -> Vec<LimitSummary> {
    let cfg = &run.cfg;
    let mut out = Vec::new();
    for (id, node) in cfg.nodes.iter().enumerate() {
        if let NodeKind::Gateway(g) = &node.kind {
            for (i, l) in g.rate_limits.iter().enumerate() {
                let by_key = &run.rec.limit_rejections_by_key[id][i];
                let top_users =
                    if matches!(l.scope, LimitScope::PerUser) { top_users(run, by_key, 5) } else { Vec::new() };
                out.push(LimitSummary {
                    gateway: node.name.clone(),
                    limit: l.label.clone(),
                    rejected: run.rec.limit_rejections[id][i],
                    top_users,
                });
            }
        }
    }
    out
}

/// The `n` users with most rejections (ties: lower id first).
fn top_users(run: &RunOutput, by_key: &Keyed<u64>, n: usize) -> Vec<UserRejections> {
    let mut ranked: Vec<(u64, usize)> = by_key.used().into_iter().map(|(k, c)| (*c, k as usize)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    ranked
        .into_iter()
        .take(n)
        .map(|(rejected, key)| {
            let owner = run.cfg.nodes.iter().find_map(|node| match &node.kind {
                NodeKind::Clients(c)
                    if (c.user_base as usize..c.user_base as usize + c.users as usize).contains(&key) =>
                {
                    Some(format!("{}:{}", node.name, key - c.user_base as usize))
                }
                _ => None,
            });
            UserRejections { user: owner.unwrap_or_else(|| key.to_string()), rejected }
        })
        .collect()
}

const MAX_TRANSITIONS: usize = 1000;

/// Every breaker (caller instance x edge): times opened and time spent open.
fn breakers(run: &RunOutput) -> Vec<BreakerSummary> {
    // Each breaker's state changes, in time order (one pass over the events).
    let mut events: Vec<Vec<&crate::model::record::BreakerEvent>> = vec![Vec::new(); run.breakers.len()];
    let slot: std::collections::BTreeMap<u32, usize> =
        run.breakers.iter().enumerate().map(|(i, b)| (b.index, i)).collect();
    for e in &run.rec.breaker_events {
        if let Some(&i) = slot.get(&e.breaker) {
            events[i].push(e);
        }
    }
    run.breakers.iter().zip(events).map(|(b, events)| breaker(run, b, &events)).collect()
}

fn breaker(
    run: &RunOutput,
    b: &crate::model::BreakerAtEnd,
    events: &[&crate::model::record::BreakerEvent],
) -> BreakerSummary {
    let edge = &run.cfg.edges[b.edge as usize];
    let (mut opened, mut open_ns, mut first) = (0u64, 0u64, None);
    let mut open_since: Option<SimTime> = None;
    let mut transitions = Vec::new();
    for e in events {
        if transitions.len() < MAX_TRANSITIONS {
            let to = if e.to_open {
                BreakerPhase::Open
            } else if e.to_half_open {
                BreakerPhase::HalfOpen
            } else {
                BreakerPhase::Closed
            };
            transitions.push((round(e.at.as_secs_f64(), 6), to));
        }
        if let Some(since) = open_since.take() {
            open_ns += (e.at - since).as_nanos();
        }
        if e.to_open {
            opened += 1;
            first.get_or_insert(e.at);
            open_since = Some(e.at);
        }
    }
    if let Some(since) = open_since {
        open_ns += run.end.saturating_since(since).as_nanos();
    }
    BreakerSummary {
        caller: instance_name(run, b.caller),
        target: run.cfg.nodes[edge.to as usize].name.clone(),
        edge: state_label(&run.cfg, edge),
        opened,
        open_s: round(open_ns as f64 * 1e-9, 6),
        first_open_s: first.map(|t: SimTime| round(t.as_secs_f64(), 6)),
        state_at_end: BreakerPhase::of(b.state),
        transitions,
    }
}

/// Every caller-side state that went into panic, in state order.
fn panics(run: &RunOutput) -> Vec<PanicSummary> {
    run.panics
        .iter()
        .map(|p| {
            let edge = &run.cfg.edges[p.edge as usize];
            PanicSummary {
                caller: instance_name(run, p.caller),
                target: run.cfg.nodes[edge.to as usize].name.clone(),
                edge: state_label(&run.cfg, edge),
                entered: p.log.entered,
                first_at_s: round(p.log.first.unwrap_or(SimTime::ZERO).as_secs_f64(), 6),
                panic_s: round(p.log.total.as_secs_f64(), 6),
            }
        })
        .collect()
}

/// Every edge with Envoy thresholds, in edge order.
fn thresholds(run: &RunOutput) -> Vec<ThresholdSummary> {
    run.thresholds
        .iter()
        .map(|(e, s)| {
            let edge = &run.cfg.edges[*e as usize];
            ThresholdSummary {
                caller: run.cfg.nodes[edge.from as usize].name.clone(),
                target: run.cfg.nodes[edge.to as usize].name.clone(),
                edge: state_label(&run.cfg, edge),
                upstream_cx_overflow: s.upstream_cx_overflow,
                upstream_rq_pending_overflow: s.upstream_rq_pending_overflow,
                upstream_rq_retry_overflow: s.upstream_rq_retry_overflow,
                pending_peak: s.pending_peak,
            }
        })
        .collect()
}

/// Every node's refusals in node order, then every edge's in edge order;
/// edges sharing a cluster's limits are summed under the cluster's name.
/// Only edges that refused anything are labelled, and rows are found by
/// key, not by a scan: a run may have a million edges.
fn refusals(run: &RunOutput) -> Vec<RefusalSummary> {
    let mut out: Vec<RefusalSummary> = Vec::new();
    let mut row: BTreeMap<(String, RefusedBy), usize> = BTreeMap::new();
    let mut add = |at: &str, counts: [(RefusedBy, u64); 2]| {
        for (by, rejected) in counts.into_iter().filter(|(_, n)| *n > 0) {
            match row.entry((at.to_string(), by)) {
                Entry::Occupied(i) => out[*i.get()].rejected += rejected,
                Entry::Vacant(v) => {
                    v.insert(out.len());
                    out.push(RefusalSummary { at: at.to_string(), by, rejected });
                }
            }
        }
    };
    for (node, s) in run.cfg.nodes.iter().zip(&run.rec.nodes) {
        add(&node.name, [(RefusedBy::QueueFull, s.queue_full), (RefusedBy::InboundLimit, s.inbound_limited)]);
    }
    for (edge, r) in run.cfg.edges.iter().zip(&run.rec.edge_refusals).filter(|(_, r)| r.bulkhead + r.adaptive > 0) {
        add(&state_label(&run.cfg, edge), [(RefusedBy::Bulkhead, r.bulkhead), (RefusedBy::AdaptiveLimit, r.adaptive)]);
    }
    out
}

/// Every breaker opening listed in the breakers' transitions, breaker by breaker.
fn openings(breakers: &[BreakerSummary]) -> Vec<crate::chaos::cascade::BreakerOpened> {
    breakers
        .iter()
        .flat_map(|b| {
            b.transitions.iter().filter(|(_, s)| s.is_open()).map(|(t, _)| crate::chaos::cascade::BreakerOpened {
                caller: b.caller.clone(),
                target: b.target.clone(),
                at_s: *t,
            })
        })
        .collect()
}

/// How long after a moment a client request sent before it may still end:
/// the clients' longest call (its total timeout, else its tries' timeouts
/// and the longest back-off between them); 0 when a client has no timeout.
fn client_settle_s(cfg: &crate::model::ModelConfig) -> f64 {
    let longest = |n: usize| {
        let NodeKind::Clients(c) = &cfg.nodes[n].kind else { return 0.0 };
        let p = &cfg.edges[c.edge as usize].policy;
        let retries = f64::from(p.retry.as_ref().map_or(0, |r| r.max));
        let backoff = p.retry.as_ref().map_or(0.0, |r| r.backoff.longest().as_secs_f64());
        match (p.total_timeout, p.timeout) {
            (Some(t), _) => t.as_secs_f64(),
            (None, Some(t)) => t.as_secs_f64() * (retries + 1.0) + backoff * retries,
            (None, None) => 0.0,
        }
    };
    (0..cfg.nodes.len()).map(longest).fold(0.0, f64::max)
}
