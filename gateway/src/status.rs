//! The `/status` document: config version and, per upstream, pool and endpoint, what the balancer
//! sees right now (weight, health, ejection, breakers, slow start, EWMA latency, in-flight, the
//! bulkhead and retry budget), and per rate-limit policy its quota and how many keys it tracks.
//! Also samples the gauges that are cheaper to read when scraped than to keep on the request
//! path.

use std::time::Instant;

use serde::Serialize;

use crate::runtime::UpstreamRuntime;
use crate::snapshot::Snapshot;
use crate::state::Gateway;

#[derive(Debug, Serialize)]
pub struct Status<'a> {
    pub gateway_id: &'a str,
    pub region: Option<&'a str>,
    pub config_version: u64,
    pub config_checksum: &'a str,
    pub load_shedding: LoadSheddingStatus,
    pub upstreams: Vec<UpstreamStatus<'a>>,
    pub rate_limits: Vec<RateLimitStatus<'a>>,
    /// The served edge certificates (absent without `[tls]`); see [`Status::with_certificates`].
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_certificates: Vec<CertificateStatus>,
    /// Each endpoint DNS name of the config and the addresses it stands for now (empty until it
    /// has resolved once); absent without names. See [`Status::with_names`].
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub names: std::collections::BTreeMap<&'a str, Vec<String>>,
}

/// One served certificate in `/status`.
#[derive(Debug, Serialize)]
pub struct CertificateStatus {
    /// `tls.certificates[i]`.
    pub path: String,
    pub names: Vec<String>,
    pub serial: String,
    /// `notAfter`, Unix seconds.
    pub not_after: i64,
    /// Set when it expires within 14 days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<&'static str>,
}

impl<'a> Status<'a> {
    /// The document with the addresses each endpoint name of `config` stands for now.
    pub fn with_names(
        mut self,
        config: &'a weir_config::Config,
        resolved: &crate::names::ResolvedNames,
    ) -> Self {
        for name in config
            .fleet
            .upstreams
            .values()
            .flat_map(|upstream| &upstream.pools)
            .flat_map(|pool| &pool.endpoints)
            .filter_map(|endpoint| endpoint.name())
        {
            let addresses = resolved
                .get(&name.host)
                .map(|ips| ips.iter().map(ToString::to_string).collect())
                .unwrap_or_default();
            self.names.insert(&name.host, addresses);
        }
        self
    }

    /// The document with the certificates of `set`, warning of those expiring within 14 days
    /// of `now` (Unix seconds).
    pub fn with_certificates(mut self, set: &crate::tls::CertificateSet, now: i64) -> Self {
        let horizon = now.saturating_add(crate::tls::EXPIRY_WARNING.as_secs() as i64);
        self.tls_certificates = set
            .certificates
            .iter()
            .map(|info| CertificateStatus {
                path: info.path.clone(),
                names: info.names.clone(),
                serial: info.serial.clone(),
                not_after: info.not_after,
                warning: (info.not_after < horizon).then_some("expires within 14 days"),
            })
            .collect();
        self
    }
}

#[derive(Debug, Serialize)]
pub struct LoadSheddingStatus {
    pub in_flight: u32,
    pub max_in_flight: u32,
}

#[derive(Debug, Serialize)]
pub struct BulkheadStatus {
    pub in_flight: u32,
    /// The cap now: `max_in_flight`, or the adaptive limit's current value.
    pub limit: u32,
    pub adaptive: bool,
    pub pending_connects: u32,
}

#[derive(Debug, Serialize)]
pub struct RetryBudgetStatus {
    /// First attempts in the budget's window.
    pub requests: u64,
    /// Retries in the budget's window.
    pub retries: u64,
}

#[derive(Debug, Serialize)]
pub struct RateLimitStatus<'a> {
    pub name: &'a str,
    pub scope: &'static str,
    /// The advertised quota, as in `RateLimit-Policy`.
    pub policy: &'a str,
    pub burst: u32,
    /// Keys with their own local bucket now (for a global policy: its fallback buckets).
    pub local_keys: usize,
}

#[derive(Debug, Serialize)]
pub struct UpstreamStatus<'a> {
    pub name: &'a str,
    pub region_policy: &'static str,
    pub active_health_checks: bool,
    /// The upstream-wide circuit breaker: closed, open or half_open.
    pub breaker: &'static str,
    pub bulkhead: BulkheadStatus,
    pub retry_budget: RetryBudgetStatus,
    pub pools: Vec<PoolStatus<'a>>,
}

#[derive(Debug, Serialize)]
pub struct PoolStatus<'a> {
    pub region: &'a str,
    pub weight: u32,
    pub local: bool,
    /// Weighted above 0 and enough endpoints available to take traffic.
    pub healthy: bool,
    pub healthy_endpoints: usize,
    pub endpoints: Vec<EndpointStatus>,
}

