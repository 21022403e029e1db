//! What the server runs on: the catalog behind an `ArcSwap`, the probe board and the metrics,
//! and applying a config all or nothing, from a file (`--config`, SIGHUP) or from a version the
//! control plane pushed. A config that does not parse, does not validate, has no `[dns]` or
//! cannot be built is rejected with every error and the running catalog stays.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use weir_config::{DnsProbe, DnsSettings, DnsSoa};
use weir_protocol::ConfigPush;

use crate::catalog::Catalog;
use crate::gateways::Gates;
use crate::metrics::Metrics;
use crate::prober::Board;

/// The outcome of the last load, for `/status`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadStatus {
    /// Configs applied since start.
    pub generation: u64,
    /// Errors of the last rejected load, empty when the last load was applied.
    pub last_errors: Vec<String>,
    /// Loads rejected since start.
    pub rejected: u64,
    /// The control plane's version served (0: none yet, or a config file).
    pub version: u64,
    /// That version's checksum (empty with `version` 0).
    pub checksum: String,
}

/// What a pushed version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Swapped in: the answers follow it from now on.
    Changed,
    /// The version served already (a reconnect repeats it): nothing to do.
    Unchanged,
}

pub struct State {
    /// The file SIGHUP reloads; `None` when the control plane feeds this server.
    pub config_path: Option<PathBuf>,
    pub catalog: ArcSwap<Catalog>,
    pub board: Board,
    /// The gateways' readiness per region, from the control plane (empty without one).
    pub gates: Gates,
    pub metrics: Arc<Metrics>,
    status: Mutex<LoadStatus>,
}

/// Reads and validates a fleet config file with `[dns]`; every problem, one per line.
pub fn read_settings(path: &Path) -> Result<DnsSettings, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("cannot read {}: {e}", path.display())])?;
    let config = weir_config::parse_fleet(&text)
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    config
        .fleet
        .dns
        .ok_or_else(|| vec![format!("{} has no [dns] section", path.display())])
}

/// Validates a fleet config's text (every error, with its path) and takes its `[dns]`.
pub fn parse_settings(text: &str) -> Result<DnsSettings, Vec<String>> {
    let config = weir_config::parse_fleet(text)
        .map_err(|errors| errors.0.iter().map(ToString::to_string).collect::<Vec<_>>())?;
    config
        .fleet
        .dns
        .ok_or_else(|| vec!["dns: the fleet config has no [dns] section".to_string()])
}

/// What is served before any config: no zones, so every question is `REFUSED`.
fn nothing() -> DnsSettings {
    DnsSettings {
        zones: Vec::new(),
        soa: DnsSoa {
            mname: "none.invalid".into(),
            rname: "none.invalid".into(),
            negative_ttl: DnsSoa::DEFAULT_NEGATIVE_TTL,
        },
        ns: Vec::new(),
        names: BTreeMap::new(),
        client_regions: BTreeMap::new(),
        probe: DnsProbe::default(),
    }
}

/// The regions `settings`' members are in.
fn regions(settings: &DnsSettings) -> std::collections::BTreeSet<&str> {
    settings
        .names
        .values()
        .flat_map(|name| name.members.iter().map(|member| member.region.as_str()))
        .collect()
}

/// The SOA serial of a catalog built now: seconds since the epoch (wraps in 2106).
fn serial() -> u32 {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    (seconds & u64::from(u32::MAX)) as u32
}

impl State {
    /// Loads `config_path` for the first time; must run inside a tokio runtime (it starts the
    /// probes).
    pub fn load(config_path: PathBuf, metrics: Arc<Metrics>) -> Result<State, Vec<String>> {
        let settings = read_settings(&config_path)?;
        let state = State::serving(&settings, Some(config_path), metrics)?;
        state.applied(None);
        Ok(state)
    }

    /// A server fed by the control plane, before its first version: it answers nothing
    /// (`REFUSED`) until [`State::apply_push`] succeeds. Must run inside a tokio runtime.
    pub fn empty(metrics: Arc<Metrics>) -> Result<State, Vec<String>> {
        State::serving(&nothing(), None, metrics)
    }

