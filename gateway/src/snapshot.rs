//! The routing snapshot: a validated config compiled into the lookup structures the request path
//! uses, with endpoint state attached from the registry. Published whole with one `ArcSwap::store`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{Histogram, IntCounter};
use weir_config::{
    Config, HealthCheck, OutlierDetection, Priority, RegionPolicy, RetryBudget, RetryPolicy,
};

use crate::client_ip::ClientIpResolver;
use crate::endpoint::{EndpointKey, EndpointRegistry, EndpointState};
use crate::metrics::Metrics;
use crate::ratelimit::policy::RouteLimits;
use crate::ratelimit::store::RedisStore;
use crate::ratelimit::{LimiterRegistry, Policy};
use crate::resilience::adaptive::GradientLimit;
use crate::resilience::fault::FaultPlan;
use crate::resilience::guards::{GuardRegistry, UpstreamGuard};
use crate::router::{Prefix, Router};

/// One config version, ready to serve.
pub struct Snapshot {
    /// With a config file, counts reloads from 1; with a control plane, the control plane's
    /// version number, and 0 while no version has arrived yet.
    pub version: u64,
    /// SHA-256 of the config text, hex, for telling versions apart across processes.
    pub checksum: String,
    pub config: Arc<Config>,
    pub gateway_id: String,
    pub local_region: Option<Arc<str>>,
    pub router: Router<Arc<RouteEntry>>,
    pub upstreams: BTreeMap<String, Arc<UpstreamRuntime>>,
    /// Rate-limit policies by name.
    pub policies: BTreeMap<String, Arc<Policy>>,
    pub client_ip: ClientIpResolver,
    /// The store of global limits; `None` without a `[redis]` section.
    pub redis: Option<Arc<RedisStore>>,
}

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
}

/// An upstream with its pools and their live endpoints.
pub struct UpstreamRuntime {
    pub name: Arc<str>,
    pub policy: RegionPolicy,
    pub health: Option<HealthCheck>,
    pub min_healthy_fraction: f64,
    pub outlier: OutlierDetection,
    pub connect_timeout: Duration,
    pub retry_budget: RetryBudget,
    pub breaker: weir_config::CircuitBreaker,
    pub slow_start: Duration,
    pub bulkhead: weir_config::Bulkhead,
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
    pub upstream_duration: Histogram,
    pub connect_failures: IntCounter,
    pub ejections: IntCounter,
    pub spill_routing: IntCounter,
}

impl PoolRuntime {
    /// Whether an operator drained `endpoint` in this pool.
    pub fn is_drained(&self, endpoint: &EndpointState) -> bool {
        self.drained.contains(&endpoint.key.addr)
    }

