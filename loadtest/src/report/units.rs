//! Human-readable figures shared by the text and HTML renderings (wrk's latency units, bytes,
//! counts, durations); non-finite inputs print as `-`, never panic.

use super::model::{LatencyStats, Model, Report};

/// The fixed percentiles shown in summaries, as stored in [`LatencyStats::percentiles`].
pub const KEY_PERCENTILES: [f64; 8] = [50.0, 75.0, 90.0, 99.0, 99.9, 99.99, 99.999, 100.0];

/// A latency given in milliseconds, with the unit chosen by magnitude as wrk does:
/// `812.00us`, `1.26ms`, `2.50s`, `1.50m`.
pub fn latency(ms: f64) -> String {
    if !ms.is_finite() {
        return "-".to_owned();
    }
    let ms = ms.max(0.0);
    let (value, unit) = if ms < 1.0 {
        (ms * 1000.0, "us")
    } else if ms < 1000.0 {
        (ms, "ms")
    } else if ms < 60_000.0 {
        (ms / 1000.0, "s")
    } else if ms < 3_600_000.0 {
        (ms / 60_000.0, "m")
    } else {
        (ms / 3_600_000.0, "h")
    };
    format!("{}{unit}", fixed2(value))
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

/// The rate of a phase: `100 -> 500` for a ramp, `500` otherwise, `-` when closed.
pub fn phase_rate(from: Option<f64>, to: Option<f64>) -> String {
    match (from, to) {
        (Some(a), Some(b)) if (a - b).abs() > f64::EPSILON => format!("{a:.0} -> {b:.0}"),
        (Some(a), _) | (None, Some(a)) => format!("{a:.0}"),
        (None, None) => "-".to_owned(),
    }
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
        assert_eq!(latency(0.812), "812.00us");
        assert_eq!(latency(1.26), "1.26ms");
        assert_eq!(latency(2500.0), "2.50s");
        assert_eq!(latency(90_000.0), "1.50m");
        assert_eq!(latency(f64::NAN), "-");
        assert_eq!(latency(1e300), "2.78e293h");
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
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_767_225_600_000), "2026-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400_000 + 3_723_000), "2000-02-29 01:02:03 UTC");
    }
}
