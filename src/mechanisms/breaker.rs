//! Circuit breaker with resilience4j `CircuitBreakerStateMachine` semantics.
//!
//! States CLOSED, OPEN and HALF_OPEN; failure-rate and slow-call-rate
//! thresholds over a count-based or time-based sliding window; lazy
//! OPEN -> HALF_OPEN on the first permit request strictly after the wait.
//!
//! State ([`Breaker`]) and configuration ([`BreakerConfig`]) are kept apart:
//! many breakers share one config, which is passed to every method.
//! All rate comparisons are exact integer arithmetic on parts per million.

use crate::engine::time::{SimDuration, SimTime};

const NANOS_PER_SEC: u64 = 1_000_000_000;
const PPM: u64 = 1_000_000;

/// The sliding window over which failure and slow-call rates are computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerWindow {
    /// The last `n` recorded results.
    Count(u32),
    /// Results completed in the last `n` whole seconds (`n >= 1`), kept in
    /// one-second buckets aligned to `SimTime` 0 (resilience4j keys its
    /// buckets by epoch second). Sub-second remainders are truncated.
    Time(SimDuration),
}

/// Breaker configuration, shared by many breakers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BreakerConfig {
    pub window: BreakerWindow,
    /// Results needed before the rates are evaluated (capped by the window
    /// size for count windows only; treated as at least 1).
    pub min_calls: u32,
    /// Trip when failures / calls >= this, in (0, 1].
    pub failure_rate: f64,
    /// A call is slow when its duration is strictly greater than this.
    pub slow_call: Option<SimDuration>,
    /// Trip when slow / calls >= this, in (0, 1].
    pub slow_call_rate: f64,
    /// How long OPEN rejects before the next permit request half-opens it.
    pub open_for: SimDuration,
    /// Trial permits handed out per HALF_OPEN episode (>= 1); also the size
    /// of the HALF_OPEN count window.
    pub half_open_calls: u32,
}

impl Default for BreakerConfig {
    /// resilience4j's defaults.
    fn default() -> Self {
        BreakerConfig {
            window: BreakerWindow::Count(100),
            min_calls: 100,
            failure_rate: 0.5,
            slow_call: Some(SimDuration::from_secs(60)),
            slow_call_rate: 1.0,
            open_for: SimDuration::from_secs(60),
            half_open_calls: 10,
        }
    }
}

/// The three breaker states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

/// A state change, reported so the simulator can log it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transition {
    pub from: BreakerState,
    pub to: BreakerState,
    pub at: SimTime,
}

/// The answer to [`Breaker::try_acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Acquire {
    pub permitted: bool,
    /// Set when this request moved OPEN to HALF_OPEN.
    pub transition: Option<Transition>,
}

/// Counts of results: one call's outcome, a bucket, or a whole window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Tally {
    calls: u64,
    failed: u64,
    slow: u64,
}

impl Tally {
    fn one(failed: bool, slow: bool) -> Self {
        Tally { calls: 1, failed: u64::from(failed), slow: u64::from(slow) }
    }

    fn add(&mut self, t: Tally) {
        self.calls = self.calls.saturating_add(t.calls);
        self.failed = self.failed.saturating_add(t.failed);
        self.slow = self.slow.saturating_add(t.slow);
    }

    fn sub(&mut self, t: Tally) {
        self.calls = self.calls.saturating_sub(t.calls);
        self.failed = self.failed.saturating_sub(t.failed);
        self.slow = self.slow.saturating_sub(t.slow);
    }
}

/// A sliding window: a ring of `n` buckets with a running total.
///
/// Each result gets a key: its sequence number for a count window (so each
/// bucket holds one result) or its second `now / 1s` for a time window. The
/// window holds keys `head - n + 1 ..= head`, where `head` is the largest key
/// seen; buckets that fall out are subtracted lazily as `head` advances.
#[derive(Clone, Debug)]
struct Window {
    by_time: bool,
    buckets: Vec<Tally>,
    head: u64,
    recorded: u64,
    total: Tally,
}

impl Window {
    fn count(n: u32) -> Self {
        Window::with(false, u64::from(n))
    }

    fn fresh(cfg: &BreakerConfig) -> Self {
        match cfg.window {
            BreakerWindow::Count(n) => Window::count(n),
            BreakerWindow::Time(d) => {
                debug_assert!(d.0 >= NANOS_PER_SEC, "time window must be >= 1s");
                Window::with(true, d.0 / NANOS_PER_SEC)
            }
        }
    }

