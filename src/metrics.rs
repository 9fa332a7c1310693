//! What a run measured, as the output schema: the `Summary` (summary.json),
//! built from a finished run's results and read back by the reports.

pub mod summary;
pub mod timeseries;
pub mod trace;

pub use summary::Summary;
pub use timeseries::timeseries_csv;
