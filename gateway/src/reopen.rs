//! Log rotation: on SIGUSR1 (as nginx) the access log file is closed and opened again at its
//! configured path, so a rotator can rename the file and signal; each reopen is counted in
//! `weir_log_reopens_total` and logged.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{SignalKind, signal};

use crate::state::Gateway;

pub struct LogReopener {
    pub gateway: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for LogReopener {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut signals = match signal(SignalKind::user_defined1()) {
            Ok(signals) => signals,
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGUSR1; the access log cannot be reopened");
                let _ = shutdown.changed().await;
                return;
            }
        };
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                Some(()) = signals.recv() => {
                    tracing::info!(signal = "SIGUSR1", "reopening the access log");
                    self.gateway.metrics.log_reopens.inc();
                    self.gateway.access_log.reopen();
                }
            }
        }
    }
}
