//! Running fault sets and shrinking the ones that break the SLO.
//!
//! A trial runs a fault set R times (seeds S, S+1, ...: common random
//! numbers, so every candidate sees the same requests). It *breaks* the
//! SLO when replication 0, the one a repro file replays, misses it and so
//! do at least half of the replications. Screening runs replication 0
//! first and stops there when it meets the SLO, which is most candidates.
//!
//! Shrinking works as property-testing tools shrink a counterexample:
//! drop a fault, then shorten each (binary search on the time grid), make
//! it milder, start it later, and keep every step that still breaks.

use serde::{Deserialize, Serialize};

use crate::batch::stats::{Estimate, Range};
use crate::chaos::Verdict;
use crate::metrics::Summary;

use super::space::{Fault, Frame};

/// What it takes to run a fault set: the scenario without faults or chaos
/// (with the seed written in), and how many replications.
pub struct Context {
    pub base_text: String,
    pub seed: u64,
    pub replications: u32,
    pub frame: Frame,
}

/// One run's facts.
struct RunFacts {
    missed: bool,
    success: f64,
    p99: f64,
    recovery_s: Option<f64>,
    recovered: bool,
    verdict: Verdict,
}

/// What the replications of one fault set gave.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub faults: Vec<Fault>,
    /// Every replication met the SLO.
    pub slo_met: bool,
    /// Replications run, and how many missed the SLO.
    pub runs: u32,
    pub slo_missed_runs: u32,
    /// Replication 0 (the seed a repro replays) missed the SLO.
    pub first_missed: bool,
    /// The clients' success rate as the SLO counts it (0 to 1: successes
    /// over the requests it does not exclude, e.g. rate-limited ones).
    pub success_rate: Estimate,
    /// The clients' p99 of successful answers, ms.
    pub latency_ms_p99: Estimate,
    /// Time to recover after the faults, over the runs that recovered.
    pub recovery_s: Estimate,
    pub never_recovered_runs: u32,
    /// The most frequent cascade verdict (the worse one on a tie).
    pub verdict: Verdict,
}

impl Trial {
    /// Breaks the SLO: replication 0 misses it and so do at least half.
    pub fn breaks(&self) -> bool {
        self.first_missed && self.slo_missed_runs * 2 >= self.runs
    }

    pub fn metastable(&self) -> bool {
        self.verdict == Verdict::Metastable
    }

    /// How far past the SLO the worse objective's mean is, as a multiple
    /// of what the SLO allows: the failures over the share it allows
    /// (`1 - success`; 2.0 is twice the error budget), the p99 over its
    /// target (infinite when nothing succeeded: a p99 objective with no
    /// successful answer to stand on is missed outright, as the run's SLO
    /// verdict says). Under 1 the means meet both; 0 without targets. A
    /// fault that makes the p99 ten times its target ranks above one that
    /// takes the success rate a hair under its own, which the success rate
    /// alone would not say.
    pub fn times_target(&self, success: Option<f64>, p99_ms: Option<f64>) -> f64 {
        let failures = success.map_or(0.0, |t| (1.0 - self.success_rate.mean).max(0.0) / (1.0 - t).max(1e-6));
        let slow = p99_ms.map_or(0.0, |t| {
            if self.success_rate.mean <= 0.0 { f64::INFINITY } else { self.latency_ms_p99.mean / t.max(1e-9) }
        });
        failures.max(slow)
    }
}

impl Context {
    /// The scenario text with these faults.
    /// Faults are listed sorted, so a set's text (and its run) does not
    /// depend on the order shrinking left it in.
    pub fn text(&self, faults: &[Fault]) -> Result<String, String> {
        let mut sorted = faults.to_vec();
        sorted.sort();
        crate::scenario::path::set(&self.base_text, "faults", &super::space::faults_ron(&sorted))
    }

    fn run(&self, faults: &[Fault], replication: u32) -> Result<RunFacts, String> {
        let text = self.text(faults)?;
        let loaded = crate::scenario::parse(&text).map_err(|p| {
            let first = p.first().map_or_else(String::new, |p| p.message.clone());
            format!("a generated fault set does not validate ({first}): {}", super::space::faults_ron(faults))
        })?;
        let mut model = loaded.model;
        model.seed = self.seed.wrapping_add(u64::from(replication));
        let run = crate::model::simulate(model, &mut |_| {}).map_err(|stop| format!("a run was stopped: {stop:?}"))?;
        let s = Summary::from_run(&run);
        let c = &s.cascade;
        // Not judged (every fault overlapped or cut off): neither a time nor "never".
        let run_recovery = c.run_recovery();
        Ok(RunFacts {
            missed: s.slo.met == Some(false),
            success: s.slo.measured_success_rate,
            p99: s.latency_ms.p99,
            recovery_s: run_recovery.flatten(),
            recovered: run_recovery != Some(None),
            verdict: c.verdict,
        })
    }

