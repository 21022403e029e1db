//! The background service that follows the control plane: hold `GET /v1/stream` open, apply each
//! pushed version (all or nothing), save it to the cache, report ACK or NACK; treat a stream
//! silent for `stream_timeout` as dead and reconnect with jittered exponential backoff. Requests
//! never wait on any of this: the proxy serves whatever snapshot is published.
//!
//! A pushed version is refused (NACKed, counted as `stale`, logged) when it is 0, older than the
//! version served, or the served version's number with other content: versions only go forward
//! (a rollback is a new version), so such a push comes from a control plane whose store was
//! replaced, or from something that is not the control plane. Reports go through a one-slot
//! mailbox to their own task, so a slow report endpoint never delays applying the next version;
//! a report not yet sent when a newer one is made is replaced by it (the newer one carries the
//! state the control plane shows).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use weir_config::{Config, ControlPlaneSettings};
use weir_protocol::{ConfigPush, Outcome, Report, StreamMessage};
use weir_push_client::mailbox::Mailbox;
pub use weir_push_client::order::{Stale, check_order};
use weir_push_client::report::send_report;

use super::cache;
use super::http::{Endpoint, LinkError, body_text};
use super::lines::Lines;
use crate::reload::{self, Applied};
use crate::resilience::backoff::backoff;
use crate::state::Gateway;

/// Largest stream line accepted: a config is at most 1 MiB, JSON escaping adds some.
const MAX_LINE_BYTES: usize = 8 << 20;

pub struct ControlPlaneClient {
    pub gateway: Arc<Gateway>,
    /// This gateway's own settings (its local file), composed with every pushed fleet config.
    pub node: Arc<Config>,
    pub settings: ControlPlaneSettings,
    pub endpoint: Endpoint,
    pub gateway_id: String,
    pub proxy_addr: std::net::SocketAddr,
}

/// How a stream ended.
#[derive(Debug, thiserror::Error)]
enum StreamEnd {
    #[error(transparent)]
    Link(#[from] LinkError),
    #[error("the control plane refused the stream: {0}")]
    Refused(String),
    #[error("no message for {0:?}: the stream is dead")]
    Timeout(Duration),
    #[error("the control plane closed the stream")]
    Closed,
    #[error("the stream broke: {0}")]
    Broken(String),
    #[error("shutting down")]
    Shutdown,
}

impl StreamEnd {
    fn label(&self) -> &'static str {
        match self {
            StreamEnd::Link(_) | StreamEnd::Broken(_) => "error",
            StreamEnd::Refused(_) => "refused",
            StreamEnd::Timeout(_) => "timeout",
            StreamEnd::Closed | StreamEnd::Shutdown => "closed",
        }
    }
}

#[async_trait]
impl BackgroundService for ControlPlaneClient {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let ready = {
            let (gateway, addr, shutdown) =
                (Arc::clone(&self.gateway), self.proxy_addr, shutdown.clone());
            tokio::spawn(async move {
                crate::listener::mark_ready_when_listening(&gateway, addr, shutdown).await;
            })
        };
        // The reporter runs beside the stream (polled by this task, never awaited by it).
        let reports = Mailbox::default();
        let reporter = self.report_loop(&reports, shutdown.clone());
        let follower = self.follow_loop(&reports, &mut shutdown);
        tokio::select! {
            () = follower => {}
            () = reporter => {}
        }
        ready.abort();
    }
}

