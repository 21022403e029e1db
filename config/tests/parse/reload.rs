//! `restart_required` and `diff` between two configs.

use weir_config::{Config, diff, restart_required};

use crate::example::FULL_EXAMPLE;
use crate::support::parse_ok;

/// The full example with `from` replaced by `to` (which must occur exactly once).
fn changed(from: &str, to: &str) -> Config {
    assert_eq!(
        FULL_EXAMPLE.matches(from).count(),
        1,
        "{from:?} must occur once"
    );
    parse_ok(&FULL_EXAMPLE.replacen(from, to, 1))
}

#[test]
fn identical_configs_need_no_restart_and_have_no_diff() {
    let old = parse_ok(FULL_EXAMPLE);
    assert!(restart_required(&old, &old.clone()).is_empty());
    assert!(diff(&old, &old.clone()).is_empty());
}

#[test]
fn restart_is_required_for_listeners_access_log_and_gateway_id() {
    let old = parse_ok(FULL_EXAMPLE);
    let cases = [
        (
            "http = \"127.0.0.1:8080\"",
            "http = \"127.0.0.1:8081\"",
            "listen.http",
        ),
        (
            "listen = \"127.0.0.1:9901\"",
            "listen = \"127.0.0.1:9902\"",
            "admin.listen",
        ),
        (
            "path = \"stdout\"",
            "path = \"/tmp/access.log\"",
            "access_log.path",
        ),
        ("enabled = true", "enabled = false", "access_log.enabled"),
        ("id = \"gw-use1\"", "id = \"gw-use2\"", "gateway.id"),
    ];
    for (from, to, key) in cases {
        assert_eq!(
            restart_required(&old, &changed(from, to)),
            vec![key],
            "{key}"
        );
    }
    let both = parse_ok(
        &FULL_EXAMPLE
            .replacen("id = \"gw-use1\"", "id = \"gw-x\"", 1)
            .replacen("http = \"127.0.0.1:8080\"", "http = \"127.0.0.1:8000\"", 1),
    );
    assert_eq!(
        restart_required(&old, &both),
        vec!["listen.http", "gateway.id"]
    );
}

#[test]
fn live_changes_need_no_restart() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = changed("weight = 100", "weight = 50");
    assert!(restart_required(&old, &new).is_empty());
    let new = changed(
        "region = \"us-east\"\n\n[listen]",
        "region = \"eu-west\"\n\n[listen]",
    );
    assert!(restart_required(&old, &new).is_empty());
}

#[test]
fn diff_reports_pool_weight_changes_by_region() {
    let old = parse_ok(FULL_EXAMPLE);
    let mut new = old.clone();
    if let Some(api) = new.fleet.upstreams.get_mut("api") {
        api.pools[0].weight = 0;
        api.pools[1].weight = 100;
    }
    assert_eq!(
        diff(&old, &new),
        vec![
            "upstreams.api.pools[us-east].weight: 100 -> 0",
            "upstreams.api.pools[eu-west].weight: 0 -> 100",
        ]
    );
}

#[test]
fn diff_reports_upstreams_added_removed_and_changed() {
    let old = parse_ok(FULL_EXAMPLE);
    let mut new = old.clone();
    let Some(mut web) = new.fleet.upstreams.get("api").cloned() else {
        panic!("example has an api upstream");
    };
    web.name = "web".to_owned();
    new.fleet.upstreams.insert("web".to_owned(), web);
    assert_eq!(diff(&old, &new), vec!["upstreams.web: added"]);
    assert_eq!(diff(&new, &old), vec!["upstreams.web: removed"]);

    let new = changed(
        "region_policy = \"nearest\"",
        "region_policy = \"weighted\"",
    );
    assert_eq!(
        diff(&old, &new),
        vec!["upstreams.api.region_policy: nearest -> weighted"]
    );
    let new = changed("connect_timeout = \"1s\"", "connect_timeout = \"1500ms\"");
    assert_eq!(
        diff(&old, &new),
        vec!["upstreams.api.connect_timeout: 1s -> 1s 500ms"]
    );
}

