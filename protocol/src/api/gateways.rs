//! The fleet as `GET /v1/gateways` shows it: each gateway's region, connection, the version it
//! runs and its last report; weir-dns instances follow the same stream and are listed too, with
//! `kind: "dns"` and their view of the GSLB members. Fields a gateway may not have sent yet are
//! `null`.

use serde::{Deserialize, Serialize};

use crate::DnsView;
use crate::report::Outcome;

/// `GET /v1/gateways`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayList {
    /// The current version, `null` before the first.
    pub current_version: Option<u64>,
    pub gateways: Vec<GatewayView>,
    /// The replica that answered, its store and who leads (older control planes: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ReplicaView>,
}

/// The control-plane replica that answered: `gateways` lists only the gateways connected to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaView {
    /// This replica's identity (`--replica-id`).
    pub replica: String,
    /// `files` or `etcd`.
    pub store: String,
    /// The leading replica's identity (runs the failover policy); `null` while none is known.
    pub leader: Option<String>,
    /// Whether the store's view follows it now (etcd: the watch is connected; files: always).
    pub store_connected: bool,
}

/// What follows the push stream: a gateway, or a weir-dns instance (known by its reports, which
/// carry a member view).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    #[default]
    Gateway,
    Dns,
}

impl NodeKind {
    /// The wire spelling: `gateway` or `dns`.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeKind::Gateway => "gateway",
            NodeKind::Dns => "dns",
        }
    }
}

/// One gateway (or weir-dns instance).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayView {
    pub id: String,
    /// `gateway`, or `dns` once a weir-dns instance has reported (older control planes: absent).
    #[serde(default)]
    pub kind: NodeKind,
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
    /// A weir-dns instance's member view from its last report that had one (capped); absent for
    /// gateways.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns: Option<DnsView>,
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
                kind: NodeKind::Gateway,
                region: None,
                connected: false,
                applied_version: None,
                applied_at_unix_us: None,
                last_report: None,
                last_seen: "T".into(),
                dns: None,
            }],
            control_plane: None,
        };
        let text = serde_json::to_string(&list).unwrap();
        assert_eq!(
            text,
            r#"{"current_version":null,"gateways":[{"id":"gw-1","kind":"gateway","region":null,"connected":false,"applied_version":null,"applied_at_unix_us":null,"last_report":null,"last_seen":"T"}]}"#
        );
        assert_eq!(serde_json::from_str::<GatewayList>(&text).unwrap(), list);
        let older = text.replace(r#""kind":"gateway","#, "");
        assert_eq!(
            serde_json::from_str::<GatewayList>(&older).unwrap(),
            list,
            "a list without kinds (an older control plane) is all gateways"
        );
    }
}
