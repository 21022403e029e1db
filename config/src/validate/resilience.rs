//! Rules for the resilience settings: a route's timeouts, priority, retry policy and fault
//! injection; an upstream's retry budget, circuit breaker, slow start and bulkhead; and the
//! gateway's `[load_shedding]`. Every problem is reported with its path; a bad value falls back
//! to its default so the other checks still run.

use std::time::Duration;

use super::checks::{
    duration_up_to, fraction, integer_in, is_token_char, one_of, positive_duration, show,
};
use crate::document::{At, join_index, join_key};
use crate::model::{
    AdaptiveLimit, Bulkhead, CircuitBreaker, FaultInjection, LoadShedding, Priority, RetryBudget,
    RetryPolicy, Upstream,
};
use crate::raw::{
    RawBulkhead, RawCircuitBreaker, RawFault, RawLoadShedding, RawRetry, RawRetryBudget, RawRoute,
    RawUpstream,
};
use crate::report::Reporter;

/// A route's resilience settings.
pub(super) struct RouteResilience {
    pub(super) read_timeout: Duration,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) priority: Priority,
    pub(super) retry: RetryPolicy,
    pub(super) fault: Option<FaultInjection>,
}

pub(super) fn validate_route(
    raw: &RawRoute,
    path: &str,
    timeout: Duration,
    report: &mut Reporter<'_>,
) -> RouteResilience {
    let at = |key: &str| join_key(path, key);
    RouteResilience {
        read_timeout: positive_duration(
            raw.read_timeout.as_ref(),
            timeout,
            &at("read_timeout"),
            report,
        ),
        connect_timeout: raw.connect_timeout.as_ref().map(|value| {
            positive_duration(
                Some(value),
                Duration::from_secs(1),
                &at("connect_timeout"),
                report,
            )
        }),
        priority: one_of(
            raw.priority.as_ref(),
            &[
                ("critical", Priority::Critical),
                ("normal", Priority::Normal),
                ("optional", Priority::Optional),
            ],
            Priority::default(),
            &at("priority"),
            report,
        ),
        retry: validate_retry(&raw.retry, &at("retry"), report),
        fault: raw
            .fault
            .as_ref()
            .map(|fault| validate_fault(fault, &at("fault"), report)),
    }
}

fn validate_retry(raw: &RawRetry, path: &str, report: &mut Reporter<'_>) -> RetryPolicy {
    let defaults = RetryPolicy::default();
    let at = |key: &str| join_key(path, key);
    let backoff = raw.backoff.as_ref().map_or(defaults.backoff, |value| {
        if value.value > RetryPolicy::MAX_BACKOFF {
            let message = format!(
                "must be at most {}, got {}",
                show(RetryPolicy::MAX_BACKOFF),
                show(value.value)
            );
            report.error(at("backoff"), Some(&value.span), message);
            defaults.backoff
        } else {
            value.value
        }
    });
    let max_backoff = duration_up_to(
        raw.max_backoff.as_ref(),
        defaults.max_backoff.max(backoff),
        RetryPolicy::MAX_BACKOFF,
        &at("max_backoff"),
        report,
    );
    check_not_shorter(
        raw.max_backoff.as_ref(),
        max_backoff,
        ("backoff", backoff),
        path,
        "max_backoff",
        report,
    );
    RetryPolicy {
        attempts: integer_in(
            raw.attempts.as_ref(),
            1..=RetryPolicy::MAX_ATTEMPTS,
            defaults.attempts,
            &at("attempts"),
            report,
        ),
        statuses: raw.statuses.as_ref().map_or(defaults.statuses, |statuses| {
            validate_statuses(statuses, &at("statuses"), report)
        }),
        on_reset: raw.on_reset.as_ref().map_or(defaults.on_reset, |v| v.value),
        non_idempotent: raw
            .non_idempotent
            .as_ref()
            .map_or(defaults.non_idempotent, |v| v.value),
        backoff,
        max_backoff: max_backoff.max(backoff),
    }
}

