//! Staged rollouts at work in the control plane: starting one (the canary version stored like any
//! version, pushed to the canaries only), ticking [`Bake`] over the fleet's reports and
//! telemetry, and acting on its decision: promote (the canary version to every gateway, an audit
//! line) or roll back (a new version with the stable config, authored [`AUTHOR`] with the
//! evidence). Every config write goes through [`RolloutService::writes`], so a write and a
//! rollout's decision never interleave; a write during a bake is applied on top of the stable
//! config and supersedes the rollout. The record is saved ([`memory`]) before each push, and
//! [`recover`] resolves it against the store after a restart.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::watch;
use weir_config::RolloutSettings;
use weir_protocol::Outcome;
use weir_protocol::api::{AuditEntry, RolloutEvaluation, RolloutStatus, RolloutView};

use super::memory;
use super::{Bake, CanaryNow, Candidate, Decision, Phase, Record, Selector, Summary, unix_ms};
use crate::api::{ApiError, App, store_version};
use crate::fleet::Pushed;
use crate::store::{Change, Update, Version};

/// The author of every version a rollout's automatic rollback writes.
pub const AUTHOR: &str = "policy:rollout";
/// How often the bake looks whether an evaluation is due.
const TICK: Duration = Duration::from_millis(100);
/// The longest message a version takes (the API's own cap).
const MAX_MESSAGE_CHARS: usize = 1000;

/// The rollout's state, the write lock every config change takes, and the metrics.
pub struct RolloutService {
    writes: tokio::sync::Mutex<()>,
    bake: Mutex<Option<Bake>>,
    /// The stable version while a rollout bakes.
    stable: Mutex<Option<Arc<Version>>>,
    /// The record was changed but could not be saved yet: saved again at the next tick.
    unsaved: Mutex<bool>,
    outcomes: IntCounterVec,
    evaluations: IntCounterVec,
    active: IntGauge,
}

impl RolloutService {
    /// Registers the rollouts' metrics in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<RolloutService> {
        let outcomes = IntCounterVec::new(
            Opts::new(
                "weir_cp_rollouts_total",
                "Staged rollouts by outcome (started, promoted, rolled_back, aborted, \
                 superseded, failed).",
            ),
            &["outcome"],
        )?;
        registry.register(Box::new(outcomes.clone()))?;
        let evaluations = IntCounterVec::new(
            Opts::new(
                "weir_cp_rollout_evaluations_total",
                "Comparisons of a rollout's canaries with the baseline, by verdict (pending, \
                 good, breach).",
            ),
            &["verdict"],
        )?;
        registry.register(Box::new(evaluations.clone()))?;
        let active = IntGauge::new(
            "weir_cp_rollout_active",
            "1 while a staged rollout bakes, else 0.",
        )?;
        registry.register(Box::new(active.clone()))?;
        Ok(RolloutService {
            writes: tokio::sync::Mutex::new(()),
            bake: Mutex::new(None),
            stable: Mutex::new(None),
            unsaved: Mutex::new(false),
            outcomes,
            evaluations,
            active,
        })
    }

    /// Held for every config write and every rollout decision: one at a time.
    pub async fn writes(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writes.lock().await
    }

    fn bake(&self) -> MutexGuard<'_, Option<Bake>> {
        self.bake.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stable_version(&self) -> Option<Arc<Version>> {
        self.stable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The stable version and the canary version's number, while a rollout bakes.
    pub fn active(&self) -> Option<(Arc<Version>, u64)> {
        let canary = self
            .bake()
            .as_ref()
            .filter(|bake| bake.record.is_active())
            .map(|bake| bake.record.canary)?;
        Some((self.stable_version()?, canary))
    }

    /// The version changes are based on: the stable one while a rollout bakes (the failover
    /// policy judges and edits it, never the unbaked config), else the store's current one.
    pub fn base(&self, current: Option<Arc<Version>>) -> Option<Arc<Version>> {
        match self.active() {
            Some((stable, canary)) if current.as_ref().map(|c| c.meta.version) == Some(canary) => {
                Some(stable)
            }
            _ => current,
        }
    }

    /// `GET /v1/rollout`.
    pub fn status(&self) -> RolloutStatus {
        RolloutStatus {
            rollout: self.bake().as_ref().map(view),
        }
    }

    fn set(&self, bake: Bake, stable: Option<Arc<Version>>) {
        self.active
            .set(i64::from(bake.record.is_active() && stable.is_some()));
        *self.bake() = Some(bake);
        *self.stable.lock().unwrap_or_else(|p| p.into_inner()) = stable;
    }

    /// Ends the active rollout as `phase` and returns its record, to be saved.
    fn finish(&self, phase: Phase, outcome: Option<u64>, reason: String) -> Option<Record> {
        let mut bake = self.bake();
        let bake = bake.as_mut().filter(|b| b.record.is_active())?;
        bake.finish(phase, outcome, reason, SystemTime::now());
        *self.stable.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.active.set(0);
        self.outcomes.with_label_values(&[phase.as_str()]).inc();
        Some(bake.record.clone())
    }
}

fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

fn view(bake: &Bake) -> RolloutView {
    let record = &bake.record;
    RolloutView {
        state: record.phase.as_str().to_owned(),
        stable_version: record.stable,
        canary_version: record.canary,
        canaries: record.canaries.iter().cloned().collect(),
        selector: record.selector.clone(),
        author: record.author.clone(),
        started: time(record.started()),
        bake_ms: record.bake_ms,
        bake_until: time(record.bake_until()),
        next_evaluation: bake.next_evaluation().map(time),
        outcome_version: record.outcome_version,
        reason: record.reason.clone(),
        finished: record.finished_unix_ms.map(|ms| time(super::from_ms(ms))),
        evaluations: bake
            .evaluations()
            .map(|evaluation| RolloutEvaluation {
                at: time(evaluation.at),
                verdict: evaluation.verdict.as_str().to_owned(),
                evidence: evaluation.evidence.clone(),
            })
            .collect(),
    }
}

fn capped(text: String) -> String {
    text.chars().take(MAX_MESSAGE_CHARS).collect()
}

fn conflict(detail: String) -> ApiError {
    ApiError::new(axum::http::StatusCode::CONFLICT, "Conflict", detail)
}

/// The action of a staged rollout's canary version.
pub const ROLLOUT_START: &str = "rollout start";

/// With several replicas (the etcd store): `409` while a rollout that another replica runs is
/// baking (the store's current version is its canary version and its record says it bakes).
/// Changes and rollout decisions go through that replica until it is promoted or rolled back,
/// so no replica edits or pushes an unbaked config. Costs an etcd read only while the current
/// version is a canary version; nothing on the file store.
pub async fn refuse_if_baking_elsewhere(app: &Arc<App>) -> Result<(), ApiError> {
    if app.store.kind() == "files" || app.rollout.active().is_some() {
        return Ok(());
    }
    let Some(current) = app.store.current() else {
        return Ok(());
    };
    if current.meta.action != ROLLOUT_START {
        return Ok(());
    }
    let store = Arc::clone(&app.store);
    let loaded = tokio::task::spawn_blocking(move || memory::load(&store))
        .await
        .map_err(|e| ApiError::internal(format!("the rollout record read was cancelled: {e}")))?;
    let record = loaded.map_err(|error| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "Store Unavailable",
            format!(
                "version {} is a staged rollout's canary version and its record cannot be read \
                 ({error}); nothing was changed: retry",
                current.meta.version
            ),
        )
    })?;
    match record {
        Some(record)
            if record.is_active()
                && record.canary == current.meta.version
                && record.replica.as_deref() != Some(app.replica.as_str()) =>
        {
            Err(conflict(format!(
                "the rollout of version {} is baking on replica {}: promote or abort it there \
                 (weirctl --url pointing at it), or make this change through it",
                record.canary,
                record.replica.as_deref().unwrap_or("(unknown)")
            )))
        }
        _ => Ok(()),
    }
}

/// The rollout thresholds of `version`'s config (the defaults if it no longer parses).
fn settings_of(version: &Version) -> RolloutSettings {
    weir_config::parse_fleet(&version.config)
        .map(|config| config.fleet.rollout)
        .unwrap_or_default()
}

