//! The failover policy at work in the control plane: every half second it ticks [`Failover`]
//! over the current version and the gateways' telemetry, and commits each action as a new config
//! version authored [`AUTHOR`] with the evidence as its message, through the same edit and
//! commit path as `weirctl weight` (history, audit, push). Each commit is based on the version
//! the policy judged, so an operator's change in between wins (the action is dropped). Keeps the
//! policy's metrics and answers its status.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::watch;
use weir_config::FleetSettings;
use weir_protocol::api::{
    FailoverPaused, FailoverStatus, RegionEvaluation, RegionFailover, UpstreamFailover,
};

use super::memory::{self, Memory};
use super::{Action, Failover, GatewaySample, UpstreamStatus};
use crate::api::{ApiError, App, commit};
use crate::edit;
use crate::store::{Change, Update, Version};

/// The author of every version the policy writes.
pub const AUTHOR: &str = "policy:failover";
/// How often the policy looks for upstreams due for an evaluation.
const TICK: Duration = Duration::from_millis(500);
/// The longest message a version takes (the API's own cap).
const MAX_MESSAGE_CHARS: usize = 1000;

/// The policy's memory, its metrics and the current version parsed once.
pub struct FailoverService {
    engine: Mutex<Failover>,
    parsed: Mutex<Option<(u64, Arc<FleetSettings>)>>,
    evaluations: IntCounter,
    actions: IntCounterVec,
    held: IntGauge,
    /// The memory last saved (or loaded): saved again only when it changes.
    saved: Mutex<Option<Memory>>,
}

impl FailoverService {
    /// Registers the policy's metrics in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<FailoverService> {
        let evaluations = IntCounter::new(
            "weir_cp_failover_evaluations_total",
            "Evaluations of an upstream by the failover policy.",
        )?;
        registry.register(Box::new(evaluations.clone()))?;
        let actions = IntCounterVec::new(
            Opts::new(
                "weir_cp_failover_actions_total",
                "Failover policy actions by kind (drain, ramp, restore) and result (committed, \
                 dropped).",
            ),
            &["kind", "result"],
        )?;
        registry.register(Box::new(actions.clone()))?;
        let held = IntGauge::new(
            "weir_cp_failover_drained_regions",
            "Upstream regions the failover policy holds weight back from (drained or ramping).",
        )?;
        registry.register(Box::new(held.clone()))?;
        Ok(FailoverService {
            engine: Mutex::new(Failover::new()),
            parsed: Mutex::new(None),
            evaluations,
            actions,
            held,
            saved: Mutex::new(None),
        })
    }

    fn engine(&self) -> MutexGuard<'_, Failover> {
        self.engine.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `version`'s fleet config, parsed once per version; `None` if it does not parse (it was
    /// validated when stored, so only a hand-edited store gets here).
    pub fn fleet(&self, version: &Version) -> Option<Arc<FleetSettings>> {
        let mut parsed = self.parsed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((number, fleet)) = parsed.as_ref()
            && *number == version.meta.version
        {
            return Some(Arc::clone(fleet));
        }
        let fleet = Arc::new(weir_config::parse_fleet(&version.config).ok()?.fleet);
        *parsed = Some((version.meta.version, Arc::clone(&fleet)));
        Some(fleet)
    }

    pub fn pause(&self, upstream: Option<&str>) -> FailoverPaused {
        let mut engine = self.engine();
        engine.pause(upstream);
        paused(&engine)
    }

    pub fn resume(&self, upstream: Option<&str>) -> FailoverPaused {
        let mut engine = self.engine();
        engine.resume(upstream);
        paused(&engine)
    }

    /// `GET /v1/failover` for the current version `current`.
    pub fn status(&self, current: Option<&Version>) -> FailoverStatus {
        let fleet = current.and_then(|version| self.fleet(version));
        let engine = self.engine();
        let upstreams = fleet
            .map(|fleet| engine.status(&fleet))
            .unwrap_or_default()
            .into_iter()
            .map(upstream_view)
            .collect();
        FailoverStatus {
            paused_all: engine.is_paused_all(),
            paused: engine.paused(),
            upstreams,
        }
    }
}

