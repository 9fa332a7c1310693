//! Batches: compare and sweep are deterministic whatever the thread count,
//! sharded + merged equals unsharded, and the confidence intervals cover
//! the truth as often as they claim.

use gatesim::batch::compare::compare;
use gatesim::batch::runs::{RunsFile, execute, jobs};
use indicatif::ProgressBar;

use crate::util::gatesim;

const ARCHS: [&str; 3] = ["scenarios/arch-single.ron", "scenarios/arch-bff.ron", "scenarios/arch-mesh.ron"];

fn run_ok(args: &[&str], env: &[(&str, &str)]) {
    let o = gatesim(args, env);
    assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn compare_is_identical_with_one_or_two_threads_and_when_sharded() {
    let dir = tempfile::tempdir().unwrap();
    let out = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let base = ["compare", ARCHS[0], ARCHS[1], ARCHS[2], "-r", "3", "--quiet", "--out"];
    run_ok(&[&base[..], &[&out("one")]].concat(), &[("RAYON_NUM_THREADS", "1")]);
    run_ok(&[&base[..], &[&out("two")]].concat(), &[("RAYON_NUM_THREADS", "2")]);
    for (i, shard) in ["0/3", "1/3", "2/3"].iter().enumerate() {
        run_ok(&[&base[..], &[&out(&format!("s{i}")), "--shard", shard]].concat(), &[]);
    }
    run_ok(&["merge", &out("s2"), &out("s0"), &out("s1"), "--out", &out("merged"), "--quiet"], &[]);
    for file in ["comparison.json", "comparison.csv", "runs.json"] {
        let one = std::fs::read(dir.path().join("one").join(file)).unwrap();
        assert_eq!(one, std::fs::read(dir.path().join("two").join(file)).unwrap(), "{file}: 1 vs 2 threads");
        assert_eq!(one, std::fs::read(dir.path().join("merged").join(file)).unwrap(), "{file}: merged shards");
    }
    // Each input's report is replication 0, exactly as `gatesim run --seed` makes it.
    let report = |d: &str| dir.path().join(d).join("reports/1-arch-single");
    assert_eq!(
        std::fs::read(report("one").join("summary.json")).unwrap(),
        std::fs::read(report("two").join("summary.json")).unwrap()
    );
    let runs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("one/runs.json")).unwrap()).unwrap();
    let seed = runs["base_seed"].as_u64().unwrap().to_string();
    run_ok(&["run", ARCHS[0], "--seed", &seed, "--quiet", "--out", &out("single")], &[]);
    assert_eq!(
        std::fs::read(report("one").join("summary.json")).unwrap(),
        std::fs::read(dir.path().join("single/summary.json")).unwrap(),
        "the linked report is the run of replication 0"
    );
    let html = std::fs::read_to_string(dir.path().join("one/comparison.html")).unwrap();
    for (i, name) in ["arch-single", "arch-bff", "arch-mesh"].iter().enumerate() {
        let link = format!("href=\"reports/{}-{name}/report.html\"", i + 1);
        assert!(html.contains(&link), "comparison.html links {link}");
    }
    assert!(html.contains("orders Hang 20s–35s"), "comparison.html states the faults each scenario injects");
    assert!(html.contains("class=\"ichart\"") && html.contains("\"pm\":"), "charts with hover values and their CIs");
    // A merged batch has no runs to report on, and says so.
    let merged = std::fs::read_to_string(dir.path().join("merged/comparison.html")).unwrap();
    assert!(!merged.contains("reports/") && merged.contains("No per-scenario reports"));
    // A shard on its own is not a batch.
    let o = gatesim(&["merge", &out("s0"), "--out", &out("partial")], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
}

#[test]
fn sweep_varies_the_parameter_and_reports_each_point() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    run_ok(
        &[
            "sweep",
            "scenarios/mm-c.ron",
            "--set",
            "nodes.arrivals.load.rps=1000,3500",
            "--set",
            "duration=60s",
            "-r",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let sweep: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("sweep.json")).unwrap()).unwrap();
    let points = sweep["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    let goodput = |i: usize| points[i]["metrics"]["goodput_rps"]["mean"].as_f64().unwrap();
    assert!((goodput(0) - 1000.0).abs() < 30.0 && (goodput(1) - 3500.0).abs() < 60.0, "{} {}", goodput(0), goodput(1));
    let mean = |i: usize| points[i]["metrics"]["latency_ms_mean"]["mean"].as_f64().unwrap();
    assert!(mean(1) > mean(0), "more load, longer waits");
}