#[test]
fn diff_reports_health_and_outlier_changes() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = changed("interval = \"1s\"", "interval = \"2s\"");
    assert_eq!(
        diff(&old, &new),
        vec!["upstreams.api.health.interval: 1s -> 2s"]
    );
    let mut new = old.clone();
    if let Some(api) = new.fleet.upstreams.get_mut("api") {
        api.health = None;
        api.outlier.consecutive_failures = 7;
    }
    assert_eq!(
        diff(&old, &new),
        vec![
            "upstreams.api.health: enabled -> disabled",
            "upstreams.api.outlier.consecutive_failures: 5 -> 7",
        ]
    );
}

#[test]
fn diff_reports_pools_and_endpoints() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = changed(
        "endpoints = [\"127.0.0.1:9001\", \"127.0.0.1:9002\", ",
        "endpoints = [\"127.0.0.1:9002\", \"127.0.0.1:9003\", ",
    );
    assert_eq!(
        diff(&old, &new),
        vec![
            "upstreams.api.pools[us-east].endpoints: added 127.0.0.1:9003; removed 127.0.0.1:9001"
        ]
    );
    let new = changed("region = \"eu-west\"", "region = \"ap-south\"");
    assert_eq!(
        diff(&old, &new),
        vec![
            "upstreams.api.pools[eu-west]: removed",
            "upstreams.api.pools[ap-south]: added",
        ]
    );
}

#[test]
fn diff_reports_routes_added_removed_and_changed() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = changed("host = \"*\"", "host = \"API.example.com\"");
    assert_eq!(
        diff(&old, &new),
        vec!["routes[api].host: * -> api.example.com"]
    );
    let new = changed("name = \"api\"", "name = \"api-v2\"");
    assert_eq!(
        diff(&old, &new),
        vec!["routes[api]: removed", "routes[api-v2]: added"]
    );
    let new = changed("timeout = \"10s\"", "timeout = \"30s\"");
    assert_eq!(diff(&old, &new), vec!["routes[api].timeout: 10s -> 30s"]);
}

#[test]
fn diff_reports_settings() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = changed("id = \"gw-use1\"\n", "");
    assert_eq!(diff(&old, &new), vec!["gateway.id: gw-use1 -> (host name)"]);
    let new = changed("path = \"stdout\"", "path = \"/var/log/weir.log\"");
    assert_eq!(
        diff(&old, &new),
        vec!["access_log.path: stdout -> /var/log/weir.log"]
    );
}

#[test]
fn limit_redis_and_client_ip_changes_need_no_restart() {
    let old = parse_ok(FULL_EXAMPLE);
    let cases = [
        ("rate = 100", "rate = 200"),
        ("burst = 50", "burst = 5"),
        (
            "scope = \"global\"\non_store_error = \"deny\"",
            "scope = \"local\"",
        ),
        (
            "url = \"redis://127.0.0.1:6379/2\"",
            "url = \"redis://10.0.0.9\"",
        ),
        ("pool_size = 2", "pool_size = 4"),
        ("header = \"forwarded\"", "header = \"x-forwarded-for\""),
        ("\"127.0.0.1\", ", ""),
        (
            "rate_limits = [\"per-client\", \"per-key\"]",
            "rate_limits = [\"per-key\"]",
        ),
    ];
    for (from, to) in cases {
        let new = changed(from, to);
        assert_ne!(diff(&old, &new), Vec::<String>::new(), "{from:?}");
        assert!(restart_required(&old, &new).is_empty(), "{from:?}");
    }
    // Adding or removing the redis section too.
    let without_redis = parse_ok(
        &FULL_EXAMPLE
            .replacen("scope = \"global\"\non_store_error = \"deny\"\n", "", 1)
            .replacen(
                "[redis]\nurl = \"redis://127.0.0.1:6379/2\"\ntimeout = \"5ms\"\npool_size = 2\n\
                 key_prefix = \"weir\"\n",
                "",
                1,
            ),
    );
    assert_eq!(without_redis.fleet.redis, None);
    assert!(restart_required(&old, &without_redis).is_empty());
    assert!(restart_required(&without_redis, &old).is_empty());
    assert_eq!(
        diff(&old, &without_redis),
        [
            "redis: removed",
            "rate_limits.per-client.scope: global -> local",
            "rate_limits.per-client.on_store_error: deny -> local",
        ]
    );
    assert_eq!(
        diff(&without_redis, &old),
        [
            "redis: added",
            "rate_limits.per-client.scope: local -> global",
            "rate_limits.per-client.on_store_error: local -> deny",
        ]
    );
}

