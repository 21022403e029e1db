//! The failover policy (`[failover.<upstream>]`), pure: every `evaluate_every` it judges each
//! region of each upstream with a policy from the gateways' telemetry and returns the weight
//! changes due (drain, ramp steps back), each with its evidence. No I/O and no clock of its own:
//! the caller passes the time, the current config, the store's drain memory and the telemetry,
//! commits the actions and reports back with [`Failover::settled`]. [`task`] is that caller in
//! the control plane; it and [`memory`] (the file that carries the policy's memory across a
//! restart) are the only modules here that do I/O.

mod machine;
pub mod memory;
mod status;
pub mod task;
mod upstream;
mod verdict;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use weir_config::FleetSettings;
use weir_protocol::api::Drained;

pub use machine::{Evaluation, KEPT_EVALUATIONS, State};
pub use status::{RegionStatus, UpstreamStatus};
pub use upstream::{Action, ActionKind, RegionNow};
pub use verdict::{GatewaySample, Judgement, Verdict};

use machine::Machine;

/// How early a tick may come for an evaluation and still make it.
const EARLY: std::time::Duration = std::time::Duration::from_millis(50);
use memory::{Held, Memory, Unsettled};

/// The policy's memory: per upstream, each region's machine and the evaluation schedule; and
/// what is paused. What must survive a restart (the regions it holds, the pauses) is taken out
/// with [`Failover::memory`] and put back with [`Failover::restore`]; counts start again.
#[derive(Debug, Default)]
pub struct Failover {
    upstreams: BTreeMap<String, Track>,
    paused_all: bool,
    paused: BTreeSet<String>,
    /// Upstream evaluations made since start.
    evaluations: u64,
}

#[derive(Debug, Default)]
struct Track {
    machines: BTreeMap<String, Machine>,
    last_evaluation: Option<SystemTime>,
    next_evaluation: Option<SystemTime>,
    /// Each region with an action not yet settled, with its machine from before the action.
    pending: BTreeMap<String, Machine>,
}

impl Failover {
    pub fn new() -> Failover {
        Failover::default()
    }