/// Retry storms tip over when the load is high and the trigger long, and
/// recover when both are small (Bronson et al., "Metastable Failures in
/// Distributed Systems", HotOS 2021): the sweep's map must show both.
#[test]
fn a_two_parameter_sweep_maps_where_the_system_tips_over() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    run_ok(
        &[
            "sweep",
            "scenarios/retry-storm.ron",
            "--set",
            "nodes.app.load.rps=300,850",
            "--set",
            "faults[0].duration=2s,10s",
            "-r",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    let html = std::fs::read_to_string(out.join("sweep.html")).unwrap();
    assert_eq!(html.matches("<table class=\"heat\">").count(), 2, "a verdict map and a recovery map");
    // Rows are the first parameter, columns the second: the first data row
    // of each map starts with 300, the last with 850.
    let maps: Vec<&str> = html.split("<table class=\"heat\">").skip(1).collect();
    let rows = |m: &str| -> Vec<String> { m.split("<tr><th>").skip(2).map(|r| r.to_string()).collect() };
    let verdict = rows(maps[0]);
    let recovery = rows(maps[1]);
    assert!(verdict[0].starts_with("300") && !verdict[0].split("</td>").next().unwrap().contains("metastable"));
    assert!(verdict[1].starts_with("850") && verdict[1].split("</td>").nth(1).unwrap().contains("metastable"));
    assert!(recovery[0].split("</td>").next().unwrap().contains(" s"), "300 rps recovers from a 2 s trigger");
    assert!(recovery[1].split("</td>").nth(1).unwrap().contains("never"), "850 rps never recovers from 10 s");
}

#[test]
fn confidence_intervals_cover_the_mm1_mean_about_95_percent_of_the_time() {
    // M/M/1 with rho = 0.5: W = S / (1 - rho) = 2 ms. 200 batches of 5
    // replications; each batch's 95% interval (Student t, 4 df) should
    // contain 2 ms in ~190 of 200 (binomial sd 3.1). An interval built with
    // z = 1.96 instead of t(4) = 2.776 covers only ~88% (176 +- 4.6), so
    // the bound of 182 tells the two apart.
    let text = r#"Scenario(name: "mm1", seed: 0, duration: "20s", warmup: "1s", network: (latency: Const("0ms")),
        nodes: [Clients(name: "arrivals", target: "q", load: Poisson(rps: 500), mix: [(path: "/")]),
                Service(name: "q", workers: 1, queue: 100000, work: Exp(mean: "1ms"))])"#;
    let model = gatesim::scenario::parse(text).unwrap().model;
    let batches = 200u64;
    let all = jobs(1, 5 * batches as u32, 1);
    let runs = execute(std::slice::from_ref(&model), &all, &ProgressBar::hidden()).unwrap();
    let mut covered = 0;
    for b in 0..batches as usize {
        let file = RunsFile {
            kind: "compare".into(),
            inputs: vec!["mm1".into()],
            files: vec![],
            parameters: vec![],
            replications: 5,
            base_seed: 0,
            resolution_s: 1.0,
            total_jobs: 5,
            shard: (0, 1),
            runs: runs[b * 5..b * 5 + 5]
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let mut r = r.clone();
                    r.replication = i as u32;
                    r
                })
                .collect(),
        };
        let c = compare(&file);
        let e = c.scenarios[0].metrics.0.iter().find(|(k, _)| k == "latency_ms_mean").unwrap().1;
        if e.low() <= 2.0 && 2.0 <= e.high() {
            covered += 1;
        }
    }
    eprintln!("95% intervals covering W = 2 ms: {covered} of {batches}");
    assert!(covered >= 182, "{covered} of {batches} intervals cover the true mean");
}

