//! Tidy: rules of the code base that a reviewer would otherwise check by
//! hand (in the spirit of TigerBeetle's and rust-analyzer's tidy tests):
//! the layers ARCHITECTURE.md states, short functions, a `//!` line on
//! every file, no hash maps, no wall clock in the simulation, and no `pub`
//! item that nothing outside its own file uses.

use std::fs;
use std::path::{Path, PathBuf};

use crate::util::repo;

/// Every `.rs` file under `dir`, sorted, with its text.
fn rust_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display())) {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|x| x == "rs") {
                let text = fs::read_to_string(&path).unwrap();
                out.push((path, text));
            }
        }
    }
    out.sort();
    out
}

fn sources() -> Vec<(PathBuf, String)> {
    rust_files(&repo().join("src"))
}

fn rel(path: &Path) -> String {
    path.strip_prefix(repo()).unwrap_or(path).display().to_string()
}

/// The top-level module a file belongs to: src/engine/queue.rs -> "engine".
fn top_module(path: &Path) -> String {
    let rel = path.strip_prefix(repo().join("src")).unwrap();
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// Each line with string and char literals and comments blanked out, so
/// that braces and words inside them do not count.
fn code_lines(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_str: Option<Option<usize>> = None; // Some(None): "..."; Some(Some(n)): r#..#"..."#..#
    for line in text.lines() {
        let chars: Vec<char> = line.chars().collect();
        let mut code = String::new();
        let mut i = 0;
        while i < chars.len() {
            match in_str {
                Some(None) => {
                    if chars[i] == '\\' {
                        i += 2;
                        continue;
                    }
                    if chars[i] == '"' {
                        in_str = None;
                    }
                    i += 1;
                }
                Some(Some(hashes)) => {
                    if chars[i] == '"' && chars[i + 1..].iter().take(hashes).filter(|c| **c == '#').count() == hashes {
                        in_str = None;
                        i += 1 + hashes;
                    } else {
                        i += 1;
                    }
                }
                None => {
                    let c = chars[i];
                    if c == '/' && chars.get(i + 1) == Some(&'/') {
                        break;
                    }
                    let word_before = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
                    if c == 'r' && !word_before {
                        let hashes = chars[i + 1..].iter().take_while(|c| **c == '#').count();
                        if chars.get(i + 1 + hashes) == Some(&'"') {
                            in_str = Some(Some(hashes));
                            i += 2 + hashes;
                            continue;
                        }
                    }
                    if c == '"' {
                        in_str = Some(None);
                        i += 1;
                        continue;
                    }
                    if c == '\'' {
                        // A char literal ('x', '\n', '\'') or a lifetime.
                        let lit = match (chars.get(i + 1), chars.get(i + 2), chars.get(i + 3)) {
                            (Some('\\'), _, _) => chars[i + 2..].iter().position(|c| *c == '\'').map(|p| p + 3),
                            (Some(_), Some('\''), _) => Some(3),
                            _ => None,
                        };
                        if let Some(n) = lit {
                            i += n;
                            continue;
                        }
                    }
                    code.push(c);
                    i += 1;
                }
            }
        }
        out.push(code);
    }
    out
}

/// Line ranges (0-based, inclusive) of `#[cfg(test)]` items.
fn test_ranges(lines: &[String]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim() == "#[cfg(test)]" {
            let (mut depth, mut started, mut j) = (0i64, false, i + 1);
            while j < lines.len() {
                depth += lines[j].matches('{').count() as i64 - lines[j].matches('}').count() as i64;
                started |= lines[j].contains('{');
                if (started && depth <= 0) || (!started && lines[j].trim_end().ends_with(';')) {
                    break;
                }
                j += 1;
            }
            out.push((i, j));
            i = j;
        }
        i += 1;
    }
    out
}

fn in_tests(ranges: &[(usize, usize)], line: usize) -> bool {
    ranges.iter().any(|&(a, b)| (a..=b).contains(&line))
}

/// Whether a file is test code as a whole (a `tests.rs` module).
fn test_file(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "tests.rs")
}

#[test]
fn every_file_says_what_it_is_for() {
    let mut files = sources();
    files.extend(rust_files(&repo().join("tests")));
    files.extend(rust_files(&repo().join("benches")));
    let bare: Vec<String> =
        files.iter().filter(|(_, t)| !t.trim_start().starts_with("//!")).map(|(p, _)| rel(p)).collect();
    assert!(bare.is_empty(), "files without a `//!` line at the top: {bare:?}");
}

#[test]
fn no_hash_maps_and_no_wall_clock_in_the_simulation() {
    for (path, text) in sources() {
        for (n, line) in code_lines(&text).iter().enumerate() {
            for banned in ["HashMap", "HashSet"] {
                assert!(
                    !line.contains(banned),
                    "{}:{}: {banned}: iteration order would reach output",
                    rel(&path),
                    n + 1
                );
            }
            // Only the command line (timing a run for run.json) reads the clock.
            if !matches!(top_module(&path).as_str(), "cli" | "main") {
                for banned in ["Instant", "SystemTime", "thread_rng", "rand::random"] {
                    assert!(!line.contains(banned), "{}:{}: {banned} in the simulation", rel(&path), n + 1);
                }
            }
        }
    }
}

