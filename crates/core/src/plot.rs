//! Plots written as PNG (or SVG, chosen by the file extension): line plots for curves and
//! heatmaps (with optional trajectories on top) for landscapes and decision regions.
//! Text uses an embedded DejaVu Sans Mono, so no system font library is needed.

use crate::error::Error;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSansMono.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            if plotters::style::register_font("sans-serif", style, FONT).is_err() {
                panic!("the embedded font assets/DejaVuSansMono.ttf is not a valid font");
            }
        }
    });
}

/// One named curve.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Series {
    /// Legend entry; empty for none.
    pub label: String,
    /// `(x, y)` points, joined in order.
    pub points: Vec<(f64, f64)>,
    /// Colour: an index into the plot's colours (so that related series can share one); `None`:
    /// the series' position in the plot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colour: Option<usize>,
}

impl Series {
    /// A series from its label and points.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
            colour: None,
        }
    }

    /// This series drawn in colour `index` (see [`Series::colour`]).
    pub fn with_colour(mut self, index: usize) -> Self {
        self.colour = Some(index);
        self
    }
}

/// A line plot of several series.
#[derive(Debug, Clone, Default)]
pub struct LinePlot {
    /// Caption above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The curves, coloured by [`palette`] in order.
    pub series: Vec<Series>,
    /// Plot log10 of y (values ≤ 0 are dropped).
    pub log_y: bool,
    /// Fixed y range; computed from the data when `None`.
    pub y_range: Option<(f64, f64)>,
}

/// A scalar field over a rectangle, drawn as coloured cells, with optional overlays.
#[derive(Debug, Clone, Default)]
pub struct Heatmap {
    /// Caption above the plot.
    pub title: String,
    /// Label of the x axis.
    pub x_label: String,
    /// Label of the y axis.
    pub y_label: String,
    /// The rectangle's extent along x; columns split it evenly.
    pub x_range: (f64, f64),
    /// The rectangle's extent along y; rows split it evenly.
    pub y_range: (f64, f64),
    /// `values[row][col]`, row 0 at the bottom (`y_range.0`).
    pub values: Vec<Vec<f64>>,
    /// Curves drawn over the field (trajectories).
    pub lines: Vec<Series>,
    /// Points drawn over the field, one colour per class index.
    pub points: Vec<(f64, f64, usize)>,
    /// Use a categorical palette (decision regions) instead of a continuous colour map.
    pub categorical: bool,
}

/// Distinct colours for series and classes.
pub fn palette(i: usize) -> RGBColor {
    const P: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    P[i % P.len()]
}

/// Viridis-like continuous colour map on [0, 1].
pub fn colormap(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() { t.clamp(0.0, 1.0) } else { 1.0 };
    let x = t * (STOPS.len() - 1) as f64;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let lerp = |p: f64, q: f64| (p + (q - p) * f).round() as u8;
    RGBColor(lerp(a.0, b.0), lerp(a.1, b.1), lerp(a.2, b.2))
}

fn err(path: &Path) -> impl Fn(String) -> Error + '_ {
    move |message| Error::Plot {
        path: path.display().to_string(),
        message,
    }
}

fn with_backend(
    path: &Path,
    size: (u32, u32),
    draw: impl Fn(DrawingArea<BitMapBackend, Shift>) -> Result<(), String>,
    draw_svg: impl Fn(DrawingArea<SVGBackend, Shift>) -> Result<(), String>,
) -> Result<(), Error> {
    register_font();
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| err(path)(e.to_string()))?;
    }
    let svg = path.extension().is_some_and(|e| e == "svg");
    let result = if svg {
        draw_svg(SVGBackend::new(path, size).into_drawing_area())
    } else {
        draw(BitMapBackend::new(path, size).into_drawing_area())
    };
    result.map_err(err(path))
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        return (lo - 0.5, hi + 0.5);
    }
    let pad = 0.05 * (hi - lo);
    (lo - pad, hi + pad)
}

fn draw_lines<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, plot: &LinePlot) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let series: Vec<Series> = plot
        .series
        .iter()
        .map(|s| Series {
            label: s.label.clone(),
            colour: s.colour,
            points: s
                .points
                .iter()
                .filter(|(_, y)| !plot.log_y || *y > 0.0)
                .map(|&(x, y)| (x, if plot.log_y { y.log10() } else { y }))
                .collect(),
        })
        .collect();
    let (x0, x1) = bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.0)));
    let (y0, y1) = match plot.y_range {
        Some(r) => r,
        None => bounds(series.iter().flat_map(|s| s.points.iter().map(|p| p.1))),
    };
    let y_label = if plot.log_y {
        format!("log10 {}", plot.y_label)
    } else {
        plot.y_label.clone()
    };
    let mut chart = ChartBuilder::on(&root)
        .caption(&plot.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .x_desc(&plot.x_label)
        .y_desc(y_label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|x| e(&x))?;
    for (i, s) in series.iter().enumerate() {
        let color = palette(s.colour.unwrap_or(i));
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    if series.iter().any(|s| !s.label.is_empty()) {
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 13))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))
}

