//! Runs a checked plan to the end: starts the workers, fires a scenario's actions on time, shows
//! progress, then builds the report (with the recovery after each failure action), checks the
//! assertions and writes the outputs, saying where they went.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderName;

use super::progress::Progress;
use super::{EXIT_ASSERTION, EXIT_RUN, EXIT_USAGE};
use crate::assert::Assertion;
use crate::load::record::{Recorder, SLICE};
use crate::load::schedule::Schedule;
use crate::load::{self, Pacing, Plan};
use crate::report::build::{RunInfo, build};
use crate::report::model::{ActionEvent, AssertionResult, Recovery, Report};
use crate::report::{html, text};
use crate::scenario::action;
use crate::scenario::recovery::{self, Slice};
use crate::scenario::spec::Action;

/// Where the report goes, and what it must show; shared by `run` and `scenario`.
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Also write the whole report as JSON to this file (schema: loadtest/schema/report.schema.json).
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Also write a self-contained HTML page with charts to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Check this at the end, e.g. 'p99 < 50ms' or 'errors < 0.1%'; repeat for more. A failed
    /// one is named and the exit status is 1.
    #[arg(long = "assert", value_name = "EXPR")]
    pub assert: Vec<String>,

    /// No progress line (it is only drawn on a terminal anyway).
    #[arg(short = 'q', long)]
    pub quiet: bool,

    /// Also print the detailed percentile spectrum (wrk2's HdrHistogram table) after the
    /// summary. The JSON report always has it.
    #[arg(long)]
    pub spectrum: bool,
}

/// What is counted, and how; shared by `run` and `scenario`.
#[derive(Debug, Default, clap::Args)]
pub struct MeasureArgs {
    /// Count responses by the value of this response header, per second and in total, e.g.
    /// `x-weir-origin-region` to see which region answered (a failover shows as one value
    /// giving way to another). The first 16 distinct values are tracked; later ones count as
    /// "other".
    #[arg(long, value_name = "HEADER")]
    pub group_by_header: Option<HeaderName>,

    /// Count a 429 (rate limited) as an error: in the error rate, the `errors` assertions and
    /// the recovery times. By default a 429 is a response like any other (assert on `429`).
    #[arg(long, visible_alias = "fail-on-429")]
    pub count_429_as_error: bool,
}

/// A run ready to go.
pub struct Job {
    pub plan: Plan,
    pub info: RunInfo,
    /// Scenario actions, fired at their time from the start.
    pub actions: Vec<Action>,
    /// Assertions and where they apply: `None` the whole run, `Some(i)` phase `i`. Those given
    /// with `--assert` are added to the whole run's.
    pub checks: Vec<(Option<usize>, Assertion)>,
    pub output: OutputArgs,
    pub measure: MeasureArgs,
}

