//! compare's charts over time: each architecture's clients, as the mean
//! over replications with its 95% confidence band, fault windows shaded.
//! Drawn with the same frame as a run's charts, so comparison.html gets
//! the same hover readout and legend toggles as report.html.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::frame::{self, Area, Band, LegendItem, Line, Panel, Readout, Scale, Swatch};
use super::html::Figure;
use super::interactive::{self, Interactive};

/// One architecture's line: the mean per time bucket and the half-width of
/// its 95% interval.
pub(crate) struct MeanSeries<'a> {
    pub(crate) name: &'a str,
    /// NaN: no value in that bucket (drawn as a gap).
    pub(crate) mean: Vec<f64>,
    pub(crate) ci95: &'a [f64],
}

/// A shaded stretch of simulated time (a fault window).
pub(crate) struct Window {
    pub(crate) from_s: f64,
    pub(crate) until_s: f64,
    pub(crate) label: String,
}

/// A chart of several architectures' means over time.
pub(crate) struct TimeCompare<'a> {
    /// Its id in the page ("p99", "success").
    pub(crate) id: &'static str,
    pub(crate) title: String,
    /// The y axis title, without the scale ("p99 of successes (ms)").
    pub(crate) y_desc: &'static str,
    pub(crate) unit: &'static str,
    /// Zero means "no value" (a bucket without successful answers).
    pub(crate) zero_is_missing: bool,
    pub(crate) allow_log: bool,
    /// Multiplies every value (100 shows a share as a percentage).
    pub(crate) factor: f64,
    /// A fixed top of a linear axis (100 for a percentage).
    pub(crate) y_max: Option<f64>,
    pub(crate) bucket_s: f64,
    pub(crate) series: Vec<MeanSeries<'a>>,
    pub(crate) windows: Vec<Window>,
    pub(crate) replications: u32,
}

impl TimeCompare<'_> {
    fn buckets(&self) -> usize {
        self.series.iter().map(|s| s.mean.len()).max().unwrap_or(0)
    }

    fn values(&self, s: &MeanSeries) -> Vec<f64> {
        s.mean.iter().map(|&v| if self.zero_is_missing && v <= 0.0 { f64::NAN } else { v * self.factor }).collect()
    }

    fn ci(&self, s: &MeanSeries) -> Vec<f64> {
        s.ci95.iter().map(|h| h * self.factor).collect()
    }
}

