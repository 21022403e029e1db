//! The fleet config's history as the API shows it: a version's metadata ([`VersionMeta`], also
//! the header of the control plane's version files), a version with its config
//! ([`ConfigVersion`]), the version list, and the audit log's lines ([`AuditEntry`], also the
//! lines of its `audit.log`). Reading is strict where the server always writes a field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Weights a region drain set to 0, by region then upstream, remembered so a restore can put
/// them back.
pub type Drained = BTreeMap<String, BTreeMap<String, u32>>;

/// What is known about a version besides its config: each item of `GET /v1/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionMeta {
    pub version: u64,
    /// The token name that made the change.
    pub author: String,
    pub message: String,
    /// RFC 3339 UTC, milliseconds.
    pub time: String,
    /// `replace`, `rollback`, `weight`, `drain`, `restore`, `seed`, ...
    pub action: String,
    /// [`checksum`](crate::checksum) of the config.
    pub checksum: String,
    #[serde(default)]
    pub drained: Drained,
}

/// A version with its fleet config (TOML text): `GET /v1/config` and
/// `GET /v1/versions/{version}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigVersion {
    #[serde(flatten)]
    pub meta: VersionMeta,
    pub config: String,
}

/// `GET /v1/versions`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionList {
    pub versions: Vec<VersionMeta>,
}

/// One line of the audit log: who changed what, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub time: String,
    pub actor: String,
    pub action: String,
    pub version: u64,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub detail: String,
}

/// `GET /v1/audit`: newest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditList {
    pub entries: Vec<AuditEntry>,
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn meta() -> VersionMeta {
        VersionMeta {
            version: 7,
            author: "alice".into(),
            message: "add search".into(),
            time: "2025-06-01T10:00:00.000Z".into(),
            action: "replace".into(),
            checksum: "9f86".into(),
            drained: Drained::from([("eu-west".into(), BTreeMap::from([("api".into(), 100)]))]),
        }
    }

    #[test]
    fn a_version_is_its_meta_and_config_side_by_side() {
        let version = ConfigVersion {
            meta: meta(),
            config: "[upstreams]\n".into(),
        };
        let wire = serde_json::to_value(&version).unwrap();
        assert_eq!(
            wire,
            json!({"version": 7, "author": "alice", "message": "add search",
                   "time": "2025-06-01T10:00:00.000Z", "action": "replace", "checksum": "9f86",
                   "drained": {"eu-west": {"api": 100}}, "config": "[upstreams]\n"})
        );
        assert_eq!(
            serde_json::from_value::<ConfigVersion>(wire).unwrap(),
            version
        );
    }

    #[test]
    fn lists_are_wrapped_in_a_named_field() {
        let list = serde_json::to_value(VersionList {
            versions: vec![meta()],
        })
        .unwrap();
        assert_eq!(list["versions"][0]["author"], "alice");
        let entry: AuditEntry = serde_json::from_str(
            r#"{"time": "T", "actor": "recovered", "action": "recovered", "version": 3}"#,
        )
        .unwrap();
        assert_eq!((entry.message.as_str(), entry.detail.as_str()), ("", ""));
        let audit = serde_json::to_value(AuditList {
            entries: vec![entry],
        })
        .unwrap();
        assert_eq!(audit["entries"][0]["detail"], Value::from(""));
    }
}
