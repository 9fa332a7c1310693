//! Faults (crash, hang, slow, latency, errors, partition), random chaos,
//! and the load balancers' health checks that react to them.

use rand::RngExt;
use rand_distr::{Distribution, Exp1};

use crate::engine::rng::{SimRng, stream};
use crate::engine::{EventQueue, SimDuration, SimTime};

use super::config::*;
use super::outcome::Outcome;
use super::world::{Ev, Phase, World};

/// One balancer target's health as the balancer sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct TargetHealth {
    pub fails: u32,
    pub oks: u32,
    pub ejected: bool,
}

/// An instance was ejected from (or readmitted to) a balancer.
#[derive(Clone, Copy, Debug)]
pub struct HealthEvent {
    pub at: SimTime,
    pub balancer: NodeId,
    pub inst: InstId,
    pub ejected: bool,
}

pub struct HealthState {
    /// Per node (balancers only): per target.
    pub targets: Vec<Vec<TargetHealth>>,
    pub events: Vec<HealthEvent>,
}

impl HealthState {
    pub fn new(cfg: &ModelConfig) -> Self {
        let targets = cfg
            .nodes
            .iter()
            .map(|n| match &n.kind {
                NodeKind::Balancer(b) if b.health_check.is_some() => {
                    vec![TargetHealth::default(); cfg.edges[b.edge as usize].targets.len()]
                }
                _ => Vec::new(),
            })
            .collect();
        HealthState { targets, events: Vec::new() }
    }
}

/// Fault references in `InstState::active_faults` and fault events: an
/// index into `ModelConfig::faults`, or `CHAOS_BASE + t` for the episode
/// now running on chaos target `t` (each target has at most one at a time,
/// so random chaos needs no list that grows with every failure).
pub const CHAOS_BASE: u32 = 1 << 31;

/// Chaos episodes listed in summary.json (and analysed); later ones are
/// only counted, so memory stays bounded however small the MTBF.
pub const MAX_LISTED_CHAOS: usize = 200;

/// One random failure: which instance, which kind, when.
#[derive(Clone, Copy, Debug)]
pub struct ChaosEpisode {
    pub inst: InstId,
    /// Index into `ChaosSpec::kinds`.
    pub kind: u32,
    pub at: SimTime,
    pub until: SimTime,
}

pub struct ChaosState {
    pub rng: Vec<SimRng>,
    /// The episode running on each chaos target, if any.
    pub active: Vec<Option<ChaosEpisode>>,
    /// The first `MAX_LISTED_CHAOS` episodes, for reports.
    pub listed: Vec<ChaosEpisode>,
    /// Every episode drawn, listed or not.
    pub total: u64,
}

impl ChaosState {
    pub fn new(cfg: &ModelConfig) -> Self {
        let rng: Vec<SimRng> = match &cfg.chaos {
            Some(c) => c.targets.iter().map(|&t| stream(cfg.seed, "chaos", &cfg.nodes[t as usize].name, 0)).collect(),
            None => Vec::new(),
        };
        ChaosState { active: vec![None; rng.len()], rng, listed: Vec::new(), total: 0 }
    }
}

/// The kind of fault `fault` (a static fault or a running chaos episode).
pub fn fault_kind<'a>(cfg: &'a ModelConfig, chaos: &ChaosState, fault: u32) -> &'a FaultKind {
    if fault >= CHAOS_BASE {
        let episode = chaos.active[(fault - CHAOS_BASE) as usize].expect("a referenced chaos episode is running");
        let spec = cfg.chaos.as_ref().expect("chaos episodes only with chaos");
        &spec.kinds[episode.kind as usize]
    } else {
        &cfg.faults[fault as usize].kind
    }
}

fn exp_sample(rng: &mut SimRng, mean: SimDuration) -> SimDuration {
    let x: f64 = Exp1.sample(rng);
    SimDuration((x * mean.as_nanos() as f64).round().max(1.0) as u64)
}

impl World {
    pub fn schedule_probes(&mut self, q: &mut EventQueue<Ev>) {
        for (id, node) in self.cfg.nodes.iter().enumerate() {
            if let NodeKind::Balancer(BalancerConfig { health_check: Some(_), edge }) = &node.kind {
                for target in 0..self.cfg.edges[*edge as usize].targets.len() as u32 {
                    q.schedule(SimTime::ZERO, Ev::Probe { lb: id as u32, target });
                }
            }
        }
    }

