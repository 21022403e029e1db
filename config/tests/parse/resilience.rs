//! The resilience settings: routes' timeouts, priority, retry and fault; upstreams' retry budget,
//! circuit breaker, slow start and bulkhead; `[load_shedding]`. Defaults, accepted spellings,
//! every rule's path and message, and several problems reported together.

use std::time::Duration;

use weir_config::{
    AdaptiveLimit, BulkheadSettings, CircuitBreakerSettings, FaultInjection, LoadShedding,
    Priority, RetryBudgetSettings, RetryPolicy,
};

use crate::support::{
    assert_single_error, assert_single_error_at, errors, parse_ok, with_api_upstream,
    with_upstream_keys,
};

/// One route to `api` with `route_keys` (and sub-tables after them); `[[routes]]` is line 1, so
/// `route_keys` start on line 3.
fn with_route(route_keys: &str) -> String {
    with_api_upstream(&format!("[[routes]]\nupstream = \"api\"\n{route_keys}\n"))
}

/// `[load_shedding]` with `keys` (from line 2), and a valid upstream.
fn with_load_shedding(keys: &str) -> String {
    with_api_upstream(&format!("[load_shedding]\n{keys}\n"))
}

/// Every problem in `text` as `(path, message)`, in text order.
fn problems(text: &str) -> Vec<(String, String)> {
    errors(text)
        .into_iter()
        .map(|error| (error.path, error.message))
        .collect()
}

/// Asserts that each `(text, path, message)` case has exactly that one problem.
fn assert_each(cases: &[(String, &str, &str)]) {
    for (text, path, message) in cases {
        assert_single_error(text, path, message);
    }
}

const MS: fn(u64) -> Duration = Duration::from_millis;
const SECS: fn(u64) -> Duration = Duration::from_secs;

// --- defaults ---

#[test]
fn absent_settings_take_the_documented_defaults() {
    let config = parse_ok(&with_route(""));
    let route = &config.fleet.routes[0];
    assert_eq!(route.timeout, SECS(15));
    assert_eq!(route.read_timeout, SECS(15));
    assert_eq!(route.connect_timeout, None);
    assert_eq!(route.priority, Priority::Normal);
    assert_eq!(
        route.retry,
        RetryPolicy {
            attempts: 3,
            statuses: vec![502, 503, 504],
            on_reset: true,
            non_idempotent: false,
            backoff: MS(25),
            max_backoff: MS(250),
        }
    );
    assert_eq!(route.fault, None);
    let upstream = &config.fleet.upstreams["api"];
    assert_eq!(upstream.slow_start, SECS(10));
    assert_eq!(
        upstream.retry_budget,
        RetryBudgetSettings {
            ratio: 0.2,
            min_per_second: 10,
            window: SECS(10),
        }
    );
    assert_eq!(
        upstream.circuit_breaker,
        CircuitBreakerSettings {
            enabled: true,
            failure_rate: 0.5,
            min_requests: 20,
            window: SECS(10),
            open_for: SECS(5),
            max_open_for: SECS(60),
            half_open_successes: 10,
        }
    );
    assert_eq!(
        upstream.bulkhead,
        BulkheadSettings {
            max_in_flight: 1024,
            max_pending_connects: 256,
            adaptive: None,
        }
    );
    assert_eq!(
        config.fleet.load_shedding,
        LoadShedding {
            max_in_flight: 10_000,
            normal_share: 0.9,
            optional_share: 0.8,
            retry_after: SECS(1),
        }
    );
}

#[test]
fn empty_tables_take_their_defaults() {
    let config = parse_ok(&with_api_upstream(
        "[load_shedding]\n[[routes]]\nupstream = \"api\"\n[routes.retry]\n",
    ));
    assert_eq!(config.fleet.routes[0].retry, RetryPolicy::default());
    assert_eq!(config.fleet.load_shedding, LoadShedding::default());
    let config = parse_ok(&with_upstream_keys(
        "retry_budget = {}\ncircuit_breaker = {}\nbulkhead = {}",
    ));
    let upstream = &config.fleet.upstreams["api"];
    assert_eq!(upstream.retry_budget, RetryBudgetSettings::default());
    assert_eq!(upstream.circuit_breaker, CircuitBreakerSettings::default());
    assert_eq!(upstream.bulkhead, BulkheadSettings::default());
}