fn validate_statuses(
    statuses: &At<Vec<Option<At<i64>>>>,
    path: &str,
    report: &mut Reporter<'_>,
) -> Vec<u16> {
    let mut valid: Vec<u16> = Vec::new();
    for (index, status) in statuses.value.iter().enumerate() {
        let Some(status) = status else { continue };
        let at = join_index(path, index);
        match u16::try_from(status.value) {
            Ok(code) if (500..=599).contains(&code) => {
                if valid.contains(&code) {
                    report.error(at, Some(&status.span), format!("{code} is listed twice"));
                } else {
                    valid.push(code);
                }
            }
            _ => report.error(
                at,
                Some(&status.span),
                format!("must be a 5xx status (500 to 599), got {}", status.value),
            ),
        }
    }
    valid
}

fn validate_fault(raw: &RawFault, path: &str, report: &mut Reporter<'_>) -> FaultInjection {
    let at = |key: &str| join_key(path, key);
    if raw.delay.is_none() && raw.abort_status.is_none() {
        report.error(
            path,
            Some(&raw.span),
            "a fault needs a delay, an abort_status or both",
        );
    }
    let needs = |value: bool, key: &str, needed: &str, report: &mut Reporter<'_>| {
        if value {
            report.error(at(key), Some(&raw.span), format!("needs {needed}"));
        }
    };
    needs(
        raw.delay_percent.is_some() && raw.delay.is_none(),
        "delay_percent",
        "delay",
        report,
    );
    needs(
        raw.abort_percent.is_some() && raw.abort_status.is_none(),
        "abort_percent",
        "abort_status",
        report,
    );
    needs(
        raw.header_value.is_some() && raw.header.is_none(),
        "header_value",
        "header",
        report,
    );
    let header = raw.header.as_ref().and_then(|name| {
        if !name.value.is_empty() && name.value.chars().all(is_token_char) {
            Some(name.value.to_ascii_lowercase())
        } else {
            report.error(
                at("header"),
                Some(&name.span),
                format!(
                    "{:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                    name.value
                ),
            );
            None
        }
    });
    let header_value = raw.header_value.as_ref().and_then(|value| {
        if http_value_ok(&value.value) {
            Some(value.value.clone())
        } else {
            report.error(
                at("header_value"),
                Some(&value.span),
                "must be visible ASCII (and spaces), no control characters",
            );
            None
        }
    });
    let delay = raw.delay.as_ref().map(|_| {
        duration_up_to(
            raw.delay.as_ref(),
            Duration::from_millis(1),
            Duration::from_secs(3600),
            &at("delay"),
            report,
        )
    });
    let abort_status = raw
        .abort_status
        .as_ref()
        .map(|status| match u16::try_from(status.value) {
            Ok(code) if (400..=599).contains(&code) => code,
            _ => {
                report.error(
                    at("abort_status"),
                    Some(&status.span),
                    format!("must be between 400 and 599, got {}", status.value),
                );
                503
            }
        });
    FaultInjection {
        header,
        header_value,
        delay,
        delay_percent: percent(raw.delay_percent.as_ref(), &at("delay_percent"), report),
        abort_status,
        abort_percent: percent(raw.abort_percent.as_ref(), &at("abort_percent"), report),
    }
}

/// A header value Weir can compare against: visible ASCII and spaces.
fn http_value_ok(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
}

/// `key` (written as `value`, read as `max`) must not be shorter than the duration `base` names;
/// checked only when neither has an error of its own.
fn check_not_shorter(
    value: Option<&At<Duration>>,
    max: Duration,
    (base_key, base): (&str, Duration),
    path: &str,
    key: &str,
    report: &mut Reporter<'_>,
) {
    let (at, base_at) = (join_key(path, key), join_key(path, base_key));
    if let Some(value) = value
        && !report.has_error_at(&at)
        && !report.has_error_at(&base_at)
        && max < base
    {
        report.error(
            at,
            Some(&value.span),
            format!(
                "must not be shorter than {base_key} ({} < {})",
                show(max),
                show(base)
            ),
        );
    }
}

/// A number that passes `ok`, or `default` when absent or not; `allowed` says which (for the
/// message, e.g. "between 1.0 and 10.0").
fn number_where(
    value: Option<&At<f64>>,
    ok: impl Fn(f64) -> bool,
    allowed: &str,
    default: f64,
    path: &str,
    report: &mut Reporter<'_>,
) -> f64 {
    match value {
        None => default,
        Some(v) if ok(v.value) => v.value,
        Some(v) => {
            report.error(
                path,
                Some(&v.span),
                format!("must be {allowed}, got {}", v.value),
            );
            default
        }
    }
}

