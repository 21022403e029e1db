//! The `run` subcommand: load against one or more URLs, open or closed model, and the report.
//!
//! `args` are turned into a checked [`Plan`] here; `driver` runs any plan (a scenario's too),
//! shows progress, and writes the text, JSON and HTML reports.

pub mod driver;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::load::schedule::{Schedule, Segment};
use crate::load::target::{Target, TargetSpec, parse_weighted_url};
use crate::load::{LoadShape, Pacing, Plan};
use crate::report::build::{PhasePlan, RunInfo};
use crate::report::model::{HttpVersion, TargetInfo};

/// Exit status when an assertion failed.
pub const EXIT_ASSERTION: u8 = 1;
/// Exit status for bad arguments or a bad scenario file.
pub const EXIT_USAGE: u8 = 2;
/// Exit status when the run could not start or its report could not be written.
pub const EXIT_RUN: u8 = 3;

/// Command-line arguments of `weir-loadtest run`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    weir-loadtest run -c 50 -d 10s http://127.0.0.1:8080/            closed model, as fast as 50 connections go\n  \
    weir-loadtest run --rate 5000 -d 30s http://127.0.0.1:8080/      open model, 5000 req/s, latency from the schedule\n  \
    weir-loadtest run --rate 1000 3@http://h:8080/a 1@http://h:8080/b --assert 'p99 < 50ms' --html report.html\n  \
    weir-loadtest run --rate 200 -d 60s http://127.0.0.1:8080/ --group-by-header x-weir-origin-region --html report.html\n\n\
    The summary goes to stdout (with --spectrum, the percentile spectrum after it), then where the\n\
    JSON and HTML reports were written.\n\n\
    Exit status: 0 ok, 1 an assertion failed, 2 bad arguments, 3 the run could not start or write its report.")]
pub struct RunArgs {
    /// Target URL (http:// only); `WEIGHT@URL` sends it that share of the requests.
    #[arg(value_name = "URL", required = true)]
    urls: Vec<String>,

    /// How long to send.
    #[arg(short = 'd', long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    duration: Duration,

    /// Open model: this many requests per second in total, each timed from when it was due.
    /// Without it: closed model, each connection sends its next request when the last ended.
    #[arg(short = 'R', long, value_name = "REQ/S")]
    rate: Option<f64>,

    /// TCP connections.
    #[arg(short = 'c', long, value_name = "N", default_value_t = 50)]
    connections: u32,

    /// HTTP/2 streams per connection (each a request that may be in flight).
    #[arg(long, value_name = "N", default_value_t = 1)]
    streams: u32,

    /// Worker threads (each with its share of the connections).
    #[arg(short = 't', long, value_name = "N", default_value_t = 1)]
    threads: u32,

    /// Speak HTTP/2 with prior knowledge (h2c) instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,

    /// Request method.
    #[arg(short = 'X', long, value_name = "METHOD", default_value = "GET")]
    method: String,

    /// Request header `Name: value`; repeat for more.
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    headers: Vec<String>,

    /// Request body.
    #[arg(long, value_name = "TEXT", conflicts_with = "body_file")]
    body: Option<String>,

    /// Request body, read from a file.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,

    /// Longest a request may take (connect, send, whole response).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration)]
    timeout: Duration,

    #[command(flatten)]
    output: driver::OutputArgs,

    #[command(flatten)]
    measure: driver::MeasureArgs,
}

/// Runs `weir-loadtest run`.
pub fn run(args: RunArgs) -> ExitCode {
    match plan(&args) {
        Ok((plan, info)) => driver::execute(driver::Job {
            plan,
            info,
            actions: Vec::new(),
            checks: Vec::new(),
            output: args.output,
            measure: args.measure,
        }),
        Err(err) => {
            eprintln!("weir-loadtest run: {err}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

fn plan(args: &RunArgs) -> Result<(Plan, RunInfo), String> {
    let body = match (&args.body, &args.body_file) {
        (Some(text), _) => text.clone().into_bytes(),
        (None, Some(path)) => std::fs::read(path)
            .map_err(|e| format!("cannot read --body-file {}: {e}", path.display()))?,
        (None, None) => Vec::new(),
    };
    let headers = args
        .headers
        .iter()
        .map(|h| {
            h.split_once(':')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .ok_or_else(|| format!("invalid header {h:?}: expected 'Name: value'"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut targets = Vec::with_capacity(args.urls.len());
    for text in &args.urls {
        let (weight, url) = parse_weighted_url(text)?;
        targets.push(Target::new(&TargetSpec {
            url,
            weight,
            method: args.method.clone(),
            headers: headers.clone(),
            body: body.clone(),
        })?);
    }
    let seconds = args.duration.as_secs_f64();
    let pacing = match args.rate {
        Some(rate) if rate.is_finite() && rate > 0.0 => {
            Pacing::Open(Schedule::new(vec![Segment::steady(rate, seconds)]))
        }
        Some(rate) => return Err(format!("--rate must be more than 0, got {rate}")),
        None => Pacing::Closed {
            duration: args.duration,
        },
    };
    let info = RunInfo {
        scenario: None,
        started_at_unix_ms: 0,
        targets: target_infos(&targets),
        http: HttpVersion::from_http2_flag(args.http2),
        connections: args.connections,
        concurrency: args.connections.saturating_mul(args.streams),
        threads: args.threads,
        duration_s: seconds,
        timeout_ms: args.timeout.as_secs_f64() * 1000.0,
        phases: vec![PhasePlan {
            name: "main".to_owned(),
            kind: "steady".to_owned(),
            start_s: 0.0,
            end_s: seconds,
            rate_from: args.rate,
            rate_to: args.rate,
        }],
        // Set by the driver from the command line.
        count_429_as_error: false,
        group_by: None,
    };
    let plan = Plan::new(
        targets,
        LoadShape {
            pacing,
            phase_starts: vec![0.0],
            phase_weights: Vec::new(),
            connections: args.connections,
            streams: args.streams,
            http2: args.http2,
            threads: args.threads,
            timeout: args.timeout,
        },
    )?;
    Ok((plan, info))
}

/// The targets as the report lists them.
pub fn target_infos(targets: &[Target]) -> Vec<TargetInfo> {
    targets
        .iter()
        .map(|t| TargetInfo {
            url: t.url.clone(),
            method: t.method.to_string(),
            weight: t.weight,
        })
        .collect()
}
