//! What makes a chart in report.html explorable: the chart's frame (axes,
//! bands, areas) is drawn by plotters as for the picture files, and the page
//! draws the lines on top itself, so that a click on a legend entry can
//! hide one; a column per time bucket carries an SVG `<title>` with every
//! value at that time, events (breaker openings, ejections) and breaker
//! spans carry theirs, and a small inline script shows a crosshair readout.
//! Still one self-contained file: no network, no external script.
//!
//! The drawing functions fill an `Interactive` when they are given one
//! (`frame::draw_panel` records each panel's pixel rectangle and hands
//! over its lines); `figure` turns it into HTML.

use std::fmt::Write as _;

use plotters::style::RGBColor;
use serde::Serialize;

use super::frame::{LegendItem, Readout, Swatch};
use super::topology::escape;

/// A plot area in the picture's pixels, and the data range it shows.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct PanelGeom {
    #[serde(rename = "l")]
    pub left: f64,
    #[serde(rename = "r")]
    pub right: f64,
    #[serde(rename = "t")]
    pub top: f64,
    #[serde(rename = "b")]
    pub bottom: f64,
    pub x_max: f64,
    /// The y range in chart coordinates (log10 of the value on a log axis).
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
}

impl PanelGeom {
    fn x(&self, t: f64) -> f64 {
        self.left + t / self.x_max.max(1e-12) * (self.right - self.left)
    }

    /// `y` in chart coordinates (already mapped by the panel's scale).
    fn y(&self, y: f64) -> f64 {
        self.bottom - (y - self.lo) / (self.hi - self.lo).max(1e-12) * (self.bottom - self.top)
    }
}

/// A line the page draws (and can hide), and its hover reading.
pub(crate) struct OverlayLine {
    pub panel: usize,
    pub group: Option<usize>,
    pub color: RGBColor,
    pub alpha: f64,
    pub width: u32,
    /// In chart coordinates, as `frame::line_points` makes them.
    pub segments: Vec<Vec<(f64, f64)>>,
}

/// A hover target with its text: an event on the time axis or a stretch
/// of a breaker lane, in pixels.
pub(crate) struct Mark {
    pub rect: (f64, f64, f64, f64),
    pub title: String,
}

/// Everything the page needs beyond the frame picture.
#[derive(Default)]
pub(crate) struct Interactive {
    pub panels: Vec<PanelGeom>,
    pub lines: Vec<OverlayLine>,
    /// (panel, reading) for the hover box, in the order they are listed.
    pub readouts: Vec<(usize, Readout)>,
    pub legend: Vec<LegendItem>,
    pub marks: Vec<Mark>,
}

/// At most this many hover columns per panel (long runs group buckets).
const MAX_COLUMNS: usize = 300;
/// At most this many readings in one column's `<title>`.
const MAX_TITLE_LINES: usize = 14;

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

/// A value for the hover text: four significant digits at most.
pub(crate) fn reading(v: f64) -> String {
    if v.is_nan() { "–".into() } else { crate::report::table::num(v) }
}

#[derive(Serialize)]
struct Data<'a> {
    bucket_s: f64,
    n: usize,
    panels: &'a [PanelGeom],
    series: Vec<SeriesData<'a>>,
}

#[derive(Serialize)]
struct SeriesData<'a> {
    p: usize,
    g: Option<usize>,
    label: &'a str,
    unit: &'a str,
    color: String,
    /// Four significant digits are plenty for a readout and keep the page small.
    v: Vec<Option<f64>>,
    /// ± half-widths per bucket, when the series has them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pm: Option<Vec<Option<f64>>>,
}

fn round4(v: f64) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    if v == 0.0 {
        return Some(0.0);
    }
    let digits = 3 - v.abs().log10().floor() as i32;
    let f = 10f64.powi(digits.clamp(-12, 12));
    Some((v * f).round() / f)
}

