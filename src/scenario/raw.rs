//! The scenario file's serde types, field for field as in `scenario-format.md`.
//!
//! These are the only types that derive `Deserialize`. They are parsed with
//! ron's `IMPLICIT_SOME` extension, so optional fields accept both `x` and
//! `Some(x)`, as the examples use both. Every struct refuses unknown fields;
//! no `untagged` or `flatten`, so ron can point at the exact token that is
//! wrong. Checks that need the whole file (references, cycles) happen later
//! in `build`.

// Parsed once per file: variant sizes do not matter, readable types do.
#![allow(clippy::large_enum_variant)]

use serde::Deserialize;

use super::units::{AtLeastOne, Dur, Fraction, NonNegative, Positive};

#[derive(Debug, Deserialize)]
#[serde(rename = "Scenario", deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub seed: u64,
    pub duration: Dur,
    #[serde(default)]
    pub warmup: Option<Dur>,
    #[serde(default)]
    pub network: Network,
    pub nodes: Vec<Node>,
    #[serde(default)]
    pub faults: Vec<Fault>,
    #[serde(default)]
    pub chaos: Option<Chaos>,
    #[serde(default)]
    pub slo: Option<Slo>,
    #[serde(default)]
    pub report: Option<Report>,
    /// Guard rails (an extension): the run stops with an error past these.
    #[serde(default)]
    pub limits: Option<Limits>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub latency: Option<Dist>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    #[serde(default)]
    pub p99: Option<Dur>,
    #[serde(default)]
    pub success_rate: Option<Fraction>,
    /// Outcomes left out of the success rate (an extension; default:
    /// Unauthorized, NotFound, RateLimited, the client's own doing).
    #[serde(default)]
    pub exclude: Option<Vec<SloOutcome>>,
}

/// An outcome that an SLO may leave out of its success rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum SloOutcome {
    Error,
    Timeout,
    RateLimited,
    Unauthorized,
    NotFound,
    Rejected,
    ShortCircuited,
    Unavailable,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    #[serde(default)]
    pub resolution: Option<Dur>,
    /// Share of client requests to trace into trace.json and trace.perfetto.json.
    #[serde(default)]
    pub trace: Option<Fraction>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(default)]
    pub max_events: Option<u64>,
    #[serde(default)]
    pub max_in_flight: Option<u32>,
    #[serde(default)]
    pub max_events_per_ms: Option<u64>,
    #[serde(default)]
    pub max_memory_mb: Option<u64>,
}

