//! One test per validation rule: each would fail if its rule were missing.

use weir_config::HostMatch;

use crate::support::{
    assert_single_error, errors, parse_ok, with_api_upstream, with_pools, with_upstream_keys,
};

fn pool(region: &str, weight: u32, endpoints: &str) -> String {
    format!(
        "[[upstreams.api.pools]]\nregion = \"{region}\"\nweight = {weight}\nendpoints = [{endpoints}]\n"
    )
}

// --- addresses ---

#[test]
fn listen_address_must_be_ip_and_port() {
    assert_single_error(
        "[listen]\nhttp = \"localhost:8080\"\n",
        "listen.http",
        "must be an ip:port address (host names are not supported yet)",
    );
    assert_single_error("[listen]\nhttp = \"127.0.0.1\"\n", "listen.http", "no port");
    assert_single_error("[listen]\nhttp = \"127.0.0.1:0\"\n", "listen.http", "port");
    let config = parse_ok("[listen]\nhttp = \"[::]:80\"\n");
    assert_eq!(config.listen.http.to_string(), "[::]:80");
}

#[test]
fn admin_address_must_be_ip_and_port() {
    assert_single_error(
        "[admin]\nlisten = \"admin.internal:9901\"\n",
        "admin.listen",
        "host names are not supported yet",
    );
}

#[test]
fn endpoints_must_be_ip_and_port() {
    assert_single_error(
        &with_pools(&pool("us-east", 100, "\"api-1.internal:9001\"")),
        "upstreams.api.pools[0].endpoints[0]",
        "must be an ip:port address (host names are not supported yet)",
    );
    assert_single_error(
        &with_pools(&pool("us-east", 100, "\"::1:9001\"")),
        "upstreams.api.pools[0].endpoints[0]",
        "must be an ip:port address",
    );
}

#[test]
fn listen_and_admin_addresses_must_differ() {
    assert_single_error(
        "[listen]\nhttp = \"127.0.0.1:9000\"\n[admin]\nlisten = \"127.0.0.1:9000\"\n",
        "admin.listen",
        "must not use the same address and port as listen.http (127.0.0.1:9000)",
    );
    // Against the other key's default.
    assert_single_error(
        "[listen]\nhttp = \"127.0.0.1:9901\"\n",
        "listen.http",
        "same address and port as admin.listen",
    );
    // A wildcard address overlaps every address on the same port.
    assert_single_error(
        "[listen]\nhttp = \"0.0.0.0:8080\"\n[admin]\nlisten = \"127.0.0.1:8080\"\n",
        "admin.listen",
        "same address and port",
    );
    parse_ok("[listen]\nhttp = \"0.0.0.0:8080\"\n[admin]\nlisten = \"127.0.0.1:8081\"\n");
}

// --- names ---

#[test]
fn gateway_id_and_region_must_be_names() {
    assert_single_error(
        "[gateway]\nid = \"gw 1\"\n",
        "gateway.id",
        "may only contain",
    );
    assert_single_error("[gateway]\nid = \"\"\n", "gateway.id", "must not be empty");
    assert_single_error(
        "[gateway]\nregion = \"us/east\"\n",
        "gateway.region",
        "may only contain",
    );
    parse_ok("[gateway]\nid = \"gw-use1.a_b\"\nregion = \"us-east\"\n");
}

#[test]
fn pool_region_must_be_a_name() {
    assert_single_error(
        &with_pools(&pool("us east", 100, "\"127.0.0.1:9001\"")),
        "upstreams.api.pools[0].region",
        "may only contain letters, digits, '.', '_' and '-', got \"us east\"",
    );
    assert_single_error(
        &with_pools(&pool("", 100, "\"127.0.0.1:9001\"")),
        "upstreams.api.pools[0].region",
        "must not be empty",
    );
}

#[test]
fn upstream_name_must_be_a_name() {
    let text = "[[upstreams.\"api/v1\".pools]]\nregion = \"x\"\nendpoints = [\"127.0.0.1:1\"]\n";
    assert_single_error(text, "upstreams.\"api/v1\"", "may only contain");
}

#[test]
fn route_name_must_be_a_name() {
    assert_single_error(
        &with_api_upstream("[[routes]]\nname = \"my route\"\nupstream = \"api\"\n"),
        "routes[0].name",
        "may only contain",
    );
    assert_single_error(
        &with_api_upstream("[[routes]]\nname = \"\"\nupstream = \"api\"\n"),
        "routes[0].name",
        "must not be empty",
    );
}

