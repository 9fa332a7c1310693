//! The frame every time chart shares: title, legend column, time axis,
//! fault windows shaded and labelled, linear or log y, and the thinning of
//! long series (min and max per pixel column, so spikes survive).
//!
//! Everything is generic over the plotters backend so one drawing function
//! makes both the SVG and the PNG.

use std::ops::Range;

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::FontStyle;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::PlotData;
use super::interactive::{Interactive, Mark, OverlayLine, PanelGeom};

/// Width and height of every time chart, in pixels.
pub(crate) const SIZE: (u32, u32) = (1000, 500);
/// The embedded DejaVu Sans, registered under this family name.
pub(crate) const FONT: &str = "sans-serif";
const LEGEND_W: u32 = 215;
/// Series longer than twice this are thinned to min/max per column.
const MAX_COLUMNS: usize = 720;
pub(crate) const INK: RGBColor = RGBColor(40, 40, 40);
pub(crate) const MUTED: RGBColor = RGBColor(110, 110, 110);
const GRID: RGBColor = RGBColor(226, 226, 226);
const GRID_MINOR: RGBColor = RGBColor(241, 241, 241);
pub(crate) const FAULT: RGBColor = RGBColor(214, 39, 40);
const FAULT_TEXT: RGBColor = RGBColor(150, 20, 20);

pub(crate) fn err<E: std::fmt::Display>(e: E) -> String {
    format!("drawing failed: {e}")
}

/// A node's colour, by its index in `PlotData::nodes` (stable across charts).
pub(crate) fn palette(i: usize) -> RGBColor {
    const P: [RGBColor; 20] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(23, 190, 207),
        RGBColor(188, 189, 34),
        RGBColor(214, 39, 40),
        RGBColor(127, 127, 127),
        RGBColor(0, 74, 134),
        RGBColor(178, 82, 0),
        RGBColor(0, 110, 60),
        RGBColor(92, 52, 140),
        RGBColor(90, 50, 40),
        RGBColor(170, 60, 140),
        RGBColor(0, 130, 140),
        RGBColor(120, 120, 0),
        RGBColor(150, 0, 0),
        RGBColor(60, 60, 60),
    ];
    P[i % P.len()]
}

/// Text in `size` px. Keep sizes even: plotters' rasteriser rounds each
/// glyph's offset from half the size, so odd sizes jitter the baseline.
pub(crate) fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&INK)
}

pub(crate) fn bold(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size, FontStyle::Bold).into_font()).color(&INK)
}

/// A polyline in data coordinates, broken where data is missing.
pub(crate) struct Line {
    pub color: RGBColor,
    pub alpha: f64,
    pub width: u32,
    pub segments: Vec<Vec<(f64, f64)>>,
    /// The legend entry that shows or hides it in the report (a node's index).
    pub group: Option<usize>,
}

/// One series' values per time bucket, for the report's hover readout.
pub(crate) struct Readout {
    pub label: String,
    pub unit: &'static str,
    pub color: RGBColor,
    pub group: Option<usize>,
    /// Per bucket; NaN where there is no value.
    pub values: Vec<f64>,
    /// Per bucket, a ± half-width shown after the value (a confidence
    /// interval); empty when the values have none.
    pub plus_minus: Vec<f64>,
}

/// A filled polygon in data coordinates.
pub(crate) struct Area {
    pub color: RGBColor,
    /// 1 for a solid area; less for a band that lines show through.
    pub alpha: f64,
    pub points: Vec<(f64, f64)>,
}

pub(crate) enum Swatch {
    Line {
        width: u32,
        alpha: f64,
    },
    Block,
    /// A note in the legend, without a colour sample.
    Note,
}

pub(crate) struct LegendItem {
    pub text: String,
    pub color: RGBColor,
    pub swatch: Swatch,
    pub bold: bool,
    /// The lines this entry shows or hides in the report.
    pub group: Option<usize>,
}

impl LegendItem {
    pub fn note(text: &str) -> LegendItem {
        LegendItem { text: text.to_string(), color: MUTED, swatch: Swatch::Note, bold: false, group: None }
    }

    pub fn block(text: &str, color: RGBColor) -> LegendItem {
        LegendItem { text: text.to_string(), color, swatch: Swatch::Block, bold: false, group: None }
    }
}

