//! `weir-loadtest`: Weir's load generator and simulated regional origins.
//!
//! `main` only parses the command line and dispatches to a subcommand module.
#![forbid(unsafe_code)]

mod assert;
mod load;
mod origin;
mod report;
mod run;
mod scenario;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Weir's load generator and simulated regional origins.
#[derive(Debug, Parser)]
#[command(name = "weir-loadtest", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve one or more simulated regional origins (HTTP/1.1, keep-alive),
    /// with faults (status, delay, partial failure) settable at runtime.
    Origin(origin::OriginArgs),
    /// Send load to one or more URLs (open model at a fixed rate, or closed model) and report
    /// latency (corrected for coordinated omission), throughput and errors.
    Run(run::RunArgs),
    /// Run a game day from a TOML file: phases of load (ramp, steady, spike) and timed actions
    /// (drain a region, break an origin), with per-phase assertions and the time each failure
    /// took to recover.
    Scenario(scenario::job::ScenarioArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Origin(args) => origin::run(args),
        Command::Run(args) => return run::run(args),
        Command::Scenario(args) => return scenario::job::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("weir-loadtest: error: {err}");
            ExitCode::FAILURE
        }
    }
}
