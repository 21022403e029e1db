//! How problems are reported: all at once, with key paths, positions and readable text.

use weir_config::{ConfigError, ConfigErrors, parse};

use crate::support::{
    assert_single_error, errors, with_api_upstream, with_pools, with_upstream_keys,
};

#[test]
fn several_problems_are_reported_together_in_text_order() {
    let text = r#"[listen]
http = "localhost:8080"

[upstreams.api]
helth = { path = "/healthz" }
bulkhead = { max_in_flight = "two" }

[[upstreams.api.pools]]
region = "us-east"
weight = 150
endpoints = ["127.0.0.1:9001"]

[[routes]]
upstream = "api"

[[routes]]
path_prefix = "/v2"
upstream = "apii"
"#;
    let found = errors(text);
    let summary: Vec<(&str, Option<usize>, Option<usize>)> = found
        .iter()
        .map(|error| (error.path.as_str(), error.line, error.column))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("listen.http", Some(2), Some(8)),
            ("upstreams.api.helth", Some(5), Some(1)),
            ("upstreams.api.bulkhead.max_in_flight", Some(6), Some(30)),
            ("upstreams.api.pools[0].weight", Some(10), Some(10)),
            ("routes[1].upstream", Some(18), Some(12)),
        ],
        "{found:#?}"
    );
    assert_eq!(
        found[1].message,
        "unknown key (expected one of: region_policy, health, min_healthy_fraction, \
         connect_timeout, outlier, slow_start, retry_budget, circuit_breaker, bulkhead, pools)"
    );
    assert_eq!(found[2].message, "expected an integer, got a string");
    assert_eq!(
        found[4].to_string(),
        "routes[1].upstream: no upstream named \"apii\" (line 18, column 12)"
    );
}

#[test]
fn syntax_error_has_line_and_column_and_no_path() {
    let found = errors("[gateway]\nid = \"gw\"\nregion = = \"x\"\n");
    let [error] = found.as_slice() else {
        panic!("expected one syntax error, got {found:#?}");
    };
    assert_eq!(error.path, "");
    assert_eq!((error.line, error.column), (Some(3), Some(10)));
    assert!(
        error.to_string().starts_with("line 3, column 10: "),
        "{error}"
    );
}

#[test]
fn duplicate_keys_are_syntax_errors() {
    let found = errors("[gateway]\nid = \"a\"\nid = \"b\"\n");
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "");
    assert_eq!(found[0].line, Some(3));
}

#[test]
fn unknown_keys_are_reported_at_every_level() {
    let text = r#"
[gatway]
id = "x"

[upstreams.api]
health = { pth = "/x" }
outlier = { failures = 3 }

[[upstreams.api.pools]]
region = "us-east"
endpoint = "127.0.0.1:1"
endpoints = ["127.0.0.1:9001"]

[[routes]]
upstream = "api"
prefix = "/x"
"#;
    let paths: Vec<String> = errors(text).into_iter().map(|error| error.path).collect();
    assert_eq!(
        paths,
        vec![
            "gatway",
            "upstreams.api.health.pth",
            "upstreams.api.outlier.failures",
            "upstreams.api.pools[0].endpoint",
            "routes[0].prefix",
        ]
    );
}

/// The top-level keys come from `NodeSettings` and `FleetSettings`; the message lists them as it
/// always has, `control_plane` last.
#[test]
fn an_unknown_top_level_key_lists_every_top_level_key() {
    assert_single_error(
        "[gatway]\nid = \"x\"\n",
        "gatway",
        "unknown key (expected one of: gateway, listen, admin, access_log, tls, resolver, upstreams, \
         routes, client_ip, redis, rate_limits, load_shedding, dns, failover, rollout, control_plane)",
    );
}

