//! `gatesim explore`: find what breaks a scenario's SLO.
//!
//! 1. **Criticality**: every single fault (`space::singles`: each node and
//!    replica with each kind at a default severity, each link partitioned)
//!    in one fixed window, replicated with common random numbers, ranked
//!    most harmful first.
//! 2. **Minimal breaking sets**: numbered work units, each independent of
//!    the others: unit i < S shrinks single i when it broke the SLO; unit
//!    S + j draws a random set of up to K faults (its own random stream,
//!    targets weighted by how much they hurt alone) and shrinks it when it
//!    breaks. Units are taken in order while their runs fit the budget, so
//!    the result is the same for any thread count, and shards (units by
//!    index modulo N) merge to the same bytes.
//!
//! The scenario's own `faults` and `chaos` are left out: the search starts
//! from the fault-free system.

pub mod search;
pub mod space;

use rand::RngExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use search::{Context, Trial};
use space::{Fault, Frame, Kind, Target};

/// Minimal sets reported at most.
const MAX_FINDINGS: usize = 20;
/// Units run in parallel between two budget checks (fixed, so the work
/// done does not depend on the thread count).
const WAVE: usize = 16;

/// The search's settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub budget: u32,
    pub max_faults: u32,
    pub replications: u32,
    pub seed: u64,
    /// The SLO's targets (p99 of successes in ms, success rate 0 to 1), to
    /// tell which one a finding misses. Absent from older files.
    #[serde(default)]
    pub slo_p99_ms: Option<f64>,
    #[serde(default)]
    pub slo_success_rate: Option<f64>,
}

/// What one unit found, and the runs it took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Unit {
    pub index: usize,
    pub runs: u32,
    pub finding: Option<Trial>,
}

/// A shard's (or a whole search's) raw results: explore-part.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub scenario: String,
    pub file: String,
    /// The scenario as searched: no faults, no chaos, the seed written in.
    pub base_text: String,
    pub settings: Settings,
    pub notes: Vec<String>,
    /// The fault-free system, all replications.
    pub baseline: Trial,
    pub criticality: Vec<Trial>,
    /// Runs of the baseline and the criticality pass.
    pub criticality_runs: u32,
    /// `(index, count)`; `(0, 1)` for a whole search.
    pub shard: (usize, usize),
    pub units: Vec<Unit>,
}

/// explore.json.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Exploration {
    pub scenario: String,
    pub file: String,
    pub settings: Settings,
    /// Runs the search made (criticality and the units kept).
    pub runs: u32,
    pub notes: Vec<String>,
    /// The fault-free system, all replications.
    pub baseline: Trial,
    /// Every single fault, most harmful first.
    pub criticality: Vec<Trial>,
    /// Minimal breaking fault sets, metastable ones first.
    pub minimal: Vec<Finding>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The replay scenario's file name (`repro-N.ron`).
    pub repro: String,
    /// The system stayed down after the faults ended.
    pub metastable: bool,
    /// Its faults and numbers, at the same level as `repro` in explore.json
    /// (an output only: the scenario parser never flattens).
    #[serde(flatten)]
    pub trial: Trial,
}

/// The scenario ready to search, every single fault to try, and notes.
pub type Prepared = (Context, Vec<(Target, Kind)>, Vec<String>);

/// The scenario ready to search: its text without faults and chaos, the
/// time frame and the single faults. Refuses a scenario without an SLO.
pub fn prepare(text: &str, settings: &Settings) -> Result<Prepared, String> {
    let loaded = crate::scenario::parse(text).map_err(|_| "the scenario does not validate".to_string())?;
    let model = loaded.model;
    if model.slo.p99.is_none() && model.slo.success_rate.is_none() {
        return Err("explore looks for what breaks the SLO, and this scenario has none\n  \
             hint: add one, e.g. `slo: (p99: \"500ms\", success_rate: 0.99)`"
            .into());
    }
    let mut notes = Vec::new();
    if !model.faults.is_empty() || model.chaos.is_some() {
        notes.push(
            "the scenario's own faults and chaos are left out: the search starts from the fault-free system".into(),
        );
    }
    // The SLO is judged over one run, not a month: say how long that is.
    let window = crate::engine::time::SimDuration(model.duration.0.saturating_sub(model.warmup.0));
    notes.push(format!(
        "the SLO is judged over each run's {window} after the warm-up, so one second of outage is {:.1}% of it; \
         a longer `duration` weighs a short fault as a longer SLO window would",
        100.0 / window.as_secs_f64().max(1e-9)
    ));
    let mut base = crate::scenario::path::set(text, "faults", "[]")?;
    if model.chaos.is_some() {
        base = crate::scenario::path::set(&base, "chaos", "None")?;
    }
    base = crate::scenario::path::set(&base, "seed", &settings.seed.to_string())?;
    let ctx =
        Context { base_text: base, seed: settings.seed, replications: settings.replications, frame: Frame::of(&model) };
    Ok((ctx, space::singles(&model), notes))
}

