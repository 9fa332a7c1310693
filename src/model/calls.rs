//! Calls: one logical call over an edge, under the caller's policy
//! (breaker, bulkhead, balancing, per-attempt timeout, retries with backoff
//! and budget, hedging, fallback). The same code serves a client, a gateway
//! route, a balancer and a service's call.
//!
//! `CallTable` owns the calls, their attempts and every caller's view of
//! each edge (`EdgeState`: its breaker, bulkhead, budget and balancer
//! state). An attempt holds a `Permit` (a breaker permit and a bulkhead
//! slot, taken together, all or nothing) that is given back exactly once.
//!
//! Order of checks for each attempt (Envoy / resilience4j): breaker permit,
//! then bulkhead slot, then pick an instance. A retry first passes the retry
//! budget, then waits out its backoff, then goes through the same checks.

use std::collections::VecDeque;

use slotmap::SlotMap;

use crate::engine::rng::SimRng;
use crate::engine::{EventQueue, SimDuration, SimTime};
use crate::mechanisms::adaptive::AdaptiveLimit;
use crate::mechanisms::balance::PickState;
use crate::mechanisms::breaker::{Breaker, BreakerState, Transition};
use crate::mechanisms::budget::RetryBudget;
use crate::mechanisms::bulkhead::Bulkhead;
use crate::mechanisms::deadline::Deadline;
use crate::mechanisms::outlier::{self, OutlierDetector};
use crate::mechanisms::thresholds::{Admission, ThresholdStats, Thresholds};

use super::config::{Edge, EdgeId, InstId, Policy};
use super::faults::HealthEvent;
use super::outcome::Outcome;
use super::record::BreakerEvent;
use super::trace::{Ended, Try};
use super::world::{AttemptKey, CallKey, Ctx, Ev, JobKey, Parent, World};

/// Most attempts of one call in flight at once (1 + hedges).
const MAX_LIVE: usize = 8;

struct Call {
    parent: Parent,
    edge: EdgeId,
    /// Index into `CallTable::edges` (caller instance x edge).
    state: u32,
    caller: InstId,
    ctx: Ctx,
    started: SimTime,
    retries: u32,
    /// Hedges sent in the current round (reset by each retry: every
    /// attempt round may be hedged up to `max_extra` times).
    hedges: u32,
    live: [Option<AttemptKey>; MAX_LIVE],
    outstanding: u32,
    last_delay: SimDuration,
    last_failure: Outcome,
    /// The last failure was an answer (not the caller's own timeout), so
    /// the call's end has a latency to report.
    last_answered: bool,
    /// The Retry-After of the last failure (a 429's), passed on by proxies.
    last_retry_after: SimDuration,
    /// Set while a fallback is pending.
    settling: bool,
    /// Holds one of Envoy's `max_retries` slots (from the decision to
    /// retry until that retry's attempt ends).
    retry_slot: bool,
    /// When the whole call times out (`total_timeout`), or none.
    until: Deadline,
    /// Targets tried so far (bit `i % 64`), for `other_host`.
    tried: u64,
}

struct Attempt {
    call: CallKey,
    /// The request travels with the message, so an instance can work on it
    /// even after the caller gave up.
    ctx: Ctx,
    caller: InstId,
    /// A `Deliver` event for this attempt is pending.
    in_transit: bool,
    /// The caller is done with it (timed out, cancelled); kept only until
    /// delivery, so the callee still gets the request.
    abandoned: bool,
    /// Index of the instance in the edge's target list.
    target: u32,
    sent: SimTime,
    /// Taken back once, when the caller is done with the attempt.
    permit: Option<Permit>,
    /// The job that serves it at the callee, once delivered.
    job: Option<JobKey>,
    /// Giving up on it resets the callee's work (not `Policy::detach`).
    resets: bool,
    /// Its number within the call (0 the first, n the n-th retry), and
    /// whether it is a hedge: for its trace span.
    retry: u16,
    hedge: bool,
}

impl Call {
    /// The timer of an attempt sent (or connected) at `now`: the per-try
    /// timeout `own`, cut short by the call's deadline and total timeout.
    fn attempt_timer(&self, own: Option<SimDuration>, now: SimTime) -> Option<SimDuration> {
        self.until.attempt_timeout(self.ctx.deadline.attempt_timeout(own, now), now)
    }
}

/// What the caller knew of an attempt it is done with.
struct Forgotten {
    call: CallKey,
    target: u32,
    sent: SimTime,
    permit: Option<Permit>,
    /// The callee's job to reset, if the caller gave up on a delivered attempt.
    reset: Option<JobKey>,
    /// For its trace span.
    ctx: Ctx,
    retry: u16,
    hedge: bool,
}

/// What an attempt holds while it is out. Not `Copy`: it is given back once.
#[must_use]
struct Permit {
    breaker: bool,
    bulkhead: bool,
    /// A place under the adaptive concurrency limit.
    adaptive: bool,
    /// Its place under Envoy's thresholds.
    pool: Pool,
}

/// Why a caller's own checks kept an attempt from going out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// The breaker is open (or half-open with its trial calls out).
    Open,
    BulkheadFull,
    AdaptiveLimit,
}

impl Refusal {
    /// What the call sees: a short circuit, or an overloaded 503.
    fn outcome(self) -> Outcome {
        match self {
            Refusal::Open => Outcome::ShortCircuited,
            Refusal::BulkheadFull | Refusal::AdaptiveLimit => Outcome::Rejected,
        }
    }
}

/// An attempt's place in the caller's connection pool (Envoy thresholds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pool {
    /// No thresholds on this edge.
    Unlimited,
    /// Holds a connection: sent.
    Active,
    /// Waits for a connection (`max_pending_requests`).
    Waiting,
}

