//! Envoy's cluster circuit breakers: thresholds on what one proxy has
//! outstanding to one upstream cluster, not a closed/open state machine.
//!
//! As Envoy documents them (arch overview "Circuit breaking" and
//! `config.cluster.v3.CircuitBreakers.Thresholds`), for an HTTP/1.1
//! connection pool, where a connection carries one request at a time:
//! - **max_connections** (default 1024): a request that finds no free
//!   connection and may not open one waits as *pending*
//!   (`upstream_cx_overflow` counts the connections it could not open);
//! - **max_pending_requests** (default 1024): a request that would wait
//!   beyond that many is failed at once with a 503 marked overloaded
//!   (`upstream_rq_pending_overflow`);
//! - **max_requests** (default 1024): outstanding requests; one more is
//!   failed at once, also counted as `upstream_rq_pending_overflow`;
//! - **max_retries** (default 3): retries outstanding at once; a retry over
//!   it is not sent (`upstream_rq_retry_overflow`). Envoy holds a retry's
//!   slot from the decision to retry until that retry's attempt ends;
//! - **retry_budget** (`budget_percent` default 20%, `min_retry_concurrency`
//!   default 3): when set it replaces `max_retries` by
//!   max(min_retry_concurrency, budget_percent x (active + pending)).
//!
//! Pure: counts only. The caller keeps the queue of pending requests and
//! calls [`Thresholds::next_pending`] whenever a connection frees.

/// Envoy's `retry_budget`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudgetPct {
    /// Percent of active + pending requests that may be retries.
    pub budget_percent: f64,
    pub min_retry_concurrency: u32,
}

/// Envoy's defaults: `retry_budget {}` is 20% with at least 3.
impl Default for RetryBudgetPct {
    fn default() -> Self {
        RetryBudgetPct { budget_percent: 20.0, min_retry_concurrency: 3 }
    }
}

/// One `thresholds` entry (default priority).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ThresholdsConfig {
    pub max_connections: u32,
    pub max_pending_requests: u32,
    pub max_requests: u32,
    pub max_retries: u32,
    pub retry_budget: Option<RetryBudgetPct>,
}

/// Envoy's defaults for every field left out.
impl Default for ThresholdsConfig {
    fn default() -> Self {
        ThresholdsConfig {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 3,
            retry_budget: None,
        }
    }
}

impl ThresholdsConfig {
    /// Retries that may be outstanding with `active` and `pending` requests.
    fn retry_limit(&self, active: u32, pending: u32) -> u32 {
        match self.retry_budget {
            None => self.max_retries,
            Some(b) => {
                let share = b.budget_percent / 100.0 * f64::from(active.saturating_add(pending));
                // Truncated, as Envoy's `static_cast<uint64_t>` of the product.
                (share as u32).max(b.min_retry_concurrency)
            }
        }
    }
}

/// What happens to a request that wants to go upstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// A connection is free: send now.
    Send,
    /// Wait for a connection (it is counted as pending).
    Wait,
    /// A 503 at once, marked overloaded.
    Overflow,
}

/// Overflow counters, named as Envoy's cluster statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThresholdStats {
    pub upstream_cx_overflow: u64,
    pub upstream_rq_pending_overflow: u64,
    pub upstream_rq_retry_overflow: u64,
    /// The most requests ever pending at once.
    pub pending_peak: u32,
}

/// The live counts of one proxy towards one cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Thresholds {
    active: u32,
    pending: u32,
    retries: u32,
    stats: ThresholdStats,
}

impl Thresholds {
    pub fn new() -> Self {
        Self::default()
    }

    /// A new request (first try, retry or hedge) wants to go upstream.
    pub fn admit(&mut self, cfg: &ThresholdsConfig) -> Admission {
        if self.active < cfg.max_connections && self.pending == 0 {
            return self.attach(cfg);
        }
        // No connection to spare (or others wait first): the pool would
        // open one but the connection limit says no.
        self.stats.upstream_cx_overflow += 1;
        if self.pending >= cfg.max_pending_requests {
            self.stats.upstream_rq_pending_overflow += 1;
            return Admission::Overflow;
        }
        self.pending += 1;
        self.stats.pending_peak = self.stats.pending_peak.max(self.pending);
        Admission::Wait
    }

    /// A request takes a connection, if `max_requests` allows.
    fn attach(&mut self, cfg: &ThresholdsConfig) -> Admission {
        if self.active >= cfg.max_requests {
            self.stats.upstream_rq_pending_overflow += 1;
            return Admission::Overflow;
        }
        self.active += 1;
        Admission::Send
    }

    /// A sent request ended (answered, timed out or cancelled): its
    /// connection is free again.
    pub fn finish(&mut self) {
        debug_assert!(self.active > 0, "finish without a request out");
        self.active = self.active.saturating_sub(1);
    }

    /// A waiting request gave up (its timeout fired, its call ended).
    pub fn abandon_pending(&mut self) {
        debug_assert!(self.pending > 0, "abandon without a pending request");
        self.pending = self.pending.saturating_sub(1);
    }

    /// After a connection freed: may the first waiting request go now?
    /// `Some(Send)` takes it out of pending and sends it, `Some(Overflow)`
    /// takes it out and fails it (`max_requests`), `None` leaves it waiting.
    pub fn next_pending(&mut self, cfg: &ThresholdsConfig) -> Option<Admission> {
        if self.pending == 0 || self.active >= cfg.max_connections {
            return None;
        }
        self.pending -= 1;
        Some(self.attach(cfg))
    }