/// Saves `record` next to the store; a failure is logged and retried at the next tick.
async fn save(app: &Arc<App>, record: Record) {
    let store = Arc::clone(&app.store);
    let saved = tokio::task::spawn_blocking(move || memory::save(&store, &record)).await;
    let ok = matches!(saved, Ok(Ok(())));
    if !ok {
        tracing::warn!(result = ?saved.map(|r| r.map_err(|e| e.to_string())), file = memory::FILE,
            "cannot save the rollout record; will retry");
    }
    *app.rollout
        .unsaved
        .lock()
        .unwrap_or_else(|p| p.into_inner()) = !ok;
}

/// Appends an audit line that stores no version.
async fn note(
    app: &Arc<App>,
    actor: &str,
    action: &str,
    version: u64,
    message: &str,
    detail: String,
) {
    let store = Arc::clone(&app.store);
    let entry = AuditEntry {
        time: humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
        actor: actor.to_owned(),
        action: action.to_owned(),
        version,
        message: capped(message.to_owned()),
        detail,
    };
    match tokio::task::spawn_blocking(move || store.note(entry)).await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::error!(%error, action, "cannot write a rollout audit line"),
        Err(error) => tracing::error!(%error, action, "rollout audit task failed"),
    }
}

/// A canary `PUT /v1/config`.
pub struct Start {
    pub author: String,
    pub message: String,
    pub text: String,
    pub config: weir_config::Config,
    pub selector: Selector,
    /// `bake=`; the stable config's `rollout.bake` when absent.
    pub bake: Option<Duration>,
    pub expected: Option<u64>,
}

/// What a started rollout answers: the stored version (none when the config changed nothing),
/// the changes and the rollout.
pub type Started = (Option<Arc<Version>>, Vec<String>, Option<RolloutView>);

/// Stores the new version and pushes it to the canaries only. Refused (`409`) while another
/// rollout bakes, before the first version, or when the canaries cannot be chosen.
pub async fn start(app: &Arc<App>, start: Start) -> Result<Started, ApiError> {
    let _writes = app.rollout.writes().await;
    if let Some((_, canary)) = app.rollout.active() {
        return Err(conflict(format!(
            "the rollout of version {canary} is baking: only one rollout at a time (weirctl \
             rollout promote|abort)"
        )));
    }
    refuse_if_baking_elsewhere(app).await?;
    let current = app.store.current().ok_or_else(|| {
        conflict("there is no version yet: the first version goes to every gateway".into())
    })?;
    if let Some(expected) = start.expected
        && expected != current.meta.version
    {
        return Err(ApiError::conflict(expected, current.meta.version));
    }
    let settings = settings_of(&current);
    let bake = start.bake.unwrap_or(settings.bake);
    let (low, high) = RolloutSettings::BAKE_RANGE;
    if !(low..=high).contains(&bake) {
        return Err(ApiError::bad_request(format!(
            "bake must be between 1s and 24h, got {}",
            humantime::format_duration(bake)
        )));
    }
    let candidates: Vec<Candidate> = app
        .fleet
        .gateways()
        .into_iter()
        .map(|gateway| Candidate {
            dns: gateway.kind == weir_protocol::api::NodeKind::Dns,
            id: gateway.id,
            region: gateway.region,
            connected: gateway.connected,
        })
        .collect();
    let canaries = start.selector.choose(&candidates).map_err(conflict)?;
    let lines = crate::api::changes(Some(&current.config), &start.config);
    let list: Vec<String> = canaries.iter().cloned().collect();
    let detail = format!(
        "{} change{}; canaries {} ({}); bake {}",
        lines.len(),
        if lines.len() == 1 { "" } else { "s" },
        list.join(", "),
        start.selector,
        humantime::format_duration(bake)
    );
    let (text, config, author) = (start.text, start.config, start.author.clone());
    let stored = store_version(app, Some(current.meta.version), move |current| {
        let Some(current) = current else {
            return Err(conflict("there is no version yet".into()));
        };
        if current.config == text
            || weir_config::parse_fleet(&current.config).is_ok_and(|old| old == config)
        {
            return Ok(Update::Unchanged);
        }
        Ok(Update::Commit(Change {
            config: text,
            author,
            message: start.message,
            action: ROLLOUT_START.into(),
            drained: current.meta.drained.clone(),
            detail,
        }))
    })
    .await?;
    let Some(version) = stored else {
        return Ok((None, Vec::new(), None));
    };
    let now = SystemTime::now();
    let record = Record {
        stable: current.meta.version,
        canary: version.meta.version,
        canaries: canaries.clone(),
        selector: start.selector.to_string(),
        author: start.author,
        started_unix_ms: unix_ms(now),
        bake_ms: u64::try_from(bake.as_millis()).unwrap_or(u64::MAX),
        bake_until_unix_ms: unix_ms(now + bake),
        phase: Phase::Baking,
        outcome_version: None,
        reason: String::new(),
        finished_unix_ms: None,
        replica: Some(app.replica.clone()),
    };
    // Saved before the push: after a crash the store's "rollout start" version without a
    // record is rolled back by `recover`, never pushed to everyone.
    save(app, record.clone()).await;
    let bake_state = Bake::new(record, settings, now);
    let rollout = view(&bake_state);
    app.rollout.set(bake_state, Some(Arc::clone(&current)));
    app.rollout.outcomes.with_label_values(&["started"]).inc();
    app.metrics
        .config_version
        .set(i64::try_from(version.meta.version).unwrap_or(i64::MAX));
    app.fleet.publish_canary(
        Pushed::new(
            version.meta.version,
            &version.meta.checksum,
            &version.config,
        ),
        canaries,
    );
    tracing::info!(
        rollout_version = version.meta.version, stable_version = current.meta.version,
        canaries = ?list, selector = %rollout.selector, bake_ms = rollout.bake_ms,
        "rollout started: canary version pushed to the canaries only"
    );
    Ok((Some(version), lines, Some(rollout)))
}

