//! The command line as outputs.md promises it: `validate` accepts every
//! example, `run` writes summary.json, run.json and timeseries.csv with the
//! documented keys and columns, `--quiet`, the summary table, `--seed`,
//! `--fail-on-slo`, and replacing an earlier run's folder cleanly.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::{gatesim, read, repo};

/// A small, fast scenario (a few thousand requests) with an SLO it meets.
const TINY: &str = r#"Scenario(
    name: "tiny",
    seed: 3,
    duration: "20s",
    warmup: "1s",
    nodes: [
        Clients(name: "web", target: "api", load: Poisson(rps: 200), mix: [(path: "/")], policy: (timeout: "1s")),
        Service(name: "api", workers: 4, queue: 100, work: Exp(mean: "2ms")),
    ],
    slo: (p99: "1s", success_rate: 0.5),
)
"#;

/// The columns every timeseries.csv starts with, in this order (outputs.md).
const CSV_COLUMNS: &str = "time_s,node,arrivals,completed,ok,partial,fallback,error,timeout,rate_limited,\
                           unauthorized,not_found,rejected,short_circuited,unavailable,latency_ms_p50,\
                           latency_ms_p99,queue_len,utilization,breakers_open,fault_active";

const OUTCOME_KEYS: [&str; 12] = [
    "total",
    "ok",
    "partial",
    "fallback",
    "error",
    "timeout",
    "rate_limited",
    "unauthorized",
    "not_found",
    "rejected",
    "short_circuited",
    "unavailable",
];

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn describe(out: &Output) -> String {
    format!("exit {:?}\nstdout:\n{}\nstderr:\n{}", out.status.code(), text(&out.stdout), text(&out.stderr))
}

fn path_arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 temp path")
}

/// Runs `gatesim run FILE --out OUT` with `extra` arguments.
fn run(file: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", file, "--out", path_arg(out)];
    args.extend_from_slice(extra);
    gatesim(&args, &[])
}

/// The `.ron` files of a folder given relative to the repo root, as
/// root-relative paths, sorted.
fn ron_files(rel_dir: &str) -> Vec<String> {
    let dir = repo().join(rel_dir);
    let mut files: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ron"))
        .map(|n| format!("{rel_dir}/{n}"))
        .collect();
    files.sort();
    files
}

/// The design's examples: `../shared/design/examples` beside the clone (as
/// on CI), else the copies in `scenarios/`.
fn examples_dir() -> &'static str {
    const SHARED: &str = "../shared/design/examples";
    if repo().join(SHARED).is_dir() { SHARED } else { "scenarios" }
}

fn write_tiny(dir: &Path) -> PathBuf {
    let path = dir.join("tiny.ron");
    fs::write(&path, TINY).expect("write scenario");
    path
}

