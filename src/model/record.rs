//! Streaming recorders fed by the simulation while it runs.
//!
//! Two views are kept side by side:
//! - the summary: everything that *started* (a request was issued, a job
//!   arrived) at or after the warm-up, counted when it ends; time integrals
//!   (utilization, number in system) from the warm-up to the end;
//! - the time series: one row per node per `resolution` bucket over the
//!   whole run, counted when things happen; rows are finished as each
//!   bucket closes, so only the current bucket is held in detail.

use crate::engine::keyed::Keyed;
use crate::engine::time::{SimDuration, SimTime};
use crate::model::outcome::{Outcome, OutcomeCounts};

use super::latency::{BucketQuantiles, LatencyRecorder};

/// Per-node totals for the summary.
#[derive(Clone)]
pub struct NodeStats {
    pub arrivals: u64,
    pub outcomes: OutcomeCounts,
    /// Work swallowed by a hang or lost in a crash: never answered.
    pub dropped: u64,
    /// Latency of successful answers (ok, partial, fallback): k6's
    /// `expected_response:true`.
    pub latency: LatencyRecorder,
    /// Latency of answered failures (a 504 included); a caller's own
    /// timeout is no answer and has none.
    pub failure_latency: LatencyRecorder,
    /// Attempts this node made as a caller, and how many were retries/hedges.
    pub attempts: u64,
    pub retries: u64,
    pub hedges: u64,
    /// Time integrals since the warm-up, in (count x ns).
    pub busy_area: u128,
    pub queue_area: u128,
    pub in_system_area: u128,
    /// Answers given after the caller had given up: work done in vain.
    pub wasted: u64,
    /// Calls this node made that ended in their fallback.
    pub fallbacks: u64,
    /// Requests whose caller gave up while this node waited on its own
    /// calls: ended at once, the calls cancelled (counted as `timeout`).
    pub cancelled: u64,
    /// Requests answered `timeout` at once because their deadline had
    /// passed (on arrival, or while queued): no work done.
    pub expired: u64,
    /// Requests shed at admission, per class (`Priority` order).
    pub shed: [u64; 4],
    /// Requests refused at once because every worker was busy and the
    /// queue was full (a 503 without work).
    pub queue_full: u64,
    /// Requests refused at once by the adaptive concurrency limit on the
    /// node's inbound side (a service's sidecar, a gateway's own chain).
    pub inbound_limited: u64,
}

/// Attempts a caller's own limits refused before sending them, per edge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EdgeRefusals {
    /// The bulkhead was full.
    pub bulkhead: u64,
    /// The caller's adaptive concurrency limit was reached.
    pub adaptive: u64,
}

/// The levels a node is at now (summed over its instances).
#[derive(Clone, Copy, Default)]
struct Levels {
    busy: u64,
    queued: u64,
    in_system: u64,
    last: SimTime,
}

#[derive(Clone)]
struct Bucket {
    arrivals: u64,
    completed: u64,
    dropped: u64,
    outcomes: OutcomeCounts,
    latency: BucketQuantiles,
    failure_latency: BucketQuantiles,
    busy_area: u128,
    queue_area: u128,
    /// The areas up to the warm-up's end, if it falls inside this bucket.
    before_warmup: Option<(u128, u128)>,
    attempts: u64,
    wasted: u64,
    fallbacks: u64,
    limit_rejections: u64,
    refused: u64,
    fault_active: bool,
    breaker_opened: bool,
}

impl Bucket {
    fn new() -> Self {
        Bucket {
            arrivals: 0,
            completed: 0,
            dropped: 0,
            outcomes: OutcomeCounts::default(),
            latency: BucketQuantiles::new(2),
            failure_latency: BucketQuantiles::new(2),
            busy_area: 0,
            queue_area: 0,
            before_warmup: None,
            attempts: 0,
            wasted: 0,
            fallbacks: 0,
            limit_rejections: 0,
            refused: 0,
            fault_active: false,
            breaker_opened: false,
        }
    }
}

