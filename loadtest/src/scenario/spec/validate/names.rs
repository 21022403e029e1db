//! Names of targets, phases and actions: unique within their list, `KIND-N` when not given,
//! and a phase never called `run`.

use std::collections::HashSet;

use super::errors::Errors;

/// Unique names, with `KIND-N` (N from 1) for those not given.
#[derive(Default)]
pub(super) struct Names {
    seen: HashSet<String>,
}

impl Names {
    pub(super) fn take(
        &mut self,
        path: &str,
        given: Option<String>,
        kind: &str,
        index: usize,
        errors: &mut Errors,
    ) -> String {
        let name = given.unwrap_or_else(|| format!("{kind}-{}", index + 1));
        if name.trim().is_empty() {
            errors.add(format!("{path}.name"), "must not be empty");
        } else if name == "run" && kind == "phase" {
            errors.add(format!("{path}.name"), "`run` is the name of the whole run");
        } else if !self.seen.insert(name.clone()) {
            errors.add(
                format!("{path}.name"),
                format!("`{name}` is already the name of another {kind}"),
            );
        }
        name
    }
}
