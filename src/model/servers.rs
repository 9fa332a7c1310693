//! Servers: what an instance does with a request. It admits it (a worker,
//! a place in the queue, or a 503), spends CPU, makes its downstream calls
//! and answers. Workers are held for the whole request, including while
//! waiting for downstream calls: that is how a slow dependency exhausts
//! its callers.
//!
//! `Servers` owns every instance (workers, queue, its random stream, the
//! gateway's per-user state) and every job (a request held by an
//! instance). A node's kind is resolved once per event (`ModelConfig::server`)
//! and its settings handed down; gateway specifics are in `gateway`.

use std::collections::VecDeque;

use rand::RngExt;
use slotmap::SlotMap;
use smallvec::SmallVec;

use crate::engine::dist::{Dist, ns_from_f64};
use crate::engine::keyed::Keyed;
use crate::engine::rng::SimRng;
use crate::engine::{EventQueue, SimDuration, SimTime};
use crate::mechanisms::adaptive::{AdaptiveConfig, AdaptiveLimit};
use crate::mechanisms::rate_limit::LimitState;

use super::config::{
    Auth, BalancerConfig, EdgeId, GatewayConfig, InstId, LimitScope, ModelConfig, NodeId, NodeKind, RouteKind, Server,
    ServiceConfig,
};
use super::outcome::Outcome;
use super::trace::Ended;
use super::world::{AttemptKey, CallKey, Ctx, Ev, JobKey, Parent, World};

/// What a job is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    Queued,
    Cpu,
    /// Waiting for the remote auth service.
    Auth,
    /// Waiting for the shared rate-limit store of limit `i`.
    Limit(u16),
    /// Waiting for the calls of step `i` (route, aggregate, service calls).
    Step(u16),
}

/// A request held by an instance.
pub(super) struct Job {
    pub(super) inst: InstId,
    pub(super) node: NodeId,
    epoch: u32,
    reply_to: AttemptKey,
    caller: InstId,
    pub(super) ctx: Ctx,
    pub(super) arrived: SimTime,
    pub(super) phase: Phase,
    pub(super) pending: u32,
    pub(super) successes: u32,
    pub(super) failure: Option<Outcome>,
    /// The most degraded successful answer so far (Ok < Fallback < Partial).
    pub(super) best: Outcome,
    /// The longest Retry-After among failed calls: a proxy passes it on.
    pub(super) retry_after: SimDuration,
    pub(super) route: Option<u16>,
    /// Its downstream calls still open.
    pub(super) calls: SmallVec<[CallKey; 2]>,
    /// Its caller gave up and reset it: it makes no more downstream calls.
    reset: bool,
}

/// One replica of a node.
struct Instance {
    node: NodeId,
    workers: u32,
    queue_cap: u32,
    busy: u32,
    queue: VecDeque<JobKey>,
    /// Bumped by a crash: jobs of an older epoch are gone.
    epoch: u32,
    rng: SimRng,
    /// Remote auth: cache expiry per global user id.
    auth_cache: Keyed<SimTime>,
    /// Local rate-limit state per limit (per key: user id, or one).
    limits: Vec<Keyed<LimitState>>,
    /// Envoy's adaptive concurrency filter on its inbound side (a service's
    /// sidecar, a gateway's own chain): every job of the instance holds a
    /// place under its limit. Boxed: most instances have none, and an
    /// instance stays small.
    adaptive: Option<Box<AdaptiveLimit>>,
    /// A gateway with split routes: the stream that picks each request's
    /// target (its own, so a split changes no other draw).
    split: Option<Box<SimRng>>,
}

pub(super) struct Servers {
    insts: Vec<Instance>,
    jobs: SlotMap<JobKey, Job>,
    /// Cluster-wide rate-limit state: per gateway node and limit.
    shared_limits: Vec<Vec<Keyed<LimitState>>>,
}

