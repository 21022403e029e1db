//! `weir-loadtest`: Weir's load generator and simulated regional origins.
//!
//! `main` only parses the command line and dispatches to a subcommand module.
#![forbid(unsafe_code)]

mod load;
mod origin;
mod report;
mod run;

use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Origin(args) => origin::run(args),
        Command::Run(args) => return run::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("weir-loadtest: error: {err}");
            ExitCode::FAILURE
        }
    }
}
