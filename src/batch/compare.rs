//! Compare: the same metrics for several scenarios, mean and 95% CI over
//! replications, and each scenario's paired difference to the first one.
//! Replication i of every scenario ran with the same seed (common random
//! numbers), so differences are taken pair by pair, which cancels most of
//! the shared noise.

use serde::Serialize;

use crate::chaos::cascade::FaultSummary;

use crate::metrics::summary::{Ordered, round};

use super::runs::{RunMetrics, RunsFile};
use super::stats::{Estimate, Range};

/// A metric the batch reports: key, label for tables, decimals, and how
/// to read it from one run.
pub struct Metric {
    pub key: &'static str,
    pub label: &'static str,
    pub decimals: usize,
    /// The values it can take (its interval is cut to them).
    pub range: Range,
    /// `None`: the run has no value (time to recover of a run that never
    /// recovered, failure latency of a run that answered no failure); the
    /// estimate is then over the runs that have one.
    pub read: fn(&RunMetrics) -> Option<f64>,
}

pub const METRICS: &[Metric] = &[
    metric("success_rate", "success rate %", 2, Range::PERCENT, |r| Some(r.success_rate * 100.0)),
    metric("degraded_share", "degraded %", 2, Range::PERCENT, |r| Some(r.degraded_share * 100.0)),
    metric("goodput_rps", "goodput /s", 1, Range::NON_NEGATIVE, |r| Some(r.goodput_rps)),
    metric("latency_ms_mean", "mean ms (ok)", 2, Range::NON_NEGATIVE, |r| Some(r.latency_ms_mean)),
    metric("latency_ms_p50", "p50 ms (ok)", 2, Range::NON_NEGATIVE, |r| Some(r.latency_ms_p50)),
    metric("latency_ms_p99", "p99 ms (ok)", 1, Range::NON_NEGATIVE, |r| Some(r.latency_ms_p99)),
    metric("latency_ms_p999", "p99.9 ms (ok)", 1, Range::NON_NEGATIVE, |r| Some(r.latency_ms_p999)),
    metric("failure_latency_ms_p50", "p50 ms (failures)", 2, Range::NON_NEGATIVE, |r| r.failure_latency_ms_p50),
    metric("failure_latency_ms_p99", "p99 ms (failures)", 1, Range::NON_NEGATIVE, |r| r.failure_latency_ms_p99),
    metric("timeouts", "timeouts", 0, Range::NON_NEGATIVE, |r| Some(r.timeouts as f64)),
    metric("rejected", "rejected", 0, Range::NON_NEGATIVE, |r| Some(r.rejected as f64)),
    metric("short_circuited", "short-circuited", 0, Range::NON_NEGATIVE, |r| Some(r.short_circuited as f64)),
    metric("retries", "client retries", 0, Range::NON_NEGATIVE, |r| Some(r.retries as f64)),
    // A gateway's or a mesh's retries are not the clients': an architecture
    // that retries inside would otherwise read as one that does not retry.
    metric("all_retries", "retries, all callers", 0, Range::NON_NEGATIVE, |r| r.all_retries.map(|n| n as f64)),
    metric("recovery_s", "time to recover s", 1, Range::NON_NEGATIVE, |r| r.recovery_s),
    metric("blast_radius", "blast radius (nodes)", 1, Range::NON_NEGATIVE, |r| Some(r.blast_radius as f64)),
    metric("unhealthy_node_s", "unhealthy node-s", 1, Range::NON_NEGATIVE, |r| Some(r.unhealthy_node_s)),
];