/// The chart as a `<figure>`: the frame SVG, the overlay and its data.
pub(crate) fn figure(
    id: &str,
    frame_svg: &str,
    size: (u32, u32),
    it: &Interactive,
    times: (usize, f64),
    caption: &str,
) -> String {
    let (w, h) = size;
    let mut s = String::with_capacity(frame_svg.len() + 64 * 1024);
    let _ = write!(s, "<figure class=\"ichart\" id=\"chart-{id}\">\n<div class=\"stage\">");
    s.push_str(&super::html::inline_svg(frame_svg, caption, false));
    let _ = write!(s, "<svg class=\"ov\" viewBox=\"0 0 {w} {h}\" aria-hidden=\"true\">");
    clip_paths(&mut s, id, &it.panels);
    lines(&mut s, id, it);
    marks(&mut s, &it.marks);
    columns(&mut s, it, times);
    s.push_str(
        "<line class=\"cross\" x1=\"0\" x2=\"0\" y1=\"0\" y2=\"0\"/></svg><div class=\"readout\" hidden></div></div>\n",
    );
    legend(&mut s, &it.legend);
    let data = Data {
        bucket_s: times.1,
        n: times.0,
        panels: &it.panels,
        series: it
            .readouts
            .iter()
            .map(|(p, r)| SeriesData {
                p: *p,
                g: r.group,
                label: &r.label,
                unit: r.unit,
                color: hex(r.color),
                v: r.values.iter().map(|v| round4(*v)).collect(),
                pm: (!r.plus_minus.is_empty()).then(|| r.plus_minus.iter().map(|v| round4(*v)).collect()),
            })
            .collect(),
    };
    // `</` cannot appear in JSON numbers; names are escaped by serde_json
    // except `<`, which is replaced so that no `</script>` can end the block.
    let json = serde_json::to_string(&data).unwrap_or_else(|_| "{}".into()).replace('<', "\\u003c");
    let _ = writeln!(s, "<script type=\"application/json\" class=\"data\">{json}</script>");
    let _ = writeln!(s, "<figcaption>{}</figcaption>\n</figure>", escape(caption));
    s
}

fn clip_paths(s: &mut String, id: &str, panels: &[PanelGeom]) {
    s.push_str("<defs>");
    for (i, p) in panels.iter().enumerate() {
        let _ = write!(
            s,
            "<clipPath id=\"{id}-clip{i}\"><rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/></clipPath>",
            p.left,
            p.top,
            p.right - p.left,
            p.bottom - p.top
        );
    }
    s.push_str("</defs>");
}

fn lines(s: &mut String, id: &str, it: &Interactive) {
    for line in &it.lines {
        let Some(p) = it.panels.get(line.panel) else { continue };
        let group = line.group.map_or(String::new(), |g| format!(" data-g=\"{g}\""));
        let _ = write!(s, "<g class=\"s\"{group} clip-path=\"url(#{id}-clip{})\">", line.panel);
        for seg in &line.segments {
            let pts: Vec<String> = seg.iter().map(|&(x, y)| format!("{:.1},{:.1}", p.x(x), p.y(y))).collect();
            if pts.len() == 1 {
                let (x, y) = (p.x(seg[0].0), p.y(seg[0].1));
                let _ = write!(
                    s,
                    "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"{}\" fill=\"{}\" fill-opacity=\"{}\"/>",
                    line.width.max(2),
                    hex(line.color),
                    line.alpha
                );
                continue;
            }
            let _ = write!(
                s,
                "<polyline fill=\"none\" stroke=\"{}\" stroke-opacity=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\" points=\"{}\"/>",
                hex(line.color),
                line.alpha,
                line.width,
                pts.join(" ")
            );
        }
        s.push_str("</g>");
    }
}

fn marks(s: &mut String, marks: &[Mark]) {
    s.push_str("<g class=\"marks\">");
    for m in marks {
        let (x0, y0, x1, y1) = m.rect;
        let _ = write!(
            s,
            "<rect x=\"{x0:.1}\" y=\"{y0:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>",
            (x1 - x0).max(4.0),
            (y1 - y0).max(4.0),
            escape(&m.title)
        );
    }
    s.push_str("</g>");
}

