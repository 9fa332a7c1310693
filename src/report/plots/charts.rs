//! The four time charts: latency, client outcomes, throughput, queues.
//! Each is one function from PlotData to a drawing, for any backend; given
//! an `Interactive`, it hands its lines, readouts and legend to the report.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::data::{Col, OUTCOMES, PlotData, Series};
use super::frame::{self, Area, Band, LegendItem, Line, Panel, Readout, Scale, Swatch};
use super::interactive::Interactive;
use crate::metrics::summary::ObjectiveName;

/// Clients are drawn thicker and last, so they sit on top.
fn draw_order(data: &PlotData) -> Vec<usize> {
    let mut order: Vec<usize> = (0..data.node_count()).filter(|&i| !data.is_clients(i)).collect();
    order.extend((0..data.node_count()).filter(|&i| data.is_clients(i)));
    order
}

fn has_data(values: &[f64]) -> bool {
    values.iter().any(|v| v.is_finite())
}

fn node_item(data: &PlotData, i: usize, width: u32) -> LegendItem {
    let clients = data.is_clients(i);
    let text = if clients { format!("{} (clients)", data.name(i)) } else { data.name(i).to_string() };
    LegendItem {
        text,
        color: frame::palette(i),
        swatch: Swatch::Line { width, alpha: 1.0 },
        bold: clients,
        group: Some(i),
    }
}

fn readout(data: &PlotData, i: usize, what: &str, unit: &'static str, values: &[f64]) -> Readout {
    Readout {
        label: format!("{} {what}", data.name(i)),
        unit,
        color: frame::palette(i),
        group: Some(i),
        values: values.to_vec(),
        plus_minus: Vec::new(),
    }
}

/// The events' legend entries after the chart's own.
fn with_events(mut items: Vec<LegendItem>, events: &[frame::TimeEvent]) -> Vec<LegendItem> {
    items.extend(frame::event_legend(events));
    items
}

/// The SLO's p99 target, for the latency chart's reference line.
fn slo_p99(data: &PlotData) -> Option<(f64, String)> {
    let o = data.summary.slo.objectives.iter().find(|o| o.name == ObjectiveName::P99Ms)?;
    Some((o.target, format!("SLO p99 {} ms", frame::fmt_num(o.target))))
}

fn no_series<DB: DrawingBackend>(plot: &DrawingArea<DB, Shift>, data: &PlotData) -> Option<Result<(), String>> {
    data.series.times.is_empty().then(|| frame::message(plot, "no time series in timeseries.csv"))
}

/// p99 (solid) and p50 (faint) per node; log y when the range is wide;
/// the SLO's p99 as a dashed line.
pub(crate) fn latency<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PlotData,
    mut out: Option<&mut Interactive>,
) -> Result<(), String> {
    let (plot, legend) =
        frame::layout(root, &format!("{}: latency of successful answers per node", data.scenario()), out.is_none())?;
    if let Some(done) = no_series(&plot, data) {
        return done;
    }
    let s = &data.series;
    let target = slo_p99(data);
    let values = || s.nodes.iter().flat_map(|n| n.col(Col::P50).iter().chain(n.col(Col::P99)).copied());
    let scale = Scale::choose(values().chain(target.as_ref().map(|t| t.0)), true);
    let y_desc = if scale.is_log() { "latency (ms, log scale)" } else { "latency (ms)" };
    let mut panel = Panel::new(y_desc, scale);
    panel.target = target;
    for i in draw_order(data) {
        let n = &s.nodes[i];
        let clients = data.is_clients(i);
        for (col, width, alpha) in
            [(Col::P50, if clients { 2 } else { 1 }, 0.45), (Col::P99, if clients { 3 } else { 2 }, 1.0)]
        {
            let segments = frame::line_points(&s.times, n.col(col), s.bucket_s, scale);
            panel.lines.push(Line { color: frame::palette(i), alpha, width, segments, group: Some(i) });
        }
    }
    for i in 0..data.node_count() {
        panel.readouts.push(readout(data, i, "p99", "ms", s.nodes[i].col(Col::P99)));
        panel.readouts.push(readout(data, i, "p50", "ms", s.nodes[i].col(Col::P50)));
    }
    let mut items: Vec<LegendItem> = (0..data.node_count())
        .map(|i| {
            let mut item = node_item(data, i, if data.is_clients(i) { 3 } else { 2 });
            if !has_data(s.nodes[i].col(Col::P99)) {
                item.text.push_str(": no successful answer");
            }
            item
        })
        .collect();
    items.push(LegendItem::note("solid: p99, faint: p50"));
    if s.group > 1 {
        items.push(LegendItem::note(&format!("the worst of each {} buckets", s.group)));
    } else {
        items.push(LegendItem::note("per bucket of the time series"));
    }
    items.push(LegendItem::note("a gap: no successful answer"));
    let below = scale.below_floor(values());
    if below > 0 {
        items.push(LegendItem::note(&format!("{below} values below the axis: on its floor")));
    }
    let events = frame::events(data);
    let items = with_events(items, &events);
    frame::draw_panel(&plot, panel, &frame::bands(data), &events, data.x_max(), out.as_deref_mut())?;
    frame::finish_legend(&legend, items, out)
}