/// The fault-free system. A search is meaningless when it already breaks
/// the SLO (every fault set would "break" it): that is refused with its
/// numbers; a miss in some replications only is a note.
pub fn baseline(ctx: &Context, notes: &mut Vec<String>) -> Result<Trial, String> {
    let (t, _) = ctx.trial(&[], false)?;
    if t.breaks() {
        return Err(format!(
            "the scenario misses its SLO without any fault (in {} of {} runs; success {:.2}%, p99 of successes \
             {:.1} ms): there is nothing for faults to break\n  hint: fix the system or the SLO first (`gatesim run` \
             shows which objective is missed)",
            t.slo_missed_runs,
            t.runs,
            t.success_rate.mean * 100.0,
            t.latency_ms_p99.mean
        ));
    }
    if t.slo_missed_runs > 0 {
        notes.push(format!(
            "the fault-free system misses the SLO in {} of {} runs: it is close to its limit, and findings may be noise",
            t.slo_missed_runs, t.runs
        ));
    }
    Ok(t)
}

/// The criticality pass: every single fault, all replications, in
/// `singles` order. Returns the trials and the runs they took.
pub fn criticality(ctx: &Context, singles: &[(Target, Kind)]) -> Result<(Vec<Trial>, u32), String> {
    let (at_ms, duration_ms) = ctx.frame.single();
    let trials: Vec<Trial> = singles
        .par_iter()
        .map(|(target, kind)| {
            let fault = Fault { target: target.clone(), kind: *kind, at_ms, duration_ms };
            ctx.trial(&[fault], false).map(|(t, _)| t)
        })
        .collect::<Result<_, _>>()?;
    let runs = trials.iter().map(|t| t.runs).sum();
    Ok((trials, runs))
}

/// Runs unit `index`.
pub fn unit(ctx: &Context, crit: &[Trial], settings: &Settings, index: usize) -> Result<Unit, String> {
    if let Some(t) = crit.get(index) {
        if !t.breaks() {
            return Ok(Unit { index, runs: 0, finding: None });
        }
        let (trial, runs) = search::shrink(ctx, t.faults.clone(), t.clone())?;
        return Ok(Unit { index, runs, finding: Some(trial) });
    }
    let faults = draw(ctx, crit, settings, index - crit.len());
    if faults.is_empty() {
        // Every single fault broke the SLO alone: nothing left to combine.
        return Ok(Unit { index, runs: 0, finding: None });
    }
    let (trial, mut runs) = ctx.trial(&faults, true)?;
    if !trial.breaks() {
        return Ok(Unit { index, runs, finding: None });
    }
    let (trial, more) = search::shrink(ctx, faults, trial)?;
    runs += more;
    Ok(Unit { index, runs, finding: Some(trial) })
}

/// Random set `j`: 1 to K faults among the singles that did not break the
/// SLO alone (those are shrunk as they are), weighted by the harm each did
/// alone; later faults overlap the first one more often than not.
fn draw(ctx: &Context, crit: &[Trial], settings: &Settings, j: usize) -> Vec<Fault> {
    let mut rng = crate::engine::rng::stream(settings.seed, "explore", "search", j as u32);
    let weights: Vec<f64> =
        crit.iter().map(|t| if t.breaks() { 0.0 } else { 0.02 + (1.0 - t.success_rate.mean).max(0.0) }).collect();
    let total: f64 = weights.iter().sum();
    let k = rng.random_range(1..=settings.max_faults.max(1));
    let mut faults: Vec<Fault> = Vec::new();
    for _ in 0..k {
        if total <= 0.0 {
            break;
        }
        let mut x = rng.random::<f64>() * total;
        let i = weights.iter().position(|w| {
            x -= w;
            x < 0.0
        });
        let Some(base) = i.and_then(|i| crit[i].faults.first()) else { continue };
        let overlap = faults.first().filter(|_| rng.random::<f64>() < 0.7).map(|f| (f.at_ms, f.end_ms()));
        let (at_ms, duration_ms) = ctx.frame.draw(&mut rng, overlap);
        let kind = space::vary(base.kind, &mut rng);
        faults.push(Fault { target: base.target.clone(), kind, at_ms, duration_ms });
    }
    faults.sort();
    faults.dedup();
    faults
}

