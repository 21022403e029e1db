//! ACME (RFC 8555) certificates for `[[tls.acme]]`: a background task that serves the
//! certificates kept in the state directory at once, orders the missing ones and renews each at
//! two thirds of its lifetime (`schedule.rs`), with HTTP-01 tokens answered by the proxy from an
//! in-memory map (`challenge.rs`). Issued certificates are served beside the file certificates
//! (`issued.rs`; an exact file name wins) without touching the all-or-nothing file set. A failed
//! order keeps the old certificate serving, is logged, counted
//! (`weir_acme_orders_total{result="error"}`, `weir_acme_renewal_failures_total`) and retried
//! after a jittered backoff. Never on the request path.

mod challenge;
mod issued;
mod order;
mod schedule;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use instant_acme::Account;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use weir_config::AcmeSettings;

pub use challenge::{CHALLENGE_PREFIX, ChallengeReply, Challenges};
pub use issued::{IssuedCertificate, IssuedSet};
pub use schedule::{Schedule, Validity};
pub use store::StateDir;

use crate::metrics::Metrics;
use crate::tls::{CertStore, provider};

/// The longest single sleep: the schedule is looked at again at least this often (a clock that
/// jumps does not leave a renewal waiting for days).
const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// How long the first order waits for the proxy listener (the CA connects to it).
const LISTENER_WAIT: Duration = Duration::from_secs(10);

/// The ACME task: one per gateway, started with the server.
pub struct AcmeService {
    pub orders: Vec<AcmeSettings>,
    pub state_dir: PathBuf,
    pub store: Arc<CertStore>,
    pub challenges: Arc<Challenges>,
    pub metrics: Metrics,
    /// Whether the plain listener accepts connections yet.
    pub listening: Arc<dyn Fn() -> bool + Send + Sync>,
}

/// One `[[tls.acme]]` and where it stands.
struct Slot {
    settings: AcmeSettings,
    certificate: Option<IssuedCertificate>,
    schedule: Schedule,
}

/// The certificates already in `state_dir` for `orders`, served at once: what a start does
/// before its listeners accept. A missing or unusable file is logged and leaves its order
/// without a certificate (ordered as soon as the task runs).
pub fn serve_stored(
    orders: &[AcmeSettings],
    state_dir: &std::path::Path,
    store: &CertStore,
    metrics: &Metrics,
) {
    let slots = stored(orders, state_dir);
    publish(&slots, store, metrics);
}

fn stored(orders: &[AcmeSettings], state_dir: &std::path::Path) -> Vec<Slot> {
    let provider = provider();
    let dir = StateDir::open(state_dir);
    orders
        .iter()
        .map(|settings| {
            let certificate = dir.as_ref().ok().and_then(|dir| {
                let first = settings.names.first()?;
                let path = dir.certificate_path(first);
                let bytes = dir
                    .read(&path)
                    .map_err(|e| tracing::warn!(error = %e, "acme: cannot read a stored certificate"))
                    .ok()??;
                match IssuedCertificate::parse(&bytes, &provider) {
                    Ok(certificate) if certificate.covers(&settings.names) => Some(certificate),
                    Ok(certificate) => {
                        tracing::warn!(
                            file = %path.display(), names = ?settings.names, has = ?certificate.names,
                            "acme: the stored certificate does not cover the names; ordering again"
                        );
                        None
                    }
                    Err(e) => {
                        tracing::warn!(file = %path.display(), error = %e, "acme: stored certificate unusable; ordering again");
                        None
                    }
                }
            });
            Slot {
                schedule: Schedule::new(certificate.as_ref().map(|c| c.validity)),
                settings: settings.clone(),
                certificate,
            }
        })
        .collect()
}

/// Serve the slots' certificates from the next handshake on, with their expiry gauges.
fn publish(slots: &[Slot], store: &CertStore, metrics: &Metrics) {
    let set = IssuedSet::new(
        slots
            .iter()
            .filter_map(|slot| Some((slot.settings.names.as_slice(), slot.certificate.as_ref()?))),
    );
    for (name, not_after) in &set.expiry {
        metrics
            .tls_certificate_expiry
            .with_label_values(&[name])
            .set(*not_after);
    }
    store.publish_issued(set);
}

