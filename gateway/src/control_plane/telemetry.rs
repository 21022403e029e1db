//! The background service that posts this gateway's health summary to the control plane every
//! `control_plane.telemetry_interval`: per upstream and region pool of the running version, the
//! pool's health now (available endpoints, breakers) and what its attempts did since the last
//! summary, read from the series the request path already counts ([`summary`]), so it adds no
//! work per request. A post that fails is logged and counted, never retried: the next summary
//! replaces it, and nothing waits on it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use prometheus::core::Metric as _;
use tokio::time::MissedTickBehavior;
use weir_protocol::{MAX_TELEMETRY_NAME_BYTES, MAX_TELEMETRY_POOLS, PoolTelemetry, Telemetry};
use weir_push_client::report::send_telemetry;

use super::http::Endpoint;
use super::summary::{self, Reading};
use crate::resilience::breaker::BreakerState;
use crate::runtime::{PoolRuntime, UpstreamRuntime};
use crate::snapshot::Snapshot;
use crate::state::Gateway;

/// The last reading of each pool, by (upstream, region).
type Readings = BTreeMap<(Arc<str>, Arc<str>), Reading>;

pub struct TelemetrySender {
    pub gateway: Arc<Gateway>,
    pub endpoint: Endpoint,
    pub gateway_id: String,
    /// `gateway.region`.
    pub region: Option<String>,
    pub interval: Duration,
}

#[async_trait]
impl BackgroundService for TelemetrySender {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut readings = read_all(&self.gateway.snapshot());
        let mut since = Instant::now();
        let mut ticks = tokio::time::interval(self.interval);
        // A post slower than the interval skips ticks rather than bunching posts up.
        ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
        ticks.reset();
        let mut failing = false;
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = shutdown.changed() => return,
            }
            let now = Instant::now();
            let snapshot = self.gateway.snapshot();
            let (telemetry, next) = build(
                &snapshot,
                &readings,
                self.region.clone(),
                now.saturating_duration_since(since),
                now,
            );
            drop(snapshot);
            (readings, since) = (next, now);
            let sent = tokio::select! {
                sent = send_telemetry(&self.endpoint, &self.gateway_id, &telemetry, self.interval) => sent,
                _ = shutdown.changed() => return,
            };
            let outcome = match &sent {
                Ok(()) => "sent",
                Err(not_sent) => not_sent.outcome,
            };
            self.gateway
                .metrics
                .control_plane_telemetry
                .with_label_values(&[outcome])
                .inc();
            match sent {
                Ok(()) if failing => {
                    failing = false;
                    tracing::info!("health summaries reach the control plane again");
                }
                Ok(()) => {}
                // Loud once, then quiet while it keeps failing: one comes every few seconds.
                Err(not_sent) if !failing => {
                    failing = true;
                    tracing::warn!(
                        outcome = not_sent.outcome,
                        detail = not_sent.detail,
                        "a health summary was not sent; the next one replaces it"
                    );
                }
                Err(not_sent) => tracing::debug!(
                    outcome = not_sent.outcome,
                    detail = not_sent.detail,
                    "a health summary was not sent"
                ),
            }
        }
    }
}

/// The summary of `snapshot`'s pools since `before` (read `covered` ago), and the readings it
/// was made from, to diff the next one against. Pools past the protocol's caps (count, name
/// length) are left out rather than have the whole summary refused.
pub fn build(
    snapshot: &Snapshot,
    before: &Readings,
    region: Option<String>,
    covered: Duration,
    now: Instant,
) -> (Telemetry, Readings) {
    let mut pools = Vec::new();
    let mut readings = Readings::new();
    for upstream in snapshot.upstreams.values() {
        for pool in &upstream.pools {
            let fits = upstream.name.len() <= MAX_TELEMETRY_NAME_BYTES
                && pool.region.len() <= MAX_TELEMETRY_NAME_BYTES;
            if !fits || pools.len() == MAX_TELEMETRY_POOLS {
                continue;
            }
            let key = (Arc::clone(&upstream.name), Arc::clone(&pool.region));
            let reading = read(pool);
            let interval = summary::interval(before.get(&key), &reading);
            readings.insert(key, reading);
            pools.push(PoolTelemetry {
                upstream: upstream.name.to_string(),
                region: pool.region.to_string(),
                healthy_fraction: healthy_fraction(upstream, pool, now),
                requests: interval.requests,
                status_5xx: interval.status_5xx,
                transport_errors: interval.transport_errors,
                p50_ms: interval.p50_ms,
                p99_ms: interval.p99_ms,
                breaker_open: breaker_open(upstream, pool, now),
            });
        }
    }
    let telemetry = Telemetry {
        region,
        config_version: snapshot.version,
        interval_ms: u64::try_from(covered.as_millis()).unwrap_or(u64::MAX),
        pools,
    };
    (telemetry, readings)
}

/// Every pool's reading now: the baseline of the first summary.
fn read_all(snapshot: &Snapshot) -> Readings {
    snapshot
        .upstreams
        .values()
        .flat_map(|up| {
            up.pools
                .iter()
                .map(|pool| ((Arc::clone(&up.name), Arc::clone(&pool.region)), read(pool)))
        })
        .collect()
}

