//! Faults (crash, hang, slow, latency, errors, partition), random chaos,
//! and the load balancers' health checks that react to them.
//!
//! `Faults` owns each instance's fault state (derived from the faults
//! active on it), the balancers' view of their targets' health, and the
//! chaos streams with the episode running on each chaos target.

use rand::RngExt;
use rand_distr::{Distribution, Exp1};

use crate::engine::rng::{SimRng, stream};
use crate::engine::{EventQueue, SimDuration, SimTime};

use super::config::*;
use super::network::Network;
use super::servers::Servers;
use super::world::{Ev, World};

/// Fault references in an instance's active faults and in fault events:
/// an index into `ModelConfig::faults`, or `CHAOS_BASE + t` for the episode
/// now running on chaos target `t` (each target has at most one at a time,
/// so random chaos needs no list that grows with every failure).
const CHAOS_BASE: u32 = 1 << 31;

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

/// An instance was ejected from (or readmitted to) a balancer.
#[derive(Clone, Copy, Debug)]
pub struct HealthEvent {
    pub at: SimTime,
    pub balancer: NodeId,
    pub inst: InstId,
    pub ejected: bool,
    /// Ejected by this caller instance's outlier detection (not a balancer's health checks).
    pub outlier: Option<InstId>,
}

/// One balancer target's health as the balancer sees it.
#[derive(Clone, Copy, Debug, Default)]
struct TargetHealth {
    fails: u32,
    oks: u32,
    ejected: bool,
}

/// What the faults active on one instance add up to.
#[derive(Clone, Debug)]
struct InstFaults {
    crashed: u32,
    hung: u32,
    slow: f64,
    error_rate: f64,
    latency: Vec<u32>,
    active: Vec<u32>,
}

pub(super) struct Faults {
    insts: Vec<InstFaults>,
    /// Per node (balancers with a health check only): per target.
    targets: Vec<Vec<TargetHealth>>,
    health_events: Vec<HealthEvent>,
    chaos_rng: Vec<SimRng>,
    /// The episode running on each chaos target, if any.
    chaos_active: Vec<Option<ChaosEpisode>>,
    /// The first `MAX_LISTED_CHAOS` episodes, for reports.
    chaos_listed: Vec<ChaosEpisode>,
    /// Every random-chaos episode, listed or not.
    chaos_total: u64,
}

impl Faults {
    pub(super) fn new(cfg: &ModelConfig) -> Faults {
        let none =
            InstFaults { crashed: 0, hung: 0, slow: 1.0, error_rate: 0.0, latency: Vec::new(), active: Vec::new() };
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
        let chaos_rng: Vec<SimRng> = match &cfg.chaos {
            Some(c) => c.targets.iter().map(|&t| stream(cfg.seed, "chaos", &cfg.nodes[t as usize].name, 0)).collect(),
            None => Vec::new(),
        };
        Faults {
            insts: vec![none; cfg.instances.len()],
            targets,
            health_events: Vec::new(),
            chaos_active: vec![None; chaos_rng.len()],
            chaos_rng,
            chaos_listed: Vec::new(),
            chaos_total: 0,
        }
    }

    #[inline]
    pub(super) fn crashed(&self, inst: InstId) -> bool {
        self.insts[inst as usize].crashed > 0
    }

    #[inline]
    pub(super) fn hung(&self, inst: InstId) -> bool {
        self.insts[inst as usize].hung > 0
    }

    #[inline]
    pub(super) fn slow(&self, inst: InstId) -> f64 {
        self.insts[inst as usize].slow
    }

    #[inline]
    pub(super) fn error_rate(&self, inst: InstId) -> f64 {
        self.insts[inst as usize].error_rate
    }

    #[inline]
    pub(super) fn latency_faults(&self, inst: InstId) -> &[u32] {
        &self.insts[inst as usize].latency
    }

    /// Nodes with a fault active on any instance or a partitioned link.
    pub(super) fn faulted_nodes(&self, servers: &Servers, net: &Network) -> Vec<NodeId> {
        let on_instances = self
            .insts
            .iter()
            .enumerate()
            .filter(|(_, f)| !f.active.is_empty())
            .map(|(i, _)| servers.node_of(i as InstId));
        on_instances.chain(net.partitioned_nodes()).collect()
    }

