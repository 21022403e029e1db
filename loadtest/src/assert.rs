//! Assertions on a run (`p99 < 50ms`, `errors < 0.1%`): parsed from text, checked against a summary.
//!
//! The form is `METRIC OP VALUE`, OP one of `<` `<=` `>` `>=` `==`:
//!
//! | metric | value | measures |
//! | --- | --- | --- |
//! | `p50` `p99.9` … (any `pNN[.N]`, 0 < NN ≤ 100), `min`, `mean`, `max` | a duration: `ns` `us` `µs` `ms` `s` | the corrected latency view |
//! | `errors` | a count, or a share with `%` | failed + 5xx (+ 429 with `--count-429-as-error`): the summary's `error_count`; with `%` its `error_rate` |
//! | `2xx` `3xx` `4xx` `429` `5xx` | a count, or a share with `%` of the requests that ended | responses by status (`4xx` does not include `429`, as in the report) |
//! | `rps` (or `throughput`), `sent_rate` | requests/s, optionally written `1000/s` | completed (sent) per second |
//!
//! Parsing fails with a message naming what is wrong (an unknown metric lists the known ones).
//! Checking never fails; it yields an [`AssertionResult`] whose `actual` is in the assertion's
//! unit. When there is nothing to measure the assertion fails rather than pass vacuously: a
//! latency assertion with no response fails with `no responses`, an errors or status assertion
//! (count or share) with no request ended fails with `no requests ended` — an operator who writes
//! `errors == 0` means "it worked", not "nothing was sent". Rates are always measurable (`0/s`).

use std::fmt;

use crate::report::model::{AssertionResult, LatencyViews, Summary};

/// One parsed assertion, e.g. `p99 < 50ms`.
#[derive(Clone, Debug, PartialEq)]
pub struct Assertion {
    text: String,
    metric: Metric,
    op: Op,
    /// The threshold in the metric's base unit (ms for latencies, a share 0..=1 for `%`).
    threshold: f64,
    unit: Unit,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Metric {
    Percentile(f64),
    Min,
    Mean,
    Max,
    Errors,
    Status(StatusClass),
    Throughput,
    SentRate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StatusClass {
    S2xx,
    S3xx,
    S4xx,
    S429,
    S5xx,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
}

/// The unit the assertion was written in, used to show the measured value.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Unit {
    /// A latency unit: its suffix and how many of it make one millisecond.
    Time {
        suffix: &'static str,
        per_ms: f64,
    },
    Percent,
    Count,
    PerSecond,
}

const KNOWN_METRICS: &str = "p50, p75, p90, p99, p99.9, p99.99 (any pNN), min, mean, max, errors, \
                             2xx, 3xx, 4xx, 429, 5xx, rps, throughput, sent_rate";

const TIME_UNITS: [(&str, f64); 5] = [
    ("ns", 1_000_000.0),
    ("us", 1_000.0),
    ("µs", 1_000.0),
    ("ms", 1.0),
    ("s", 0.001),
];

impl Assertion {
    /// Parses `METRIC OP VALUE`; spaces around the operator are optional.
    pub fn parse(text: &str) -> Result<Assertion, String> {
        let trimmed = text.trim();
        let fail = |why: String| format!("assertion `{trimmed}`: {why}");
        let (metric_text, op, value_text) = split(trimmed).map_err(fail)?;
        let metric = parse_metric(metric_text).map_err(fail)?;
        let (threshold, unit) = parse_value(metric, value_text).map_err(fail)?;
        Ok(Assertion {
            text: trimmed.to_string(),
            metric,
            op,
            threshold,
            unit,
        })
    }

    /// The assertion as written (trimmed).
    #[cfg(test)]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it is about latency (and so needs responses to be measured).
    #[cfg(test)]
    pub fn is_latency(&self) -> bool {
        matches!(
            self.metric,
            Metric::Percentile(_) | Metric::Min | Metric::Mean | Metric::Max
        )
    }

    /// Checks the assertion on one span (`scope` is `run` or a phase name). Percentiles come
    /// from `latency.corrected` when it lists them, else from `value_at_percentile_ms`
    /// (e.g. `|p| histogram.value_at_percentile(p)` converted to ms).
    pub fn check(
        &self,
        scope: &str,
        summary: &Summary,
        latency: &LatencyViews,
        value_at_percentile_ms: &dyn Fn(f64) -> f64,
    ) -> AssertionResult {
        let (passed, actual) = match self.measure(summary, latency, value_at_percentile_ms) {
            Ok(value) => (self.op.holds(value, self.threshold), self.show(value)),
            Err(why) => (false, why.to_string()),
        };
        AssertionResult {
            expr: self.text.clone(),
            scope: scope.to_string(),
            actual,
            passed,
        }
    }

