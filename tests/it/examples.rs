//! Every scenario in scenarios/ (including the design examples, copied
//! unchanged, and the `init` templates) validates and runs; the copies
//! match the design folder; `gatesim init` prints the templates.

use crate::conservation::assert_conserved;
use crate::util::{read, repo, run_text};

/// scenarios/*.ron and the `gatesim init` templates in scenarios/templates/.
fn scenario_files() -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = ["scenarios", "scenarios/templates"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(repo().join(dir)).unwrap())
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

#[test]
fn init_prints_each_template_and_it_validates() {
    let dir = tempfile::tempdir().unwrap();
    for (name, file) in [
        ("single", "scenarios/templates/single.ron"),
        ("bff", "scenarios/templates/bff.ron"),
        ("mesh", "scenarios/templates/mesh.ron"),
        ("ha", "scenarios/templates/ha.ron"),
        ("chaos", "scenarios/templates/chaos.ron"),
    ] {
        let out = crate::util::gatesim(&["init", name], &[]);
        assert_eq!(out.status.code(), Some(0), "init {name}");
        assert_eq!(String::from_utf8_lossy(&out.stdout), read(&repo().join(file)), "init {name} prints {file}");
        let path = dir.path().join(format!("{name}.ron"));
        std::fs::write(&path, &out.stdout).unwrap();
        let v = crate::util::gatesim(&["validate", path.to_str().unwrap()], &[]);
        assert_eq!(v.status.code(), Some(0), "{}", String::from_utf8_lossy(&v.stderr));
    }
    // The chaos template is scenarios/chaos-random.ron under its own name: the same system.
    let body = |f: &str| {
        let text = read(&repo().join(f));
        let from = text.find("Scenario(").expect("a scenario");
        text[from..].lines().filter(|l| !l.trim_start().starts_with("name:")).collect::<Vec<_>>().join("\n")
    };
    assert_eq!(body("scenarios/templates/chaos.ron"), body("scenarios/chaos-random.ron"));
    let default = crate::util::gatesim(&["init"], &[]);
    assert_eq!(String::from_utf8_lossy(&default.stdout), read(&repo().join("scenarios/templates/single.ron")));
}
