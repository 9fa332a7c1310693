//! The speed yardstick: a bare, hand-written M/M/c simulation (a
//! `BinaryHeap` of (time, sequence, event), ChaCha8 streams, exponential
//! draws, the mean response time) next to the whole `gatesim run` process
//! on the same model, outputs and pictures included. It prints both
//! wall times, their ratio, events per client request and ns per event.
//!
//! `cargo bench --bench reference` (after `cargo build --release`). The
//! model is scenarios/mm8-bench.ron cut to 300 s: lambda 7000/s, mean
//! service 1 ms, 8 workers, no network delay.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::process::Command;
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1};

const LAMBDA: f64 = 7000.0;
const MEAN_NS: f64 = 1e6;
const WORKERS: u32 = 8;
const DURATION_NS: u64 = 300_000_000_000;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Arrival,
    Departure,
}

/// Returns (requests, events, mean response time in ms).
fn mmc() -> (u64, u64, f64) {
    let mut arrivals = ChaCha8Rng::seed_from_u64(1);
    let mut work = ChaCha8Rng::seed_from_u64(2);
    let mut heap: BinaryHeap<Reverse<(u64, u64, Ev)>> = BinaryHeap::new();
    let mut queue: VecDeque<u64> = VecDeque::new();
    let (mut seq, mut busy, mut events, mut requests) = (0u64, 0u32, 0u64, 0u64);
    let (mut sum_ns, mut done) = (0u128, 0u64);
    let mut in_service: VecDeque<u64> = VecDeque::new();
    let exp = |rng: &mut ChaCha8Rng, mean: f64| -> u64 {
        let x: f64 = Exp1.sample(rng);
        (x * mean + 0.5) as u64
    };
    heap.push(Reverse((exp(&mut arrivals, 1e9 / LAMBDA), 0, Ev::Arrival)));
    while let Some(Reverse((now, _, ev))) = heap.pop() {
        if now >= DURATION_NS {
            break;
        }
        events += 1;
        match ev {
            Ev::Arrival => {
                requests += 1;
                seq += 1;
                heap.push(Reverse((now + exp(&mut arrivals, 1e9 / LAMBDA), seq, Ev::Arrival)));
                if busy < WORKERS {
                    busy += 1;
                    in_service.push_back(now);
                    seq += 1;
                    heap.push(Reverse((now + exp(&mut work, MEAN_NS), seq, Ev::Departure)));
                } else {
                    queue.push_back(now);
                }
            }
            Ev::Departure => {
                // FIFO service order is not tracked per job; the mean of the
                // response time is what Little's law needs: sum over jobs.
                let born = in_service.pop_front().expect("a job in service");
                sum_ns += u128::from(now - born);
                done += 1;
                if let Some(next) = queue.pop_front() {
                    in_service.push_back(next);
                    seq += 1;
                    heap.push(Reverse((now + exp(&mut work, MEAN_NS), seq, Ev::Departure)));
                } else {
                    busy -= 1;
                }
            }
        }
    }
    (requests, events, sum_ns as f64 / done.max(1) as f64 / 1e6)
}

fn main() {
    // `cargo test --benches` runs benches with `--bench`-less args: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = env!("CARGO_MANIFEST_DIR");
    let bin = format!("{root}/target/release/gatesim");
    let text = std::fs::read_to_string(format!("{root}/scenarios/mm8-bench.ron"))
        .expect("scenario")
        .replace(r#"duration: "1000s""#, r#"duration: "300s""#)
        .replace(r#"name: "mm8-bench""#, r#"name: "mm8-300""#);
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("mm8-300.ron");
    std::fs::write(&file, text).expect("write");
    let out = dir.path().join("out");
    let best = |f: &mut dyn FnMut()| {
        (0..5)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let mut reference = (0, 0, 0.0);
    let loop_s = best(&mut || reference = std::hint::black_box(mmc()));
    let mut status = None;
    let process_s = best(&mut || {
        status = Command::new(&bin)
            .args(["run", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "-q"])
            .status()
            .ok();
    });
    assert!(status.is_some_and(|s| s.success()), "run `cargo build --release` first: {bin}");
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary")).expect("json");
    let (requests, events) =
        (summary["requests"]["total"].as_u64().unwrap_or(1), summary["events"].as_u64().unwrap_or(0));
    let (ref_requests, ref_events, ref_mean) = reference;
    println!(
        "reference M/M/8 loop: {loop_s:.3} s for {ref_requests} requests, {ref_events} events ({:.1} ns/event), W = {ref_mean:.4} ms",
        loop_s * 1e9 / ref_events as f64
    );
    println!(
        "gatesim run (whole process, outputs and pictures): {process_s:.3} s for {requests} requests (after warm-up), {events} events ({:.2} events per request, {:.1} ns per event)",
        events as f64 / requests as f64,
        process_s * 1e9 / events as f64
    );
    println!("ratio (reference / gatesim): {:.2}x (best of 5 each)", loop_s / process_s);
}
