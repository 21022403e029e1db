//! `weir-dns`: serve the `[dns]` section of a fleet config as an authoritative GSLB DNS server,
//! over UDP and TCP, with an admin listener; SIGHUP reloads the config all or nothing.
#![forbid(unsafe_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use hickory_server::Server;
use tokio::signal::unix::{SignalKind, signal};
use weir_dns::handler::Handler;
use weir_dns::metrics::Metrics;
use weir_dns::query_log::{Destination, QueryLog};
use weir_dns::state::{State, read_settings};

/// TCP connections idle this long are closed.
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Responses queued per TCP connection.
const TCP_RESPONSE_BUFFER: usize = 32;

#[derive(Parser)]
#[command(
    name = "weir-dns",
    version,
    about = "Weir's authoritative GSLB DNS server: answers follow member health, weight and client location",
    after_help = "The [dns] keys are described in docs/config.md. SIGHUP reloads the config file; \
                  a config with errors is rejected (every error logged) and the old one keeps serving."
)]
struct Cli {
    /// A fleet config with a [dns] section.
    #[arg(long)]
    config: PathBuf,
    /// Only validate the config: print every error and exit non-zero if there is one.
    #[arg(long)]
    check: bool,
    /// Address for DNS over UDP and TCP.
    #[arg(long, default_value = "127.0.0.1:5353")]
    listen: SocketAddr,
    /// Address of the admin listener (/metrics, /healthz, /readyz, /status).
    #[arg(long, default_value = "127.0.0.1:9953")]
    admin: SocketAddr,
    /// Where the JSON query log goes.
    #[arg(long, value_enum, default_value = "stdout")]
    query_log: Destination,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.check {
        return match read_settings(&cli.config) {
            Ok(settings) => {
                println!(
                    "{}: ok ({} zones, {} names)",
                    cli.config.display(),
                    settings.zones.len(),
                    settings.names.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                for error in errors {
                    eprintln!("{error}");
                }
                ExitCode::FAILURE
            }
        };
    }
    tracing_subscriber::fmt()
        .json()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,hickory_server=warn")),
        )
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            tracing::error!("{message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let metrics = Arc::new(Metrics::new());
    let state = match State::load(cli.config.clone(), metrics.clone()) {
        Ok(state) => Arc::new(state),
        Err(errors) => {
            for error in &errors {
                tracing::error!(error = %error, "config error");
            }
            return Err(format!(
                "{}: {} config errors",
                cli.config.display(),
                errors.len()
            ));
        }
    };
    let udp = tokio::net::UdpSocket::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (udp): {e}", cli.listen))?;
    let tcp = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (tcp): {e}", cli.listen))?;
    let admin = tokio::net::TcpListener::bind(cli.admin)
        .await
        .map_err(|e| format!("cannot listen on {} (admin): {e}", cli.admin))?;
    let log = QueryLog::start(cli.query_log, metrics.log_dropped.clone());
    let mut server = Server::new(Handler {
        state: state.clone(),
        log,
    });
    server.register_socket(udp);
    server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
    let router = weir_dns::admin::router(state.clone());
    tokio::spawn(async move {
        if let Err(error) = axum::serve(admin, router).await {
            tracing::error!(%error, "admin listener stopped");
        }
    });
    tracing::info!(listen = %cli.listen, admin = %cli.admin, "weir-dns serving");

    let mut hangup =
        signal(SignalKind::hangup()).map_err(|e| format!("cannot listen for SIGHUP: {e}"))?;
    let mut terminate =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot listen for SIGTERM: {e}"))?;
    let mut interrupt =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot listen for SIGINT: {e}"))?;
    loop {
        tokio::select! {
            _ = hangup.recv() => match state.reload() {
                Ok(generation) => tracing::info!(generation, "config reloaded"),
                Err(errors) => {
                    for error in &errors {
                        tracing::error!(error = %error, "config error");
                    }
                    tracing::error!(errors = errors.len(), "config rejected; the running config stays");
                }
            },
            _ = terminate.recv() => break,
            _ = interrupt.recv() => break,
        }
    }
    tracing::info!("shutting down");
    server
        .shutdown_gracefully()
        .await
        .map_err(|e| format!("shutdown: {e}"))
}
