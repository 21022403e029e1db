//! `GET /v1/rollout` and the answers of `POST /v1/rollout/promote|abort` and of a canary
//! `PUT /v1/config?canary=`: the last staged rollout (active or finished) as the control plane
//! sees it.

use serde::{Deserialize, Serialize};

/// The last rollout; `None` when there was never one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutStatus {
    pub rollout: Option<RolloutView>,
}

/// One rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutView {
    /// `baking`, `promoted`, `rolled_back`, `aborted`, `superseded` or `failed`.
    pub state: String,
    /// The version every other gateway keeps during the bake.
    pub stable_version: u64,
    /// The version under bake.
    pub canary_version: u64,
    pub canaries: Vec<String>,
    /// As written: `10%`, `gw-a,gw-b`, `region=eu-west`.
    pub selector: String,
    pub author: String,
    pub started: String,
    pub bake_ms: u64,
    /// When a clean bake promotes.
    pub bake_until: String,
    /// The next comparison of the canaries with the baseline, while baking.
    #[serde(default)]
    pub next_evaluation: Option<String>,
    /// The version that ended it (a rollback's, or the one that superseded it).
    #[serde(default)]
    pub outcome_version: Option<u64>,
    /// Why it ended, with the evidence.
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub finished: Option<String>,
    /// The last evaluations since this control plane started, oldest first.
    #[serde(default)]
    pub evaluations: Vec<RolloutEvaluation>,
}

/// One comparison of the canaries with the baseline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolloutEvaluation {
    pub at: String,
    /// `pending` (too few canary requests to judge), `good` or `breach`.
    pub verdict: String,
    pub evidence: String,
}
