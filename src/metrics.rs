//! What a run measured: streaming recorders during the run, and the
//! `Summary` (summary.json) and time-series rows after it.

pub mod latency;
pub mod recorder;
pub mod summary;

pub use latency::LatencyRecorder;
pub use recorder::Recorder;
pub use summary::Summary;
