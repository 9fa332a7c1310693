//! Speed of `gatesim import` on OpenTelemetry traces, in bytes of OTLP/JSON
//! per wall-second (criterion's "bytes/s"). The file is made by gatesim
//! itself: scenarios/traces/roundtrip.ron traced in full for 60 s, about
//! 100 MB in the collector's JSON Lines. Issue 12 asks for at least 50 MB/s;
//! peak memory is measured on the binary (`/usr/bin/time -v gatesim import`),
//! see README.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatesim::import::traces::{Importer, Options};

fn otlp_file() -> Vec<u8> {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/scenarios/traces/roundtrip.ron"))
        .expect("scenario")
        .replace("trace: 0.02", "trace: 1.0")
        .replace(r#"duration: "30s""#, r#"duration: "60s""#);
    let loaded = gatesim::scenario::parse(&text).expect("valid scenario");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    gatesim::metrics::trace::otlp_json(&run).expect("traced")
}

fn bench(c: &mut Criterion) {
    let file = otlp_file();
    let mut g = c.benchmark_group("import");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(file.len() as u64));
    g.bench_function(format!("otlp_{}MB", file.len() >> 20), |b| {
        b.iter(|| {
            let mut importer = Importer::new(Options::default());
            importer.add(black_box(file.as_slice())).expect("reads");
            black_box(importer.finish("bench").expect("a scenario"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
