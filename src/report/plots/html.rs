//! report.html: one self-contained page (inline CSS, SVG and one small
//! script, no links out) with the run's tables, the cascade story and the
//! charts, which show values on hover (`interactive`).

use std::fmt::Write as _;

mod sections;

use super::data::PlotData;
use super::topology::escape;
use crate::chaos::health::Grade;
use crate::metrics::Summary;
use crate::metrics::summary::{BreakerPhase, ObjectiveName};
use crate::report::table::{grade_word, ranked_nodes};

const CSS: &str = r#"
:root{--ink:#222;--muted:#666;--line:#e3e5e8;--zebra:#f6f7f9;--accent:#1565c0}
*{box-sizing:border-box}
body{margin:0;background:#eef0f3;color:var(--ink);font:15px/1.55 "DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:1120px;margin:24px auto;padding:28px 36px 56px;background:#fff;border-radius:10px;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{margin:0 0 4px;font-size:28px}
h2{margin:36px 0 10px;padding-bottom:6px;border-bottom:2px solid var(--line);font-size:20px}
h3{margin:22px 0 6px;font-size:16px}
p.meta{margin:0 0 14px;color:var(--muted)}
nav{margin:10px 0 0;font-size:14px}
nav a{color:var(--accent);text-decoration:none;margin-right:14px}
nav a:hover{text-decoration:underline}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(170px,1fr));gap:12px;margin:16px 0}
.card{border:1px solid var(--line);border-radius:8px;padding:10px 14px}
.card .k{color:var(--muted);font-size:13px}
.card .v{font-size:22px;font-weight:bold}
table{border-collapse:collapse;width:100%;margin:6px 0 14px;font-size:14px}
th,td{padding:6px 10px;text-align:left;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#fafbfc;font-weight:bold;border-bottom:2px solid var(--line)}
tbody tr:nth-child(even){background:var(--zebra)}
.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.zero{color:#aaa}
.bar{display:inline-block;height:10px;border-radius:2px;vertical-align:middle}
.badge{display:inline-block;padding:2px 12px;border-radius:12px;font-weight:bold;font-size:14px}
.good{background:#e3f4e1;color:#1b5e20}
.warn{background:#fff1d0;color:#8a5300}
.bad{background:#fde0dc;color:#b71c1c}
.none{color:var(--muted);font-style:italic}
pre.story,pre.source{background:#f7f8fa;border:1px solid var(--line);border-radius:6px;padding:10px 14px;font-size:13px;white-space:pre-wrap}
.fault{border:1px solid var(--line);border-radius:8px;padding:4px 16px 8px;margin:12px 0}
.fault h3 small{color:var(--muted);font-weight:normal}
ol.timeline{list-style:none;margin:8px 0;padding:0 0 0 14px;border-left:3px solid var(--line)}
ol.timeline li{position:relative;margin:4px 0;padding-left:8px;font-size:14px}
ol.timeline li::before{content:"";position:absolute;left:-21px;top:7px;width:11px;height:11px;border-radius:50%;background:#bbb;border:2px solid #fff}
ol.timeline li.start::before,ol.timeline li.bad::before{background:#c62828}
ol.timeline li.act::before{background:#1565c0}
ol.timeline li.end::before{background:#777}
ol.timeline li.good::before{background:#2e7d32}
ol.timeline .t{display:inline-block;min-width:64px;color:var(--muted);font-variant-numeric:tabular-nums}
p.tally{margin:6px 0;font-size:14px;color:#333}
details summary{cursor:pointer;color:var(--accent)}
ul.warnings li{margin:6px 0}
figure{margin:18px 0 26px}
figure svg{display:block;width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
figure.wide{overflow-x:auto}
.scroll{overflow-x:auto}
.episode pre{white-space:pre-wrap;font-size:13px;background:var(--zebra);padding:8px 10px;border-radius:6px}
.maps{display:flex;flex-wrap:wrap;gap:8px 28px;align-items:flex-start}
table.heat{width:auto;margin:8px 0}
table.heat caption{font-weight:bold;text-align:left;padding:4px 0}
table.heat td{text-align:center;min-width:88px;border:2px solid #fff;cursor:default}
table.heat tbody th{text-align:right}
figure.wide.zoomable svg{cursor:zoom-in}
figure.wide.full svg{width:var(--w);max-width:none;cursor:zoom-out}
figcaption{color:var(--muted);font-size:13px;margin-top:6px}
footer{margin-top:36px;color:var(--muted);font-size:12px}
"#;

pub(super) fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share as a percentage; two decimals near 100% (where they matter),
/// never rounding an imperfect share up to "100%".
pub(crate) fn pct(share: f64) -> String {
    match share {
        s if s >= 1.0 || s <= 0.99 => format!("{:.1}%", s * 100.0),
        s if s >= 0.99995 => ">99.99%".to_string(),
        s => format!("{:.2}%", s * 100.0),
    }
}

/// Seconds to a tenth, without trailing zeros: "60", "2.5", "17".
pub(super) fn secs(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map_or(s.clone(), str::to_string)
}

/// Numbers the same way as on stdout (`report::table::num`).
pub(super) fn num(v: f64) -> String {
    crate::report::table::num(v)
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "–".to_string(), f)
}

/// Width of the page's content column, in CSS pixels.
const PAGE_WIDTH_PX: f64 = 1048.0;

/// The `width` of an SVG's root element, in pixels.
fn svg_width(svg: &str) -> Option<f64> {
    let tag = &svg[..svg.find('>')?];
    let start = tag.find(" width=\"")? + 8;
    let len = tag[start..].find('"')?;
    tag[start..start + len].trim_end_matches("px").parse().ok()
}

/// A plotters or topology SVG made fit to inline: no namespace URL, no
/// fixed size (it scales with the page), an accessible label.
pub(crate) fn inline_svg(svg: &str, label: &str, natural: bool) -> String {
    let Some(end) = svg.find('>') else { return String::new() };
    let tag = &svg[..end];
    let attr = |name: &str| -> Option<&str> {
        let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        let len = tag[start..].find('"')?;
        Some(&tag[start..start + len])
    };
    let mut open = String::from("<svg");
    if let Some(w) = attr("width").filter(|_| natural) {
        // Never larger than its natural size; fitted to the page when
        // wider, and a click shows it at its natural size (the figure
        // then scrolls sideways), so its text can always be read.
        let _ = write!(open, " style=\"--w:{w}px;max-width:var(--w)\"");
    }
    if let Some(vb) = attr("viewBox") {
        let _ = write!(open, " viewBox=\"{vb}\"");
    }
    if let Some(ff) = attr("font-family") {
        let _ = write!(open, " font-family=\"{ff}\"");
    }
    let _ = write!(open, " role=\"img\" aria-label=\"{}\"", escape(label));
    open + &svg[end..]
}

/// A chart ready for the page (`interactive::figure`).
pub(crate) struct Figure {
    pub html: String,
}

/// A page in the report's style, with the charts' script: `body` goes
/// inside `<main>`.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}{}</style>\n</head>\n<body>\n<main>\n{body}</main>\n<script>{}</script>\n</body>\n</html>\n",
        escape(title),
        super::interactive::CSS,
        super::interactive::SCRIPT
    )
}

/// The page: tables, story, the time charts and the topology.
pub(crate) fn report(data: &PlotData, figures: &[Figure], topology: &str) -> String {
    let mut s = String::with_capacity(256 * 1024 + figures.iter().map(|f| f.html.len()).sum::<usize>());
    let title = escape(data.scenario());
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}: gatesim report</title>\n<style>{CSS}{}</style>\n</head>\n<body>\n<main>\n",
        super::interactive::CSS
    );
    let sum = &data.summary;
    header(&mut s, sum);
    summary(&mut s, sum);
    cascade(&mut s, sum);
    nodes(&mut s, data);
    sections::routes(&mut s, sum);
    breakers(&mut s, sum);
    sections::balancers(&mut s, sum);
    rate_limits(&mut s, sum);
    faults(&mut s, sum);
    pictures(&mut s, figures, topology, (data.series.group, sum.resolution_s));
    sections::source(&mut s, data.source.as_deref());
    s.push_str("<footer>Made by gatesim from summary.json and timeseries.csv; redraw with <code>gatesim plot</code>.</footer>\n");
    let _ = write!(s, "</main>\n<script>{}</script>\n</body>\n</html>\n", super::interactive::SCRIPT);
    s
}

fn header(s: &mut String, sum: &Summary) {
    let _ = writeln!(s, "<h1>{}</h1>", escape(&sum.scenario));
    let mut meta = vec![format!("seed {}", sum.seed), format!("{} s simulated", secs(sum.duration_s))];
    if sum.warmup_s > 0.0 {
        meta.push(format!("the first {} s are warm-up, left out of the statistics", secs(sum.warmup_s)));
    }
    meta.push(format!("{} events", int(sum.events)));
    let _ = writeln!(s, "<p class=\"meta\">{}</p>", escape(&meta.join(" · ")));
    if let Some(met) = sum.slo.met {
        let (class, text) = if met { ("good", "SLO met") } else { ("bad", "SLO missed") };
        let _ = writeln!(s, "<span class=\"badge {class}\">{text}</span>");
    }
    let _ = write!(s, "<nav>");
    for (id, name) in [
        ("summary", "Summary"),
        ("cascade", "Cascade"),
        ("nodes", "Nodes"),
        ("routes", "Routes"),
        ("breakers", "Breakers"),
        ("balancers", "Ejections"),
        ("limits", "Limits"),
        ("faults", "Faults"),
        ("pictures", "Charts"),
        ("topology", "Topology"),
        ("source", "Scenario"),
    ] {
        let _ = write!(s, "<a href=\"#{id}\">{name}</a>");
    }
    s.push_str("</nav>\n");
}

fn summary(s: &mut String, sum: &Summary) {
    s.push_str("<h2 id=\"summary\">Summary</h2>\n<div class=\"cards\">\n");
    let l = &sum.latency_ms;
    let cards = [
        ("end-user requests", int(sum.requests.total)),
        ("success rate", pct(sum.success_rate)),
        ("goodput", format!("{} /s", num(sum.goodput_rps))),
        ("p99 of successes", if l.count > 0 { format!("{} ms", num(l.p99)) } else { "–".into() }),
    ];
    for (k, v) in cards {
        let _ =
            writeln!(s, "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">{}</div></div>", escape(&v));
    }
    s.push_str("</div>\n");
    outcomes_table(s, sum);
    s.push_str("<h3>Latency (ms)</h3>\n<table><thead><tr><th></th><th class=\"n\">answers</th>");
    for k in ["mean", "p50", "p90", "p99", "p99.9", "max"] {
        let _ = write!(s, "<th class=\"n\">{k}</th>");
    }
    s.push_str("</tr></thead><tbody>\n");
    for (name, l) in [("successes", &sum.latency_ms), ("answered failures", &sum.failure_latency_ms)] {
        let _ = write!(s, "<tr><td>{name}</td><td class=\"n\">{}</td>", int(l.count));
        for v in [l.mean, l.p50, l.p90, l.p99, l.p999, l.max] {
            let cell = if l.count > 0 { num(v) } else { "–".into() };
            let _ = write!(s, "<td class=\"n\">{cell}</td>");
        }
        s.push_str("</tr>\n");
    }
    s.push_str(
        "</tbody></table>\n<p class=\"meta\">Successes: ok, partial and fallback answers. Answered failures: \
        errors, 503s, 429s and a gateway's 504; a client's own timeout is no answer and has no latency.</p>\n",
    );
    let a = &sum.attempts;
    let _ = writeln!(
        s,
        "<h3>Attempts</h3>\n<table><thead><tr><th class=\"n\">total</th><th class=\"n\">retries</th><th class=\"n\">hedges</th></tr></thead>\
         <tbody><tr><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr></tbody></table>",
        int(a.total),
        int(a.retries),
        int(a.hedges)
    );
    slo(s, sum);
}

fn outcomes_table(s: &mut String, sum: &Summary) {
    let r = &sum.requests;
    let total = r.total;
    s.push_str("<h3>End-user requests by outcome</h3>\n");
    s.push_str("<table><thead><tr><th>outcome</th><th class=\"n\">requests</th><th class=\"n\">share</th><th style=\"width:40%\"></th></tr></thead><tbody>\n");
    let colors = super::charts::OUTCOME_COLORS;
    let counts = r.by_outcome();
    let rows = counts.iter().map(|(o, n)| (o.key(), *n, Some(*o as usize))).chain([("unfinished", r.unfinished, None)]);
    for (k, v, color) in rows {
        let share = if total > 0 { v as f64 / total as f64 } else { 0.0 };
        let color = color.map_or_else(
            || "#bbbbbb".to_string(),
            |i| format!("#{:02x}{:02x}{:02x}", colors[i].0, colors[i].1, colors[i].2),
        );
        let zero = if v == 0 { " class=\"zero\"" } else { "" };
        let _ = writeln!(
            s,
            "<tr{zero}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td><span class=\"bar\" style=\"width:{:.1}%;background:{color}\"></span></td></tr>",
            escape(&k.replace('_', " ")),
            int(v),
            pct(share),
            share * 100.0
        );
    }
    let _ = writeln!(s, "<tr><th>total</th><th class=\"n\">{}</th><th></th><th></th></tr>", int(total));
    s.push_str("</tbody></table>\n");
}

fn slo(s: &mut String, sum: &Summary) {
    let slo = &sum.slo;
    if slo.objectives.is_empty() {
        return;
    }
    s.push_str("<h3>Service level objective</h3>\n<table><thead><tr><th>objective</th><th class=\"n\">target</th><th class=\"n\">measured</th><th>verdict</th></tr></thead><tbody>\n");
    let verdict =
        |ok: bool| if ok { "<span class=\"badge good\">met</span>" } else { "<span class=\"badge bad\">missed</span>" };
    for o in &slo.objectives {
        let (name, target, measured) = match o.name {
            ObjectiveName::P99Ms => (
                "p99 of successful answers".to_string(),
                format!("≤ {} ms", num(o.target)),
                o.measured.map_or("no successful answer".into(), |m| format!("{} ms", num(m))),
            ),
            ObjectiveName::SuccessRate => (
                format!("success rate of {} counted requests", int(slo.counted_requests)),
                format!("≥ {}", pct(o.target)),
                o.measured.map_or("–".into(), pct),
            ),
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&name),
            escape(&target),
            escape(&measured),
            verdict(o.met)
        );
    }
    s.push_str("</tbody></table>\n");
    if !slo.exclude.is_empty() {
        let names: Vec<String> = slo.exclude.iter().map(|o| o.key().replace('_', " ")).collect();
        let _ = writeln!(
            s,
            "<p class=\"meta\">The success rate leaves out {} requests that ended {}: the client's own doing (set <code>exclude</code> in the scenario's <code>slo</code> to change this).</p>",
            int(slo.excluded_requests),
            escape(&names.join(", "))
        );
    }
}

fn nodes(s: &mut String, data: &PlotData) {
    s.push_str("<h2 id=\"nodes\">Nodes</h2>\n<table><thead><tr><th>node</th><th>kind</th><th class=\"n\">replicas</th>\
        <th class=\"n\">arrivals</th><th class=\"n\">success</th><th class=\"n\">p50 ms</th>\
        <th class=\"n\">p99 ms</th><th class=\"n\">utilization</th><th class=\"n\">dropped</th><th>health</th></tr></thead><tbody>\n");
    for (name, n) in ranked_nodes(&data.summary) {
        let class = match n.health.grade {
            Grade::Healthy => "good",
            Grade::Slow => "warn",
            Grade::Failing => "bad",
        };
        let latency = |v: f64| if n.latency_ms.count > 0 { num(v) } else { "–".into() };
        let util = if n.kind.has_workers() { pct(n.utilization) } else { "–".to_string() };
        let why = match (&n.health.worst, n.health.worst_at_s, n.health.since_s) {
            (Some(w), Some(at), Some(since)) => {
                let from = match n.health.slow_before_grade() {
                    Some(first) => {
                        format!("slow at {} s, {} from {} s", secs(first), n.health.grade.key(), secs(since))
                    }
                    None => format!("from {} s", secs(since)),
                };
                format!("<br><small>{from}; worst at {} s: {}</small>", secs(at), escape(w))
            }
            _ => String::new(),
        };
        let _ = writeln!(
            s,
            "<tr><td><b>{}</b></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{util}</td><td class=\"n\">{}</td>\
             <td><span class=\"badge {class}\">{}</span>{why}</td></tr>",
            escape(name),
            escape(&n.kind.key().replace('_', " ")),
            n.replicas,
            int(n.arrivals),
            pct(n.success_rate),
            latency(n.latency_ms.p50),
            latency(n.latency_ms.p99),
            int(n.dropped),
            grade_word(n.health.grade)
        );
    }
    s.push_str(
        "</tbody></table>\n<p class=\"meta\">Worst first. Success: ok, partial or fallback answers over everything \
        the node accepted (requests it swallowed or lost count as failures). p50/p99: of its successful answers. \
        Health: judged per time bucket against the node's own level before the first fault (without a fault: \
        failing when more than 5% of what it accepted failed, beyond chance); 401, 404 and 429 answers are left \
        out of failure shares.</p>\n",
    );
    if data.summary.cascade.faults.first().is_some_and(|f| f.no_baseline) {
        s.push_str(
            "<p class=\"meta\"><b>No pre-fault level:</b> the first fault began in or right after the warm-up, \
             so nodes are judged on failures only; a slow node, even the faulted one, can read healthy.</p>\n",
        );
    }
}

pub(super) fn none(s: &mut String, text: &str) {
    let _ = writeln!(s, "<p class=\"none\">{}</p>", escape(text));
}

fn breakers(s: &mut String, sum: &Summary) {
    s.push_str("<h2 id=\"breakers\">Circuit breakers</h2>\n");
    thresholds(s, sum);
    if sum.breakers.is_empty() {
        return none(s, "No resilience4j breakers in this scenario.");
    }
    s.push_str(
        "<table><thead><tr><th>caller</th><th>target</th><th class=\"n\">opened</th><th class=\"n\">open (s)</th>\
        <th class=\"n\">first open at (s)</th><th>state at end</th></tr></thead><tbody>\n",
    );
    for b in &sum.breakers {
        let state = match b.state_at_end {
            BreakerPhase::Closed => "closed",
            BreakerPhase::Open => "open",
            BreakerPhase::HalfOpen => "half-open",
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{state}</td></tr>",
            escape(&b.caller),
            escape(&b.target),
            int(b.opened),
            num(b.open_s),
            opt(b.first_open_s, num),
        );
    }
    s.push_str("</tbody></table>\n");
}

/// Envoy's thresholds, edge by edge (nothing when no edge has them).
fn thresholds(s: &mut String, sum: &Summary) {
    if sum.thresholds.is_empty() {
        return;
    }
    s.push_str(
        "<h3>Envoy thresholds</h3>\n<table><thead><tr><th>edge</th><th class=\"n\">failed at once (pending overflow)</th>\
        <th class=\"n\">retries not sent (retry overflow)</th><th class=\"n\">waited for a connection</th>\
        <th class=\"n\">most pending</th></tr></thead><tbody>\n",
    );
    for t in &sum.thresholds {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&t.edge),
            int(t.upstream_rq_pending_overflow),
            int(t.upstream_rq_retry_overflow),
            int(t.upstream_cx_overflow),
            int(u64::from(t.pending_peak)),
        );
    }
    s.push_str("</tbody></table>\n");
}

fn rate_limits(s: &mut String, sum: &Summary) {
    s.push_str("<h2 id=\"limits\">Limits</h2>\n");
    refusals(s, sum);
    s.push_str("<h3>Rate limits</h3>\n");
    if sum.rate_limits.is_empty() {
        return none(s, "No rate limits in this scenario.");
    }
    s.push_str("<table><thead><tr><th>gateway</th><th>limit</th><th class=\"n\">rejected</th><th>most rejected users</th></tr></thead><tbody>\n");
    for r in &sum.rate_limits {
        let users: Vec<String> =
            r.top_users.iter().map(|u| format!("{} ({})", escape(&u.user), int(u.rejected))).collect();
        let users = if users.is_empty() { "–".to_string() } else { users.join(", ") };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{users}</td></tr>",
            escape(&r.gateway),
            escape(&r.limit),
            int(r.rejected)
        );
    }
    s.push_str("</tbody></table>\n");
}

/// Where `rejected` answers started: full queues, inbound limits, callers'
/// bulkheads and adaptive limits (nothing when none refused anything).
fn refusals(s: &mut String, sum: &Summary) {
    if sum.refusals.is_empty() {
        return;
    }
    s.push_str(
        "<h3>Refused at once</h3>\n<p class=\"meta\">Where the <i>rejected</i> answers started (after the warm-up): \
        a node's full queue or its inbound adaptive limit (a sidecar's, a gateway's) refuses requests, a caller's bulkhead or adaptive limit \
        refuses attempts before sending them. Callers pass these answers on, or retry them.</p>\n\
        <table><thead><tr><th>where</th><th>by</th><th class=\"n\">rejected</th><th>counted in</th></tr></thead><tbody>\n",
    );
    for r in &sum.refusals {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&r.at),
            r.by.words(),
            int(r.rejected),
            r.by.counts()
        );
    }
    s.push_str("</tbody></table>\n");
}

fn faults(s: &mut String, sum: &Summary) {
    s.push_str("<h2 id=\"faults\">Faults injected</h2>\n");
    if sum.faults.is_empty() {
        return none(s, "No faults in this scenario.");
    }
    s.push_str(
        "<table><thead><tr><th>target</th><th>kind</th><th class=\"n\">from (s)</th><th class=\"n\">until (s)</th>\
        <th class=\"n\">lasting (s)</th></tr></thead><tbody>\n",
    );
    for f in &sum.faults {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&f.target),
            f.kind,
            num(f.at_s),
            num(f.until_s),
            num(f.until_s - f.at_s)
        );
    }
    s.push_str("</tbody></table>\n");
}

fn cascade(s: &mut String, sum: &Summary) {
    let c = &sum.cascade;
    s.push_str("<h2 id=\"cascade\">How the faults travelled</h2>\n");
    let _ = writeln!(
        s,
        "<p>Verdict: <span class=\"badge {}\">{}</span> <small>(the worst over the faults)</small></p>",
        sections::verdict_class(c.verdict),
        c.verdict
    );
    if c.faults.is_empty() {
        none(s, "No faults: nothing to tell.");
    }
    for (i, f) in c.faults.iter().enumerate() {
        sections::fault_timeline(s, f, c.faults.get(i + 1).map(|n| n.at_s));
    }
    if c.faults_not_analysed > 0 {
        none(s, &format!("{} more faults were not analysed (at most 200 are).", int(c.faults_not_analysed)));
    }
    if sum.faults_not_listed > 0 {
        none(
            s,
            &format!(
                "{} more random-chaos faults happened after those listed (summary.json lists the first 200).",
                int(sum.faults_not_listed)
            ),
        );
    }
    let a = &c.amplification;
    if !c.faults.is_empty() && a.notable() {
        let before = if a.no_baseline {
            crate::chaos::cascade::NO_BASELINE.to_string()
        } else {
            format!("{} before the faults", num(a.baseline))
        };
        let _ = writeln!(
            s,
            "<p class=\"meta\">Retry amplification: {} attempts per client request at its peak ({} s), {before}.</p>",
            num(a.peak),
            secs(a.peak_at_s)
        );
    }
    warnings(s, sum);
}

/// What `validate` warns about, next to the verdict it may explain.
fn warnings(s: &mut String, sum: &Summary) {
    if sum.warnings.is_empty() {
        return;
    }
    s.push_str("<h3>What to change</h3>\n<ul class=\"warnings\">\n");
    for w in &sum.warnings {
        let hint = w.hint.as_ref().map_or(String::new(), |h| format!("<br><small>hint: {}</small>", escape(h)));
        let _ = writeln!(s, "<li><b>{}</b>: {}{hint}</li>", escape(&w.place), escape(&w.message));
    }
    s.push_str("</ul>\n");
}

/// `grouped`: buckets per point, and the bucket width in seconds.
fn pictures(s: &mut String, figures: &[Figure], topology: &str, grouped: (usize, f64)) {
    s.push_str(
        "<h2 id=\"pictures\">Over time</h2>\n<p class=\"meta\">Shaded: warm-up (grey) and fault windows (red); \
        triangles on the time axis: breakers opening, instances ejected and re-admitted. Hover a chart for its \
        values at that time; click a legend entry to hide or show its lines.",
    );
    if let (group @ 2.., bucket_s) = grouped {
        let _ = write!(
            s,
            " Each point is {group} consecutive buckets of {bucket_s} s (the run has more buckets than a chart has \
             pixels): counts summed, latency, open breakers and faults their worst bucket, queue and utilisation \
             their mean; timeseries.csv has every bucket."
        );
    }
    s.push_str("</p>\n");
    for f in figures {
        s.push_str(&f.html);
    }
    let mut caption =
        String::from("Nodes coloured by their worst time bucket; arrows labelled with the caller's policy.");
    let wide = svg_width(topology).is_some_and(|w| w > PAGE_WIDTH_PX);
    if wide {
        caption.push_str(" Click the picture to see it at full size.");
    }
    let _ = writeln!(
        s,
        "<h2 id=\"topology\">Topology</h2>\n<figure class=\"wide{}\">\n{}<figcaption>{}</figcaption>\n</figure>",
        if wide { " zoomable" } else { "" },
        inline_svg(topology, &caption, true),
        escape(&caption)
    );
}
