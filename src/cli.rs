//! The command line: clap definitions, loading files, running commands.
//! Returns what to print and the exit code; `main` does the printing.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, SourceSpan};

mod batch;
mod explore;
mod import;
mod init;

use import::ImportFormat;

use gatesim::engine::StopReason;
use gatesim::metrics::Summary;
use gatesim::report;
use gatesim::scenario::{self, Locus, Problem, line_col, locate};

#[derive(Parser, Debug)]
#[command(
    name = "gatesim",
    version,
    about = "Deterministic simulator of API-gateway architectures under failure",
    long_about = "Deterministic simulator of API-gateway architectures under failure.\n\n\
        Describe clients, load balancers, gateways and services in a RON scenario file, with a \
        resilience policy on every call (timeouts, retries, breakers, bulkheads, rate limits, \
        fallbacks) and the faults to inject; gatesim simulates it and shows how the failure spreads \
        or is contained. The file format: docs/scenario-reference.md.",
    after_help = "Start here:\n  \
        gatesim run scenarios/quickstart.ron     # then open output/quickstart/report.html\n  \
        gatesim init > my.ron                    # a commented scenario to edit\n\n\
        Exit codes: 0 ran; 1 --fail-on-slo and the SLO was missed; 2 bad input (nothing written); \
        3 results could not be written."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Simulate one scenario and write its results.
    #[command(after_help = "Examples:\n  \
        gatesim run scenarios/quickstart.ron\n  \
        gatesim run my.ron --seed 42 --out results/my-42 --fail-on-slo\n\n\
        Writes summary.json, run.json, timeseries.csv, the pictures and report.html.")]
    Run {
        /// The scenario file (RON).
        file: PathBuf,
        /// Replace the file's seed (same file + same seed = identical results).
        #[arg(long)]
        seed: Option<u64>,
        /// Output folder (default: output/<scenario name>/); replaced only if gatesim wrote it.
        #[arg(long)]
        out: Option<PathBuf>,
        /// No progress bar and no summary table (an SLO failure with --fail-on-slo is still told).
        #[arg(long, short)]
        quiet: bool,
        /// Exit with code 1 when the scenario's SLO is missed (for CI).
        #[arg(long)]
        fail_on_slo: bool,
    },
    /// Print a commented starting scenario to edit.
    #[command(after_help = "Examples:\n  \
        gatesim init > my.ron && gatesim run my.ron\n  \
        gatesim init bff > bff.ron")]
    Init {
        /// The architecture to start from.
        #[arg(value_enum, default_value_t = init::Template::Single)]
        template: init::Template,
    },
    /// Redraw every picture and report.html of a run from its saved files.
    #[command(after_help = "Example:\n  gatesim plot output/quickstart")]
    Plot {
        /// A run's output folder (with summary.json and timeseries.csv).
        dir: PathBuf,
    },
    /// Write a scenario from an Envoy bootstrap (YAML) or from traces (OTLP/JSON, Jaeger JSON).
    #[command(after_help = "Examples:\n  \
        gatesim import envoy.yaml > mine.ron && gatesim run mine.ron\n  \
        gatesim import scenarios/envoy/front-proxy.yaml --rps 2000 --out front.ron\n  \
        gatesim import scenarios/traces/shop.otlp.json --out shop.ron\n  \
        gatesim import traces-*.json --sampled 0.01 --workers-from-concurrency\n\n\
        Envoy: listeners with an HTTP connection manager become a Gateway, their routes (prefix or \
        path, timeout, retry_policy, weighted_clusters as a split) its routes, the clusters they name \
        Services (replicas from the endpoints, lb_policy, circuit_breakers, outlier_detection), the \
        local_ratelimit filter a rate limit and the adaptive_concurrency filter the gateway's adaptive \
        limit; every field not imported is listed as a warning.\n\n\
        Traces (.json, read as a stream): services become nodes (replicas from service.instance.id \
        or host.name), the service that begins most requests a Gateway when it proxies (one call per \
        request), calls and their steps (parallel where they overlap) from the span tree, work from \
        each span's own time, the load and route mix from the first spans, errors from span status. \
        \n\nWhat the input cannot say (load for Envoy; workers, queues, timeouts for traces) is a \
        default marked `// default:`.")]
    Import {
        /// An Envoy bootstrap (.yaml/.yml), or one or more trace files (.json).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// The input's format; by default from the extension (.yaml: envoy) and the first bytes.
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
        /// Write the scenario here (a new file) instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Envoy: the clients' request rate to assume (an Envoy config has none).
        #[arg(long, default_value_t = 100.0)]
        rps: f64,
        /// Traces: the share of requests that were traced (head sampling); the measured load is divided by it.
        #[arg(long, default_value_t = 1.0)]
        sampled: f64,
        /// Traces: workers per instance from the peak concurrency seen (100 ms means), not a default.
        #[arg(long)]
        workers_from_concurrency: bool,
    },
    /// Parse and check scenario files without running them.
    #[command(after_help = "Examples:\n  \
        gatesim validate my.ron\n  \
        gatesim validate scenarios/*.ron\n\n\
        Prints every problem with file:line:column and a hint; warnings (no timeout, retries \
        without backoff, ...) do not fail.")]
    Validate {
        /// Scenario files (RON) to check; each is reported on its own.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Run several scenarios side by side over replications (common random numbers).
    #[command(after_help = "Examples:\n  \
        gatesim compare scenarios/arch-single.ron scenarios/arch-bff.ron scenarios/arch-mesh.ron\n  \
        gatesim compare a.ron b.ron -r 20 --out results/a-vs-b\n\n\
        Replication i runs every input with seed SEED + i, so equally named clients send the same \
        requests at the same times. Writes comparison.html, comparison.csv and runs.json.")]
    Compare {
        /// Two or more scenario files (RON), one per architecture.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        batch: batch::BatchOptions,
    },
    /// Vary parameters of one scenario: --set PATH=V1,V2,... (twice for a grid).
    #[command(after_help = "Examples:\n  \
        gatesim sweep scenarios/retry-storm.ron --set nodes.app.policy.retries.max=0,1,2,3\n  \
        gatesim sweep my.ron --set nodes.gw.workers=32,64 --set 'faults[0].duration=5s,20s'\n\n\
        With two --set flags every combination runs, and sweep.html draws a heatmap of verdicts \
        and time to recover over the grid.")]
    Sweep {
        /// The scenario file (RON) to vary.
        file: PathBuf,
        /// PATH=V1,V2,...: a field of the scenario and the values to try. PATH names the
        /// field: `duration`, `nodes.NAME.field.sub`, `faults[0].kind` (README, "Sweeps").
        #[arg(long = "set", required = true, value_name = "PATH=V1,V2,...")]
        sets: Vec<String>,
        #[command(flatten)]
        batch: batch::BatchOptions,
    },
    /// Find the faults that break the scenario's SLO: rank single faults, shrink breaking sets.
    #[command(after_help = "Examples:\n  \
        gatesim explore scenarios/quickstart.ron\n  \
        gatesim explore my.ron --budget 2000 --max-faults 3 -r 5 --out results/explore\n\n\
        Tries every single fault (each node and replica: crash, hang, slow x10, 50% errors; each \
        link: partition), then random sets of up to --max-faults faults, and shrinks every set that \
        breaks the SLO to a minimal one (fewer, shorter, milder, later). Writes explore.json, \
        explore.html and repro-N.ron (gatesim run repro-N.ron --fail-on-slo exits 1). The \
        scenario needs an slo; its own faults and chaos are left out.")]
    Explore {
        /// The scenario file (RON), with an `slo`.
        file: PathBuf,
        #[command(flatten)]
        opts: explore::ExploreOptions,
    },
    /// Put the shards of a compare, sweep or explore back together.
    #[command(after_help = "Example:\n  \
        gatesim compare a.ron b.ron -r 100 --shard 0/2 --out s0   # on one machine\n  \
        gatesim compare a.ron b.ron -r 100 --shard 1/2 --out s1   # on another\n  \
        gatesim merge s0 s1 --out results/a-vs-b")]
    Merge {
        /// The shard folders (each with its runs.json or explore-part.json), in any order.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
        /// Where to write the merged results (tables, runs.json, pictures).
        #[arg(long, required = true)]
        out: PathBuf,
        /// No table on stdout.
        #[arg(long, short)]
        quiet: bool,
    },
}

/// Exit codes (outputs.md): 0 ran, 1 SLO missed with --fail-on-slo, 2 bad
/// input, 3 results could not be written.
pub const EXIT_SLO_MISSED: u8 = 1;
pub const EXIT_BAD_INPUT: u8 = 2;
/// The run went well but its results could not be written (disk full, no permission).
pub const EXIT_WRITE_FAILED: u8 = 3;

/// The exit code for a failed write: a refused `--out` is bad input, a
/// failing file system is not.
pub fn write_failed(e: &report::folder::WriteError) -> u8 {
    match e {
        report::folder::WriteError::Refused { .. } => EXIT_BAD_INPUT,
        report::folder::WriteError::Io(_) => EXIT_WRITE_FAILED,
    }
}

/// The result of a command: text for stdout and stderr, and the exit code.
#[derive(Default)]
pub struct Outcome {
    pub stdout: String,
    pub stderr: String,
    pub code: u8,
}

pub fn execute(cli: Cli) -> Outcome {
    match cli.command {
        Command::Run { file, seed, out, quiet, fail_on_slo } => run(&file, seed, out.as_deref(), quiet, fail_on_slo),
        Command::Validate { files } => validate(&files),
        Command::Import { files, format, out, rps, sampled, workers_from_concurrency } => {
            let opts = import::Opts { format, rps, sampled, workers_from_concurrency };
            import::import(&files, out.as_deref(), &opts)
        }
        Command::Init { template } => Outcome { stdout: template.text().to_string(), ..Outcome::default() },
        Command::Plot { dir } => plot(&dir),
        Command::Compare { files, batch } => batch::compare(&files, &batch),
        Command::Sweep { file, sets, batch } => batch::sweep(&file, &sets, &batch),
        Command::Explore { file, opts } => explore::explore(&file, &opts),
        Command::Merge { dirs, out, quiet } => match explore::parts(&dirs) {
            Some(Ok(parts)) => explore::merge(parts, &out, quiet),
            Some(Err(e)) => Outcome { stderr: format!("error: {e}\n"), code: EXIT_BAD_INPUT, ..Outcome::default() },
            None => batch::merge(&dirs, &out, quiet),
        },
    }
}

/// Largest scenario file read (a scenario is a page or two of text).
pub const MAX_SCENARIO_BYTES: u64 = 64 << 20;
/// Largest results file read back (summary.json, timeseries.csv, runs.json).
pub const MAX_RESULT_BYTES: u64 = 1 << 30;

/// Reads a file of at most `max` bytes; a larger one is refused unread.
pub fn read_limited(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(max + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if bytes.len() as u64 > max {
        return Err(format!("{} is larger than {} MB, more than gatesim reads", path.display(), max >> 20));
    }
    Ok(bytes)
}

/// Reads and validates a scenario, or renders every problem found.
pub fn load(path: &Path) -> Result<(String, scenario::Loaded), String> {
    let name = path.display().to_string();
    let bytes = read_limited(path, MAX_SCENARIO_BYTES)
        .map_err(|e| format!("error: {e}\n  hint: check the path; a scenario is a RON text file\n\n"))?;
    let text = String::from_utf8(bytes).map_err(|_| {
        format!("error: {name}: the file is not UTF-8 text\n  hint: a scenario is a RON text file, e.g. scenarios/quickstart.ron\n\n")
    })?;
    match scenario::parse(&text) {
        Ok(loaded) => Ok((text, loaded)),
        Err(problems) => Err(render(&name, &text, &problems, "error")),
    }
}

#[derive(Debug, thiserror::Error, Diagnostic)]
#[error("{message}")]
struct Located {
    message: String,
    #[source_code]
    src: Excerpt,
    #[label("here")]
    span: Option<SourceSpan>,
    #[help]
    help: Option<String>,
}

/// The few lines around a problem, for miette's snippet: the whole file is
/// not handed over (a long file with many problems would be copied each
/// time), and lines too long to show are not shown at all (miette cannot
/// place a column past 65,535, and nobody reads a 70 KB line).
#[derive(Debug)]
struct Excerpt {
    name: String,
    text: String,
    /// Line number (0-based) of the excerpt's first line in the file.
    first_line: usize,
}

/// Lines of context on either side of the problem's line.
const CONTEXT_LINES: usize = 2;
/// Lines longer than this are not drawn.
const MAX_SNIPPET_LINE: usize = 400;

impl Excerpt {
    /// The excerpt around bytes `off..off + len` of `text`, and the span
    /// within it; `None` when a line is too long to show.
    fn around(file: &str, text: &str, off: usize, len: usize) -> Option<(Excerpt, SourceSpan)> {
        let off = off.min(text.len());
        let line_start = text[..off].rfind('\n').map_or(0, |i| i + 1);
        let line = text[..line_start].matches('\n').count();
        let mut start = line_start;
        for _ in 0..CONTEXT_LINES {
            if start == 0 {
                break;
            }
            start = text[..start - 1].rfind('\n').map_or(0, |i| i + 1);
        }
        let first_line = line - text[start..line_start].matches('\n').count();
        let mut end = off;
        for _ in 0..=CONTEXT_LINES {
            match text[end..].find('\n') {
                Some(i) => end += i + 1,
                None => {
                    end = text.len();
                    break;
                }
            }
        }
        let excerpt = &text[start..end];
        if excerpt.lines().any(|l| l.chars().count() > MAX_SNIPPET_LINE) {
            return None;
        }
        let len = len.min(end - off);
        let span = SourceSpan::new((off - start).into(), len);
        Some((Excerpt { name: file.to_string(), text: excerpt.to_string(), first_line }, span))
    }
}

impl miette::SourceCode for Excerpt {
    fn read_span<'a>(
        &'a self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self.text.as_str().read_span(span, before, after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            inner.data(),
            *inner.span(),
            inner.line() + self.first_line,
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// Problems told one by one; past this many the rest are counted. Placing
/// one costs a pass over the file, and nobody reads 10,000 distinct
/// problems: the first ones say what to fix.
const MAX_TOLD: usize = 200;

/// Validate's warnings about `file`, as every command that reads a
/// scenario tells them (nothing when there are none).
fn warn(stderr: &mut String, file: &Path, text: &str, warnings: &[Problem]) {
    if !warnings.is_empty() {
        stderr.push_str(&render(&file.display().to_string(), text, warnings, "warning"));
    }
}

/// One block per problem: a plain `file:line:col: severity: message` line
/// (greppable, editor-clickable), then miette's snippet of the source.
pub fn render(file: &str, text: &str, problems: &[Problem], severity: &str) -> String {
    let mut theme =
        if std::io::stderr().is_terminal() { GraphicalTheme::unicode() } else { GraphicalTheme::unicode_nocolor() };
    // The message is printed once, on the `error: FILE:LINE:COL` line: the
    // box draws no "× message" header of its own.
    theme.characters.error = String::new();
    let handler = GraphicalReportHandler::new_themed(theme);
    let mut out = String::new();
    for p in problems.iter().take(MAX_TOLD) {
        let span = locate(text, &p.locus);
        let place = match place(text, &p.locus) {
            Place::LineCol(l, c) => format!("{file}:{l}:{c}"),
            Place::Name(name) => format!("{file}: {name}"),
        };
        let where_ = match &p.locus {
            Locus::Node { node, .. } => format!(" (node \"{node}\")"),
            _ => String::new(),
        };
        out.push_str(&format!("{severity}: {place}: {}{where_}\n", p.message));
        if let Some(h) = &p.hint {
            out.push_str(&format!("  hint: {h}\n"));
        }
        if let (Some((off, len)), "error") = (span, severity)
            && let Some((src, span)) = Excerpt::around(file, text, off, len)
        {
            // The message is on the line above: the box only points at the place.
            let diag = Located { message: String::new(), src, span: Some(span), help: None };
            let mut snippet = String::new();
            if handler.render_report(&mut snippet, &diag).is_ok() {
                out.extend(snippet.lines().skip_while(|l| l.trim().is_empty()).map(|l| format!("{l}\n")));
            }
        }
        out.push('\n');
    }
    if problems.len() > MAX_TOLD {
        out.push_str(&format!(
            "{severity}: {file}: and {} more {severity}s not shown (the first {MAX_TOLD} are above)\n\n",
            problems.len() - MAX_TOLD
        ));
    }
    out
}

/// Where a problem is: a line and column, or a node or field name.
enum Place {
    LineCol(usize, usize),
    Name(String),
}

fn place(text: &str, locus: &Locus) -> Place {
    match (locate(text, locus), locus) {
        (Some((off, _)), _) => {
            let (l, c) = line_col(text, off);
            Place::LineCol(l, c)
        }
        (None, Locus::Node { node, .. }) => Place::Name(format!("node \"{node}\"")),
        (None, Locus::Field { field, .. }) => Place::Name(field.clone()),
        (None, Locus::Span { line, col, .. }) => Place::LineCol(*line, *col),
    }
}

/// Validation warnings as summary.json carries them.
fn summary_warnings(text: &str, problems: &[Problem]) -> Vec<gatesim::metrics::summary::Warning> {
    let more = problems.len().saturating_sub(MAX_TOLD);
    let rest = (more > 0).then(|| gatesim::metrics::summary::Warning {
        place: String::new(),
        message: format!("and {more} more warnings not listed (the first {MAX_TOLD} are above)"),
        hint: None,
    });
    problems
        .iter()
        .take(MAX_TOLD)
        .map(|p| {
            let at = match place(text, &p.locus) {
                Place::LineCol(l, c) => format!("line {l}:{c}"),
                Place::Name(n) => n,
            };
            let node = match &p.locus {
                Locus::Node { node, .. } if !at.starts_with("node") => format!(" (node \"{node}\")"),
                _ => String::new(),
            };
            gatesim::metrics::summary::Warning {
                place: format!("{at}{node}"),
                message: p.message.clone(),
                hint: p.hint.clone(),
            }
        })
        .chain(rest)
        .collect()
}

fn validate(files: &[PathBuf]) -> Outcome {
    let mut o = Outcome::default();
    for f in files {
        match load(f) {
            Ok((text, loaded)) => {
                let m = &loaded.model;
                let counts = [
                    (m.nodes.len(), "node"),
                    (m.instances.len(), "instance"),
                    (m.edges.len(), "edge"),
                    (m.faults.len(), "fault"),
                ]
                .map(|(n, what)| format!("{n} {what}{}", if n == 1 { "" } else { "s" }));
                o.stdout.push_str(&format!("ok: {} ({})\n", f.display(), counts.join(", ")));
                warn(&mut o.stderr, f, &text, &loaded.warnings);
            }
            Err(e) => {
                o.stderr.push_str(&e);
                o.code = EXIT_BAD_INPUT;
            }
        }
    }
    o
}

fn run(file: &Path, seed: Option<u64>, out: Option<&Path>, quiet: bool, fail_on_slo: bool) -> Outcome {
    let mut o = Outcome::default();
    let (text, mut loaded) = match load(file) {
        Ok(l) => l,
        Err(e) => {
            o.stderr = e;
            o.code = EXIT_BAD_INPUT;
            return o;
        }
    };
    if let Some(s) = seed {
        loaded.model.seed = s;
    }
    let loaded_warnings = std::mem::take(&mut loaded.warnings);
    if !quiet {
        warn(&mut o.stderr, file, &text, &loaded_warnings);
    }
    let out_dir = out.map(Path::to_path_buf).unwrap_or_else(|| Path::new("output").join(&loaded.model.name));
    // Refuse a foreign --out now, not after a long run.
    if let Err(e) = report::check_target(&out_dir) {
        o.stderr.push_str(&format!("error: cannot write {}: {e}\n", out_dir.display()));
        o.code = write_failed(&e);
        return o;
    }
    let duration_ms = loaded.model.duration.as_nanos() / 1_000_000;
    let bar = progress_bar(quiet, duration_ms, "{spinner} simulating [{bar:40}] {pos}/{len} ms simulated ({eta})");
    let result = run_once(loaded.model, &text, &loaded_warnings, &mut |t| bar.set_position(t.as_nanos() / 1_000_000));
    bar.finish_and_clear();
    let Run { summary, files, wall, picture_error, trace_note } = match result {
        Ok(run) => run,
        Err(stop) => {
            o.stderr = format!("error: {}: the run was stopped: {}\n", file.display(), stop_message(&stop));
            o.code = EXIT_BAD_INPUT;
            return o;
        }
    };
    if let Some(e) = picture_error {
        o.stderr.push_str(&format!("warning: no pictures: {e}\n"));
    }
    if let Err(e) = report::write_folder(&out_dir, &files) {
        o.stderr = format!("error: cannot write {}: {e}\n", out_dir.display());
        o.code = write_failed(&e);
        return o;
    }
    if !quiet {
        o.stdout = report::table::summary_table(&summary);
        o.stdout.push_str(&format!(
            "\nwrote {} ({:.2}s wall simulating, {:.2}M events/s)\n",
            out_dir.display(),
            wall,
            summary.events as f64 / wall / 1e6
        ));
        if let Some(note) = &trace_note {
            o.stdout.push_str(&format!("{note}\n"));
        }
    }
    if fail_on_slo && summary.slo.met == Some(false) {
        o.code = EXIT_SLO_MISSED;
        if quiet {
            // Even a quiet run says why it exits 1.
            o.stdout = report::table::slo_line(&summary).unwrap_or_default() + "\n";
        }
    }
    o
}

/// One run as `gatesim run` writes it.
struct Run {
    summary: Summary,
    /// Every file of its output folder.
    files: Vec<(String, Vec<u8>)>,
    /// Wall seconds to simulate and summarise (pictures left out).
    wall: f64,
    /// What `report: (trace)` wrote, if it was on.
    trace_note: Option<String>,
    /// Why there are no pictures, if there are none.
    picture_error: Option<String>,
}

/// Simulates `model` (from the scenario `text`, which had `warnings`) and
/// makes everything its output folder holds.
fn run_once(
    model: gatesim::model::config::ModelConfig,
    text: &str,
    warnings: &[Problem],
    progress: &mut dyn FnMut(gatesim::engine::SimTime),
) -> Result<Run, StopReason> {
    let started = Instant::now();
    let run = gatesim::model::simulate(model, progress)?;
    let mut summary = Summary::from_run(&run);
    summary.warnings = summary_warnings(text, warnings);
    let json = report::summary_json(&summary);
    let csv = gatesim::metrics::timeseries_csv(&run);
    let trace_note = run.trace.as_ref().map(|t| t.note());
    let traces = [
        gatesim::metrics::trace::otlp_json(&run).map(|b| ("trace.json".to_string(), b)),
        gatesim::metrics::trace::perfetto_json(&run).map(|b| ("trace.perfetto.json".to_string(), b)),
    ];
    drop(run);
    let wall = started.elapsed().as_secs_f64();
    // Pictures are drawn from the saved bytes, exactly as `gatesim plot` would.
    let pictures = pictures(&json, &csv, Some(text));
    let mut files: Vec<(String, Vec<u8>)> = vec![
        ("summary.json".into(), json),
        ("run.json".into(), run_json(&summary, wall)),
        ("timeseries.csv".into(), csv),
        // The scenario as it ran (the report shows it; `--seed` is in summary.json).
        ("scenario.ron".into(), text.as_bytes().to_vec()),
    ];
    files.extend(traces.into_iter().flatten());
    let picture_error = match pictures {
        Ok(p) => {
            files.extend(p);
            None
        }
        Err(e) => Some(e),
    };
    Ok(Run { summary, files, wall, picture_error, trace_note })
}

fn pictures(summary_json: &[u8], csv: &[u8], source: Option<&str>) -> Result<Vec<(String, Vec<u8>)>, String> {
    let text = std::str::from_utf8(summary_json).map_err(|e| e.to_string())?;
    let data = report::plots::PlotData::from_outputs(text, csv).map_err(|e| e.to_string())?;
    let data = data.with_source(source.map(str::to_string));
    report::plots::render_all(&data).map_err(|e| e.to_string())
}

/// `gatesim plot DIR`: redraws pictures from summary.json and timeseries.csv.
fn plot(dir: &Path) -> Outcome {
    let mut o = Outcome::default();
    let read = |name: &str| read_limited(&dir.join(name), MAX_RESULT_BYTES);
    // The scenario's text is optional: older folders do not have it.
    let source =
        read_limited(&dir.join("scenario.ron"), MAX_SCENARIO_BYTES).ok().and_then(|b| String::from_utf8(b).ok());
    let result = read("summary.json")
        .and_then(|s| read("timeseries.csv").map(|c| (s, c)))
        .and_then(|(s, c)| pictures(&s, &c, source.as_deref()));
    let files = match result {
        Ok(f) => f,
        Err(e) => {
            o.stderr = format!(
                "error: cannot redraw {}: {e}\n  hint: give the output folder of a `gatesim run`\n",
                dir.display()
            );
            o.code = EXIT_BAD_INPUT;
            return o;
        }
    };
    for (name, bytes) in &files {
        if let Err(e) = report::replace_file(&dir.join(name), bytes) {
            o.stderr = format!("error: cannot write {}: {e}\n", dir.join(name).display());
            o.code = EXIT_WRITE_FAILED;
            return o;
        }
    }
    o.stdout = format!("redrew {} files in {}\n", files.len(), dir.display());
    o
}

fn stop_message(stop: &StopReason) -> String {
    match stop {
        StopReason::EventLimit { events, at } => format!(
            "{events} events by simulated {at}, the limit: something loops without time passing, or the run is far larger than expected \
             (raise limits: (max_events: ...) if it is intended)"
        ),
        StopReason::Model { reason, at } => format!("at simulated {at}: {reason}"),
        StopReason::EventRate { events, at } => format!(
            "{events} events within one simulated millisecond at {at}: time creeps on but the run would take for ever \
             (a timer or probe every few nanoseconds, or millions of requests per millisecond); \
             raise limits: (max_events_per_ms: ...) if it is intended"
        ),
        StopReason::Pending { events, at } => format!(
            "{events} timers and messages pending at once at {at}: the system holds more work than it can ever finish \
             (raise limits: (max_in_flight: ...) if it is intended)"
        ),
        StopReason::NoProgress { events, at } => format!(
            "{events} events at simulated {at} without time moving on: a loop with no delay in it \
             (e.g. closed-loop clients with zero think time retrying instant failures with no backoff); \
             add a think time, a backoff or a timeout"
        ),
    }
}

/// Wall-clock facts: kept out of summary.json so that stays byte-stable.
fn run_json(s: &Summary, wall_s: f64) -> Vec<u8> {
    let v = serde_json::json!({
        "scenario": s.scenario,
        "gatesim_version": env!("CARGO_PKG_VERSION"),
        "wall_s": wall_s,
        "events": s.events,
        "events_per_s": s.events as f64 / wall_s.max(1e-9),
        "client_requests_per_s": s.requests.total as f64 / wall_s.max(1e-9),
        "simulated_s_per_wall_s": s.duration_s / wall_s.max(1e-9),
    });
    let mut out = serde_json::to_vec_pretty(&v).expect("json");
    out.push(b'\n');
    out
}

/// A progress bar on stderr, or a hidden one with `--quiet` or when stderr
/// is not a terminal. `template` is indicatif's, e.g. "{pos}/{len} runs".
fn progress_bar(quiet: bool, total: u64, template: &str) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(ProgressStyle::with_template(template).expect("valid template").progress_chars("=> "));
    bar
}