/// Runs units from `first` on, in waves, until their runs exceed what the
/// budget leaves or `limit` is reached; with `shard`, only its units (and
/// all of them up to `limit`: only the merge knows where the budget ends).
pub fn units(
    ctx: &Context,
    crit: &[Trial],
    settings: &Settings,
    left: u32,
    shard: Option<(usize, usize)>,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Vec<Unit>, String> {
    let limit = crit.len() + left as usize;
    let mine: Vec<usize> = (0..limit).filter(|i| shard.is_none_or(|(k, n)| i % n == k)).collect();
    let mut out: Vec<Unit> = Vec::new();
    let mut spent = 0u64;
    for wave in mine.chunks(WAVE) {
        let done: Vec<Unit> = wave
            .par_iter()
            .map(|&i| {
                let u = unit(ctx, crit, settings, i);
                progress(u.as_ref().map_or(0, |u| u64::from(u.runs)));
                u
            })
            .collect::<Result<_, _>>()?;
        spent += done.iter().map(|u| u64::from(u.runs)).sum::<u64>();
        out.extend(done);
        if shard.is_none() && spent > u64::from(left) {
            break;
        }
    }
    Ok(out)
}

/// The units the budget keeps: in index order while their runs fit.
fn kept(units: &[Unit], left: u32) -> (Vec<&Unit>, u32) {
    let mut sorted: Vec<&Unit> = units.iter().collect();
    sorted.sort_by_key(|u| u.index);
    let mut spent = 0u32;
    let mut out = Vec::new();
    for (expected, u) in sorted.into_iter().enumerate() {
        // A gap (a missing shard) ends what can be told for sure.
        if u.index != expected || spent + u.runs > left {
            break;
        }
        spent += u.runs;
        out.push(u);
    }
    (out, spent)
}

/// Findings told apart by what failed and how, not when.
fn key(t: &Trial) -> Vec<(Target, &'static str)> {
    let mut k: Vec<(Target, &'static str)> = t.faults.iter().map(|f| (f.target.clone(), f.kind.name())).collect();
    k.sort();
    k
}

impl Settings {
    /// `Trial::times_target` against this search's SLO.
    pub fn times_target(&self, t: &Trial) -> f64 {
        t.times_target(self.slo_success_rate, self.slo_p99_ms)
    }
}

/// How bad a trial is (worst first): SLO misses, then how far past its
/// target the worse objective is (`Trial::times_target`), then success,
/// then p99.
fn harm_order(s: &Settings, a: &Trial, b: &Trial) -> std::cmp::Ordering {
    b.slo_missed_runs
        .cmp(&a.slo_missed_runs)
        .then(s.times_target(b).total_cmp(&s.times_target(a)))
        .then(a.success_rate.mean.total_cmp(&b.success_rate.mean))
        .then(b.latency_ms_p99.mean.total_cmp(&a.latency_ms_p99.mean))
        .then_with(|| a.faults.cmp(&b.faults))
}

/// Puts a whole search together from its part(s).
pub fn finish(part: Part) -> Exploration {
    let left = part.settings.budget.saturating_sub(part.criticality_runs);
    let (units, spent) = kept(&part.units, left);
    let mut seen = Vec::new();
    let mut findings: Vec<Trial> = Vec::new();
    for t in units.iter().filter_map(|u| u.finding.as_ref()) {
        let k = key(t);
        if !seen.contains(&k) {
            seen.push(k);
            findings.push(t.clone());
        }
    }
    findings.sort_by(|a, b| {
        b.metastable()
            .cmp(&a.metastable())
            .then(a.faults.len().cmp(&b.faults.len()))
            .then_with(|| harm_order(&part.settings, a, b))
    });
    findings.truncate(MAX_FINDINGS);
    let minimal = findings
        .into_iter()
        .enumerate()
        .map(|(i, trial)| Finding { repro: format!("repro-{}.ron", i + 1), metastable: trial.metastable(), trial })
        .collect();
    let mut criticality = part.criticality;
    criticality.sort_by(|a, b| harm_order(&part.settings, a, b));
    Exploration {
        scenario: part.scenario,
        file: part.file,
        settings: part.settings,
        runs: part.criticality_runs + spent,
        notes: part.notes,
        baseline: part.baseline,
        criticality,
        minimal,
    }
}

/// Puts shards together: they must be of the same search, and complete.
pub fn merge(mut parts: Vec<Part>) -> Result<Part, String> {
    parts.sort_by_key(|p| p.shard.0);
    let first = parts.first().ok_or("no parts")?.clone();
    let n = first.shard.1;
    for (i, p) in parts.iter().enumerate() {
        let same = p.base_text == first.base_text
            && p.settings == first.settings
            && p.criticality == first.criticality
            && p.baseline == first.baseline
            && p.shard.1 == n;
        if !same {
            return Err(format!("shard {}/{} is of another search", p.shard.0, p.shard.1));
        }
        if p.shard.0 != i {
            return Err(format!("shard {i}/{n} is missing"));
        }
    }
    if parts.len() != n {
        return Err(format!("{} of {n} shards given", parts.len()));
    }
    let mut whole = first;
    whole.shard = (0, 1);
    whole.units = parts.into_iter().flat_map(|p| p.units).collect();
    whole.units.sort_by_key(|u| u.index);
    Ok(whole)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(index: usize, runs: u32) -> Unit {
        Unit { index, runs, finding: None }
    }

    #[test]
    fn the_budget_keeps_units_in_index_order_while_they_fit() {
        let units = vec![unit(2, 5), unit(0, 3), unit(1, 0), unit(3, 4)];
        let (kept_units, spent) = kept(&units, 8);
        assert_eq!(kept_units.iter().map(|u| u.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(spent, 8);
        // A gap (a missing shard's unit) stops the count there.
        let gap = [unit(0, 1), unit(2, 1)];
        let (kept_units, _) = kept(&gap, 10);
        assert_eq!(kept_units.len(), 1);
    }

    fn trial(success: f64, p99_ms: f64) -> Trial {
        use crate::batch::stats::{Estimate, Range};
        Trial {
            faults: Vec::new(),
            slo_met: false,
            runs: 3,
            slo_missed_runs: 3,
            first_missed: true,
            success_rate: Estimate::of(&[success; 3], Range::SHARE),
            latency_ms_p99: Estimate::of(&[p99_ms; 3], Range::NON_NEGATIVE),
            recovery_s: Estimate::default(),
            never_recovered_runs: 0,
            verdict: crate::chaos::Verdict::Spread,
        }
    }

    #[test]
    fn harm_is_how_far_past_the_slo_the_worse_objective_goes() {
        let s = Settings {
            budget: 10,
            max_faults: 1,
            replications: 3,
            seed: 1,
            slo_p99_ms: Some(500.0),
            slo_success_rate: Some(0.99),
        };
        // 1.5% failures where 1% is allowed: 1.5x; a p99 of 5 s against 500 ms: 10x.
        let (dip, slow) = (trial(0.985, 100.0), trial(0.995, 5000.0));
        assert!((s.times_target(&dip) - 1.5).abs() < 1e-9);
        assert!((s.times_target(&slow) - 10.0).abs() < 1e-9);
        assert_eq!(harm_order(&s, &slow, &dip), std::cmp::Ordering::Less, "the 10x p99 ranks first");
        // Without a p99 target, only the success rate counts.
        let success_only = Settings { slo_p99_ms: None, ..s.clone() };
        assert_eq!(success_only.times_target(&slow), 0.5);
        assert_eq!(harm_order(&success_only, &dip, &slow), std::cmp::Ordering::Less);
        // With a p99 objective alone, an outage (no success, so no p99 to
        // measure: 0 in the run's facts) is missed outright, not 0x.
        let p99_only = Settings { slo_success_rate: None, ..s.clone() };
        let outage = trial(0.0, 0.0);
        assert_eq!(p99_only.times_target(&outage), f64::INFINITY);
        assert_eq!(harm_order(&p99_only, &outage, &slow), std::cmp::Ordering::Less);
        // SLO misses still come first.
        let rarely = Trial { slo_missed_runs: 1, ..trial(0.5, 100.0) };
        assert_eq!(harm_order(&s, &dip, &rarely), std::cmp::Ordering::Less);
    }
}
