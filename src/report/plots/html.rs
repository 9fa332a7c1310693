//! report.html: one self-contained page (inline CSS and SVG, no scripts, no
//! links out) with the run's tables, the cascade story and the pictures.

use std::fmt::Write as _;

use super::data::{OUTCOMES, PlotData};
use super::topology::escape;

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
ol.story{padding-left:1.6em}
ol.story li{margin:4px 0}
figure{margin:18px 0 26px}
figure svg{display:block;width:100%;height:auto;border:1px solid var(--line);border-radius:6px;background:#fff}
figure.wide{overflow-x:auto}
figcaption{color:var(--muted);font-size:13px;margin-top:6px}
footer{margin-top:36px;color:var(--muted);font-size:12px}
"#;

fn int(n: u64) -> String {
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

/// Seconds without trailing zeros: "60", "2.5".
fn secs(v: f64) -> String {
    super::frame::fmt_num(v)
}

fn num(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map_or_else(|| "–".to_string(), f)
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
        // Never drawn larger than its natural size; shrunk to fit if wider.
        let _ = write!(open, " style=\"max-width:{w}px\"");
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

/// The page; `svgs` are (file name, SVG text) of the pictures to inline.
pub(crate) fn report(data: &PlotData, svgs: &[(&str, &str)]) -> String {
    let mut s = String::with_capacity(256 * 1024 + svgs.iter().map(|(_, t)| t.len()).sum::<usize>());
    let title = escape(&data.scenario);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}: gatesim report</title>\n<style>{CSS}</style>\n</head>\n<body>\n<main>\n"
    );
    header(&mut s, data);
    summary(&mut s, data);
    nodes(&mut s, data);
    breakers(&mut s, data);
    rate_limits(&mut s, data);
    faults(&mut s, data);
    cascade(&mut s, data);
    pictures(&mut s, svgs);
    s.push_str("<footer>Made by gatesim from summary.json and timeseries.csv; redraw with <code>gatesim plot</code>.</footer>\n");
    s.push_str("</main>\n</body>\n</html>\n");
    s
}

fn header(s: &mut String, data: &PlotData) {
    let _ = writeln!(s, "<h1>{}</h1>", escape(&data.scenario));
    let mut meta = Vec::new();
    if let Some(seed) = data.seed {
        meta.push(format!("seed {seed}"));
    }
    meta.push(format!("{} s simulated", secs(data.duration_s)));
    if data.warmup_s > 0.0 {
        meta.push(format!("the first {} s are warm-up, left out of the statistics", secs(data.warmup_s)));
    }
    if let Some(e) = data.events {
        meta.push(format!("{} events", int(e)));
    }
    let _ = writeln!(s, "<p class=\"meta\">{}</p>", escape(&meta.join(" · ")));
    if let Some(met) = data.slo.as_ref().and_then(|slo| slo.met) {
        let (class, text) = if met { ("good", "SLO met") } else { ("bad", "SLO missed") };
        let _ = writeln!(s, "<span class=\"badge {class}\">{text}</span>");
    }
    let _ = write!(s, "<nav>");
    for (id, name) in [
        ("summary", "Summary"),
        ("nodes", "Nodes"),
        ("breakers", "Breakers"),
        ("limits", "Rate limits"),
        ("faults", "Faults"),
        ("cascade", "Cascade"),
        ("pictures", "Pictures"),
        ("topology", "Topology"),
    ] {
        if id != "cascade" || data.cascade.is_some() {
            let _ = write!(s, "<a href=\"#{id}\">{name}</a>");
        }
    }
    s.push_str("</nav>\n");
}

fn count(data: &PlotData, key: &str) -> Option<u64> {
    data.requests.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

fn summary(s: &mut String, data: &PlotData) {
    s.push_str("<h2 id=\"summary\">Summary</h2>\n<div class=\"cards\">\n");
    let p99 = data.latency_ms.iter().find(|(k, _)| k == "p99").map(|(_, v)| *v);
    let cards = [
        ("end-user requests", opt(count(data, "total"), int)),
        ("success rate", opt(data.success_rate, pct)),
        ("goodput", opt(data.goodput_rps, |g| format!("{} /s", num(g)))),
        ("p99 latency", opt(p99, |v| format!("{} ms", num(v)))),
    ];
    for (k, v) in cards {
        let _ =
            writeln!(s, "<div class=\"card\"><div class=\"k\">{k}</div><div class=\"v\">{}</div></div>", escape(&v));
    }
    s.push_str("</div>\n");
    outcomes_table(s, data);
    if !data.latency_ms.is_empty() {
        s.push_str("<h3>Latency of answered requests (ms)</h3>\n<table><thead><tr>");
        for (k, _) in &data.latency_ms {
            let _ = write!(s, "<th class=\"n\">{}</th>", escape(k));
        }
        s.push_str("</tr></thead><tbody><tr>");
        for (_, v) in &data.latency_ms {
            let _ = write!(s, "<td class=\"n\">{}</td>", num(*v));
        }
        s.push_str("</tr></tbody></table>\n");
    }
    if !data.attempts.is_empty() {
        s.push_str("<h3>Attempts</h3>\n<table><thead><tr>");
        for (k, _) in &data.attempts {
            let _ = write!(s, "<th class=\"n\">{}</th>", escape(k));
        }
        s.push_str("</tr></thead><tbody><tr>");
        for (_, v) in &data.attempts {
            let _ = write!(s, "<td class=\"n\">{}</td>", int(*v));
        }
        s.push_str("</tr></tbody></table>\n");
    }
    slo(s, data);
}

fn outcomes_table(s: &mut String, data: &PlotData) {
    let total = count(data, "total").unwrap_or_else(|| data.requests.iter().map(|(_, v)| v).sum());
    s.push_str("<h3>End-user requests by outcome</h3>\n");
    s.push_str("<table><thead><tr><th>outcome</th><th class=\"n\">requests</th><th class=\"n\">share</th><th style=\"width:40%\"></th></tr></thead><tbody>\n");
    let colors = super::charts::OUTCOME_COLORS;
    for (k, v) in data.requests.iter().filter(|(k, _)| k != "total") {
        let share = if total > 0 { *v as f64 / total as f64 } else { 0.0 };
        let color = OUTCOMES.iter().position(|o| o == k).map_or_else(
            || "#bbbbbb".to_string(),
            |i| format!("#{:02x}{:02x}{:02x}", colors[i].0, colors[i].1, colors[i].2),
        );
        let zero = if *v == 0 { " class=\"zero\"" } else { "" };
        let _ = writeln!(
            s,
            "<tr{zero}><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td><span class=\"bar\" style=\"width:{:.1}%;background:{color}\"></span></td></tr>",
            escape(&k.replace('_', " ")),
            int(*v),
            pct(share),
            share * 100.0
        );
    }
    let _ = writeln!(s, "<tr><th>total</th><th class=\"n\">{}</th><th></th><th></th></tr>", int(total));
    s.push_str("</tbody></table>\n");
}

fn slo(s: &mut String, data: &PlotData) {
    let Some(slo) = &data.slo else { return };
    s.push_str("<h3>Service level objective</h3>\n<table><thead><tr><th>objective</th><th class=\"n\">target</th><th class=\"n\">measured</th><th>verdict</th></tr></thead><tbody>\n");
    let verdict = |ok: Option<bool>| match ok {
        Some(true) => "<span class=\"badge good\">met</span>",
        Some(false) => "<span class=\"badge bad\">missed</span>",
        None => "–",
    };
    if slo.p99_ms.is_some() || slo.measured_p99_ms.is_some() {
        let ok = slo.p99_ms.zip(slo.measured_p99_ms).map(|(t, m)| m <= t);
        let _ = writeln!(
            s,
            "<tr><td>p99 latency</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            opt(slo.p99_ms, |v| format!("≤ {} ms", num(v))),
            opt(slo.measured_p99_ms, |v| format!("{} ms", num(v))),
            verdict(ok)
        );
    }
    if slo.success_rate.is_some() || slo.measured_success_rate.is_some() {
        let ok = slo.success_rate.zip(slo.measured_success_rate).map(|(t, m)| m >= t);
        let _ = writeln!(
            s,
            "<tr><td>success rate</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            opt(slo.success_rate, |v| format!("≥ {}", pct(v))),
            opt(slo.measured_success_rate, pct),
            verdict(ok)
        );
    }
    let _ = writeln!(s, "<tr><th>overall</th><th></th><th></th><th>{}</th></tr>", verdict(slo.met));
    s.push_str("</tbody></table>\n");
}

fn nodes(s: &mut String, data: &PlotData) {
    s.push_str("<h2 id=\"nodes\">Nodes</h2>\n<table><thead><tr><th>node</th><th>kind</th><th class=\"n\">replicas</th>\
        <th class=\"n\">arrivals</th><th class=\"n\">success</th><th class=\"n\">worst bucket</th><th class=\"n\">p50 ms</th>\
        <th class=\"n\">p99 ms</th><th class=\"n\">utilization</th><th class=\"n\">dropped</th></tr></thead><tbody>\n");
    for (i, n) in data.nodes.iter().enumerate() {
        let st = n.stats.clone().unwrap_or_default();
        let worst = super::topology::worst_share(data, i);
        let class = match super::topology::health(data, i) {
            super::topology::Health::Good => "good",
            super::topology::Health::Degraded => "warn",
            super::topology::Health::Bad => "bad",
            _ => "",
        };
        let util = if n.is_clients() { "–".to_string() } else { opt(st.utilization, pct) };
        let _ = writeln!(
            s,
            "<tr><td><b>{}</b></td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\"><span class=\"badge {class}\">{}</span></td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            escape(&n.name),
            escape(&n.kind.replace('_', " ")),
            n.replicas,
            opt(st.arrivals, int),
            opt(st.success_share, pct),
            opt(worst, pct),
            opt(st.p50_ms, num),
            opt(st.p99_ms, num),
            util,
            opt(st.dropped, int)
        );
    }
    s.push_str("</tbody></table>\n<p class=\"meta\">Success: ok, partial or fallback answers over all answers. \
        Worst bucket: the lowest success share in one time bucket after the warm-up, not counting the callers' own faults \
        (rate limited, unauthorized, not found).</p>\n");
}

fn none(s: &mut String, text: &str) {
    let _ = writeln!(s, "<p class=\"none\">{}</p>", escape(text));
}

fn breakers(s: &mut String, data: &PlotData) {
    s.push_str("<h2 id=\"breakers\">Circuit breakers</h2>\n");
    if data.breakers.is_empty() {
        return none(s, "No breakers in this scenario.");
    }
    s.push_str(
        "<table><thead><tr><th>caller</th><th>target</th><th class=\"n\">opened</th><th class=\"n\">open (s)</th>\
        <th class=\"n\">first open at (s)</th><th>state at end</th></tr></thead><tbody>\n",
    );
    for b in &data.breakers {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
            escape(&b.caller),
            escape(&b.target),
            opt(b.opened, int),
            opt(b.open_s, num),
            opt(b.first_open_s, num),
            escape(&b.state_at_end.clone().unwrap_or_else(|| "–".into()).replace('_', "-"))
        );
    }
    s.push_str("</tbody></table>\n");
}

fn rate_limits(s: &mut String, data: &PlotData) {
    s.push_str("<h2 id=\"limits\">Rate limits</h2>\n");
    if data.rate_limits.is_empty() {
        return none(s, "No rate limits in this scenario.");
    }
    s.push_str("<table><thead><tr><th>gateway</th><th>limit</th><th class=\"n\">rejected</th><th>most rejected users</th></tr></thead><tbody>\n");
    for r in &data.rate_limits {
        let users: Vec<String> = r.top_users.iter().map(|(u, n)| format!("{} ({})", escape(u), int(*n))).collect();
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

fn faults(s: &mut String, data: &PlotData) {
    s.push_str("<h2 id=\"faults\">Faults injected</h2>\n");
    if data.faults.is_empty() {
        return none(s, "No faults in this scenario.");
    }
    s.push_str(
        "<table><thead><tr><th>target</th><th>kind</th><th class=\"n\">from (s)</th><th class=\"n\">until (s)</th>\
        <th class=\"n\">lasting (s)</th></tr></thead><tbody>\n",
    );
    for f in &data.faults {
        let until = if f.until_s.is_finite() { num(f.until_s) } else { "end".into() };
        let lasting = if f.until_s.is_finite() { num(f.until_s - f.at_s) } else { "–".into() };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{until}</td><td class=\"n\">{lasting}</td></tr>",
            escape(&f.target),
            escape(&f.kind),
            num(f.at_s)
        );
    }
    s.push_str("</tbody></table>\n");
}

fn cascade(s: &mut String, data: &PlotData) {
    let Some(c) = &data.cascade else { return };
    s.push_str("<h2 id=\"cascade\">How the faults travelled</h2>\n");
    if let Some(v) = &c.verdict {
        let class = match v.as_str() {
            "contained" | "none" => "good",
            "inconclusive" => "warn",
            _ => "bad",
        };
        let _ = writeln!(s, "<p>Verdict: <span class=\"badge {class}\">{}</span></p>", escape(v));
    }
    if c.story.is_empty() {
        return none(s, "Nothing to tell.");
    }
    s.push_str("<ol class=\"story\">\n");
    for line in &c.story {
        let _ = writeln!(s, "<li>{}</li>", escape(line));
    }
    s.push_str("</ol>\n");
}

fn pictures(s: &mut String, svgs: &[(&str, &str)]) {
    let captions = [
        ("latency.svg", "Latency per node over simulated time: p99 solid, p50 faint; clients drawn thicker."),
        ("errors.svg", "The clients' requests per second, stacked by outcome."),
        ("throughput.svg", "Arrivals and goodput (ok, partial, fallback) per second per node."),
        ("queues.svg", "Queue length and worker utilization of the server nodes."),
        ("breakers.svg", "Circuit breaker states over time, one lane per breaker."),
    ];
    s.push_str(
        "<h2 id=\"pictures\">Over time</h2>\n<p class=\"meta\">Shaded: warm-up (grey) and fault windows (red).</p>\n",
    );
    for (file, caption) in captions {
        if let Some((_, svg)) = svgs.iter().find(|(f, _)| *f == file) {
            let _ = writeln!(
                s,
                "<figure>\n{}<figcaption>{}</figcaption>\n</figure>",
                inline_svg(svg, caption, false),
                escape(caption)
            );
        }
    }
    if let Some((_, svg)) = svgs.iter().find(|(f, _)| *f == "topology.svg") {
        let caption = "Nodes coloured by their worst time bucket; arrows labelled with the caller's policy.";
        let _ = writeln!(
            s,
            "<h2 id=\"topology\">Topology</h2>\n<figure class=\"wide\">\n{}<figcaption>{}</figcaption>\n</figure>",
            inline_svg(svg, caption, true),
            escape(caption)
        );
    }
}
