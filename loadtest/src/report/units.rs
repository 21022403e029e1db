//! Human-readable figures shared by the text and HTML renderings (wrk's latency units, bytes,
//! counts, durations); non-finite inputs print as `-`, never panic.

use super::model::{GroupKind, GroupReport, LatencyStats, Model, Report, StatusCounts};

/// The fixed percentiles shown in summaries, as stored in [`LatencyStats::percentiles`].
pub const KEY_PERCENTILES: [f64; 8] = [50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0];

/// A latency given in milliseconds, with the unit chosen by magnitude as wrk does and three
/// significant digits, trailing zeros dropped (the histograms keep three): `812us`, `1.26ms`,
/// `12.5ms`, `2.5s`, `1.5m`. A value that rounds up to the next unit takes it (`999.96ms` is `1s`).
pub fn latency(ms: f64) -> String {
    if !ms.is_finite() {
        return "-".to_owned();
    }
    let ms = ms.max(0.0);
    // (unit, its size in ms, where the next unit takes over in this unit)
    const UNITS: [(&str, f64, f64); 5] = [
        ("us", 0.001, 1000.0),
        ("ms", 1.0, 1000.0),
        ("s", 1000.0, 60.0),
        ("m", 60_000.0, 60.0),
        ("h", 3_600_000.0, f64::INFINITY),
    ];
    for (unit, size, next) in UNITS {
        let value = significant(ms / size, 3);
        if value < next {
            return format!("{}{unit}", short(value));
        }
    }
    format!("{}h", short(ms / 3_600_000.0))
}

/// `v` rounded to `digits` significant digits.
fn significant(v: f64, digits: i32) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let scale = 10f64.powi(digits - 1 - v.abs().log10().floor() as i32);
    if !scale.is_finite() || scale == 0.0 {
        return v;
    }
    (v * scale).round() / scale
}

/// A number already rounded to three significant digits, without trailing zeros; scientific
/// notation for absurdly large values (so a line stays short).
fn short(v: f64) -> String {
    if v.abs() >= 1e9 {
        return format!("{v:.2e}");
    }
    let decimals = if v == 0.0 {
        0
    } else {
        (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize
    };
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// Two decimals, or scientific notation for absurdly large values (so a line stays short).
pub fn fixed2(v: f64) -> String {
    if v.abs() < 1e9 {
        format!("{v:.2}")
    } else {
        format!("{v:.2e}")
    }
}

/// An optional latency; `-` when absent.
pub fn latency_opt(ms: Option<f64>) -> String {
    ms.map_or_else(|| "-".to_owned(), latency)
}

/// A byte count with binary prefixes, as wrk: `512.00B`, `20.03MB`.
pub fn bytes(n: f64) -> String {
    scaled(n, 1024.0, &["B", "KB", "MB", "GB", "TB", "PB", "EB"])
}

/// A count with decimal prefixes, as wrk's Req/Sec column: `950.00`, `2.12k`.
pub fn metric(n: f64) -> String {
    scaled(n, 1000.0, &["", "k", "M", "G", "T", "P", "E"])
}

fn scaled(n: f64, base: f64, units: &[&str]) -> String {
    if !n.is_finite() {
        return "-".to_owned();
    }
    let mut value = n.max(0.0);
    let mut unit = 0;
    while value >= base && unit + 1 < units.len() {
        value /= base;
        unit += 1;
    }
    format!(
        "{}{}",
        fixed2(value),
        units.get(unit).copied().unwrap_or("")
    )
}

/// A span in seconds: `10s`, `2.50s`, `2m30s`, `1h0m5s`.
pub fn secs(s: f64) -> String {
    if !s.is_finite() {
        return "-".to_owned();
    }
    let s = s.max(0.0);
    if s < 60.0 {
        if (s - s.round()).abs() < 0.005 {
            format!("{s:.0}s")
        } else {
            format!("{s:.2}s")
        }
    } else {
        let whole = s.round() as u64;
        let (h, m, sec) = (whole / 3600, whole / 60 % 60, whole % 60);
        if h > 0 {
            format!("{h}h{m}m{sec}s")
        } else {
            format!("{m}m{sec}s")
        }
    }
}

/// A point in time within the run, seconds from its start, to the millisecond: `6.002s`.
pub fn at(s: f64) -> String {
    if s.is_finite() {
        format!("{s:.3}s")
    } else {
        "-".to_owned()
    }
}

/// A ratio (0.0..=1.0) as a percentage: `3.10%`.
pub fn percent(ratio: f64) -> String {
    if ratio.is_finite() {
        format!("{:.2}%", ratio * 100.0)
    } else {
        "-".to_owned()
    }
}

/// A rate in requests per second: `299.40`.
pub fn rate(r: f64) -> String {
    if r.is_finite() {
        fixed2(r)
    } else {
        "-".to_owned()
    }
}

/// The value of percentile `p` (e.g. 99.9) in `stats`, if it was recorded.
pub fn percentile(stats: &LatencyStats, p: f64) -> Option<f64> {
    if stats.count == 0 {
        return None;
    }
    stats
        .percentiles
        .iter()
        .find(|x| (x.percentile - p).abs() < 1e-9)
        .map(|x| x.ms)
}

/// Whether the report has a separate uncorrected view worth showing (open model).
pub fn shows_uncorrected(report: &Report) -> bool {
    report.config.model == Model::Open
}

/// `Open`/`Closed` as shown to a reader.
pub fn model_name(model: Model) -> &'static str {
    match model {
        Model::Open => "open model (constant arrival rate)",
        Model::Closed => "closed model (each connection as fast as it can)",
    }
}

/// A target's share of the requests, as a percentage of all weights.
pub fn share(weight: u32, total: u64) -> String {
    if total == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", f64::from(weight) * 100.0 / total as f64)
    }
}

