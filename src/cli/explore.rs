//! `gatesim explore`: the command around `batch::explore`, its output
//! folder (explore.json, explore.html, repro-N.ron and a report of each)
//! and its shards.

use std::path::{Path, PathBuf};

use gatesim::batch::explore::{self, Exploration, Part, Settings};
use gatesim::report;

use super::batch::{bad, written};
use super::{Outcome, load};

/// Limits on the options, so that a typo cannot ask for a week of runs.
const MAX_BUDGET: u32 = 1_000_000;
const MAX_FAULTS: u32 = 5;
const MAX_REPLICATIONS: u32 = 100;

#[derive(clap::Args, Debug)]
pub struct ExploreOptions {
    /// Runs at most, the criticality pass included.
    #[arg(long, default_value_t = 400)]
    pub budget: u32,
    /// Faults at most in one candidate set.
    #[arg(long, default_value_t = 2)]
    pub max_faults: u32,
    /// Replications of every fault set (seeds SEED, SEED+1, ...).
    #[arg(long, short = 'r', default_value_t = 3)]
    pub replications: u32,
    /// Base seed (default: the file's seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (default: output/explore-<name>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar and no table.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only shard I of N (0-based) and write its explore-part.json; combine with `gatesim merge`.
    #[arg(long, value_parser = super::batch::parse_shard)]
    pub shard: Option<(usize, usize)>,
}

fn check(opts: &ExploreOptions) -> Result<(), String> {
    if !(1..=MAX_BUDGET).contains(&opts.budget) {
        return Err(format!("--budget must be between 1 and {MAX_BUDGET}"));
    }
    if !(1..=MAX_FAULTS).contains(&opts.max_faults) {
        return Err(format!("--max-faults must be between 1 and {MAX_FAULTS}"));
    }
    if !(1..=MAX_REPLICATIONS).contains(&opts.replications) {
        return Err(format!("--replications must be between 1 and {MAX_REPLICATIONS}"));
    }
    Ok(())
}

pub fn explore(file: &Path, opts: &ExploreOptions) -> Outcome {
    let mut o = Outcome::default();
    if let Err(e) = check(opts) {
        return bad(&mut o, format!("error: {e}\n"));
    }
    let (text, loaded) = match load(file) {
        Ok(l) => l,
        Err(e) => return bad(&mut o, e),
    };
    let name = loaded.model.name.clone();
    let settings = Settings {
        budget: opts.budget,
        max_faults: opts.max_faults,
        replications: opts.replications,
        seed: opts.seed.unwrap_or(loaded.model.seed),
        slo_p99_ms: loaded.model.slo.p99.map(|d| d.as_nanos() as f64 / 1e6),
        slo_success_rate: loaded.model.slo.success_rate,
    };
    let (ctx, singles, notes) = match explore::prepare(&text, &settings) {
        Ok(p) => p,
        Err(e) => return bad(&mut o, format!("error: {}: {e}\n", file.display())),
    };
    let crit_runs = (singles.len() as u32 + 1) * settings.replications;
    if crit_runs > settings.budget {
        return bad(
            &mut o,
            format!(
                "error: --budget {} is less than the single-fault pass needs: ({} faults + the fault-free run) x {} replications \
                 = {crit_runs} runs\n  hint: raise --budget (the search needs more on top) or lower --replications\n",
                settings.budget,
                singles.len(),
                settings.replications
            ),
        );
    }
    let part = match search(file, &name, ctx, &singles, settings, notes, opts) {
        Ok(p) => p,
        Err(e) => return bad(&mut o, format!("error: {}: {e}\n", file.display())),
    };
    let out = opts.out.clone().unwrap_or_else(|| Path::new("output").join(format!("explore-{name}")));
    if let Some((i, n)) = opts.shard {
        let json = to_json(&part);
        if let Err(e) = report::write_folder(&out, &[("explore-part.json", json)]) {
            return written(&mut o, &out, &e);
        }
        if !opts.quiet {
            o.stdout = format!(
                "wrote shard {i}/{n} to {}\nput shards together with: gatesim merge DIR... --out DIR\n",
                out.display()
            );
        }
        return o;
    }
    finish(part, &out, opts.quiet, &mut o)
}

