//! The answers to changes: every write answers with the version it stored (`201`) or, when the
//! change changed nothing, the current version and `"changed": false` (`200`), plus what that
//! kind of change reports ([`Written`] of a detail type). A dry run of `PUT /v1/config` answers
//! [`DryRun`] instead. Also the one JSON request body, [`WeightBody`].

use serde::{Deserialize, Serialize};

/// The answer to a change. On the wire the detail's fields sit beside `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written<T> {
    /// The version stored, or the current one when nothing was stored.
    pub version: u64,
    /// `false` when nothing was stored (the change would change nothing); absent, and so
    /// `true`, when `version` is new.
    #[serde(default = "stored", skip_serializing_if = "is_stored")]
    pub changed: bool,
    #[serde(flatten)]
    pub detail: T,
}

fn stored() -> bool {
    true
}

fn is_stored(changed: &bool) -> bool {
    *changed
}

/// `PUT /v1/config`: what a dry run would change, or what the write did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConfigWrite {
    DryRun(DryRun),
    Written(Written<ConfigChanges>),
}

/// `PUT /v1/config?dry_run=true`: nothing is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DryRun {
    /// The version the changes are against; 0 when there is none yet.
    pub base_version: u64,
    /// What would change, one line each (`path: old -> new`).
    pub changes: Vec<String>,
    /// Always `true`: tells a dry run's answer from a write's.
    pub dry_run: bool,
}

/// The detail of a `PUT /v1/config` that stored a version: what changed, one line each. Absent
/// when nothing was stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigChanges {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<Vec<String>>,
    /// The rollout a `canary=` write started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Box<super::RolloutView>>,
}

/// The detail of a rollback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    pub rolled_back_to: u64,
}

/// The detail of a weight change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WeightSet {
    /// The pool's weight before the change.
    pub previous_weight: Option<u32>,
    /// Why the change may have no visible effect (a `nearest` upstream).
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// The detail of an endpoint drain or restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSet {
    /// The endpoint, `ip:port`.
    pub endpoint: String,
    /// The pools it was drained or restored in, `upstream/region`.
    pub pools: Vec<String>,
}

/// The detail of a region restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRestored {
    /// Pools remembered by the drain that are gone from the config, so not restored.
    pub skipped: Vec<String>,
}

/// The body of `PUT /v1/upstreams/{upstream}/pools/{region}/weight`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightBody {
    /// 0 to 100; 0 sends the pool no traffic.
    pub weight: u32,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changed_is_said_only_when_nothing_was_stored() {
        let stored = Written {
            version: 9,
            changed: true,
            detail: RolledBack { rolled_back_to: 5 },
        };
        assert_eq!(
            serde_json::to_value(&stored).unwrap(),
            json!({"version": 9, "rolled_back_to": 5})
        );
        let unchanged = Written {
            changed: false,
            ..stored.clone()
        };
        let wire = serde_json::to_value(&unchanged).unwrap();
        assert_eq!(
            wire,
            json!({"version": 9, "changed": false, "rolled_back_to": 5})
        );
        assert_eq!(
            serde_json::from_value::<Written<RolledBack>>(wire).unwrap(),
            unchanged
        );
        let drained: Written<()> = serde_json::from_str(r#"{"version": 3}"#).unwrap();
        assert!(drained.changed);
        assert_eq!(serde_json::to_string(&drained).unwrap(), r#"{"version":3}"#);
    }

    #[test]
    fn config_writes_tell_dry_runs_from_writes() {
        let dry: ConfigWrite =
            serde_json::from_str(r#"{"dry_run": true, "base_version": 7, "changes": ["a"]}"#)
                .unwrap();
        assert!(matches!(
            dry,
            ConfigWrite::DryRun(DryRun {
                base_version: 7,
                ..
            })
        ));
        let stored: ConfigWrite =
            serde_json::from_str(r#"{"version": 8, "changes": ["x: 1 -> 5"]}"#).unwrap();
        let ConfigWrite::Written(written) = &stored else {
            panic!("{stored:?}")
        };
        assert!(written.changed);
        assert_eq!(
            written.detail.changes.as_deref(),
            Some(&["x: 1 -> 5".to_string()][..])
        );
        let unchanged = ConfigWrite::Written(Written {
            version: 7,
            changed: false,
            detail: ConfigChanges::default(),
        });
        assert_eq!(
            serde_json::to_string(&unchanged).unwrap(),
            r#"{"version":7,"changed":false}"#
        );
    }

    #[test]
    fn weight_answers_keep_a_null_previous_weight() {
        let written = Written {
            version: 10,
            changed: true,
            detail: WeightSet::default(),
        };
        assert_eq!(
            serde_json::to_value(&written).unwrap(),
            json!({"version": 10, "previous_weight": null, "warnings": []})
        );
        assert_eq!(
            serde_json::to_string(&WeightBody { weight: 0 }).unwrap(),
            r#"{"weight":0}"#
        );
        assert!(serde_json::from_str::<WeightBody>(r#"{"weight": 1, "x": 2}"#).is_err());
    }
}
