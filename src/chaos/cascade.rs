//! The cascade story: for each fault, which nodes became unhealthy and when
//! (the blast radius), which mechanism acted where, when each node and the
//! clients' goodput recovered, and a verdict.
//!
//! A pure function of results (time-series rows, faults, breaker changes,
//! ejections), so it can be recomputed from a saved output folder.
//!
//! The rules (all documented in README.md, thresholds in `Rules`):
//! - A node is *unhealthy* in a time bucket if it got requests but answered
//!   none, or if more than `error_rate` of its answers were server failures
//!   (error, timeout, rejected, short-circuited, unavailable; 4xx are the
//!   caller's doing), or if its p99 exceeded `latency_factor` x its p99
//!   before the first fault. Buckets with fewer than `min_requests` answers
//!   are judged by the first rule only.
//! - A node *recovers* at the start of the first run of `stable_buckets`
//!   healthy buckets after its onset.
//! - The clients' *goodput* (ok + partial + fallback per second) recovers
//!   when it is back to `recovered_goodput` of its pre-fault level for
//!   `stable_buckets` buckets (at low rates the bar is lowered to 4
//!   standard deviations of a bucket's Poisson count, so noise is no dip).
//! - No pre-fault level (a fault from the start): *inconclusive*.
//! - Verdict: *contained* if the clients never became unhealthy and their
//!   goodput never fell below `recovered_goodput` of its pre-fault level;
//!   *metastable* if, from `grace` after the fault ended (grace = the
//!   fault's own duration, at least 5 s), the mean goodput over buckets with
//!   no fault active is below `metastable_goodput` of its pre-fault level:
//!   the trigger is gone but the system stays down; *spread* otherwise;
//!   *inconclusive* if the run ends before there are two such buckets.

use serde::Serialize;

use crate::metrics::recorder::Row;
use crate::metrics::summary::{BreakerSummary, EjectionSummary, FaultSummary, round};
use crate::model::outcome::Outcome;

/// Thresholds of the cascade rules (module docs).
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
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

