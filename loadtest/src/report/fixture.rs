//! Realistic `Report`s for tests (open and closed model, and an empty run); test-only.

use hdrhistogram::Histogram;

use super::model::{
    ActionEvent, AssertionResult, ErrorCounts, GroupKind, GroupReport, GroupValue, HttpVersion,
    LatencyStats, LatencyViews, Model, Percentile, PhaseReport, Recovery, Report, RunConfig,
    SCHEMA, Second, SpectrumPoint, StatusCounts, Summary, TargetInfo, TargetReport,
};
use super::units::KEY_PERCENTILES;

/// Run length of the fixtures, in seconds.
const SECONDS: u32 = 10;
/// When the failure action fires, in seconds.
const FAILURE_AT: u32 = 6;

/// An open-model scenario: two targets, a ramp then a steady phase, one failure action at 6 s
/// with its recovery, three assertions (one failed), ten seconds of timeline, responses grouped
/// by `x-weir-origin-region` (us-east until the failure, then eu-west).
pub fn open() -> Report {
    let timeline: Vec<Second> = (0..SECONDS).map(open_second).collect();
    let summary = summarize(&timeline, Model::Open);
    let warm = phase_from(&timeline, "warm-up", "ramp", 0, 5, (100.0, 500.0));
    let steady = phase_from(&timeline, "steady", "steady", 5, 10, (500.0, 500.0));
    let targets = vec![
        target("http://127.0.0.1:8080/a", "GET", 3),
        target("http://127.0.0.1:8080/b?x=1&y=2", "POST", 1),
    ];
    let per_target = targets
        .iter()
        .map(|t| target_report(t, &summary, 4))
        .collect();
    let group_by = Some(groups(&timeline));
    Report {
        schema: SCHEMA,
        tool_version: "0.1.0",
        started_at_unix_ms: 1_767_225_600_000,
        config: RunConfig {
            scenario: Some("a region dies under load".to_owned()),
            targets,
            model: Model::Open,
            http: HttpVersion::Http1,
            connections: 64,
            concurrency: 64,
            threads: 2,
            duration_s: f64::from(SECONDS),
            timeout_ms: 2000.0,
            count_429_as_error: false,
        },
        latency: views(summary.completed, 1.0, 1.6),
        summary,
        timeline,
        phases: vec![warm, steady],
        targets: per_target,
        group_by,
        actions: vec![failure_action()],
        recoveries: vec![Recovery {
            action: "us-east origins fail".to_owned(),
            at_s: 6.002,
            baseline_error_rate: 0.0,
            peak_error_rate: 0.42,
            recovered_after_s: Some(1.8),
        }],
        assertions: vec![
            assertion("errors < 1%", "run", "10.68%", false),
            assertion("p99 < 50ms", "run", "21.40ms", true),
            assertion("p99 < 10ms", "warm-up", "8.20ms", true),
        ],
    }
}

/// A plain closed-model run: one target, one phase `main`, no actions.
pub fn closed() -> Report {
    let timeline: Vec<Second> = (0..SECONDS).map(closed_second).collect();
    let summary = summarize(&timeline, Model::Closed);
    let main = phase_from(&timeline, "main", "steady", 0, SECONDS, (0.0, 0.0));
    let latency = views(summary.completed, 1.0, 1.0);
    let only = target("http://127.0.0.1:8080/", "GET", 1);
    let per_target = vec![target_report(&only, &summary, 1)];
    Report {
        schema: SCHEMA,
        tool_version: "0.1.0",
        started_at_unix_ms: 1_767_225_600_000,
        config: RunConfig {
            scenario: None,
            targets: vec![only],
            model: Model::Closed,
            http: HttpVersion::Http2,
            connections: 4,
            concurrency: 64,
            threads: 1,
            duration_s: f64::from(SECONDS),
            timeout_ms: 10_000.0,
            count_429_as_error: false,
        },
        summary,
        latency,
        timeline,
        phases: vec![PhaseReport {
            rate_from: None,
            rate_to: None,
            ..main
        }],
        targets: per_target,
        group_by: None,
        actions: Vec::new(),
        recoveries: Vec::new(),
        assertions: Vec::new(),
    }
}

/// A run that sent nothing: empty timeline, no phases, all-zero latency.
pub fn empty() -> Report {
    let mut report = closed();
    report.config.duration_s = 0.0;
    report.summary = Summary::default();
    report.latency = LatencyViews::default();
    report.timeline.clear();
    report.phases.clear();
    for t in &mut report.targets {
        t.summary = Summary::default();
        t.latency = LatencyStats::default();
    }
    report
}

