//! What Weir's control plane and its gateways say to each other: the messages of the push stream
//! (newline-delimited JSON, one message a line) and the report a gateway sends after each config
//! it receives. Both sides use these types, so the wire format is defined once.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

/// `GET` this path (role `gateway`) to hold the push stream open.
pub const STREAM_PATH: &str = "/v1/stream";
/// The stream's content type: one JSON message per line.
pub const NDJSON: &str = "application/x-ndjson";

/// `POST` a [`Report`] here (role `gateway`), with `{id}` the gateway's id.
pub fn report_path(gateway_id: &str) -> String {
    format!("/v1/gateways/{gateway_id}/report")
}

/// One line of the push stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamMessage {
    /// First line on every stream: how often heartbeats come, so the gateway can tell a dead
    /// stream from a quiet one.
    Hello { heartbeat_ms: u64 },
    /// The full fleet config of `version` (TOML text). Sent on connect (when a version exists)
    /// and for each new version as soon as it is stored.
    Config(ConfigPush),
    /// Sent every `heartbeat_ms` when nothing else was.
    Heartbeat,
}

/// A whole config version, pushed to a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPush {
    pub version: u64,
    /// SHA-256 of `config`, hex: the gateway checks it before applying.
    pub checksum: String,
    /// The fleet config, TOML.
    pub config: String,
}

impl StreamMessage {
    /// The message as one NDJSON line, newline included.
    pub fn to_line(&self) -> String {
        let mut line = serde_json::to_string(self).expect("stream messages always serialize");
        line.push('\n');
        line
    }
}

/// What a gateway did with a pushed version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Applied (or already running): the gateway serves this version.
    Ack,
    /// Refused: the gateway still serves the version it had; `errors` say why.
    Nack,
}

/// `POST`ed by a gateway after each pushed version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The gateway's region (`gateway.region`), if it has one.
    #[serde(default)]
    pub region: Option<String>,
    /// The version this report is about.
    pub version: u64,
    pub outcome: Outcome,
    /// Why a NACKed version was refused, one line per problem (with its path).
    #[serde(default)]
    pub errors: Vec<String>,
    /// The version the gateway serves now (after an ACK, `version`; after a NACK, the previous
    /// one, or 0 when it has none).
    pub applied_version: u64,
    /// When the gateway published the version (Unix time, µs); for propagation measurements.
    #[serde(default)]
    pub applied_at_unix_us: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_messages_are_tagged_single_lines() {
        let push = StreamMessage::Config(ConfigPush {
            version: 7,
            checksum: "ab".into(),
            config: "[upstreams.a]\n".into(),
        });
        let line = push.to_line();
        assert!(line.ends_with('\n'));
        assert_eq!(line.matches('\n').count(), 1, "the TOML newline is escaped");
        assert!(line.starts_with(r#"{"type":"config","version":7"#));
        let back: StreamMessage = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(back, push);
        assert_eq!(
            StreamMessage::Heartbeat.to_line(),
            "{\"type\":\"heartbeat\"}\n"
        );
    }

    #[test]
    fn report_defaults_optional_fields() {
        let report: Report =
            serde_json::from_str(r#"{"version":3,"outcome":"nack","applied_version":2}"#).unwrap();
        assert_eq!(report.outcome, Outcome::Nack);
        assert!(report.errors.is_empty());
        assert_eq!(report.region, None);
    }
}