#[test]
fn diff_reports_policies_added_removed_and_changed() {
    let old = parse_ok(FULL_EXAMPLE);
    // A renamed policy is a removed one and an added one.
    let new = parse_ok(&FULL_EXAMPLE.replace("per-key", "per-tenant"));
    assert_eq!(
        diff(&old, &new),
        [
            "rate_limits.per-key: removed",
            "rate_limits.per-tenant: added",
            "routes[api].rate_limits: [per-client, per-key] -> [per-client, per-tenant]",
        ]
    );
    assert!(restart_required(&old, &new).is_empty());
    // Removing a policy and every reference to it.
    let new = parse_ok(&FULL_EXAMPLE.replacen(", \"per-key\"", "", 1).replacen(
        "[rate_limits.per-key]\nkey = [\"header:X-Api-Key\", \"route\"]\nrate = 10\n\
                 per = \"1m\"\nmissing_key = \"exempt\"\nmax_keys = 5000\n\
                 response_headers = false\n",
        "",
        1,
    ));
    assert_eq!(
        diff(&old, &new),
        [
            "rate_limits.per-key: removed",
            "routes[api].rate_limits: [per-client, per-key] -> [per-client]",
        ]
    );
    let new = changed("rate = 100", "rate = 200");
    assert_eq!(
        diff(&old, &new),
        ["rate_limits.per-client.rate: 100 -> 200"]
    );
    let mut new = old.clone();
    if let Some(policy) = new.fleet.rate_limits.get_mut("per-key") {
        policy.key = vec![weir_config::KeyPart::ClientIp];
        policy.per = std::time::Duration::from_secs(90);
        policy.burst = 20;
        policy.missing_key = weir_config::MissingKey::Shared;
        policy.max_keys = 10;
        policy.response_headers = true;
    }
    assert_eq!(
        diff(&old, &new),
        [
            "rate_limits.per-key.key: [header:x-api-key, route] -> [client_ip]",
            "rate_limits.per-key.per: 1m -> 1m 30s",
            "rate_limits.per-key.burst: 10 -> 20",
            "rate_limits.per-key.missing_key: exempt -> shared",
            "rate_limits.per-key.max_keys: 5000 -> 10",
            "rate_limits.per-key.response_headers: false -> true",
        ]
    );
}

#[test]
fn diff_reports_route_policies() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = changed(
        "rate_limits = [\"per-client\", \"per-key\"]",
        "rate_limits = [\"per-key\", \"per-client\"]",
    );
    assert_eq!(
        diff(&old, &new),
        ["routes[api].rate_limits: [per-client, per-key] -> [per-key, per-client]"]
    );
    let new = changed("rate_limits = [\"per-client\", \"per-key\"]\n", "");
    assert_eq!(
        diff(&old, &new),
        ["routes[api].rate_limits: [per-client, per-key] -> []"]
    );
}

#[test]
fn diff_reports_redis_changes() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = parse_ok(
        &FULL_EXAMPLE
            .replacen("redis://127.0.0.1:6379/2", "redis://cache.internal:6380", 1)
            .replacen("timeout = \"5ms\"", "timeout = \"20ms\"", 1)
            .replacen("pool_size = 2", "pool_size = 8", 1)
            .replacen("key_prefix = \"weir\"", "key_prefix = \"weir-eu\"", 1),
    );
    assert_eq!(
        diff(&old, &new),
        [
            "redis.url: redis://127.0.0.1:6379/2 -> redis://cache.internal:6380",
            "redis.timeout: 5ms -> 20ms",
            "redis.pool_size: 2 -> 8",
            "redis.key_prefix: weir -> weir-eu",
        ]
    );
    assert!(restart_required(&old, &new).is_empty());
}

