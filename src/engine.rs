//! The discrete-event engine: simulated time, the event queue, random
//! streams and the run loop. It knows nothing of gateways, services or
//! breakers: it moves opaque events of a model through time.

pub mod dist;
pub mod keyed;
pub mod queue;
pub mod rng;
pub mod sim;
pub mod time;

pub use queue::EventQueue;
pub use sim::{Model, RunLimits, RunStats, StopReason, run};
pub use time::{SimDuration, SimTime};
