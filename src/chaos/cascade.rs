//! The cascade story: for each fault, which nodes became unhealthy and when
//! (the blast radius, root cause first), which mechanism acted where, when
//! each node and the clients came back, and a verdict.
//!
//! A pure function of results (time-series rows, faults, breaker changes,
//! ejections), so it can be recomputed from a saved output folder. Health
//! and recovery have one definition, in `health`:
//! - A node is *unhealthy* in a bucket by the rules in `health` (no answers,
//!   failures above its usual share, slow successes, or for clients a
//!   goodput dip), judged against its own level before the first fault.
//! - A node *recovers* at the start of `stable_buckets` healthy buckets in a
//!   row after its last unhealthy bucket during the fault.
//! - The clients (the system) recover when every client node that became
//!   unhealthy has recovered; `recovered_at_s` is then, and `None` if not
//!   within the run. A contained fault "recovers" at its start.
//! - Verdict: *inconclusive* without a baseline (no whole bucket between
//!   the warm-up and the first fault); *overlapped* if a client node was
//!   already unhealthy when the fault began (an earlier fault's doing) and
//!   still was during it; *contained* if no client node was unhealthy;
//!   *spread* if the clients were hurt and recovered; otherwise,
//!   from `grace` after the fault ended (the fault's own duration, at least
//!   5 s), over buckets with no fault active: *metastable* if the clients'
//!   mean goodput stays below `metastable_goodput` of its usual level (the
//!   trigger is gone, the system stays down), *degraded* if it is above
//!   that but the clients never got back to normal, *inconclusive* if the
//!   run ends before there are two such buckets.

use serde::{Deserialize, Serialize};

use crate::model::config::FaultKindName;
use crate::model::record::Row;

pub use super::health::Rules;
use super::health::{self, Baseline, Grade, Grid, Problem, round};

/// Faults analysed one by one; later ones are only counted (random chaos
/// with a tiny MTBF draws thousands).
const MAX_STORIES: usize = 200;

/// What the analysis needs besides the rows.
pub struct Input<'a> {
    pub rows: &'a [Row],
    /// Node names and whether each is a Clients node, by node index.
    pub nodes: Vec<(String, bool)>,
    pub resolution_s: f64,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub faults: &'a [FaultSummary],
    /// Every breaker opening, in any order.
    pub breaker_openings: &'a [BreakerOpened],
    pub ejections: &'a [EjectionSummary],
    /// How long after a moment a client request sent before it may still
    /// end (the clients' longest call, timeouts and back-offs; 0 if
    /// unbounded): a relapse that late after a fault is still its doing.
    pub settle_s: f64,
}

/// A fault that happened, as summary.json lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultSummary {
    /// As in the scenario: "users", "gw#1", or "a->b" for a link.
    pub target: String,
    pub kind: FaultKindName,
    pub at_s: f64,
    pub until_s: f64,
}

impl FaultSummary {
    /// The nodes the fault was injected on: "gw#1" belongs to "gw"; a link
    /// "a->b" to both ends.
    pub fn nodes(&self) -> Vec<&str> {
        match self.target.split_once("->") {
            Some((a, b)) => vec![a, b],
            None => vec![self.target.split('#').next().unwrap_or(&self.target)],
        }
    }
}

/// A balancer ejected (or readmitted) an instance, as summary.json lists it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct EjectionSummary {
    /// The balancer (health checks), or the calling instance (outlier detection).
    pub balancer: String,
    pub instance: String,
    pub at_s: f64,
    pub ejected: bool,
    /// Ejected by the caller's outlier detection, not by health checks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub outlier_detection: bool,
}

/// Said wherever a fault (or the retry amplification) has no level from
/// before the first fault to be compared with.
pub const NO_BASELINE: &str = "no pre-fault level to compare with";
/// Why a fault has none.
pub const NO_BASELINE_WHY: &str = "the fault starts before a whole bucket after the warm-up";

/// The verdict on one fault (module docs), worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Metastable,
    Degraded,
    Spread,
    /// The clients were already unhealthy (an earlier fault's doing) when
    /// this fault began, and stayed so: its own effect cannot be told apart.
    Overlapped,
    Inconclusive,
    Contained,
    /// No fault happened.
    None,
}