#[test]
fn diff_reports_client_ip_changes() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = changed(
        "trusted_proxies = [\"10.0.0.0/8\", \"127.0.0.1\", \"::1/128\"]",
        "trusted_proxies = [\"10.0.0.0/8\", \"::1\", \"192.168.0.0/16\"]",
    );
    assert_eq!(
        diff(&old, &new),
        ["client_ip.trusted_proxies: added 192.168.0.0/16; removed 127.0.0.1/32"]
    );
    let new = changed("header = \"forwarded\"", "header = \"x-forwarded-for\"");
    assert_eq!(
        diff(&old, &new),
        ["client_ip.header: forwarded -> x-forwarded-for"]
    );
    assert!(restart_required(&old, &new).is_empty());
}

#[test]
fn diff_reports_route_resilience_key_by_key() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = parse_ok(
        &FULL_EXAMPLE
            .replacen("read_timeout = \"2s\"", "read_timeout = \"3s\"", 1)
            .replacen("connect_timeout = \"300ms\"\n", "", 1)
            .replacen("priority = \"critical\"", "priority = \"optional\"", 1)
            .replacen("attempts = 4", "attempts = 2", 1)
            .replacen("statuses = [503]", "statuses = [502, 503]", 1)
            .replacen("on_reset = false", "on_reset = true", 1)
            .replacen("non_idempotent = true", "non_idempotent = false", 1)
            .replacen("backoff = \"10ms\"", "backoff = \"20ms\"", 1)
            .replacen("max_backoff = \"1s\"", "max_backoff = \"2s\"", 1),
    );
    assert_eq!(
        diff(&old, &new),
        [
            "routes[api].read_timeout: 2s -> 3s",
            "routes[api].connect_timeout: 300ms -> (upstream's)",
            "routes[api].priority: critical -> optional",
            "routes[api].retry.attempts: 4 -> 2",
            "routes[api].retry.statuses: [503] -> [502, 503]",
            "routes[api].retry.on_reset: false -> true",
            "routes[api].retry.non_idempotent: true -> false",
            "routes[api].retry.backoff: 10ms -> 20ms",
            "routes[api].retry.max_backoff: 1s -> 2s",
        ]
    );
    assert!(restart_required(&old, &new).is_empty());
}

#[test]
fn diff_reports_faults_key_by_key_and_when_they_start_or_stop() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = parse_ok(
        &FULL_EXAMPLE
            .replacen("header = \"X-Game-Day\"\n", "", 1)
            .replacen("header_value = \"on\"\n", "", 1)
            .replacen("delay = \"50ms\"\n", "", 1)
            .replacen("delay_percent = 2.5\n", "", 1)
            .replacen("abort_status = 502", "abort_status = 503", 1)
            .replacen("abort_percent = 1", "abort_percent = 12.5", 1),
    );
    assert_eq!(
        diff(&old, &new),
        [
            "routes[api].fault.header: x-game-day -> (every request)",
            "routes[api].fault.header_value: on -> (any value)",
            "routes[api].fault.delay: 50ms -> (none)",
            "routes[api].fault.delay_percent: 2.5 -> 100",
            "routes[api].fault.abort_status: 502 -> 503",
            "routes[api].fault.abort_percent: 1 -> 12.5",
        ]
    );
    let mut off = old.clone();
    off.fleet.routes[0].fault = None;
    assert_eq!(diff(&old, &off), ["routes[api].fault: enabled -> disabled"]);
    assert_eq!(diff(&off, &old), ["routes[api].fault: disabled -> enabled"]);
}

