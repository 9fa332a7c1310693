//! The documents cannot drift from the program: every complete scenario
//! (a ```ron block that starts with `Scenario(`) in README.md and docs/
//! is checked with `gatesim validate`, and must pass without errors.

use std::fs;

use crate::util::{gatesim, repo};

/// The ```ron blocks of a Markdown text whose first token (after comments) is `Scenario(`.
fn complete_scenarios(markdown: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match &mut current {
            None if line.trim_start().starts_with("```ron") => current = Some((i + 2, String::new())),
            None => {}
            Some(_) if line.trim_start().starts_with("```") => blocks.extend(current.take()),
            Some((_, text)) => {
                text.push_str(line);
                text.push('\n');
            }
        }
    }
    blocks
        .into_iter()
        .filter(|(_, text)| {
            let code = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with("//"));
            code.is_some_and(|l| l.starts_with("Scenario("))
        })
        .collect()
}

#[test]
fn every_complete_scenario_in_the_documents_validates() {
    let root = repo();
    let mut docs = vec![root.join("README.md")];
    let mut in_docs: Vec<_> = fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    in_docs.sort();
    docs.extend(in_docs);
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut checked, mut failures) = (0, Vec::new());
    for doc in &docs {
        let text = fs::read_to_string(doc).expect("read document");
        let name = doc.file_name().expect("file name").to_string_lossy().into_owned();
        for (line, scenario) in complete_scenarios(&text) {
            let path = dir.path().join(format!("{name}-{line}.ron"));
            fs::write(&path, &scenario).expect("write");
            let out = gatesim(&["validate", path.to_str().expect("utf-8")], &[]);
            checked += 1;
            if out.status.code() != Some(0) {
                failures.push(format!("{name}:{line}:\n{}", String::from_utf8_lossy(&out.stderr)));
            }
        }
    }
    let reference = fs::read_to_string(root.join("docs/scenario-reference.md")).expect("the reference");
    assert!(
        complete_scenarios(&reference).len() >= 6,
        "docs/scenario-reference.md should show complete scenarios to copy"
    );
    assert!(
        failures.is_empty(),
        "{} of {checked} scenarios in the documents fail:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn finds_complete_scenarios_only() {
    let md = "text\n```ron\n// a comment\nScenario(name: \"x\")\n```\n```ron\nService(name: \"s\")\n```\n";
    let found = complete_scenarios(md);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].0, 3, "1-based line of the block's first line");
    assert!(found[0].1.contains("Scenario(name"));
}
