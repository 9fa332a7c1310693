//! PlotData: what the pictures need, read back from summary.json (the typed
//! `Summary`, the one output schema) and timeseries.csv, so that `gatesim
//! plot OUTDIR` redraws without re-running.

mod timeseries;

use crate::metrics::Summary;
use crate::metrics::summary::{NodeKindName, NodeSummary, TopologyNode};
use crate::model::outcome::Outcome;
use timeseries::CsvTable;

/// The outcome kinds, in the order of the CSV columns and of the stacks.
pub(crate) const OUTCOMES: [&str; Outcome::COUNT] = {
    let mut keys = [""; Outcome::COUNT];
    let mut i = 0;
    while i < Outcome::COUNT {
        keys[i] = Outcome::ALL[i].key();
        i += 1;
    }
    keys
};

/// The time-series columns the pictures read, in storage order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Col {
    Arrivals,
    Completed,
    /// `Outcome(i)` is `OUTCOMES[i]`.
    Outcome(usize),
    P50,
    P99,
    QueueLen,
    Utilization,
    BreakersOpen,
    FaultActive,
    /// Answers given after the caller had given up.
    Wasted,
}

const N_COLS: usize = 9 + OUTCOMES.len();

impl Col {
    fn index(self) -> usize {
        match self {
            Col::Arrivals => 0,
            Col::Completed => 1,
            Col::Outcome(i) => 2 + i,
            Col::P50 => 13,
            Col::P99 => 14,
            Col::QueueLen => 15,
            Col::Utilization => 16,
            Col::BreakersOpen => 17,
            Col::FaultActive => 18,
            Col::Wasted => 19,
        }
    }

    fn from_header(name: &str) -> Option<Col> {
        Some(match name {
            "arrivals" => Col::Arrivals,
            "completed" => Col::Completed,
            "latency_ms_p50" => Col::P50,
            "latency_ms_p99" => Col::P99,
            "queue_len" => Col::QueueLen,
            "utilization" => Col::Utilization,
            "breakers_open" => Col::BreakersOpen,
            "fault_active" => Col::FaultActive,
            "wasted" => Col::Wasted,
            other => Col::Outcome(OUTCOMES.iter().position(|o| *o == other)?),
        })
    }

    /// Latency columns are empty in a bucket without answers.
    pub(super) fn may_be_empty(self) -> bool {
        matches!(self, Col::P50 | Col::P99)
    }

    /// Latency is undefined in a bucket without answers; counts are zero.
    fn missing(self) -> f64 {
        if matches!(self, Col::P50 | Col::P99) { f64::NAN } else { 0.0 }
    }
}

/// Everything the pictures need, read back from the files of an output
/// folder (so `gatesim plot OUTDIR` redraws without re-running): the typed
/// summary and the time series. Node `i` is `summary.topology.nodes[i]`,
/// and `series.nodes[i]` is its time series.
#[derive(Clone, Debug)]
pub struct PlotData {
    pub(crate) summary: Summary,
    /// The scenario file's text, when the output folder kept it (scenario.ron).
    pub(crate) source: Option<String>,
    /// Per topology node: its entry in `summary.nodes`, if any.
    stats: Vec<Option<usize>>,
    pub(crate) series: Series,
}

/// The time series: `times[b]` is bucket b's start; `nodes[i]` belongs to
/// `PlotData::nodes[i]`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Series {
    pub times: Vec<f64>,
    pub bucket_s: f64,
    pub nodes: Vec<NodeSeries>,
}

#[derive(Clone, Debug)]
pub(crate) struct NodeSeries {
    cols: Vec<Vec<f64>>,
}

impl NodeSeries {
    fn new(buckets: usize) -> NodeSeries {
        let cols = (0..N_COLS)
            .map(|i| {
                let c = ALL_COLS[i];
                vec![c.missing(); buckets]
            })
            .collect();
        NodeSeries { cols }
    }

    pub fn col(&self, c: Col) -> &[f64] {
        &self.cols[c.index()]
    }
}

const ALL_COLS: [Col; N_COLS] = [
    Col::Arrivals,
    Col::Completed,
    Col::Outcome(0),
    Col::Outcome(1),
    Col::Outcome(2),
    Col::Outcome(3),
    Col::Outcome(4),
    Col::Outcome(5),
    Col::Outcome(6),
    Col::Outcome(7),
    Col::Outcome(8),
    Col::Outcome(9),
    Col::Outcome(10),
    Col::P50,
    Col::P99,
    Col::QueueLen,
    Col::Utilization,
    Col::BreakersOpen,
    Col::FaultActive,
    Col::Wasted,
];

/// Most nodes and faults a picture is drawn for.
const MAX_NODES: usize = crate::model::budget::MAX_NODES;
const MAX_FAULTS: usize = 100_000;