#[test]
fn diff_reports_upstream_resilience_key_by_key() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = parse_ok(
        &FULL_EXAMPLE
            .replacen("slow_start = \"5s\"", "slow_start = \"0s\"", 1)
            .replacen(
                "retry_budget = { ratio = 0.1, min_per_second = 5, window = \"5s\" }",
                "retry_budget = { ratio = 0.3, min_per_second = 0, window = \"20s\" }",
                1,
            )
            .replacen(
                "circuit_breaker = { enabled = false, failure_rate = 0.25, min_requests = 50, \
                 window = \"30s\", open_for = \"2s\", max_open_for = \"20s\", \
                 half_open_successes = 4 }",
                "circuit_breaker = { enabled = true, failure_rate = 0.5, min_requests = 10, \
                 window = \"1m\", open_for = \"3s\", max_open_for = \"30s\", \
                 half_open_successes = 5 }",
                1,
            )
            .replacen(
                "max_in_flight = 500, max_pending_connects = 50, adaptive = { min_in_flight = 10, \
                 initial = 50, tolerance = 3, min_rtt_window = \"10s\" }",
                "max_in_flight = 400, max_pending_connects = 60, adaptive = { min_in_flight = 20, \
                 initial = 40, tolerance = 1.5, min_rtt_window = \"1m\" }",
                1,
            ),
    );
    assert_eq!(
        diff(&old, &new),
        [
            "upstreams.api.slow_start: 5s -> 0s",
            "upstreams.api.retry_budget.ratio: 0.1 -> 0.3",
            "upstreams.api.retry_budget.min_per_second: 5 -> 0",
            "upstreams.api.retry_budget.window: 5s -> 20s",
            "upstreams.api.circuit_breaker.enabled: false -> true",
            "upstreams.api.circuit_breaker.failure_rate: 0.25 -> 0.5",
            "upstreams.api.circuit_breaker.min_requests: 50 -> 10",
            "upstreams.api.circuit_breaker.window: 30s -> 1m",
            "upstreams.api.circuit_breaker.open_for: 2s -> 3s",
            "upstreams.api.circuit_breaker.max_open_for: 20s -> 30s",
            "upstreams.api.circuit_breaker.half_open_successes: 4 -> 5",
            "upstreams.api.bulkhead.max_in_flight: 500 -> 400",
            "upstreams.api.bulkhead.max_pending_connects: 50 -> 60",
            "upstreams.api.bulkhead.adaptive.min_in_flight: 10 -> 20",
            "upstreams.api.bulkhead.adaptive.initial: 50 -> 40",
            "upstreams.api.bulkhead.adaptive.tolerance: 3 -> 1.5",
            "upstreams.api.bulkhead.adaptive.min_rtt_window: 10s -> 1m",
        ]
    );
    assert!(restart_required(&old, &new).is_empty());
    let mut fixed = old.clone();
    if let Some(api) = fixed.fleet.upstreams.get_mut("api") {
        api.bulkhead.adaptive = None;
    }
    assert_eq!(
        diff(&old, &fixed),
        ["upstreams.api.bulkhead.adaptive: enabled -> disabled"]
    );
    assert_eq!(
        diff(&fixed, &old),
        ["upstreams.api.bulkhead.adaptive: disabled -> enabled"]
    );
}

#[test]
fn diff_reports_load_shedding_key_by_key() {
    let old = parse_ok(FULL_EXAMPLE);
    let new = parse_ok(
        &FULL_EXAMPLE
            .replacen("max_in_flight = 2000", "max_in_flight = 3000", 1)
            .replacen("normal_share = 0.95", "normal_share = 0.9", 1)
            .replacen("optional_share = 0.7", "optional_share = 0.5", 1)
            .replacen("retry_after = \"2s\"", "retry_after = \"1m\"", 1),
    );
    assert_eq!(
        diff(&old, &new),
        [
            "load_shedding.max_in_flight: 2000 -> 3000",
            "load_shedding.normal_share: 0.95 -> 0.9",
            "load_shedding.optional_share: 0.7 -> 0.5",
            "load_shedding.retry_after: 2s -> 1m",
        ]
    );
    assert!(restart_required(&old, &new).is_empty());
}
