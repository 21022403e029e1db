//! The runtime model a snapshot is made of: routes, upstreams and their regional pools as the
//! request path reads them (settings, live endpoint states, pre-bound metric handles). Plain
//! data with the few queries the balancer and the outlier detector ask of it (a pool's answers
//! reused until one of its endpoints changes, so they cost the same at any pool size); built by
//! `snapshot.rs`, which is the compiler.

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounter};
use weir_config::{
    HealthCheck, OutlierDetection, Priority, RegionPolicy, RetryBudgetSettings, RetryPolicy,
    UpstreamProtocol,
};

use crate::endpoint::{self, EndpointState};
use crate::ratelimit::policy::RouteLimits;
use crate::resilience::adaptive::GradientLimit;
use crate::resilience::fault::FaultPlan;
use crate::resilience::guards::UpstreamGuard;
use crate::upstream_tls::PoolTls;

/// A route as the request path needs it.
pub struct RouteEntry {
    pub name: Arc<str>,
    pub upstream: Arc<UpstreamRuntime>,
    /// The total deadline, from arrival to the end of the response.
    pub timeout: Duration,
    /// Per attempt: first byte and each later read.
    pub read_timeout: Duration,
    /// Per attempt; the upstream's unless the route sets one.
    pub connect_timeout: Duration,
    pub priority: Priority,
    pub retry: RetryPolicy,
    pub fault: Option<FaultPlan>,
    pub request_duration: Histogram,
    /// The route's rate-limit policies (locals, then globals, each in the order written); all
    /// must admit.
    pub limits: RouteLimits,
    /// What the gateway does to the request's path, headers and body.
    pub request: weir_config::RequestRules,
    /// `redirect_https`: plain-HTTP requests are answered `308` to `https://`.
    pub redirect_https: bool,
    /// The port the redirect names.
    pub https_port: u16,
    /// `weir_redirects_total` of this route, when it redirects.
    pub redirects: Option<IntCounter>,
    /// `Strict-Transport-Security` for responses to HTTPS requests, made once per version.
    pub hsts: Option<http::HeaderValue>,
}

/// An upstream with its pools and their live endpoints.
pub struct UpstreamRuntime {
    pub name: Arc<str>,
    pub policy: RegionPolicy,
    pub health: Option<HealthCheck>,
    pub min_healthy_fraction: f64,
    pub outlier: OutlierDetection,
    pub connect_timeout: Duration,
    pub retry_budget: RetryBudgetSettings,
    pub breaker: weir_config::CircuitBreakerSettings,
    pub slow_start: Duration,
    pub bulkhead: weir_config::BulkheadSettings,
    /// The breaker, budget and bulkhead state, kept across config versions.
    pub guard: Arc<UpstreamGuard>,
    /// The adaptive in-flight limit, with `bulkhead.adaptive`.
    pub adaptive: Option<Arc<GradientLimit>>,
    pub pools: Vec<PoolRuntime>,
    pub panic_routing: IntCounter,
}

impl UpstreamRuntime {
    /// The in-flight cap now: the adaptive limit, or `bulkhead.max_in_flight`.
    pub fn in_flight_cap(&self) -> u32 {
        match (&self.adaptive, &self.bulkhead.adaptive) {
            (Some(limit), Some(settings)) => limit.cap(settings, self.bulkhead.max_in_flight),
            _ => self.bulkhead.max_in_flight,
        }
    }
}

pub struct PoolRuntime {
    pub region: Arc<str>,
    pub weight: u32,
    pub is_local: bool,
    pub endpoints: Vec<Arc<EndpointState>>,
    /// `drained`: endpoints an operator took out of rotation (no new requests; health checks go
    /// on). Usually empty, so the look-up is a few comparisons at most.
    pub drained: Vec<std::net::SocketAddr>,
    /// TLS to the pool's endpoints, loaded with this version; `None`: plain text.
    pub tls: Option<Arc<PoolTls>>,
    /// For a TLS pool without `tls.sni`: the DNS name each address resolved from came from,
    /// sent as SNI and verified (empty otherwise, and for a pool of addresses only).
    pub server_names: Vec<(std::net::SocketAddr, Arc<str>)>,
    /// The HTTP version spoken to the pool's endpoints.
    pub protocol: UpstreamProtocol,
    pub upstream_duration: Histogram,
    pub connect_failures: IntCounter,
    /// `weir_upstream_failures_total{kind="status_5xx"}`: answers that failed (a 5xx, or a
    /// protocol switch nobody asked for).
    pub status_5xx: IntCounter,
    /// `weir_upstream_failures_total{kind="exchange"}`: exchanges that broke after the
    /// connection was made, without an answer (reset, read timeout).
    pub exchange_failures: IntCounter,
    pub ejections: IntCounter,
    pub spill_routing: IntCounter,
    /// The last count of the endpoints, reused while it holds (see [`Census`]).
    pub census: arc_swap::ArcSwapOption<Census>,
}