/// A percentage in `0.0..=100.0`, default 100.
fn percent(value: Option<&At<f64>>, path: &str, report: &mut Reporter<'_>) -> f64 {
    let ok = |p: f64| (0.0..=100.0).contains(&p);
    number_where(value, ok, "between 0 and 100", 100.0, path, report)
}

/// A share above 0 and at most 1 (a breaker's failure rate, a class's share of a cap).
fn share(value: Option<&At<f64>>, default: f64, path: &str, report: &mut Reporter<'_>) -> f64 {
    let ok = |v: f64| v > 0.0 && v <= 1.0;
    number_where(
        value,
        ok,
        "above 0.0 and at most 1.0",
        default,
        path,
        report,
    )
}

/// An upstream's resilience settings.
pub(super) struct UpstreamResilience {
    pub(super) retry_budget: RetryBudget,
    pub(super) circuit_breaker: CircuitBreaker,
    pub(super) slow_start: Duration,
    pub(super) bulkhead: Bulkhead,
}

pub(super) fn validate_upstream(
    raw: &RawUpstream,
    path: &str,
    report: &mut Reporter<'_>,
) -> UpstreamResilience {
    let at = |key: &str| join_key(path, key);
    let slow_start = match &raw.slow_start {
        None => Upstream::DEFAULT_SLOW_START,
        Some(value) if value.value > Upstream::MAX_SLOW_START => {
            report.error(
                at("slow_start"),
                Some(&value.span),
                format!(
                    "must be at most {}, got {}",
                    show(Upstream::MAX_SLOW_START),
                    show(value.value)
                ),
            );
            Upstream::DEFAULT_SLOW_START
        }
        Some(value) => value.value,
    };
    UpstreamResilience {
        retry_budget: validate_budget(&raw.retry_budget, &at("retry_budget"), report),
        circuit_breaker: validate_breaker(&raw.circuit_breaker, &at("circuit_breaker"), report),
        slow_start,
        bulkhead: validate_bulkhead(&raw.bulkhead, &at("bulkhead"), report),
    }
}

/// A duration in `min..=max`, or `default` when absent or out of range.
fn duration_in(
    value: Option<&At<Duration>>,
    min: Duration,
    max: Duration,
    default: Duration,
    path: &str,
    report: &mut Reporter<'_>,
) -> Duration {
    match value {
        None => default,
        Some(v) if v.value >= min && v.value <= max => v.value,
        Some(v) => {
            report.error(
                path,
                Some(&v.span),
                format!(
                    "must be between {} and {}, got {}",
                    show(min),
                    show(max),
                    show(v.value)
                ),
            );
            default
        }
    }
}

fn validate_budget(raw: &RawRetryBudget, path: &str, report: &mut Reporter<'_>) -> RetryBudget {
    let defaults = RetryBudget::default();
    let at = |key: &str| join_key(path, key);
    RetryBudget {
        ratio: fraction(raw.ratio.as_ref(), defaults.ratio, &at("ratio"), report),
        min_per_second: integer_in(
            raw.min_per_second.as_ref(),
            0..=100_000,
            defaults.min_per_second,
            &at("min_per_second"),
            report,
        ),
        window: duration_in(
            raw.window.as_ref(),
            Duration::from_secs(1),
            Duration::from_secs(60),
            defaults.window,
            &at("window"),
            report,
        ),
    }
}

fn validate_breaker(
    raw: &RawCircuitBreaker,
    path: &str,
    report: &mut Reporter<'_>,
) -> CircuitBreaker {
    let defaults = CircuitBreaker::default();
    let at = |key: &str| join_key(path, key);
    let failure_rate = share(
        raw.failure_rate.as_ref(),
        defaults.failure_rate,
        &at("failure_rate"),
        report,
    );
    let open_for = positive_duration(
        raw.open_for.as_ref(),
        defaults.open_for,
        &at("open_for"),
        report,
    );
    let max_open_for = positive_duration(
        raw.max_open_for.as_ref(),
        defaults.max_open_for.max(open_for),
        &at("max_open_for"),
        report,
    );
    check_not_shorter(
        raw.max_open_for.as_ref(),
        max_open_for,
        ("open_for", open_for),
        path,
        "max_open_for",
        report,
    );
    CircuitBreaker {
        enabled: raw.enabled.as_ref().map_or(defaults.enabled, |v| v.value),
        failure_rate,
        min_requests: integer_in(
            raw.min_requests.as_ref(),
            1..=u32::MAX,
            defaults.min_requests,
            &at("min_requests"),
            report,
        ),
        window: duration_in(
            raw.window.as_ref(),
            Duration::from_secs(1),
            Duration::from_secs(300),
            defaults.window,
            &at("window"),
            report,
        ),
        open_for,
        max_open_for: max_open_for.max(open_for),
        half_open_successes: integer_in(
            raw.half_open_successes.as_ref(),
            1..=1000,
            defaults.half_open_successes,
            &at("half_open_successes"),
            report,
        ),
    }
}