    /// The measured value in the base unit of the threshold, or why there is none.
    fn measure(
        &self,
        summary: &Summary,
        latency: &LatencyViews,
        value_at_percentile_ms: &dyn Fn(f64) -> f64,
    ) -> Result<f64, &'static str> {
        let stats = &latency.corrected;
        let ended = summary.completed + summary.failed;
        match self.metric {
            Metric::Percentile(_) | Metric::Min | Metric::Mean | Metric::Max
                if stats.count == 0 =>
            {
                Err("no responses")
            }
            Metric::Percentile(p) => Ok(stats
                .percentiles
                .iter()
                .find(|known| (known.percentile - p).abs() < 1e-9)
                .map_or_else(|| value_at_percentile_ms(p), |known| known.ms)),
            Metric::Min => Ok(stats.min_ms),
            Metric::Mean => Ok(stats.mean_ms),
            Metric::Max => Ok(stats.max_ms),
            Metric::Errors | Metric::Status(_) if ended == 0 => Err("no requests ended"),
            Metric::Errors if self.unit == Unit::Percent => Ok(summary.error_rate),
            Metric::Errors => Ok(summary.error_count as f64),
            Metric::Status(class) => {
                let count = class.count(summary) as f64;
                if self.unit == Unit::Percent {
                    Ok(count / ended as f64)
                } else {
                    Ok(count)
                }
            }
            Metric::Throughput => Ok(summary.throughput),
            Metric::SentRate => Ok(summary.sent_rate),
        }
    }

    /// Formats a measured value (in the base unit) in the assertion's unit.
    fn show(&self, value: f64) -> String {
        match self.unit {
            Unit::Time { suffix, per_ms } => format!("{}{suffix}", number(value * per_ms)),
            Unit::Percent => format!("{}%", number(value * 100.0)),
            Unit::Count => number(value),
            Unit::PerSecond => format!("{}/s", number(value)),
        }
    }
}

impl fmt::Display for Assertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl StatusClass {
    fn count(self, summary: &Summary) -> u64 {
        let status = &summary.status;
        match self {
            StatusClass::S2xx => status.s2xx,
            StatusClass::S3xx => status.s3xx,
            StatusClass::S4xx => status.s4xx,
            StatusClass::S429 => status.s429,
            StatusClass::S5xx => status.s5xx,
        }
    }
}

impl Op {
    fn holds(self, actual: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => actual < threshold,
            Op::Le => actual <= threshold,
            Op::Gt => actual > threshold,
            Op::Ge => actual >= threshold,
            Op::Eq => (actual - threshold).abs() <= 1e-9 * threshold.abs().max(1.0),
        }
    }
}

/// Splits `METRIC OP VALUE` at the operator.
fn split(text: &str) -> Result<(&str, Op, &str), String> {
    let Some(at) = text.find(['<', '>', '=', '!']) else {
        return Err(
            "expected METRIC OP VALUE with OP one of < <= > >= ==, e.g. `p99 < 50ms`".into(),
        );
    };
    let metric = text[..at].trim();
    let rest = &text[at..];
    let op_len = rest
        .find(|c: char| !matches!(c, '<' | '>' | '=' | '!'))
        .unwrap_or(rest.len());
    let op = match &rest[..op_len] {
        "<" => Op::Lt,
        "<=" => Op::Le,
        ">" => Op::Gt,
        ">=" => Op::Ge,
        "==" => Op::Eq,
        other => {
            return Err(format!(
                "unknown operator `{other}`; use one of < <= > >= =="
            ));
        }
    };
    if metric.is_empty() {
        return Err(format!(
            "no metric before the operator; known: {KNOWN_METRICS}"
        ));
    }
    let value = rest[op_len..].trim();
    if value.is_empty() {
        return Err("no value after the operator".into());
    }
    Ok((metric, op, value))
}

