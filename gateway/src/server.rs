//! Assembling and running the gateway process: load the first config (or refuse to start), build
//! the shared state, and hand the proxy, admin listener and the supervised background tasks
//! (health checker, janitor, config watcher or control-plane client, log reopener) to a Pingora
//! server whose shutdown signals start Weir's drain (`drain.rs`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::server::configuration::ServerConf;
use pingora::server::{RunArgs, Server};
use pingora::services::listening::Service;

use crate::access_log::AccessLog;
use crate::admin::AdminServer;
use crate::control_plane::cache;
use crate::control_plane::client::ControlPlaneClient;
use crate::control_plane::http::Endpoint;
use crate::control_plane::telemetry::TelemetrySender;
use crate::drain::DrainSignals;
use crate::endpoint::EndpointRegistry;
use crate::health::HealthChecker;
use crate::janitor::BucketJanitor;
use crate::listener::ProxyListener;
use crate::metrics::Metrics;
use crate::proxy::WeirProxy;
use crate::ratelimit::LimiterRegistry;
use crate::reload::checksum;
use crate::reopen::LogReopener;
use crate::resilience::guards::GuardRegistry;
use crate::snapshot::{Registries, Snapshot, Version};
use crate::state::Gateway;
use crate::supervise;
use crate::tls;
use crate::watcher::ConfigWatcher;

/// How the process runs, from the command line.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub config_path: PathBuf,
    /// Proxy worker threads.
    pub threads: usize,
    /// How often the config file is checked for changes.
    pub watch_interval: Duration,
    /// Take the listening sockets from the running gateway through `upgrade_socket`
    /// (a graceful binary upgrade; docs/operating.md).
    pub upgrade: bool,
    /// Where the listening sockets are handed over: this process receives on it with `upgrade`,
    /// and sends on it when SIGQUIT asks it to hand over to a new one.
    pub upgrade_socket: PathBuf,
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
    #[error("tls certificates rejected:\n{0}")]
    Certificates(crate::tls::TlsProblems),
    #[error("tls: {0}")]
    Tls(String),
    #[error("upgrade: {0}")]
    Upgrade(String),
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
    // The files the config names (a pool's `tls`), as a compile reads them: `--check` reports
    // the same problems a reload would.
    crate::snapshot::check_files(&config).map_err(|errors| StartError::Invalid {
        path: path.display().to_string(),
        errors,
    })?;
    Ok((config, text))
}

/// What `--check` runs: read and validate the config file, then read and check the certificate
/// files it names (the same checks a reload makes). Certificates expiring within two weeks are
/// printed as warnings on stderr.
pub fn check_config(path: &std::path::Path) -> Result<weir_config::Config, StartError> {
    let (config, _) = load_config(path)?;
    let certificates = tls::load(
        config.node.tls.as_ref(),
        &tls::provider(),
        std::time::SystemTime::now(),
    )
    .map_err(StartError::Certificates)?;
    for info in certificates.expiring(tls::unix_now()) {
        eprintln!(
            "warning: {} ({}): expires within 14 days",
            info.path,
            info.cert_file.display()
        );
    }
    Ok(config)
}

