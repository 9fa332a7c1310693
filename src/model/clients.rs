//! Building the world from a model, and the clients: where requests come
//! from (open Poisson, stepped profile, closed loop with think time), which
//! path and user each carries, and what the client saw in the end.

use rand::RngExt;
use rand_distr::{Distribution, Exp1};

use crate::engine::dist::ns_from_f64;
use crate::engine::keyed::Keyed;
use crate::engine::rng::stream;
use crate::engine::{EventQueue, SimTime};
use crate::mechanisms::breaker::Breaker;
use crate::mechanisms::budget::RetryBudget;
use crate::mechanisms::bulkhead::Bulkhead;
use crate::metrics::Recorder;

use super::config::*;
use super::outcome::Outcome;
use super::world::{ClientState, Ctx, EdgeState, Ev, InstState, Parent, World};

/// `vu` marker for a Profile's rate change (no request is issued).
const RATE_CHANGE: u32 = u32::MAX;

pub fn build_world(cfg: ModelConfig, q: &mut EventQueue<Ev>) -> World {
    let seed = cfg.seed;
    let total_users = cfg.total_users();
    // Outgoing edges of each node, in edge order.
    let mut out_edges: Vec<Vec<EdgeId>> = vec![Vec::new(); cfg.nodes.len()];
    let mut edge_slot = vec![0u32; cfg.edges.len()];
    for (e, edge) in cfg.edges.iter().enumerate() {
        edge_slot[e] = out_edges[edge.from as usize].len() as u32;
        out_edges[edge.from as usize].push(e as EdgeId);
    }
    let mut insts = Vec::with_capacity(cfg.instances.len());
    let mut edge_states = Vec::new();
    for inst in &cfg.instances {
        let node = &cfg.nodes[inst.node as usize];
        let edge_base = edge_states.len() as u32;
        for &e in &out_edges[inst.node as usize] {
            edge_states.push(edge_state(&cfg, e, insts.len() as InstId, inst.replica));
        }
        insts.push(inst_state(&cfg, node, inst, edge_base, total_users));
    }
    let mut clients = Vec::new();
    let mut client_of_node = vec![u32::MAX; cfg.nodes.len()];
    for (id, node) in cfg.nodes.iter().enumerate() {
        if let NodeKind::Clients(c) = &node.kind {
            client_of_node[id] = clients.len() as u32;
            let zipf = (c.skew > 0.0 && c.users > 1)
                .then(|| rand_distr::Zipf::new(f64::from(c.users), c.skew).expect("n >= 1, s >= 0"));
            clients.push(ClientState {
                node: id as NodeId,
                inst: node.first_instance,
                arrivals: stream(seed, "arrivals", &node.name, 0),
                choice: stream(seed, "requests", &node.name, 0),
                zipf,
                step: 0,
            });
        }
    }
    let shared_limits = cfg
        .nodes
        .iter()
        .map(|n| match &n.kind {
            NodeKind::Gateway(g) => g
                .rate_limits
                .iter()
                .map(|l| match (l.store, &l.scope) {
                    (None, _) => Keyed::new(0),
                    (Some(_), LimitScope::PerUser) => Keyed::new(total_users),
                    (Some(_), _) => Keyed::new(1),
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    let rec = recorder(&cfg);
    let end = SimTime(cfg.duration.as_nanos());
    let mut world = World {
        health: super::faults::HealthState::new(&cfg),
        chaos: super::faults::ChaosState::new(&cfg),
        end,
        calls: Default::default(),
        attempts: Default::default(),
        jobs: Default::default(),
        insts,
        edge_states,
        edge_slot,
        clients,
        client_of_node,
        shared_limits,
        active_partitions: Vec::new(),
        rec,
        stop: None,
        cfg,
    };
    world.schedule_start(q);
    world
}

fn edge_state(cfg: &ModelConfig, e: EdgeId, caller: InstId, replica: u32) -> EdgeState {
    let edge = &cfg.edges[e as usize];
    let p = &edge.policy;
    EdgeState {
        edge: e,
        caller,
        breaker: p.breaker.as_ref().map(Breaker::new),
        bulkhead: p.bulkhead.map(Bulkhead::new),
        budget: p.retry.as_ref().and_then(|r| r.budget.as_ref()).map(RetryBudget::new),
        pick: Default::default(),
        outstanding: vec![0; edge.targets.len()],
        ejected: vec![false; edge.targets.len()],
        rng: stream(cfg.seed, "edge", &edge.label, replica),
    }
}

fn inst_state(cfg: &ModelConfig, node: &NodeConfig, inst: &Instance, edge_base: u32, total_users: u32) -> InstState {
    let (workers, queue_cap) = match &node.kind {
        NodeKind::Gateway(g) => (g.workers, g.queue),
        NodeKind::Service(s) => (s.workers, s.queue),
        NodeKind::Balancer(_) => (u32::MAX, 0),
        NodeKind::Clients(_) => (0, 0),
    };
    let (auth_cache, limits) = match &node.kind {
        NodeKind::Gateway(g) => (
            Keyed::new(if matches!(g.auth, Auth::Remote { .. }) { total_users } else { 0 }),
            g.rate_limits
                .iter()
                .map(|l| match (l.store, &l.scope) {
                    (Some(_), _) => Keyed::new(0),
                    (None, LimitScope::PerUser) => Keyed::new(total_users),
                    (None, _) => Keyed::new(1),
                })
                .collect(),
        ),
        _ => (Keyed::new(0), Vec::new()),
    };
    InstState {
        node: inst.node,
        workers,
        queue_cap,
        busy: 0,
        queue: Default::default(),
        epoch: 0,
        crashed: 0,
        hung: 0,
        slow: 1.0,
        error_rate: 0.0,
        latency_faults: Vec::new(),
        active_faults: Vec::new(),
        rng: stream(cfg.seed, "work", &node.name, inst.replica),
        net_rng: stream(cfg.seed, "network", &node.name, inst.replica),
        auth_cache,
        limits,
        edge_base,
    }
}

fn recorder(cfg: &ModelConfig) -> Recorder {
    let capacity = cfg
        .nodes
        .iter()
        .map(|n| match &n.kind {
            NodeKind::Gateway(g) => u64::from(g.workers) * u64::from(n.replicas),
            NodeKind::Service(s) => u64::from(s.workers) * u64::from(n.replicas),
            _ => 0,
        })
        .collect();
    let routes: Vec<usize> =
        cfg.nodes.iter().map(|n| if let NodeKind::Gateway(g) = &n.kind { g.routes.len() } else { 0 }).collect();
    // Per gateway and rate limit: how many keys it has (users, or one).
    let users = cfg.total_users();
    let limits: Vec<Vec<u32>> = cfg
        .nodes
        .iter()
        .map(|n| match &n.kind {
            NodeKind::Gateway(g) => {
                g.rate_limits.iter().map(|l| if matches!(l.scope, LimitScope::PerUser) { users } else { 1 }).collect()
            }
            _ => Vec::new(),
        })
        .collect();
    Recorder::new(cfg.warmup, cfg.resolution, capacity, &routes, &limits)
}

impl World {
    /// The first events: arrivals, ticks, faults, probes, chaos.
    fn schedule_start(&mut self, q: &mut EventQueue<Ev>) {
        for client in 0..self.clients.len() as u32 {
            let node = self.clients[client as usize].node as usize;
            let NodeKind::Clients(c) = &self.cfg.nodes[node].kind else { unreachable!() };
            match &c.load {
                Load::Closed { users, think } => {
                    for vu in 0..*users {
                        let d = think.sample(&mut self.clients[client as usize].arrivals);
                        self.schedule_before_end(q, SimTime::ZERO + d, Ev::Arrival { client, vu });
                    }
                }
                Load::Poisson { .. } | Load::Profile(_) => self.schedule_next_arrival(SimTime::ZERO, client, q),
            }
        }
        let res = self.cfg.resolution;
        self.schedule_before_end(q, SimTime::ZERO + res, Ev::Tick);
        for (i, f) in self.cfg.faults.iter().enumerate() {
            if f.at < self.end {
                q.schedule(f.at, Ev::FaultStart { fault: i as u32 });
                q.schedule(f.until, Ev::FaultEnd { fault: i as u32 });
            }
        }
        self.schedule_probes(q);
        self.schedule_chaos(q);
    }

    pub fn schedule_before_end(&self, q: &mut EventQueue<Ev>, at: SimTime, ev: Ev) {
        if at < self.end {
            q.schedule(at, ev);
        }
    }

    /// Open loop: the next arrival after `now` at the current rate. A
    /// Profile's rate is piecewise constant: if the next arrival would cross
    /// a step, it is drawn again from the step's start (exact, because the
    /// exponential distribution is memoryless).
    fn schedule_next_arrival(&mut self, now: SimTime, client: u32, q: &mut EventQueue<Ev>) {
        let c = &mut self.clients[client as usize];
        let NodeKind::Clients(cfg) = &self.cfg.nodes[c.node as usize].kind else { unreachable!() };
        let (rps, next_step_at) = match &cfg.load {
            Load::Poisson { rps } => (*rps, None),
            Load::Profile(steps) => {
                while c.step + 1 < steps.len() && steps[c.step + 1].0 <= now {
                    c.step += 1;
                }
                let (from, rps) = steps[c.step];
                let rate = if now < from { 0.0 } else { rps };
                let boundary = if now < from { Some(from) } else { steps.get(c.step + 1).map(|s| s.0) };
                (rate, boundary)
            }
            Load::Closed { .. } => return,
        };
        let at = if rps > 0.0 {
            let x: f64 = Exp1.sample(&mut c.arrivals);
            now + ns_from_f64(x * 1e9 / rps)
        } else {
            SimTime::MAX
        };
        match next_step_at {
            Some(b) if at >= b => self.schedule_before_end(q, b, Ev::Arrival { client, vu: RATE_CHANGE }),
            _ => self.schedule_before_end(q, at, Ev::Arrival { client, vu: 0 }),
        }
    }

    pub fn on_arrival(&mut self, now: SimTime, client: u32, vu: u32, q: &mut EventQueue<Ev>) {
        let c = &self.clients[client as usize];
        let (node, inst) = (c.node, c.inst);
        let NodeKind::Clients(cfg) = &self.cfg.nodes[node as usize].kind else { unreachable!() };
        let closed = matches!(cfg.load, Load::Closed { .. });
        if !closed {
            self.schedule_next_arrival(now, client, q);
            if vu == RATE_CHANGE {
                return;
            }
        }
        let NodeKind::Clients(cfg) = &self.cfg.nodes[node as usize].kind else { unreachable!() };
        let c = &mut self.clients[client as usize];
        let path = match cfg.mix.as_slice() {
            [(_, only)] => *only,
            mix => {
                let u: f64 = c.choice.random();
                mix.iter().find(|(cum, _)| u < *cum).unwrap_or(mix.last().expect("mix is not empty")).1
            }
        };
        let local_user = match (&c.zipf, closed) {
            (_, true) => vu % cfg.users,
            (Some(z), false) => (z.sample(&mut c.choice) as u32).clamp(1, cfg.users) - 1,
            (None, false) if cfg.users > 1 => c.choice.random_range(0..cfg.users),
            (None, false) => 0,
        };
        let invalid_token = cfg.invalid_tokens > 0.0 && c.choice.random_bool(cfg.invalid_tokens);
        let ctx = Ctx { client, user: cfg.user_base + local_user, path, invalid_token };
        let edge = cfg.edge;
        self.rec.arrival(node, now);
        self.rec.in_flight(node, now, 1);
        self.start_call(now, Parent::Client { client, vu, born: now }, edge, inst, ctx, q);
    }

    /// A client's request ended; `answered` is false after the client's own
    /// timeout, which is no answer and has no latency to report.
    #[expect(
        clippy::too_many_arguments,
        reason = "the request's identity and its end; a struct would only move the list"
    )]
    pub fn request_done(
        &mut self,
        now: SimTime,
        client: u32,
        vu: u32,
        born: SimTime,
        outcome: Outcome,
        answered: bool,
        q: &mut EventQueue<Ev>,
    ) {
        let node = self.clients[client as usize].node;
        self.rec.answer(node, born, now, outcome, answered);
        self.rec.in_flight(node, now, -1);
        let NodeKind::Clients(cfg) = &self.cfg.nodes[node as usize].kind else { unreachable!() };
        if let Load::Closed { think, .. } = &cfg.load {
            let d = think.sample(&mut self.clients[client as usize].arrivals);
            self.schedule_before_end(q, now + d, Ev::Arrival { client, vu });
        }
    }

    pub fn client_honors_retry_after(&self, client: u32) -> bool {
        let node = self.clients[client as usize].node;
        matches!(&self.cfg.nodes[node as usize].kind, NodeKind::Clients(c) if c.honor_retry_after)
    }
}
