//! Staged config rollouts, pure: a new version goes to a few canary gateways first, bakes there
//! while [`Bake::tick`] compares the canaries' telemetry with the other gateways' (the
//! baseline), and is promoted to every gateway after a clean bake or rolled back by a new version
//! with the stable config on a breach, a NACK or a canary gone quiet. No I/O and no clock of its
//! own: the caller passes the time and what the fleet and telemetry say. [`task`] is that caller
//! (it commits, pushes, audits); [`memory`] is the file that carries a rollout across a restart.

pub mod memory;
mod select;
mod tally;
pub mod task;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use weir_config::RolloutSettings;

pub use select::{Candidate, Selector};
pub use tally::{Counts, Summary, Tally, Verdict};

/// Evaluations kept for the status.
pub const KEPT_EVALUATIONS: usize = 10;

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// The canaries run the canary version; the others the stable one.
    Baking,
    /// The canary version went to every gateway.
    Promoted,
    /// A breach, NACK or lost canary: a new version with the stable config went to everyone.
    RolledBack,
    /// An operator rolled it back (`weirctl rollout abort`).
    Aborted,
    /// Another change (a forced apply, a weight or drain, the failover policy) replaced it.
    Superseded,
    /// The control plane found it impossible to finish (e.g. its version lost from the store).
    Failed,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Baking => "baking",
            Phase::Promoted => "promoted",
            Phase::RolledBack => "rolled_back",
            Phase::Aborted => "aborted",
            Phase::Superseded => "superseded",
            Phase::Failed => "failed",
        }
    }
}

/// A rollout as it is saved: enough to carry on after a restart, and its outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The version every other gateway keeps.
    pub stable: u64,
    /// The version under bake.
    pub canary: u64,
    pub canaries: BTreeSet<String>,
    /// As written: `10%`, `gw-a,gw-b`, `region=eu-west`.
    pub selector: String,
    pub author: String,
    pub started_unix_ms: u64,
    pub bake_ms: u64,
    /// When a clean bake promotes (persisted, so a restart does not start the bake again).
    pub bake_until_unix_ms: u64,
    pub phase: Phase,
    /// The version that ended it (the rollback's, or the one that superseded it).
    #[serde(default)]
    pub outcome_version: Option<u64>,
    /// Why it ended, with the evidence.
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub finished_unix_ms: Option<u64>,
    /// The control-plane replica that runs it (its `--replica-id`): on the etcd store, the only
    /// one that bakes, promotes or rolls it back. Absent in records from before replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
}

impl Record {
    pub fn is_active(&self) -> bool {
        self.phase == Phase::Baking
    }

    pub fn started(&self) -> SystemTime {
        from_ms(self.started_unix_ms)
    }

    pub fn bake_until(&self) -> SystemTime {
        from_ms(self.bake_until_unix_ms)
    }

    /// The canaries, comma-separated.
    pub fn canary_list(&self) -> String {
        let ids: Vec<&str> = self.canaries.iter().map(String::as_str).collect();
        ids.join(", ")
    }
}

pub fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub fn from_ms(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

/// What the fleet says of one canary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CanaryNow {
    pub id: String,
    /// The version it last applied.
    pub applied: Option<u64>,
    /// Its errors, when its last report is a NACK of the canary version.
    pub nack: Option<String>,
    /// When it was last heard from (stream, report or telemetry); `None` if not since start.
    pub last_heard: Option<SystemTime>,
}

/// What one evaluation found, for the status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    pub at: SystemTime,
    pub verdict: Verdict,
    pub evidence: String,
}

/// What the caller must do after a tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Wait,
    /// The bake ended clean: push the canary version to everyone.
    Promote {
        evidence: String,
    },
    /// Commit the stable config as a new version for everyone.
    RollBack {
        evidence: String,
    },
}

/// One rollout under way (or the last one, finished), with the bake's counts.
#[derive(Debug)]
pub struct Bake {
    pub record: Record,
    /// From the stable version's config: a bad config cannot loosen its own checks.
    pub settings: RolloutSettings,
    tally: Tally,
    next_evaluation: Option<SystemTime>,
    last: VecDeque<Evaluation>,
    /// When this control plane began watching (the start, or the restart that resumed it):
    /// nothing is known of a canary before it.
    watching_since: SystemTime,
}

impl Bake {
    pub fn new(record: Record, settings: RolloutSettings, now: SystemTime) -> Bake {
        Bake {
            record,
            settings,
            tally: Tally::default(),
            next_evaluation: None,
            last: VecDeque::new(),
            watching_since: now,
        }
    }

