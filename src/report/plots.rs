//! Pictures of a run, redrawn from its output folder: time charts (SVG and
//! PNG, drawn with plotters in the embedded DejaVu font), the topology (SVG
//! and DOT) and the self-contained report.html. Pure: bytes in, bytes out,
//! the same bytes every time.
//!
//! ```text
//! summary.json + timeseries.csv --PlotData::from_outputs--> PlotData --render_all--> [(file, bytes)]
//! ```

pub(crate) mod batch_charts;
mod breakers;
mod charts;
mod data;
mod frame;
pub(crate) mod html;
mod interactive;
pub mod overlay;
mod raster;
#[cfg(test)]
mod tests;
mod topology;

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::FontStyle;

pub use data::PlotData;

/// The time charts, in the order their files are listed.
#[derive(Clone, Copy)]
enum Chart {
    Latency,
    Errors,
    Throughput,
    Queues,
    Breakers,
}

impl Chart {
    const ALL: [Chart; 5] = [Chart::Latency, Chart::Errors, Chart::Throughput, Chart::Queues, Chart::Breakers];

    /// The names of its SVG and PNG files.
    fn files(self) -> (&'static str, &'static str) {
        match self {
            Chart::Latency => ("latency.svg", "latency.png"),
            Chart::Errors => ("errors.svg", "errors.png"),
            Chart::Throughput => ("throughput.svg", "throughput.png"),
            Chart::Queues => ("queues.svg", "queues.png"),
            Chart::Breakers => ("breakers.svg", "breakers.png"),
        }
    }

    /// Pixels; the breaker timeline grows with its lanes.
    fn size(self, data: &PlotData) -> (u32, u32) {
        match self {
            Chart::Breakers => {
                let lanes = u32::try_from(data.summary.breakers.len()).unwrap_or(u32::MAX);
                (frame::SIZE.0, lanes.saturating_mul(56).saturating_add(150).clamp(300, 800))
            }
            _ => frame::SIZE,
        }
    }

    fn draw<DB: DrawingBackend>(
        self,
        root: &DrawingArea<DB, Shift>,
        data: &PlotData,
        out: Option<&mut interactive::Interactive>,
    ) -> Result<(), String> {
        match self {
            Chart::Latency => charts::latency(root, data, out),
            Chart::Errors => charts::errors(root, data, out),
            Chart::Throughput => charts::throughput(root, data, out),
            Chart::Queues => charts::queues(root, data, out),
            Chart::Breakers => breakers::breakers(root, data, out),
        }
    }

    fn svg(self, data: &PlotData) -> Result<String, String> {
        let mut out = String::with_capacity(256 * 1024);
        {
            let root = SVGBackend::with_string(&mut out, self.size(data)).into_drawing_area();
            self.draw(&root, data, None)?;
            root.present().map_err(frame::err)?;
        }
        Ok(out)
    }

    /// The chart for report.html: its frame as SVG, the rest for the page.
    fn interactive(self, data: &PlotData) -> Result<html::Figure, String> {
        let mut svg = String::with_capacity(128 * 1024);
        let mut it = interactive::Interactive::default();
        {
            let root = SVGBackend::with_string(&mut svg, self.size(data)).into_drawing_area();
            self.draw(&root, data, Some(&mut it))?;
            root.present().map_err(frame::err)?;
        }
        let times = (data.series.times.len(), data.series.bucket_s);
        let (id, caption) = self.caption();
        Ok(html::Figure { html: interactive::figure(id, &svg, self.size(data), &it, times, caption) })
    }

