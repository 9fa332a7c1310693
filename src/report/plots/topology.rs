//! topology.svg and topology.dot: the graph in layers left to right (layer =
//! longest path from a source, so clients sit left), each node coloured by
//! its worst bucket, each edge labelled with its caller's policy.
//!
//! Hand-written SVG rather than plotters: boxes, curves and wrapped text are
//! simpler to place by hand, and the file stays small and diffable. The
//! placement itself is in `layout`.

use std::fmt::Write as _;

use super::data::PlotData;
use super::html::pct;
use crate::chaos::health::Grade;

mod layout;

use layout::{Input, TOP};

const MARGIN: f64 = 30.0;
/// Text wider than this is wrapped in edge labels.
const LABEL_CHARS: usize = 36;
const LABEL_LINE: f64 = 14.0;
const GREY_EDGE: &str = "#6b6b6b";
const RED_EDGE: &str = "#c62828";
/// The dashed outline of a node that had a fault injected.
const FAULT_STROKE: &str = "#b71c1c";
/// How a node fared (its grade in summary.json, see `chaos::health`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Health {
    Clients,
    Healthy,
    Slow,
    Failing,
    Unknown,
}

impl Health {
    /// (fill, stroke) colours.
    pub fn colors(self) -> (&'static str, &'static str) {
        match self {
            Health::Clients => ("#ececec", "#777777"),
            Health::Healthy => ("#e3f4e1", "#2e7d32"),
            Health::Slow => ("#fff1d0", "#c77c00"),
            Health::Failing => ("#fde0dc", "#c62828"),
            Health::Unknown => ("#ffffff", "#999999"),
        }
    }
}

pub(crate) fn health(data: &PlotData, i: usize) -> Health {
    if data.is_clients(i) {
        return Health::Clients;
    }
    match data.stats(i).map(|s| s.health.grade) {
        None => Health::Unknown,
        Some(Grade::Healthy) => Health::Healthy,
        Some(Grade::Slow) => Health::Slow,
        Some(Grade::Failing) => Health::Failing,
    }
}

/// Edges between the same pair of nodes, drawn as one arrow.
struct Link {
    from: usize,
    to: usize,
    /// (route, policy) of each edge.
    parts: Vec<(Option<String>, String)>,
}

/// "gw -> users (/api/users)" names the route "/api/users".
fn route_of(label: &str) -> Option<String> {
    let open = label.rfind('(')?;
    let inner = label[open + 1..].strip_suffix(')')?;
    (!inner.is_empty()).then(|| inner.to_string())
}

fn links(data: &PlotData) -> Vec<Link> {
    let mut out: Vec<Link> = Vec::new();
    for e in &data.summary.topology.edges {
        let (Some(from), Some(to)) = (data.node_index(&e.from), data.node_index(&e.to)) else { continue };
        let part = (route_of(&e.label), e.policy.clone());
        match out.iter_mut().find(|l| l.from == from && l.to == to) {
            Some(l) => l.parts.push(part),
            None => out.push(Link { from, to, parts: vec![part] }),
        }
    }
    out
}