    fn serving(
        settings: &DnsSettings,
        config_path: Option<PathBuf>,
        metrics: Arc<Metrics>,
    ) -> Result<State, Vec<String>> {
        let board = Board::new(metrics.clone());
        let gates = Gates::new(metrics.clone());
        let targets = board.prepare(settings);
        let catalog =
            Catalog::new(settings, &targets, &gates, serial()).map_err(|e| vec![e.to_string()])?;
        board.commit(&targets, &settings.probe);
        Ok(State {
            config_path,
            catalog: ArcSwap::from_pointee(catalog),
            board,
            gates,
            metrics,
            status: Mutex::new(LoadStatus::default()),
        })
    }

    fn status_lock(&self) -> MutexGuard<'_, LoadStatus> {
        self.status.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The outcome of the last load.
    pub fn status(&self) -> LoadStatus {
        self.status_lock().clone()
    }

    /// The control plane's version served and its checksum (0 and empty before the first).
    pub fn served(&self) -> (u64, String) {
        let status = self.status_lock();
        (status.version, status.checksum.clone())
    }

    /// Counts one applied load (with the pushed version it came from).
    fn applied(&self, pushed: Option<(u64, String)>) -> u64 {
        let mut status = self.status_lock();
        status.generation += 1;
        status.last_errors.clear();
        if let Some((version, checksum)) = pushed {
            status.version = version;
            status.checksum = checksum;
        }
        self.metrics.reloads.with_label_values(&["applied"]).inc();
        self.metrics
            .generation
            .set(i64::try_from(status.generation).unwrap_or(i64::MAX));
        status.generation
    }

    /// Counts one rejected load and keeps its errors for `/status`.
    fn rejected(&self, errors: &[String]) {
        let mut status = self.status_lock();
        status.rejected += 1;
        status.last_errors = errors.to_vec();
        self.metrics.reloads.with_label_values(&["rejected"]).inc();
    }

    /// Builds `settings` into a catalog and swaps it in whole, or returns every error.
    fn install(&self, settings: &DnsSettings) -> Result<(), Vec<String>> {
        let targets = self.board.prepare(settings);
        let catalog = Catalog::new(settings, &targets, &self.gates, serial())
            .map_err(|e| vec![e.to_string()])?;
        self.catalog.store(Arc::new(catalog));
        self.board.commit(&targets, &settings.probe);
        self.gates.keep_only(&regions(settings));
        Ok(())
    }

    /// Reads the config file again and swaps it in whole, or keeps the running one and returns
    /// every error. Without a config file (fed by the control plane) there is nothing to read.
    pub fn reload(&self) -> Result<u64, Vec<String>> {
        let Some(path) = &self.config_path else {
            return Err(vec![
                "fed by the control plane: there is no config file to reload".to_string(),
            ]);
        };
        match read_settings(path).and_then(|settings| self.install(&settings)) {
            Ok(()) => Ok(self.applied(None)),
            Err(errors) => {
                self.rejected(&errors);
                Err(errors)
            }
        }
    }

    /// Applies a version the control plane pushed (its order already checked): its checksum
    /// must match, its fleet config must validate and hold a `[dns]` that builds. All or
    /// nothing: on any error the running catalog stays and every error is returned.
    pub fn apply_push(&self, push: &ConfigPush) -> Result<Applied, Vec<String>> {
        let (version, checksum) = self.served();
        if push.version == version && push.checksum == checksum {
            return Ok(Applied::Unchanged);
        }
        let actual = weir_protocol::checksum(&push.config);
        let result = if actual == push.checksum {
            parse_settings(&push.config).and_then(|settings| self.install(&settings))
        } else {
            Err(vec![format!(
                "version {}: the config's checksum is {actual}, the push says {}",
                push.version, push.checksum
            )])
        };
        match result {
            Ok(()) => {
                self.applied(Some((push.version, push.checksum.clone())));
                Ok(Applied::Changed)
            }
            Err(errors) => {
                self.rejected(&errors);
                Err(errors)
            }
        }
    }
}