/// The search itself, with a progress bar: the fault-free runs, every
/// single fault, then the units (this shard's, with `--shard`).
fn search(
    file: &Path,
    name: &str,
    ctx: explore::search::Context,
    singles: &[(explore::space::Target, explore::space::Kind)],
    settings: Settings,
    mut notes: Vec<String>,
    opts: &ExploreOptions,
) -> Result<Part, String> {
    let bar =
        super::progress_bar(opts.quiet, u64::from(settings.budget), "{spinner} runs [{bar:40}] {pos}/{len} ({eta})");
    let result = explore::baseline(&ctx, &mut notes).and_then(|base| {
        let (crit, runs) = explore::criticality(&ctx, singles)?;
        let runs = runs + base.runs;
        bar.inc(u64::from(runs));
        let left = settings.budget - runs;
        let units = explore::units(&ctx, &crit, &settings, left, opts.shard, &|n| bar.inc(n))?;
        Ok((base, crit, runs, units))
    });
    bar.finish_and_clear();
    let (baseline, criticality, criticality_runs, units) = result?;
    Ok(Part {
        scenario: name.to_string(),
        file: file.display().to_string(),
        base_text: ctx.base_text,
        settings,
        notes,
        baseline,
        criticality,
        criticality_runs,
        shard: opts.shard.unwrap_or((0, 1)),
        units,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).expect("explore results serialise");
    out.push(b'\n');
    out
}

/// The replay scenario of every minimal set, and its run's files and story.
type Replays = Vec<(String, Vec<(String, Vec<u8>)>, Vec<String>)>;

fn replays(e: &Exploration, base_text: &str) -> Result<Replays, String> {
    use rayon::prelude::*;
    e.minimal
        .par_iter()
        .map(|m| {
            let mut faults = m.trial.faults.clone();
            faults.sort();
            let text = gatesim::scenario::path::set(base_text, "faults", &explore::space::faults_ron(&faults))?;
            let text = format!(
                "// Found by `gatesim explore` ({}): this fault set breaks the SLO.\n\
                 // Replay: gatesim run {} --fail-on-slo   (exits 1)\n{text}",
                e.file, m.repro
            );
            let loaded = gatesim::scenario::parse(&text).map_err(|_| format!("{} does not validate", m.repro))?;
            let run = super::run_once(loaded.model, &text, &loaded.warnings, &mut |_| {})
                .map_err(|stop| format!("{}: the run was stopped: {}", m.repro, super::stop_message(&stop)))?;
            Ok((text, run.files, run.summary.cascade.story))
        })
        .collect()
}

/// Writes a whole search's outputs (also the end of `merge`).
pub fn finish(part: Part, out: &Path, quiet: bool, o: &mut Outcome) -> Outcome {
    let base_text = part.base_text.clone();
    let e = explore::finish(part);
    let replays = match replays(&e, &base_text) {
        Ok(r) => r,
        Err(err) => return bad(o, format!("error: {err}\n")),
    };
    let stories: Vec<Vec<String>> = replays.iter().map(|r| r.2.clone()).collect();
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("explore.json".into(), to_json(&e)),
        ("explore.html".into(), report::explore_page::explore_html(&e, &stories).into_bytes()),
    ];
    for (m, (text, run_files, _)) in e.minimal.iter().zip(replays) {
        let stem = m.repro.trim_end_matches(".ron").to_string();
        files.push((m.repro.clone(), text.into_bytes()));
        files.extend(run_files.into_iter().map(|(n, b)| (format!("{stem}/{n}"), b)));
    }
    if let Err(err) = report::write_folder(out, &files) {
        return written(o, out, &err);
    }
    if !quiet {
        o.stdout = report::explore_page::explore_table(&e);
        o.stdout.push_str(&format!("\nwrote {} (open explore.html)\n", out.display()));
    }
    std::mem::take(o)
}

/// Reads the explore-part.json of every shard folder, if they are explore shards.
pub fn parts(dirs: &[PathBuf]) -> Option<Result<Vec<Part>, String>> {
    if !dirs.iter().all(|d| d.join("explore-part.json").is_file()) {
        return None;
    }
    Some(
        dirs.iter()
            .map(|d| {
                let path = d.join("explore-part.json");
                let bytes = super::read_limited(&path, super::MAX_RESULT_BYTES)?;
                serde_json::from_slice::<Part>(&bytes).map_err(|e| format!("{}: {e}", path.display()))
            })
            .collect(),
    )
}

/// `gatesim merge` of explore shards.
pub fn merge(parts: Vec<Part>, out: &Path, quiet: bool) -> Outcome {
    let mut o = Outcome::default();
    match explore::merge(parts) {
        Ok(whole) => finish(whole, out, quiet, &mut o),
        Err(e) => bad(&mut o, format!("error: cannot merge: {e}\n")),
    }
}