/// What the pictures rely on in a summary read back: finite, positive,
/// bounded numbers (a crafted file is refused, not drawn for ever).
fn check(s: &Summary) -> Result<(), String> {
    let bad = |what: String| Err(format!("summary.json: {what}"));
    let (d, w, r) = (s.duration_s, s.warmup_s, s.resolution_s);
    if !(d.is_finite() && d > 0.0 && d <= 1e9) {
        return bad(format!("duration_s {d} is not a positive number of seconds below 1e9"));
    }
    if !(w.is_finite() && (0.0..=d).contains(&w)) {
        return bad(format!("warmup_s {w} is not within the run"));
    }
    if !(r.is_finite() && r > 0.0 && r <= crate::batch::runs::MAX_RESOLUTION_S)
        || d / r > crate::model::budget::MAX_BUCKETS as f64
    {
        return bad(format!(
            "resolution_s {r} is not positive or gives more than {} buckets",
            crate::model::budget::MAX_BUCKETS
        ));
    }
    if s.topology.nodes.len() > MAX_NODES || s.faults.len() > MAX_FAULTS {
        return bad(format!("more than {MAX_NODES} nodes or {MAX_FAULTS} faults"));
    }
    let times = s.faults.iter().flat_map(|f| [f.at_s, f.until_s]);
    let times = times.chain(s.breakers.iter().flat_map(|b| b.transitions.iter().map(|t| t.0)));
    if let Some(t) = times.into_iter().find(|t| !t.is_finite()) {
        return bad(format!("a time of {t} s"));
    }
    Ok(())
}

impl PlotData {
    /// `summary_json`: the text of summary.json; `timeseries_csv`: the bytes of timeseries.csv.
    pub fn from_outputs(summary_json: &str, timeseries_csv: &[u8]) -> Result<PlotData, super::PlotError> {
        use super::PlotError;
        let summary: Summary = serde_json::from_str(summary_json)
            .map_err(|e| PlotError::Read(format!("summary.json is not a gatesim summary: {e}")))?;
        check(&summary).map_err(PlotError::Read)?;
        let stats =
            summary.topology.nodes.iter().map(|n| summary.nodes.0.iter().position(|(k, _)| *k == n.name)).collect();
        let table = timeseries::read(timeseries_csv).map_err(PlotError::Read)?;
        let mut data = PlotData { summary, source: None, stats, series: Series::default() };
        data.attach_series(table).map_err(PlotError::Read)?;
        Ok(data)
    }

    /// The scenario's text, for the report to show.
    pub fn with_source(mut self, text: Option<String>) -> PlotData {
        self.source = text;
        self
    }

    pub(crate) fn scenario(&self) -> &str {
        &self.summary.scenario
    }

    /// The number of nodes (topology order).
    pub(crate) fn node_count(&self) -> usize {
        self.summary.topology.nodes.len()
    }

    pub(crate) fn node(&self, i: usize) -> &TopologyNode {
        &self.summary.topology.nodes[i]
    }

    pub(crate) fn name(&self, i: usize) -> &str {
        &self.node(i).name
    }

    pub(crate) fn is_clients(&self, i: usize) -> bool {
        self.node(i).kind == NodeKindName::Clients
    }

    /// Node `i`'s figures in summary.json.
    pub(crate) fn stats(&self, i: usize) -> Option<&NodeSummary> {
        self.stats[i].map(|k| &self.summary.nodes.0[k].1)
    }

    pub(crate) fn node_index(&self, name: &str) -> Option<usize> {
        self.summary.topology.nodes.iter().position(|n| n.name == name)
    }

    /// The last simulated second shown on the time axis.
    pub(crate) fn x_max(&self) -> f64 {
        let from_series = self.series.times.last().map_or(0.0, |t| t + self.series.bucket_s);
        let x = if self.summary.duration_s > 0.0 { self.summary.duration_s } else { from_series };
        if x > 0.0 { x } else { 1.0 }
    }

    fn attach_series(&mut self, table: CsvTable) -> Result<(), String> {
        let index: Vec<usize> = table
            .node_order
            .iter()
            .map(|name| {
                self.node_index(name).ok_or_else(|| {
                    format!("timeseries.csv names node \"{name}\", which summary.json's topology does not have")
                })
            })
            .collect::<Result<_, _>>()?;
        let buckets = table.times.len();
        if buckets.saturating_mul(self.node_count()) as u64 > crate::model::budget::MAX_ROWS {
            return Err(format!(
                "timeseries.csv: {buckets} times x {} nodes is more than {} rows",
                self.node_count(),
                crate::model::budget::MAX_ROWS
            ));
        }
        let mut nodes: Vec<NodeSeries> = (0..self.node_count()).map(|_| NodeSeries::new(buckets)).collect();
        for row in &table.rows {
            let node = index[row.node];
            let b = row.bucket;
            for (&col, &v) in table.cols.iter().zip(&row.values) {
                if let Some(col) = col {
                    nodes[node].cols[col.index()][b] = v;
                }
            }
        }
        for n in &mut nodes {
            // A bucket without successes has no success latency, whatever the CSV says.
            for b in 0..buckets {
                let successes: f64 = (0..3).map(|k| n.cols[Col::Outcome(k).index()][b]).sum();
                if successes <= 0.0 {
                    n.cols[Col::P50.index()][b] = f64::NAN;
                    n.cols[Col::P99.index()][b] = f64::NAN;
                }
            }
        }
        let bucket_s = match table.times.as_slice() {
            [a, b, ..] if b > a => b - a,
            [_, ..] if self.summary.resolution_s > 0.0 => self.summary.resolution_s,
            _ => 1.0,
        };
        self.series = Series { times: table.times, bucket_s, nodes };
        Ok(())
    }
}