/// A config write during a bake stored `version` on top of the stable config: the rollout is
/// superseded (saved, audited) before `version` goes to every gateway.
pub async fn superseded(app: &Arc<App>, version: &Version) {
    let reason = format!(
        "superseded by version {} ({} by {}): applied on top of the stable config",
        version.meta.version, version.meta.action, version.meta.author
    );
    let Some(record) = app.rollout.finish(
        Phase::Superseded,
        Some(version.meta.version),
        reason.clone(),
    ) else {
        return;
    };
    tracing::info!(
        rollout_version = record.canary,
        version = version.meta.version,
        reason,
        "rollout superseded"
    );
    save(app, record.clone()).await;
    note(
        app,
        &version.meta.author,
        "rollout supersede",
        record.canary,
        &reason,
        format!("rollout of version {} ended", record.canary),
    )
    .await;
}

/// The active rollout's stable version and canary number; with `only`, that rollout's only (a
/// decision made for one rollout never acts on the next). `409` otherwise.
fn baking(app: &App, only: Option<u64>) -> Result<(Arc<Version>, u64), ApiError> {
    match app.rollout.active() {
        Some((stable, canary)) if only.is_none_or(|only| only == canary) => Ok((stable, canary)),
        _ => Err(conflict("no rollout is baking".into())),
    }
}

/// Promotes the active rollout (with `only`, only the rollout of that canary version): the
/// canary version goes to every gateway (no new version; an audit line by `author` with
/// `evidence`). `409` when none bakes.
pub async fn promote(
    app: &Arc<App>,
    author: &str,
    evidence: String,
    only: Option<u64>,
) -> Result<RolloutStatus, ApiError> {
    let _writes = app.rollout.writes().await;
    let (_, canary) = baking(app, only)?;
    let current = app
        .store
        .current()
        .filter(|c| c.meta.version == canary)
        .ok_or_else(|| {
            ApiError::internal(format!("version {canary} is not the store's current"))
        })?;
    let Some(record) = app.rollout.finish(Phase::Promoted, None, evidence.clone()) else {
        return Err(conflict("no rollout is baking".into()));
    };
    save(app, record.clone()).await;
    note(
        app,
        author,
        "rollout promote",
        canary,
        &evidence,
        format!(
            "version {canary} to every gateway (canaries {})",
            record.canary_list()
        ),
    )
    .await;
    app.publish(&current);
    tracing::info!(
        rollout_version = canary,
        author,
        evidence,
        "rollout promoted"
    );
    Ok(app.rollout.status())
}