    /// The ejections, the listed chaos episodes and how many there were
    /// in all, for the run's results.
    pub(super) fn into_results(self) -> (Vec<HealthEvent>, Vec<ChaosEpisode>, u64) {
        (self.health_events, self.chaos_listed, self.chaos_total)
    }

    /// An ejection or return by outlier detection.
    pub(super) fn outlier_event(&mut self, e: HealthEvent) {
        self.health_events.push(e);
    }

    /// Derives an instance's fault state from its active faults.
    fn recompute(&mut self, cfg: &ModelConfig, inst: InstId) {
        let (mut crashed, mut hung, mut slow, mut ok) = (0, 0, 1.0, 1.0);
        let mut latency = Vec::new();
        for &f in &self.insts[inst as usize].active {
            match fault_kind(cfg, self, f) {
                FaultKind::Crash => crashed += 1,
                FaultKind::Hang => hung += 1,
                FaultKind::Slow { factor } => slow *= factor,
                FaultKind::Errors { rate } => ok *= 1.0 - rate,
                FaultKind::Latency { .. } => latency.push(f),
                FaultKind::Partition => {}
            }
        }
        let state = &mut self.insts[inst as usize];
        (state.crashed, state.hung, state.slow, state.error_rate, state.latency) =
            (crashed, hung, slow, 1.0 - ok, latency);
    }
}

/// The kind of fault `fault` (a static fault or a running chaos episode).
pub(super) fn fault_kind<'a>(cfg: &'a ModelConfig, faults: &Faults, fault: u32) -> &'a FaultKind {
    if fault >= CHAOS_BASE {
        let episode =
            faults.chaos_active[(fault - CHAOS_BASE) as usize].expect("a referenced chaos episode is running");
        &cfg.chaos.as_ref().expect("chaos episodes only with chaos").kinds[episode.kind as usize]
    } else {
        &cfg.faults[fault as usize].kind
    }
}

fn exp_sample(rng: &mut SimRng, mean: SimDuration) -> SimDuration {
    let x: f64 = Exp1.sample(rng);
    SimDuration((x * mean.as_nanos() as f64).round().max(1.0) as u64)
}