impl Servers {
    pub(super) fn new(cfg: &ModelConfig) -> Servers {
        let users = cfg.total_users();
        let insts = cfg
            .instances
            .iter()
            .map(|inst| {
                let node = &cfg.nodes[inst.node as usize];
                let (workers, queue_cap) = match &node.kind {
                    NodeKind::Gateway(g) => (g.workers, g.queue),
                    NodeKind::Service(s) => (s.workers, s.queue),
                    NodeKind::Balancer(_) => (u32::MAX, 0),
                    NodeKind::Clients(_) => (0, 0),
                };
                let (auth_cache, limits) = match &node.kind {
                    NodeKind::Gateway(g) => (
                        Keyed::new(if matches!(g.auth, Auth::Remote { .. }) { users } else { 0 }),
                        g.rate_limits.iter().map(|l| Keyed::new(local_keys(l, users))).collect(),
                    ),
                    _ => (Keyed::new(0), Vec::new()),
                };
                Instance {
                    node: inst.node,
                    workers,
                    queue_cap,
                    busy: 0,
                    queue: VecDeque::new(),
                    epoch: 0,
                    rng: crate::engine::rng::stream(cfg.seed, "work", &node.name, inst.replica),
                    auth_cache,
                    limits,
                    split: has_split(&node.kind)
                        .then(|| Box::new(crate::engine::rng::stream(cfg.seed, "split", &node.name, inst.replica))),
                    adaptive: inbound_adaptive(&node.kind).map(|c| {
                        let rng = crate::engine::rng::stream(cfg.seed, "adaptive", &node.name, inst.replica);
                        Box::new(AdaptiveLimit::new(c, rng))
                    }),
                }
            })
            .collect();
        let shared_limits = cfg
            .nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Gateway(g) => g.rate_limits.iter().map(|l| Keyed::new(shared_keys(l, users))).collect(),
                _ => Vec::new(),
            })
            .collect();
        Servers { insts, jobs: SlotMap::with_key(), shared_limits }
    }

    #[inline]
    pub(super) fn node_of(&self, inst: InstId) -> NodeId {
        self.insts[inst as usize].node
    }

    /// The target of a split route for a request at `inst`: index `i` with
    /// probability `(upto[i] - upto[i-1]) / upto.last()` (Envoy draws a
    /// random number below the total weight).
    pub(super) fn split_pick(&mut self, inst: InstId, upto: &[u32]) -> usize {
        let total = *upto.last().expect("a split has targets");
        let rng = self.insts[inst as usize].split.as_mut().expect("a gateway with a split route has a stream");
        let x = rng.random_range(0..total);
        upto.partition_point(|&u| u <= x)
    }

    /// Draws from instance `inst`'s own random stream.
    pub(super) fn sample(&mut self, inst: InstId, dist: &Dist) -> SimDuration {
        dist.sample(&mut self.insts[inst as usize].rng)
    }

    pub(super) fn job(&self, key: JobKey) -> &Job {
        &self.jobs[key]
    }

    pub(super) fn job_mut(&mut self, key: JobKey) -> &mut Job {
        &mut self.jobs[key]
    }

    /// Job `job`'s call `call` is over (a no-op for a job already gone).
    pub(super) fn forget_call(&mut self, job: JobKey, call: CallKey) {
        if let Some(j) = self.jobs.get_mut(job)
            && let Some(i) = j.calls.iter().position(|c| *c == call)
        {
            j.calls.swap_remove(i);
        }
    }

    /// Is this job still alive (its instance did not crash since)?
    #[inline]
    fn job_alive(&self, key: JobKey) -> bool {
        self.jobs.get(key).is_some_and(|j| j.epoch == self.insts[j.inst as usize].epoch)
    }

    pub(super) fn auth_cached(&self, inst: InstId, user: u32, now: SimTime) -> bool {
        self.insts[inst as usize].auth_cache.get(user) > now
    }

    pub(super) fn cache_auth(&mut self, inst: InstId, user: u32, until: SimTime) {
        *self.insts[inst as usize].auth_cache.get_mut(user) = until;
    }

    pub(super) fn local_limit(&mut self, inst: InstId, limit: usize, key: u32) -> &mut LimitState {
        self.insts[inst as usize].limits[limit].get_mut(key)
    }

    pub(super) fn shared_limit(&mut self, node: NodeId, limit: usize, key: u32) -> &mut LimitState {
        self.shared_limits[node as usize][limit].get_mut(key)
    }

    /// A place under `inst`'s adaptive limit (it has one). Out of line:
    /// most instances have none, and the request path stays small.
    #[inline(never)]
    fn adaptive_acquire(&mut self, cfg: &ModelConfig, now: SimTime, inst: InstId) -> bool {
        let state = &mut self.insts[inst as usize];
        let config = inbound_adaptive(&cfg.nodes[state.node as usize].kind).expect("a limit has its config");
        state.adaptive.as_mut().expect("called with a limit").try_acquire(config, now)
    }

    /// Gives back a place under `inst`'s adaptive limit (it has one).
    #[inline(never)]
    fn adaptive_release(&mut self, cfg: &ModelConfig, now: SimTime, inst: InstId, arrived: SimTime, answered: bool) {
        let state = &mut self.insts[inst as usize];
        let a = state.adaptive.as_mut().expect("called with a limit");
        if answered {
            let config = inbound_adaptive(&cfg.nodes[state.node as usize].kind).expect("a limit has its config");
            a.release(config, now, now.saturating_since(arrived));
        } else {
            a.release_unused();
        }
    }

    /// A crash: the instance loses its jobs, its queue and its caches, and
    /// starts a new epoch. Returns the lost jobs (sorted by key) and how
    /// many were busy and queued.
    pub(super) fn crash(&mut self, inst: InstId) -> (Vec<(JobKey, Job)>, i64, i64) {
        let mut keys: Vec<JobKey> = self.jobs.iter().filter(|(_, j)| j.inst == inst).map(|(k, _)| k).collect();
        keys.sort_unstable();
        let lost: Vec<(JobKey, Job)> = keys.iter().map(|k| (*k, self.jobs.remove(*k).expect("listed"))).collect();
        let queued = lost.iter().filter(|(_, j)| j.phase == Phase::Queued).count() as i64;
        let busy = lost.len() as i64 - queued;
        let state = &mut self.insts[inst as usize];
        state.queue.clear();
        state.busy = 0;
        state.epoch += 1;
        state.auth_cache.reset();
        state.limits.iter_mut().for_each(Keyed::reset);
        (lost, busy, queued)
    }

    /// The node of every job still open that arrived at or after `since`
    /// (jobs of a crashed epoch were counted as dropped already).
    pub(super) fn jobs_open_since(&self, since: SimTime) -> Vec<NodeId> {
        self.jobs
            .values()
            .filter(|j| j.arrived >= since && j.epoch == self.insts[j.inst as usize].epoch)
            .map(|j| j.node)
            .collect()
    }

    /// Jobs held (alive) per node.
    pub(super) fn open_jobs_per_node(&self, nodes: usize) -> Vec<u64> {
        let mut open = vec![0u64; nodes];
        for j in self.jobs.values().filter(|j| j.epoch == self.insts[j.inst as usize].epoch) {
            open[j.node as usize] += 1;
        }
        open
    }

    /// (busy workers, queued jobs) per node, summed over its instances.
    pub(super) fn levels_per_node(&self, nodes: usize) -> Vec<(u64, u64)> {
        let mut levels = vec![(0u64, 0u64); nodes];
        for inst in &self.insts {
            let l = &mut levels[inst.node as usize];
            l.0 += u64::from(inst.busy);
            l.1 += inst.queue.len() as u64;
        }
        levels
    }

    /// Checks what must always hold, panicking with the invariant's name.
    pub(super) fn check_invariants(&self) {
        for (i, inst) in self.insts.iter().enumerate() {
            assert!(inst.busy <= inst.workers, "invariant: busy workers <= workers (instance {i})");
            assert!(
                inst.queue.len() as u64 <= u64::from(inst.queue_cap),
                "invariant: queue <= capacity (instance {i})"
            );
        }
        let mut queued = vec![0usize; self.insts.len()];
        for j in self.jobs.values() {
            if j.epoch == self.insts[j.inst as usize].epoch && j.phase == Phase::Queued {
                queued[j.inst as usize] += 1;
            }
        }
        for (i, inst) in self.insts.iter().enumerate() {
            assert_eq!(queued[i], inst.queue.len(), "invariant: every queued job is in its instance's queue");
        }
        let mut held = vec![0u32; self.insts.len()];
        for j in self.jobs.values() {
            held[j.inst as usize] += 1;
        }
        for (i, inst) in self.insts.iter().enumerate() {
            if let Some(a) = &inst.adaptive {
                assert_eq!(a.in_flight(), held[i], "invariant: adaptive places held = jobs of the instance {i}");
            }
        }
    }
}

