//! sweep.html: the sweep's table, its metrics against the first parameter,
//! and, with two or more parameters, heatmaps over the grid of the cascade
//! verdict and the time to recover: the metastability map (which load and
//! which trigger tip the system over, and where it no longer comes back).

use std::fmt::Write as _;

use crate::batch::compare::METRICS;
use crate::batch::sweep::{Point, Sweep};
use crate::chaos::Verdict;

use super::batch_plots::{escape, table_html};
use super::plots::html;

/// Heatmaps drawn at most (one per value combination of the parameters
/// after the first two).
const MAX_MAPS: usize = 24;

/// The page; `svgs` are the sweep's charts (name, SVG text).
pub fn sweep_html(s: &Sweep, table_md: &str, svgs: &[(String, String)]) -> String {
    let names: Vec<&str> = s.parameters.iter().map(|(p, _)| p.as_str()).collect();
    let title = format!("{} over {}", s.file, names.join(" × "));
    let mut body = format!(
        "<h1>{}</h1>\n<p class=\"meta\">{} replications per grid point; replication i of every point runs with seed {} + i \
         (common random numbers). ± is the half-width of the 95% confidence interval; [low, high] gives its ends where it was cut at 0 or 100 %.</p>\n",
        escape(&title),
        s.replications,
        s.base_seed
    );
    if s.parameters.len() >= 2 {
        heatmaps(&mut body, s);
    }
    body.push_str("<h2>Results</h2>\n");
    body.push_str(&table_html(table_md));
    if !svgs.is_empty() {
        let _ = writeln!(body, "<h2>Against {}</h2>", escape(names[0]));
        for (name, svg) in svgs {
            let _ = writeln!(body, "<figure>{}</figure>", html::inline_svg(svg, name, false));
        }
    }
    body.push_str("<footer>Made by gatesim sweep from runs.json.</footer>\n");
    html::page(&format!("{title}: gatesim sweep"), &body)
}

/// The most frequent verdict of a point (the worse one on a tie), and its count.
fn main_verdict(p: &Point) -> Option<(Verdict, u64)> {
    let mut best: Option<(Verdict, u64)> = None;
    for (key, n) in &p.verdicts.0 {
        let Some(v) = Verdict::ALL.into_iter().find(|v| v.key() == key) else { continue };
        // ALL runs from harmless to worst, so a later verdict wins a tie.
        if best.is_none_or(|(_, m)| *n >= m) {
            best = Some((v, *n));
        }
    }
    best
}

fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::None => "#f4f5f7",
        Verdict::Contained => "#cfe9cf",
        Verdict::Inconclusive => "#e4e4e4",
        Verdict::Overlapped => "#e3d7ef",
        Verdict::Spread => "#fde0b8",
        Verdict::Degraded => "#f7b7a3",
        Verdict::Metastable => "#d9534f",
    }
}

fn recovery(p: &Point) -> Option<f64> {
    p.metrics.0.iter().find(|(k, _)| k == "recovery_s").map(|(_, e)| e.mean).filter(|_| p.never_recovered == 0)
}

/// White to deep blue for 0..=max seconds.
fn recovery_color(v: f64, max: f64) -> String {
    let t = if max > 0.0 { (v / max).clamp(0.0, 1.0) } else { 0.0 };
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    format!("#{:02x}{:02x}{:02x}", mix(240.0, 33.0), mix(246.0, 102.0), mix(252.0, 172.0))
}

/// One pair of heatmaps (verdict, time to recover) per value combination
/// of the parameters after the first two.
fn heatmaps(body: &mut String, s: &Sweep) {
    let (p1, v1) = &s.parameters[0];
    let (p2, v2) = &s.parameters[1];
    let rest = crate::batch::sweep::grid(&s.parameters[2..]);
    body.push_str(
        "<h2>Where it tips over</h2>\n<p class=\"meta\">Each cell is one grid point: its most frequent cascade verdict \
         (of all replications) and its clients' time to recover from the faults (mean over the replications that \
         recovered; \"never\" when any did not). Hover a cell for all its numbers.</p>\n",
    );
    let max = s.points.iter().filter_map(recovery).fold(0.0f64, f64::max);
    for fixed in rest.iter().take(MAX_MAPS) {
        if !fixed.is_empty() {
            let label: Vec<String> =
                s.parameters[2..].iter().zip(fixed).map(|((p, _), v)| format!("{p}={v}")).collect();
            let _ = writeln!(body, "<h3>{}</h3>", escape(&label.join(" ")));
        }
        body.push_str("<div class=\"maps\">");
        for map in ["verdict", "time to recover"] {
            let _ = write!(
                body,
                "<div class=\"scroll\"><table class=\"heat\"><caption>{map}</caption><thead><tr><th>{} ↓ {} →</th>",
                escape(p1),
                escape(p2)
            );
            for b in v2 {
                let _ = write!(body, "<th>{}</th>", escape(b));
            }
            body.push_str("</tr></thead><tbody>");
            for a in v1 {
                let _ = write!(body, "<tr><th>{}</th>", escape(a));
                for b in v2 {
                    let point =
                        s.points.iter().find(|p| p.values[0] == *a && p.values[1] == *b && p.values[2..] == fixed[..]);
                    cell(body, point, map == "verdict", s.replications, max);
                }
                body.push_str("</tr>");
            }
            body.push_str("</tbody></table></div>");
        }
        body.push_str("</div>\n");
    }
    if rest.len() > MAX_MAPS {
        let _ = writeln!(body, "<p class=\"meta\">{} more maps left out; see sweep.csv.</p>", rest.len() - MAX_MAPS);
    }
}

fn cell(body: &mut String, point: Option<&Point>, verdict: bool, replications: u32, max: f64) {
    let Some(p) = point else {
        body.push_str("<td>–</td>");
        return;
    };
    let mut tip: Vec<String> = p.verdicts.0.iter().map(|(v, n)| format!("{v} {n}/{replications}")).collect();
    for m in METRICS.iter().filter(|m| matches!(m.key, "success_rate" | "latency_ms_p99" | "recovery_s")) {
        if let Some((_, e)) = p.metrics.0.iter().find(|(k, _)| k == m.key) {
            tip.push(format!("{}: {}", m.label, e.show(m.decimals)));
        }
    }
    if p.never_recovered > 0 {
        tip.push(format!("never recovered in {}/{replications}", p.never_recovered));
    }
    let tip = escape(&tip.join("\n"));
    if verdict {
        match main_verdict(p) {
            Some((v, n)) => {
                let fg = if v == Verdict::Metastable { "#fff" } else { "#222" };
                let _ = write!(
                    body,
                    "<td style=\"background:{};color:{fg}\" title=\"{tip}\">{} <small>{n}/{replications}</small></td>",
                    verdict_color(v),
                    v.key()
                );
            }
            None => {
                let _ = write!(body, "<td title=\"{tip}\">–</td>");
            }
        }
        return;
    }
    match recovery(p) {
        Some(r) => {
            let fg = if max > 0.0 && r / max > 0.55 { "#fff" } else { "#222" };
            let _ = write!(
                body,
                "<td style=\"background:{};color:{fg}\" title=\"{tip}\">{} s</td>",
                recovery_color(r, max),
                crate::report::table::num(r)
            );
        }
        None if p.never_recovered > 0 => {
            let _ = write!(
                body,
                "<td style=\"background:#8b1a1a;color:#fff\" title=\"{tip}\">never <small>{}/{replications}</small></td>",
                p.never_recovered
            );
        }
        None => {
            let _ = write!(body, "<td title=\"{tip}\">no fault</td>");
        }
    }
}