/// Rolls the active rollout back: a new version with the stable version's config, authored
/// `author`, with `evidence`, pushed to every gateway. `phase` is `RolledBack` (a breach) or
/// `Aborted` (an operator); `only` as for [`promote`]. `409` when none bakes.
pub async fn roll_back(
    app: &Arc<App>,
    author: &str,
    phase: Phase,
    evidence: String,
    only: Option<u64>,
) -> Result<(Arc<Version>, RolloutStatus), ApiError> {
    let _writes = app.rollout.writes().await;
    let (stable, canary) = baking(app, only)?;
    let verb = if phase == Phase::Aborted {
        "aborted"
    } else {
        "rolled back"
    };
    let message = capped(format!("rollout of version {canary} {verb}: {evidence}"));
    let action = if phase == Phase::Aborted {
        "rollout abort"
    } else {
        "rollout rollback"
    };
    let change = Change {
        config: stable.config.clone(),
        author: author.to_owned(),
        message,
        action: action.into(),
        drained: stable.meta.drained.clone(),
        detail: format!(
            "back to version {}'s config from canary version {canary}",
            stable.meta.version
        ),
    };
    let stored = store_version(app, Some(canary), move |_| Ok(Update::Commit(change))).await?;
    let version = stored.ok_or_else(|| ApiError::internal("the rollback stored no version"))?;
    if let Some(record) = app
        .rollout
        .finish(phase, Some(version.meta.version), evidence.clone())
    {
        save(app, record).await;
    }
    app.publish(&version);
    tracing::warn!(
        rollout_version = canary,
        version = version.meta.version,
        author,
        evidence,
        outcome = phase.as_str(),
        "rollout rolled back"
    );
    Ok((version, app.rollout.status()))
}

/// Ticks the bake until `shutdown` flips.
pub async fn run(app: Arc<App>, mut shutdown: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(TICK);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        tick(&app).await;
    }
}

/// What the fleet says of each canary of `record`.
fn canaries_now(app: &App, record: &Record) -> Vec<CanaryNow> {
    record
        .canaries
        .iter()
        .map(|id| {
            let seen = app.fleet.seen_of(id);
            let nack = seen.as_ref().and_then(|seen| {
                let report = seen.last_report.as_ref()?;
                (report.version == record.canary && report.outcome == Outcome::Nack)
                    .then(|| report.errors.join("; "))
            });
            CanaryNow {
                id: id.clone(),
                applied: seen.as_ref().and_then(|seen| seen.applied_version),
                nack,
                last_heard: seen.map(|seen| seen.last_seen),
            }
        })
        .collect()
}

async fn tick(app: &Arc<App>) {
    if *app
        .rollout
        .unsaved
        .lock()
        .unwrap_or_else(|p| p.into_inner())
    {
        let record = app.rollout.bake().as_ref().map(|b| b.record.clone());
        if let Some(record) = record {
            save(app, record).await;
        }
    }
    let Some(record) = app
        .rollout
        .bake()
        .as_ref()
        .filter(|bake| bake.record.is_active())
        .map(|bake| bake.record.clone())
    else {
        return;
    };
    let now = SystemTime::now();
    let canaries = canaries_now(app, &record);
    let view = app.telemetry.view(now);
    let summaries: Vec<Summary<'_>> = view
        .iter()
        .flat_map(|gateway| {
            gateway.recent.iter().map(|received| Summary {
                gateway: &gateway.id,
                at: received.at,
                config_version: received.telemetry.config_version,
                pools: &received.telemetry.pools,
            })
        })
        .collect();
    let (decision, evaluated) = {
        let mut bake = app.rollout.bake();
        let Some(bake) = bake.as_mut().filter(|b| b.record.canary == record.canary) else {
            return;
        };
        let before = bake.evaluations().last().map(|e| e.at);
        let decision = bake.tick(now, &canaries, &summaries);
        let last = bake.evaluations().last();
        let evaluated = last
            .filter(|e| Some(e.at) != before)
            .map(|e| (e.verdict, e.evidence.clone()));
        (decision, evaluated)
    };
    if let Some((verdict, evidence)) = evaluated {
        app.rollout
            .evaluations
            .with_label_values(&[verdict.as_str()])
            .inc();
        tracing::info!(
            rollout_version = record.canary,
            verdict = verdict.as_str(),
            evidence,
            "rollout evaluation"
        );
    }
    let result = match decision {
        Decision::Wait => return,
        Decision::Promote { evidence } => promote(app, AUTHOR, evidence, Some(record.canary))
            .await
            .map(|_| ()),
        Decision::RollBack { evidence } => roll_back(
            app,
            AUTHOR,
            Phase::RolledBack,
            evidence,
            Some(record.canary),
        )
        .await
        .map(|_| ()),
    };
    if let Err(error) = result {
        tracing::error!(rollout_version = record.canary, error = %error.problem.detail,
            "rollout decision could not be carried out; will evaluate again");
    }
}

