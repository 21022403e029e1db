//! The validated `[rollout]` table: how long a staged config rollout bakes on its canaries and
//! what the control plane counts as a canary doing worse than the rest of the fleet.

use std::time::Duration;

/// `[rollout]`: the thresholds of staged rollouts (`weirctl config apply --canary`). Read by the
/// control plane only, and always from the STABLE version's config (the one the rollout started
/// from), so a bad config cannot loosen the checks that judge it; gateways ignore it.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutSettings {
    /// `bake`, default `60s`, in `1s..=24h`: how long the canaries run the new version before
    /// it is promoted, when `--bake` is not given.
    pub bake: Duration,
    /// `evaluate_every`, default `5s`, in `100ms..=10m`, not longer than `bake`: the time between
    /// two comparisons of the canaries with the baseline.
    pub evaluate_every: Duration,
    /// `max_error_ratio_increase`, default 0.02, in `0.0..=1.0`: a breach when the canaries'
    /// (5xx + transport errors) ÷ requests is above the baseline's plus this.
    pub max_error_ratio_increase: f64,
    /// `max_p99_ratio`, default 2.0, in `1.0..=100.0`: a breach when the canaries' p99 upstream
    /// latency is above the baseline's times this (and above it by `min_p99_increase`).
    pub max_p99_ratio: f64,
    /// `min_p99_increase`, default `50ms`, at most `1m`: a p99 rise smaller than this is never a
    /// breach (a 2 ms → 5 ms change is noise, not harm).
    pub min_p99_increase: Duration,
    /// `min_requests`, default 50, in `1..=1000000000`: the canaries' requests (in the bake so
    /// far) before their error ratio or latency is judged at all.
    pub min_requests: u32,
    /// `stale_grace`, default `15s`, in `1s..=10m`: a canary heard from neither by telemetry nor
    /// by its stream for this long rolls the rollout back.
    pub stale_grace: Duration,
}

impl RolloutSettings {
    pub const DEFAULT_BAKE: Duration = Duration::from_secs(60);
    pub const BAKE_RANGE: (Duration, Duration) =
        (Duration::from_secs(1), Duration::from_secs(24 * 3600));
    pub const DEFAULT_EVALUATE_EVERY: Duration = Duration::from_secs(5);
    pub const EVALUATE_EVERY_RANGE: (Duration, Duration) =
        (Duration::from_millis(100), Duration::from_secs(600));
    pub const DEFAULT_MAX_ERROR_RATIO_INCREASE: f64 = 0.02;
    pub const DEFAULT_MAX_P99_RATIO: f64 = 2.0;
    pub const MAX_P99_RATIO_RANGE: (f64, f64) = (1.0, 100.0);
    pub const DEFAULT_MIN_P99_INCREASE: Duration = Duration::from_millis(50);
    pub const MAX_MIN_P99_INCREASE: Duration = Duration::from_secs(60);
    pub const DEFAULT_MIN_REQUESTS: u32 = 50;
    pub const MAX_MIN_REQUESTS: u32 = 1_000_000_000;
    pub const DEFAULT_STALE_GRACE: Duration = Duration::from_secs(15);
    pub const STALE_GRACE_RANGE: (Duration, Duration) =
        (Duration::from_secs(1), Duration::from_secs(600));
}

impl Default for RolloutSettings {
    fn default() -> Self {
        Self {
            bake: Self::DEFAULT_BAKE,
            evaluate_every: Self::DEFAULT_EVALUATE_EVERY,
            max_error_ratio_increase: Self::DEFAULT_MAX_ERROR_RATIO_INCREASE,
            max_p99_ratio: Self::DEFAULT_MAX_P99_RATIO,
            min_p99_increase: Self::DEFAULT_MIN_P99_INCREASE,
            min_requests: Self::DEFAULT_MIN_REQUESTS,
            stale_grace: Self::DEFAULT_STALE_GRACE,
        }
    }
}
