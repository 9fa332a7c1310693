//! The world's state and its event dispatch.
//!
//! Data layout: requests in flight live in three slot maps (`calls`: one
//! logical call over an edge, with its retries and hedges; `attempts`: one
//! message to one instance; `jobs`: work held by an instance). Events carry
//! generation-checked keys, so a timer that fires after its attempt ended
//! simply finds nothing: cancellation is free. Nothing on the hot path
//! allocates or touches a string.

use slotmap::{SlotMap, new_key_type};

use crate::engine::dist::Dist;
use crate::engine::keyed::Keyed;
use crate::engine::rng::SimRng;
use crate::engine::{EventQueue, Model, RunLimits, SimDuration, SimTime, StopReason, run};
use crate::mechanisms::balance::PickState;
use crate::mechanisms::breaker::Breaker;
use crate::mechanisms::budget::RetryBudget;
use crate::mechanisms::bulkhead::Bulkhead;
use crate::mechanisms::rate_limit::LimitState;
use crate::metrics::Recorder;

use super::config::*;
use super::outcome::Outcome;

new_key_type! {
    pub struct CallKey;
    pub struct AttemptKey;
    pub struct JobKey;
}

/// Everything that happens. Small and `Copy`: 16 bytes.
#[derive(Clone, Copy, Debug)]
pub enum Ev {
    /// A client issues its next request (`vu`: the closed-loop user).
    Arrival {
        client: u32,
        vu: u32,
    },
    /// A request message reaches an instance.
    Deliver {
        attempt: AttemptKey,
        inst: InstId,
    },
    /// An answer reaches the caller of `attempt` (`retry_after` in µs for 429s).
    Reply {
        attempt: AttemptKey,
        outcome: Outcome,
        retry_after_us: u32,
    },
    /// A job's CPU phase ends.
    CpuDone {
        job: JobKey,
    },
    /// An attempt's timeout fires (ignored if the attempt already ended).
    Timeout {
        attempt: AttemptKey,
    },
    /// A call's backoff ends: send the retry.
    Retry {
        call: CallKey,
    },
    /// A call's hedge delay ends: send another copy if round `round` of the
    /// call (its first send, or its n-th retry) is still unanswered.
    Hedge {
        call: CallKey,
        round: u32,
    },
    /// A call failed without sending (breaker open, bulkhead full, no instance).
    Refused {
        call: CallKey,
        outcome: Outcome,
    },
    /// A call's fallback is ready.
    FallbackDone {
        call: CallKey,
    },
    /// A health-check probe of balancer `lb`'s target `target` is due / answered.
    Probe {
        lb: u32,
        target: u32,
    },
    ProbeDone {
        lb: u32,
        target: u32,
        seq: u32,
        ok: bool,
    },
    /// A fault starts or ends.
    FaultStart {
        fault: u32,
    },
    FaultEnd {
        fault: u32,
    },
    /// Random chaos: the next failure of chaos target `target`.
    ChaosFail {
        target: u32,
    },
    /// A time-series bucket closes.
    Tick,
}

/// The request context that travels with every hop.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub client: u32,
    pub user: u32,
    pub path: PathId,
    pub invalid_token: bool,
}

#[derive(Clone, Copy, Debug)]
pub enum Parent {
    /// A client's end-user request, issued at `born` (closed loop: by `vu`).
    Client {
        client: u32,
        vu: u32,
        born: SimTime,
    },
    Job(JobKey),
}

/// Most attempts of one call in flight at once (1 + hedges).
pub const MAX_LIVE: usize = 8;

pub struct Call {
    pub parent: Parent,
    pub edge: EdgeId,
    /// Index into `World::edge_states` (caller instance x edge).
    pub state: u32,
    pub caller: InstId,
    pub ctx: Ctx,
    pub started: SimTime,
    pub retries: u32,
    /// Hedges sent in the current round (reset by each retry: every
    /// attempt round may be hedged up to `max_extra` times).
    pub hedges: u32,
    pub live: [Option<AttemptKey>; MAX_LIVE],
    pub outstanding: u32,
    pub last_delay: SimDuration,
    pub last_failure: Outcome,
    /// The last failure was an answer (not the caller's own timeout), so
    /// the call's end has a latency to report.
    pub last_answered: bool,
    /// The Retry-After of the last failure (a 429's), passed on by proxies.
    pub last_retry_after: SimDuration,
    /// Set while a fallback or a deferred failure is pending.
    pub settling: bool,
}