/// Sum of the targets' weights.
pub fn total_weight(report: &Report) -> u64 {
    report
        .config
        .targets
        .iter()
        .map(|t| u64::from(t.weight))
        .sum()
}

/// The rate of a phase as asked for: `100 -> 500` for a ramp, `500` otherwise, `-` when closed.
pub fn phase_rate(from: Option<f64>, to: Option<f64>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if (a - b).abs() > f64::EPSILON => {
            format!("{} -> {}", rate_short(a), rate_short(b))
        }
        (Some(a), _) | (None, Some(a)) => rate_short(a),
        (None, None) => "-".to_owned(),
    }
}

/// A rate as asked for, without padding zeros: `500`, `2.5`, `1000.25`.
pub fn rate_short(r: f64) -> String {
    if !r.is_finite() {
        return "-".to_owned();
    }
    let text = fixed2(r);
    if text.contains('.') && !text.contains('e') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

/// The open model's schedule as the phases asked for it, not an average: `500 requests/s`
/// when every phase has that one rate, else each phase's own,
/// `warm-up 100 -> 500, steady 500, spike 2000 requests/s`. `None` in the closed model.
pub fn schedule_rates(report: &Report) -> Option<String> {
    if report.config.model != Model::Open {
        return None;
    }
    let rated: Vec<_> = report
        .phases
        .iter()
        .filter(|p| p.rate_from.is_some() || p.rate_to.is_some())
        .collect();
    let first = rated.first()?;
    if has_one_rate(report) {
        return Some(format!(
            "{} requests/s",
            phase_rate(first.rate_from, first.rate_to)
        ));
    }
    let phases: Vec<String> = rated
        .iter()
        .map(|p| format!("{} {}", p.name, phase_rate(p.rate_from, p.rate_to)))
        .collect();
    Some(format!("{} requests/s", phases.join(", ")))
}

/// Whether every phase asked for the same constant rate (so the mean is that rate).
pub fn has_one_rate(report: &Report) -> bool {
    let mut rates = report.phases.iter().map(|p| (p.rate_from, p.rate_to));
    let Some(first) = rates.next() else {
        return true;
    };
    first.0 == first.1 && rates.all(|r| r == first)
}

/// What the error rate counts: `failed + 5xx`, with `+ 429` when 429s count as errors.
pub fn error_rule(report: &Report) -> &'static str {
    if report.config.count_429_as_error {
        "failed + 5xx + 429"
    } else {
        "failed + 5xx"
    }
}

