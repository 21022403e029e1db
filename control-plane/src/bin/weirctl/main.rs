//! weirctl, the operator CLI of Weir's control plane (docs/control-plane.md#weirctl): reads and
//! replaces the fleet config, shifts traffic, and shows the gateways. Exit codes: 0 done,
//! 1 refused, 2 usage, 3 not authorised, 4 unreachable or failed.
#![forbid(unsafe_code)]

mod cli;
mod client;
mod commands;
mod connection;
mod error;
mod failover;
mod output;
mod rollout;

use std::io::{self, Write};
use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::client::HttpClient;
use crate::connection::{CaFile, Settings};
use crate::error::{Failure, exit};

fn main() -> ExitCode {
    // Usage errors exit 2 here (clap's default); --help and --version exit 0.
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli) {
        Ok(out) => {
            print_out(&out);
            ExitCode::from(exit::OK)
        }
        Err(failure) => {
            if json && let Some(body) = failure.body() {
                print_out(&output::pretty(body));
            }
            eprintln!("error: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

fn run(cli: Cli) -> Result<String, Failure> {
    let env = |name: &str| std::env::var(name).ok();
    let settings = Settings::resolve(cli.url, cli.token, env)?;
    let ca_file = CaFile::resolve(cli.ca_file, &settings.endpoint, env)?;
    let client = HttpClient::new(settings.endpoint, settings.token, ca_file.as_ref())?;
    commands::run(&cli.command, &client, cli.json, &mut io::stdin().lock())
}

/// Writes to standard output; a closed pipe (`weirctl audit | head`) is not an error.
fn print_out(text: &str) {
    let mut stdout = io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}
