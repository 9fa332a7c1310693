//! PlotData: what the pictures need, read back from summary.json (the typed
//! `Summary`, the one output schema) and timeseries.csv, so that `gatesim
//! plot OUTDIR` redraws without re-running.

mod timeseries;

use crate::metrics::Summary;
use crate::metrics::summary::{NodeKindName, NodeSummary, TopologyNode};
use crate::model::outcome::Outcome;

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
    /// A point's width in seconds: `group` buckets.
    pub bucket_s: f64,
    /// Buckets per point (1 unless the run has more than `MAX_POINTS`).
    pub group: usize,
    /// The last point's width: fewer buckets than `group` when the run
    /// does not divide evenly.
    pub last_s: f64,
    pub nodes: Vec<NodeSeries>,
}

#[derive(Clone, Debug)]
pub(crate) struct NodeSeries {
    cols: Vec<Vec<f64>>,
}

impl Series {
    /// Point `i`'s width in seconds (the last may be narrower).
    pub(crate) fn width(&self, i: usize) -> f64 {
        if i + 1 == self.times.len() { self.last_s } else { self.bucket_s }
    }

    /// Counts per point as rates per second.
    pub(crate) fn per_second(&self, values: &[f64]) -> Vec<f64> {
        values.iter().enumerate().map(|(i, v)| v / self.width(i)).collect()
    }
}

impl NodeSeries {
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
        let mut data = PlotData { summary, source: None, stats, series: Series::default() };
        data.attach_series(timeseries_csv).map_err(PlotError::Read)?;
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

    /// Reads timeseries.csv into `series`, row by row. Past `MAX_POINTS`
    /// buckets, consecutive buckets are drawn as one point (see `Merge`).
    fn attach_series(&mut self, csv: &[u8]) -> Result<(), String> {
        let expected = (self.summary.duration_s / self.summary.resolution_s).ceil().max(1.0) as usize;
        let group = expected.div_ceil(MAX_POINTS).max(1);
        let n = self.node_count();
        let mut acc = Grouped {
            group,
            most: expected + 1,
            nodes: vec![NodeSeries { cols: vec![Vec::new(); N_COLS] }; n],
            counts: vec![Vec::new(); n],
            ..Default::default()
        };
        let mut index: std::collections::BTreeMap<String, usize> = Default::default();
        timeseries::for_each_row(csv, |row| {
            let node = match index.get(row.node) {
                Some(&i) => i,
                None => {
                    let i = self.node_index(row.node).ok_or_else(|| {
                        format!(
                            "timeseries.csv names node \"{}\", which summary.json's topology does not have",
                            row.node
                        )
                    })?;
                    index.insert(row.node.to_string(), i);
                    i
                }
            };
            acc.add(node, &row)
        })?;
        let bucket_s = acc.bucket_s(self.summary.resolution_s);
        let last_s = match acc.buckets % group {
            0 => bucket_s,
            k => bucket_s / group as f64 * k as f64,
        };
        let times = std::mem::take(&mut acc.times);
        let mut nodes = acc.nodes;
        for (n, counts) in nodes.iter_mut().zip(&acc.counts) {
            for col in [Col::QueueLen, Col::Utilization] {
                for (v, &k) in n.cols[col.index()].iter_mut().zip(counts) {
                    *v /= f64::from(k.max(1));
                }
            }
        }
        self.series = Series { times, bucket_s, group, last_s, nodes };
        Ok(())
    }
}

/// Most points a time series keeps. A chart is 1000 pixels wide: a longer
/// run is drawn with `ceil(buckets / MAX_POINTS)` consecutive buckets per
/// point, so neither memory nor the pictures grow with the run's length.
const MAX_POINTS: usize = 1000;

/// The series being read: buckets folded into points of `group` buckets.
/// Counts are summed (rates divide by the point's width), latency, open
/// breakers and faults take the worst bucket, queue length and utilisation
/// the mean; with `group` 1 every value is the bucket's own.
#[derive(Default)]
struct Grouped {
    group: usize,
    /// Most buckets summary.json's duration and resolution allow (one
    /// more for rounding): a crafted file with more is refused.
    most: usize,
    nodes: Vec<NodeSeries>,
    /// Buckets folded into each node's points (for the means).
    counts: Vec<Vec<u32>>,
    /// Each point's start (its first bucket's time).
    times: Vec<f64>,
    /// The first two bucket times (the bucket width), and the last one.
    first: Vec<f64>,
    last: Option<f64>,
    buckets: usize,
    /// The CSV columns of the success outcomes (ok, partial, fallback).
    success_cols: Option<Vec<usize>>,
}

impl Grouped {
    fn add(&mut self, node: usize, row: &timeseries::CsvRow<'_>) -> Result<(), String> {
        match self.last {
            Some(t) if row.time < t => return Err(format!("timeseries.csv: time {} comes after {t}", row.time)),
            Some(t) if row.time == t => {}
            _ => self.new_bucket(row.time)?,
        }
        let point = (self.buckets - 1) / self.group;
        // Where the success outcomes are among the CSV's columns (found once).
        let success_cols = self.success_cols.get_or_insert_with(|| {
            (0..3).filter_map(|k| row.cols.iter().position(|c| *c == Some(Col::Outcome(k)))).collect()
        });
        let successes: f64 = success_cols.iter().map(|&i| row.values[i]).sum();
        self.counts[node][point] += 1;
        for (&col, &v) in row.cols.iter().zip(row.values) {
            let Some(col) = col else { continue };
            let cell = &mut self.nodes[node].cols[col.index()][point];
            match col {
                // A bucket without successes has no success latency, whatever the CSV says.
                Col::P50 | Col::P99 if successes <= 0.0 || v.is_nan() => {}
                Col::P50 | Col::P99 => *cell = if cell.is_nan() { v } else { cell.max(v) },
                Col::BreakersOpen | Col::FaultActive => *cell = cell.max(v),
                _ => *cell += v,
            }
        }
        Ok(())
    }

    fn new_bucket(&mut self, time: f64) -> Result<(), String> {
        if self.buckets >= self.most {
            return Err(format!(
                "timeseries.csv has more bucket times than summary.json's duration / resolution allows ({})",
                self.most
            ));
        }
        if self.first.len() < 2 {
            self.first.push(time);
        }
        self.last = Some(time);
        if self.buckets.is_multiple_of(self.group) {
            self.times.push(time);
            for n in &mut self.nodes {
                for (i, c) in n.cols.iter_mut().enumerate() {
                    c.push(ALL_COLS[i].missing());
                }
            }
            self.counts.iter_mut().for_each(|c| c.push(0));
        }
        self.buckets += 1;
        Ok(())
    }

    /// A point's width in seconds.
    fn bucket_s(&self, resolution_s: f64) -> f64 {
        let bucket = match self.first.as_slice() {
            [a, b] if b > a => b - a,
            [_, ..] if resolution_s > 0.0 => resolution_s,
            _ => 1.0,
        };
        bucket * self.group as f64
    }
}