    /// Its id in the page and its caption there.
    fn caption(self) -> (&'static str, &'static str) {
        match self {
            Chart::Latency => (
                "latency",
                "Latency of successful answers per node: p99 solid, p50 faint; clients drawn thicker; a gap means no successful answer in that bucket. Hover for values; click a legend entry to hide or show a node.",
            ),
            Chart::Errors => (
                "errors",
                "The clients' requests per second by when they ended, stacked by outcome: a queue draining after a fault \
                 shows as a burst above the offered load. Hover for values.",
            ),
            Chart::Throughput => (
                "throughput",
                "Arrivals and goodput (ok, partial, fallback) per second per node, and answers wasted on callers that had given up.",
            ),
            Chart::Queues => ("queues", "Queue length and worker utilization of the server nodes."),
            Chart::Breakers => {
                ("breakers", "Circuit breaker states over time, one lane per breaker; hover a stretch for its times.")
            }
        }
    }

    fn png(self, data: &PlotData) -> Result<Vec<u8>, String> {
        let (w, h) = self.size(data);
        let mut rgb = vec![0u8; w as usize * h as usize * 3];
        {
            let root = raster::Raster::new(&mut rgb, (w, h)).into_drawing_area();
            self.draw(&root, data, None)?;
            root.present().map_err(frame::err)?;
        }
        encode_png(&rgb, w, h)
    }
}

pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let mut writer = enc.write_header().map_err(|e| format!("PNG encoding failed: {e}"))?;
    writer.write_image_data(rgb).map_err(|e| format!("PNG encoding failed: {e}"))?;
    writer.finish().map_err(|e| format!("PNG encoding failed: {e}"))?;
    Ok(out)
}

/// Registers the embedded DejaVu Sans (regular and bold) as "sans-serif",
/// so text renders the same on a bare machine.
pub(crate) fn register_fonts() {
    static FONTS: Once = Once::new();
    FONTS.call_once(|| {
        // The bytes are a known-good TrueType font: failure would be a bug.
        plotters::style::register_font(frame::FONT, FontStyle::Normal, dejavu::sans::regular())
            .unwrap_or_else(|_| panic!("embedded DejaVu Sans loads"));
        plotters::style::register_font(frame::FONT, FontStyle::Bold, dejavu::sans::bold())
            .unwrap_or_else(|_| panic!("embedded DejaVu Sans Bold loads"));
    });
}

/// Every picture and the HTML report, as (file name, bytes), in a fixed order:
/// latency.svg, latency.png, errors.svg, errors.png, throughput.svg, throughput.png,
/// queues.svg, queues.png, breakers.svg, breakers.png, topology.svg, topology.dot, report.html
/// Why pictures could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    /// summary.json or timeseries.csv is not what gatesim writes.
    #[error("{0}")]
    Read(String),
    /// The drawing backend failed.
    #[error("a picture could not be drawn: {0}")]
    Draw(String),
}

pub fn render_all(data: &PlotData) -> Result<Vec<(String, Vec<u8>)>, PlotError> {
    register_fonts();
    // Each chart is independent; drawing them in parallel keeps the order of
    // the result and the bytes the same.
    type Drawn = Result<(String, Vec<u8>, html::Figure), String>;
    let drawn: Vec<Drawn> = {
        use rayon::prelude::*;
        Chart::ALL.par_iter().map(|c| Ok((c.svg(data)?, c.png(data)?, c.interactive(data)?))).collect()
    };
    let mut files: Vec<(String, Vec<u8>)> = Vec::with_capacity(13);
    let mut figures = Vec::with_capacity(Chart::ALL.len());
    for (chart, result) in Chart::ALL.iter().zip(drawn) {
        let (svg, png, figure) = result.map_err(PlotError::Draw)?;
        let (svg_name, png_name) = chart.files();
        files.push((svg_name.to_string(), svg.into_bytes()));
        files.push((png_name.to_string(), png));
        figures.push(figure);
    }
    let topo = topology::svg(data);
    files.push(("topology.svg".to_string(), topo.clone().into_bytes()));
    files.push(("topology.dot".to_string(), topology::dot(data).into_bytes()));
    files.push(("report.html".to_string(), html::report(data, &figures, &topo).into_bytes()));
    Ok(files)
}
