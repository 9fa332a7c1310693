//! The human summary printed on stdout after a run.

use std::fmt::Write;

use crate::chaos::cascade::seconds;
use crate::chaos::health::Grade;
use crate::metrics::Summary;
use crate::metrics::summary::{Latency, NodeKindName, NodeSummary, ObjectiveName};

fn pct(n: u64, total: u64) -> String {
    if total == 0 { "-".into() } else { format!("{:.2}%", n as f64 * 100.0 / total as f64) }
}

/// A number with at most four significant digits and no trailing zeros,
/// the same way everywhere: 0.253, 8.5, 33.51, 461.3, 2716, 300.
pub fn num(x: f64) -> String {
    let a = x.abs();
    let decimals = if a >= 1000.0 {
        0
    } else if a >= 100.0 {
        1
    } else if a >= 10.0 {
        2
    } else {
        3
    };
    let s = format!("{x:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" { "0".into() } else { s }
}

fn latency_line(label: &str, l: &Latency) -> String {
    if l.count == 0 {
        return format!("{label}: none");
    }
    format!(
        "{label}: mean {} p50 {} p90 {} p99 {} p99.9 {} max {}",
        num(l.mean),
        num(l.p50),
        num(l.p90),
        num(l.p99),
        num(l.p999),
        num(l.max)
    )
}

/// A few aligned blocks: the clients' view, then one line per node.
pub fn summary_table(s: &Summary) -> String {
    let mut out = String::new();
    let r = &s.requests;
    let _ = writeln!(
        out,
        "{}  (seed {}, {}s simulated, {}s warm-up, {} events)",
        s.scenario, s.seed, s.duration_s, s.warmup_s, s.events
    );
    let _ = writeln!(
        out,
        "clients: {} requests, success {:.2}%, goodput {:.1}/s, attempts {} ({} retries, {} hedges)",
        r.total,
        s.success_rate * 100.0,
        s.goodput_rps,
        s.attempts.total,
        s.attempts.retries,
        s.attempts.hedges
    );
    let _ = writeln!(out, "{}", latency_line("latency ms of successes", &s.latency_ms));
    let f = &s.failure_latency_ms;
    if f.count > 0 {
        let _ = writeln!(out, "{} ({} answered failures)", latency_line("latency ms of failures", f), f.count);
    }
    let _ = writeln!(out);
    outcomes_block(s, &mut out);
    let _ = writeln!(out);
    nodes_block(s, &mut out);
    mechanisms_block(s, &mut out);
    if !s.cascade.story.is_empty() {
        let _ = writeln!(out, "\ncascade ({}):", s.cascade.verdict);
        story_block(s, &mut out);
    }
    if !s.warnings.is_empty() {
        let _ = writeln!(out, "\nwarnings (what to change; `gatesim validate` prints them too):");
        for w in &s.warnings {
            let _ = writeln!(out, "  {}: {}", w.place, w.message);
        }
    }
    if let Some(line) = slo_line(s) {
        let _ = writeln!(out, "\n{line}");
    }
    out
}

fn outcomes_block(s: &Summary, out: &mut String) {
    let r = &s.requests;
    let unfinished = [("unfinished", r.unfinished)];
    let outcomes = r.by_outcome().map(|(o, n)| (o.key(), n));
    let outcomes = outcomes.iter().chain(unfinished.iter());
    let _ = writeln!(out, "{:<16} {:>10} {:>8}", "outcome", "requests", "share");
    for (name, n) in outcomes.filter(|(_, n)| *n > 0) {
        let _ = writeln!(out, "{:<16} {:>10} {:>8}", name, n, pct(*n, r.total));
    }
}

/// Whether a fault was injected on node `name`.
pub fn faulted(s: &Summary, name: &str) -> bool {
    s.faults.iter().any(|f| f.nodes().contains(&name))
}

/// Clients first, then the other nodes worst first: failing, slow, healthy;
/// within a grade the faulted nodes (the root causes) first, then by
/// success rate.
pub fn ranked_nodes(s: &Summary) -> Vec<(&String, &NodeSummary)> {
    let mut nodes: Vec<(usize, &String, &NodeSummary)> =
        s.nodes.0.iter().enumerate().map(|(i, (k, n))| (i, k, n)).collect();
    nodes.sort_by(|a, b| {
        let key = |name: &str, n: &NodeSummary| {
            (n.kind != NodeKindName::Clients, std::cmp::Reverse(n.health.grade), !faulted(s, name))
        };
        key(a.1, a.2).cmp(&key(b.1, b.2)).then(a.2.success_rate.total_cmp(&b.2.success_rate)).then(a.0.cmp(&b.0))
    });
    nodes.into_iter().map(|(_, k, n)| (k, n)).collect()
}

pub fn grade_word(g: Grade) -> &'static str {
    match g {
        Grade::Healthy => "healthy",
        Grade::Slow => "slow",
        Grade::Failing => "FAILING",
    }
}