#[async_trait]
impl BackgroundService for AcmeService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = self.run() => {}
        }
    }
}

impl AcmeService {
    /// Never returns unless the state directory cannot be opened (the supervisor restarts it).
    async fn run(&self) {
        let dir = match StateDir::open(&self.state_dir) {
            Ok(dir) => dir,
            Err(e) => {
                tracing::error!(error = %e, "acme: cannot open the state directory");
                return;
            }
        };
        let mut slots = stored(&self.orders, dir.path());
        publish(&slots, &self.store, &self.metrics);
        let waited = tokio::time::Instant::now();
        while !(self.listening)() && waited.elapsed() < LISTENER_WAIT {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut accounts: HashMap<String, Account> = HashMap::new();
        loop {
            let Some((index, due)) = slots
                .iter()
                .enumerate()
                .map(|(index, slot)| (index, slot.schedule.due()))
                .min_by_key(|(_, due)| *due)
            else {
                return std::future::pending().await;
            };
            let now = SystemTime::now();
            if let Ok(wait) = due.duration_since(now)
                && !wait.is_zero()
            {
                tokio::time::sleep(wait.min(MAX_SLEEP)).await;
                continue;
            }
            let slot = &mut slots[index];
            let result = self.order(slot, &dir, &mut accounts).await;
            self.record(slot, result);
            publish(&slots, &self.store, &self.metrics);
        }
    }

    async fn order(
        &self,
        slot: &Slot,
        dir: &StateDir,
        accounts: &mut HashMap<String, Account>,
    ) -> Result<IssuedCertificate, String> {
        let settings = &slot.settings;
        let account = match accounts.get(&settings.directory) {
            Some(account) => account.clone(),
            None => {
                let account = order::account(settings, dir)
                    .await
                    .map_err(|e| e.to_string())?;
                accounts.insert(settings.directory.clone(), account.clone());
                account
            }
        };
        let pem = match order::order(&account, &settings.names, &self.challenges).await {
            Ok(pem) => pem,
            Err(e) => {
                if e.unknown_account() {
                    // Register again on the next try rather than fail forever.
                    accounts.remove(&settings.directory);
                    if let Err(e) = order::forget_account(settings, dir) {
                        tracing::warn!(error = %e, "acme: cannot forget the unknown account");
                    }
                }
                return Err(e.to_string());
            }
        };
        let certificate = IssuedCertificate::parse(pem.as_bytes(), &provider())
            .map_err(|e| format!("the CA's certificate {e}"))?;
        // Only a certificate that parsed is kept: the next start serves it.
        let first = settings.names.first().map_or("certificate", String::as_str);
        dir.write(&dir.certificate_path(first), pem.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(certificate)
    }

    /// Count and log an order's outcome and move its schedule on.
    fn record(&self, slot: &mut Slot, result: Result<IssuedCertificate, String>) {
        let names = &slot.settings.names;
        match result {
            Ok(certificate) => {
                self.metrics.acme_orders.with_label_values(&["ok"]).inc();
                let expires = humantime::format_rfc3339_seconds(certificate.validity.not_after);
                tracing::info!(
                    names = ?names, serial = %certificate.serial, %expires,
                    renewal = slot.certificate.is_some(), "acme: certificate issued"
                );
                slot.schedule.succeeded(certificate.validity);
                slot.certificate = Some(certificate);
            }
            Err(error) => {
                self.metrics.acme_orders.with_label_values(&["error"]).inc();
                let renewal = slot.certificate.is_some();
                if renewal {
                    self.metrics.acme_renewal_failures.inc();
                }
                let retry_in = slot
                    .schedule
                    .failed(SystemTime::now(), rand::random::<f64>());
                tracing::warn!(
                    names = ?names, directory = %slot.settings.directory, %error, renewal,
                    failures = slot.schedule.failures, retry_in = ?retry_in,
                    "acme: order failed; the current certificate keeps serving"
                );
            }
        }
    }
}
