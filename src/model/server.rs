//! What an instance does with a request: admit it (worker, queue or 503),
//! spend CPU, make its downstream calls, and answer. Workers are held for
//! the whole request, including while waiting for downstream calls.

use rand::RngExt;

use crate::engine::dist::ns_from_f64;
use crate::engine::{EventQueue, SimDuration, SimTime};
use crate::mechanisms::rate_limit::Decision;

use super::config::*;
use super::outcome::Outcome;
use super::world::{AttemptKey, Ev, Job, JobKey, Parent, Phase, World};

impl World {
    /// A request message reached instance `inst`.
    pub fn on_deliver(&mut self, now: SimTime, attempt: AttemptKey, inst: InstId, q: &mut EventQueue<Ev>) {
        // The attempt may already be over at the caller (timed out): the
        // callee cannot know, and does the work anyway; its answer is lost.
        let a = self.attempts.get_mut(attempt).expect("attempts in transit are kept until delivered");
        a.in_transit = false;
        let (caller, ctx) = (a.caller, a.ctx);
        if a.abandoned {
            self.attempts.remove(attempt);
        }
        let node = self.insts[inst as usize].node;
        self.rec.arrival(node, now);
        let state = &self.insts[inst as usize];
        if state.crashed > 0 {
            // Connection refused: a fast failure, one hop back.
            self.rec.answer(node, now, now, Outcome::Unavailable, true);
            return self.reply(now, inst, caller, attempt, Outcome::Unavailable, SimDuration::ZERO, q);
        }
        if state.hung > 0 {
            self.rec.dropped(node, now);
            return; // accepted, never answered
        }
        let job = Job {
            inst,
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
        };
        if state.busy < state.workers {
            let key = self.jobs.insert(job);
            self.start_job(now, key, q);
        } else if (state.queue.len() as u64) < u64::from(state.queue_cap) {
            let key = self.jobs.insert(job);
            self.insts[inst as usize].queue.push_back(key);
            self.rec.levels(node, now, 0, 1);
        } else {
            self.rec.answer(node, now, now, Outcome::Rejected, true);
            self.reply(now, inst, caller, attempt, Outcome::Rejected, SimDuration::ZERO, q);
        }
    }

