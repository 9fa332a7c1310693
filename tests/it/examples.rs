//! Every scenario in scenarios/ (including the design examples, copied
//! unchanged) validates and runs; the copies match the design folder.

use crate::conservation::assert_conserved;
use crate::util::{read, repo, run_text};

fn scenario_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_scenario_runs_and_conserves_requests() {
    let files = scenario_files();
    assert!(files.len() >= 8, "scenarios/ holds the examples and our own");
    for f in files {
        let s = run_text(&read(&f));
        assert!(s.requests.total > 0, "{}: no requests", f.display());
        assert_conserved(&s);
    }
}

#[test]
fn design_examples_are_copied_unchanged() {
    let design = repo().join("../shared/design/examples");
    let Ok(entries) = std::fs::read_dir(&design) else {
        eprintln!("no design folder beside the repo; skipping the comparison");
        return;
    };
    for e in entries {
        let p = e.unwrap().path();
        let copy = repo().join("scenarios").join(p.file_name().unwrap());
        assert_eq!(read(&p), read(&copy), "{} differs from the design example", copy.display());
    }
}