#[test]
fn adaptive_defaults_fit_the_cap() {
    let adaptive = |keys: &str| {
        parse_ok(&with_upstream_keys(&format!("bulkhead = {{ {keys} }}")))
            .fleet
            .upstreams["api"]
            .bulkhead
            .adaptive
            .clone()
            .expect("adaptive")
    };
    assert_eq!(
        adaptive("adaptive = {}"),
        AdaptiveLimit {
            min_in_flight: 8,
            initial: 100,
            tolerance: 2.0,
            min_rtt_window: SECS(30),
        }
    );
    // initial = min(max_in_flight, 100), and never below min_in_flight.
    let limits = |keys: &str| {
        let a = adaptive(keys);
        (a.min_in_flight, a.initial)
    };
    assert_eq!(limits("max_in_flight = 50, adaptive = {}"), (8, 50));
    assert_eq!(
        limits("max_in_flight = 500, adaptive = { min_in_flight = 200 }"),
        (200, 200)
    );
    // A cap below the default minimum lowers the minimum.
    assert_eq!(limits("max_in_flight = 4, adaptive = {}"), (4, 4));
    assert_eq!(limits("max_in_flight = 1, adaptive = {}"), (1, 1));
}

#[test]
fn a_fault_with_only_an_abort_has_no_delay_and_applies_to_every_request() {
    let config = parse_ok(&with_route("[routes.fault]\nabort_status = 503"));
    assert_eq!(
        config.fleet.routes[0].fault,
        Some(FaultInjection {
            header: None,
            header_value: None,
            delay: None,
            delay_percent: 100.0,
            abort_status: Some(503),
            abort_percent: 100.0,
        })
    );
}

// --- spellings ---

#[test]
fn tables_may_be_written_with_headers_inline_or_dotted_keys() {
    let headers = parse_ok(&with_upstream_keys(
        "[upstreams.api.circuit_breaker]\nenabled = false\n\
         [upstreams.api.retry_budget]\nratio = 0\n\
         [upstreams.api.bulkhead]\nmax_in_flight = 64\n\
         [upstreams.api.bulkhead.adaptive]\ninitial = 32\n",
    ));
    let upstream = &headers.fleet.upstreams["api"];
    assert!(!upstream.circuit_breaker.enabled);
    assert_eq!(upstream.retry_budget.ratio, 0.0);
    assert_eq!(upstream.bulkhead.max_in_flight, 64);
    assert_eq!(upstream.bulkhead.adaptive.as_ref().unwrap().initial, 32);
    let dotted = parse_ok(&with_route(
        "retry.attempts = 1\nfault.abort_status = 500\nfault.abort_percent = 0.5",
    ));
    let route = &dotted.fleet.routes[0];
    assert_eq!(route.retry.attempts, 1);
    let fault = route.fault.as_ref().unwrap();
    assert_eq!((fault.abort_status, fault.abort_percent), (Some(500), 0.5));
    let inline = parse_ok(&with_api_upstream(
        "load_shedding = { max_in_flight = 1, normal_share = 1, optional_share = 1 }",
    ));
    assert_eq!(
        inline.fleet.load_shedding,
        LoadShedding {
            max_in_flight: 1,
            normal_share: 1.0,
            optional_share: 1.0,
            retry_after: SECS(1),
        }
    );
}

#[test]
fn shares_ratios_and_percentages_accept_integers_and_floats() {
    let config = parse_ok(&with_upstream_keys(
        "retry_budget = { ratio = 1 }\ncircuit_breaker = { failure_rate = 1 }\n\
         bulkhead = { adaptive = { tolerance = 3 } }",
    ));
    let upstream = &config.fleet.upstreams["api"];
    assert_eq!(upstream.retry_budget.ratio, 1.0);
    assert_eq!(upstream.circuit_breaker.failure_rate, 1.0);
    assert_eq!(upstream.bulkhead.adaptive.as_ref().unwrap().tolerance, 3.0);
    let config = parse_ok(&with_route(
        "[routes.fault]\ndelay = \"1ms\"\ndelay_percent = 0\n\
         abort_status = 599\nabort_percent = 99.5",
    ));
    let fault = config.fleet.routes[0].fault.clone().unwrap();
    assert_eq!((fault.delay_percent, fault.abort_percent), (0.0, 99.5));
}

#[test]
fn priorities_are_spelled_lower_case() {
    for (spelling, priority) in [
        ("critical", Priority::Critical),
        ("normal", Priority::Normal),
        ("optional", Priority::Optional),
    ] {
        let config = parse_ok(&with_route(&format!("priority = \"{spelling}\"")));
        assert_eq!(config.fleet.routes[0].priority, priority);
        assert_eq!(priority.to_string(), spelling);
    }
}