/// Whether a node is a gateway with a split route.
fn has_split(kind: &NodeKind) -> bool {
    matches!(kind, NodeKind::Gateway(g) if g.routes.iter().any(|r| matches!(r.kind, RouteKind::Split { .. })))
}

/// The adaptive concurrency filter on a node's inbound side, if any: a
/// service's sidecar, or a gateway's own filter chain.
fn inbound_adaptive(kind: &NodeKind) -> Option<&AdaptiveConfig> {
    match kind {
        NodeKind::Service(ServiceConfig { inbound_adaptive, .. })
        | NodeKind::Gateway(GatewayConfig { inbound_adaptive, .. }) => inbound_adaptive.as_deref(),
        _ => None,
    }
}

/// Keys of a local (per-instance) rate limit: users, one, or none if shared.
fn local_keys(l: &super::config::RateLimit, users: u32) -> u32 {
    match (l.store, &l.scope) {
        (Some(_), _) => 0,
        (None, LimitScope::PerUser) => users,
        (None, _) => 1,
    }
}

/// Keys of a shared (cluster-wide) rate limit.
fn shared_keys(l: &super::config::RateLimit, users: u32) -> u32 {
    match (l.store, &l.scope) {
        (None, _) => 0,
        (Some(_), LimitScope::PerUser) => users,
        (Some(_), _) => 1,
    }
}

