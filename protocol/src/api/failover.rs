//! The failover policy as `GET /v1/failover` shows it (per upstream with a `[failover]` table:
//! paused or not, and per region its state, counts, last evaluations and next action), and the
//! answer of `POST /v1/failover/pause|resume`.

use serde::{Deserialize, Serialize};

/// `GET /v1/failover`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailoverStatus {
    /// Every upstream is paused (`POST /v1/failover/pause` without `upstream`).
    pub paused_all: bool,
    /// Upstreams paused one by one.
    pub paused: Vec<String>,
    /// Every upstream with a policy in the current config, by name.
    pub upstreams: Vec<UpstreamFailover>,
}

/// One upstream's policy at work.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UpstreamFailover {
    pub upstream: String,
    /// No policy action is taken while paused (evaluations go on).
    pub paused: bool,
    pub evaluate_every_ms: u64,
    /// RFC 3339 UTC, milliseconds; `null` before the first evaluation.
    pub last_evaluation: Option<String>,
    pub next_evaluation: Option<String>,
    pub regions: Vec<RegionFailover>,
}

/// One region's pool of the upstream as the policy sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegionFailover {
    pub region: String,
    /// `healthy` (watched), `drained` (by policy), `ramping` (coming back by policy) or
    /// `operator` (drained or weighted by hand: left alone).
    pub state: String,
    /// The pool's weight in the current config.
    pub weight: u32,
    /// While drained or ramping: the operator's weight, which the ramp ends at.
    pub operator_weight: Option<u32>,
    /// While ramping: the index of the ramp step applied.
    pub ramp_step: Option<usize>,
    pub bad_in_row: u32,
    pub good_in_row: u32,
    /// The last evaluations, oldest first.
    pub last: Vec<RegionEvaluation>,
    /// What the policy does next, in words, and why it is held back if it is.
    pub next_action: String,
    /// The earliest evaluation it can happen at (RFC 3339); `null` when nothing is ahead.
    pub next_action_at: Option<String>,
}

/// One evaluation of one region.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionEvaluation {
    /// RFC 3339 UTC, milliseconds.
    pub at: String,
    /// `bad`, `good` or `no evidence`.
    pub verdict: String,
    /// Gateways with a fresh summary of the pool.
    pub reporting: usize,
    /// Of those, the ones that saw it unhealthy.
    pub bad: usize,
    /// Which gateways saw what.
    pub evidence: String,
}

/// The answer of `POST /v1/failover/pause` and `/resume`: what is paused now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailoverPaused {
    pub paused_all: bool,
    pub paused: Vec<String>,
}