// --- pools ---

#[test]
fn pool_weight_must_be_between_0_and_100() {
    assert_single_error(
        &with_pools(&pool("us-east", 101, "\"127.0.0.1:9001\"")),
        "upstreams.api.pools[0].weight",
        "must be between 0 and 100, got 101",
    );
    assert_single_error(
        &with_pools(
            "[[upstreams.api.pools]]\nregion = \"x\"\nweight = -1\nendpoints = [\"127.0.0.1:1\"]",
        ),
        "upstreams.api.pools[0].weight",
        "must be between 0 and 100, got -1",
    );
}

#[test]
fn upstream_needs_at_least_one_pool() {
    assert_single_error(
        &with_pools("pools = []"),
        "upstreams.api.pools",
        "needs at least one pool",
    );
}

#[test]
fn pool_regions_are_unique_within_an_upstream() {
    let pools = [
        pool("us-east", 100, "\"127.0.0.1:9001\""),
        pool("eu-west", 100, "\"127.0.0.1:9002\""),
        pool("us-east", 100, "\"127.0.0.1:9003\""),
    ]
    .concat();
    assert_single_error(
        &with_pools(&pools),
        "upstreams.api.pools[2].region",
        "\"us-east\" is already used by pools[0]",
    );
}

#[test]
fn the_same_region_may_appear_in_different_upstreams() {
    let text = with_pools(&format!(
        "{}[[upstreams.web.pools]]\nregion = \"us-east\"\nendpoints = [\"127.0.0.1:9002\"]\n",
        pool("us-east", 100, "\"127.0.0.1:9001\"")
    ));
    parse_ok(&text);
}

#[test]
fn pool_needs_at_least_one_endpoint() {
    assert_single_error(
        &with_pools(&pool("us-east", 100, "")),
        "upstreams.api.pools[0].endpoints",
        "needs at least one endpoint",
    );
}

#[test]
fn endpoints_are_unique_within_a_pool() {
    assert_single_error(
        &with_pools(&pool(
            "us-east",
            100,
            "\"127.0.0.1:9001\", \"127.0.0.1:9002\", \"127.0.0.1:9001\"",
        )),
        "upstreams.api.pools[0].endpoints[2]",
        "127.0.0.1:9001 is listed twice (also endpoints[0])",
    );
}

#[test]
fn at_least_one_pool_must_have_weight_above_0() {
    let pools = [
        pool("us-east", 0, "\"127.0.0.1:9001\""),
        pool("eu-west", 0, "\"127.0.0.1:9002\""),
    ]
    .concat();
    let error = assert_single_error(
        &with_pools(&pools),
        "upstreams.api.pools",
        "every pool has weight 0; at least one must be above 0",
    );
    assert_eq!(error.line, Some(2));
    let pools = [
        pool("us-east", 0, "\"127.0.0.1:9001\""),
        pool("eu-west", 1, "\"127.0.0.1:9002\""),
    ]
    .concat();
    parse_ok(&with_pools(&pools));
}

// --- fractions ---

#[test]
fn min_healthy_fraction_is_between_0_and_1() {
    assert_single_error(
        &with_upstream_keys("min_healthy_fraction = 1.5"),
        "upstreams.api.min_healthy_fraction",
        "must be between 0.0 and 1.0, got 1.5",
    );
    assert_single_error(
        &with_upstream_keys("min_healthy_fraction = -0.1"),
        "upstreams.api.min_healthy_fraction",
        "must be between 0.0 and 1.0",
    );
    assert_single_error(
        &with_upstream_keys("min_healthy_fraction = nan"),
        "upstreams.api.min_healthy_fraction",
        "must be between 0.0 and 1.0",
    );
}

#[test]
fn max_ejected_fraction_is_between_0_and_1() {
    assert_single_error(
        &with_upstream_keys("outlier = { max_ejected_fraction = 2 }"),
        "upstreams.api.outlier.max_ejected_fraction",
        "must be between 0.0 and 1.0, got 2",
    );
}

// --- health checks ---

#[test]
fn health_path_must_start_with_a_slash() {
    assert_single_error(
        &with_upstream_keys("health = { path = \"healthz\" }"),
        "upstreams.api.health.path",
        "must start with '/'",
    );
    assert_single_error(
        &with_upstream_keys("health = { path = \"/health z\" }"),
        "upstreams.api.health.path",
        "must not contain spaces",
    );
}

