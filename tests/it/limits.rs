//! Issue 15: limits on everything. Every pathological input ends with exit
//! 0, 1 or 2 and a message, under a memory cap, well within a minute; no
//! `--out` loses a user's file; crafted results files are refused.
//!
//! The corpus is `tests/limits/*.ron` (first line `// expect: exit N[: text]`)
//! plus inputs too large to commit, written by `generated`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::util::{gatesim, read, repo};

/// Virtual memory a run may use (ulimit -v, in KB): far below what any of
/// these inputs would take without their limits.
const MEMORY_KB: u32 = 2_000_000;
/// A run still going after this long hangs (`timeout` ends it with 124).
const HANG_S: u32 = 60;

/// Runs the binary under the memory cap and the hang timeout.
fn capped(args: &[&str]) -> Output {
    let bin = env!("CARGO_BIN_EXE_gatesim");
    let quoted: Vec<String> = args.iter().map(|a| format!("'{}'", a.replace('\'', "'\\''"))).collect();
    let script = format!("ulimit -v {MEMORY_KB}; exec timeout {HANG_S} '{bin}' {}", quoted.join(" "));
    Command::new("sh").arg("-c").arg(script).current_dir(repo()).output().expect("sh runs")
}

/// (name, text, expected exit code, expected substring of stderr).
fn generated() -> Vec<(&'static str, String, i32, &'static str)> {
    let clients =
        r#"Clients(name: "c", target: "s", load: Poisson(rps: 10), mix: [(path: "/")], policy: (timeout: "1s"))"#;
    let service = r#"Service(name: "s", workers: 8, queue: 100, work: Exp(mean: "1ms"))"#;
    let wrap = |nodes: String| format!(r#"Scenario(name: "g", duration: "1s", nodes: [{nodes}])"#);
    let calls = vec![r#"Call(to: "t")"#; 100_000].join(", ");
    let big = "s".repeat(1_000_000);
    vec![
        // An error located past column 65,536 crashed miette's renderer.
        (
            "long-line-error.ron",
            format!(r#"Scenario(name: "x", duration: "1s", nodes: [{}Bogus])"#, " ".repeat(70_000)),
            2,
            "Unexpected variant named `Bogus`",
        ),
        (
            "name-70kb.ron",
            wrap(format!(
                r#"Clients(name: "{}", target: "nope", load: Poisson(rps: 1), mix: [(path: "/")])"#,
                "n".repeat(70_000)
            )),
            2,
            "is 70000 characters long; at most 128",
        ),
        // Text fitting in the pictures was quadratic in the name's length.
        (
            "node-name-1mb.ron",
            wrap(format!("{}, {}", clients, service).replace("\"s\"", &format!("\"{big}\""))),
            2,
            "at most 128",
        ),
        // A misspelt variant with a multi-byte letter right before `(`
        // panicked while looking for the variant's name.
        ("non-ascii-variant.ron", wrap(format!("{clients}, Sérvice(name: \"s\")")), 2, "error"),
        ("non-ascii-two-bytes.ron", "é(".to_string(), 2, "error"),
        // A right-to-left override makes a name print as something else.
        (
            "name-bidi-override.ron",
            wrap(format!("{clients}, {service}").replace("\"s\"", "\"s\u{202E}gpj\"")),
            2,
            "bidirectional control character",
        ),
        // 100,000 identical warnings took 37 s to print.
        (
            "fanout-100k.ron",
            wrap(format!(
                r#"{clients}, Service(name: "s", workers: 8, queue: 100, work: Const("1ms"), calls: [{calls}]),
                   Service(name: "t", workers: 8, queue: 100, work: Const("1ms"))"#
            )),
            0,
            "(100000 times)",
        ),
    ]
}

fn expectation(text: &str) -> (i32, String) {
    let line = text.lines().next().and_then(|l| l.strip_prefix("// expect: exit ")).expect("`// expect: exit N`");
    let (code, message) = line.split_once(':').unwrap_or((line, ""));
    (code.trim().parse().expect("an exit code"), message.trim().to_string())
}

#[test]
fn issue15_every_pathological_input_ends_with_a_message_within_bounds() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let mut cases: Vec<(String, PathBuf, i32, String)> = Vec::new();
    let dir = repo().join("tests").join("limits");
    let mut names: Vec<_> = fs::read_dir(&dir).expect("tests/limits").map(|e| e.unwrap().path()).collect();
    names.sort();
    for path in names {
        let (code, message) = expectation(&read(&path));
        cases.push((path.file_name().unwrap().to_string_lossy().into(), path, code, message));
    }
    for (name, text, code, message) in generated() {
        let path = tmp.path().join(name);
        fs::write(&path, text).expect("write");
        cases.push((name.into(), path, code, message.into()));
    }
    assert!(cases.len() >= 20, "the corpus lost files: {}", cases.len());
    let mut failures = Vec::new();
    for (name, path, code, message) in &cases {
        let out_dir = tmp.path().join(format!("out-{name}"));
        let out = capped(&["run", path.to_str().unwrap(), "--out", out_dir.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let shown: String = stderr.chars().take(300).collect();
        match out.status.code() {
            Some(c) if c == *code && stderr.contains(message.as_str()) => {}
            other => failures.push(format!("{name}: exit {other:?} (want {code}, \"{message}\"): {shown}")),
        }
        if *code == 2 && out_dir.exists() {
            failures.push(format!("{name}: refused, yet wrote {}", out_dir.display()));
        }
        // `validate` says the same, as fast.
        if *code == 2 && !stderr.contains("was stopped") {
            let v = capped(&["validate", path.to_str().unwrap()]);
            if v.status.code() != Some(2) {
                failures.push(format!("{name}: validate exits {:?}", v.status.code()));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {} cases failed:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

/// Each problem is told once, even the long ones: no second copy in a box.
#[test]
fn issue15_long_lines_are_reported_without_a_snippet() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("long.ron");
    fs::write(&path, format!(r#"Scenario(name: "x", duration: "1s", nodes: [{}Bogus])"#, " ".repeat(70_000))).unwrap();
    let out = gatesim(&["validate", path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(":1:70045:"), "{stderr}");
    assert!(stderr.len() < 1000, "a 70 KB line is not printed: {} bytes", stderr.len());
}

#[test]
fn issue15_memory_is_budgeted_before_the_run_and_the_limit_can_be_raised() {
    let text = |limits: &str| {
        format!(
            r#"Scenario(name: "m", duration: "1s",
            nodes: [Clients(name: "c", target: "s", load: Poisson(rps: 1), mix: [(path: "/")],
                            policy: (timeout: "1s", breaker: Some(Breaker(window: Count(100000000), min_calls: 10,
                                     failure_rate: 0.5, open_for: "1s", half_open_calls: 1)))),
                    Service(name: "s", workers: 1, queue: 1, work: Const("1ms"))]{limits})"#
        )
    };
    let problems = gatesim::scenario::parse(&text("")).err().expect("over the default 2 GB");
    let message = &problems[0].message;
    assert!(message.contains("breaker windows 2289 MB") && message.contains("limit is 2048 MB"), "{message}");
    assert!(problems[0].hint.as_deref().unwrap_or("").contains("max_memory_mb: 4096"), "{:?}", problems[0].hint);
    assert!(gatesim::scenario::parse(&text(", limits: (max_memory_mb: 4096)")).is_ok());
}

/// Writes a folder that looks like a run's output but holds a user's file too.
fn folder_with(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        fs::write(dir.join(name), text).unwrap();
    }
}

#[test]
fn issue15_out_never_deletes_a_file_gatesim_did_not_write() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let run = |dir: &Path| gatesim(&["run", "scenarios/mm-c.ron", "--out", dir.to_str().unwrap(), "-q"], &[]);
    // A user's folder with their own file and any summary.json: refused.
    let theirs = tmp.path().join("theirs");
    folder_with(&theirs, &[("summary.json", "{}"), ("thesis.tex", "years of work")]);
    let out = run(&theirs);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gatesim did not write it"));
    assert_eq!(read(&theirs.join("thesis.tex")), "years of work");
    // gatesim's own output is replaced...
    let ours = tmp.path().join("ours");
    assert_eq!(run(&ours).status.code(), Some(0));
    assert!(ours.join(".gatesim").exists() && ours.join("summary.json").exists());
    assert_eq!(run(&ours).status.code(), Some(0));
    // ...unless a file of the user's was added to it.
    fs::write(ours.join("notes.txt"), "mine").unwrap();
    let out = run(&ours);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("notes.txt"));
    assert_eq!(read(&ours.join("notes.txt")), "mine");
    // No temporary folder is left beside it, on success or refusal.
    let leftovers: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn issue15_out_dot_inside_an_output_folder_and_leftovers_of_a_killed_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out_dir = tmp.path().join("o");
    assert_eq!(
        gatesim(&["run", "scenarios/mm-c.ron", "--out", out_dir.to_str().unwrap(), "-q"], &[]).status.code(),
        Some(0)
    );
    // A killed run leaves its temporary folder (with the marker) behind...
    let leftover = tmp.path().join(".o.tmp-killed");
    fs::create_dir(&leftover).unwrap();
    fs::copy(out_dir.join(".gatesim"), leftover.join(".gatesim")).unwrap();
    // Killed before or while writing the marker: an empty folder, and one
    // with a marker cut short. Both hold only what gatesim writes.
    fs::create_dir(tmp.path().join(".o.tmp-killed-early")).unwrap();
    let cut = tmp.path().join(".o.tmp-killed-marker");
    fs::create_dir(&cut).unwrap();
    fs::write(cut.join(".gatesim"), &read(&out_dir.join(".gatesim"))[..20]).unwrap();
    // A concurrent run's folder (its process is alive: this test's) is kept.
    let running = tmp.path().join(format!(".o.tmp-{}-running", std::process::id()));
    fs::create_dir(&running).unwrap();
    fs::copy(out_dir.join(".gatesim"), running.join(".gatesim")).unwrap();
    // A folder of the user's that happens to share the prefix is kept.
    let users = tmp.path().join(".o.tmp-mine");
    folder_with(&users, &[("notes.txt", "mine")]);
    // ...and `--out .` from inside the output folder replaces it in place.
    let bin = env!("CARGO_BIN_EXE_gatesim");
    let scenario = repo().join("scenarios").join("mm-c.ron");
    let out = Command::new(bin)
        .args(["run", scenario.to_str().unwrap(), "--out", ".", "-q"])
        .current_dir(&out_dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let siblings: Vec<String> =
        fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    let mut siblings = siblings;
    siblings.sort();
    let running = format!(".o.tmp-{}-running", std::process::id());
    assert_eq!(siblings, [running.as_str(), ".o.tmp-mine", "o"], "only the output, a live run's and the user's folder");
    assert_eq!(read(&users.join("notes.txt")), "mine");
    assert!(out_dir.join("summary.json").exists());
}

/// Review of issue 15 (item 6): an output from before the marker existed is
/// recognised by gatesim's file names; a user's own pictures are not
/// gatesim's. Before: any `.png` passed, and the folder was deleted.
#[test]
fn issue15_a_users_pictures_beside_old_results_are_not_replaced() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let run = |dir: &Path| gatesim(&["run", "scenarios/mm-c.ron", "--out", dir.to_str().unwrap(), "-q"], &[]);
    let batch = tmp.path().join("batch");
    folder_with(&batch, &[("runs.json", "{}"), ("comparison.json", "{}"), ("cat.png", "meow")]);
    let holiday = tmp.path().join("holiday");
    folder_with(&holiday, &[("run.json", r#"{"gatesim_version": "0.1.0"}"#), ("holiday.png", "beach")]);
    for (dir, file, text) in [(&batch, "cat.png", "meow"), (&holiday, "holiday.png", "beach")] {
        let out = run(dir);
        assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(read(&dir.join(file)), text);
    }
    // An old output with gatesim's own pictures is still replaced.
    let old = tmp.path().join("old");
    folder_with(&old, &[("run.json", r#"{"gatesim_version": "0.1.0"}"#), ("latency.png", "x"), ("summary.json", "{}")]);
    assert_eq!(run(&old).status.code(), Some(0));
    assert!(old.join(".gatesim").exists());
}

/// Review of issue 15 (item 2): a load the event guard rails would stop is
/// refused by `validate`, with the numbers. Before: it passed validate.
#[test]
fn issue15_validate_refuses_a_load_the_guard_rails_would_stop() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("flood.ron");
    fs::write(
        &path,
        r#"Scenario(name: "flood", duration: "10s",
        nodes: [Clients(name: "c", target: "s", load: Poisson(rps: 1e9), mix: [(path: "/")]),
                Service(name: "s", workers: 8, queue: 50, work: Exp(mean: "5ms"))])"#,
    )
    .unwrap();
    let out = gatesim(&["validate", path.to_str().unwrap()], &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("each simulated millisecond has") && err.contains("max_events_per_ms"), "{err}");
}

/// Two runs into the same `--out` at once: both succeed (they take turns),
/// nothing is left behind. Several rounds, first into a new folder, then
/// replacing the folder the round before wrote: a lost race shows as exit 3.
#[test]
fn issue15_concurrent_runs_on_one_out_leave_no_temporary_folder() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let out_dir = tmp.path().join("same");
    let bin = env!("CARGO_BIN_EXE_gatesim");
    let spawn = || {
        Command::new(bin)
            .args(["run", "scenarios/quickstart.ron", "--out", out_dir.to_str().unwrap(), "-q"])
            .current_dir(repo())
            .spawn()
            .expect("spawn")
    };
    for round in 0..4 {
        let (mut a, mut b) = (spawn(), spawn());
        let (ca, cb) = (a.wait().unwrap().code(), b.wait().unwrap().code());
        assert_eq!((ca, cb), (Some(0), Some(0)), "round {round}");
        let siblings: Vec<String> =
            fs::read_dir(tmp.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(siblings, ["same"], "round {round}");
        assert!(out_dir.join("summary.json").exists());
    }
}

#[test]
fn issue15_plot_writes_readable_files() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().expect("temp dir");
    let out_dir = tmp.path().join("p");
    assert_eq!(
        gatesim(&["run", "scenarios/mm-c.ron", "--out", out_dir.to_str().unwrap(), "-q"], &[]).status.code(),
        Some(0)
    );
    // `sh -c 'umask 022; ...'`: the permissions `run` gives under the usual umask.
    let bin = env!("CARGO_BIN_EXE_gatesim");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("umask 022; exec '{bin}' plot '{}'", out_dir.display()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    for name in ["latency.png", "report.html", "topology.svg"] {
        let mode = fs::metadata(out_dir.join(name)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644, "{name}");
    }
}

#[test]
fn issue15_crafted_results_files_are_refused() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let shard = tmp.path().join("shard");
    let out = gatesim(
        &["compare", "scenarios/mm-c.ron", "-r", "2", "--shard", "0/2", "--out", shard.to_str().unwrap(), "-q"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let runs = read(&shard.join("runs.json"));
    let crafted = [
        ("\"shard\": [\n    0,\n    2\n  ]", "\"shard\": [0, 18446744073709551615]", "shard"),
        ("\"total_jobs\": 2", "\"total_jobs\": 1099511627776", "total_jobs"),
        ("\"replications\": 2", "\"replications\": 0", "replications"),
        ("\"resolution_s\": 1.0", "\"resolution_s\": 1e308", "resolution_s"),
        ("\"resolution_s\": 1.0", "\"resolution_s\": -1.0", "resolution_s"),
        ("\"input\": 0", "\"input\": 99", "out of range"),
        ("\"resolution_s\": 1.0", "\"resolution_s\": 1e-300", "resolution_s"),
        // A share above 1 ("1" before the digits) and a negative rate.
        ("\"success_rate\": ", "\"success_rate\": 1", "not a share"),
        ("\"goodput_rps\": ", "\"goodput_rps\": -", "not a finite number at least 0"),
    ];
    for (from, to, says) in crafted {
        assert!(runs.contains(from), "runs.json has {from}");
        let dir = tmp.path().join(format!("crafted-{}", says.replace(' ', "-")));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("runs.json"), runs.replacen(from, to, 1)).unwrap();
        let merged = tmp.path().join("merged");
        let out = capped(&["merge", dir.to_str().unwrap(), "--out", merged.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{to}: {stderr}");
        assert!(stderr.contains(says), "{to}: {stderr}");
    }
    let empty = tmp.path().join("empty-inputs");
    fs::create_dir_all(&empty).unwrap();
    let inputs = runs.find("\"inputs\": [").unwrap();
    let end = inputs + runs[inputs..].find(']').unwrap() + 1;
    fs::write(empty.join("runs.json"), format!("{}\"inputs\": []{}", &runs[..inputs], &runs[end..])).unwrap();
    let out = capped(&["merge", empty.to_str().unwrap(), "--out", tmp.path().join("m2").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));

    // `plot` on crafted outputs: a huge resolution and 40,000 node names.
    let run_dir = tmp.path().join("run");
    assert_eq!(
        gatesim(&["run", "scenarios/mm-c.ron", "--out", run_dir.to_str().unwrap(), "-q"], &[]).status.code(),
        Some(0)
    );
    let summary = read(&run_dir.join("summary.json"));
    fs::write(run_dir.join("summary.json"), summary.replacen("\"resolution_s\": 1.0", "\"resolution_s\": 1e308", 1))
        .unwrap();
    let out = capped(&["plot", run_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("resolution_s"));
    fs::write(run_dir.join("summary.json"), summary).unwrap();
    let mut csv = read(&run_dir.join("timeseries.csv")).lines().next().unwrap().to_string() + "\n";
    for i in 0..40_000 {
        csv.push_str(&format!("0.000,node{i},1,1,1,0,0,0,0,0,0,0,0,0,0,1,1,0,0,0,0,1,0,0,0,0,0\n"));
    }
    fs::write(run_dir.join("timeseries.csv"), csv).unwrap();
    let out = capped(&["plot", run_dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("timeseries.csv"));
}

/// 10,000 distinct warnings took a minute to place in the file: the first
/// 200 are told, the rest counted.
#[test]
fn thousands_of_distinct_warnings_are_told_in_bounded_time() {
    let n = 9_000;
    let services: Vec<String> = (0..n)
        .map(|i| {
            let calls = if i + 1 < n { format!(r#", calls: [Call(to: "s{}")]"#, i + 1) } else { String::new() };
            format!(r#"Service(name: "s{i}", workers: 1, queue: 1, work: Const("1ms"){calls})"#)
        })
        .collect();
    let text = format!(
        r#"Scenario(name: "chain", duration: "1s", nodes: [
            Clients(name: "c", target: "s0", load: Poisson(rps: 1), mix: [(path: "/")], policy: (timeout: "1s")),
            {}])"#,
        services.join(",\n")
    );
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("chain.ron");
    fs::write(&path, text).unwrap();
    let out = capped(&["validate", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{}", stderr.chars().take(500).collect::<String>());
    let told = stderr.lines().filter(|l| l.starts_with("warning: ") && !l.contains("not shown")).count();
    assert_eq!(told, 200, "the first 200 are told");
    // At least one per call without a timeout (n - 1 of them).
    let more: usize = stderr
        .split("and ")
        .last()
        .and_then(|t| t.split(' ').next())
        .and_then(|k| k.parse().ok())
        .expect("a count of the rest");
    assert!(stderr.contains("more warnings not shown") && more + 200 >= n - 1, "{more}");
}

/// A foreign `--out` is refused before the run, not after it: this run
/// would be stopped by its guard rail, yet the refusal is what is said.
#[test]
fn a_foreign_out_is_refused_before_the_run() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("s.ron");
    fs::write(
        &path,
        r#"Scenario(name: "s", duration: "10s", limits: (max_in_flight: 1),
        nodes: [Clients(name: "c", target: "s", load: Poisson(rps: 1000), mix: [(path: "/")], policy: (timeout: "1s")),
                Service(name: "s", workers: 100, queue: 10, work: Const("10ms"))])"#,
    )
    .unwrap();
    let out_dir = tmp.path().join("mine");
    fs::create_dir(&out_dir).unwrap();
    fs::write(out_dir.join("notes.txt"), "mine").unwrap();
    let stopped = gatesim(&["run", path.to_str().unwrap(), "--out", tmp.path().join("new").to_str().unwrap()], &[]);
    assert!(String::from_utf8_lossy(&stopped.stderr).contains("was stopped"), "the guard rail stops this run");
    let out = gatesim(&["run", path.to_str().unwrap(), "--out", out_dir.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write") && !stderr.contains("was stopped"), "{stderr}");
    assert_eq!(fs::read_to_string(out_dir.join("notes.txt")).unwrap(), "mine");
}
