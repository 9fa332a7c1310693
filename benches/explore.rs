//! Explore throughput: candidate runs per wall-second. One element is one
//! run of a candidate fault set (parse the generated scenario, simulate,
//! summarise), as the explorer makes thousands of them; criterion reports
//! "elements/s". The scenario is the quickstart with a crash of one users
//! replica (a typical candidate: most of the search's runs look like it).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatesim::batch::explore::space::{Fault, Kind, Target};
use gatesim::batch::explore::{self, Settings};

fn bench(c: &mut Criterion) {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/scenarios/quickstart.ron")).expect("scenario");
    let settings =
        Settings { budget: 1000, max_faults: 2, replications: 1, seed: 7, slo_p99_ms: None, slo_success_rate: None };
    let (ctx, _, _) = explore::prepare(&text, &settings).expect("an explorable scenario");
    let fault = Fault { target: Target::Node("users#0".into()), kind: Kind::Crash, at_ms: 20_000, duration_ms: 10_000 };
    let mut g = c.benchmark_group("explore");
    g.sample_size(10);
    g.throughput(Throughput::Elements(1));
    g.bench_function("candidate_run_quickstart", |b| {
        b.iter(|| black_box(ctx.trial(std::slice::from_ref(&fault), true).expect("runs")))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
