//! The run loop: pops events in order and hands them to the model.

use super::queue::EventQueue;
use super::time::SimTime;

/// A simulated world driven by the engine. The engine never looks inside
/// events; the model interprets them.
pub trait Model {
    type Event;
    /// Handles one event at `now`; may schedule more on `queue`.
    fn handle(&mut self, now: SimTime, event: Self::Event, queue: &mut EventQueue<Self::Event>);
    /// Checked every few thousand events: `Some(reason)` stops the run
    /// (e.g. the model's own in-flight limit was exceeded).
    fn check(&mut self) -> Option<String> {
        None
    }
    /// Whether a pending event still matters; `false` for a timer whose
    /// purpose is gone (cancelled lazily). The engine drops such events when
    /// the queue grows, so memory follows live work, not the timers' length.
    fn is_live(&self, _event: &Self::Event) -> bool {
        true
    }
}

/// Guard rails: a run that exceeds them stops with an error, never hangs.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    pub max_events: u64,
    /// Events allowed at one simulated instant before the run is judged stuck.
    pub max_events_per_instant: u64,
    /// Events allowed within one simulated millisecond: time creeps on but
    /// the run would never end (a 1 ns timer loop, a billion requests a second).
    pub max_events_per_ms: u64,
    /// Live pending events (timers, messages) allowed at once.
    pub max_pending: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RunStats {
    pub events: u64,
    pub end: SimTime,
}

/// Why a run stopped before its end: a guard rail (`RunLimits`) or the model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopReason {
    /// `max_events` was reached before `until`.
    #[error("{events} events by {at}, the limit")]
    EventLimit { events: u64, at: SimTime },
    /// The model asked to stop.
    #[error("at {at}: {reason}")]
    Model { reason: String, at: SimTime },
    /// Over `max_events_per_instant` events ran without time advancing: a
    /// zero-delay loop (e.g. instant failures retried with no backoff).
    #[error("{events} events at {at} without time moving on")]
    NoProgress { events: u64, at: SimTime },
    /// Over `max_events_per_ms` events within one simulated millisecond.
    #[error("{events} events within one simulated millisecond at {at}")]
    EventRate { events: u64, at: SimTime },
    /// Over `max_pending` live events were pending at once.
    #[error("{events} timers and messages pending at once at {at}")]
    Pending { events: u64, at: SimTime },
}

/// How many events run between calls to `Model::check` and `progress`.
const CHECK_EVERY: u64 = 1 << 14;

/// Runs events with time < `until`, then stops. `progress` is called now
/// and then with the current simulated time (for a progress bar).
pub fn run<M: Model>(
    model: &mut M,
    queue: &mut EventQueue<M::Event>,
    until: SimTime,
    limits: RunLimits,
    progress: &mut dyn FnMut(SimTime),
) -> Result<RunStats, StopReason> {
    let mut events: u64 = 0;
    let mut next_check = CHECK_EVERY;
    let (mut instant, mut at_instant) = (SimTime::MAX, 0u64);
    // Events within the current simulated millisecond window.
    let (mut window_end, mut in_window) = (SimTime::ZERO, 0u64);
    let mut compact_at = MIN_COMPACT;
    while let Some((now, event)) = queue.pop_before(until) {
        if now == instant {
            at_instant += 1;
            if at_instant > limits.max_events_per_instant {
                return Err(StopReason::NoProgress { events: at_instant, at: now });
            }
        } else {
            (instant, at_instant) = (now, 1);
        }
        if now >= window_end {
            (window_end, in_window) = (SimTime(now.0.saturating_add(WINDOW_NS)), 0);
        }
        in_window += 1;
        if in_window > limits.max_events_per_ms {
            return Err(StopReason::EventRate { events: in_window, at: now });
        }
        model.handle(now, event, queue);
        events += 1;
        if queue.len() >= compact_at {
            // Dead timers pile up behind live work; drop them so that the
            // queue (and memory) follows what is in flight, amortised: the
            // next sweep waits until the queue has doubled again. A dropped
            // event would have been a no-op: it is counted as handled if it
            // was due before the end, so `events` does not depend on sweeps.
            events += queue.retain(until, |e| model.is_live(e));
            compact_at = (queue.len() * 2).max(MIN_COMPACT);
            if queue.len() as u64 > limits.max_pending {
                return Err(StopReason::Pending { events: queue.len() as u64, at: now });
            }
        }
        if events >= next_check {
            next_check = (events / CHECK_EVERY + 1) * CHECK_EVERY;
            if events >= limits.max_events {
                return Err(StopReason::EventLimit { events, at: now });
            }
            if let Some(reason) = model.check() {
                return Err(StopReason::Model { reason, at: now });
            }
            progress(now);
        }
    }
    Ok(RunStats { events, end: until })
}

/// One simulated millisecond: the window of `max_events_per_ms`.
const WINDOW_NS: u64 = 1_000_000;
/// The queue length below which dead timers are not worth a sweep.
const MIN_COMPACT: usize = 1 << 10;
