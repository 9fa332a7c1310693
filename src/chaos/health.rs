//! One definition of health, used everywhere a node is judged: the cascade's
//! onsets and recoveries, the verdict, and the per-node health grade that
//! colours and ranks nodes in tables and pictures.
//!
//! A node is judged per time bucket against its own pre-fault baseline
//! (buckets after the warm-up and before the first fault):
//! - *no answers*: it got at least `min_requests` requests and answered none;
//! - *failing*: the share of what it accepted that failed (server failures:
//!   error, timeout, 503, short-circuit, unavailable; plus requests it
//!   swallowed or lost: hang, crash, partition) exceeds its baseline share
//!   by more than `error_rate`; 4xx (401, 404, 429) are the caller's doing,
//!   neither success nor failure, and are left out of the share, as the SLO
//!   leaves them out by default;
//! - *slow*: the p99 of its successful answers exceeds `latency_factor` x
//!   its baseline p99 (+1 ms, so sub-millisecond noise is no alarm);
//! - for Clients only, *goodput dip*: successes per second below
//!   `recovered_goodput` of the baseline (at low rates, below 4 standard
//!   deviations of a bucket's Poisson count, so noise is no dip).
//!
//! Without a fault (or with none after a whole bucket past the warm-up)
//! there is no usual level: the failure share is then judged against 0 and
//! must also stand 3 standard deviations above `error_rate` (a binomial
//! count), so that a few failures among few requests are not a failing node.
//!
//! A bucket with fewer than `min_requests` requests to judge by is healthy,
//! unless the first rule applies or a fault is active on the node: a hung
//! or crashed node that its callers' breakers keep traffic away from is
//! still down (*faulted*, too little traffic to judge it by).

use serde::{Deserialize, Serialize};

use crate::model::record::Row;

/// Rounds to `d` decimals, so printed floats are short and stable.
pub fn round(x: f64, d: i32) -> f64 {
    let m = 10f64.powi(d);
    let r = (x * m).round() / m;
    if r == 0.0 { 0.0 } else { r } // no "-0.0"
}

/// Thresholds of the health rules (module docs).
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct Rules {
    pub error_rate: f64,
    pub latency_factor: f64,
    pub min_requests: u64,
    pub stable_buckets: usize,
    pub recovered_goodput: f64,
    pub metastable_goodput: f64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules {
            error_rate: 0.05,
            latency_factor: 3.0,
            min_requests: 5,
            stable_buckets: 3,
            recovered_goodput: 0.9,
            metastable_goodput: 0.5,
        }
    }
}

/// Per-node, per-bucket figures, from the time-series rows.
pub struct Grid {
    pub buckets: usize,
    pub res: f64,
    pub duration: f64,
    /// [node][bucket]
    pub cells: Vec<Vec<Cell>>,
    /// Whether each node is a Clients node.
    pub clients: Vec<bool>,
}

#[derive(Clone, Copy, Default)]
pub struct Cell {
    pub arrivals: u64,
    pub completed: u64,
    pub dropped: u64,
    pub failures: u64,
    /// Answers that were 401, 404 or 429 (left out of failure shares).
    pub client_errors: u64,
    pub goodput: u64,
    /// Rejections by this node's own rate limits.
    pub limit_rejections: u64,
    /// Fallbacks this node served (for a call of its own that failed).
    pub fallbacks: u64,
    /// Refused at once by its full queue or its own limits (`Row::refused`).
    pub refused: u64,
    pub attempts: u64,
    pub wasted: u64,
    /// p99 of successful answers (0 when there were none).
    pub p99: f64,
    pub fault: bool,
}

impl Cell {
    /// The requests a failure share is taken over: those it accepted
    /// (answered, swallowed or lost), 4xx answers left out.
    pub fn judged(&self) -> u64 {
        self.completed - self.client_errors + self.dropped
    }
}

