//! The report's sections beyond the headline tables: per route, balancers,
//! the cascade as a timeline per fault, and the scenario's own text.

use std::fmt::Write as _;

use super::{escape, int, none, num, pct, secs};
use crate::chaos::Verdict;
use crate::chaos::cascade::{AFTER_NEXT_FAULT, FaultStory, NO_BASELINE, NO_BASELINE_WHY};
use crate::metrics::Summary;

/// Per gateway route: requests, success and latency, and its worst failure.
pub(super) fn routes(s: &mut String, sum: &Summary) {
    s.push_str("<h2 id=\"routes\">Routes</h2>\n");
    if sum.routes.0.is_empty() {
        return none(s, "No gateway routes in this scenario.");
    }
    s.push_str(
        "<table><thead><tr><th>route</th><th>gateway</th><th class=\"n\">requests</th><th class=\"n\">success</th>\
         <th class=\"n\">p50 ms</th><th class=\"n\">p99 ms</th><th class=\"n\">failures p99 ms</th>\
         <th>most common failure</th></tr></thead><tbody>\n",
    );
    for (route, r) in &sum.routes.0 {
        let q = &r.requests;
        let success = if q.total > 0 { pct(q.successes() as f64 / q.total as f64) } else { "–".into() };
        let lat = |count: u64, v: f64| if count > 0 { num(v) } else { "–".into() };
        let worst = q
            .by_outcome()
            .into_iter()
            .filter(|(o, n)| !o.is_success() && *n > 0)
            .max_by_key(|(o, n)| (*n, std::cmp::Reverse(*o as usize)))
            .map_or("–".to_string(), |(o, n)| format!("{} ({})", o.key().replace('_', " "), int(n)));
        let _ = writeln!(
            s,
            "<tr><td><code>{}</code></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{success}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(route),
            escape(&r.gateways.join(", ")),
            int(q.total),
            lat(r.latency_ms.count, r.latency_ms.p50),
            lat(r.latency_ms.count, r.latency_ms.p99),
            lat(r.failure_latency_ms.count, r.failure_latency_ms.p99),
            escape(&worst)
        );
    }
    s.push_str(
        "</tbody></table>\n<p class=\"meta\">As the gateway answered each route (after the warm-up): \
         success is ok, partial or fallback; p50/p99 of successful answers.</p>\n",
    );
}

/// Every ejection and re-admission: by a health-checking balancer, or by
/// a caller's outlier detection.
pub(super) fn balancers(s: &mut String, sum: &Summary) {
    s.push_str("<h2 id=\"balancers\">Balancers and outlier detection</h2>\n");
    if sum.ejections.is_empty() {
        let has_lb = sum.nodes.0.iter().any(|(_, n)| n.kind == crate::metrics::summary::NodeKindName::LoadBalancer);
        let text = if has_lb {
            "No instance was ejected: every health check passed, or no balancer checks health."
        } else {
            "No load balancer in this scenario."
        };
        return none(s, text);
    }
    s.push_str("<table><thead><tr><th class=\"n\">at (s)</th><th>ejected by</th><th>instance</th><th>what</th></tr></thead><tbody>\n");
    for e in &sum.ejections {
        let what = if e.ejected {
            "<span class=\"badge bad\">ejected</span>"
        } else {
            "<span class=\"badge good\">re-admitted</span>"
        };
        let _ = writeln!(
            s,
            "<tr><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{what}</td></tr>",
            num(e.at_s),
            escape(&e.balancer) + if e.outlier_detection { " (outlier detection)" } else { " (health checks)" },
            escape(&e.instance)
        );
    }
    s.push_str("</tbody></table>\n");
    for p in &sum.panics {
        let _ = writeln!(
            s,
            "<p><span class=\"badge bad\">panic</span> {} → {}: too few usable targets (below its \
             <code>healthy_panic_threshold</code>) {}x from {} s, {} s in all; meanwhile it sent to every target, \
             ejected ones included.</p>",
            escape(&p.caller),
            escape(&p.target),
            p.entered,
            num(p.first_at_s),
            num(p.panic_s)
        );
    }
}

pub(super) fn verdict_class(v: Verdict) -> &'static str {
    match v {
        Verdict::Contained | Verdict::None => "good",
        Verdict::Inconclusive | Verdict::Overlapped => "warn",
        _ => "bad",
    }
}

