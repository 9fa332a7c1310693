//! Batch results as text, CSV and JSON: the side-by-side comparison table
//! and the sweep table.

use std::fmt::Write;

use crate::batch::compare::{Comparison, METRICS};
use crate::batch::stats::Estimate;
use crate::batch::sweep::Sweep;

fn json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("serialises");
    out.push(b'\n');
    out
}

pub fn comparison_json(c: &Comparison) -> Vec<u8> {
    json(c)
}

pub fn sweep_json(s: &Sweep) -> Vec<u8> {
    json(s)
}

/// Pads cells to column widths (by characters, so "±" counts as one).
fn aligned(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(c, cell)| {
                let pad = width[c] - cell.chars().count();
                if c == 0 { format!("{cell}{}", " ".repeat(pad)) } else { format!("{}{cell}", " ".repeat(pad)) }
            })
            .collect();
        let _ = writeln!(out, "| {} |", line.join(" | "));
        if i == 0 {
            // Markdown: the first column left-aligned, the numbers right-aligned.
            let rule: Vec<String> = width
                .iter()
                .enumerate()
                .map(|(c, w)| if c == 0 { "-".repeat(w + 2) } else { format!("{}:", "-".repeat(w + 1)) })
                .collect();
            let _ = writeln!(out, "|{}|", rule.join("|"));
        }
    }
    out
}

fn difference(e: &Estimate, d: usize) -> String {
    let sign = if e.mean > 0.0 { "+" } else { "" };
    match e.ci95 {
        // A difference whose interval excludes zero is marked as significant.
        Some(h) if e.low() > 0.0 || e.high() < 0.0 => format!("{sign}{:.d$} ± {h:.d$} *", e.mean),
        Some(h) => format!("{sign}{:.d$} ± {h:.d$}", e.mean),
        None => format!("{sign}{:.d$}", e.mean),
    }
}

/// A metric's cell: mean ± CI; for the time to recover, over the runs that
/// recovered only, with "never (k/K)" for the runs that did not.
fn metric_cell(key: &str, e: &Estimate, never: u64, of: u32, decimals: usize) -> String {
    if key != "recovery_s" {
        return if e.n == 0 { "-".into() } else { e.show(decimals) };
    }
    match (e.n, never) {
        (0, 0) => "-".into(),
        (0, k) => format!("never ({k}/{of})"),
        (_, 0) => e.show(decimals),
        (_, k) => format!("{}; never {k}/{of}", e.show(decimals)),
    }
}

/// Rows = metrics, columns = scenarios (mean ± 95% CI), then the paired
/// difference of each later scenario to the first.
pub fn comparison_table(c: &Comparison) -> String {
    let mut header = vec!["metric".to_string()];
    header.extend(c.scenarios.iter().map(|s| s.name.clone()));
    header.extend(c.scenarios.iter().skip(1).map(|s| format!("{} - {}", s.name, c.scenarios[0].name)));
    let mut rows = vec![header];
    for m in METRICS {
        let mut row = vec![m.label.to_string()];
        row.extend(c.scenarios.iter().map(|s| {
            s.metrics
                .0
                .iter()
                .find(|(k, _)| k == m.key)
                .map_or(String::new(), |(_, e)| metric_cell(m.key, e, s.never_recovered, c.replications, m.decimals))
        }));
        row.extend(c.scenarios.iter().skip(1).map(|s| {
            s.vs_first
                .0
                .iter()
                .find(|(k, _)| k == m.key)
                .map_or(String::new(), |(_, e)| if e.n == 0 { "-".into() } else { difference(e, m.decimals) })
        }));
        rows.push(row);
    }
    let mut verdict = vec!["cascade verdict".to_string()];
    verdict.extend(c.scenarios.iter().map(|s| {
        s.verdicts.0.iter().map(|(v, n)| format!("{v} {n}/{}", c.replications)).collect::<Vec<_>>().join(", ")
    }));
    rows.push(verdict);
    let mut out = aligned(&rows);
    let intervals = if c.replications > 1 {
        "mean ± 95% CI (Student t), or mean [low, high] where the interval is cut at 0 or 100 %;\n\
         differences are paired by seed; * = interval excludes 0;"
    } else {
        "one replication: no intervals, and differences are not tested;"
    };
    let _ = writeln!(
        out,
        "\n{} replications per scenario, seeds {}..{} (replication i of every scenario uses the same seed);\n\
         {intervals}\n\
         time to recover: the clients' slowest recovery over the faults judged on their own (not overlapped by\n\
         another, not cut off by the end of the run), over the runs that recovered (\"never (k/K)\": k of K did not),\n\
         failure latency over the runs that answered a failure (\"-\": none did);\n\
         degraded: the requests answered partially (an aggregate) or from a fallback, which success counts;\n\
         blast radius: the distinct nodes the cascade found unhealthy under any fault, however briefly;\n\
         unhealthy node-s: the seconds each node was unhealthy after the warm-up, summed over the nodes.",
        c.replications,
        c.base_seed,
        c.base_seed.wrapping_add(u64::from(c.replications.saturating_sub(1)))
    );
    out
}

