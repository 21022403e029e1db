//! Inline SVG charts for the HTML report: axes with ticks, lines, stacked bars, shaded bands,
//! vertical markers and hover tooltips (SVG `<title>`); non-finite values are left out.

use std::fmt::Write;

use super::escape::escape;

/// Size of the drawing (the `viewBox`); the page scales it to its width.
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 320.0;
/// Room around the plot for tick labels, axis titles and marker labels.
const LEFT: f64 = 64.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 38.0;
const BOTTOM: f64 = 46.0;
/// Longest marker or band label drawn, in characters (the tooltip has the whole text).
const LABEL_MAX: usize = 28;

/// One axis: its range, the ticks with their labels, and its title.
#[derive(Clone, Debug)]
pub struct Axis {
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<(f64, String)>,
    pub title: String,
}

impl Axis {
    /// A linear axis from 0 to a round number above `max` (with 5% headroom), about five ticks.
    pub fn from_zero(max: f64, title: &str) -> Self {
        let (top, step) = nice_range(max * 1.05);
        let count = (top / step).round().clamp(1.0, 12.0) as u32;
        let ticks = (0..=count)
            .map(|i| {
                let v = f64::from(i) * step;
                (v, tick_label(v))
            })
            .collect();
        Self {
            min: 0.0,
            max: top,
            ticks,
            title: title.to_owned(),
        }
    }

    /// A time axis from 0 to `end` seconds, ticks at round seconds or minutes.
    pub fn time(end: f64, title: &str) -> Self {
        let end = if end.is_finite() && end > 0.0 {
            end
        } else {
            1.0
        };
        let step = time_step(end);
        let count = (end / step).floor().clamp(0.0, 100.0) as u32;
        let ticks = (0..=count)
            .map(|i| {
                let v = f64::from(i) * step;
                (v, time_label(v))
            })
            .collect();
        Self {
            min: 0.0,
            max: end,
            ticks,
            title: title.to_owned(),
        }
    }

    fn span(&self) -> f64 {
        let span = self.max - self.min;
        if span.is_finite() && span > 0.0 {
            span
        } else {
            1.0
        }
    }
}

/// A shaded span of the x axis with a label (a phase).
#[derive(Clone, Debug)]
pub struct Band {
    pub from: f64,
    pub to: f64,
    pub label: String,
}

/// A vertical line at `x` with a label (an action).
#[derive(Clone, Debug)]
pub struct Marker {
    pub x: f64,
    pub label: String,
    /// Tooltip text.
    pub title: String,
}

/// What is drawn inside the plot.
#[derive(Clone, Debug)]
pub enum Layer {
    /// A polyline through `(x, y)`, broken where `y` is `None`.
    Line {
        color: &'static str,
        dashed: bool,
        points: Vec<(f64, Option<f64>)>,
    },
    /// A wide, translucent polyline under a series, so a dashed series drawn on the same
    /// points stays visible as "two lines on top of each other".
    Halo {
        color: &'static str,
        points: Vec<(f64, Option<f64>)>,
    },
    /// Rectangles `(x0, x1, y0, y1)` in data units (stacked bars: the caller stacks).
    Bars {
        color: &'static str,
        bars: Vec<[f64; 4]>,
    },
    /// Points with a tooltip each.
    Dots {
        color: &'static str,
        points: Vec<(f64, f64, String)>,
    },
}

/// A whole chart.
#[derive(Clone, Debug)]
pub struct Chart {
    pub x: Axis,
    pub y: Axis,
    pub bands: Vec<Band>,
    pub markers: Vec<Marker>,
    pub layers: Vec<Layer>,
    /// Hover columns `(x0, x1, tooltip)`, drawn invisibly over the plot.
    pub hovers: Vec<(f64, f64, String)>,
}

impl Chart {
    pub fn new(x: Axis, y: Axis) -> Self {
        Self {
            x,
            y,
            bands: Vec::new(),
            markers: Vec::new(),
            layers: Vec::new(),
            hovers: Vec::new(),
        }
    }

