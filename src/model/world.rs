//! The simulated world: its parts, the events that move it, and the run.
//!
//! Each part owns its state behind private fields (`clients::Clients`,
//! `calls::CallTable`, `servers::Servers`, `network::Network`,
//! `faults::Faults`, `record::Recorder`); `World` holds them and routes
//! every event to the code of the part it concerns. The configuration is
//! borrowed (`&ModelConfig`), so a node's kind is resolved once and its
//! settings passed along while the state changes.
//!
//! Requests in flight live in three slot maps (calls, attempts, jobs);
//! events carry generation-checked keys, so a timer that fires after its
//! attempt ended finds nothing: cancellation is free, and the engine sweeps
//! such timers away when its queue grows (`Model::is_live`).

use slotmap::new_key_type;

use crate::engine::{EventQueue, Model, RunLimits, SimDuration, SimTime, StopReason, run};

use super::calls::{CallTable, End};
use super::clients::Clients;
use super::config::{InstId, ModelConfig};
use super::faults::{ChaosEpisode, Faults, HealthEvent};
use super::network::Network;
use super::outcome::Outcome;
use super::record::Recorder;
use super::servers::Servers;

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
    /// A stepped load profile moves to its next rate.
    RateChange {
        client: u32,
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
    /// A waiting attempt found the caller's `max_requests` full when a
    /// connection came free: the caller's own overloaded 503.
    Overflow {
        attempt: AttemptKey,
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
        ok: bool,
    },
    /// A fault starts or ends (`faults::FaultRef` ids).
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
    /// Outlier detection on caller edge `state`: its interval's sweep.
    OutlierSweep {
        state: u32,
    },
    /// Outlier detection on caller edge `state`: `target`'s ejection is over.
    OutlierReturn {
        state: u32,
        target: u32,
    },
    /// A time-series bucket closes.
    Tick,
}

/// The request context that travels with every hop.
#[derive(Clone, Copy, Debug)]
pub struct Ctx {
    pub user: u32,
    pub path: super::config::PathId,
    pub invalid_token: bool,
    /// When the originator stops waiting (gRPC deadline propagation).
    pub deadline: crate::mechanisms::deadline::Deadline,
    /// Its class for priority load shedding.
    pub priority: crate::mechanisms::shed::Priority,
    /// The sampled request's trace number (0: not traced) and the span
    /// whose children come next (`trace` module).
    pub trace: u32,
    pub span: u32,
}

/// Who is told when a call ends.
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

pub struct World<'a> {
    pub(super) cfg: &'a ModelConfig,
    pub(super) end: SimTime,
    pub(super) clients: Clients,
    pub(super) calls: CallTable,
    pub(super) servers: Servers,
    pub(super) net: Network,
    pub(super) faults: Faults,
    pub(super) rec: Recorder,
    pub(super) tracer: Option<super::trace::Tracer>,
    pub(super) stop: Option<String>,
}

