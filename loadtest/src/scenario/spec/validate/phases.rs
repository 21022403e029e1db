//! `[[phases]]`: each phase's kind, rates, duration, weights and assertions, and its place in
//! the run.

use std::collections::BTreeMap;
use std::time::Duration;

use super::errors::Errors;
use super::names::Names;
use super::values::{assertions, duration, number, rate};
use crate::scenario::spec::model::{MAX_DURATION, Phase, PhaseKind, Target};
use crate::scenario::spec::raw::RawPhase;

/// The valid phases (`None` if any is invalid) and their total length (`None` if a duration is
/// missing or invalid).
pub(super) fn validate_phases(
    raw: Vec<RawPhase>,
    targets: &[Target],
    errors: &mut Errors,
) -> (Option<Vec<Phase>>, Option<Duration>) {
    if raw.is_empty() {
        errors.add("phases", "at least one [[phases]] is needed");
        return (None, None);
    }
    let mut names = Names::default();
    // The sum of the valid durations so far: the next phase's start.
    let mut start = Duration::ZERO;
    let mut durations_known = true;
    let mut phases = Some(Vec::with_capacity(raw.len()));
    for (i, phase) in raw.into_iter().enumerate() {
        let path = format!("phases[{i}]");
        let name = names.take(&path, phase.name.clone(), "phase", i, errors);
        let valid_duration = phase
            .duration
            .as_deref()
            .and_then(|text| humantime::parse_duration(text).ok())
            .is_some_and(|d| !d.is_zero());
        durations_known &= valid_duration;
        let validated = validate_phase(&path, name, &mut start, phase, targets, errors);
        match (validated, phases.as_mut()) {
            (Some(phase), Some(list)) => list.push(phase),
            _ => phases = None,
        }
    }
    if start > MAX_DURATION {
        errors.add(
            "phases",
            format!(
                "the phases add up to {}, more than the limit of 6h",
                humantime::format_duration(start)
            ),
        );
    }
    (phases, durations_known.then_some(start))
}

fn validate_phase(
    path: &str,
    name: String,
    start: &mut Duration,
    raw: RawPhase,
    targets: &[Target],
    errors: &mut Errors,
) -> Option<Phase> {
    let duration = errors
        .required(format!("{path}.duration"), raw.duration.clone())
        .and_then(|text| duration(&format!("{path}.duration"), &text, errors));
    if duration == Some(Duration::ZERO) {
        errors.add(format!("{path}.duration"), "must be more than 0");
    }
    let phase_start = *start;
    *start = start.saturating_add(duration.unwrap_or_default());
    let kind = phase_kind(path, raw.kind.as_deref(), errors);
    let rates = kind.and_then(|kind| phase_rates(path, kind, &raw, errors));
    let weights = phase_weights(path, raw.weights.as_ref(), targets, errors);
    let asserts = assertions(&raw.assert, &format!("{path}.assert"), errors);
    let (rate_from, rate_to) = rates?;
    Some(Phase {
        name,
        kind: kind?,
        start: phase_start,
        duration: duration?,
        rate_from,
        rate_to,
        weights,
        asserts,
    })
}

fn phase_kind(path: &str, kind: Option<&str>, errors: &mut Errors) -> Option<PhaseKind> {
    let path = format!("{path}.kind");
    match errors.required(&path, kind)? {
        "ramp" => Some(PhaseKind::Ramp),
        "steady" => Some(PhaseKind::Steady),
        "spike" => Some(PhaseKind::Spike),
        other => {
            errors.add(
                path,
                format!("unknown kind `{other}`; use ramp, steady or spike"),
            );
            None
        }
    }
}

/// `(rate_from, rate_to)`: a ramp takes `from` and `to`, the others `rate`.
fn phase_rates(
    path: &str,
    kind: PhaseKind,
    raw: &RawPhase,
    errors: &mut Errors,
) -> Option<(f64, f64)> {
    if kind == PhaseKind::Ramp {
        if raw.rate.is_some() {
            errors.add(
                format!("{path}.rate"),
                "a ramp has `from` and `to`, not `rate`",
            );
        }
        let (from_path, to_path) = (format!("{path}.from"), format!("{path}.to"));
        let from = errors
            .required(&from_path, raw.from.as_ref())
            .and_then(|v| number(&from_path, v, errors));
        let to = errors
            .required(&to_path, raw.to.as_ref())
            .and_then(|v| number(&to_path, v, errors));
        let from_ok = from.is_some_and(|r| rate(&from_path, r, true, errors));
        let to_ok = to.is_some_and(|r| rate(&to_path, r, false, errors));
        return (from_ok && to_ok).then_some((from?, to?));
    }
    for (key, value) in [("from", &raw.from), ("to", &raw.to)] {
        if value.is_some() {
            errors.add(
                format!("{path}.{key}"),
                format!(
                    "only a ramp has `from` and `to`; a {} phase has `rate`",
                    kind.as_str()
                ),
            );
        }
    }
    let rate_path = format!("{path}.rate");
    let value = errors.required(&rate_path, raw.rate.as_ref())?;
    let value = number(&rate_path, value, errors)?;
    rate(&rate_path, value, false, errors).then_some((value, value))
}

/// The phase's weights per target (see [`Phase::weights`]).
fn phase_weights(
    path: &str,
    raw: Option<&BTreeMap<String, u32>>,
    targets: &[Target],
    errors: &mut Errors,
) -> Vec<u32> {
    let Some(raw) = raw else {
        return targets.iter().map(|t| t.weight).collect();
    };
    if targets.is_empty() {
        return Vec::new(); // the targets are invalid, and reported already
    }
    for name in raw
        .keys()
        .filter(|n| !targets.iter().any(|t| &t.name == *n))
    {
        let known: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        errors.add(
            format!("{path}.weights.{name}"),
            format!(
                "no target named `{name}`; the targets are: {}",
                known.join(", ")
            ),
        );
    }
    let weights: Vec<u32> = targets
        .iter()
        .map(|t| raw.get(&t.name).copied().unwrap_or(0))
        .collect();
    if weights.iter().all(|&w| w == 0) {
        errors.add(
            format!("{path}.weights"),
            "at least one target needs a weight above 0 (targets left out get 0)",
        );
    }
    weights
}
