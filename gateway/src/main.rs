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
    /// Graceful binary upgrade: take the listening sockets from the running gateway over
    /// `--upgrade-socket`, then send that one SIGQUIT (it hands them over, stops accepting,
    /// finishes its requests within `gateway.shutdown_grace` and exits). See docs/operating.md.
    #[arg(long)]
    upgrade: bool,
    /// The Unix socket the listening sockets are handed over on; the old and the new process
    /// must be given the same path.
    #[arg(
        long,
        value_name = "PATH",
        default_value = "/run/weir/gateway-upgrade.sock"
    )]
    upgrade_socket: PathBuf,
}

/// A `--watch-interval`: above zero and at most an hour.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if duration.is_zero() || duration > Duration::from_secs(3600) {
        return Err(format!("must be between 1ms and 1h, got {text}"));
    }
    Ok(duration)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check {
        return match server::check_config(&cli.config) {
            Ok(config) => {
                println!(
                    "{}: valid ({} upstreams, {} routes)",
                    cli.config.display(),
                    config.fleet.upstreams.len(),
                    config.fleet.routes.len()
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
        upgrade: cli.upgrade,
        upgrade_socket: cli.upgrade_socket,
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

/// Pingora's per-request and per-connection messages (a WARN per failed or retried upstream
/// attempt, an ERROR per broken client connection), without a request id: the gateway logs those
/// events itself, with the request id, at debug. Its start-up and shutdown messages
/// (`pingora_core::server`, `pingora_core::services`) stay at `info`.
const PINGORA_QUIET: &str = "pingora_proxy=off,pingora_core::protocols=off,\
pingora_core::connectors=off,pingora_core::upstreams=off,pingora_core::apps=off,pingora_pool=off";

/// The log filter: `RUST_LOG` (default `info`), with Pingora's per-request messages off unless
/// `RUST_LOG` says something about `pingora` itself.
fn log_filter(rust_log: Option<&str>) -> String {
    let base = rust_log.filter(|s| !s.trim().is_empty()).unwrap_or("info");
    if base.contains("pingora") {
        base.to_string()
    } else {
        format!("{base},{PINGORA_QUIET}")
    }
}

/// Operational logs as JSON lines on stderr (the access log has its own stream).
fn init_logging() {
    let directives = log_filter(std::env::var("RUST_LOG").ok().as_deref());
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(log_filter(None)));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pingora_per_request_logs_are_off_unless_asked_for() {
        assert_eq!(log_filter(None), format!("info,{PINGORA_QUIET}"));
        assert_eq!(log_filter(Some("debug")), format!("debug,{PINGORA_QUIET}"));
        assert_eq!(
            log_filter(Some("info,pingora_proxy=debug")),
            "info,pingora_proxy=debug"
        );
        for directive in log_filter(None).split(',') {
            assert!(
                tracing_subscriber::EnvFilter::try_new(directive).is_ok(),
                "{directive}"
            );
        }
    }
}