#[test]
fn limits_at_the_edges_of_their_ranges_are_accepted() {
    let config = parse_ok(&with_route(
        "read_timeout = \"1ms\"\nconnect_timeout = \"1ms\"\n\
         [routes.retry]\nattempts = 5\nstatuses = [500, 599]\n\
         backoff = \"10s\"\nmax_backoff = \"10s\"\n\
         [routes.fault]\ndelay = \"1h\"\nabort_status = 400",
    ));
    let route = &config.fleet.routes[0];
    assert_eq!(route.connect_timeout, Some(MS(1)));
    assert_eq!(route.retry.attempts, 5);
    assert_eq!(route.retry.statuses, [500, 599]);
    assert_eq!(route.retry.max_backoff, SECS(10));
    assert_eq!(route.fault.as_ref().unwrap().delay, Some(SECS(3600)));
    let config = parse_ok(&with_upstream_keys(
        "slow_start = \"10m\"\n\
         retry_budget = { min_per_second = 0, window = \"1m\" }\n\
         circuit_breaker = { window = \"5m\", min_requests = 1, half_open_successes = 1000 }\n\
         bulkhead = { max_in_flight = 1000000, max_pending_connects = 100000, \
         adaptive = { min_in_flight = 1000000, min_rtt_window = \"10m\", tolerance = 10 } }",
    ));
    let upstream = &config.fleet.upstreams["api"];
    assert_eq!(upstream.slow_start, SECS(600));
    assert_eq!(upstream.retry_budget.window, SECS(60));
    assert_eq!(upstream.circuit_breaker.window, SECS(300));
    let adaptive = upstream.bulkhead.adaptive.clone().unwrap();
    assert_eq!(
        (adaptive.min_in_flight, adaptive.initial),
        (1_000_000, 1_000_000)
    );
    let config = parse_ok(&with_load_shedding(
        "max_in_flight = 10000000\nretry_after = \"1h\"",
    ));
    assert_eq!(config.fleet.load_shedding.retry_after, SECS(3600));
}

// --- routes ---

#[test]
fn read_timeout_defaults_to_the_deadline_and_may_exceed_it() {
    let config = parse_ok(&with_route("timeout = \"3s\""));
    assert_eq!(config.fleet.routes[0].read_timeout, SECS(3));
    // Longer than the deadline is accepted: the deadline cuts it.
    let config = parse_ok(&with_route("timeout = \"3s\"\nread_timeout = \"5s\""));
    assert_eq!(config.fleet.routes[0].read_timeout, SECS(5));
    // A bad deadline is reported once; read_timeout does not repeat it.
    assert_single_error(
        &with_route("timeout = \"0s\""),
        "routes[0].timeout",
        "must be greater than 0",
    );
}

#[test]
fn route_timeouts_must_be_positive() {
    assert_single_error_at(
        &with_route("read_timeout = \"0s\""),
        "routes[0].read_timeout",
        "must be greater than 0",
        (3, 16),
    );
    assert_single_error_at(
        &with_route("connect_timeout = \"0ms\""),
        "routes[0].connect_timeout",
        "must be greater than 0",
        (3, 19),
    );
    assert_single_error(
        &with_route("connect_timeout = 5"),
        "routes[0].connect_timeout",
        "expected a duration with a unit",
    );
}

#[test]
fn priority_is_one_of_three_classes() {
    assert_single_error_at(
        &with_route("priority = \"high\""),
        "routes[0].priority",
        "must be \"critical\", \"normal\" or \"optional\", got \"high\"",
        (3, 12),
    );
    assert_single_error(
        &with_route("priority = \"Critical\""),
        "routes[0].priority",
        "must be \"critical\", \"normal\" or \"optional\", got \"Critical\"",
    );
    assert_single_error(
        &with_route("priority = 1"),
        "routes[0].priority",
        "expected a string, got an integer",
    );
}

