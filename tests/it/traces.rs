//! Issue 12: scenarios from traces, and simulated requests as traces.
//! The round trip (a run's trace.json imported back gives the same system)
//! is checked against the original's *configuration*: its distributions'
//! quantiles are computed from their formulas, not from a run.

use std::fs;

use gatesim::import::traces::{Importer, Options};
use gatesim::model::config::{ModelConfig, NodeKind, RouteKind};

use crate::util::{gatesim, repo, run_text};

/// A gateway with a route and an aggregate, a service that calls one
/// service and then two at once; light load, so a span's own time is its work.
const ORIGINAL: &str = r#"Scenario(
    name: "roundtrip",
    seed: 3,
    duration: "90s",
    network: (latency: Const("0.4ms")),
    report: (trace: 1.0),
    nodes: [
        Clients(name: "web", target: "gw", load: Poisson(rps: 250),
                mix: [(weight: 2, path: "/a"), (weight: 1, path: "/b")]),
        Gateway(name: "gw", replicas: 2, workers: 512, queue: 100, overhead: Const("0.2ms"),
                routes: [Route(prefix: "/a", to: "svc"), Aggregate(path: "/b", calls: ["x", "y"])]),
        Service(name: "svc", replicas: 2, workers: 256, queue: 100, work: LogNormal(median: "5ms", p99: "40ms"),
                calls: [Call(to: "db"), Parallel([Call(to: "x"), Call(to: "y")])]),
        Service(name: "x", workers: 256, queue: 100, work: Exp(mean: "2ms")),
        Service(name: "y", workers: 256, queue: 100, work: Uniform(min: "1ms", max: "3ms")),
        Service(name: "db", workers: 256, queue: 100, work: Exp(mean: "1ms")),
    ],
)"#;

fn import_bytes(files: &[&[u8]], opts: Options) -> gatesim::import::Imported {
    let mut importer = Importer::new(opts);
    for f in files {
        importer.add(*f).expect("the traces read");
    }
    importer.finish("roundtrip").expect("a scenario")
}

fn model(text: &str) -> ModelConfig {
    gatesim::scenario::parse(text).unwrap_or_else(|p| panic!("{p:#?}\n{text}")).model
}

fn node<'a>(m: &'a ModelConfig, name: &str) -> &'a NodeKind {
    &m.nodes.iter().find(|n| n.name == name).unwrap_or_else(|| panic!("no node {name}")).kind
}

fn replicas(m: &ModelConfig, name: &str) -> u32 {
    m.nodes.iter().find(|n| n.name == name).unwrap().replicas
}

fn target(m: &ModelConfig, edge: u32) -> &str {
    &m.nodes[m.edges[edge as usize].to as usize].name
}

/// The steps of service `name`: the callee names of each step, sorted.
fn steps(m: &ModelConfig, name: &str) -> Vec<Vec<String>> {
    let NodeKind::Service(s) = node(m, name) else { panic!("{name} is not a service") };
    s.steps
        .iter()
        .map(|step| {
            let mut names: Vec<String> = step.iter().map(|e| target(m, *e).to_string()).collect();
            names.sort();
            names
        })
        .collect()
}

/// The (median, p99) of a distribution, from 400,000 draws.
fn quantiles(d: &gatesim::engine::dist::Dist) -> (f64, f64) {
    use rand::SeedableRng;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
    let mut xs: Vec<u64> = (0..400_000).map(|_| d.sample(&mut rng).as_nanos()).collect();
    xs.sort_unstable();
    (xs[200_000] as f64 / 1e6, xs[396_000] as f64 / 1e6)
}

fn work(m: &ModelConfig, name: &str) -> (f64, f64) {
    match node(m, name) {
        NodeKind::Service(s) => quantiles(&s.work),
        NodeKind::Gateway(g) => quantiles(&g.overhead),
        _ => panic!("{name} has no work"),
    }
}

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got / want - 1.0).abs() <= tol
}