/// The band around one series: mean ± half-width cut to [0, `top`] (a
/// latency is never negative, a share never past 100 %), one polygon per
/// stretch of buckets that have a value.
fn band(times: &[f64], mean: &[f64], ci: &[f64], half: f64, top: f64, scale: Scale) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut upper: Vec<(f64, f64)> = Vec::new();
    let mut lower: Vec<(f64, f64)> = Vec::new();
    let mut flush = |upper: &mut Vec<(f64, f64)>, lower: &mut Vec<(f64, f64)>| {
        if upper.len() >= 2 {
            let mut poly = std::mem::take(upper);
            poly.extend(lower.drain(..).rev());
            out.push(poly);
        }
        upper.clear();
        lower.clear();
    };
    for (i, (&m, &t)) in mean.iter().zip(times).enumerate() {
        let h = ci.get(i).copied().unwrap_or(0.0);
        if !m.is_finite() || !h.is_finite() {
            flush(&mut upper, &mut lower);
            continue;
        }
        upper.push((t + half, scale.map((m + h).min(top))));
        lower.push((t + half, scale.map((m - h).max(0.0))));
    }
    flush(&mut upper, &mut lower);
    out
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    c: &TimeCompare,
    mut out: Option<&mut Interactive>,
) -> Result<(), String> {
    let (plot, legend) = frame::layout(root, &c.title, out.is_none())?;
    let n = c.buckets();
    if n == 0 {
        return frame::message(&plot, "no time series in these runs");
    }
    let times: Vec<f64> = (0..n).map(|b| b as f64 * c.bucket_s).collect();
    let values: Vec<Vec<f64>> = c.series.iter().map(|s| c.values(s)).collect();
    let cis: Vec<Vec<f64>> = c.series.iter().map(|s| c.ci(s)).collect();
    let highs = values.iter().zip(&cis).flat_map(|(v, ci)| v.iter().zip(ci).map(|(m, h)| m + h));
    let scale = match (Scale::choose(values.iter().flatten().copied().chain(highs), c.allow_log), c.y_max) {
        (Scale::Linear { .. }, Some(max)) => Scale::Linear { max },
        (scale, _) => scale,
    };
    let y_desc = if scale.is_log() { format!("{} log scale", c.y_desc) } else { c.y_desc.to_string() };
    let mut panel = Panel::new(&y_desc, scale);
    let mut items = Vec::new();
    for (i, ((s, v), ci)) in c.series.iter().zip(&values).zip(cis).enumerate() {
        let color = frame::palette(i);
        for points in band(&times, v, &ci, c.bucket_s / 2.0, c.y_max.unwrap_or(f64::INFINITY), scale) {
            panel.areas.push(Area { color, alpha: 0.16, points });
        }
        let segments = frame::line_points(&times, v, c.bucket_s, scale);
        panel.lines.push(Line { color, alpha: 1.0, width: 2, segments, group: Some(i) });
        panel.readouts.push(Readout {
            label: s.name.to_string(),
            unit: c.unit,
            color,
            group: Some(i),
            values: v.clone(),
            plus_minus: ci,
        });
        items.push(LegendItem {
            text: s.name.to_string(),
            color,
            swatch: Swatch::Line { width: 2, alpha: 1.0 },
            bold: false,
            group: Some(i),
        });
    }
    items.push(LegendItem::note(&format!("line: mean of {} replications", c.replications)));
    items.push(LegendItem::note("band: its 95% confidence interval"));
    if c.zero_is_missing {
        items.push(LegendItem::note("a gap: no successful answer"));
    } else if c.series.iter().any(|s| s.mean.iter().any(|v| v.is_nan())) {
        items.push(LegendItem::note("a gap: no request finished"));
    }
    let bands: Vec<Band> = c
        .windows
        .iter()
        .map(|w| Band { from_s: w.from_s, until_s: w.until_s, label: w.label.clone(), fault: true })
        .collect();
    let x_max = n as f64 * c.bucket_s;
    frame::draw_panel(&plot, panel, &bands, &[], x_max, out.as_deref_mut())?;
    frame::finish_legend(&legend, items, out)
}

/// The chart as SVG and PNG files' bytes.
pub(crate) fn render(c: &TimeCompare) -> Result<(Vec<u8>, Vec<u8>), String> {
    super::register_fonts();
    let mut svg = String::with_capacity(128 * 1024);
    {
        let root = SVGBackend::with_string(&mut svg, frame::SIZE).into_drawing_area();
        draw(&root, c, None)?;
        root.present().map_err(frame::err)?;
    }
    let (w, h) = frame::SIZE;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = super::raster::Raster::new(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, c, None)?;
        root.present().map_err(frame::err)?;
    }
    Ok((svg.into_bytes(), super::encode_png(&rgb, w, h)?))
}

/// The chart for comparison.html, with hover values and legend toggles.
pub(crate) fn figure(c: &TimeCompare, caption: &str) -> Result<Figure, String> {
    super::register_fonts();
    let mut svg = String::with_capacity(128 * 1024);
    let mut it = Interactive::default();
    {
        let root = SVGBackend::with_string(&mut svg, frame::SIZE).into_drawing_area();
        draw(&root, c, Some(&mut it))?;
        root.present().map_err(frame::err)?;
    }
    Ok(Figure { html: interactive::figure(c.id, &svg, frame::SIZE, &it, (c.buckets(), c.bucket_s), caption) })
}