/// A target's share (`weight` out of 4, or all of it when `of` is 1) of the run's `summary`.
fn target_report(t: &TargetInfo, summary: &Summary, of: u32) -> TargetReport {
    let part = |n: u64| n * u64::from(t.weight) / u64::from(of.max(1));
    let mut s = Summary {
        scheduled: None,
        target_rate: None,
        sent: part(summary.sent),
        completed: part(summary.completed),
        failed: part(summary.failed),
        bytes_received: part(summary.bytes_received),
        status: StatusCounts {
            s2xx: part(summary.status.s2xx),
            s429: part(summary.status.s429),
            s5xx: part(summary.status.s5xx),
            ..StatusCounts::default()
        },
        errors: ErrorCounts {
            timeout: part(summary.errors.timeout),
            ..ErrorCounts::default()
        },
        ..summary.clone()
    };
    s.sent_rate = s.sent as f64 / summary.duration_s.max(1.0);
    s.throughput = s.completed as f64 / summary.duration_s.max(1.0);
    s.error_count = s.failed + s.status.s5xx;
    let ended = s.completed + s.failed;
    s.error_rate = if ended == 0 {
        0.0
    } else {
        s.error_count as f64 / ended as f64
    };
    TargetReport {
        url: t.url.clone(),
        method: t.method.clone(),
        weight: t.weight,
        latency: stats(s.completed, 1.0 + f64::from(t.weight) / 4.0),
        summary: s,
    }
}

/// The open fixture's groups: us-east answers until the failure action, eu-west after it; a few
/// responses from the gateway itself carry no header (the 429s).
fn groups(timeline: &[Second]) -> GroupReport {
    let mut values = vec![
        group_value(Some("us-east"), GroupKind::Value),
        group_value(Some("eu-west"), GroupKind::Value),
        group_value(None, GroupKind::Missing),
    ];
    for s in timeline {
        for (value, n) in values.iter_mut().zip(&s.groups) {
            value.responses += n;
        }
        let region = usize::from(s.t >= FAILURE_AT);
        values[region].status.s2xx += s.status.s2xx;
        values[region].status.s5xx += s.status.s5xx;
        values[2].status.s429 += s.status.s429;
    }
    GroupReport {
        header: "x-weir-origin-region".to_owned(),
        max_values: 16,
        values,
    }
}

fn group_value(value: Option<&str>, kind: GroupKind) -> GroupValue {
    GroupValue {
        value: value.map(str::to_owned),
        kind,
        responses: 0,
        status: StatusCounts::default(),
    }
}

fn target(url: &str, method: &str, weight: u32) -> TargetInfo {
    TargetInfo {
        url: url.to_owned(),
        method: method.to_owned(),
        weight,
    }
}

fn assertion(expr: &str, scope: &str, actual: &str, passed: bool) -> AssertionResult {
    AssertionResult {
        expr: expr.to_owned(),
        scope: scope.to_owned(),
        actual: actual.to_owned(),
        passed,
    }
}

fn failure_action() -> ActionEvent {
    ActionEvent {
        name: "us-east origins fail".to_owned(),
        kind: "http".to_owned(),
        at_s: f64::from(FAILURE_AT),
        fired_at_s: 6.002,
        duration_ms: 3.4,
        ok: true,
        detail: "200 {\"status\":503}".to_owned(),
        failure: true,
    }
}

/// Second `t` of the open fixture: a ramp to 500/s, then 5xx for two seconds after the action.
fn open_second(t: u32) -> Second {
    let rate = if t < 5 { 100 + 80 * u64::from(t) } else { 500 };
    let failing = t == FAILURE_AT || t == FAILURE_AT + 1;
    let s5xx = if failing { rate * 2 / 5 } else { 0 };
    let timeouts = u64::from(failing) * 3;
    let completed = rate - timeouts;
    let slow = if failing { 6.0 } else { 1.0 };
    let by_region = completed - 2;
    let groups = if t < FAILURE_AT {
        vec![by_region, 0, 2]
    } else {
        vec![0, by_region, 2]
    };
    Second {
        t,
        scheduled: Some(rate),
        sent: rate,
        completed,
        status: StatusCounts {
            s2xx: completed - s5xx - 2,
            s429: 2,
            s5xx,
            ..StatusCounts::default()
        },
        errors: ErrorCounts {
            timeout: timeouts,
            ..ErrorCounts::default()
        },
        p50_ms: Some(1.2 * slow),
        p99_ms: Some(4.8 * slow + f64::from(t) * 0.1),
        max_ms: Some(9.5 * slow),
        groups,
    }
}

/// Second `t` of the closed fixture: as fast as it goes, no errors.
fn closed_second(t: u32) -> Second {
    let done = 20_000 + 150 * u64::from(t % 3);
    Second {
        t,
        scheduled: None,
        sent: done,
        completed: done,
        status: StatusCounts {
            s2xx: done,
            ..StatusCounts::default()
        },
        errors: ErrorCounts::default(),
        p50_ms: Some(2.9),
        p99_ms: Some(7.5),
        max_ms: Some(12.0),
        groups: Vec::new(),
    }
}