    /// A worker takes the job: spend its CPU time.
    fn start_job(&mut self, now: SimTime, key: JobKey, q: &mut EventQueue<Ev>) {
        let job = &mut self.jobs[key];
        job.phase = Phase::Cpu;
        let inst = &mut self.insts[job.inst as usize];
        inst.busy += 1;
        let node = inst.node;
        self.rec.levels(node, now, 1, 0);
        let base = match &self.cfg.nodes[node as usize].kind {
            NodeKind::Service(s) => s.work.sample(&mut inst.rng),
            NodeKind::Gateway(g) => {
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
            NodeKind::Balancer(_) => SimDuration::ZERO,
            NodeKind::Clients(_) => unreachable!("clients receive no requests (validated)"),
        };
        // A Slow fault stretches the CPU time (a Latency fault delays the
        // wire instead: see `World::request_hop`).
        let cpu = if inst.slow == 1.0 { base } else { ns_from_f64(base.as_nanos() as f64 * inst.slow) };
        if cpu.is_zero() && matches!(self.cfg.nodes[node as usize].kind, NodeKind::Balancer(_)) {
            // The usual case: a balancer forwards at once, no event needed.
            return self.on_cpu_done(now, key, q);
        }
        q.schedule(now + cpu, Ev::CpuDone { job: key });
    }

    /// Is this job still alive (its instance did not crash since)?
    #[inline]
    fn job_alive(&self, key: JobKey) -> bool {
        self.jobs.get(key).is_some_and(|j| j.epoch == self.insts[j.inst as usize].epoch)
    }

    pub fn on_cpu_done(&mut self, now: SimTime, key: JobKey, q: &mut EventQueue<Ev>) {
        if !self.job_alive(key) {
            return;
        }
        let job = &self.jobs[key];
        let inst = job.inst;
        let node = self.insts[inst as usize].node as usize;
        // A service's own error share, combined with an Errors fault (which
        // strikes gateways and balancers too).
        let own = if let NodeKind::Service(s) = &self.cfg.nodes[node].kind { s.errors } else { 0.0 };
        let i = &mut self.insts[inst as usize];
        let p = if i.error_rate > 0.0 { 1.0 - (1.0 - own) * (1.0 - i.error_rate) } else { own };
        if p > 0.0 && i.rng.random_bool(p) {
            return self.respond(now, key, Outcome::Error, SimDuration::ZERO, q);
        }
        match &self.cfg.nodes[node].kind {
            NodeKind::Service(_) => self.next_step(now, key, 0, q),
            NodeKind::Gateway(_) => self.gateway_admit(now, key, q),
            NodeKind::Balancer(b) => {
                let (edge, job) = (b.edge, &mut self.jobs[key]);
                job.phase = Phase::Step(0);
                job.pending = 1;
                let (inst_id, ctx) = (job.inst, job.ctx);
                self.start_call(now, Parent::Job(key), edge, inst_id, ctx, q);
            }
            NodeKind::Clients(_) => unreachable!("clients receive no requests (validated)"),
        }
    }

    /// Gateway: 404, then authentication, then rate limits, then the route.
    fn gateway_admit(&mut self, now: SimTime, key: JobKey, q: &mut EventQueue<Ev>) {
        let job = &self.jobs[key];
        let (inst, ctx) = (job.inst, job.ctx);
        let node = self.insts[inst as usize].node as usize;
        let NodeKind::Gateway(g) = &self.cfg.nodes[node].kind else { unreachable!() };
        if job.route.is_none() {
            return self.respond(now, key, Outcome::NotFound, SimDuration::ZERO, q);
        }
        match g.auth {
            Auth::None => {}
            Auth::Local { .. } => {
                if ctx.invalid_token {
                    return self.respond(now, key, Outcome::Unauthorized, SimDuration::ZERO, q);
                }
            }
            Auth::Remote { edge, .. } => {
                let cached = !ctx.invalid_token && self.insts[inst as usize].auth_cache.get(ctx.user) > now;
                if !cached {
                    self.jobs[key].phase = Phase::Auth;
                    self.jobs[key].pending = 1;
                    return self.start_call(now, Parent::Job(key), edge, inst, ctx, q);
                }
            }
        }
        self.check_limits(now, key, 0, q);
    }

    /// Checks rate limits from `first` on; a shared store means a call.
    fn check_limits(&mut self, now: SimTime, key: JobKey, first: usize, q: &mut EventQueue<Ev>) {
        let (inst, ctx) = (self.jobs[key].inst, self.jobs[key].ctx);
        let node = self.insts[inst as usize].node;
        let NodeKind::Gateway(g) = &self.cfg.nodes[node as usize].kind else { unreachable!() };
        for (i, limit) in g.rate_limits.iter().enumerate().skip(first) {
            let slot = match &limit.scope {
                LimitScope::PerUser => ctx.user,
                LimitScope::Global => 0,
                LimitScope::Route(applies) => {
                    if !applies[ctx.path as usize] {
                        continue;
                    }
                    0
                }
            };
            if let Some((edge, _)) = limit.store {
                self.jobs[key].phase = Phase::Limit(i as u16);
                self.jobs[key].pending = 1;
                return self.start_call(now, Parent::Job(key), edge, inst, ctx, q);
            }
            let state = self.insts[inst as usize].limits[i].get_mut(slot);
            if let Decision::Reject { retry_after } = limit.config.check(state, now) {
                self.rec.limit_rejected(node, i, slot, now);
                return self.respond(now, key, Outcome::RateLimited, retry_after, q);
            }
        }
        self.next_step(now, key, 0, q);
    }

    /// The shared store answered (or failed) for limit `i`.
    fn shared_limit_result(&mut self, now: SimTime, key: JobKey, i: usize, store_ok: bool, q: &mut EventQueue<Ev>) {
        let (inst, ctx) = (self.jobs[key].inst, self.jobs[key].ctx);
        let node = self.insts[inst as usize].node;
        let NodeKind::Gateway(g) = &self.cfg.nodes[node as usize].kind else { unreachable!() };
        let limit = &g.rate_limits[i];
        let fail_open = limit.store.is_some_and(|(_, open)| open);
        if !store_ok {
            if fail_open {
                return self.check_limits(now, key, i + 1, q);
            }
            // Fail closed: the gateway cannot check, so it refuses (Kong: 500).
            return self.respond(now, key, Outcome::Error, SimDuration::ZERO, q);
        }
        let slot = if matches!(limit.scope, LimitScope::PerUser) { ctx.user } else { 0 };
        let state = self.shared_limits[node as usize][i].get_mut(slot);
        if let Decision::Reject { retry_after } = limit.config.check(state, now) {
            self.rec.limit_rejected(node, i, slot, now);
            return self.respond(now, key, Outcome::RateLimited, retry_after, q);
        }
        self.check_limits(now, key, i + 1, q);
    }

    /// Starts step `step` of the job's calls, or answers if there is none.
    fn next_step(&mut self, now: SimTime, key: JobKey, step: u16, q: &mut EventQueue<Ev>) {
        let job = &self.jobs[key];
        let (inst, ctx) = (job.inst, job.ctx);
        let node = self.insts[inst as usize].node as usize;
        let edges: &[EdgeId] = match &self.cfg.nodes[node].kind {
            NodeKind::Service(s) => match s.steps.get(step as usize) {
                Some(edges) => edges,
                None => {
                    let best = job.best;
                    return self.respond(now, key, best, SimDuration::ZERO, q);
                }
            },
            NodeKind::Gateway(g) => match (&g.routes[job.route.expect("routed") as usize].kind, step) {
                (RouteKind::Forward { edge }, 0) => std::slice::from_ref(edge),
                (RouteKind::Aggregate { edges, .. }, 0) => edges,
                _ => unreachable!("gateways have one step"),
            },
            _ => unreachable!("balancers start their call in start_job"),
        };
        let job = &mut self.jobs[key];
        job.phase = Phase::Step(step);
        job.pending = edges.len() as u32;
        // Calls may fail synchronously only through a deferred `Refused`
        // event, so no call completes while this loop runs.
        for i in 0..edges.len() {
            let edge = match &self.cfg.nodes[node].kind {
                NodeKind::Service(s) => s.steps[step as usize][i],
                NodeKind::Gateway(g) => match &g.routes[self.jobs[key].route.expect("routed") as usize].kind {
                    RouteKind::Forward { edge } => *edge,
                    RouteKind::Aggregate { edges, .. } => edges[i],
                },
                _ => unreachable!(),
            };
            self.start_call(now, Parent::Job(key), edge, inst, ctx, q);
        }
    }

    /// One of the job's calls ended with `outcome` (a 429 with its Retry-After).
    pub fn job_call_done(
        &mut self,
        now: SimTime,
        key: JobKey,
        outcome: Outcome,
        retry_after: SimDuration,
        q: &mut EventQueue<Ev>,
    ) {
        if !self.job_alive(key) {
            return;
        }
        let job = &mut self.jobs[key];
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
        let node = self.insts[job.inst as usize].node as usize;
        match job.phase {
            Phase::Auth => {
                job.successes = 0;
                job.retry_after = SimDuration::ZERO;
                match job.failure.take() {
                    None => {
                        if job.ctx.invalid_token {
                            return self.respond(now, key, Outcome::Unauthorized, SimDuration::ZERO, q);
                        }
                        let NodeKind::Gateway(g) = &self.cfg.nodes[node].kind else { unreachable!() };
                        let Auth::Remote { cache_ttl, .. } = g.auth else { unreachable!() };
                        *self.insts[job.inst as usize].auth_cache.get_mut(job.ctx.user) = now + cache_ttl;
                        job.best = Outcome::Ok;
                        self.check_limits(now, key, 0, q);
                    }
                    // The auth service failed: every authenticated route fails.
                    Some(f) => self.respond(now, key, f.as_dependency_failure(), SimDuration::ZERO, q),
                }
            }
            Phase::Limit(i) => {
                let ok = job.failure.take().is_none();
                job.successes = 0;
                job.retry_after = SimDuration::ZERO;
                job.best = Outcome::Ok;
                self.shared_limit_result(now, key, i as usize, ok, q);
            }
            Phase::Step(step) => self.step_done(now, key, node, step, q),
            Phase::Queued | Phase::Cpu => unreachable!("no calls before the CPU phase ends"),
        }
    }

    fn step_done(&mut self, now: SimTime, key: JobKey, node: usize, step: u16, q: &mut EventQueue<Ev>) {
        let job = &self.jobs[key];
        let (failure, best, successes) = (job.failure, job.best, job.successes);
        match &self.cfg.nodes[node].kind {
            NodeKind::Service(_) => match failure {
                Some(f) => self.respond(now, key, f.as_dependency_failure(), SimDuration::ZERO, q),
                None => self.next_step(now, key, step + 1, q),
            },
            NodeKind::Gateway(g) => {
                let route = &g.routes[job.route.expect("routed") as usize];
                let answer = match (&route.kind, failure) {
                    (_, None) => best,
                    // A plain route is a proxy: the client sees what it saw.
                    (RouteKind::Forward { .. }, Some(f)) => f,
                    (RouteKind::Aggregate { degrade: true, .. }, Some(_)) if successes > 0 => Outcome::Partial,
                    (RouteKind::Aggregate { .. }, Some(f)) => f.as_dependency_failure(),
                };
                // A proxied 429 keeps its Retry-After (Envoy, Kong, nginx pass headers on).
                let retry_after = self.passed_retry_after(key, answer);
                self.respond(now, key, answer, retry_after, q);
            }
            NodeKind::Balancer(_) => {
                let answer = failure.unwrap_or(best);
                let retry_after = self.passed_retry_after(key, answer);
                self.respond(now, key, answer, retry_after, q);
            }
            NodeKind::Clients(_) => unreachable!(),
        }
    }

    /// The Retry-After a proxy sends with `answer`: the upstream's, for a 429.
    fn passed_retry_after(&self, key: JobKey, answer: Outcome) -> SimDuration {
        if answer == Outcome::RateLimited { self.jobs[key].retry_after } else { SimDuration::ZERO }
    }

    /// The job answers: free the worker, send the reply, take the next job.
    fn respond(
        &mut self,
        now: SimTime,
        key: JobKey,
        outcome: Outcome,
        retry_after: SimDuration,
        q: &mut EventQueue<Ev>,
    ) {
        let job = self.jobs.remove(key).expect("responding job exists");
        let inst = job.inst;
        let node = self.insts[inst as usize].node;
        let hung = self.insts[inst as usize].hung > 0;
        if hung {
            self.rec.dropped(node, job.arrived);
        } else {
            self.rec.answer(node, job.arrived, now, outcome, true);
            if let Some(route) = job.route
                && matches!(self.cfg.nodes[node as usize].kind, NodeKind::Gateway(_))
            {
                self.rec.route_answer(node, route as usize, job.arrived, now, outcome);
            }
            if !self.attempts.contains_key(job.reply_to) {
                self.rec.wasted(node, now);
            }
            self.reply(now, inst, job.caller, job.reply_to, outcome, retry_after, q);
        }
        let state = &mut self.insts[inst as usize];
        state.busy -= 1;
        self.rec.levels(node, now, -1, 0);
        if let Some(next) = state.queue.pop_front() {
            self.rec.levels(node, now, 0, -1);
            self.start_job(now, next, q);
        }
    }
}