#[test]
fn no_function_is_longer_than_70_lines() {
    let mut long = Vec::new();
    for (path, text) in sources().into_iter().filter(|(p, _)| !test_file(p)) {
        let lines = code_lines(&text);
        let tests = test_ranges(&lines);
        for (i, line) in lines.iter().enumerate() {
            let t = line.trim_start();
            let is_fn = t.starts_with("fn ")
                || t.starts_with("pub fn ")
                || t.starts_with("pub(crate) fn ")
                || t.starts_with("pub(super) fn ")
                || t.starts_with("const fn ")
                || t.starts_with("pub const fn ");
            if !is_fn || in_tests(&tests, i) {
                continue;
            }
            let (mut depth, mut started, mut j) = (0i64, false, i);
            while j < lines.len() {
                depth += lines[j].matches('{').count() as i64 - lines[j].matches('}').count() as i64;
                started |= lines[j].contains('{');
                if (started && depth <= 0) || (!started && lines[j].trim_end().ends_with(';')) {
                    break;
                }
                j += 1;
            }
            if started && j - i + 1 > 70 {
                long.push(format!("{}:{}: {} lines", rel(&path), i + 1, j - i + 1));
            }
        }
    }
    assert!(long.is_empty(), "functions over 70 lines (split them by meaning):\n{}", long.join("\n"));
}

/// What each layer may import from the crate (ARCHITECTURE.md): a module
/// path prefix; its own module is always allowed.
const LAYERS: &[(&str, &[&str])] = &[
    ("engine", &[]),
    ("import", &[]),
    ("mechanisms", &["engine::time"]),
    ("model", &["engine", "mechanisms"]),
    ("chaos", &["engine", "model"]),
    ("scenario", &["engine", "mechanisms", "model"]),
    ("metrics", &["engine", "mechanisms", "model", "chaos"]),
    ("batch", &["engine", "model", "chaos", "metrics", "scenario"]),
    // Reports read results only: the summary, the time-series rows, batch results.
    ("report", &["model::outcome", "model::record", "model::budget", "chaos", "metrics", "batch"]),
];

#[test]
fn layers_import_only_what_architecture_md_allows() {
    let mut broken = Vec::new();
    for (path, text) in sources().into_iter().filter(|(p, _)| !test_file(p)) {
        let module = top_module(&path);
        let Some((_, allowed)) = LAYERS.iter().find(|(m, _)| *m == module) else { continue };
        let lines = code_lines(&text);
        let tests = test_ranges(&lines);
        for (n, line) in lines.iter().enumerate().filter(|(n, _)| !in_tests(&tests, *n)) {
            for (at, _) in line.match_indices("crate::") {
                let path_text: String =
                    line[at + 7..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
                let target = path_text.trim_end_matches(':');
                let top = target.split("::").next().unwrap_or("");
                if top == module || top.is_empty() {
                    continue;
                }
                if !allowed.iter().any(|a| target == *a || target.starts_with(&format!("{a}::"))) {
                    broken.push(format!("{}:{}: {module} imports crate::{target}", rel(&path), n + 1));
                }
            }
        }
    }
    assert!(broken.is_empty(), "layering broken:\n{}", broken.join("\n"));
}

/// The words (identifiers) of a text's code.
fn words(lines: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for l in lines {
        out.extend(l.split(|c: char| !(c.is_alphanumeric() || c == '_')).filter(|w| !w.is_empty()).map(str::to_string));
    }
    out
}

#[test]
fn every_pub_item_is_used_outside_its_file() {
    let mut files = sources();
    files.extend(rust_files(&repo().join("tests")));
    files.extend(rust_files(&repo().join("benches")));
    let all: Vec<(PathBuf, Vec<String>)> = files.iter().map(|(p, t)| (p.clone(), words(&code_lines(t)))).collect();
    let mut unused = Vec::new();
    for (path, text) in sources().into_iter().filter(|(p, _)| !test_file(p)) {
        if matches!(top_module(&path).as_str(), "lib" | "main" | "cli") {
            continue;
        }
        let lines = code_lines(&text);
        let tests = test_ranges(&lines);
        for (n, line) in lines.iter().enumerate().filter(|(n, _)| !in_tests(&tests, *n)) {
            let t = line.trim_start();
            let Some(rest) = t.strip_prefix("pub ") else { continue };
            let mut parts = rest.split_whitespace();
            let kind = parts.next().unwrap_or("");
            let kind = if kind == "const" && rest.starts_with("const fn") { "fn" } else { kind };
            if !matches!(kind, "fn" | "struct" | "enum" | "const" | "static" | "type" | "trait") {
                continue;
            }
            let name_part = if rest.starts_with("const fn") {
                rest.trim_start_matches("const fn ")
            } else {
                parts.next().unwrap_or("")
            };
            let name: String = name_part.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if name.is_empty() {
                continue;
            }
            let used_elsewhere = all.iter().any(|(p, w)| p != &path && w.contains(&name));
            // A type named elsewhere in its file (a pub field's type, a pub
            // fn's argument) is part of that item's API: it must be pub too.
            let in_api = kind != "fn"
                && kind != "const"
                && lines.iter().enumerate().any(|(m, l)| m != n && words(std::slice::from_ref(l)).contains(&name));
            if !used_elsewhere && !in_api {
                unused.push(format!("{}:{}: pub {kind} {name}", rel(&path), n + 1));
            }
        }
    }
    assert!(
        unused.is_empty(),
        "pub items nothing outside their file uses (make them private or pub(crate) where shared):\n{}",
        unused.join("\n")
    );
}
