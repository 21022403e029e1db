//! Assembling and running the gateway process: load the first config (or refuse to start), build
//! the shared state, and hand the proxy, admin listener, health checker and config watcher to a
//! Pingora server.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::server::Server;
use pingora::server::configuration::ServerConf;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::access_log::AccessLog;
use crate::admin::AdminApp;
use crate::control_plane::cache;
use crate::control_plane::client::ControlPlaneClient;
use crate::control_plane::http::Endpoint;
use crate::endpoint::EndpointRegistry;
use crate::health::HealthChecker;
use crate::metrics::Metrics;
use crate::proxy::WeirProxy;
use crate::ratelimit::LimiterRegistry;
use crate::ratelimit::janitor::BucketJanitor;
use crate::reload::checksum;
use crate::resilience::guards::GuardRegistry;
use crate::snapshot::Snapshot;
use crate::state::Gateway;
use crate::watcher::ConfigWatcher;

/// How the process runs, from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config_path: PathBuf,
    /// Proxy worker threads.
    pub threads: usize,
    /// How often the config file is checked for changes.
    pub watch_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("config file {path} is invalid:\n{errors}")]
    Invalid {
        path: String,
        errors: weir_config::ConfigErrors,
    },
    #[error("cannot listen on {addr} ({what}): {source}")]
    Listen {
        addr: SocketAddr,
        what: &'static str,
        source: std::io::Error,
    },
    #[error("cannot open access log: {0}")]
    AccessLog(std::io::Error),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("control plane: {0}")]
    ControlPlane(String),
}

/// Read and validate the config file.
pub fn load_config(path: &std::path::Path) -> Result<(weir_config::Config, String), StartError> {
    let text = std::fs::read_to_string(path).map_err(|source| StartError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let config = weir_config::parse(&text).map_err(|errors| StartError::Invalid {
        path: path.display().to_string(),
        errors,
    })?;
    Ok((config, text))
}

/// Start the gateway and serve until a signal stops it. Returns only on a start-up error.
pub fn run(options: RunOptions) -> Result<(), StartError> {
    let (config, text) = load_config(&options.config_path)?;
    // Say clearly which address is taken, rather than letting the listener fail later.
    for (addr, what) in [
        (config.listen.http, "listen.http"),
        (config.admin.listen, "admin.listen"),
    ] {
        std::net::TcpListener::bind(addr).map_err(|source| StartError::Listen {
            addr,
            what,
            source,
        })?;
    }
    let gateway_id = config.gateway.id.clone().unwrap_or_else(host_name);
    let metrics = Metrics::new()?;
    let access_log = AccessLog::open(&config.access_log).map_err(StartError::AccessLog)?;
    let registry = Arc::new(EndpointRegistry::default());
    let limiters = Arc::new(LimiterRegistry::default());
    let guards = Arc::new(GuardRegistry::default());
    let (proxy_addr, admin_addr) = (config.listen.http, config.admin.listen);
    let node = Arc::new(config.clone());
    let (first_config, first_version, first_checksum) = match &config.control_plane {
        None => (config, 1, checksum(&text)),
        Some(settings) => first_from_cache(&node, settings)?,
    };
    let first = Snapshot::compile(
        Arc::new(first_config),
        first_version,
        first_checksum,
        gateway_id.clone(),
        &registry,
        &limiters,
        &guards,
        &metrics,
        Instant::now(),
    );
    let gateway = Arc::new(Gateway::new(
        first, registry, limiters, guards, metrics, access_log,
    ));
    tracing::info!(
        gateway_id, %proxy_addr, %admin_addr, config = %options.config_path.display(),
        threads = options.threads, "starting weir gateway"
    );

    let conf = ServerConf {
        threads: options.threads.max(1),
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(5),
        upstream_keepalive_pool_size: 1024,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut proxy = pingora::proxy::http_proxy_service_with_name(
        &server.configuration,
        WeirProxy {
            gateway: Arc::clone(&gateway),
        },
        "weir proxy",
    );
    proxy.add_tcp(&proxy_addr.to_string());
    let mut admin = Service::new(
        "weir admin".to_string(),
        AdminApp {
            gateway: Arc::clone(&gateway),
        },
    );
    admin.add_tcp(&admin_addr.to_string());
    server.add_service(proxy);
    server.add_service(admin);
    server.add_service(background_service(
        "weir health checks",
        HealthChecker {
            gateway: Arc::clone(&gateway),
        },
    ));
    server.add_service(background_service(
        "weir rate-limit janitor",
        BucketJanitor {
            gateway: Arc::clone(&gateway),
        },
    ));
    match &node.control_plane {
        None => {
            server.add_service(background_service(
                "weir config watcher",
                ConfigWatcher {
                    gateway,
                    path: options.config_path,
                    poll_interval: options.watch_interval,
                    proxy_addr,
                },
            ));
        }
        Some(settings) => {
            let token = std::fs::read_to_string(&settings.token_file).map_err(|e| {
                StartError::ControlPlane(format!(
                    "cannot read control_plane.token_file {}: {e}",
                    settings.token_file.display()
                ))
            })?;
            let endpoint = Endpoint::new(&settings.url, settings.ca_file.as_deref(), &token)
                .map_err(StartError::ControlPlane)?;
            server.add_service(background_service(
                "weir control-plane client",
                ControlPlaneClient {
                    gateway,
                    settings: settings.clone(),
                    node: Arc::clone(&node),
                    endpoint,
                    gateway_id,
                    proxy_addr,
                },
            ));
        }
    }
    server.run_forever()
}

/// The first config of a gateway run by a control plane: the cached version when there is a
/// whole one (static stability: the control plane may be down), else no fleet config at all
/// (version 0: every request gets 503 and `/readyz` fails until the first version arrives).
fn first_from_cache(
    node: &weir_config::Config,
    settings: &weir_config::ControlPlaneSettings,
) -> Result<(weir_config::Config, u64, String), StartError> {
    match cache::load(&settings.cache_path) {
        Ok(push) => match weir_config::parse_fleet(&push.config) {
            Ok(fleet) => {
                tracing::info!(
                    version = push.version, cache = %settings.cache_path.display(),
                    "serving the cached config until the control plane answers"
                );
                return Ok((fleet.with_node(node), push.version, push.checksum));
            }
            Err(errors) => tracing::warn!(
                cache = %settings.cache_path.display(), version = push.version, errors = %errors,
                "the cached config no longer validates; waiting for the control plane"
            ),
        },
        Err(cache::CacheError::Missing(_)) => tracing::info!(
            cache = %settings.cache_path.display(),
            "no cached config yet; waiting for the control plane"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "cached config not used; waiting for the control plane")
        }
    }
    let empty = weir_config::parse_fleet("").map_err(|errors| {
        StartError::ControlPlane(format!("an empty fleet config does not validate: {errors}"))
    })?;
    Ok((empty.with_node(node), 0, String::new()))
}

/// The machine's host name, for `gateway.id` when the config does not set one.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "weir".to_string())
}
