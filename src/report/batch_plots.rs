//! Pictures of batch results: architectures overlaid over time (compare),
//! a metric against the swept parameter (sweep), and comparison.html.

use crate::batch::compare::{Comparison, METRICS, ScenarioResult};
use crate::batch::sweep::Sweep;

use super::plots::batch_charts::{self, MeanSeries, TimeCompare, Window};
use super::plots::html::{self, Figure};
use super::plots::overlay::{Overlay, Series, render};

type Files = Vec<(String, Vec<u8>)>;

fn push(files: &mut Files, stem: &str, o: &Overlay) -> Result<(), String> {
    let (svg, png) = render(o)?;
    files.push((format!("{stem}.svg"), svg));
    files.push((format!("{stem}.png"), png));
    Ok(())
}

/// The faults shaded on the overlaid charts: each scenario's (replication
/// 0's), named by scenario when the scenarios inject different faults.
fn windows(c: &Comparison) -> Vec<Window> {
    let same = c.scenarios.windows(2).all(|w| w[0].faults == w[1].faults);
    let mut out: Vec<Window> = Vec::new();
    for s in &c.scenarios {
        for f in &s.faults {
            let what = format!("{} {}", f.target, f.kind);
            let label = if same { what } else { format!("{}: {what}", s.name) };
            if !out.iter().any(|w| w.from_s == f.at_s && w.until_s == f.until_s && w.label == label) {
                out.push(Window { from_s: f.at_s, until_s: f.until_s, label });
            }
        }
    }
    out.truncate(MAX_WINDOWS);
    out
}

/// Fault windows shaded at most (random chaos can inject hundreds).
const MAX_WINDOWS: usize = 60;

/// compare's two charts over time: the clients' p99 of successes and
/// success share, mean and 95% band per architecture.
fn time_charts(c: &Comparison, resolution_s: f64) -> [TimeCompare<'_>; 2] {
    let series = |pick: fn(&ScenarioResult) -> (Vec<f64>, &[f64])| -> Vec<MeanSeries<'_>> {
        c.scenarios
            .iter()
            .map(|s| {
                let (mean, ci95) = pick(s);
                MeanSeries { name: &s.name, mean, ci95 }
            })
            .collect()
    };
    let chart = |id, title: &str, y_desc, unit, zero_is_missing: bool, series| TimeCompare {
        y_max: (!zero_is_missing).then_some(100.0),
        factor: if zero_is_missing { 1.0 } else { 100.0 },
        id,
        title: title.to_string(),
        y_desc,
        unit,
        zero_is_missing,
        allow_log: zero_is_missing,
        bucket_s: resolution_s,
        series,
        windows: windows(c),
        replications: c.replications,
    };
    [
        chart(
            "p99",
            "clients' p99 latency of successful answers over time",
            "p99 of successes (ms)",
            "ms",
            true,
            series(|s| (s.p99_series.clone(), &s.p99_ci95)),
        ),
        chart(
            "success",
            "clients' success share over time",
            "success (%)",
            "%",
            false,
            series(|s| (s.success_series.iter().map(|v| v.unwrap_or(f64::NAN)).collect(), &s.success_ci95)),
        ),
    ]
}

/// comparison_p99 and comparison_success (SVG and PNG), and
/// comparison.html. `reports[i]` is the folder (relative to the output)
/// holding a report of replication 0 of input i, if one was written.
pub fn comparison_outputs(
    c: &Comparison,
    resolution_s: f64,
    table_md: &str,
    reports: &[Option<String>],
) -> Result<Files, String> {
    let charts = time_charts(c, resolution_s);
    let mut files = Vec::new();
    let mut figures = Vec::new();
    // Random chaos draws other faults in every replication: the shading is one run's.
    let shaded = if c.scenarios.iter().any(|s| s.faults_vary) {
        " With random chaos the shading is replication 0's faults only: each replication drew its own, \
         and the lines average over all of them."
    } else {
        ""
    };
    for (chart, caption) in charts.iter().zip([
        "The clients' p99 of successful answers per time bucket (the worst client node): the line is the mean over \
         replications that had a successful answer in the bucket, the band its 95% confidence interval. Shaded: fault windows.",
        "The share of the clients' finished requests that succeeded, per time bucket: mean over the replications in \
         which some request finished, and its 95% confidence interval. A gap: no request finished in any replication \
         (they all still wait, as on a hung node). Shaded: fault windows.",
    ]) {
        let (svg, png) = batch_charts::render(chart)?;
        files.push((format!("comparison_{}.svg", chart.id), svg));
        files.push((format!("comparison_{}.png", chart.id), png));
        figures.push(batch_charts::figure(chart, &format!("{caption}{shaded}"))?);
    }
    let html = comparison_html(c, table_md, &figures, reports);
    files.push(("comparison.html".into(), html.into_bytes()));
    Ok(files)
}