/// Colours of the outcome kinds, in `OUTCOMES` order: successes green and
/// blue, the client's own faults purple and brown, failures warm.
pub(crate) const OUTCOME_COLORS: [RGBColor; 11] = [
    RGBColor(44, 160, 44),
    RGBColor(152, 223, 138),
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(227, 119, 194),
    RGBColor(140, 86, 75),
    RGBColor(120, 0, 0),
    RGBColor(219, 189, 34),
    RGBColor(127, 127, 127),
];

/// Per-bucket sums of one column over the client nodes.
fn client_sum(data: &PlotData, col: Col) -> Vec<f64> {
    let mut out = vec![0.0; data.series.times.len()];
    for (i, n) in data.series.nodes.iter().enumerate() {
        if data.is_clients(i) {
            for (o, v) in out.iter_mut().zip(n.col(col)) {
                *o += v;
            }
        }
    }
    out
}

/// The clients' outcomes per second, stacked by kind.
pub(crate) fn errors<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PlotData,
    mut out: Option<&mut Interactive>,
) -> Result<(), String> {
    let (plot, legend) = frame::layout(
        root,
        &format!("{}: client requests ended per second, by outcome", data.scenario()),
        out.is_none(),
    )?;
    if let Some(done) = no_series(&plot, data) {
        return done;
    }
    if !(0..data.node_count()).any(|i| data.is_clients(i)) {
        return frame::message(&plot, "no clients node in this scenario");
    }
    let s = &data.series;
    let layers: Vec<(usize, Vec<f64>)> = (0..OUTCOMES.len())
        .map(|k| (k, client_sum(data, Col::Outcome(k))))
        .filter(|(_, v)| v.iter().any(|x| *x > 0.0))
        .collect();
    let stacks = stack(s, &layers.iter().map(|(_, v)| v.as_slice()).collect::<Vec<_>>());
    let top = stacks.tops.last().map_or(0.0, |t| t.iter().copied().fold(0.0, f64::max));
    // By when each request ended: a queue draining after a fault shows as a
    // burst above the offered load, a hang as a dip below it.
    let mut panel = Panel::new("client requests ended per second", Scale::Linear { max: frame::nice_ceil(top * 1.05) });
    for (li, (k, _)) in layers.iter().enumerate() {
        let lower = if li == 0 { None } else { Some(stacks.tops[li - 1].as_slice()) };
        for points in stacks.polygons(lower, &stacks.tops[li]) {
            panel.areas.push(Area { color: OUTCOME_COLORS[*k], alpha: 1.0, points });
        }
    }
    for (k, v) in layers.iter().rev() {
        let label = OUTCOMES[*k].replace('_', " ");
        let values = s.per_second(v);
        panel.readouts.push(Readout {
            label,
            unit: "/s",
            color: OUTCOME_COLORS[*k],
            group: None,
            values,
            plus_minus: Vec::new(),
        });
    }
    // Shares over the buckets after the warm-up, as summary.json counts them.
    let warmup = data.summary.warmup_s;
    let counted =
        |v: &[f64]| -> f64 { v.iter().zip(&s.times).filter(|(_, t)| **t >= warmup - 1e-9).map(|(x, _)| x).sum() };
    let total: f64 = layers.iter().map(|(_, v)| counted(v)).sum();
    let mut items: Vec<LegendItem> = layers
        .iter()
        .rev()
        .map(|(k, v)| {
            let text = format!("{}  {}", OUTCOMES[*k].replace('_', " "), share(counted(v) / total));
            LegendItem::block(&text, OUTCOME_COLORS[*k])
        })
        .collect();
    items.push(LegendItem::note("stacked; top of stack first"));
    if warmup > 0.0 {
        items.push(LegendItem::note("shares: after the warm-up"));
    }
    if items.len() == 1 {
        items.insert(0, LegendItem::note("no client requests finished"));
    }
    let events = frame::events(data);
    let items = with_events(items, &events);
    frame::draw_panel(&plot, panel, &frame::bands(data), &events, data.x_max(), out.as_deref_mut())?;
    frame::finish_legend(&legend, items, out)
}

/// Stacked layers as steps over bins of whole buckets.
struct Stacks {
    /// Bin edges in seconds: `edges.len() == bins + 1`.
    edges: Vec<f64>,
    /// Cumulative top of each layer per bin, in requests per second.
    tops: Vec<Vec<f64>>,
}