fn parse_metric(text: &str) -> Result<Metric, String> {
    let metric = match text.to_ascii_lowercase().as_str() {
        "min" => Metric::Min,
        "mean" => Metric::Mean,
        "max" => Metric::Max,
        "errors" => Metric::Errors,
        "2xx" => Metric::Status(StatusClass::S2xx),
        "3xx" => Metric::Status(StatusClass::S3xx),
        "4xx" => Metric::Status(StatusClass::S4xx),
        "429" => Metric::Status(StatusClass::S429),
        "5xx" => Metric::Status(StatusClass::S5xx),
        "rps" | "throughput" => Metric::Throughput,
        "sent_rate" => Metric::SentRate,
        lower => match lower.strip_prefix('p') {
            Some(number) if !number.is_empty() => Metric::Percentile(parse_percentile(number)?),
            _ => return Err(format!("unknown metric `{text}`; known: {KNOWN_METRICS}")),
        },
    };
    Ok(metric)
}

fn parse_percentile(number: &str) -> Result<f64, String> {
    let valid_digits = number.chars().all(|c| c.is_ascii_digit() || c == '.');
    match number.parse::<f64>() {
        Ok(p) if valid_digits && p > 0.0 && p <= 100.0 => Ok(p),
        Ok(_) if valid_digits => Err(format!(
            "percentile p{number} is out of range; it must be above 0 and at most 100"
        )),
        _ => Err(format!(
            "unknown metric `p{number}`; known: {KNOWN_METRICS}"
        )),
    }
}

/// Parses the value and its unit, checking that the unit fits the metric. Returns the threshold
/// in the metric's base unit.
fn parse_value(metric: Metric, text: &str) -> Result<(f64, Unit), String> {
    let split_at = text
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E')))
        .unwrap_or(text.len());
    let (number_text, unit_text) = (&text[..split_at], text[split_at..].trim());
    let number: f64 = number_text
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite())
        .ok_or_else(|| format!("`{text}` is not a number followed by an optional unit"))?;
    if number < 0.0 {
        return Err(format!("`{text}`: a negative value can never be measured"));
    }
    match metric {
        Metric::Percentile(_) | Metric::Min | Metric::Mean | Metric::Max => {
            time_value(number, unit_text)
        }
        Metric::Errors | Metric::Status(_) => count_value(number, unit_text),
        Metric::Throughput | Metric::SentRate => rate_value(number, unit_text),
    }
}

fn time_value(number: f64, unit: &str) -> Result<(f64, Unit), String> {
    if unit == "%" {
        return Err("a latency is a duration, not a percentage; use ns, us, µs, ms or s".into());
    }
    if unit.is_empty() {
        return Err("a latency needs a unit: ns, us, µs, ms or s (e.g. `50ms`)".into());
    }
    let (suffix, per_ms) = TIME_UNITS
        .iter()
        .find(|(suffix, _)| *suffix == unit)
        .copied()
        .ok_or_else(|| format!("unknown unit `{unit}` for a latency; use ns, us, µs, ms or s"))?;
    Ok((number / per_ms, Unit::Time { suffix, per_ms }))
}

fn count_value(number: f64, unit: &str) -> Result<(f64, Unit), String> {
    match unit {
        "%" if number > 100.0 => Err(format!("{number}% is more than 100%")),
        "%" => Ok((number / 100.0, Unit::Percent)),
        "" => Ok((number, Unit::Count)),
        other => Err(format!(
            "unknown unit `{other}`; a count takes no unit, a share takes `%`"
        )),
    }
}

fn rate_value(number: f64, unit: &str) -> Result<(f64, Unit), String> {
    match unit {
        "" | "/s" => Ok((number, Unit::PerSecond)),
        "%" => Err("a rate is in requests per second, not a percentage (e.g. `rps > 1000`)".into()),
        other => Err(format!(
            "unknown unit `{other}`; a rate is in requests per second (`1000` or `1000/s`)"
        )),
    }
}

