//! The future event list: events ordered by (time, insertion sequence).
//!
//! Ordering contract: an event scheduled for time `t` runs after every event
//! with an earlier time, and after every event for the same `t` that was
//! scheduled before it (first in, first out). Events for the current instant
//! go to a plain FIFO instead of the heap; this is exactly equivalent to the
//! (time, sequence) order, because anything already in the heap for the
//! current instant was scheduled earlier than anything in the FIFO, and it
//! makes zero-delay hops (no network latency) cost no heap operation.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use super::time::SimTime;

struct Entry<E> {
    time: u64,
    seq: u64,
    event: E,
}

impl<E> Entry<E> {
    /// (time, sequence) as one number: one comparison instead of two.
    #[inline]
    fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | u128::from(self.seq)
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Entry<E> {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest first.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

/// A priority queue of events keyed by simulated time, FIFO among equals.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    current: VecDeque<E>,
    now: SimTime,
    seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(1024),
            current: VecDeque::with_capacity(256),
            now: SimTime::ZERO,
            seq: 0,
        }
    }

    /// The time of the event being handled (or last handled).
    #[inline]
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Schedules `event` at `at`, which must not be in the past.
    #[inline]
    pub fn schedule(&mut self, at: SimTime, event: E) {
        assert!(at >= self.now, "event scheduled in the past: {at} < {}", self.now);
        self.seq += 1;
        if at == self.now {
            self.current.push_back(event);
        } else {
            self.heap.push(Entry { time: at.0, seq: self.seq, event });
        }
    }

    /// Removes and returns the next event if it is due before `until`.
    #[inline]
    pub fn pop_before(&mut self, until: SimTime) -> Option<(SimTime, E)> {
        match self.heap.peek() {
            Some(top) if top.time == self.now.0 || self.current.is_empty() => {
                if top.time >= until.0 {
                    return None;
                }
                let entry = self.heap.pop().expect("peeked");
                self.now = SimTime(entry.time);
                Some((self.now, entry.event))
            }
            _ if self.now >= until => None,
            _ => self.current.pop_front().map(|e| (self.now, e)),
        }
    }

    /// Removes and returns the next event, whenever it is due.
    #[cfg(test)]
    fn pop(&mut self) -> Option<(SimTime, E)> {
        self.pop_before(SimTime::MAX)
    }

    pub fn len(&self) -> usize {
        self.heap.len() + self.current.len()
    }

    /// Drops every pending event for which `live` is false (a timer whose
    /// attempt already ended). The others keep their (time, sequence)
    /// order, so running the queue is unchanged but for the dropped no-ops.
    /// Returns how many of the dropped events were due before `until`.
    pub fn retain(&mut self, until: SimTime, mut live: impl FnMut(&E) -> bool) -> u64 {
        let mut due = 0u64;
        let now = self.now;
        self.heap.retain(|e| {
            let keep = live(&e.event);
            due += u64::from(!keep && e.time < until.0);
            keep
        });
        self.current.retain(|e| {
            let keep = live(e);
            due += u64::from(!keep && now < until);
            keep
        });
        due
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retain_keeps_the_order_of_the_rest() {
        let mut q = EventQueue::new();
        for (t, e) in [(5, 1), (3, 2), (5, 3), (3, 4), (9, 5)] {
            q.schedule(SimTime(t), e);
        }
        assert_eq!(q.retain(SimTime(9), |e| e % 2 == 1), 2, "two dropped before t = 9");
        let order: Vec<(u64, i32)> = std::iter::from_fn(|| q.pop()).map(|(t, e)| (t.0, e)).collect();
        assert_eq!(order, [(5, 1), (5, 3), (9, 5)]);
    }

    #[test]
    fn pops_in_time_then_insertion_order() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(5), "b");
        q.schedule(SimTime(3), "a");
        q.schedule(SimTime(5), "c");
        assert_eq!(q.pop(), Some((SimTime(3), "a")));
        // Scheduled "now" (t=3) after the t=5 events, still runs first.
        q.schedule(SimTime(3), "a2");
        assert_eq!(q.pop(), Some((SimTime(3), "a2")));
        assert_eq!(q.pop(), Some((SimTime(5), "b")));
        // At t=5: "c" was scheduled before "d", so it must come first.
        q.schedule(SimTime(5), "d");
        assert_eq!(q.pop(), Some((SimTime(5), "c")));
        assert_eq!(q.pop(), Some((SimTime(5), "d")));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn pop_before_leaves_what_is_due_at_or_after_the_end() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(5), "at the end");
        q.schedule(SimTime(4), "before");
        assert_eq!(q.pop_before(SimTime(5)), Some((SimTime(4), "before")));
        // Scheduled now (t = 4), before the end: it still runs.
        q.schedule(SimTime(4), "now");
        assert_eq!(q.pop_before(SimTime(5)), Some((SimTime(4), "now")));
        assert_eq!(q.pop_before(SimTime(5)), None);
        assert_eq!(q.len(), 1, "the event at the end stays queued");
    }

    #[test]
    #[should_panic(expected = "in the past")]
    fn refuses_the_past() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(5), ());
        q.pop();
        q.schedule(SimTime(4), ());
    }

    use proptest::prelude::*;

    proptest! {
        // The queue yields events sorted by (time, insertion order), also when
        // new events are scheduled while it drains (the FIFO fast path must
        // be indistinguishable from the heap).
        #[test]
        fn total_order_matches_a_stable_sort(ops in proptest::collection::vec((0u64..4, 0u8..3), 1..200)) {
            let mut q = EventQueue::new();
            let mut reference: Vec<(u64, u64)> = Vec::new();
            let mut id = 0u64;
            let mut popped = Vec::new();
            for (delay, action) in ops {
                if action == 0 {
                    if let Some((t, e)) = q.pop() { popped.push((t.0, e)); }
                } else {
                    let at = q.now().0 + delay;
                    q.schedule(SimTime(at), id);
                    reference.push((at, id));
                    id += 1;
                }
            }
            while let Some((t, e)) = q.pop() { popped.push((t.0, e)); }
            // Every event scheduled appears once, times never decrease, ties by id.
            prop_assert_eq!(popped.len(), reference.len());
            for w in popped.windows(2) {
                prop_assert!(w[0].0 < w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1), "{:?}", w);
            }
        }
    }
}
