//! The breaker timeline: one lane per breaker, coloured by state over
//! simulated time (closed before its first transition).

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::data::PlotData;
use super::frame::{self, LegendItem};
use super::interactive::{Interactive, Mark};
use crate::metrics::summary::{BreakerPhase, BreakerSummary as Breaker};

const CLOSED: RGBColor = RGBColor(76, 175, 80);
const OPEN: RGBColor = RGBColor(214, 39, 40);
const HALF_OPEN: RGBColor = RGBColor(255, 179, 0);
/// Room for the lane names left of the time axis.
const LABEL_W: u32 = 210;

fn state_color(state: BreakerPhase) -> RGBColor {
    match state {
        BreakerPhase::Closed => CLOSED,
        BreakerPhase::Open => OPEN,
        BreakerPhase::HalfOpen => HALF_OPEN,
    }
}

/// (from, until, state) stretches covering 0..x_max.
fn stretches(b: &Breaker, x_max: f64) -> Vec<(f64, f64, BreakerPhase)> {
    let mut out = Vec::with_capacity(b.transitions.len() + 1);
    let (mut from, mut state) = (0.0, BreakerPhase::Closed);
    for &(t, next) in &b.transitions {
        let t = t.clamp(0.0, x_max);
        if t > from {
            out.push((from, t, state));
        }
        from = t;
        state = next;
    }
    if x_max > from {
        out.push((from, x_max, state));
    }
    out
}

fn lane_name(b: &Breaker) -> String {
    format!("{} → {}", b.caller, b.target)
}

fn lane_note(b: &Breaker) -> String {
    match b.opened {
        0 => "never opened".to_string(),
        n => format!("opened {n}×, open {:.1} s", b.open_s),
    }
}

fn state_word(state: BreakerPhase) -> &'static str {
    match state {
        BreakerPhase::Closed => "closed",
        BreakerPhase::Open => "open",
        BreakerPhase::HalfOpen => "half-open",
    }
}

pub(crate) fn breakers<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    data: &PlotData,
    mut out: Option<&mut Interactive>,
) -> Result<(), String> {
    let (plot, legend) = frame::layout(root, &format!("{}: circuit breaker states", data.scenario()), out.is_none())?;
    if data.summary.breakers.is_empty() {
        return frame::message(root, "no breakers in this scenario");
    }
    let x_max = data.x_max();
    let lanes = data.summary.breakers.len();
    // Headroom above the lanes for the fault labels (about 44 px).
    let (_, plot_h) = plot.dim_in_pixel();
    let y_top = lanes as f64 * (1.0 + 44.0 / (f64::from(plot_h) - 100.0).max(50.0));
    let mut chart = ChartBuilder::on(&plot)
        .margin_left(6)
        .margin_right(14)
        .margin_top(8)
        .x_label_area_size(44)
        .y_label_area_size(LABEL_W)
        .build_cartesian_2d(0f64..x_max, 0f64..y_top)
        .map_err(frame::err)?;
    let x_fmt = |v: &f64| frame::fmt_num(*v);
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_labels(12)
        .x_desc("simulated time (s)")
        .x_label_formatter(&x_fmt)
        .bold_line_style(RGBColor(226, 226, 226))
        .light_line_style(TRANSPARENT)
        .axis_style(frame::MUTED)
        .label_style(frame::font(12))
        .axis_desc_style(frame::font(14))
        .draw()
        .map_err(frame::err)?;
    for b in frame::bands(data) {
        let color = if b.fault { frame::FAULT.mix(0.10) } else { BLACK.mix(0.06) };
        let rect = Rectangle::new([(b.from_s, y_top), (b.until_s, 0.0)], color.filled());
        chart.draw_series(std::iter::once(rect)).map_err(frame::err)?;
    }
    draw_lanes(root, &chart, data, x_max, out.as_deref_mut())?;
    let events = frame::events(data);
    frame::draw_events(&chart, &events, 0.0, out.as_deref_mut())?;
    frame::label_bands(&chart, &frame::bands(data), y_top)?;
    let mut items: Vec<LegendItem> = [("closed", CLOSED), ("open", OPEN), ("half-open", HALF_OPEN)]
        .iter()
        .map(|(t, c)| LegendItem::block(t, *c))
        .collect();
    items.push(LegendItem::note("one lane per breaker:"));
    items.push(LegendItem::note("caller → target"));
    items.extend(frame::event_legend(&events));
    frame::finish_legend(&legend, items, out)
}

/// Lane bars in pixels (so a short half-open stretch is still visible) and
/// lane names left of the axis.
fn draw_lanes<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    chart: &frame::TimeChart<DB>,
    data: &PlotData,
    x_max: f64,
    mut out: Option<&mut Interactive>,
) -> Result<(), String> {
    let lanes = data.summary.breakers.len();
    let lane_px = {
        let (top, bottom) = (chart.backend_coord(&(0.0, lanes as f64)).1, chart.backend_coord(&(0.0, 0.0)).1);
        (bottom - top) as f64 / lanes as f64
    };
    let name_size = if lane_px >= 22.0 { 14 } else { 12 };
    for (i, b) in data.summary.breakers.iter().enumerate() {
        let y_hi = (lanes - i) as f64 - 0.18;
        let y_lo = (lanes - i - 1) as f64 + 0.18;
        for (from, until, state) in stretches(b, x_max) {
            let (x0, y0) = chart.backend_coord(&(from, y_hi));
            let (x1, y1) = chart.backend_coord(&(until, y_lo));
            let x1 = x1.max(x0 + 2);
            root.draw(&Rectangle::new([(x0, y0), (x1, y1.max(y0 + 1))], state_color(state).filled()))
                .map_err(frame::err)?;
            if let Some(out) = out.as_deref_mut() {
                let title = format!(
                    "{}: {} from {} s to {} s",
                    lane_name(b),
                    state_word(state),
                    frame::fmt_num(from),
                    frame::fmt_num(until)
                );
                let rect = (f64::from(x0), f64::from(y0), f64::from(x1), f64::from(y1.max(y0 + 1)));
                out.marks.push(Mark { rect, title });
            }
        }
        if lane_px < 9.0 && i % (9.0 / lane_px).ceil() as usize != 0 {
            continue;
        }
        let (x_axis, y_mid) = chart.backend_coord(&(0.0, (lanes - i) as f64 - 0.5));
        let x_right = x_axis - 8;
        let avail = (LABEL_W as i32) - 16;
        let name_style = frame::font(name_size);
        let name = frame::fit_text(root, &lane_name(b), &name_style, avail);
        let note = lane_note(b);
        let right = |s: TextStyle<'static>| s.pos(Pos::new(HPos::Right, VPos::Center));
        if lane_px >= 36.0 && !note.is_empty() {
            root.draw_text(&name, &right(name_style), (x_right, y_mid - 8)).map_err(frame::err)?;
            let note_style = frame::font(12).color(&frame::MUTED);
            root.draw_text(&note, &right(note_style), (x_right, y_mid + 8)).map_err(frame::err)?;
        } else {
            root.draw_text(&name, &right(name_style), (x_right, y_mid)).map_err(frame::err)?;
        }
    }
    Ok(())
}