/// One line of timeseries.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub bucket: u32,
    pub node: u32,
    pub arrivals: u64,
    pub completed: u64,
    pub outcomes: OutcomeCounts,
    /// Successful answers only (`NaN`-free: 0 when there were none, which
    /// timeseries.csv writes as an empty cell).
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub queue_len: f64,
    pub utilization: f64,
    pub breakers_open: u32,
    pub fault_active: bool,
    pub attempts: u64,
    pub wasted: u64,
    /// Answered failures (a gateway's 504 included); 0 when there were none.
    pub failure_latency_ms_p50: f64,
    pub failure_latency_ms_p99: f64,
    /// Whether any failure was answered (timed) in this bucket.
    pub failures_timed: bool,
    /// Requests swallowed (hang, partition) or lost (crash) in this bucket.
    pub dropped: u64,
    /// Calls this node made that ended in their fallback: counted where the
    /// fallback was served, so a fallback passed on by callers counts once.
    pub fallbacks: u64,
    /// Requests this node's own rate limits rejected (a 429 passed on by a
    /// caller is not counted again there).
    pub limit_rejections: u64,
    /// Requests this node refused at once (full queue, inbound adaptive
    /// limit) and attempts its own bulkheads and adaptive limits refused.
    pub refused: u64,
}

/// Outcomes and latencies of one gateway route.
#[derive(Clone)]
pub struct RouteStats {
    pub outcomes: OutcomeCounts,
    pub latency: LatencyRecorder,
    pub failure_latency: LatencyRecorder,
}

/// A breaker state change, for plots and the cascade story.
#[derive(Clone, Copy, Debug)]
pub struct BreakerEvent {
    pub at: SimTime,
    /// Index into the model's breaker list (caller instance x edge).
    pub breaker: u32,
    pub to_open: bool,
    pub to_half_open: bool,
}

pub struct Recorder {
    warmup: SimTime,
    resolution: SimDuration,
    /// Workers per node (summed over replicas), for utilization.
    capacity: Vec<u64>,
    pub nodes: Vec<NodeStats>,
    levels: Vec<Levels>,
    buckets: Vec<Bucket>,
    bucket_index: u32,
    bucket_start: SimTime,
    pub rows: Vec<Row>,
    /// Per (gateway node, route): outcomes and latency at the gateway.
    pub routes: Vec<Vec<RouteStats>>,
    /// Per (gateway node, rate limit): requests it rejected.
    pub limit_rejections: Vec<Vec<u64>>,
    /// Per (gateway node, rate limit): rejections per key (user id for a
    /// PerUser limit, one key otherwise), to show whom a limit hits.
    pub limit_rejections_by_key: Vec<Vec<Keyed<u64>>>,
    pub breaker_events: Vec<BreakerEvent>,
    /// Per edge: attempts its callers' own limits refused (after the warm-up).
    pub edge_refusals: Vec<EdgeRefusals>,
    /// A fault started exactly at the current bucket's end (see `fault_active`).
    fault_next: Vec<bool>,
    /// Requests issued (clients) or jobs arrived (other nodes) after the
    /// warm-up and not finished when the run ended.
    pub unfinished: Vec<u64>,
    /// Per node over the whole run (warm-up included): requests received,
    /// answered and dropped, for the conservation invariant.
    lifetime: Vec<[u64; 3]>,
}

const MAX_BREAKER_EVENTS: usize = 1_000_000;

impl Recorder {
    /// `routes[n]` and `limits[n]` give the number of routes and rate limits
    /// of node n; `edges` is the number of edges.
    pub fn new(
        warmup: SimDuration,
        resolution: SimDuration,
        capacity: Vec<u64>,
        routes: &[usize],
        limits: &[Vec<u32>],
        edges: usize,
    ) -> Self {
        let n = capacity.len();
        let stats = NodeStats {
            arrivals: 0,
            outcomes: OutcomeCounts::default(),
            dropped: 0,
            latency: LatencyRecorder::new(3),
            failure_latency: LatencyRecorder::new(3),
            attempts: 0,
            retries: 0,
            hedges: 0,
            busy_area: 0,
            queue_area: 0,
            in_system_area: 0,
            wasted: 0,
            fallbacks: 0,
            cancelled: 0,
            expired: 0,
            shed: [0; 4],
            queue_full: 0,
            inbound_limited: 0,
        };
        Recorder {
            warmup: SimTime(warmup.as_nanos()),
            resolution,
            capacity,
            nodes: vec![stats; n],
            levels: vec![Levels::default(); n],
            buckets: vec![Bucket::new(); n],
            bucket_index: 0,
            bucket_start: SimTime::ZERO,
            rows: Vec::new(),
            routes: routes
                .iter()
                .map(|&r| {
                    let stats = RouteStats {
                        outcomes: OutcomeCounts::default(),
                        latency: LatencyRecorder::new(3),
                        failure_latency: LatencyRecorder::new(3),
                    };
                    vec![stats; r]
                })
                .collect(),
            limit_rejections: limits.iter().map(|l| vec![0; l.len()]).collect(),
            limit_rejections_by_key: limits.iter().map(|l| l.iter().map(|&keys| Keyed::new(keys)).collect()).collect(),
            breaker_events: Vec::new(),
            edge_refusals: vec![EdgeRefusals::default(); edges],
            unfinished: vec![0; n],
            lifetime: vec![[0; 3]; n],
            fault_next: vec![false; n],
        }
    }