/// The legend: drawn into the picture, or handed to the report (which
/// draws it as buttons that show and hide lines).
pub(crate) fn finish_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: Vec<LegendItem>,
    out: Option<&mut Interactive>,
) -> Result<(), String> {
    match out {
        Some(out) => {
            out.legend = items;
            Ok(())
        }
        None => draw_legend(area, &items),
    }
}

/// Something that happened at one instant, marked on the time axis of
/// every chart: a breaker opened, a balancer ejected or re-admitted an
/// instance.
pub(crate) struct TimeEvent {
    pub at_s: f64,
    pub color: RGBColor,
    pub text: String,
}

const EJECTED: RGBColor = RGBColor(255, 127, 14);
const READMITTED: RGBColor = RGBColor(44, 160, 44);
/// Events drawn at most (a long chaos run can open breakers thousands of times).
const MAX_EVENTS: usize = 400;

/// The run's events, in time order (at most `MAX_EVENTS`).
pub(crate) fn events(data: &PlotData) -> Vec<TimeEvent> {
    let s = &data.summary;
    let mut out: Vec<TimeEvent> = Vec::new();
    for b in &s.breakers {
        for &(t, phase) in &b.transitions {
            if phase == crate::metrics::summary::BreakerPhase::Open {
                let text = format!("{} s: breaker {} → {} opened", fmt_num(t), b.caller, b.target);
                out.push(TimeEvent { at_s: t, color: FAULT, text });
            }
        }
    }
    for e in &s.ejections {
        let (what, color) = if e.ejected { ("ejected", EJECTED) } else { ("re-admitted", READMITTED) };
        let text = format!("{} s: {} {what} {}", fmt_num(e.at_s), e.balancer, e.instance);
        out.push(TimeEvent { at_s: e.at_s, color, text });
    }
    out.sort_by(|a, b| a.at_s.total_cmp(&b.at_s));
    out.truncate(MAX_EVENTS);
    out
}

/// Legend entries for the kinds of events present.
pub(crate) fn event_legend(events: &[TimeEvent]) -> Vec<LegendItem> {
    [(FAULT, "▼ breaker opened"), (EJECTED, "▼ instance ejected"), (READMITTED, "▼ re-admitted")]
        .iter()
        .filter(|(c, _)| events.iter().any(|e| e.color == *c))
        .map(|(c, t)| LegendItem::block(t, *c))
        .collect()
}

/// A shaded stretch of simulated time: a fault window or the warm-up.
pub(crate) struct Band {
    pub from_s: f64,
    pub until_s: f64,
    pub label: String,
    pub fault: bool,
}

/// The warm-up and every fault window of the run.
pub(crate) fn bands(data: &PlotData) -> Vec<Band> {
    let x_max = data.x_max();
    let mut out = Vec::new();
    if data.summary.warmup_s > 0.0 {
        out.push(Band {
            from_s: 0.0,
            until_s: data.summary.warmup_s.min(x_max),
            label: "warm-up".into(),
            fault: false,
        });
    }
    for f in &data.summary.faults {
        let (from_s, until_s) = (f.at_s.clamp(0.0, x_max), f.until_s.clamp(0.0, x_max));
        if f.at_s <= x_max {
            out.push(Band { from_s, until_s, label: format!("{} {}", f.target, f.kind), fault: true });
        }
    }
    out
}

/// Decades a log axis shows at most.
const MAX_DECADES: i32 = 6;

/// The y axis: linear from 0, or log10 over whole decades.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scale {
    Linear { max: f64 },
    Log { lo: i32, hi: i32 },
}