    /// Runs `faults`; with `screen`, stops after replication 0 when it
    /// meets the SLO. Returns the trial and the runs it took.
    pub fn trial(&self, faults: &[Fault], screen: bool) -> Result<(Trial, u32), String> {
        let mut facts = vec![self.run(faults, 0)?];
        if !screen || facts[0].missed {
            for r in 1..self.replications {
                facts.push(self.run(faults, r)?);
            }
        }
        let runs = facts.len() as u32;
        Ok((summarise(faults, &facts), runs))
    }
}

fn summarise(faults: &[Fault], facts: &[RunFacts]) -> Trial {
    let missed = facts.iter().filter(|f| f.missed).count() as u32;
    let successes: Vec<f64> = facts.iter().map(|f| f.success).collect();
    let p99s: Vec<f64> = facts.iter().map(|f| f.p99).collect();
    let recoveries: Vec<f64> = facts.iter().filter_map(|f| f.recovery_s).collect();
    Trial {
        faults: faults.to_vec(),
        slo_met: missed == 0,
        runs: facts.len() as u32,
        slo_missed_runs: missed,
        first_missed: facts[0].missed,
        success_rate: Estimate::of(&successes, Range::SHARE),
        latency_ms_p99: Estimate::of(&p99s, Range::NON_NEGATIVE),
        recovery_s: Estimate::of(&recoveries, Range::NON_NEGATIVE),
        never_recovered_runs: facts.iter().filter(|f| !f.recovered).count() as u32,
        verdict: main_verdict(facts.iter().map(|f| f.verdict)),
    }
}

/// The most frequent verdict; on a tie, the worse (later in `Verdict::ALL`).
fn main_verdict(verdicts: impl Iterator<Item = Verdict>) -> Verdict {
    let verdicts: Vec<Verdict> = verdicts.collect();
    let mut best = (Verdict::None, 0);
    for v in Verdict::ALL {
        let n = verdicts.iter().filter(|x| **x == v).count();
        if n > 0 && n >= best.1 {
            best = (v, n);
        }
    }
    best.0
}

/// Shrink checks at most per finding (each costs 1 to R runs).
const MAX_CHECKS: u32 = 40;

/// Shrinking state: the smallest breaking set so far and what it cost.
struct Shrink<'a> {
    ctx: &'a Context,
    best: Vec<Fault>,
    trial: Trial,
    cost: u32,
    checks: u32,
}

impl Shrink<'_> {
    /// Tries `faults`; keeps it when it still breaks.
    fn attempt(&mut self, faults: Vec<Fault>) -> Result<bool, String> {
        if self.checks >= MAX_CHECKS {
            return Ok(false);
        }
        self.checks += 1;
        let (trial, runs) = self.ctx.trial(&faults, true)?;
        self.cost += runs;
        if trial.breaks() {
            self.best = faults;
            self.trial = trial;
            return Ok(true);
        }
        Ok(false)
    }

    fn fewer(&mut self) -> Result<bool, String> {
        for i in 0..self.best.len() {
            if self.best.len() > 1 {
                let mut f = self.best.clone();
                f.remove(i);
                if self.attempt(f)? {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The shortest breaking duration of fault `i`, by binary search on
    /// the time grid (a longer fault of the same kind breaks at least as
    /// surely: the search assumes so).
    fn shorter(&mut self, i: usize) -> Result<(), String> {
        let step = self.ctx.frame.step_ms;
        let (mut lo, mut hi) = (1, self.best[i].duration_ms / step);
        while lo < hi && self.checks < MAX_CHECKS {
            let mid = (lo + hi) / 2;
            let mut f = self.best.clone();
            f[i].duration_ms = mid * step;
            if self.attempt(f)? { hi = mid } else { lo = mid + 1 }
        }
        Ok(())
    }

    fn milder(&mut self, i: usize) -> Result<(), String> {
        while let Some(k) = self.best[i].kind.milder() {
            let mut f = self.best.clone();
            f[i].kind = k;
            if !self.attempt(f)? {
                break;
            }
        }
        Ok(())
    }

    /// Halfway towards the latest start, twice at most.
    fn later(&mut self, i: usize) -> Result<(), String> {
        let frame = self.ctx.frame;
        for _ in 0..2 {
            let f0 = &self.best[i];
            let latest = frame.latest_start(f0.duration_ms);
            let gap = latest.saturating_sub(f0.at_ms) / 2 / frame.step_ms * frame.step_ms;
            if gap == 0 {
                break;
            }
            let mut f = self.best.clone();
            f[i].at_ms += gap;
            if !self.attempt(f)? {
                break;
            }
        }
        Ok(())
    }
}

/// Shrinks a breaking fault set (whose trial is `trial`) to a minimal one:
/// fewer, shorter, milder, later. Returns it with its trial (all
/// replications) and the runs shrinking took.
pub fn shrink(ctx: &Context, faults: Vec<Fault>, trial: Trial) -> Result<(Trial, u32), String> {
    let mut s = Shrink { ctx, best: faults, trial, cost: 0, checks: 0 };
    while s.fewer()? {}
    for i in 0..s.best.len() {
        s.shorter(i)?;
        s.milder(i)?;
        s.later(i)?;
    }
    let mut best = s.best;
    best.sort();
    let mut trial = s.trial;
    trial.faults = best;
    Ok((trial, s.cost))
}
