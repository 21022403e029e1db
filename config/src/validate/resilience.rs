//! Rules for the resilience settings: a route's timeouts, priority, retry policy and fault
//! injection; an upstream's retry budget, circuit breaker, slow start and bulkhead; and the
//! gateway's `[load_shedding]`. Every problem is reported with its path; a bad value falls back
//! to its default so the other checks still run, and a rule between two keys is only checked
//! when neither has a problem of its own (so one mistake is reported once).

use std::time::Duration;

use super::checks::{
    check_not_shorter, duration_in, duration_up_to, fraction, header_name, integer_in,
    number_where, one_of, show,
};
use crate::document::{At, join_index, join_key};
use crate::model::{
    AdaptiveLimit, BulkheadSettings, CircuitBreakerSettings, FaultInjection, LoadShedding,
    Priority, RetryBudgetSettings, RetryPolicy, Route, Upstream,
};
use crate::raw::{
    RawAdaptive, RawBulkhead, RawCircuitBreaker, RawFault, RawLoadShedding, RawRetry,
    RawRetryBudget, RawRoute, RawUpstream,
};
use crate::report::Reporter;

/// `retry.statuses`: each status in this range.
const RETRY_STATUSES: std::ops::RangeInclusive<u16> = 500..=599;
/// `fault.abort_status`: in this range.
const ABORT_STATUSES: std::ops::RangeInclusive<u16> = 400..=599;
/// `fault.delay`: at most this long.
const MAX_FAULT_DELAY: Duration = Duration::from_secs(3600);
/// `retry_budget.min_per_second`: at most this many.
const MAX_BUDGET_MIN_PER_SECOND: u32 = 100_000;
/// `retry_budget.window`: in this range.
const BUDGET_WINDOW: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(60));
/// `circuit_breaker.window`: in this range.
const BREAKER_WINDOW: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(300));
/// `circuit_breaker.half_open_successes`: at most this many.
const MAX_HALF_OPEN_SUCCESSES: u32 = 1000;
/// `bulkhead.max_in_flight`: at most this many.
const MAX_BULKHEAD_IN_FLIGHT: u32 = 1_000_000;
/// `bulkhead.max_pending_connects`: at most this many.
const MAX_PENDING_CONNECTS: u32 = 100_000;
/// Default `adaptive.min_in_flight` (lowered to `max_in_flight` when that is smaller).
const DEFAULT_ADAPTIVE_MIN: u32 = 8;
/// Default `adaptive.initial` (lowered to `max_in_flight` when that is smaller).
const DEFAULT_ADAPTIVE_INITIAL: u32 = 100;
/// Default `adaptive.tolerance`.
const DEFAULT_TOLERANCE: f64 = 2.0;
/// `adaptive.tolerance`: in this range.
const TOLERANCE: std::ops::RangeInclusive<f64> = 1.0..=10.0;
/// Default `adaptive.min_rtt_window`.
const DEFAULT_MIN_RTT_WINDOW: Duration = Duration::from_secs(30);
/// `adaptive.min_rtt_window`: in this range.
const MIN_RTT_WINDOW: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));
/// `load_shedding.max_in_flight`: at most this many.
const MAX_GATEWAY_IN_FLIGHT: u32 = 10_000_000;
/// `load_shedding.retry_after`: in this range, whole seconds.
const RETRY_AFTER: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));

/// A route's resilience settings.
pub(super) struct RouteResilience {
    pub(super) read_timeout: Duration,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) priority: Priority,
    pub(super) retry: RetryPolicy,
    pub(super) fault: Option<FaultInjection>,
}

