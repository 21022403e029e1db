//! The `scenario` subcommand: a checked scenario file turned into a run of the load engine, with
//! its phases as the open model's schedule, its actions and its assertions.

use std::path::PathBuf;
use std::process::ExitCode;

use super::spec::{self, Scenario};
use crate::load::schedule::{Schedule, Segment};
use crate::load::target::{Target, TargetSpec};
use crate::load::{LoadShape, Pacing, Plan};
use crate::report::build::{PhasePlan, RunInfo};
use crate::report::model::HttpVersion;
use crate::run::driver::{self, Job, MeasureArgs, OutputArgs};
use crate::run::{EXIT_USAGE, target_infos};

/// Command-line arguments of `weir-loadtest scenario`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "The file's format is in loadtest/README.md; examples in loadtest/scenarios/.\n\
    e.g. weir-loadtest scenario loadtest/scenarios/region-dies.toml --group-by-header x-weir-origin-region --html report.html\n\n\
    Exit status: 0 ok, 1 an assertion failed, 2 a bad file or arguments, 3 the run could not start or write its report."
)]
pub struct ScenarioArgs {
    /// The scenario file (TOML).
    #[arg(value_name = "FILE")]
    file: PathBuf,

    #[command(flatten)]
    output: OutputArgs,

    #[command(flatten)]
    measure: MeasureArgs,
}

/// Runs `weir-loadtest scenario`.
pub fn run(args: ScenarioArgs) -> ExitCode {
    let scenario = match spec::load(&args.file) {
        Ok(scenario) => scenario,
        Err(errors) => {
            eprintln!(
                "weir-loadtest scenario: {} is not valid ({} error{}):",
                args.file.display(),
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            );
            for error in errors {
                eprintln!("  {error}");
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if !args.output.quiet {
        eprintln!(
            "scenario {:?}: {} phases, {} actions{}",
            scenario.name,
            scenario.phases.len(),
            scenario.actions.len(),
            scenario
                .description
                .as_deref()
                .map(|d| format!(": {}", d.trim()))
                .unwrap_or_default()
        );
    }
    match job(scenario, args.output, args.measure) {
        Ok(job) => driver::execute(job),
        Err(err) => {
            eprintln!("weir-loadtest scenario: {}: {err}", args.file.display());
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The run a scenario describes.
pub fn job(scenario: Scenario, output: OutputArgs, measure: MeasureArgs) -> Result<Job, String> {
    let load = &scenario.load;
    let targets = load
        .targets
        .iter()
        .map(|t| {
            let headers = t
                .headers
                .iter()
                .map(|(name, value)| {
                    let value = value
                        .to_str()
                        .map_err(|_| format!("target {}: header {name} is not text", t.name))?;
                    Ok((name.to_string(), value.to_owned()))
                })
                .collect::<Result<Vec<_>, String>>()?;
            Target::new(&TargetSpec {
                url: t.url.to_string(),
                // Phases carry the weights that count; the target's own is only a default.
                weight: t.weight.max(1),
                method: t.method.to_string(),
                headers,
                body: t.body.to_vec(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let seconds = |d: std::time::Duration| d.as_secs_f64();
    let schedule = Schedule::new(
        scenario
            .phases
            .iter()
            .map(|p| Segment {
                duration: seconds(p.duration),
                rate_from: p.rate_from,
                rate_to: p.rate_to,
            })
            .collect(),
    );
    let info = RunInfo {
        scenario: Some(scenario.name.clone()),
        started_at_unix_ms: 0,
        targets: target_infos(&targets),
        http: HttpVersion::from_http2_flag(load.http2),
        connections: load.connections,
        concurrency: load.connections.saturating_mul(load.streams),
        threads: load.threads,
        duration_s: schedule.duration(),
        timeout_ms: seconds(load.timeout) * 1000.0,
        phases: scenario
            .phases
            .iter()
            .map(|p| PhasePlan {
                name: p.name.clone(),
                kind: p.kind.as_str().to_owned(),
                start_s: seconds(p.start),
                end_s: seconds(p.end()),
                rate_from: Some(p.rate_from),
                rate_to: Some(p.rate_to),
            })
            .collect(),
        // Set by the driver from the command line.
        count_429_as_error: false,
        group_by: None,
    };
    let plan = Plan::new(
        targets,
        LoadShape {
            pacing: Pacing::Open(schedule),
            phase_starts: scenario.phases.iter().map(|p| seconds(p.start)).collect(),
            phase_weights: scenario.phases.iter().map(|p| p.weights.clone()).collect(),
            connections: load.connections,
            streams: load.streams,
            http2: load.http2,
            threads: load.threads,
            timeout: load.timeout,
        },
    )?;
    let mut checks: Vec<_> = scenario.asserts.into_iter().map(|a| (None, a)).collect();
    for (index, phase) in scenario.phases.into_iter().enumerate() {
        checks.extend(phase.asserts.into_iter().map(|a| (Some(index), a)));
    }
    Ok(Job {
        plan,
        info,
        actions: scenario.actions,
        checks,
        output,
        measure,
    })
}
