//! Speed of a whole run (parse, simulate, summarise, serialise outputs), in
//! simulated client requests per wall-second: criterion reports it as
//! "elements/s". `cargo bench` runs it; README.md quotes the numbers.
//!
//! The M/M/8 model is scenarios/mm8-bench.ron (lambda 7000/s, mean service
//! 1 ms) shortened to 100 s; the quickstart is scenarios/quickstart.ron;
//! `big_50x20` is `big_topology()`: a gateway and 48 services, 20 replicas
//! each, with the quickstart's mechanisms on every edge.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gatesim::metrics::Summary;

fn whole_run(text: &str) -> (Vec<u8>, Vec<u8>) {
    let loaded = gatesim::scenario::parse(text).expect("valid scenario");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    let summary = Summary::from_run(&run);
    (gatesim::report::summary_json(&summary), gatesim::metrics::timeseries_csv(&run))
}

fn requests_of(text: &str) -> u64 {
    let loaded = gatesim::scenario::parse(text).expect("valid scenario");
    let run = gatesim::model::simulate(loaded.model, &mut |_| {}).expect("runs");
    Summary::from_run(&run)
        .nodes
        .0
        .iter()
        .filter(|(_, n)| n.kind == gatesim::metrics::summary::NodeKindName::Clients)
        .map(|(_, n)| n.arrivals)
        .sum()
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
    let big = big_topology();
    for (name, text) in [("mm8_100s", &mm8), ("quickstart_60s", &quickstart), ("big_50x20_10s", &big)] {
        group.throughput(Throughput::Elements(requests_of(text)));
        group.bench_function(name, |b| b.iter(|| whole_run(black_box(text))));
    }
    group.finish();
}

/// 50 nodes of 20 replicas: a client population (5000 users, Zipf-skewed,
/// 1% bad tokens) at 30,000 requests/s through a gateway (local auth, a
/// per-user and a global token bucket, one route per service with timeout,
/// budgeted retry, breaker and cached fallback) to 48 services; 0.5 ms hops.
fn big_topology() -> String {
    const SERVICES: usize = 48;
    let mix: Vec<String> = (0..SERVICES).map(|i| format!(r#"(path: "/s{i}/x")"#)).collect();
    let routes: Vec<String> = (0..SERVICES)
        .map(|i| {
            format!(
                r#"Route(prefix: "/s{i}", to: "s{i}", policy: (timeout: "300ms",
                    retries: (max: 1, budget: Some((ratio: 0.2, min_per_s: 10))),
                    breaker: Some(Breaker(window: Count(50), min_calls: 20, failure_rate: 0.5, open_for: "5s", half_open_calls: 3)),
                    fallback: Some(Cached(latency: Const("1ms")))))"#
            )
        })
        .collect();
    let services: Vec<String> = (0..SERVICES)
        .map(|i| {
            format!(
                r#"Service(name: "s{i}", replicas: 20, workers: 16, queue: 256, work: Exp(mean: "4ms"), errors: 0.001)"#
            )
        })
        .collect();
    format!(
        r#"Scenario(name: "big", seed: 3, duration: "10s", network: (latency: Const("0.5ms")), nodes: [
            Clients(name: "web", target: "gw", load: Poisson(rps: 30000), mix: [{}], users: 5000, skew: 1.1,
                invalid_tokens: 0.01,
                policy: (timeout: "2s", retries: (max: 2, backoff: Exponential(base: "50ms", cap: "1s", jitter: Full)))),
            Gateway(name: "gw", replicas: 20, workers: 64, queue: 1024, overhead: Const("0.2ms"),
                auth: Some(Local(verify: Const("50us"))),
                rate_limits: [RateLimit(scope: PerUser, limit: 600, per: "1m", algorithm: TokenBucket(burst: 100)),
                              RateLimit(scope: Global, limit: 40000, per: "1s", algorithm: TokenBucket(burst: 4000))],
                routes: [{}]),
            {}])"#,
        mix.join(", "),
        routes.join(",\n"),
        services.join(",\n")
    )
}

/// A batch of 8 runs (quickstart, 8 replications) on a 1- and a 2-thread
/// pool: the speed-up of `compare`/`sweep` on this 2-core machine.
fn batch(c: &mut Criterion) {
    let root = env!("CARGO_MANIFEST_DIR");
    let text = std::fs::read_to_string(format!("{root}/scenarios/quickstart.ron")).expect("scenario");
    let model = gatesim::scenario::parse(&text).expect("valid").model;
    let jobs = gatesim::batch::runs::jobs(1, 8, 7);
    let mut group = c.benchmark_group("batch_8_runs");
    group.sample_size(10);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool");
        group.bench_function(format!("{threads}_threads"), |b| {
            b.iter(|| {
                pool.install(|| {
                    gatesim::batch::execute(std::slice::from_ref(&model), &jobs, &indicatif::ProgressBar::hidden())
                })
                .expect("runs")
            })
        });
    }
    group.finish();
}

/// Reading and drawing every picture of 1 h at 1 s resolution for 20 nodes
/// (a real run: one client fanning out to 19 services), outputs prepared once.
fn plots(c: &mut Criterion) {
    let calls: Vec<String> = (1..20).map(|i| format!(r#"Call(to: "s{i}", policy: (timeout: "1s"))"#)).collect();
    let services: Vec<String> =
        (1..20).map(|i| format!(r#"Service(name: "s{i}", workers: 4, queue: 10, work: Exp(mean: "2ms"))"#)).collect();
    let text = format!(
        r#"Scenario(name: "wide", seed: 1, duration: "1h",
            nodes: [Clients(name: "c", target: "s0", load: Poisson(rps: 20), mix: [(path: "/")], policy: (timeout: "2s")),
                    Service(name: "s0", workers: 50, queue: 50, work: Const("1ms"), calls: [Parallel([{}])]), {}],
            faults: [Fault(target: "s3", at: "20m", duration: "10m", kind: Slow(factor: 10))])"#,
        calls.join(", "),
        services.join(", ")
    );
    let (summary, csv) = whole_run(&text);
    let summary = String::from_utf8(summary).expect("utf-8");
    let mut group = c.benchmark_group("plots");
    group.sample_size(10);
    group.bench_function("one_hour_20_nodes", |b| {
        b.iter(|| {
            let data = gatesim::report::plots::PlotData::from_outputs(black_box(&summary), &csv).expect("reads");
            gatesim::report::plots::render_all(&data).expect("renders")
        })
    });
    group.finish();
}

criterion_group!(benches, bench, batch, plots);
criterion_main!(benches);