/// What one pass over a pool's endpoints found at `from_ns`, and how long it holds: until an
/// endpoint's state changes (`endpoint::state_changes`) or an ejection ends (`until_ns`). Without
/// it, every pick counted every endpoint of the pool (twice), so picking from 1,000 endpoints
/// cost ~60× picking from 8.
#[derive(Debug, Clone, Copy)]
pub struct Census {
    changes: u64,
    from_ns: u64,
    /// The first ejection end after `from_ns` (`u64::MAX`: none).
    until_ns: u64,
    /// Endpoints available and not drained.
    available: usize,
    /// The latest time an available endpoint (drained or not) came back; 0: never.
    last_back_ns: u64,
}

impl PoolRuntime {
    /// The server name for a TLS connection to `addr`, when it came from an endpoint name (see
    /// `server_names`). A plain pool's list is empty, so this costs nothing there.
    pub fn server_name(&self, addr: std::net::SocketAddr) -> Option<&Arc<str>> {
        self.server_names
            .iter()
            .find(|(a, _)| *a == addr)
            .map(|(_, name)| name)
    }

    /// Whether an operator drained `endpoint` in this pool.
    pub fn is_drained(&self, endpoint: &EndpointState) -> bool {
        self.drained.contains(&endpoint.key.addr)
    }

    /// Endpoints that may take new requests now (drained ones never may).
    pub fn available(&self, now: Instant) -> usize {
        self.census(now).available
    }

    /// The census as of `now`: the last one while it still holds, else a new pass.
    fn census(&self, now: Instant) -> Census {
        // Read before the states, so a change during the pass makes this census stale.
        let changes = endpoint::state_changes();
        let now_ns = endpoint::nanos_since_epoch(now);
        if let Some(last) = &*self.census.load()
            && last.changes == changes
            && (last.from_ns..last.until_ns).contains(&now_ns)
        {
            return **last;
        }
        let mut census = Census {
            changes,
            from_ns: now_ns,
            until_ns: u64::MAX,
            available: 0,
            last_back_ns: 0,
        };
        for e in &self.endpoints {
            let ejected_until = e.ejected_until_ns();
            if ejected_until > now_ns {
                census.until_ns = census.until_ns.min(ejected_until);
            }
            if e.is_available(now) {
                census.available += usize::from(!self.is_drained(e));
                census.last_back_ns = census.last_back_ns.max(e.back_at_ns(now_ns));
            }
        }
        self.census.store(Some(Arc::new(census)));
        census
    }

    /// Weighted above 0 and with at least `min_fraction` of its endpoints available. Drained
    /// endpoints count on neither side: draining one for maintenance does not by itself make the
    /// region spill.
    pub fn is_healthy(&self, min_fraction: f64, now: Instant) -> bool {
        let in_rotation = self.endpoints.len().saturating_sub(self.drained.len());
        if self.weight == 0 || in_rotation == 0 {
            return false;
        }
        let available = self.available(now);
        available > 0 && available as f64 >= min_fraction * in_rotation as f64
    }

    /// The pool's slow-start share: the mean of its available endpoints' (1 when none is
    /// ramping), so a whole region coming back ramps up like an endpoint does.
    pub fn slow_start_factor(&self, now: Instant, window: Duration) -> f64 {
        // Every available endpoint came back at least `window` ago: all take their full share.
        let last_back_ns = self.census(now).last_back_ns;
        let now_ns = endpoint::nanos_since_epoch(now);
        let since_last_back = Duration::from_nanos(now_ns - last_back_ns.min(now_ns));
        if last_back_ns == 0 || window.is_zero() || since_last_back >= window {
            return 1.0;
        }
        let (sum, n) = self
            .endpoints
            .iter()
            .filter(|e| e.is_available(now))
            .fold((0.0, 0u32), |(s, n), e| {
                (s + e.slow_start_factor(now, window), n + 1)
            });
        if n == 0 { 1.0 } else { sum / f64::from(n) }
    }

    /// Mean latency estimate over the available endpoints that have one.
    pub fn latency(&self, now: Instant) -> Option<Duration> {
        let (sum, n) = self
            .endpoints
            .iter()
            .filter(|e| e.is_available(now))
            .filter_map(|e| e.latency_estimate())
            .fold((Duration::ZERO, 0u32), |(s, n), l| (s + l, n + 1));
        (n > 0).then(|| sum / n)
    }
}