    /// A call wants to retry: `true` takes a retry slot (give it back with
    /// [`Thresholds::retry_done`]); `false` counts a retry overflow.
    pub fn try_retry(&mut self, cfg: &ThresholdsConfig) -> bool {
        if self.retries < cfg.retry_limit(self.active, self.pending) {
            self.retries += 1;
            true
        } else {
            self.stats.upstream_rq_retry_overflow += 1;
            false
        }
    }

    /// A retry's attempt ended, or its call did.
    pub fn retry_done(&mut self) {
        debug_assert!(self.retries > 0, "retry_done without a retry slot");
        self.retries = self.retries.saturating_sub(1);
    }

    pub fn active(&self) -> u32 {
        self.active
    }

    pub fn pending(&self) -> u32 {
        self.pending
    }

    pub fn retries(&self) -> u32 {
        self.retries
    }

    pub fn stats(&self) -> ThresholdStats {
        self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cfg(conns: u32, pending: u32, requests: u32, retries: u32) -> ThresholdsConfig {
        ThresholdsConfig {
            max_connections: conns,
            max_pending_requests: pending,
            max_requests: requests,
            max_retries: retries,
            retry_budget: None,
        }
    }

    #[test]
    fn defaults_are_envoys() {
        let d = ThresholdsConfig::default();
        assert_eq!((d.max_connections, d.max_pending_requests, d.max_requests, d.max_retries), (1024, 1024, 1024, 3));
        assert_eq!(RetryBudgetPct::default(), RetryBudgetPct { budget_percent: 20.0, min_retry_concurrency: 3 });
    }

    #[test]
    fn connections_then_pending_then_overflow() {
        let c = cfg(2, 1, 100, 3);
        let mut t = Thresholds::new();
        assert_eq!(t.admit(&c), Admission::Send);
        assert_eq!(t.admit(&c), Admission::Send);
        assert_eq!(t.admit(&c), Admission::Wait);
        assert_eq!(t.admit(&c), Admission::Overflow);
        let s = t.stats();
        assert_eq!((s.upstream_cx_overflow, s.upstream_rq_pending_overflow, s.pending_peak), (2, 1, 1));
        // A connection frees: the waiting request takes it.
        t.finish();
        assert_eq!(t.next_pending(&c), Some(Admission::Send));
        assert_eq!((t.active(), t.pending()), (2, 0));
        assert_eq!(t.next_pending(&c), None);
    }

    #[test]
    fn max_requests_fails_at_once_without_waiting() {
        let c = cfg(10, 10, 1, 3);
        let mut t = Thresholds::new();
        assert_eq!(t.admit(&c), Admission::Send);
        assert_eq!(t.admit(&c), Admission::Overflow);
        assert_eq!(t.stats().upstream_rq_pending_overflow, 1);
        assert_eq!(t.pending(), 0);
    }

    #[test]
    fn retry_budget_is_a_share_of_active_and_pending_with_a_floor() {
        let mut c = cfg(1000, 1000, 1000, 0);
        c.retry_budget = Some(RetryBudgetPct { budget_percent: 25.0, min_retry_concurrency: 3 });
        // Envoy's example: 100 active requests at 25% allow 25 retries.
        assert_eq!(c.retry_limit(100, 0), 25);
        assert_eq!(c.retry_limit(60, 40), 25);
        assert_eq!(c.retry_limit(4, 0), 3, "never below min_retry_concurrency");
        let mut t = Thresholds::new();
        for _ in 0..3 {
            assert!(t.try_retry(&c));
        }
        assert!(!t.try_retry(&c));
        assert_eq!(t.stats().upstream_rq_retry_overflow, 1);
        t.retry_done();
        assert!(t.try_retry(&c));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Admit,
        Finish,
        Abandon,
        Retry,
        RetryDone,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![Just(Op::Admit), Just(Op::Finish), Just(Op::Abandon), Just(Op::Retry), Just(Op::RetryDone)]
    }

    proptest! {
        // Whatever happens: pending never exceeds max_pending_requests,
        // active never exceeds min(max_connections, max_requests), retries
        // never exceed their limit when taken, and a request waits only
        // while every connection is busy.
        #[test]
        fn limits_always_hold(
            conns in 0u32..5, pending in 0u32..5, requests in 0u32..6, retries in 0u32..4,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let c = cfg(conns, pending, requests, retries);
            let mut t = Thresholds::new();
            let mut waiting = 0u32;
            for op in ops {
                match op {
                    Op::Admit => waiting += u32::from(t.admit(&c) == Admission::Wait),
                    Op::Finish if t.active() > 0 => {
                        t.finish();
                        if let Some(a) = t.next_pending(&c) {
                            waiting -= 1;
                            prop_assert!(a == Admission::Send || t.active() >= requests);
                        }
                    }
                    Op::Abandon if waiting > 0 => { t.abandon_pending(); waiting -= 1; }
                    Op::Retry => {
                        let limit = c.retry_limit(t.active(), t.pending());
                        let before = t.retries();
                        if t.try_retry(&c) { prop_assert!(before < limit) } else { prop_assert!(before >= limit) }
                    }
                    Op::RetryDone if t.retries() > 0 => t.retry_done(),
                    _ => {}
                }
                prop_assert_eq!(t.pending(), waiting);
                prop_assert!(t.pending() <= pending);
                prop_assert!(t.active() <= conns.min(requests));
                prop_assert!(t.pending() == 0 || t.active() >= conns.min(requests) || t.active() >= conns);
            }
        }
    }
}