#[test]
fn issue12_a_runs_traces_imported_back_give_the_same_system() {
    let loaded = gatesim::scenario::parse(ORIGINAL).expect("valid");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    let original = gatesim::metrics::Summary::from_run(&run);
    let json = gatesim::metrics::trace::otlp_json(&run).expect("tracing was on");
    let imported = import_bytes(&[&json], Options::default());
    assert!(imported.warnings.is_empty(), "{:?}", imported.warnings);
    let m = model(&imported.scenario);
    // Topology and call structure.
    let NodeKind::Gateway(gw) = node(&m, "gw") else { panic!("gw is not a gateway:\n{}", imported.scenario) };
    let routes: Vec<(String, Vec<String>)> = gw
        .routes
        .iter()
        .map(|r| match &r.kind {
            RouteKind::Forward { edge } => (r.path.clone(), vec![target(&m, *edge).to_string()]),
            RouteKind::Aggregate { edges, .. } | RouteKind::Split { edges, .. } => {
                (r.path.clone(), edges.iter().map(|e| target(&m, *e).to_string()).collect())
            }
        })
        .collect();
    assert_eq!(routes, [("/a".to_string(), vec!["svc".to_string()]), ("/b".into(), vec!["x".into(), "y".into()])]);
    assert_eq!(steps(&m, "svc"), [vec!["db"], vec!["x", "y"]]);
    assert!(steps(&m, "x").is_empty() && steps(&m, "db").is_empty());
    assert_eq!((replicas(&m, "gw"), replicas(&m, "svc"), replicas(&m, "x")), (2, 2, 1));
    assert!(matches!(node(&m, "web"), NodeKind::Clients(_)));
    // Work: within 5% at the median and 10% at p99 of the formulas.
    let ln2 = std::f64::consts::LN_2;
    let expected = [
        ("gw", 0.2, 0.2),
        ("svc", 5.0, 40.0),
        ("x", 2.0 * ln2, 2.0 * 100f64.ln()),
        ("y", 2.0, 1.0 + 2.0 * 0.99),
        ("db", ln2, 100f64.ln()),
    ];
    for (name, median, p99) in expected {
        let (m50, m99) = work(&m, name);
        assert!(close(m50, median, 0.05), "{name}: median {m50} ms, expected {median}");
        assert!(close(m99, p99, 0.10), "{name}: p99 {m99} ms, expected {p99}");
    }
    // End to end: the imported system answers like the original.
    let again = run_text(&imported.scenario);
    let (a, b) = (&original.latency_ms, &again.latency_ms);
    assert!(close(b.p50, a.p50, 0.10), "p50 {} vs {}", b.p50, a.p50);
    assert!(close(b.p99, a.p99, 0.10), "p99 {} vs {}", b.p99, a.p99);
}

#[test]
fn issue12_sampled_traces_give_the_full_load_back() {
    let text = ORIGINAL.replace("trace: 1.0", "trace: 0.1");
    let loaded = gatesim::scenario::parse(&text).expect("valid");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    let json = gatesim::metrics::trace::otlp_json(&run).expect("tracing was on");
    let opts = Options { sampled: 0.1, ..Options::default() };
    let m = model(&import_bytes(&[&json], opts).scenario);
    let NodeKind::Clients(c) = node(&m, "web") else { panic!() };
    let rps = match &c.load {
        gatesim::model::config::Load::Poisson { rps } => *rps,
        other => panic!("{other:?}"),
    };
    // About 2,250 sampled requests: the rate is known to a few percent.
    assert!(close(rps, 250.0, 0.06), "{rps}");
}