const fn metric(
    key: &'static str,
    label: &'static str,
    decimals: usize,
    range: Range,
    read: fn(&RunMetrics) -> Option<f64>,
) -> Metric {
    Metric { key, label, decimals, range, read }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Comparison {
    pub replications: u32,
    pub base_seed: u64,
    pub scenarios: Vec<ScenarioResult>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScenarioResult {
    pub name: String,
    pub file: String,
    pub metrics: Ordered<Estimate>,
    /// How many replications got each cascade verdict.
    pub verdicts: Ordered<u64>,
    /// Replications whose clients never recovered from a fault (their time
    /// to recover is left out of `metrics.recovery_s`).
    pub never_recovered: u64,
    /// Paired difference (this - first), per metric; empty for the first.
    pub vs_first: Ordered<Estimate>,
    /// Per time bucket: the clients' p99 of successes (mean over the
    /// replications that had a successful answer in that bucket; 0 when
    /// none had) and success share (mean over all), each with the
    /// half-width of its 95% interval (0 with fewer than 2 values).
    pub p99_series: Vec<f64>,
    pub p99_ci95: Vec<f64>,
    /// `None` where no replication had a client request finish.
    pub success_series: Vec<Option<f64>>,
    pub success_ci95: Vec<f64>,
    /// The faults replication 0 injected, and whether other replications
    /// injected different ones (random `chaos`).
    pub faults: Vec<FaultSummary>,
    pub faults_vary: bool,
}

/// Runs of input `i`, in replication order.
pub fn runs_of(file: &RunsFile, i: usize) -> Vec<&RunMetrics> {
    let mut runs: Vec<&RunMetrics> = file.runs.iter().filter(|r| r.input == i).collect();
    runs.sort_by_key(|r| r.replication);
    runs
}

pub fn estimates(runs: &[&RunMetrics]) -> Ordered<Estimate> {
    Ordered(
        METRICS
            .iter()
            .map(|m| {
                (m.key.to_string(), Estimate::of(&runs.iter().filter_map(|r| (m.read)(r)).collect::<Vec<_>>(), m.range))
            })
            .collect(),
    )
}

pub fn never_recovered(runs: &[&RunMetrics]) -> u64 {
    runs.iter().filter(|r| r.recovered == Some(false)).count() as u64
}

pub fn verdicts(runs: &[&RunMetrics]) -> Ordered<u64> {
    let mut out: Ordered<u64> = Ordered::default();
    for v in crate::chaos::Verdict::ALL.map(|v| v.key()) {
        let n = runs.iter().filter(|r| r.verdict == v).count() as u64;
        if n > 0 {
            out.0.push((v.to_string(), n));
        }
    }
    out
}

/// Per bucket: the mean and 95% half-width over the replications that have
/// a value there (over as many buckets as the shortest run has), `None`
/// where none has.
fn series_estimates(series: &[&Vec<Option<f64>>]) -> (Vec<Option<f64>>, Vec<f64>) {
    let len = series.iter().map(|s| s.len()).min().unwrap_or(0);
    (0..len)
        .map(|i| {
            let values: Vec<f64> = series.iter().filter_map(|s| s[i]).collect();
            // Only the mean and the half-width are kept: the chart cuts its band.
            let e = Estimate::of(&values, Range::ANY);
            ((!values.is_empty()).then(|| round(e.mean, 4)), round(e.ci95.unwrap_or(0.0), 4))
        })
        .unzip()
}

pub fn compare(file: &RunsFile) -> Comparison {
    let base = runs_of(file, 0);
    let scenarios = (0..file.inputs.len())
        .map(|i| {
            let runs = runs_of(file, i);
            let vs_first = if i == 0 {
                Ordered::default()
            } else {
                Ordered(
                    METRICS
                        .iter()
                        .map(|m| {
                            // Pairs where both runs have a value.
                            let diffs: Vec<f64> =
                                runs.iter().zip(&base).filter_map(|(r, b)| Some((m.read)(r)? - (m.read)(b)?)).collect();
                            (m.key.to_string(), Estimate::of(&diffs, Range::ANY))
                        })
                        .collect(),
                )
            };
            // A p99 of 0: no successful answer in that bucket, no value.
            let p99: Vec<Vec<Option<f64>>> =
                runs.iter().map(|r| r.p99_series.iter().map(|&v| (v > 0.0).then_some(v)).collect()).collect();
            let (p99_series, p99_ci95) = series_estimates(&p99.iter().collect::<Vec<_>>());
            let p99_series = p99_series.into_iter().map(|m| m.unwrap_or(0.0)).collect();
            let (success_series, success_ci95) =
                series_estimates(&runs.iter().map(|r| &r.success_series).collect::<Vec<_>>());
            ScenarioResult {
                name: file.inputs[i].clone(),
                file: file.files.get(i).cloned().unwrap_or_default(),
                metrics: estimates(&runs),
                verdicts: verdicts(&runs),
                never_recovered: never_recovered(&runs),
                vs_first,
                p99_series,
                p99_ci95,
                success_series,
                success_ci95,
                faults: runs.first().map(|r| r.faults.clone()).unwrap_or_default(),
                faults_vary: runs.windows(2).any(|w| w[0].faults != w[1].faults),
            }
        })
        .collect();
    Comparison { replications: file.replications, base_seed: file.base_seed, scenarios }
}
