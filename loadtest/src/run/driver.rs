//! Runs a checked plan to the end: starts the workers, fires a scenario's actions on time, shows
//! progress, then builds the report, checks the assertions and writes the outputs.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::progress::Progress;
use super::{EXIT_ASSERTION, EXIT_RUN};
use crate::load::{self, Pacing, Plan};
use crate::report::build::{RunInfo, build};
use crate::report::model::Report;
use crate::report::{html, text};

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
}

/// A run ready to go.
pub struct Job {
    pub plan: Plan,
    pub info: RunInfo,
    pub output: OutputArgs,
}

/// Runs the job and reports; returns the process's exit status.
pub fn execute(job: Job) -> ExitCode {
    let Job {
        plan,
        mut info,
        output,
    } = job;
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
    info.started_at_unix_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let running = match load::start(Arc::clone(&plan)) {
        Ok(running) => running,
        Err(err) => {
            eprintln!("weir-loadtest: cannot start the workers: {err}");
            return ExitCode::from(EXIT_RUN);
        }
    };
    let mut progress = Progress::new(output.quiet, plan.duration());
    runtime.block_on(async {
        let mut ticks = tokio::time::interval(Duration::from_secs(1));
        while !running.is_finished() {
            tokio::select! {
                _ = ticks.tick() => progress.update(running.start(), running.live()),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        progress.finish();
    });
    let recorded = running.join();
    let schedule = match &plan.pacing {
        Pacing::Open(schedule) => Some(schedule),
        Pacing::Closed { .. } => None,
    };
    let report = build(info, &recorded, schedule);
    report_and_exit(&report, &output)
}

fn report_and_exit(report: &Report, output: &OutputArgs) -> ExitCode {
    print!("{}", text::render_text(report));
    let mut status = 0;
    if let Some(path) = &output.json {
        match serde_json::to_vec_pretty(report) {
            Ok(json) => status = status.max(write(path, &json)),
            Err(err) => {
                eprintln!("weir-loadtest: cannot serialize the report: {err}");
                status = EXIT_RUN;
            }
        }
    }
    if let Some(path) = &output.html {
        status = status.max(write(path, html::render_html(report).as_bytes()));
    }
    if status == 0 && report.assertions.iter().any(|a| !a.passed) {
        status = EXIT_ASSERTION;
    }
    ExitCode::from(status)
}

/// Writes an output file; the status says whether it worked.
fn write(path: &Path, bytes: &[u8]) -> u8 {
    match std::fs::write(path, bytes) {
        Ok(()) => 0,
        Err(err) => {
            eprintln!("weir-loadtest: cannot write {}: {err}", path.display());
            EXIT_RUN
        }
    }
}