impl Scale {
    /// Log when allowed and the positive values span more than two decades.
    /// A log axis starts at the decade of the smallest value, at most
    /// `MAX_DECADES` below the top; anything smaller is drawn on the floor
    /// and counted by `below_floor` (the legend says so: nothing is clipped
    /// silently).
    pub fn choose(values: impl Iterator<Item = f64>, allow_log: bool) -> Scale {
        let (lo, hi) = values
            .filter(|v| v.is_finite() && *v > 0.0)
            .fold((f64::INFINITY, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if hi <= 0.0 {
            return Scale::Linear { max: 1.0 };
        }
        if allow_log && hi / lo > 100.0 {
            let top = hi.log10().ceil() as i32;
            let bottom = (lo.log10().floor() as i32).max(top - MAX_DECADES);
            return Scale::Log { lo: bottom, hi: top.max(bottom + 1) };
        }
        Scale::Linear { max: nice_ceil(hi * 1.04) }
    }

    /// How many of `values` lie below a log axis's floor (drawn on it).
    pub fn below_floor(self, values: impl Iterator<Item = f64>) -> usize {
        match self {
            Scale::Log { lo, .. } => values.filter(|v| v.is_finite() && v.log10() < f64::from(lo)).count(),
            Scale::Linear { .. } => 0,
        }
    }

    /// A value in the chart's y coordinate (log10 for a log axis).
    pub fn map(self, v: f64) -> f64 {
        match self {
            Scale::Linear { .. } => v,
            Scale::Log { lo, .. } if v > 0.0 => v.log10().max(f64::from(lo)),
            Scale::Log { lo, .. } => f64::from(lo),
        }
    }

    fn range(self) -> Range<f64> {
        match self {
            Scale::Linear { max } => 0.0..max,
            Scale::Log { lo, hi } => f64::from(lo)..f64::from(hi),
        }
    }

    pub fn is_log(self) -> bool {
        matches!(self, Scale::Log { .. })
    }
}

/// The smallest round number (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 times a
/// power of ten) at or above `v`.
pub(crate) fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(v.log10().floor());
    let steps = [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0];
    steps.iter().map(|m| m * p).find(|x| *x >= v * (1.0 - 1e-9)).unwrap_or(10.0 * p)
}

/// A tick label: short, no trailing zeros, "k"/"M" for large values.
pub(crate) fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        return format!("{}M", trim(v / 1e6, 2));
    }
    if a >= 1e4 {
        return format!("{}k", trim(v / 1e3, 1));
    }
    trim(v, 3)
}

fn trim(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s };
    if s == "-0" { "0".to_string() } else { s }
}

/// The points of one series at bucket centres, broken at NaN; series longer
/// than twice the plot width keep each column's min and max in time order.
pub(crate) fn line_points(times: &[f64], values: &[f64], bucket_s: f64, scale: Scale) -> Vec<Vec<(f64, f64)>> {
    let n = times.len().min(values.len());
    let per_col = n.div_ceil(MAX_COLUMNS).max(1);
    let per_col = if n <= 2 * MAX_COLUMNS { 1 } else { per_col };
    let mut segments = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    let half = bucket_s / 2.0;
    let mut start = 0;
    while start < n {
        let end = (start + per_col).min(n);
        let (mut lo, mut hi) = (None::<usize>, None::<usize>);
        for i in start..end {
            let v = values[i];
            if v.is_nan() {
                continue;
            }
            if lo.is_none_or(|j| v < values[j]) {
                lo = Some(i);
            }
            if hi.is_none_or(|j| v > values[j]) {
                hi = Some(i);
            }
        }
        match (lo, hi) {
            (Some(a), Some(b)) => {
                let (first, second) = if a <= b { (a, b) } else { (b, a) };
                current.push((times[first] + half, scale.map(values[first])));
                if second != first {
                    current.push((times[second] + half, scale.map(values[second])));
                }
            }
            _ if !current.is_empty() => segments.push(std::mem::take(&mut current)),
            _ => {}
        }
        start = end;
    }
    if !current.is_empty() {
        segments.push(current);
    }
    segments
}

/// A region of a picture in pixel coordinates.
pub(crate) type Region<DB> = DrawingArea<DB, Shift>;

/// Splits the root into the plot area and the legend column, under a
/// title. Without `legend` (the report draws its own below the chart) the
/// plot takes the whole width.
pub(crate) fn layout<DB: DrawingBackend>(
    root: &Region<DB>,
    title: &str,
    legend: bool,
) -> Result<(Region<DB>, Region<DB>), String> {
    root.fill(&WHITE).map_err(err)?;
    let body = root.titled(title, bold(20)).map_err(err)?;
    let (w, _) = body.dim_in_pixel();
    let legend_w = if legend { LEGEND_W } else { 8 };
    let (plot, legend) = body.split_horizontally(w.saturating_sub(legend_w));
    Ok((plot, legend))
}