/// How a group is named in the reports: its value, `(other)` or `(no header)`.
pub fn group_label(groups: &GroupReport, index: usize) -> String {
    match groups.values.get(index) {
        Some(v) => match (v.kind, &v.value) {
            (GroupKind::Value, Some(value)) => value.clone(),
            (GroupKind::Value, None) => "-".to_owned(),
            (GroupKind::Other, _) => format!("(other: past {} values)", groups.max_values),
            (GroupKind::Missing, _) => "(no header)".to_owned(),
        },
        None => "-".to_owned(),
    }
}

/// The first and last second (as `[first, last + 1)`) in which group `index` had a response.
pub fn seconds_seen(report: &Report, index: usize) -> Option<(u32, u32)> {
    let mut seen = report
        .timeline
        .iter()
        .filter(|s| s.groups.get(index).is_some_and(|&n| n > 0))
        .map(|s| s.t);
    let first = seen.next()?;
    let last = seen.next_back().unwrap_or(first);
    Some((first, last.saturating_add(1)))
}

/// The status classes with their counts, in order.
pub fn status_items(s: &StatusCounts) -> Vec<(&'static str, u64)> {
    vec![
        ("1xx", s.s1xx),
        ("2xx", s.s2xx),
        ("3xx", s.s3xx),
        ("4xx", s.s4xx),
        ("429", s.s429),
        ("5xx", s.s5xx),
    ]
}

/// Seconds since the Unix epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(unix_ms: u64) -> String {
    let secs = unix_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_date(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Year, month, day of `days` since 1970-01-01 (proleptic Gregorian calendar).
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Count from 0000-03-01 so that the leap day ends a year; 146097 days per 400 years.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_units_follow_the_magnitude() {
        assert_eq!(latency(0.812), "812us");
        assert_eq!(latency(1.26), "1.26ms");
        assert_eq!(latency(2500.0), "2.5s");
        assert_eq!(latency(90_000.0), "1.5m");
        assert_eq!(latency(f64::NAN), "-");
        assert_eq!(latency(1e300), "2.78e293h");
    }

    #[test]
    fn latency_has_no_false_precision() {
        // The histograms keep three significant digits; the report shows no more.
        assert_eq!(latency(0.537), "537us");
        assert_eq!(latency(1.25), "1.25ms");
        assert_eq!(latency(1.2), "1.2ms");
        assert_eq!(latency(12.34), "12.3ms");
        assert_eq!(latency(123.456), "123ms");
        assert_eq!(latency(100.0), "100ms");
        assert_eq!(latency(0.0), "0us");
        assert_eq!(latency(0.0005), "0.5us");
        // Rounding up crosses into the next unit.
        assert_eq!(latency(0.9996), "1ms");
        assert_eq!(latency(999.96), "1s");
        assert_eq!(latency(59_990.0), "1m");
        assert_eq!(latency(2000.0), "2s");
    }

    #[test]
    fn bytes_metric_and_secs() {
        assert_eq!(bytes(512.0), "512.00B");
        assert_eq!(bytes(21_000_000.0), "20.03MB");
        assert_eq!(metric(2120.0), "2.12k");
        assert_eq!(metric(f64::MAX), "1.80e290E");
        assert_eq!(secs(10.0), "10s");
        assert_eq!(secs(2.5), "2.50s");
        assert_eq!(secs(150.0), "2m30s");
        assert_eq!(secs(3605.0), "1h0m5s");
    }

    #[test]
    fn rates_as_asked() {
        assert_eq!(phase_rate(Some(100.0), Some(500.0)), "100 -> 500");
        assert_eq!(phase_rate(Some(2.5), Some(2.5)), "2.5");
        assert_eq!(phase_rate(None, None), "-");
        assert_eq!(rate_short(1000.25), "1000.25");
        assert_eq!(rate_short(f64::NAN), "-");
    }

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_767_225_600_000), "2026-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000 + 3_723_000), "2000-02-29 01:02:03 UTC");
    }
}
