//! Tests of the pictures: reading an output folder back, every file drawn,
//! the same bytes twice, a self-contained page, and the timing of a large run.

use std::fmt::Write as _;

use super::data::{Col, PlotData};
use super::{render_all, topology};

const SUMMARY: &str = r#"{
  "scenario": "tiny <&>", "seed": 3, "duration_s": 4.0, "warmup_s": 1.0, "events": 1234,
  "requests": { "total": 20, "ok": 15, "timeout": 3, "rate_limited": 2, "unfinished": 0 },
  "success_rate": 0.75, "goodput_rps": 3.75,
  "latency_ms": { "mean": 9.0, "p50": 5.0, "p99": 80.0 },
  "nodes": {
    "app": { "kind": "clients", "replicas": 1, "arrivals": 20,
             "latency_ms": { "p50": 5.0, "p99": 80.0 }, "outcomes": { "total": 20, "ok": 15 } },
    "api": { "kind": "service", "replicas": 2, "arrivals": 22, "utilization": 0.5, "dropped": 1 }
  },
  "breakers": [ { "caller": "app", "target": "api", "opened": 1, "open_s": 1.5,
                  "transitions": [[2.0, "open"], [3.5, "half_open"], [3.6, "closed"]] } ],
  "faults": [ { "target": "api#1", "kind": "Slow", "at_s": 2.0, "until_s": 3.0 } ],
  "slo": { "p99_ms": 100.0, "success_rate": 0.99, "measured_p99_ms": 80.0, "measured_success_rate": 0.75, "met": false },
  "cascade": { "verdict": "contained", "story": ["api slowed at 2 s.", "The breaker opened at 2 s."] },
  "topology": {
    "nodes": [ { "name": "app", "kind": "clients", "replicas": 1, "detail": [] },
               { "name": "api", "kind": "service", "replicas": 2, "detail": ["4 workers, queue 8"] } ],
    "edges": [ { "from": "app", "to": "api", "label": "app -> api", "policy": "timeout 1s, breaker 50%" } ]
  }
}"#;

const HEADER: &str = "time_s,node,arrivals,completed,ok,partial,fallback,error,timeout,rate_limited,unauthorized,\
not_found,rejected,short_circuited,unavailable,latency_ms_p50,latency_ms_p99,queue_len,utilization,breakers_open,fault_active,attempts";

fn tiny_csv() -> String {
    let mut s = format!("{HEADER}\n");
    for b in 0..4 {
        let t = b as f64;
        let timeout = if b == 2 { 3 } else { 0 };
        let ok = 5 - timeout;
        let _ = writeln!(s, "{t:.3},app,5,5,{ok},0,0,0,{timeout},0,0,0,0,0,0,5.0,80.0,1.0,0.0,0,0,5");
        let fault = u8::from(b == 2);
        let _ = writeln!(s, "{t:.3},api,6,6,6,0,0,0,0,0,0,0,0,0,0,4.0,60.0,0.5,0.5000,0,{fault},0");
    }
    s
}

fn tiny() -> PlotData {
    PlotData::from_outputs(SUMMARY, tiny_csv().as_bytes()).expect("tiny outputs read")
}

#[test]
fn reads_a_tiny_output_folder() {
    let d = tiny();
    assert_eq!(d.scenario, "tiny <&>");
    assert_eq!(d.seed, Some(3));
    assert_eq!(d.nodes.iter().map(|n| n.name.as_str()).collect::<Vec<_>>(), ["app", "api"]);
    assert!(d.nodes[0].is_clients());
    assert_eq!(d.nodes[1].stats.as_ref().and_then(|s| s.dropped), Some(1));
    assert_eq!(d.series.times, [0.0, 1.0, 2.0, 3.0]);
    assert_eq!(d.series.bucket_s, 1.0);
    assert_eq!(d.series.nodes[0].col(Col::Outcome(4)), [0.0, 0.0, 3.0, 0.0]);
    assert_eq!(d.series.nodes[1].col(Col::FaultActive), [0.0, 0.0, 1.0, 0.0]);
    assert_eq!(d.faults[0].node(), "api");
    assert_eq!(d.breakers[0].transitions.len(), 3);
    assert_eq!(d.cascade.as_ref().map(|c| c.story.len()), Some(2));
    assert_eq!(topology::worst_share(&d, 0), Some(0.4));
    assert_eq!(topology::worst_share(&d, 1), Some(1.0));
}

#[test]
fn missing_optional_keys_are_fine() {
    let summary = r#"{ "scenario": "bare", "duration_s": 2.0 }"#;
    let csv = format!("{HEADER}\n0.000,c,1,1,1,0,0,0,0,0,0,0,0,0,0,1.0,2.0,0,0,0,0,1\n");
    let d = PlotData::from_outputs(summary, csv.as_bytes()).expect("bare outputs read");
    assert_eq!(d.nodes.len(), 1);
    assert!(d.breakers.is_empty() && d.cascade.is_none() && d.slo.is_none());
    let files = render_all(&d).expect("renders");
    assert_eq!(files.len(), 13);
}