pub fn comparison_csv(c: &Comparison) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "scenario",
        "metric",
        "n",
        "mean",
        "ci95_low",
        "ci95_high",
        "diff_vs_first",
        "diff_ci95_low",
        "diff_ci95_high",
    ])
    .expect("in memory");
    for s in &c.scenarios {
        for (key, e) in &s.metrics.0 {
            let d = s.vs_first.0.iter().find(|(k, _)| k == key).map(|(_, d)| *d);
            let opt = |x: Option<f64>| x.map_or(String::new(), |v| format!("{v}"));
            w.write_record([
                s.name.clone(),
                key.clone(),
                e.n.to_string(),
                opt((e.n > 0).then_some(e.mean)),
                opt(e.ci95.map(|_| e.low())),
                opt(e.ci95.map(|_| e.high())),
                opt(d.filter(|d| d.n > 0).map(|d| d.mean)),
                opt(d.and_then(|d| d.ci95.map(|_| d.low()))),
                opt(d.and_then(|d| d.ci95.map(|_| d.high()))),
            ])
            .expect("in memory");
        }
    }
    w.into_inner().expect("in memory")
}

/// One row per grid point: parameter values, then every metric.
pub fn sweep_table(s: &Sweep) -> String {
    let mut header: Vec<String> = s.parameters.iter().map(|(p, _)| p.clone()).collect();
    header.extend(METRICS.iter().map(|m| m.label.to_string()));
    header.push("verdicts".into());
    let mut rows = vec![header];
    for p in &s.points {
        let mut row = p.values.clone();
        row.extend(METRICS.iter().map(|m| {
            p.metrics
                .0
                .iter()
                .find(|(k, _)| k == m.key)
                .map_or(String::new(), |(_, e)| metric_cell(m.key, e, p.never_recovered, s.replications, m.decimals))
        }));
        row.push(p.verdicts.0.iter().map(|(v, n)| format!("{v} {n}")).collect::<Vec<_>>().join(", "));
        rows.push(row);
    }
    let mut out = aligned(&rows);
    let _ = writeln!(
        out,
        "\n{} replications per point; mean ± 95% CI (Student t), or mean [low, high] where the interval is cut at 0 or 100 %.",
        s.replications
    );
    out
}

pub fn sweep_csv(s: &Sweep) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = s.parameters.iter().map(|(p, _)| p.clone()).collect();
    header.extend(["metric", "n", "mean", "ci95_low", "ci95_high"].map(String::from));
    w.write_record(&header).expect("in memory");
    for p in &s.points {
        for (key, e) in &p.metrics.0 {
            let mut rec = p.values.clone();
            rec.push(key.clone());
            rec.push(e.n.to_string());
            // No value (no run recovered): an empty cell, not a 0.
            rec.push(if e.n > 0 { format!("{}", e.mean) } else { String::new() });
            rec.push(e.ci95.map_or(String::new(), |_| format!("{}", e.low())));
            rec.push(e.ci95.map_or(String::new(), |_| format!("{}", e.high())));
            w.write_record(&rec).expect("in memory");
        }
    }
    w.into_inner().expect("in memory")
}
