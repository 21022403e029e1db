//! The wrk2-style text summary of a `Report` (printed on stdout at the end of a run); total:
//! any report renders, missing figures print as `-`.
//!
//! The summary comes first (what ran, latency, totals, per target, per group, phases, actions,
//! recoveries, assertions); the long percentile spectrum only on request, at the end.

use std::fmt::Write;

use super::model::{LatencyStats, Model, Report, SpectrumPoint, StatusCounts, Summary};
use super::units;

/// Longest action detail shown, in characters.
const DETAIL_MAX: usize = 60;
/// Longest header value shown in the groups table, in characters.
const VALUE_MAX: usize = 40;

/// What the text shows beyond the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// wrk2's detailed percentile spectrum, after everything else.
    pub spectrum: bool,
}

/// The whole text summary, ending with a newline.
pub fn render_text(report: &Report, options: &Options) -> String {
    let mut out = String::new();
    header(&mut out, report);
    stats(&mut out, report);
    distribution(&mut out, report);
    totals(&mut out, report);
    targets(&mut out, report);
    groups(&mut out, report);
    phases(&mut out, report);
    actions(&mut out, report);
    recoveries(&mut out, report);
    assertions(&mut out, report);
    if options.spectrum {
        spectrum(&mut out, &report.latency.corrected);
    }
    out
}

/// What was run: scenario, targets, threads and connections, model and rate.
fn header(out: &mut String, report: &Report) {
    let config = &report.config;
    if let Some(name) = &config.scenario {
        let _ = writeln!(out, "Scenario: {}", clean(name));
    }
    let duration = units::secs(config.duration_s);
    match config.targets.as_slice() {
        [one] => {
            let _ = writeln!(out, "Running {duration} test @ {}", clean(&one.url));
        }
        targets => {
            let _ = writeln!(out, "Running {duration} test @ {} targets", targets.len());
            target_table(out, report);
        }
    }
    let http = match config.http {
        super::model::HttpVersion::Http1 => "HTTP/1.1",
        super::model::HttpVersion::Http2 => "HTTP/2",
    };
    let _ = writeln!(
        out,
        "  {} threads and {} connections ({http}, {} in flight at most), timeout {}",
        config.threads,
        config.connections,
        config.concurrency,
        units::latency(config.timeout_ms)
    );
    let _ = write!(out, "  {}", units::model_name(config.model));
    if let Some(rates) = units::schedule_rates(report) {
        let _ = write!(out, ", {}", clean(&rates));
    }
    let _ = writeln!(out);
}

fn target_table(out: &mut String, report: &Report) {
    let total = units::total_weight(report);
    let rows: Vec<Vec<String>> = report
        .config
        .targets
        .iter()
        .map(|t| {
            vec![
                clean(&t.method),
                clean(&t.url),
                format!("weight {}", t.weight),
                format!("({})", units::share(t.weight, total)),
            ]
        })
        .collect();
    table(out, "  ", &rows, &[]);
}

/// wrk's "Thread Stats" block: latency and requests per second (mean, stdev, max, +/- stdev).
fn stats(out: &mut String, report: &Report) {
    let lat = &report.latency.corrected;
    let _ = writeln!(
        out,
        "  {:<10}{:>10}{:>10}{:>10}{:>12}",
        "Run Stats", "Avg", "Stdev", "Max", "+/- Stdev"
    );
    let latency = if lat.count == 0 {
        [
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
        ]
    } else {
        [
            units::latency(lat.mean_ms),
            units::latency(lat.stdev_ms),
            units::latency(lat.max_ms),
            within_stdev(&lat.spectrum, lat.mean_ms, lat.stdev_ms)
                .map_or_else(|| "-".to_owned(), units::percent),
        ]
    };
    stats_line(out, "Latency", &latency);
    stats_line(out, "Req/Sec", &per_second(report));
}

fn stats_line(out: &mut String, name: &str, cells: &[String; 4]) {
    let _ = writeln!(
        out,
        "    {name:<8}{:>10}{:>10}{:>10}{:>12}",
        cells[0], cells[1], cells[2], cells[3]
    );
}

