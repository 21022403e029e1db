//! `weir-dns`: serve the `[dns]` section of a fleet config as an authoritative GSLB DNS server,
//! over UDP and TCP, with an admin listener. The config is a file (SIGHUP reloads it all or
//! nothing) or comes from the control plane's push stream, as a gateway's does.
#![forbid(unsafe_code)]

// Every query allocates a few small buffers (hickory's parsed request, our answer's records):
// mimalloc's per-thread free lists cost less than glibc's arenas for that (as in the gateway).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use hickory_server::Server;
use tokio::signal::unix::{SignalKind, signal};
use weir_config::ControlPlaneSettings;
use weir_dns::follow::{Follower, boot_from_cache};
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
                  a config with errors is rejected (every error logged) and the old one keeps serving. \
                  With --control-plane the config comes from the control plane's push stream instead \
                  (docs/operating.md, \"weir-dns\")."
)]
struct Cli {
    /// A fleet config with a [dns] section.
    #[arg(
        long,
        required_unless_present = "control_plane",
        conflicts_with = "control_plane"
    )]
    config: Option<PathBuf>,
    /// Follow the control plane at this URL (http:// or https://, as a gateway's
    /// control_plane.url): its fleet config's [dns] is applied, cached and ACKed/NACKed.
    #[arg(long, value_name = "URL", requires_all = ["token_file", "cache", "id"])]
    control_plane: Option<String>,
    /// The file holding this server's bearer token (role `gateway`, bound to --id).
    #[arg(long, value_name = "FILE", requires = "control_plane")]
    token_file: Option<PathBuf>,
    /// PEM CA certificates to trust for an https control plane (default: the system's).
    #[arg(long, value_name = "FILE")]
    ca_file: Option<PathBuf>,
    /// Where the last applied version is kept, to answer from when the control plane cannot be
    /// reached at start.
    #[arg(long, value_name = "FILE", requires = "control_plane")]
    cache: Option<PathBuf>,
    /// The id this server streams and reports as (`weirctl status` lists it).
    #[arg(long, requires = "control_plane")]
    id: Option<String>,
    /// A region to show beside the id in `weirctl status` (optional).
    #[arg(long)]
    region: Option<String>,
    /// A push stream silent this long is dead and is reopened.
    #[arg(long, value_name = "DURATION", default_value = "6s", value_parser = humantime::parse_duration)]
    stream_timeout: Duration,
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
        let Some(config) = &cli.config else {
            eprintln!("--check needs --config");
            return ExitCode::FAILURE;
        };
        return match read_settings(config) {
            Ok(settings) => {
                println!(
                    "{}: ok ({} zones, {} names)",
                    config.display(),
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

/// The control plane to follow, from the flags (the same settings as a gateway's
/// `[control_plane]`, with its default backoff).
fn follower(cli: &Cli, state: &Arc<State>) -> Result<Option<Follower>, String> {
    let (Some(url), Some(token_file), Some(cache), Some(id)) =
        (&cli.control_plane, &cli.token_file, &cli.cache, &cli.id)
    else {
        return Ok(None);
    };
    let token = std::fs::read_to_string(token_file)
        .map_err(|e| format!("cannot read --token-file {}: {e}", token_file.display()))?;
    let endpoint = weir_push_client::http::Endpoint::new(url, cli.ca_file.as_deref(), &token)?
        .user_agent("weir-dns");
    let settings = ControlPlaneSettings {
        url: url.clone(),
        token_file: token_file.clone(),
        cache_path: cache.clone(),
        ca_file: cli.ca_file.clone(),
        stream_timeout: cli.stream_timeout,
        reconnect_backoff: ControlPlaneSettings::DEFAULT_RECONNECT_BACKOFF,
        max_reconnect_backoff: ControlPlaneSettings::DEFAULT_MAX_RECONNECT_BACKOFF,
        telemetry_interval: ControlPlaneSettings::DEFAULT_TELEMETRY_INTERVAL,
    };
    Ok(Some(Follower::new(
        Arc::clone(state),
        endpoint,
        id.clone(),
        cli.region.clone(),
        settings,
    )))
}

async fn run(cli: Cli) -> Result<(), String> {
    let metrics = Arc::new(Metrics::new());
    let loaded = match &cli.config {
        Some(path) => State::load(path.clone(), metrics.clone()),
        None => State::empty(metrics.clone()),
    };
    let state = match loaded {
        Ok(state) => Arc::new(state),
        Err(errors) => {
            for error in &errors {
                tracing::error!(error = %error, "config error");
            }
            let source = cli
                .config
                .as_ref()
                .map_or("the config".to_string(), |path| path.display().to_string());
            return Err(format!("{source}: {} config errors", errors.len()));
        }
    };
    let follower = follower(&cli, &state)?;
    if let Some(cache) = &cli.cache {
        boot_from_cache(&state, cache);
    }
    let udp = std::net::UdpSocket::bind(cli.listen)
        .map_err(|e| format!("cannot listen on {} (udp): {e}", cli.listen))?;
    let tcp = tokio::net::TcpListener::bind(cli.listen)
        .await
        .map_err(|e| format!("cannot listen on {} (tcp): {e}", cli.listen))?;
    let admin = tokio::net::TcpListener::bind(cli.admin)
        .await
        .map_err(|e| format!("cannot listen on {} (admin): {e}", cli.admin))?;
    let log = QueryLog::start(cli.query_log, metrics.log_dropped.clone());
    let handler = Handler {
        state: state.clone(),
        log,
    };
    // UDP on our own batched loop (threads of their own, blocking sockets); TCP on hickory.
    weir_dns::udp::serve(
        udp,
        Arc::new(handler.clone()),
        weir_dns::udp::default_workers(),
    )
    .map_err(|e| format!("cannot start the udp workers: {e}"))?;
    let mut server = Server::new(handler);
    server.register_listener(tcp, TCP_IDLE_TIMEOUT, TCP_RESPONSE_BUFFER);
    let router = weir_dns::admin::router(state.clone());
    tokio::spawn(async move {
        if let Err(error) = axum::serve(admin, router).await {
            tracing::error!(%error, "admin listener stopped");
        }
    });
    tracing::info!(listen = %cli.listen, admin = %cli.admin, control_plane = cli.control_plane, "weir-dns serving");
    // Dropped at shutdown: the stream closes and nothing waits on it.
    let following = follower.map(|follower| tokio::spawn(async move { follower.run().await }));

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
    if let Some(following) = following {
        following.abort();
    }
    server
        .shutdown_gracefully()
        .await
        .map_err(|e| format!("shutdown: {e}"))
}
