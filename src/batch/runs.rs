//! Jobs, running them in parallel, and what each run leaves: a small
//! `RunMetrics` record (plus the clients' p99 and success rate over time).
//!
//! `RunsFile` (runs.json) is the batch's raw result. It is the one output
//! type read back (by `merge`), so it derives `Deserialize` besides
//! `Serialize`; floats are written shortest-round-trip by serde_json, so a
//! merged batch sees exactly the numbers an unsharded one does.

use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::metrics::Summary;
use crate::model::config::{ModelConfig, NodeKind};

/// Why a batch could not finish.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// One run hit a guard rail.
    #[error("{name} (replication {replication}, seed {seed}) was stopped: {reason}")]
    Stopped { name: String, replication: u32, seed: u64, reason: crate::engine::StopReason },
}

/// Why a runs.json cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("not a gatesim runs.json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a usable runs.json: {0}")]
    Invalid(String),
    #[error("{0}")]
    Mismatch(String),
}

/// Bounds on a batch (and on a runs.json read back).
const MAX_INPUTS: usize = 100_000;
pub const MAX_REPLICATIONS: u32 = 100_000;
pub const MAX_SHARDS: usize = 100_000;
/// A time bucket longer than a year is not a time series.
pub const MAX_RESOLUTION_S: f64 = 3.2e7;

/// One run of a batch: `input` indexes the batch's inputs (a scenario for
/// compare, a grid point for sweep).
#[derive(Clone, Debug)]
pub struct Job {
    pub index: usize,
    pub input: usize,
    pub replication: u32,
    pub seed: u64,
}

impl RunMetrics {
    /// Shares within 0..=1, and every other figure a finite number at
    /// least 0 (what a run can write): a crafted value is refused, not averaged.
    fn check_ranges(&self) -> Result<(), String> {
        let share = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) { Ok(()) } else { Err(format!("{name} {v} is not a share from 0 to 1")) }
        };
        share("success_rate", self.success_rate)?;
        share("degraded_share", self.degraded_share)?;
        for v in self.success_series.iter().flatten() {
            share("success_series value", *v)?;
        }
        let figures = [
            ("goodput_rps", Some(self.goodput_rps)),
            ("latency_ms_mean", Some(self.latency_ms_mean)),
            ("latency_ms_p50", Some(self.latency_ms_p50)),
            ("latency_ms_p99", Some(self.latency_ms_p99)),
            ("latency_ms_p999", Some(self.latency_ms_p999)),
            ("recovery_s", self.recovery_s),
            ("failure_latency_ms_p50", self.failure_latency_ms_p50),
            ("failure_latency_ms_p99", self.failure_latency_ms_p99),
        ];
        let series = self.p99_series.iter().map(|v| ("p99_series value", Some(*v)));
        let mut all = figures.into_iter().chain(series).filter_map(|(name, v)| v.map(|v| (name, v)));
        match all.find(|(_, v)| !(v.is_finite() && *v >= 0.0)) {
            Some((name, v)) => Err(format!("{name} {v}: not a finite number at least 0")),
            None => Ok(()),
        }
    }
}

/// The figures of one run that batches compare.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMetrics {
    pub job: usize,
    pub input: usize,
    pub replication: u32,
    pub seed: u64,
    pub requests: u64,
    pub success_rate: f64,
    /// The share of requests answered partially or from a fallback (the
    /// success rate counts them). Absent from older runs.json files.
    #[serde(default)]
    pub degraded_share: f64,
    pub goodput_rps: f64,
    pub latency_ms_mean: f64,
    pub latency_ms_p50: f64,
    pub latency_ms_p99: f64,
    pub latency_ms_p999: f64,
    /// Answered failures' latency (`None`: the run answered no failure).
    #[serde(default)]
    pub failure_latency_ms_p50: Option<f64>,
    #[serde(default)]
    pub failure_latency_ms_p99: Option<f64>,
    pub timeouts: u64,
    pub rejected: u64,
    pub short_circuited: u64,
    /// The clients' retries.
    pub retries: u64,
    /// Retries by every caller: clients, gateway routes, services' calls,
    /// balancers. Absent from older runs.json files.
    #[serde(default)]
    pub all_retries: Option<u64>,
    /// Seconds from the end of the slowest-to-recover fault to the clients'
    /// recovery (0 if during the fault); `None` without faults or when some
    /// fault's effects never ended within the run.
    pub recovery_s: Option<f64>,
    /// Whether the clients recovered from every fault (`None`: no fault).
    pub recovered: Option<bool>,
    /// Distinct nodes that became unhealthy because of any fault.
    pub blast_radius: u64,
    /// Seconds each node spent unhealthy after the warm-up, summed over the
    /// nodes: how wide and how long. Absent from older runs.json files.
    #[serde(default)]
    pub unhealthy_node_s: f64,
    pub verdict: String,
    /// The clients' p99 (ms) and success share per time bucket.
    pub p99_series: Vec<f64>,
    /// `None`: no client request finished in that bucket (an outage whose
    /// requests are still waiting), drawn as a gap, never as 100%.
    pub success_series: Vec<Option<f64>>,
    /// The faults this run injected (a scenario's `chaos` draws them per
    /// seed). Absent from runs.json files written before it existed.
    #[serde(default)]
    pub faults: Vec<crate::chaos::cascade::FaultSummary>,
}