/// Per caller instance and edge: the caller's own view of the callee.
struct EdgeState {
    edge: EdgeId,
    caller: InstId,
    breaker: Option<Breaker>,
    bulkhead: Option<Bulkhead>,
    budget: Option<RetryBudget>,
    pick: PickState,
    /// Attempts in flight per target (for LeastOutstanding / PowerOfTwo).
    outstanding: Vec<u32>,
    /// Targets this caller must not use (a balancer's ejected instances).
    ejected: Vec<bool>,
    /// Too few targets are usable: use them all (Envoy's panic threshold).
    panic: bool,
    /// When and how long this caller was in panic, for reports.
    panic_log: PanicLog,
    /// Envoy's thresholds, and the attempts waiting for a connection (FIFO).
    thresholds: Option<Thresholds>,
    waiting: VecDeque<AttemptKey>,
    /// Envoy's outlier detection over the targets.
    outlier: Option<OutlierDetector>,
    /// Envoy's adaptive concurrency limit.
    adaptive: Option<AdaptiveLimit>,
    /// The breaker's change when a full bulkhead tripped it (`trips_breaker`),
    /// until the refusal is handled.
    tripped: Option<Transition>,
    rng: SimRng,
}

impl EdgeState {
    /// Target `i` is ejected by neither a health check nor outlier detection.
    fn usable(&self, i: usize) -> bool {
        !self.ejected[i] && !self.outlier.as_ref().is_some_and(|o| o.is_ejected(i))
    }

    /// After an ejection or a return: whether too few targets are usable
    /// (`balance::panics`, Envoy's panic threshold).
    fn update_panic(&mut self, threshold: Option<f64>, now: SimTime) {
        let panic = self.panics(threshold);
        if panic != self.panic {
            self.panic_log.change(panic, now);
        }
        self.panic = panic;
    }

    fn panics(&self, threshold: Option<f64>) -> bool {
        let n = self.ejected.len();
        let usable = (0..n).filter(|&i| self.usable(i)).count();
        threshold.is_some_and(|t| crate::mechanisms::balance::panics(usable, n, t))
    }

    /// The target of an attempt (`None`: none may be used). `avoid`: the
    /// targets a retry avoids (bit `i % 64`) while another can serve.
    #[inline]
    fn choose(&mut self, edge: &Edge, avoid: u64) -> Option<usize> {
        // In panic Envoy sends to every target, or with `fail_traffic_on_panic` to none
        // (arch_overview/upstream/load_balancing/panic_threshold).
        if self.panic && edge.policy.fail_on_panic {
            return None;
        }
        let EdgeState { outstanding, ejected, outlier, panic, pick, rng, .. } = self;
        let panic = *panic;
        // `EdgeState::usable` (or all, in panic), on the fields `pick` does not borrow.
        let usable = |i: usize| panic || (!ejected[i] && !outlier.as_ref().is_some_and(|o| o.is_ejected(i)));
        let fresh = |i: usize| usable(i) && avoid & (1 << (i % 64)) == 0;
        let n = edge.targets.len();
        match edge.balance.pick(pick, n, fresh, |i| outstanding[i], rng) {
            None if avoid != 0 => edge.balance.pick(pick, n, usable, |i| outstanding[i], rng),
            picked => picked,
        }
    }

    /// Takes a breaker permit and a bulkhead slot, all or nothing; `Err`
    /// says why not (an open breaker, a full bulkhead), with the breaker's
    /// change from asking for the permit (open to half-open). A change from
    /// a full bulkhead tripping the breaker is left in `tripped`.
    #[inline]
    fn acquire(&mut self, policy: &Policy, now: SimTime) -> (Result<Permit, Refusal>, Option<Transition>) {
        let mut permit = Permit { breaker: false, bulkhead: false, adaptive: false, pool: Pool::Unlimited };
        let mut transition = None;
        if let (Some(cfg), Some(b)) = (&policy.breaker, &mut self.breaker) {
            let acquired = b.try_acquire(cfg, now);
            transition = acquired.transition;
            if !acquired.permitted {
                return (Err(Refusal::Open), transition);
            }
            permit.breaker = true;
        }
        if let Some(bh) = &mut self.bulkhead {
            if !bh.try_acquire() {
                // Over the cap: rejected at once, never queued.
                self.tripped = self.bulkhead_full(permit, policy, now);
                return (Err(Refusal::BulkheadFull), transition);
            }
            permit.bulkhead = true;
        }
        if let (Some(cfg), Some(a)) = (&policy.adaptive, &mut self.adaptive) {
            if !a.try_acquire(cfg, now) {
                // Over the adaptive limit: a 503 at once, marked overloaded.
                self.give_back(permit, policy, now, None);
                return (Err(Refusal::AdaptiveLimit), transition);
            }
            permit.adaptive = true;
        }
        (Ok(permit), transition)
    }

    /// A full bulkhead refused the attempt: the breaker's permit goes back
    /// unused, or, with `trips_breaker`, as a failure lasting no time (a
    /// resilience4j CircuitBreaker around a Bulkhead records the
    /// `BulkheadFullException`). Out of line: the request path rarely
    /// comes here, and `give_back` stays inlined where it does.
    #[cold]
    #[inline(never)]
    fn bulkhead_full(&mut self, permit: Permit, policy: &Policy, now: SimTime) -> Option<Transition> {
        let failed = policy.bulkhead_trips_breaker.then_some((Outcome::Rejected, SimDuration::ZERO));
        self.give_back(permit, policy, now, failed)
    }

    /// Gives back what a permit held; records the attempt's result (its
    /// outcome and how long it took) on the breaker, or releases the
    /// breaker's permit unused when there is none.
    // `always`: on the request path through `release`, which rustc stopped
    // inlining it into once it had one more caller (+0.6% instructions).
    #[inline(always)]
    fn give_back(
        &mut self,
        permit: Permit,
        policy: &Policy,
        now: SimTime,
        result: Option<(Outcome, SimDuration)>,
    ) -> Option<Transition> {
        if permit.bulkhead {
            self.bulkhead.as_mut().expect("a slot implies a bulkhead").release();
        }
        if permit.adaptive {
            let a = self.adaptive.as_mut().expect("a place implies a limit");
            match (result, &policy.adaptive) {
                (Some((_, took)), Some(cfg)) => a.release(cfg, now, took),
                _ => a.release_unused(),
            }
        }
        debug_assert!(permit.pool == Pool::Unlimited, "the pool place is given back by `CallTable::release`");
        if !permit.breaker {
            return None;
        }
        let b = self.breaker.as_mut().expect("a permit implies a breaker");
        match result {
            Some((outcome, took)) => {
                let cfg = policy.breaker.as_ref().expect("a breaker has its config");
                b.on_result(cfg, now, outcome.is_server_failure(), took)
            }
            None => {
                b.release();
                None
            }
        }
    }
}

