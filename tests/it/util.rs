//! Shared helpers: running scenarios through the library and the binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gatesim::metrics::Summary;

/// Parses, validates and runs scenario text; panics with the problems if invalid.
pub fn run_text(text: &str) -> Summary {
    let loaded = match gatesim::scenario::parse(text) {
        Ok(l) => l,
        Err(problems) => panic!("scenario does not validate: {problems:#?}"),
    };
    run_model(loaded.model)
}

/// Runs a model with the world's invariants checked at every tick (they
/// are on in debug builds only; the tests run in release).
pub fn run_model(mut model: gatesim::model::ModelConfig) -> Summary {
    model.check_invariants = true;
    let run = gatesim::model::simulate(model, &mut |_| {}).expect("run finishes");
    Summary::from_run(&run)
}

/// Runs the text with `seed` replacing the file's seed.
pub fn run_seeded(text: &str, seed: u64) -> Summary {
    let mut model = gatesim::scenario::parse(text).expect("valid").model;
    model.seed = seed;
    run_model(model)
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn scenario(name: &str) -> PathBuf {
    repo().join("scenarios").join(name)
}

/// Runs the gatesim binary with `args` (no stdin, not a terminal).
pub fn gatesim(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gatesim"));
    cmd.args(args).current_dir(repo());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("gatesim binary runs")
}

pub fn node<'a>(s: &'a Summary, name: &str) -> &'a gatesim::metrics::summary::NodeSummary {
    &s.nodes.0.iter().find(|(n, _)| n == name).unwrap_or_else(|| panic!("no node {name}")).1
}

/// Mean, standard error and the 95% half-width (Student t) of samples.
pub fn mean_ci95(xs: &[f64]) -> (f64, f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let se = (var / n).sqrt();
    (mean, se, t95(xs.len() - 1) * se)
}

/// Two-sided 95% Student-t quantiles for small degrees of freedom.
pub fn t95(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
    ];
    if df == 0 {
        f64::INFINITY
    } else if df <= 30 {
        T[df - 1]
    } else {
        1.96
    }
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}