fn validate_bulkhead(raw: &RawBulkhead, path: &str, report: &mut Reporter<'_>) -> Bulkhead {
    let defaults = Bulkhead::default();
    let at = |key: &str| join_key(path, key);
    let max_in_flight = integer_in(
        raw.max_in_flight.as_ref(),
        1..=1_000_000,
        defaults.max_in_flight,
        &at("max_in_flight"),
        report,
    );
    let adaptive = raw.adaptive.as_ref().map(|adaptive| {
        let at = |key: &str| join_key(&at("adaptive"), key);
        let min_in_flight = integer_in(
            adaptive.min_in_flight.as_ref(),
            1..=max_in_flight,
            8.min(max_in_flight),
            &at("min_in_flight"),
            report,
        );
        let initial_default = max_in_flight.min(100).max(min_in_flight);
        let initial = integer_in(
            adaptive.initial.as_ref(),
            min_in_flight..=max_in_flight,
            initial_default,
            &at("initial"),
            report,
        );
        let tolerance = number_where(
            adaptive.tolerance.as_ref(),
            |t| (1.0..=10.0).contains(&t),
            "between 1.0 and 10.0",
            2.0,
            &at("tolerance"),
            report,
        );
        AdaptiveLimit {
            min_in_flight,
            initial,
            tolerance,
            min_rtt_window: duration_in(
                adaptive.min_rtt_window.as_ref(),
                Duration::from_secs(1),
                Duration::from_secs(600),
                Duration::from_secs(30),
                &at("min_rtt_window"),
                report,
            ),
        }
    });
    Bulkhead {
        max_in_flight,
        max_pending_connects: integer_in(
            raw.max_pending_connects.as_ref(),
            1..=100_000,
            defaults.max_pending_connects,
            &at("max_pending_connects"),
            report,
        ),
        adaptive,
    }
}

pub(super) fn validate_load_shedding(
    raw: &RawLoadShedding,
    report: &mut Reporter<'_>,
) -> LoadShedding {
    let defaults = LoadShedding::default();
    let at = |key: &str| join_key("load_shedding", key);
    let normal_share = share(
        raw.normal_share.as_ref(),
        defaults.normal_share,
        &at("normal_share"),
        report,
    );
    let mut optional_share = share(
        raw.optional_share.as_ref(),
        defaults.optional_share.min(normal_share),
        &at("optional_share"),
        report,
    );
    if optional_share > normal_share {
        let span = raw
            .optional_share
            .as_ref()
            .or(raw.normal_share.as_ref())
            .map(|v| &v.span);
        report.error(
            at("optional_share"),
            span,
            format!(
                "must not be above normal_share ({optional_share} > {normal_share}): optional \
                 traffic is shed before normal traffic"
            ),
        );
        optional_share = normal_share;
    }
    let retry_after = match &raw.retry_after {
        None => defaults.retry_after,
        Some(v)
            if v.value >= Duration::from_secs(1)
                && v.value <= Duration::from_secs(3600)
                && v.value.subsec_nanos() == 0 =>
        {
            v.value
        }
        Some(v) => {
            report.error(
                at("retry_after"),
                Some(&v.span),
                format!(
                    "must be whole seconds between 1s and 1h (it becomes Retry-After), got {}",
                    show(v.value)
                ),
            );
            defaults.retry_after
        }
    };
    LoadShedding {
        max_in_flight: integer_in(
            raw.max_in_flight.as_ref(),
            1..=10_000_000,
            defaults.max_in_flight,
            &at("max_in_flight"),
            report,
        ),
        normal_share,
        optional_share,
        retry_after,
    }
}
