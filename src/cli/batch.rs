//! The batch commands: compare, sweep, merge. One path for all of them:
//! load and validate every input, run the (shard of the) job list in
//! parallel, then reduce a `RunsFile` into tables, files and plots.

use std::path::{Path, PathBuf};

use gatesim::batch::runs::{self, RunsFile};
use gatesim::batch::{compare, sweep};
use gatesim::model::config::ModelConfig;
use gatesim::report;

use super::{EXIT_BAD_INPUT, Outcome, load};

/// Options shared by compare and sweep.
#[derive(clap::Args, Debug)]
pub struct BatchOptions {
    /// Runs per input; replication i uses seed SEED + i in every input.
    #[arg(long, short = 'r', default_value_t = 5)]
    pub replications: u32,
    /// Base seed (default: the (first) file's seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder (default: output/compare-<names>/ or output/sweep-<name>/).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// No progress bar and no table.
    #[arg(long, short)]
    pub quiet: bool,
    /// Run only shard I of N (0-based) and write its runs.json; combine with `gatesim merge`.
    #[arg(long, value_parser = parse_shard)]
    pub shard: Option<(usize, usize)>,
}

/// Parses "I/N" (0-based I < N).
pub fn parse_shard(s: &str) -> Result<(usize, usize), String> {
    let (i, n) = s.split_once('/').ok_or("write --shard I/N, e.g. --shard 0/4 for the first of four shards")?;
    let (i, n): (usize, usize) =
        (i.trim().parse().map_err(|_| "I is not a number")?, n.trim().parse().map_err(|_| "N is not a number")?);
    if n == 0 || i >= n || n > runs::MAX_SHARDS {
        return Err(format!("shard {i}/{n}: need 0 <= I < N <= {}", runs::MAX_SHARDS));
    }
    Ok((i, n))
}

/// A write that failed: exit 2 for a refused `--out`, 3 for the file system.
pub(super) fn written(o: &mut Outcome, out: &Path, e: &report::folder::WriteError) -> Outcome {
    o.stderr.push_str(&format!("error: cannot write {}: {e}\n", out.display()));
    o.code = super::write_failed(e);
    std::mem::take(o)
}

/// A bad-input failure: the message, exit code 2.
pub(super) fn bad(o: &mut Outcome, msg: String) -> Outcome {
    o.stderr.push_str(&msg);
    o.code = EXIT_BAD_INPUT;
    std::mem::take(o)
}

pub fn compare(files: &[PathBuf], opts: &BatchOptions) -> Outcome {
    let mut o = Outcome::default();
    let mut models = Vec::new();
    let mut sources = Vec::new();
    for f in files {
        match load(f) {
            Ok((text, loaded)) => {
                models.push(loaded.model);
                sources.push(Source { text, warnings: loaded.warnings });
            }
            Err(e) => o.stderr.push_str(&e),
        }
    }
    if !o.stderr.is_empty() {
        o.code = EXIT_BAD_INPUT;
        return o;
    }
    match comparable(files, &models) {
        Ok(notes) => {
            if !opts.quiet {
                for (f, src) in files.iter().zip(&sources) {
                    super::warn(&mut o.stderr, f, &src.text, &src.warnings);
                }
            }
            o.stderr.extend(notes.iter().map(|n| format!("warning: {n}\n")));
        }
        Err(e) => return bad(&mut o, e),
    }
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let seed = opts.seed.unwrap_or(models[0].seed);
    let header = RunsFile {
        kind: "compare".into(),
        inputs: names.clone(),
        files: files.iter().map(|f| f.display().to_string()).collect(),
        parameters: Vec::new(),
        replications: opts.replications,
        base_seed: seed,
        resolution_s: models[0].resolution.as_secs_f64(),
        total_jobs: models.len() * opts.replications as usize,
        shard: (0, 1),
        runs: Vec::new(),
    };
    let out = opts.out.clone().unwrap_or_else(|| Path::new("output").join(format!("compare-{}", names.join("-vs-"))));
    run_batch(&models, &sources, header, &out, opts, &mut o)
}

/// What keeps `compare`'s inputs from being like for like. Refused: a
/// different time grid (health, blast radius and the charts are judged per
/// bucket, and the charts share one time axis) and a shared name (the
/// columns could not be told apart). Told: a different duration, warm-up
/// or client load, which every paired difference then includes.
fn comparable(files: &[PathBuf], models: &[ModelConfig]) -> Result<Vec<String>, String> {
    let file = |i: usize| files[i].display().to_string();
    let (first, mut notes) = (&models[0], Vec::new());
    for (i, m) in models.iter().enumerate().skip(1) {
        if m.resolution != first.resolution {
            return Err(format!(
                "error: {} is reported in buckets of {}, {} in buckets of {}: compare judges health and blast radius \
                 per bucket and draws every input on one time axis\n  hint: give every input the same `report: (resolution: ...)`\n",
                file(0),
                first.resolution,
                file(i),
                m.resolution
            ));
        }
        if let Some(j) = models[..i].iter().position(|o| o.name == m.name) {
            return Err(format!(
                "error: {} and {} are both named {:?}: their columns could not be told apart\n  hint: give each \
                 scenario its own `name`\n",
                file(j),
                file(i),
                m.name
            ));
        }
        if (m.duration, m.warmup) != (first.duration, first.warmup) {
            notes.push(format!(
                "{} runs {} after a {} warm-up, {} runs {} after {}: rates, percentiles and recoveries are measured \
                 over different windows",
                file(0),
                first.duration,
                first.warmup,
                file(i),
                m.duration,
                m.warmup
            ));
        }
        if client_loads(m) != client_loads(first) {
            notes.push(format!(
                "the clients of {} and {} differ (their names or load): every difference includes the load's",
                file(0),
                file(i)
            ));
        }
    }
    Ok(notes)
}

