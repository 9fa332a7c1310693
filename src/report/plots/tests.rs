//! Tests of the pictures: reading an output folder back, every file drawn,
//! the same bytes twice, a self-contained page, and the timing of a large run.

use super::data::{Col, PlotData};
use super::{render_all, topology};

/// A tiny run: clients -> api (2 replicas, one slowed down), with a breaker.
const TINY: &str = r#"Scenario(name: "tiny <&>", seed: 3, duration: "4s", warmup: "1s",
    nodes: [
        Clients(name: "app", target: "api", load: Poisson(rps: 200), mix: [(path: "/")],
                policy: (timeout: "50ms", breaker: Some(Breaker(window: Count(10), min_calls: 5, failure_rate: 0.5,
                         open_for: "500ms", half_open_calls: 2)))),
        Service(name: "api", replicas: 2, workers: 4, queue: 8, work: Exp(mean: "2ms")),
    ],
    faults: [Fault(target: "api#1", at: "2s", duration: "1s", kind: Slow(factor: 50))],
    slo: (p99: "100ms", success_rate: 0.99))"#;

/// summary.json and timeseries.csv of a scenario, as `gatesim run` writes them.
fn outputs(text: &str) -> (String, Vec<u8>) {
    let loaded = crate::scenario::parse(text).expect("valid scenario");
    let run = crate::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    let summary = crate::metrics::Summary::from_run(&run);
    let json = String::from_utf8(crate::report::summary_json(&summary)).expect("UTF-8");
    (json, crate::metrics::timeseries_csv(&run))
}

fn tiny() -> PlotData {
    let (json, csv) = outputs(TINY);
    PlotData::from_outputs(&json, &csv).expect("tiny outputs read")
}

