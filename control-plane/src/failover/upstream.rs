//! One evaluation of one upstream: every region judged and counted, then the ramp steps and
//! restores that are due, then the drains that are due and pass the guards (`never_drain_last`,
//! `max_drained`, pause). Returns the actions, each with its evidence; makes no change itself.

use std::collections::BTreeMap;
use std::time::SystemTime;

use weir_config::FailoverPolicy;

use super::machine::{Machine, State, step_weight};
use super::verdict::{GatewaySample, Verdict, judge};

/// A region's pool of the upstream as the current config has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionNow {
    pub region: String,
    pub weight: u32,
    /// The store's drain memory holds this upstream for the region: an operator drained it.
    pub operator_drained: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionKind {
    /// Weight 0.
    Drain,
    /// Ramp step `step` (index into `ramp`), `percent` of the operator's weight; the last step
    /// (100%) restores the region fully.
    Ramp { step: usize, percent: u32 },
}

impl ActionKind {
    /// `drain`, `ramp` or `restore` (the last step), as metrics and messages name it.
    pub fn name(self) -> &'static str {
        match self {
            ActionKind::Drain => "drain",
            ActionKind::Ramp { percent: 100, .. } => "restore",
            ActionKind::Ramp { .. } => "ramp",
        }
    }
}

/// Set `upstream`'s pool in `region` from weight `from` to `weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    pub upstream: String,
    pub region: String,
    pub kind: ActionKind,
    pub from: u32,
    pub weight: u32,
    /// Why: the counts and which gateways saw what.
    pub evidence: String,
}

/// The inputs of one evaluation of one upstream.
pub struct Evaluation<'a> {
    pub policy: &'a FailoverPolicy,
    pub regions: &'a [RegionNow],
    pub samples: &'a [GatewaySample<'a>],
    /// The previous evaluation of this upstream (summaries older than it were counted then).
    pub since: Option<SystemTime>,
    pub now: SystemTime,
    pub paused: bool,
}

/// Runs one evaluation over `machines` (by region; regions gone from the config are dropped) and
/// returns the actions with each region's machine as it was before its action.
pub fn evaluate(
    input: &Evaluation<'_>,
    machines: &mut BTreeMap<String, Machine>,
) -> Vec<(Action, Machine)> {
    let policy = input.policy;
    machines.retain(|region, _| input.regions.iter().any(|r| r.region == *region));
    for region in input.regions {
        let machine = machines.entry(region.region.clone()).or_default();
        machine.reconcile(region.weight, region.operator_drained);
        let judgement = judge(policy, &region.region, input.samples, input.since);
        machine.observe(input.now, judgement, region.weight, region.operator_drained);
    }
    let mut weights: BTreeMap<&str, u32> = input
        .regions
        .iter()
        .map(|region| (region.region.as_str(), region.weight))
        .collect();
    let mut actions = Vec::new();
    // Steps back first: a region fully restored frees a `max_drained` slot for a drain below.
    for region in input.regions {
        let Some(machine) = machines.get_mut(&region.region) else {
            continue;
        };
        let (operator_weight, next) = match machine.state {
            State::Drained { operator_weight } if machine.good_in_row >= policy.restore_after => {
                (operator_weight, 0)
            }
            State::Ramping {
                operator_weight,
                step,
            } if machine.last_verdict() == Some(Verdict::Good) => (operator_weight, step + 1),
            _ => continue,
        };
        if input.paused {
            machine.blocked = Some("paused".to_owned());
            continue;
        }
        let Some(&percent) = policy.ramp.get(next) else {
            continue;
        };
        let weight = step_weight(operator_weight, percent);
        let state = if next + 1 >= policy.ramp.len() {
            State::Healthy
        } else {
            State::Ramping {
                operator_weight,
                step: next,
            }
        };
        let evidence = if next == 0 {
            format!(
                "{} good evaluations in a row (restore_after = {}); last: {}",
                machine.good_in_row,
                policy.restore_after,
                last_evidence(machine)
            )
        } else {
            format!("ramp step {} good; last: {}", next, last_evidence(machine))
        };
        let before = machine.clone();
        machine.set(state, weight);
        weights.insert(&region.region, weight);
        if weight != region.weight {
            actions.push((
                Action {
                    upstream: policy.upstream.clone(),
                    region: region.region.clone(),
                    kind: ActionKind::Ramp {
                        step: next,
                        percent,
                    },
                    from: region.weight,
                    weight,
                    evidence,
                },
                before,
            ));
        }
    }
    for region in input.regions {
        let due = machines.get(&region.region).is_some_and(|machine| {
            matches!(machine.state, State::Healthy | State::Ramping { .. })
                && machine.bad_in_row >= policy.drain_after
        });
        if !due {
            if let Some(machine) = machines.get_mut(&region.region)
                && machine.state == State::Healthy
            {
                machine.blocked = None;
            }
            continue;
        }
        let others_up = weights
            .iter()
            .filter(|(other, weight)| **other != region.region && **weight > 0)
            .count();
        let held_by_policy = machines
            .iter()
            .filter(|(other, machine)| **other != region.region && machine.state.by_policy())
            .count();
        let blocked = if input.paused {
            Some("paused".to_owned())
        } else if policy.never_drain_last && others_up == 0 {
            Some("never_drain_last: it is the last region with weight > 0".to_owned())
        } else if held_by_policy >= policy.max_drained as usize {
            Some(format!(
                "max_drained: {held_by_policy} region(s) already drained by policy"
            ))
        } else {
            None
        };
        let Some(machine) = machines.get_mut(&region.region) else {
            continue;
        };
        if let Some(reason) = blocked {
            machine.blocked = Some(reason);
            continue;
        }
        let operator_weight = match machine.state {
            State::Ramping {
                operator_weight, ..
            } => operator_weight,
            _ => region.weight,
        };
        let evidence = format!(
            "{} bad evaluations in a row (drain_after = {}); last: {}",
            machine.bad_in_row,
            policy.drain_after,
            last_evidence(machine)
        );
        let before = machine.clone();
        machine.set(State::Drained { operator_weight }, 0);
        weights.insert(&region.region, 0);
        actions.push((
            Action {
                upstream: policy.upstream.clone(),
                region: region.region.clone(),
                kind: ActionKind::Drain,
                from: region.weight,
                weight: 0,
                evidence,
            },
            before,
        ));
    }
    actions
}

fn last_evidence(machine: &Machine) -> &str {
    machine
        .last
        .back()
        .map_or("", |evaluation| evaluation.judgement.evidence.as_str())
}