impl Grid {
    pub fn new(rows: &[Row], clients: Vec<bool>, resolution_s: f64, duration_s: f64) -> Grid {
        let buckets = rows.iter().map(|r| r.bucket as usize + 1).max().unwrap_or(0);
        let mut cells = vec![vec![Cell::default(); buckets]; clients.len()];
        for r in rows {
            let o = &r.outcomes;
            cells[r.node as usize][r.bucket as usize] = Cell {
                arrivals: r.arrivals,
                completed: r.completed,
                dropped: r.dropped,
                failures: o.server_failures(),
                client_errors: o.client_errors(),
                goodput: o.successes(),
                limit_rejections: r.limit_rejections,
                fallbacks: r.fallbacks,
                refused: r.refused,
                attempts: r.attempts,
                wasted: r.wasted,
                p99: r.latency_ms_p99,
                fault: r.fault_active,
            };
        }
        Grid { buckets, res: resolution_s, duration: duration_s, cells, clients }
    }

    pub fn nodes(&self) -> usize {
        self.cells.len()
    }

    /// The start of bucket `b` in seconds.
    pub fn t(&self, b: usize) -> f64 {
        b as f64 * self.res
    }

    /// The first bucket starting at or after `t`.
    /// (A small epsilon keeps exact boundaries exact: 5.1 / 0.1 is 50.99999.)
    pub fn at_or_after(&self, t: f64) -> usize {
        ((t / self.res - 1e-9).ceil().max(0.0) as usize).min(self.buckets)
    }

    /// The width of bucket `b` in seconds (the last one may be cut short).
    pub fn width(&self, b: usize) -> f64 {
        (self.duration - self.t(b)).clamp(1e-9, self.res)
    }

    /// The bucket containing `t`.
    pub fn containing(&self, t: f64) -> usize {
        ((t / self.res + 1e-9).floor().max(0.0) as usize).min(self.buckets)
    }

    /// Node `n`'s successes per second in bucket `b`.
    pub fn goodput(&self, n: usize, b: usize) -> f64 {
        self.cells[n][b].goodput as f64 / self.width(b)
    }

    /// Whether bucket `b` is whole (the run did not end inside it).
    pub fn full(&self, b: usize) -> bool {
        self.t(b) + self.res <= self.duration + 1e-9
    }
}

/// Each node's usual level: buckets after the warm-up, before the first fault.
#[derive(Clone)]
pub struct Baseline {
    /// Median over baseline buckets of the p99 of successes.
    pub p99: Vec<Option<f64>>,
    /// Pooled share of accepted requests that failed.
    pub failure_share: Vec<f64>,
    pub goodput_rps: Vec<f64>,
    pub buckets: Vec<usize>,
}

impl Baseline {
    /// `None` when no whole bucket lies between the warm-up and the first fault.
    pub fn new(grid: &Grid, warmup_s: f64, first_fault_s: f64, rules: Rules) -> Option<Baseline> {
        let buckets: Vec<usize> = (0..grid.buckets)
            .filter(|&b| grid.t(b) >= warmup_s - 1e-9 && grid.t(b) + grid.res <= first_fault_s + 1e-9 && grid.full(b))
            .collect();
        if buckets.is_empty() {
            return None;
        }
        let per_node = |n: usize| buckets.iter().map(move |&b| grid.cells[n][b]);
        let p99 = (0..grid.nodes())
            .map(|n| {
                let mut xs: Vec<f64> = per_node(n).filter(|c| c.goodput >= rules.min_requests).map(|c| c.p99).collect();
                xs.sort_by(f64::total_cmp);
                xs.get(xs.len() / 2).copied()
            })
            .collect();
        let failure_share = (0..grid.nodes())
            .map(|n| {
                let (bad, all) =
                    per_node(n).fold((0u64, 0u64), |(bad, all), c| (bad + c.failures + c.dropped, all + c.judged()));
                if all == 0 { 0.0 } else { bad as f64 / all as f64 }
            })
            .collect();
        let span = buckets.len() as f64 * grid.res;
        let goodput_rps =
            (0..grid.nodes()).map(|n| per_node(n).map(|c| c.goodput).sum::<u64>() as f64 / span).collect();
        Some(Baseline { p99, failure_share, goodput_rps, buckets })
    }
}