fn draw_heatmap<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, map: &Heatmap) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Display| x.to_string();
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let (x0, x1) = map.x_range;
    let (y0, y1) = map.y_range;
    let mut chart = ChartBuilder::on(&root)
        .caption(&map.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|x| e(&x))?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(&map.x_label)
        .y_desc(&map.y_label)
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|x| e(&x))?;
    let rows = map.values.len();
    let cols = map.values.first().map_or(0, |r| r.len());
    let (lo, hi) = bounds(map.values.iter().flatten().copied());
    let (dx, dy) = ((x1 - x0) / cols.max(1) as f64, (y1 - y0) / rows.max(1) as f64);
    chart
        .draw_series(map.values.iter().enumerate().flat_map(|(r, row)| {
            row.iter().enumerate().map(move |(c, &v)| {
                let color = if map.categorical {
                    let base = palette(v.max(0.0) as usize);
                    RGBColor(
                        (base.0 as f64 * 0.45 + 140.0) as u8,
                        (base.1 as f64 * 0.45 + 140.0) as u8,
                        (base.2 as f64 * 0.45 + 140.0) as u8,
                    )
                } else {
                    colormap((v - lo) / (hi - lo))
                };
                let (cx, cy) = (x0 + c as f64 * dx, y0 + r as f64 * dy);
                Rectangle::new([(cx, cy), (cx + dx, cy + dy)], color.filled())
            })
        }))
        .map_err(|x| e(&x))?;
    for (i, s) in map.lines.iter().enumerate() {
        let k = s.colour.unwrap_or(i);
        let color = if map.categorical {
            palette(k)
        } else {
            [RED, WHITE, BLACK, MAGENTA][k % 4]
        };
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(|x| e(&x))?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    chart
        .draw_series(
            map.points
                .iter()
                .map(|&(x, y, k)| Circle::new((x, y), 2, palette(k).filled())),
        )
        .map_err(|x| e(&x))?;
    if !map.lines.is_empty() {
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 13))
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()
            .map_err(|x| e(&x))?;
    }
    root.present().map_err(|x| e(&x))
}

/// Writes a line plot to `path` (`.png` or `.svg`).
pub fn line_plot(path: &Path, plot: &LinePlot) -> Result<(), Error> {
    with_backend(path, (800, 500), |r| draw_lines(r, plot), |r| draw_lines(r, plot))
}

