//! The gateway's shared state: the current snapshot (swapped whole), the endpoint, limiter and
//! upstream-guard registries that outlive snapshots, the gateway-wide in-flight count, metrics, the access log and readiness.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;

use crate::access_log::AccessLog;
use crate::endpoint::EndpointRegistry;
use crate::metrics::Metrics;
use crate::ratelimit::LimiterRegistry;
use crate::resilience::bulkhead::Bulkhead;
use crate::resilience::guards::GuardRegistry;
use crate::snapshot::Snapshot;

pub struct Gateway {
    snapshot: ArcSwap<Snapshot>,
    pub registry: Arc<EndpointRegistry>,
    /// Rate-limit buckets and the Redis store, kept across config versions.
    pub limiters: Arc<LimiterRegistry>,
    /// Upstream breakers, retry budgets and bulkheads, kept across config versions.
    pub guards: Arc<GuardRegistry>,
    /// Requests in progress in the whole gateway, capped by `[load_shedding]`.
    pub in_flight: Arc<Bulkhead>,
    pub metrics: Metrics,
    pub access_log: AccessLog,
    /// Set once the proxy listener accepts connections.
    listening: AtomicBool,
    /// Serialises config changes (signal, file watch) so versions are applied one at a time.
    pub(crate) apply_lock: Mutex<()>,
}

impl Gateway {
    pub fn new(
        first: Snapshot,
        registry: Arc<EndpointRegistry>,
        limiters: Arc<LimiterRegistry>,
        guards: Arc<GuardRegistry>,
        metrics: Metrics,
        access_log: AccessLog,
    ) -> Self {
        metrics.config_version.set(first.version as i64);
        Self {
            snapshot: ArcSwap::from_pointee(first),
            registry,
            limiters,
            guards,
            in_flight: Arc::new(Bulkhead::new()),
            metrics,
            access_log,
            listening: AtomicBool::new(false),
            apply_lock: Mutex::new(()),
        }
    }

    /// The snapshot to serve one request with; load once and keep it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Publish a new snapshot: one atomic store, so each request sees the old or the new.
    pub(crate) fn publish(&self, next: Snapshot) {
        self.metrics.config_version.set(next.version as i64);
        self.snapshot.store(Arc::new(next));
    }

    pub fn set_listening(&self) {
        self.listening.store(true, Ordering::Release);
    }

    /// Ready when the proxy listens and a config is loaded (always with a config file; with a
    /// control plane, once the first version came from it or from the cache).
    pub fn is_ready(&self) -> bool {
        self.listening.load(Ordering::Acquire) && !self.snapshot.load().awaiting_config()
    }
}
