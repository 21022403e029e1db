//! What `GET /v1/failover` and `weirctl failover status` show per upstream and region: the
//! state, the counts, the last evaluations, and the next action with the earliest time it can
//! happen.

use std::time::{Duration, SystemTime};

use weir_config::FailoverPolicy;

use super::machine::{Evaluation, Machine, State, step_weight};

#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamStatus {
    pub upstream: String,
    pub paused: bool,
    pub evaluate_every: Duration,
    pub last_evaluation: Option<SystemTime>,
    pub next_evaluation: Option<SystemTime>,
    pub regions: Vec<RegionStatus>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RegionStatus {
    pub region: String,
    /// `healthy`, `drained`, `ramping` or `operator`.
    pub state: &'static str,
    /// The pool's weight in the current config.
    pub weight: u32,
    /// While the policy holds the region: the weight it restores to.
    pub operator_weight: Option<u32>,
    /// While ramping: the index of the ramp step applied.
    pub ramp_step: Option<usize>,
    pub bad_in_row: u32,
    pub good_in_row: u32,
    /// Oldest first.
    pub last: Vec<Evaluation>,
    /// What the policy will do next, in words (and why it is held back, if it is).
    pub next_action: String,
    /// The earliest evaluation at which it can happen, if any action is ahead.
    pub next_action_at: Option<SystemTime>,
}

/// The status of one region, with `next` the upstream's next evaluation.
pub fn region_status(
    policy: &FailoverPolicy,
    region: &str,
    weight: u32,
    machine: &Machine,
    paused: bool,
    next: Option<SystemTime>,
) -> RegionStatus {
    // The evaluation `n` evaluations from now (1 = the next one).
    let at = |n: u32| next.map(|next| next + policy.evaluate_every * n.saturating_sub(1));
    let (mut next_action, mut next_action_at) = match machine.state {
        State::Healthy if machine.bad_in_row == 0 => ("none: watching".to_owned(), None),
        State::Healthy => {
            let left = policy.drain_after.saturating_sub(machine.bad_in_row).max(1);
            (
                format!("drain after {left} more bad evaluation(s)"),
                at(left),
            )
        }
        State::Drained { operator_weight } => {
            let left = policy
                .restore_after
                .saturating_sub(machine.good_in_row)
                .max(1);
            let first = policy.ramp.first().copied().unwrap_or(100);
            (
                format!(
                    "ramp to weight {} ({first}% of {operator_weight}) after {left} more good \
                     evaluation(s)",
                    step_weight(operator_weight, first)
                ),
                at(left),
            )
        }
        State::Ramping {
            operator_weight,
            step,
        } => {
            let percent = policy.ramp.get(step + 1).copied().unwrap_or(100);
            (
                format!(
                    "ramp to weight {} ({percent}% of {operator_weight}) at the next good \
                     evaluation",
                    step_weight(operator_weight, percent)
                ),
                at(1),
            )
        }
        State::Operator => (
            "none: held by the operator (the policy acts again once the region has a weight \
             above 0, no drain remembers it and it is seen good)"
                .to_owned(),
            None,
        ),
    };
    if paused && next_action_at.is_some() {
        next_action = format!("{next_action} (paused: not before resume)");
        next_action_at = None;
    } else if let Some(reason) = &machine.blocked {
        next_action = format!("{next_action} (held back: {reason})");
    }
    let (operator_weight, ramp_step) = match machine.state {
        State::Drained { operator_weight } => (Some(operator_weight), None),
        State::Ramping {
            operator_weight,
            step,
        } => (Some(operator_weight), Some(step)),
        _ => (None, None),
    };
    RegionStatus {
        region: region.to_owned(),
        state: machine.state.name(),
        weight,
        operator_weight,
        ramp_step,
        bad_in_row: machine.bad_in_row,
        good_in_row: machine.good_in_row,
        last: machine.last.iter().cloned().collect(),
        next_action,
        next_action_at,
    }
}
