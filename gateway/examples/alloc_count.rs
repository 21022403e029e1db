//! Allocations per request: the gateway or the bare Pingora proxy under a counting allocator
//! (around mimalloc, as in the release binary), with the running totals on a loopback report
//! port. `loadtest/bench/profile.sh` reads them before and after a fixed load and divides by the
//! requests the origin served. A benchmark binary: the gateway binary never counts.

#[path = "support/bare.rs"]
mod bare;
#[path = "support/counting.rs"]
mod counting;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting::new();

#[derive(Parser)]
struct Cli {
    /// Where the totals are answered (`curl http://ADDR/`).
    #[arg(long, default_value = "127.0.0.1:18990")]
    report: SocketAddr,
    #[command(subcommand)]
    proxy: Proxy,
}

#[derive(Subcommand)]
enum Proxy {
    /// `weir-gateway --config FILE --threads N`, logging nothing (the access log as configured).
    Weir {
        #[arg(long)]
        config: PathBuf,
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// The bare Pingora proxy of `bare_pingora`.
    Bare(bare::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = counting::serve_totals(cli.report, &ALLOCATOR) {
        eprintln!(
            "alloc_count: cannot serve the totals on {}: {e}",
            cli.report
        );
        return ExitCode::FAILURE;
    }
    match cli.proxy {
        Proxy::Bare(args) => {
            bare::run(args);
            ExitCode::SUCCESS
        }
        Proxy::Weir { config, threads } => {
            let options = weir_gateway::server::RunOptions {
                config_path: config,
                threads,
                watch_interval: Duration::from_secs(1),
                upgrade: false,
                upgrade_socket: "/run/weir/gateway-upgrade.sock".into(),
            };
            match weir_gateway::server::run(options) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("alloc_count: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
