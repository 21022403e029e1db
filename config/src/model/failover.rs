//! The validated `[failover.<upstream>]` tables: when the control plane's failover policy judges
//! one upstream's region bad from the gateways' telemetry, and how it drains and restores it.

use std::time::Duration;

/// `[failover.<upstream>]`: the failover policy of one upstream (the table key names it). Read by
/// the control plane only; gateways ignore it.
#[derive(Debug, Clone, PartialEq)]
pub struct FailoverPolicy {
    /// The table key: an upstream of `upstreams`.
    pub upstream: String,
    /// `evaluate_every`, default `5s`, in `1s..=10m`: the time between two evaluations.
    pub evaluate_every: Duration,
    /// `unhealthy_when`: what makes one gateway's view of a region bad.
    pub unhealthy_when: UnhealthyWhen,
    /// `quorum`, default 0.5, in `(0.0, 1.0]`: the share of the gateways reporting a region that
    /// must see it bad for an evaluation to count as bad.
    pub quorum: f64,
    /// `drain_after`, default 3, in `1..=1000`: consecutive bad evaluations before a drain.
    pub drain_after: u32,
    /// `restore_after`, default 12, in `1..=10000`: consecutive good evaluations of a drained
    /// region before it ramps back.
    pub restore_after: u32,
    /// `ramp`, default `["10%", "50%", "100%"]`: the steps back to the operator's weight, in
    /// percent of it, one step per evaluation; strictly increasing, ending at 100, at most
    /// [`FailoverPolicy::MAX_RAMP_STEPS`].
    pub ramp: Vec<u32>,
    /// `never_drain_last`, default `true`: never drain the last region with weight > 0.
    pub never_drain_last: bool,
    /// `max_drained`, default 1, in `1..=100`: regions of this upstream drained by policy at once.
    pub max_drained: u32,
}

impl FailoverPolicy {
    pub const DEFAULT_EVALUATE_EVERY: Duration = Duration::from_secs(5);
    pub const EVALUATE_EVERY_RANGE: (Duration, Duration) =
        (Duration::from_secs(1), Duration::from_secs(600));
    pub const DEFAULT_QUORUM: f64 = 0.5;
    pub const DEFAULT_DRAIN_AFTER: u32 = 3;
    pub const MAX_DRAIN_AFTER: u32 = 1000;
    pub const DEFAULT_RESTORE_AFTER: u32 = 12;
    pub const MAX_RESTORE_AFTER: u32 = 10_000;
    pub const DEFAULT_RAMP: [u32; 3] = [10, 50, 100];
    pub const MAX_RAMP_STEPS: usize = 20;
    pub const DEFAULT_MAX_DRAINED: u32 = 1;
    pub const MAX_MAX_DRAINED: u32 = 100;

    /// The policy with every default, for `upstream`.
    pub fn defaults(upstream: &str) -> Self {
        Self {
            upstream: upstream.to_owned(),
            evaluate_every: Self::DEFAULT_EVALUATE_EVERY,
            unhealthy_when: UnhealthyWhen::default(),
            quorum: Self::DEFAULT_QUORUM,
            drain_after: Self::DEFAULT_DRAIN_AFTER,
            restore_after: Self::DEFAULT_RESTORE_AFTER,
            ramp: Self::DEFAULT_RAMP.to_vec(),
            never_drain_last: true,
            max_drained: Self::DEFAULT_MAX_DRAINED,
        }
    }
}

/// `unhealthy_when = { ... }`: a gateway sees a region bad when either written condition holds.
/// Absent, both defaults apply; written, only the conditions it names (at least one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnhealthyWhen {
    /// `healthy_fraction_below`, in `(0.0, 1.0]`: the pool's share of available endpoints is
    /// below this (default 0.7 when the table is absent).
    pub healthy_fraction_below: Option<f64>,
    /// `error_ratio_above`, in `[0.0, 1.0)`: the pool's (5xx + transport errors) ÷ requests is
    /// above this (default 0.05 when the table is absent).
    pub error_ratio_above: Option<f64>,
}

impl UnhealthyWhen {
    pub const DEFAULT_HEALTHY_FRACTION_BELOW: f64 = 0.7;
    pub const DEFAULT_ERROR_RATIO_ABOVE: f64 = 0.05;
}

impl Default for UnhealthyWhen {
    fn default() -> Self {
        Self {
            healthy_fraction_below: Some(Self::DEFAULT_HEALTHY_FRACTION_BELOW),
            error_ratio_above: Some(Self::DEFAULT_ERROR_RATIO_ABOVE),
        }
    }
}
