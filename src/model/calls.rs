//! One logical call over an edge, under the caller's policy: breaker,
//! bulkhead, balancing, per-attempt timeout, retries with backoff and
//! budget, hedging, and fallback. The same code serves a client, a gateway
//! route, a balancer and a service's call.
//!
//! Order of checks for each attempt (Envoy / resilience4j): breaker permit,
//! then bulkhead slot, then pick an instance. A retry first passes the retry
//! budget, then waits out its backoff, then goes through the same checks.

use crate::engine::{EventQueue, SimDuration, SimTime};
use crate::mechanisms::breaker::{BreakerState, Transition};
use crate::metrics::Recorder;
use crate::metrics::recorder::BreakerEvent;

use super::config::{EdgeId, NodeId};
use super::outcome::Outcome;
use super::world::{Attempt, AttemptKey, Call, CallKey, Ctx, Ev, MAX_LIVE, Parent, World};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Send {
    First,
    Retry,
    Hedge,
}

/// Records a breaker's state change (for plots and the cascade story).
fn breaker_transition(rec: &mut Recorder, node: NodeId, state: usize, t: Transition) {
    let event = BreakerEvent {
        at: t.at,
        breaker: state as u32,
        to_open: t.to == BreakerState::Open,
        to_half_open: t.to == BreakerState::HalfOpen,
    };
    rec.breaker_event(node, event);
}

impl World {
    /// Starts a call from instance `caller` over `edge`; `parent` is told the result.
    pub fn start_call(
        &mut self,
        now: SimTime,
        parent: Parent,
        edge: EdgeId,
        caller: super::config::InstId,
        ctx: Ctx,
        q: &mut EventQueue<Ev>,
    ) {
        let state = self.insts[caller as usize].edge_base + self.edge_slot[edge as usize];
        let call = self.calls.insert(Call {
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
        });
        if let Some(budget) = &mut self.edge_states[state as usize].budget {
            budget.deposit(now);
        }
        self.send(now, call, Send::First, q);
    }

    /// Sends one attempt of `call`, or fails it at once if it may not go.
    fn send(&mut self, now: SimTime, key: CallKey, kind: Send, q: &mut EventQueue<Ev>) {
        let call = &self.calls[key];
        let (edge_id, state, caller, started) = (call.edge, call.state as usize, call.caller, call.started);
        let edge = &self.cfg.edges[edge_id as usize];
        let es = &mut self.edge_states[state];
        let mut breaker_permit = false;
        if let (Some(cfg), Some(b)) = (&edge.policy.breaker, &mut es.breaker) {
            let acquired = b.try_acquire(cfg, now);
            if let Some(t) = acquired.transition {
                breaker_transition(&mut self.rec, self.insts[caller as usize].node, state, t);
            }
            if !acquired.permitted {
                if kind != Send::Hedge {
                    q.schedule(now, Ev::Refused { call: key, outcome: Outcome::ShortCircuited });
                }
                return;
            }
            breaker_permit = true;
        }
        let es = &mut self.edge_states[state];
        let mut bulkhead = false;
        if let Some(bh) = &mut es.bulkhead {
            if !bh.try_acquire() {
                if breaker_permit {
                    es.breaker.as_mut().expect("permit implies breaker").release();
                }
                if kind != Send::Hedge {
                    // Over the cap: rejected at once, never queued, never retried.
                    q.schedule(now, Ev::Refused { call: key, outcome: Outcome::Rejected });
                }
                return;
            }
            bulkhead = true;
        }
        let targets = &edge.targets;
        let (outstanding, ejected) = (&es.outstanding, &es.ejected);
        let picked = edge.balance.pick(&mut es.pick, targets.len(), |i| !ejected[i], |i| outstanding[i], &mut es.rng);
        let Some(target) = picked else {
            if breaker_permit {
                es.breaker.as_mut().expect("permit implies breaker").release();
            }
            if bulkhead {
                es.bulkhead.as_mut().expect("slot implies bulkhead").release();
            }
            if kind != Send::Hedge {
                q.schedule(now, Ev::Refused { call: key, outcome: Outcome::Unavailable });
            }
            return;
        };
        es.outstanding[target] += 1;
        let inst = targets[target];
        let timeout = edge.policy.timeout;
        let hedge = edge.policy.hedge;
        let ctx = self.calls[key].ctx;
        let attempt = self.attempts.insert(Attempt {
            call: key,
            ctx,
            caller,
            in_transit: false,
            abandoned: false,
            target: target as u32,
            inst,
            sent: now,
            breaker_permit,
            bulkhead,
        });
        let call = &mut self.calls[key];
        call.outstanding += 1;
        let slot = call.live.iter().position(Option::is_none).expect("at most 1 + max_extra (<= 7) attempts live");
        call.live[slot] = Some(attempt);
        let caller_node = self.insts[caller as usize].node;
        self.rec.attempt(caller_node, started, kind == Send::Retry, kind == Send::Hedge);
        if let Some(t) = timeout {
            q.schedule(now + t, Ev::Timeout { attempt });
        }
        if let Some(h) = hedge
            && self.calls[key].hedges < h.max_extra
        {
            let round = self.calls[key].retries;
            q.schedule(now + h.after, Ev::Hedge { call: key, round });
        }
        match self.request_hop(caller, inst) {
            Some(d) => {
                self.attempts[attempt].in_transit = true;
                q.schedule(now + d, Ev::Deliver { attempt, inst });
            }
            None => {
                // A partition swallowed the request: to its callers the node
                // took it and never answered, so it counts there as dropped.
                let node = self.insts[inst as usize].node;
                self.rec.arrival(node, now);
                self.rec.dropped(node, now);
            }
        }
    }