/// The raw result of a (possibly partial) batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunsFile {
    /// "compare" or "sweep".
    pub kind: String,
    /// Scenario names (compare) or grid point labels (sweep).
    pub inputs: Vec<String>,
    /// The files given on the command line, as given.
    pub files: Vec<String>,
    /// Sweep only: the parameters and their values, in grid order.
    pub parameters: Vec<(String, Vec<String>)>,
    pub replications: u32,
    pub base_seed: u64,
    pub resolution_s: f64,
    pub total_jobs: usize,
    /// `(index, count)` for a shard; `(0, 1)` for a whole batch.
    pub shard: (usize, usize),
    pub runs: Vec<RunMetrics>,
}

/// The jobs of a batch over `inputs` x `replications`, in a fixed order.
pub fn jobs(inputs: usize, replications: u32, base_seed: u64) -> Vec<Job> {
    (0..inputs)
        .flat_map(|input| (0..replications).map(move |r| (input, r)))
        .enumerate()
        .map(|(index, (input, r))| Job { index, input, replication: r, seed: base_seed.wrapping_add(u64::from(r)) })
        .collect()
}

/// Runs `jobs` in parallel (each single-threaded); results in job order.
/// `models[job.input]` is the model to run; its seed is replaced.
pub fn execute(models: &[ModelConfig], jobs: &[Job], bar: &ProgressBar) -> Result<Vec<RunMetrics>, BatchError> {
    jobs.par_iter()
        .map(|job| {
            let mut model = models[job.input].clone();
            model.seed = job.seed;
            let name = model.name.clone();
            let run = crate::model::simulate(model, &mut |_| {}).map_err(|reason| BatchError::Stopped {
                name,
                replication: job.replication,
                seed: job.seed,
                reason,
            })?;
            let summary = Summary::from_run(&run);
            let series = client_series(&run);
            bar.inc(1);
            Ok(metrics(job, &summary, series))
        })
        .collect()
}

fn metrics(job: &Job, s: &Summary, (p99_series, success_series): (Vec<f64>, Vec<Option<f64>>)) -> RunMetrics {
    let c = &s.cascade;
    let run_recovery = c.run_recovery();
    let recovered = run_recovery.map(|r| r.is_some());
    let recovery_s = run_recovery.flatten();
    let mut unhealthy: Vec<&str> = c.faults.iter().flat_map(|f| f.unhealthy.iter().map(|o| o.node.as_str())).collect();
    unhealthy.sort_unstable();
    unhealthy.dedup();
    RunMetrics {
        job: job.index,
        input: job.input,
        replication: job.replication,
        seed: job.seed,
        requests: s.requests.total,
        success_rate: s.success_rate,
        degraded_share: if s.requests.total == 0 {
            0.0
        } else {
            (s.requests.partial + s.requests.fallback) as f64 / s.requests.total as f64
        },
        goodput_rps: s.goodput_rps,
        latency_ms_mean: s.latency_ms.mean,
        latency_ms_p50: s.latency_ms.p50,
        latency_ms_p99: s.latency_ms.p99,
        latency_ms_p999: s.latency_ms.p999,
        failure_latency_ms_p50: (s.failure_latency_ms.count > 0).then_some(s.failure_latency_ms.p50),
        failure_latency_ms_p99: (s.failure_latency_ms.count > 0).then_some(s.failure_latency_ms.p99),
        timeouts: s.requests.timeout,
        rejected: s.requests.rejected,
        short_circuited: s.requests.short_circuited,
        retries: s.attempts.retries,
        all_retries: Some(s.nodes.0.iter().map(|(_, n)| n.attempts.retries).sum()),
        recovery_s,
        recovered,
        blast_radius: unhealthy.len() as u64,
        unhealthy_node_s: s.nodes.0.iter().map(|(_, n)| n.health.unhealthy_s).sum(),
        verdict: c.verdict.to_string(),
        p99_series,
        success_series,
        faults: s.faults.clone(),
    }
}