/// Mean, stdev, max of the responses per second, and the share of seconds within one stdev.
fn per_second(report: &Report) -> [String; 4] {
    let values: Vec<f64> = report.timeline.iter().map(|s| s.completed as f64).collect();
    if values.is_empty() {
        return [
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
        ];
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let stdev = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let max = values.iter().copied().fold(0.0, f64::max);
    let within = values.iter().filter(|v| (*v - mean).abs() <= stdev).count() as f64 / n;
    [
        units::metric(mean),
        units::metric(stdev),
        units::metric(max),
        units::percent(within),
    ]
}

/// Share of the recorded latencies within one standard deviation of the mean, read off the
/// spectrum (linear between its points).
fn within_stdev(spectrum: &[SpectrumPoint], mean: f64, stdev: f64) -> Option<f64> {
    if spectrum.is_empty() || !mean.is_finite() || !stdev.is_finite() {
        return None;
    }
    let share = quantile_at(spectrum, mean + stdev) - quantile_at(spectrum, mean - stdev);
    Some(share.clamp(0.0, 1.0))
}

/// The quantile of `ms` in `spectrum` (points sorted by value).
fn quantile_at(spectrum: &[SpectrumPoint], ms: f64) -> f64 {
    let Some(i) = spectrum.iter().position(|p| p.ms >= ms) else {
        return 1.0;
    };
    let Some(prev) = i.checked_sub(1).and_then(|j| spectrum.get(j)) else {
        return 0.0;
    };
    let next = spectrum[i];
    let span = next.ms - prev.ms;
    if span <= 0.0 {
        return next.quantile;
    }
    prev.quantile + (next.quantile - prev.quantile) * (ms - prev.ms) / span
}

/// The fixed percentiles, corrected and (open model) uncorrected side by side.
fn distribution(out: &mut String, report: &Report) {
    let _ = writeln!(
        out,
        "  Latency Distribution (HdrHistogram - Recorded Latency)"
    );
    let both = units::shows_uncorrected(report);
    if both {
        let _ = writeln!(out, "{:>8}{:>13}{:>13}", "", "corrected", "uncorrected");
    }
    let views = &report.latency;
    for p in units::KEY_PERCENTILES {
        let corrected = units::latency_opt(units::percentile(&views.corrected, p));
        let _ = write!(out, "{p:7.3}%{corrected:>13}");
        if both {
            let uncorrected = units::latency_opt(units::percentile(&views.uncorrected, p));
            let _ = write!(out, "{uncorrected:>13}");
        }
        let _ = writeln!(out);
    }
}

/// wrk2's "Detailed Percentile spectrum" of one latency view.
fn spectrum(out: &mut String, stats: &LatencyStats) {
    let _ = writeln!(out, "\nDetailed Percentile spectrum (corrected, ms):");
    if stats.spectrum.is_empty() {
        let _ = writeln!(out, "  (no responses recorded)");
    } else {
        let _ = writeln!(
            out,
            "{:>12} {:>12} {:>12} {:>16}\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        for p in &stats.spectrum {
            spectrum_line(out, p);
        }
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]",
        stats.mean_ms, stats.stdev_ms
    );
    let _ = writeln!(
        out,
        "#[Max     = {:12.3}, Total count    = {:12}]",
        stats.max_ms, stats.count
    );
    let _ = writeln!(out, "{}", "-".repeat(58));
}

fn spectrum_line(out: &mut String, p: &SpectrumPoint) {
    let inverse = if p.quantile < 1.0 {
        format!("{:.2}", 1.0 / (1.0 - p.quantile))
    } else {
        "inf".to_owned()
    };
    let _ = writeln!(
        out,
        "{:12.3} {:12.6} {:12} {inverse:>16}",
        p.ms, p.quantile, p.total_count
    );
}

/// Requests, bytes, statuses, errors, rates.
fn totals(out: &mut String, report: &Report) {
    let sum = &report.summary;
    let _ = writeln!(
        out,
        "\n  {} requests in {:.2}s, {} read",
        sum.completed,
        sum.duration_s,
        units::bytes(sum.bytes_received as f64)
    );
    let _ = write!(out, "  ");
    if let Some(scheduled) = sum.scheduled {
        let _ = write!(out, "{scheduled} scheduled, ");
    }
    let _ = writeln!(
        out,
        "{} sent, {} completed, {} failed",
        sum.sent, sum.completed, sum.failed
    );
    let non_2xx = non_2xx(&sum.status);
    if !non_2xx.is_empty() {
        let _ = writeln!(out, "  Non-2xx responses: {non_2xx}");
    }
    let errors = transport_errors(sum);
    if !errors.is_empty() {
        let _ = writeln!(out, "  Transport errors: {errors}");
    }
    let _ = writeln!(
        out,
        "  Error rate: {} ({})",
        units::percent(sum.error_rate),
        units::error_rule(report)
    );
    rates(out, report);
}

