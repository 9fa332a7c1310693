//! PlotData: what the pictures need, read back from summary.json and
//! timeseries.csv, so that `gatesim plot OUTDIR` redraws without re-running.
//!
//! Reading is tolerant (a missing optional key is simply absent) but strict
//! about shape: a key that is present with the wrong type is an error naming
//! the file and the key.

mod summary;
mod timeseries;

use crate::model::outcome::Outcome;
use summary::Obj;
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
}

const N_COLS: usize = 8 + OUTCOMES.len();

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
            other => Col::Outcome(OUTCOMES.iter().position(|o| *o == other)?),
        })
    }

    /// Latency is undefined in a bucket without answers; counts are zero.
    fn missing(self) -> f64 {
        if matches!(self, Col::P50 | Col::P99) { f64::NAN } else { 0.0 }
    }
}

/// Everything the pictures need, read back from the files of an output folder
/// (so `gatesim plot OUTDIR` redraws without re-running).
#[derive(Clone, Debug, Default)]
pub struct PlotData {
    pub(crate) scenario: String,
    pub(crate) seed: Option<u64>,
    pub(crate) duration_s: f64,
    pub(crate) warmup_s: f64,
    pub(crate) events: Option<u64>,
    /// The clients' view: (outcome, count), including "total" and "unfinished" when present.
    pub(crate) requests: Vec<(String, u64)>,
    pub(crate) success_rate: Option<f64>,
    pub(crate) goodput_rps: Option<f64>,
    pub(crate) attempts: Vec<(String, u64)>,
    pub(crate) latency_ms: Vec<(String, f64)>,
    pub(crate) slo: Option<Slo>,
    /// Topology order (the scenario's), then nodes seen only elsewhere.
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
    pub(crate) faults: Vec<Fault>,
    pub(crate) breakers: Vec<Breaker>,
    pub(crate) rate_limits: Vec<RateLimit>,
    pub(crate) cascade: Option<Cascade>,
    pub(crate) series: Series,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Slo {
    pub p99_ms: Option<f64>,
    pub success_rate: Option<f64>,
    pub measured_p99_ms: Option<f64>,
    pub measured_success_rate: Option<f64>,
    pub met: Option<bool>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Node {
    pub name: String,
    pub kind: String,
    pub replicas: u64,
    pub detail: Vec<String>,
    /// From summary.json `nodes.<name>`, when present.
    pub stats: Option<NodeStats>,
}

impl Node {
    pub fn is_clients(&self) -> bool {
        self.kind == "clients"
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct NodeStats {
    pub arrivals: Option<u64>,
    pub dropped: Option<u64>,
    pub utilization: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// (ok + partial + fallback) / total answers.
    pub success_share: Option<f64>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
    pub policy: String,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Fault {
    pub target: String,
    pub kind: String,
    pub at_s: f64,
    pub until_s: f64,
}

impl Fault {
    /// The node a fault hits: "gw#1" (one replica) belongs to "gw".
    pub fn node(&self) -> &str {
        self.target.split('#').next().unwrap_or(&self.target)
    }
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Breaker {
    pub caller: String,
    pub target: String,
    pub opened: Option<u64>,
    pub open_s: Option<f64>,
    pub first_open_s: Option<f64>,
    pub state_at_end: Option<String>,
    /// (time in s, new state), oldest first; closed before the first.
    pub transitions: Vec<(f64, String)>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RateLimit {
    pub gateway: String,
    pub limit: String,
    pub rejected: u64,
    pub top_users: Vec<(String, u64)>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Cascade {
    pub verdict: Option<String>,
    pub story: Vec<String>,
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
];

impl PlotData {
    /// `summary_json`: the text of summary.json; `timeseries_csv`: the bytes of timeseries.csv.
    pub fn from_outputs(summary_json: &str, timeseries_csv: &[u8]) -> Result<PlotData, String> {
        let root: serde_json::Value =
            serde_json::from_str(summary_json).map_err(|e| format!("summary.json is not valid JSON: {e}"))?;
        let top = Obj::root(&root)?;
        let mut data = summary::read(&top)?;
        let table = timeseries::read(timeseries_csv)?;
        data.attach_series(table)?;
        Ok(data)
    }

    pub(crate) fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    /// The last simulated second shown on the time axis.
    pub(crate) fn x_max(&self) -> f64 {
        let from_series = self.series.times.last().map_or(0.0, |t| t + self.series.bucket_s);
        let x = if self.duration_s > 0.0 { self.duration_s } else { from_series };
        if x > 0.0 { x } else { 1.0 }
    }

    fn attach_series(&mut self, table: CsvTable) -> Result<(), String> {
        for name in &table.node_order {
            if self.node_index(name).is_none() {
                self.nodes.push(Node { name: name.clone(), kind: "unknown".into(), replicas: 1, ..Node::default() });
            }
        }
        let buckets = table.times.len();
        let mut nodes: Vec<NodeSeries> = (0..self.nodes.len()).map(|_| NodeSeries::new(buckets)).collect();
        for row in &table.rows {
            let node = self.node_index(&table.node_order[row.node]).expect("every CSV node was added above");
            let b = row.bucket;
            for (&col, &v) in table.cols.iter().zip(&row.values) {
                if let Some(col) = col {
                    nodes[node].cols[col.index()][b] = v;
                }
            }
        }
        for n in &mut nodes {
            // A bucket without answers has no latency, whatever the CSV says.
            for b in 0..buckets {
                if n.cols[Col::Completed.index()][b] <= 0.0 {
                    n.cols[Col::P50.index()][b] = f64::NAN;
                    n.cols[Col::P99.index()][b] = f64::NAN;
                }
            }
        }
        let bucket_s = match table.times.as_slice() {
            [a, b, ..] if b > a => b - a,
            [_, ..] if self.duration_s > 0.0 => self.duration_s / buckets as f64,
            _ => 1.0,
        };
        self.series = Series { times: table.times, bucket_s, nodes };
        Ok(())
    }
}