#[test]
fn wrong_types_are_reported_with_paths_and_positions() {
    let text = r#"
gateway = "gw-1"
listen = { http = 8080 }
access_log = { enabled = "yes" }

[upstreams.api]
min_healthy_fraction = "half"
health = true

[[upstreams.api.pools]]
region = 1
endpoints = ["127.0.0.1:9001", 9002]

[[routes]]
upstream = "api"
timeout = 1979-05-27
"#;
    let found: Vec<(String, String, Option<usize>)> = errors(text)
        .into_iter()
        .map(|error| (error.path, error.message, error.line))
        .collect();
    let expected = [
        ("gateway", "expected a table, got a string", 2),
        ("listen.http", "expected a string, got an integer", 3),
        ("access_log.enabled", "expected a boolean, got a string", 4),
        (
            "upstreams.api.min_healthy_fraction",
            "expected a number, got a string",
            7,
        ),
        ("upstreams.api.health", "expected a table, got a boolean", 8),
        (
            "upstreams.api.pools[0].region",
            "expected a string, got an integer",
            11,
        ),
        (
            "upstreams.api.pools[0].endpoints[1]",
            "expected a string, got an integer",
            12,
        ),
        (
            "routes[0].timeout",
            "expected a duration with a unit, like \"500ms\", got a datetime",
            16,
        ),
    ];
    let expected: Vec<(String, String, Option<usize>)> = expected
        .iter()
        .map(|(path, message, line)| (path.to_string(), message.to_string(), Some(*line)))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn sections_must_have_the_right_shape() {
    assert_single_error(
        "upstreams = 3\n",
        "upstreams",
        "expected a table, got an integer",
    );
    assert_single_error(
        "upstreams.api = \"x\"\n",
        "upstreams.api",
        "expected a table",
    );
    assert_single_error(
        &with_api_upstream("[routes]\nupstream = \"api\"\n"),
        "routes",
        "expected an array, got a table",
    );
    assert_single_error(
        &with_api_upstream("routes = [\"api\"]\n"),
        "routes[0]",
        "expected a table, got a string",
    );
    assert_single_error(
        &with_pools("pools = { region = \"x\" }"),
        "upstreams.api.pools",
        "expected an array",
    );
    assert_single_error(
        &with_pools("[[upstreams.api.pools]]\nregion = \"x\"\nendpoints = \"127.0.0.1:1\""),
        "upstreams.api.pools[0].endpoints",
        "expected an array, got a string",
    );
}

#[test]
fn bare_number_durations_ask_for_a_unit() {
    let error = assert_single_error(
        &with_upstream_keys("connect_timeout = 5"),
        "upstreams.api.connect_timeout",
        "",
    );
    assert_eq!(
        error.message,
        "expected a duration with a unit, like \"500ms\""
    );
    let error = assert_single_error(
        &with_upstream_keys("connect_timeout = \"5\""),
        "upstreams.api.connect_timeout",
        "",
    );
    assert_eq!(
        error.message,
        "expected a duration with a unit, like \"500ms\", got \"5\""
    );
    assert_single_error(
        &with_upstream_keys("connect_timeout = \"soon\""),
        "upstreams.api.connect_timeout",
        "expected a duration with a unit",
    );
}

#[test]
fn huge_integers_are_reported_not_wrapped() {
    assert_single_error(
        &with_upstream_keys("bulkhead = { max_in_flight = 99999999999999999999 }"),
        "upstreams.api.bulkhead.max_in_flight",
        "",
    );
    assert_single_error(
        &with_upstream_keys("health = { healthy_threshold = 4294967296 }"),
        "upstreams.api.health.healthy_threshold",
        "must be at most 4294967295",
    );
}

#[test]
fn missing_required_keys_point_at_their_table() {
    let text = r#"
[upstreams.api]
slow_start = "1s"

[upstreams.web]
[[upstreams.web.pools]]
weight = 10

[[routes]]
name = "no-upstream"
"#;
    let found: Vec<(String, String, Option<usize>)> = errors(text)
        .into_iter()
        .map(|error| (error.path, error.message, error.line))
        .collect();
    let expected = [
        (
            "upstreams.api.pools",
            "missing required key (an upstream needs at least one pool)",
            2,
        ),
        (
            "upstreams.web.pools[0].region",
            "missing required key (a pool needs a region)",
            6,
        ),
        (
            "upstreams.web.pools[0].endpoints",
            "missing required key (a pool needs at least one endpoint)",
            6,
        ),
        (
            "routes[0].upstream",
            "missing required key (a route needs an upstream)",
            9,
        ),
    ];
    let expected: Vec<(String, String, Option<usize>)> = expected
        .iter()
        .map(|(path, message, line)| (path.to_string(), message.to_string(), Some(*line)))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn names_that_are_not_bare_keys_are_quoted_in_paths() {
    let error = assert_single_error(
        &with_pools(
            "[upstreams.\"my api\"]\n[[upstreams.\"my api\".pools]]\n\
             region = \"x\"\nendpoints = [\"127.0.0.1:1\"]\n\
             [[upstreams.api.pools]]\nregion = \"x\"\nendpoints = [\"127.0.0.1:1\"]",
        ),
        "upstreams.\"my api\"",
        "may only contain",
    );
    assert_eq!(error.line, Some(2));
}

#[test]
fn error_display_formats() {
    let with_position = ConfigError {
        path: "routes[1].upstream".to_owned(),
        message: "no upstream named \"apii\"".to_owned(),
        line: Some(12),
        column: Some(12),
    };
    assert_eq!(
        with_position.to_string(),
        "routes[1].upstream: no upstream named \"apii\" (line 12, column 12)"
    );
    let without_position = ConfigError {
        line: None,
        column: None,
        ..with_position.clone()
    };
    assert_eq!(
        without_position.to_string(),
        "routes[1].upstream: no upstream named \"apii\""
    );
    let syntax = ConfigError {
        path: String::new(),
        message: "unclosed table, expected `]`".to_owned(),
        line: Some(3),
        column: Some(5),
    };
    assert_eq!(
        syntax.to_string(),
        "line 3, column 5: unclosed table, expected `]`"
    );
    let all = ConfigErrors(vec![with_position, syntax]);
    assert_eq!(
        all.to_string(),
        "routes[1].upstream: no upstream named \"apii\" (line 12, column 12)\n\
         line 3, column 5: unclosed table, expected `]`"
    );
    let as_std_error: &dyn std::error::Error = &all;
    assert!(as_std_error.to_string().contains('\n'));
}

#[test]
fn parse_errors_display_one_per_line() {
    let Err(found) = parse(&with_upstream_keys(
        "slow_start = \"1h\"\nconnect_timeout = \"0s\"",
    )) else {
        panic!("expected errors");
    };
    assert_eq!(found.len(), 2);
    assert_eq!(found.to_string().lines().count(), 2);
}

#[test]
fn a_bad_value_does_not_cause_follow_on_errors() {
    // The route to an upstream that is not a table is not also "no upstream named".
    assert_single_error(
        "upstreams.api = \"x\"\n[[routes]]\nupstream = \"api\"\n",
        "upstreams.api",
        "expected a table",
    );
    // A pools array whose only element is not a table is not also "needs at least one pool".
    assert_single_error(
        &with_pools("pools = [1]"),
        "upstreams.api.pools[0]",
        "expected a table",
    );
    // An invalid host is not compared with other routes' hosts (it would read as "*"), and
    // the default names built from it ("*./") are not compared either.
    let found = errors(&with_api_upstream(
        "[[routes]]\nupstream = \"api\"\n\
         [[routes]]\nhost = \"*.\"\nupstream = \"api\"\n\
         [[routes]]\nhost = \"*.\"\nupstream = \"api\"\n",
    ));
    let paths: Vec<&str> = found.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(paths, ["routes[1].host", "routes[2].host"], "{found:#?}");
}

#[test]
fn problems_in_limits_redis_and_client_ip_are_reported_together() {
    let text = r#"[client_ip]
trusted_proxies = ["10.0.0.0/8", "10.0.0.300"]
header = "x-real-ip"

[redis]
url = "rediss://cache:6380"
pool_size = 0

[rate_limits.per-client]
key = ["client_ip", "client_ip"]
rate = 0
per = "2days"
scope = "global"
on_store_error = "retry"

[rate_limits.per-key]
key = "header:"
rate = 10
on_store_error = "deny"
missing_key = "skip"

[upstreams.api]
[[upstreams.api.pools]]
region = "us-east"
endpoints = ["127.0.0.1:9001"]

[[routes]]
upstream = "api"
rate_limits = ["per-client", "per-ip", "per-key", "per-client"]
"#;
    let found = errors(text);
    let summary: Vec<(&str, Option<usize>, Option<usize>)> = found
        .iter()
        .map(|error| (error.path.as_str(), error.line, error.column))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("client_ip.trusted_proxies[1]", Some(2), Some(34)),
            ("client_ip.header", Some(3), Some(10)),
            ("redis.url", Some(6), Some(7)),
            ("redis.pool_size", Some(7), Some(13)),
            ("rate_limits.per-client.key[1]", Some(10), Some(21)),
            ("rate_limits.per-client.rate", Some(11), Some(8)),
            ("rate_limits.per-client.per", Some(12), Some(7)),
            ("rate_limits.per-client.on_store_error", Some(14), Some(18)),
            ("rate_limits.per-key.key", Some(17), Some(7)),
            ("rate_limits.per-key.on_store_error", Some(19), Some(18)),
            ("rate_limits.per-key.missing_key", Some(20), Some(15)),
            ("routes[0].rate_limits[1]", Some(29), Some(30)),
            ("routes[0].rate_limits[3]", Some(29), Some(51)),
        ],
        "{found:#?}"
    );
    let messages: Vec<&str> = found.iter().map(|error| error.message.as_str()).collect();
    assert_eq!(
        messages,
        [
            "must be an IP address or a CIDR, like \"10.0.0.0/8\" or \"::1\", got \"10.0.0.300\"",
            "must be \"x-forwarded-for\" or \"forwarded\", got \"x-real-ip\"",
            "TLS (rediss://) is not supported yet; use a redis:// URL, like \
             \"redis://127.0.0.1:6379\"",
            "must be between 1 and 16, got 0",
            "\"client_ip\" is listed twice (also key[0])",
            "must be between 1 and 1000000000, got 0",
            "must be at most 1day, got 2days",
            "must be \"local\", \"allow\" or \"deny\", got \"retry\"",
            "needs a header name after \"header:\", like \"header:x-api-key\"",
            "only applies to scope = \"global\" (this policy's scope is \"local\")",
            "must be \"shared\" or \"exempt\", got \"skip\"",
            "no rate limit policy named \"per-ip\"",
            "\"per-client\" is listed twice (also rate_limits[0])",
        ]
    );
}