#[test]
fn retry_attempts_and_backoff_rules() {
    let retry = |keys: &str| with_route(&format!("[routes.retry]\n{keys}"));
    assert_each(&[
        (
            retry("attempts = 0"),
            "routes[0].retry.attempts",
            "must be between 1 and 5, got 0",
        ),
        (
            retry("attempts = 6"),
            "routes[0].retry.attempts",
            "must be between 1 and 5, got 6",
        ),
        (
            retry("backoff = \"11s\""),
            "routes[0].retry.backoff",
            "must be at most 10s, got 11s",
        ),
        (
            retry("max_backoff = \"1m\""),
            "routes[0].retry.max_backoff",
            "must be at most 10s, got 1m",
        ),
        (
            retry("backoff = \"100ms\"\nmax_backoff = \"50ms\""),
            "routes[0].retry.max_backoff",
            "must not be shorter than backoff (50ms < 100ms)",
        ),
        // A backoff with its own problem is not compared with max_backoff too.
        (
            retry("backoff = \"20s\"\nmax_backoff = \"5s\""),
            "routes[0].retry.backoff",
            "must be at most 10s",
        ),
        (
            retry("on_reset = \"yes\""),
            "routes[0].retry.on_reset",
            "expected a boolean, got a string",
        ),
        (
            retry("non_idempotent = 1"),
            "routes[0].retry.non_idempotent",
            "expected a boolean, got an integer",
        ),
        (
            retry("attempt = 2"),
            "routes[0].retry.attempt",
            "unknown key (expected one of: attempts, statuses, on_reset, non_idempotent, \
             backoff, max_backoff)",
        ),
        (
            with_route("retry = 3"),
            "routes[0].retry",
            "expected a table, got an integer",
        ),
    ]);
    // The line and column are the value's.
    assert_single_error_at(
        &retry("attempts = 9"),
        "routes[0].retry.attempts",
        "between 1 and 5",
        (4, 12),
    );
    // Left out, max_backoff is at least backoff; both may be 0.
    let config = parse_ok(&retry("backoff = \"500ms\""));
    assert_eq!(config.fleet.routes[0].retry.max_backoff, MS(500));
    let config = parse_ok(&retry("backoff = \"0s\"\nmax_backoff = \"0s\""));
    assert_eq!(
        (
            config.fleet.routes[0].retry.backoff,
            config.fleet.routes[0].retry.max_backoff
        ),
        (Duration::ZERO, Duration::ZERO)
    );
}

#[test]
fn retry_statuses_are_distinct_5xx_integers() {
    let retry = |statuses: &str| with_route(&format!("[routes.retry]\nstatuses = {statuses}"));
    assert_each(&[
        (
            retry("[503, 404]"),
            "routes[0].retry.statuses[1]",
            "must be a 5xx status (500 to 599), got 404",
        ),
        (
            retry("[600]"),
            "routes[0].retry.statuses[0]",
            "must be a 5xx status (500 to 599), got 600",
        ),
        (
            retry("[503, 502, 503]"),
            "routes[0].retry.statuses[2]",
            "503 is listed twice (also statuses[0])",
        ),
        (
            retry("503"),
            "routes[0].retry.statuses",
            "expected an array, got an integer",
        ),
    ]);
    assert_single_error_at(
        &retry("[502, \"503\"]"),
        "routes[0].retry.statuses[1]",
        "expected an integer, got a string",
        (4, 18),
    );
    // Each bad element is reported.
    assert_eq!(
        problems(&retry("[200, 503, 503, 700]"))
            .into_iter()
            .map(|(path, _)| path)
            .collect::<Vec<_>>(),
        [
            "routes[0].retry.statuses[0]",
            "routes[0].retry.statuses[2]",
            "routes[0].retry.statuses[3]",
        ]
    );
    let config = parse_ok(&retry("[]"));
    assert!(config.fleet.routes[0].retry.statuses.is_empty());
}

#[test]
fn fault_needs_something_to_inject() {
    let found = errors(&with_route("[routes.fault]\nheader = \"x-test\""));
    let [error] = found.as_slice() else {
        panic!("expected one error, got {found:#?}");
    };
    assert_eq!(error.path, "routes[0].fault");
    assert_eq!(
        error.message,
        "a fault needs a delay, an abort_status or both"
    );
    assert_eq!(error.line, Some(3));
    // An empty inline table too.
    assert_single_error(
        &with_route("fault = {}"),
        "routes[0].fault",
        "needs a delay, an abort_status or both",
    );
    // A delay of the wrong type is reported as such, not also as missing.
    assert_single_error(
        &with_route("[routes.fault]\ndelay = 5"),
        "routes[0].fault.delay",
        "expected a duration with a unit",
    );
    assert_single_error(
        &with_route("[routes.fault]\nabort_status = \"503\""),
        "routes[0].fault.abort_status",
        "expected an integer, got a string",
    );
}