/// A number with about four significant digits and no trailing zeros: `12.35`, `0.05`, `4980`.
fn number(value: f64) -> String {
    if value == 0.0 || !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs().log10().floor() as i32;
    let decimals = (3 - magnitude).clamp(0, 6) as usize;
    let text = format!("{value:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::model::{LatencyStats, Percentile, StatusCounts};

    fn summary() -> Summary {
        Summary {
            duration_s: 10.0,
            sent: 1000,
            completed: 990,
            failed: 10,
            sent_rate: 100.0,
            throughput: 99.0,
            status: StatusCounts {
                s2xx: 900,
                s4xx: 20,
                s429: 50,
                s5xx: 20,
                ..StatusCounts::default()
            },
            error_count: 30,
            error_rate: 0.03,
            ..Summary::default()
        }
    }

    fn latency() -> LatencyViews {
        let corrected = LatencyStats {
            count: 990,
            min_ms: 0.5,
            mean_ms: 4.0,
            max_ms: 120.0,
            percentiles: vec![
                Percentile {
                    percentile: 50.0,
                    ms: 3.0,
                },
                Percentile {
                    percentile: 99.0,
                    ms: 42.0,
                },
                Percentile {
                    percentile: 99.9,
                    ms: 80.0,
                },
            ],
            ..LatencyStats::default()
        };
        LatencyViews {
            corrected,
            uncorrected: LatencyStats::default(),
        }
    }

    fn no_lookup(p: f64) -> f64 {
        panic!("p{p} should have come from the fixed percentiles")
    }

    fn check(text: &str) -> AssertionResult {
        Assertion::parse(text)
            .unwrap()
            .check("run", &summary(), &latency(), &no_lookup)
    }

    fn parse_err(text: &str) -> String {
        Assertion::parse(text).unwrap_err()
    }

    #[test]
    fn latency_percentile_in_its_unit() {
        let result = check("p99 < 50ms");
        assert!(result.passed);
        assert_eq!(result.actual, "42ms");
        assert_eq!(result.expr, "p99 < 50ms");
        assert_eq!(result.scope, "run");
        let result = check("p99 < 0.04s");
        assert!(!result.passed);
        assert_eq!(result.actual, "0.042s");
        assert_eq!(check("p99.9 <= 80000us").actual, "80000us");
        assert!(check("p99.9 <= 80000µs").passed);
        assert_eq!(check("p50 > 2999999ns").actual, "3000000ns");
    }

    #[test]
    fn other_percentiles_come_from_the_lookup() {
        let assertion = Assertion::parse("p95 < 20ms").unwrap();
        let lookup = |p: f64| {
            assert_eq!(p, 95.0);
            12.345
        };
        let result = assertion.check("steady", &summary(), &latency(), &lookup);
        assert!(result.passed);
        assert_eq!(result.actual, "12.35ms");
        assert_eq!(result.scope, "steady");
    }

    #[test]
    fn min_mean_max() {
        assert!(check("min >= 0.5ms").passed);
        assert!(check("mean < 5ms").passed);
        let result = check("max < 100ms");
        assert!(!result.passed);
        assert_eq!(result.actual, "120ms");
    }

    #[test]
    fn error_share_and_count() {
        let result = check("errors < 1%");
        assert!(!result.passed);
        assert_eq!(result.actual, "3%");
        assert!(check("errors < 5%").passed);
        let result = check("errors <= 30");
        assert!(result.passed);
        assert_eq!(result.actual, "30");
        assert!(!check("errors < 30").passed);
    }

    #[test]
    fn errors_follow_the_summary_when_429_counts() {
        // With --count-429-as-error the summary counts the 50 429s as errors too.
        let counted = Summary {
            error_count: 80,
            error_rate: 0.08,
            ..summary()
        };
        let check = |text: &str| {
            Assertion::parse(text)
                .unwrap()
                .check("run", &counted, &latency(), &|_| 0.0)
        };
        let result = check("errors <= 30");
        assert!(!result.passed);
        assert_eq!(result.actual, "80");
        assert_eq!(check("errors < 5%").actual, "8%");
    }

    #[test]
    fn status_classes() {
        assert_eq!(check("429 > 0").actual, "50");
        assert_eq!(check("429 >= 5%").actual, "5%");
        assert!(check("429 >= 5%").passed);
        assert_eq!(check("2xx > 90%").actual, "90%");
        assert!(!check("2xx > 90%").passed);
        assert!(check("4xx == 20").passed);
        assert!(check("3xx == 0").passed);
        assert!(check("5xx == 2%").passed);
    }

    #[test]
    fn rates() {
        let result = check("rps >= 99");
        assert!(result.passed);
        assert_eq!(result.actual, "99/s");
        assert!(check("throughput > 98/s").passed);
        assert!(!check("sent_rate < 100").passed);
    }

    #[test]
    fn operators() {
        assert!(check("p99<50ms").passed);
        assert!(check("p99 <= 42ms").passed);
        assert!(!check("p99 < 42ms").passed);
        assert!(check("p99 == 42ms").passed);
        assert!(check("p99 >= 42ms").passed);
        assert!(!check("p99 > 42ms").passed);
        assert!(check("  p99   >   1ms  ").passed);
    }

    #[test]
    fn nothing_measured_fails() {
        let empty = Summary::default();
        let none = LatencyViews::default();
        let run = |text: &str| {
            Assertion::parse(text)
                .unwrap()
                .check("run", &empty, &none, &|_| 0.0)
        };
        for text in ["p99 < 50ms", "max < 1s", "mean > 0ms", "p95 < 1s"] {
            let result = run(text);
            assert!(!result.passed, "{text}");
            assert_eq!(result.actual, "no responses");
        }
        for text in ["errors < 1%", "errors == 0", "5xx < 1%", "429 == 0"] {
            let result = run(text);
            assert!(!result.passed, "{text}");
            assert_eq!(result.actual, "no requests ended");
        }
        let result = run("rps < 1000");
        assert!(result.passed);
        assert_eq!(result.actual, "0/s");
    }

    #[test]
    fn all_failed_is_measured() {
        let all_failed = Summary {
            sent: 10,
            failed: 10,
            error_rate: 1.0,
            ..Summary::default()
        };
        let result = Assertion::parse("errors < 1%").unwrap().check(
            "run",
            &all_failed,
            &LatencyViews::default(),
            &|_| 0.0,
        );
        assert!(!result.passed);
        assert_eq!(result.actual, "100%");
    }

    #[test]
    fn unknown_metric_lists_the_known_ones() {
        let err = parse_err("latency < 5ms");
        assert!(err.contains("unknown metric `latency`"), "{err}");
        assert!(err.contains("p99") && err.contains("sent_rate"), "{err}");
        assert!(parse_err("pxx < 5ms").contains("unknown metric `pxx`"));
        assert!(parse_err("p < 5ms").contains("unknown metric `p`"));
    }

    #[test]
    fn percentile_range() {
        assert!(parse_err("p0 < 5ms").contains("out of range"));
        assert!(parse_err("p101 < 5ms").contains("out of range"));
        assert!(Assertion::parse("p100 < 5ms").is_ok());
        assert!(Assertion::parse("p99.999 < 5ms").is_ok());
        assert!(Assertion::parse("P99 < 5ms").is_ok());
    }

    #[test]
    fn bad_operators() {
        assert!(parse_err("p99 = 5ms").contains("unknown operator `=`"));
        assert!(parse_err("p99 != 5ms").contains("unknown operator `!=`"));
        assert!(parse_err("p99 => 5ms").contains("unknown operator `=>`"));
        assert!(parse_err("p99 5ms").contains("expected METRIC OP VALUE"));
        assert!(parse_err("< 5ms").contains("no metric"));
        assert!(parse_err("p99 <").contains("no value"));
    }

    #[test]
    fn bad_units() {
        assert!(parse_err("p99 < 5%").contains("not a percentage"));
        assert!(parse_err("p99 < 5").contains("needs a unit"));
        assert!(parse_err("p99 < 5 parsecs").contains("unknown unit `parsecs`"));
        assert!(parse_err("errors < 5ms").contains("unknown unit `ms`"));
        assert!(parse_err("errors < 101%").contains("more than 100%"));
        assert!(parse_err("rps > 5%").contains("not a percentage"));
        assert!(parse_err("rps > 5k").contains("unknown unit `k`"));
        assert!(parse_err("p99 < fast").contains("not a number"));
        assert!(parse_err("p99 < -1ms").contains("negative"));
        assert!(parse_err("p99 < 1e999ms").contains("not a number"));
    }

    #[test]
    fn errors_quote_the_assertion() {
        let err = parse_err("p99 < 5%");
        assert!(err.starts_with("assertion `p99 < 5%`: "), "{err}");
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(0.0), "0");
        assert_eq!(number(12.345), "12.35");
        assert_eq!(number(0.05), "0.05");
        assert_eq!(number(0.000_123_4), "0.000123");
        assert_eq!(number(4980.4), "4980");
        assert_eq!(number(100.0), "100");
        assert_eq!(number(99.95), "99.95");
    }

    #[test]
    fn display_and_accessors() {
        let assertion = Assertion::parse(" errors < 1% ").unwrap();
        assert_eq!(assertion.to_string(), "errors < 1%");
        assert_eq!(assertion.text(), "errors < 1%");
        assert!(!assertion.is_latency());
        assert!(Assertion::parse("max < 1s").unwrap().is_latency());
    }
}