#[test]
fn malformed_files_say_which_and_what() {
    let csv = tiny_csv();
    let e = PlotData::from_outputs("{ not json", csv.as_bytes()).unwrap_err();
    assert!(e.starts_with("summary.json"), "{e}");
    let e = PlotData::from_outputs(r#"{"scenario": "x", "faults": 3}"#, csv.as_bytes()).unwrap_err();
    assert!(e.contains("summary.json") && e.contains("faults") && e.contains("array"), "{e}");
    let e = PlotData::from_outputs(r#"{"scenario": "x", "faults": [{"at_s": "soon"}]}"#, csv.as_bytes()).unwrap_err();
    assert!(e.contains("faults[0].at_s"), "{e}");
    let e = PlotData::from_outputs(r#"{"duration_s": 1}"#, csv.as_bytes()).unwrap_err();
    assert!(e.contains("scenario"), "{e}");
    let bad = csv.replacen("5.0,80.0", "5.0,fast", 1);
    let e = PlotData::from_outputs(SUMMARY, bad.as_bytes()).unwrap_err();
    assert!(e.starts_with("timeseries.csv line 2") && e.contains("latency_ms_p99"), "{e}");
    let e = PlotData::from_outputs(SUMMARY, b"a,b\n1,2\n").unwrap_err();
    assert!(e.starts_with("timeseries.csv"), "{e}");
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
    assert!(!html.contains("<script"), "report.html has no scripts");
    assert_eq!(html.matches("<svg").count(), 6, "five charts and the topology inline");
}

#[test]
fn renders_every_file_the_same_twice() {
    let d = tiny();
    let first = render_all(&d).expect("renders");
    check_files(&first);
    let html = String::from_utf8(first[12].1.clone()).expect("UTF-8");
    assert!(html.contains("tiny &lt;&amp;&gt;") && html.contains("The breaker opened at 2 s."));
    let second = render_all(&tiny()).expect("renders again");
    for ((n, a), (_, b)) in first.iter().zip(&second) {
        assert!(a == b, "{n} differs between two renders");
    }
}

#[test]
fn topology_escapes_and_marks_missing_timeouts() {
    let mut d = tiny();
    d.edges[0].policy = "2 retries".into();
    d.nodes[1].name = "a\"pi".into();
    d.edges[0].to = "a\"pi".into();
    let svg = topology::svg(&d);
    assert!(svg.contains("no timeout") && svg.contains("a&quot;pi"));
    let dot = topology::dot(&d);
    assert!(dot.contains(r#""app" -> "a\"pi""#) && dot.contains("no timeout"), "{dot}");
}

/// 1 hour at 1 s for 20 nodes, with a fault and a few breakers.
fn large() -> (String, Vec<u8>) {
    let nodes = 20;
    let mut summary = String::from(r#"{"scenario": "large", "seed": 1, "duration_s": 3600.0, "warmup_s": 60.0,"#);
    summary
        .push_str(r#""faults": [{"target": "s3", "kind": "Slow", "at_s": 1200.0, "until_s": 1800.0}],"breakers": ["#);
    for b in 0..4 {
        let comma = if b > 0 { "," } else { "" };
        let _ = write!(
            summary,
            r#"{comma}{{"caller": "gw#{b}", "target": "s3", "transitions": [[1210.5, "open"], [1215.5, "half_open"], [1216.0, "closed"]]}}"#
        );
    }
    summary.push_str(r#"], "topology": {"nodes": ["#);
    let name = |i: usize| match i {
        0 => "web".to_string(),
        1 => "gw".to_string(),
        i => format!("s{i}"),
    };
    for i in 0..nodes {
        let comma = if i > 0 { "," } else { "" };
        let kind = ["clients", "gateway"].get(i).copied().unwrap_or("service");
        let _ = write!(summary, r#"{comma}{{"name": "{}", "kind": "{kind}", "replicas": 2, "detail": []}}"#, name(i));
    }
    summary.push_str(r#"], "edges": [{"from": "web", "to": "gw", "label": "", "policy": "timeout 1s"}"#);
    for i in 2..nodes {
        let _ = write!(summary, r#",{{"from": "gw", "to": "{}", "label": "", "policy": "timeout 300ms"}}"#, name(i));
    }
    summary.push_str("]}}");
    let mut csv = format!("{HEADER}\n");
    for b in 0..3600 {
        for i in 0..nodes {
            let wave = ((b * (i + 1)) % 97) as f64;
            let slow = (1200..1800).contains(&b) && i == 3;
            let (ok, timeout) = if slow { (50, 50) } else { (100, (b % 7) / 6) };
            let p99 = if slow { 900.0 } else { 20.0 + wave };
            let _ = writeln!(
                csv,
                "{b}.000,{},100,100,{ok},0,0,0,{timeout},0,0,0,0,0,0,{:.3},{p99:.3},{:.3},{:.4},0,{},100",
                name(i),
                5.0 + wave / 10.0,
                wave / 3.0,
                wave / 100.0,
                u8::from(slow)
            );
        }
    }
    (summary, csv.into_bytes())
}

/// 1 h at 1 s resolution for 20 nodes renders every file, and the long
/// series are thinned (how fast is measured in benches/throughput.rs).
#[test]
fn one_hour_of_twenty_nodes_renders() {
    let (summary, csv) = large();
    let data = PlotData::from_outputs(&summary, &csv).expect("large outputs read");
    let files = render_all(&data).expect("large renders");
    check_files(&files);
    let latency = &files[0].1;
    assert!(latency.len() < 2_000_000, "latency.svg is {} bytes", latency.len());
}