#[test]
fn fault_keys_that_qualify_another_key_need_it() {
    let fault = |keys: &str| with_route(&format!("[routes.fault]\n{keys}"));
    assert_single_error_at(
        &fault("abort_status = 503\ndelay_percent = 10"),
        "routes[0].fault.delay_percent",
        "needs delay (it is the share of requests delayed), which is not set",
        (5, 17),
    );
    assert_single_error_at(
        &fault("delay = \"10ms\"\nabort_percent = 5"),
        "routes[0].fault.abort_percent",
        "needs abort_status (it is the share of requests aborted), which is not set",
        (5, 17),
    );
    assert_single_error_at(
        &fault("delay = \"10ms\"\nheader_value = \"on\""),
        "routes[0].fault.header_value",
        "needs header (it is the value header must have), which is not set",
        (5, 16),
    );
    // All three at once, each at its own key, besides the missing delay and abort_status.
    assert_eq!(
        problems(&fault(
            "delay_percent = 1\nabort_percent = 2\nheader_value = \"on\""
        ))
        .into_iter()
        .map(|(path, _)| path)
        .collect::<Vec<_>>(),
        [
            "routes[0].fault",
            "routes[0].fault.delay_percent",
            "routes[0].fault.abort_percent",
            "routes[0].fault.header_value",
        ]
    );
}

#[test]
fn fault_values_are_checked() {
    let fault = |keys: &str| with_route(&format!("[routes.fault]\n{keys}"));
    assert_each(&[
        (
            fault("abort_status = 200"),
            "routes[0].fault.abort_status",
            "must be a 4xx or 5xx status (400 to 599), got 200",
        ),
        (
            fault("abort_status = 600"),
            "routes[0].fault.abort_status",
            "must be a 4xx or 5xx status (400 to 599), got 600",
        ),
        (
            fault("abort_status = 503\nabort_percent = 120"),
            "routes[0].fault.abort_percent",
            "must be between 0 and 100, got 120",
        ),
        (
            fault("delay = \"1s\"\ndelay_percent = -1"),
            "routes[0].fault.delay_percent",
            "must be between 0 and 100, got -1",
        ),
        (
            fault("delay = \"1s\"\ndelay_percent = nan"),
            "routes[0].fault.delay_percent",
            "must be between 0 and 100, got NaN",
        ),
        (
            fault("delay = \"0s\""),
            "routes[0].fault.delay",
            "must be greater than 0",
        ),
        (
            fault("delay = \"2h\""),
            "routes[0].fault.delay",
            "must be at most 1h, got 2h",
        ),
        (
            fault("delay = \"10ms\"\nheader = \"bad header\""),
            "routes[0].fault.header",
            "\"bad header\" is not a valid header name (letters, digits and \
             !#$%&'*+-.^_`|~ only)",
        ),
        (
            fault("delay = \"10ms\"\nheader = \"\""),
            "routes[0].fault.header",
            "must not be empty",
        ),
        (
            fault("delay = \"10ms\"\nheader = \"x-on\"\nheader_value = \"a\\u0001b\""),
            "routes[0].fault.header_value",
            "must be visible ASCII characters and spaces",
        ),
        (
            fault("abort_status = 503\nabort = true"),
            "routes[0].fault.abort",
            "unknown key (expected one of: header, header_value, delay, delay_percent, \
             abort_status, abort_percent)",
        ),
    ]);
    // Header names are stored lower-case; values exactly as written.
    let config = parse_ok(&fault(
        "abort_status = 418\nheader = \"X-Game-Day\"\nheader_value = \"On Please\"",
    ));
    let fault = config.fleet.routes[0].fault.clone().unwrap();
    assert_eq!(fault.header.as_deref(), Some("x-game-day"));
    assert_eq!(fault.header_value.as_deref(), Some("On Please"));
}

// --- upstreams ---

#[test]
fn retry_budget_rules() {
    let budget = |keys: &str| with_upstream_keys(&format!("retry_budget = {{ {keys} }}"));
    assert_each(&[
        (
            budget("ratio = 1.5"),
            "upstreams.api.retry_budget.ratio",
            "must be between 0.0 and 1.0, got 1.5",
        ),
        (
            budget("ratio = -0.1"),
            "upstreams.api.retry_budget.ratio",
            "must be between 0.0 and 1.0, got -0.1",
        ),
        (
            budget("ratio = \"20%\""),
            "upstreams.api.retry_budget.ratio",
            "expected a number, got a string",
        ),
        (
            budget("min_per_second = -1"),
            "upstreams.api.retry_budget.min_per_second",
            "must be between 0 and 100000, got -1",
        ),
        (
            budget("min_per_second = 100001"),
            "upstreams.api.retry_budget.min_per_second",
            "must be between 0 and 100000, got 100001",
        ),
        (
            budget("window = \"500ms\""),
            "upstreams.api.retry_budget.window",
            "must be between 1s and 1m, got 500ms",
        ),
        (
            budget("window = \"61s\""),
            "upstreams.api.retry_budget.window",
            "must be between 1s and 1m, got 1m 1s",
        ),
        (
            budget("min = 1"),
            "upstreams.api.retry_budget.min",
            "unknown key (expected one of: ratio, min_per_second, window)",
        ),
    ]);
}