/// At most this many bins; a bin averages whole buckets.
const MAX_BINS: usize = 720;

fn stack(s: &Series, layers: &[&[f64]]) -> Stacks {
    let (times, bucket_s) = (&s.times, s.bucket_s);
    let n = times.len();
    let per_bin = n.div_ceil(MAX_BINS).max(1);
    let bins = n.div_ceil(per_bin);
    let mut edges: Vec<f64> = (0..bins).map(|b| times[b * per_bin]).collect();
    if let Some(last) = times.last() {
        edges.push(last + s.width(n - 1));
    }
    let mut tops = Vec::with_capacity(layers.len());
    let mut below = vec![0.0; bins];
    for layer in layers {
        let mut top = below.clone();
        for (b, t) in top.iter_mut().enumerate() {
            let (start, end) = (b * per_bin, ((b + 1) * per_bin).min(n));
            let sum: f64 = layer[start..end].iter().sum();
            // The last point may be narrower (a run that does not divide into whole groups).
            let short = end == n && s.last_s != bucket_s;
            let width =
                if short { (end - start - 1) as f64 * bucket_s + s.last_s } else { (end - start) as f64 * bucket_s };
            *t += sum / width;
        }
        below.clone_from(&top);
        tops.push(top);
    }
    Stacks { edges, tops }
}

impl Stacks {
    /// The band between `lower` (or zero) and `upper` as step polygons, one
    /// per run of bins where it has a height (no hairlines where it has none).
    fn polygons(&self, lower: Option<&[f64]>, upper: &[f64]) -> Vec<Vec<(f64, f64)>> {
        let low = |b: usize| lower.map_or(0.0, |l| l[b]);
        let mut out = Vec::new();
        let mut b = 0;
        while b < upper.len() {
            if upper[b] <= low(b) {
                b += 1;
                continue;
            }
            let start = b;
            while b < upper.len() && upper[b] > low(b) {
                b += 1;
            }
            let mut pts = Vec::with_capacity((b - start) * 4);
            for (k, v) in upper.iter().enumerate().take(b).skip(start) {
                pts.push((self.edges[k], *v));
                pts.push((self.edges[k + 1], *v));
            }
            for k in (start..b).rev() {
                pts.push((self.edges[k + 1], low(k)));
                pts.push((self.edges[k], low(k)));
            }
            out.push(pts);
        }
        out
    }
}

/// A share for the legend: "95.3%", "0.04%", "<0.01%".
pub(super) fn share(s: f64) -> String {
    match s {
        s if s >= 0.1 => format!("{:.1}%", s * 100.0),
        s if s >= 0.0001 => format!("{:.2}%", s * 100.0),
        _ => "<0.01%".to_string(),
    }
}

/// Per node in drawing order: (node, arrivals/s, goodput/s); and the
/// answers wasted per second over all nodes.
#[allow(clippy::type_complexity)]
fn rates(data: &PlotData) -> (Vec<(usize, Vec<f64>, Vec<f64>)>, Vec<f64>) {
    let s = &data.series;
    let mut series = Vec::new();
    for i in draw_order(data) {
        let n = &s.nodes[i];
        let mut good = s.per_second(n.col(Col::Outcome(0)));
        for k in [1, 2] {
            for (g, v) in good.iter_mut().zip(s.per_second(n.col(Col::Outcome(k)))) {
                *g += v;
            }
        }
        series.push((i, s.per_second(n.col(Col::Arrivals)), good));
    }
    let mut wasted = vec![0.0; s.times.len()];
    for n in &s.nodes {
        for (w, v) in wasted.iter_mut().zip(s.per_second(n.col(Col::Wasted))) {
            *w += v;
        }
    }
    (series, wasted)
}