/// A centred grey message instead of a chart.
pub(crate) fn message<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> Result<(), String> {
    let (w, h) = area.dim_in_pixel();
    let style = font(18).color(&MUTED).pos(Pos::new(HPos::Center, VPos::Center));
    area.draw_text(text, &style, (w as i32 / 2, h as i32 / 2)).map_err(err)
}

/// The legend column: one row per item, truncated to fit, "+N more" at the end.
pub(crate) fn draw_legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    items: &[LegendItem],
) -> Result<(), String> {
    const ROW: i32 = 18;
    let (w, h) = area.dim_in_pixel();
    let rows = ((h as i32 - 24) / ROW).max(1) as usize;
    let shown = if items.len() > rows { rows - 1 } else { items.len() };
    let mut y = 22;
    for item in &items[..shown] {
        let style = if item.bold { bold(14) } else { font(14) };
        let style = if matches!(item.swatch, Swatch::Note) { font(12).color(&MUTED) } else { style };
        let text_x = match item.swatch {
            Swatch::Note => 8,
            _ => 38,
        };
        match item.swatch {
            Swatch::Line { width, alpha } => {
                let shape = item.color.mix(alpha).stroke_width(width);
                area.draw(&PathElement::new(vec![(8, y), (32, y)], shape)).map_err(err)?;
            }
            Swatch::Block => {
                area.draw(&Rectangle::new([(10, y - 6), (30, y + 6)], item.color.filled())).map_err(err)?;
            }
            Swatch::Note => {}
        }
        let text = fit_text(area, &item.text, &style, w as i32 - text_x - 6);
        let style = style.pos(Pos::new(HPos::Left, VPos::Center));
        area.draw_text(&text, &style, (text_x, y)).map_err(err)?;
        y += ROW;
    }
    if shown < items.len() {
        let style = font(12).color(&MUTED).pos(Pos::new(HPos::Left, VPos::Center));
        area.draw_text(&format!("+{} more", items.len() - shown), &style, (8, y)).map_err(err)?;
    }
    Ok(())
}

/// `text`, shortened with "…" until it is at most `max_px` wide.
pub(crate) fn fit_text<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    text: &str,
    style: &TextStyle,
    max_px: i32,
) -> String {
    let fits = |t: &str| area.estimate_text_size(t, style).map(|(tw, _)| tw as i32 <= max_px).unwrap_or(true);
    // No glyph is narrower than a tenth of the font size: only this many
    // characters can ever fit, so longer text is cut before it is measured.
    let most = (max_px.max(0) as usize * 10 / (style.font.get_size().max(1.0) as usize).max(1)).max(1);
    let chars: Vec<char> = text.chars().take(most + 1).collect();
    if chars.len() <= most && fits(text) {
        return text.to_string();
    }
    // The longest prefix (plus "…") that fits, by bisection: O(log n) measurements.
    let candidate = |n: usize| chars[..n].iter().collect::<String>() + "…";
    let (mut lo, mut hi) = (0usize, chars.len().min(most));
    if !fits(&candidate(lo)) {
        return String::new();
    }
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if fits(&candidate(mid)) { lo = mid } else { hi = mid - 1 }
    }
    candidate(lo)
}

/// One chart panel over simulated time.
pub(crate) struct Panel<'a> {
    pub y_desc: &'a str,
    pub scale: Scale,
    pub areas: Vec<Area>,
    pub lines: Vec<Line>,
    /// The values the report's hover readout lists for this panel.
    pub readouts: Vec<Readout>,
    /// A horizontal reference line (value, label), e.g. the SLO's p99.
    pub target: Option<(f64, String)>,
    /// Whether this panel shows the x axis title and the band labels.
    pub x_desc: bool,
    pub band_labels: bool,
}

