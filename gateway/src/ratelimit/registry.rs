//! Rate-limit state that outlives config versions: each policy's buckets by name, and the Redis
//! store for the current `[redis]` settings. A reload keeps what it still names and frees the rest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use weir_config::{RateLimitPolicy, RedisSettings};

use super::buckets::Buckets;
use super::store::RedisStore;
use crate::metrics::Metrics;

/// How long a key is kept after its bucket is full again (ns). Long enough that a client coming
/// back every few seconds keeps its own bucket while a flood of new keys holds the table full.
pub const KEEP_IDLE: u64 = 10_000_000_000;

#[derive(Default)]
pub struct LimiterRegistry {
    buckets: Mutex<HashMap<String, Arc<Buckets>>>,
    store: Mutex<Option<Arc<RedisStore>>>,
}

impl LimiterRegistry {
    /// The buckets of `policy`, kept from an earlier version of the config when it had a policy of
    /// the same name; its `max_keys` follows the new config.
    pub fn buckets(&self, policy: &RateLimitPolicy) -> Arc<Buckets> {
        let mut all = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let buckets = all
            .entry(policy.name.clone())
            .or_insert_with(|| Arc::new(Buckets::new(policy.max_keys)));
        buckets.set_max_keys(policy.max_keys);
        Arc::clone(buckets)
    }

    /// The store for `settings`: the current one when the settings are unchanged, so its
    /// connections survive a reload; a new one otherwise. `None` without a `[redis]` section.
    pub fn store(
        &self,
        settings: Option<&RedisSettings>,
        metrics: &Metrics,
    ) -> Option<Arc<RedisStore>> {
        let mut current = self.store.lock().unwrap_or_else(|p| p.into_inner());
        let Some(settings) = settings else {
            *current = None;
            return None;
        };
        if let Some(store) = current.as_ref().filter(|s| s.settings() == settings) {
            return Some(Arc::clone(store));
        }
        match RedisStore::new(settings, metrics.redis_duration.clone()) {
            Ok(store) => {
                let store = Arc::new(store);
                *current = Some(Arc::clone(&store));
                Some(store)
            }
            Err(error) => {
                // Global policies then follow on_store_error until a config fixes it.
                tracing::error!(%error, url = %settings.url, "cannot set up the Redis store");
                *current = None;
                None
            }
        }
    }

    /// Drop the buckets of policies `keep` rejects; returns their names.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let mut all = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<String> = all.keys().filter(|name| !keep(name)).cloned().collect();
        for name in &gone {
            all.remove(name);
        }
        gone
    }

    /// Every policy's buckets, for pruning and reporting.
    pub fn all(&self) -> Vec<(String, Arc<Buckets>)> {
        let all = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        all.iter()
            .map(|(name, buckets)| (name.clone(), Arc::clone(buckets)))
            .collect()
    }

    /// Forget buckets full for [`KEEP_IDLE`] in every policy and publish the key counts.
    pub fn prune(&self, now: u64, metrics: &Metrics) {
        for (name, buckets) in self.all() {
            buckets.prune(now, KEEP_IDLE);
            metrics
                .ratelimit_keys
                .with_label_values(&[&name])
                .set(buckets.tracked() as i64);
        }
    }
}
