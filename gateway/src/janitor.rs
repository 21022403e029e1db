//! The background task that prunes full rate-limit buckets every second and publishes key
//! counts, so a burst of distinct keys gives its memory back once their buckets have refilled.
//! It holds the limiter registry and the metrics, nothing of the rest of the gateway.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::metrics::Metrics;
use crate::ratelimit::{LimiterRegistry, clock};

const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

pub struct BucketJanitor {
    pub limiters: Arc<LimiterRegistry>,
    /// For `weir_ratelimit_keys`.
    pub metrics: Metrics,
}

#[async_trait]
impl BackgroundService for BucketJanitor {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut ticks = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticks.tick() => self.limiters.prune(clock::now(), &self.metrics),
            }
        }
    }
}
