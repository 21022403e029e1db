//! Sending one ACK/NACK report, or one health summary, to the control plane, the same way for
//! every follower: one JSON `POST`, bounded in time, its outcome as a label.

use std::time::Duration;

use http::Method;
use weir_protocol::{Report, Telemetry};

use crate::http::{Endpoint, body_text};

/// How long one report may take before it is given up (the next one replaces it).
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a post did not go through: its outcome label (`refused`, `failed` or `timeout`) and
/// what was said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotSent {
    pub outcome: &'static str,
    pub detail: String,
}

/// Posts `report` for follower `id`; returns the outcome label: `sent`, `refused`, `failed` or
/// `timeout` (each but `sent` also logged).
pub async fn send_report(endpoint: &Endpoint, id: &str, report: &Report) -> &'static str {
    let body = serde_json::to_vec(report).unwrap_or_default();
    match post(
        endpoint,
        &weir_protocol::report_path(id),
        body,
        REPORT_TIMEOUT,
    )
    .await
    {
        Ok(()) => "sent",
        Err(NotSent { outcome, detail }) => {
            let version = report.version;
            match outcome {
                "refused" => {
                    tracing::warn!(version, detail, "the control plane refused a report");
                }
                "timeout" => tracing::warn!(version, "a report timed out"),
                _ => tracing::warn!(version, error = detail, "cannot send a report"),
            }
            outcome
        }
    }
}

/// Posts `telemetry` for follower `id` within `timeout`; the caller logs and counts what was
/// not sent (a summary is sent every few seconds: it decides how loudly).
pub async fn send_telemetry(
    endpoint: &Endpoint,
    id: &str,
    telemetry: &Telemetry,
    timeout: Duration,
) -> Result<(), NotSent> {
    let body = serde_json::to_vec(telemetry).unwrap_or_default();
    post(endpoint, &weir_protocol::telemetry_path(id), body, timeout).await
}

/// One JSON `POST` to `path`, given up after `timeout`.
async fn post(
    endpoint: &Endpoint,
    path: &str,
    body: Vec<u8>,
    timeout: Duration,
) -> Result<(), NotSent> {
    let sent = tokio::time::timeout(timeout, endpoint.send(Method::POST, path, Some(body))).await;
    match sent {
        Ok(Ok(response)) if response.status().is_success() => Ok(()),
        Ok(Ok(response)) => {
            let status = response.status();
            let body = body_text(response.into_body()).await;
            Err(NotSent {
                outcome: "refused",
                detail: format!("{status}: {body}"),
            })
        }
        Ok(Err(e)) => Err(NotSent {
            outcome: "failed",
            detail: e.to_string(),
        }),
        Err(_) => Err(NotSent {
            outcome: "timeout",
            detail: format!("no answer within {timeout:?}"),
        }),
    }
}