fn paused(engine: &Failover) -> FailoverPaused {
    FailoverPaused {
        paused_all: engine.is_paused_all(),
        paused: engine.paused(),
    }
}

fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

fn upstream_view(status: UpstreamStatus) -> UpstreamFailover {
    UpstreamFailover {
        upstream: status.upstream,
        paused: status.paused,
        evaluate_every_ms: u64::try_from(status.evaluate_every.as_millis()).unwrap_or(u64::MAX),
        last_evaluation: status.last_evaluation.map(time),
        next_evaluation: status.next_evaluation.map(time),
        regions: status
            .regions
            .into_iter()
            .map(|region| RegionFailover {
                region: region.region,
                state: region.state.to_owned(),
                weight: region.weight,
                operator_weight: region.operator_weight,
                ramp_step: region.ramp_step,
                bad_in_row: region.bad_in_row,
                good_in_row: region.good_in_row,
                last: region
                    .last
                    .into_iter()
                    .map(|evaluation| RegionEvaluation {
                        at: time(evaluation.at),
                        verdict: evaluation.judgement.verdict.as_str().to_owned(),
                        reporting: evaluation.judgement.reporting,
                        bad: evaluation.judgement.bad,
                        evidence: evaluation.judgement.evidence,
                    })
                    .collect(),
                next_action: region.next_action,
                next_action_at: region.next_action_at.map(time),
            })
            .collect(),
    }
}

/// While this replica leads: takes back the memory saved in the store (the regions the policy
/// held, the pauses), then ticks the policy until `shutdown` flips, saving the memory whenever it
/// changes. A replica that does not lead only waits.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut leading = false;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        // Only the leader acts (one replica on the file store: always). A replica that becomes
        // leader takes the saved memory back first, as after a restart.
        if !app.is_leader() {
            if leading {
                tracing::info!("not the leader any more: the failover policy stops here");
            }
            leading = false;
            continue;
        }
        if !leading {
            load(&app).await;
            leading = true;
        }
        tick(&app).await;
        save(&app).await;
    }
}

/// Restores the saved memory; one that cannot be read is logged and the policy starts empty (as
/// before it was saved: a region it had drained is then the operator's).
async fn load(app: &Arc<App>) {
    let store = Arc::clone(&app.store);
    let loaded = tokio::task::spawn_blocking(move || memory::load(&store)).await;
    match loaded {
        Ok(Ok(memory)) => {
            let held = memory
                .held
                .values()
                .map(|regions| regions.len())
                .sum::<usize>();
            if held > 0 || memory.paused_all || !memory.paused.is_empty() {
                tracing::info!(held, paused_all = memory.paused_all, paused = ?memory.paused,
                    "failover memory restored");
            }
            let service = &app.failover;
            let fleet = app
                .store
                .current()
                .and_then(|version| service.fleet(&version));
            service.engine().restore(memory, |upstream, region| {
                let pools = &fleet.as_ref()?.upstreams.get(upstream)?.pools;
                let pool = pools.iter().find(|pool| pool.region == region)?;
                Some(pool.weight)
            });
            let now = service.engine().memory();
            *service.saved.lock().unwrap_or_else(|p| p.into_inner()) = Some(now);
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, file = memory::FILE, "cannot read the failover memory; starting without it");
        }
        Err(error) => tracing::warn!(%error, "failover memory load task failed"),
    }
}

/// Saves the memory if it changed since the last save. A failed save keeps the previous file
/// (atomic replace) and is tried again at the next tick.
async fn save(app: &Arc<App>) {
    let service = &app.failover;
    let memory = service.engine().memory();
    if service
        .saved
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        == Some(&memory)
    {
        return;
    }
    let store = Arc::clone(&app.store);
    let to_save = memory.clone();
    match tokio::task::spawn_blocking(move || memory::save(&store, &to_save)).await {
        Ok(Ok(())) => *service.saved.lock().unwrap_or_else(|p| p.into_inner()) = Some(memory),
        Ok(Err(error)) => {
            tracing::warn!(%error, file = memory::FILE, "cannot save the failover memory; will retry");
        }
        Err(error) => tracing::warn!(%error, "failover memory save task failed"),
    }
}