#[derive(Clone, Copy)]
pub struct Attempt {
    pub call: CallKey,
    /// The request travels with the message, so an instance can work on it
    /// even after the caller gave up.
    pub ctx: Ctx,
    pub caller: InstId,
    /// A `Deliver` event for this attempt is pending.
    pub in_transit: bool,
    /// The caller is done with it (timed out, cancelled); kept only until
    /// delivery, so the callee still gets the request.
    pub abandoned: bool,
    /// Index of the instance in the edge's target list.
    pub target: u32,
    pub inst: InstId,
    pub sent: SimTime,
    pub breaker_permit: bool,
    pub bulkhead: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Queued,
    Cpu,
    /// Waiting for the remote auth service.
    Auth,
    /// Waiting for the shared rate-limit store of limit `i`.
    Limit(u16),
    /// Waiting for the calls of step `i` (route, aggregate, service calls).
    Step(u16),
}

pub struct Job {
    pub inst: InstId,
    pub epoch: u32,
    pub reply_to: AttemptKey,
    pub caller: InstId,
    pub ctx: Ctx,
    pub arrived: SimTime,
    pub phase: Phase,
    pub pending: u32,
    pub successes: u32,
    pub failure: Option<Outcome>,
    /// The most degraded successful answer so far (Ok < Fallback < Partial).
    pub best: Outcome,
    /// The longest Retry-After among failed calls: a proxy passes it on.
    pub retry_after: SimDuration,
    pub route: Option<u16>,
}

/// Per caller instance and edge: the caller's own view of the callee.
pub struct EdgeState {
    pub edge: EdgeId,
    pub caller: InstId,
    pub breaker: Option<Breaker>,
    pub bulkhead: Option<Bulkhead>,
    pub budget: Option<RetryBudget>,
    pub pick: PickState,
    /// Attempts in flight per target (for LeastOutstanding / PowerOfTwo).
    pub outstanding: Vec<u32>,
    /// Targets this caller must not use (a balancer's ejected instances).
    pub ejected: Vec<bool>,
    pub rng: SimRng,
}

/// One replica of a node.
pub struct InstState {
    pub node: NodeId,
    pub workers: u32,
    pub queue_cap: u32,
    pub busy: u32,
    pub queue: std::collections::VecDeque<JobKey>,
    /// Bumped by a crash: jobs of an older epoch are gone.
    pub epoch: u32,
    pub crashed: u32,
    pub hung: u32,
    pub slow: f64,
    pub error_rate: f64,
    /// Active `Latency` faults: each request to this instance is delayed
    /// on the wire (see `World::request_hop`).
    pub latency_faults: Vec<u32>,
    /// Active faults on this instance (`super::faults::FaultRef` ids).
    pub active_faults: Vec<u32>,
    pub rng: SimRng,
    pub net_rng: SimRng,
    /// Remote auth: cache expiry per global user id.
    pub auth_cache: Keyed<SimTime>,
    /// Local rate-limit state per limit (per key: user id, or one).
    pub limits: Vec<Keyed<LimitState>>,
    /// Edge-state index of each outgoing edge of this instance, by edge id.
    pub edge_base: u32,
}

pub struct ClientState {
    pub node: NodeId,
    pub inst: InstId,
    pub arrivals: SimRng,
    pub choice: SimRng,
    pub zipf: Option<rand_distr::Zipf<f64>>,
    /// Profile: index of the current step.
    pub step: usize,
}

pub struct World {
    pub cfg: ModelConfig,
    pub end: SimTime,
    pub calls: SlotMap<CallKey, Call>,
    pub attempts: SlotMap<AttemptKey, Attempt>,
    pub jobs: SlotMap<JobKey, Job>,
    pub insts: Vec<InstState>,
    pub edge_states: Vec<EdgeState>,
    /// For each edge, its index among the outgoing edges of its caller node.
    pub edge_slot: Vec<u32>,
    pub clients: Vec<ClientState>,
    /// Node id -> index in `clients` (or u32::MAX).
    pub client_of_node: Vec<u32>,
    /// Cluster-wide rate-limit state: (gateway node, limit) -> per-key states.
    pub shared_limits: Vec<Vec<Keyed<LimitState>>>,
    pub active_partitions: Vec<(NodeId, NodeId)>,
    pub health: super::faults::HealthState,
    pub chaos: super::faults::ChaosState,
    pub rec: Recorder,
    pub stop: Option<String>,
}

