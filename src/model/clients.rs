//! The clients: where requests come from (open Poisson, stepped profile,
//! closed loop with think time), which path and user each carries, and
//! what the client saw in the end.

use rand::RngExt;
use rand_distr::{Distribution, Exp1};

use crate::engine::dist::ns_from_f64;
use crate::engine::rng::{SimRng, stream};
use crate::engine::{EventQueue, SimTime};
use crate::mechanisms::deadline::Deadline;

use super::config::{ClientsConfig, InstId, Load, ModelConfig, NodeId, NodeKind};
use super::outcome::Outcome;
use super::world::{Ctx, Ev, Parent, World};

struct ClientState {
    node: NodeId,
    inst: InstId,
    honor_retry_after: bool,
    arrivals: SimRng,
    choice: SimRng,
    zipf: Option<rand_distr::Zipf<f64>>,
    /// Which requests are traced: its own stream, so tracing moves no other draw.
    trace: Option<SimRng>,
    /// Profile: index of the current step.
    step: usize,
}

pub(super) struct Clients {
    states: Vec<ClientState>,
}

impl Clients {
    pub(super) fn new(cfg: &ModelConfig) -> Clients {
        let states = cfg
            .nodes
            .iter()
            .enumerate()
            .filter_map(|(id, node)| {
                let NodeKind::Clients(c) = &node.kind else { return None };
                let zipf = (c.skew > 0.0 && c.users > 1)
                    .then(|| rand_distr::Zipf::new(f64::from(c.users), c.skew).expect("n >= 1, s >= 0"));
                Some(ClientState {
                    node: id as NodeId,
                    inst: node.first_instance,
                    honor_retry_after: c.honor_retry_after,
                    arrivals: stream(cfg.seed, "arrivals", &node.name, 0),
                    choice: stream(cfg.seed, "requests", &node.name, 0),
                    zipf,
                    trace: cfg.trace.map(|_| stream(cfg.seed, "trace", &node.name, 0)),
                    step: 0,
                })
            })
            .collect();
        Clients { states }
    }

    pub(super) fn count(&self) -> u32 {
        self.states.len() as u32
    }

    pub(super) fn node(&self, client: u32) -> NodeId {
        self.states[client as usize].node
    }

    pub(super) fn honors_retry_after(&self, client: u32) -> bool {
        self.states[client as usize].honor_retry_after
    }
}

impl<'a> World<'a> {
    fn client_config(&self, client: u32) -> &'a ClientsConfig {
        self.cfg.clients(self.clients.node(client))
    }

    /// The first arrivals: one per closed-loop user, or the first of an open loop.
    pub(super) fn schedule_first_arrivals(&mut self, q: &mut EventQueue<Ev>) {
        let cfg = self.cfg;
        for client in 0..self.clients.count() {
            match &cfg.clients(self.clients.node(client)).load {
                Load::Closed { users, think } => {
                    for vu in 0..*users {
                        let d = think.sample(&mut self.clients.states[client as usize].arrivals);
                        self.schedule_before_end(q, SimTime::ZERO + d, Ev::Arrival { client, vu });
                    }
                }
                Load::Poisson { .. } | Load::Profile(_) => self.schedule_next_arrival(SimTime::ZERO, client, q),
            }
        }
    }

    /// Open loop: the next arrival after `now` at the current rate. A
    /// Profile's rate is piecewise constant: if the next arrival would cross
    /// a step, a `RateChange` at the step draws again from its start (exact,
    /// because the exponential distribution is memoryless).
    pub(super) fn schedule_next_arrival(&mut self, now: SimTime, client: u32, q: &mut EventQueue<Ev>) {
        let cfg = self.cfg;
        let c = &mut self.clients.states[client as usize];
        let (rps, next_step_at) = match &cfg.clients(c.node).load {
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
            Some(b) if at >= b => self.schedule_before_end(q, b, Ev::RateChange { client }),
            _ => self.schedule_before_end(q, at, Ev::Arrival { client, vu: 0 }),
        }
    }

    pub(super) fn on_arrival(&mut self, now: SimTime, client: u32, vu: u32, q: &mut EventQueue<Ev>) {
        let cfg = self.client_config(client);
        let closed = matches!(cfg.load, Load::Closed { .. });
        if !closed {
            self.schedule_next_arrival(now, client, q);
        }
        let c = &mut self.clients.states[client as usize];
        let (node, inst) = (c.node, c.inst);
        let (path, priority) = match cfg.mix.as_slice() {
            [(_, only, priority)] => (*only, *priority),
            mix => {
                let u: f64 = c.choice.random();
                let m = mix.iter().find(|(cum, ..)| u < *cum).unwrap_or(mix.last().expect("mix is not empty"));
                (m.1, m.2)
            }
        };
        let local_user = match (&c.zipf, closed) {
            (_, true) => vu % cfg.users,
            (Some(z), false) => (z.sample(&mut c.choice) as u32).clamp(1, cfg.users) - 1,
            (None, false) if cfg.users > 1 => c.choice.random_range(0..cfg.users),
            (None, false) => 0,
        };
        let invalid_token = cfg.invalid_tokens > 0.0 && c.choice.random_bool(cfg.invalid_tokens);
        let (trace, span) = match (&mut c.trace, &mut self.tracer) {
            (Some(rng), Some(tracer)) => tracer.sample(rng.random()).unwrap_or((0, 0)),
            _ => (0, 0),
        };
        let user = cfg.user_base + local_user;
        let ctx = Ctx { user, path, invalid_token, deadline: Deadline::NONE, priority, trace, span };
        self.rec.arrival(node, now);
        self.rec.in_flight(node, now, 1);
        self.start_call(now, Parent::Client { client, vu, born: now }, cfg.edge, inst, ctx, q);
    }

    /// A client's request ended; `answered` is false after the client's own
    /// timeout, which is no answer and has no latency to report.
    #[expect(
        clippy::too_many_arguments,
        reason = "the request's identity and its end; a struct would only move the list"
    )]
    pub(super) fn request_done(
        &mut self,
        now: SimTime,
        client: u32,
        vu: u32,
        born: SimTime,
        outcome: Outcome,
        answered: bool,
        q: &mut EventQueue<Ev>,
    ) {
        let node = self.clients.node(client);
        self.rec.answer(node, born, now, outcome, answered);
        self.rec.in_flight(node, now, -1);
        if let Load::Closed { think, .. } = &self.client_config(client).load {
            let d = think.sample(&mut self.clients.states[client as usize].arrivals);
            self.schedule_before_end(q, now + d, Ev::Arrival { client, vu });
        }
    }
}
