//! Concurrency cap (Envoy max requests / Hystrix semaphore bulkhead):
//! calls over the cap are rejected at once, never queued.

/// Counts calls in flight against a fixed maximum.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bulkhead {
    in_flight: u32,
    max: u32,
}

impl Bulkhead {
    /// A bulkhead admitting at most `max` concurrent calls (0 rejects all).
    pub fn new(max: u32) -> Self {
        Bulkhead { in_flight: 0, max }
    }

    /// Takes a slot if one is free.
    pub fn try_acquire(&mut self) -> bool {
        if self.in_flight < self.max {
            self.in_flight += 1;
            true
        } else {
            false
        }
    }

    /// Frees a slot taken by a successful [`Bulkhead::try_acquire`].
    pub fn release(&mut self) {
        debug_assert!(self.in_flight > 0, "release without acquire");
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    pub fn max(&self) -> u32 {
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_over_cap_and_frees_on_release() {
        let mut b = Bulkhead::new(2);
        assert!(b.try_acquire());
        assert!(b.try_acquire());
        assert!(!b.try_acquire());
        assert_eq!(b.in_flight(), 2);
        b.release();
        assert!(b.try_acquire());
        assert!(!Bulkhead::new(0).try_acquire());
    }

    proptest! {
        // For random caps and random acquire/release sequences (releases only
        // of held slots), in_flight never exceeds max, try_acquire fails iff
        // in_flight == max, and in_flight equals acquired minus released.
        #[test]
        fn never_exceeds_cap(max in 0u32..6, ops in proptest::collection::vec(any::<bool>(), 0..200)) {
            let mut b = Bulkhead::new(max);
            let mut held = 0u32;
            for acquire in ops {
                if acquire {
                    let at_cap = b.in_flight() == max;
                    let ok = b.try_acquire();
                    prop_assert_eq!(ok, !at_cap);
                    held += u32::from(ok);
                } else if held > 0 {
                    b.release();
                    held -= 1;
                }
                prop_assert!(b.in_flight() <= max);
                prop_assert_eq!(b.in_flight(), held);
            }
        }
    }
}