impl Model for World {
    type Event = Ev;

    #[inline]
    fn handle(&mut self, now: SimTime, ev: Ev, q: &mut EventQueue<Ev>) {
        match ev {
            Ev::Arrival { client, vu } => self.on_arrival(now, client, vu, q),
            Ev::Deliver { attempt, inst } => self.on_deliver(now, attempt, inst, q),
            Ev::Reply { attempt, outcome, retry_after_us } => {
                let retry_after = SimDuration::from_micros(u64::from(retry_after_us));
                self.on_attempt_end(now, attempt, outcome, retry_after, true, q);
            }
            Ev::CpuDone { job } => self.on_cpu_done(now, job, q),
            Ev::Timeout { attempt } => self.on_attempt_end(now, attempt, Outcome::Timeout, SimDuration::ZERO, false, q),
            Ev::Retry { call } => self.on_retry(now, call, q),
            Ev::Hedge { call, round } => self.on_hedge(now, call, round, q),
            Ev::Refused { call, outcome } => self.on_refused(now, call, outcome, q),
            Ev::FallbackDone { call } => {
                if let Some(c) = self.calls.get(call) {
                    let node = self.insts[c.caller as usize].node;
                    self.rec.fallback(node, c.started);
                }
                self.settle(now, call, Outcome::Fallback, q);
            }
            Ev::Probe { lb, target } => self.on_probe(now, lb, target, q),
            Ev::ProbeDone { lb, target, seq, ok } => self.on_probe_done(now, lb, target, seq, ok, q),
            Ev::FaultStart { fault } => self.on_fault(now, fault, true, q),
            Ev::FaultEnd { fault } => self.on_fault(now, fault, false, q),
            Ev::ChaosFail { target } => self.on_chaos(now, target, q),
            Ev::Tick => self.on_tick(now, q),
        }
    }

    /// A timeout, retry, hedge or fallback whose attempt or call has ended
    /// is a no-op when it fires: the engine may drop it.
    fn is_live(&self, ev: &Ev) -> bool {
        match *ev {
            Ev::Timeout { attempt } => self.attempts.get(attempt).is_some_and(|a| !a.abandoned),
            Ev::Retry { call } | Ev::Hedge { call, .. } | Ev::FallbackDone { call } => self.calls.contains_key(call),
            _ => true,
        }
    }

    fn check(&mut self) -> Option<String> {
        if self.stop.is_none() && self.calls.len() > self.cfg.max_in_flight as usize {
            self.stop = Some(format!(
                "more than {} calls in flight at once: the system is overloaded without bound \
                 (raise limits: (max_in_flight: ...) if this is intended)",
                self.cfg.max_in_flight
            ));
        }
        self.stop.clone()
    }
}

/// Live pending events (timers, messages) allowed per call of `max_in_flight`.
pub const PENDING_PER_CALL: u64 = 4;

/// What a finished run hands to reporting.
pub struct RunOutput {
    pub world: World,
    pub events: u64,
}

/// Runs a validated model to its end. `Err` if a guard rail stopped it.
pub fn simulate(cfg: ModelConfig, progress: &mut dyn FnMut(SimTime)) -> Result<RunOutput, StopReason> {
    let mut q = EventQueue::new();
    let mut world = World::new(cfg, &mut q);
    let limits = RunLimits {
        max_events: world.cfg.max_events,
        // No more at one instant than within a millisecond: a loop that does
        // not move time is told as such, not as a high event rate.
        max_events_per_instant: world.cfg.max_events_per_ms.min(10_000_000),
        max_events_per_ms: world.cfg.max_events_per_ms,
        max_pending: u64::from(world.cfg.max_in_flight) * PENDING_PER_CALL,
    };
    let end = world.end;
    let stats = run(&mut world, &mut q, end, limits, progress)?;
    world.finish(end);
    Ok(RunOutput { world, events: stats.events })
}