/// A caller's spells of panic (Envoy's panic threshold), for reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct PanicLog {
    /// Times it entered panic, the first of them, and the time spent in
    /// panic (a spell still on at the end counts up to the end).
    pub entered: u32,
    pub first: Option<SimTime>,
    pub total: SimDuration,
    since: Option<SimTime>,
}

impl PanicLog {
    fn change(&mut self, panic: bool, now: SimTime) {
        if panic {
            self.entered += 1;
            self.first.get_or_insert(now);
            self.since = Some(now);
        } else if let Some(since) = self.since.take() {
            self.total = self.total + now.saturating_since(since);
        }
    }

    /// The log as of `end` (a spell still on is counted up to it).
    fn at(mut self, end: SimTime) -> PanicLog {
        self.change(false, end);
        self
    }
}

/// A caller-side state that went into panic at least once.
#[derive(Clone, Copy, Debug)]
pub struct PanicAtEnd {
    pub caller: InstId,
    pub edge: EdgeId,
    pub log: PanicLog,
}

/// A breaker's identity and state at the end of the run, for reports.
#[derive(Clone, Copy, Debug)]
pub struct BreakerAtEnd {
    /// Its index in `BreakerEvent::breaker`.
    pub index: u32,
    pub caller: InstId,
    pub edge: EdgeId,
    pub state: BreakerState,
}

/// Every call, attempt and caller-side edge state.
pub(super) struct CallTable {
    calls: SlotMap<CallKey, Call>,
    attempts: SlotMap<AttemptKey, Attempt>,
    edges: Vec<EdgeState>,
    /// Per instance: the index of its first edge state.
    edge_base: Vec<u32>,
    /// Per edge: its index among the outgoing edges of its caller node.
    edge_slot: Vec<u32>,
}

impl CallTable {
    pub(super) fn new(cfg: &super::config::ModelConfig) -> CallTable {
        // Outgoing edges of each node with their own state, in edge order;
        // an edge of a cluster uses the slot of the cluster's first edge.
        let mut out_edges: Vec<Vec<EdgeId>> = vec![Vec::new(); cfg.nodes.len()];
        let mut edge_slot = vec![0u32; cfg.edges.len()];
        for (e, edge) in cfg.edges.iter().enumerate() {
            match edge.shares_with {
                Some(first) => edge_slot[e] = edge_slot[first as usize],
                None => {
                    edge_slot[e] = out_edges[edge.from as usize].len() as u32;
                    out_edges[edge.from as usize].push(e as EdgeId);
                }
            }
        }
        let (mut edges, mut edge_base) = (Vec::new(), Vec::with_capacity(cfg.instances.len()));
        for (i, inst) in cfg.instances.iter().enumerate() {
            edge_base.push(edges.len() as u32);
            for &e in &out_edges[inst.node as usize] {
                edges.push(edge_state(cfg, e, i as InstId, inst.replica));
            }
        }
        CallTable { calls: SlotMap::with_key(), attempts: SlotMap::with_key(), edges, edge_base, edge_slot }
    }

    fn state_of(&self, caller: InstId, edge: EdgeId) -> u32 {
        self.edge_base[caller as usize] + self.edge_slot[edge as usize]
    }

    pub(super) fn calls_in_flight(&self) -> usize {
        self.calls.len()
    }

    pub(super) fn has_call(&self, call: CallKey) -> bool {
        self.calls.contains_key(call)
    }

    /// The caller still waits for this attempt (a timeout for it matters).
    pub(super) fn attempt_is_live(&self, attempt: AttemptKey) -> bool {
        self.attempts.get(attempt).is_some_and(|a| !a.abandoned)
    }

    /// The attempt still exists (its answer would reach a waiting caller).
    pub(super) fn has_attempt(&self, attempt: AttemptKey) -> bool {
        self.attempts.contains_key(attempt)
    }

    /// An attempt's message reached its instance: who sent it, what, and
    /// whether its caller already gave up and reset it (the reset follows
    /// the request on the wire). One given up on is forgotten now.
    pub(super) fn deliver(&mut self, key: AttemptKey) -> (InstId, Ctx, bool) {
        let a = self.attempts.get_mut(key).expect("attempts in transit are kept until delivered");
        a.in_transit = false;
        let (caller, ctx, reset) = (a.caller, a.ctx, a.abandoned && a.resets);
        if a.abandoned {
            self.attempts.remove(key);
        }
        (caller, ctx, reset)
    }

    /// Job `job` serves attempt `key` (if its caller still waits for it).
    pub(super) fn served_by(&mut self, key: AttemptKey, job: JobKey) {
        if let Some(a) = self.attempts.get_mut(key) {
            a.job = Some(job);
        }
    }

    /// A balancer's view of one target: ejected or back.
    pub(super) fn set_ejected(
        &mut self,
        caller: InstId,
        edge: &super::config::Edge,
        id: EdgeId,
        target: usize,
        ejected: bool,
        now: SimTime,
    ) {
        let state = self.state_of(caller, id) as usize;
        self.edges[state].ejected[target] = ejected;
        self.edges[state].update_panic(edge.policy.panic_threshold, now);
    }

    /// The calls made on behalf of any of `jobs` (sorted), in key order.
    pub(super) fn calls_of_jobs(&self, jobs: &[JobKey]) -> Vec<CallKey> {
        self.calls
            .iter()
            .filter(|(_, c)| matches!(c.parent, Parent::Job(j) if jobs.binary_search(&j).is_ok()))
            .map(|(k, _)| k)
            .collect()
    }

    /// (client, issued at) of every client request still open.
    pub(super) fn client_requests_open(&self) -> Vec<(u32, SimTime)> {
        self.calls
            .values()
            .filter_map(|c| match c.parent {
                Parent::Client { client, born, .. } => Some((client, born)),
                Parent::Job(_) => None,
            })
            .collect()
    }

