//! The latency-by-percentile chart (HdrHistogram-plotter style): corrected and uncorrected
//! spectra on a logarithmic `1/(1−q)` axis, drawn apart when they coincide.

use super::palette::{AMBER, BLUE};
use super::svg::{Axis, Chart, Layer};
use crate::report::model::{LatencyStats, Report, SpectrumPoint};
use crate::report::units;

/// Whether the corrected and uncorrected spectra are the same to within 1% (or 10 µs) at every
/// fixed percentile: then one curve hides the other unless drawn apart, and the page says so.
pub(super) fn curves_coincide(report: &Report) -> bool {
    let (c, u) = (&report.latency.corrected, &report.latency.uncorrected);
    if c.percentiles.is_empty() || c.percentiles.len() != u.percentiles.len() {
        return false;
    }
    c.percentiles.iter().zip(&u.percentiles).all(|(a, b)| {
        let scale = a.ms.abs().max(b.ms.abs());
        (a.ms - b.ms).abs() <= (0.01 * scale).max(0.01)
    })
}

/// Position of quantile `q` on the spectrum's x axis: log10(1 / (1 − q)); `None` at 100%.
fn spectrum_x(q: f64) -> Option<f64> {
    let x = (1.0 / (1.0 - q.clamp(0.0, 1.0))).log10();
    x.is_finite().then_some(x)
}

/// The percentile spectrum, HdrHistogram-plotter style.
pub(super) fn spectrum_chart(report: &Report) -> Option<Chart> {
    let corrected = &report.latency.corrected;
    if corrected.spectrum.is_empty() {
        return None;
    }
    let mut views: Vec<(&LatencyStats, &'static str, bool)> = vec![(corrected, BLUE, false)];
    if units::shows_uncorrected(report) && !report.latency.uncorrected.spectrum.is_empty() {
        views.push((&report.latency.uncorrected, AMBER, true));
    }
    let decades = views
        .iter()
        .flat_map(|(s, _, _)| s.spectrum.iter())
        .filter_map(|p| spectrum_x(p.quantile))
        .fold(2.0_f64, f64::max)
        .ceil()
        .min(12.0);
    let max_ms = views
        .iter()
        .flat_map(|(s, _, _)| s.spectrum.iter())
        .map(|p| p.ms)
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let mut chart = Chart::new(
        percentile_axis(decades),
        Axis::from_zero(max_ms, "latency (ms)"),
    );
    let halo = views.len() > 1 && curves_coincide(report);
    for (stats, color, dashed) in views {
        let at = |p: &SpectrumPoint| spectrum_x(p.quantile).unwrap_or(decades).min(decades);
        if halo && !dashed {
            // Drawn under both lines: the dashed uncorrected line then shows on a band.
            chart.layers.push(Layer::Halo {
                color,
                points: stats.spectrum.iter().map(|p| (at(p), Some(p.ms))).collect(),
            });
        }
        chart.layers.push(Layer::Line {
            color,
            dashed,
            points: stats.spectrum.iter().map(|p| (at(p), Some(p.ms))).collect(),
        });
        let name = if dashed { "uncorrected" } else { "corrected" };
        chart.layers.push(Layer::Dots {
            color,
            points: stats
                .spectrum
                .iter()
                .map(|p| (at(p), p.ms, spectrum_tooltip(name, p)))
                .collect(),
        });
    }
    Some(chart)
}

fn spectrum_tooltip(view: &str, p: &SpectrumPoint) -> String {
    format!(
        "{view}: {:.4}% ≤ {} (count {})",
        p.quantile * 100.0,
        units::latency(p.ms),
        p.total_count
    )
}

/// Ticks at 0%, 90%, 99%, 99.9%, ... up to `decades` nines.
fn percentile_axis(decades: f64) -> Axis {
    let count = decades.max(1.0) as u32;
    let ticks = (0..=count)
        .map(|k| {
            let label = match k {
                0 => "0%".to_owned(),
                1 => "90%".to_owned(),
                2 => "99%".to_owned(),
                _ => format!("99.{}%", "9".repeat(k as usize - 2)),
            };
            (f64::from(k), label)
        })
        .collect();
    Axis {
        min: 0.0,
        max: f64::from(count),
        ticks,
        title: "percentile".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_ticks() {
        let axis = percentile_axis(4.0);
        let labels: Vec<&str> = axis.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
        let x = spectrum_x(0.99).unwrap_or(f64::NAN);
        assert!((x - 2.0).abs() < 1e-9, "{x}");
        assert_eq!(spectrum_x(0.0), Some(0.0));
        assert_eq!(spectrum_x(1.0), None);
    }
}