/// Each Clients node's name and load, in node order.
fn client_loads(m: &ModelConfig) -> Vec<(&str, &gatesim::model::config::Load)> {
    m.nodes
        .iter()
        .filter_map(|n| match &n.kind {
            gatesim::model::config::NodeKind::Clients(c) => Some((n.name.as_str(), &c.load)),
            _ => None,
        })
        .collect()
}

pub fn sweep(file: &Path, sets: &[String], opts: &BatchOptions) -> Outcome {
    let mut o = Outcome::default();
    let (text, loaded) = match load(file) {
        Ok(l) => l,
        Err(e) => return bad(&mut o, e),
    };
    if !opts.quiet {
        super::warn(&mut o.stderr, file, &text, &loaded.warnings);
    }
    let mut parameters = Vec::new();
    for s in sets {
        let Some((path, values)) = s.split_once('=') else {
            return bad(
                &mut o,
                format!("error: --set {s}: write PATH=V1,V2,... e.g. --set nodes.web.load.rps=500,1000\n"),
            );
        };
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).filter(|v| !v.is_empty()).collect();
        if values.is_empty() {
            return bad(&mut o, format!("error: --set {path}: no values\n"));
        }
        parameters.push((path.trim().to_string(), values));
    }
    let mut models = Vec::new();
    for point in sweep::grid(&parameters) {
        let mut t = text.clone();
        for ((path, _), value) in parameters.iter().zip(&point) {
            match gatesim::scenario::path::set(&t, path, value) {
                Ok(next) => t = next,
                Err(e) => return bad(&mut o, format!("error: {}: --set {path}={value}: {e}\n", file.display())),
            }
        }
        match gatesim::scenario::parse(&t) {
            Ok(l) => models.push(l.model),
            Err(problems) => {
                let label = format!("{} with {}", file.display(), describe(&parameters, &point));
                return bad(&mut o, super::render(&label, &t, &problems, "error"));
            }
        }
    }
    let name = loaded.model.name.clone();
    let header = RunsFile {
        kind: "sweep".into(),
        inputs: sweep::grid(&parameters).iter().map(|p| describe(&parameters, p)).collect(),
        files: vec![file.display().to_string()],
        parameters,
        replications: opts.replications,
        base_seed: opts.seed.unwrap_or(loaded.model.seed),
        resolution_s: loaded.model.resolution.as_secs_f64(),
        total_jobs: models.len() * opts.replications as usize,
        shard: (0, 1),
        runs: Vec::new(),
    };
    let out = opts.out.clone().unwrap_or_else(|| Path::new("output").join(format!("sweep-{name}")));
    run_batch(&models, &[], header, &out, opts, &mut o)
}

fn describe(parameters: &[(String, Vec<String>)], point: &[String]) -> String {
    parameters.iter().zip(point).map(|((p, _), v)| format!("{p}={v}")).collect::<Vec<_>>().join(" ")
}

/// A compare input's scenario text and validation warnings, for its report.
struct Source {
    text: String,
    warnings: Vec<gatesim::scenario::Problem>,
}

/// A report of replication 0 of every input, each in its own folder
/// ("reports/1-NAME"), made exactly as `gatesim run --seed SEED` makes it.
fn input_reports(models: &[ModelConfig], sources: &[Source], seed: u64) -> Result<Vec<Report>, String> {
    use rayon::prelude::*;
    models
        .par_iter()
        .zip(sources)
        .enumerate()
        .map(|(i, (model, source))| {
            let mut model = model.clone();
            model.seed = seed;
            let name = model.name.clone();
            let run = super::run_once(model, &source.text, &source.warnings, &mut |_| {})
                .map_err(|stop| format!("{name}: the run was stopped: {}", super::stop_message(&stop)))?;
            Ok(Report { dir: format!("reports/{}-{}", i + 1, folder_name(&name)), files: run.files })
        })
        .collect()
}

/// A scenario name as a folder name: letters, digits, `-`, `_` and `.`.
fn folder_name(name: &str) -> String {
    let s: String = name
        .chars()
        .take(60)
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
        .collect();
    s.trim_start_matches('.').to_string()
}

/// One input's report: its folder (relative to the batch's) and files.
pub struct Report {
    dir: String,
    files: Vec<(String, Vec<u8>)>,
}

