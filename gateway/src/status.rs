//! The `/status` document: config version and, per upstream, pool and endpoint, what the balancer
//! sees right now (weight, health, ejection, EWMA latency, in-flight), and per rate-limit policy
//! its quota and how many keys it tracks.

use std::time::Instant;

use serde::Serialize;

use crate::snapshot::Snapshot;

#[derive(Debug, Serialize)]
pub struct Status<'a> {
    pub gateway_id: &'a str,
    pub region: Option<&'a str>,
    pub config_version: u64,
    pub config_checksum: &'a str,
    pub upstreams: Vec<UpstreamStatus<'a>>,
    pub rate_limits: Vec<RateLimitStatus<'a>>,
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
}

pub fn build(snapshot: &Snapshot, now: Instant) -> Status<'_> {
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
        rate_limits,
        gateway_id: &snapshot.gateway_id,
        region: snapshot.local_region.as_deref(),
        config_version: snapshot.version,
        config_checksum: &snapshot.checksum,
        upstreams,
    }
}