impl<'a> Panel<'a> {
    pub fn new(y_desc: &'a str, scale: Scale) -> Panel<'a> {
        Panel {
            y_desc,
            scale,
            areas: Vec::new(),
            lines: Vec::new(),
            readouts: Vec::new(),
            target: None,
            x_desc: true,
            band_labels: true,
        }
    }
}

/// A chart over simulated time with an f64 y axis.
pub(crate) type TimeChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// Draws a panel: grid, bands, areas, lines, the target line, the events
/// on the time axis, then the band labels on top. With `out` (the report),
/// the lines and the readouts go there instead, with the panel's place.
pub(crate) fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    panel: Panel,
    bands: &[Band],
    events: &[TimeEvent],
    x_max: f64,
    out: Option<&mut Interactive>,
) -> Result<(), String> {
    let y_range = panel.scale.range();
    let mut chart = ChartBuilder::on(area)
        .margin_left(12)
        .margin_right(14)
        .margin_top(8)
        .x_label_area_size(if panel.x_desc { 44 } else { 26 })
        .y_label_area_size(72)
        .build_cartesian_2d(0f64..x_max, y_range.clone())
        .map_err(err)?;
    draw_axes(&mut chart, &panel, x_max)?;
    for b in bands {
        let color = if b.fault { FAULT.mix(0.10) } else { BLACK.mix(0.06) };
        let rect = Rectangle::new([(b.from_s, y_range.end), (b.until_s, y_range.start)], color.filled());
        chart.draw_series(std::iter::once(rect)).map_err(err)?;
    }
    for a in &panel.areas {
        chart
            .draw_series(std::iter::once(Polygon::new(a.points.clone(), a.color.mix(a.alpha).filled())))
            .map_err(err)?;
    }
    let mut out = out;
    match out.as_deref_mut() {
        Some(out) => hand_over(&chart, panel.lines, panel.readouts, x_max, y_range.clone(), panel.scale, out),
        None => draw_lines(&mut chart, &panel.lines)?,
    }
    if let Some((value, label)) = &panel.target {
        draw_target(&chart, panel.scale.map(*value), label, x_max)?;
    }
    draw_events(&chart, events, y_range.start, out)?;
    if panel.band_labels {
        label_bands(&chart, bands, y_range.end)?;
    }
    Ok(())
}

