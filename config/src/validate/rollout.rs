//! Rules for `[rollout]`: durations and numbers in range, and `evaluate_every` not longer than
//! `bake`. Every problem is reported at its path, e.g. `rollout.max_p99_ratio`.

use super::checks::{duration_in, integer_in, number_where, show};
use crate::document::join_key;
use crate::model::RolloutSettings;
use crate::raw::RawRollout;
use crate::report::Reporter;

pub(super) fn validate_rollout(raw: &RawRollout, report: &mut Reporter<'_>) -> RolloutSettings {
    let at = |key: &str| join_key("rollout", key);
    let bake = duration_in(
        raw.bake.as_ref(),
        RolloutSettings::BAKE_RANGE,
        RolloutSettings::DEFAULT_BAKE,
        &at("bake"),
        report,
    );
    let evaluate_every = duration_in(
        raw.evaluate_every.as_ref(),
        RolloutSettings::EVALUATE_EVERY_RANGE,
        RolloutSettings::DEFAULT_EVALUATE_EVERY.min(bake),
        &at("evaluate_every"),
        report,
    );
    if let Some(written) = &raw.evaluate_every
        && evaluate_every > bake
        && !report.has_error_at(&at("bake"))
    {
        report.error(
            at("evaluate_every"),
            Some(&written.span),
            format!(
                "must not be longer than bake ({} > {}): the bake would end before its first \
                 evaluation",
                show(evaluate_every),
                show(bake)
            ),
        );
    }
    let (min_ratio, max_ratio) = RolloutSettings::MAX_P99_RATIO_RANGE;
    RolloutSettings {
        bake,
        evaluate_every,
        max_error_ratio_increase: number_where(
            raw.max_error_ratio_increase.as_ref(),
            |increase| (0.0..=1.0).contains(&increase),
            "between 0.0 and 1.0",
            RolloutSettings::DEFAULT_MAX_ERROR_RATIO_INCREASE,
            &at("max_error_ratio_increase"),
            report,
        ),
        max_p99_ratio: number_where(
            raw.max_p99_ratio.as_ref(),
            |ratio| (min_ratio..=max_ratio).contains(&ratio),
            "between 1.0 and 100.0",
            RolloutSettings::DEFAULT_MAX_P99_RATIO,
            &at("max_p99_ratio"),
            report,
        ),
        min_p99_increase: duration_in(
            raw.min_p99_increase.as_ref(),
            (
                std::time::Duration::ZERO,
                RolloutSettings::MAX_MIN_P99_INCREASE,
            ),
            RolloutSettings::DEFAULT_MIN_P99_INCREASE,
            &at("min_p99_increase"),
            report,
        ),
        min_requests: integer_in(
            raw.min_requests.as_ref(),
            1..=RolloutSettings::MAX_MIN_REQUESTS,
            RolloutSettings::DEFAULT_MIN_REQUESTS,
            &at("min_requests"),
            report,
        ),
        stale_grace: duration_in(
            raw.stale_grace.as_ref(),
            RolloutSettings::STALE_GRACE_RANGE,
            RolloutSettings::DEFAULT_STALE_GRACE,
            &at("stale_grace"),
            report,
        ),
    }
}
