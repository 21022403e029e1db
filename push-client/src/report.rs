//! Sending one ACK/NACK report to the control plane, the same way for every follower.

use std::time::Duration;

use http::Method;
use weir_protocol::Report;

use crate::http::{Endpoint, body_text};

/// How long one report may take before it is given up (the next one replaces it).
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// Posts `report` for follower `id`; returns the outcome label: `sent`, `refused`, `failed` or
/// `timeout` (each but `sent` also logged).
pub async fn send_report(endpoint: &Endpoint, id: &str, report: &Report) -> &'static str {
    let path = weir_protocol::report_path(id);
    let body = serde_json::to_vec(report).unwrap_or_default();
    let sent = tokio::time::timeout(
        REPORT_TIMEOUT,
        endpoint.send(Method::POST, &path, Some(body)),
    )
    .await;
    match sent {
        Ok(Ok(response)) if response.status().is_success() => "sent",
        Ok(Ok(response)) => {
            let status = response.status();
            let body = body_text(response.into_body()).await;
            tracing::warn!(version = report.version, %status, body, "the control plane refused a report");
            "refused"
        }
        Ok(Err(e)) => {
            tracing::warn!(version = report.version, error = %e, "cannot send a report");
            "failed"
        }
        Err(_) => {
            tracing::warn!(version = report.version, "a report timed out");
            "timeout"
        }
    }
}