    fn with(by_time: bool, n: u64) -> Self {
        let n = usize::try_from(n.max(1)).unwrap_or(usize::MAX);
        Window { by_time, buckets: vec![Tally::default(); n], head: 0, recorded: 0, total: Tally::default() }
    }

    /// Adds one result and returns the window's new total.
    fn record(&mut self, now: SimTime, t: Tally) -> Tally {
        let key = if self.by_time { now.0 / NANOS_PER_SEC } else { self.recorded };
        self.recorded = self.recorded.saturating_add(1);
        let n = self.buckets.len() as u64;
        // Keys never decrease; if time ran backwards, use the head bucket.
        if key > self.head {
            for k in 1..=(key - self.head).min(n) {
                let i = ((self.head + k) % n) as usize;
                self.total.sub(self.buckets[i]);
                self.buckets[i] = Tally::default();
            }
            self.head = key;
        }
        self.buckets[(self.head % n) as usize].add(t);
        self.total.add(t);
        self.total
    }
}

/// A rate in (0, 1] as parts per million, at least 1 so that a rate that
/// rounds to zero never trips on zero failures.
fn rate_ppm(rate: f64) -> u64 {
    debug_assert!(rate > 0.0 && rate <= 1.0, "rate must be in (0, 1]");
    ((rate * PPM as f64).round() as u64).clamp(1, PPM)
}

/// `count / calls >= rate`, exactly, with the rate quantised to ppm.
fn at_least(count: u64, calls: u64, rate: f64) -> bool {
    u128::from(count) * u128::from(PPM) >= u128::from(rate_ppm(rate)) * u128::from(calls)
}

/// After a recorded result: `None` if there are too few calls to judge,
/// else whether a threshold is exceeded.
fn exceeded(t: Tally, min_calls: u64, cfg: &BreakerConfig) -> Option<bool> {
    if t.calls < min_calls.max(1) {
        return None;
    }
    let failing = at_least(t.failed, t.calls, cfg.failure_rate);
    let slow = cfg.slow_call.is_some() && at_least(t.slow, t.calls, cfg.slow_call_rate);
    Some(failing || slow)
}

/// One circuit breaker's state. See the module docs for the semantics.
#[derive(Clone, Debug)]
pub struct Breaker {
    state: BreakerState,
    opened_at: SimTime,
    /// Trial permits handed out (less those released) this HALF_OPEN episode.
    half_open_issued: u32,
    /// Metrics of the current CLOSED or HALF_OPEN episode (stale while OPEN).
    window: Window,
}

impl Breaker {
    /// The bytes one breaker of this config holds (its window's buckets), so
    /// that a scenario can be sized before it runs.
    pub fn memory_bytes(cfg: &BreakerConfig) -> u64 {
        let buckets = match cfg.window {
            BreakerWindow::Count(n) => u64::from(n),
            BreakerWindow::Time(d) => d.0 / NANOS_PER_SEC,
        };
        buckets.max(1).saturating_mul(std::mem::size_of::<Tally>() as u64) + std::mem::size_of::<Breaker>() as u64
    }

    /// A CLOSED breaker with empty metrics.
    pub fn new(cfg: &BreakerConfig) -> Self {
        Breaker {
            state: BreakerState::Closed,
            opened_at: SimTime::ZERO,
            half_open_issued: 0,
            window: Window::fresh(cfg),
        }
    }

    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// When the breaker last opened (meaningful while OPEN).
    #[cfg(test)]
    fn opened_at(&self) -> SimTime {
        self.opened_at
    }

    /// Asks for a permit to make a call at `now`.
    ///
    /// CLOSED permits; OPEN rejects while `now <= opened_at + open_for`, and
    /// strictly after that moves to HALF_OPEN and asks again; HALF_OPEN
    /// permits at most `half_open_calls` per episode in total.
    pub fn try_acquire(&mut self, cfg: &BreakerConfig, now: SimTime) -> Acquire {
        let mut transition = None;
        if self.state == BreakerState::Open {
            if now <= self.opened_at + cfg.open_for {
                return Acquire { permitted: false, transition };
            }
            transition = Some(self.move_to(cfg, BreakerState::HalfOpen, now));
        }
        let permitted = self.state == BreakerState::Closed || self.half_open_permit(cfg);
        Acquire { permitted, transition }
    }

    fn half_open_permit(&mut self, cfg: &BreakerConfig) -> bool {
        debug_assert!(cfg.half_open_calls >= 1);
        if self.half_open_issued < cfg.half_open_calls.max(1) {
            self.half_open_issued += 1;
            true
        } else {
            false
        }
    }