/// `timeout` is the route's deadline as validated (the default for `read_timeout`).
pub(super) fn validate_route(
    raw: &RawRoute,
    path: &str,
    timeout: Duration,
    report: &mut Reporter<'_>,
) -> RouteResilience {
    let at = |key: &str| join_key(path, key);
    RouteResilience {
        read_timeout: duration_up_to(
            raw.read_timeout.as_ref(),
            timeout,
            Route::MAX_TIMEOUT,
            &at("read_timeout"),
            report,
        ),
        connect_timeout: raw.connect_timeout.as_ref().map(|value| {
            duration_up_to(
                Some(value),
                Upstream::DEFAULT_CONNECT_TIMEOUT,
                Upstream::MAX_CONNECT_TIMEOUT,
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
    let backoff = duration_in(
        raw.backoff.as_ref(),
        (Duration::ZERO, RetryPolicy::MAX_BACKOFF),
        defaults.backoff,
        &at("backoff"),
        report,
    );
    // Left out, max_backoff is its default or backoff, whichever is longer.
    let max_backoff = duration_in(
        raw.max_backoff.as_ref(),
        (Duration::ZERO, RetryPolicy::MAX_BACKOFF),
        defaults.max_backoff.max(backoff),
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

/// `statuses = [502, 503]`: each a 5xx status, none twice.
fn validate_statuses(
    statuses: &At<Vec<Option<At<i64>>>>,
    path: &str,
    report: &mut Reporter<'_>,
) -> Vec<u16> {
    // Each valid status with the index it is first written at.
    let mut valid: Vec<(u16, usize)> = Vec::with_capacity(statuses.value.len());
    for (index, status) in statuses.value.iter().enumerate() {
        let Some(status) = status else {
            continue; // not an integer; already reported
        };
        let at = join_index(path, index);
        match u16::try_from(status.value) {
            Ok(code) if RETRY_STATUSES.contains(&code) => {
                if let Some((_, first)) = valid.iter().find(|(seen, _)| *seen == code) {
                    report.error(
                        at,
                        Some(&status.span),
                        format!("{code} is listed twice (also statuses[{first}])"),
                    );
                } else {
                    valid.push((code, index));
                }
            }
            _ => report.error(
                at,
                Some(&status.span),
                format!(
                    "must be a 5xx status ({} to {}), got {}",
                    RETRY_STATUSES.start(),
                    RETRY_STATUSES.end(),
                    status.value
                ),
            ),
        }
    }
    valid.into_iter().map(|(code, _)| code).collect()
}

fn validate_fault(raw: &RawFault, path: &str, report: &mut Reporter<'_>) -> FaultInjection {
    let at = |key: &str| join_key(path, key);
    // A delay or abort_status of the wrong type is reported already; the fault is not also
    // "missing" it.
    let unreadable = |key: &str, report: &Reporter<'_>| report.has_error_at(&at(key));
    if raw.delay.is_none()
        && raw.abort_status.is_none()
        && !unreadable("delay", report)
        && !unreadable("abort_status", report)
    {
        report.error(
            path,
            Some(&raw.span),
            "a fault needs a delay, an abort_status or both",
        );
    }
    // Keys that only qualify another key, which is not set.
    let dependents = [
        (
            raw.delay_percent.as_ref().map(|v| &v.span),
            raw.delay.is_some(),
            "delay_percent",
            "delay",
            "the share of requests delayed",
        ),
        (
            raw.abort_percent.as_ref().map(|v| &v.span),
            raw.abort_status.is_some(),
            "abort_percent",
            "abort_status",
            "the share of requests aborted",
        ),
        (
            raw.header_value.as_ref().map(|v| &v.span),
            raw.header.is_some(),
            "header_value",
            "header",
            "the value header must have",
        ),
    ];
    for (span, needed_is_set, key, needed, what) in dependents {
        if let Some(span) = span
            && !needed_is_set
            && !unreadable(needed, report)
        {
            report.error(
                at(key),
                Some(span),
                format!("needs {needed} (it is {what}), which is not set"),
            );
        }
    }
    let header = raw
        .header
        .as_ref()
        .and_then(|name| match header_name(&name.value) {
            Ok(lower) => Some(lower),
            Err(message) => {
                report.error(at("header"), Some(&name.span), message);
                None
            }
        });
    let header_value = raw.header_value.as_ref().and_then(|value| {
        if header_value_ok(&value.value) {
            Some(value.value.clone())
        } else {
            report.error(
                at("header_value"),
                Some(&value.span),
                format!(
                    "must be visible ASCII characters and spaces (no control characters), got {:?}",
                    value.value
                ),
            );
            None
        }
    });
    let delay = raw.delay.as_ref().map(|delay| {
        duration_up_to(
            Some(delay),
            Duration::from_millis(1),
            MAX_FAULT_DELAY,
            &at("delay"),
            report,
        )
    });
    let abort_status = raw
        .abort_status
        .as_ref()
        .map(|status| match u16::try_from(status.value) {
            Ok(code) if ABORT_STATUSES.contains(&code) => code,
            _ => {
                report.error(
                    at("abort_status"),
                    Some(&status.span),
                    format!(
                        "must be a 4xx or 5xx status ({} to {}), got {}",
                        ABORT_STATUSES.start(),
                        ABORT_STATUSES.end(),
                        status.value
                    ),
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

/// A header value a request's header can be compared with: visible ASCII, spaces and tabs.
fn header_value_ok(value: &str) -> bool {
    value
        .bytes()
        .all(|b| b == b' ' || b == b'\t' || (0x21..0x7f).contains(&b))
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
    pub(super) retry_budget: RetryBudgetSettings,
    pub(super) circuit_breaker: CircuitBreakerSettings,
    pub(super) slow_start: Duration,
    pub(super) bulkhead: BulkheadSettings,
}

/// `path` is the upstream's (`upstreams.<name>`).
pub(super) fn validate_upstream(
    raw: &RawUpstream,
    path: &str,
    report: &mut Reporter<'_>,
) -> UpstreamResilience {
    let at = |key: &str| join_key(path, key);
    UpstreamResilience {
        retry_budget: validate_budget(&raw.retry_budget, &at("retry_budget"), report),
        circuit_breaker: validate_breaker(&raw.circuit_breaker, &at("circuit_breaker"), report),
        slow_start: duration_in(
            raw.slow_start.as_ref(),
            (Duration::ZERO, Upstream::MAX_SLOW_START),
            Upstream::DEFAULT_SLOW_START,
            &at("slow_start"),
            report,
        ),
        bulkhead: validate_bulkhead(&raw.bulkhead, &at("bulkhead"), report),
    }
}

fn validate_budget(
    raw: &RawRetryBudget,
    path: &str,
    report: &mut Reporter<'_>,
) -> RetryBudgetSettings {
    let defaults = RetryBudgetSettings::default();
    let at = |key: &str| join_key(path, key);
    RetryBudgetSettings {
        ratio: fraction(raw.ratio.as_ref(), defaults.ratio, &at("ratio"), report),
        min_per_second: integer_in(
            raw.min_per_second.as_ref(),
            0..=MAX_BUDGET_MIN_PER_SECOND,
            defaults.min_per_second,
            &at("min_per_second"),
            report,
        ),
        window: duration_in(
            raw.window.as_ref(),
            BUDGET_WINDOW,
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
) -> CircuitBreakerSettings {
    let defaults = CircuitBreakerSettings::default();
    let at = |key: &str| join_key(path, key);
    let open_for = duration_up_to(
        raw.open_for.as_ref(),
        defaults.open_for,
        Upstream::MAX_OPEN_FOR,
        &at("open_for"),
        report,
    );
    // Left out, max_open_for is its default or open_for, whichever is longer.
    let max_open_for = duration_up_to(
        raw.max_open_for.as_ref(),
        defaults.max_open_for.max(open_for),
        Upstream::MAX_OPEN_FOR,
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
    CircuitBreakerSettings {
        enabled: raw.enabled.as_ref().map_or(defaults.enabled, |v| v.value),
        failure_rate: share(
            raw.failure_rate.as_ref(),
            defaults.failure_rate,
            &at("failure_rate"),
            report,
        ),
        min_requests: integer_in(
            raw.min_requests.as_ref(),
            1..=u32::MAX,
            defaults.min_requests,
            &at("min_requests"),
            report,
        ),
        window: duration_in(
            raw.window.as_ref(),
            BREAKER_WINDOW,
            defaults.window,
            &at("window"),
            report,
        ),
        open_for,
        max_open_for: max_open_for.max(open_for),
        half_open_successes: integer_in(
            raw.half_open_successes.as_ref(),
            1..=MAX_HALF_OPEN_SUCCESSES,
            defaults.half_open_successes,
            &at("half_open_successes"),
            report,
        ),
    }
}

fn validate_bulkhead(raw: &RawBulkhead, path: &str, report: &mut Reporter<'_>) -> BulkheadSettings {
    let defaults = BulkheadSettings::default();
    let at = |key: &str| join_key(path, key);
    let max_in_flight = integer_in(
        raw.max_in_flight.as_ref(),
        1..=MAX_BULKHEAD_IN_FLIGHT,
        defaults.max_in_flight,
        &at("max_in_flight"),
        report,
    );
    let max_valid = !report.has_error_at(&at("max_in_flight"));
    BulkheadSettings {
        max_in_flight,
        max_pending_connects: integer_in(
            raw.max_pending_connects.as_ref(),
            1..=MAX_PENDING_CONNECTS,
            defaults.max_pending_connects,
            &at("max_pending_connects"),
            report,
        ),
        adaptive: raw.adaptive.as_ref().map(|adaptive| {
            validate_adaptive(
                adaptive,
                (max_in_flight, max_valid),
                &at("adaptive"),
                report,
            )
        }),
    }
}

/// `(max_in_flight, max_valid)`: the bulkhead's cap, and whether it was free of errors (the
/// bounds against it are only checked then).
fn validate_adaptive(
    raw: &RawAdaptive,
    (max_in_flight, max_valid): (u32, bool),
    path: &str,
    report: &mut Reporter<'_>,
) -> AdaptiveLimit {
    let at = |key: &str| join_key(path, key);
    let min_in_flight = integer_in(
        raw.min_in_flight.as_ref(),
        1..=MAX_BULKHEAD_IN_FLIGHT,
        DEFAULT_ADAPTIVE_MIN.min(max_in_flight),
        &at("min_in_flight"),
        report,
    );
    if let Some(written) = &raw.min_in_flight
        && !report.has_error_at(&at("min_in_flight"))
        && max_valid
        && min_in_flight > max_in_flight
    {
        report.error(
            at("min_in_flight"),
            Some(&written.span),
            format!(
                "must not be above bulkhead.max_in_flight ({max_in_flight}), got {min_in_flight}"
            ),
        );
    }
    let min_valid = !report.has_error_at(&at("min_in_flight"));
    let min_in_flight = min_in_flight.min(max_in_flight);
    let initial = integer_in(
        raw.initial.as_ref(),
        1..=MAX_BULKHEAD_IN_FLIGHT,
        max_in_flight
            .min(DEFAULT_ADAPTIVE_INITIAL)
            .max(min_in_flight),
        &at("initial"),
        report,
    );
    if let Some(written) = &raw.initial
        && !report.has_error_at(&at("initial"))
        && ((min_valid && initial < min_in_flight) || (max_valid && initial > max_in_flight))
    {
        report.error(
            at("initial"),
            Some(&written.span),
            format!(
                "must be between min_in_flight ({min_in_flight}) and bulkhead.max_in_flight \
                 ({max_in_flight}), got {initial}"
            ),
        );
    }
    AdaptiveLimit {
        min_in_flight,
        initial: initial.clamp(min_in_flight, max_in_flight),
        tolerance: number_where(
            raw.tolerance.as_ref(),
            |t| TOLERANCE.contains(&t),
            &format!(
                "between {:.1} and {:.1}",
                TOLERANCE.start(),
                TOLERANCE.end()
            ),
            DEFAULT_TOLERANCE,
            &at("tolerance"),
            report,
        ),
        min_rtt_window: duration_in(
            raw.min_rtt_window.as_ref(),
            MIN_RTT_WINDOW,
            DEFAULT_MIN_RTT_WINDOW,
            &at("min_rtt_window"),
            report,
        ),
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
    // Left out, optional_share is its default or normal_share, whichever is smaller.
    let optional_share = share(
        raw.optional_share.as_ref(),
        defaults.optional_share.min(normal_share),
        &at("optional_share"),
        report,
    );
    if let Some(written) = &raw.optional_share
        && optional_share > normal_share
        && !report.has_error_at(&at("optional_share"))
        && !report.has_error_at(&at("normal_share"))
    {
        report.error(
            at("optional_share"),
            Some(&written.span),
            format!(
                "must not be above normal_share ({optional_share} > {normal_share}): optional \
                 requests are shed before normal ones"
            ),
        );
    }
    let retry_after = match raw.retry_after.as_ref() {
        Some(value)
            if (RETRY_AFTER.0..=RETRY_AFTER.1).contains(&value.value)
                && value.value.subsec_nanos() != 0 =>
        {
            report.error(
                at("retry_after"),
                Some(&value.span),
                format!(
                    "must be whole seconds (it is sent as Retry-After), got {}",
                    show(value.value)
                ),
            );
            defaults.retry_after
        }
        value => duration_in(
            value,
            RETRY_AFTER,
            defaults.retry_after,
            &at("retry_after"),
            report,
        ),
    };
    LoadShedding {
        max_in_flight: integer_in(
            raw.max_in_flight.as_ref(),
            1..=MAX_GATEWAY_IN_FLIGHT,
            defaults.max_in_flight,
            &at("max_in_flight"),
            report,
        ),
        normal_share,
        optional_share: optional_share.min(normal_share),
        retry_after,
    }
}