    /// The calling instance of every breaker that is not closed.
    pub(super) fn callers_with_open_breakers(&self) -> impl Iterator<Item = InstId> + '_ {
        self.edges
            .iter()
            .filter(|es| es.breaker.as_ref().is_some_and(|b| b.state() != BreakerState::Closed))
            .map(|es| es.caller)
    }

    pub(super) fn panics_at_end(&self, end: SimTime) -> Vec<PanicAtEnd> {
        let spells = self.edges.iter().filter(|es| es.panic_log.entered > 0);
        spells.map(|es| PanicAtEnd { caller: es.caller, edge: es.edge, log: es.panic_log.at(end) }).collect()
    }

    pub(super) fn breakers_at_end(&self) -> Vec<BreakerAtEnd> {
        self.edges
            .iter()
            .enumerate()
            .filter_map(|(i, es)| {
                let b = es.breaker.as_ref()?;
                Some(BreakerAtEnd { index: i as u32, caller: es.caller, edge: es.edge, state: b.state() })
            })
            .collect()
    }

    /// The caller is done with an attempt: returns what it needs to know,
    /// or `None` if it was already done. One still in transit is kept
    /// (abandoned) until it is delivered.
    #[inline]
    fn forget_attempt(&mut self, key: AttemptKey) -> Option<Forgotten> {
        let a = self.attempts.get_mut(key)?;
        if a.abandoned {
            return None;
        }
        if a.in_transit {
            a.abandoned = true;
            return Some(Forgotten {
                call: a.call,
                target: a.target,
                sent: a.sent,
                permit: a.permit.take(),
                reset: None,
                ctx: a.ctx,
                retry: a.retry,
                hedge: a.hedge,
            });
        }
        let a = self.attempts.remove(key).expect("just found");
        let reset = a.job.filter(|_| a.resets);
        let (ctx, retry, hedge) = (a.ctx, a.retry, a.hedge);
        Some(Forgotten { call: a.call, target: a.target, sent: a.sent, permit: a.permit, reset, ctx, retry, hedge })
    }

    /// Gives back attempt `key`'s permit (its connection or pending place
    /// too) and its place among the target's outstanding attempts; returns
    /// the breaker's change, if any.
    #[expect(
        clippy::too_many_arguments,
        reason = "one attempt's identity and result; a struct would only move the list"
    )]
    fn release(
        &mut self,
        edge: &Edge,
        state: u32,
        key: AttemptKey,
        target: u32,
        permit: Option<Permit>,
        now: SimTime,
        result: Option<(Outcome, SimDuration)>,
    ) -> Option<Transition> {
        let es = &mut self.edges[state as usize];
        es.outstanding[target as usize] -= 1;
        let mut permit = permit?;
        match std::mem::replace(&mut permit.pool, Pool::Unlimited) {
            Pool::Unlimited => {}
            Pool::Active => es.thresholds.as_mut().expect("a connection implies thresholds").finish(),
            Pool::Waiting => {
                es.thresholds.as_mut().expect("a pending place implies thresholds").abandon_pending();
                let i = es.waiting.iter().position(|k| *k == key).expect("a waiting attempt is queued");
                es.waiting.remove(i);
            }
        }
        es.give_back(permit, &edge.policy, now, result)
    }

    /// Gives back a call's retry slot (Envoy's `max_retries`), if it holds one.
    fn release_retry_slot(&mut self, key: CallKey) {
        let call = &mut self.calls[key];
        if std::mem::take(&mut call.retry_slot) {
            let es = &mut self.edges[call.state as usize];
            es.thresholds.as_mut().expect("a retry slot implies thresholds").retry_done();
        }
    }

    /// (edge state, interval) of every outlier detector that sweeps.
    pub(super) fn outlier_sweeps(&self, cfg: &super::config::ModelConfig) -> Vec<(u32, SimDuration)> {
        self.edges
            .iter()
            .enumerate()
            .filter_map(|(i, es)| {
                let c = cfg.edges[es.edge as usize].policy.outlier?;
                let sweeps = c.success_rate.is_some() || c.failure_percentage.is_some();
                (es.outlier.is_some() && sweeps).then_some((i as u32, c.interval))
            })
            .collect()
    }

    /// Overflow counters per edge with thresholds, summed over its callers.
    pub(super) fn thresholds_at_end(&self) -> Vec<(EdgeId, ThresholdStats)> {
        let mut out: Vec<(EdgeId, ThresholdStats)> = Vec::new();
        for es in &self.edges {
            let Some(t) = &es.thresholds else { continue };
            let s = t.stats();
            let i = match out.iter().position(|(e, _)| *e == es.edge) {
                Some(i) => i,
                None => {
                    out.push((es.edge, ThresholdStats::default()));
                    out.len() - 1
                }
            };
            let sum = &mut out[i].1;
            sum.upstream_cx_overflow += s.upstream_cx_overflow;
            sum.upstream_rq_pending_overflow += s.upstream_rq_pending_overflow;
            sum.upstream_rq_retry_overflow += s.upstream_rq_retry_overflow;
            sum.pending_peak = sum.pending_peak.max(s.pending_peak);
        }
        out.sort_by_key(|(e, _)| *e);
        out
    }

    /// Checks what must always hold, panicking with the invariant's name.
    pub(super) fn check_invariants(&self, cfg: &super::config::ModelConfig) {
        for c in self.calls.values() {
            let live = c.live.iter().flatten().count();
            assert_eq!(c.outstanding as usize, live, "invariant: a call's outstanding count is its live attempts");
        }
        let mut permits = vec![0u32; self.edges.len()];
        let mut out = vec![0u32; self.edges.len()];
        for a in self.attempts.values() {
            let Some(call) = self.calls.get(a.call) else {
                assert!(a.abandoned, "invariant: an attempt without a call was abandoned");
                continue;
            };
            if a.permit.as_ref().is_some_and(|p| p.breaker) {
                permits[call.state as usize] += 1;
            }
            if !a.abandoned {
                out[call.state as usize] += 1;
            }
        }
        for (i, es) in self.edges.iter().enumerate() {
            let threshold = cfg.edges[es.edge as usize].policy.panic_threshold;
            assert_eq!(es.panic, es.panics(threshold), "invariant: the panic flag follows the ejections");
            if let (Some(b), Some(bc)) = (&es.breaker, &cfg.edges[es.edge as usize].policy.breaker)
                && b.state() == BreakerState::HalfOpen
            {
                assert!(permits[i] <= bc.half_open_calls, "invariant: breaker permits out <= half-open trial calls");
            }
            if let Some(t) = &es.thresholds {
                assert_eq!(
                    t.pending() as usize,
                    es.waiting.len(),
                    "invariant: pending requests are the queued attempts"
                );
                let limits = cfg.edges[es.edge as usize].policy.thresholds.expect("thresholds have a config");
                assert!(t.pending() <= limits.max_pending_requests, "invariant: pending <= max_pending_requests");
                assert!(t.active() <= limits.max_requests, "invariant: active <= max_requests");
            }
            let outstanding: u32 = es.outstanding.iter().sum();
            assert_eq!(outstanding, out[i], "invariant: outstanding attempts per target add up to the live attempts");
        }
    }
}