/// One hover column per bucket (or group of buckets) per panel, each with
/// a `<title>` of the readings at its time.
fn columns(s: &mut String, it: &Interactive, (n, bucket_s): (usize, f64)) {
    s.push_str("<g class=\"hits\">");
    if n == 0 {
        s.push_str("</g>");
        return;
    }
    let per = n.div_ceil(MAX_COLUMNS).max(1);
    for (pi, p) in it.panels.iter().enumerate() {
        let readouts: Vec<&Readout> = it.readouts.iter().filter(|(q, _)| *q == pi).map(|(_, r)| r).collect();
        if readouts.is_empty() {
            continue;
        }
        for start in (0..n).step_by(per) {
            let end = (start + per).min(n);
            let (t0, t1) = (start as f64 * bucket_s, (end as f64 * bucket_s).min(p.x_max));
            let (x0, x1) = (p.x(t0), p.x(t1));
            let mut title = format!("{}–{} s", reading(t0), reading(t1));
            for r in readouts.iter().take(MAX_TITLE_LINES) {
                let v = r.values.get(start).copied().unwrap_or(f64::NAN);
                let pm = match r.plus_minus.get(start) {
                    Some(h) if v.is_finite() => format!(" ± {}", reading(*h)),
                    _ => String::new(),
                };
                let _ = write!(title, "\n{}: {}{pm} {}", r.label, reading(v), r.unit);
            }
            if readouts.len() > MAX_TITLE_LINES {
                let _ = write!(title, "\n(+{} more)", readouts.len() - MAX_TITLE_LINES);
            }
            let _ = write!(
                s,
                "<rect x=\"{x0:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>",
                p.top,
                (x1 - x0).max(0.5),
                p.bottom - p.top,
                escape(&title)
            );
        }
    }
    s.push_str("</g>");
}

fn legend(s: &mut String, items: &[LegendItem]) {
    s.push_str("<div class=\"legend\">");
    let mut items = items.iter().peekable();
    while let Some(item) = items.next() {
        let mut text = escape(&item.text);
        match (&item.swatch, item.group) {
            (Swatch::Note, _) => {
                // A note continued on the next legend line in the picture
                // ("  "-prefixed) is one phrase on the page.
                while let Some(more) = items.next_if(|n| matches!(n.swatch, Swatch::Note) && n.text.starts_with("  ")) {
                    text.push(' ');
                    text.push_str(&escape(more.text.trim_start()));
                }
                let _ = write!(s, "<span class=\"note\">{text}</span>");
            }
            (Swatch::Line { .. }, Some(g)) => {
                let _ = write!(
                    s,
                    "<button type=\"button\" data-g=\"{g}\" title=\"show or hide\"><i style=\"background:{}\"></i>{text}</button>",
                    hex(item.color)
                );
            }
            _ => {
                let _ = write!(s, "<span class=\"key\"><i style=\"background:{}\"></i>{text}</span>", hex(item.color));
            }
        }
    }
    s.push_str("</div>\n");
}

