//! `gatesim import`: an Envoy bootstrap to a scenario, checked by the
//! scenario layer before it is written.

use std::path::Path;

use super::Outcome;

pub(super) fn import(file: &Path, out: Option<&Path>, rps: f64) -> Outcome {
    let bad = |stderr: String| Outcome { stderr, code: super::EXIT_BAD_INPUT, ..Outcome::default() };
    let name = file.display().to_string();
    if !(rps.is_finite() && rps > 0.0) {
        return bad(format!("error: --rps {rps} must be a number above 0\n"));
    }
    let text = match super::read_limited(file, super::MAX_SCENARIO_BYTES) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(_) => {
                return bad(format!("error: {name}: the file is not UTF-8 text\n  hint: an Envoy bootstrap is YAML\n"));
            }
        },
        Err(e) => return bad(format!("error: {e}\n  hint: check the path\n")),
    };
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("envoy");
    let imported = match gatesim::import::envoy::import(&text, stem, &gatesim::import::envoy::Options { rps }) {
        Ok(i) => i,
        Err(e) => {
            return bad(format!(
                "error: {name}: {e}\n  hint: gatesim reads an Envoy v3 static bootstrap (static_resources)\n"
            ));
        }
    };
    let mut o = Outcome::default();
    for w in &imported.warnings {
        o.stderr.push_str(&format!("warning: {name}: {w}\n"));
    }
    // What the importer wrote must be a valid scenario like any other.
    if let Err(problems) = gatesim::scenario::parse(&imported.scenario) {
        let shown: Vec<String> = problems.iter().map(|p| format!("  {}", p.message)).collect();
        return bad(format!(
            "error: {name}: the imported scenario does not validate:\n{}\n  hint: the values come from the Envoy file; check them\n",
            shown.join("\n")
        ));
    }
    match out {
        None => o.stdout = imported.scenario,
        Some(path) if path.exists() => {
            return bad(format!("error: {} exists; import writes a new file only\n", path.display()));
        }
        Some(path) => match std::fs::write(path, &imported.scenario) {
            Ok(()) => o.stderr.push_str(&format!("wrote {} ({} warnings)\n", path.display(), imported.warnings.len())),
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