/// A distribution of durations.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Dist {
    Const(Dur),
    Exp { mean: Dur },
    Uniform { min: Dur, max: Dur },
    LogNormal { median: Dur, p99: Dur },
    Mixture(Vec<(NonNegative, Dist)>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Node {
    Clients {
        name: String,
        target: String,
        load: Load,
        mix: Vec<MixEntry>,
        #[serde(default)]
        users: Option<AtLeastOne>,
        #[serde(default)]
        skew: Option<NonNegative>,
        #[serde(default)]
        invalid_tokens: Option<Fraction>,
        #[serde(default)]
        policy: Policy,
        #[serde(default)]
        honor_retry_after: Option<bool>,
    },
    LoadBalancer {
        name: String,
        targets: Vec<String>,
        #[serde(default)]
        balance: Option<Balance>,
        #[serde(default)]
        health_check: Option<HealthCheck>,
        /// How the balancer itself calls an instance (an extension; default: no timeout, no retries).
        #[serde(default)]
        policy: Policy,
    },
    Gateway {
        name: String,
        #[serde(default)]
        replicas: Option<AtLeastOne>,
        workers: AtLeastOne,
        queue: u32,
        #[serde(default)]
        overhead: Option<Dist>,
        #[serde(default)]
        auth: Option<Auth>,
        #[serde(default)]
        rate_limits: Vec<RateLimit>,
        routes: Vec<RouteEntry>,
        #[serde(default)]
        translation: Option<Dist>,
        #[serde(default)]
        balance: Option<Balance>,
        #[serde(default)]
        shed: Option<Shed>,
        /// Envoy's adaptive concurrency filter in the gateway's own filter
        /// chain: one limit per instance on every request it takes.
        #[serde(default)]
        adaptive_concurrency: Option<AdaptiveConcurrency>,
    },
    Service {
        name: String,
        #[serde(default)]
        replicas: Option<AtLeastOne>,
        workers: AtLeastOne,
        queue: u32,
        work: Dist,
        #[serde(default)]
        errors: Option<Fraction>,
        #[serde(default)]
        calls: Vec<CallStep>,
        #[serde(default)]
        sidecar: Option<Sidecar>,
        #[serde(default)]
        balance: Option<Balance>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Load {
    Poisson { rps: Positive },
    Closed { users: AtLeastOne, think: Dist },
    Profile(Vec<Step>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub at: Dur,
    pub rps: NonNegative,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    #[serde(default)]
    pub weight: Option<NonNegative>,
    #[serde(default)]
    pub method: Option<Method>,
    pub path: String,
    /// Its class for load shedding; by default from the method (GET and
    /// HEAD: `Get`, the others: `Post`).
    #[serde(default)]
    pub priority: Option<Priority>,
}

/// A request's class for a gateway's `shed` (Stripe's four).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum Priority {
    Critical,
    Post,
    Get,
    Test,
}

/// A gateway's priority load shedding: the occupancy at which each class
/// is shed.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shed {
    #[serde(default)]
    pub test: Option<NonNegative>,
    #[serde(default)]
    pub get: Option<NonNegative>,
    #[serde(default)]
    pub post: Option<NonNegative>,
    #[serde(default)]
    pub test_delay: Option<Dur>,
    #[serde(default)]
    pub get_delay: Option<Dur>,
    #[serde(default)]
    pub post_delay: Option<Dur>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub enum Balance {
    RoundRobin,
    Random,
    LeastOutstanding,
    PowerOfTwo,
    /// Envoy's `LEAST_REQUEST`: `choice_count` draws with replacement.
    LeastRequest {
        #[serde(default)]
        choice_count: Option<u32>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    pub interval: Dur,
    pub timeout: Dur,
    pub unhealthy_after: AtLeastOne,
    pub healthy_after: AtLeastOne,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Auth {
    Local {
        verify: Dist,
    },
    Remote {
        service: String,
        cache_ttl: Dur,
        /// Policy of the call to the auth service (an extension; default none).
        #[serde(default)]
        policy: Policy,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename = "RateLimit", deny_unknown_fields)]
pub struct RateLimit {
    pub scope: Scope,
    pub limit: AtLeastOne,
    pub per: Dur,
    pub algorithm: Algorithm,
    #[serde(default)]
    pub store: Option<Store>,
    /// SlidingWindow only: count only admitted requests (Kong's
    /// `disable_penalty = true`); by default denied requests count too.
    #[serde(default)]
    pub disable_penalty: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub enum Scope {
    PerUser,
    Route(String),
    Global,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Algorithm {
    TokenBucket { burst: AtLeastOne },
    FixedWindow,
    SlidingWindow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Store {
    Local,
    Shared {
        node: String,
        #[serde(default)]
        fail_open: Option<bool>,
        /// Policy of the call to the store (an extension; default: a 2 s
        /// timeout, Kong's `redis_timeout`).
        #[serde(default)]
        policy: Option<Policy>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum RouteEntry {
    Route {
        prefix: String,
        /// The one target; or none, with `split`.
        #[serde(default)]
        to: Option<String>,
        /// Envoy's `weighted_clusters`: each request goes to one of these
        /// targets, drawn by weight, and its retries stay there.
        #[serde(default)]
        split: Vec<SplitTarget>,
        #[serde(default)]
        policy: Policy,
        #[serde(default)]
        protocol: Option<Protocol>,
    },
    Aggregate {
        path: String,
        calls: Vec<String>,
        #[serde(default)]
        partial: Option<Partial>,
        #[serde(default)]
        policy: Policy,
        #[serde(default)]
        protocol: Option<Protocol>,
    },
}

/// One target of a split route and its share, as Envoy's `ClusterWeight`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SplitTarget {
    pub to: String,
    pub weight: u32,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub enum Protocol {
    Http,
    Grpc,
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub enum Partial {
    Degrade,
    FailAll,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum CallStep {
    Call {
        to: String,
        #[serde(default)]
        policy: Policy,
    },
    Parallel(Vec<Call>),
}

#[derive(Debug, Deserialize)]
#[serde(rename = "Call", deny_unknown_fields)]
pub struct Call {
    pub to: String,
    #[serde(default)]
    pub policy: Policy,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sidecar {
    pub overhead: Dist,
    /// Envoy's adaptive concurrency filter on the sidecar's inbound
    /// listener: one limit per instance for all its callers.
    #[serde(default)]
    pub adaptive_concurrency: Option<AdaptiveConcurrency>,
}

/// What a caller does on one edge. Every field is optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    #[serde(default)]
    pub timeout: Option<Dur>,
    #[serde(default)]
    pub retries: Option<Retries>,
    #[serde(default)]
    pub breaker: Option<Breaker>,
    #[serde(default)]
    pub bulkhead: Option<Bulkhead>,
    #[serde(default)]
    pub hedge: Option<Hedge>,
    #[serde(default)]
    pub fallback: Option<Fallback>,
    /// Envoy's cluster circuit breakers (`circuit_breakers.thresholds`).
    #[serde(default)]
    pub thresholds: Option<Thresholds>,
    /// When this caller gives up, the callee's downstream calls are
    /// cancelled (Envoy resets the upstream stream). Default true.
    #[serde(default)]
    pub propagate_cancel: Option<bool>,
    /// Requests carry this caller's timeout as a deadline (gRPC). Default false.
    #[serde(default)]
    pub propagate_deadline: Option<bool>,
    /// The whole call, retries and back-off included (Envoy's route `timeout`).
    #[serde(default)]
    pub total_timeout: Option<Dur>,
    /// Envoy's `outlier_detection`.
    #[serde(default)]
    pub outlier_detection: Option<OutlierDetection>,
    /// Envoy's adaptive concurrency filter (gradient controller).
    #[serde(default)]
    pub adaptive_concurrency: Option<AdaptiveConcurrency>,
    /// Calls of one caller naming the same cluster share its caller-side
    /// state (breaker, bulkhead, thresholds, budgets, outlier detection,
    /// adaptive limit, balancer), as Envoy keeps them per cluster.
    #[serde(default)]
    pub cluster: Option<String>,
    /// Envoy's `common_lb_config.healthy_panic_threshold` (percent): below
    /// this share of usable targets, the caller uses all of them.
    #[serde(default)]
    pub healthy_panic_threshold: Option<NonNegative>,
    /// Envoy's `zone_aware_lb_config.fail_traffic_on_panic`: in panic, send
    /// to no target (every request fails) instead of to all of them.
    #[serde(default)]
    pub fail_traffic_on_panic: bool,
}

/// Envoy's `GradientControllerConfig`, flattened; Envoy's defaults (100 ms for
/// `concurrency_update_interval`, which Envoy requires: its example's value).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdaptiveConcurrency {
    #[serde(default)]
    pub concurrency_update_interval: Option<Dur>,
    #[serde(default)]
    pub sample_aggregate_percentile: Option<Fraction>,
    #[serde(default)]
    pub max_concurrency_limit: Option<u32>,
    #[serde(default)]
    pub min_rtt_calc_interval: Option<Dur>,
    #[serde(default)]
    pub request_count: Option<u32>,
    #[serde(default)]
    pub min_concurrency: Option<u32>,
    #[serde(default)]
    pub buffer: Option<Fraction>,
    /// `min_rtt_calc_params.jitter`, as a fraction (Envoy's 15%).
    #[serde(default)]
    pub jitter: Option<Fraction>,
}

/// Envoy's `OutlierDetection`, its field names and units (the stdev factor
/// in thousandths, enforcement in percent); Envoy's defaults for the rest.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierDetection {
    #[serde(default)]
    pub consecutive_5xx: Option<u32>,
    #[serde(default)]
    pub enforcing_consecutive_5xx: Option<u32>,
    #[serde(default)]
    pub consecutive_gateway_failure: Option<u32>,
    #[serde(default)]
    pub enforcing_consecutive_gateway_failure: Option<u32>,
    #[serde(default)]
    pub interval: Option<Dur>,
    #[serde(default)]
    pub base_ejection_time: Option<Dur>,
    #[serde(default)]
    pub max_ejection_time: Option<Dur>,
    #[serde(default)]
    pub max_ejection_percent: Option<NonNegative>,
    #[serde(default)]
    pub always_eject_one_host: Option<bool>,
    #[serde(default)]
    pub success_rate_minimum_hosts: Option<u32>,
    #[serde(default)]
    pub success_rate_request_volume: Option<u32>,
    #[serde(default)]
    pub success_rate_stdev_factor: Option<u32>,
    #[serde(default)]
    pub enforcing_success_rate: Option<u32>,
    #[serde(default)]
    pub failure_percentage_threshold: Option<NonNegative>,
    #[serde(default)]
    pub failure_percentage_minimum_hosts: Option<u32>,
    #[serde(default)]
    pub failure_percentage_request_volume: Option<u32>,
    #[serde(default)]
    pub enforcing_failure_percentage: Option<u32>,
}

/// Envoy's `Thresholds`: every field optional, Envoy's defaults otherwise.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    #[serde(default)]
    pub max_connections: Option<u32>,
    #[serde(default)]
    pub max_pending_requests: Option<u32>,
    #[serde(default)]
    pub max_requests: Option<u32>,
    #[serde(default)]
    pub max_retries: Option<u32>,
    #[serde(default)]
    pub retry_budget: Option<RetryBudgetPct>,
}

/// Envoy's `retry_budget`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryBudgetPct {
    #[serde(default)]
    pub budget_percent: Option<NonNegative>,
    #[serde(default)]
    pub min_retry_concurrency: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retries {
    pub max: u32,
    #[serde(default)]
    pub backoff: Option<Backoff>,
    #[serde(default)]
    pub budget: Option<Budget>,
    #[serde(default)]
    pub on: Option<Vec<RetryOn>>,
    /// Retry on another instance than the ones tried (Envoy's `previous_hosts`).
    #[serde(default)]
    pub other_host: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum RetryOn {
    Error,
    Timeout,
    Rejected,
    Unavailable,
    RateLimited,
    /// A 503 the callee marked overloaded (full queue, bulkhead, open
    /// breaker): Envoy's `x-envoy-overloaded`, never retried by default.
    Overloaded,
    /// Envoy's `retry_on` classes: `5xx`, `gateway-error`, `reset`,
    /// `connect-failure`, `retriable-4xx`.
    Http5xx,
    GatewayError,
    Reset,
    ConnectFailure,
    Retriable4xx,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Backoff {
    None,
    Constant(Dur),
    Exponential {
        base: Dur,
        cap: Dur,
        #[serde(default)]
        jitter: Option<Jitter>,
    },
    /// Envoy's router back-off (`retry_back_off`): defaults 25 ms, 10 x base.
    Envoy {
        #[serde(default)]
        base: Option<Dur>,
        #[serde(default)]
        max: Option<Dur>,
    },
}

#[derive(Clone, Copy, Debug, Deserialize)]
pub enum Jitter {
    None,
    Full,
    Equal,
    Decorrelated,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budget {
    pub ratio: NonNegative,
    #[serde(default)]
    pub min_per_s: Option<u32>,
    /// How long a request's deposit counts (an extension; Finagle's default 10s).
    #[serde(default)]
    pub ttl: Option<Dur>,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "Breaker", deny_unknown_fields)]
pub struct Breaker {
    pub window: Window,
    pub min_calls: AtLeastOne,
    pub failure_rate: Fraction,
    #[serde(default)]
    pub slow_call: Option<Dur>,
    #[serde(default)]
    pub slow_call_rate: Option<Fraction>,
    pub open_for: Dur,
    pub half_open_calls: AtLeastOne,
}

#[derive(Debug, Deserialize)]
pub enum Window {
    Count(AtLeastOne),
    Time(Dur),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bulkhead {
    pub max_concurrent: AtLeastOne,
    /// A full bulkhead counts as a failure of the breaker in front of it
    /// (resilience4j's default decorator order).
    #[serde(default)]
    pub trips_breaker: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hedge {
    pub after: Dur,
    pub max_extra: AtLeastOne,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum Fallback {
    Cached { latency: Dist },
    Static { latency: Dist },
}

#[derive(Debug, Deserialize)]
#[serde(rename = "Fault", deny_unknown_fields)]
pub struct Fault {
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub link: Option<(String, String)>,
    pub at: Dur,
    pub duration: Dur,
    pub kind: FaultKind,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum FaultKind {
    Crash,
    Hang,
    Slow { factor: Positive },
    Latency { add: Dist },
    Errors { rate: Fraction },
    Partition,
}

#[derive(Debug, Deserialize)]
#[serde(rename = "Chaos", deny_unknown_fields)]
pub struct Chaos {
    pub targets: Vec<String>,
    pub mtbf: Dur,
    pub mttr: Dur,
    pub kinds: Vec<FaultKind>,
}