    /// Endpoints that may take new requests now (drained ones never may).
    pub fn available(&self, now: Instant) -> usize {
        self.endpoints
            .iter()
            .filter(|e| e.is_available(now) && !self.is_drained(e))
            .count()
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

impl Snapshot {
    /// True while a gateway run by a control plane has no version yet (from it or its cache):
    /// every request is answered 503 and `/readyz` says not ready.
    pub fn awaiting_config(&self) -> bool {
        self.version == 0
    }

    /// Compile a validated config. Endpoint states come from (and are added to) `registry`,
    /// rate-limit buckets and the Redis store from `limiters`, upstream breakers, budgets and
    /// bulkheads from `guards`.
    #[allow(clippy::too_many_arguments)]
    pub fn compile(
        config: Arc<Config>,
        version: u64,
        checksum: String,
        gateway_id: String,
        registry: &EndpointRegistry,
        limiters: &LimiterRegistry,
        guards: &GuardRegistry,
        metrics: &Metrics,
        now: Instant,
    ) -> Self {
        let key_prefix = config
            .redis
            .as_ref()
            .map_or(weir_config::RedisSettings::DEFAULT_KEY_PREFIX, |r| {
                r.key_prefix.as_str()
            });
        let policies: BTreeMap<String, Arc<Policy>> = config
            .rate_limits
            .iter()
            .map(|(name, policy)| {
                let buckets = limiters.buckets(policy);
                let compiled = Policy::compile(policy, buckets, key_prefix, metrics);
                (name.clone(), Arc::new(compiled))
            })
            .collect();
        let local_region: Option<Arc<str>> = config.gateway.region.as_deref().map(Arc::from);
        let upstreams: BTreeMap<String, Arc<UpstreamRuntime>> = config
            .upstreams
            .iter()
            .map(|(name, up)| {
                let name_arc: Arc<str> = Arc::from(name.as_str());
                let pools = up
                    .pools
                    .iter()
                    .map(|pool| {
                        let region: Arc<str> = Arc::from(pool.region.as_str());
                        let endpoints = pool
                            .endpoints
                            .iter()
                            .map(|addr| {
                                let key = EndpointKey {
                                    upstream: Arc::clone(&name_arc),
                                    region: Arc::clone(&region),
                                    addr: *addr,
                                };
                                let state = registry.get_or_create(key, now);
                                let labels = [name.as_str(), &pool.region, &state.label];
                                metrics
                                    .endpoint_healthy
                                    .with_label_values(&labels)
                                    .set(i64::from(state.is_healthy()));
                                metrics
                                    .endpoint_ejected
                                    .with_label_values(&labels)
                                    .set(i64::from(state.is_ejected(now)));
                                metrics
                                    .endpoint_drained
                                    .with_label_values(&labels)
                                    .set(i64::from(pool.drained.contains(addr)));
                                state
                            })
                            .collect();
                        let labels = [name.as_str(), pool.region.as_str()];
                        PoolRuntime {
                            is_local: local_region.as_deref() == Some(pool.region.as_str()),
                            weight: pool.weight,
                            endpoints,
                            drained: pool.drained.clone(),
                            upstream_duration: metrics.upstream_duration.with_label_values(&labels),
                            connect_failures: metrics.connect_failures.with_label_values(&labels),
                            ejections: metrics.ejections.with_label_values(&labels),
                            spill_routing: metrics.spill_routing.with_label_values(&labels),
                            region,
                        }
                    })
                    .collect();
                let guard = guards.get_or_create(name, now);
                let runtime = UpstreamRuntime {
                    name: Arc::clone(&name_arc),
                    policy: up.region_policy,
                    health: up.health.clone(),
                    min_healthy_fraction: up.min_healthy_fraction,
                    outlier: up.outlier.clone(),
                    connect_timeout: up.connect_timeout,
                    retry_budget: up.retry_budget.clone(),
                    breaker: up.circuit_breaker.clone(),
                    slow_start: up.slow_start,
                    bulkhead: up.bulkhead.clone(),
                    adaptive: guard.adaptive_limit(up.bulkhead.adaptive.as_ref(), now),
                    guard,
                    pools,
                    panic_routing: metrics.panic_routing.with_label_values(&[name.as_str()]),
                };
                for reason in ["connect_failure", "reset", "status"] {
                    metrics.retries.with_label_values(&[name.as_str(), reason]);
                }
                for reason in ["budget_exhausted", "attempts_exhausted", "deadline"] {
                    metrics
                        .retries_refused
                        .with_label_values(&[name.as_str(), reason]);
                }
                metrics
                    .breaker_rejections
                    .with_label_values(&[name.as_str()]);
                (name.clone(), Arc::new(runtime))
            })
            .collect();
        let router = Router::new(config.routes.iter().filter_map(|route| {
            // Validation guarantees the upstream exists; a missing one would only drop the route.
            let upstream = Arc::clone(upstreams.get(&route.upstream)?);
            let connect_timeout = route.connect_timeout.unwrap_or(upstream.connect_timeout);
            let entry = RouteEntry {
                name: Arc::from(route.name.as_str()),
                upstream,
                timeout: route.timeout,
                read_timeout: route.read_timeout,
                connect_timeout,
                priority: route.priority,
                retry: route.retry.clone(),
                fault: route.fault.as_ref().map(|fault| {
                    for kind in ["delay", "abort"] {
                        metrics.faults.with_label_values(&[&route.name, kind]);
                    }
                    FaultPlan::new(fault)
                }),
                request_duration: metrics.request_duration.with_label_values(&[&route.name]),
                limits: RouteLimits::new(
                    route
                        .rate_limits
                        .iter()
                        .filter_map(|name| policies.get(name).cloned()),
                ),
                request: route.request.clone(),
            };
            let prefix = Prefix {
                text: route.path_prefix.clone(),
                ignore_case: route.request.path_prefix_ignore_case,
            };
            Some((route.host.clone(), prefix, Arc::new(entry)))
        }));
        Self {
            version,
            checksum,
            gateway_id,
            local_region,
            router,
            upstreams,
            policies,
            client_ip: ClientIpResolver::new(&config.client_ip),
            redis: limiters.store(config.redis.as_ref(), metrics),
            config,
        }
    }

    /// Whether this snapshot names the endpoint (used to prune the registry after a swap).
    pub fn names_endpoint(&self, key: &EndpointKey) -> bool {
        self.upstreams.get(key.upstream.as_ref()).is_some_and(|up| {
            up.pools.iter().any(|p| {
                p.region == key.region && p.endpoints.iter().any(|e| e.key.addr == key.addr)
            })
        })
    }
}
