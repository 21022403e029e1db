//! The gateways' health summaries as `GET /v1/telemetry` shows them: per gateway, whether it is
//! stale (no summary within 3 of its intervals), when it was last heard, how many summaries its
//! window keeps and its latest summary.

use serde::{Deserialize, Serialize};

use crate::Telemetry;

/// `GET /v1/telemetry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TelemetryList {
    /// The current version, `null` before the first (to compare with each gateway's).
    pub current_version: Option<u64>,
    /// Every gateway that sent a summary, by id.
    pub gateways: Vec<GatewayTelemetryView>,
}

/// One gateway's telemetry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayTelemetryView {
    pub id: String,
    /// The region its latest summary named.
    pub region: Option<String>,
    /// No summary came within `stale_after_ms`: its latest summary is no evidence of health.
    pub stale: bool,
    /// When its latest summary arrived: RFC 3339 UTC, milliseconds.
    pub last_seen: String,
    /// Milliseconds since then.
    pub age_ms: u64,
    /// 3 × its interval (the longest `interval_ms` its window keeps).
    pub stale_after_ms: u64,
    /// Summaries its window keeps now (bounded by count, age and pools).
    pub window: usize,
    /// Its latest summary.
    pub latest: Telemetry,
}
