//! Batches of runs: replications of several scenarios (compare) or of one
//! scenario over a parameter grid (sweep), run in parallel with rayon.
//!
//! Each run stays single-threaded and deterministic; results are collected
//! in job order and reduced in that order, so the outcome is the same
//! whatever the thread count. Replication `i` of every scenario (or grid
//! point) uses seed `base + i`: equally named clients see identical
//! arrivals across scenarios (common random numbers), which is what makes
//! paired differences between architectures tight. Replication 0 is exactly
//! `gatesim run FILE --seed base`.
//!
//! A batch can be split with `shard` (jobs `j` with `j % count == index`)
//! and put back together with `merge`: the merged result goes through the
//! same code as an unsharded batch, so it is byte-identical.

pub mod compare;
pub mod explore;
pub mod runs;
pub mod stats;
pub mod sweep;

pub use runs::{BatchError, Job, RunMetrics, RunsError, RunsFile, execute};
