//! The human summary printed on stdout after a run.

use std::fmt::Write;

use crate::metrics::Summary;

fn pct(n: u64, total: u64) -> String {
    if total == 0 { "-".into() } else { format!("{:.2}%", n as f64 * 100.0 / total as f64) }
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
    let l = &s.latency_ms;
    let _ = writeln!(
        out,
        "latency ms: mean {} p50 {} p90 {} p99 {} p99.9 {} max {}",
        l.mean, l.p50, l.p90, l.p99, l.p999, l.max
    );
    let _ = writeln!(out);
    let outcomes = [
        ("ok", r.ok),
        ("partial", r.partial),
        ("fallback", r.fallback),
        ("error", r.error),
        ("timeout", r.timeout),
        ("rate_limited", r.rate_limited),
        ("unauthorized", r.unauthorized),
        ("not_found", r.not_found),
        ("rejected", r.rejected),
        ("short_circuited", r.short_circuited),
        ("unavailable", r.unavailable),
        ("unfinished", r.unfinished),
    ];
    let _ = writeln!(out, "{:<16} {:>10} {:>8}", "outcome", "requests", "share");
    for (name, n) in outcomes.iter().filter(|(_, n)| *n > 0) {
        let _ = writeln!(out, "{:<16} {:>10} {:>8}", name, n, pct(*n, r.total));
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:<14} {:<13} {:>9} {:>8} {:>9} {:>9} {:>6} {:>8}",
        "node", "kind", "arrivals", "success", "p50 ms", "p99 ms", "util", "dropped"
    );
    for (name, n) in &s.nodes.0 {
        let ok = n.outcomes.successes();
        let _ = writeln!(
            out,
            "{:<14} {:<13} {:>9} {:>8} {:>9} {:>9} {:>6} {:>8}",
            name,
            n.kind,
            n.arrivals,
            pct(ok, n.outcomes.total),
            n.latency_ms.p50,
            n.latency_ms.p99,
            if n.kind == "service" || n.kind == "gateway" {
                format!("{:.0}%", n.utilization * 100.0)
            } else {
                "-".into()
            },
            n.dropped
        );
    }
    let opened: Vec<_> = s.breakers.iter().filter(|b| b.opened > 0).collect();
    if !opened.is_empty() {
        let _ = writeln!(out);
        for b in opened {
            let _ = writeln!(
                out,
                "breaker {} -> {}: opened {}x (first at {}s), open {:.1}s in all",
                b.caller,
                b.target,
                b.opened,
                b.first_open_s.unwrap_or(0.0),
                b.open_s
            );
        }
    }
    let limited: Vec<_> = s.rate_limits.iter().filter(|l| l.rejected > 0).collect();
    for l in limited {
        let _ = writeln!(out, "rate limit {} {}: rejected {}", l.gateway, l.limit, l.rejected);
    }
    if !s.cascade.story.is_empty() {
        let _ = writeln!(out, "\ncascade ({}):", s.cascade.verdict);
        for line in &s.cascade.story {
            let _ = writeln!(out, "  {line}");
        }
    }
    if let Some(met) = s.slo.met {
        let _ = writeln!(out);
        let mut parts = Vec::new();
        if let Some(p) = s.slo.p99_ms {
            parts.push(format!("p99 {} ms (target {} ms)", s.slo.measured_p99_ms, p));
        }
        if let Some(sr) = s.slo.success_rate {
            parts.push(format!("success {:.3}% (target {}%)", s.slo.measured_success_rate * 100.0, sr * 100.0));
        }
        let _ = writeln!(out, "SLO {}: {}", if met { "met" } else { "MISSED" }, parts.join(", "));
    }
    out
}