#[test]
fn compare_times_answered_failures_apart_and_says_when_there_were_none() {
    // One service that always answers in 5 ms and one that fails half its
    // requests after exactly 20 ms of work: failure latency is the 20 ms of
    // the failures alone, and the clean one has none to average.
    let dir = tempfile::tempdir().unwrap();
    let scenario = |name: &str, fault: &str| {
        let path = dir.path().join(format!("{name}.ron"));
        let text = format!(
            r#"Scenario(name: "{name}", duration: "20s", warmup: "2s", network: (latency: Const("0ms")),
            nodes: [Clients(name: "c", target: "s", load: Poisson(rps: 50), mix: [(path: "/")], policy: (timeout: "1s")),
                    Service(name: "s", workers: 100, queue: 10, work: Const("{work}"))],
            faults: [{fault}])"#,
            work = if fault.is_empty() { "5ms" } else { "20ms" },
        );
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let clean = scenario("clean", "");
    let failing = scenario("failing", r#"Fault(target: "s", at: "0s", duration: "20s", kind: Errors(rate: 0.5))"#);
    let out = dir.path().join("cmp");
    let o = gatesim(&["compare", &clean, &failing, "-r", "3", "--out", out.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let row = stdout.lines().find(|l| l.starts_with("| p99 ms (failures)")).expect("a failure-latency row");
    let cells: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(cells[2], "-", "no failure answered: {row}");
    assert!(cells[3].starts_with("20."), "the failures' own 20 ms: {row}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap()).unwrap();
    let metric = |i: usize| json["scenarios"][i]["metrics"]["failure_latency_ms_p99"].clone();
    assert_eq!(metric(0)["n"], 0);
    assert_eq!(metric(1)["n"], 3);
}

/// A newcomer's review: a total outage drew as 100% success in compare's
/// chart, and inputs that differ in more than their architecture (time
/// grid, name, duration, load) were compared without a word.
#[test]
fn compare_leaves_a_gap_where_nothing_finished_and_says_when_inputs_differ() {
    let dir = tempfile::tempdir().unwrap();
    let scenario = |name: &str, extra: &str, rps: u32, timeout: &str| {
        let path = dir.path().join(format!("{name}.ron"));
        let text = format!(
            r#"Scenario(name: "{name}", duration: "20s", warmup: "2s", {extra} network: (latency: Const("0ms")),
            nodes: [Clients(name: "c", target: "s", load: Poisson(rps: {rps}), mix: [(path: "/")], policy: (timeout: "{timeout}")),
                    Service(name: "s", workers: 100, queue: 10, work: Const("5ms"))],
            faults: [Fault(target: "s", at: "5s", duration: "5s", kind: Hang)])"#
        );
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    // Clients that wait 30 s: nothing finishes while s hangs (5 s to 10 s).
    let (short, long) = (scenario("short", "", 50, "1s"), scenario("long", "", 50, "30s"));
    let out = dir.path().join("cmp");
    let o = gatesim(&["compare", &short, &long, "-r", "2", "-q", "--out", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "like for like: {}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap()).unwrap();
    let series = |i: usize| json["scenarios"][i]["success_series"].as_array().unwrap().clone();
    assert!((6..10).all(|b| series(1)[b].is_null()), "no share where nothing finished: {:?}", series(1));
    assert!((6..10).all(|b| series(0)[b].as_f64() == Some(0.0)), "the 1 s timeouts fail: {:?}", series(0));
    // Another time grid or the same name is refused; another load is told.
    let cases = [
        (scenario("grid", r#"report: (resolution: "500ms"),"#, 50, "1s"), Some(2), "buckets of 500ms"),
        (scenario("short", "", 50, "1s"), Some(2), "both named \"short\""),
        (scenario("heavier", "", 80, "1s"), Some(0), "differ (their names or load)"),
    ];
    for (other, code, says) in cases {
        let o = gatesim(&["compare", &short, &other, "-r", "1", "-q", "--out", out.to_str().unwrap()], &[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), code, "{stderr}");
        assert!(stderr.contains(says), "{says}: {stderr}");
    }
}

/// Success counts partial and cached answers: compare says how many.
#[test]
fn compare_tells_the_degraded_answers_inside_the_success_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let o = gatesim(&["compare", ARCHS[0], ARCHS[1], "-r", "1", "-q", "--out", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap()).unwrap();
    let metric = |i: usize, k: &str| json["scenarios"][i]["metrics"][k]["mean"].as_f64().unwrap();
    // The single gateway fails its dashboards whole; the BFFs degrade them.
    assert_eq!(metric(0, "degraded_share"), 0.0);
    assert!(metric(1, "degraded_share") > 1.0 && metric(1, "degraded_share") < metric(1, "success_rate"));
}

/// A newcomer's review: over five replications a count that is 0 in most
/// of them ("short-circuited 634 ± 807") read as an interval reaching
/// below zero. Intervals are cut to what the metric can take, and the
/// table then gives both ends.
#[test]
fn compare_intervals_never_leave_the_metrics_range() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cmp");
    let o = gatesim(&["compare", ARCHS[0], "-r", "5", "--out", out.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let stdout = String::from_utf8_lossy(&o.stdout).to_string();
    let mut csv = csv::Reader::from_path(out.join("comparison.csv")).unwrap();
    let mut cut = Vec::new();
    for row in csv.records() {
        let row = row.unwrap();
        let (metric, mean) = (&row[1], row[3].parse::<f64>().unwrap_or(0.0));
        let Ok(low) = row[4].parse::<f64>() else { continue };
        let high: f64 = row[5].parse().unwrap();
        // Student's symmetric interval, from the mean and the half-width the JSON keeps.
        assert!(low >= 0.0, "{metric}: interval from {low}");
        if metric.ends_with("rate") || metric.ends_with("share") {
            assert!(high <= 100.0, "{metric}: interval to {high}");
        }
        assert!(low <= mean && mean <= high, "{metric}: {low} <= {mean} <= {high}");
        if low == 0.0 && mean > 0.0 {
            cut.push(metric.to_string());
        }
    }
    // Without a cut interval this test would show nothing: these five runs have some.
    assert!(!cut.is_empty(), "no interval was cut: pick a scenario whose counts are 0 in some runs");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("comparison.json")).unwrap()).unwrap();
    for metric in &cut {
        let e = &json["scenarios"][0]["metrics"][metric.as_str()];
        let (mean, half) = (e["mean"].as_f64().unwrap(), e["ci95"].as_f64().unwrap());
        assert!(mean - half < 0.0, "{metric}: cut only where Student's interval reaches below 0: {e}");
        assert_eq!(e["low"].as_f64(), Some(0.0), "{metric}: comparison.json gives the cut end: {e}");
        let label = gatesim::batch::compare::METRICS.iter().find(|m| m.key == metric).unwrap().label;
        let line = stdout.lines().find(|l| l.starts_with(&format!("| {label} "))).expect("the metric's row");
        assert!(line.contains(" [0") && !line.contains('±'), "the table gives both ends: {line}");
    }
}

#[test]
fn a_batch_counts_the_gateways_retries_apart_from_the_clients() {
    // Clients that never retry, a gateway route that retries each of the
    // service's errors (half the attempts) once: 0 client retries, and as
    // many retries at all callers as the gateway's own count in the run.
    let text = r#"Scenario(name: "inside", seed: 4, duration: "10s", warmup: "1s", network: (latency: Const("0ms")),
        nodes: [Clients(name: "c", target: "gw", load: Poisson(rps: 200), mix: [(path: "/")], policy: (timeout: "1s")),
                Gateway(name: "gw", workers: 100, queue: 100,
                        routes: [Route(prefix: "/", to: "s", policy: (timeout: "500ms", retries: (max: 1, backoff: Constant("1ms"))))]),
                Service(name: "s", workers: 10, queue: 100, work: Exp(mean: "1ms"), errors: 0.5)])"#;
    let model = gatesim::scenario::parse(text).unwrap().model;
    let run = &execute(std::slice::from_ref(&model), &jobs(1, 1, 4), &ProgressBar::hidden()).unwrap()[0];
    let gateway = crate::util::node(&crate::util::run_text(text), "gw").attempts.retries;
    assert!(gateway > 500, "about one in two of ~1800 requests is retried: {gateway}");
    assert_eq!((run.retries, run.all_retries), (0, Some(gateway)));
}