fn rates(out: &mut String, report: &Report) {
    let sum = &report.summary;
    let transfer = if sum.duration_s > 0.0 {
        sum.bytes_received as f64 / sum.duration_s
    } else {
        0.0
    };
    let _ = writeln!(out, "Requests/sec: {:>10}", units::rate(sum.throughput));
    let _ = writeln!(out, "Transfer/sec: {:>10}", units::bytes(transfer));
    if report.config.model != Model::Open {
        return;
    }
    let Some(target) = sum.target_rate else {
        return;
    };
    // With phases of different rates the whole run's target is their mean: say so.
    let label = if units::has_one_rate(report) {
        "Target rate: "
    } else {
        "Mean target: "
    };
    let _ = write!(
        out,
        "{label} {:>10}, sent {}/s, achieved {}/s",
        units::rate(target),
        units::rate(sum.sent_rate),
        units::rate(sum.throughput)
    );
    if target > 0.0 {
        let _ = write!(out, " ({:.1}% of target)", sum.throughput * 100.0 / target);
    }
    let _ = writeln!(out);
}

/// One line per target, when there is more than one.
fn targets(out: &mut String, report: &Report) {
    if report.targets.len() < 2 {
        return;
    }
    let mut rows = vec![strings(&[
        "Target", "Sent", "Req/s", "p50", "p99", "p99.9", "Errors", "Statuses",
    ])];
    for t in &report.targets {
        let s = &t.summary;
        rows.push(vec![
            format!("{} {}", clean(&t.method), clean(&t.url)),
            s.sent.to_string(),
            units::rate(s.throughput),
            units::latency_opt(units::percentile(&t.latency, 50.0)),
            units::latency_opt(units::percentile(&t.latency, 99.0)),
            units::latency_opt(units::percentile(&t.latency, 99.9)),
            units::percent(s.error_rate),
            statuses(s),
        ]);
    }
    let _ = writeln!(out, "\nTargets:");
    table(out, "  ", &rows, &[1, 2, 3, 4, 5, 6]);
}

/// Responses by the value of the `--group-by-header` header, with the first and last second
/// each value answered in (so a failover reads as one range ending where another begins).
fn groups(out: &mut String, report: &Report) {
    let Some(groups) = &report.group_by else {
        return;
    };
    let _ = writeln!(out, "\nResponses by {}:", clean(&groups.header));
    if groups.values.is_empty() {
        let _ = writeln!(out, "  (no responses)");
        return;
    }
    let total: u64 = groups.values.iter().map(|v| v.responses).sum();
    let mut rows = vec![strings(&[
        "Value",
        "Responses",
        "Share",
        "Seconds",
        "Statuses",
    ])];
    for (i, v) in groups.values.iter().enumerate() {
        let share = if total == 0 {
            0.0
        } else {
            v.responses as f64 / total as f64
        };
        rows.push(vec![
            truncate(&clean(&units::group_label(groups, i)), VALUE_MAX),
            v.responses.to_string(),
            units::percent(share),
            units::seconds_seen(report, i)
                .map_or_else(|| "-".to_owned(), |(a, b)| format!("{a}s-{b}s")),
            join_nonzero(&units::status_items(&v.status)),
        ]);
    }
    table(out, "  ", &rows, &[1, 2]);
}

fn statuses(sum: &Summary) -> String {
    let mut items = units::status_items(&sum.status);
    let e = &sum.errors;
    let failed = [e.connect, e.timeout, e.io, e.protocol]
        .into_iter()
        .fold(0, u64::saturating_add);
    items.push(("failed", failed));
    join_nonzero(&items)
}