/// Runs the job and reports; returns the process's exit status.
pub fn execute(job: Job) -> ExitCode {
    let Job {
        mut plan,
        mut info,
        actions,
        mut checks,
        output,
        measure,
    } = job;
    for text in &output.assert {
        match Assertion::parse(text) {
            Ok(assertion) => checks.push((None, assertion)),
            Err(err) => {
                eprintln!("weir-loadtest: --assert {text:?}: {err}");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    }
    plan.count_429_as_error = measure.count_429_as_error;
    info.count_429_as_error = measure.count_429_as_error;
    info.group_by = measure.group_by_header.as_ref().map(|h| h.to_string());
    plan.group_by = measure.group_by_header;
    let plan = Arc::new(plan);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("weir-loadtest: cannot start: {err}");
            return ExitCode::from(EXIT_RUN);
        }
    };
    let running = match load::start(Arc::clone(&plan)) {
        Ok(running) => running,
        Err(err) => {
            eprintln!("weir-loadtest: cannot start the workers: {err}");
            return ExitCode::from(EXIT_RUN);
        }
    };
    // Second 0, once the connections are open: the time every relative time counts from.
    info.started_at_unix_ms = unix_ms(running.started_at());
    let mut progress = Progress::new(output.quiet, plan.duration());
    let events = runtime.block_on(async {
        let fired = action::spawn_all(actions, running.start().into());
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        while !running.is_finished() {
            tokio::select! {
                _ = ticks.tick() => progress.update(running.start(), running.live()),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        progress.finish();
        // Every action is due before the end and has its own timeout.
        fired.await.unwrap_or_default()
    });
    let recorded = running.join();
    let schedule = match &plan.pacing {
        Pacing::Open(schedule) => Some(schedule),
        Pacing::Closed { .. } => None,
    };
    let mut report = build(info, &recorded, schedule);
    report.recoveries = recoveries(&events, &recorded, schedule, report.config.duration_s);
    report.actions = events;
    report.assertions = check(&checks, &report, &recorded);
    report_and_exit(&report, &output)
}

/// The recovery after each failure action, measured up to the next failure action.
fn recoveries(
    events: &[ActionEvent],
    recorded: &Recorder,
    schedule: Option<&Schedule>,
    duration: f64,
) -> Vec<Recovery> {
    let failures: Vec<&ActionEvent> = events.iter().filter(|e| e.failure).collect();
    if failures.is_empty() {
        return Vec::new();
    }
    let slice = SLICE.as_secs_f64();
    let count = ((duration / slice).ceil() as usize).max(recorded.slices.len());
    let slices: Vec<Slice> = (0..count)
        .map(|i| {
            let ended = recorded.slices.get(i).copied().unwrap_or_default();
            let start = i as f64 * slice;
            Slice {
                scheduled: schedule.map_or(0, |s| s.due_between(start, start + slice)),
                ended: ended.ended,
                errors: ended.errors,
            }
        })
        .collect();
    failures
        .iter()
        .enumerate()
        .map(|(i, event)| {
            let next = failures.get(i + 1).map(|e| e.fired_at_s);
            recovery::measure(&event.name, &slices, event.fired_at_s, duration, next)
        })
        .collect()
}

/// Checks every assertion on its span.
fn check(
    checks: &[(Option<usize>, Assertion)],
    report: &Report,
    recorded: &Recorder,
) -> Vec<AssertionResult> {
    checks
        .iter()
        .map(|(phase, assertion)| {
            let (scope, summary, latency, histogram) = match phase
                .and_then(|i| Some((report.phases.get(i)?, &recorded.phase(i)?.1.corrected)))
            {
                Some((p, histogram)) => (p.name.as_str(), &p.summary, &p.latency, histogram),
                None => (
                    "run",
                    &report.summary,
                    &report.latency,
                    &recorded.latency.corrected,
                ),
            };
            let at = |p: f64| histogram.value_at_percentile(p) as f64 / 1000.0;
            assertion.check(scope, summary, latency, &at)
        })
        .collect()
}

/// Milliseconds since the Unix epoch (0 for a clock set before it).
fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn report_and_exit(report: &Report, output: &OutputArgs) -> ExitCode {
    let options = text::Options {
        spectrum: output.spectrum,
    };
    print!("{}", text::render_text(report, &options));
    let mut status = 0;
    let mut written = Vec::new();
    if let Some(path) = &output.json {
        match serde_json::to_vec_pretty(report) {
            Ok(json) => status = status.max(write(path, &json, "JSON", &mut written)),
            Err(err) => {
                eprintln!("weir-loadtest: cannot serialize the report: {err}");
                status = EXIT_RUN;
            }
        }
    }
    if let Some(path) = &output.html {
        let page = html::render_html(report);
        status = status.max(write(path, page.as_bytes(), "HTML", &mut written));
    }
    if !written.is_empty() {
        print!("{}", written_lines(&written));
    }
    let failed: Vec<_> = report.assertions.iter().filter(|a| !a.passed).collect();
    for a in &failed {
        eprintln!(
            "weir-loadtest: assertion failed ({}): {} (measured {})",
            a.scope, a.expr, a.actual
        );
    }
    if status == 0 && !failed.is_empty() {
        status = EXIT_ASSERTION;
    }
    ExitCode::from(status)
}

/// Writes an output file and adds `(kind, absolute path)` to `written`; the status says
/// whether it worked.
fn write(
    path: &Path,
    bytes: &[u8],
    kind: &'static str,
    written: &mut Vec<(&'static str, PathBuf)>,
) -> u8 {
    match std::fs::write(path, bytes) {
        Ok(()) => {
            let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
            written.push((kind, shown));
            0
        }
        Err(err) => {
            eprintln!("weir-loadtest: cannot write {}: {err}", path.display());
            EXIT_RUN
        }
    }
}

/// `\nReports written:\n  JSON  /abs/path\n...`, after the text summary.
fn written_lines(written: &[(&str, PathBuf)]) -> String {
    let mut out = String::from("\nReports written:\n");
    for (kind, path) in written {
        out.push_str(&format!("  {kind:<4}  {}\n", path.display()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_reports_are_listed_with_absolute_paths() {
        let dir = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        let json = dir.path().join("r.json");
        assert_eq!(write(&json, b"{}", "JSON", &mut written), 0);
        let missing = Path::new("/nonexistent/dir/r.html");
        assert_eq!(write(missing, b"", "HTML", &mut written), EXIT_RUN);
        assert_eq!(
            written_lines(&written),
            format!("\nReports written:\n  JSON  {}\n", json.display()),
            "only what was written is listed"
        );
        // A relative path is shown from the root, so it can be opened from anywhere.
        let mut written = Vec::new();
        let name = format!("weir-driver-test-{}.json", std::process::id());
        let relative = Path::new(&name);
        let status = write(relative, b"{}", "JSON", &mut written);
        let _ = std::fs::remove_file(relative);
        assert_eq!(status, 0);
        assert!(written[0].1.is_absolute(), "{:?}", written[0].1);
        assert_eq!(
            written[0].1,
            std::env::current_dir().unwrap().join(relative)
        );
    }

    #[test]
    fn unix_ms_of_the_wall_clock() {
        assert_eq!(
            unix_ms(UNIX_EPOCH + Duration::from_millis(1_767_225_600_123)),
            1_767_225_600_123
        );
        assert_eq!(unix_ms(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
