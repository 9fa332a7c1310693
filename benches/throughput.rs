//! Speed of a whole run (parse, simulate, summarise, serialise outputs), in
//! simulated client requests per wall-second: criterion reports it as
//! "elements/s". `cargo bench` runs it; README.md quotes the numbers.
//!
//! The M/M/8 model is scenarios/mm8-bench.ron (lambda 7000/s, mean service
//! 1 ms) shortened to 100 s; the quickstart is scenarios/quickstart.ron.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatesim::metrics::Summary;

fn whole_run(text: &str) -> (Vec<u8>, Vec<u8>) {
    let loaded = gatesim::scenario::parse(text).expect("valid scenario");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    let summary = Summary::from_run(&run);
    (gatesim::report::summary_json(&summary), gatesim::report::csv::timeseries_csv(&run.world.cfg, &run.world.rec.rows))
}

fn requests_of(text: &str) -> u64 {
    let loaded = gatesim::scenario::parse(text).expect("valid scenario");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    Summary::from_run(&run).nodes.0.iter().filter(|(_, n)| n.kind == "clients").map(|(_, n)| n.arrivals).sum()
}

fn bench(c: &mut Criterion) {
    let root = env!("CARGO_MANIFEST_DIR");
    let mm8 = std::fs::read_to_string(format!("{root}/scenarios/mm8-bench.ron"))
        .expect("scenario")
        .replace(r#"duration: "1000s""#, r#"duration: "100s""#)
        .replace(r#"warmup: "10s""#, r#"warmup: "0s""#);
    let quickstart = std::fs::read_to_string(format!("{root}/scenarios/quickstart.ron"))
        .expect("scenario")
        .replace(r#"warmup: "5s""#, r#"warmup: "0s""#);
    let mut group = c.benchmark_group("whole_run");
    group.sample_size(10);
    for (name, text) in [("mm8_100s", &mm8), ("quickstart_60s", &quickstart)] {
        group.throughput(Throughput::Elements(requests_of(text)));
        group.bench_function(name, |b| b.iter(|| whole_run(black_box(text))));
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
