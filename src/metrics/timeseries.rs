//! timeseries.csv, the second output file: one row per time bucket and node. `latency_ms_*` are
//! successful answers; `failure_latency_ms_*` answered failures; either is an empty cell in a
//! bucket that had none.

use crate::model::RunOutput;
use crate::model::outcome::Outcome;
use crate::model::record::Row;

/// The columns: these, then one per outcome (`Outcome::ALL`), then `AFTER`.
const BEFORE: &[&str] = &["time_s", "node", "arrivals", "completed"];
const AFTER: &[&str] = &[
    "latency_ms_p50",
    "latency_ms_p99",
    "queue_len",
    "utilization",
    "breakers_open",
    "fault_active",
    "attempts",
    "wasted",
    "error_rate",
    "dropped",
    "failure_latency_ms_p50",
    "failure_latency_ms_p99",
    "fallbacks",
    "limit_rejections",
    "refused",
];

/// timeseries.csv of a finished run: rows in (bucket, node) order, floats
/// with fixed decimals.
/// Every column of timeseries.csv, in order.
pub fn columns() -> Vec<&'static str> {
    BEFORE.iter().copied().chain(Outcome::ALL.map(Outcome::key)).chain(AFTER.iter().copied()).collect()
}

pub fn timeseries_csv(run: &RunOutput) -> Vec<u8> {
    let rows: &[Row] = &run.rec.rows;
    let nodes: Vec<&str> = run.cfg.nodes.iter().map(|n| n.name.as_str()).collect();
    let columns = columns();
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 128 + 1024));
    w.write_record(&columns).expect("in-memory write");
    let res = run.cfg.resolution.as_secs_f64();
    // Bucket starts to the millisecond, or to the nanosecond when the
    // buckets are not whole milliseconds (so that no two share a time).
    let decimals = if run.cfg.resolution.as_nanos().is_multiple_of(1_000_000) { 3 } else { 9 };
    // One cell buffer for the whole file: no allocation per cell.
    let mut cell = String::new();
    let mut put = |w: &mut csv::Writer<Vec<u8>>, args: std::fmt::Arguments<'_>| {
        use std::fmt::Write;
        cell.clear();
        cell.write_fmt(args).expect("formatting into a String");
        w.write_field(&cell).expect("in-memory write");
    };
    for r in rows {
        put(&mut w, format_args!("{:.decimals$}", f64::from(r.bucket) * res));
        w.write_field(nodes[r.node as usize]).expect("in-memory write");
        put(&mut w, format_args!("{}", r.arrivals));
        put(&mut w, format_args!("{}", r.completed));
        for o in Outcome::ALL {
            put(&mut w, format_args!("{}", r.outcomes.get(o)));
        }
        // No success, no success latency: an empty cell, never a 0 that
        // reads as "fast" in the middle of an outage.
        let timed = r.outcomes.successes() > 0;
        for v in [r.latency_ms_p50, r.latency_ms_p99] {
            if timed { put(&mut w, format_args!("{v:.3}")) } else { put(&mut w, format_args!("")) }
        }
        put(&mut w, format_args!("{:.3}", r.queue_len));
        put(&mut w, format_args!("{:.4}", r.utilization));
        put(&mut w, format_args!("{}", r.breakers_open));
        put(&mut w, format_args!("{}", u8::from(r.fault_active)));
        put(&mut w, format_args!("{}", r.attempts));
        put(&mut w, format_args!("{}", r.wasted));
        // Server failures (error, timeout, 503, short-circuit, unavailable)
        // per answer, 4xx left out: the share `health` judges and the SLO counts.
        let failures = r.outcomes.server_failures();
        let judged = r.completed - r.outcomes.client_errors();
        let rate = if judged == 0 { 0.0 } else { failures as f64 / judged as f64 };
        put(&mut w, format_args!("{rate:.4}"));
        put(&mut w, format_args!("{}", r.dropped));
        for v in [r.failure_latency_ms_p50, r.failure_latency_ms_p99] {
            if r.failures_timed { put(&mut w, format_args!("{v:.3}")) } else { put(&mut w, format_args!("")) }
        }
        put(&mut w, format_args!("{}", r.fallbacks));
        put(&mut w, format_args!("{}", r.limit_rejections));
        put(&mut w, format_args!("{}", r.refused));
        w.write_record(None::<&[u8]>).expect("in-memory write");
    }
    w.into_inner().expect("in-memory flush")
}
