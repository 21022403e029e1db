//! Following etcd: a watch on `versions/` from the revision the view was read at, each new
//! version added to the view (and handed to `remote` when another replica wrote it). When the
//! watch fails or etcd goes away it reconnects with backoff (100 ms doubling to 2 s), first
//! reading every version committed meanwhile, so no version is missed even after a compaction.
//! While it is down `weir_cp_store_watch_connected` is 0 and reads are served from the last view.

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Client, EventType, GetOptions, WatchOptions};

use super::{Keys, Shared, decode, failed};
use crate::store::{StoreError, StoreMetrics};

pub struct Watch {
    pub client: Client,
    pub keys: Keys,
    pub shared: Arc<Shared>,
    pub metrics: StoreMetrics,
    pub timeout: Duration,
    /// The first revision not yet applied.
    pub next_revision: i64,
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

impl Watch {
    /// Runs until the store's runtime shuts down.
    pub async fn run(mut self) {
        let mut backoff = FIRST_BACKOFF;
        self.metrics.watch_connected.set(0);
        loop {
            match self.follow(&mut backoff).await {
                Ok(()) => tracing::warn!(store = "etcd", "the watch on etcd ended; reconnecting"),
                Err(error) => {
                    self.metrics
                        .watch_events
                        .with_label_values(&["error"])
                        .inc();
                    tracing::warn!(store = "etcd", %error, retry_in_ms = backoff.as_millis() as u64,
                        "the watch on etcd failed; serving reads from the last view until it is back");
                }
            }
            self.metrics.watch_connected.set(0);
            self.shared.set_connected(false);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            self.metrics
                .watch_events
                .with_label_values(&["reconnect"])
                .inc();
        }
    }

    /// Catches up, then applies the watch's events until it ends or fails.
    async fn follow(&mut self, backoff: &mut Duration) -> Result<(), StoreError> {
        self.catch_up().await?;
        let options = WatchOptions::new()
            .with_prefix()
            .with_start_revision(self.next_revision);
        let mut stream = tokio::time::timeout(
            self.timeout,
            self.client.watch(self.keys.versions(), Some(options)),
        )
        .await
        .map_err(|_| StoreError::Unavailable {
            op: "watch",
            reason: format!("no answer within {:?}", self.timeout),
        })?
        .map_err(|e| failed("watch", e))?;
        while let Some(response) = stream.message().await.map_err(|e| failed("watch", e))? {
            if response.created() {
                self.metrics.watch_connected.set(1);
                self.shared.set_connected(true);
                *backoff = FIRST_BACKOFF;
                tracing::info!(
                    store = "etcd",
                    from_revision = self.next_revision,
                    "watching etcd"
                );
            }
            if response.canceled() {
                return Err(StoreError::Unavailable {
                    op: "watch",
                    reason: format!(
                        "cancelled by etcd (compacted at revision {}): {}",
                        response.compact_revision(),
                        response.cancel_reason()
                    ),
                });
            }
            for event in response.events() {
                let Some(kv) = event.kv() else { continue };
                if event.event_type() != EventType::Put {
                    continue;
                }
                self.apply(kv.key(), kv.value(), kv.mod_revision()).await;
            }
        }
        Ok(())
    }

    /// Applies every version committed since `next_revision` (one range read).
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        let options = GetOptions::new()
            .with_prefix()
            .with_min_mod_revision(self.next_revision);
        let read = self.client.get(self.keys.versions(), Some(options));
        let response = tokio::time::timeout(self.timeout, read)
            .await
            .map_err(|_| StoreError::Unavailable {
                op: "catch_up",
                reason: format!("no answer within {:?}", self.timeout),
            })?
            .map_err(|e| failed("catch_up", e))?;
        let revision = response.header().map_or(0, |h| h.revision());
        for kv in response.kvs() {
            self.apply(kv.key(), kv.value(), kv.mod_revision()).await;
        }
        self.next_revision = self.next_revision.max(revision + 1);
        Ok(())
    }

    /// Adds one version to the view, under the writer lock (so this replica's own commit in
    /// flight is seen as its own, not pushed as another replica's).
    async fn apply(&mut self, key: &[u8], value: &[u8], revision: i64) {
        self.next_revision = self.next_revision.max(revision + 1);
        let Some(number) = self.keys.version_number(key) else {
            return;
        };
        let version = match decode(&self.keys, number, value) {
            Ok(version) => Arc::new(version),
            Err(error) => {
                self.metrics
                    .watch_events
                    .with_label_values(&["error"])
                    .inc();
                tracing::error!(store = "etcd", %error, "a version in etcd does not decode; skipped");
                return;
            }
        };
        let _writer = self.shared.writer.lock().await;
        if self.shared.advance(Arc::clone(&version), true) {
            self.metrics
                .watch_events
                .with_label_values(&["applied"])
                .inc();
            tracing::info!(
                store = "etcd",
                version = number,
                author = version.meta.author,
                action = version.meta.action,
                "version committed by another replica"
            );
        } else {
            self.metrics.watch_events.with_label_values(&["own"]).inc();
        }
    }
}
