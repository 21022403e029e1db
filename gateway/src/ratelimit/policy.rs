//! A rate-limit policy compiled for the request path: its quota, key parts, buckets, metric
//! handles and the `RateLimit-Policy` member it advertises, all fixed when the config is loaded.

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntCounter;
use weir_config::{LimitScope, MissingKey, RateLimitPolicy, StoreErrorAction};

use super::buckets::Buckets;
use super::gcra::Quota;
use super::key::Part;
use crate::metrics::Metrics;

pub struct Policy {
    pub name: Arc<str>,
    pub quota: Quota,
    pub parts: Vec<Part>,
    pub missing: MissingKey,
    pub scope: LimitScope,
    pub on_store_error: StoreErrorAction,
    pub response_headers: bool,
    /// Local buckets; for a global policy, the fallback buckets used while Redis is away.
    pub buckets: Arc<Buckets>,
    /// This policy as a member of a `RateLimit-Policy` list: `"name";q=100;w=1`.
    pub policy_item: String,
    /// The start of this policy's `RateLimit` member: `"name";r=`.
    pub state_prefix: String,
    /// `<key_prefix>:<name>:`, the start of this policy's Redis keys.
    pub redis_prefix: String,
    pub counters: Counters,
}

/// Pre-bound series of `weir_ratelimit_decisions_total` and the fallback counter.
pub struct Counters {
    pub admitted: IntCounter,
    pub limited: IntCounter,
    pub store_error: IntCounter,
    pub local_admitted: IntCounter,
    pub local_limited: IntCounter,
    pub allowed: IntCounter,
    pub denied: IntCounter,
}

impl Policy {
    pub fn compile(
        config: &RateLimitPolicy,
        buckets: Arc<Buckets>,
        key_prefix: &str,
        metrics: &Metrics,
    ) -> Self {
        let name = config.name.as_str();
        let decision = |d: &str| metrics.ratelimit_decisions.with_label_values(&[name, d]);
        let fallback = |a: &str| metrics.ratelimit_fallbacks.with_label_values(&[name, a]);
        let (quota_units, window) = advertised_quota(config.rate, config.per);
        Self {
            name: Arc::from(name),
            quota: Quota::new(config.rate, config.per, config.burst),
            // Validation guarantees header names parse.
            parts: config.key.iter().filter_map(Part::compile).collect(),
            missing: config.missing_key,
            scope: config.scope,
            on_store_error: config.on_store_error,
            response_headers: config.response_headers,
            buckets,
            policy_item: format!("\"{name}\";q={quota_units};w={window}"),
            state_prefix: format!("\"{name}\";r="),
            redis_prefix: format!("{key_prefix}:{name}:"),
            counters: Counters {
                admitted: decision("admitted"),
                limited: decision("limited"),
                store_error: decision("store_error"),
                local_admitted: fallback("local_admitted"),
                local_limited: fallback("local_limited"),
                allowed: fallback("allowed"),
                denied: fallback("denied"),
            },
        }
    }

    pub fn is_global(&self) -> bool {
        self.scope == LimitScope::Global
    }

    /// `RateLimit-Policy`, `RateLimit` and `Retry-After` for a 429 from this policy.
    pub fn limited_headers(&self, retry_after: u64, reset: u64) -> (String, String, u64) {
        let mut state = self.state_prefix.clone();
        state.push_str("0;t=");
        state.push_str(&header_seconds(reset).to_string());
        (self.policy_item.clone(), state, header_seconds(retry_after))
    }
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Policy").field("name", &self.name).finish()
    }
}

/// A route's policies in the order written, split once per config version into those checked
/// in local buckets and those checked in Redis.
#[derive(Debug, Default)]
pub struct RouteLimits {
    pub local: Vec<Arc<Policy>>,
    pub global: Vec<Arc<Policy>>,
}

impl RouteLimits {
    pub fn new(policies: impl IntoIterator<Item = Arc<Policy>>) -> Self {
        let (global, local) = policies.into_iter().partition(|p| p.is_global());
        Self { local, global }
    }

    pub fn is_empty(&self) -> bool {
        self.local.is_empty() && self.global.is_empty()
    }
}

/// The quota as the ratelimit-headers draft states it: `q` units per `w` whole seconds.
/// `rate` per a whole number of seconds is stated as written; any other window is stated per
/// the next whole second, with `q` scaled to match (`10` per `100ms` → `q=100;w=1`).
fn advertised_quota(rate: u32, per: Duration) -> (u64, u64) {
    if per.subsec_nanos() == 0 && per.as_secs() > 0 {
        return (u64::from(rate), per.as_secs());
    }
    let window = per.as_secs() + 1;
    let scaled = u128::from(rate) * u128::from(window) * 1_000_000_000 / per.as_nanos().max(1);
    (u64::try_from(scaled).unwrap_or(u64::MAX), window)
}

/// Whole seconds for a header, rounded up and never 0: a client told `0` would retry at once.
pub fn header_seconds(nanos: u64) -> u64 {
    nanos.div_ceil(1_000_000_000).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_advertised_in_whole_seconds() {
        assert_eq!(advertised_quota(100, Duration::from_secs(1)), (100, 1));
        assert_eq!(advertised_quota(5, Duration::from_secs(60)), (5, 60));
        assert_eq!(advertised_quota(10, Duration::from_millis(100)), (100, 1));
        assert_eq!(advertised_quota(3, Duration::from_millis(1500)), (4, 2));
    }

    #[test]
    fn header_seconds_round_up_and_are_never_zero() {
        assert_eq!(header_seconds(0), 1);
        assert_eq!(header_seconds(1), 1);
        assert_eq!(header_seconds(1_000_000_000), 1);
        assert_eq!(header_seconds(1_000_000_001), 2);
    }
}
