//! The text report printed at the end of a run, in the style of wrk2: settings, latency
//! percentiles (corrected and uncorrected), the HdrHistogram percentile spectrum, totals, then
//! phases, actions, recoveries and assertions when there are any.

use std::fmt::Write;

use super::model::{LatencyStats, Model, Report, Summary};

/// Renders the whole text report.
pub fn render_text(report: &Report) -> String {
    let mut out = String::new();
    header(&mut out, report);
    latency(&mut out, report);
    totals(&mut out, &report.summary, report.config.model);
    phases(&mut out, report);
    actions(&mut out, report);
    assertions(&mut out, report);
    out
}

/// A latency in ms, shown with the unit that suits it (as wrk does).
pub fn duration(ms: f64) -> String {
    if ms < 1.0 {
        format!("{:.2}us", ms * 1000.0)
    } else if ms < 1000.0 {
        format!("{ms:.2}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let (mut value, mut unit) = (n, 0);
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.2}{}", UNITS[unit])
}

fn header(out: &mut String, report: &Report) {
    let c = &report.config;
    if let Some(name) = &c.scenario {
        let _ = writeln!(out, "Scenario {name:?}");
    }
    let targets: Vec<String> = c
        .targets
        .iter()
        .map(|t| {
            if c.targets.len() > 1 {
                format!("{} {} (weight {})", t.method, t.url, t.weight)
            } else {
                format!("{} {}", t.method, t.url)
            }
        })
        .collect();
    let _ = writeln!(
        out,
        "Running {} test @ {}",
        duration(c.duration_s * 1000.0),
        targets.join(", ")
    );
    let http = match c.http {
        super::model::HttpVersion::Http1 => "HTTP/1.1".to_owned(),
        super::model::HttpVersion::Http2 => format!("HTTP/2, {} streams", c.concurrency),
    };
    let _ = writeln!(
        out,
        "  {} threads and {} connections ({http}), timeout {}",
        c.threads,
        c.connections,
        duration(c.timeout_ms)
    );
    match (c.model, report.summary.target_rate) {
        (Model::Open, Some(rate)) => {
            let _ = writeln!(
                out,
                "  open model: {rate:.0} requests/s, latency timed from when each was due"
            );
        }
        _ => {
            let _ = writeln!(out, "  closed model: each connection as fast as it can");
        }
    }
}

fn latency(out: &mut String, report: &Report) {
    let (corrected, uncorrected) = (&report.latency.corrected, &report.latency.uncorrected);
    if corrected.count == 0 {
        let _ = writeln!(out, "  no responses: no latency to report");
        return;
    }
    let _ = writeln!(
        out,
        "  Latency   avg {}   stdev {}   max {}",
        duration(corrected.mean_ms),
        duration(corrected.stdev_ms),
        duration(corrected.max_ms)
    );
    let open = report.config.model == Model::Open;
    if open {
        let _ = writeln!(
            out,
            "  Latency Distribution (HdrHistogram - Recorded Latency)   corrected   uncorrected"
        );
    } else {
        let _ = writeln!(
            out,
            "  Latency Distribution (HdrHistogram - Recorded Latency)"
        );
    }
    for (i, p) in corrected.percentiles.iter().enumerate() {
        let _ = write!(out, "  {:>8.3}%  {:>10}", p.percentile, duration(p.ms));
        if open && let Some(u) = uncorrected.percentiles.get(i) {
            let _ = write!(out, "  {:>12}", duration(u.ms));
        }
        out.push('\n');
    }
    spectrum(out, corrected);
}

fn spectrum(out: &mut String, stats: &LatencyStats) {
    let _ = writeln!(out, "\n  Detailed Percentile spectrum:");
    let _ = writeln!(
        out,
        "       Value   Percentile   TotalCount 1/(1-Percentile)\n"
    );
    for point in &stats.spectrum {
        let inverse = if point.quantile < 1.0 {
            format!("{:>12.2}", 1.0 / (1.0 - point.quantile))
        } else {
            format!("{:>12}", "inf")
        };
        let _ = writeln!(
            out,
            "{:>12.3} {:>12.6} {:>12} {inverse}",
            point.ms, point.quantile, point.total_count
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]",
        stats.mean_ms, stats.stdev_ms
    );
    let _ = writeln!(
        out,
        "#[Max     = {:>12.3}, Total count    = {:>12}]",
        stats.max_ms, stats.count
    );
    let _ = writeln!(out, "#[values in milliseconds]");
    let _ = writeln!(
        out,
        "----------------------------------------------------------"
    );
}

fn totals(out: &mut String, s: &Summary, model: Model) {
    let _ = writeln!(
        out,
        "  {} requests in {}, {} read",
        s.completed,
        duration(s.duration_s * 1000.0),
        bytes(s.bytes_received as f64)
    );
    let st = &s.status;
    let non_2xx = st.s1xx + st.s3xx + st.s4xx + st.s429 + st.s5xx;
    if non_2xx > 0 {
        let _ = writeln!(
            out,
            "  Non-2xx responses: {non_2xx} (1xx {}, 3xx {}, 4xx {}, 429 {}, 5xx {})",
            st.s1xx, st.s3xx, st.s4xx, st.s429, st.s5xx
        );
    }
    if s.failed > 0 {
        let e = &s.errors;
        let _ = writeln!(
            out,
            "  Errors without a response: {} (connect {}, timeout {}, io {}, protocol {})",
            s.failed, e.connect, e.timeout, e.io, e.protocol
        );
    }
    let _ = writeln!(
        out,
        "  Error rate (no response or 5xx): {:.3}%",
        s.error_rate * 100.0
    );
    if model == Model::Open
        && let (Some(target), Some(scheduled)) = (s.target_rate, s.scheduled)
    {
        let _ = writeln!(
            out,
            "  Rate: target {target:.1}/s, sent {:.1}/s ({} of {scheduled} scheduled sent)",
            s.sent_rate, s.sent
        );
    }
    let _ = writeln!(out, "Requests/sec: {:>10.2}", s.throughput);
    let per_second = if s.duration_s > 0.0 {
        s.bytes_received as f64 / s.duration_s
    } else {
        0.0
    };
    let _ = writeln!(out, "Transfer/sec: {:>10}", bytes(per_second));
}

fn phases(out: &mut String, report: &Report) {
    if report.phases.len() < 2 {
        return;
    }
    let _ = writeln!(
        out,
        "\nPhases:\n  {:<16} {:<7} {:>13} {:>14} {:>9} {:>9} {:>10} {:>10}",
        "name", "kind", "time s", "rate/s", "sent", "done", "p99", "errors"
    );
    for p in &report.phases {
        let rate = match (p.rate_from, p.rate_to) {
            (Some(a), Some(b)) if (a - b).abs() > f64::EPSILON => format!("{a:.0}→{b:.0}"),
            (Some(a), _) => format!("{a:.0}"),
            _ => "-".to_owned(),
        };
        let p99 = p
            .latency
            .corrected
            .percentiles
            .iter()
            .find(|x| x.percentile == 99.0)
            .map_or_else(|| "-".to_owned(), |x| duration(x.ms));
        let _ = writeln!(
            out,
            "  {:<16} {:<7} {:>13} {:>14} {:>9} {:>9} {:>10} {:>9.2}%",
            p.name,
            p.kind,
            format!("{:.1}–{:.1}", p.start_s, p.end_s),
            rate,
            p.summary.sent,
            p.summary.completed,
            p99,
            p.summary.error_rate * 100.0
        );
    }
}

fn actions(out: &mut String, report: &Report) {
    if report.actions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nActions:");
    for a in &report.actions {
        let _ = writeln!(
            out,
            "  {:>7.3}s  {:<24} {:<7} {} in {:.0} ms: {}",
            a.fired_at_s,
            a.name,
            a.kind,
            if a.ok { "ok" } else { "FAILED" },
            a.duration_ms,
            a.detail.lines().next().unwrap_or("")
        );
    }
    for r in &report.recoveries {
        let after = match r.recovered_after_s {
            Some(s) => format!("back to normal after {s:.1} s"),
            None => "NOT back to normal by the end of its window".to_owned(),
        };
        let _ = writeln!(
            out,
            "  recovery from {:?} (at {:.1} s): {after}; error rate before {:.2}%, peak {:.2}%",
            r.action,
            r.at_s,
            r.baseline_error_rate * 100.0,
            r.peak_error_rate * 100.0
        );
    }
}

fn assertions(out: &mut String, report: &Report) {
    if report.assertions.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nAssertions:");
    for a in &report.assertions {
        let _ = writeln!(
            out,
            "  {}  {:<10} {:<24} measured {}",
            if a.passed { "PASS" } else { "FAIL" },
            a.scope,
            a.expr,
            a.actual
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_pick_their_unit() {
        assert_eq!(duration(0.105), "105.00us");
        assert_eq!(duration(12.5), "12.50ms");
        assert_eq!(duration(1500.0), "1.50s");
        assert_eq!(bytes(2048.0), "2.00KB");
        assert_eq!(bytes(10.0), "10.00B");
    }
}