#[test]
fn circuit_breaker_rules() {
    let breaker = |keys: &str| with_upstream_keys(&format!("circuit_breaker = {{ {keys} }}"));
    assert_each(&[
        (
            breaker("failure_rate = 0"),
            "upstreams.api.circuit_breaker.failure_rate",
            "must be above 0.0 and at most 1.0, got 0",
        ),
        (
            breaker("failure_rate = 1.01"),
            "upstreams.api.circuit_breaker.failure_rate",
            "must be above 0.0 and at most 1.0, got 1.01",
        ),
        (
            breaker("min_requests = 0"),
            "upstreams.api.circuit_breaker.min_requests",
            "must be at least 1, got 0",
        ),
        (
            breaker("window = \"0s\""),
            "upstreams.api.circuit_breaker.window",
            "must be between 1s and 5m, got 0s",
        ),
        (
            breaker("window = \"6m\""),
            "upstreams.api.circuit_breaker.window",
            "must be between 1s and 5m, got 6m",
        ),
        (
            breaker("open_for = \"0s\""),
            "upstreams.api.circuit_breaker.open_for",
            "must be greater than 0",
        ),
        (
            breaker("max_open_for = \"0s\""),
            "upstreams.api.circuit_breaker.max_open_for",
            "must be greater than 0",
        ),
        (
            breaker("open_for = \"10s\", max_open_for = \"5s\""),
            "upstreams.api.circuit_breaker.max_open_for",
            "must not be shorter than open_for (5s < 10s)",
        ),
        (
            breaker("half_open_successes = 0"),
            "upstreams.api.circuit_breaker.half_open_successes",
            "must be between 1 and 1000, got 0",
        ),
        (
            breaker("half_open_successes = 1001"),
            "upstreams.api.circuit_breaker.half_open_successes",
            "must be between 1 and 1000, got 1001",
        ),
        (
            breaker("enabled = \"no\""),
            "upstreams.api.circuit_breaker.enabled",
            "expected a boolean, got a string",
        ),
        (
            breaker("thresold = 3"),
            "upstreams.api.circuit_breaker.thresold",
            "unknown key (expected one of: enabled, failure_rate, min_requests, window, \
             open_for, max_open_for, half_open_successes)",
        ),
    ]);
    // Left out, max_open_for is at least open_for.
    let config = parse_ok(&breaker("open_for = \"90s\""));
    assert_eq!(
        config.fleet.upstreams["api"].circuit_breaker.max_open_for,
        SECS(90)
    );
}

#[test]
fn slow_start_is_at_most_ten_minutes() {
    assert_single_error_at(
        &with_upstream_keys("slow_start = \"11m\""),
        "upstreams.api.slow_start",
        "must be at most 10m, got 11m",
        (2, 14),
    );
    let config = parse_ok(&with_upstream_keys("slow_start = \"0s\""));
    assert_eq!(config.fleet.upstreams["api"].slow_start, Duration::ZERO);
}

#[test]
fn bulkhead_rules() {
    let bulkhead = |keys: &str| with_upstream_keys(&format!("bulkhead = {{ {keys} }}"));
    assert_each(&[
        (
            bulkhead("max_in_flight = 0"),
            "upstreams.api.bulkhead.max_in_flight",
            "must be between 1 and 1000000, got 0",
        ),
        (
            bulkhead("max_in_flight = 1000001"),
            "upstreams.api.bulkhead.max_in_flight",
            "must be between 1 and 1000000, got 1000001",
        ),
        (
            bulkhead("max_pending_connects = 0"),
            "upstreams.api.bulkhead.max_pending_connects",
            "must be between 1 and 100000, got 0",
        ),
        (
            bulkhead("max_pending_connects = 100001"),
            "upstreams.api.bulkhead.max_pending_connects",
            "must be between 1 and 100000, got 100001",
        ),
        (
            bulkhead("adaptive = true"),
            "upstreams.api.bulkhead.adaptive",
            "expected a table, got a boolean",
        ),
        (
            bulkhead("max = 1"),
            "upstreams.api.bulkhead.max",
            "unknown key (expected one of: max_in_flight, max_pending_connects, adaptive)",
        ),
    ]);
}