/// Arrivals per second (faint) and goodput per second (solid) per node,
/// and the answers wasted on callers that had given up (all nodes).
pub(crate) fn throughput<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PlotData,
    mut out: Option<&mut Interactive>,
) -> Result<(), String> {
    let (plot, legend) = frame::layout(root, &format!("{}: throughput per node", data.scenario()), out.is_none())?;
    if let Some(done) = no_series(&plot, data) {
        return done;
    }
    let s = &data.series;
    let (mut series, wasted) = rates(data);
    let any_wasted = wasted.iter().any(|w| *w > 0.0);
    let all = series.iter().flat_map(|(_, a, g)| a.iter().chain(g).copied()).chain(wasted.iter().copied());
    let scale = Scale::choose(all, false);
    let mut panel = Panel::new("requests per second", scale);
    for (i, arrivals, good) in &series {
        let clients = data.is_clients(*i);
        let (color, group) = (frame::palette(*i), Some(*i));
        let (thin, thick) = if clients { (2, 3) } else { (1, 2) };
        let faint = frame::line_points(&s.times, arrivals, s.bucket_s, scale);
        panel.lines.push(Line { color, alpha: 0.4, width: thin, segments: faint, group });
        let solid = frame::line_points(&s.times, good, s.bucket_s, scale);
        panel.lines.push(Line { color, alpha: 1.0, width: thick, segments: solid, group });
    }
    series.sort_by_key(|(i, _, _)| *i);
    for (i, arrivals, good) in &series {
        panel.readouts.push(readout(data, *i, "goodput", "/s", good));
        panel.readouts.push(readout(data, *i, "arrivals", "/s", arrivals));
    }
    let mut items: Vec<LegendItem> =
        (0..data.node_count()).map(|i| node_item(data, i, if data.is_clients(i) { 3 } else { 2 })).collect();
    if any_wasted {
        let group = Some(data.node_count());
        let segments = frame::line_points(&s.times, &wasted, s.bucket_s, scale);
        panel.lines.push(Line { color: WASTED, alpha: 0.9, width: 2, segments, group });
        let label = "wasted answers (all nodes)".to_string();
        panel.readouts.push(Readout {
            label: label.clone(),
            unit: "/s",
            color: WASTED,
            group,
            values: wasted,
            plus_minus: Vec::new(),
        });
        let swatch = Swatch::Line { width: 2, alpha: 0.9 };
        items.push(LegendItem { text: label, color: WASTED, swatch, bold: false, group });
    }
    items.push(LegendItem::note("solid: goodput/s"));
    items.push(LegendItem::note("  (ok + partial + fallback)"));
    items.push(LegendItem::note("faint: arrivals/s"));
    if any_wasted {
        items.push(LegendItem::note("wasted: answered after the"));
        items.push(LegendItem::note("  caller had given up"));
    }
    let events = frame::events(data);
    let items = with_events(items, &events);
    frame::draw_panel(&plot, panel, &frame::bands(data), &events, data.x_max(), out.as_deref_mut())?;
    frame::finish_legend(&legend, items, out)
}

/// The colour of wasted work.
const WASTED: RGBColor = RGBColor(60, 60, 60);

/// Queue length (top) and utilization (bottom) per server node. A run in
/// which nothing ever waited says so instead of an empty panel.
pub(crate) fn queues<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PlotData,
    mut out: Option<&mut Interactive>,
) -> Result<(), String> {
    let (plot, legend) =
        frame::layout(root, &format!("{}: queues and utilization (servers)", data.scenario()), out.is_none())?;
    if let Some(done) = no_series(&plot, data) {
        return done;
    }
    let servers: Vec<usize> = (0..data.node_count()).filter(|&i| !data.is_clients(i)).collect();
    if servers.is_empty() {
        return frame::message(&plot, "no server nodes in this scenario");
    }
    let s = &data.series;
    let queued = || servers.iter().flat_map(|&i| s.nodes[i].col(Col::QueueLen).iter().copied());
    let ever_queued = queued().any(|q| q > 0.0);
    let mut upper = Panel::new("queue length (requests)", Scale::choose(queued(), false));
    upper.x_desc = false;
    let mut lower = Panel::new("utilization (%)", Scale::Linear { max: 100.0 });
    lower.band_labels = !ever_queued;
    for &i in &servers {
        let n = &s.nodes[i];
        let (color, group) = (frame::palette(i), Some(i));
        let util: Vec<f64> = n.col(Col::Utilization).iter().map(|u| u * 100.0).collect();
        let q = frame::line_points(&s.times, n.col(Col::QueueLen), s.bucket_s, upper.scale);
        upper.lines.push(Line { color, alpha: 1.0, width: 2, segments: q, group });
        upper.readouts.push(readout(data, i, "queue", "waiting", n.col(Col::QueueLen)));
        let u = frame::line_points(&s.times, &util, s.bucket_s, lower.scale);
        lower.lines.push(Line { color, alpha: 1.0, width: 2, segments: u, group });
        lower.readouts.push(readout(data, i, "busy", "%", &util));
    }
    let (_, h) = plot.dim_in_pixel();
    let (top, bottom) = plot.split_vertically(h * 46 / 100);
    let bands: Vec<Band> = frame::bands(data);
    let events = frame::events(data);
    if ever_queued {
        frame::draw_panel(&top, upper, &bands, &events, data.x_max(), out.as_deref_mut())?;
    } else {
        frame::message(&top, "no request ever waited in a queue: every one found a free worker")?;
    }
    frame::draw_panel(&bottom, lower, &bands, &events, data.x_max(), out.as_deref_mut())?;
    let mut items: Vec<LegendItem> = servers.iter().map(|&i| node_item(data, i, 2)).collect();
    items.push(LegendItem::note(if ever_queued { "top: waiting in queue" } else { "top: no queueing" }));
    items.push(LegendItem::note("bottom: busy workers (%)"));
    frame::finish_legend(&legend, with_events(items, &events), out)
}