/// One fault's timeline: what happened when, from its start to the
/// clients' recovery, then its tally and verdict. `next_at_s`: when the
/// next fault began; a recovery after it (once this fault was over) is
/// marked, as in the text story.
pub(super) fn fault_timeline(s: &mut String, f: &FaultStory, next_at_s: Option<f64>) {
    let after_next = |t: f64| if f.next_fault_before(next_at_s, t).is_some() { AFTER_NEXT_FAULT } else { "" };
    let _ = writeln!(
        s,
        "<div class=\"fault\"><h3>{} {} <small>{}–{} s</small> <span class=\"badge {}\">{}</span></h3>\n<ol class=\"timeline\">",
        f.kind,
        escape(&f.target),
        secs(f.at_s),
        secs(f.until_s),
        verdict_class(f.verdict),
        f.verdict
    );
    let mut rows: Vec<(f64, u8, String)> = vec![(f.at_s, 0, format!("<b>{} {} begins</b>", f.kind, escape(&f.target)))];
    for o in &f.unhealthy {
        let root = if o.root_cause { " <i>(the faulted node)</i>" } else { "" };
        // An onset is the start of its bucket, which may be a little before
        // the fault's exact start: it is told after the fault begins.
        let at = o.at_s.max(f.at_s);
        rows.push((at, 1, format!("<b>{}</b> unhealthy: {}{root}", escape(&o.node), escape(&o.reason))));
    }
    for b in &f.breakers_opened {
        rows.push((b.at_s, 2, format!("breaker {} → {} <b>opened</b>", escape(&b.caller), escape(&b.target))));
    }
    for e in &f.ejections {
        rows.push((e.at_s, 2, format!("{} <b>ejected</b> {}", escape(&e.balancer), escape(&e.instance))));
    }
    rows.push((f.until_s, 3, format!("<b>{} {} ends</b>", f.kind, escape(&f.target))));
    for r in &f.recovery {
        if let Some(t) = r.at_s {
            rows.push((t, 4, format!("{} back to normal{}", escape(&r.node), after_next(t))));
        }
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for (t, kind, text) in rows {
        let class = ["start", "bad", "act", "end", "good"][usize::from(kind)];
        let _ = writeln!(s, "<li class=\"{class}\"><span class=\"t\">{} s</span>{text}</li>", secs(t));
    }
    s.push_str("</ol>\n");
    fault_tally(s, f, next_at_s);
    s.push_str("</div>\n");
}

fn fault_tally(s: &mut String, f: &FaultStory, next_at_s: Option<f64>) {
    let never: Vec<&str> = f.recovery.iter().filter(|r| r.at_s.is_none()).map(|r| r.node.as_str()).collect();
    let goodput = if f.no_baseline {
        format!("{NO_BASELINE} ({NO_BASELINE_WHY})")
    } else {
        format!("goodput {}/s before, {}/s at worst", num(f.goodput.baseline_rps), num(f.goodput.min_rps))
    };
    let mut facts = vec![format!(
        "clients: {} of their requests failed ({}, 4xx left out); {goodput}",
        int(f.client_failures),
        pct(f.client_failure_share)
    )];
    match (f.recovered_at_s, f.recovery_s) {
        (Some(t), Some(d)) if d > 0.0 => {
            let next = match f.next_fault_before(next_at_s, t) {
                Some(n) => format!(" (the next fault began at {} s)", secs(n)),
                None => String::new(),
            };
            facts.push(format!("clients back to normal at {} s, {} s after the fault ended{next}", secs(t), num(d)))
        }
        (Some(t), _) if f.verdict != Verdict::Contained => {
            facts.push(format!("clients back to normal {}", f.ended_relative(t)))
        }
        (None, _) if f.verdict != Verdict::Inconclusive => {
            facts.push("clients not back to normal by the end of the run".into())
        }
        _ => {}
    }
    if !never.is_empty() {
        facts.push(format!("never back to normal: {}", never.join(", ")));
    }
    for (n, what) in [
        (f.fallbacks_served, "fallbacks served"),
        (f.limiter_shed, "shed by rate limits"),
        (f.refused, "refused at once by full queues and concurrency limits"),
        (f.wasted, "answers wasted on callers that had given up"),
    ] {
        if n > 0 {
            facts.push(format!("{} {what}", int(n)));
        }
    }
    let _ = writeln!(s, "<p class=\"tally\">{}</p>", escape(&facts.join("; ")));
}

/// The scenario file the run came from, folded away.
pub(super) fn source(s: &mut String, source: Option<&str>) {
    s.push_str("<h2 id=\"source\">Scenario</h2>\n");
    match source {
        Some(text) => {
            let _ = writeln!(
                s,
                "<details><summary>The scenario file ({} lines)</summary><pre class=\"source\">{}</pre></details>",
                text.lines().count(),
                escape(text)
            );
        }
        None => none(s, "The scenario file was not saved with these results (scenario.ron)."),
    }
}