#[test]
fn adaptive_limit_rules() {
    let adaptive = |keys: &str| {
        with_upstream_keys(&format!(
            "bulkhead = {{ max_in_flight = 50, adaptive = {{ {keys} }} }}"
        ))
    };
    assert_each(&[
        (
            adaptive("min_in_flight = 0"),
            "upstreams.api.bulkhead.adaptive.min_in_flight",
            "must be between 1 and 1000000, got 0",
        ),
        (
            adaptive("min_in_flight = 60"),
            "upstreams.api.bulkhead.adaptive.min_in_flight",
            "must not be above bulkhead.max_in_flight (50), got 60",
        ),
        (
            adaptive("initial = 60"),
            "upstreams.api.bulkhead.adaptive.initial",
            "must be between min_in_flight (8) and bulkhead.max_in_flight (50), got 60",
        ),
        (
            adaptive("min_in_flight = 20, initial = 10"),
            "upstreams.api.bulkhead.adaptive.initial",
            "must be between min_in_flight (20) and bulkhead.max_in_flight (50), got 10",
        ),
        (
            adaptive("tolerance = 0.5"),
            "upstreams.api.bulkhead.adaptive.tolerance",
            "must be between 1.0 and 10.0, got 0.5",
        ),
        (
            adaptive("tolerance = 11"),
            "upstreams.api.bulkhead.adaptive.tolerance",
            "must be between 1.0 and 10.0, got 11",
        ),
        (
            adaptive("min_rtt_window = \"0s\""),
            "upstreams.api.bulkhead.adaptive.min_rtt_window",
            "must be between 1s and 10m, got 0s",
        ),
        (
            adaptive("min_rtt_window = \"1h\""),
            "upstreams.api.bulkhead.adaptive.min_rtt_window",
            "must be between 1s and 10m, got 1h",
        ),
        (
            adaptive("limit = 5"),
            "upstreams.api.bulkhead.adaptive.limit",
            "unknown key (expected one of: min_in_flight, initial, tolerance, min_rtt_window)",
        ),
    ]);
    // A bound with its own problem is not held against the keys that depend on it.
    assert_single_error(
        &with_upstream_keys("bulkhead = { max_in_flight = 0, adaptive = { initial = 2000 } }"),
        "upstreams.api.bulkhead.max_in_flight",
        "must be between 1 and 1000000",
    );
    assert_single_error(
        &adaptive("min_in_flight = 60, initial = 40"),
        "upstreams.api.bulkhead.adaptive.min_in_flight",
        "must not be above bulkhead.max_in_flight (50), got 60",
    );
    assert_single_error(
        &adaptive("min_in_flight = 0, initial = 4"),
        "upstreams.api.bulkhead.adaptive.min_in_flight",
        "must be between 1 and 1000000",
    );
    // Written with a header, the position is the value's.
    assert_single_error_at(
        &with_upstream_keys(
            "[upstreams.api.bulkhead]\nmax_in_flight = 10\n\
             [upstreams.api.bulkhead.adaptive]\ninitial = 11\n",
        ),
        "upstreams.api.bulkhead.adaptive.initial",
        "got 11",
        (5, 11),
    );
}

// --- load shedding ---

