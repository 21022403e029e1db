//! The gateway's shared state: its id, the current snapshot (swapped whole), the endpoint,
//! limiter and upstream-guard registries that outlive snapshots (lent to the compiler as
//! `Registries`), the gateway-wide in-flight count, the open proxy connections, metrics, the
//! access log, and readiness (listening, not draining).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arc_swap::ArcSwap;

use crate::access_log::AccessLog;
use crate::endpoint::EndpointRegistry;
use crate::metrics::Metrics;
use crate::names::ResolvedNames;
use crate::ratelimit::LimiterRegistry;
use crate::resilience::bulkhead::Bulkhead;
use crate::resilience::guards::GuardRegistry;
use crate::series;
use crate::snapshot::{Registries, Snapshot};

pub struct Gateway {
    /// `gateway.id`, or the host name: the same for the life of the process.
    pub id: String,
    snapshot: ArcSwap<Snapshot>,
    pub registry: Arc<EndpointRegistry>,
    /// What the endpoint names resolved to last; written by the resolver task (`resolver.rs`),
    /// read by each compile. Empty at start: nothing is resolved before the gateway runs.
    pub names: Arc<ResolvedNames>,
    /// Rate-limit buckets and the Redis store, kept across config versions.
    pub limiters: Arc<LimiterRegistry>,
    /// Upstream breakers, retry budgets and bulkheads, kept across config versions.
    pub guards: Arc<GuardRegistry>,
    /// Requests in progress in the whole gateway, capped by `[load_shedding]`.
    pub in_flight: Arc<Bulkhead>,
    pub metrics: Metrics,
    pub access_log: AccessLog,
    /// The edge certificate set served by the HTTPS listeners (empty without `[tls]`); swapped
    /// by a reload, read by each handshake.
    pub tls: Arc<crate::tls::CertStore>,
    /// Set once the proxy listener accepts connections.
    listening: AtomicBool,
    /// Set when a shutdown signal arrives: `/readyz` fails from then on.
    draining: AtomicBool,
    /// Turns true with `draining`: the proxy listeners serve each keep-alive connection's next
    /// response with `Connection: close` (HTTP/2: GOAWAY), so clients reconnect before the
    /// listener closes rather than race an idle close (what a binary upgrade needs).
    closing: tokio::sync::watch::Sender<bool>,
    /// Proxy connections open now (from accept to close), for the drain at shutdown.
    connections: Arc<AtomicUsize>,
    /// Serialises config changes (signal, file watch) so versions are applied one at a time.
    pub(crate) apply_lock: Mutex<()>,
}

impl Gateway {
    pub fn new(
        id: String,
        first: Snapshot,
        registry: Arc<EndpointRegistry>,
        limiters: Arc<LimiterRegistry>,
        guards: Arc<GuardRegistry>,
        metrics: Metrics,
        access_log: AccessLog,
    ) -> Self {
        metrics.config_version.set(first.version as i64);
        series::preregister(&first.config, &metrics);
        Self {
            id,
            snapshot: ArcSwap::from_pointee(first),
            registry,
            names: Arc::new(ResolvedNames::default()),
            limiters,
            guards,
            in_flight: Arc::new(Bulkhead::new()),
            metrics,
            access_log,
            tls: Arc::new(crate::tls::CertStore::new(
                crate::tls::CertificateSet::empty(),
            )),
            listening: AtomicBool::new(false),
            draining: AtomicBool::new(false),
            closing: tokio::sync::watch::Sender::new(false),
            connections: Arc::new(AtomicUsize::new(0)),
            apply_lock: Mutex::new(()),
        }
    }

    /// The snapshot to serve one request with; load once and keep it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// The registries a new config version is compiled against.
    pub fn registries(&self) -> Registries<'_> {
        Registries {
            endpoints: &self.registry,
            names: &self.names,
            limiters: &self.limiters,
            guards: &self.guards,
            metrics: &self.metrics,
        }
    }

    /// Publish a new snapshot: one atomic store, so each request sees the old or the new.
    pub(crate) fn publish(&self, next: Snapshot) {
        self.metrics.config_version.set(next.version as i64);
        series::preregister(&next.config, &self.metrics);
        let previous = self.snapshot.swap(Arc::new(next));
        series::forget_removed_routes(&previous.config, &self.snapshot().config, &self.metrics);
        retire(previous);
    }

    pub fn set_listening(&self) {
        self.listening.store(true, Ordering::Release);
    }

    /// Ready when the proxy listens, a config is loaded (always with a config file; with a
    /// control plane, once the first version came from it or from the cache) and no shutdown
    /// has begun.
    pub fn is_ready(&self) -> bool {
        self.not_ready_because().is_none()
    }

    /// Why the gateway is not ready, or `None` when it is.
    pub fn not_ready_because(&self) -> Option<&'static str> {
        if self.draining.load(Ordering::Acquire) {
            Some("shutting down")
        } else if !self.listening.load(Ordering::Acquire) {
            Some("proxy listener not up yet")
        } else if self.snapshot.load().awaiting_config() {
            Some("no config yet")
        } else {
            None
        }
    }

    /// From now on `/readyz` fails, so load balancers stop sending; returns whether this call
    /// started the drain.
    pub fn start_draining(&self) -> bool {
        let first = !self.draining.swap(true, Ordering::AcqRel);
        if first {
            self.metrics.draining.set(1);
            self.closing.send_replace(true);
        }
        first
    }

    /// True from the start of the drain on: what the proxy listeners give Pingora as their
    /// shutdown watch (see `closing`).
    pub fn closing(&self) -> tokio::sync::watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// Whether the proxy listener accepts connections yet.
    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Acquire)
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Counts one proxy connection open until the returned guard is dropped.
    pub fn open_connection(&self) -> ConnectionGuard {
        self.connections.fetch_add(1, Ordering::AcqRel);
        ConnectionGuard(Arc::clone(&self.connections))
    }

    /// Proxy connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }
}

/// Free a replaced snapshot off the request path. Requests still in flight hold it; the last of
/// them to finish would free it, on a proxy thread, and freeing a large config (10,000 routes:
/// the router, the route entries, their metric handles) takes milliseconds that the requests
/// queued behind it would wait. So a small thread keeps a reference until it is the only one
/// left, and frees it then.
fn retire(previous: Arc<Snapshot>) {
    if Arc::strong_count(&previous) == 1 {
        return; // no request holds it: freed here, by the publisher
    }
    let spawned = std::thread::Builder::new()
        .name("weir-retire".into())
        .spawn(move || {
            let mut held = previous;
            loop {
                match Arc::try_unwrap(held) {
                    Ok(snapshot) => return drop(snapshot),
                    Err(still_held) => held = still_held,
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "no thread to free the replaced config on; requests will");
    }
}

/// One open proxy connection; dropping it closes the count.
pub struct ConnectionGuard(Arc<AtomicUsize>);

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}