fn run_batch(
    models: &[ModelConfig],
    sources: &[Source],
    mut header: RunsFile,
    out: &Path,
    opts: &BatchOptions,
    o: &mut Outcome,
) -> Outcome {
    if opts.replications == 0 || opts.replications > runs::MAX_REPLICATIONS {
        return bad(o, format!("error: --replications must be between 1 and {}\n", runs::MAX_REPLICATIONS));
    }
    let mut jobs = runs::jobs(models.len(), opts.replications, header.base_seed);
    if let Some((i, n)) = opts.shard {
        jobs.retain(|j| j.index % n == i);
        header.shard = (i, n);
    }
    let bar = super::progress_bar(opts.quiet, jobs.len() as u64, "{spinner} runs [{bar:40}] {pos}/{len} ({eta})");
    let runs = match runs::execute(models, &jobs, &bar) {
        Ok(r) => r,
        Err(e) => return bad(o, format!("error: {e}\n")),
    };
    bar.finish_and_clear();
    header.runs = runs;
    let raw = header.to_json();
    if opts.shard.is_some() {
        if let Err(e) = report::write_folder(out, &[("runs.json", raw)]) {
            return written(o, out, &e);
        }
        if !opts.quiet {
            o.stdout = format!(
                "wrote shard {}/{} ({} runs) to {}\nput shards together with: gatesim merge DIR... --out DIR\n",
                header.shard.0,
                header.shard.1,
                header.runs.len(),
                out.display()
            );
        }
        return std::mem::take(o);
    }
    let reports = match input_reports(models, sources, header.base_seed) {
        Ok(r) => r,
        Err(e) => return bad(o, format!("error: {e}\n")),
    };
    // Reduce from the serialised form, exactly as `merge` does.
    let file = RunsFile::from_json(std::str::from_utf8(&raw).expect("utf-8 json")).expect("own output parses");
    finish(&file, out, opts.quiet, reports, o)
}

/// Reduces a complete batch into its outputs; `reports` (compare only)
/// are written into their folders and linked from comparison.html.
pub fn finish(file: &RunsFile, out: &Path, quiet: bool, reports: Vec<Report>, o: &mut Outcome) -> Outcome {
    let mut files: Vec<(String, Vec<u8>)> = vec![("runs.json".into(), file.to_json())];
    let dirs: Vec<Option<String>> = reports.iter().map(|r| Some(r.dir.clone())).collect();
    for r in reports {
        files.extend(r.files.into_iter().map(|(name, bytes)| (format!("{}/{name}", r.dir), bytes)));
    }
    let (table, pictures) = if file.kind == "sweep" {
        let s = sweep::sweep(file);
        files.push(("sweep.json".into(), report::compare::sweep_json(&s)));
        files.push(("sweep.csv".into(), report::compare::sweep_csv(&s)));
        let table = report::compare::sweep_table(&s);
        let pictures = report::batch_plots::sweep_plots(&s).map(|mut p| {
            let svgs: Vec<(String, String)> = p
                .iter()
                .filter(|(n, _)| n.ends_with(".svg"))
                .map(|(n, b)| (n.clone(), String::from_utf8_lossy(b).into_owned()))
                .collect();
            p.push(("sweep.html".into(), report::sweep_page::sweep_html(&s, &table, &svgs).into_bytes()));
            p
        });
        (table, pictures)
    } else {
        let c = compare::compare(file);
        files.push(("comparison.json".into(), report::compare::comparison_json(&c)));
        files.push(("comparison.csv".into(), report::compare::comparison_csv(&c)));
        let table = report::compare::comparison_table(&c);
        let pictures = report::batch_plots::comparison_outputs(&c, file.resolution_s, &table, &dirs);
        (table, pictures)
    };
    match pictures {
        Ok(p) => files.extend(p),
        Err(e) => o.stderr.push_str(&format!("warning: no pictures: {e}\n")),
    }
    if let Err(e) = report::write_folder(out, &files) {
        return written(o, out, &e);
    }
    if !quiet {
        o.stdout = format!("{table}\nwrote {}\n", out.display());
    }
    std::mem::take(o)
}

pub fn merge(dirs: &[PathBuf], out: &Path, quiet: bool) -> Outcome {
    let mut o = Outcome::default();
    let mut parts = Vec::new();
    for d in dirs {
        let path = d.join("runs.json");
        let text = super::read_limited(&path, super::MAX_RESULT_BYTES)
            .and_then(|b| String::from_utf8(b).map_err(|_| "not UTF-8 text".to_string()));
        match text.and_then(|t| RunsFile::from_json(&t).map_err(|e| e.to_string())) {
            Ok(f) => parts.push(f),
            Err(e) => return bad(&mut o, format!("error: {}: {e}\n", path.display())),
        }
    }
    match RunsFile::merge(parts) {
        Ok(file) => finish(&file, out, quiet, Vec::new(), &mut o),
        Err(e) => bad(&mut o, format!("error: cannot merge: {e}\n")),
    }
}
