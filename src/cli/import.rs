//! `gatesim import`: an Envoy bootstrap or trace files to a scenario,
//! checked by the scenario layer before it is written.

use std::path::{Path, PathBuf};

use gatesim::import::Imported;
use gatesim::import::traces;

use super::Outcome;

/// What `import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ImportFormat {
    /// An Envoy v3 static bootstrap (YAML).
    Envoy,
    /// OpenTelemetry OTLP/JSON traces (the collector's file exporter).
    Otlp,
    /// Jaeger JSON traces (the UI's download, the query API's /api/traces).
    Jaeger,
}

pub(super) struct Opts {
    pub(super) format: Option<ImportFormat>,
    pub(super) rps: f64,
    pub(super) sampled: f64,
    pub(super) workers_from_concurrency: bool,
}

fn bad(stderr: String) -> Outcome {
    Outcome { stderr, code: super::EXIT_BAD_INPUT, ..Outcome::default() }
}

pub(super) fn import(files: &[PathBuf], out: Option<&Path>, opts: &Opts) -> Outcome {
    let yaml = |f: &PathBuf| f.extension().is_some_and(|e| e == "yaml" || e == "yml");
    let envoy = opts.format.map_or_else(|| files.iter().any(yaml), |f| f == ImportFormat::Envoy);
    let imported = if envoy {
        let [file] = files else { return bad("error: import reads one Envoy file at a time\n".into()) };
        envoy_import(file, opts.rps)
    } else {
        trace_import(files, opts)
    };
    let (imported, origin) = match imported {
        Ok(i) => i,
        Err(o) => return o,
    };
    let mut o = Outcome::default();
    for w in &imported.warnings {
        o.stderr.push_str(&format!("warning: {origin}: {w}\n"));
    }
    // What the importer wrote must be a valid scenario like any other.
    let checked = match gatesim::scenario::parse(&imported.scenario) {
        Ok(loaded) => loaded.warnings.len(),
        Err(problems) => {
            let shown: Vec<String> = problems.iter().map(|p| format!("  {}", p.message)).collect();
            return bad(format!(
                "error: {origin}: the imported scenario does not validate:\n{}\n  hint: the values come from the input; check them\n",
                shown.join("\n")
            ));
        }
    };
    write(o, &imported, out, checked)
}

/// `checked`: the warnings `gatesim validate` gives the scenario written.
fn write(mut o: Outcome, imported: &Imported, out: Option<&Path>, checked: usize) -> Outcome {
    match out {
        None => o.stdout = imported.scenario.clone(),
        Some(path) if path.exists() => {
            return bad(format!("error: {} exists; import writes a new file only\n", path.display()));
        }
        Some(path) => match std::fs::write(path, &imported.scenario) {
            Ok(()) => {
                let validate = match checked {
                    0 => String::new(),
                    n => format!("; `gatesim validate {}` has {n} more about the scenario itself", path.display()),
                };
                let n = imported.warnings.len();
                o.stderr.push_str(&format!("wrote {} ({n} import warnings{validate})\n", path.display()));
            }
            Err(e) => {
                return Outcome {
                    stderr: format!("error: {}: {e}\n", path.display()),
                    code: super::EXIT_WRITE_FAILED,
                    ..Outcome::default()
                };
            }
        },
    }
    o
}

fn envoy_import(file: &Path, rps: f64) -> Result<(Imported, String), Outcome> {
    let name = file.display().to_string();
    if !(rps.is_finite() && rps > 0.0) {
        return Err(bad(format!("error: --rps {rps} must be a number above 0\n")));
    }
    let text = match super::read_limited(file, super::MAX_SCENARIO_BYTES) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|_| {
            bad(format!("error: {name}: the file is not UTF-8 text\n  hint: an Envoy bootstrap is YAML\n"))
        })?,
        Err(e) => return Err(bad(format!("error: {e}\n  hint: check the path\n"))),
    };
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("envoy");
    let opts = gatesim::import::envoy::Options { rps };
    match gatesim::import::envoy::import(&text, stem, &opts) {
        Ok(i) => Ok((i, name)),
        Err(e) => Err(bad(format!(
            "error: {name}: {e}\n  hint: gatesim reads an Envoy v3 static bootstrap (static_resources)\n"
        ))),
    }
}

/// Reads every trace file as a stream (no size limit: memory does not
/// grow with the file).
fn trace_import(files: &[PathBuf], opts: &Opts) -> Result<(Imported, String), Outcome> {
    if !(opts.sampled.is_finite() && opts.sampled > 0.0 && opts.sampled <= 1.0) {
        return Err(bad(format!("error: --sampled {} must be a share above 0 and at most 1\n", opts.sampled)));
    }
    let format = match opts.format {
        Some(ImportFormat::Otlp) => Some(traces::Format::Otlp),
        Some(ImportFormat::Jaeger) => Some(traces::Format::Jaeger),
        _ => None,
    };
    let t_opts =
        traces::Options { format, sampled: opts.sampled, workers_from_concurrency: opts.workers_from_concurrency };
    let mut importer = traces::Importer::new(t_opts);
    for file in files {
        let name = file.display().to_string();
        let reader = std::fs::File::open(file)
            .map_err(|e| bad(format!("error: cannot read {name}: {e}\n  hint: check the path\n")))?;
        importer.add(reader).map_err(|e| {
            bad(format!(
                "error: {name}: {e}\n  hint: gatesim reads OTLP/JSON ({{\"resourceSpans\": ...}}, one per line or one per file) and Jaeger JSON ({{\"data\": [...]}})\n"
            ))
        })?;
    }
    let origin = match files {
        [one] => one.display().to_string(),
        _ => format!("{} trace files", files.len()),
    };
    let stem = files[0].file_stem().and_then(|s| s.to_str()).unwrap_or("traces");
    let stem = stem.split('.').next().unwrap_or(stem);
    importer.finish(stem).map(|i| (i, origin.clone())).map_err(|e| bad(format!("error: {origin}: {e}\n")))
}
