//! The charts over time (latency, status codes, throughput, responses by header value), framed
//! by the run's phases and actions, with one hover tooltip per bucket.

use super::buckets::{Bucket, Buckets, max_of};
use super::palette::{AMBER, BLUE, GREEN, RED, SLATE, STATUS_SERIES, group_color};
use super::svg::{Axis, Band, Chart, Layer, Marker};
use crate::report::model::{GroupReport, Report};
use crate::report::units;

/// Responses per second stacked by header value: a failover shows as one color giving way to
/// another.
pub(super) fn group_chart(
    report: &Report,
    groups: &GroupReport,
    buckets: &Buckets,
    labels: &[String],
) -> Option<Chart> {
    if buckets.rows.is_empty() || groups.values.is_empty() {
        return None;
    }
    let top = buckets
        .rows
        .iter()
        .map(|b| b.groups.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let mut chart = time_chart(report, Axis::from_zero(top, "responses per second"));
    let mut floors = vec![0.0; buckets.rows.len()];
    for layer in 0..groups.values.len() {
        let bars = buckets
            .rows
            .iter()
            .zip(floors.iter_mut())
            .filter_map(|(b, floor)| {
                let v = b.groups.get(layer).copied().unwrap_or(0.0);
                let bar = [b.t0, b.t1, *floor, *floor + v];
                *floor += v;
                (v > 0.0).then_some(bar)
            })
            .collect();
        chart.layers.push(Layer::Bars {
            color: group_color(groups, layer),
            bars,
        });
    }
    chart.hovers = hovers(buckets, |b| {
        labels
            .iter()
            .zip(&b.groups)
            .filter(|(_, v)| **v > 0.0)
            .map(|(name, v)| format!("{name} {}", count(*v)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    Some(chart)
}

/// End of the time axis: the last second, phase, action or the planned duration.
fn time_end(report: &Report) -> f64 {
    let timeline = report.timeline.last().map_or(0.0, |s| f64::from(s.t) + 1.0);
    let phases = report.phases.iter().map(|p| p.end_s);
    let actions = report.actions.iter().map(|a| a.fired_at_s.max(a.at_s));
    std::iter::once(timeline)
        .chain(std::iter::once(report.config.duration_s))
        .chain(phases)
        .chain(actions)
        .filter(|v| v.is_finite())
        .fold(1.0, f64::max)
}

/// A time chart's frame: axis, phase bands, action markers.
fn time_chart(report: &Report, y: Axis) -> Chart {
    let mut chart = Chart::new(Axis::time(time_end(report), "time since start"), y);
    if report.phases.len() > 1 {
        chart.bands = report
            .phases
            .iter()
            .map(|p| Band {
                from: p.start_s,
                to: p.end_s,
                label: p.name.clone(),
            })
            .collect();
    }
    chart.markers = report
        .actions
        .iter()
        .map(|a| Marker {
            x: a.fired_at_s,
            label: a.name.clone(),
            title: format!(
                "{} ({}) fired at {}, {}",
                a.name,
                a.kind,
                units::at(a.fired_at_s),
                if a.ok { "ok" } else { "failed" }
            ),
        })
        .collect();
    chart
}

pub(super) fn latency_chart(report: &Report, buckets: &Buckets) -> Option<Chart> {
    if buckets.rows.is_empty() {
        return None;
    }
    let top = max_of(
        buckets
            .rows
            .iter()
            .flat_map(|b| [b.p50, b.p99, b.max])
            .flatten(),
    );
    let mut chart = time_chart(report, Axis::from_zero(top.unwrap_or(0.0), "latency (ms)"));
    for (color, points) in [
        (BLUE, buckets.line(|b| b.p50)),
        (AMBER, buckets.line(|b| b.p99)),
        (RED, buckets.line(|b| b.max)),
    ] {
        chart.layers.push(Layer::Line {
            color,
            dashed: false,
            points,
        });
    }
    chart.hovers = hovers(buckets, |b| {
        format!(
            "p50 {}, p99 {}, max {}",
            units::latency_opt(b.p50),
            units::latency_opt(b.p99),
            units::latency_opt(b.max)
        )
    });
    Some(chart)
}

pub(super) fn status_chart(report: &Report, buckets: &Buckets) -> Option<Chart> {
    if buckets.rows.is_empty() {
        return None;
    }
    let top = buckets
        .rows
        .iter()
        .map(|b| b.stack.iter().sum::<f64>())
        .fold(0.0, f64::max);
    let mut chart = time_chart(report, Axis::from_zero(top, "per second"));
    let mut floors = vec![0.0; buckets.rows.len()];
    for (layer, (_, color)) in STATUS_SERIES.iter().enumerate() {
        let bars = buckets
            .rows
            .iter()
            .zip(floors.iter_mut())
            .filter_map(|(b, floor)| {
                let v = b.stack[layer];
                let bar = [b.t0, b.t1, *floor, *floor + v];
                *floor += v;
                (v > 0.0).then_some(bar)
            })
            .collect();
        chart.layers.push(Layer::Bars { color, bars });
    }
    chart.hovers = hovers(buckets, |b| {
        STATUS_SERIES
            .iter()
            .zip(b.stack)
            .map(|((name, _), v)| format!("{name} {}", count(v)))
            .collect::<Vec<_>>()
            .join(", ")
    });
    Some(chart)
}

pub(super) fn throughput_chart(report: &Report, buckets: &Buckets) -> Option<Chart> {
    if buckets.rows.is_empty() {
        return None;
    }
    let top = buckets
        .rows
        .iter()
        .map(|b| b.sent.max(b.completed).max(b.scheduled.unwrap_or(0.0)))
        .fold(0.0, f64::max);
    let mut chart = time_chart(report, Axis::from_zero(top, "requests per second"));
    let mut lines = vec![
        (BLUE, false, buckets.line(|b| Some(b.sent))),
        (GREEN, false, buckets.line(|b| Some(b.completed))),
    ];
    if buckets.has_scheduled() {
        // Last, dashed, so it stays visible where the others follow it exactly.
        lines.push((SLATE, true, buckets.line(|b| b.scheduled)));
    }
    for (color, dashed, points) in lines {
        chart.layers.push(Layer::Line {
            color,
            dashed,
            points,
        });
    }
    chart.hovers = hovers(buckets, |b| {
        let scheduled = b.scheduled.map(|s| format!("scheduled {}, ", count(s)));
        format!(
            "{}sent {}, completed {}",
            scheduled.unwrap_or_default(),
            count(b.sent),
            count(b.completed)
        )
    });
    Some(chart)
}

/// One hover column per bucket: its time span, then `text`.
fn hovers(buckets: &Buckets, text: impl Fn(&Bucket) -> String) -> Vec<(f64, f64, String)> {
    buckets
        .rows
        .iter()
        .map(|b| {
            let span = if b.t1 - b.t0 > 1.0 {
                format!("{}–{}", units::secs(b.t0), units::secs(b.t1))
            } else {
                units::secs(b.t0)
            };
            (b.t0, b.t1, format!("{span}: {}", text(b)))
        })
        .collect()
}

/// A per-second figure: whole when it is, else one decimal.
fn count(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}