impl Verdict {
    pub const ALL: [Verdict; 7] = [
        Verdict::None,
        Verdict::Contained,
        Verdict::Spread,
        Verdict::Overlapped,
        Verdict::Inconclusive,
        Verdict::Degraded,
        Verdict::Metastable,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Verdict::Metastable => "metastable",
            Verdict::Degraded => "degraded",
            Verdict::Spread => "spread",
            Verdict::Overlapped => "overlapped",
            Verdict::Inconclusive => "inconclusive",
            Verdict::Contained => "contained",
            Verdict::None => "none",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.key())
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Cascade {
    pub rules: Rules,
    /// The worst verdict over all faults (`none` without faults).
    pub verdict: Verdict,
    pub faults: Vec<FaultStory>,
    /// Faults beyond `MAX_STORIES`, not analysed.
    pub faults_not_analysed: u64,
    pub amplification: Amplification,
    /// The same, as sentences for people.
    pub story: Vec<String>,
}

impl Cascade {
    /// The run's time to recover: the longest over the faults whose own
    /// effect could be judged (not overlapped by an earlier fault's, not
    /// inconclusive, e.g. cut off by the end of the run). `None`: no fault
    /// could be judged; `Some(None)`: one of them never recovered.
    pub fn run_recovery(&self) -> Option<Option<f64>> {
        let judged: Vec<&FaultStory> =
            self.faults.iter().filter(|f| !matches!(f.verdict, Verdict::Overlapped | Verdict::Inconclusive)).collect();
        if judged.is_empty() {
            return None;
        }
        Some(judged.iter().map(|f| f.recovery_s).try_fold(0.0, |m, r| r.map(|r| f64::max(m, r))))
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct FaultStory {
    pub target: String,
    pub kind: FaultKindName,
    pub at_s: f64,
    pub until_s: f64,
    /// The faulted node first (the root cause), then the others in the
    /// order they became unhealthy.
    pub unhealthy: Vec<Onset>,
    /// Share of the clients' answers (less their 401/404/429s, as the SLO
    /// counts them) that failed from the fault's start to
    /// the clients' recovery (or to the end of the grace period).
    pub client_failure_share: f64,
    /// The number of those failed requests.
    pub client_failures: u64,
    pub breakers_opened: Vec<BreakerOpened>,
    pub limiter_shed: u64,
    /// Requests refused at once by full queues and inbound adaptive limits,
    /// and attempts refused by callers' bulkheads and adaptive limits,
    /// during the episode (absent when none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub refused: u64,
    pub fallbacks_served: u64,
    pub ejections: Vec<Ejection>,
    /// When each unhealthy node came back.
    pub recovery: Vec<Recovery>,
    /// When the clients were back to normal (`None`: not within the run).
    pub recovered_at_s: Option<f64>,
    /// From the fault's end to `recovered_at_s` (0 if during the fault).
    pub recovery_s: Option<f64>,
    pub goodput: Goodput,
    /// Answers given to callers that had already given up, during the episode.
    pub wasted: u64,
    pub verdict: Verdict,
    /// The fault began before a pre-fault level could be measured (in or
    /// right after the warm-up): nothing was compared, `goodput` is empty.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_baseline: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Onset {
    pub node: String,
    pub at_s: f64,
    pub reason: String,
    /// The fault was injected on this node (or on a link it ends).
    pub root_cause: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BreakerOpened {
    pub caller: String,
    pub target: String,
    pub at_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Ejection {
    pub balancer: String,
    pub instance: String,
    pub at_s: f64,
    /// From the fault's start.
    pub after_s: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Recovery {
    pub node: String,
    /// `None`: still unhealthy when the run ended.
    pub at_s: Option<f64>,
    /// From the fault's end (0 if it recovered while the fault was active).
    pub after_fault_s: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Goodput {
    /// The clients' successes per second before the first fault.
    pub baseline_rps: f64,
    /// The lowest bucket while the fault was active.
    pub min_rps: f64,
    /// Mean goodput after the grace period, as a share of the baseline.
    pub after_share: Option<f64>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Amplification {
    /// Client attempts per client request before the first fault.
    pub baseline: f64,
    pub peak: f64,
    pub peak_at_s: f64,
    /// No bucket before the first fault to measure `baseline` in (it is 1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_baseline: bool,
}

/// For `skip_serializing_if`: a count that is 0 is left out (summary.json's too).
pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Amplification {
    /// Retries multiplied the clients' attempts: a peak 20% over the usual
    /// level. Below that there is nothing to tell.
    pub fn notable(&self) -> bool {
        self.peak > self.baseline * 1.2
    }
}

impl FaultStory {
    /// Where a recovery at `t` (no later than the fault's end) falls:
    /// "when the fault ended" or "before the fault ended". A recovery in
    /// the very bucket the fault ended in is not before it.
    pub fn ended_relative(&self, t: f64) -> &'static str {
        if t + 1e-9 >= self.until_s { "when the fault ended" } else { "before the fault ended" }
    }

    /// When the next fault (beginning at `next_at_s`) began, if it began
    /// once this one was over and before `t`: a recovery at `t` is then no
    /// measure of what this fault alone cost. (Faults that overlap are not
    /// told apart.)
    pub fn next_fault_before(&self, next_at_s: Option<f64>, t: f64) -> Option<f64> {
        next_at_s.filter(|n| *n >= self.until_s && t > *n)
    }
}

/// How a recovery after a later, separate fault began is marked.
pub const AFTER_NEXT_FAULT: &str = " (after the next fault began)";

/// The health of one node over the run, for tables and pictures.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NodeHealthSummary {
    pub grade: Grade,
    /// Time after the warm-up spent unhealthy.
    pub unhealthy_s: f64,
    /// When it first became unhealthy (at any grade: slow before failing).
    #[serde(default)]
    pub first_unhealthy_s: Option<f64>,
    /// When it first reached its grade.
    #[serde(default)]
    pub since_s: Option<f64>,
    /// Its worst bucket, and why.
    pub worst_at_s: Option<f64>,
    pub worst: Option<String>,
}

impl NodeHealthSummary {
    /// When it first became unhealthy, if that was before it reached its
    /// grade (only a lower grade comes first: slow before failing).
    pub fn slow_before_grade(&self) -> Option<f64> {
        match (self.first_unhealthy_s, self.since_s) {
            (Some(first), Some(since)) if first < since => Some(first),
            _ => None,
        }
    }
}

/// The cascade story and every node's health.
pub struct Analysis {
    pub cascade: Cascade,
    /// By node index.
    pub health: Vec<NodeHealthSummary>,
}

pub fn analyze(input: &Input, rules: Rules) -> Analysis {
    let clients: Vec<bool> = input.nodes.iter().map(|n| n.1).collect();
    let grid = Grid::new(input.rows, clients, input.resolution_s, input.duration_s);
    // A fault scheduled after the end never happened.
    let mut faults: Vec<&FaultSummary> = input.faults.iter().filter(|f| f.at_s < input.duration_s).collect();
    faults.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    let first_fault = faults.first().map_or(input.duration_s, |f| f.at_s);
    let base = Baseline::new(&grid, input.warmup_s, first_fault, rules);
    let usual = base.clone().unwrap_or_else(|| Baseline::absolute(grid.nodes()));
    // Without a fault there is no "before" to compare with: a node failing
    // all run long is failing, not "as usual". Nodes are then judged by the
    // absolute rules (no answers; failures above `error_rate`, beyond noise).
    let judged = if faults.is_empty() { Baseline::absolute(grid.nodes()) } else { usual.clone() };
    let mut stories = Vec::new();
    for (i, f) in faults.iter().enumerate().take(MAX_STORIES) {
        let attribution_end = faults.get(i + 1).map_or(input.duration_s, |n| n.at_s.max(f.at_s));
        stories.push(fault_story(&grid, input, base.as_ref(), f, attribution_end, rules));
    }
    let amplification = amplification(&grid, &usual);
    let verdict = stories.iter().map(|s| s.verdict).min().unwrap_or(Verdict::None);
    let faults_not_analysed = faults.len().saturating_sub(MAX_STORIES) as u64;
    let story = tell(&stories, faults_not_analysed, &amplification);
    let health = (0..grid.nodes())
        .map(|n| {
            let h = health::node_health(&grid, &judged, n, input.warmup_s, rules);
            NodeHealthSummary {
                grade: h.grade,
                unhealthy_s: round(h.unhealthy_buckets as f64 * grid.res, 6),
                first_unhealthy_s: h.first.map(|b| round(grid.t(b), 6)),
                since_s: h.since.map(|b| round(grid.t(b), 6)),
                worst_at_s: h.worst.as_ref().map(|(b, _)| round(grid.t(*b), 6)),
                worst: h.worst.map(|(_, p)| p.describe()),
            }
        })
        .collect();
    Analysis { cascade: Cascade { rules, verdict, faults: stories, faults_not_analysed, amplification, story }, health }
}

fn fault_story(
    grid: &Grid,
    input: &Input,
    base: Option<&Baseline>,
    f: &FaultSummary,
    attribution_end: f64,
    rules: Rules,
) -> FaultStory {
    let start = grid.containing(f.at_s);
    let grace = (f.until_s - f.at_s).max(5.0);
    let Some(base) = base else {
        return no_baseline_story(grid, input, f, start, rules);
    };
    // The bucket in which the next fault starts is that fault's to explain.
    let end = grid.containing(attribution_end).max(start + 1).min(grid.buckets);
    let roots = f.nodes();
    let is_root = |n: usize| roots.contains(&input.nodes[n].0.as_str());
    let onsets = onsets(grid, base, start..end, &is_root, rules);
    // Requests sent during the fault may fail until the clients give up on
    // them (a hang behind a 30 s client timeout fails 30 s later): the
    // nodes are back only after that, or once the next fault began.
    let settled = grid.at_or_after(f.until_s + input.settle_s).min(end);
    let window_end = grid.at_or_after(f.until_s).max(settled);
    let recovered = recoveries(grid, base, &onsets, window_end, rules);
    let (hurt, mut system) = system_recovery(grid, &recovered, f.at_s);
    let goodput = goodput(grid, base, f, grace, start);
    let overlapped = !hurt && clients_already_unhealthy(grid, base, start..end, rules);
    if overlapped {
        // The clients were already hurt (by an earlier fault): they are
        // back when they are healthy again, not at this fault's start.
        system = clients_back(grid, base, start, window_end, rules);
    }
    let verdict = verdict_of(hurt, overlapped, system, goodput.after_share, rules);
    let episode_end = system.unwrap_or(f.until_s + grace).max(f.until_s);
    // What happened after the next fault began is that fault's to tell:
    // the tallies stop there, as the breakers' do.
    let tally_end = episode_end.min(attribution_end.max(f.at_s));
    let episode = start..grid.at_or_after(episode_end).min(end).max(start + 1).min(grid.buckets);
    let sums = Sums::over(grid, episode);
    FaultStory {
        target: f.target.clone(),
        kind: f.kind,
        at_s: f.at_s,
        until_s: f.until_s,
        unhealthy: onsets
            .iter()
            .map(|(b, n, p)| Onset {
                node: input.nodes[*n].0.clone(),
                at_s: round(grid.t(*b), 6),
                reason: p.describe(),
                root_cause: is_root(*n),
            })
            .collect(),
        client_failure_share: sums.failure_share(),
        client_failures: sums.client_failed,
        breakers_opened: breakers_opened(input.breaker_openings, f.at_s, tally_end),
        limiter_shed: sums.limit_rejections,
        refused: sums.refused,
        fallbacks_served: sums.fallbacks,
        ejections: ejections(input.ejections, f, episode_end),
        recovery: recovery_list(grid, input, f, &recovered),
        recovered_at_s: system.map(|t| round(t, 6)),
        recovery_s: system.map(|t| round((t - f.until_s).max(0.0), 6)),
        goodput,
        wasted: sums.wasted,
        verdict,
        no_baseline: false,
    }
}

/// Each node's return, as the story lists it.
fn recovery_list(grid: &Grid, input: &Input, f: &FaultSummary, recovered: &[(usize, Option<usize>)]) -> Vec<Recovery> {
    recovered
        .iter()
        .map(|&(n, at)| Recovery {
            node: input.nodes[n].0.clone(),
            at_s: at.map(|b| round(grid.t(b), 6)),
            after_fault_s: at.map(|b| round((grid.t(b) - f.until_s).max(0.0), 6)),
        })
        .collect()
}

/// A fault's verdict from whether the clients were hurt (or already were),
/// when they were back, and the goodput after the fault.
fn verdict_of(hurt: bool, overlapped: bool, back: Option<f64>, after_share: Option<f64>, rules: Rules) -> Verdict {
    match (hurt, back, after_share) {
        (false, _, _) if overlapped => Verdict::Overlapped,
        (false, _, _) => Verdict::Contained,
        (true, Some(_), _) => Verdict::Spread,
        (true, None, None) => Verdict::Inconclusive,
        (true, None, Some(share)) if share < rules.metastable_goodput => Verdict::Metastable,
        (true, None, Some(_)) => Verdict::Degraded,
    }
}

/// Whether a client node was unhealthy just before `window` (so `onsets`
/// leaves it out: not this fault's doing) and is still unhealthy in it.
/// Such a fault cannot be called contained: the clients were hurt, by it or
/// by the one before, and the two cannot be told apart.
fn clients_already_unhealthy(grid: &Grid, base: &Baseline, window: std::ops::Range<usize>, rules: Rules) -> bool {
    let Some(before) = window.start.checked_sub(1) else { return false };
    (0..grid.nodes()).filter(|&n| grid.clients[n]).any(|n| {
        health::judge(grid, base, n, before, rules).is_some()
            && window.clone().any(|b| health::judge(grid, base, n, b, rules).is_some())
    })
}

/// When each node that became unhealthy was back (`None`: never), by the
/// one health rule: a faulted node that its callers' breakers leave too few
/// requests to judge is unhealthy (`Problem::Faulted`) while its fault
/// lasts, so it is not back before; one whose other replicas serve
/// normally (the balancer ejected the faulted one) is back when they do,
/// as its health says.
fn recoveries(
    grid: &Grid,
    base: &Baseline,
    onsets: &[(usize, usize, Problem)],
    window_end: usize,
    rules: Rules,
) -> Vec<(usize, Option<usize>)> {
    onsets.iter().map(|&(onset, n, _)| (n, health::recovery(grid, base, n, onset, window_end, rules))).collect()
}

/// When every client node was healthy again (held for `stable_buckets`)
/// after `from`, or `None` if one never was.
fn clients_back(grid: &Grid, base: &Baseline, from: usize, window_end: usize, rules: Rules) -> Option<f64> {
    let mut latest = from;
    for n in (0..grid.nodes()).filter(|&n| grid.clients[n]) {
        latest = latest.max(health::recovery(grid, base, n, from, window_end, rules)?);
    }
    Some(grid.t(latest))
}

/// Whether any client node was hurt, and when the clients were back: the
/// latest of their recoveries, `None` if any never recovered, the fault's
/// start if none was hurt.
fn system_recovery(grid: &Grid, recovered: &[(usize, Option<usize>)], at_s: f64) -> (bool, Option<f64>) {
    let clients: Vec<Option<usize>> = recovered.iter().filter(|(n, _)| grid.clients[*n]).map(|(_, r)| *r).collect();
    if clients.is_empty() {
        return (false, Some(at_s));
    }
    let all: Option<Vec<usize>> = clients.into_iter().collect();
    (true, all.map(|bs| grid.t(bs.into_iter().max().expect("a client was hurt"))))
}

/// (bucket, node, what) for each node that became unhealthy within
/// `window` and was healthy just before it: the faulted nodes first (the
/// root cause), then the others in order of onset.
fn onsets(
    grid: &Grid,
    base: &Baseline,
    window: std::ops::Range<usize>,
    is_root: &dyn Fn(usize) -> bool,
    rules: Rules,
) -> Vec<(usize, usize, Problem)> {
    let mut out: Vec<(usize, usize, Problem)> = Vec::new();
    for n in 0..grid.nodes() {
        if window.start.checked_sub(1).is_some_and(|b| health::judge(grid, base, n, b, rules).is_some()) {
            continue; // already unhealthy: not this fault's doing
        }
        if let Some((b, p)) = window.clone().find_map(|b| health::judge(grid, base, n, b, rules).map(|p| (b, p))) {
            out.push((b, n, p));
        }
    }
    out.sort_by_key(|(b, n, _)| (!is_root(*n), *b, *n));
    out
}

/// A fault with nothing to compare with (it started before any whole
/// bucket after the warm-up): counted, not judged.
fn no_baseline_story(grid: &Grid, input: &Input, f: &FaultSummary, start: usize, _rules: Rules) -> FaultStory {
    let episode = start..grid.at_or_after(f.until_s).max(start + 1).min(grid.buckets);
    let sums = Sums::over(grid, episode);
    FaultStory {
        target: f.target.clone(),
        kind: f.kind,
        at_s: f.at_s,
        until_s: f.until_s,
        unhealthy: Vec::new(),
        client_failure_share: sums.failure_share(),
        client_failures: sums.client_failed,
        breakers_opened: breakers_opened(input.breaker_openings, f.at_s, f.until_s),
        limiter_shed: sums.limit_rejections,
        refused: sums.refused,
        fallbacks_served: sums.fallbacks,
        ejections: ejections(input.ejections, f, f.until_s),
        recovery: Vec::new(),
        recovered_at_s: None,
        recovery_s: None,
        goodput: Goodput { baseline_rps: 0.0, min_rps: 0.0, after_share: None },
        wasted: sums.wasted,
        verdict: Verdict::Inconclusive,
        no_baseline: true,
    }
}

/// Totals over an episode's buckets. Rejections and fallbacks are counted
/// where they happened (the limiting node, the caller that served the
/// fallback), so an answer passed on through several hops counts once.
struct Sums {
    client_failed: u64,
    /// The clients' answers less their 4xx (as the SLO counts them).
    client_judged: u64,
    limit_rejections: u64,
    refused: u64,
    fallbacks: u64,
    wasted: u64,
}

impl Sums {
    /// Share of the clients' answers that failed, 4xx left out.
    fn failure_share(&self) -> f64 {
        if self.client_judged == 0 { 0.0 } else { round(self.client_failed as f64 / self.client_judged as f64, 4) }
    }

    fn over(grid: &Grid, episode: std::ops::Range<usize>) -> Sums {
        let mut s =
            Sums { client_failed: 0, client_judged: 0, limit_rejections: 0, refused: 0, fallbacks: 0, wasted: 0 };
        for (n, cells) in grid.cells.iter().enumerate() {
            for c in &cells[episode.clone()] {
                s.limit_rejections += c.limit_rejections;
                s.refused += c.refused;
                s.fallbacks += c.fallbacks;
                if grid.clients[n] {
                    s.client_failed += c.failures;
                    s.client_judged += c.completed - c.client_errors;
                } else {
                    s.wasted += c.wasted;
                }
            }
        }
        s
    }
}

/// The clients' goodput summed over client nodes.
fn client_goodput(grid: &Grid, b: usize) -> f64 {
    (0..grid.nodes()).filter(|&n| grid.clients[n]).map(|n| grid.goodput(n, b)).sum()
}

fn goodput(grid: &Grid, base: &Baseline, f: &FaultSummary, grace: f64, start: usize) -> Goodput {
    let baseline_rps: f64 = (0..grid.nodes()).filter(|&n| grid.clients[n]).map(|n| base.goodput_rps[n]).sum();
    let during = start..grid.at_or_after(f.until_s).max(start + 1).min(grid.buckets);
    let min_rps = during.map(|b| client_goodput(grid, b)).fold(f64::INFINITY, f64::min);
    // Whole buckets after the grace period with no fault active anywhere.
    let after: Vec<usize> = (grid.at_or_after(f.until_s + grace)..grid.buckets)
        .filter(|&b| grid.full(b) && !grid.cells.iter().any(|cells| cells[b].fault))
        .collect();
    let after_share = (after.len() >= 2 && baseline_rps > 0.0).then(|| {
        let mean = after.iter().map(|&b| client_goodput(grid, b)).sum::<f64>() / after.len() as f64;
        round(mean / baseline_rps, 4)
    });
    Goodput {
        baseline_rps: round(baseline_rps, 3),
        min_rps: round(if min_rps.is_finite() { min_rps } else { 0.0 }, 3),
        after_share,
    }
}

/// Breaker openings in [from, to]: each is told under one fault only (the
/// caller passes `to` no later than the next fault's start).
fn breakers_opened(openings: &[BreakerOpened], from: f64, to: f64) -> Vec<BreakerOpened> {
    let mut out: Vec<BreakerOpened> = openings.iter().filter(|o| o.at_s >= from && o.at_s <= to).cloned().collect();
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

fn amplification(grid: &Grid, base: &Baseline) -> Amplification {
    let ratio = |b: usize| {
        let (att, arr) = (0..grid.nodes())
            .filter(|&n| grid.clients[n])
            .map(|n| (grid.cells[n][b].attempts, grid.cells[n][b].arrivals))
            .fold((0u64, 0u64), |a, x| (a.0 + x.0, a.1 + x.1));
        (arr > 0).then(|| att as f64 / arr as f64)
    };
    let base_ratios: Vec<f64> = base.buckets.iter().filter_map(|&b| ratio(b)).collect();
    let baseline =
        if base_ratios.is_empty() { 1.0 } else { base_ratios.iter().sum::<f64>() / base_ratios.len() as f64 };
    let (peak_at, peak) =
        (0..grid.buckets).filter_map(|b| ratio(b).map(|r| (b, r))).fold((0, 0.0), |m, x| if x.1 > m.1 { x } else { m });
    Amplification {
        baseline: round(baseline, 4),
        peak: round(peak, 4),
        peak_at_s: round(grid.t(peak_at), 6),
        no_baseline: base_ratios.is_empty(),
    }
}

/// The analysis as sentences, one per line.
fn tell(stories: &[FaultStory], not_analysed: u64, amp: &Amplification) -> Vec<String> {
    let mut out = Vec::new();
    for (i, f) in stories.iter().enumerate() {
        tell_fault(f, stories.get(i + 1).map(|n| n.at_s), &mut out);
    }
    if not_analysed > 0 {
        out.push(format!("({not_analysed} later faults are listed in summary.json but not analysed)"));
    }
    if amp.notable() {
        let before =
            if amp.no_baseline { NO_BASELINE.to_string() } else { format!("{:.2} before the faults", amp.baseline) };
        out.push(format!(
            "retry amplification: {:.2} attempts per client request at {:.0}s, {before}",
            amp.peak, amp.peak_at_s
        ));
    }
    out
}

/// A time in seconds as people read it: whole seconds bare ("20s"), others
/// to a tenth ("36.0s"); summary.json keeps the exact value.
pub fn seconds(s: f64) -> String {
    if s.fract() == 0.0 { format!("{s:.0}s") } else { format!("{s:.1}s") }
}

/// The first line of a fault's story; the lines after it are indented.
pub fn story_header(f: &FaultStory) -> String {
    format!("{} {} from {} to {}:", f.kind, f.target, seconds(f.at_s), seconds(f.until_s))
}

/// `next_at_s`: when the next fault began (`FaultStory::next_fault_before`).
fn tell_fault(f: &FaultStory, next_at_s: Option<f64>, out: &mut Vec<String>) {
    let after_next = |t: f64| if f.next_fault_before(next_at_s, t).is_some() { AFTER_NEXT_FAULT } else { "" };
    out.push(story_header(f));
    if f.no_baseline {
        out.push(format!("  {NO_BASELINE} ({NO_BASELINE_WHY})"));
    } else if f.unhealthy.is_empty() {
        out.push("  no node became unhealthy".into());
    }
    // One timeline, in time order (report.html's is too); at equal times
    // nodes first, then breakers, then ejections.
    let mut events: Vec<(f64, String)> = Vec::new();
    for o in &f.unhealthy {
        let root = if o.root_cause { ", the faulted node" } else { "" };
        events.push((o.at_s, format!("  {:>7.1}s  {} unhealthy ({}{root})", o.at_s, o.node, o.reason)));
    }
    for b in &f.breakers_opened {
        events.push((b.at_s, format!("  {:>7.1}s  breaker {} -> {} opened", b.at_s, b.caller, b.target)));
    }
    for e in &f.ejections {
        let line = format!(
            "  {:>7.1}s  {} ejected {} ({:.1}s after the fault began)",
            e.at_s, e.balancer, e.instance, e.after_s
        );
        events.push((e.at_s, line));
    }
    events.sort_by(|a, b| a.0.total_cmp(&b.0));
    out.extend(events.into_iter().map(|(_, line)| line));
    let mut acted = Vec::new();
    if f.fallbacks_served > 0 {
        acted.push(format!("fallbacks served {}", f.fallbacks_served));
    }
    if f.limiter_shed > 0 {
        acted.push(format!("rate limits shed {}", f.limiter_shed));
    }
    if f.refused > 0 {
        acted.push(format!("refused at once {} (full queues, concurrency limits)", f.refused));
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
            Some(t) => format!("{} at {t:.1}s{}", r.node, after_next(t)),
            None => format!("{} never", r.node),
        })
        .collect();
    if !recovered.is_empty() {
        out.push(format!("  back to normal: {}", recovered.join(", ")));
    }
    out.push(clients_line(f, next_at_s));
    out.push(format!("  verdict: {}", verdict_words(f.verdict, f.goodput.after_share)));
}

/// What the clients saw: goodput before and at worst, when they were back,
/// what failed (no level to compare with: only what failed).
fn clients_line(f: &FaultStory, next_at_s: Option<f64>) -> String {
    let failed = format!(
        "{} of their requests failed ({:.1}%, 4xx left out)",
        f.client_failures,
        f.client_failure_share * 100.0
    );
    if f.no_baseline {
        return format!("  clients: {failed}");
    }
    let back = match (f.verdict, f.recovered_at_s, f.recovery_s) {
        (Verdict::Contained, _, _) => "never out of their normal band".to_string(),
        (Verdict::Overlapped, _, _) => "already unhealthy when it began".to_string(),
        (_, Some(t), Some(d)) if d > 0.0 => match f.next_fault_before(next_at_s, t) {
            Some(n) => {
                format!("back to normal at {t:.1}s ({d:.1}s after the fault ended, the next fault began at {n:.1}s)")
            }
            None => format!("back to normal at {t:.1}s ({d:.1}s after the fault ended)"),
        },
        (_, Some(t), _) => format!("back to normal at {t:.1}s, {}", f.ended_relative(t)),
        _ => "not back to normal by the end of the run".into(),
    };
    let g = &f.goodput;
    format!("  clients: goodput {:.0}/s before, {:.0}/s at worst; {back}; {failed}", g.baseline_rps, g.min_rps)
}

fn verdict_words(verdict: Verdict, after: Option<f64>) -> String {
    let share = after.map_or(String::new(), |s| format!("{:.0}%", s * 100.0));
    match verdict {
        Verdict::Metastable => {
            format!("METASTABLE: the fault is gone but goodput stays at {share} of its pre-fault level")
        }
        Verdict::Degraded => {
            format!(
                "DEGRADED: the fault is gone but the clients did not get back to normal (goodput {share} of its pre-fault level)"
            )
        }
        Verdict::Spread => "spread to the clients, then recovered".into(),
        Verdict::Contained => "contained: the clients stayed within their usual band (the health rule)".into(),
        Verdict::Overlapped => {
            "overlapped: the clients were already unhealthy from an earlier fault; this one's own effect cannot be told apart"
                .into()
        }
        Verdict::Inconclusive => "inconclusive: no pre-fault level, or the run ends too soon after the fault".into(),
        Verdict::None => "no fault".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::outcome::{Outcome, OutcomeCounts};

    /// A bucket of `node`: 100 answers, `failed` of them errors, p99 10 ms.
    fn row(bucket: u32, node: u32, failed: u64, fault: bool) -> Row {
        let mut outcomes = OutcomeCounts::default();
        outcomes.0[Outcome::Ok as usize] = 100 - failed;
        outcomes.0[Outcome::Error as usize] = failed;
        Row {
            bucket,
            node,
            arrivals: 100,
            completed: 100,
            outcomes,
            latency_ms_p50: 5.0,
            latency_ms_p99: 10.0,
            queue_len: 0.0,
            utilization: 0.5,
            breakers_open: 0,
            fault_active: fault,
            attempts: 100,
            wasted: 0,
            failure_latency_ms_p50: 0.0,
            failure_latency_ms_p99: 0.0,
            failures_timed: false,
            dropped: 0,
            fallbacks: 0,
            limit_rejections: 0,
            refused: 0,
        }
    }

    /// The clients `web` (node 0) and `svc` (node 1) over `rows` in 1 s
    /// buckets, with an `Errors` fault on `svc` at 10-11 s and another at
    /// 15.5-16 s.
    fn two_faults(rows: &[Row], duration_s: f64) -> Analysis {
        let faults = [(10.0, 11.0), (15.5, 16.0)].map(|(at_s, until_s)| FaultSummary {
            target: "svc".into(),
            kind: FaultKindName::Errors,
            at_s,
            until_s,
        });
        let input = Input {
            rows,
            nodes: vec![("web".into(), true), ("svc".into(), false)],
            resolution_s: 1.0,
            warmup_s: 0.0,
            duration_s,
            faults: &faults,
            breaker_openings: &[],
            ejections: &[],
            settle_s: 0.0,
        };
        analyze(&input, Rules::default())
    }

    #[test]
    fn the_bucket_where_the_next_fault_starts_is_that_faults_to_explain() {
        // A harmless fault on `svc` at 10-11 s; a second one at 15.5-16 s
        // makes every answer of bucket 15 fail, at the service and the clients.
        let mut rows = Vec::new();
        for b in 0..30u32 {
            let failed = if b == 15 { 100 } else { 0 };
            let fault = (10..11).contains(&b) || b == 15;
            rows.extend([row(b, 0, failed, false), row(b, 1, failed, fault)]);
        }
        let stories = two_faults(&rows, 30.0).cascade.faults;
        assert_eq!(stories[0].verdict, Verdict::Contained, "{:?}", stories[0].unhealthy);
        assert!(stories[0].unhealthy.iter().all(|o| o.at_s < 15.0), "{:?}", stories[0].unhealthy);
        assert_eq!(stories[1].verdict, Verdict::Spread);
        let hurt: Vec<(&str, f64)> = stories[1].unhealthy.iter().map(|o| (o.node.as_str(), o.at_s)).collect();
        assert_eq!(hurt, [("svc", 15.0), ("web", 15.0)]);
    }

    #[test]
    fn a_recovery_after_the_next_fault_began_is_told_as_such() {
        // `svc` fails from the first fault (10-11 s) until 20 s, past the
        // start of a second fault at 15.5 s: its recovery at 20 s is no
        // measure of what the first fault alone cost.
        let rows: Vec<Row> = (0..40u32)
            .flat_map(|b| [row(b, 0, 0, false), row(b, 1, if (10..20).contains(&b) { 50 } else { 0 }, false)])
            .collect();
        let story = two_faults(&rows, 40.0).cascade.story;
        let lines: Vec<&String> = story.iter().filter(|l| l.contains("back to normal: svc")).collect();
        // The second fault found `svc` already unhealthy: not its onset.
        assert_eq!(lines.len(), 1, "{story:#?}");
        assert!(lines[0].contains("svc at 20.0s (after the next fault began)"), "{story:#?}");
    }
}