impl World<'_> {
    pub(super) fn schedule_probes(&mut self, q: &mut EventQueue<Ev>) {
        for (id, node) in self.cfg.nodes.iter().enumerate() {
            if let NodeKind::Balancer(BalancerConfig { health_check: Some(_), edge }) = &node.kind {
                for target in 0..self.cfg.edges[*edge as usize].targets.len() as u32 {
                    q.schedule(SimTime::ZERO, Ev::Probe { lb: id as u32, target });
                }
            }
        }
    }

    fn balancer(&self, lb: u32) -> (&BalancerConfig, HealthCheck) {
        let NodeKind::Balancer(b) = &self.cfg.nodes[lb as usize].kind else {
            unreachable!("probes come from balancers")
        };
        (b, b.health_check.expect("probes only with a health check"))
    }

    /// A probe goes out: it succeeds if the instance answers within the
    /// probe timeout (a crashed instance refuses, a hung one never answers).
    pub(super) fn on_probe(&mut self, now: SimTime, lb: u32, target: u32, q: &mut EventQueue<Ev>) {
        let (b, hc) = self.balancer(lb);
        let inst = self.cfg.edges[b.edge as usize].targets[target as usize];
        let from = self.cfg.nodes[lb as usize].first_instance;
        self.schedule_before_end(q, now + hc.interval, Ev::Probe { lb, target });
        let there = self.request_hop(from, inst);
        let back = self.hop(inst, from);
        let (ok, rtt) = match (there, back) {
            (Some(a), Some(b)) if !self.faults.crashed(inst) && !self.faults.hung(inst) => (true, a + b),
            (Some(a), Some(b)) if self.faults.crashed(inst) => (false, a + b),
            _ => (false, hc.timeout),
        };
        let (ok, at) = if ok && rtt > hc.timeout { (false, now + hc.timeout) } else { (ok, now + rtt.min(hc.timeout)) };
        q.schedule(at, Ev::ProbeDone { lb, target, ok });
    }

    pub(super) fn on_probe_done(&mut self, now: SimTime, lb: u32, target: u32, ok: bool) {
        let (b, hc) = self.balancer(lb);
        let edge = b.edge;
        let h = &mut self.faults.targets[lb as usize][target as usize];
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
            self.calls.set_ejected(lb_inst, &self.cfg.edges[edge as usize], edge, target as usize, ejected, now);
            let inst = self.cfg.edges[edge as usize].targets[target as usize];
            self.faults.health_events.push(HealthEvent { at: now, balancer: lb, inst, ejected, outlier: None });
        }
    }

    pub(super) fn on_fault(&mut self, now: SimTime, fault: u32, start: bool, q: &mut EventQueue<Ev>) {
        if fault >= CHAOS_BASE {
            let t = (fault - CHAOS_BASE) as usize;
            let episode = self.faults.chaos_active[t].expect("a chaos episode ends only once");
            self.fault_on_instances(now, fault, &[episode.inst], start, q);
            if !start {
                self.faults.chaos_active[t] = None;
            }
            return;
        }
        let spec = &self.cfg.faults[fault as usize];
        match &spec.target {
            FaultTarget::Link(a, b) => {
                if start {
                    self.net.cut(*a, *b);
                    for n in [a, b] {
                        self.rec.fault_active(*n, now);
                    }
                } else {
                    self.net.mend(*a, *b);
                }
            }
            FaultTarget::Instances(list) => self.fault_on_instances(now, fault, list, start, q),
        }
    }

    /// Fault `fault` starts or ends on each of `insts`.
    fn fault_on_instances(&mut self, now: SimTime, fault: u32, insts: &[InstId], start: bool, q: &mut EventQueue<Ev>) {
        let crash = matches!(fault_kind(self.cfg, &self.faults, fault), FaultKind::Crash);
        for &inst in insts {
            let active = &mut self.faults.insts[inst as usize].active;
            if start {
                active.push(fault);
            } else if let Some(i) = active.iter().position(|f| *f == fault) {
                active.remove(i);
            }
            self.faults.recompute(self.cfg, inst);
            if start {
                self.rec.fault_active(self.servers.node_of(inst), now);
            }
            if crash && start {
                self.crash(now, inst, q);
            }
        }
    }

    pub(super) fn schedule_chaos(&mut self, q: &mut EventQueue<Ev>) {
        let Some(c) = &self.cfg.chaos else { return };
        for t in 0..c.targets.len() {
            let d = exp_sample(&mut self.faults.chaos_rng[t], c.mtbf);
            self.schedule_before_end(q, SimTime::ZERO + d, Ev::ChaosFail { target: t as u32 });
        }
    }

    /// Random chaos: one replica of the target fails with a random kind for
    /// an exponential time (mean mttr); the next failure comes an
    /// exponential time (mean mtbf) after the repair.
    pub(super) fn on_chaos(&mut self, now: SimTime, target: u32, q: &mut EventQueue<Ev>) {
        let c = self.cfg.chaos.as_ref().expect("chaos events only with chaos");
        let n = &self.cfg.nodes[c.targets[target as usize] as usize];
        let rng = &mut self.faults.chaos_rng[target as usize];
        let kind = rng.random_range(0..c.kinds.len()) as u32;
        let replica = if n.replicas > 1 { rng.random_range(0..n.replicas) } else { 0 };
        let repair = exp_sample(rng, c.mttr);
        let next = exp_sample(rng, c.mtbf);
        let until = now + repair;
        let episode = ChaosEpisode { inst: n.first_instance + replica, kind, at: now, until };
        self.faults.chaos_total += 1;
        if self.faults.chaos_listed.len() < MAX_LISTED_CHAOS {
            self.faults.chaos_listed.push(episode);
        }
        self.faults.chaos_active[target as usize] = Some(episode);
        let fault = CHAOS_BASE + target;
        self.on_fault(now, fault, true, q);
        q.schedule(until, Ev::FaultEnd { fault });
        self.schedule_before_end(q, until + next, Ev::ChaosFail { target });
    }
}
