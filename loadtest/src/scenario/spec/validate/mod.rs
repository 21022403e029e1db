//! The rules of a scenario file, from [`raw`](super::raw) to [`model`](super::model): every
//! problem is collected as `path: message` (`phases[2].rate: must be > 0`), none hides another.
//! One submodule per part of the file, and `values` for single values at a path.

mod actions;
mod errors;
mod load;
mod names;
mod phases;
mod values;

use super::model::{Load, Scenario};
use super::raw::RawScenario;
use errors::Errors;

/// The scenario, or every problem found in it.
pub(super) fn scenario(raw: RawScenario) -> Result<Scenario, Vec<String>> {
    let mut errors = Errors::default();
    let scenario = validate(raw, &mut errors);
    match scenario {
        Some(scenario) if errors.0.is_empty() => Ok(scenario),
        _ => Err(errors.0),
    }
}

fn validate(raw: RawScenario, errors: &mut Errors) -> Option<Scenario> {
    let name = errors.required("name", raw.name);
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        errors.add("name", "must not be empty");
    }
    let load = errors
        .required("load", raw.load)
        .and_then(|load| load::validate_load(load, errors));
    let asserts = values::assertions(&raw.assert, "assert", errors);
    let targets = load.as_ref().map_or(&[][..], |l: &Load| &l.targets[..]);
    // The phases' total length is known when their durations are, even if another key of a
    // phase (its rate, its kind) is wrong: the actions are checked against it either way.
    let (phases, total) = phases::validate_phases(raw.phases, targets, errors);
    let actions = actions::validate_actions(raw.actions, total, errors);
    Some(Scenario {
        name: name?,
        description: raw.description,
        load: load?,
        asserts,
        phases: phases?,
        actions,
    })
}
