//! Which top-level keys a document may hold: node keys in a fleet config, and fleet keys in a
//! gateway's file that has `[control_plane]`, are reported on the key and then left unread, so
//! what is inside them adds no errors of its own.

use toml::de::DeTable;

use crate::model::{FleetSettings, NodeSettings};
use crate::report::Reporter;

/// What kind of document is being parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// A gateway's own file: every key, or only the node keys when it has `[control_plane]`.
    GatewayFile,
    /// The fleet config a control plane stores and pushes: only the fleet keys.
    Fleet,
}

/// Reports every top-level key that `scope` does not allow, at the key, and returns their names.
pub(crate) fn refuse_misplaced<'a>(
    document: &'a DeTable<'a>,
    scope: Scope,
    report: &mut Reporter<'_>,
) -> Vec<&'a str> {
    let run_by_control_plane = document
        .iter()
        .any(|(key, _)| key.get_ref() == "control_plane");
    let mut refused = Vec::new();
    for (key, _) in document.iter() {
        let name: &str = key.get_ref();
        let message = match scope {
            Scope::Fleet if NodeSettings::KEYS.contains(&name) => {
                "is set in each gateway's own file, not in the fleet config"
            }
            Scope::GatewayFile if run_by_control_plane && FleetSettings::KEYS.contains(&name) => {
                "comes from the control plane when [control_plane] is set; remove it from this file"
            }
            _ => continue,
        };
        report.error(name, Some(&key.span()), message);
        refused.push(name);
    }
    refused
}