/// One line of text in a node box: (text, font size, bold, colour).
type TextLine = (String, f64, bool, &'static str);

fn box_lines(data: &PlotData, i: usize) -> Vec<TextLine> {
    let node = data.node(i);
    let mut lines: Vec<TextLine> = vec![(node.name.clone(), 14.0, true, "#222")];
    let replicas = if node.replicas == 1 { "1 replica".to_string() } else { format!("{} replicas", node.replicas) };
    lines.push((format!("{} · {replicas}", node.kind.key().replace('_', " ")), 12.0, false, "#444"));
    for d in node.detail.iter().take(4) {
        lines.push((truncate(d, 40), 11.0, false, "#555"));
    }
    if let Some(st) = data.stats(i) {
        let p99 = if st.latency_ms.count > 0 {
            format!(", p99 {} ms", crate::report::table::num(st.latency_ms.p99))
        } else {
            String::new()
        };
        lines.push((format!("success {}{p99}", pct(st.success_rate)), 11.0, false, "#333"));
        if let (Some(at), Some(why)) = (st.health.worst_at_s, &st.health.worst) {
            let color = if st.health.grade == Grade::Failing { "#b71c1c" } else { "#8a5300" };
            lines.push((truncate(&format!("worst at {} s: {why}", super::frame::fmt_num(at)), 40), 11.0, false, color));
        }
    }
    for f in data.summary.faults.iter().filter(|f| f.nodes().contains(&node.name.as_str())) {
        let whom = if f.target == node.name { String::new() } else { format!("{} ", f.target) };
        let text = format!("fault {whom}{} {}–{} s", f.kind, fmt_s(f.at_s), fmt_s(f.until_s));
        lines.push((truncate(&text, 40), 11.0, true, "#b71c1c"));
    }
    lines
}

fn fmt_s(s: f64) -> String {
    if s.is_finite() { super::frame::fmt_num(s) } else { "end".to_string() }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max { s.to_string() } else { s.chars().take(max - 1).collect::<String>() + "…" }
}

fn box_height(lines: &[TextLine]) -> f64 {
    16.0 + lines.iter().map(|l| l.1 + 5.0).sum::<f64>()
}

/// A generous estimate of DejaVu Sans text width.
fn text_width(s: &str, size: f64) -> f64 {
    s.chars().count() as f64 * size * 0.6
}

/// Splits `text` at ", " into lines of at most LABEL_CHARS characters.
fn wrap(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for piece in text.split(", ") {
        match out.last_mut() {
            Some(last) if last.chars().count() + 2 + piece.chars().count() <= LABEL_CHARS => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => out.push(piece.to_string()),
        }
    }
    out
}

/// A label's lines: per edge its route and policy ("route: policy" when
/// short), and "no timeout" in red when the policy sets none.
fn label_lines(link: &Link) -> Vec<(String, &'static str)> {
    let mut lines = Vec::new();
    for (route, policy) in &link.parts {
        let joined = route.as_ref().map(|r| format!("{r}: {policy}"));
        match joined {
            Some(j) if !policy.is_empty() && j.chars().count() <= LABEL_CHARS => lines.push((j, "#333")),
            _ => {
                if let Some(r) = route {
                    lines.push((truncate(r, LABEL_CHARS), "#1565c0"));
                }
                lines.extend(wrap(policy).into_iter().filter(|l| !l.is_empty()).map(|l| (l, "#333")));
            }
        }
        if !policy.contains("timeout") {
            lines.push(("no timeout".to_string(), "#c62828"));
        }
    }
    lines
}

/// Labels that would repeat: when several arrows from one node carry the
/// same label (an aggregate's calls, say), the first keeps it, with the
/// targets named, and the others carry none.
fn dedup_labels(data: &PlotData, links: &[Link], labels: &mut [Vec<(String, &'static str)>]) {
    for i in 0..links.len() {
        if labels[i].is_empty() {
            continue;
        }
        let same: Vec<usize> =
            (i + 1..links.len()).filter(|&j| links[j].from == links[i].from && labels[j] == labels[i]).collect();
        if same.is_empty() {
            continue;
        }
        let mut targets = vec![data.name(links[i].to).to_string()];
        for &j in &same {
            targets.push(data.name(links[j].to).to_string());
            labels[j].clear();
        }
        labels[i].push((truncate(&format!("each to {}", targets.join(", ")), LABEL_CHARS), "#666"));
    }
}

fn label_size(lines: &[(String, &str)]) -> (f64, f64) {
    if lines.is_empty() {
        return (0.0, 0.0);
    }
    let w = lines.iter().map(|l| text_width(&l.0, 11.0)).fold(0.0, f64::max) + 12.0;
    (w, lines.len() as f64 * LABEL_LINE + 6.0)
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// topology.svg.
pub(crate) fn svg(data: &PlotData) -> String {
    let links = links(data);
    let lines: Vec<Vec<TextLine>> = (0..data.node_count()).map(|i| box_lines(data, i)).collect();
    let mut labels: Vec<Vec<(String, &str)>> = links.iter().map(label_lines).collect();
    dedup_labels(data, &links, &mut labels);
    let sizes: Vec<(f64, f64)> = labels.iter().map(|l| label_size(l)).collect();
    let widest_line = lines.iter().flatten().map(|l| text_width(&l.0, l.1) * if l.2 { 1.1 } else { 1.0 });
    let input = Input {
        box_w: (widest_line.fold(0.0, f64::max) + 22.0).clamp(170.0, 280.0),
        heights: lines.iter().map(|l| box_height(l)).collect(),
        links: links.iter().map(|l| (l.from, l.to)).collect(),
        labels: sizes,
    };
    let out = layout::layout(&input);
    let legend_y = out.height;
    let (w, h) = (out.width, out.height + 76.0);
    let mut s = String::with_capacity(16 * 1024);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.0} {h:.0}" font-family="DejaVu Sans, Verdana, sans-serif">"#
    );
    s.push_str("<defs>");
    for (id, color) in [("gatesim-arrow", GREY_EDGE), ("gatesim-arrow-red", RED_EDGE)] {
        let _ = write!(
            s,
            r#"<marker id="{id}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>"#
        );
    }
    s.push_str("</defs>\n");
    let _ = writeln!(s, r##"<rect x="0" y="0" width="{w:.0}" height="{h:.0}" fill="#ffffff"/>"##);
    let title = format!("{}: topology", data.scenario());
    let _ = writeln!(
        s,
        r##"<text x="{MARGIN:.0}" y="{:.0}" font-size="20" font-weight="bold" fill="#222">{}</text>"##,
        TOP - 40.0,
        escape(&title)
    );
    for (l, path) in links.iter().zip(&out.paths) {
        let bare = l.parts.iter().all(|p| !p.1.contains("timeout"));
        let (color, marker) = if bare { (RED_EDGE, "gatesim-arrow-red") } else { (GREY_EDGE, "gatesim-arrow") };
        let _ = writeln!(
            s,
            r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="1.6" marker-end="url(#{marker})"/>"#
        );
    }
    for (i, &(x, y)) in out.boxes.iter().enumerate() {
        write_box(&mut s, data, i, (x, y, input.box_w, input.heights[i]), &lines[i]);
    }
    for ((c, a), (lw, lh)) in out.labels.iter().zip(&out.anchors).zip(&input.labels) {
        // A label moved off its arrow gets a dotted leader back to it.
        let (nx, ny) = (a.0.clamp(c.0 - lw / 2.0, c.0 + lw / 2.0), a.1.clamp(c.1 - lh / 2.0, c.1 + lh / 2.0));
        if *lw > 0.0 && (nx - a.0).abs() + (ny - a.1).abs() > 4.0 {
            let _ = writeln!(
                s,
                r##"<line x1="{:.1}" y1="{:.1}" x2="{nx:.1}" y2="{ny:.1}" stroke="#888" stroke-width="1" stroke-dasharray="2 2"/><circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#888"/>"##,
                a.0, a.1, a.0, a.1
            );
        }
    }
    for ((l, c), size) in labels.iter().zip(&out.labels).zip(&input.labels) {
        write_label(&mut s, l, *c, *size);
    }
    write_legend(&mut s, legend_y);
    s.push_str("</svg>\n");
    s
}

fn write_box(s: &mut String, data: &PlotData, i: usize, (x, y, bw, bh): (f64, f64, f64, f64), lines: &[TextLine]) {
    let (fill, stroke) = health(data, i).colors();
    let faulted = data.summary.faults.iter().any(|f| f.nodes().contains(&data.name(i)));
    let (stroke, dash) = if faulted { (FAULT_STROKE, r#" stroke-dasharray="7 4""#) } else { (stroke, "") };
    let _ = writeln!(
        s,
        r#"<rect x="{x:.1}" y="{y:.1}" width="{bw:.0}" height="{bh:.1}" rx="8" fill="{fill}" stroke="{stroke}" stroke-width="2.5"{dash}/>"#
    );
    let mut ty = y + 8.0;
    for (text, size, bold, color) in lines {
        ty += size + 5.0;
        let weight = if *bold { r#" font-weight="bold""# } else { "" };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" font-size="{size}"{weight} fill="{color}">{}</text>"#,
            x + 10.0,
            ty - 4.0,
            escape(text)
        );
    }
}

fn write_label(s: &mut String, lines: &[(String, &str)], (cx, cy): (f64, f64), (lw, lh): (f64, f64)) {
    if lines.is_empty() {
        return;
    }
    let (x0, y0) = (cx - lw / 2.0, cy - lh / 2.0);
    let _ = writeln!(
        s,
        r##"<rect x="{x0:.1}" y="{y0:.1}" width="{lw:.1}" height="{lh:.1}" rx="4" fill="#ffffff" fill-opacity="0.92" stroke="#d0d0d0"/>"##
    );
    for (k, (text, color)) in lines.iter().enumerate() {
        let ty = y0 + LABEL_LINE * (k as f64 + 1.0);
        let _ = writeln!(
            s,
            r#"<text x="{cx:.1}" y="{ty:.1}" font-size="11" text-anchor="middle" fill="{color}">{}</text>"#,
            escape(text)
        );
    }
}

fn write_legend(s: &mut String, y: f64) {
    let items = [
        (Health::Healthy, "healthy"),
        (Health::Slow, "slow successes"),
        (Health::Failing, "failing or not answering"),
        (Health::Clients, "clients"),
    ];
    let mut x = MARGIN;
    for (h, text) in items {
        let (fill, stroke) = h.colors();
        let _ = writeln!(
            s,
            r#"<rect x="{x:.1}" y="{:.1}" width="18" height="14" rx="3" fill="{fill}" stroke="{stroke}" stroke-width="2"/>"#,
            y + 2.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{:.1}" font-size="12" fill="#333">{}</text>"##,
            x + 24.0,
            y + 13.0,
            escape(text)
        );
        x += 24.0 + text_width(text, 12.0) + 22.0;
    }
    let notes = [
        "Colour: the worst time bucket after the warm-up, against the node's own level before the first fault.",
        "Red dashed outline: a fault was injected there. Red arrow: the caller sets no timeout.",
    ];
    for (k, note) in notes.iter().enumerate() {
        let ny = y + 36.0 + 15.0 * k as f64;
        let _ =
            writeln!(s, r##"<text x="{MARGIN:.1}" y="{ny:.1}" font-size="11" fill="#666">{}</text>"##, escape(note));
    }
}

fn dot_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// topology.dot: the same graph for Graphviz (`dot -Tsvg topology.dot`).
pub(crate) fn dot(data: &PlotData) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "digraph {} {{", dot_quote(data.scenario()));
    s.push_str("  rankdir=LR;\n  node [shape=box, style=\"rounded,filled\", fontname=\"DejaVu Sans\", fontsize=11];\n");
    s.push_str("  edge [fontname=\"DejaVu Sans\", fontsize=9];\n");
    for (i, n) in data.summary.topology.nodes.iter().enumerate() {
        let (fill, stroke) = health(data, i).colors();
        let mut label = format!("{}\n{} x{}", n.name, n.kind, n.replicas);
        for d in &n.detail {
            label.push('\n');
            label.push_str(d);
        }
        let _ = writeln!(
            s,
            "  {} [label={}, fillcolor=\"{fill}\", color=\"{stroke}\"];",
            dot_quote(&n.name),
            dot_quote(&label)
        );
    }
    for e in &data.summary.topology.edges {
        let bare = !e.policy.contains("timeout");
        let mut label = route_of(&e.label).map(|r| format!("{r}\n")).unwrap_or_default();
        label.push_str(if e.policy.is_empty() { "no timeout" } else { &e.policy });
        if bare && !e.policy.is_empty() {
            label.push_str("\nno timeout");
        }
        let color = if bare { ", color=\"#c62828\", fontcolor=\"#c62828\"" } else { "" };
        let _ = writeln!(s, "  {} -> {} [label={}{color}];", dot_quote(&e.from), dot_quote(&e.to), dot_quote(&label));
    }
    s.push_str("}\n");
    s
}
