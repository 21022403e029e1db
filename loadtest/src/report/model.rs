//! The report of one run: every figure the text, JSON and HTML outputs show.
//!
//! Serialized as is by `--json FILE`; the schema is `loadtest/schema/report.schema.json`
//! (documented in `loadtest/README.md`). Latencies are in milliseconds (f64), times within the
//! run in seconds from its start (f64), counts as integers.

use serde::Serialize;

/// Value of [`Report::schema`]; bump on an incompatible change.
pub const SCHEMA: &str = "weir-loadtest/report/v1";

/// Everything one run (or one scenario) measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// `weir-loadtest` version that produced it.
    pub tool_version: &'static str,
    /// Wall-clock time of second 0 of the run (after the connections were opened; every
    /// `*_s` time in the report counts from it), Unix milliseconds.
    pub started_at_unix_ms: u64,
    /// What was asked for.
    pub config: RunConfig,
    /// Whole-run totals and rates.
    pub summary: Summary,
    /// Whole-run latency, corrected (from the scheduled send time) and uncorrected (from the
    /// actual send time). In the closed model both are the same.
    pub latency: LatencyViews,
    /// One entry per second of the run, in order, from second 0.
    pub timeline: Vec<Second>,
    /// One entry per phase (a plain `run` has one phase, named `main`).
    pub phases: Vec<PhaseReport>,
    /// One entry per target, in `config.targets` order: its requests, statuses and latency.
    pub targets: Vec<TargetReport>,
    /// Responses by the value of a response header (`--group-by-header`); `null` without it.
    pub group_by: Option<GroupReport>,
    /// Scenario actions as they fired, in firing order (empty for a plain `run`).
    pub actions: Vec<ActionEvent>,
    /// For each action marked as a failure event: how long until errors were back to normal.
    pub recoveries: Vec<Recovery>,
    /// Every assertion checked (whole run and per phase), in the order given.
    pub assertions: Vec<AssertionResult>,
}

/// The load as configured.
#[derive(Clone, Debug, Serialize)]
pub struct RunConfig {
    /// Scenario name, or `null` for a plain `run`.
    pub scenario: Option<String>,
    /// Targets with their weights.
    pub targets: Vec<TargetInfo>,
    /// `open` (constant arrival rate) or `closed` (each connection as fast as possible).
    pub model: Model,
    /// `http1` or `http2`.
    pub http: HttpVersion,
    /// TCP connections opened (HTTP/2: shared by `concurrency` streams).
    pub connections: u32,
    /// Requests that may be in flight at once (HTTP/1.1: equal to `connections`).
    pub concurrency: u32,
    /// Worker threads.
    pub threads: u32,
    /// Planned duration in seconds (sum of the phases).
    pub duration_s: f64,
    /// Per-request timeout in milliseconds.
    pub timeout_ms: f64,
    /// Whether a 429 counts as an error (`--count-429-as-error`) in `error_count`,
    /// `error_rate`, the `errors` assertions and the recoveries.
    pub count_429_as_error: bool,
}

/// One target URL.
#[derive(Clone, Debug, Serialize)]
pub struct TargetInfo {
    pub url: String,
    pub method: String,
    /// Relative weight (the share of requests is weight / sum of weights).
    pub weight: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Model {
    Open,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HttpVersion {
    Http1,
    Http2,
}

impl HttpVersion {
    /// `--http2` (or a scenario's `http2 = true`) asks for h2c, else HTTP/1.1.
    pub fn from_http2_flag(http2: bool) -> HttpVersion {
        if http2 {
            HttpVersion::Http2
        } else {
            HttpVersion::Http1
        }
    }
}

/// Totals over a span (the whole run or a phase).
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// Measured length of the span in seconds.
    pub duration_s: f64,
    /// Requests the schedule asked for in the span (open model); `null` in the closed model.
    pub scheduled: Option<u64>,
    /// Requests written to a connection.
    pub sent: u64,
    /// Requests that got a response (any status).
    pub completed: u64,
    /// Requests that ended in a transport error or timeout (see `errors`).
    pub failed: u64,
    /// Target arrival rate in requests/s (open model; mean over the span); `null` when closed.
    pub target_rate: Option<f64>,
    /// `sent / duration_s`.
    pub sent_rate: f64,
    /// `completed / duration_s`: the throughput.
    pub throughput: f64,
    /// Response bytes read (headers and body).
    pub bytes_received: u64,
    /// Responses by status class.
    pub status: StatusCounts,
    /// Transport failures by kind.
    pub errors: ErrorCounts,
    /// `failed + status.5xx`, plus `status.429` with `config.count_429_as_error`.
    pub error_count: u64,
    /// `error_count / (completed + failed)`, 0 when nothing ended: what `errors < 1%` checks.
    /// A 429 is an error only with `config.count_429_as_error`.
    pub error_rate: f64,
}

/// Responses by status. `4xx` does not include `429`, which is counted on its own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct StatusCounts {
    #[serde(rename = "1xx")]
    pub s1xx: u64,
    #[serde(rename = "2xx")]
    pub s2xx: u64,
    #[serde(rename = "3xx")]
    pub s3xx: u64,
    #[serde(rename = "4xx")]
    pub s4xx: u64,
    #[serde(rename = "429")]
    pub s429: u64,
    #[serde(rename = "5xx")]
    pub s5xx: u64,
}

/// Requests that got no response, by why.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts {
    /// The TCP (or TLS) connection could not be opened.
    pub connect: u64,
    /// No complete response within the timeout.
    pub timeout: u64,
    /// The connection broke (reset, closed early) while sending or reading.
    pub io: u64,
    /// The response was not valid HTTP.
    pub protocol: u64,
}

