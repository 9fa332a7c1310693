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
/// Envoy's `LEAST_REQUEST` draws: 2 by default (power of two choices), at
/// most this many (each is a draw per request; more is a full scan).
pub const DEFAULT_CHOICE_COUNT: u32 = 2;
pub const MAX_CHOICE_COUNT: u32 = 64;
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
    if let Some(c) = name.chars().find(|c| c.is_control()) {
        return Some(format!("holds the control character {c:?}"));
    }
    // Bidirectional controls make a name print differently from what it
    // is (a "Trojan Source" name in a report, a folder or a message).
    name.chars()
        .find(|c| matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
        .map(|c| format!("holds the bidirectional control character {c:?}"))
}

/// Events a client request takes at the least (its arrival and its answer).
const MIN_EVENTS_PER_REQUEST: f64 = 2.0;

/// Refuses a load the run's guard rails would stop anyway: more events per
/// simulated millisecond than `max_events_per_ms`, or more in all than
/// `max_events` (said now, with the numbers, not minutes into the run).
pub(super) fn check_load(model: &ModelConfig, errors: &mut Vec<Problem>) {
    let requests_per_s = budget::peak_open_rps(model);
    let background = budget::background_events_per_s(model);
    let per_ms = (requests_per_s * MIN_EVENTS_PER_REQUEST + background) / 1000.0;
    // What causes the events, for the message.
    let causes = |scale: f64| {
        let mut parts = vec![format!("{:.3e} client requests", requests_per_s * scale)];
        if background > 0.0 {
            let what = "background events (health-check probes, chaos episodes, outlier sweeps)";
            parts.push(format!("{:.3e} {what}", background * scale));
        }
        parts.join(", ")
    };
    // Point at the busiest client's load (the likeliest cause), or at
    // `limits` when background events alone are too many.
    let busiest = model
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            crate::model::config::NodeKind::Clients(c) => Some((n.name.as_str(), budget::open_rps(&c.load)?)),
            _ => None,
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .filter(|(_, rps)| *rps * MIN_EVENTS_PER_REQUEST > background);
    let problem = |message: String| match busiest {
        Some((name, _)) => Problem::node(name, message).at("rps"),
        None => Problem::field("limits", message),
    };
    if per_ms > model.max_events_per_ms as f64 {
        errors.push(
            problem(format!(
                "each simulated millisecond has {}: at least {per_ms:.0} events, above max_events_per_ms ({})",
                causes(1e-3),
                model.max_events_per_ms
            ))
            .hint(
                "lower the clients' rps (a model of a slice of the traffic scales), lengthen health-check \
                 intervals or chaos mtbf, or raise limits: (max_events_per_ms: ...)",
            ),
        );
        return;
    }
    let secs = model.duration.as_secs_f64();
    let events = (requests_per_s * MIN_EVENTS_PER_REQUEST + background) * secs;
    if events > model.max_events as f64 {
        errors.push(
            Problem::field(
                "duration",
                format!(
                    "the run would take at least {events:.3e} events ({}), above max_events ({})",
                    causes(secs),
                    model.max_events
                ),
            )
            .hint(
                "shorten the duration, lower the load, lengthen health-check intervals or chaos mtbf, \
                 or raise limits: (max_events: ...)",
            ),
        );
    }
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