/// Start the gateway and serve until a signal stops it. Returns only on a start-up error.
pub fn run(options: RunOptions) -> Result<(), StartError> {
    let (config, text) = load_config(&options.config_path)?;
    // Say clearly which address is taken, rather than letting the listener fail later. The
    // admin listener is ours (not Pingora's), so it is kept.
    let listen_error = |addr, what| move |source| StartError::Listen { addr, what, source };
    if options.upgrade {
        // The old process holds the proxy ports and hands them over; only the socket's
        // directory can be checked here.
        crate::upgrade::check_socket_dir(&options.upgrade_socket).map_err(StartError::Upgrade)?;
    } else {
        std::net::TcpListener::bind(config.node.listen.http)
            .map_err(listen_error(config.node.listen.http, "listen.http"))?;
        for https in &config.node.listen.https {
            std::net::TcpListener::bind(https).map_err(listen_error(*https, "listen.https"))?;
        }
        // A plain bind fails even beside a shared socket: a second gateway is still refused.
        std::net::TcpListener::bind(config.node.admin.listen)
            .map_err(listen_error(config.node.admin.listen, "admin.listen"))?;
    }
    // Shared (SO_REUSEPORT) so the next binary can bind it during an upgrade.
    let admin_listener = crate::upgrade::bind_shared(config.node.admin.listen)
        .map_err(listen_error(config.node.admin.listen, "admin.listen"))?;
    let certificates = tls::load(
        config.node.tls.as_ref(),
        &tls::provider(),
        std::time::SystemTime::now(),
    )
    .map_err(StartError::Certificates)?;
    let gateway_id = config.node.gateway.id.clone().unwrap_or_else(host_name);
    let metrics = Metrics::new()?;
    let access_log = AccessLog::open(&config.node.access_log).map_err(StartError::AccessLog)?;
    let registry = Arc::new(EndpointRegistry::default());
    let limiters = Arc::new(LimiterRegistry::default());
    let guards = Arc::new(GuardRegistry::default());
    let (proxy_addr, admin_addr) = (config.node.listen.http, config.node.admin.listen);
    let node = Arc::new(config.clone());
    let (first_config, version) = match &config.node.control_plane {
        None => {
            let version = Version {
                number: 1,
                checksum: checksum(&text),
            };
            (config, version)
        }
        Some(settings) => first_from_cache(&node, settings)?,
    };
    let registries = Registries {
        endpoints: &registry,
        // Nothing is resolved yet: the first version serves names once the resolver answers.
        names: &crate::names::ResolvedNames::default(),
        limiters: &limiters,
        guards: &guards,
        metrics: &metrics,
    };
    let first = Snapshot::compile(Arc::new(first_config), version, &registries, Instant::now())
        .map_err(|errors| StartError::Invalid {
            path: options.config_path.display().to_string(),
            errors,
        })?;
    let gateway = Arc::new(Gateway::new(
        gateway_id.clone(),
        first,
        registry,
        limiters,
        guards,
        metrics,
        access_log,
    ));
    crate::reload::publish_certificates(&gateway, certificates, tls::unix_now());
    // ACME certificates kept from an earlier run are served from the first handshake on.
    let acme = node.node.tls.as_ref().filter(|tls| !tls.acme.is_empty());
    if let Some(settings) = acme {
        tls::acme::serve_stored(
            &settings.acme,
            &settings.acme_state_dir,
            &gateway.tls,
            &gateway.metrics,
        );
    }
    let challenges = acme.map(|_| Arc::new(tls::acme::Challenges::default()));
    tracing::info!(
        gateway_id, %proxy_addr, %admin_addr, https = ?node.node.listen.https, config = %options.config_path.display(),
        threads = options.threads, "starting weir gateway"
    );

    let conf = ServerConf {
        threads: options.threads.max(1),
        // Weir's drain (`drain.rs`) exits as soon as the connections are gone or
        // `gateway.shutdown_grace` is over; Pingora's own grace period is only a backstop.
        grace_period_seconds: Some(weir_config::GatewaySettings::MAX_SHUTDOWN_GRACE.as_secs() + 1),
        graceful_shutdown_timeout_seconds: Some(1),
        upstream_keepalive_pool_size: 1024,
        upgrade_sock: options.upgrade_socket.display().to_string(),
        ..ServerConf::default()
    };
    let opt = crate::upgrade::pingora_opt(options.upgrade);
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();

    let proxy = pingora::proxy::http_proxy(
        &server.configuration,
        WeirProxy {
            gateway: Arc::clone(&gateway),
            acme: challenges.clone(),
        },
    );
    let listen = &node.node.listen;
    let proxy = http_options(proxy, listen, listen.h2c);
    let mut proxy = Service::new(
        "weir proxy".to_string(),
        ProxyListener::new(proxy, Arc::clone(&gateway), listen.h2c),
    );
    proxy.add_listener(plain_listener(&proxy_addr.to_string()));
    server.add_service(proxy);
    if let Some(settings) = node.node.tls.as_ref().filter(|_| !listen.https.is_empty()) {
        let acceptor = tls::EdgeAcceptor::new(settings, Arc::clone(&gateway.tls))
            .map_err(|e| StartError::Tls(e.to_string()))?;
        let https = pingora::proxy::http_proxy(
            &server.configuration,
            WeirProxy {
                gateway: Arc::clone(&gateway),
                acme: challenges.clone(),
            },
        );
        let https = http_options(https, listen, false);
        let mut https = Service::new(
            "weir proxy https".to_string(),
            ProxyListener::https(https, Arc::clone(&gateway), Arc::new(acceptor)),
        );
        for addr in &listen.https {
            https.add_tcp(&addr.to_string());
        }
        server.add_service(https);
    }
    let metrics = gateway.metrics.clone();
    server.add_service(supervise::service(
        "admin listener",
        &metrics,
        AdminServer {
            gateway: Arc::clone(&gateway),
            listener: admin_listener,
        },
    ));
    server.add_service(supervise::service(
        "health checks",
        &metrics,
        HealthChecker {
            gateway: Arc::clone(&gateway),
        },
    ));
    server.add_service(supervise::service(
        "rate-limit janitor",
        &metrics,
        BucketJanitor {
            limiters: Arc::clone(&gateway.limiters),
            metrics: metrics.clone(),
        },
    ));
    server.add_service(supervise::service(
        "name resolver",
        &metrics,
        crate::resolver::NameResolver {
            gateway: Arc::clone(&gateway),
        },
    ));
    server.add_service(supervise::service(
        "log reopener",
        &metrics,
        LogReopener {
            gateway: Arc::clone(&gateway),
        },
    ));
    if let (Some(settings), Some(challenges)) = (acme, &challenges) {
        let listening = Arc::clone(&gateway);
        server.add_service(supervise::service(
            "acme",
            &metrics,
            tls::acme::AcmeService {
                orders: settings.acme.clone(),
                state_dir: settings.acme_state_dir.clone(),
                store: Arc::clone(&gateway.tls),
                challenges: Arc::clone(challenges),
                metrics: metrics.clone(),
                listening: Arc::new(move || listening.is_ready()),
            },
        ));
    }
    let signals = DrainSignals {
        gateway: Arc::clone(&gateway),
        phases: std::sync::Mutex::new(Some(server.watch_execution_phase())),
        upgrade_socket: options.upgrade_socket.clone(),
    };
    crate::upgrade::notify_systemd_when_listening(&gateway, options.upgrade);
    match &node.node.control_plane {
        None => {
            server.add_service(supervise::service(
                "config watcher",
                &metrics,
                ConfigWatcher {
                    gateway: Arc::clone(&gateway),
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
            server.add_service(supervise::service(
                "telemetry sender",
                &metrics,
                TelemetrySender {
                    gateway: Arc::clone(&gateway),
                    endpoint: endpoint.clone(),
                    gateway_id: gateway_id.clone(),
                    region: node.node.gateway.region.clone(),
                    interval: settings.telemetry_interval,
                },
            ));
            server.add_service(supervise::service(
                "control-plane client",
                &metrics,
                ControlPlaneClient {
                    gateway: Arc::clone(&gateway),
                    settings: settings.clone(),
                    node: Arc::clone(&node),
                    endpoint,
                    gateway_id,
                    proxy_addr,
                },
            ));
        }
    }
    server.run(RunArgs {
        shutdown_signal: Box::new(signals),
    });
    // Pingora's backstop ended the run (or SIGINT did): keep what the access log holds.
    gateway.access_log.flush();
    std::process::exit(0)
}

/// The first config of a gateway run by a control plane: the cached version when there is a
/// whole one (static stability: the control plane may be down), else no fleet config at all
/// (version 0: every request gets 503 and `/readyz` fails until the first version arrives).
fn first_from_cache(
    node: &weir_config::Config,
    settings: &weir_config::ControlPlaneSettings,
) -> Result<(weir_config::Config, Version), StartError> {
    match cache::load(&settings.cache_path) {
        Ok(push) => match weir_config::parse_fleet(&push.config) {
            Ok(fleet) => {
                tracing::info!(
                    version = push.version, cache = %settings.cache_path.display(),
                    "serving the cached config until the control plane answers"
                );
                let version = Version {
                    number: push.version,
                    checksum: push.checksum,
                };
                return Ok((fleet.with_node(node), version));
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
    let none_yet = Version {
        number: 0,
        checksum: String::new(),
    };
    Ok((empty.with_node(node), none_yet))
}

/// The plain-HTTP proxy listener, without Pingora's 64 KiB per-connection read buffer: reads
/// go straight into Pingora's own buffers (the request's 4 KiB header buffer, 64 KiB body
/// buffers) instead of through a 64 KiB copy buffer that every open connection, idle ones
/// included, kept resident (`loadtest/README.md`, "Scale and memory": 109 → 45 KiB per idle
/// keep-alive connection). A request head larger than 4 KiB takes one more read. The HTTPS
/// listeners keep Pingora's default until measured under TLS.
fn plain_listener(addr: &str) -> pingora::listeners::ListenerConfig {
    let unbuffered_reads = pingora::listeners::L4BufferSettings::default().read(0);
    pingora::listeners::ListenerConfig::tcp(addr).l4_buffer(unbuffered_reads)
}

/// The HTTP/2 limits of `[listen.http2]` (and h2c on the plain listener) on a proxy app.
fn http_options<SV: pingora::proxy::ProxyHttp>(
    mut proxy: pingora::proxy::HttpProxy<SV>,
    listen: &weir_config::ListenSettings,
    h2c: bool,
) -> pingora::proxy::HttpProxy<SV> {
    let http2 = &listen.http2;
    let mut options = pingora::apps::HttpServerOptions::default();
    options.h2c = h2c;
    options.h2_idle_timeout = Some(http2.idle_timeout);
    proxy.server_options = Some(options);
    let mut h2 = pingora::protocols::http::v2::server::default_h2_options();
    h2.max_concurrent_streams(http2.max_concurrent_streams)
        .max_header_list_size(http2.max_header_list_size)
        // The reset-flood guard (CVE-2023-44487): more streams than this reset by the client
        // before they were taken up, and h2 sends GOAWAY (ENHANCE_YOUR_CALM) and closes.
        .max_pending_accept_reset_streams(http2.max_reset_streams as usize);
    proxy.h2_options = Some(h2);
    proxy
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