/// The clients' (worst) p99 and success share per bucket.
fn client_series(run: &crate::model::RunOutput) -> (Vec<f64>, Vec<Option<f64>>) {
    let cfg = &run.cfg;
    let clients: Vec<bool> = cfg.nodes.iter().map(|n| matches!(n.kind, NodeKind::Clients(_))).collect();
    let buckets = run.rec.rows.iter().map(|r| r.bucket as usize + 1).max().unwrap_or(0);
    let (mut p99, mut ok, mut done) = (vec![0.0f64; buckets], vec![0u64; buckets], vec![0u64; buckets]);
    for r in run.rec.rows.iter().filter(|r| clients[r.node as usize]) {
        let b = r.bucket as usize;
        p99[b] = p99[b].max(r.latency_ms_p99);
        ok[b] += r.outcomes.successes();
        done[b] += r.outcomes.total();
    }
    let success = ok.iter().zip(&done).map(|(o, d)| (*d > 0).then(|| *o as f64 / *d as f64)).collect();
    (p99, success)
}

impl RunsFile {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("runs serialise");
        out.push(b'\n');
        out
    }

    /// Reads a runs.json back and checks everything `merge` relies on, with
    /// limits: a crafted file is refused with a message, never a panic.
    pub fn from_json(text: &str) -> Result<RunsFile, RunsError> {
        let file: RunsFile = serde_json::from_str(text)?;
        file.check().map_err(RunsError::Invalid)?;
        Ok(file)
    }

    fn check(&self) -> Result<(), String> {
        if self.kind != "compare" && self.kind != "sweep" {
            return Err(format!("kind \"{}\" is neither compare nor sweep", self.kind));
        }
        if self.inputs.is_empty() || self.inputs.len() > MAX_INPUTS {
            return Err(format!("{} inputs; between 1 and {MAX_INPUTS}", self.inputs.len()));
        }
        if self.replications == 0 || self.replications > MAX_REPLICATIONS {
            return Err(format!("{} replications; between 1 and {MAX_REPLICATIONS}", self.replications));
        }
        let jobs = self.inputs.len() * self.replications as usize;
        if self.total_jobs != jobs {
            return Err(format!("total_jobs {} is not inputs x replications = {jobs}", self.total_jobs));
        }
        let (index, count) = self.shard;
        if count == 0 || count > MAX_SHARDS || index >= count {
            return Err(format!("shard {index}/{count}: at most {MAX_SHARDS} shards, numbered from 0"));
        }
        // A bucket is at least 1 ns (the clock's tick) and at most a year.
        if !(self.resolution_s.is_finite() && self.resolution_s >= 1e-9 && self.resolution_s <= MAX_RESOLUTION_S) {
            return Err(format!(
                "resolution_s {} is not a positive number of seconds up to {MAX_RESOLUTION_S}",
                self.resolution_s
            ));
        }
        for r in &self.runs {
            if r.input >= self.inputs.len() || r.job >= self.total_jobs || r.replication >= self.replications {
                return Err(format!(
                    "run {} names input {}, replication {}: out of range",
                    r.job, r.input, r.replication
                ));
            }
            if r.p99_series.len().max(r.success_series.len()) as u64 > crate::model::budget::MAX_BUCKETS {
                return Err(format!("run {} has more than {} time buckets", r.job, crate::model::budget::MAX_BUCKETS));
            }
            r.check_ranges().map_err(|what| format!("run {}: {what}", r.job))?;
        }
        Ok(())
    }

    /// The same batch minus its runs and shard: what shards must agree on.
    pub fn header(&self) -> RunsFile {
        RunsFile { runs: Vec::new(), shard: (0, 1), ..self.clone() }
    }

    /// Puts shards together; checks they belong to one batch and cover every
    /// job exactly once.
    pub fn merge(parts: Vec<RunsFile>) -> Result<RunsFile, RunsError> {
        let mismatch = |m: String| RunsError::Mismatch(m);
        let first = parts.first().ok_or_else(|| mismatch("nothing to merge".into()))?.header();
        let count = parts[0].shard.1;
        let mut seen = vec![false; count];
        let mut runs = Vec::with_capacity(first.total_jobs);
        for p in parts {
            if p.header() != first {
                return Err(mismatch(
                    "these runs come from different batches (inputs, seeds or replications differ)".into(),
                ));
            }
            let (index, n) = p.shard;
            if n != count || index >= n || std::mem::replace(&mut seen[index], true) {
                return Err(mismatch(format!("shard {index}/{n} is duplicated or does not fit {count} shards")));
            }
            runs.extend(p.runs);
        }
        if let Some(missing) = seen.iter().position(|s| !s) {
            return Err(mismatch(format!("shard {missing}/{count} is missing")));
        }
        runs.sort_by_key(|r| r.job);
        if runs.len() != first.total_jobs || runs.iter().enumerate().any(|(i, r)| r.job != i) {
            return Err(mismatch(format!(
                "expected {} runs, found {} (some jobs missing or repeated)",
                first.total_jobs,
                runs.len()
            )));
        }
        Ok(RunsFile { runs, ..first })
    }
}
