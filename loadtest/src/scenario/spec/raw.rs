//! The scenario file's shape as serde reads it: every key optional (a missing one is reported
//! by `validate` with its path), unknown keys refused, and rates as any TOML value so that a
//! rate of the wrong type is one error among the others.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawScenario {
    pub(super) name: Option<String>,
    pub(super) description: Option<String>,
    pub(super) load: Option<RawLoad>,
    #[serde(default)]
    pub(super) assert: Vec<String>,
    #[serde(default)]
    pub(super) phases: Vec<RawPhase>,
    #[serde(default)]
    pub(super) actions: Vec<RawAction>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLoad {
    pub(super) targets: Option<Vec<RawTarget>>,
    pub(super) connections: Option<u32>,
    pub(super) streams: Option<u32>,
    pub(super) threads: Option<u32>,
    pub(super) http2: Option<bool>,
    pub(super) timeout: Option<String>,
    /// Not a load key: caught to explain TOML's table rule (see `validate_load`).
    pub(super) assert: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTarget {
    pub(super) name: Option<String>,
    pub(super) url: Option<String>,
    pub(super) weight: Option<u32>,
    pub(super) method: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    pub(super) body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPhase {
    pub(super) name: Option<String>,
    pub(super) kind: Option<String>,
    /// Rates are checked in `phase_rates` (see the module's doc).
    pub(super) from: Option<toml::Value>,
    pub(super) to: Option<toml::Value>,
    pub(super) rate: Option<toml::Value>,
    pub(super) duration: Option<String>,
    pub(super) weights: Option<BTreeMap<String, u32>>,
    #[serde(default)]
    pub(super) assert: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAction {
    pub(super) name: Option<String>,
    pub(super) at: Option<String>,
    #[serde(default)]
    pub(super) failure: bool,
    pub(super) timeout: Option<String>,
    pub(super) http: Option<RawHttp>,
    pub(super) command: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub(super) method: Option<String>,
    pub(super) url: Option<String>,
    #[serde(default)]
    pub(super) headers: BTreeMap<String, String>,
    pub(super) body: Option<String>,
    pub(super) timeout: Option<String>,
}
