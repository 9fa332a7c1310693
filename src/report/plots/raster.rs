//! The PNG backend: plotters' BitMapBackend with our own text rasteriser.
//!
//! Why: plotters 0.3.7 draws ab_glyph text without each glyph's left side
//! bearing and rounds its baseline per glyph, so small text reads "dient"
//! for "client". Here glyphs are placed at their exact (subpixel) pen
//! position from the same embedded DejaVu Sans, with the same metrics
//! plotters uses for layout (pixel scale = size, box height = size / 1.24).

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};
use plotters::prelude::*;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind, FontStyle};

type BitMapError = <BitMapBackend<'static> as DrawingBackend>::ErrorType;

/// A one-pixel stroke in a given colour.
struct Thin(BackendColor);

impl BackendStyle for Thin {
    fn color(&self) -> BackendColor {
        self.0
    }
}

/// Where the baseline sits in the layout box, as a share of the size.
const BASELINE: f32 = 0.62;

pub(crate) struct Raster<'a> {
    inner: BitMapBackend<'a>,
    regular: FontRef<'static>,
    bold: FontRef<'static>,
}

impl<'a> Raster<'a> {
    pub fn new(buf: &'a mut [u8], size: (u32, u32)) -> Raster<'a> {
        let load = |bytes: &'static [u8]| FontRef::try_from_slice(bytes).expect("embedded DejaVu Sans loads");
        Raster {
            inner: BitMapBackend::with_buffer(buf, size),
            regular: load(dejavu::sans::regular()),
            bold: load(dejavu::sans::bold()),
        }
    }

    fn face<S: BackendTextStyle>(&self, style: &S) -> &FontRef<'static> {
        if matches!(style.style(), FontStyle::Bold) { &self.bold } else { &self.regular }
    }

    /// Width of `text` in pixels, with kerning.
    fn advance(font: &FontRef<'static>, size: f32, text: &str) -> f32 {
        let scaled = font.as_scaled(PxScale::from(size));
        let mut x = 0.0;
        let mut prev = None;
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                x += scaled.kern(p, id);
            }
            x += scaled.h_advance(id);
            prev = Some(id);
        }
        x
    }
}

impl DrawingBackend for Raster<'_> {
    type ErrorType = BitMapError;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<BitMapError>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<BitMapError>> {
        self.inner.present()
    }

    fn draw_pixel(&mut self, point: BackendCoord, color: BackendColor) -> Result<(), DrawingErrorKind<BitMapError>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitMapError>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<BitMapError>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    /// Thick polylines segment by segment: plotters joins them with
    /// unlimited miters, which spike far out of the plot at sharp turns
    /// (and min/max-thinned series turn sharply all the time).
    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitMapError>> {
        let width = style.stroke_width() as i32;
        if width <= 1 {
            return self.inner.draw_path(path, style);
        }
        // Each segment as `width` one-pixel lines side by side, shifted
        // across the segment's main direction: cheap and join-free.
        let thin = Thin(style.color());
        let mut prev: Option<BackendCoord> = None;
        for p in path {
            if let Some(q) = prev.filter(|q| *q != p) {
                let steep = (p.1 - q.1).abs() > (p.0 - q.0).abs();
                for k in 0..width {
                    let off = k - (width - 1) / 2;
                    let (dx, dy) = if steep { (off, 0) } else { (0, off) };
                    self.inner.draw_line((q.0 + dx, q.1 + dy), (p.0 + dx, p.1 + dy), &thin)?;
                }
            }
            prev = Some(p);
        }
        Ok(())
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<BitMapError>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<BitMapError>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<BitMapError>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<BitMapError>> {
        let size = style.size() as f32;
        Ok((Self::advance(self.face(style), size, text).ceil() as u32, (size / 1.24) as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<BitMapError>> {
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let size = style.size() as f32;
        let font = self.face(style).clone();
        let width = Self::advance(&font, size, text);
        let height = size / 1.24;
        let dx = match style.anchor().h_pos {
            HPos::Left => 0.0,
            HPos::Right => -width,
            HPos::Center => -width / 2.0,
        };
        let dy = match style.anchor().v_pos {
            VPos::Top => 0.0,
            VPos::Center => -height / 2.0,
            VPos::Bottom => -height,
        };
        let trans = style.transform();
        let (w, h) = self.get_size();
        let scaled = font.as_scaled(PxScale::from(size));
        let (mut caret, mut prev) = (dx, None);
        for c in text.chars() {
            let id = scaled.glyph_id(c);
            if let Some(p) = prev {
                caret += scaled.kern(p, id);
            }
            let glyph = id.with_scale_and_position(PxScale::from(size), point(caret, dy + BASELINE * size));
            caret += scaled.h_advance(id);
            prev = Some(id);
            let Some(outline) = font.outline_glyph(glyph) else { continue };
            let bounds = outline.px_bounds();
            let mut result = Ok(());
            outline.draw(|gx, gy, coverage| {
                let (x, y) = (bounds.min.x as i32 + gx as i32, bounds.min.y as i32 + gy as i32);
                let (x, y) = trans.transform(x, y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if result.is_ok() && coverage > 0.0 && x >= 0 && y >= 0 && x < w as i32 && y < h as i32 {
                    let alpha = color.alpha * f64::from(coverage.min(1.0));
                    result = self.inner.draw_pixel((x, y), BackendColor { alpha, rgb: color.rgb });
                }
            });
            result?;
        }
        Ok(())
    }
}