/// What becomes of a request on arrival, before any queue.
enum Entry {
    Admitted,
    /// Answered at once with this outcome, no work done.
    Refused(Outcome),
    /// Taken and never answered (a hung instance).
    Swallowed,
}

impl World<'_> {
    /// Whether a gateway's priority shedding turns away a request of
    /// `class` arriving at `inst` now (Stripe's shedder: the least
    /// important classes first, on occupancy or on queueing time).
    fn sheds(&self, now: SimTime, inst: InstId, node: NodeId, class: crate::mechanisms::shed::Priority) -> bool {
        let Server::Gateway(GatewayConfig { shed: Some(shed), workers, .. }) = self.cfg.server(node) else {
            return false;
        };
        let state = &self.servers.insts[inst as usize];
        let occupancy = (f64::from(state.busy) + state.queue.len() as f64) / f64::from((*workers).max(1));
        // Queued jobs stay in the queue until a worker takes them, so the
        // front is the oldest waiting request.
        let oldest_wait = match state.queue.front() {
            Some(&key) if shed.watches_delay() => now.saturating_since(self.servers.jobs[key].arrived),
            _ => SimDuration::ZERO,
        };
        !shed.admits(class, occupancy, oldest_wait)
    }

    /// The inbound adaptive concurrency filter takes a place for a new
    /// request, or refuses it (always admits without one).
    #[inline]
    fn adaptive_admits(&mut self, now: SimTime, inst: InstId) -> bool {
        self.servers.insts[inst as usize].adaptive.is_none() || self.servers.adaptive_acquire(self.cfg, now, inst)
    }

    /// A job of `inst` that arrived at `arrived` ends: its place under the
    /// inbound adaptive limit comes back, with its latency as a sample
    /// if it was answered (Envoy's filter records a sample per response and
    /// cancels it for a reset or lost stream).
    #[inline]
    fn adaptive_release(&mut self, now: SimTime, inst: InstId, arrived: SimTime, answered: bool) {
        if self.servers.insts[inst as usize].adaptive.is_some() {
            self.servers.adaptive_release(self.cfg, now, inst, arrived, answered);
        }
    }

    /// A request message reached instance `inst`.
    pub(super) fn on_deliver(&mut self, now: SimTime, attempt: AttemptKey, inst: InstId, q: &mut EventQueue<Ev>) {
        // The attempt may already be over at the caller (timed out): the
        // callee cannot know, and does the work anyway; its answer is lost.
        let (caller, ctx, reset) = self.calls.deliver(attempt);
        let ctx = ctx.served();
        let node = self.servers.node_of(inst);
        self.rec.arrival(node, now);
        match self.entry(now, inst, node, &ctx) {
            Entry::Admitted => {}
            Entry::Swallowed => return, // accepted, never answered
            Entry::Refused(outcome) => return self.answer_at_once(now, inst, (caller, attempt), &ctx, outcome, q),
        }
        let state = &self.servers.insts[inst as usize];
        let job = Job {
            inst,
            node,
            epoch: state.epoch,
            reply_to: attempt,
            caller,
            ctx,
            arrived: now,
            phase: Phase::Queued,
            pending: 0,
            successes: 0,
            failure: None,
            best: Outcome::Ok,
            retry_after: SimDuration::ZERO,
            route: None,
            calls: SmallVec::new(),
            reset,
        };
        if state.busy < state.workers {
            let key = self.servers.jobs.insert(job);
            self.calls.served_by(attempt, key);
            self.start_job(now, inst, key, q);
        } else if (state.queue.len() as u64) < u64::from(state.queue_cap) {
            let key = self.servers.jobs.insert(job);
            self.calls.served_by(attempt, key);
            self.servers.insts[inst as usize].queue.push_back(key);
            self.rec.levels(node, now, 0, 1);
        } else {
            self.adaptive_release(now, inst, now, true); // to the inbound filter, a response of no time
            self.rec.refused(node, now, false);
            self.answer_at_once(now, inst, (caller, attempt), &ctx, Outcome::Rejected, q);
        }
    }

    /// What becomes of a request arriving at `inst` before any queue:
    /// past its deadline, refused by a crashed instance, swallowed by a
    /// hung one, shed, or over the inbound adaptive limit.
    #[inline]
    fn entry(&mut self, now: SimTime, inst: InstId, node: NodeId, ctx: &Ctx) -> Entry {
        if ctx.deadline.passed(now) {
            // gRPC: DEADLINE_EXCEEDED at once, no work.
            self.rec.expired(node, now);
            return Entry::Refused(Outcome::Timeout);
        }
        if self.faults.crashed(inst) {
            // Connection refused: a fast failure, one hop back.
            return Entry::Refused(Outcome::Unavailable);
        }
        if self.faults.hung(inst) {
            self.rec.dropped(node, now);
            return Entry::Swallowed;
        }
        if self.sheds(now, inst, node, ctx.priority) {
            // Shed by the gateway: a 503 before any work.
            self.rec.shed(node, now, ctx.priority);
            return Entry::Refused(Outcome::Rejected);
        }
        if !self.adaptive_admits(now, inst) {
            // Refused by the inbound adaptive filter: an overloaded 503.
            self.rec.refused(node, now, true);
            return Entry::Refused(Outcome::Rejected);
        }
        Entry::Admitted
    }

    /// `inst` answers the attempt `to` at once with `outcome`, no work done.
    fn answer_at_once(
        &mut self,
        now: SimTime,
        inst: InstId,
        (caller, attempt): (InstId, AttemptKey),
        ctx: &Ctx,
        outcome: Outcome,
        q: &mut EventQueue<Ev>,
    ) {
        self.rec.answer(self.servers.node_of(inst), now, now, outcome, true);
        self.trace_serve(ctx, inst, Ended { start: now, end: now, outcome, answered: true, cancelled: false });
        self.reply(now, inst, caller, attempt, outcome, SimDuration::ZERO, q);
    }

    /// A free worker of `inst` takes the job: spend its CPU time.
    fn start_job(&mut self, now: SimTime, inst: InstId, key: JobKey, q: &mut EventQueue<Ev>) {
        let inst = &mut self.servers.insts[inst as usize];
        inst.busy += 1;
        self.rec.levels(inst.node, now, 1, 0);
        self.run_job(now, key, q);
    }

    /// The job has a worker (a fresh one, or the one its predecessor freed):
    /// spend its CPU time.
    fn run_job(&mut self, now: SimTime, key: JobKey, q: &mut EventQueue<Ev>) {
        let cfg = self.cfg;
        let job = &mut self.servers.jobs[key];
        if cfg.check_invariants {
            assert!(!job.ctx.deadline.passed(now), "invariant: no work starts after its deadline");
        }
        job.phase = Phase::Cpu;
        let inst = &mut self.servers.insts[job.inst as usize];
        let node = inst.node;
        let server = cfg.server(node);
        let base = match server {
            Server::Service(s) => s.work.sample(&mut inst.rng),
            Server::Gateway(g) => {
                let route = g.route_of_path[job.ctx.path as usize];
                job.route = route;
                let mut d = g.overhead.sample(&mut inst.rng);
                if let Auth::Local { verify } = &g.auth {
                    d = d + verify.sample(&mut inst.rng);
                }
                if route.is_some_and(|r| g.routes[r as usize].grpc) {
                    d = d + g.translation.sample(&mut inst.rng);
                }
                d
            }
            Server::Balancer(_) => SimDuration::ZERO,
        };
        // A Slow fault stretches the CPU time (a Latency fault delays the
        // wire instead: see `World::request_hop`).
        let slow = self.faults.slow(job.inst);
        let cpu = if slow == 1.0 { base } else { ns_from_f64(base.as_nanos() as f64 * slow) };
        if cpu.is_zero() && matches!(server, Server::Balancer(_)) {
            // The usual case: a balancer forwards at once, no event needed.
            return self.on_cpu_done(now, key, q);
        }
        q.schedule(now + cpu, Ev::CpuDone { job: key });
    }

    pub(super) fn on_cpu_done(&mut self, now: SimTime, key: JobKey, q: &mut EventQueue<Ev>) {
        if !self.servers.job_alive(key) {
            return;
        }
        let job = &self.servers.jobs[key];
        let (inst, node) = (job.inst, job.node);
        let server = self.cfg.server(node);
        let calls_next = !matches!(server, Server::Service(s) if s.steps.is_empty());
        if job.reset && calls_next {
            // Its caller is gone: no downstream calls on its behalf.
            return self.end_reset(now, key, q);
        }
        // A service's own error share, combined with an Errors fault (which
        // strikes gateways and balancers too).
        let own = if let Server::Service(s) = server { s.errors } else { 0.0 };
        let injected = self.faults.error_rate(inst);
        let p = if injected > 0.0 { 1.0 - (1.0 - own) * (1.0 - injected) } else { own };
        if p > 0.0 && self.servers.insts[inst as usize].rng.random_bool(p) {
            return self.respond(now, key, Outcome::Error, SimDuration::ZERO, q);
        }
        match server {
            Server::Service(s) => self.next_service_step(now, key, s, 0, q),
            Server::Gateway(g) => self.gateway_admit(now, key, g, q),
            Server::Balancer(b) => self.forward(now, key, b, q),
        }
    }

    /// A balancer passes the request to one of its targets.
    fn forward(&mut self, now: SimTime, key: JobKey, b: &BalancerConfig, q: &mut EventQueue<Ev>) {
        let job = &mut self.servers.jobs[key];
        job.phase = Phase::Step(0);
        job.pending = 1;
        let (inst, ctx) = (job.inst, job.ctx);
        self.start_call(now, Parent::Job(key), b.edge, inst, ctx, q);
    }

    /// Starts step `step` of a service's calls, or answers if there is none.
    fn next_service_step(&mut self, now: SimTime, key: JobKey, s: &ServiceConfig, step: u16, q: &mut EventQueue<Ev>) {
        match s.steps.get(step as usize) {
            Some(edges) => self.start_step(now, key, edges, step, q),
            None => {
                let best = self.servers.jobs[key].best;
                self.respond(now, key, best, SimDuration::ZERO, q)
            }
        }
    }

    /// Starts the calls of one step, in parallel.
    pub(super) fn start_step(
        &mut self,
        now: SimTime,
        key: JobKey,
        edges: &[EdgeId],
        step: u16,
        q: &mut EventQueue<Ev>,
    ) {
        let job = &mut self.servers.jobs[key];
        job.phase = Phase::Step(step);
        job.pending = edges.len() as u32;
        let (inst, ctx) = (job.inst, job.ctx);
        // Calls may fail synchronously only through a deferred `Refused`
        // event, so no call completes while this loop runs.
        for &edge in edges {
            self.start_call(now, Parent::Job(key), edge, inst, ctx, q);
        }
    }

    /// One of the job's calls ended with `outcome` (a 429 with its Retry-After).
    pub(super) fn job_call_done(
        &mut self,
        now: SimTime,
        key: JobKey,
        outcome: Outcome,
        retry_after: SimDuration,
        q: &mut EventQueue<Ev>,
    ) {
        if !self.servers.job_alive(key) {
            return;
        }
        let job = &mut self.servers.jobs[key];
        job.pending -= 1;
        job.retry_after = job.retry_after.max(retry_after);
        if outcome.is_success() {
            job.successes += 1;
            if outcome.degradation() > job.best.degradation() {
                job.best = outcome;
            }
        } else if job.failure.is_none() {
            job.failure = Some(outcome);
        }
        if job.pending > 0 {
            return;
        }
        match (self.cfg.server(job.node), job.phase) {
            (Server::Gateway(g), Phase::Auth) => self.auth_done(now, key, g, q),
            (Server::Gateway(g), Phase::Limit(i)) => self.store_done(now, key, g, i as usize, q),
            (server, Phase::Step(step)) => self.step_done(now, key, server, step, q),
            (_, phase) => unreachable!("no calls in phase {phase:?}"),
        }
    }

    fn step_done(&mut self, now: SimTime, key: JobKey, server: Server, step: u16, q: &mut EventQueue<Ev>) {
        let job = &self.servers.jobs[key];
        let (failure, best, successes) = (job.failure, job.best, job.successes);
        match server {
            Server::Service(s) => match failure {
                Some(f) => self.respond(now, key, f.as_dependency_failure(), SimDuration::ZERO, q),
                None => self.next_service_step(now, key, s, step + 1, q),
            },
            Server::Gateway(g) => {
                let route = &g.routes[job.route.expect("a gateway job in a step has a route") as usize];
                let answer = match (&route.kind, failure) {
                    (_, None) => best,
                    // A plain route is a proxy: the client sees what it saw.
                    (RouteKind::Forward { .. } | RouteKind::Split { .. }, Some(f)) => f,
                    (RouteKind::Aggregate { degrade: true, .. }, Some(_)) if successes > 0 => Outcome::Partial,
                    (RouteKind::Aggregate { .. }, Some(f)) => f.as_dependency_failure(),
                };
                // A proxied 429 keeps its Retry-After (Envoy, Kong, nginx pass headers on).
                let retry_after = self.passed_retry_after(key, answer);
                self.respond(now, key, answer, retry_after, q);
            }
            Server::Balancer(_) => {
                let answer = failure.unwrap_or(best);
                let retry_after = self.passed_retry_after(key, answer);
                self.respond(now, key, answer, retry_after, q);
            }
        }
    }

    /// The Retry-After a proxy sends with `answer`: the upstream's, for a 429.
    fn passed_retry_after(&self, key: JobKey, answer: Outcome) -> SimDuration {
        if answer == Outcome::RateLimited { self.servers.jobs[key].retry_after } else { SimDuration::ZERO }
    }

    /// The job answers: free the worker, send the reply, take the next job.
    pub(super) fn respond(
        &mut self,
        now: SimTime,
        key: JobKey,
        outcome: Outcome,
        retry_after: SimDuration,
        q: &mut EventQueue<Ev>,
    ) {
        let job = self.servers.jobs.remove(key).expect("responding job exists");
        let (inst, node) = (job.inst, job.node);
        let hung = self.faults.hung(inst);
        self.adaptive_release(now, inst, job.arrived, !hung);
        if hung {
            self.rec.dropped(node, job.arrived);
        } else {
            self.rec.answer(node, job.arrived, now, outcome, true);
            let e = Ended { start: job.arrived, end: now, outcome, answered: true, cancelled: false };
            self.trace_serve(&job.ctx, inst, e);
            if let Some(route) = job.route
                && matches!(self.cfg.server(node), Server::Gateway(_))
            {
                self.rec.route_answer(node, route as usize, job.arrived, now, outcome);
            }
            if !self.calls.has_attempt(job.reply_to) {
                self.rec.wasted(node, now);
            }
            self.reply(now, inst, job.caller, job.reply_to, outcome, retry_after, q);
        }
        self.free_worker(now, inst, q);
    }

    /// A worker of `inst` is free: it takes the next queued job whose
    /// deadline has not passed (those that have are answered at once), or
    /// goes idle. A worker passing from one job to the next stays busy.
    fn free_worker(&mut self, now: SimTime, inst: InstId, q: &mut EventQueue<Ev>) {
        let node = self.servers.insts[inst as usize].node;
        while let Some(next) = self.servers.insts[inst as usize].queue.pop_front() {
            self.rec.levels(node, now, 0, -1);
            let job = &self.servers.jobs[next];
            if !job.ctx.deadline.passed(now) {
                return self.run_job(now, next, q);
            }
            // Queued past its deadline: gRPC's server skips it.
            let job = self.servers.jobs.remove(next).expect("queued jobs exist");
            self.adaptive_release(now, inst, job.arrived, true);
            self.rec.expired(node, job.arrived);
            self.rec.answer(node, job.arrived, now, Outcome::Timeout, true);
            let e = Ended { start: job.arrived, end: now, outcome: Outcome::Timeout, answered: true, cancelled: false };
            self.trace_serve(&job.ctx, inst, e);
            self.reply(now, inst, job.caller, job.reply_to, Outcome::Timeout, SimDuration::ZERO, q);
        }
        self.servers.insts[inst as usize].busy -= 1;
        self.rec.levels(node, now, -1, 0);
    }

    /// The caller of job `key` gave up and reset it (Envoy resets the
    /// upstream stream on a downstream reset). A job waiting for its
    /// downstream calls ends now and cancels them (and so on down); one
    /// queued or computing finishes its CPU work but calls nobody after.
    pub(super) fn reset_job(&mut self, now: SimTime, key: JobKey, q: &mut EventQueue<Ev>) {
        if !self.servers.job_alive(key) {
            return;
        }
        let job = &mut self.servers.jobs[key];
        match job.phase {
            Phase::Queued | Phase::Cpu => job.reset = true,
            Phase::Auth | Phase::Limit(_) | Phase::Step(_) => self.end_reset(now, key, q),
        }
    }

    /// A reset job ends without an answer: its calls are cancelled, its
    /// worker freed. Counted at its node as a `timeout` (the caller's), not timed.
    fn end_reset(&mut self, now: SimTime, key: JobKey, q: &mut EventQueue<Ev>) {
        let job = self.servers.jobs.remove(key).expect("a reset job exists");
        self.adaptive_release(now, job.inst, job.arrived, false);
        for call in job.calls {
            self.cancel(now, call, q);
        }
        if self.faults.hung(job.inst) {
            self.rec.dropped(job.node, job.arrived);
        } else {
            self.rec.cancelled(job.node, job.arrived);
            self.rec.answer(job.node, job.arrived, now, Outcome::Timeout, false);
            let e = Ended { start: job.arrived, end: now, outcome: Outcome::Timeout, answered: false, cancelled: true };
            self.trace_serve(&job.ctx, job.inst, e);
        }
        self.free_worker(now, job.inst, q);
    }

    /// Sends `outcome` from instance `from` back to the caller of `attempt`.
    #[expect(clippy::too_many_arguments, reason = "a message's fields; bundling them would only move the list")]
    pub(super) fn reply(
        &mut self,
        now: SimTime,
        from: InstId,
        to: InstId,
        attempt: AttemptKey,
        outcome: Outcome,
        retry_after: SimDuration,
        q: &mut EventQueue<Ev>,
    ) {
        if let Some(d) = self.hop(from, to) {
            let retry_after_us = retry_after.as_nanos().div_ceil(1_000).min(u64::from(u32::MAX)) as u32;
            q.schedule(now + d, Ev::Reply { attempt, outcome, retry_after_us });
        }
    }

    /// A crash loses everything the instance holds: callers whose requests
    /// were in it see the connection reset (after one hop); it restarts empty.
    pub(super) fn crash(&mut self, now: SimTime, inst: InstId, q: &mut EventQueue<Ev>) {
        let node = self.servers.node_of(inst);
        let (lost, busy, queued) = self.servers.crash(inst);
        // The process is gone, and so are the calls it was making: no more
        // retries, hedges or fallbacks on behalf of its lost jobs.
        let keys: Vec<JobKey> = lost.iter().map(|(k, _)| *k).collect();
        for call in self.calls.calls_of_jobs(&keys) {
            self.cancel(now, call, q);
        }
        for (_, job) in lost {
            self.adaptive_release(now, inst, job.arrived, false);
            self.rec.dropped(node, job.arrived);
            self.reply(now, inst, job.caller, job.reply_to, Outcome::Unavailable, SimDuration::ZERO, q);
        }
        self.rec.levels(node, now, -busy, -queued);
    }
}