fn json(path: &Path) -> Value {
    serde_json::from_str(&read(path)).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn validate_accepts_every_example_and_scenario() {
    for dir in [examples_dir(), "scenarios"] {
        let files = ron_files(dir);
        assert!(!files.is_empty(), "no .ron files in {dir}");
        let mut args = vec!["validate"];
        args.extend(files.iter().map(String::as_str));
        let out = gatesim(&args, &[]);
        assert_eq!(out.status.code(), Some(0), "validate {dir}/*.ron: {}", describe(&out));
        let stdout = text(&out.stdout);
        let ok: Vec<&str> = stdout.lines().filter(|l| l.starts_with("ok:")).collect();
        assert_eq!(ok.len(), files.len(), "one `ok:` line per file of {dir}:\n{stdout}");
        for f in &files {
            let line = format!("ok: {f} (");
            assert!(ok.iter().any(|l| l.starts_with(&line)), "no `{line}...` line:\n{stdout}");
        }
    }
}

/// Keys of `v` (an object) missing from `keys`, as `prefix.key`.
fn missing(v: &Value, prefix: &str, keys: &[&str]) -> Vec<String> {
    match v.as_object() {
        None => vec![format!("{prefix} is not an object")],
        Some(o) => keys.iter().filter(|k| !o.contains_key(**k)).map(|k| format!("{prefix}.{k}")).collect(),
    }
}

#[test]
fn run_quiet_writes_summary_run_and_timeseries() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out_dir = tmp.path().join("mm-c");
    let out = run("scenarios/mm-c.ron", &out_dir, &["--quiet"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "--quiet printed to stdout: {}", describe(&out));
    assert!(out.stderr.is_empty(), "--quiet printed to stderr: {}", describe(&out));
    for f in ["summary.json", "run.json", "timeseries.csv"] {
        assert!(out_dir.join(f).is_file(), "{f} was not written; the folder holds {:?}", entries(&out_dir));
    }

    let s = json(&out_dir.join("summary.json"));
    let mut problems = missing(
        &s,
        "summary",
        &[
            "scenario",
            "seed",
            "duration_s",
            "warmup_s",
            "events",
            "requests",
            "attempts",
            "latency_ms",
            "nodes",
            "routes",
            "breakers",
            "faults",
            "slo",
        ],
    );
    problems.extend(missing(&s["requests"], "requests", &OUTCOME_KEYS));
    problems.extend(missing(&s["attempts"], "attempts", &["total", "retries", "hedges"]));
    problems.extend(missing(&s["latency_ms"], "latency_ms", &["mean", "p50", "p90", "p99", "p999", "max"]));
    problems.extend(missing(&s["nodes"], "nodes", &["arrivals", "station"]));
    for k in OUTCOME_KEYS {
        if !s["requests"][k].is_u64() {
            problems.push(format!("requests.{k} is not a count: {}", s["requests"][k]));
        }
    }
    for k in ["mean", "p50", "p90", "p99", "p999", "max"] {
        if !s["latency_ms"][k].is_number() {
            problems.push(format!("latency_ms.{k} is not a number: {}", s["latency_ms"][k]));
        }
    }
    for (k, is_right) in [
        ("routes", s["routes"].is_object()),
        ("breakers", s["breakers"].is_array()),
        ("faults", s["faults"].is_array()),
        ("slo", s["slo"].is_object()),
    ] {
        if !is_right {
            problems.push(format!("{k} has the wrong type: {}", s[k]));
        }
    }
    assert!(problems.is_empty(), "summary.json does not follow outputs.md: {problems:#?}\n{s:#}");
    assert_eq!(s["scenario"], "mm-c");
    assert_eq!(s["seed"], 1);
    assert_eq!(s["duration_s"].as_f64(), Some(400.0));
    assert_eq!(s["warmup_s"].as_f64(), Some(10.0));
    assert!(s["events"].as_u64().is_some_and(|e| e > 0), "events: {}", s["events"]);
    assert!(s["requests"]["total"].as_u64().is_some_and(|t| t > 0), "requests: {}", s["requests"]);

    let r = json(&out_dir.join("run.json"));
    assert!(r.is_object(), "run.json is not an object: {r}");

    let csv = read(&out_dir.join("timeseries.csv"));
    let mut lines = csv.lines();
    let header = lines.next().expect("timeseries.csv has a header");
    assert!(
        header == CSV_COLUMNS || header.starts_with(&format!("{CSV_COLUMNS},")),
        "timeseries.csv header does not start with the columns of outputs.md\n  want: {CSV_COLUMNS}\n   got: {header}"
    );
    let width = header.split(',').count();
    let rows: Vec<&str> = lines.collect();
    assert!(!rows.is_empty(), "timeseries.csv has no rows");
    for row in &rows {
        assert_eq!(row.split(',').count(), width, "row width differs from the header: {row}");
    }
}

#[test]
fn run_prints_the_summary_table_and_no_progress_junk() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = run("scenarios/mm-c.ron", &tmp.path().join("out"), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("mm-c"), "the table does not name the scenario:\n{stdout}");
    assert!(stdout.contains("latency ms"), "the table has no latency line:\n{stdout}");
    // Not a terminal: no progress bar; stderr holds only validate's
    // warnings (mm-c's clients set no timeout).
    let stderr = text(&out.stderr);
    assert!(
        stderr.lines().all(|l| l.is_empty() || l.starts_with("warning: ") || l.starts_with("  hint: ")),
        "stderr holds more than warnings when not a terminal: {stderr:?}"
    );
    assert!(stderr.contains("has no timeout"), "run prints validate's warnings: {stderr:?}");
    assert!(!stdout.contains('\r') && !stdout.contains('\u{1b}'), "terminal control codes on stdout: {stdout:?}");
}