/// At start-up: takes back the saved rollout and resolves it against the store, then publishes
/// what each gateway must run. A rollout still baking resumes from its saved deadline (stable
/// to everyone, canary to its canaries); one the store moved past is recorded as ended by the
/// version that did; a "rollout start" version with no record of its rollout (a crash between
/// the two writes) is rolled back. Every resolution is logged and audited.
pub async fn recover(app: &Arc<App>) {
    let Some(current) = app.store.current() else {
        return;
    };
    let store = Arc::clone(&app.store);
    let loaded = tokio::task::spawn_blocking(move || memory::load(&store)).await;
    let record = match loaded {
        Ok(Ok(record)) => record,
        Ok(Err(error)) => {
            tracing::error!(%error, file = memory::FILE, "cannot read the rollout record");
            None
        }
        Err(error) => {
            tracing::error!(%error, "rollout record load task failed");
            None
        }
    };
    let now = SystemTime::now();
    let number = current.meta.version;
    match record {
        Some(record)
            if record.is_active()
                && record.canary == number
                && app.store.kind() != "files"
                && record
                    .replica
                    .as_ref()
                    .is_some_and(|runner| *runner != app.replica) =>
        {
            // Another replica runs this rollout: everyone here gets the stable version, and the
            // canary version once that replica promotes it (`server::push_remote_versions`).
            tracing::info!(
                rollout_version = number,
                replica = record.replica.as_deref().unwrap_or(""),
                "a staged rollout run by another replica is baking; serving the stable version"
            );
            match read(app, record.stable).await {
                Some(stable) => app.publish(&stable),
                None => tracing::error!(
                    stable_version = record.stable,
                    "the rollout's stable version cannot be read; publishing nothing yet"
                ),
            }
        }
        Some(record) if record.is_active() && record.canary == number => {
            let stable = read(app, record.stable).await;
            let Some(stable) = stable else {
                let reason = format!(
                    "after a restart, stable version {} cannot be read: the rollout cannot be \
                     rolled back, rolling it out instead would skip its bake; the canary version \
                     stays current",
                    record.stable
                );
                resolve(app, record, Phase::Failed, None, reason, now).await;
                app.publish(&current);
                return;
            };
            let settings = settings_of(&stable);
            tracing::info!(
                rollout_version = number, stable_version = stable.meta.version,
                canaries = %record.canary_list(), bake_until = %time(record.bake_until()),
                "rollout resumed after a restart"
            );
            let canaries = record.canaries.clone();
            app.rollout
                .set(Bake::new(record, settings, now), Some(Arc::clone(&stable)));
            app.publish(&stable);
            app.metrics
                .config_version
                .set(i64::try_from(number).unwrap_or(i64::MAX));
            app.fleet.publish_canary(
                Pushed::new(number, &current.meta.checksum, &current.config),
                canaries,
            );
        }
        Some(record) if record.is_active() => {
            // The store holds a newer version than the canary (a rollback or another write
            // committed, then the crash came before the record was saved), or lost the canary.
            let (phase, outcome, reason) = if number > record.canary {
                let rolled_back =
                    current.meta.author == AUTHOR && current.meta.action == "rollout rollback";
                let phase = if rolled_back {
                    Phase::RolledBack
                } else {
                    Phase::Superseded
                };
                (
                    phase,
                    Some(number),
                    format!(
                        "found on restart: version {number} ({} by {}) followed the canary version",
                        current.meta.action, current.meta.author
                    ),
                )
            } else {
                (
                    Phase::Failed,
                    None,
                    format!(
                        "found on restart: the canary version {} is not in the store (current is \
                         {number})",
                        record.canary
                    ),
                )
            };
            resolve(app, record, phase, outcome, reason, now).await;
            app.publish(&current);
        }
        record => {
            let known = record.as_ref().is_some_and(|r| r.canary == number);
            if current.meta.action == "rollout start" && !known {
                roll_back_unrecorded(app, &current, now).await;
            } else {
                if let Some(record) = record {
                    let settings = RolloutSettings::default();
                    app.rollout.set(Bake::new(record, settings, now), None);
                }
                app.publish(&current);
            }
        }
    }
}

