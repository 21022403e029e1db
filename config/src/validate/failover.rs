//! Rules for `[failover.<upstream>]`: the key names an upstream, `evaluate_every` in `1s..=10m`,
//! fractions in range, counts above zero, and a `ramp` of percentages that strictly increases and
//! ends at `"100%"`. Every problem is reported at its path, e.g. `failover.api.ramp[1]`.

use std::collections::{BTreeMap, HashSet};

use super::checks::{duration_in, integer_in, number_where};
use crate::document::{At, join_index, join_key};
use crate::model::{FailoverPolicy, UnhealthyWhen};
use crate::raw::{RawFailover, RawUnhealthyWhen};
use crate::report::Reporter;

/// The policies by upstream; `upstream_names` are every key written under `upstreams`.
pub(super) fn validate_failover(
    raw: &[RawFailover],
    upstream_names: &HashSet<&str>,
    report: &mut Reporter<'_>,
) -> BTreeMap<String, FailoverPolicy> {
    raw.iter()
        .map(|policy| {
            let path = join_key("failover", &policy.upstream.value);
            if !upstream_names.contains(policy.upstream.value.as_str()) {
                report.error(
                    &path,
                    Some(&policy.upstream.span),
                    format!(
                        "names no upstream: {:?} is not a key of upstreams",
                        policy.upstream.value
                    ),
                );
            }
            (
                policy.upstream.value.clone(),
                validate_policy(policy, &path, report),
            )
        })
        .collect()
}

fn validate_policy(raw: &RawFailover, path: &str, report: &mut Reporter<'_>) -> FailoverPolicy {
    let at = |key: &str| join_key(path, key);
    FailoverPolicy {
        upstream: raw.upstream.value.clone(),
        evaluate_every: duration_in(
            raw.evaluate_every.as_ref(),
            FailoverPolicy::EVALUATE_EVERY_RANGE,
            FailoverPolicy::DEFAULT_EVALUATE_EVERY,
            &at("evaluate_every"),
            report,
        ),
        unhealthy_when: raw
            .unhealthy_when
            .as_ref()
            .map_or_else(UnhealthyWhen::default, |when| {
                validate_unhealthy_when(when, &at("unhealthy_when"), report)
            }),
        quorum: number_where(
            raw.quorum.as_ref(),
            |quorum| quorum > 0.0 && quorum <= 1.0,
            "above 0.0 and at most 1.0",
            FailoverPolicy::DEFAULT_QUORUM,
            &at("quorum"),
            report,
        ),
        drain_after: integer_in(
            raw.drain_after.as_ref(),
            1..=FailoverPolicy::MAX_DRAIN_AFTER,
            FailoverPolicy::DEFAULT_DRAIN_AFTER,
            &at("drain_after"),
            report,
        ),
        restore_after: integer_in(
            raw.restore_after.as_ref(),
            1..=FailoverPolicy::MAX_RESTORE_AFTER,
            FailoverPolicy::DEFAULT_RESTORE_AFTER,
            &at("restore_after"),
            report,
        ),
        ramp: raw
            .ramp
            .as_ref()
            .map_or_else(
                || Some(FailoverPolicy::DEFAULT_RAMP.to_vec()),
                |ramp| validate_ramp(ramp, &at("ramp"), report),
            )
            .unwrap_or_else(|| FailoverPolicy::DEFAULT_RAMP.to_vec()),
        never_drain_last: raw
            .never_drain_last
            .as_ref()
            .is_none_or(|never| never.value),
        max_drained: integer_in(
            raw.max_drained.as_ref(),
            1..=FailoverPolicy::MAX_MAX_DRAINED,
            FailoverPolicy::DEFAULT_MAX_DRAINED,
            &at("max_drained"),
            report,
        ),
    }
}

/// Written, only the conditions it names apply, and it must name one.
fn validate_unhealthy_when(
    raw: &RawUnhealthyWhen,
    path: &str,
    report: &mut Reporter<'_>,
) -> UnhealthyWhen {
    if raw.healthy_fraction_below.is_none() && raw.error_ratio_above.is_none() {
        report.error(
            path,
            Some(&raw.span),
            "must name at least one condition: healthy_fraction_below or error_ratio_above",
        );
        return UnhealthyWhen::default();
    }
    let at = |key: &str| join_key(path, key);
    UnhealthyWhen {
        // A fraction below 0.0 could never be seen, and above 1.0 always would.
        healthy_fraction_below: raw.healthy_fraction_below.as_ref().map(|value| {
            number_where(
                Some(value),
                |fraction| fraction > 0.0 && fraction <= 1.0,
                "above 0.0 and at most 1.0",
                UnhealthyWhen::DEFAULT_HEALTHY_FRACTION_BELOW,
                &at("healthy_fraction_below"),
                report,
            )
        }),
        error_ratio_above: raw.error_ratio_above.as_ref().map(|value| {
            number_where(
                Some(value),
                |ratio| (0.0..1.0).contains(&ratio),
                "at least 0.0 and below 1.0",
                UnhealthyWhen::DEFAULT_ERROR_RATIO_ABOVE,
                &at("error_ratio_above"),
                report,
            )
        }),
    }
}

/// The ramp's percentages; `None` when any step is wrong (each reported).
fn validate_ramp(
    raw: &At<Vec<Option<At<String>>>>,
    path: &str,
    report: &mut Reporter<'_>,
) -> Option<Vec<u32>> {
    if raw.value.is_empty() {
        report.error(
            path,
            Some(&raw.span),
            "must have at least one step, like [\"100%\"]",
        );
        return None;
    }
    if raw.value.len() > FailoverPolicy::MAX_RAMP_STEPS {
        report.error(
            path,
            Some(&raw.span),
            format!(
                "must have at most {} steps, got {}",
                FailoverPolicy::MAX_RAMP_STEPS,
                raw.value.len()
            ),
        );
        return None;
    }
    let mut steps = Vec::with_capacity(raw.value.len());
    let mut valid = true;
    for (index, written) in raw.value.iter().enumerate() {
        let Some(written) = written else {
            valid = false; // not a string: already reported
            continue;
        };
        let at = join_index(path, index);
        match percentage(&written.value) {
            Err(message) => {
                report.error(at, Some(&written.span), message);
                valid = false;
            }
            Ok(step) => {
                if let Some(before) = steps.last().filter(|before| **before >= step) {
                    report.error(
                        at,
                        Some(&written.span),
                        format!("must be above the step before it ({before}%), got {step}%"),
                    );
                    valid = false;
                }
                steps.push(step);
            }
        }
    }
    if valid && steps.last() != Some(&100) {
        report.error(
            path,
            Some(&raw.span),
            "must end at \"100%\" (the operator's weight)",
        );
        valid = false;
    }
    valid.then_some(steps)
}

/// `"10%"` → 10: a whole percentage in `1..=100`.
fn percentage(text: &str) -> Result<u32, String> {
    text.strip_suffix('%')
        .and_then(|number| number.trim().parse::<u32>().ok())
        .filter(|step| (1..=100).contains(step))
        .ok_or_else(|| format!("must be a whole percentage from \"1%\" to \"100%\", got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_whole_and_in_range() {
        assert_eq!(percentage("10%"), Ok(10));
        assert_eq!(percentage("100%"), Ok(100));
        for bad in ["0%", "101%", "10", "1.5%", "%", "-5%"] {
            assert!(percentage(bad).is_err(), "{bad}");
        }
    }
}
