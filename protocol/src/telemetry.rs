//! The health summary a gateway posts to the control plane every few seconds
//! ([`telemetry_path`]): per upstream and region pool, what the gateway saw over the last
//! interval. The control plane keeps a bounded window of them per gateway; the failover policy
//! and staged rollouts judge regions and canaries by them. Capped on both sides like reports.

use serde::{Deserialize, Serialize};

use crate::api::Route;

/// The largest telemetry body the control plane reads (`413` beyond it).
pub const MAX_TELEMETRY_BYTES: usize = 256 << 10;
/// Most pools one summary carries (upstreams × regions); the control plane keeps no more.
pub const MAX_TELEMETRY_POOLS: usize = 512;
/// Longest upstream or region name a summary carries, in bytes.
pub const MAX_TELEMETRY_NAME_BYTES: usize = 128;

/// `POST` a [`Telemetry`] here (role `gateway`), with `{id}` the gateway's id.
pub fn telemetry_path(gateway_id: &str) -> String {
    Route::Telemetry.fill(&[gateway_id])
}

/// One gateway's summary of one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// The gateway's region (`gateway.region`), if it has one.
    #[serde(default)]
    pub region: Option<String>,
    /// The config version the gateway serves (0 before its first).
    pub config_version: u64,
    /// How long the summary covers, in milliseconds (the gateway's send interval, or less for its
    /// first summary).
    pub interval_ms: u64,
    /// Per upstream and region pool; at most [`MAX_TELEMETRY_POOLS`].
    #[serde(default)]
    pub pools: Vec<PoolTelemetry>,
}

/// What a gateway saw of one upstream's pool in one region over the interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolTelemetry {
    pub upstream: String,
    pub region: String,
    /// Endpoints available for new requests (healthy, not ejected, breaker not open) ÷
    /// endpoints in rotation: drained endpoints count on neither side, as for the gateway's
    /// `min_healthy_fraction` (an operator's drain is not ill health); 0.0 for a pool with no
    /// endpoint in rotation.
    pub healthy_fraction: f64,
    /// Attempts sent to this pool in the interval, answered or failed (a request retried on
    /// another endpoint counts once per attempt, where each went).
    pub requests: u64,
    /// Of those, answers with a 5xx status from the upstream.
    pub status_5xx: u64,
    /// Of those, transport failures (connect, TLS, reset, timeout) with no answer.
    pub transport_errors: u64,
    /// Upstream latency of the interval's answers, milliseconds; `None` without answers.
    #[serde(default)]
    pub p50_ms: Option<f64>,
    #[serde(default)]
    pub p99_ms: Option<f64>,
    /// Whether the upstream's circuit breaker (or any endpoint breaker of this pool) is open.
    #[serde(default)]
    pub breaker_open: bool,
}

impl PoolTelemetry {
    /// (5xx + transport errors) ÷ requests; 0.0 without requests.
    pub fn error_ratio(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            (self.status_5xx + self.transport_errors) as f64 / self.requests as f64
        }
    }
}

impl Telemetry {
    /// Whether the summary is within the caps a receiver keeps (pool count, name lengths, finite
    /// fractions and latencies); the control plane refuses one that is not (`422`).
    pub fn check(&self) -> Result<(), String> {
        if self.pools.len() > MAX_TELEMETRY_POOLS {
            return Err(format!(
                "{} pools, at most {MAX_TELEMETRY_POOLS}",
                self.pools.len()
            ));
        }
        for (i, pool) in self.pools.iter().enumerate() {
            for (what, name) in [("upstream", &pool.upstream), ("region", &pool.region)] {
                if name.is_empty() || name.len() > MAX_TELEMETRY_NAME_BYTES {
                    return Err(format!(
                        "pools[{i}].{what}: 1 to {MAX_TELEMETRY_NAME_BYTES} bytes"
                    ));
                }
            }
            if !(0.0..=1.0).contains(&pool.healthy_fraction) {
                return Err(format!("pools[{i}].healthy_fraction: 0.0 to 1.0"));
            }
            if pool.status_5xx.saturating_add(pool.transport_errors) > pool.requests {
                return Err(format!(
                    "pools[{i}]: status_5xx + transport_errors exceed requests"
                ));
            }
            for (what, ms) in [("p50_ms", pool.p50_ms), ("p99_ms", pool.p99_ms)] {
                if ms.is_some_and(|ms| !ms.is_finite() || ms < 0.0) {
                    return Err(format!("pools[{i}].{what}: a finite, non-negative number"));
                }
            }
        }
        if let Some(region) = &self.region
            && region.len() > MAX_TELEMETRY_NAME_BYTES
        {
            return Err(format!("region: at most {MAX_TELEMETRY_NAME_BYTES} bytes"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolTelemetry {
        PoolTelemetry {
            upstream: "api".into(),
            region: "us-east".into(),
            healthy_fraction: 0.5,
            requests: 100,
            status_5xx: 3,
            transport_errors: 2,
            p50_ms: Some(1.5),
            p99_ms: Some(20.0),
            breaker_open: false,
        }
    }

    #[test]
    fn a_summary_round_trips_and_counts_its_error_ratio() {
        let summary = Telemetry {
            region: Some("us-east".into()),
            config_version: 7,
            interval_ms: 2000,
            pools: vec![pool()],
        };
        let text = serde_json::to_string(&summary).unwrap();
        assert_eq!(serde_json::from_str::<Telemetry>(&text).unwrap(), summary);
        assert!((summary.pools[0].error_ratio() - 0.05).abs() < 1e-12);
        let idle = PoolTelemetry {
            requests: 0,
            status_5xx: 0,
            transport_errors: 0,
            ..pool()
        };
        assert_eq!(idle.error_ratio(), 0.0);
        assert_eq!(telemetry_path("gw-1"), "/v1/gateways/gw-1/telemetry");
    }

    #[test]
    fn a_summary_outside_the_caps_is_refused_with_its_path() {
        let with = |pool: PoolTelemetry| Telemetry {
            region: None,
            config_version: 1,
            interval_ms: 1000,
            pools: vec![pool],
        };
        assert!(with(pool()).check().is_ok());
        let bad = [
            (
                PoolTelemetry {
                    healthy_fraction: f64::NAN,
                    ..pool()
                },
                "pools[0].healthy_fraction",
            ),
            (
                PoolTelemetry {
                    status_5xx: 200,
                    ..pool()
                },
                "exceed requests",
            ),
            (
                PoolTelemetry {
                    p99_ms: Some(f64::INFINITY),
                    ..pool()
                },
                "pools[0].p99_ms",
            ),
            (
                PoolTelemetry {
                    region: "r".repeat(MAX_TELEMETRY_NAME_BYTES + 1),
                    ..pool()
                },
                "pools[0].region",
            ),
        ];
        for (pool, said) in bad {
            let error = with(pool).check().unwrap_err();
            assert!(error.contains(said), "{error}");
        }
        let many = Telemetry {
            pools: vec![pool(); MAX_TELEMETRY_POOLS + 1],
            ..with(pool())
        };
        assert!(many.check().is_err());
    }
}