fn edge_state(cfg: &super::config::ModelConfig, e: EdgeId, caller: InstId, replica: u32) -> EdgeState {
    let edge = &cfg.edges[e as usize];
    let p = &edge.policy;
    EdgeState {
        edge: e,
        caller,
        breaker: p.breaker.as_ref().map(Breaker::new),
        bulkhead: p.bulkhead.map(Bulkhead::new),
        budget: p.retry.as_ref().and_then(|r| r.budget.as_ref()).map(RetryBudget::new),
        thresholds: p.thresholds.map(|_| Thresholds::new()),
        waiting: VecDeque::new(),
        outlier: p.outlier.map(|_| OutlierDetector::new(edge.targets.len())),
        adaptive: p
            .adaptive
            .as_ref()
            .map(|c| AdaptiveLimit::new(c, crate::engine::rng::stream(cfg.seed, "adaptive", &edge.label, replica))),
        tripped: None,
        pick: Default::default(),
        outstanding: vec![0; edge.targets.len()],
        ejected: vec![false; edge.targets.len()],
        panic: false,
        panic_log: PanicLog::default(),
        rng: crate::engine::rng::stream(cfg.seed, "edge", &edge.label, replica),
    }
}

/// How an attempt ended, for its caller.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum End {
    /// The callee answered.
    Answered,
    /// The caller's own connection pool refused it while it waited
    /// (`max_requests`): a fast 503 that no callee sent.
    Overflowed,
    /// Its timeout fired: no answer.
    TimedOut,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Send {
    First,
    Retry,
    Hedge,
}