#[test]
fn reads_a_tiny_output_folder() {
    let d = tiny();
    assert_eq!(d.scenario(), "tiny <&>");
    assert_eq!(d.summary.seed, 3);
    assert_eq!((0..d.node_count()).map(|i| d.name(i)).collect::<Vec<_>>(), ["app", "api"]);
    assert!(d.is_clients(0) && !d.is_clients(1));
    assert_eq!(d.series.times, [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(d.series.bucket_s, 1.0);
    // The fault on api#1 flags api's bucket 2 only.
    assert_eq!(d.series.nodes[1].col(Col::FaultActive), [0.0, 0.0, 1.0, 0.0]);
    assert_eq!(d.summary.faults[0].nodes(), ["api"]);
    let arrivals: f64 = d.series.nodes[0].col(Col::Arrivals).iter().sum();
    assert!(arrivals > 500.0, "the clients' series is there: {arrivals}");
}

#[test]
fn malformed_files_say_which_and_what() {
    let (json, csv) = outputs(TINY);
    let e = PlotData::from_outputs("{ not json", &csv).unwrap_err().to_string();
    assert!(e.starts_with("summary.json"), "{e}");
    let e = PlotData::from_outputs(&json.replacen("\"faults\": [", "\"faults\": 3, \"x\": [", 1), &csv)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("summary.json") && e.contains("line"), "{e}");
    let e = PlotData::from_outputs(r#"{"duration_s": 1}"#, &csv).unwrap_err().to_string();
    assert!(e.starts_with("summary.json") && e.contains("missing field"), "{e}");
    let text = String::from_utf8(csv.clone()).unwrap();
    let line2 = text.lines().nth(1).unwrap();
    let broken = line2.replacen(",app,", ",app,fast", 1);
    let e = PlotData::from_outputs(&json, text.replacen(line2, &broken, 1).as_bytes()).unwrap_err().to_string();
    assert!(e.starts_with("timeseries.csv line 2") && e.contains("arrivals"), "{e}");
    let e = PlotData::from_outputs(&json, b"a,b\n1,2\n").unwrap_err().to_string();
    assert!(e.starts_with("timeseries.csv"), "{e}");
    // More bucket times than summary.json's duration / resolution allow
    // (a crafted file that would make the pictures grow without bound).
    let last = text.lines().last().unwrap();
    let extra: String = (10..20).map(|t| format!("{}\n", last.replacen("3.000", &format!("{t}.000"), 1))).collect();
    let e = PlotData::from_outputs(&json, format!("{text}{extra}").as_bytes()).unwrap_err().to_string();
    assert!(e.contains("more bucket times than"), "{e}");
    let stranger = text.replacen(",app,", ",ghost,", 1);
    let e = PlotData::from_outputs(&json, stranger.as_bytes()).unwrap_err().to_string();
    assert!(e.contains("ghost"), "{e}");
}

const NAMES: [&str; 13] = [
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

fn check_files(files: &[(String, Vec<u8>)]) {
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, NAMES);
    for (name, bytes) in files {
        if name.ends_with(".svg") {
            assert!(bytes.starts_with(b"<svg"), "{name} starts with <svg");
        }
        if name.ends_with(".png") {
            assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{name} is a PNG");
        }
    }
    let html = String::from_utf8(files[12].1.clone()).expect("report.html is UTF-8");
    assert!(!html.contains("http://") && !html.contains("https://"), "report.html links out");
    assert!(!html.contains("src="), "report.html loads a file");
    // One inline script (legend toggles, readout) and each chart's data.
    assert_eq!(html.matches("<script>").count(), 1, "one inline script");
    assert_eq!(html.matches("<script type=\"application/json\" class=\"data\">").count(), 5);
    assert_eq!(html.matches("<svg").count(), 11, "five charts, each with its overlay, and the topology inline");
    assert!(html.matches("<title>").count() > 10, "hover text in the page");
}

#[test]
fn renders_every_file_the_same_twice() {
    let d = tiny();
    let first = render_all(&d).expect("renders");
    check_files(&first);
    let html = String::from_utf8(first[12].1.clone()).expect("UTF-8");
    assert!(html.contains("tiny &lt;&amp;&gt;"), "the title is escaped");
    let second = render_all(&tiny()).expect("renders again");
    for ((n, a), (_, b)) in first.iter().zip(&second) {
        assert!(a == b, "{n} differs between two renders");
    }
}

#[test]
fn topology_escapes_and_marks_missing_timeouts() {
    let mut d = tiny();
    d.summary.topology.edges[0].policy = "2 retries".into();
    d.summary.topology.nodes[1].name = "a\"pi".into();
    d.summary.topology.edges[0].to = "a\"pi".into();
    let svg = topology::svg(&d);
    assert!(svg.contains("no timeout") && svg.contains("a&quot;pi"));
    let dot = topology::dot(&d);
    assert!(dot.contains(r#""app" -> "a\"pi""#) && dot.contains("no timeout"), "{dot}");
}

/// 1 hour at 1 s for 20 nodes (a gateway in front of 18 services), with a
/// fault and breakers on every route.
fn large() -> (String, Vec<u8>) {
    let mut routes = Vec::new();
    let mut services = Vec::new();
    for i in 2..20 {
        routes.push(format!(
            r#"Route(prefix: "/s{i}", to: "s{i}", policy: (timeout: "300ms", breaker: Some(Breaker(window: Count(20),
               min_calls: 10, failure_rate: 0.5, open_for: "5s", half_open_calls: 2))))"#
        ));
        services.push(format!(r#"Service(name: "s{i}", replicas: 2, workers: 4, queue: 8, work: Exp(mean: "2ms"))"#));
    }
    let mix: Vec<String> = (2..20).map(|i| format!(r#"(path: "/s{i}")"#)).collect();
    let text = format!(
        r#"Scenario(name: "large", seed: 1, duration: "3600s", warmup: "60s",
        nodes: [
            Clients(name: "web", target: "gw", load: Poisson(rps: 40), mix: [{}], policy: (timeout: "1s")),
            Gateway(name: "gw", replicas: 2, workers: 16, queue: 32, routes: [{}]),
            {}
        ],
        faults: [Fault(target: "s3", at: "1200s", duration: "600s", kind: Slow(factor: 200))])"#,
        mix.join(", "),
        routes.join(",\n"),
        services.join(",\n")
    );
    outputs(&text)
}

/// 1 h at 1 s resolution for 20 nodes renders every file, and the long
/// series are thinned (how fast is measured in benches/throughput.rs).
#[test]
fn one_hour_of_twenty_nodes_renders() {
    let (summary, csv) = large();
    let data = PlotData::from_outputs(&summary, &csv).expect("large outputs read");
    assert_eq!(data.node_count(), 20);
    let files = render_all(&data).expect("large renders");
    check_files(&files);
    let latency = &files[0].1;
    assert!(latency.len() < 2_000_000, "latency.svg is {} bytes", latency.len());
    let html = &files[12].1;
    assert!(html.len() < 12_000_000, "report.html is {} bytes", html.len());
}

/// The outcome chart's legend gives the same shares as summary.json, which
/// leaves the warm-up out (a share over every bucket would disagree).
#[test]
fn outcome_legend_shares_match_the_summary() {
    let d = tiny();
    super::register_fonts();
    let svg = super::Chart::Errors.svg(&d).expect("draws");
    let r = &d.summary.requests;
    let ok = r.ok as f64 / (r.total - r.unfinished) as f64;
    let expected = super::charts::share(ok);
    assert!(svg.contains(&format!("ok  {expected}")), "legend shows ok {expected}");
}

#[test]
fn a_long_series_is_drawn_with_groups_of_buckets_that_keep_totals_and_peaks() {
    // 2500 buckets of 2 ms: 3 buckets per point, 834 points.
    let text = TINY
        .replace(r#"duration: "4s", warmup: "1s","#, r#"duration: "5s", warmup: "1s", report: (resolution: "2ms"),"#);
    let (json, csv) = outputs(&text);
    let d = PlotData::from_outputs(&json, &csv).expect("reads");
    assert_eq!(d.series.times.len(), 834);
    assert!((d.series.bucket_s - 0.006).abs() < 1e-12, "{}", d.series.bucket_s);
    // 2500 = 833 x 3 + 1: the last point is one bucket wide, and its rate
    // is divided by that, not by three buckets.
    assert!((d.series.width(833) - 0.002).abs() < 1e-12 && (d.series.width(832) - 0.006).abs() < 1e-12);
    // From the CSV itself: the api's arrivals in all, and its worst p99.
    let text = String::from_utf8(csv).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> =
        text.lines().skip(1).map(|l| l.split(',').collect()).filter(|r: &Vec<&str>| r[1] == "api").collect();
    assert_eq!(rows.len(), 2500);
    let arrivals: f64 = rows.iter().map(|r| r[col("arrivals")].parse::<f64>().unwrap()).sum();
    let worst = rows.iter().filter_map(|r| r[col("latency_ms_p99")].parse::<f64>().ok()).fold(0.0, f64::max);
    let api = &d.series.nodes[1];
    assert_eq!(api.col(Col::Arrivals).iter().sum::<f64>(), arrivals, "counts are summed");
    assert_eq!(
        api.col(Col::P99).iter().copied().filter(|v| !v.is_nan()).fold(0.0, f64::max),
        worst,
        "the worst bucket stays"
    );
    assert!(api.col(Col::Utilization).iter().all(|u| (0.0..=1.0).contains(u)), "utilisation is a mean, not a sum");
    // Every picture is still drawn.
    check_files(&render_all(&d).expect("renders"));
}

/// report.html of a scenario, as `gatesim run` writes it.
fn report_html(text: &str) -> String {
    let (json, csv) = outputs(text);
    let files = render_all(&PlotData::from_outputs(&json, &csv).expect("reads")).expect("renders");
    String::from_utf8(files[12].1.clone()).expect("UTF-8")
}

#[test]
fn retry_amplification_is_told_only_when_retries_multiplied_the_load() {
    // tiny's clients never retry: one attempt per request all along, which
    // the page once told as "1 attempts per client request at its peak".
    assert!(!report_html(TINY).contains("Retry amplification"));
    // No breaker and three retries after each 50 ms timeout: the slow
    // replica multiplies the attempts while it is slow.
    let retrying = r#"Scenario(name: "retrying", seed: 3, duration: "4s", warmup: "1s",
        nodes: [
            Clients(name: "app", target: "api", load: Poisson(rps: 200), mix: [(path: "/")],
                    policy: (timeout: "50ms", retries: (max: 3, backoff: Constant("1ms")))),
            Service(name: "api", replicas: 2, workers: 4, queue: 8, work: Exp(mean: "2ms")),
        ],
        faults: [Fault(target: "api#1", at: "2s", duration: "1s", kind: Slow(factor: 50))])"#;
    assert!(report_html(retrying).contains("Retry amplification"));
}
