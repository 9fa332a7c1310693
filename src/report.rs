//! Reports: pure functions from results to bytes (JSON, CSV, text tables),
//! and the one place that writes an output folder, atomically.

pub mod batch_plots;
pub mod compare;
pub mod explore_page;
pub mod folder;
pub mod plots;
pub mod sweep_page;
pub mod table;

use crate::metrics::Summary;

/// summary.json: pretty-printed, newline-terminated, byte-stable.
pub fn summary_json(summary: &Summary) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(summary).expect("summary serialises");
    out.push(b'\n');
    out
}

pub use folder::{check_target, replace_file, write_folder};