/// `429 2, 5xx 400`: the non-zero classes other than 2xx.
fn non_2xx(s: &StatusCounts) -> String {
    join_nonzero(&[
        ("1xx", s.s1xx),
        ("3xx", s.s3xx),
        ("4xx", s.s4xx),
        ("429", s.s429),
        ("5xx", s.s5xx),
    ])
}

fn transport_errors(sum: &Summary) -> String {
    let e = &sum.errors;
    join_nonzero(&[
        ("connect", e.connect),
        ("timeout", e.timeout),
        ("io", e.io),
        ("protocol", e.protocol),
    ])
}

fn join_nonzero(items: &[(&str, u64)]) -> String {
    items
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One line per phase, when there is more than one.
fn phases(out: &mut String, report: &Report) {
    if report.phases.len() < 2 {
        return;
    }
    let mut rows = vec![strings(&[
        "Phase",
        "Kind",
        "Span",
        "Rate (req/s)",
        "Req/s",
        "p50",
        "p99",
        "Errors",
    ])];
    for p in &report.phases {
        let lat = &p.latency.corrected;
        rows.push(vec![
            clean(&p.name),
            clean(&p.kind),
            format!("{}-{}", units::secs(p.start_s), units::secs(p.end_s)),
            units::phase_rate(p.rate_from, p.rate_to),
            units::rate(p.summary.throughput),
            units::latency_opt(units::percentile(lat, 50.0)),
            units::latency_opt(units::percentile(lat, 99.0)),
            units::percent(p.summary.error_rate),
        ]);
    }
    let _ = writeln!(out, "\nPhases:");
    table(out, "  ", &rows, &[3, 4, 5, 6, 7]);
}

/// Scenario actions with their due and fired times.
fn actions(out: &mut String, report: &Report) {
    if report.actions.is_empty() {
        return;
    }
    let mut rows = vec![strings(&[
        "Action", "Kind", "Due", "Fired", "Took", "Result", "Detail",
    ])];
    for a in &report.actions {
        rows.push(vec![
            clean(&a.name),
            clean(&a.kind),
            units::at(a.at_s),
            units::at(a.fired_at_s),
            units::latency(a.duration_ms),
            if a.ok { "ok" } else { "FAILED" }.to_owned(),
            truncate(&clean(&a.detail), DETAIL_MAX),
        ]);
    }
    let _ = writeln!(out, "\nActions:");
    table(out, "  ", &rows, &[2, 3, 4]);
}

/// Time to recover after each failure action.
fn recoveries(out: &mut String, report: &Report) {
    if report.recoveries.is_empty() {
        return;
    }
    let mut rows = vec![strings(&[
        "After",
        "At",
        "Baseline errors",
        "Peak errors",
        "Recovered after",
    ])];
    for r in &report.recoveries {
        rows.push(vec![
            clean(&r.action),
            units::at(r.at_s),
            units::percent(r.baseline_error_rate),
            units::percent(r.peak_error_rate),
            r.recovered_after_s
                .map_or_else(|| "not recovered".to_owned(), units::secs),
        ]);
    }
    let _ = writeln!(out, "\nRecoveries:");
    table(out, "  ", &rows, &[1, 2, 3]);
}

/// Every assertion with PASS or FAIL and the measured value.
fn assertions(out: &mut String, report: &Report) {
    if report.assertions.is_empty() {
        return;
    }
    let failed = report.assertions.iter().filter(|a| !a.passed).count();
    let passed = report.assertions.len() - failed;
    let _ = writeln!(out, "\nAssertions: {passed} passed, {failed} failed");
    let rows: Vec<Vec<String>> = report
        .assertions
        .iter()
        .map(|a| {
            vec![
                if a.passed { "PASS" } else { "FAIL" }.to_owned(),
                clean(&a.scope),
                clean(&a.expr),
                format!("(actual {})", clean(&a.actual)),
            ]
        })
        .collect();
    table(out, "  ", &rows, &[]);
}

fn strings(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|&c| c.to_owned()).collect()
}

