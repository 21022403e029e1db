//! The fleet as `GET /v1/gateways` shows it: each gateway's region, connection, the version it
//! runs and its last report. Fields a gateway may not have sent yet are `null`.

use serde::{Deserialize, Serialize};

use crate::report::Outcome;

/// `GET /v1/gateways`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayList {
    /// The current version, `null` before the first.
    pub current_version: Option<u64>,
    pub gateways: Vec<GatewayView>,
}

/// One gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayView {
    pub id: String,
    pub region: Option<String>,
    /// Whether it holds a push stream open now.
    pub connected: bool,
    /// The version it said it serves, `null` before its first report.
    pub applied_version: Option<u64>,
    /// When it published that version (Unix time, µs), if it said.
    pub applied_at_unix_us: Option<u64>,
    pub last_report: Option<LastReport>,
    /// RFC 3339 UTC, milliseconds.
    pub last_seen: String,
}

/// A gateway's last report, as the control plane keeps it (errors capped).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastReport {
    pub version: u64,
    pub outcome: Outcome,
    pub errors: Vec<String>,
    /// RFC 3339 UTC, milliseconds.
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gateway_without_reports_has_nulls() {
        let list = GatewayList {
            current_version: None,
            gateways: vec![GatewayView {
                id: "gw-1".into(),
                region: None,
                connected: false,
                applied_version: None,
                applied_at_unix_us: None,
                last_report: None,
                last_seen: "T".into(),
            }],
        };
        let text = serde_json::to_string(&list).unwrap();
        assert_eq!(
            text,
            r#"{"current_version":null,"gateways":[{"id":"gw-1","region":null,"connected":false,"applied_version":null,"applied_at_unix_us":null,"last_report":null,"last_seen":"T"}]}"#
        );
        assert_eq!(serde_json::from_str::<GatewayList>(&text).unwrap(), list);
    }
}