impl World<'_> {
    /// Records a breaker's state change (for plots and the cascade story).
    fn breaker_changed(&mut self, caller: InstId, state: u32, t: Transition) {
        let event = BreakerEvent {
            at: t.at,
            breaker: state,
            to_open: t.to == BreakerState::Open,
            to_half_open: t.to == BreakerState::HalfOpen,
        };
        let node = self.servers.node_of(caller);
        self.rec.breaker_event(node, event);
    }

    /// Starts a call from instance `caller` over `edge`; `parent` is told the result.
    pub(super) fn start_call(
        &mut self,
        now: SimTime,
        parent: Parent,
        edge: EdgeId,
        caller: InstId,
        ctx: Ctx,
        q: &mut EventQueue<Ev>,
    ) {
        let state = self.calls.state_of(caller, edge);
        let call = self.calls.calls.insert(Call {
            parent,
            edge,
            state,
            caller,
            ctx,
            started: now,
            retries: 0,
            hedges: 0,
            live: [None; MAX_LIVE],
            outstanding: 0,
            last_delay: SimDuration::ZERO,
            last_failure: Outcome::Error,
            last_answered: true,
            last_retry_after: SimDuration::ZERO,
            settling: false,
            retry_slot: false,
            until: self.cfg.edges[edge as usize]
                .policy
                .total_timeout
                .map_or(Deadline::NONE, |t| Deadline::after(now, t)),
            tried: 0,
        });
        if let Some(budget) = &mut self.calls.edges[state as usize].budget {
            budget.deposit(now);
        }
        if let Parent::Job(job) = parent {
            self.servers.job_mut(job).calls.push(call);
        }
        self.send(now, call, Send::First, q);
    }

    /// Sends one attempt of `call`, or fails it at once if it may not go.
    fn send(&mut self, now: SimTime, key: CallKey, kind: Send, q: &mut EventQueue<Ev>) {
        let cfg = self.cfg;
        let call = &self.calls.calls[key];
        let (edge, state, caller, mut ctx) = (&cfg.edges[call.edge as usize], call.state, call.caller, call.ctx);
        let (until, retries, hedges) = (call.until, call.retries, call.hedges);
        if ctx.deadline.passed(now) || until.passed(now) {
            // gRPC fails a call past its deadline without sending it (and
            // Envoy a route past its timeout).
            if kind != Send::Hedge {
                q.schedule(now, Ev::Refused { call: key, outcome: Outcome::Timeout });
            }
            return;
        }
        let Some((permit, target)) = self.admit(now, key, edge, state, kind, q) else { return };
        let p = &edge.policy;
        let waits = permit.pool == Pool::Waiting;
        // Envoy starts the per-try timeout once a connection is ready
        // (`UpstreamRequest::onPoolReady`); only the call's deadline and
        // total timeout run while an attempt waits for one.
        let timeout = self.calls.calls[key].attempt_timer(if waits { None } else { p.timeout }, now);
        ctx.deadline = ctx.deadline.for_callee(p.timeout, p.start_deadline, now);
        let es = &mut self.calls.edges[state as usize];
        es.outstanding[target] += 1;
        if let (true, Some(tracer)) = (ctx.trace != 0, &mut self.tracer) {
            ctx.span = tracer.pair();
        }
        let retry = u16::try_from(retries).unwrap_or(u16::MAX);
        let attempt = self.calls.attempts.insert(Attempt {
            call: key,
            ctx,
            caller,
            in_transit: false,
            abandoned: false,
            target: target as u32,
            sent: now,
            permit: Some(permit),
            job: None,
            resets: !p.detach,
            retry,
            hedge: kind == Send::Hedge,
        });
        let call = &mut self.calls.calls[key];
        call.outstanding += 1;
        call.tried |= 1 << (target % 64);
        let slot = call.live.iter().position(Option::is_none).expect("at most 1 + max_extra (<= 7) attempts live");
        call.live[slot] = Some(attempt);
        let started = call.started;
        self.rec.attempt(self.servers.node_of(caller), started, kind == Send::Retry, kind == Send::Hedge);
        if let Some(t) = timeout {
            q.schedule(now + t, Ev::Timeout { attempt });
        }
        if let Some(h) = edge.policy.hedge
            && hedges < h.max_extra
        {
            q.schedule(now + h.after, Ev::Hedge { call: key, round: retries });
        }
        if waits {
            // No connection free: it waits (its timeout runs meanwhile).
            self.calls.edges[state as usize].waiting.push_back(attempt);
            return;
        }
        self.transmit(now, attempt, edge.targets[target], q);
    }

    /// Puts attempt `attempt`'s request on the wire to instance `inst`.
    fn transmit(&mut self, now: SimTime, attempt: AttemptKey, inst: InstId, q: &mut EventQueue<Ev>) {
        let caller = self.calls.attempts[attempt].caller;
        match self.request_hop(caller, inst) {
            Some(d) => {
                self.calls.attempts[attempt].in_transit = true;
                q.schedule(now + d, Ev::Deliver { attempt, inst });
            }
            None => {
                // A partition swallowed the request: to its callers the node
                // took it and never answered, so it counts there as dropped.
                let node = self.servers.node_of(inst);
                self.rec.arrival(node, now);
                self.rec.dropped(node, now);
            }
        }
    }

    /// The checks before an attempt goes out (breaker, bulkhead, a target
    /// to send to). `None`: it may not go, and (unless it is a hedge) the
    /// call fails with the reason in a `Refused` event.
    fn admit(
        &mut self,
        now: SimTime,
        key: CallKey,
        edge: &Edge,
        state: u32,
        kind: Send,
        q: &mut EventQueue<Ev>,
    ) -> Option<(Permit, usize)> {
        let es = &mut self.calls.edges[state as usize];
        let caller = es.caller;
        let (acquired, transition) = es.acquire(&edge.policy, now);
        if let Some(t) = transition {
            self.breaker_changed(caller, state, t);
        }
        let refuse = |q: &mut EventQueue<Ev>, outcome| {
            if kind != Send::Hedge {
                q.schedule(now, Ev::Refused { call: key, outcome });
            }
        };
        let permit = match acquired {
            Ok(p) => p,
            Err(refusal) => {
                if let Some(t) = self.calls.edges[state as usize].tripped.take() {
                    self.breaker_changed(caller, state, t);
                }
                if refusal != Refusal::Open {
                    let at = (self.servers.node_of(caller), self.calls.calls[key].edge);
                    self.rec.refused_by_caller(at, now, refusal == Refusal::AdaptiveLimit);
                }
                refuse(q, refusal.outcome());
                return None;
            }
        };
        // Envoy's `previous_hosts`: a retry avoids the instances tried, if any other can serve.
        let other_host = kind == Send::Retry && edge.policy.retry.as_ref().is_some_and(|r| r.other_host);
        let avoid = if other_host { self.calls.calls[key].tried } else { 0 };
        let es = &mut self.calls.edges[state as usize];
        let picked = es.choose(edge, avoid);
        match picked {
            Some(target) => {
                let mut permit = permit;
                if let (Some(th), Some(limits)) = (&mut es.thresholds, &edge.policy.thresholds) {
                    match th.admit(limits) {
                        Admission::Send => permit.pool = Pool::Active,
                        Admission::Wait => permit.pool = Pool::Waiting,
                        Admission::Overflow => {
                            // Envoy's 503 with x-envoy-overloaded.
                            let t = es.give_back(permit, &edge.policy, now, None);
                            debug_assert!(t.is_none(), "releasing an unused permit changes no state");
                            refuse(q, Outcome::Rejected);
                            return None;
                        }
                    }
                }
                Some((permit, target))
            }
            None => {
                let t = es.give_back(permit, &edge.policy, now, None);
                debug_assert!(t.is_none(), "releasing an unused permit changes no state");
                refuse(q, Outcome::Unavailable);
                None
            }
        }
    }

    /// An attempt ended: an answer arrived (`answered`), or its timeout fired.
    pub(super) fn on_attempt_end(
        &mut self,
        now: SimTime,
        key: AttemptKey,
        outcome: Outcome,
        retry_after: SimDuration,
        end: End,
        q: &mut EventQueue<Ev>,
    ) {
        let answered = end != End::TimedOut;
        let Some(Forgotten { call: call_key, target, sent, permit, reset, ctx, retry, hedge }) =
            self.calls.forget_attempt(key)
        else {
            return; // the attempt already ended (answered, cancelled or timed out)
        };
        if let Some(job) = reset {
            self.reset_job(now, job, q);
        }
        let call = &self.calls.calls[call_key];
        let (state, edge, caller) = (call.state, call.edge, call.caller);
        let t = Try { parent: call.ctx.span, retry, hedge, edge_state: state };
        self.trace_attempt(&ctx, caller, t, Ended { start: sent, end: now, outcome, answered, cancelled: false });
        let result = Some((outcome, now - sent));
        let t = self.calls.release(&self.cfg.edges[edge as usize], state, key, target, permit, now, result);
        if let Some(t) = t {
            self.breaker_changed(caller, state, t);
        }
        self.outlier_result(now, state, target, outcome, q);
        self.dispatch_waiting(now, state, q);
        let call = &mut self.calls.calls[call_key];
        call.outstanding -= 1;
        if let Some(slot) = call.live.iter_mut().find(|s| **s == Some(key)) {
            *slot = None;
        }
        if outcome.is_success() {
            self.settle(now, call_key, outcome, q);
            return;
        }
        call.last_failure = outcome;
        call.last_answered = answered;
        call.last_retry_after = retry_after;
        if call.outstanding > 0 {
            return; // a hedge is still out; it may yet succeed
        }
        self.after_failure(now, call_key, outcome, retry_after, end == End::Answered, q);
    }

    /// The call's last attempt failed with `outcome`, answered by the
    /// callee (`from_callee`) or not: retry, fall back, or fail.
    fn after_failure(
        &mut self,
        now: SimTime,
        key: CallKey,
        outcome: Outcome,
        retry_after: SimDuration,
        from_callee: bool,
        q: &mut EventQueue<Ev>,
    ) {
        // The previous retry (if any) is decided on: Envoy frees its slot here.
        self.calls.release_retry_slot(key);
        let call = &self.calls.calls[key];
        let edge = &self.cfg.edges[call.edge as usize];
        if let Some(retry) = &edge.policy.retry {
            let honor = match call.parent {
                Parent::Client { client, .. } => self.clients.honors_retry_after(client),
                Parent::Job(_) => false,
            };
            let retryable = retry.on.contains(outcome)
                || (from_callee && retry.on_answered.contains(outcome))
                || (outcome == Outcome::RateLimited && honor);
            // No retry past the deadline: nobody waits for its answer.
            let late = call.ctx.deadline.passed(now) || call.until.passed(now);
            if retryable && call.retries < retry.max && !late {
                let es = &mut self.calls.edges[call.state as usize];
                // Envoy's max_retries / retry_budget first, then the Finagle budget.
                let slot = match (&mut es.thresholds, &edge.policy.thresholds) {
                    (Some(th), Some(limits)) => Some(th.try_retry(limits)),
                    _ => None,
                };
                let budget_ok = slot != Some(false) && es.budget.as_mut().is_none_or(|b| b.try_withdraw(now));
                if slot == Some(true) && !budget_ok {
                    es.thresholds.as_mut().expect("a slot implies thresholds").retry_done();
                }
                if budget_ok {
                    let n = call.retries + 1;
                    let mut delay = retry.backoff.delay(n, call.last_delay, &mut es.rng);
                    if outcome == Outcome::RateLimited {
                        delay = delay.max(retry_after);
                    }
                    // The retry cannot outlive the call's total timeout.
                    if let Some(left) = self.calls.calls[key].until.remaining(now) {
                        delay = delay.min(left);
                    }
                    let call = &mut self.calls.calls[key];
                    call.retry_slot = slot == Some(true);
                    call.retries = n;
                    call.hedges = 0;
                    call.last_delay = delay;
                    q.schedule(now + delay, Ev::Retry { call: key });
                    return;
                }
            }
        }
        self.fail(now, key, outcome, q);
    }

    /// A failure is final: serve the fallback if there is one, else settle.
    fn fail(&mut self, now: SimTime, key: CallKey, outcome: Outcome, q: &mut EventQueue<Ev>) {
        let call = &mut self.calls.calls[key];
        let edge = &self.cfg.edges[call.edge as usize];
        if let (Some(fb), true) = (&edge.policy.fallback, outcome.is_server_failure()) {
            call.settling = true;
            let d = self.servers.sample(call.caller, &fb.latency);
            q.schedule(now + d, Ev::FallbackDone { call: key });
            return;
        }
        self.settle(now, key, outcome, q);
    }

    pub(super) fn on_fallback_done(&mut self, now: SimTime, key: CallKey, q: &mut EventQueue<Ev>) {
        if let Some(c) = self.calls.calls.get(key) {
            let node = self.servers.node_of(c.caller);
            self.rec.fallback(node, c.started);
        }
        self.settle(now, key, Outcome::Fallback, q);
    }

    pub(super) fn on_retry(&mut self, now: SimTime, key: CallKey, q: &mut EventQueue<Ev>) {
        if self.calls.calls.contains_key(key) {
            self.send(now, key, Send::Retry, q);
        }
    }

    pub(super) fn on_hedge(&mut self, now: SimTime, key: CallKey, round: u32, q: &mut EventQueue<Ev>) {
        let Some(call) = self.calls.calls.get_mut(key) else { return };
        let max_extra = self.cfg.edges[call.edge as usize].policy.hedge.map_or(0, |h| h.max_extra);
        // A timer of an earlier round (that round failed and was retried),
        // an answered call, or a used-up allowance: no hedge.
        if call.settling || call.outstanding == 0 || round != call.retries || call.hedges >= max_extra {
            return;
        }
        call.hedges += 1;
        self.send(now, key, Send::Hedge, q);
    }

    /// The caller refused its own call (open breaker, full bulkhead, no
    /// instance): a fast local failure. Overloaded ones (short-circuit,
    /// bulkhead) are retried only if the policy lists them.
    pub(super) fn on_refused(&mut self, now: SimTime, key: CallKey, outcome: Outcome, q: &mut EventQueue<Ev>) {
        let Some(call) = self.calls.calls.get_mut(key) else { return };
        call.last_failure = outcome;
        // A call refused past its deadline got no answer to time.
        call.last_answered = outcome != Outcome::Timeout;
        call.last_retry_after = SimDuration::ZERO;
        self.after_failure(now, key, outcome, SimDuration::ZERO, false, q);
    }

    /// Removes a call and cancels its attempts still out (their callees may
    /// still do the work); pending retry, hedge and fallback events then
    /// find nothing. `None` if it was already gone.
    pub(super) fn cancel(
        &mut self,
        now: SimTime,
        key: CallKey,
        q: &mut EventQueue<Ev>,
    ) -> Option<(Parent, bool, SimDuration, Ctx, InstId)> {
        let call = self.calls.calls.remove(key)?;
        let edge = &self.cfg.edges[call.edge as usize];
        if call.retry_slot {
            let es = &mut self.calls.edges[call.state as usize];
            es.thresholds.as_mut().expect("a retry slot implies thresholds").retry_done();
        }
        if call.outstanding > 0 {
            for attempt in call.live.iter().flatten() {
                self.cancel_attempt(now, &call, edge, *attempt, q);
            }
        }
        self.dispatch_waiting(now, call.state, q);
        Some((call.parent, call.last_answered, call.last_retry_after, call.ctx, call.caller))
    }

    /// The caller gives up on attempt `attempt` of `call` (being cancelled).
    fn cancel_attempt(&mut self, now: SimTime, call: &Call, edge: &Edge, attempt: AttemptKey, q: &mut EventQueue<Ev>) {
        let Some(f) = self.calls.forget_attempt(attempt) else { return };
        let t = Try { parent: call.ctx.span, retry: f.retry, hedge: f.hedge, edge_state: call.state };
        let e = Ended { start: f.sent, end: now, outcome: Outcome::Timeout, answered: false, cancelled: true };
        self.trace_attempt(&f.ctx, call.caller, t, e);
        let t = self.calls.release(edge, call.state, attempt, f.target, f.permit, now, None);
        debug_assert!(t.is_none(), "releasing an unused permit changes no state");
        if let Some(job) = f.reset {
            self.reset_job(now, job, q);
        }
    }

    /// Connections freed on caller edge `state`: send the attempts waiting
    /// for one, first come first served (a `max_requests` overflow fails one
    /// with an overloaded 503). Nothing to do on an edge without thresholds.
    #[inline]
    fn dispatch_waiting(&mut self, now: SimTime, state: u32, q: &mut EventQueue<Ev>) {
        if self.calls.edges[state as usize].thresholds.is_some() {
            self.dispatch_pending(now, state, q);
        }
    }

    #[inline(never)]
    fn dispatch_pending(&mut self, now: SimTime, state: u32, q: &mut EventQueue<Ev>) {
        loop {
            let es = &mut self.calls.edges[state as usize];
            let (Some(th), Some(limits)) = (&mut es.thresholds, &self.cfg.edges[es.edge as usize].policy.thresholds)
            else {
                return;
            };
            let Some(admission) = th.next_pending(limits) else { return };
            let key = es.waiting.pop_front().expect("every pending request is queued");
            let attempt = &mut self.calls.attempts[key];
            let permit = attempt.permit.as_mut().expect("a waiting attempt holds its permit");
            let edge = &self.cfg.edges[self.calls.calls[attempt.call].edge as usize];
            if admission == Admission::Send {
                permit.pool = Pool::Active;
                let inst = edge.targets[attempt.target as usize];
                // Its per-try timeout starts now, with the connection.
                if edge.policy.timeout.is_some()
                    && let Some(d) = self.calls.calls[attempt.call].attempt_timer(edge.policy.timeout, now)
                {
                    q.schedule(now + d, Ev::Timeout { attempt: key });
                }
                self.transmit(now, key, inst, q);
            } else {
                permit.pool = Pool::Unlimited;
                q.schedule(now, Ev::Overflow { attempt: key });
            }
        }
    }

    /// The call is over: cancel attempts still out and tell the parent.
    pub(super) fn settle(&mut self, now: SimTime, key: CallKey, outcome: Outcome, q: &mut EventQueue<Ev>) {
        let Some((parent, last_answered, last_retry_after, ctx, caller)) = self.cancel(now, key, q) else { return };
        let answered = outcome.is_success() || last_answered;
        match parent {
            Parent::Client { client, vu, born } => {
                self.trace_request(&ctx, caller, Ended { start: born, end: now, outcome, answered, cancelled: false });
                self.request_done(now, client, vu, born, outcome, answered, q)
            }
            Parent::Job(job) => {
                self.servers.forget_call(job, key);
                let retry_after = if outcome == Outcome::RateLimited { last_retry_after } else { SimDuration::ZERO };
                self.job_call_done(now, job, outcome, retry_after, q)
            }
        }
    }
}