/// One tick: the evaluations due, then each action committed in turn and settled.
async fn tick(app: &Arc<App>) {
    // During a staged rollout the policy judges and edits the stable version (its change then
    // supersedes the rollout), never the unbaked canary config.
    let Some(current) = app.rollout.base(app.store.current()) else {
        return;
    };
    let service = &app.failover;
    let Some(fleet) = service.fleet(&current) else {
        return;
    };
    if fleet.failover.is_empty() {
        return;
    }
    let now = SystemTime::now();
    let view = app.telemetry.view(now);
    let samples: Vec<GatewaySample<'_>> = view
        .iter()
        .map(|gateway| GatewaySample {
            gateway: &gateway.id,
            stale: gateway.stale,
            received: gateway.last_seen,
            pools: &gateway.latest.pools,
        })
        .collect();
    let actions = {
        let mut engine = service.engine();
        let before = engine.evaluations();
        let actions = engine.tick(now, &fleet, &current.meta.drained, &samples);
        service
            .evaluations
            .inc_by(engine.evaluations().saturating_sub(before));
        actions
    };
    if !actions.is_empty() {
        // Before the commits: a drain committed and then lost to a crash would be taken for the
        // operator's and never restored.
        save(app).await;
    }
    let mut base = current.meta.version;
    for action in actions {
        let committed = match commit_action(app, base, &action).await {
            Ok(Some(version)) => {
                base = version;
                true
            }
            Ok(None) => true,
            Err(error) => {
                tracing::warn!(
                    upstream = action.upstream, region = action.region, kind = action.kind.name(),
                    error = %error.problem.detail, "failover action dropped"
                );
                false
            }
        };
        service
            .actions
            .with_label_values(&[
                action.kind.name(),
                if committed { "committed" } else { "dropped" },
            ])
            .inc();
        service.engine().settled(&action, committed);
    }
    let held = service.engine().held_by_policy();
    service.held.set(i64::try_from(held).unwrap_or(i64::MAX));
}

/// Commits `action` on top of version `base`; the new version's number, `None` when it changed
/// nothing. Refused when the config moved on or the pool's weight is no longer `action.from`.
async fn commit_action(
    app: &Arc<App>,
    base: u64,
    action: &Action,
) -> Result<Option<u64>, ApiError> {
    let action = action.clone();
    let stored = commit(app, Some(base), move |current| {
        let current = current.ok_or_else(|| ApiError::not_found("there is no config version"))?;
        let (text, was) = edit::set_weight(
            &current.config,
            &action.upstream,
            &action.region,
            action.weight,
        )
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
        if was != action.from {
            return Err(ApiError::bad_request(format!(
                "{}/{} has weight {was} now, not {}: someone else changed it",
                action.upstream, action.region, action.from
            )));
        }
        if text == current.config {
            return Ok(Update::Unchanged);
        }
        weir_config::parse_fleet(&text).map_err(|e| ApiError::invalid(&e))?;
        let message: String = format!(
            "failover {} {}/{}: {}",
            action.kind.name(),
            action.upstream,
            action.region,
            action.evidence
        )
        .chars()
        .take(MAX_MESSAGE_CHARS)
        .collect();
        Ok(Update::Commit(Change {
            config: text,
            author: AUTHOR.to_owned(),
            message,
            action: "failover".to_owned(),
            drained: current.meta.drained.clone(),
            detail: format!(
                "{}/{} weight {was} -> {} ({})",
                action.upstream,
                action.region,
                action.weight,
                action.kind.name()
            ),
        }))
    })
    .await?;
    Ok(stored.map(|version| version.meta.version))
}