/// What is wrong with a node in one bucket.
#[derive(Clone, Debug, PartialEq)]
pub enum Problem {
    NoAnswers {
        requests: u64,
    },
    Failing {
        share: f64,
        usual: f64,
    },
    Slow {
        p99_ms: f64,
        usual_ms: f64,
    },
    GoodputDip {
        rps: f64,
        usual_rps: f64,
    },
    /// A fault is active on the node and too few requests reached it to
    /// judge it by (its callers' breakers keep traffic away, say).
    Faulted {
        requests: u64,
    },
}

impl Problem {
    /// Failures are worse than slowness: a failing bucket ranks first.
    fn is_failure(&self) -> bool {
        !matches!(self, Problem::Slow { .. })
    }

    /// How bad, among problems of the same kind of grade: the share that
    /// failed (no answers at all is worst), or how many times the usual p99.
    /// A faulted node with too few requests to judge ranks below any
    /// measured failure: a bucket that shows 45% failing is the worse
    /// moment to name than one that shows nothing.
    fn severity(&self) -> f64 {
        match *self {
            Problem::NoAnswers { .. } => 2.0,
            Problem::Faulted { .. } => 0.0,
            Problem::Failing { share, .. } => share,
            Problem::GoodputDip { rps, usual_rps } => 1.0 - rps / usual_rps.max(1e-9),
            Problem::Slow { p99_ms, usual_ms } => p99_ms / usual_ms.max(0.001),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Problem::NoAnswers { requests } => format!("{requests} requests, no answers"),
            Problem::Faulted { requests } => format!("fault active, {requests} requests: too few to judge by"),
            Problem::Failing { share, usual } if *usual >= 0.0005 => {
                format!("{:.0}% of requests failed, usually {:.1}%", share * 100.0, usual * 100.0)
            }
            Problem::Failing { share, .. } => format!("{:.0}% of requests failed", share * 100.0),
            Problem::Slow { p99_ms, usual_ms } => {
                format!("p99 {p99_ms:.0} ms, {:.0}x its usual {usual_ms:.1} ms", p99_ms / usual_ms.max(0.001))
            }
            Problem::GoodputDip { rps, usual_rps } => {
                format!("goodput {rps:.0}/s, {:.0}% of its usual {usual_rps:.0}/s", rps / usual_rps.max(1e-9) * 100.0)
            }
        }
    }
}

/// Goodput below this (per second) is a dip: `recovered_goodput` of the
/// baseline, lowered at small rates so that Poisson noise (4 standard
/// deviations of a bucket's count) is not mistaken for one.
fn dip_threshold(baseline_rps: f64, res: f64, rules: Rules) -> f64 {
    let per_bucket = baseline_rps * res;
    let noise = (per_bucket - 4.0 * per_bucket.sqrt()) / res;
    (rules.recovered_goodput * baseline_rps).min(noise.max(0.0))
}

/// Why node `n` is unhealthy in bucket `b`, if it is (module docs).
pub fn judge(grid: &Grid, base: &Baseline, n: usize, b: usize, rules: Rules) -> Option<Problem> {
    let c = grid.cells[n][b];
    let accepted = c.judged();
    if c.completed == 0 {
        let requests = c.arrivals.max(c.completed + c.dropped);
        if requests >= rules.min_requests {
            return Some(Problem::NoAnswers { requests });
        }
        return c.fault.then_some(Problem::Faulted { requests });
    }
    if accepted < rules.min_requests && c.fault {
        return Some(Problem::Faulted { requests: accepted });
    }
    if accepted >= rules.min_requests {
        let failed = c.failures + c.dropped;
        let share = failed as f64 / accepted as f64;
        let usual = base.failure_share[n];
        // Against no usual level (no fault, or none before the first), a
        // few failures among few requests are noise, not a failing node:
        // they must also be 3 standard deviations above `error_rate`.
        let beyond_noise = !base.buckets.is_empty() || {
            let (n, p) = (accepted as f64, rules.error_rate);
            failed as f64 >= n * p + 3.0 * (n * p * (1.0 - p)).sqrt()
        };
        if share > usual + rules.error_rate && beyond_noise {
            return Some(Problem::Failing { share, usual });
        }
    }
    if c.goodput >= rules.min_requests
        && let Some(usual) = base.p99[n]
        && c.p99 > rules.latency_factor * usual.max(0.001) + 1.0
    {
        return Some(Problem::Slow { p99_ms: c.p99, usual_ms: usual });
    }
    let usual_rps = base.goodput_rps[n];
    if grid.clients[n] && usual_rps > 0.0 {
        let rps = grid.goodput(n, b);
        if rps < dip_threshold(usual_rps, grid.res, rules) {
            return Some(Problem::GoodputDip { rps, usual_rps });
        }
    }
    None
}