    /// A probe goes out: it succeeds if the instance answers within the
    /// probe timeout (a crashed instance refuses, a hung one never answers).
    pub fn on_probe(&mut self, now: SimTime, lb: u32, target: u32, q: &mut EventQueue<Ev>) {
        let NodeKind::Balancer(b) = &self.cfg.nodes[lb as usize].kind else { unreachable!() };
        let hc = b.health_check.expect("probes only with a health check");
        let inst = self.cfg.edges[b.edge as usize].targets[target as usize];
        let from = self.cfg.nodes[lb as usize].first_instance;
        self.schedule_before_end(q, now + hc.interval, Ev::Probe { lb, target });
        let there = self.request_hop(from, inst);
        let back = self.hop(inst, from);
        let state = &self.insts[inst as usize];
        let (ok, rtt) = match (there, back) {
            (Some(a), Some(b)) if state.crashed == 0 && state.hung == 0 => (true, a + b),
            (Some(a), Some(b)) if state.crashed > 0 => (false, a + b),
            _ => (false, hc.timeout),
        };
        let (ok, at) = if ok && rtt > hc.timeout { (false, now + hc.timeout) } else { (ok, now + rtt.min(hc.timeout)) };
        q.schedule(at, Ev::ProbeDone { lb, target, seq: 0, ok });
    }

    pub fn on_probe_done(&mut self, now: SimTime, lb: u32, target: u32, _seq: u32, ok: bool, _q: &mut EventQueue<Ev>) {
        let NodeKind::Balancer(b) = &self.cfg.nodes[lb as usize].kind else { unreachable!() };
        let hc = b.health_check.expect("probes only with a health check");
        let edge = b.edge;
        let h = &mut self.health.targets[lb as usize][target as usize];
        if ok {
            h.oks += 1;
            h.fails = 0;
        } else {
            h.fails += 1;
            h.oks = 0;
        }
        let change = if !h.ejected && h.fails >= hc.unhealthy_after {
            Some(true)
        } else if h.ejected && h.oks >= hc.healthy_after {
            Some(false)
        } else {
            None
        };
        if let Some(ejected) = change {
            h.ejected = ejected;
            let lb_inst = self.cfg.nodes[lb as usize].first_instance;
            let state = (self.insts[lb_inst as usize].edge_base + self.edge_slot[edge as usize]) as usize;
            self.edge_states[state].ejected[target as usize] = ejected;
            let inst = self.cfg.edges[edge as usize].targets[target as usize];
            self.health.events.push(super::faults::HealthEvent { at: now, balancer: lb, inst, ejected });
        }
    }

    pub fn on_fault(&mut self, now: SimTime, fault: u32, start: bool, q: &mut EventQueue<Ev>) {
        if fault >= CHAOS_BASE {
            let t = (fault - CHAOS_BASE) as usize;
            let episode = self.chaos.active[t].expect("a chaos episode ends only once");
            self.fault_on_instances(now, fault, &[episode.inst], start, q);
            if !start {
                self.chaos.active[t] = None;
            }
            return;
        }
        let spec = &self.cfg.faults[fault as usize];
        match &spec.target {
            FaultTarget::Link(a, b) => {
                let pair = (*a, *b);
                if start {
                    self.active_partitions.push(pair);
                } else if let Some(i) = self.active_partitions.iter().position(|p| *p == pair) {
                    self.active_partitions.remove(i);
                }
                if start {
                    for n in [a, b] {
                        self.rec.fault_active(*n, now);
                    }
                }
            }
            FaultTarget::Instances(list) => {
                let list = list.clone();
                self.fault_on_instances(now, fault, &list, start, q);
            }
        }
    }

    /// Fault `fault` starts or ends on each of `insts`.
    fn fault_on_instances(&mut self, now: SimTime, fault: u32, insts: &[InstId], start: bool, q: &mut EventQueue<Ev>) {
        let crash = matches!(fault_kind(&self.cfg, &self.chaos, fault), FaultKind::Crash);
        for &inst in insts {
            let state = &mut self.insts[inst as usize];
            if start {
                state.active_faults.push(fault);
            } else if let Some(i) = state.active_faults.iter().position(|f| *f == fault) {
                state.active_faults.remove(i);
            }
            self.recompute_faults(inst);
            if start {
                self.rec.fault_active(self.insts[inst as usize].node, now);
            }
            if crash && start {
                self.crash(now, inst, q);
            }
        }
    }