    /// Room for `rows` time-series rows.
    pub fn reserve_rows(&mut self, rows: usize) {
        self.rows.reserve_exact(rows.min(super::budget::MAX_ROWS as usize));
    }

    #[inline]
    fn counted(&self, started: SimTime) -> bool {
        started >= self.warmup
    }

    /// A request was issued by, or a job arrived at, `node`.
    #[inline]
    pub fn arrival(&mut self, node: u32, now: SimTime) {
        self.buckets[node as usize].arrivals += 1;
        self.lifetime[node as usize][0] += 1;
        if self.counted(now) {
            self.nodes[node as usize].arrivals += 1;
        }
    }

    /// `node` answered (or a client request ended) with `outcome`.
    /// `answered` is false when there was no answer to time (a caller's own
    /// timeout). Successes and answered failures are timed apart.
    #[inline]
    pub fn answer(&mut self, node: u32, started: SimTime, now: SimTime, outcome: Outcome, answered: bool) {
        let b = &mut self.buckets[node as usize];
        b.completed += 1;
        self.lifetime[node as usize][1] += 1;
        b.outcomes.add(outcome);
        let latency = now - started;
        let success = outcome.is_success();
        if answered {
            if success { b.latency.record(latency) } else { b.failure_latency.record(latency) }
        }
        if self.counted(started) {
            let s = &mut self.nodes[node as usize];
            s.outcomes.add(outcome);
            if answered {
                if success { s.latency.record(latency) } else { s.failure_latency.record(latency) }
            }
        }
    }

    /// A request that `node` accepted (or that was sent to it) at `started`
    /// was swallowed or lost just now: it will never be answered.
    #[inline]
    pub fn dropped(&mut self, node: u32, started: SimTime) {
        self.buckets[node as usize].dropped += 1;
        self.lifetime[node as usize][2] += 1;
        if self.counted(started) {
            self.nodes[node as usize].dropped += 1;
        }
    }

    /// A request at `node` ended because its caller reset it (see `NodeStats::cancelled`).
    pub fn cancelled(&mut self, node: u32, started: SimTime) {
        if self.counted(started) {
            self.nodes[node as usize].cancelled += 1;
        }
    }

    /// A request of class `class` was shed at `node`.
    pub fn shed(&mut self, node: u32, now: SimTime, class: crate::mechanisms::shed::Priority) {
        if self.counted(now) {
            self.nodes[node as usize].shed[class as usize] += 1;
        }
    }

    /// `node` refused a request at once: its queue was full, or (`inbound`)
    /// its inbound adaptive concurrency limit was reached.
    pub fn refused(&mut self, node: u32, now: SimTime, inbound: bool) {
        self.buckets[node as usize].refused += 1;
        if self.counted(now) {
            let s = &mut self.nodes[node as usize];
            if inbound { s.inbound_limited += 1 } else { s.queue_full += 1 }
        }
    }

    /// A caller's own limit on `edge` refused an attempt before sending it:
    /// its bulkhead, or (`adaptive`) its adaptive concurrency limit.
    pub fn refused_by_caller(&mut self, (caller, edge): (u32, u32), now: SimTime, adaptive: bool) {
        self.buckets[caller as usize].refused += 1;
        if self.counted(now) {
            let r = &mut self.edge_refusals[edge as usize];
            if adaptive { r.adaptive += 1 } else { r.bulkhead += 1 }
        }
    }