#[test]
fn health_thresholds_are_at_least_1() {
    let found = errors(&with_upstream_keys(
        "health = { healthy_threshold = 0, unhealthy_threshold = 0 }",
    ));
    let paths: Vec<&str> = found.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "upstreams.api.health.healthy_threshold",
            "upstreams.api.health.unhealthy_threshold"
        ]
    );
    assert!(
        found
            .iter()
            .all(|error| error.message == "must be at least 1, got 0")
    );
}

#[test]
fn health_interval_must_be_positive() {
    assert_single_error(
        &with_upstream_keys("health = { interval = \"0s\", timeout = \"1ms\" }"),
        "upstreams.api.health.interval",
        "must be greater than 0",
    );
}

#[test]
fn health_timeout_must_be_positive() {
    assert_single_error(
        &with_upstream_keys("health = { timeout = \"0ms\" }"),
        "upstreams.api.health.timeout",
        "must be greater than 0",
    );
}

#[test]
fn health_timeout_must_not_exceed_interval() {
    assert_single_error(
        &with_upstream_keys("health = { interval = \"1s\", timeout = \"2s\" }"),
        "upstreams.api.health.timeout",
        "must not be longer than interval (2s > 1s)",
    );
    // The default timeout (500ms) against a short interval.
    let error = assert_single_error(
        &with_upstream_keys("health = { interval = \"200ms\" }"),
        "upstreams.api.health.timeout",
        "(500ms > 200ms)",
    );
    assert_eq!(error.line, Some(2));
    parse_ok(&with_upstream_keys(
        "health = { interval = \"1s\", timeout = \"1s\" }",
    ));
}

// --- outlier detection ---

#[test]
fn consecutive_failures_is_at_least_1() {
    assert_single_error(
        &with_upstream_keys("outlier = { consecutive_failures = 0 }"),
        "upstreams.api.outlier.consecutive_failures",
        "must be at least 1, got 0",
    );
}

#[test]
fn base_ejection_time_must_be_positive() {
    assert_single_error(
        &with_upstream_keys("outlier = { base_ejection_time = \"0s\" }"),
        "upstreams.api.outlier.base_ejection_time",
        "must be greater than 0",
    );
}

#[test]
fn max_ejection_time_is_at_least_base_ejection_time() {
    assert_single_error(
        &with_upstream_keys(
            "outlier = { base_ejection_time = \"30s\", max_ejection_time = \"10s\" }",
        ),
        "upstreams.api.outlier.max_ejection_time",
        "must be at least base_ejection_time (10s < 30s)",
    );
    assert_single_error(
        &with_upstream_keys("outlier = { base_ejection_time = \"10m\" }"),
        "upstreams.api.outlier.max_ejection_time",
        "(5m < 10m)",
    );
    parse_ok(&with_upstream_keys(
        "outlier = { base_ejection_time = \"10s\", max_ejection_time = \"10s\" }",
    ));
}

// --- connections ---

#[test]
fn connect_timeout_must_be_positive() {
    assert_single_error(
        &with_upstream_keys("connect_timeout = \"0ms\""),
        "upstreams.api.connect_timeout",
        "must be greater than 0",
    );
}

#[test]
fn connect_retries_is_at_most_5() {
    assert_single_error(
        &with_upstream_keys("connect_retries = 6"),
        "upstreams.api.connect_retries",
        "must be between 0 and 5, got 6",
    );
    assert_single_error(
        &with_upstream_keys("connect_retries = -1"),
        "upstreams.api.connect_retries",
        "must be between 0 and 5, got -1",
    );
    let config = parse_ok(&with_upstream_keys("connect_retries = 5"));
    assert_eq!(config.upstreams["api"].connect_retries, 5);
}

#[test]
fn region_policy_is_nearest_or_weighted() {
    assert_single_error(
        &with_upstream_keys("region_policy = \"closest\""),
        "upstreams.api.region_policy",
        "must be \"nearest\" or \"weighted\", got \"closest\"",
    );
}

// --- routes ---

#[test]
fn route_upstream_must_exist() {
    assert_single_error(
        &with_api_upstream(
            "[[routes]]\nupstream = \"api\"\n[[routes]]\nhost = \"x.com\"\nupstream = \"apii\"\n",
        ),
        "routes[1].upstream",
        "no upstream named \"apii\"",
    );
}