impl World {
    pub fn new(cfg: ModelConfig, q: &mut EventQueue<Ev>) -> World {
        super::clients::build_world(cfg, q)
    }

    /// A request message from `from` to `to`: one hop, plus the delay of
    /// every `Latency` fault active on `to` (a fault delays the wire, as
    /// Envoy's fault delay or netem do, not the target's workers).
    #[inline]
    pub fn request_hop(&mut self, from: InstId, to: InstId) -> Option<SimDuration> {
        let mut d = self.hop(from, to)?;
        if !self.insts[to as usize].latency_faults.is_empty() {
            let inst = &mut self.insts[to as usize];
            for &f in &inst.latency_faults {
                if let FaultKind::Latency { add } = super::faults::fault_kind(&self.cfg, &self.chaos, f) {
                    d = d + add.sample(&mut inst.net_rng);
                }
            }
        }
        Some(d)
    }

    /// One network hop from instance `from` to `to`: latency plus the
    /// sidecars on either end, or `None` if a partition swallows it.
    #[inline]
    pub fn hop(&mut self, from: InstId, to: InstId) -> Option<SimDuration> {
        let (a, b) = (self.insts[from as usize].node, self.insts[to as usize].node);
        if !self.active_partitions.is_empty()
            && self.active_partitions.iter().any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
        {
            return None;
        }
        let mut d = match &self.cfg.network {
            Dist::Const(d) => *d,
            dist => dist.sample(&mut self.insts[from as usize].net_rng),
        };
        for inst in [from, to] {
            let node = self.insts[inst as usize].node;
            if let NodeKind::Service(ServiceConfig { sidecar: Some(overhead), .. }) =
                &self.cfg.nodes[node as usize].kind
            {
                d = d + overhead.sample(&mut self.insts[inst as usize].net_rng);
            }
        }
        Some(d)
    }

    /// Sends `outcome` from instance `from` back to the caller of `attempt`.
    #[inline]
    #[expect(clippy::too_many_arguments, reason = "a message's fields; bundling them would only move the list")]
    pub fn reply(
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

    fn on_tick(&mut self, now: SimTime, q: &mut EventQueue<Ev>) {
        let (open, faulty) = self.node_health_flags();
        self.rec.close_bucket(now, &open, &faulty);
        let next = now + self.rec.resolution();
        if next <= self.end {
            q.schedule(next, Ev::Tick);
        }
    }

    /// Per node: breakers (owned by its instances) not closed, and whether a fault is active.
    fn node_health_flags(&self) -> (Vec<u32>, Vec<bool>) {
        let mut open = vec![0u32; self.cfg.nodes.len()];
        for es in &self.edge_states {
            if let Some(b) = &es.breaker
                && b.state() != crate::mechanisms::breaker::BreakerState::Closed
            {
                open[self.insts[es.caller as usize].node as usize] += 1;
            }
        }
        let mut faulty = vec![false; self.cfg.nodes.len()];
        for inst in &self.insts {
            if !inst.active_faults.is_empty() {
                faulty[inst.node as usize] = true;
            }
        }
        for &(a, b) in &self.active_partitions {
            faulty[a as usize] = true;
            faulty[b as usize] = true;
        }
        (open, faulty)
    }

    fn finish(&mut self, end: SimTime) {
        // The last bucket, if the run did not end on a bucket boundary.
        if self.rec.bucket_start() < end {
            let (open, faulty) = self.node_health_flags();
            self.rec.close_bucket(end, &open, &faulty);
        }
        self.rec.finish(end);
        let warmup = SimTime(self.cfg.warmup.as_nanos());
        for call in self.calls.values() {
            if let Parent::Client { client, born, .. } = call.parent
                && born >= warmup
            {
                self.rec.unfinished[self.clients[client as usize].node as usize] += 1;
            }
        }
        for job in self.jobs.values() {
            // Jobs of a crashed epoch were already counted as dropped.
            let inst = &self.insts[job.inst as usize];
            if job.arrived >= warmup && job.epoch == inst.epoch {
                self.rec.unfinished[inst.node as usize] += 1;
            }
        }
    }
}