/// The first bucket from `from` that starts a run of `k` buckets for which `ok` holds.
fn stable_from(buckets: usize, from: usize, k: usize, ok: impl Fn(usize) -> bool) -> Option<usize> {
    let mut run = 0;
    for b in from..buckets {
        run = if ok(b) { run + 1 } else { 0 };
        if run == k {
            return Some(b + 1 - k);
        }
    }
    None
}

/// When node `n`, unhealthy from bucket `onset`, is back to normal: the
/// start of the first `stable_buckets` healthy buckets in a row after its
/// last unhealthy bucket before `window_end` (so a brief upswing in the
/// middle of a fault is no recovery). `None`: not within the run.
pub fn recovery(
    grid: &Grid,
    base: &Baseline,
    n: usize,
    onset: usize,
    window_end: usize,
    rules: Rules,
) -> Option<usize> {
    let end = window_end.max(onset + 1).min(grid.buckets);
    let last_bad = (onset..end).rev().find(|&b| judge(grid, base, n, b, rules).is_some()).unwrap_or(onset);
    stable_from(grid.buckets, last_bad + 1, rules.stable_buckets, |b| judge(grid, base, n, b, rules).is_none())
}

/// How a node fared over the whole run after the warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    /// Never unhealthy.
    Healthy,
    /// Unhealthy only because its successful answers were slow.
    Slow,
    /// Some of what it accepted failed, or it stopped answering.
    Failing,
}

impl Grade {
    /// The grade as summary.json spells it.
    pub fn key(self) -> &'static str {
        match self {
            Grade::Healthy => "healthy",
            Grade::Slow => "slow",
            Grade::Failing => "failing",
        }
    }
}

/// A node's grade, the time it spent unhealthy, and its worst moment.
pub struct NodeHealth {
    pub grade: Grade,
    pub unhealthy_buckets: usize,
    /// The first unhealthy bucket, whatever the grade.
    pub first: Option<usize>,
    /// The first bucket at its (final) grade.
    pub since: Option<usize>,
    /// Its worst bucket: the worst grade, the worst problem within it.
    pub worst: Option<(usize, Problem)>,
}

/// Judges node `n` over every bucket after the warm-up.
pub fn node_health(grid: &Grid, base: &Baseline, n: usize, warmup_s: f64, rules: Rules) -> NodeHealth {
    let mut h = NodeHealth { grade: Grade::Healthy, unhealthy_buckets: 0, first: None, since: None, worst: None };
    for b in grid.at_or_after(warmup_s)..grid.buckets {
        let Some(p) = judge(grid, base, n, b, rules) else { continue };
        h.unhealthy_buckets += 1;
        h.first.get_or_insert(b);
        let grade = if p.is_failure() { Grade::Failing } else { Grade::Slow };
        // The worst bucket: the worst grade, then the worst within it (the
        // first of equals).
        let worse = match &h.worst {
            None => true,
            Some((_, w)) => grade > h.grade || (grade == h.grade && p.severity() > w.severity()),
        };
        if grade > h.grade || h.since.is_none() {
            h.since = Some(b);
        }
        if worse {
            h.grade = h.grade.max(grade);
            h.worst = Some((b, p));
        }
    }
    h
}

