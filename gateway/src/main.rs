//! `weir-gateway`: run the gateway, or `--check` a config file and exit.
#![forbid(unsafe_code)]

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use weir_gateway::server::{self, RunOptions, StartError};

/// Weir edge gateway: routes HTTP by host and path to healthy, fast endpoints in regional pools.
#[derive(Debug, Parser)]
#[command(name = "weir-gateway", version)]
struct Cli {
    /// The config file (TOML; see docs/config.md). Reloaded on SIGHUP and when it changes.
    #[arg(long, short = 'c', value_name = "FILE")]
    config: PathBuf,
    /// Validate the config, print every error with its path, and exit (0 valid, 1 invalid).
    #[arg(long)]
    check: bool,
    /// Proxy worker threads (default: one per CPU).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// How often to check the config file for changes, e.g. "1s" or "250ms".
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    watch_interval: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check {
        return match server::load_config(&cli.config) {
            Ok((config, _)) => {
                println!(
                    "{}: valid ({} upstreams, {} routes)",
                    cli.config.display(),
                    config.upstreams.len(),
                    config.routes.len()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    init_logging();
    let threads = cli
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let options = RunOptions {
        config_path: cli.config,
        threads,
        watch_interval: cli.watch_interval,
    };
    match server::run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ StartError::Invalid { .. }) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("weir-gateway: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Operational logs as JSON lines on stderr (the access log has its own stream).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