/// The two views of the latency.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyViews {
    /// From the time the request was scheduled to be sent (open model; corrects coordinated
    /// omission). In the closed model it equals `uncorrected`.
    pub corrected: LatencyStats,
    /// From the time the request was actually written.
    pub uncorrected: LatencyStats,
}

/// One latency distribution, in milliseconds. All zero when no request completed.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LatencyStats {
    /// Responses recorded (transport errors and timeouts are not latencies).
    pub count: u64,
    pub min_ms: f64,
    pub mean_ms: f64,
    pub stdev_ms: f64,
    pub max_ms: f64,
    /// Fixed percentiles: 50, 75, 90, 99, 99.9, 99.99, 99.999, 100.
    pub percentiles: Vec<Percentile>,
    /// The HdrHistogram percentile spectrum (as wrk2 prints it): value, percentile and
    /// cumulative count, with ticks halving the distance to 100%.
    pub spectrum: Vec<SpectrumPoint>,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct Percentile {
    /// e.g. 99.9
    pub percentile: f64,
    pub ms: f64,
}

#[derive(Clone, Copy, Debug, Serialize)]
pub struct SpectrumPoint {
    pub ms: f64,
    /// 0.0..=1.0
    pub quantile: f64,
    pub total_count: u64,
}

/// One second of the run: requests by the second they were sent or ended in.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Second {
    /// Seconds from the start (0, 1, 2, ...).
    pub t: u32,
    /// Requests the schedule asked for in this second (open model), else `null`.
    pub scheduled: Option<u64>,
    /// Requests written in this second.
    pub sent: u64,
    /// Responses that arrived in this second.
    pub completed: u64,
    pub status: StatusCounts,
    pub errors: ErrorCounts,
    /// Corrected latency of the responses that arrived in this second; `null` when none.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Responses that arrived in this second by group, one count per `group_by.values` entry
    /// (in that order); empty without `--group-by-header`.
    pub groups: Vec<u64>,
}

/// What one target got.
#[derive(Clone, Debug, Serialize)]
pub struct TargetReport {
    pub url: String,
    pub method: String,
    pub weight: u32,
    /// Its requests over the whole run (`scheduled` and `target_rate` are `null`: the schedule
    /// is for all targets).
    pub summary: Summary,
    /// Its corrected latency (from the due time, as the run's `latency.corrected`).
    pub latency: LatencyStats,
}

/// Responses grouped by the value of one response header.
#[derive(Clone, Debug, Serialize)]
pub struct GroupReport {
    /// The header, lowercase.
    pub header: String,
    /// Most distinct values tracked; later ones are counted as `other`.
    pub max_values: u32,
    /// The values in the order first seen, then `other` and `missing` when they occurred.
    pub values: Vec<GroupValue>,
}

/// One group: a header value, the values past the limit, or responses without the header.
#[derive(Clone, Debug, Serialize)]
pub struct GroupValue {
    /// The header's value (at most 128 bytes; bytes that are not UTF-8 are replaced by U+FFFD);
    /// `null` for `other` and `missing`.
    pub value: Option<String>,
    pub kind: GroupKind,
    /// Responses in this group over the run.
    pub responses: u64,
    pub status: StatusCounts,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupKind {
    /// One value of the header.
    Value,
    /// Any value seen after `max_values` others.
    Other,
    /// Responses without the header.
    Missing,
}

/// One phase of a scenario (or the whole of a plain run).
#[derive(Clone, Debug, Serialize)]
pub struct PhaseReport {
    pub name: String,
    /// `ramp`, `steady` or `spike` (a plain run: `steady`).
    pub kind: String,
    /// Seconds from the start of the run.
    pub start_s: f64,
    pub end_s: f64,
    /// Arrival rate at the start and end of the phase (equal unless a ramp); `null` when closed.
    pub rate_from: Option<f64>,
    pub rate_to: Option<f64>,
    /// Requests scheduled in this phase, counted wherever they ended.
    pub summary: Summary,
    pub latency: LatencyViews,
}

/// A scenario action as it happened.
#[derive(Clone, Debug, Serialize)]
pub struct ActionEvent {
    pub name: String,
    /// `http` or `command`.
    pub kind: String,
    /// When it was due, seconds from the start.
    pub at_s: f64,
    /// When it started, seconds from the start.
    pub fired_at_s: f64,
    /// How long it took, in milliseconds.
    pub duration_ms: f64,
    /// Whether it succeeded (HTTP: a 2xx; command: exit status 0).
    pub ok: bool,
    /// Status code or exit status and the first part of the answer or error, for the report.
    pub detail: String,
    /// Whether the report measures the recovery after it (`failure = true` in the scenario).
    pub failure: bool,
}

/// Time from a failure event until the error rate was back to normal.
#[derive(Clone, Debug, Serialize)]
pub struct Recovery {
    /// The action's name.
    pub action: String,
    /// When the action fired, seconds from the start.
    pub at_s: f64,
    /// Error rate before the action (the baseline window), 0.0..=1.0.
    pub baseline_error_rate: f64,
    /// Highest error rate of a 100 ms slice after the action.
    pub peak_error_rate: f64,
    /// Seconds from the action until the error rate returned to normal and stayed there;
    /// 0 when it never left normal; `null` when it had not recovered by the end of the run.
    pub recovered_after_s: Option<f64>,
}

/// One assertion and its outcome.
#[derive(Clone, Debug, Serialize)]
pub struct AssertionResult {
    /// As written, e.g. `p99 < 50ms`.
    pub expr: String,
    /// `run`, or the phase's name.
    pub scope: String,
    /// The measured value, in the assertion's unit (e.g. `12.3ms`, `0.05%`, `4980/s`).
    pub actual: String,
    pub passed: bool,
}