#[test]
fn issue12_trace_files_are_written_and_change_no_number() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let plain = fs::read_to_string(repo().join("scenarios/quickstart.ron")).unwrap();
    let traced = plain.replacen("warmup: \"5s\",", "warmup: \"5s\",\n    report: (trace: 0.02),", 1);
    assert_ne!(plain, traced);
    let mut outs = Vec::new();
    for (i, text) in [&plain, &traced, &traced].iter().enumerate() {
        let file = tmp.path().join(format!("q{i}.ron"));
        fs::write(&file, text).unwrap();
        let out = tmp.path().join(format!("out{i}"));
        let o = gatesim(&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"], &[]);
        assert_eq!(o.status.code(), Some(0), "{}", String::from_utf8_lossy(&o.stderr));
        outs.push(out);
    }
    assert!(!outs[0].join("trace.json").exists(), "no trace unless asked for");
    // Sampling draws from its own stream: the run's numbers do not move.
    let summary = |i: usize| fs::read_to_string(outs[i].join("summary.json")).unwrap();
    assert_eq!(summary(0), summary(1));
    // The same file and seed give the same trace, byte for byte.
    let trace = |i: usize| fs::read(outs[i].join("trace.json")).unwrap();
    assert_eq!(trace(1), trace(2));
    let otlp: serde_json::Value = serde_json::from_slice(&trace(1)).expect("trace.json is JSON");
    let spans: Vec<&serde_json::Value> = otlp["resourceSpans"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["scopeSpans"][0]["spans"].as_array().unwrap())
        .collect();
    let roots = spans.iter().filter(|s| s["parentSpanId"] == "").count();
    // 2% of about 1500 rps x 60 s: about 1800 requests (binomial, 3 sigma).
    assert!((1600..=2000).contains(&roots), "{roots} traced requests");
    assert!(
        spans.iter().any(|s| s["attributes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["key"] == "http.request.resend_count"))
    );
    let perfetto: serde_json::Value =
        serde_json::from_slice(&fs::read(outs[1].join("trace.perfetto.json")).unwrap()).expect("perfetto JSON");
    let complete = perfetto["traceEvents"].as_array().unwrap().iter().filter(|e| e["ph"] == "X").count();
    assert_eq!(complete, spans.len(), "one Perfetto event per span");
}

fn shop(m: &ModelConfig) {
    let NodeKind::Gateway(gw) = node(m, "edge") else { panic!("edge is not a gateway") };
    let mut routes: Vec<(String, String)> = gw
        .routes
        .iter()
        .map(|r| match &r.kind {
            RouteKind::Forward { edge } => (r.path.clone(), target(m, *edge).to_string()),
            RouteKind::Aggregate { .. } | RouteKind::Split { .. } => panic!("no aggregate or split in the shop"),
        })
        .collect();
    routes.sort();
    assert_eq!(routes, [("/items".to_string(), "catalog".to_string()), ("/orders".into(), "orders".into())]);
    assert_eq!(steps(m, "orders"), [vec!["pricing", "stock"], vec!["db"]]);
    assert_eq!(replicas(m, "orders"), 2);
    let NodeKind::Service(stock) = node(m, "stock") else { panic!() };
    // 5% of stock's calls fail (its spans have an error status and no failed call).
    assert!((0.02..0.09).contains(&stock.errors), "{}", stock.errors);
    let NodeKind::Service(orders) = node(m, "orders") else { panic!() };
    assert_eq!(orders.errors, 0.0, "orders' errors are stock's, passed on");
    let (net, _) = quantiles(&m.network);
    assert!(close(net, 0.3, 0.01), "network {net} ms");
    // orders' own time: log-normal, median 3 ms (the fixture's generator).
    assert!(close(work(m, "orders").0, 3.0, 0.1), "{:?}", work(m, "orders"));
}

#[test]
fn issue12_the_hand_made_otlp_and_jaeger_fixtures_give_their_known_structure() {
    for file in ["scenarios/traces/shop.otlp.json", "scenarios/traces/shop.jaeger.json"] {
        let out = gatesim(&["import", file], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{file}: {stderr}");
        assert!(stderr.is_empty(), "{file}: {stderr}");
        shop(&model(&String::from_utf8(out.stdout).unwrap()));
    }
}

/// Writes `text` to a temporary file and imports it.
fn import_text(name: &str, text: &str, extra: &[&str]) -> (Option<i32>, String, String) {
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join(name);
    fs::write(&path, text).unwrap();
    let mut args = vec!["import", path.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = gatesim(&args, &[]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const SPAN: &str = r#"{"traceId":"0000000000000000000000000000000a","spanId":"SPAN","parentSpanId":"PARENT","name":"GET /x","kind":2,"startTimeUnixNano":"START","endTimeUnixNano":"END","attributes":[{"key":"http.route","value":{"stringValue":"/x"}}]}"#;

fn otlp(service: &str, spans: &[(&str, &str, u64, u64)]) -> String {
    let spans: Vec<String> = spans
        .iter()
        .map(|(id, parent, start, end)| {
            SPAN.replace("SPAN", id)
                .replace("PARENT", parent)
                .replace("START", &start.to_string())
                .replace("END", &end.to_string())
        })
        .collect();
    format!(
        r#"{{"resourceSpans":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"{service}"}}}}]}},"scopeSpans":[{{"spans":[{}]}}]}}]}}"#,
        spans.join(",")
    )
}

#[test]
fn issue12_bad_trace_files_get_a_message_and_exit_2() {
    let first_line = fs::read_to_string(repo().join("scenarios/traces/shop.otlp.json")).unwrap();
    let first_line = first_line.lines().next().unwrap().to_string();
    let cases: [(&str, String, &[&str], &str); 6] = [
        ("empty.json", String::new(), &[], "empty"),
        ("text.json", "hello, traces".into(), &[], "not JSON"),
        ("other.json", r#"{"kind": "metrics", "points": []}"#.into(), &[], "neither OTLP"),
        ("other2.json", r#"{"points": []}"#.into(), &["--format", "otlp"], "resourceSpans"),
        ("cut.json", first_line[..first_line.len() / 2].to_string(), &[], "ends inside"),
        ("jaeger.json", r#"{"data": [{"spans": 3}]}"#.into(), &[], "line 1"),
    ];
    for (name, text, extra, says) in cases {
        let (code, stdout, stderr) = import_text(name, &text, extra);
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(says) && stderr.contains(name), "{name}: {stderr}");
        assert!(stderr.contains("hint:"), "{name}: {stderr}");
        assert!(stdout.is_empty(), "{name}");
    }
    let (code, _, stderr) = import_text("nothing.json", r#"{"resourceSpans": []}"#, &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("no spans"), "{stderr}");
}

#[test]
fn issue12_missing_parents_and_clock_skew_are_warnings_with_a_best_effort() {
    let ms = 1_000_000u64;
    // b's parent is not in the file; c begins 5 ms before its parent a.
    let api = otlp(
        "api",
        &[("00000000000000a1", "", 100 * ms, 110 * ms), ("00000000000000b1", "00000000000000ff", 200 * ms, 205 * ms)],
    );
    let db = otlp("db", &[("00000000000000c1", "00000000000000a1", 95 * ms, 104 * ms)]);
    let (code, stdout, stderr) = import_text("skew.json", &format!("{api}\n{db}\n"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("1 spans name a parent that is not in the files"), "{stderr}");
    assert!(stderr.contains("1 spans begin before their parent"), "{stderr}");
    // api passes /x on to db: a gateway.
    let m = model(&stdout);
    let NodeKind::Gateway(gw) = node(&m, "api") else { panic!("{stdout}") };
    assert!(matches!(gw.routes[0].kind, RouteKind::Forward { edge } if target(&m, edge) == "db"), "{stdout}");
}

/// Found by mutating the example exports: a span that ends before it
/// begins (here at 2 ns, long before its start) made the import panic.
#[test]
fn spans_that_end_before_they_begin_or_at_the_end_of_time_are_warned_not_fatal() {
    let ms = 1_000_000u64;
    let api = otlp(
        "api",
        &[
            ("00000000000000a1", "", 100 * ms, 110 * ms),
            ("00000000000000a2", "", 300 * ms, 2),
            ("00000000000000a3", "", u64::MAX - 5, u64::MAX),
        ],
    );
    let db = otlp(
        "db",
        &[
            ("00000000000000c1", "00000000000000a1", 101 * ms, 104 * ms),
            ("00000000000000c2", "00000000000000a2", 301 * ms, 1),
        ],
    );
    let (code, stdout, stderr) = import_text("backwards.json", &format!("{api}\n{db}\n"), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("2 spans end before they begin"), "{stderr}");
    model(&stdout);
}

#[test]
fn issue12_spans_whose_parents_form_a_loop_end_the_import() {
    let ms = 1_000_000u64;
    // a's parent is b and b's parent is a (same service), and a root r calls into them.
    let text = otlp(
        "api",
        &[
            ("00000000000000a1", "00000000000000b1", 10 * ms, 20 * ms),
            ("00000000000000b1", "00000000000000a1", 11 * ms, 19 * ms),
            ("00000000000000c1", "", 0, 30 * ms),
        ],
    );
    let db = otlp("db", &[("00000000000000d1", "00000000000000a1", 12 * ms, 13 * ms)]);
    let (code, _, stderr) = import_text("loop.json", &format!("{text}\n{db}\n"), &[]);
    assert!(matches!(code, Some(0) | Some(2)), "{stderr}");
}

#[test]
fn issue12_overlapping_exports_count_each_span_once() {
    let file = "scenarios/traces/shop.otlp.json";
    let out = gatesim(&["import", file, file], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("3312 spans appear more than once"), "{stderr}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("from 500 traces (3312 spans)"), "{text}");
    shop(&model(&text));
}

/// A gateway that retries (10 ms back-off) a service failing 30% of the
/// time: the back-off between a call and its retry is waiting, not the
/// gateway's work (0.2 ms), and the retries are told with their most
/// resends of one call (the route allows 2).
#[test]
fn retries_in_traces_are_told_and_their_back_off_is_not_work() {
    let text = r#"Scenario(name: "rtr", seed: 1, duration: "30s", warmup: "0s",
        network: (latency: Const("0.5ms")), report: (trace: 1.0),
        nodes: [
            Clients(name: "c", target: "gw", load: Poisson(rps: 100), mix: [(path: "/x")], policy: (timeout: "2s")),
            Gateway(name: "gw", workers: 100, queue: 10, overhead: Const("0.2ms"),
                routes: [Route(prefix: "/x", to: "s",
                               policy: (timeout: "500ms", retries: (max: 2, backoff: Constant("10ms"))))]),
            Service(name: "s", replicas: 2, workers: 10, queue: 10, work: Exp(mean: "5ms"), errors: 0.3),
        ])"#;
    let loaded = gatesim::scenario::parse(text).expect("valid");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    let json = gatesim::metrics::trace::otlp_json(&run).expect("tracing was on");
    let imported = import_bytes(&[&json], Options::default());
    let m = model(&imported.scenario);
    let (median, p99) = work(&m, "gw");
    assert!(close(median, 0.2, 0.05) && close(p99, 0.2, 0.05), "gw work {median} / {p99} ms:\n{}", imported.scenario);
    let told: Vec<&String> = imported.warnings.iter().filter(|w| w.contains("retried its calls to s")).collect();
    assert_eq!(told.len(), 1, "{:?}", imported.warnings);
    assert!(told[0].contains("up to 2 resends of one call"), "{}", told[0]);
}

/// Requests that begin at two services (no client spans): both are load,
/// each at its own rate over the same window; none is dropped.
#[test]
fn every_service_where_requests_begin_gets_its_clients() {
    // Span ids: 16 hex digits, distinct across both services.
    let spans = |base: u64, n: u64| -> Vec<(String, String, u64, u64)> {
        (0..n)
            .map(|i| (format!("{:016x}", base + i + 1), String::new(), i * 100_000_000, i * 100_000_000 + 1_000_000))
            .collect()
    };
    // `b`'s 50 requests spread over the same 9.9 s as `a`'s 100.
    let b: Vec<(String, String, u64, u64)> =
        spans(0x1000, 50).into_iter().map(|(id, p, s, e)| (id, p, s * 99 / 49, e * 99 / 49)).collect();
    let a = spans(0, 100);
    fn as_ref(v: &[(String, String, u64, u64)]) -> Vec<(&str, &str, u64, u64)> {
        v.iter().map(|(id, p, s, e)| (id.as_str(), p.as_str(), *s, *e)).collect()
    }
    let files = [otlp("a", &as_ref(&a)), otlp("b", &as_ref(&b))];
    let imported = import_bytes(&[files[0].as_bytes(), files[1].as_bytes()], Options::default());
    let m = model(&imported.scenario);
    let rates: Vec<(String, f64)> = m
        .nodes
        .iter()
        .filter_map(|n| match &n.kind {
            NodeKind::Clients(c) => match c.load {
                gatesim::model::config::Load::Poisson { rps } => Some((n.name.clone(), rps)),
                _ => None,
            },
            _ => None,
        })
        .collect();
    assert_eq!(rates.len(), 2, "{}", imported.scenario);
    // 100 requests over 9.9 s at `a`, 50 over the same window at `b`.
    assert!(close(rates[0].1, 99.0 / 9.9, 0.01), "{rates:?}");
    assert!(close(rates[1].1, 49.0 / 9.9, 0.01), "{rates:?}");
}