/// Writes a heatmap to `path` (`.png` or `.svg`).
pub fn heatmap(path: &Path, map: &Heatmap) -> Result<(), Error> {
    with_backend(
        path,
        (700, 600),
        |r| draw_heatmap(r, map),
        |r| draw_heatmap(r, map),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The RGB pixels of a PNG file, with its width and height.
    fn decode_png(path: &Path) -> image::RgbImage {
        let bytes = std::fs::read(path).unwrap();
        image::load_from_memory_with_format(&bytes, image::ImageFormat::Png)
            .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()))
            .to_rgb8()
    }

    /// `(column, row)` of every pixel of exactly `color`.
    fn pixels_of(img: &image::RgbImage, color: RGBColor) -> Vec<(u32, u32)> {
        img.enumerate_pixels()
            .filter(|(_, _, p)| p.0 == [color.0, color.1, color.2])
            .map(|(x, y, _)| (x, y))
            .collect()
    }

    /// The points of every SVG `<polyline>` stroked in `color`.
    fn svg_polylines(svg: &str, color: RGBColor) -> Vec<Vec<(f64, f64)>> {
        let stroke = format!("stroke=\"#{:02X}{:02X}{:02X}\"", color.0, color.1, color.2);
        svg.split("<polyline")
            .skip(1)
            .map(|tag| &tag[..tag.find("/>").unwrap()])
            .filter(|tag| tag.contains(&stroke))
            .map(|tag| {
                let points = tag.split("points=\"").nth(1).unwrap();
                points[..points.find('"').unwrap()]
                    .split_whitespace()
                    .map(|xy| {
                        let (x, y) = xy.split_once(',').unwrap();
                        (x.parse().unwrap(), y.parse().unwrap())
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn writes_png_and_svg_files() {
        let dir = tempfile::tempdir().unwrap();
        // rising from 0 to 0.9: bottom left to top right
        let plot = LinePlot {
            title: "accuracy".into(),
            x_label: "epoch".into(),
            y_label: "acc".into(),
            series: vec![Series::new(
                "clean",
                (0..10).map(|i| (i as f64, 1.0 - 1.0 / (i + 1) as f64)).collect(),
            )],
            ..Default::default()
        };
        let png = dir.path().join("a.png");
        line_plot(&png, &plot).unwrap();
        let img = decode_png(&png);
        assert_eq!(img.dimensions(), (800, 500));
        let (w, h) = img.dimensions();
        let line = pixels_of(&img, palette(0));
        // the curve (a 2-pixel line over most of the plot), not just the 20-pixel legend entry
        assert!(line.len() > 1000, "{} pixels of the series' colour", line.len());
        let (left, _) = *line.iter().min().unwrap();
        let (right, _) = *line.iter().max().unwrap();
        assert!(
            left < w / 4 && right > 3 * w / 4,
            "the curve spans columns {left}..{right}"
        );
        let rows_at = |col: u32| line.iter().filter(move |p| p.0 == col).map(|p| p.1);
        assert!(
            rows_at(left).all(|r| r > h / 2),
            "the curve starts in the lower half"
        );
        assert!(line.iter().any(|p| p.1 < h / 4), "the curve ends near the top");
        // the rest is drawn too: white background, dark axes and text
        assert_eq!(img.get_pixel(0, 0).0, [255, 255, 255]);
        assert!(img.pixels().filter(|p| p.0.iter().all(|&c| c < 64)).count() > 500);

        let svg = dir.path().join("a.svg");
        line_plot(&svg, &plot).unwrap();
        let text = std::fs::read_to_string(&svg).unwrap();
        assert!(text.contains("accuracy") && text.contains("clean"));
        let lines = svg_polylines(&text, palette(0));
        let curve = lines
            .iter()
            .find(|l| l.len() == 10)
            .unwrap_or_else(|| panic!("no 10-point polyline in the series' colour: {lines:?}"));
        // x increases and, as y rises, the SVG row (downwards) decreases
        assert!(
            curve.windows(2).all(|p| p[1].0 > p[0].0 && p[1].1 < p[0].1),
            "{curve:?}"
        );

        let map = Heatmap {
            title: "field".into(),
            x_range: (-1.0, 1.0),
            y_range: (-1.0, 1.0),
            values: (0..20)
                .map(|r| (0..20).map(|c| (r * c) as f64).collect())
                .collect(),
            lines: vec![Series::new("path", vec![(0.0, 0.0), (0.5, 0.5)])],
            points: vec![(0.1, 0.1, 1)],
            ..Default::default()
        };
        let hpng = dir.path().join("h.png");
        heatmap(&hpng, &map).unwrap();
        let img = decode_png(&hpng);
        assert_eq!(img.dimensions(), (700, 600));
        // the cells of the field's minimum (row or column 0) and of its maximum (the top right
        // cell) in their colours; the lowest cells lie below and left of the highest
        let (lo, hi) = bounds(map.values.iter().flatten().copied());
        let shade = |v: f64| colormap((v - lo) / (hi - lo));
        let (low, high) = (pixels_of(&img, shade(0.0)), pixels_of(&img, shade(361.0)));
        assert!(
            low.len() > 1000 && high.len() > 100,
            "{} and {} pixels",
            low.len(),
            high.len()
        );
        let mean = |p: &[(u32, u32)]| {
            let n = p.len() as f64;
            let (x, y) = p
                .iter()
                .fold((0.0, 0.0), |(x, y), q| (x + q.0 as f64, y + q.1 as f64));
            (x / n, y / n)
        };
        let ((lx, ly), (hx, hy)) = (mean(&low), mean(&high));
        assert!(
            hx > lx && hy < ly,
            "low cells around ({lx}, {ly}), high ones around ({hx}, {hy})"
        );
        assert!(pixels_of(&img, RED).len() > 50, "the trajectory is drawn");
    }

    #[test]
    fn series_can_share_a_colour() {
        let dir = tempfile::tempdir().unwrap();
        let line = |y: f64| (0..10).map(|i| (i as f64, y + i as f64)).collect::<Vec<_>>();
        let plot = LinePlot {
            series: vec![
                Series::new("a s0", line(0.0)),
                Series::new("b s0", line(5.0)),
                Series::new("a s1", line(10.0)).with_colour(0),
            ],
            ..Default::default()
        };
        let png = dir.path().join("c.png");
        line_plot(&png, &plot).unwrap();
        let img = decode_png(&png);
        let (first, second, third) = (
            pixels_of(&img, palette(0)).len(),
            pixels_of(&img, palette(1)).len(),
            pixels_of(&img, palette(2)).len(),
        );
        // the third series is drawn in the first one's colour: twice its pixels, none of its own
        assert!(third == 0 && first > 3 * second / 2, "{first} {second} {third}");
    }

    #[test]
    fn colormap_endpoints_and_nan() {
        assert_eq!(colormap(0.0), RGBColor(68, 1, 84));
        assert_eq!(colormap(1.0), RGBColor(253, 231, 37));
        assert_eq!(colormap(f64::NAN), colormap(1.0));
    }
}
