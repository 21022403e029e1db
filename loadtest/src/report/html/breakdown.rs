//! The results broken down by target, by `--group-by-header` value and by phase, one table each.

use super::cards::severity;
use super::tables::table;
use crate::report::model::{Report, Summary};
use crate::report::units;

/// Each target as configured (weight, share) and what it got: requests, statuses, latency.
pub(super) fn targets(out: &mut String, report: &Report) {
    let total = units::total_weight(report);
    let rows: Vec<(&str, Vec<String>)> = report
        .config
        .targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let result = report.targets.get(i);
            let summary = result.map(|r| &r.summary);
            let latency =
                |p: f64| units::latency_opt(result.and_then(|r| units::percentile(&r.latency, p)));
            let count = |f: fn(&Summary) -> u64| {
                summary.map_or_else(|| "-".to_owned(), |s| f(s).to_string())
            };
            let cells = vec![
                t.method.clone(),
                t.url.clone(),
                t.weight.to_string(),
                units::share(t.weight, total),
                count(|s| s.sent),
                count(|s| s.completed),
                latency(50.0),
                latency(99.0),
                latency(99.9),
                summary.map_or_else(|| "-".to_owned(), |s| units::percent(s.error_rate)),
                summary.map_or_else(String::new, statuses),
            ];
            (summary.map_or("", |s| severity(s.error_rate)), cells)
        })
        .collect();
    table(
        out,
        "Targets",
        &[
            "Method",
            "URL",
            "Weight#",
            "Share#",
            "Sent#",
            "Completed#",
            "p50#",
            "p99#",
            "p99.9#",
            "Errors#",
            "Statuses",
        ],
        &rows,
    );
}

/// `2xx 300, 5xx 2, failed 1`: the non-zero status classes and the requests without a response.
fn statuses(s: &Summary) -> String {
    let e = &s.errors;
    let failed = [e.connect, e.timeout, e.io, e.protocol]
        .into_iter()
        .fold(0, u64::saturating_add);
    units::status_items(&s.status)
        .into_iter()
        .chain(std::iter::once(("failed", failed)))
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Responses by `--group-by-header` value, with the seconds each value answered in.
pub(super) fn groups(out: &mut String, report: &Report) {
    let Some(groups) = &report.group_by else {
        return;
    };
    let total: u64 = groups.values.iter().map(|v| v.responses).sum();
    let rows: Vec<(&str, Vec<String>)> = groups
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let share = if total == 0 {
                0.0
            } else {
                v.responses as f64 / total as f64
            };
            let span = units::seconds_seen(report, i)
                .map_or_else(|| "-".to_owned(), |(a, b)| format!("{a}s – {b}s"));
            let summary = Summary {
                status: v.status,
                ..Summary::default()
            };
            let cells = vec![
                units::group_label(groups, i),
                v.responses.to_string(),
                units::percent(share),
                span,
                statuses(&summary),
            ];
            ("", cells)
        })
        .collect();
    table(
        out,
        &format!("Responses by {}", groups.header),
        &["Value", "Responses#", "Share#", "Seconds", "Statuses"],
        &rows,
    );
}

pub(super) fn phases(out: &mut String, report: &Report) {
    if report.phases.is_empty() {
        return;
    }
    let rows: Vec<(&str, Vec<String>)> = report
        .phases
        .iter()
        .map(|p| {
            let lat = &p.latency.corrected;
            let s = &p.summary;
            let cells = vec![
                p.name.clone(),
                p.kind.clone(),
                format!("{} – {}", units::secs(p.start_s), units::secs(p.end_s)),
                units::phase_rate(p.rate_from, p.rate_to),
                s.sent.to_string(),
                s.completed.to_string(),
                units::rate(s.throughput),
                units::latency_opt(units::percentile(lat, 50.0)),
                units::latency_opt(units::percentile(lat, 99.0)),
                units::latency_opt(units::percentile(lat, 99.9)),
                units::percent(s.error_rate),
            ];
            (severity(s.error_rate), cells)
        })
        .collect();
    table(
        out,
        "Phases",
        &[
            "Phase",
            "Kind",
            "Span",
            "Rate (req/s)#",
            "Sent#",
            "Completed#",
            "Req/s#",
            "p50#",
            "p99#",
            "p99.9#",
            "Errors#",
        ],
        &rows,
    );
}