    /// A request at `node` was past its deadline (see `NodeStats::expired`).
    pub fn expired(&mut self, node: u32, started: SimTime) {
        if self.counted(started) {
            self.nodes[node as usize].expired += 1;
        }
    }

    #[inline]
    pub fn wasted(&mut self, node: u32, now: SimTime) {
        self.buckets[node as usize].wasted += 1;
        if self.counted(now) {
            self.nodes[node as usize].wasted += 1;
        }
    }

    #[inline]
    pub fn attempt(&mut self, node: u32, started: SimTime, retry: bool, hedge: bool) {
        self.buckets[node as usize].attempts += 1;
        if self.counted(started) {
            let s = &mut self.nodes[node as usize];
            s.attempts += 1;
            s.retries += u64::from(retry);
            s.hedges += u64::from(hedge);
        }
    }

    #[inline]
    pub fn route_answer(&mut self, node: u32, route: usize, started: SimTime, now: SimTime, outcome: Outcome) {
        if self.counted(started) {
            let r = &mut self.routes[node as usize][route];
            r.outcomes.add(outcome);
            if outcome.is_success() {
                r.latency.record(now - started);
            } else {
                r.failure_latency.record(now - started);
            }
        }
    }

    /// A rate limit of `node` rejected a request that arrived at `arrived`
    /// (counted in the summary, like its outcome, if it arrived after the warm-up).
    #[inline]
    pub fn limit_rejected(&mut self, node: u32, limit: usize, key: u32, arrived: SimTime) {
        self.buckets[node as usize].limit_rejections += 1;
        if self.counted(arrived) {
            self.limit_rejections[node as usize][limit] += 1;
            *self.limit_rejections_by_key[node as usize][limit].get_mut(key) += 1;
        }
    }

    #[inline]
    pub fn fallback(&mut self, node: u32, started: SimTime) {
        self.buckets[node as usize].fallbacks += 1;
        if self.counted(started) {
            self.nodes[node as usize].fallbacks += 1;
        }
    }

    pub fn breaker_event(&mut self, node: u32, e: BreakerEvent) {
        if e.to_open {
            self.buckets[node as usize].breaker_opened = true;
        }
        if self.breaker_events.len() < MAX_BREAKER_EVENTS {
            self.breaker_events.push(e);
        }
    }

    /// A fault started on `node` at `now`. At exactly a bucket boundary the
    /// start belongs to the bucket that begins there (the boundary's tick
    /// may run after the fault event that shares its instant).
    pub fn fault_active(&mut self, node: u32, now: SimTime) {
        if now >= self.bucket_start + self.resolution {
            self.fault_next[node as usize] = true;
            return;
        }
        self.buckets[node as usize].fault_active = true;
    }

    /// Changes the busy-worker and queue levels of `node` at `now`.
    #[inline]
    pub fn levels(&mut self, node: u32, now: SimTime, d_busy: i64, d_queued: i64) {
        self.advance(node as usize, now);
        let l = &mut self.levels[node as usize];
        l.busy = l.busy.checked_add_signed(d_busy).expect("invariant: busy workers never drop below 0");
        l.queued = l.queued.checked_add_signed(d_queued).expect("invariant: queued jobs never drop below 0");
        l.in_system = l.busy + l.queued;
    }

    /// Changes the number of client requests in flight (their "in system").
    #[inline]
    pub fn in_flight(&mut self, node: u32, now: SimTime, delta: i64) {
        self.advance(node as usize, now);
        let l = &mut self.levels[node as usize];
        l.in_system = l.in_system.checked_add_signed(delta).expect("invariant: requests in flight never drop below 0");
        l.queued = l.in_system;
    }

    #[inline]
    fn advance(&mut self, node: usize, now: SimTime) {
        let l = &mut self.levels[node];
        let dt = u128::from((now - l.last).as_nanos());
        if dt == 0 {
            return;
        }
        let b = &mut self.buckets[node];
        if l.last < self.warmup && now >= self.warmup {
            // The summary counts from the warm-up on: note the areas up to it.
            let before = u128::from((self.warmup - l.last).as_nanos());
            b.before_warmup =
                Some((b.busy_area + u128::from(l.busy) * before, b.queue_area + u128::from(l.queued) * before));
        }
        l.last = now;
        b.busy_area += u128::from(l.busy) * dt;
        b.queue_area += u128::from(l.queued) * dt;
    }