    /// An attempt ended: an answer arrived (`answered`), or its timeout fired.
    pub fn on_attempt_end(
        &mut self,
        now: SimTime,
        key: AttemptKey,
        outcome: Outcome,
        retry_after: SimDuration,
        answered: bool,
        q: &mut EventQueue<Ev>,
    ) {
        let Some(attempt) = self.forget_attempt(key) else {
            return; // the attempt already ended (answered, cancelled or timed out)
        };
        let (state, edge) = (self.calls[attempt.call].state as usize, self.calls[attempt.call].edge as usize);
        self.release(now, state, edge, &attempt, Some((outcome, now - attempt.sent)));
        let call = &mut self.calls[attempt.call];
        call.outstanding -= 1;
        if let Some(slot) = call.live.iter_mut().find(|s| **s == Some(key)) {
            *slot = None;
        }
        if outcome.is_success() {
            self.settle(now, attempt.call, outcome, q);
            return;
        }
        call.last_failure = outcome;
        call.last_answered = answered;
        call.last_retry_after = retry_after;
        if call.outstanding > 0 {
            return; // a hedge is still out; it may yet succeed
        }
        self.after_failure(now, attempt.call, outcome, retry_after, q);
    }

    /// The caller is done with an attempt: returns its data, or `None` if it
    /// was already done. One still in transit is kept (abandoned) until it
    /// is delivered.
    fn forget_attempt(&mut self, key: AttemptKey) -> Option<Attempt> {
        let a = self.attempts.get_mut(key)?;
        if a.abandoned {
            return None;
        }
        if a.in_transit {
            a.abandoned = true;
            let a = &self.attempts[key];
            return Some(*a);
        }
        self.attempts.remove(key)
    }

    /// Gives back what an attempt held; records its result on the breaker.
    fn release(
        &mut self,
        now: SimTime,
        state: usize,
        edge: usize,
        a: &Attempt,
        result: Option<(Outcome, SimDuration)>,
    ) {
        let es = &mut self.edge_states[state];
        es.outstanding[a.target as usize] -= 1;
        if a.bulkhead {
            es.bulkhead.as_mut().expect("slot implies bulkhead").release();
        }
        if a.breaker_permit {
            let b = es.breaker.as_mut().expect("permit implies breaker");
            match result {
                Some((outcome, took)) => {
                    let cfg = self.cfg.edges[edge].policy.breaker.as_ref().expect("breaker has config");
                    if let Some(t) = b.on_result(cfg, now, outcome.is_server_failure(), took) {
                        let node = self.insts[es.caller as usize].node;
                        breaker_transition(&mut self.rec, node, state, t);
                    }
                }
                None => b.release(),
            }
        }
    }