    /// Evaluates every upstream whose evaluation is due at `now` and returns the actions due.
    /// Settle each with [`Failover::settled`] before the next tick, and pass the config they made
    /// next time: the policy tells its own changes from an operator's by the weight it set.
    pub fn tick(
        &mut self,
        now: SystemTime,
        fleet: &FleetSettings,
        drained: &Drained,
        samples: &[GatewaySample<'_>],
    ) -> Vec<Action> {
        self.upstreams
            .retain(|name, _| fleet.failover.contains_key(name));
        let mut actions = Vec::new();
        for (name, policy) in &fleet.failover {
            let Some(upstream) = fleet.upstreams.get(name) else {
                continue;
            };
            let paused = self.is_paused(name);
            let track = self.upstreams.entry(name.clone()).or_default();
            // A tick that comes a little early for an evaluation (the previous tick was late, so
            // the schedule drifted by a hair) evaluates now rather than one interval later.
            if track.next_evaluation.is_some_and(|due| now + EARLY < due) {
                continue;
            }
            let regions: Vec<RegionNow> = upstream
                .pools
                .iter()
                .map(|pool| RegionNow {
                    region: pool.region.clone(),
                    weight: pool.weight,
                    operator_drained: drained
                        .get(&pool.region)
                        .is_some_and(|upstreams| upstreams.contains_key(name)),
                })
                .collect();
            let evaluation = upstream::Evaluation {
                policy,
                regions: &regions,
                samples,
                since: track.last_evaluation,
                now,
                paused,
            };
            for (action, before) in upstream::evaluate(&evaluation, &mut track.machines) {
                track.pending.insert(action.region.clone(), before);
                actions.push(action);
            }
            track.last_evaluation = Some(now);
            track.next_evaluation = Some(now + policy.evaluate_every);
            self.evaluations += 1;
        }
        actions
    }

    /// What must survive a restart: the regions held by policy and the pauses. A region whose
    /// action is not settled yet is saved with its state before and after it, for
    /// [`Failover::restore`] to pick by the weight the config has then.
    pub fn memory(&self) -> Memory {
        let mut memory = Memory {
            paused_all: self.paused_all,
            paused: self.paused.clone(),
            ..Memory::default()
        };
        for (upstream, track) in &self.upstreams {
            for (region, machine) in &track.machines {
                let after = held(machine);
                match track.pending.get(region) {
                    Some(before) => {
                        let weight = match (&after, held(before)) {
                            (Some(after), _) => after.weight,
                            // The last ramp step: back to the operator's weight.
                            (None, Some(before)) => before.operator_weight,
                            (None, None) => continue,
                        };
                        memory
                            .unsettled
                            .entry(upstream.clone())
                            .or_default()
                            .insert(
                                region.clone(),
                                Unsettled {
                                    weight,
                                    before: held(before),
                                    after,
                                },
                            );
                    }
                    None => {
                        if let Some(after) = after {
                            memory
                                .held
                                .entry(upstream.clone())
                                .or_default()
                                .insert(region.clone(), after);
                        }
                    }
                }
            }
        }
        memory
    }

    /// Takes back what [`Failover::memory`] gave, after a restart: each held region resumes
    /// drained or ramping by policy with its counts at 0 (so it is restored only after
    /// `restore_after` good evaluations); the pauses hold again. `weight(upstream, region)` is
    /// the current config's weight, which tells whether an unsettled action was committed.
    pub fn restore(&mut self, memory: Memory, weight: impl Fn(&str, &str) -> Option<u32>) {
        // Joined, not replaced: a pause made before the memory was loaded stands.
        self.paused_all |= memory.paused_all;
        self.paused.extend(memory.paused);
        let mut held = memory.held;
        for (upstream, regions) in memory.unsettled {
            for (region, unsettled) in regions {
                let committed = weight(&upstream, &region) == Some(unsettled.weight);
                let state = if committed {
                    unsettled.after
                } else {
                    unsettled.before
                };
                if let Some(state) = state {
                    held.entry(upstream.clone())
                        .or_default()
                        .insert(region, state);
                }
            }
        }
        for (upstream, regions) in held {
            let track = self.upstreams.entry(upstream).or_default();
            for (region, held) in regions {
                let state = match held.step {
                    None => State::Drained {
                        operator_weight: held.operator_weight,
                    },
                    Some(step) => State::Ramping {
                        operator_weight: held.operator_weight,
                        step,
                    },
                };
                let machine = track.machines.entry(region).or_default();
                machine.set(state, held.weight);
            }
        }
    }

    /// Upstream evaluations made since start.
    pub fn evaluations(&self) -> u64 {
        self.evaluations
    }

    /// Regions the policy holds weight back from now (drained or ramping), over every upstream.
    pub fn held_by_policy(&self) -> usize {
        self.upstreams
            .values()
            .flat_map(|track| track.machines.values())
            .filter(|machine| machine.state.by_policy())
            .count()
    }

    /// The upstreams paused one by one.
    pub fn paused(&self) -> Vec<String> {
        self.paused.iter().cloned().collect()
    }

    /// Whether `action` was committed. One that was not (a store error, or the weight changed
    /// under it) is forgotten: the region's machine is as before it, with its evaluations kept.
    pub fn settled(&mut self, action: &Action, committed: bool) {
        let Some(track) = self.upstreams.get_mut(&action.upstream) else {
            return;
        };
        let Some(mut before) = track.pending.remove(&action.region) else {
            return;
        };
        if committed {
            return;
        }
        if let Some(machine) = track.machines.get_mut(&action.region) {
            before.last = std::mem::take(&mut machine.last);
            *machine = before;
        }
    }

    /// Stops policy actions for `upstream`, or for every upstream (`None`). Evaluations go on
    /// (the status stays current); actions due wait for the resume.
    pub fn pause(&mut self, upstream: Option<&str>) {
        match upstream {
            Some(name) => {
                self.paused.insert(name.to_owned());
            }
            None => self.paused_all = true,
        }
    }

    /// Undoes [`Failover::pause`]: `None` resumes every upstream; a name resumes that upstream's
    /// own pause (a pause of every upstream still holds it).
    pub fn resume(&mut self, upstream: Option<&str>) {
        match upstream {
            Some(name) => {
                self.paused.remove(name);
            }
            None => {
                self.paused_all = false;
                self.paused.clear();
            }
        }
    }

    pub fn is_paused(&self, upstream: &str) -> bool {
        self.paused_all || self.paused.contains(upstream)
    }

    /// Whether every upstream is paused.
    pub fn is_paused_all(&self) -> bool {
        self.paused_all
    }

    /// Every upstream with a policy in `fleet`, each region with its state and next action.
    pub fn status(&self, fleet: &FleetSettings) -> Vec<UpstreamStatus> {
        let fresh = Track::default();
        let unseen = Machine::default();
        fleet
            .failover
            .iter()
            .filter_map(|(name, policy)| {
                let upstream = fleet.upstreams.get(name)?;
                let track = self.upstreams.get(name).unwrap_or(&fresh);
                let paused = self.is_paused(name);
                Some(UpstreamStatus {
                    upstream: name.clone(),
                    paused,
                    evaluate_every: policy.evaluate_every,
                    last_evaluation: track.last_evaluation,
                    next_evaluation: track.next_evaluation,
                    regions: upstream
                        .pools
                        .iter()
                        .map(|pool| {
                            let machine = track.machines.get(&pool.region).unwrap_or(&unseen);
                            status::region_status(
                                policy,
                                &pool.region,
                                pool.weight,
                                machine,
                                paused,
                                track.next_evaluation,
                            )
                        })
                        .collect(),
                })
            })
            .collect()
    }
}

/// What `machine` holds as the policy's, if it holds the region.
fn held(machine: &Machine) -> Option<Held> {
    let (operator_weight, step) = match machine.state {
        State::Drained { operator_weight } => (operator_weight, None),
        State::Ramping {
            operator_weight,
            step,
        } => (operator_weight, Some(step)),
        State::Healthy | State::Operator => return None,
    };
    Some(Held {
        operator_weight,
        step,
        weight: machine.policy_weight?,
    })
}