    /// Adds a closing bucket's areas after the warm-up to the summary's
    /// (a node's number in system is its busy workers plus its queue).
    fn fold_areas(&mut self, node: usize, bucket_start: SimTime) {
        let b = &mut self.buckets[node];
        let (busy, queued) = match b.before_warmup.take() {
            Some((busy, queued)) => (b.busy_area - busy, b.queue_area - queued),
            None if bucket_start >= self.warmup => (b.busy_area, b.queue_area),
            None => return,
        };
        let s = &mut self.nodes[node];
        s.busy_area += busy;
        s.queue_area += queued;
        s.in_system_area += busy + queued;
    }

    /// Closes the current bucket at `now` (its end) into rows and opens the
    /// next. `breakers_open[n]`: breakers of node n not closed now;
    /// `faults_active[n]`: a fault (partitions included) holds node n now,
    /// which flags the bucket that opens.
    pub fn close_bucket(&mut self, now: SimTime, breakers_open: &[u32], faults_active: &[bool]) {
        let width = u128::from((now - self.bucket_start).as_nanos().max(1));
        for node in 0..self.buckets.len() {
            self.advance(node, now);
            self.fold_areas(node, self.bucket_start);
            let b = &mut self.buckets[node];
            let [latency_ms_p50, latency_ms_p99] = b.latency.quantiles_ms([0.5, 0.99]);
            let failures_timed = !b.failure_latency.is_empty();
            let [failure_latency_ms_p50, failure_latency_ms_p99] = b.failure_latency.quantiles_ms([0.5, 0.99]);
            let capacity = self.capacity[node];
            self.rows.push(Row {
                bucket: self.bucket_index,
                node: node as u32,
                arrivals: b.arrivals,
                completed: b.completed,
                outcomes: b.outcomes,
                latency_ms_p50,
                latency_ms_p99,
                queue_len: b.queue_area as f64 / width as f64,
                utilization: if capacity == 0 { 0.0 } else { b.busy_area as f64 / (width as f64 * capacity as f64) },
                breakers_open: breakers_open[node] + u32::from(b.breaker_opened && breakers_open[node] == 0),
                fault_active: b.fault_active,
                attempts: b.attempts,
                wasted: b.wasted,
                failure_latency_ms_p50,
                failure_latency_ms_p99,
                failures_timed,
                dropped: b.dropped,
                fallbacks: b.fallbacks,
                limit_rejections: b.limit_rejections,
                refused: b.refused,
            });
            b.clear();
            let started_at_boundary = std::mem::take(&mut self.fault_next[node]);
            b.fault_active = faults_active[node] || started_at_boundary;
        }
        self.bucket_index += 1;
        self.bucket_start = now;
    }

    /// A request counted at `node` was still open when the run ended.
    pub fn unfinished_at(&mut self, node: u32) {
        self.unfinished[node as usize] += 1;
    }

    /// Requests `node` received and has not answered or dropped (yet).
    pub fn open_at(&self, node: u32) -> u64 {
        let [arrived, answered, dropped] = self.lifetime[node as usize];
        arrived.checked_sub(answered + dropped).expect("invariant: no node answers more than it received")
    }

    /// The busy workers and queued jobs the recorder tracks for `node`.
    pub fn levels_of(&self, node: u32) -> (u64, u64) {
        (self.levels[node as usize].busy, self.levels[node as usize].queued)
    }

    pub fn bucket_start(&self) -> SimTime {
        self.bucket_start
    }

    pub fn resolution(&self) -> SimDuration {
        self.resolution
    }

    /// The run ended at `end`: bring integrals up to it.
    pub fn finish(&mut self, end: SimTime) {
        for node in 0..self.levels.len() {
            self.advance(node, end);
        }
    }
}

impl Bucket {
    /// Empties the bucket, keeping the histogram's memory.
    fn clear(&mut self) {
        self.arrivals = 0;
        self.completed = 0;
        self.dropped = 0;
        self.outcomes = OutcomeCounts::default();
        self.latency.reset();
        self.failure_latency.reset();
        self.busy_area = 0;
        self.queue_area = 0;
        self.before_warmup = None;
        self.attempts = 0;
        self.wasted = 0;
        self.fallbacks = 0;
        self.limit_rejections = 0;
        self.refused = 0;
        self.fault_active = false;
        self.breaker_opened = false;
    }
}