    /// The chart as one `<svg>` element; `label` is its accessible name.
    pub fn render(&self, label: &str) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let _ = write!(
            out,
            "<svg class=\"chart\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{}\">",
            escape(label)
        );
        self.bands(&mut out);
        self.grid(&mut out);
        for layer in &self.layers {
            self.layer(&mut out, layer);
        }
        self.hover_columns(&mut out);
        self.band_labels(&mut out);
        self.markers(&mut out);
        self.axes(&mut out);
        out.push_str("</svg>");
        out
    }

    fn px(&self, x: f64) -> f64 {
        let t = (x - self.x.min) / self.x.span();
        LEFT + t.clamp(0.0, 1.0) * plot_width()
    }

    fn py(&self, y: f64) -> f64 {
        let t = (y - self.y.min) / self.y.span();
        TOP + (1.0 - t.clamp(0.0, 1.0)) * plot_height()
    }

    /// Finite bands with their left and right edges in pixels.
    fn band_edges(&self) -> impl Iterator<Item = (usize, &Band, f64, f64)> {
        self.bands
            .iter()
            .enumerate()
            .filter(|(_, b)| b.from.is_finite() && b.to.is_finite())
            .map(|(i, b)| (i, b, self.px(b.from), self.px(b.to)))
    }

    fn bands(&self, out: &mut String) {
        for (i, _, x0, x1) in self.band_edges() {
            let class = if i % 2 == 0 { "band" } else { "band alt" };
            let _ = write!(
                out,
                "<rect class=\"{class}\" x=\"{x0:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                (x1 - x0).max(0.0),
                plot_height()
            );
        }
    }

    /// Band names, drawn over the data so bars do not hide them.
    fn band_labels(&self, out: &mut String) {
        for (_, band, x0, x1) in self.band_edges() {
            if x1 - x0 <= 40.0 {
                continue;
            }
            let _ = write!(
                out,
                "<text class=\"band-label\" x=\"{:.1}\" y=\"{:.1}\"><title>{}</title>{}</text>",
                x0 + 4.0,
                TOP + 12.0,
                escape(&band.label),
                escape(&shorten(&band.label, LABEL_MAX))
            );
        }
    }

    fn grid(&self, out: &mut String) {
        for (v, _) in &self.y.ticks {
            let y = self.py(*v);
            let _ = write!(
                out,
                "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>",
                LEFT + plot_width()
            );
        }
    }

    fn layer(&self, out: &mut String, layer: &Layer) {
        match layer {
            Layer::Line {
                color,
                dashed,
                points,
            } => self.line(out, color, *dashed, points),
            Layer::Halo { color, points } => self.halo(out, color, points),
            Layer::Bars { color, bars } => self.bars(out, color, bars),
            Layer::Dots { color, points } => self.dots(out, color, points),
        }
    }

    fn line(&self, out: &mut String, color: &str, dashed: bool, points: &[(f64, Option<f64>)]) {
        let dash = if dashed {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        for segment in segments(points) {
            if let [(x, y)] = segment.as_slice() {
                let _ = write!(
                    out,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"{color}\"/>",
                    self.px(*x),
                    self.py(*y)
                );
                continue;
            }
            let path: Vec<String> = segment
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", self.px(*x), self.py(*y)))
                .collect();
            let _ = write!(
                out,
                "<polyline class=\"series\" points=\"{}\" stroke=\"{color}\"{dash}/>",
                path.join(" ")
            );
        }
    }

    fn halo(&self, out: &mut String, color: &str, points: &[(f64, Option<f64>)]) {
        for segment in segments(points) {
            let path: Vec<String> = segment
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1}", self.px(*x), self.py(*y)))
                .collect();
            let _ = write!(
                out,
                "<polyline class=\"halo\" points=\"{}\" stroke=\"{color}\"/>",
                path.join(" ")
            );
        }
    }

    fn bars(&self, out: &mut String, color: &str, bars: &[[f64; 4]]) {
        for [x0, x1, y0, y1] in bars {
            if ![x0, x1, y0, y1].iter().all(|v| v.is_finite()) || y1 <= y0 {
                continue;
            }
            let (left, right) = (self.px(*x0), self.px(*x1));
            let gap = if right - left > 4.0 { 0.5 } else { 0.0 };
            let (top, bottom) = (self.py(*y1), self.py(*y0));
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{top:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>",
                left + gap,
                (right - left - 2.0 * gap).max(0.5),
                (bottom - top).max(0.0)
            );
        }
    }

    fn dots(&self, out: &mut String, color: &str, points: &[(f64, f64, String)]) {
        for (x, y, title) in points {
            if !(x.is_finite() && y.is_finite()) {
                continue;
            }
            let _ = write!(
                out,
                "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{color}\"><title>{}</title></circle>",
                self.px(*x),
                self.py(*y),
                escape(title)
            );
        }
    }

    fn hover_columns(&self, out: &mut String) {
        for (x0, x1, title) in &self.hovers {
            if !(x0.is_finite() && x1.is_finite()) {
                continue;
            }
            let (left, right) = (self.px(*x0), self.px(*x1));
            let _ = write!(
                out,
                "<rect class=\"hover\" x=\"{left:.1}\" y=\"{TOP}\" width=\"{:.1}\" height=\"{:.1}\"><title>{}</title></rect>",
                (right - left).max(0.5),
                plot_height(),
                escape(title)
            );
        }
    }

    fn markers(&self, out: &mut String) {
        for (i, marker) in self.markers.iter().enumerate() {
            if !marker.x.is_finite() {
                continue;
            }
            let x = self.px(marker.x);
            let row = if i % 2 == 0 { TOP - 20.0 } else { TOP - 7.0 };
            let (anchor, dx) = if x > LEFT + plot_width() * 0.75 {
                ("end", -3.0)
            } else {
                ("start", 3.0)
            };
            let _ = write!(
                out,
                "<g class=\"marker\"><title>{}</title>\
                 <line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
                 <text x=\"{:.1}\" y=\"{row:.1}\" text-anchor=\"{anchor}\">{}</text></g>",
                escape(&marker.title),
                row - 9.0,
                TOP + plot_height(),
                x + dx,
                escape(&shorten(&marker.label, LABEL_MAX))
            );
        }
    }

    fn axes(&self, out: &mut String) {
        let bottom = TOP + plot_height();
        let right = LEFT + plot_width();
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{right}\" y1=\"{bottom}\" y2=\"{bottom}\"/>\
             <line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{bottom}\"/>"
        );
        for (v, label) in &self.x.ticks {
            let x = self.px(*v);
            let _ = write!(
                out,
                "<line class=\"axis\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{bottom}\" y2=\"{:.1}\"/>\
                 <text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                bottom + 5.0,
                bottom + 18.0,
                escape(label)
            );
        }
        for (v, label) in &self.y.ticks {
            let y = self.py(*v);
            let _ = write!(
                out,
                "<text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                LEFT - 6.0,
                y + 4.0,
                escape(label)
            );
        }
        let _ = write!(
            out,
            "<text class=\"axis-title\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\
             <text class=\"axis-title\" transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
            LEFT + plot_width() / 2.0,
            HEIGHT - 8.0,
            escape(&self.x.title),
            TOP + plot_height() / 2.0,
            escape(&self.y.title)
        );
    }
}

