//! Starting the control plane: open (and recover) the store (files, or etcd), load the tokens,
//! seed an empty store, then serve the API over HTTP or HTTPS until SIGTERM or SIGINT, ending
//! every push stream on the way out; on etcd, versions other replicas commit are pushed to this
//! replica's gateways as its watch sees them. Every start-up failure names the file, address or
//! etcd endpoint at fault.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::watch;

use crate::api::{self, App};
use crate::auth::Tokens;
use crate::failover::task::FailoverService;
use crate::fleet::Fleet;
use crate::metrics::Metrics;
use crate::rollout::Phase;
use crate::rollout::task::ROLLOUT_START;
use crate::rollout::task::RolloutService;
use crate::store::{Change, EtcdOptions, Store, StoreMetrics, Update, UpdateError, Version};
use crate::telemetry::TelemetryStore;
use crate::tls;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub listen: SocketAddr,
    /// The file store's directory (the default store).
    pub data_dir: PathBuf,
    /// Keep the store in etcd instead of `data_dir`.
    pub etcd: Option<EtcdOptions>,
    pub tokens: PathBuf,
    pub seed: Option<PathBuf>,
    pub heartbeat: Duration,
    /// Certificate chain and key (PEM) to serve HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Caps on the gateways remembered.
    pub limits: crate::fleet::Limits,
    /// This replica's identity in the leader election and `weirctl status` (default: the host
    /// name and the listen address).
    pub replica_id: Option<String>,
    /// The leader's etcd lease: another replica takes over within it when the leader dies.
    pub leader_ttl: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("store {path}: {message}")]
    Store { path: String, message: String },
    #[error(transparent)]
    Tokens(#[from] crate::auth::TokenFileError),
    #[error("seed {path}: {message}")]
    Seed { path: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("cannot register metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Runs the control plane until a signal stops it.
pub fn serve(options: ServeOptions) -> Result<(), ServeError> {
    let metrics = Metrics::new()?;
    let store = open_store(&options, &metrics)?;
    let tokens = Tokens::load(&options.tokens)?;
    if tokens.is_empty() {
        tracing::warn!(file = %options.tokens.display(), "the token file lists no tokens: every API call will be refused");
    }
    if let Some(seed) = &options.seed {
        seed_if_empty(&store, seed)?;
    }
    let tls = match &options.tls {
        Some((cert, key)) => Some(tls::acceptor(cert, key).map_err(ServeError::Tls)?),
        None => None,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir-cp")
        .build()
        .map_err(ServeError::Runtime)?;
    runtime.block_on(async move {
        let failover = Arc::new(FailoverService::new(metrics.registry())?);
        let rollout = Arc::new(RolloutService::new(metrics.registry())?);
        let (shutdown_sender, shutdown) = watch::channel(false);
        let replica = options
            .replica_id
            .clone()
            .unwrap_or_else(|| format!("{}/{}", hostname(), options.listen));
        let leadership = store.campaign(replica.clone(), options.leader_ttl);
        let app = Arc::new(App {
            store: Arc::new(store),
            tokens,
            fleet: Arc::new(Fleet::with_limits(metrics.clone(), options.limits)),
            telemetry: Arc::new(TelemetryStore::new(
                metrics.clone(),
                options.limits.max_gateways,
            )),
            failover,
            rollout,
            metrics,
            heartbeat: options.heartbeat,
            shutdown,
            replica,
            leadership,
        });
        // The current version to everyone, or, while a rollout bakes, the stable version to
        // everyone and the canary version to its canaries.
        crate::rollout::task::recover(&app).await;
        tokio::spawn(push_remote_versions(Arc::clone(&app)));
        tokio::spawn(crate::rollout::task::run(
            Arc::clone(&app),
            app.shutdown.clone(),
        ));
        tokio::spawn(crate::failover::task::run(
            Arc::clone(&app),
            app.shutdown.clone(),
        ));
        let listener = tokio::net::TcpListener::bind(options.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: options.listen,
                source,
            })?;
        let local = listener.local_addr().unwrap_or(options.listen);
        tracing::info!(
            listen = %local, tls = tls.is_some(), heartbeat_ms = options.heartbeat.as_millis() as u64,
            tokens = app.tokens.len(), "control plane listening"
        );
        let router = api::router(Arc::clone(&app));
        let stop = async move {
            wait_for_signal().await;
            tracing::info!("shutting down: closing gateway streams");
            let _ = shutdown_sender.send(true);
        };
        let served = match tls {
            None => axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await,
            Some(acceptor) => axum::serve(tls::TlsListener::new(listener, acceptor), router)
                .with_graceful_shutdown(stop)
                .await,
        };
        // Hand the leadership over now rather than at the lease's expiry.
        let store = Arc::clone(&app.store);
        if let Ok(Err(error)) = tokio::task::spawn_blocking(move || store.resign()).await {
            tracing::warn!(%error, "cannot resign the leadership; it ends with the lease");
        }
        served.map_err(|source| ServeError::Listen {
            addr: options.listen,
            source,
        })
    })
}

/// The host's name (Linux), for the default replica identity.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .ok()
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Opens the store the options name, and logs what it found.
fn open_store(options: &ServeOptions, metrics: &Metrics) -> Result<Store, ServeError> {
    let Some(etcd) = &options.etcd else {
        let (store, recovery) = Store::open(&options.data_dir).map_err(|e| ServeError::Store {
            path: options.data_dir.display().to_string(),
            message: e.to_string(),
        })?;
        tracing::info!(
            store = "files", data_dir = %options.data_dir.display(), recovery = ?recovery,
            current_version = store.current().map(|c| c.meta.version), "store opened"
        );
        return Ok(store);
    };
    let endpoints = etcd.endpoints.join(",");
    let store_metrics = StoreMetrics::new(metrics.registry())?;
    let store = Store::open_etcd(etcd, store_metrics).map_err(|e| ServeError::Store {
        path: format!("etcd {endpoints} {}", etcd.prefix),
        message: e.to_string(),
    })?;
    tracing::info!(
        store = "etcd",
        endpoints,
        prefix = etcd.prefix,
        versions = store.list(usize::MAX, None).len(),
        current_version = store.current().map(|c| c.meta.version),
        "store opened"
    );
    Ok(store)
}

/// Pushes each version another replica commits (seen by this replica's watch on etcd) to this
/// replica's gateways. A staged rollout's canary version (`rollout start`) is held back: it goes
/// only to the canaries of the replica that started the rollout, and here once that replica's
/// rollout record (in the store) says it was promoted; a later version replaces it. The file
/// store has no other replica: this waits forever.
async fn push_remote_versions(app: Arc<App>) {
    let mut remote = app.store.remote_versions();
    // A canary version current at start that this replica does not bake (another replica runs
    // its rollout): pushed here once promoted.
    let mut held: Option<Arc<Version>> = app
        .store
        .current()
        .filter(|current| app.store.kind() != "files" && current.meta.action == ROLLOUT_START)
        .filter(|_| app.rollout.active().is_none());
    let mut poll = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            changed = remote.changed() => {
                if changed.is_err() {
                    return;
                }
                let Some(version) = remote.borrow_and_update().clone() else {
                    continue;
                };
                if version.meta.action == ROLLOUT_START {
                    tracing::info!(
                        store = app.store.kind(), version = version.meta.version,
                        "another replica started a staged rollout: its canary version is pushed \
                         here only once promoted"
                    );
                    held = Some(version);
                    continue;
                }
                held = None;
                tracing::info!(
                    store = app.store.kind(), version = version.meta.version,
                    author = version.meta.author, action = version.meta.action,
                    "pushing a version another replica committed"
                );
                app.publish(&version);
            }
            _ = poll.tick(), if held.is_some() => {
                let Some(version) = held.clone() else { continue };
                let store = Arc::clone(&app.store);
                let record = tokio::task::spawn_blocking(move || {
                    crate::rollout::memory::load(&store)
                })
                .await;
                let Ok(Ok(Some(record))) = record else { continue };
                if record.canary != version.meta.version {
                    continue;
                }
                match record.phase {
                    Phase::Baking => {}
                    Phase::Promoted => {
                        tracing::info!(
                            version = version.meta.version,
                            "another replica's rollout was promoted: pushing its version"
                        );
                        app.publish(&version);
                        held = None;
                    }
                    _ => held = None,
                }
            }
        }
    }
}

/// Stores `path` as the first version when the store has none.
fn seed_if_empty(store: &Store, path: &std::path::Path) -> Result<(), ServeError> {
    if store.current().is_some() {
        tracing::info!(seed = %path.display(), "store has versions; seed ignored");
        return Ok(());
    }
    let fail = |message: String| ServeError::Seed {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
    weir_config::parse_fleet(&text).map_err(|errors| fail(format!("invalid:\n{errors}")))?;
    let stored = store.update(Some(0), SystemTime::now(), |_| {
        Ok::<_, std::convert::Infallible>(Update::Commit(Change {
            config: text,
            author: "seed".into(),
            message: format!("seeded from {}", path.display()),
            action: "seed".into(),
            drained: Default::default(),
            detail: String::new(),
        }))
    });
    match stored {
        Ok(version) => {
            tracing::info!(version = ?version.map(|v| v.meta.version), seed = %path.display(), "store seeded");
            Ok(())
        }
        Err(UpdateError::Io(e)) => Err(fail(e.to_string())),
        Err(UpdateError::Conflict { .. }) => Ok(()),
        Err(UpdateError::Rejected(never)) => match never {},
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot listen for signals; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