async fn read(app: &Arc<App>, number: u64) -> Option<Arc<Version>> {
    let store = Arc::clone(&app.store);
    match tokio::task::spawn_blocking(move || store.get(number)).await {
        Ok(Ok(Some(version))) => Some(Arc::new(version)),
        other => {
            tracing::error!(version = number, result = ?other.map(|r| r.map(|_| ()).map_err(|e| e.to_string())),
                "cannot read a version for the rollout");
            None
        }
    }
}

/// Records a rollout found ended (or impossible) at start-up: saved, audited, logged.
async fn resolve(
    app: &Arc<App>,
    mut record: Record,
    phase: Phase,
    outcome: Option<u64>,
    reason: String,
    now: SystemTime,
) {
    tracing::warn!(
        rollout_version = record.canary,
        outcome = phase.as_str(),
        reason,
        "rollout resolved on restart"
    );
    record.phase = phase;
    record.outcome_version = outcome;
    record.reason = reason.clone();
    record.finished_unix_ms = Some(unix_ms(now));
    app.rollout
        .outcomes
        .with_label_values(&[phase.as_str()])
        .inc();
    save(app, record.clone()).await;
    note(
        app,
        AUTHOR,
        "rollout resolve",
        record.canary,
        &reason,
        format!(
            "rollout of version {} marked {}",
            record.canary,
            phase.as_str()
        ),
    )
    .await;
    app.rollout
        .set(Bake::new(record, RolloutSettings::default(), now), None);
}

/// The current version started a rollout whose record was never saved: roll it back to the
/// version before it, so the unbaked config never reaches every gateway.
async fn roll_back_unrecorded(app: &Arc<App>, current: &Arc<Version>, now: SystemTime) {
    let number = current.meta.version;
    let previous = app.store.list(1, Some(number)).into_iter().next();
    let stable = match previous {
        Some(meta) => read(app, meta.version).await,
        None => None,
    };
    let Some(stable) = stable else {
        tracing::error!(
            version = number,
            "a rollout's version has no version before it to roll back to; publishing it"
        );
        app.publish(current);
        return;
    };
    let record = Record {
        stable: stable.meta.version,
        canary: number,
        canaries: Default::default(),
        selector: String::new(),
        author: current.meta.author.clone(),
        started_unix_ms: unix_ms(now),
        bake_ms: 0,
        bake_until_unix_ms: unix_ms(now),
        phase: Phase::Baking,
        outcome_version: None,
        reason: String::new(),
        finished_unix_ms: None,
        replica: Some(app.replica.clone()),
    };
    app.rollout.set(
        Bake::new(record, RolloutSettings::default(), now),
        Some(Arc::clone(&stable)),
    );
    app.publish(&stable);
    let evidence = format!(
        "found on restart without its rollout record (the control plane stopped before saving \
         it): the bake cannot be judged, so version {} is rolled back",
        number
    );
    if let Err(error) = roll_back(app, AUTHOR, Phase::RolledBack, evidence, Some(number)).await {
        tracing::error!(error = %error.problem.detail, "cannot roll back an unrecorded rollout");
    }
}
