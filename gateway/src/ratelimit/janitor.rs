//! The background task that prunes full buckets every second and publishes key counts, so a
//! burst of distinct keys gives its memory back once their buckets have refilled.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::clock;
use crate::state::Gateway;

const PRUNE_INTERVAL: Duration = Duration::from_secs(1);

pub struct BucketJanitor {
    pub gateway: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for BucketJanitor {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut ticks = tokio::time::interval(PRUNE_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticks.tick() => {
                    self.gateway.limiters.prune(clock::now(), &self.gateway.metrics);
                }
            }
        }
    }
}