impl Model for World<'_> {
    type Event = Ev;

    #[inline]
    fn handle(&mut self, now: SimTime, ev: Ev, q: &mut EventQueue<Ev>) {
        match ev {
            Ev::Arrival { client, vu } => self.on_arrival(now, client, vu, q),
            Ev::RateChange { client } => self.schedule_next_arrival(now, client, q),
            Ev::Deliver { attempt, inst } => self.on_deliver(now, attempt, inst, q),
            Ev::Reply { attempt, outcome, retry_after_us } => {
                let retry_after = SimDuration::from_micros(u64::from(retry_after_us));
                self.on_attempt_end(now, attempt, outcome, retry_after, End::Answered, q);
            }
            Ev::Overflow { attempt } => {
                self.on_attempt_end(now, attempt, Outcome::Rejected, SimDuration::ZERO, End::Overflowed, q);
            }
            Ev::CpuDone { job } => self.on_cpu_done(now, job, q),
            Ev::Timeout { attempt } => {
                self.on_attempt_end(now, attempt, Outcome::Timeout, SimDuration::ZERO, End::TimedOut, q);
            }
            Ev::Retry { call } => self.on_retry(now, call, q),
            Ev::Hedge { call, round } => self.on_hedge(now, call, round, q),
            Ev::Refused { call, outcome } => self.on_refused(now, call, outcome, q),
            Ev::FallbackDone { call } => self.on_fallback_done(now, call, q),
            Ev::Probe { lb, target } => self.on_probe(now, lb, target, q),
            Ev::ProbeDone { lb, target, ok } => self.on_probe_done(now, lb, target, ok),
            Ev::FaultStart { fault } => self.on_fault(now, fault, true, q),
            Ev::FaultEnd { fault } => self.on_fault(now, fault, false, q),
            Ev::ChaosFail { target } => self.on_chaos(now, target, q),
            Ev::OutlierSweep { state } => self.on_outlier_sweep(now, state, q),
            Ev::OutlierReturn { state, target } => self.on_outlier_return(now, state, target),
            Ev::Tick => self.on_tick(now, q),
        }
    }

    /// A timeout, retry, hedge or fallback whose attempt or call has ended
    /// is a no-op when it fires: the engine may drop it.
    fn is_live(&self, ev: &Ev) -> bool {
        match *ev {
            Ev::Timeout { attempt } => self.calls.attempt_is_live(attempt),
            Ev::Retry { call } | Ev::Hedge { call, .. } | Ev::FallbackDone { call } => self.calls.has_call(call),
            _ => true,
        }
    }

    fn check(&mut self) -> Option<String> {
        if self.stop.is_none() && self.calls.calls_in_flight() > self.cfg.max_in_flight as usize {
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
const PENDING_PER_CALL: u64 = 4;

/// What a finished run hands to reporting: its results, not the world.
pub struct RunOutput {
    pub cfg: ModelConfig,
    pub events: u64,
    pub end: SimTime,
    pub rec: Recorder,
    /// Every breaker (caller instance x edge) and its state at the end.
    pub breakers: Vec<super::calls::BreakerAtEnd>,
    /// Caller-side states that went into panic (Envoy's panic threshold).
    pub panics: Vec<super::calls::PanicAtEnd>,
    /// Envoy thresholds' overflow counters per edge that has them.
    pub thresholds: Vec<(super::config::EdgeId, crate::mechanisms::thresholds::ThresholdStats)>,
    /// Balancer ejections and re-admissions, in time order.
    pub health_events: Vec<HealthEvent>,
    /// The first random-chaos episodes (at most `faults::MAX_LISTED_CHAOS`).
    pub chaos: Vec<ChaosEpisode>,
    /// How many random-chaos episodes there were, listed or not.
    pub chaos_total: u64,
    /// The sampled requests' spans (`report: (trace)`).
    pub trace: Option<super::trace::Tracer>,
}

/// Runs a validated model to its end. `Err` if a guard rail stopped it.
pub fn simulate(cfg: ModelConfig, progress: &mut dyn FnMut(SimTime)) -> Result<RunOutput, StopReason> {
    let mut q = EventQueue::new();
    let end = SimTime(cfg.duration.as_nanos());
    let limits = RunLimits {
        max_events: cfg.max_events,
        // No more at one instant than within a millisecond: a loop that does
        // not move time is told as such, not as a high event rate.
        max_events_per_instant: cfg.max_events_per_ms.min(10_000_000),
        max_events_per_ms: cfg.max_events_per_ms,
        max_pending: u64::from(cfg.max_in_flight) * PENDING_PER_CALL,
    };
    let (events, rec, trace, (breakers, panics), thresholds, (health_events, chaos, chaos_total)) = {
        let mut world = super::build::world(&cfg, &mut q);
        let stats = run(&mut world, &mut q, end, limits, progress)?;
        world.finish(end);
        let breakers = (world.calls.breakers_at_end(), world.calls.panics_at_end(end));
        let thresholds = world.calls.thresholds_at_end();
        (stats.events, world.rec, world.tracer, breakers, thresholds, world.faults.into_results())
    };
    Ok(RunOutput { cfg, events, end, rec, breakers, panics, thresholds, health_events, chaos, chaos_total, trace })
}

impl World<'_> {
    fn on_tick(&mut self, now: SimTime, q: &mut EventQueue<Ev>) {
        if self.cfg.check_invariants {
            self.check_invariants();
        }
        let (open, faulty) = self.node_health_flags();
        self.rec.close_bucket(now, &open, &faulty);
        let next = now + self.rec.resolution();
        if next <= self.end {
            q.schedule(next, Ev::Tick);
        }
    }

    /// Per node: breakers (owned by its instances) not closed, and whether a fault is active.
    fn node_health_flags(&self) -> (Vec<u32>, Vec<bool>) {
        let nodes = self.cfg.nodes.len();
        let mut open = vec![0u32; nodes];
        for caller in self.calls.callers_with_open_breakers() {
            open[self.servers.node_of(caller) as usize] += 1;
        }
        let mut faulty = vec![false; nodes];
        for node in self.faults.faulted_nodes(&self.servers, &self.net) {
            faulty[node as usize] = true;
        }
        (open, faulty)
    }

    /// Whether `schedule` time `at` falls inside the run.
    pub(super) fn schedule_before_end(&self, q: &mut EventQueue<Ev>, at: SimTime, ev: Ev) {
        if at < self.end {
            q.schedule(at, ev);
        }
    }

    fn finish(&mut self, end: SimTime) {
        // The last bucket, if the run did not end on a bucket boundary.
        if self.rec.bucket_start() < end {
            let (open, faulty) = self.node_health_flags();
            self.rec.close_bucket(end, &open, &faulty);
        }
        self.rec.finish(end);
        let warmup = SimTime(self.cfg.warmup.as_nanos());
        for (client, born) in self.calls.client_requests_open() {
            if born >= warmup {
                self.rec.unfinished_at(self.clients.node(client));
            }
        }
        for node in self.servers.jobs_open_since(warmup) {
            self.rec.unfinished_at(node);
        }
    }

    /// The invariants every part keeps, checked at every tick when
    /// `ModelConfig::check_invariants` is set (debug builds, and the tests).
    /// A broken one is a bug: it panics with the invariant's name.
    fn check_invariants(&self) {
        self.servers.check_invariants();
        self.calls.check_invariants(self.cfg);
        // Conservation: every request a node received is answered, dropped,
        // or still held there (a job; for clients, an open request).
        let mut open = self.servers.open_jobs_per_node(self.cfg.nodes.len());
        for (client, _) in self.calls.client_requests_open() {
            open[self.clients.node(client) as usize] += 1;
        }
        let levels = self.servers.levels_per_node(self.cfg.nodes.len());
        for node in 0..self.cfg.nodes.len() as u32 {
            assert_eq!(
                self.rec.open_at(node),
                open[node as usize],
                "invariant: conservation of requests at node {node}"
            );
            if !self.cfg.nodes[node as usize].is_clients() {
                assert_eq!(
                    self.rec.levels_of(node),
                    levels[node as usize],
                    "invariant: recorded levels match node {node}"
                );
            }
        }
    }
}