fn nodes_block(s: &Summary, out: &mut String) {
    let _ = writeln!(
        out,
        "{:<14} {:<13} {:>9} {:>8} {:>9} {:>9} {:>6} {:>8}  health",
        "node", "kind", "arrivals", "success", "p50 ms", "p99 ms", "util", "dropped"
    );
    let ranked = ranked_nodes(s);
    for (name, n) in &ranked {
        let latency = |x: f64| if n.latency_ms.count == 0 { "-".to_string() } else { num(x) };
        let _ = writeln!(
            out,
            "{:<14} {:<13} {:>9} {:>8} {:>9} {:>9} {:>6} {:>8}  {}{}",
            name,
            n.kind,
            n.arrivals,
            format!("{:.2}%", n.success_rate * 100.0),
            latency(n.latency_ms.p50),
            latency(n.latency_ms.p99),
            if n.kind.has_workers() { format!("{:.0}%", n.utilization * 100.0) } else { "-".into() },
            n.dropped,
            grade_word(n.health.grade),
            if faulted(s, name) { " (fault injected)" } else { "" }
        );
    }
    let unwell: Vec<_> = ranked.iter().filter(|(_, n)| n.health.grade != Grade::Healthy).collect();
    if !unwell.is_empty() {
        let _ = writeln!(out, "(success: of everything a node accepted; p50/p99: of its successful answers)");
    }
    if s.cascade.faults.first().is_some_and(|f| f.no_baseline) {
        let _ = writeln!(
            out,
            "(health: the first fault began before a pre-fault level could be measured, so nodes are judged on \
             failures only; a slow node, even the faulted one, can read healthy)"
        );
    }
    for (name, n) in unwell {
        let h = &n.health;
        // A node slow before it failed: when it became slow, too.
        let first = h.slow_before_grade().map_or(String::new(), |t| format!("slow at {}, ", seconds(t)));
        let _ = writeln!(
            out,
            "  {name}: {first}{} from {}, worst at {} ({}), unhealthy {} in all",
            grade_word(h.grade),
            seconds(h.since_s.unwrap_or(0.0)),
            seconds(h.worst_at_s.unwrap_or(0.0)),
            h.worst.as_deref().unwrap_or("-"),
            seconds(h.unhealthy_s)
        );
    }
}

/// One line per breaker that opened, panic, limit that rejected and
/// threshold, after a blank line (none when there is nothing to say).
fn mechanisms_block(s: &Summary, text: &mut String) {
    let mut out = String::new();
    for b in s.breakers.iter().filter(|b| b.opened > 0) {
        let _ = writeln!(
            out,
            "breaker {} -> {}: opened {}x (first at {}), open {} in all",
            b.caller,
            b.target,
            b.opened,
            seconds(b.first_open_s.unwrap_or(0.0)),
            seconds(b.open_s)
        );
    }
    for p in &s.panics {
        let _ = writeln!(
            out,
            "panic {} -> {}: {}x (first at {}), {} in all with too few usable targets: requests went to every target, ejected ones included",
            p.caller,
            p.target,
            p.entered,
            seconds(p.first_at_s),
            seconds(p.panic_s)
        );
    }
    for l in s.rate_limits.iter().filter(|l| l.rejected > 0) {
        let _ = writeln!(out, "rate limit {} {}: rejected {}", l.gateway, l.limit, l.rejected);
    }
    for r in &s.refusals {
        let _ = writeln!(out, "{} {}: rejected {} {}", r.by.words(), r.at, r.rejected, r.by.counts());
    }
    for t in &s.thresholds {
        let _ = writeln!(
            out,
            "envoy thresholds {}: {} failed at once (pending_overflow), {} retries not sent (retry_overflow), \
             {} waited for a connection (peak {} pending)",
            t.edge,
            t.upstream_rq_pending_overflow,
            t.upstream_rq_retry_overflow,
            t.upstream_cx_overflow,
            t.pending_peak
        );
    }
    if !out.is_empty() {
        let _ = writeln!(text);
        text.push_str(&out);
    }
}

/// "SLO MISSED: p99 of successes 2716 ms > 300 ms (missed); success 88.1% ..."
pub fn slo_line(s: &Summary) -> Option<String> {
    let met = s.slo.met?;
    let mut parts = Vec::new();
    for o in &s.slo.objectives {
        let verdict = if o.met { "met" } else { "MISSED" };
        parts.push(match (o.name, o.measured) {
            (ObjectiveName::P99Ms, Some(m)) => {
                format!("p99 of successes {} ms (target {} ms): {verdict}", num(m), num(o.target))
            }
            (ObjectiveName::P99Ms, None) => {
                format!("p99 of successes: no successful answer (target {} ms): {verdict}", num(o.target))
            }
            (_, m) => {
                let excluded = if s.slo.exclude.is_empty() {
                    String::new()
                } else {
                    format!(
                        ", {} excluded as {}",
                        s.slo.excluded_requests,
                        s.slo.exclude.iter().map(|o| o.key()).collect::<Vec<_>>().join("/")
                    )
                };
                format!(
                    "success {:.3}% of {} requests{excluded} (target {}%): {verdict}",
                    m.unwrap_or(0.0) * 100.0,
                    s.slo.counted_requests,
                    o.target * 100.0
                )
            }
        });
    }
    Some(format!("SLO {}: {}", if met { "met" } else { "MISSED" }, parts.join("; ")))
}

/// Faults whose story stdout tells; the rest are in report.html and summary.json.
const STORIES_PRINTED: usize = 10;

/// The cascade story, at most `STORIES_PRINTED` faults of it.
fn story_block(s: &Summary, out: &mut String) {
    // A fault's story is its header line and the indented lines below it;
    // lines after the last story (amplification, notes) are always printed.
    let headers: Vec<String> = s.cascade.faults.iter().map(crate::chaos::cascade::story_header).collect();
    let mut fault = 0usize;
    let mut skipped = 0usize;
    for line in &s.cascade.story {
        let header = headers.get(fault).is_some_and(|h| h == line);
        if header {
            fault += 1;
        }
        let in_story = header || line.starts_with(' ');
        if in_story && fault > STORIES_PRINTED {
            skipped += usize::from(header);
            continue;
        }
        let _ = writeln!(out, "  {line}");
    }
    if skipped > 0 {
        let _ = writeln!(out, "  ({skipped} more faults told in report.html and summary.json's cascade.faults)");
    }
    if s.faults_not_listed > 0 {
        let _ = writeln!(
            out,
            "  ({} more random-chaos faults happened after those summary.json lists)",
            s.faults_not_listed
        );
    }
}
