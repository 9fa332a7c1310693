//! Pictures of batch results: architectures overlaid over time (compare),
//! a metric against the swept parameter (sweep), and comparison.html.

use crate::batch::compare::{Comparison, METRICS};
use crate::batch::sweep::Sweep;

use super::plots::overlay::{Overlay, Series, render};

type Files = Vec<(String, Vec<u8>)>;

fn push(files: &mut Files, stem: &str, o: &Overlay) -> Result<(), String> {
    let (svg, png) = render(o)?;
    files.push((format!("{stem}.svg"), svg));
    files.push((format!("{stem}.png"), png));
    Ok(())
}

/// comparison_p99 and comparison_success (mean over replications per bucket).
pub fn comparison_plots(c: &Comparison, resolution_s: f64) -> Result<Files, String> {
    let over_time = |pick: fn(&crate::batch::compare::ScenarioResult) -> &Vec<f64>, scale: f64| -> Vec<Series> {
        c.scenarios
            .iter()
            .map(|s| Series {
                name: s.name.clone(),
                points: pick(s).iter().enumerate().map(|(b, v)| (b as f64 * resolution_s, v * scale)).collect(),
                bars: Vec::new(),
            })
            .collect()
    };
    let note = format!("mean of {} replications", c.replications);
    let mut files = Vec::new();
    push(
        &mut files,
        "comparison_p99",
        &Overlay {
            title: "clients' p99 latency over time".into(),
            x_desc: "simulated time (s)".into(),
            y_desc: "p99 latency (ms, log scale)".into(),
            series: over_time(|s| &s.p99_series, 1.0),
            log_y: true,
            notes: vec![note.clone(), "worst client node per bucket".into()],
        },
    )?;
    push(
        &mut files,
        "comparison_success",
        &Overlay {
            title: "clients' success rate over time".into(),
            x_desc: "simulated time (s)".into(),
            y_desc: "success rate (%)".into(),
            series: over_time(|s| &s.success_series, 100.0),
            log_y: false,
            notes: vec![note],
        },
    )?;
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
            },
        )?;
    }
    Ok(files)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// One self-contained page: the table and the overlaid plots (SVG inline).
pub fn comparison_html(c: &Comparison, table_md: &str, svgs: &[(&str, &str)]) -> String {
    let mut rows = String::new();
    for (i, line) in table_md.lines().filter(|l| l.starts_with('|') && !l.starts_with("|-")).enumerate() {
        let tag = if i == 0 { "th" } else { "td" };
        let cells: String =
            line.trim_matches('|').split(" | ").map(|c| format!("<{tag}>{}</{tag}>", escape(c.trim()))).collect();
        rows.push_str(&format!("<tr>{cells}</tr>\n"));
    }
    let notes: String = table_md
        .lines()
        .filter(|l| !l.starts_with('|') && !l.trim().is_empty())
        .map(|l| format!("{} ", escape(l)))
        .collect();
    let plots: String = svgs
        .iter()
        .map(|(_, svg)| format!("<figure>{}</figure>\n", svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)))
        .collect();
    let names: Vec<String> = c.scenarios.iter().map(|s| escape(&s.name)).collect();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>gatesim compare: {title}</title>\n<style>\n\
         body{{font-family:system-ui,sans-serif;color:#222;margin:0;background:#fafafa}}\n\
         main{{max-width:1100px;margin:0 auto;padding:24px}}\n\
         table{{border-collapse:collapse;font-size:14px;background:#fff}}\n\
         td,th{{padding:4px 10px;border-bottom:1px solid #ddd;text-align:right;white-space:nowrap}}\n\
         td:first-child,th:first-child{{text-align:left}}\n\
         tr:nth-child(even) td{{background:#f4f6f8}}\n\
         figure{{margin:24px 0}} figure svg{{max-width:100%;height:auto}}\n\
         .note{{color:#666;font-size:13px}}\n</style></head>\n\
         <body><main><h1>{title}</h1>\n<div style=\"overflow-x:auto\"><table>\n{rows}</table></div>\n\
         <p class=\"note\">{notes}</p>\n{plots}</main></body></html>\n",
        title = names.join(" vs "),
    )
}