impl Baseline {
    /// No usual level to compare with (a fault from the start): only the
    /// absolute rules apply (no answers, failures above `error_rate`).
    pub fn absolute(nodes: usize) -> Baseline {
        Baseline {
            p99: vec![None; nodes],
            failure_share: vec![0.0; nodes],
            goodput_rps: vec![0.0; nodes],
            buckets: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One node, one bucket holding `cell`; a baseline with no failures.
    fn judge_one(cell: Cell) -> Option<Problem> {
        let grid = Grid { buckets: 1, res: 1.0, duration: 1.0, cells: vec![vec![cell]], clients: vec![false] };
        judge(&grid, &Baseline::absolute(1), 0, 0, Rules::default())
    }

    #[test]
    fn answers_4xx_are_left_out_of_the_failure_share() {
        // 100 answers: 60 were 429s, the other 40 all failed. Of the
        // requests a failure share is about (as the SLO counts them), every
        // one failed: 100%, not 40%.
        let cell = Cell { arrivals: 100, completed: 100, failures: 40, client_errors: 60, ..Cell::default() };
        assert_eq!(judge_one(cell), Some(Problem::Failing { share: 1.0, usual: 0.0 }));
        // Only 4xx: nothing to judge a failure share by, and nothing failed.
        let cell = Cell { arrivals: 100, completed: 100, client_errors: 100, ..Cell::default() };
        assert_eq!(judge_one(cell), None);
    }

    #[test]
    fn a_faulted_node_with_too_little_traffic_to_judge_is_unhealthy() {
        // A hung node whose callers' breakers let 2 probes through: no
        // evidence either way, but a fault is on it: unhealthy.
        let quiet = Cell { arrivals: 2, dropped: 2, ..Cell::default() };
        assert_eq!(judge_one(Cell { fault: true, ..quiet }), Some(Problem::Faulted { requests: 2 }));
        assert_eq!(judge_one(quiet), None, "no fault, too few requests: healthy");
        // Enough traffic: judged by what it did, fault or not.
        let busy = Cell { arrivals: 50, completed: 50, goodput: 50, p99: 5.0, fault: true, ..Cell::default() };
        assert_eq!(judge_one(busy), None);
    }

    #[test]
    fn the_worst_moment_is_a_measured_failure_before_a_bucket_too_quiet_to_judge() {
        // A canary failing 45% of 40 requests, then kept quiet by its
        // callers' breakers (2 requests a bucket) while its fault lasts.
        let failing = Cell { arrivals: 40, completed: 40, failures: 18, goodput: 22, fault: true, ..Cell::default() };
        let quiet = Cell { arrivals: 2, completed: 2, goodput: 2, fault: true, ..Cell::default() };
        let cells = vec![vec![quiet, failing, quiet, quiet]];
        let grid = Grid { buckets: 4, res: 1.0, duration: 4.0, cells, clients: vec![false] };
        let h = node_health(&grid, &Baseline::absolute(1), 0, 0.0, Rules::default());
        assert_eq!((h.grade, h.unhealthy_buckets, h.first), (Grade::Failing, 4, Some(0)));
        assert_eq!(h.worst, Some((1, Problem::Failing { share: 0.45, usual: 0.0 })));
    }
}

#[cfg(test)]
mod no_usual_level {
    use super::*;

    #[test]
    fn without_a_usual_level_failures_must_stand_above_noise() {
        let grid = |failures: u64, completed: u64| Grid {
            buckets: 1,
            res: 1.0,
            duration: 1.0,
            cells: vec![vec![Cell { arrivals: completed, completed, failures, ..Cell::default() }]],
            clients: vec![false],
        };
        let judge_abs = |g: &Grid| judge(g, &Baseline::absolute(1), 0, 0, Rules::default());
        // 1 failure in 10 (10%) from a service that fails 1%: noise. The bar
        // is 10 x 0.05 + 3 sd = 0.5 + 2.07 = 2.57 failures.
        assert_eq!(judge_abs(&grid(1, 10)), None);
        assert_eq!(judge_abs(&grid(2, 10)), None);
        assert!(matches!(judge_abs(&grid(3, 10)), Some(Problem::Failing { .. })));
        // Everything failing is failing, however usual.
        assert!(matches!(judge_abs(&grid(100, 100)), Some(Problem::Failing { .. })));
    }
}