fn plot_width() -> f64 {
    WIDTH - LEFT - RIGHT
}

fn plot_height() -> f64 {
    HEIGHT - TOP - BOTTOM
}

/// Runs of consecutive points with a finite `y` (and `x`).
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    for (x, y) in points {
        match y {
            Some(y) if y.is_finite() && x.is_finite() => current.push((*x, *y)),
            _ => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A round top at or above `max` and the tick step (1, 2, 2.5 or 5 times a power of ten).
pub fn nice_range(max: f64) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let top = (max / step).ceil() * step;
    if top.is_finite() && step.is_finite() && step > 0.0 {
        (top, step)
    } else {
        (max, max)
    }
}

/// A tick value, short: `0`, `2.5`, `250`, `1.5k`, `20M`, `1.0e18`.
pub fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a >= 1e15 {
        format!("{v:.1e}")
    } else if a >= 1e9 {
        format!("{}G", trim(v / 1e9))
    } else if a >= 1e6 {
        format!("{}M", trim(v / 1e6))
    } else if a >= 1e4 {
        format!("{}k", trim(v / 1e3))
    } else {
        trim(v)
    }
}

/// At most three decimals, trailing zeros dropped.
fn trim(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".to_owned()
    } else {
        s.to_owned()
    }
}

/// A tick step in seconds giving at most about ten ticks up to `end`.
fn time_step(end: f64) -> f64 {
    const STEPS: [f64; 16] = [
        1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0,
        10800.0, 21600.0,
    ];
    STEPS
        .iter()
        .copied()
        .find(|s| end / s <= 10.0)
        .unwrap_or_else(|| (end / 10.0 / 3600.0).ceil() * 3600.0)
}

/// A time tick: `45s`, `2m`, `2m30s`, `1h`, `1h30m`.
fn time_label(s: f64) -> String {
    let whole = s.round() as u64;
    let (h, m, sec) = (whole / 3600, whole / 60 % 60, whole % 60);
    match (h, m, sec) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, 0, 0) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m}m"),
    }
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ranges() {
        assert_eq!(nice_range(0.0), (1.0, 0.2));
        assert_eq!(nice_range(97.0), (100.0, 20.0));
        assert_eq!(nice_range(11.0), (12.5, 2.5));
        let (top, step) = nice_range(f64::MAX);
        assert!(top.is_finite() && step.is_finite());
        assert_eq!(nice_range(f64::NAN), (1.0, 0.2));
    }

    #[test]
    fn ticks_and_labels() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(2.5), "2.5");
        assert_eq!(tick_label(15_000.0), "15k");
        assert_eq!(tick_label(2e7), "20M");
        assert_eq!(time_label(150.0), "2m30s");
        assert_eq!(time_label(5400.0), "1h30m");
        let axis = Axis::time(10.0, "time");
        assert_eq!(axis.ticks.len(), 11);
        let day = Axis::time(86_400.0, "time");
        assert!(day.ticks.len() <= 11, "{}", day.ticks.len());
    }

    #[test]
    fn segments_break_at_gaps() {
        let points = [
            (0.0, Some(1.0)),
            (1.0, None),
            (2.0, Some(2.0)),
            (3.0, Some(f64::NAN)),
        ];
        assert_eq!(segments(&points), vec![vec![(0.0, 1.0)], vec![(2.0, 2.0)]]);
    }
}