#[test]
fn seed_flag_replaces_the_files_seed() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (a, b) = (tmp.path().join("default"), tmp.path().join("seed5"));
    let out_a = run("scenarios/mm-c.ron", &a, &["--quiet"]);
    let out_b = run("scenarios/mm-c.ron", &b, &["--quiet", "--seed", "5"]);
    assert_eq!(out_a.status.code(), Some(0), "{}", describe(&out_a));
    assert_eq!(out_b.status.code(), Some(0), "{}", describe(&out_b));
    let (text_a, text_b) = (read(&a.join("summary.json")), read(&b.join("summary.json")));
    assert_ne!(text_a, text_b, "--seed 5 gave the same summary.json as the file's seed");
    assert!(text_b.contains("\"seed\": 5"), "summary.json lacks \"seed\": 5:\n{text_b}");
    assert_eq!(json(&a.join("summary.json"))["seed"], 1, "without --seed, the file's seed (1) is used");
    assert_eq!(json(&b.join("summary.json"))["seed"], 5);
}

#[test]
fn fail_on_slo_exits_1_only_when_the_slo_is_missed() {
    let tmp = tempfile::tempdir().expect("temp dir");

    // quickstart misses its SLO: 1 with the flag, 0 without; results are written either way.
    let missed = tmp.path().join("missed");
    let out = run("scenarios/quickstart.ron", &missed, &["--quiet", "--fail-on-slo"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!text(&out.stderr).contains("panicked"), "{}", describe(&out));
    assert_eq!(json(&missed.join("summary.json"))["slo"]["met"], false, "quickstart is expected to miss its SLO");
    let out = run("scenarios/quickstart.ron", &tmp.path().join("missed-no-flag"), &["--quiet"]);
    assert_eq!(out.status.code(), Some(0), "without --fail-on-slo: {}", describe(&out));

    // An SLO that is met, and a scenario with no SLO at all: 0 even with the flag.
    let src = tempfile::tempdir().expect("temp dir");
    let tiny = write_tiny(src.path());
    let met = tmp.path().join("met");
    let out = run(path_arg(&tiny), &met, &["--quiet", "--fail-on-slo"]);
    assert_eq!(out.status.code(), Some(0), "SLO met: {}", describe(&out));
    assert_eq!(json(&met.join("summary.json"))["slo"]["met"], true);
    let no_slo = src.path().join("no-slo.ron");
    fs::write(&no_slo, TINY.replace("    slo: (p99: \"1s\", success_rate: 0.5),\n", "")).expect("write");
    let out = run(path_arg(&no_slo), &tmp.path().join("no-slo"), &["--quiet", "--fail-on-slo"]);
    assert_eq!(out.status.code(), Some(0), "no SLO: {}", describe(&out));
}

#[test]
fn running_twice_replaces_the_output_folder_cleanly() {
    let src = tempfile::tempdir().expect("temp dir");
    let tiny = write_tiny(src.path());
    let parent = tempfile::tempdir().expect("temp dir");
    let out_dir = parent.path().join("out");

    let first = run(path_arg(&tiny), &out_dir, &["--quiet"]);
    assert_eq!(first.status.code(), Some(0), "{}", describe(&first));
    let summary = fs::read(out_dir.join("summary.json")).expect("first summary.json");
    // A file an older version of the scenario had gatesim write, listed in the marker.
    fs::write(out_dir.join("stale.txt"), "left over from an older run").expect("write stale file");
    let marker = fs::read_to_string(out_dir.join(".gatesim")).expect("the marker");
    fs::write(out_dir.join(".gatesim"), marker.replacen("\"files\": [", "\"files\": [\n    \"stale.txt\",", 1))
        .unwrap();

    let second = run(path_arg(&tiny), &out_dir, &["--quiet"]);
    assert_eq!(second.status.code(), Some(0), "{}", describe(&second));
    assert_eq!(entries(parent.path()), ["out"], "leftovers beside the output folder");
    let inside = entries(&out_dir);
    assert!(!inside.iter().any(|n| n == "stale.txt"), "the folder was merged, not replaced: {inside:?}");
    for f in ["summary.json", "run.json", "timeseries.csv"] {
        assert!(inside.iter().any(|n| n == f), "{f} missing after the second run: {inside:?}");
    }
    let again = fs::read(out_dir.join("summary.json")).expect("second summary.json");
    assert!(again == summary, "the same file and seed gave a different summary.json");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        vec!["run"],
        vec!["validate"],
        vec!["run", "scenarios/mm-c.ron", "--seed", "five"],
        vec!["run", "scenarios/mm-c.ron", "--no-such-flag"],
        vec!["frobnicate"],
    ] {
        let out = gatesim(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(!out.stderr.is_empty(), "{args:?}: no message");
    }
}

/// A run that went well but whose results cannot be stored is not bad
/// input: exit 3, with the path that failed. (/proc refuses new folders
/// even to root, so this holds wherever the tests run.)
#[cfg(target_os = "linux")]
#[test]
fn a_failed_write_exits_3_not_2() {
    let out = gatesim(&["run", "scenarios/mm-c.ron", "--quiet", "--out", "/proc/gatesim-cannot-write-here"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("cannot write /proc/gatesim-cannot-write-here"), "{stderr}");
}

#[test]
fn out_never_replaces_a_file_or_a_folder_gatesim_did_not_write() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::write(notes.join("todo.txt"), "keep me").unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "also keep me").unwrap();
    for target in [&notes, &file] {
        let o = gatesim(&["run", "scenarios/mm-c.ron", "--quiet", "--out", target.to_str().unwrap()], &[]);
        assert_eq!(o.status.code(), Some(2), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(String::from_utf8_lossy(&o.stderr).contains("will not replace"));
    }
    assert_eq!(std::fs::read_to_string(notes.join("todo.txt")).unwrap(), "keep me");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "also keep me");
    let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(entries.len(), 2, "nothing else appeared beside them");
}

