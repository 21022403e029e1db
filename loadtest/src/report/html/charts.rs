//! The charts section: each figure with its heading, note and legend, or a line saying it has
//! nothing to show.

use std::fmt::Write;

use super::buckets::Buckets;
use super::escape::escape;
use super::palette::{AMBER, BLUE, GREEN, RED, SLATE, STATUS_SERIES, group_color};
use super::spectrum::{curves_coincide, spectrum_chart};
use super::svg::Chart;
use super::timeline::{group_chart, latency_chart, status_chart, throughput_chart};
use crate::report::model::Report;
use crate::report::units;

/// A legend entry: label, color, dashed.
type LegendItem<'a> = (&'a str, &'static str, bool);

/// One chart with what goes around it.
struct Figure {
    name: &'static str,
    note: String,
    legend: Vec<LegendItem<'static>>,
    chart: Option<Chart>,
    empty: &'static str,
}

/// The four charts.
pub(super) fn charts(out: &mut String, report: &Report) {
    let buckets = Buckets::of(&report.timeline);
    let per = buckets.per_label();
    let spectrum_note = if !units::shows_uncorrected(report) {
        "recorded latency; x logarithmic in 1/(1−q)"
    } else if curves_coincide(report) {
        "corrected (from the scheduled send time) and uncorrected coincide (requests seldom \
         waited for a connection): the dashed uncorrected curve lies on the corrected one's \
         band; x logarithmic in 1/(1−q)"
    } else {
        "corrected (from the scheduled send time) and uncorrected; x logarithmic in 1/(1−q)"
    };
    let figures = [
        Figure {
            name: "Latency by percentile",
            note: spectrum_note.to_owned(),
            legend: spectrum_legend(report),
            chart: spectrum_chart(report),
            empty: "No responses recorded.",
        },
        Figure {
            name: "Latency over time",
            note: format!("corrected, of the responses that arrived in each {per}"),
            legend: vec![
                ("p50", BLUE, false),
                ("p99", AMBER, false),
                ("max", RED, false),
            ],
            chart: latency_chart(report, &buckets),
            empty: "Empty timeline.",
        },
        Figure {
            name: "Status codes over time",
            note: format!("responses and transport errors per second, stacked, by {per}"),
            legend: status_legend(&buckets),
            chart: status_chart(report, &buckets),
            empty: "Empty timeline.",
        },
        Figure {
            name: "Throughput over time",
            note: format!("requests per second, by {per}"),
            legend: throughput_legend(&buckets),
            chart: throughput_chart(report, &buckets),
            empty: "Empty timeline.",
        },
    ];
    for f in figures {
        let svg = f.chart.map(|c| c.render(f.name));
        figure(out, f.name, &f.note, &f.legend, svg, f.empty);
    }
    if let Some(groups) = &report.group_by {
        let name = format!("Responses by {}", groups.header);
        let labels: Vec<String> = (0..groups.values.len())
            .map(|i| units::group_label(groups, i))
            .collect();
        let legend: Vec<(&str, &str, bool)> = labels
            .iter()
            .enumerate()
            .map(|(i, label)| (label.as_str(), group_color(groups, i), false))
            .collect();
        let svg = group_chart(report, groups, &buckets, &labels).map(|c| c.render(&name));
        figure(
            out,
            &name,
            &format!("responses per second by the value of the header, stacked, by {per}"),
            &legend,
            svg,
            "No responses.",
        );
    }
}

/// One chart with its heading, note and legend, or `empty` when it has nothing to show.
fn figure(
    out: &mut String,
    name: &str,
    note: &str,
    legend: &[LegendItem<'_>],
    svg: Option<String>,
    empty: &str,
) {
    let _ = write!(
        out,
        "<section class=\"figure\"><h2>{}</h2><p class=\"note\">{}</p><ul class=\"legend\">",
        escape(name),
        escape(note)
    );
    for (label, color, dashed) in legend {
        let style = if *dashed { "dashed" } else { "solid" };
        let _ = write!(
            out,
            "<li><span class=\"swatch\" style=\"border-top: 3px {style} {color}\"></span>{}</li>",
            escape(label)
        );
    }
    out.push_str("</ul>");
    match svg {
        Some(svg) => out.push_str(&svg),
        None => {
            let _ = write!(out, "<p class=\"empty\">{}</p>", escape(empty));
        }
    }
    out.push_str("</section>");
}

fn spectrum_legend(report: &Report) -> Vec<LegendItem<'static>> {
    if !units::shows_uncorrected(report) {
        vec![("latency", BLUE, false)]
    } else if curves_coincide(report) {
        vec![
            ("corrected (wide band)", BLUE, false),
            ("uncorrected (dashed, on it)", AMBER, true),
        ]
    } else {
        vec![("corrected", BLUE, false), ("uncorrected", AMBER, true)]
    }
}

fn status_legend(buckets: &Buckets) -> Vec<LegendItem<'static>> {
    STATUS_SERIES
        .iter()
        .filter(|(name, _)| *name != "1xx/3xx" || buckets.has_other_status())
        .map(|(name, color)| (*name, *color, false))
        .collect()
}

fn throughput_legend(buckets: &Buckets) -> Vec<LegendItem<'static>> {
    let mut legend = vec![("sent", BLUE, false), ("completed", GREEN, false)];
    if buckets.has_scheduled() {
        legend.push(("scheduled", SLATE, true));
    }
    legend
}