/// The page's styles for interactive charts.
pub(crate) const CSS: &str = r#"
.ichart .stage{position:relative}
.ichart svg.ov{position:absolute;left:0;top:0;width:100%;height:100%;overflow:visible;background:transparent;border-color:transparent}
.ichart .hits rect{fill:transparent}
.ichart .marks rect{fill:transparent;cursor:help}
.ichart .cross{stroke:#444;stroke-width:1;stroke-dasharray:3 3;display:none}
.ichart .readout{position:absolute;pointer-events:none;background:rgba(255,255,255,.96);border:1px solid #ccc;border-radius:6px;padding:6px 9px;font-size:12px;line-height:1.45;box-shadow:0 2px 6px rgba(0,0,0,.12);white-space:nowrap;z-index:2}
.ichart .readout b{display:block;margin-bottom:2px}
.ichart .readout i,.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;vertical-align:middle}
.legend{display:flex;flex-wrap:wrap;gap:4px 8px;margin:6px 0 0;font-size:13px;align-items:center}
.legend button{font:inherit;border:1px solid var(--line);background:#fff;border-radius:12px;padding:1px 10px;cursor:pointer}
.legend button.off{opacity:.35;text-decoration:line-through}
.legend .key{padding:1px 4px}
.legend .note{color:var(--muted);font-size:12px}
"#;

/// The page's one script: legend toggles and the crosshair readout. With
/// `#hover-test` in the address it hovers the middle of every chart once
/// (the headless-browser check uses it to see the readout work).
pub(crate) const SCRIPT: &str = r#"
(function () {
  function point(svg, ev) {
    var p = svg.createSVGPoint(); p.x = ev.clientX; p.y = ev.clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  function fmt(v) {
    if (v === null || v === undefined) return '–';
    var a = Math.abs(v), d = a >= 1000 ? 0 : a >= 100 ? 1 : a >= 10 ? 2 : 3;
    return String(parseFloat(v.toFixed(d)));
  }
  document.querySelectorAll('figure.zoomable').forEach(function (fig) {
    fig.addEventListener('click', function () { fig.classList.toggle('full'); });
  });
  document.querySelectorAll('figure.ichart').forEach(function (fig) {
    var d = JSON.parse(fig.querySelector('script.data').textContent);
    var ov = fig.querySelector('svg.ov'), box = fig.querySelector('.readout');
    var cross = ov.querySelector('.cross'), hidden = {};
    ov.querySelector('.hits').style.pointerEvents = 'none';
    fig.querySelectorAll('.legend button').forEach(function (b) {
      b.addEventListener('click', function () {
        var g = b.getAttribute('data-g');
        hidden[g] = !hidden[g];
        b.classList.toggle('off', hidden[g]);
        ov.querySelectorAll('g.s[data-g="' + g + '"]').forEach(function (e) {
          e.style.display = hidden[g] ? 'none' : '';
        });
      });
    });
    function hide() { box.hidden = true; cross.style.display = 'none'; }
    function show(ev) {
      var pt = point(ov, ev), pi = -1;
      d.panels.forEach(function (p, i) { if (pt.x >= p.l && pt.x <= p.r && pt.y >= p.t && pt.y <= p.b) pi = i; });
      if (pi < 0 || d.n === 0) return hide();
      var p = d.panels[pi], t = (pt.x - p.l) / (p.r - p.l) * p.x_max;
      var b = Math.max(0, Math.min(d.n - 1, Math.floor(t / d.bucket_s)));
      box.textContent = '';
      var head = document.createElement('b');
      head.textContent = fmt(b * d.bucket_s) + '–' + fmt(Math.min((b + 1) * d.bucket_s, p.x_max)) + ' s';
      box.appendChild(head);
      d.series.forEach(function (s) {
        if (s.p !== pi || (s.g !== null && hidden[s.g])) return;
        var row = document.createElement('div'), sw = document.createElement('i');
        sw.style.background = s.color; row.appendChild(sw);
        var v = s.v[b], pm = s.pm ? s.pm[b] : null;
        var shown = v === null || v === undefined ? 'none'
          : fmt(v) + (pm !== null && pm !== undefined ? ' ± ' + fmt(pm) : '') + ' ' + s.unit;
        row.appendChild(document.createTextNode(s.label + ': ' + shown));
        box.appendChild(row);
      });
      var x = p.l + (b + 0.5) * d.bucket_s / p.x_max * (p.r - p.l);
      cross.setAttribute('x1', x); cross.setAttribute('x2', x);
      cross.setAttribute('y1', d.panels[0].t); cross.setAttribute('y2', d.panels[d.panels.length - 1].b);
      cross.style.display = '';
      box.hidden = false;
      var r = fig.querySelector('.stage').getBoundingClientRect();
      var left = ev.clientX - r.left + 14, top = ev.clientY - r.top + 14;
      if (left + box.offsetWidth > r.width) left = ev.clientX - r.left - box.offsetWidth - 14;
      box.style.left = Math.max(0, left) + 'px'; box.style.top = Math.max(0, top) + 'px';
    }
    ov.addEventListener('mousemove', show);
    ov.addEventListener('mouseleave', hide);
    fig.setAttribute('data-ready', '1');
    if (location.hash === '#hover-test' && d.panels.length > 0) {
      var p = d.panels[0], m = ov.getScreenCTM();
      var sx = m.a * (p.l + p.r) / 2 + m.e, sy = m.d * (p.t + p.b) / 2 + m.f;
      show({ clientX: sx, clientY: sy });
      fig.setAttribute('data-hover', box.hidden ? '' : box.textContent);
    }
  });
})();
"#;