#[derive(Debug, Serialize)]
pub struct EndpointStatus {
    pub address: String,
    pub healthy: bool,
    pub ejected: bool,
    pub ewma_latency_ms: Option<f64>,
    pub in_flight: u32,
    /// Drained by an operator (`pools[].drained`): no new requests; health checks go on.
    pub drained: bool,
    /// The endpoint's circuit breaker: closed, open or half_open.
    pub breaker: &'static str,
    /// Its share of normal traffic while in slow start (1 when not ramping).
    pub slow_start: f64,
}

/// The document for `snapshot`, served by the gateway `gateway_id`.
pub fn build<'a>(
    gateway_id: &'a str,
    snapshot: &'a Snapshot,
    gateway_in_flight: u32,
    now: Instant,
) -> Status<'a> {
    let upstreams = snapshot
        .upstreams
        .values()
        .map(|up| UpstreamStatus {
            name: &up.name,
            region_policy: match up.policy {
                weir_config::RegionPolicy::Nearest => "nearest",
                weir_config::RegionPolicy::Weighted => "weighted",
            },
            active_health_checks: up.health.is_some(),
            breaker: up.guard.breaker.state(&up.breaker, now).as_str(),
            bulkhead: BulkheadStatus {
                in_flight: up.guard.bulkhead.in_flight(),
                limit: up.in_flight_cap(),
                adaptive: up.adaptive.is_some(),
                pending_connects: up.guard.bulkhead.pending_connects(),
            },
            retry_budget: {
                let (requests, retries) = up.guard.budget.usage(&up.retry_budget, now);
                RetryBudgetStatus { requests, retries }
            },
            pools: up
                .pools
                .iter()
                .map(|pool| PoolStatus {
                    region: &pool.region,
                    weight: pool.weight,
                    local: pool.is_local,
                    healthy: pool.is_healthy(up.min_healthy_fraction, now),
                    healthy_endpoints: pool.available(now),
                    endpoints: pool
                        .endpoints
                        .iter()
                        .map(|e| EndpointStatus {
                            address: e.label.clone(),
                            healthy: e.is_healthy(),
                            ejected: e.is_ejected(now),
                            ewma_latency_ms: e
                                .latency_estimate()
                                .map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
                            in_flight: e.in_flight(),
                            drained: pool.is_drained(e),
                            breaker: e.breaker.state(&up.breaker, now).as_str(),
                            slow_start: (e.slow_start_factor(now, up.slow_start) * 1e3).round()
                                / 1e3,
                        })
                        .collect(),
                })
                .collect(),
        })
        .collect();
    let rate_limits = snapshot
        .policies
        .values()
        .map(|p| RateLimitStatus {
            name: &p.name,
            scope: if p.is_global() { "global" } else { "local" },
            policy: &p.policy_item,
            burst: p.quota.burst(),
            local_keys: p.buckets.tracked(),
        })
        .collect();
    Status {
        load_shedding: LoadSheddingStatus {
            in_flight: gateway_in_flight,
            max_in_flight: snapshot.config.fleet.load_shedding.max_in_flight,
        },
        rate_limits,
        gateway_id,
        region: snapshot.local_region.as_deref(),
        config_version: snapshot.version,
        config_checksum: &snapshot.checksum,
        upstreams,
        tls_certificates: Vec::new(),
        names: std::collections::BTreeMap::new(),
    }
}

/// Set the gauges sampled at scrape time: in-flight counts, bulkhead limits and breaker states.
pub fn sample_gauges(gateway: &Gateway, now: Instant) {
    let snapshot = gateway.snapshot();
    let metrics = &gateway.metrics;
    metrics
        .gateway_in_flight
        .set(i64::from(gateway.in_flight.in_flight()));
    metrics
        .proxy_connections
        .set(i64::try_from(gateway.open_connections()).unwrap_or(i64::MAX));
    for up in snapshot.upstreams.values() {
        sample_upstream(up, metrics, now);
    }
}

fn sample_upstream(up: &UpstreamRuntime, metrics: &crate::metrics::Metrics, now: Instant) {
    let name = &*up.name;
    metrics
        .bulkhead_in_flight
        .with_label_values(&[name])
        .set(i64::from(up.guard.bulkhead.in_flight()));
    metrics
        .bulkhead_limit
        .with_label_values(&[name])
        .set(i64::from(up.in_flight_cap()));
    metrics
        .breaker_state_upstream
        .with_label_values(&[name])
        .set(up.guard.breaker.state(&up.breaker, now).code());
    for pool in &up.pools {
        for e in &pool.endpoints {
            metrics
                .breaker_state_endpoint
                .with_label_values(&[name, &pool.region, &e.label])
                .set(e.breaker.state(&up.breaker, now).code());
        }
    }
}
