//! What a gateway does before it routes: 404 for an unknown path, then
//! authentication (local, or a call to the auth service on a cache miss),
//! then rate limits (local state, or a call to a shared store), then the
//! route: a proxy to one service or an aggregate of several.

use crate::engine::{EventQueue, SimDuration, SimTime};
use crate::mechanisms::rate_limit::Decision;

use super::config::{Auth, GatewayConfig, LimitScope, RouteKind};
use super::outcome::Outcome;
use super::servers::Phase;
use super::world::{Ev, JobKey, Parent, World};

impl World<'_> {
    /// 404, then authentication, then rate limits, then the route.
    pub(super) fn gateway_admit(&mut self, now: SimTime, key: JobKey, g: &GatewayConfig, q: &mut EventQueue<Ev>) {
        let job = self.servers.job(key);
        let (inst, ctx) = (job.inst, job.ctx);
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
                if ctx.invalid_token || !self.servers.auth_cached(inst, ctx.user, now) {
                    let job = self.servers.job_mut(key);
                    job.phase = Phase::Auth;
                    job.pending = 1;
                    return self.start_call(now, Parent::Job(key), edge, inst, ctx, q);
                }
            }
        }
        self.check_limits(now, key, g, 0, q);
    }

    /// The auth service answered (or failed).
    pub(super) fn auth_done(&mut self, now: SimTime, key: JobKey, g: &GatewayConfig, q: &mut EventQueue<Ev>) {
        let job = self.servers.job_mut(key);
        job.successes = 0;
        job.retry_after = SimDuration::ZERO;
        let (inst, ctx) = (job.inst, job.ctx);
        match job.failure.take() {
            None => {
                if ctx.invalid_token {
                    return self.respond(now, key, Outcome::Unauthorized, SimDuration::ZERO, q);
                }
                let Auth::Remote { cache_ttl, .. } = g.auth else { unreachable!("only remote auth makes a call") };
                self.servers.cache_auth(inst, ctx.user, now + cache_ttl);
                self.servers.job_mut(key).best = Outcome::Ok;
                self.check_limits(now, key, g, 0, q);
            }
            // The auth service failed: every authenticated route fails.
            Some(f) => self.respond(now, key, f.as_dependency_failure(), SimDuration::ZERO, q),
        }
    }

    /// Checks rate limits from `first` on; a shared store means a call.
    fn check_limits(&mut self, now: SimTime, key: JobKey, g: &GatewayConfig, first: usize, q: &mut EventQueue<Ev>) {
        let job = self.servers.job(key);
        let (inst, node, ctx, arrived) = (job.inst, job.node, job.ctx, job.arrived);
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
                let job = self.servers.job_mut(key);
                job.phase = Phase::Limit(i as u16);
                job.pending = 1;
                return self.start_call(now, Parent::Job(key), edge, inst, ctx, q);
            }
            if let Decision::Reject { retry_after } = limit.config.check(self.servers.local_limit(inst, i, slot), now) {
                self.rec.limit_rejected(node, i, slot, arrived);
                return self.respond(now, key, Outcome::RateLimited, retry_after, q);
            }
        }
        self.route(now, key, g, q);
    }

    /// The shared store answered (or failed) for limit `i`.
    pub(super) fn store_done(
        &mut self,
        now: SimTime,
        key: JobKey,
        g: &GatewayConfig,
        i: usize,
        q: &mut EventQueue<Ev>,
    ) {
        let job = self.servers.job_mut(key);
        let store_ok = job.failure.take().is_none();
        job.successes = 0;
        job.retry_after = SimDuration::ZERO;
        job.best = Outcome::Ok;
        let (node, ctx, arrived) = (job.node, job.ctx, job.arrived);
        let limit = &g.rate_limits[i];
        if !store_ok {
            if limit.store.is_some_and(|(_, open)| open) {
                return self.check_limits(now, key, g, i + 1, q);
            }
            // Fail closed: the gateway cannot check, so it refuses (Kong: 500).
            return self.respond(now, key, Outcome::Error, SimDuration::ZERO, q);
        }
        let slot = if matches!(limit.scope, LimitScope::PerUser) { ctx.user } else { 0 };
        if let Decision::Reject { retry_after } = limit.config.check(self.servers.shared_limit(node, i, slot), now) {
            self.rec.limit_rejected(node, i, slot, arrived);
            return self.respond(now, key, Outcome::RateLimited, retry_after, q);
        }
        self.check_limits(now, key, g, i + 1, q);
    }

    /// The route's call (a proxy) or calls (an aggregate, in parallel).
    fn route(&mut self, now: SimTime, key: JobKey, g: &GatewayConfig, q: &mut EventQueue<Ev>) {
        let route = self.servers.job(key).route.expect("routed before admission");
        match &g.routes[route as usize].kind {
            RouteKind::Forward { edge } => self.start_step(now, key, std::slice::from_ref(edge), 0, q),
            RouteKind::Split { edges, upto } => {
                let i = self.servers.split_pick(self.servers.job(key).inst, upto);
                self.start_step(now, key, std::slice::from_ref(&edges[i]), 0, q)
            }
            RouteKind::Aggregate { edges, .. } => self.start_step(now, key, edges, 0, q),
        }
    }
}