    /// Gives back a permit whose call's result will never be reported
    /// (e.g. a cancelled hedge loser). Only HALF_OPEN counts permits, so
    /// elsewhere this does nothing (as in resilience4j).
    pub fn release(&mut self) {
        if self.state == BreakerState::HalfOpen {
            self.half_open_issued = self.half_open_issued.saturating_sub(1);
        }
    }

    /// Records a finished call into the current state's metrics and applies
    /// any resulting transition. Results finishing while OPEN are ignored.
    pub fn on_result(
        &mut self,
        cfg: &BreakerConfig,
        now: SimTime,
        failed: bool,
        duration: SimDuration,
    ) -> Option<Transition> {
        let slow = cfg.slow_call.is_some_and(|t| duration > t);
        let min_calls = match (self.state, cfg.window) {
            (BreakerState::Open, _) => return None,
            (BreakerState::HalfOpen, _) => cfg.min_calls.min(cfg.half_open_calls),
            (BreakerState::Closed, BreakerWindow::Count(n)) => cfg.min_calls.min(n),
            (BreakerState::Closed, BreakerWindow::Time(_)) => cfg.min_calls,
        };
        let tally = self.window.record(now, Tally::one(failed, slow));
        match (self.state, exceeded(tally, u64::from(min_calls), cfg)) {
            (_, Some(true)) => Some(self.move_to(cfg, BreakerState::Open, now)),
            (BreakerState::HalfOpen, Some(false)) => Some(self.move_to(cfg, BreakerState::Closed, now)),
            _ => None,
        }
    }

