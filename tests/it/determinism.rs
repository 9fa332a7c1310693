//! Determinism: same file and seed => byte-identical summary.json, across
//! runs, processes and thread counts; another seed => different bytes.
//! Random streams are keyed by name, so unrelated changes to a scenario
//! do not shift anyone else's numbers (common random numbers).

use gatesim::report::summary_json;

use crate::util::{gatesim, node, read, run_seeded, run_text, scenario};

#[test]
fn same_file_and_seed_give_identical_bytes() {
    let text = read(&scenario("quickstart.ron"));
    let a = summary_json(&run_text(&text));
    let b = summary_json(&run_text(&text));
    assert_eq!(a, b);
    let c = summary_json(&run_seeded(&text, 8));
    assert_ne!(a, c, "another seed must give another run");
}

#[test]
fn the_binary_is_deterministic_whatever_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let mut outputs = Vec::new();
    for (i, threads) in ["1", "2", "8"].iter().enumerate() {
        let out = dir.path().join(format!("run{i}"));
        let o = gatesim(
            &["run", "scenarios/ha-fleet.ron", "--quiet", "--out", out.to_str().unwrap()],
            &[("RAYON_NUM_THREADS", threads)],
        );
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        outputs.push((
            std::fs::read(out.join("summary.json")).unwrap(),
            std::fs::read(out.join("timeseries.csv")).unwrap(),
        ));
    }
    assert!(outputs.windows(2).all(|w| w[0] == w[1]), "summary.json or timeseries.csv differ between runs");
}

const STATION: &str = r#"Scenario(name: "crn", seed: 5, duration: "30s",
    nodes: [
        Clients(name: "web", target: "api", load: Poisson(rps: 500), mix: [(path: "/")], policy: (timeout: "1s")),
        Service(name: "api", workers: 4, queue: 100, work: Exp(mean: "4ms")),
        EXTRA
    ])"#;

#[test]
fn adding_an_unrelated_node_changes_no_one_elses_numbers() {
    let base = run_text(&STATION.replace("EXTRA", ""));
    let extended = run_text(&STATION.replace(
        "EXTRA",
        r#"Clients(name: "batch", target: "etl", load: Poisson(rps: 50), mix: [(path: "/")], policy: (timeout: "1s")),
           Service(name: "etl", workers: 1, queue: 10, work: Exp(mean: "5ms")),"#,
    ));
    assert_eq!(node(&base, "web").arrivals, node(&extended, "web").arrivals);
    assert_eq!(node(&base, "api").latency_ms, node(&extended, "api").latency_ms);
}

#[test]
fn equally_named_clients_see_the_same_arrivals_in_different_architectures() {
    // Same client "web", different back end: the arrival stream is shared,
    // and so is the service's work stream. A gateway that adds exactly 1 ms
    // (and never queues) shifts every request by 1 ms: the same queueing
    // happens at "api", so the mean latency rises by exactly 1 ms.
    let a = run_text(&STATION.replace("EXTRA", ""));
    let b = run_text(&STATION.replace(r#"target: "api""#, r#"target: "gw""#).replace(
        "EXTRA",
        r#"Gateway(name: "gw", workers: 1000, queue: 10, overhead: Const("1ms"),
                   routes: [Route(prefix: "/", to: "api", policy: (timeout: "1s"))]),"#,
    ));
    assert_eq!(node(&a, "web").arrivals, node(&b, "web").arrivals);
    // The same queueing at the service (up to the requests still in the
    // gateway when the run ends).
    let (la, lb) = (&node(&a, "api").latency_ms, &node(&b, "api").latency_ms);
    assert!(la.count.abs_diff(lb.count) <= 5 && (la.mean - lb.mean).abs() < 1e-3, "{la:?} vs {lb:?}");
    let shift = node(&b, "web").latency_ms.mean - node(&a, "web").latency_ms.mean;
    assert!((shift - 1.0).abs() < 0.001, "gateway overhead shifted the mean by {shift} ms");
}
