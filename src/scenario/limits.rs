//! Every limit a scenario is held to, in one place (the scenario reference
//! documents this table): bounds on the file's numbers, checked before
//! anything runs, and the defaults of `limits: (...)`, the run's guard rails.

use crate::engine::time::SimDuration;
use crate::model::ModelConfig;
use crate::model::budget;

use super::problem::Problem;
use super::raw;

/// Guard rails of a run (`limits: (max_events, max_in_flight, max_events_per_ms, max_memory_mb)`).
pub const DEFAULT_MAX_EVENTS: u64 = 4_000_000_000;
pub const DEFAULT_MAX_IN_FLIGHT: u32 = 2_000_000;
pub const DEFAULT_MAX_EVENTS_PER_MS: u64 = 500_000;
const DEFAULT_MAX_MEMORY_MB: u64 = 2048;

/// The time series' bucket width unless `report: (resolution)` says otherwise.
pub const DEFAULT_RESOLUTION: SimDuration = SimDuration::from_secs(1);
/// Most time buckets, rows (buckets x nodes) and nodes.
pub use crate::model::budget::{MAX_BUCKETS, MAX_NODES, MAX_ROWS};

/// Names (scenario, nodes) and paths: printable, and not book-length (a
/// node name is drawn in pictures and written as a folder name).
pub const MAX_NAME_CHARS: usize = 128;
pub const MAX_PATH_CHARS: usize = 2048;
/// Most replicas of one node, distinct request paths, and edges.
pub const MAX_REPLICAS: u32 = 10_000;
pub const MAX_PATHS: usize = 60_000;
pub const MAX_EDGES: usize = 1_000_000;
/// Health checks and random chaos faster than this are not a model of
/// anything and would only spin the event loop.
pub const MIN_PROBE_INTERVAL: SimDuration = SimDuration::from_millis(1);
pub const MIN_CHAOS_TIME: SimDuration = SimDuration::from_micros(1);

/// Why a name cannot be used, if it cannot.
pub fn bad_name(name: &str, max: usize) -> Option<String> {
    let chars = name.chars().count();
    if chars > max {
        return Some(format!("is {chars} characters long; at most {max}"));
    }
    name.chars().find(|c| c.is_control()).map(|c| format!("holds the control character {:?}", c))
}

/// Refuses a model whose memory estimate exceeds `max_memory_mb`.
pub(super) fn check_memory(file: &raw::Scenario, model: &ModelConfig, errors: &mut Vec<Problem>) {
    let limit_mb = file.limits.as_ref().and_then(|l| l.max_memory_mb).unwrap_or(DEFAULT_MAX_MEMORY_MB);
    let items = budget::estimate(model);
    let total = budget::total(&items);
    if total <= limit_mb.saturating_mul(1 << 20) {
        return;
    }
    let mb = |b: u64| b.div_ceil(1 << 20);
    let parts: Vec<String> = items.iter().map(|i| format!("{} {} MB", i.what, mb(i.bytes))).collect();
    errors.push(
        Problem::field(
            "limits",
            format!(
                "the run would need about {} MB of memory ({}); the limit is {limit_mb} MB",
                mb(total),
                parts.join(", ")
            ),
        )
        .hint(format!(
            "shrink what is largest, or raise limits: (max_memory_mb: {}) if the machine has it",
            mb(total).next_power_of_two()
        )),
    );
}