/// The pool's cumulative series now, through the handles the request path holds.
fn read(pool: &PoolRuntime) -> Reading {
    let histogram = pool.upstream_duration.metric();
    Reading {
        answered: pool.upstream_duration.get_sample_count(),
        connect_failures: pool.connect_failures.get(),
        status_5xx: pool.status_5xx.get(),
        exchange_failures: pool.exchange_failures.get(),
        buckets: histogram
            .get_histogram()
            .get_bucket()
            .iter()
            .map(|b| (b.upper_bound(), b.cumulative_count()))
            .collect(),
    }
}

/// Endpoints that may take a new request now (healthy, not ejected, breaker not open) ÷
/// endpoints in rotation. Drained endpoints count on neither side, as for
/// `min_healthy_fraction`: an operator's drain is not ill health. 0 without endpoints.
fn healthy_fraction(upstream: &UpstreamRuntime, pool: &PoolRuntime, now: Instant) -> f64 {
    let in_rotation: Vec<_> = pool
        .endpoints
        .iter()
        .filter(|e| !pool.is_drained(e))
        .collect();
    if in_rotation.is_empty() {
        return 0.0;
    }
    let available = in_rotation
        .iter()
        .filter(|e| {
            e.is_available(now) && e.breaker.state(&upstream.breaker, now) != BreakerState::Open
        })
        .count();
    available as f64 / in_rotation.len() as f64
}

/// The upstream's breaker, or one of the pool's endpoints' breakers, is open.
fn breaker_open(upstream: &UpstreamRuntime, pool: &PoolRuntime, now: Instant) -> bool {
    let open = |state: BreakerState| state == BreakerState::Open;
    open(upstream.guard.breaker.state(&upstream.breaker, now))
        || pool
            .endpoints
            .iter()
            .any(|e| open(e.breaker.state(&upstream.breaker, now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::EndpointRegistry;
    use crate::metrics::Metrics;
    use crate::snapshot::compile_text;

    const CONFIG: &str = "[upstreams.api]\n\
        [[upstreams.api.pools]]\nregion = \"us-east\"\n\
        endpoints = [\"127.0.0.1:9001\", \"127.0.0.1:9002\", \"127.0.0.1:9003\"]\n\
        drained = [\"127.0.0.1:9003\"]\n\
        [[upstreams.api.pools]]\nregion = \"eu-west\"\nendpoints = [\"127.0.0.1:9101\"]\n";

    fn pool<'a>(snapshot: &'a Snapshot, region: &str) -> &'a PoolRuntime {
        snapshot.upstreams["api"]
            .pools
            .iter()
            .find(|p| &*p.region == region)
            .expect("the pool is in the config")
    }

    #[test]
    fn a_summary_has_every_pool_with_what_it_did_since_the_last_reading() {
        let (metrics, endpoints, now) = (
            Metrics::new().unwrap(),
            EndpointRegistry::default(),
            Instant::now(),
        );
        let snapshot = compile_text(CONFIG, 7, &endpoints, &metrics, now);
        let baseline = read_all(&snapshot);
        let east = pool(&snapshot, "us-east");
        // Before the baseline nothing happened; since: 4 answers (1 failed), 1 connect failure.
        for seconds in [0.002, 0.002, 0.002, 0.2] {
            east.upstream_duration.observe(seconds);
        }
        east.status_5xx.inc();
        east.connect_failures.inc();
        east.endpoints[0].mark_down();
        let (telemetry, next) = build(
            &snapshot,
            &baseline,
            Some("us-east".into()),
            Duration::from_millis(1500),
            now,
        );
        assert_eq!(telemetry.config_version, 7);
        assert_eq!(telemetry.interval_ms, 1500);
        assert_eq!(telemetry.region.as_deref(), Some("us-east"));
        assert!(telemetry.check().is_ok());
        let by_region = |region: &str| {
            telemetry
                .pools
                .iter()
                .find(|p| p.region == region)
                .expect("every pool is summarised")
                .clone()
        };
        let east = by_region("us-east");
        assert_eq!((east.upstream.as_str(), east.requests), ("api", 5));
        assert_eq!((east.status_5xx, east.transport_errors), (1, 1));
        // One of the two endpoints in rotation is down; the drained one counts on no side.
        assert!((east.healthy_fraction - 0.5).abs() < 1e-12);
        // Three of four answers in (1ms, 2.5ms]: the median is inside that bucket.
        let p50 = east.p50_ms.unwrap();
        assert!(p50 > 1.0 && p50 <= 2.5, "{p50}");
        assert!(east.p99_ms.unwrap() > 100.0);
        assert!(!east.breaker_open);
        let west = by_region("eu-west");
        assert_eq!((west.requests, west.p50_ms), (0, None));
        assert_eq!(west.healthy_fraction, 1.0);
        // The next summary diffs against this one's readings: nothing new, nothing counted.
        let (again, _) = build(&snapshot, &next, None, Duration::from_secs(1), now);
        assert!(again.pools.iter().all(|p| p.requests == 0));
    }
}