#[test]
fn route_to_an_upstream_with_its_own_errors_is_not_reported_twice() {
    let text = "[upstreams.api]\nconnect_retries = 9\n\
                [[upstreams.api.pools]]\nregion = \"x\"\nendpoints = [\"127.0.0.1:1\"]\n\
                [[routes]]\nupstream = \"api\"\n";
    assert_single_error(text, "upstreams.api.connect_retries", "between 0 and 5");
}

#[test]
fn route_host_must_be_a_valid_pattern() {
    let cases = [
        ("*.", "needs a suffix"),
        ("*.*.example.com", "'*' is only allowed as a leading"),
        ("api*.example.com", "'*' is only allowed as a leading"),
        ("api.example.com:8080", "must not include a port"),
        ("api example.com", "must not contain spaces"),
        ("", "must not be empty"),
    ];
    for (host, message) in cases {
        let text = with_api_upstream(&format!(
            "[[routes]]\nhost = \"{host}\"\nupstream = \"api\"\n"
        ));
        assert_single_error(&text, "routes[0].host", message);
    }
}

#[test]
fn route_hosts_accept_any_suffix_and_exact() {
    let config = parse_ok(&with_api_upstream(
        "[[routes]]\nupstream = \"api\"\n\
         [[routes]]\nhost = \"*.example.com\"\nupstream = \"api\"\n\
         [[routes]]\nhost = \"example.com\"\nupstream = \"api\"\n",
    ));
    let hosts: Vec<HostMatch> = config.routes.into_iter().map(|route| route.host).collect();
    assert_eq!(
        hosts,
        [
            HostMatch::Any,
            HostMatch::Suffix(".example.com".to_owned()),
            HostMatch::Exact("example.com".to_owned()),
        ]
    );
}

#[test]
fn route_path_prefix_must_start_with_a_slash() {
    assert_single_error(
        &with_api_upstream("[[routes]]\npath_prefix = \"api\"\nupstream = \"api\"\n"),
        "routes[0].path_prefix",
        "must start with '/', got \"api\"",
    );
}

#[test]
fn routes_with_the_same_host_and_prefix_are_rejected() {
    let text = with_api_upstream(
        r#"
[[routes]]
name = "a"
host = "api.example.com"
path_prefix = "/v1"
upstream = "api"

[[routes]]
name = "b"
path_prefix = "/v1"
upstream = "api"

[[routes]]
name = "c"
host = "*"
upstream = "api"

[[routes]]
name = "d"
host = "API.example.com"
path_prefix = "/v1"
upstream = "api"
"#,
    );
    let error = assert_single_error(&text, "routes[3]", "same host and path_prefix as routes[0]");
    assert_eq!(error.line, Some(18));
}

#[test]
fn route_names_are_unique() {
    let text = with_api_upstream(
        "[[routes]]\nname = \"api\"\nupstream = \"api\"\n\
         [[routes]]\nname = \"api\"\npath_prefix = \"/v2\"\nupstream = \"api\"\n",
    );
    assert_single_error(
        &text,
        "routes[1].name",
        "\"api\" is already used by routes[0]",
    );
}

#[test]
fn repeated_default_routes_are_reported_once() {
    let text =
        with_api_upstream("[[routes]]\nupstream = \"api\"\n[[routes]]\nupstream = \"api\"\n");
    assert_single_error(&text, "routes[1]", "same host and path_prefix as routes[0]");
}

#[test]
fn route_timeout_must_be_positive() {
    assert_single_error(
        &with_api_upstream("[[routes]]\nupstream = \"api\"\ntimeout = \"0s\"\n"),
        "routes[0].timeout",
        "must be greater than 0",
    );
}

// --- access log ---

#[test]
fn access_log_path_must_not_be_empty() {
    assert_single_error(
        "[access_log]\npath = \"\"\n",
        "access_log.path",
        "must not be empty",
    );
}

#[test]
fn comparisons_skip_values_that_are_already_wrong() {
    // A zero or unreadable timeout falls back to its default internally; that default is not
    // then compared with the interval.
    assert_single_error(
        &with_upstream_keys("health = { interval = \"200ms\", timeout = \"0s\" }"),
        "upstreams.api.health.timeout",
        "must be greater than 0",
    );
    assert_single_error(
        &with_upstream_keys("health = { interval = \"200ms\", timeout = \"soon\" }"),
        "upstreams.api.health.timeout",
        "expected a duration",
    );
    assert_single_error(
        &with_upstream_keys(
            "outlier = { base_ejection_time = \"0s\", max_ejection_time = \"5s\" }",
        ),
        "upstreams.api.outlier.base_ejection_time",
        "must be greater than 0",
    );
}