/// What the analysis needs besides the rows.
pub struct Input<'a> {
    pub rows: &'a [Row],
    /// Node names and whether each is a Clients node, by node index.
    pub nodes: Vec<(String, bool)>,
    pub resolution_s: f64,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub faults: &'a [FaultSummary],
    pub breakers: &'a [BreakerSummary],
    pub ejections: &'a [EjectionSummary],
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cascade {
    pub rules: Rules,
    /// The worst verdict over all faults ("none" without faults).
    pub verdict: &'static str,
    pub faults: Vec<FaultStory>,
    pub amplification: Amplification,
    /// The same, as sentences for people.
    pub story: Vec<String>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FaultStory {
    pub target: String,
    pub kind: String,
    pub at_s: f64,
    pub until_s: f64,
    /// Nodes in the order they became unhealthy.
    pub unhealthy: Vec<Onset>,
    /// Share of the clients' requests that failed from the fault's start to
    /// the clients' recovery (or to the end of the grace period).
    pub client_failure_share: f64,
    /// The number of those failed requests.
    pub client_failures: u64,
    pub breakers_opened: Vec<BreakerOpened>,
    pub limiter_shed: u64,
    pub fallbacks_served: u64,
    pub ejections: Vec<Ejection>,
    pub recovery: Vec<Recovery>,
    pub goodput: Goodput,
    /// Answers given to callers that had already given up, during the episode.
    pub wasted: u64,
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Onset {
    pub node: String,
    pub at_s: f64,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct BreakerOpened {
    pub caller: String,
    pub target: String,
    pub at_s: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Ejection {
    pub balancer: String,
    pub instance: String,
    pub at_s: f64,
    /// From the fault's start.
    pub after_s: f64,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Recovery {
    pub node: String,
    /// `None`: still unhealthy when the run ended.
    pub at_s: Option<f64>,
    /// From the fault's end (0 if it recovered while the fault was active).
    pub after_fault_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Goodput {
    pub baseline_rps: f64,
    pub min_rps: f64,
    pub recovered_at_s: Option<f64>,
    pub recovery_s: Option<f64>,
    /// Mean goodput after the grace period, as a share of the baseline.
    pub after_share: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Amplification {
    /// Client attempts per client request before the first fault.
    pub baseline: f64,
    pub peak: f64,
    pub peak_at_s: f64,
}

/// Per-node, per-bucket figures, from the rows.
struct Grid {
    buckets: usize,
    res: f64,
    duration: f64,
    /// [node][bucket]
    cells: Vec<Vec<Cell>>,
}

#[derive(Clone, Copy, Default)]
struct Cell {
    arrivals: u64,
    completed: u64,
    failures: u64,
    goodput: u64,
    rate_limited: u64,
    fallback: u64,
    attempts: u64,
    wasted: u64,
    p99: f64,
    fault: bool,
}

impl Grid {
    fn new(input: &Input) -> Grid {
        let buckets = input.rows.iter().map(|r| r.bucket as usize + 1).max().unwrap_or(0);
        let mut cells = vec![vec![Cell::default(); buckets]; input.nodes.len()];
        for r in input.rows {
            let o = &r.outcomes;
            let failures = o.server_failures();
            cells[r.node as usize][r.bucket as usize] = Cell {
                arrivals: r.arrivals,
                completed: r.completed,
                failures,
                goodput: o.successes(),
                rate_limited: o.get(Outcome::RateLimited),
                fallback: o.get(Outcome::Fallback),
                attempts: r.attempts,
                wasted: r.wasted,
                p99: r.latency_ms_p99,
                fault: r.fault_active,
            };
        }
        Grid { buckets, res: input.resolution_s, duration: input.duration_s, cells }
    }

    fn t(&self, b: usize) -> f64 {
        b as f64 * self.res
    }

    /// The first bucket starting at or after `t`.
    /// (A small epsilon keeps exact boundaries exact: 5.1 / 0.1 is 50.99999.)
    fn at_or_after(&self, t: f64) -> usize {
        ((t / self.res - 1e-9).ceil().max(0.0) as usize).min(self.buckets)
    }

    /// The width of bucket `b` in seconds (the last one may be cut short).
    fn width(&self, b: usize) -> f64 {
        (self.duration - self.t(b)).clamp(1e-9, self.res)
    }

    /// The bucket containing `t`.
    fn containing(&self, t: f64) -> usize {
        ((t / self.res + 1e-9).floor().max(0.0) as usize).min(self.buckets)
    }
}

pub fn analyze(input: &Input, rules: Rules) -> Cascade {
    let grid = Grid::new(input);
    // A fault scheduled after the end never happened.
    let mut faults: Vec<&FaultSummary> = input.faults.iter().filter(|f| f.at_s < input.duration_s).collect();
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let first_fault = faults.first().map_or(input.duration_s, |f| f.at_s);
    let base = Baseline::new(&grid, input, first_fault, rules);
    let clients: Vec<usize> = (0..input.nodes.len()).filter(|&n| input.nodes[n].1).collect();
    let mut stories = Vec::new();
    for (i, f) in faults.iter().enumerate() {
        let attribution_end = faults.get(i + 1).map_or(input.duration_s, |n| n.at_s.max(f.at_s));
        stories.push(fault_story(&grid, input, &base, &clients, f, attribution_end, rules));
    }
    let amplification = amplification(&grid, &clients, &base);
    let verdict = ["metastable", "spread", "inconclusive", "contained"]
        .into_iter()
        .find(|v| stories.iter().any(|s| s.verdict == *v))
        .unwrap_or("none");
    let story = tell(&stories, &amplification);
    Cascade { rules, verdict, faults: stories, amplification, story }
}

/// Pre-fault levels: each node's usual p99 and the clients' goodput.
struct Baseline {
    p99: Vec<Option<f64>>,
    goodput_rps: f64,
    buckets: Vec<usize>,
}

impl Baseline {
    fn new(grid: &Grid, input: &Input, first_fault: f64, rules: Rules) -> Baseline {
        let full = |b: usize| grid.t(b) + grid.res <= first_fault + 1e-9;
        let mut buckets: Vec<usize> =
            (0..grid.buckets).filter(|&b| grid.t(b) >= input.warmup_s - 1e-9 && full(b)).collect();
        if buckets.is_empty() {
            buckets = (0..grid.buckets).filter(|&b| full(b)).collect();
        }
        let p99 = grid
            .cells
            .iter()
            .map(|cells| {
                let mut xs: Vec<f64> = buckets
                    .iter()
                    .map(|&b| cells[b])
                    .filter(|c| c.completed >= rules.min_requests)
                    .map(|c| c.p99)
                    .collect();
                xs.sort_by(f64::total_cmp);
                xs.get(xs.len() / 2).copied()
            })
            .collect();
        let clients: Vec<usize> = (0..input.nodes.len()).filter(|&n| input.nodes[n].1).collect();
        let goodput_rps = if buckets.is_empty() {
            0.0
        } else {
            buckets.iter().map(|&b| clients.iter().map(|&n| grid.cells[n][b].goodput).sum::<u64>() as f64).sum::<f64>()
                / (buckets.len() as f64 * grid.res)
        };
        Baseline { p99, goodput_rps, buckets }
    }
}

/// Why bucket `b` of `node` is unhealthy, if it is.
fn unhealthy(grid: &Grid, base: &Baseline, node: usize, b: usize, rules: Rules) -> Option<String> {
    let c = grid.cells[node][b];
    if c.completed == 0 {
        return (c.arrivals >= rules.min_requests).then(|| format!("{} requests, no answers", c.arrivals));
    }
    if c.completed < rules.min_requests {
        return None;
    }
    let share = c.failures as f64 / c.completed as f64;
    if share > rules.error_rate {
        return Some(format!("{:.0}% of answers failed", share * 100.0));
    }
    match base.p99[node] {
        Some(usual) if c.p99 > rules.latency_factor * usual.max(0.001) + 1.0 => {
            Some(format!("p99 {:.0} ms, {:.0}x its usual {:.1} ms", c.p99, c.p99 / usual.max(0.001), usual))
        }
        _ => None,
    }
}

fn client_goodput(grid: &Grid, clients: &[usize], b: usize) -> f64 {
    clients.iter().map(|&n| grid.cells[n][b].goodput).sum::<u64>() as f64 / grid.width(b)
}

/// Goodput below this (per second) is a dip: `recovered_goodput` of the
/// baseline, lowered at small rates so that Poisson noise (4 standard
/// deviations of a bucket's count) is not mistaken for one.
fn dip_threshold(baseline_rps: f64, res: f64, rules: Rules) -> f64 {
    let per_bucket = baseline_rps * res;
    let noise = (per_bucket - 4.0 * per_bucket.sqrt()) / res;
    (rules.recovered_goodput * baseline_rps).min(noise.max(0.0))
}

fn fault_story(
    grid: &Grid,
    input: &Input,
    base: &Baseline,
    clients: &[usize],
    f: &FaultSummary,
    attribution_end: f64,
    rules: Rules,
) -> FaultStory {
    let start = grid.containing(f.at_s);
    let end = grid.at_or_after(attribution_end).max(start + 1).min(grid.buckets);
    let grace = (f.until_s - f.at_s).max(5.0);
    let mut unhealthy_nodes = Vec::new();
    for node in 0..input.nodes.len() {
        let before = start.checked_sub(1).and_then(|b| unhealthy(grid, base, node, b, rules));
        if before.is_some() {
            continue; // already unhealthy: not this fault's doing
        }
        if let Some((b, reason)) = (start..end).find_map(|b| unhealthy(grid, base, node, b, rules).map(|r| (b, r))) {
            unhealthy_nodes.push((b, node, reason));
        }
    }
    unhealthy_nodes.sort_by_key(|(b, n, _)| (*b, *n));
    let recovery: Vec<Recovery> = unhealthy_nodes
        .iter()
        .map(|&(onset, node, _)| {
            let at = stable_from(grid.buckets, onset, rules.stable_buckets, |b| {
                unhealthy(grid, base, node, b, rules).is_none()
            });
            Recovery {
                node: input.nodes[node].0.clone(),
                at_s: at.map(|b| round(grid.t(b), 6)),
                after_fault_s: at.map(|b| round((grid.t(b) - f.until_s).max(0.0), 6)),
            }
        })
        .collect();
    let goodput = goodput(grid, base, clients, f, grace, start, rules);
    let episode_end = goodput.recovered_at_s.unwrap_or(f.until_s + grace).max(f.until_s);
    let episode = start..grid.at_or_after(episode_end).max(start + 1).min(grid.buckets);
    let sum = |pick: &dyn Fn(&Cell) -> u64, nodes: &mut dyn Iterator<Item = usize>| -> u64 {
        nodes.map(|n| episode.clone().map(|b| pick(&grid.cells[n][b])).sum::<u64>()).sum()
    };
    let servers = || (0..input.nodes.len()).filter(|n| !input.nodes[*n].1);
    let (failed, answered) =
        (sum(&|c| c.failures, &mut clients.iter().copied()), sum(&|c| c.completed, &mut clients.iter().copied()));
    let client_unhealthy = unhealthy_nodes.iter().any(|(_, n, _)| input.nodes[*n].1);
    let verdict = if base.goodput_rps <= 0.0 {
        "inconclusive" // no pre-fault level to compare with (a fault from the start)
    } else if !client_unhealthy && goodput.min_rps >= dip_threshold(base.goodput_rps, grid.res, rules) {
        "contained"
    } else if goodput.recovered_at_s.is_some() {
        "spread"
    } else {
        match goodput.after_share {
            None => "inconclusive",
            Some(share) if share < rules.metastable_goodput => "metastable",
            Some(_) => "spread",
        }
    };
    FaultStory {
        target: f.target.clone(),
        kind: f.kind.to_string(),
        at_s: f.at_s,
        until_s: f.until_s,
        unhealthy: unhealthy_nodes
            .iter()
            .map(|(b, n, reason)| Onset {
                node: input.nodes[*n].0.clone(),
                at_s: round(grid.t(*b), 6),
                reason: reason.clone(),
            })
            .collect(),
        client_failure_share: if answered == 0 { 0.0 } else { round(failed as f64 / answered as f64, 4) },
        client_failures: failed,
        breakers_opened: breakers_opened(input.breakers, f.at_s, episode_end),
        limiter_shed: sum(&|c| c.rate_limited, &mut servers()),
        fallbacks_served: sum(&|c| c.fallback, &mut servers()),
        ejections: ejections(input.ejections, f, episode_end),
        recovery,
        goodput,
        wasted: sum(&|c| c.wasted, &mut servers()),
        verdict,
    }
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

fn goodput(
    grid: &Grid,
    base: &Baseline,
    clients: &[usize],
    f: &FaultSummary,
    grace: f64,
    start: usize,
    rules: Rules,
) -> Goodput {
    let during = start..grid.at_or_after(f.until_s).max(start + 1).min(grid.buckets);
    let min_rps = during.map(|b| client_goodput(grid, clients, b)).fold(f64::INFINITY, f64::min);
    let target = dip_threshold(base.goodput_rps, grid.res, rules);
    let good = |b: usize| client_goodput(grid, clients, b) >= target;
    // Recovery ends the fault's last dip: the first run of good buckets
    // after the last bad bucket inside the fault's window (a brief upswing
    // in the middle of the fault is not a recovery). No dip, nothing to
    // recover from.
    let window = start..grid.containing(f.until_s).max(start + 1).min(grid.buckets);
    let last_dip = window.rev().find(|&b| !good(b));
    let recovered = match last_dip {
        _ if base.goodput_rps <= 0.0 => None,
        Some(d) => stable_from(grid.buckets, d + 1, rules.stable_buckets, good),
        None => Some(start),
    };
    // Full buckets after the grace period with no fault active anywhere.
    let after: Vec<usize> = (grid.at_or_after(f.until_s + grace)..grid.buckets)
        .filter(|&b| grid.t(b) + grid.res <= grid.duration + 1e-9 && !grid.cells.iter().any(|cells| cells[b].fault))
        .collect();
    let after_share = (after.len() >= 2 && base.goodput_rps > 0.0).then(|| {
        let mean = after.iter().map(|&b| client_goodput(grid, clients, b)).sum::<f64>() / after.len() as f64;
        round(mean / base.goodput_rps, 4)
    });
    Goodput {
        baseline_rps: round(base.goodput_rps, 3),
        min_rps: round(if min_rps.is_finite() { min_rps } else { 0.0 }, 3),
        recovered_at_s: recovered.map(|b| round(grid.t(b), 6)),
        recovery_s: recovered.map(|b| round((grid.t(b) - f.until_s).max(0.0), 6)),
        after_share,
    }
}

fn breakers_opened(breakers: &[BreakerSummary], from: f64, to: f64) -> Vec<BreakerOpened> {
    let mut out: Vec<BreakerOpened> = breakers
        .iter()
        .flat_map(|b| {
            b.transitions
                .iter()
                .filter(move |(t, s)| *s == "open" && *t >= from && *t <= to)
                .map(move |(t, _)| BreakerOpened { caller: b.caller.clone(), target: b.target.clone(), at_s: *t })
        })
        .collect();
    out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    out
}

fn ejections(all: &[EjectionSummary], f: &FaultSummary, to: f64) -> Vec<Ejection> {
    all.iter()
        .filter(|e| e.ejected && e.at_s >= f.at_s && e.at_s <= to)
        .filter(|e| e.instance == f.target || e.instance.split('#').next() == Some(f.target.as_str()))
        .map(|e| Ejection {
            balancer: e.balancer.clone(),
            instance: e.instance.clone(),
            at_s: e.at_s,
            after_s: round(e.at_s - f.at_s, 6),
        })
        .collect()
}

fn amplification(grid: &Grid, clients: &[usize], base: &Baseline) -> Amplification {
    let ratio = |b: usize| {
        let (att, arr): (u64, u64) = clients
            .iter()
            .map(|&n| (grid.cells[n][b].attempts, grid.cells[n][b].arrivals))
            .fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1));
        (arr > 0).then(|| att as f64 / arr as f64)
    };
    let base_ratios: Vec<f64> = base.buckets.iter().filter_map(|&b| ratio(b)).collect();
    let baseline =
        if base_ratios.is_empty() { 1.0 } else { base_ratios.iter().sum::<f64>() / base_ratios.len() as f64 };
    let (peak_at, peak) =
        (0..grid.buckets).filter_map(|b| ratio(b).map(|r| (b, r))).fold((0, 0.0), |m, x| if x.1 > m.1 { x } else { m });
    Amplification { baseline: round(baseline, 4), peak: round(peak, 4), peak_at_s: round(grid.t(peak_at), 6) }
}

/// The analysis as sentences, one per line.
fn tell(stories: &[FaultStory], amp: &Amplification) -> Vec<String> {
    let mut out = Vec::new();
    for f in stories {
        out.push(format!("{} {} from {}s to {}s:", f.kind, f.target, f.at_s, f.until_s));
        if f.unhealthy.is_empty() {
            out.push("  no node became unhealthy".into());
        }
        for o in &f.unhealthy {
            out.push(format!("  {:>7.1}s  {} unhealthy ({})", o.at_s, o.node, o.reason));
        }
        for b in &f.breakers_opened {
            out.push(format!("  {:>7.1}s  breaker {} -> {} opened", b.at_s, b.caller, b.target));
        }
        for e in &f.ejections {
            out.push(format!(
                "  {:>7.1}s  {} ejected {} ({:.1}s after the fault began)",
                e.at_s, e.balancer, e.instance, e.after_s
            ));
        }
        let mut acted = Vec::new();
        if f.fallbacks_served > 0 {
            acted.push(format!("fallbacks served {}", f.fallbacks_served));
        }
        if f.limiter_shed > 0 {
            acted.push(format!("rate limits shed {}", f.limiter_shed));
        }
        if f.wasted > 0 {
            acted.push(format!("{} answers went to callers that had given up", f.wasted));
        }
        if !acted.is_empty() {
            out.push(format!("  during the episode: {}", acted.join("; ")));
        }
        let recovered: Vec<String> = f
            .recovery
            .iter()
            .map(|r| match r.at_s {
                Some(t) => format!("{} at {t:.1}s", r.node),
                None => format!("{} never", r.node),
            })
            .collect();
        if !recovered.is_empty() {
            out.push(format!("  recovered: {}", recovered.join(", ")));
        }
        let g = &f.goodput;
        let back = match (g.recovered_at_s, g.recovery_s) {
            (Some(t), Some(d)) if d > 0.0 => format!("back at {t:.1}s ({d:.1}s after the fault ended)"),
            (Some(t), Some(_)) => format!("back at {t:.1}s, by the time the fault ended"),
            _ => "never back".into(),
        };
        out.push(format!(
            "  clients' goodput: {:.0}/s before, {:.0}/s at worst, {back}; {} of their requests failed ({:.1}%)",
            g.baseline_rps,
            g.min_rps,
            f.client_failures,
            f.client_failure_share * 100.0
        ));
        out.push(format!("  verdict: {}", verdict_words(f.verdict, g.after_share)));
    }
    if amp.peak > amp.baseline * 1.2 {
        out.push(format!(
            "retry amplification: {:.2} attempts per client request at {:.0}s, {:.2} before the faults",
            amp.peak, amp.peak_at_s, amp.baseline
        ));
    }
    out
}

fn verdict_words(verdict: &str, after: Option<f64>) -> String {
    match (verdict, after) {
        ("metastable", Some(share)) => {
            format!("METASTABLE: the fault is gone but goodput stays at {:.0}% of its pre-fault level", share * 100.0)
        }
        ("spread", _) => "spread to the clients, then recovered".into(),
        ("contained", _) => "contained: the clients were not hurt".into(),
        ("inconclusive", _) => "inconclusive: the run ends too soon after the fault to judge recovery".into(),
        (v, _) => v.to_string(),
    }
}