/// Rows as aligned columns (two spaces apart); columns listed in `right` are right-aligned.
/// The last column is not padded, so lines carry no trailing spaces.
fn table(out: &mut String, indent: &str, rows: &[Vec<String>], right: &[usize]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = indent.to_owned();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths
                .get(c)
                .copied()
                .unwrap_or(0)
                .saturating_sub(cell.chars().count());
            let last = c + 1 == row.len();
            if c > 0 {
                line.push_str("  ");
            }
            if right.contains(&c) {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                if !last {
                    line.push_str(&" ".repeat(pad));
                }
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

/// Text from the report made safe for a terminal: control characters become spaces.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// At most `max` characters, with `...` when cut.
fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(3)).collect();
    cut.push_str("...");
    cut
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::fixture;

    const SPECTRUM: Options = Options { spectrum: true };

    #[test]
    fn the_summary_comes_first_and_the_spectrum_only_on_request() {
        let report = fixture::open();
        let plain = render_text(&report, &Options::default());
        assert!(!plain.contains("Detailed Percentile spectrum"), "{plain}");
        assert!(!plain.contains("1/(1-Percentile)"));
        let full = render_text(&report, &SPECTRUM);
        let spectrum = full.find("Detailed Percentile spectrum").expect("spectrum");
        for summary in ["requests in", "Error rate:", "Phases:", "Assertions:"] {
            let at = full.find(summary).unwrap_or(usize::MAX);
            assert!(at < spectrum, "{summary:?} should come before the spectrum");
        }
        // The summary is the same text either way.
        assert!(full.starts_with(&plain), "{full}");
    }

    #[test]
    fn the_header_shows_each_phases_rate_not_the_mean() {
        let text = render_text(&fixture::open(), &Options::default());
        let header = text.lines().nth(5).unwrap_or_default();
        assert_eq!(
            header,
            "  open model (constant arrival rate), warm-up 100 -> 500, steady 500 requests/s"
        );
        // The mean (380/s) is labelled as one.
        assert!(text.contains("Mean target:      380.00"), "{text}");
        assert!(!text.contains("380.00 requests/s"));
        let mut steady = fixture::open();
        steady.phases.truncate(1);
        steady.phases[0].rate_from = Some(2.5);
        steady.phases[0].rate_to = Some(2.5);
        let text = render_text(&steady, &Options::default());
        assert!(
            text.contains("(constant arrival rate), 2.5 requests/s\n"),
            "{text}"
        );
        assert!(text.contains("Target rate:"));
    }

    #[test]
    fn each_target_has_a_line() {
        let text = render_text(&fixture::open(), &Options::default());
        let block = text.split("\nTargets:\n").nth(1).expect("a Targets block");
        let lines: Vec<&str> = block.lines().take(3).collect();
        assert!(
            lines[0].contains("Sent") && lines[0].contains("p99.9"),
            "{block}"
        );
        assert!(
            lines[1].starts_with("  GET http://127.0.0.1:8080/a "),
            "{block}"
        );
        assert!(
            lines[2].starts_with("  POST http://127.0.0.1:8080/b?x=1&y=2 "),
            "{block}"
        );
        assert!(lines[1].contains("2xx "), "{block}");
        let closed = render_text(&fixture::closed(), &Options::default());
        assert!(!closed.contains("Targets:"), "one target is the whole run");
    }

    #[test]
    fn responses_are_listed_by_header_value() {
        let report = fixture::open();
        let text = render_text(&report, &Options::default());
        let block = text
            .split("\nResponses by x-weir-origin-region:\n")
            .nth(1)
            .expect("a groups block");
        let lines: Vec<&str> = block.lines().take(4).collect();
        assert!(lines[1].starts_with("  us-east "), "{block}");
        assert!(lines[1].contains(" 0s-6s "), "{block}");
        assert!(lines[2].starts_with("  eu-west "), "{block}");
        assert!(lines[2].contains(" 6s-10s "), "{block}");
        assert!(lines[3].starts_with("  (no header) "), "{block}");
        let closed = render_text(&fixture::closed(), &Options::default());
        assert!(!closed.contains("Responses by"));
    }

    #[test]
    fn the_error_rule_follows_the_429_option() {
        let mut report = fixture::open();
        let text = render_text(&report, &Options::default());
        assert!(text.contains("(failed + 5xx)\n"), "{text}");
        report.config.count_429_as_error = true;
        let text = render_text(&report, &Options::default());
        assert!(text.contains("(failed + 5xx + 429)\n"), "{text}");
    }

    #[test]
    fn open_report_has_the_key_figures() {
        let text = render_text(&fixture::open(), &Options::default());
        for expected in [
            "Scenario: a region dies under load",
            "Running 10s test @ 2 targets",
            "http://127.0.0.1:8080/b?x=1&y=2",
            "2 threads and 64 connections",
            "Latency Distribution (HdrHistogram - Recorded Latency)",
            "corrected  uncorrected",
            " 99.900%",
            "Non-2xx responses: 429 20, 5xx 400",
            "Transport errors: timeout 6",
            "Requests/sec:",
            "Transfer/sec:",
            "Mean target:",
            "warm-up",
            "100 -> 500",
            "us-east origins fail",
            "6.002s",
            "Recoveries:",
            "1.80s",
            "Assertions: 2 passed, 1 failed",
            "FAIL  run",
            "(actual 10.68%)",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
    }

    #[test]
    fn spectrum_lines_follow_wrk2() {
        let report = fixture::open();
        let text = render_text(&report, &SPECTRUM);
        for expected in [
            "Detailed Percentile spectrum",
            "1/(1-Percentile)",
            "#[Mean    =",
            "#[Max     =",
        ] {
            assert!(text.contains(expected), "missing {expected:?} in\n{text}");
        }
        let last = report.latency.corrected.spectrum.last().copied();
        let last = last.expect("the fixture has a spectrum");
        assert!(text.contains(&format!("{:12.3} {:12.6}", last.ms, 1.0)));
        assert!(text.lines().any(|l| l.ends_with("inf")));
        let counts = report.latency.corrected.count;
        assert!(text.contains(&format!("Total count    = {counts:12}]")));
    }

    #[test]
    fn closed_report_has_no_rate_or_uncorrected_column() {
        let text = render_text(&fixture::closed(), &Options::default());
        assert!(text.contains("Running 10s test @ http://127.0.0.1:8080/\n"));
        assert!(text.contains("closed model"));
        assert!(!text.contains("uncorrected"));
        assert!(!text.contains("Target rate"));
        assert!(!text.contains("Phases:"), "a single phase is not tabled");
        assert!(!text.contains("Non-2xx"));
    }

    #[test]
    fn empty_report_renders() {
        let text = render_text(&fixture::empty(), &SPECTRUM);
        assert!(text.contains("0 requests in 0.00s, 0.00B read"));
        assert!(text.contains("(no responses recorded)"));
        assert!(text.contains(" 50.000%            -"));
    }

    #[test]
    fn huge_and_missing_values_render() {
        let mut report = fixture::open();
        report.summary.bytes_received = u64::MAX;
        report.summary.throughput = f64::MAX;
        report.summary.target_rate = Some(f64::NAN);
        report.latency.corrected.mean_ms = f64::INFINITY;
        report.latency.corrected.percentiles[0].ms = 1e300;
        report.timeline[0].completed = u64::MAX;
        report.phases[0].rate_to = None;
        report.recoveries[0].recovered_after_s = None;
        let text = render_text(&report, &Options::default());
        assert!(text.contains("Requests/sec:   1.80e308"));
        assert!(text.contains("16.00EB"), "{text}");
        assert!(text.contains(" 50.000%    2.78e293h"));
        assert!(text.contains("not recovered"));
    }

    #[test]
    fn control_characters_are_removed() {
        let mut report = fixture::open();
        report.actions[0].name = "bad\x1b[31mname\n".to_owned();
        let text = render_text(&report, &Options::default());
        assert!(!text.contains('\x1b'));
        assert!(text.contains("bad [31mname"));
    }

    #[test]
    fn lines_have_no_trailing_spaces() {
        let text = render_text(&fixture::open(), &Options::default());
        assert!(text.lines().all(|l| !l.ends_with(' ')), "{text}");
    }

    #[test]
    fn quantile_is_interpolated_between_points() {
        let points = [(1.0, 0.0), (3.0, 0.5), (5.0, 1.0)].map(|(ms, quantile)| SpectrumPoint {
            ms,
            quantile,
            total_count: 0,
        });
        assert_eq!(quantile_at(&points, 0.5), 0.0);
        assert_eq!(quantile_at(&points, 2.0), 0.25);
        assert_eq!(quantile_at(&points, 9.0), 1.0);
        assert_eq!(within_stdev(&points, 3.0, 1.0), Some(0.5));
    }
}