    pub fn next_evaluation(&self) -> Option<SystemTime> {
        self.next_evaluation.filter(|_| self.record.is_active())
    }

    /// The kept evaluations, oldest first.
    pub fn evaluations(&self) -> impl Iterator<Item = &Evaluation> {
        self.last.iter()
    }

    /// Evaluates when due: a NACK or a quiet canary rolls back at once; a breach rolls back; a
    /// clean bake past its deadline promotes once every canary applied the canary version.
    pub fn tick(
        &mut self,
        now: SystemTime,
        canaries: &[CanaryNow],
        summaries: &[Summary<'_>],
    ) -> Decision {
        if !self.record.is_active() || self.next_evaluation.is_some_and(|due| now < due) {
            return Decision::Wait;
        }
        self.next_evaluation = Some(now + self.settings.evaluate_every);
        let (decision, verdict, evidence) = self.evaluate(now, canaries, summaries);
        self.last.push_back(Evaluation {
            at: now,
            verdict,
            evidence,
        });
        while self.last.len() > KEPT_EVALUATIONS {
            self.last.pop_front();
        }
        decision
    }

    fn evaluate(
        &mut self,
        now: SystemTime,
        canaries: &[CanaryNow],
        summaries: &[Summary<'_>],
    ) -> (Decision, Verdict, String) {
        let record = &self.record;
        let roll_back = |evidence: String| {
            (
                Decision::RollBack {
                    evidence: evidence.clone(),
                },
                Verdict::Breach,
                evidence,
            )
        };
        let unknown = CanaryNow::default();
        let each = || {
            record.canaries.iter().map(|id| {
                let now = canaries.iter().find(|c| &c.id == id).unwrap_or(&unknown);
                (id.as_str(), now)
            })
        };
        for (id, canary) in each() {
            if let Some(errors) = &canary.nack {
                return roll_back(format!(
                    "canary {id} refused version {} (NACK): {errors}",
                    record.canary
                ));
            }
        }
        for (id, canary) in each() {
            // Nothing is known from before this control plane started watching.
            let heard = canary
                .last_heard
                .map_or(self.watching_since, |at| at.max(self.watching_since));
            let quiet = now.duration_since(heard).unwrap_or_default();
            if quiet >= self.settings.stale_grace {
                return roll_back(format!(
                    "canary {id} not heard from for {} (stale_grace {})",
                    humantime::format_duration(round_ms(quiet)),
                    humantime::format_duration(self.settings.stale_grace)
                ));
            }
        }
        self.tally.add(
            summaries,
            record.started(),
            &record.canaries,
            (record.stable, record.canary),
        );
        let (verdict, evidence) = self.tally.judge(&self.settings);
        if verdict == Verdict::Breach {
            return roll_back(evidence);
        }
        if now < record.bake_until() {
            return (Decision::Wait, verdict, evidence);
        }
        let behind: Vec<String> = each()
            .filter(|(_, canary)| canary.applied != Some(record.canary))
            .map(|(id, canary)| match canary.applied {
                Some(version) => format!("{id} (on version {version})"),
                None => format!("{id} (no version reported)"),
            })
            .collect();
        if !behind.is_empty() {
            // A canary may be reconnecting (after a restart of this control plane): it gets
            // stale_grace past the deadline to apply the version before that counts as a failure.
            let wait_until =
                record.bake_until().max(self.watching_since) + self.settings.stale_grace;
            let evidence = format!(
                "bake over, but not every canary applied version {}: {}",
                record.canary,
                behind.join(", ")
            );
            if now < wait_until {
                return (Decision::Wait, Verdict::Pending, evidence);
            }
            return roll_back(evidence);
        }
        let evidence = format!(
            "clean bake of {} on {}: {evidence}",
            humantime::format_duration(Duration::from_millis(record.bake_ms)),
            record.canary_list()
        );
        (
            Decision::Promote {
                evidence: evidence.clone(),
            },
            verdict,
            evidence,
        )
    }

    /// Marks the rollout ended.
    pub fn finish(
        &mut self,
        phase: Phase,
        outcome_version: Option<u64>,
        reason: String,
        now: SystemTime,
    ) {
        self.record.phase = phase;
        self.record.outcome_version = outcome_version;
        self.record.reason = reason;
        self.record.finished_unix_ms = Some(unix_ms(now));
        self.next_evaluation = None;
    }
}

fn round_ms(duration: Duration) -> Duration {
    Duration::from_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX))
}