#[test]
fn unknown_keys_in_limits_redis_and_client_ip() {
    let text = r#"
[client_ip]
trusted = ["10.0.0.0/8"]

[redis]
url = "redis://cache"
password = "x"

[rate_limits.per-client]
key = "client_ip"
rate = 1
window = "1s"

[[routes]]
upstream = "api"
rate_limit = ["per-client"]
"#;
    let found = errors(&with_api_upstream(text));
    let paths: Vec<&str> = found.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "client_ip.trusted",
            "redis.password",
            "rate_limits.per-client.window",
            "routes[0].rate_limit",
        ]
    );
    assert_eq!(
        found[2].message,
        "unknown key (expected one of: key, rate, per, burst, scope, on_store_error, \
         missing_key, max_keys, response_headers)"
    );
    assert_eq!(
        found[3].message,
        "unknown key (expected one of: name, host, path_prefix, upstream, timeout, read_timeout, \
         connect_timeout, priority, retry, fault, rate_limits, forward_raw_path, encoded_slashes, path_prefix_ignore_case, max_body_size, underscores_in_headers, \
         redirect_https, https_port, hsts)"
    );
}

#[test]
fn wrong_types_in_limits_redis_and_client_ip() {
    let text = r#"
client_ip = { trusted_proxies = "10.0.0.0/8", header = 1 }
redis = { url = "redis://cache", timeout = 5, pool_size = "2", key_prefix = [] }

[rate_limits.per-client]
key = 1
rate = "100"
per = 1
burst = 1.5
scope = true
max_keys = "many"
response_headers = "yes"

[rate_limits.other]
key = ["client_ip", 2]
rate = 1

[[routes]]
upstream = "api"
rate_limits = "per-client"

[[routes]]
path_prefix = "/b"
upstream = "api"
rate_limits = [3]
"#;
    let found: Vec<(String, String, Option<usize>)> = errors(&with_api_upstream(text))
        .into_iter()
        .map(|error| (error.path, error.message, error.line))
        .collect();
    let expected = [
        (
            "client_ip.trusted_proxies",
            "expected an array, got a string",
            2,
        ),
        ("client_ip.header", "expected a string, got an integer", 2),
        (
            "redis.timeout",
            "expected a duration with a unit, like \"500ms\"",
            3,
        ),
        ("redis.pool_size", "expected an integer, got a string", 3),
        ("redis.key_prefix", "expected a string, got an array", 3),
        (
            "rate_limits.per-client.key",
            "expected a string or an array of strings, got an integer",
            6,
        ),
        (
            "rate_limits.per-client.rate",
            "expected an integer, got a string",
            7,
        ),
        (
            "rate_limits.per-client.per",
            "expected a duration with a unit, like \"500ms\"",
            8,
        ),
        (
            "rate_limits.per-client.burst",
            "expected an integer, got a float",
            9,
        ),
        (
            "rate_limits.per-client.scope",
            "expected a string, got a boolean",
            10,
        ),
        (
            "rate_limits.per-client.max_keys",
            "expected an integer, got a string",
            11,
        ),
        (
            "rate_limits.per-client.response_headers",
            "expected a boolean, got a string",
            12,
        ),
        (
            "rate_limits.other.key[1]",
            "expected a string, got an integer",
            15,
        ),
        (
            "routes[0].rate_limits",
            "expected an array, got a string",
            20,
        ),
        (
            "routes[1].rate_limits[0]",
            "expected a string, got an integer",
            25,
        ),
    ];
    let expected: Vec<(String, String, Option<usize>)> = expected
        .iter()
        .map(|(path, message, line)| (path.to_string(), message.to_string(), Some(*line)))
        .collect();
    assert_eq!(found, expected);
}

#[test]
fn limit_sections_must_have_the_right_shape() {
    assert_single_error(
        "redis = \"redis://cache\"\n",
        "redis",
        "expected a table, got a string",
    );
    assert_single_error(
        "client_ip = [\"10.0.0.0/8\"]\n",
        "client_ip",
        "expected a table, got an array",
    );
    assert_single_error(
        "rate_limits = [\"per-client\"]\n",
        "rate_limits",
        "expected a table, got an array",
    );
}
