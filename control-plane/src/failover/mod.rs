//! The failover policy (`[failover.<upstream>]`), pure: every `evaluate_every` it judges each
//! region of each upstream with a policy from the gateways' telemetry and returns the weight
//! changes due (drain, ramp steps back), each with its evidence. No I/O and no clock of its own:
//! the caller passes the time, the current config, the store's drain memory and the telemetry,
//! commits the actions and reports back with [`Failover::settled`]. [`task`] is that caller in
//! the control plane (the only module here that does I/O).

mod machine;
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

/// The policy's memory: per upstream, each region's machine and the evaluation schedule; and
/// what is paused. Lost on restart (a region the policy had drained is then the operator's).
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
            if track.next_evaluation.is_some_and(|due| now < due) {
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
