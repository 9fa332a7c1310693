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
}

/// Guard rails: a run that exceeds them stops with an error, never hangs.
#[derive(Clone, Copy, Debug)]
pub struct RunLimits {
    pub max_events: u64,
    /// Events allowed at one simulated instant before the run is judged stuck.
    pub max_events_per_instant: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct RunStats {
    pub events: u64,
    pub end: SimTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    /// `max_events` was reached before `until`.
    EventLimit { events: u64, at: SimTime },
    /// The model asked to stop.
    Model { reason: String, at: SimTime },
    /// Over `max_events_per_instant` events ran without time advancing: a
    /// zero-delay loop (e.g. instant failures retried with no backoff).
    NoProgress { events: u64, at: SimTime },
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
    loop {
        match queue.peek_time() {
            Some(t) if t < until => {}
            _ => break,
        }
        let (now, event) = queue.pop().expect("peeked");
        if now == instant {
            at_instant += 1;
            if at_instant > limits.max_events_per_instant {
                return Err(StopReason::NoProgress { events: at_instant, at: now });
            }
        } else {
            (instant, at_instant) = (now, 1);
        }
        model.handle(now, event, queue);
        events += 1;
        if events >= next_check {
            next_check += CHECK_EVERY;
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