    /// The call's last attempt failed with `outcome`: retry, fall back, or fail.
    fn after_failure(
        &mut self,
        now: SimTime,
        key: CallKey,
        outcome: Outcome,
        retry_after: SimDuration,
        q: &mut EventQueue<Ev>,
    ) {
        let call = &self.calls[key];
        let edge = &self.cfg.edges[call.edge as usize];
        if let Some(retry) = &edge.policy.retry {
            let honor = match call.parent {
                Parent::Client { client, .. } => self.client_honors_retry_after(client),
                Parent::Job(_) => false,
            };
            let retryable = retry.on.contains(outcome) || (outcome == Outcome::RateLimited && honor);
            if retryable && call.retries < retry.max {
                let es = &mut self.edge_states[call.state as usize];
                let budget_ok = es.budget.as_mut().is_none_or(|b| b.try_withdraw(now));
                if budget_ok {
                    let n = call.retries + 1;
                    let mut delay = retry.backoff.delay(n, call.last_delay, &mut es.rng);
                    if outcome == Outcome::RateLimited {
                        delay = delay.max(retry_after);
                    }
                    let call = &mut self.calls[key];
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
        let call = &mut self.calls[key];
        let edge = &self.cfg.edges[call.edge as usize];
        if let (Some(fb), true) = (&edge.policy.fallback, outcome.is_server_failure()) {
            call.settling = true;
            let caller = call.caller;
            let d = fb.latency.sample(&mut self.insts[caller as usize].rng);
            q.schedule(now + d, Ev::FallbackDone { call: key });
            return;
        }
        self.settle(now, key, outcome, q);
    }

    pub fn on_retry(&mut self, now: SimTime, key: CallKey, q: &mut EventQueue<Ev>) {
        if self.calls.contains_key(key) {
            self.send(now, key, Send::Retry, q);
        }
    }

    pub fn on_hedge(&mut self, now: SimTime, key: CallKey, round: u32, q: &mut EventQueue<Ev>) {
        let Some(call) = self.calls.get_mut(key) else { return };
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
    pub fn on_refused(&mut self, now: SimTime, key: CallKey, outcome: Outcome, q: &mut EventQueue<Ev>) {
        let Some(call) = self.calls.get_mut(key) else { return };
        call.last_failure = outcome;
        call.last_answered = true;
        call.last_retry_after = SimDuration::ZERO;
        self.after_failure(now, key, outcome, SimDuration::ZERO, q);
    }

    /// Removes a call and cancels its attempts still out (their callees may
    /// still do the work); pending retry, hedge and fallback events then
    /// find nothing. Returns the call, or `None` if it was already gone.
    pub fn cancel(&mut self, now: SimTime, key: CallKey) -> Option<Call> {
        let call = self.calls.remove(key)?;
        for attempt in call.live.iter().flatten() {
            if let Some(a) = self.forget_attempt(*attempt) {
                self.release(now, call.state as usize, call.edge as usize, &a, None);
            }
        }
        Some(call)
    }

    /// The call is over: cancel attempts still out and tell the parent.
    pub fn settle(&mut self, now: SimTime, key: CallKey, outcome: Outcome, q: &mut EventQueue<Ev>) {
        let Some(call) = self.cancel(now, key) else { return };
        let answered = outcome.is_success() || call.last_answered;
        match call.parent {
            Parent::Client { client, vu, born } => self.request_done(now, client, vu, born, outcome, answered, q),
            Parent::Job(job) => {
                let retry_after =
                    if outcome == Outcome::RateLimited { call.last_retry_after } else { SimDuration::ZERO };
                self.job_call_done(now, job, outcome, retry_after, q)
            }
        }
    }
}