fn draw_lines<DB: DrawingBackend>(chart: &mut TimeChart<DB>, lines: &[Line]) -> Result<(), String> {
    for line in lines {
        let style = line.color.mix(line.alpha).stroke_width(line.width);
        for seg in &line.segments {
            if seg.len() == 1 {
                let dot = Circle::new(seg[0], line.width.max(2), line.color.mix(line.alpha).filled());
                chart.draw_series(std::iter::once(dot)).map_err(err)?;
            } else {
                chart.draw_series(LineSeries::new(seg.iter().copied(), style)).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// The report draws the lines itself: record where the panel is and give
/// it the lines and readouts.
fn hand_over<DB: DrawingBackend>(
    chart: &TimeChart<DB>,
    lines: Vec<Line>,
    readouts: Vec<Readout>,
    x_max: f64,
    y: Range<f64>,
    scale: Scale,
    out: &mut Interactive,
) {
    let (left, bottom) = chart.backend_coord(&(0.0, y.start));
    let (right, top) = chart.backend_coord(&(x_max, y.end));
    let index = out.panels.len();
    out.panels.push(PanelGeom {
        left: f64::from(left),
        right: f64::from(right),
        top: f64::from(top),
        bottom: f64::from(bottom),
        x_max,
        lo: y.start,
        hi: y.end,
        log: scale.is_log(),
    });
    for l in lines {
        out.lines.push(OverlayLine {
            panel: index,
            group: l.group,
            color: l.color,
            alpha: l.alpha,
            width: l.width,
            segments: l.segments,
        });
    }
    out.readouts.extend(readouts.into_iter().map(|r| (index, r)));
}

/// A horizontal reference line across the panel, labelled at its right end.
fn draw_target<DB: DrawingBackend>(chart: &TimeChart<DB>, y: f64, label: &str, x_max: f64) -> Result<(), String> {
    let (x0, py) = chart.backend_coord(&(0.0, y));
    let (x1, _) = chart.backend_coord(&(x_max, y));
    let root = chart.plotting_area().strip_coord_spec();
    let base = chart.plotting_area().get_base_pixel();
    let (x0, x1, py) = (x0 - base.0, x1 - base.0, py - base.1);
    let color = RGBColor(150, 20, 20);
    let mut x = x0;
    while x < x1 {
        let seg = PathElement::new(vec![(x, py), ((x + 8).min(x1), py)], color.stroke_width(2));
        root.draw(&seg).map_err(err)?;
        x += 14;
    }
    let style = font(12).color(&color).pos(Pos::new(HPos::Right, VPos::Bottom));
    root.draw_text(label, &style, (x1 - 4, py - 3)).map_err(err)
}

/// Triangles on the time axis, one per event; in the report, each is a
/// hover target with its text.
pub(crate) fn draw_events<DB: DrawingBackend>(
    chart: &TimeChart<DB>,
    events: &[TimeEvent],
    y_bottom: f64,
    mut out: Option<&mut Interactive>,
) -> Result<(), String> {
    let area = chart.plotting_area().strip_coord_spec();
    let base = chart.plotting_area().get_base_pixel();
    for e in events {
        let (ax, ay) = chart.backend_coord(&(e.at_s, y_bottom));
        let (x, y) = (ax - base.0, ay - base.1);
        // A white rim keeps it visible on an area of its own colour.
        let rim = Polygon::new(vec![(x, y + 1), (x - 7, y - 11), (x + 7, y - 11)], WHITE.filled());
        area.draw(&rim).map_err(err)?;
        let tri = Polygon::new(vec![(x, y - 1), (x - 5, y - 10), (x + 5, y - 10)], e.color.filled());
        area.draw(&tri).map_err(err)?;
        if let Some(out) = out.as_deref_mut() {
            let rect = (f64::from(ax - 6), f64::from(ay - 12), f64::from(ax + 6), f64::from(ay + 1));
            out.marks.push(Mark { rect, title: e.text.clone() });
        }
    }
    Ok(())
}

/// Grid, ticks and axis titles; on a log axis, a faint line per 2..9 of each decade.
fn draw_axes<DB: DrawingBackend>(chart: &mut TimeChart<DB>, panel: &Panel, x_max: f64) -> Result<(), String> {
    let scale = panel.scale;
    let y_fmt = move |v: &f64| match scale {
        Scale::Log { .. } => fmt_num(10f64.powf(*v)),
        Scale::Linear { .. } => fmt_num(*v),
    };
    let x_fmt = |v: &f64| fmt_num(*v);
    let y_labels = match scale {
        Scale::Log { lo, hi } => (hi - lo + 1) as usize,
        Scale::Linear { .. } => 8,
    };
    chart
        .configure_mesh()
        .x_desc(if panel.x_desc { "simulated time (s)" } else { "" })
        .y_desc(panel.y_desc)
        .x_labels(12)
        .y_labels(y_labels)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&y_fmt)
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(MUTED)
        .label_style(font(12))
        .axis_desc_style(font(14))
        .draw()
        .map_err(err)?;
    if let Scale::Log { lo, hi } = scale {
        for d in lo..hi {
            for k in 2..10 {
                let y = f64::from(d) + f64::from(k).log10();
                let line = PathElement::new([(0.0, y), (x_max, y)], GRID_MINOR);
                chart.draw_series(std::iter::once(line)).map_err(err)?;
            }
        }
    }
    Ok(())
}

/// Band labels at the top of the plot, in rows so that none overlap.
pub(crate) fn label_bands<DB: DrawingBackend>(chart: &TimeChart<DB>, bands: &[Band], y_top: f64) -> Result<(), String> {
    let plot = chart.plotting_area();
    let base = plot.get_base_pixel();
    let px = plot.strip_coord_spec();
    let (w, _) = px.dim_in_pixel();
    let mut row_ends: Vec<i32> = Vec::new();
    for b in bands {
        let style = if b.fault { font(12).color(&FAULT_TEXT) } else { font(12).color(&MUTED) };
        let (tw, th) = px.estimate_text_size(&b.label, &style).map_err(err)?;
        let (tw, th) = (tw as i32, th as i32);
        let x0 = chart.backend_coord(&(b.from_s, y_top)).0 - base.0 + 3;
        let x0 = x0.clamp(2, (w as i32 - tw - 4).max(2));
        let row = match row_ends.iter().position(|end| *end < x0) {
            Some(r) => r,
            None => {
                row_ends.push(i32::MIN);
                row_ends.len() - 1
            }
        };
        row_ends[row] = x0 + tw + 8;
        let y0 = 3 + row as i32 * (th + 6);
        px.draw(&Rectangle::new([(x0 - 2, y0 - 1), (x0 + tw + 2, y0 + th + 3)], WHITE.mix(0.8).filled()))
            .map_err(err)?;
        px.draw_text(&b.label, &style.pos(Pos::new(HPos::Left, VPos::Top)), (x0, y0)).map_err(err)?;
    }
    Ok(())
}