/// How an attempt's outcome counts for outlier detection. As in Envoy
/// (`DetectorHostMonitorImpl::putHttpResponseCode`), every answer that is
/// not a 5xx counts as a success and resets the consecutive counters: a
/// 4xx is the client's doing, not the host's.
fn outlier_class(outcome: Outcome) -> outlier::Result {
    match outcome {
        Outcome::Ok | Outcome::Partial | Outcome::Fallback => outlier::Result::Success,
        Outcome::RateLimited | Outcome::Unauthorized | Outcome::NotFound => outlier::Result::Success,
        Outcome::Error => outlier::Result::ServerError,
        Outcome::Timeout | Outcome::Unavailable | Outcome::Rejected | Outcome::ShortCircuited => {
            outlier::Result::GatewayFailure
        }
    }
}

impl World<'_> {
    /// An attempt's result on caller edge `state`, for outlier detection.
    fn outlier_result(&mut self, now: SimTime, state: u32, target: u32, outcome: Outcome, q: &mut EventQueue<Ev>) {
        let es = &mut self.calls.edges[state as usize];
        let (Some(o), Some(cfg)) = (&mut es.outlier, &self.cfg.edges[es.edge as usize].policy.outlier) else {
            return;
        };
        if let Some(until) = o.record(cfg, target as usize, outlier_class(outcome), now) {
            self.outlier_ejected(now, state, target, until, q);
        }
    }

    /// Records an ejection and schedules the return.
    fn outlier_ejected(&mut self, now: SimTime, state: u32, target: u32, until: SimTime, q: &mut EventQueue<Ev>) {
        let es = &mut self.calls.edges[state as usize];
        let edge = &self.cfg.edges[es.edge as usize];
        es.update_panic(edge.policy.panic_threshold, now);
        let (caller, inst) = (es.caller, edge.targets[target as usize]);
        let event = HealthEvent { at: now, balancer: edge.from, inst, ejected: true, outlier: Some(caller) };
        self.faults.outlier_event(event);
        self.schedule_before_end(q, until, Ev::OutlierReturn { state, target });
    }

    pub(super) fn on_outlier_sweep(&mut self, now: SimTime, state: u32, q: &mut EventQueue<Ev>) {
        let es = &mut self.calls.edges[state as usize];
        let cfg = self.cfg.edges[es.edge as usize].policy.outlier.expect("sweeps only with outlier detection");
        let o = es.outlier.as_mut().expect("a detector on this edge");
        for (target, until) in o.sweep(&cfg, now) {
            self.outlier_ejected(now, state, target as u32, until, q);
        }
        self.schedule_before_end(q, now + cfg.interval, Ev::OutlierSweep { state });
    }

    pub(super) fn on_outlier_return(&mut self, now: SimTime, state: u32, target: u32) {
        let es = &mut self.calls.edges[state as usize];
        es.outlier.as_mut().expect("a detector on this edge").release(target as usize, now);
        let edge = &self.cfg.edges[es.edge as usize];
        es.update_panic(edge.policy.panic_threshold, now);
        let (caller, inst) = (es.caller, edge.targets[target as usize]);
        self.faults.outlier_event(HealthEvent {
            at: now,
            balancer: edge.from,
            inst,
            ejected: false,
            outlier: Some(caller),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outlier_detection_counts_a_4xx_as_a_success_and_any_5xx_as_a_failure() {
        // Envoy: a non-5xx answer is a success for the host; 502/503/504
        // are gateway failures; other 5xx are plain server errors.
        for o in [Outcome::RateLimited, Outcome::Unauthorized, Outcome::NotFound, Outcome::Ok, Outcome::Fallback] {
            assert_eq!(outlier_class(o), outlier::Result::Success, "{o:?}");
        }
        assert_eq!(outlier_class(Outcome::Error), outlier::Result::ServerError);
        for o in [Outcome::Timeout, Outcome::Unavailable, Outcome::Rejected, Outcome::ShortCircuited] {
            assert_eq!(outlier_class(o), outlier::Result::GatewayFailure, "{o:?}");
        }
    }
}
