//! The push stream a gateway holds open (`GET /v1/stream`): newline-delimited JSON, one
//! [`StreamMessage`] a line. A message that does not parse is the receiver's to refuse; nothing
//! here can fail but serializing, which cannot.

use serde::{Deserialize, Serialize};

/// `GET` this path (role `gateway`) to hold the push stream open.
pub const STREAM_PATH: &str = "/v1/stream";
/// The stream's content type: one JSON message per line.
pub const NDJSON: &str = "application/x-ndjson";

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
    /// To weir-dns only: the gateways' readiness per region, on connect and on every change.
    /// A gateway (or an older weir-dns) skips it as an unknown kind.
    Gateways(crate::GatewayReadiness),
}

/// A whole config version, pushed to a gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigPush {
    pub version: u64,
    /// [`checksum`](crate::checksum) of `config`: the gateway checks it before applying.
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
}