impl ControlPlaneClient {
    /// Follows the stream until shutdown, reconnecting with backoff.
    async fn follow_loop(&self, reports: &Mailbox, shutdown: &mut ShutdownWatch) {
        let mut failures: u32 = 0;
        loop {
            let mut heard = false;
            let end = self.follow(shutdown, &mut heard, reports).await;
            self.gateway.metrics.control_plane_connected.set(0);
            if matches!(end, StreamEnd::Shutdown) {
                break;
            }
            self.gateway
                .metrics
                .control_plane_streams
                .with_label_values(&[end.label()])
                .inc();
            failures = if heard { 1 } else { failures.saturating_add(1) };
            let wait = backoff(
                failures.min(16),
                self.settings.reconnect_backoff,
                self.settings.max_reconnect_backoff,
                &mut rand::rng(),
            );
            tracing::warn!(
                url = self.endpoint.show(weir_protocol::STREAM_PATH), error = %end,
                serving_version = self.gateway.snapshot().version,
                retry_in_ms = wait.as_millis() as u64, "control-plane stream down; serving the last config"
            );
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = shutdown.changed() => break,
            }
        }
    }

    /// Opens the stream and applies what it carries until it ends. `heard` is set once the
    /// control plane said anything, so the backoff starts over after a good connection.
    async fn follow(
        &self,
        shutdown: &mut ShutdownWatch,
        heard: &mut bool,
        reports: &Mailbox,
    ) -> StreamEnd {
        let region = self.node.node.gateway.region.as_deref();
        let path = match region {
            Some(region) => format!(
                "{}?gateway={}&region={region}",
                weir_protocol::STREAM_PATH,
                self.gateway_id
            ),
            None => format!("{}?gateway={}", weir_protocol::STREAM_PATH, self.gateway_id),
        };
        let response = tokio::select! {
            response = self.endpoint.send(Method::GET, &path, None) => response,
            _ = shutdown.changed() => return StreamEnd::Shutdown,
        };
        let response = match response {
            Ok(response) => response,
            Err(e) => return e.into(),
        };
        if response.status() != StatusCode::OK {
            let status = response.status();
            let body = body_text(response.into_body()).await;
            return StreamEnd::Refused(format!("{status}: {body}"));
        }
        self.gateway.metrics.control_plane_connected.set(1);
        tracing::info!(url = self.endpoint.show(&path), "control-plane stream open");
        let mut body = response.into_body();
        let mut lines = Lines::new(MAX_LINE_BYTES);
        let timeout = self.settings.stream_timeout;
        loop {
            let frame = tokio::select! {
                frame = tokio::time::timeout(timeout, body.frame()) => frame,
                _ = shutdown.changed() => return StreamEnd::Shutdown,
            };
            let chunk = match frame {
                Err(_) => return StreamEnd::Timeout(timeout),
                Ok(None) => return StreamEnd::Closed,
                Ok(Some(Err(e))) => return StreamEnd::Broken(e.to_string()),
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_) => continue, // trailers carry nothing for us
                },
            };
            let complete = match lines.push(&chunk) {
                Ok(complete) => complete,
                Err(e) => return StreamEnd::Broken(e.to_string()),
            };
            for line in complete {
                *heard = true;
                match serde_json::from_slice::<StreamMessage>(&line) {
                    Ok(StreamMessage::Config(push)) => self.receive(push, reports).await,
                    Ok(StreamMessage::Hello { heartbeat_ms }) => {
                        if Duration::from_millis(heartbeat_ms.saturating_mul(2)) > timeout {
                            tracing::warn!(
                                heartbeat_ms,
                                stream_timeout_ms = timeout.as_millis() as u64,
                                "control_plane.stream_timeout is under two heartbeats: a quiet stream may be taken for dead"
                            );
                        }
                    }
                    Ok(StreamMessage::Heartbeat | StreamMessage::Gateways(_)) => {}
                    // A newer control plane may send kinds this gateway does not know: skip them.
                    Err(e) => tracing::warn!(error = %e, "unreadable stream message skipped"),
                }
            }
        }
    }

    /// Applies one pushed version, caches it when applied, and reports the outcome.
    async fn receive(&self, push: ConfigPush, reports: &Mailbox) {
        let version = push.version;
        let serving = self.gateway.snapshot();
        if let Err(stale) = check_order(&push, (serving.version, &serving.checksum)) {
            self.gateway
                .metrics
                .control_plane_pushes
                .with_label_values(&["stale"])
                .inc();
            tracing::warn!(
                pushed_version = version, serving_version = serving.version, error = %stale,
                "pushed version refused: versions only go forward"
            );
            self.queue_report(
                reports,
                Report {
                    region: self.node.node.gateway.region.clone(),
                    version,
                    outcome: Outcome::Nack,
                    errors: vec![stale.to_string()],
                    applied_version: serving.version,
                    applied_at_unix_us: None,
                    dns: None,
                },
            );
            return;
        }
        drop(serving);
        let result = reload::apply_pushed(
            &self.gateway,
            &self.node,
            &push,
            "control_plane",
            Instant::now(),
        );
        let applied_at = SystemTime::now();
        let (outcome, errors) = match &result {
            Ok(_) => (Outcome::Ack, Vec::new()),
            Err(reload::ReloadError::Invalid(errors)) => (
                Outcome::Nack,
                errors.iter().map(ToString::to_string).collect(),
            ),
            Err(e) => (Outcome::Nack, vec![e.to_string()]),
        };
        // Every error is in the log above; the report carries what the control plane keeps.
        let errors = weir_protocol::cap_errors(errors);
        if let Ok(Applied::Changed { .. }) = &result {
            self.save_cache(push).await;
        }
        self.gateway
            .metrics
            .control_plane_pushes
            .with_label_values(&[match outcome {
                Outcome::Ack => "ack",
                Outcome::Nack => "nack",
            }])
            .inc();
        let snapshot = self.gateway.snapshot();
        let report = Report {
            region: self.node.node.gateway.region.clone(),
            version,
            outcome,
            errors,
            applied_version: snapshot.version,
            applied_at_unix_us: match result {
                Ok(Applied::Changed { .. }) => unix_us(applied_at),
                _ => None,
            },
            dns: None,
        };
        self.queue_report(reports, report);
    }

    /// Hands `report` to the reporter task without waiting; a report still unsent is replaced.
    fn queue_report(&self, reports: &Mailbox, report: Report) {
        let replaced = reports.post(report);
        if let Some(old) = replaced {
            self.gateway
                .metrics
                .control_plane_reports
                .with_label_values(&["superseded"])
                .inc();
            tracing::debug!(
                version = old.version,
                "an unsent report was replaced by a newer one"
            );
        }
    }

    async fn save_cache(&self, push: ConfigPush) {
        let path: PathBuf = self.settings.cache_path.clone();
        let version = push.version;
        let saved = tokio::task::spawn_blocking(move || cache::save(&path, &push)).await;
        match saved {
            Ok(Ok(())) => tracing::debug!(version, "config cached"),
            Ok(Err(e)) => tracing::error!(
                version, path = %self.settings.cache_path.display(), error = %e,
                "cannot write the config cache; a restart without the control plane would serve an older version"
            ),
            Err(e) => tracing::error!(version, error = %e, "the cache write was cancelled"),
        }
    }
}

/// Posting reports, one at a time, off the stream's path: the newest report in the mailbox is
/// taken and sent (within `weir_push_client::report::REPORT_TIMEOUT`); what is not sent is counted and logged.
impl ControlPlaneClient {
    async fn report_loop(&self, mailbox: &Mailbox, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                () = mailbox.posted.notified() => {}
                _ = shutdown.changed() => return,
            }
            let Some(report) = mailbox.take() else {
                continue;
            };
            let outcome = send_report(&self.endpoint, &self.gateway_id, &report).await;
            self.gateway
                .metrics
                .control_plane_reports
                .with_label_values(&[outcome])
                .inc();
        }
    }
}

fn unix_us(time: SystemTime) -> Option<u64> {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_micros()).ok())
}