#[test]
fn run_writes_every_picture_and_plot_redraws_them_identically() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ha");
    let o = gatesim(&["run", "scenarios/ha-fleet.ron", "--quiet", "--out", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let pictures = [
        "latency.svg",
        "latency.png",
        "errors.svg",
        "errors.png",
        "throughput.svg",
        "throughput.png",
        "queues.svg",
        "queues.png",
        "breakers.svg",
        "breakers.png",
        "topology.svg",
        "topology.dot",
        "report.html",
    ];
    let before: Vec<Vec<u8>> =
        pictures.iter().map(|p| fs::read(out.join(p)).unwrap_or_else(|_| panic!("{p} written"))).collect();
    for (p, bytes) in pictures.iter().zip(&before) {
        if p.ends_with(".png") {
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{p} is a PNG");
        }
        if p.ends_with(".svg") {
            assert!(String::from_utf8_lossy(bytes).contains("<svg"), "{p} is an SVG");
        }
    }
    let html = String::from_utf8(before[12].clone()).unwrap();
    assert!(!html.contains("http://") && !html.contains("https://"), "report.html references nothing outside itself");
    assert!(html.contains("ha-fleet") && html.contains("<svg"), "the report names the scenario and inlines its plots");
    // Redraw from the saved files only: the same bytes.
    for p in &pictures {
        fs::remove_file(out.join(p)).unwrap();
    }
    let o = gatesim(&["plot", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for (p, bytes) in pictures.iter().zip(&before) {
        assert_eq!(&fs::read(out.join(p)).unwrap(), bytes, "{p} redrawn differently");
    }
    let o = gatesim(&["plot", dir.path().to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2), "a folder without results is refused");
}

#[test]
fn a_zero_delay_loop_stops_with_a_clear_message_instead_of_hanging() {
    // Closed-loop users with no think time against a service that rejects
    // at once (queue 0, no network delay) and immediate retries: simulated
    // time can never advance. The run must stop, say why, exit 2, write nothing.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("loop.ron");
    fs::write(
        &file,
        r#"Scenario(name: "loop", seed: 1, duration: "10s", network: (latency: Const("0ms")),
            nodes: [
                Clients(name: "c", target: "s", load: Closed(users: 10, think: Const("0ms")), mix: [(path: "/")],
                        policy: (timeout: "1s", retries: (max: 3, backoff: None))),
                Service(name: "s", workers: 1, queue: 0, work: Const("1ms")),
            ])"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let o = gatesim(&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap()], &[]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("without time moving on") && err.contains("think time"), "{err}");
    assert!(!out.exists(), "nothing written");
}