/// Totals of `seconds`, as the engine would compute them.
fn summarize(seconds: &[Second], model: Model) -> Summary {
    let duration_s = seconds.len() as f64;
    let mut sum = Summary {
        duration_s,
        ..Summary::default()
    };
    for s in seconds {
        sum.sent += s.sent;
        sum.completed += s.completed;
        sum.status = add_status(sum.status, s.status);
        sum.errors = add_errors(sum.errors, s.errors);
        if let Some(n) = s.scheduled {
            sum.scheduled = Some(sum.scheduled.unwrap_or(0) + n);
        }
    }
    let e = sum.errors;
    sum.failed = e.connect + e.timeout + e.io + e.protocol;
    sum.bytes_received = sum.completed * 312;
    if model == Model::Open && duration_s > 0.0 {
        sum.target_rate = sum.scheduled.map(|n| n as f64 / duration_s);
    }
    if duration_s > 0.0 {
        sum.sent_rate = sum.sent as f64 / duration_s;
        sum.throughput = sum.completed as f64 / duration_s;
    }
    let ended = sum.completed + sum.failed;
    sum.error_count = sum.failed + sum.status.s5xx;
    if ended > 0 {
        sum.error_rate = sum.error_count as f64 / ended as f64;
    }
    sum
}

fn add_status(a: StatusCounts, b: StatusCounts) -> StatusCounts {
    StatusCounts {
        s1xx: a.s1xx + b.s1xx,
        s2xx: a.s2xx + b.s2xx,
        s3xx: a.s3xx + b.s3xx,
        s4xx: a.s4xx + b.s4xx,
        s429: a.s429 + b.s429,
        s5xx: a.s5xx + b.s5xx,
    }
}

fn add_errors(a: ErrorCounts, b: ErrorCounts) -> ErrorCounts {
    ErrorCounts {
        connect: a.connect + b.connect,
        timeout: a.timeout + b.timeout,
        io: a.io + b.io,
        protocol: a.protocol + b.protocol,
    }
}

/// A phase covering seconds `from..to` of `timeline`.
fn phase_from(
    timeline: &[Second],
    name: &str,
    kind: &str,
    from: u32,
    to: u32,
    rates: (f64, f64),
) -> PhaseReport {
    let part: Vec<Second> = timeline
        .iter()
        .filter(|s| (from..to).contains(&s.t))
        .cloned()
        .collect();
    let mut summary = summarize(&part, Model::Open);
    summary.target_rate = Some((rates.0 + rates.1) / 2.0);
    PhaseReport {
        name: name.to_owned(),
        kind: kind.to_owned(),
        start_s: f64::from(from),
        end_s: f64::from(to),
        rate_from: Some(rates.0),
        rate_to: Some(rates.1),
        latency: views(summary.completed, 1.0, 1.3),
        summary,
    }
}

/// Corrected and uncorrected views of `count` synthetic latencies; the corrected one is
/// `stretch` times slower in its tail than the uncorrected one (scaled by `scale`).
fn views(count: u64, scale: f64, stretch: f64) -> LatencyViews {
    LatencyViews {
        corrected: stats(count, scale * stretch),
        uncorrected: stats(count, scale),
    }
}

/// A latency distribution of `count` values recorded in an HdrHistogram (microseconds), with
/// the spectrum wrk2 prints (5 ticks per half distance).
pub fn stats(count: u64, tail: f64) -> LatencyStats {
    let mut hist = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds");
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..count {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let x = (seed >> 11) as f64 / (1u64 << 53) as f64;
        let us = 700.0 + 900.0 * x + 40_000.0 * tail * x.powi(40);
        hist.record(us as u64).expect("value within bounds");
    }
    if hist.is_empty() {
        return LatencyStats::default();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let mut total = 0;
    let spectrum = hist
        .iter_quantiles(5)
        .map(|v| {
            total += v.count_since_last_iteration();
            SpectrumPoint {
                ms: ms(v.value_iterated_to()),
                quantile: v.quantile_iterated_to(),
                total_count: total,
            }
        })
        .collect();
    LatencyStats {
        count: hist.len(),
        min_ms: ms(hist.min()),
        mean_ms: hist.mean() / 1000.0,
        stdev_ms: hist.stdev() / 1000.0,
        max_ms: ms(hist.max()),
        percentiles: KEY_PERCENTILES
            .iter()
            .map(|&p| Percentile {
                percentile: p,
                ms: ms(hist.value_at_quantile(p / 100.0)),
            })
            .collect(),
        spectrum,
    }
}