#[test]
fn load_shedding_rules() {
    assert_each(&[
        (
            with_load_shedding("max_in_flight = 0"),
            "load_shedding.max_in_flight",
            "must be between 1 and 10000000, got 0",
        ),
        (
            with_load_shedding("max_in_flight = 10000001"),
            "load_shedding.max_in_flight",
            "must be between 1 and 10000000, got 10000001",
        ),
        (
            with_load_shedding("normal_share = 0"),
            "load_shedding.normal_share",
            "must be above 0.0 and at most 1.0, got 0",
        ),
        (
            with_load_shedding("normal_share = 1.5"),
            "load_shedding.normal_share",
            "must be above 0.0 and at most 1.0, got 1.5",
        ),
        (
            with_load_shedding("optional_share = 0.0"),
            "load_shedding.optional_share",
            "must be above 0.0 and at most 1.0, got 0",
        ),
        (
            with_load_shedding("normal_share = 0.5\noptional_share = 0.6"),
            "load_shedding.optional_share",
            "must not be above normal_share (0.6 > 0.5): optional requests are shed before \
             normal ones",
        ),
        // Against the default normal_share too.
        (
            with_load_shedding("optional_share = 0.95"),
            "load_shedding.optional_share",
            "must not be above normal_share (0.95 > 0.9)",
        ),
        // But not against a normal_share that has its own problem.
        (
            with_load_shedding("normal_share = 2\noptional_share = 0.95"),
            "load_shedding.normal_share",
            "must be above 0.0 and at most 1.0, got 2",
        ),
        (
            with_load_shedding("retry_after = \"0s\""),
            "load_shedding.retry_after",
            "must be between 1s and 1h, got 0s",
        ),
        (
            with_load_shedding("retry_after = \"2h\""),
            "load_shedding.retry_after",
            "must be between 1s and 1h, got 2h",
        ),
        (
            with_load_shedding("retry_after = \"1500ms\""),
            "load_shedding.retry_after",
            "must be whole seconds (it is sent as Retry-After), got 1s 500ms",
        ),
        (
            with_load_shedding("share = 0.5"),
            "load_shedding.share",
            "unknown key (expected one of: max_in_flight, normal_share, optional_share, \
             retry_after)",
        ),
        (
            with_api_upstream("load_shedding = 100"),
            "load_shedding",
            "expected a table, got an integer",
        ),
    ]);
    assert_single_error_at(
        &with_load_shedding("max_in_flight = \"many\""),
        "load_shedding.max_in_flight",
        "expected an integer, got a string",
        (2, 17),
    );
    // Left out, optional_share is at most normal_share.
    let config = parse_ok(&with_load_shedding("normal_share = 0.5"));
    assert_eq!(config.fleet.load_shedding.optional_share, 0.5);
}

// --- several problems at once ---

#[test]
fn every_resilience_problem_is_reported_together_in_text_order() {
    let text = r#"[load_shedding]
optional_share = 0.95
retry_after = "500ms"

[upstreams.api]
slow_start = "1h"
circuit_breaker = { failure_rate = 2, open_for = "10s", max_open_for = "1s" }
bulkhead = { max_in_flight = 10, adaptive = { initial = 11 } }
retry_budget = { ratio = 0.1, window = "2m" }

[[upstreams.api.pools]]
region = "us-east"
endpoints = ["127.0.0.1:9001"]

[[routes]]
upstream = "api"
priority = "urgent"
read_timeout = "0s"

[routes.retry]
attempts = 9
statuses = [500, 200, 500]

[routes.fault]
delay_percent = 50
header = "x game"
"#;
    let found = errors(text);
    let summary: Vec<(&str, Option<usize>, Option<usize>)> = found
        .iter()
        .map(|error| (error.path.as_str(), error.line, error.column))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("load_shedding.optional_share", Some(2), Some(18)),
            ("load_shedding.retry_after", Some(3), Some(15)),
            ("upstreams.api.slow_start", Some(6), Some(14)),
            (
                "upstreams.api.circuit_breaker.failure_rate",
                Some(7),
                Some(36)
            ),
            (
                "upstreams.api.circuit_breaker.max_open_for",
                Some(7),
                Some(72)
            ),
            ("upstreams.api.bulkhead.adaptive.initial", Some(8), Some(57)),
            ("upstreams.api.retry_budget.window", Some(9), Some(40)),
            ("routes[0].priority", Some(17), Some(12)),
            ("routes[0].read_timeout", Some(18), Some(16)),
            ("routes[0].retry.attempts", Some(21), Some(12)),
            ("routes[0].retry.statuses[1]", Some(22), Some(18)),
            ("routes[0].retry.statuses[2]", Some(22), Some(23)),
            ("routes[0].fault", Some(24), Some(1)),
            ("routes[0].fault.delay_percent", Some(25), Some(17)),
            ("routes[0].fault.header", Some(26), Some(10)),
        ],
        "{found:#?}"
    );
    assert_eq!(
        found[12].to_string(),
        "routes[0].fault: a fault needs a delay, an abort_status or both (line 24, column 1)"
    );
}

#[test]
fn connect_retries_is_gone_and_says_what_replaces_it() {
    assert_single_error_at(
        &with_upstream_keys("connect_retries = 2"),
        "upstreams.api.connect_retries",
        "unknown key (expected one of: region_policy, health, min_healthy_fraction, \
         connect_timeout, outlier, slow_start, retry_budget, circuit_breaker, bulkhead, pools); \
         connect_retries was removed: a route's [routes.retry] attempts limits the attempts per \
         request, connect failures included",
        (2, 1),
    );
}
