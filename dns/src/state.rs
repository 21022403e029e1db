//! What the server runs on: the catalog behind an `ArcSwap`, the probe board and the metrics,
//! and loading a config file all or nothing. A file that does not parse, does not validate, has
//! no `[dns]` or cannot be built is rejected with every error and the running catalog stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use serde::Serialize;
use weir_config::DnsSettings;

use crate::catalog::Catalog;
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
}

pub struct State {
    pub config_path: PathBuf,
    pub catalog: ArcSwap<Catalog>,
    pub board: Board,
    pub metrics: Arc<Metrics>,
    pub status: Mutex<LoadStatus>,
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
        let board = Board::new(metrics.clone());
        let targets = board.prepare(&settings);
        let catalog =
            Catalog::new(&settings, &targets, serial()).map_err(|e| vec![e.to_string()])?;
        board.commit(&targets, &settings.probe);
        metrics.reloads.with_label_values(&["applied"]).inc();
        metrics.generation.set(1);
        Ok(State {
            config_path,
            catalog: ArcSwap::from_pointee(catalog),
            board,
            metrics,
            status: Mutex::new(LoadStatus {
                generation: 1,
                ..LoadStatus::default()
            }),
        })
    }

    /// Reads the config file again and swaps it in whole, or keeps the running one and returns
    /// every error.
    pub fn reload(&self) -> Result<u64, Vec<String>> {
        let built = read_settings(&self.config_path).and_then(|settings| {
            let targets = self.board.prepare(&settings);
            let catalog =
                Catalog::new(&settings, &targets, serial()).map_err(|e| vec![e.to_string()])?;
            Ok((settings, targets, catalog))
        });
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        match built {
            Ok((settings, targets, catalog)) => {
                self.catalog.store(Arc::new(catalog));
                self.board.commit(&targets, &settings.probe);
                status.generation += 1;
                status.last_errors.clear();
                self.metrics.reloads.with_label_values(&["applied"]).inc();
                self.metrics
                    .generation
                    .set(i64::try_from(status.generation).unwrap_or(i64::MAX));
                Ok(status.generation)
            }
            Err(errors) => {
                status.rejected += 1;
                status.last_errors.clone_from(&errors);
                self.metrics.reloads.with_label_values(&["rejected"]).inc();
                Err(errors)
            }
        }
    }
}
