//! Line charts of several series on one axis, for batch results: the
//! architectures of a compare over time (p99, success rate) and a sweep's
//! metric against its parameter (with 95% confidence bars).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::frame::{self, LegendItem, Swatch, err, font};

/// One line: its name, its points, and optional (x, low, high) error bars.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub bars: Vec<(f64, f64, f64)>,
}

pub struct Overlay {
    pub title: String,
    pub x_desc: String,
    pub y_desc: String,
    pub series: Vec<Series>,
    /// Plot the y axis on a log scale (values <= 0 are left out).
    pub log_y: bool,
    /// Extra lines for the legend (notes).
    pub notes: Vec<String>,
    /// A top the linear axis never passes (100 for a percentage: its
    /// confidence bars may reach above, a share cannot).
    pub y_cap: Option<f64>,
}

/// The chart as SVG and PNG bytes.
pub fn render(o: &Overlay) -> Result<(Vec<u8>, Vec<u8>), String> {
    super::register_fonts();
    let mut svg = String::with_capacity(64 * 1024);
    {
        let root = SVGBackend::with_string(&mut svg, frame::SIZE).into_drawing_area();
        draw(&root, o)?;
        root.present().map_err(err)?;
    }
    let (w, h) = frame::SIZE;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = super::raster::Raster::new(&mut rgb, (w, h)).into_drawing_area();
        draw(&root, o)?;
        root.present().map_err(err)?;
    }
    Ok((svg.into_bytes(), super::encode_png(&rgb, w, h)?))
}

fn bounds(o: &Overlay) -> (f64, f64, f64, f64) {
    let ys = o.series.iter().flat_map(|s| s.points.iter().map(|p| p.1).chain(s.bars.iter().flat_map(|b| [b.1, b.2])));
    let xs = o.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ok = |y: &f64| y.is_finite() && (!o.log_y || *y > 0.0);
    let (mut y0, mut y1) = ys.filter(ok).fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    if !y0.is_finite() {
        (y0, y1) = (if o.log_y { 0.1 } else { 0.0 }, 1.0);
    }
    if o.log_y {
        (y0, y1) = (10f64.powf(y0.log10().floor()), 10f64.powf(y1.log10().ceil().max(y0.log10().floor() + 1.0)));
    } else {
        y0 = y0.min(0.0);
        y1 = if y1 <= y0 { y0 + 1.0 } else { frame::nice_ceil(y1 * 1.05) };
        if let Some(cap) = o.y_cap.filter(|c| *c > y0) {
            y1 = y1.min(cap);
        }
    }
    let (x0, x1) = if x0.is_finite() && x1 > x0 { (x0, x1) } else { (0.0, 1.0) };
    (x0, x1, y0, y1)
}

fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, o: &Overlay) -> Result<(), String> {
    let (plot, legend) = frame::layout(root, &o.title, true)?;
    let (x0, x1, y0, y1) = bounds(o);
    let mut builder = ChartBuilder::on(&plot);
    builder.margin(12).x_label_area_size(44).y_label_area_size(70);
    let mut items = Vec::new();
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(o.x_desc.as_str())
                .y_desc(o.y_desc.as_str())
                .label_style(font(12))
                .axis_desc_style(font(14))
                .y_label_formatter(&|v| frame::fmt_num(*v))
                .x_label_formatter(&|v| frame::fmt_num(*v))
                .light_line_style(RGBColor(241, 241, 241))
                .bold_line_style(RGBColor(226, 226, 226))
                .draw()
                .map_err(err)?;
            for (i, s) in o.series.iter().enumerate() {
                let color = frame::palette(i);
                let pts: Vec<(f64, f64)> =
                    s.points.iter().copied().filter(|p| p.1.is_finite() && (!o.log_y || p.1 > 0.0)).collect();
                chart.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2))).map_err(err)?;
                if !s.bars.is_empty() || pts.len() <= 20 {
                    chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled()))).map_err(err)?;
                }
                for (x, lo, hi) in s.bars.iter().copied().filter(|b| !o.log_y || b.1 > 0.0) {
                    chart
                        .draw_series(std::iter::once(PathElement::new(vec![(x, lo), (x, hi)], color.stroke_width(1))))
                        .map_err(err)?;
                }
                items.push(LegendItem {
                    text: s.name.clone(),
                    color,
                    swatch: Swatch::Line { width: 2, alpha: 1.0 },
                    bold: false,
                    group: None,
                });
            }
        }};
    }
    if o.log_y {
        body!(builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(err)?);
    } else {
        body!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(err)?);
    }
    items.extend(o.notes.iter().map(|n| LegendItem::note(n)));
    frame::draw_legend(&legend, &items)
}
