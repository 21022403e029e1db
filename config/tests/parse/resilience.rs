//! The resilience settings: routes' timeouts, priority, retry and fault; upstreams' retry budget,
//! circuit breaker, slow start and bulkhead; `[load_shedding]`.

use std::time::Duration;

use weir_config::{Priority, parse};

use crate::support::{
    assert_single_error, errors, parse_ok, with_api_upstream, with_upstream_keys,
};

/// One route to `api` with `route_keys` (and sub-tables after them).
fn with_route(route_keys: &str) -> String {
    with_api_upstream(&format!("[[routes]]\nupstream = \"api\"\n{route_keys}\n"))
}

#[test]
fn read_timeout_defaults_to_the_deadline() {
    let config = parse_ok(&with_route("timeout = \"3s\""));
    assert_eq!(config.routes[0].timeout, Duration::from_secs(3));
    assert_eq!(config.routes[0].read_timeout, Duration::from_secs(3));
    assert_eq!(config.routes[0].connect_timeout, None);
    assert_single_error(
        &with_route("read_timeout = \"0s\""),
        "routes[0].read_timeout",
        "must be greater than 0",
    );
}

#[test]
fn priority_is_one_of_three_classes() {
    let config = parse_ok(&with_route("priority = \"optional\""));
    assert_eq!(config.routes[0].priority, Priority::Optional);
    assert_single_error(
        &with_route("priority = \"high\""),
        "routes[0].priority",
        "must be \"critical\", \"normal\" or \"optional\", got \"high\"",
    );
}

#[test]
fn retry_rules() {
    assert_single_error(
        &with_route("[routes.retry]\nattempts = 6"),
        "routes[0].retry.attempts",
        "must be between 1 and 5, got 6",
    );
    assert_single_error(
        &with_route("[routes.retry]\nstatuses = [503, 404]"),
        "routes[0].retry.statuses[1]",
        "must be a 5xx status",
    );
    assert_single_error(
        &with_route("[routes.retry]\nstatuses = [503, 503]"),
        "routes[0].retry.statuses[1]",
        "503 is listed twice",
    );
    assert_single_error(
        &with_route("[routes.retry]\nbackoff = \"100ms\"\nmax_backoff = \"50ms\""),
        "routes[0].retry.max_backoff",
        "must not be shorter than backoff",
    );
    let config = parse_ok(&with_route(
        "[routes.retry]\nstatuses = []\nbackoff = \"0s\"",
    ));
    assert!(config.routes[0].retry.statuses.is_empty());
    assert_eq!(config.routes[0].retry.backoff, Duration::ZERO);
}

#[test]
fn fault_rules() {
    assert_single_error(
        &with_route("[routes.fault]\nheader = \"x-test\""),
        "routes[0].fault",
        "needs a delay, an abort_status or both",
    );
    assert_single_error(
        &with_route("[routes.fault]\nabort_status = 503\nabort_percent = 120"),
        "routes[0].fault.abort_percent",
        "must be between 0 and 100",
    );
    assert_single_error(
        &with_route("[routes.fault]\nabort_status = 200"),
        "routes[0].fault.abort_status",
        "must be between 400 and 599",
    );
    assert_single_error(
        &with_route("[routes.fault]\ndelay = \"10ms\"\nheader = \"bad header\""),
        "routes[0].fault.header",
        "is not a valid header name",
    );
    let found = errors(&with_route(
        "[routes.fault]\ndelay = \"10ms\"\nabort_percent = 5\nheader_value = \"on\"",
    ));
    let paths: Vec<&str> = found.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "routes[0].fault.abort_percent",
            "routes[0].fault.header_value"
        ],
        "{found:#?}"
    );
    let config = parse_ok(&with_route("[routes.fault]\ndelay = \"10ms\""));
    let fault = config.routes[0].fault.as_ref().unwrap();
    assert_eq!(fault.delay_percent, 100.0);
    assert_eq!(fault.abort_status, None);
}

#[test]
fn upstream_resilience_rules() {
    assert_single_error(
        &with_upstream_keys("retry_budget = { ratio = 1.5 }"),
        "upstreams.api.retry_budget.ratio",
        "must be between 0.0 and 1.0",
    );
    assert_single_error(
        &with_upstream_keys("circuit_breaker = { failure_rate = 0 }"),
        "upstreams.api.circuit_breaker.failure_rate",
        "must be above 0.0",
    );
    assert_single_error(
        &with_upstream_keys("circuit_breaker = { open_for = \"10s\", max_open_for = \"5s\" }"),
        "upstreams.api.circuit_breaker.max_open_for",
        "must not be shorter than open_for",
    );
    assert_single_error(
        &with_upstream_keys("slow_start = \"11m\""),
        "upstreams.api.slow_start",
        "must be at most 10m",
    );
    assert_single_error(
        &with_upstream_keys("bulkhead = { max_in_flight = 10, adaptive = { initial = 20 } }"),
        "upstreams.api.bulkhead.adaptive.initial",
        "must be between 8 and 10, got 20",
    );
    assert_single_error(
        &with_upstream_keys("circuit_breaker = { thresold = 3 }"),
        "upstreams.api.circuit_breaker.thresold",
        "unknown key",
    );
    let config = parse_ok(&with_upstream_keys(
        "bulkhead = { max_in_flight = 50, adaptive = {} }",
    ));
    let adaptive = config.upstreams["api"].bulkhead.adaptive.clone().unwrap();
    assert_eq!((adaptive.min_in_flight, adaptive.initial), (8, 50));
}

#[test]
fn load_shedding_rules() {
    assert_single_error(
        &with_api_upstream("[load_shedding]\nnormal_share = 0.5\noptional_share = 0.6\n"),
        "load_shedding.optional_share",
        "must not be above normal_share",
    );
    assert_single_error(
        &with_api_upstream("[load_shedding]\nretry_after = \"1500ms\"\n"),
        "load_shedding.retry_after",
        "must be whole seconds",
    );
    assert!(parse(&with_api_upstream("[load_shedding]\nmax_in_flight = 0\n")).is_err());
}