/// One chart per headline metric against the first parameter; with a
/// second parameter, one line per value of it.
pub fn sweep_plots(s: &Sweep) -> Result<Files, String> {
    let Some((p1, v1)) = s.parameters.first() else { return Ok(Vec::new()) };
    let axis = s.axes.first().expect("an axis per parameter");
    let x = &axis.values;
    let x_desc = if axis.seconds { format!("{p1} (s)") } else { p1.clone() };
    let groups: Vec<(String, String)> = match s.parameters.get(1) {
        Some((p2, v2)) => v2.iter().map(|v| (format!("{p2}={v}"), v.clone())).collect(),
        None => vec![(s.file.clone(), String::new())],
    };
    let mut files = Vec::new();
    for key in ["success_rate", "latency_ms_p99", "goodput_rps"] {
        let m = METRICS.iter().find(|m| m.key == key).expect("known metric");
        let series = groups
            .iter()
            .map(|(name, second)| {
                let mut points = Vec::new();
                let mut bars = Vec::new();
                for (i, v) in v1.iter().enumerate() {
                    let point = s
                        .points
                        .iter()
                        .find(|p| &p.values[0] == v && (second.is_empty() || p.values.get(1) == Some(second)));
                    if let Some(e) = point.and_then(|p| p.metrics.0.iter().find(|(k, _)| k == key)).map(|(_, e)| e) {
                        points.push((x[i], e.mean));
                        if e.ci95.is_some() {
                            bars.push((x[i], e.low(), e.high()));
                        }
                    }
                }
                Series { name: name.clone(), points, bars }
            })
            .collect();
        push(
            &mut files,
            &format!("sweep_{key}"),
            &Overlay {
                title: format!("{} against {p1}", m.label),
                x_desc: x_desc.clone(),
                y_desc: m.label.to_string(),
                series,
                log_y: false,
                notes: vec![format!("mean ± 95% CI, {} replications", s.replications)],
                y_cap: m.label.ends_with('%').then_some(100.0),
            },
        )?;
    }
    Ok(files)
}

pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A markdown table (as printed on stdout) as an HTML table, and the
/// notes under it as a paragraph.
pub(crate) fn table_html(table_md: &str) -> String {
    let mut rows = String::new();
    for (i, line) in table_md.lines().filter(|l| l.starts_with('|') && !l.starts_with("|-")).enumerate() {
        let tag = if i == 0 { "th" } else { "td" };
        let cells: String = line
            .trim_matches('|')
            .split(" | ")
            .enumerate()
            .map(|(j, c)| {
                let class = if j == 0 { "" } else { " class=\"n\"" };
                format!("<{tag}{class}>{}</{tag}>", escape(c.trim()))
            })
            .collect();
        rows.push_str(&format!("<tr>{cells}</tr>\n"));
    }
    let notes: String = table_md
        .lines()
        .filter(|l| !l.starts_with('|') && !l.trim().is_empty())
        .map(|l| format!("{} ", escape(l)))
        .collect();
    format!("<div class=\"scroll\"><table>\n{rows}</table></div>\n<p class=\"meta\">{notes}</p>\n")
}

/// "users Slow 20–40 s; gw#1 Crash 30–45 s", or "none".
fn fault_list(s: &ScenarioResult) -> String {
    if s.faults.is_empty() {
        return "none".into();
    }
    let mut parts: Vec<String> = s
        .faults
        .iter()
        .take(8)
        .map(|f| format!("{} {} {}–{}", f.target, f.kind, fmt_secs(f.at_s), fmt_secs(f.until_s)))
        .collect();
    if s.faults.len() > 8 {
        parts.push(format!("and {} more", s.faults.len() - 8));
    }
    let mut out = parts.join("; ");
    if s.faults_vary {
        out.push_str(" (random chaos: replication 0's faults; each replication draws its own)");
    }
    out
}

fn fmt_secs(v: f64) -> String {
    crate::chaos::cascade::seconds(v)
}

/// One self-contained page: the table, what each scenario injects with a
/// link to one replication's report, and the overlaid charts.
fn comparison_html(c: &Comparison, table_md: &str, figures: &[Figure], reports: &[Option<String>]) -> String {
    let names: Vec<&str> = c.scenarios.iter().map(|s| s.name.as_str()).collect();
    let title = names.join(" vs ");
    let mut body = format!(
        "<h1>{}</h1>\n<p class=\"meta\">{} replications per scenario; replication i of every scenario runs with seed {} + i, \
         so all see the same arrivals (common random numbers). ± is the half-width of the 95% confidence interval; [low, high] gives its ends where it was cut at 0 or 100 %.</p>\n",
        escape(&title),
        c.replications,
        c.base_seed
    );
    body.push_str("<h2>Results</h2>\n");
    body.push_str(&table_html(table_md));
    body.push_str(
        "<h2>Scenarios</h2>\n<table><thead><tr><th>scenario</th><th>file</th><th>faults injected</th>\
         <th>verdicts</th><th>report</th></tr></thead><tbody>\n",
    );
    for (i, s) in c.scenarios.iter().enumerate() {
        let verdicts: Vec<String> = s.verdicts.0.iter().map(|(v, n)| format!("{v} {n}")).collect();
        let report = match reports.get(i).and_then(Option::as_ref) {
            Some(dir) => format!("<a href=\"{}/report.html\">replication 0</a>", escape(dir)),
            None => "–".into(),
        };
        body.push_str(&format!(
            "<tr><td><b>{}</b></td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{report}</td></tr>\n",
            escape(&s.name),
            escape(&s.file),
            escape(&fault_list(s)),
            escape(&verdicts.join(", ")),
        ));
    }
    body.push_str("</tbody></table>\n");
    if reports.iter().all(Option::is_none) {
        body.push_str(
            "<p class=\"meta\">No per-scenario reports: a merged batch has only its runs' numbers; \
             run <code>gatesim run FILE --seed SEED</code> for one.</p>\n",
        );
    }
    body.push_str("<h2>Over time</h2>\n<p class=\"meta\">Hover a chart for its values; click a legend entry to hide or show a scenario.</p>\n");
    for f in figures {
        body.push_str(&f.html);
    }
    body.push_str("<footer>Made by gatesim compare from runs.json.</footer>\n");
    html::page(&format!("{title}: gatesim compare"), &body)
}
