//! Deadlines as gRPC propagates them: a request carries the instant by
//! which its originator stops waiting; every hop's timeout is the smaller
//! of its own and what remains, a hop whose deadline has passed is not
//! sent, and a server skips queued work whose deadline has passed.
//!
//! gRPC: "a deadline is propagated to downstream calls ... the server
//! can query the remaining time and cancel the work" (grpc.io, Deadlines).
//! The remaining time travels as the `grpc-timeout` header; Envoy's
//! `x-envoy-expected-rq-timeout-ms` does the same for HTTP.

use crate::engine::time::{SimDuration, SimTime};

/// An absolute deadline, or none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline(SimTime);

impl Deadline {
    /// No deadline: wait as long as each hop's own timeout says.
    pub const NONE: Deadline = Deadline(SimTime::MAX);

    /// `d` after `now` (saturating).
    pub fn after(now: SimTime, d: SimDuration) -> Deadline {
        Deadline(SimTime(now.0.saturating_add(d.as_nanos())))
    }

    /// What remains of it at `now` (`None` without a deadline).
    pub fn remaining(self, now: SimTime) -> Option<SimDuration> {
        self.is_set().then(|| self.0.saturating_since(now))
    }

    fn is_set(self) -> bool {
        self != Deadline::NONE
    }

    /// The deadline is over at `now` (never, without one).
    pub fn passed(self, now: SimTime) -> bool {
        self.is_set() && now >= self.0
    }

    /// The timeout of an attempt sent at `now` under this deadline: the
    /// smaller of the caller's own (`own`) and what remains.
    pub fn attempt_timeout(self, own: Option<SimDuration>, now: SimTime) -> Option<SimDuration> {
        if !self.is_set() {
            return own;
        }
        let remaining = self.0.saturating_since(now);
        Some(own.map_or(remaining, |t| t.min(remaining)))
    }

    /// The deadline the callee of an attempt sent at `now` inherits: this
    /// one, tightened by the caller's own timeout once deadlines travel
    /// (`start`: this caller starts one from its timeout).
    pub fn for_callee(self, own: Option<SimDuration>, start: bool, now: SimTime) -> Deadline {
        match own {
            Some(t) if start || self.is_set() => self.min(Deadline::after(now, t)),
            _ => self,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(x: u64) -> SimDuration {
        SimDuration::from_millis(x)
    }

    #[test]
    fn without_a_deadline_nothing_changes() {
        let d = Deadline::NONE;
        assert!(!d.passed(SimTime::MAX));
        assert_eq!(d.attempt_timeout(Some(ms(300)), SimTime(5)), Some(ms(300)));
        assert_eq!(d.attempt_timeout(None, SimTime(5)), None);
        assert_eq!(d.for_callee(Some(ms(300)), false, SimTime(5)), Deadline::NONE);
    }

    #[test]
    fn a_client_starts_one_and_each_hop_tightens_it() {
        let now = SimTime(0);
        let d = Deadline::NONE.for_callee(Some(ms(1000)), true, now);
        assert_eq!(d, Deadline(SimTime(ms(1000).as_nanos())));
        // 400 ms later a gateway with a 3 s route timeout waits 600 ms at most.
        let later = SimTime(ms(400).as_nanos());
        assert_eq!(d.attempt_timeout(Some(ms(3000)), later), Some(ms(600)));
        // A hop with a shorter timeout tightens what its callee inherits.
        assert_eq!(d.for_callee(Some(ms(100)), false, later), Deadline(SimTime(ms(500).as_nanos())));
        assert!(d.passed(SimTime(ms(1000).as_nanos())));
        assert!(!d.passed(SimTime(ms(999).as_nanos())));
    }

    proptest! {
        // A hop never waits past the deadline, nor longer than its own
        // timeout; a callee's deadline is never later than its caller's.
        #[test]
        fn hops_never_outlive_the_deadline(
            start in 0u64..10_000, budget in 1u64..10_000, own in proptest::option::of(1u64..10_000), at in 0u64..20_000,
        ) {
            let d = Deadline::NONE.for_callee(Some(SimDuration(budget)), true, SimTime(start));
            let now = SimTime(start.max(at));
            let own = own.map(SimDuration);
            let t = d.attempt_timeout(own, now).expect("a deadline bounds the wait");
            prop_assert!(now.0 + t.0 <= start + budget || t.0 == 0);
            if let Some(o) = own { prop_assert!(t <= o); }
            let callee = d.for_callee(own, false, now);
            prop_assert!(callee <= d);
            prop_assert_eq!(d.passed(now), now.0 >= start + budget);
        }
    }
}