    /// Derives an instance's fault state from its active faults.
    fn recompute_faults(&mut self, inst: InstId) {
        let state = &mut self.insts[inst as usize];
        let (mut crashed, mut hung, mut slow, mut ok) = (0, 0, 1.0, 1.0);
        state.latency_faults.clear();
        for &f in &state.active_faults {
            match fault_kind(&self.cfg, &self.chaos, f) {
                FaultKind::Crash => crashed += 1,
                FaultKind::Hang => hung += 1,
                FaultKind::Slow { factor } => slow *= factor,
                FaultKind::Errors { rate } => ok *= 1.0 - rate,
                FaultKind::Latency { .. } => state.latency_faults.push(f),
                FaultKind::Partition => {}
            }
        }
        state.crashed = crashed;
        state.hung = hung;
        state.slow = slow;
        state.error_rate = 1.0 - ok;
    }

    /// A crash loses everything the instance holds: callers whose requests
    /// were in it see the connection reset (after one hop); it restarts empty.
    fn crash(&mut self, now: SimTime, inst: InstId, q: &mut EventQueue<Ev>) {
        let node = self.insts[inst as usize].node;
        let mut lost: Vec<_> = self.jobs.iter().filter(|(_, j)| j.inst == inst).map(|(k, _)| k).collect();
        lost.sort_unstable();
        // The process is gone, and so are the calls it was making: no more
        // retries, hedges or fallbacks on behalf of its lost jobs.
        let orphans: Vec<_> = self
            .calls
            .iter()
            .filter(|(_, c)| matches!(c.parent, super::world::Parent::Job(j) if lost.binary_search(&j).is_ok()))
            .map(|(k, _)| k)
            .collect();
        for call in orphans {
            self.cancel(now, call);
        }
        let (mut busy, mut queued) = (0i64, 0i64);
        for key in lost {
            let job = self.jobs.remove(key).expect("listed");
            if job.phase == Phase::Queued {
                queued += 1;
            } else {
                busy += 1;
            }
            self.rec.dropped(node, job.arrived);
            self.reply(now, inst, job.caller, job.reply_to, Outcome::Unavailable, SimDuration::ZERO, q);
        }
        let state = &mut self.insts[inst as usize];
        state.queue.clear();
        state.busy = 0;
        state.epoch += 1;
        state.auth_cache.reset();
        for l in &mut state.limits {
            l.reset();
        }
        self.rec.levels(node, now, -busy, -queued);
    }

    pub fn schedule_chaos(&mut self, q: &mut EventQueue<Ev>) {
        let Some(c) = &self.cfg.chaos else { return };
        let mtbf = c.mtbf;
        for t in 0..c.targets.len() {
            let d = exp_sample(&mut self.chaos.rng[t], mtbf);
            self.schedule_before_end(q, SimTime::ZERO + d, Ev::ChaosFail { target: t as u32 });
        }
    }

    /// Random chaos: one replica of the target fails with a random kind for
    /// an exponential time (mean mttr); the next failure comes an
    /// exponential time (mean mtbf) after the repair.
    pub fn on_chaos(&mut self, now: SimTime, target: u32, q: &mut EventQueue<Ev>) {
        let c = self.cfg.chaos.as_ref().expect("chaos events only with chaos");
        let (mtbf, mttr) = (c.mtbf, c.mttr);
        let node = c.targets[target as usize];
        let rng = &mut self.chaos.rng[target as usize];
        let kind = rng.random_range(0..c.kinds.len()) as u32;
        let n = &self.cfg.nodes[node as usize];
        let replica = if n.replicas > 1 { rng.random_range(0..n.replicas) } else { 0 };
        let repair = exp_sample(rng, mttr);
        let next = exp_sample(rng, mtbf);
        let until = now + repair;
        let episode = ChaosEpisode { inst: n.first_instance + replica, kind, at: now, until };
        self.chaos.total += 1;
        if self.chaos.listed.len() < MAX_LISTED_CHAOS {
            self.chaos.listed.push(episode);
        }
        self.chaos.active[target as usize] = Some(episode);
        let fault = CHAOS_BASE + target;
        self.on_fault(now, fault, true, q);
        q.schedule(until, Ev::FaultEnd { fault });
        self.schedule_before_end(q, until + next, Ev::ChaosFail { target });
    }
}