    fn move_to(&mut self, cfg: &BreakerConfig, to: BreakerState, now: SimTime) -> Transition {
        let from = self.state;
        debug_assert!(from != to && !(from == BreakerState::Closed && to == BreakerState::HalfOpen));
        self.state = to;
        match to {
            BreakerState::Open => self.opened_at = now,
            BreakerState::HalfOpen => {
                self.half_open_issued = 0;
                self.window = Window::count(cfg.half_open_calls);
            }
            BreakerState::Closed => self.window = Window::fresh(cfg),
        }
        Transition { from, to, at: now }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    fn t(ns: u64) -> SimTime {
        SimTime(ns)
    }

    fn cfg(window: BreakerWindow, min_calls: u32) -> BreakerConfig {
        BreakerConfig {
            window,
            min_calls,
            failure_rate: 0.5,
            slow_call: None,
            slow_call_rate: 1.0,
            open_for: SimDuration::from_secs(10),
            half_open_calls: 2,
        }
    }

    fn res(b: &mut Breaker, c: &BreakerConfig, at: u64, failed: bool) -> Option<Transition> {
        b.on_result(c, t(at), failed, SimDuration::from_millis(1))
    }

    fn tr(from: BreakerState, to: BreakerState, at: u64) -> Option<Transition> {
        Some(Transition { from, to, at: t(at) })
    }

    use BreakerState::{Closed, HalfOpen, Open};

    #[test]
    fn count_window_trips_at_exact_rate() {
        let c = cfg(BreakerWindow::Count(4), 4);
        let mut b = Breaker::new(&c);
        assert_eq!(res(&mut b, &c, 1, false), None);
        assert_eq!(res(&mut b, &c, 2, false), None);
        assert_eq!(res(&mut b, &c, 3, true), None);
        // 2 of 4 failed: 0.5 >= 0.5 trips.
        assert_eq!(res(&mut b, &c, 4, true), tr(Closed, Open, 4));
        // Results finishing while OPEN change nothing.
        for i in 0..10 {
            assert_eq!(res(&mut b, &c, 5 + i, false), None);
        }
        assert_eq!((b.state(), b.opened_at()), (Open, t(4)));
    }

    #[test]
    fn count_window_evicts_oldest_and_caps_min_calls() {
        // min_calls 10 is capped to the window size 3.
        let c = cfg(BreakerWindow::Count(3), 10);
        let mut b = Breaker::new(&c);
        for i in 0..3 {
            assert_eq!(res(&mut b, &c, i, i == 0), None); // F S S: 1/3 < 0.5
        }
        assert_eq!(res(&mut b, &c, 3, false), None); // S S S
        assert_eq!(res(&mut b, &c, 4, true), None); // S S F
        assert_eq!(res(&mut b, &c, 5, true), tr(Closed, Open, 5)); // S F F
    }

    #[test]
    fn time_window_expires_buckets_and_does_not_cap_min_calls() {
        let c = cfg(BreakerWindow::Time(SimDuration::from_secs(2)), 3);
        let mut b = Breaker::new(&c);
        assert_eq!(res(&mut b, &c, 500 * MS, true), None);
        assert_eq!(res(&mut b, &c, 1500 * MS, true), None);
        // Second 2: the window is seconds 1..=2, the 0.5s failure expired.
        assert_eq!(res(&mut b, &c, 2100 * MS, true), None);
        assert_eq!(res(&mut b, &c, 2200 * MS, true), tr(Closed, Open, 2200 * MS));
        // A gap longer than the window clears it: one failure is too few.
        let mut b = Breaker::new(&c);
        res(&mut b, &c, 0, true);
        res(&mut b, &c, 1, true);
        assert_eq!(res(&mut b, &c, 100 * S, true), None);
    }

    #[test]
    fn open_rejects_until_strictly_after_wait_then_half_opens() {
        let c = cfg(BreakerWindow::Count(1), 1);
        let mut b = Breaker::new(&c);
        assert!(b.try_acquire(&c, t(0)).permitted);
        assert_eq!(res(&mut b, &c, S, true), tr(Closed, Open, S));
        let a = b.try_acquire(&c, t(11 * S));
        assert!(!a.permitted && a.transition.is_none());
        let a = b.try_acquire(&c, t(11 * S + 1));
        assert!(a.permitted);
        assert_eq!(a.transition, tr(Open, HalfOpen, 11 * S + 1));
        assert_eq!(b.state(), HalfOpen);
    }

    #[test]
    fn half_open_permits_are_a_total_per_episode_and_release_returns_one() {
        let c = cfg(BreakerWindow::Count(1), 1);
        let mut b = Breaker::new(&c);
        res(&mut b, &c, 0, true);
        assert!(b.try_acquire(&c, t(11 * S)).permitted);
        assert!(b.try_acquire(&c, t(11 * S)).permitted);
        assert!(!b.try_acquire(&c, t(11 * S)).permitted);
        b.release();
        assert!(b.try_acquire(&c, t(11 * S)).permitted);
        assert!(!b.try_acquire(&c, t(11 * S)).permitted);
    }

    #[test]
    fn half_open_closes_on_good_results_and_reopens_on_bad() {
        let mut c = cfg(BreakerWindow::Count(10), 5);
        c.half_open_calls = 3; // min_calls_eff = min(5, 3) = 3
        let mut b = Breaker::new(&c);
        for i in 0..5 {
            res(&mut b, &c, i, true);
        }
        assert_eq!(b.state(), Open);
        assert!(b.try_acquire(&c, t(20 * S)).permitted);
        assert_eq!(res(&mut b, &c, 20 * S + 1, false), None);
        assert_eq!(res(&mut b, &c, 20 * S + 2, true), None); // too few: stays
        assert_eq!(res(&mut b, &c, 20 * S + 3, false), tr(HalfOpen, Closed, 20 * S + 3));
        // Fresh CLOSED metrics: 4 failures are below min_calls 5.
        for i in 0..4 {
            assert_eq!(res(&mut b, &c, 21 * S + i, true), None);
        }
        assert_eq!(res(&mut b, &c, 22 * S, true), tr(Closed, Open, 22 * S));
        b.try_acquire(&c, t(33 * S));
        res(&mut b, &c, 33 * S, true);
        res(&mut b, &c, 33 * S, true);
        assert_eq!(res(&mut b, &c, 34 * S, false), tr(HalfOpen, Open, 34 * S));
        assert_eq!(b.opened_at(), t(34 * S));
    }

    #[test]
    fn slow_means_strictly_longer_than_threshold() {
        let mut c = cfg(BreakerWindow::Count(2), 2);
        c.slow_call = Some(SimDuration::from_millis(100));
        c.slow_call_rate = 1.0;
        let mut b = Breaker::new(&c);
        let at = SimDuration::from_millis(100);
        let over = SimDuration(at.0 + 1);
        assert_eq!(b.on_result(&c, t(0), false, at), None);
        assert_eq!(b.on_result(&c, t(1), false, over), None); // 1/2 slow < 1.0
        assert_eq!(b.on_result(&c, t(2), false, over), tr(Closed, Open, 2));
    }

    #[test]
    fn late_closed_result_counts_toward_half_open() {
        let mut c = cfg(BreakerWindow::Count(1), 1);
        c.half_open_calls = 1;
        let mut b = Breaker::new(&c);
        assert!(b.try_acquire(&c, t(0)).permitted); // admitted while CLOSED
        res(&mut b, &c, 1, true);
        b.try_acquire(&c, t(20 * S));
        // The call admitted at t=0 finishes now and decides the trial.
        assert_eq!(res(&mut b, &c, 20 * S + 5, false), tr(HalfOpen, Closed, 20 * S + 5));
    }

    /// A naive reference: every result of the episode kept in a Vec.
    struct Model {
        state: BreakerState,
        opened_at: u64,
        issued: u32,
        results: Vec<(u64, bool, bool)>,
    }

    impl Model {
        fn verdict(&self, c: &BreakerConfig, pct: u64, now: u64) -> Option<bool> {
            let r = &self.results;
            let (start, min) = match (self.state, c.window) {
                (HalfOpen, _) => (r.len().saturating_sub(c.half_open_calls as usize), c.half_open_calls),
                (_, BreakerWindow::Count(n)) => (r.len().saturating_sub(n as usize), n),
                (_, BreakerWindow::Time(d)) => {
                    let first = r.iter().position(|x| x.0 / S + d.0 / S > now / S);
                    (first.unwrap_or(r.len()), u32::MAX)
                }
            };
            let kept = &r[start..];
            let calls = kept.len() as u64;
            if calls < u64::from(c.min_calls.min(min).max(1)) {
                return None;
            }
            let failed = kept.iter().filter(|r| r.1).count() as u64;
            let slow = kept.iter().filter(|r| r.2).count() as u64;
            Some(failed * 100 >= pct * calls || slow * 100 >= pct * calls)
        }
    }

    fn arb_cfg() -> impl Strategy<Value = (BreakerConfig, u64)> {
        let win = prop_oneof![
            (1u32..8).prop_map(BreakerWindow::Count),
            (1u64..4).prop_map(|s| BreakerWindow::Time(SimDuration::from_secs(s))),
        ];
        (win, 1u32..10, 1u64..=100, 1u32..4, 1u64..30).prop_map(|(window, min_calls, pct, ho, open_ms)| {
            let c = BreakerConfig {
                window,
                min_calls,
                failure_rate: pct as f64 / 100.0,
                slow_call: Some(SimDuration::from_millis(50)),
                slow_call_rate: pct as f64 / 100.0,
                open_for: SimDuration::from_millis(open_ms * 100),
                half_open_calls: ho,
            };
            (c, pct)
        })
    }

    proptest! {
        // Model check: for random configs and random sequences of acquire /
        // result / release at non-decreasing times, the breaker's permits and
        // transitions equal those of a naive Vec-based reference, there is
        // never a CLOSED -> HALF_OPEN edge, and OPEN never permits.
        #[test]
        fn matches_naive_reference(
            (c, pct) in arb_cfg(),
            ops in proptest::collection::vec((0u64..8, 0u8..3, any::<bool>(), 0u64..100), 1..200),
        ) {
            let mut b = Breaker::new(&c);
            let mut m = Model { state: Closed, opened_at: 0, issued: 0, results: Vec::new() };
            let mut now = 0;
            for (dt, op, failed, dur_ms) in ops {
                now += dt * 100 * MS;
                let got = match op {
                    0 => {
                        let a = b.try_acquire(&c, t(now));
                        let mut want_t = None;
                        if m.state == Open && now > m.opened_at + c.open_for.0 {
                            want_t = tr(Open, HalfOpen, now);
                            m = Model { state: HalfOpen, opened_at: m.opened_at, issued: 0, results: Vec::new() };
                        }
                        let ok = m.state == Closed || (m.state == HalfOpen && m.issued < c.half_open_calls);
                        if m.state == HalfOpen && ok { m.issued += 1; }
                        prop_assert_eq!(a, Acquire { permitted: ok, transition: want_t });
                        a.transition
                    }
                    1 => {
                        let d = SimDuration::from_millis(dur_ms);
                        let got = b.on_result(&c, t(now), failed, d);
                        let mut want = None;
                        if m.state != Open {
                            m.results.push((now, failed, dur_ms > 50));
                            let to = match (m.state, m.verdict(&c, pct, now)) {
                                (_, Some(true)) => Some(Open),
                                (HalfOpen, Some(false)) => Some(Closed),
                                _ => None,
                            };
                            if let Some(to) = to {
                                want = tr(m.state, to, now);
                                m = Model { state: to, opened_at: now, issued: 0, results: Vec::new() };
                            }
                        }
                        prop_assert_eq!(got, want);
                        got
                    }
                    _ => {
                        b.release();
                        if m.state == HalfOpen { m.issued = m.issued.saturating_sub(1); }
                        None
                    }
                };
                if let Some(x) = got {
                    prop_assert!(!(x.from == Closed && x.to == HalfOpen));
                }
                prop_assert_eq!(b.state(), m.state);
            }
        }
    }
}
