//! The benchmark baseline: a Pingora proxy with nothing but `upstream_peer` (one fixed upstream,
//! keep-alive pooling as Pingora does by default). `loadtest/bench/proxy-bench.sh` measures Weir
//! against it to show what routing, selection, health and metrics cost per request.

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/bare.rs"]
mod bare;

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: bare::Args,
}

fn main() {
    bare::run(Cli::parse().args)
}
