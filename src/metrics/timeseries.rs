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
    let mut w = csv::Writer::from_writer(Vec::with_capacity(rows.len() * 96));
    let columns = columns();
    w.write_record(&columns).expect("in-memory write");
    let res = run.cfg.resolution.as_secs_f64();
    for r in rows {
        let mut rec: Vec<String> = Vec::with_capacity(columns.len());
        rec.push(format!("{:.3}", f64::from(r.bucket) * res));
        rec.push(nodes[r.node as usize].to_string());
        rec.push(r.arrivals.to_string());
        rec.push(r.completed.to_string());
        for o in Outcome::ALL {
            rec.push(r.outcomes.get(o).to_string());
        }
        // No success, no success latency: an empty cell, never a 0 that
        // reads as "fast" in the middle of an outage.
        let timed = r.outcomes.successes() > 0;
        rec.push(if timed { format!("{:.3}", r.latency_ms_p50) } else { String::new() });
        rec.push(if timed { format!("{:.3}", r.latency_ms_p99) } else { String::new() });
        rec.push(format!("{:.3}", r.queue_len));
        rec.push(format!("{:.4}", r.utilization));
        rec.push(r.breakers_open.to_string());
        rec.push(u8::from(r.fault_active).to_string());
        rec.push(r.attempts.to_string());
        rec.push(r.wasted.to_string());
        // Server failures (error, timeout, 503, short-circuit, unavailable) per answer.
        let failures = r.outcomes.server_failures();
        let rate = if r.completed == 0 { 0.0 } else { failures as f64 / r.completed as f64 };
        rec.push(format!("{rate:.4}"));
        rec.push(r.dropped.to_string());
        let timed = r.failures_timed;
        rec.push(if timed { format!("{:.3}", r.failure_latency_ms_p50) } else { String::new() });
        rec.push(if timed { format!("{:.3}", r.failure_latency_ms_p99) } else { String::new() });
        w.write_record(&rec).expect("in-memory write");
    }
    w.into_inner().expect("in-memory flush")
}
