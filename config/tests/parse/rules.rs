//! One test per validation rule: each would fail if its rule were missing.

use weir_config::{HostMatch, KeyPart};

use crate::support::{
    assert_single_error, assert_single_error_at, errors, parse_ok, with_api_upstream,
    with_policy_keys, with_pools, with_upstream_keys,
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
    assert_eq!(config.node.listen.http.to_string(), "[::]:80");
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
fn endpoints_are_addresses_or_names_with_ports() {
    assert_single_error(
        &with_pools(&pool("us-east", 100, "\"api-1.internal\"")),
        "upstreams.api.pools[0].endpoints[0]",
        "must be ip:port or host:port, got \"api-1.internal\" with no port",
    );
    assert_single_error(
        &with_pools(&pool("us-east", 100, "\"::1:9001\"")),
        "upstreams.api.pools[0].endpoints[0]",
        "IPv6 addresses go in brackets",
    );
    assert_single_error(
        &with_pools(&pool("us-east", 100, "\"api_1.internal:9001\"")),
        "upstreams.api.pools[0].endpoints[0]",
        "DNS name",
    );
    // The same name twice, in another case and with a trailing dot.
    assert_single_error(
        &with_pools(&pool(
            "us-east",
            100,
            "\"api.internal:9001\", \"API.internal.:9001\"",
        )),
        "upstreams.api.pools[0].endpoints[1]",
        "api.internal:9001 is listed twice (also endpoints[0])",
    );
    let config = parse_ok(&with_pools(&pool(
        "us-east",
        100,
        "\"API.Internal:9001\", \"api.internal:9002\", \"10.0.0.1:9001\"",
    )));
    let shown: Vec<String> = config.fleet.upstreams["api"].pools[0]
        .endpoints
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        shown,
        ["api.internal:9001", "api.internal:9002", "10.0.0.1:9001"]
    );
}

#[test]
fn drained_may_name_a_name_endpoint_as_written() {
    let text = with_pools(&format!(
        "{}drained = [\"api.internal:9001\"]\n",
        pool("us-east", 100, "\"api.internal:9001\", \"10.0.0.1:9001\"")
    ));
    let config = parse_ok(&text);
    assert_eq!(
        config.fleet.upstreams["api"].pools[0].drained[0].to_string(),
        "api.internal:9001"
    );
    assert_single_error(
        &with_pools(&format!(
            "{}drained = [\"other.internal:9001\"]\n",
            pool("us-east", 100, "\"api.internal:9001\", \"10.0.0.1:9001\"")
        )),
        "upstreams.api.pools[0].drained[0]",
        "other.internal:9001 is not one of this pool's endpoints",
    );
}

#[test]
fn resolver_settings_are_checked_with_their_paths() {
    let config = parse_ok("");
    assert_eq!(
        config.node.resolver,
        weir_config::ResolverSettings::default()
    );
    for (text, path, says) in [
        (
            "nameservers = [\"127.0.0.1\"]",
            "resolver.nameservers[0]",
            "no port",
        ),
        (
            "nameservers = [\"127.0.0.1:53\", \"127.0.0.1:53\"]",
            "resolver.nameservers[1]",
            "listed twice",
        ),
        (
            "min_ttl = \"10ms\"",
            "resolver.min_ttl",
            "must be between 100ms and 1h",
        ),
        (
            "min_ttl = \"10s\"\nmax_ttl = \"5s\"",
            "resolver.max_ttl",
            "shorter than resolver.min_ttl (10s)",
        ),
        (
            "max_ttl = \"2d\"",
            "resolver.max_ttl",
            "must be between 1s and 1day",
        ),
        ("timeout = \"0s\"", "resolver.timeout", "must be between"),
        (
            "max_addresses = 0",
            "resolver.max_addresses",
            "must be between 1 and 1024",
        ),
        (
            "family = \"ipv5\"",
            "resolver.family",
            "\"any\", \"ipv4\" or \"ipv6\"",
        ),
        ("servers = []", "resolver.servers", "unknown key"),
    ] {
        assert_single_error(&format!("[resolver]\n{text}\n"), path, says);
    }
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
    let text = "[upstreams.api]\nslow_start = \"1h\"\n\
                [[upstreams.api.pools]]\nregion = \"x\"\nendpoints = [\"127.0.0.1:1\"]\n\
                [[routes]]\nupstream = \"api\"\n";
    assert_single_error(text, "upstreams.api.slow_start", "must be at most 10m");
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
    let hosts: Vec<HostMatch> = config
        .fleet
        .routes
        .into_iter()
        .map(|route| route.host)
        .collect();
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

// --- client_ip ---

#[test]
fn trusted_proxies_are_addresses_or_cidrs() {
    assert_single_error_at(
        "[client_ip]\ntrusted_proxies = [\"10.0.0.0/8\", \"proxy.internal\"]\n",
        "client_ip.trusted_proxies[1]",
        "must be an IP address or a CIDR, like \"10.0.0.0/8\" or \"::1\", got \"proxy.internal\"",
        (2, 34),
    );
    assert_single_error_at(
        "[client_ip]\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
        "client_ip.trusted_proxies[0]",
        "prefix length must be between 0 and 32, got \"10.0.0.0/33\"",
        (2, 20),
    );
    assert_single_error(
        "[client_ip]\ntrusted_proxies = [\"::/129\"]\n",
        "client_ip.trusted_proxies[0]",
        "prefix length must be between 0 and 128",
    );
    assert_single_error(
        "[client_ip]\ntrusted_proxies = [\"127.0.0.1:8080\"]\n",
        "client_ip.trusted_proxies[0]",
        "must be an address without a port, got \"127.0.0.1:8080\"",
    );
}

#[test]
fn client_ip_header_is_x_forwarded_for_or_forwarded() {
    assert_single_error_at(
        "[client_ip]\nheader = \"x-real-ip\"\n",
        "client_ip.header",
        "must be \"x-forwarded-for\" or \"forwarded\", got \"x-real-ip\"",
        (2, 10),
    );
}

// --- redis ---

fn redis_url(url: &str) -> String {
    format!("[redis]\nurl = \"{url}\"\n")
}

#[test]
fn redis_needs_a_url() {
    assert_single_error_at(
        "[redis]\ntimeout = \"5ms\"\n",
        "redis.url",
        "missing required key (redis needs a url, like \"redis://127.0.0.1:6379\")",
        (1, 1),
    );
}

#[test]
fn redis_url_is_plain_redis() {
    assert_single_error_at(
        &redis_url("rediss://cache:6380"),
        "redis.url",
        "TLS (rediss://) is not supported yet",
        (2, 7),
    );
    assert_single_error(
        &redis_url("http://cache:6379"),
        "redis.url",
        "must be a redis:// URL, like \"redis://127.0.0.1:6379\", got the scheme \"http\"",
    );
    assert_single_error(
        &redis_url("cache:6379"),
        "redis.url",
        "must be a redis:// URL",
    );
    let error = assert_single_error(
        &redis_url("redis://weir:s3cret@cache:6379"),
        "redis.url",
        "user names and passwords are not supported yet",
    );
    assert!(!error.message.contains("s3cret"), "{error}");
}

#[test]
fn redis_url_host_port_and_database() {
    let cases = [
        ("redis://:6379", "needs a host"),
        ("redis://cache:99999", "port must be between 1 and 65535"),
        (
            "redis://cache:6379/16",
            "database must be a number between 0 and 15",
        ),
        ("redis://::1:6379", "IPv6 addresses go in brackets"),
        ("redis://cache:6379?timeout=1", "must not have a query"),
        (
            "redis://ca che",
            "host must be an IP address or a host name",
        ),
    ];
    for (url, message) in cases {
        assert_single_error(&redis_url(url), "redis.url", message);
    }
    for url in [
        "redis://cache",
        "redis://10.0.0.5:6380/15",
        "redis://[fd00::5]:6379/0",
    ] {
        let config = parse_ok(&redis_url(url));
        assert_eq!(
            config.fleet.redis.map(|redis| redis.url).as_deref(),
            Some(url)
        );
    }
}

#[test]
fn redis_timeout_is_above_0_and_at_most_1s() {
    assert_single_error_at(
        "[redis]\nurl = \"redis://cache\"\ntimeout = \"0ms\"\n",
        "redis.timeout",
        "must be greater than 0",
        (3, 11),
    );
    assert_single_error(
        "[redis]\nurl = \"redis://cache\"\ntimeout = \"2s\"\n",
        "redis.timeout",
        "must be at most 1s, got 2s",
    );
}

#[test]
fn redis_pool_size_is_between_1_and_16() {
    for size in [0, 17] {
        assert_single_error_at(
            &format!("[redis]\nurl = \"redis://cache\"\npool_size = {size}\n"),
            "redis.pool_size",
            &format!("must be between 1 and 16, got {size}"),
            (3, 13),
        );
    }
}

#[test]
fn redis_key_prefix_is_a_short_word() {
    let prefix =
        |value: &str| format!("[redis]\nurl = \"redis://cache\"\nkey_prefix = \"{value}\"\n");
    assert_single_error_at(
        &prefix(""),
        "redis.key_prefix",
        "must not be empty",
        (3, 14),
    );
    assert_single_error(
        &prefix("weir prod"),
        "redis.key_prefix",
        "must not contain spaces or control characters, got \"weir prod\"",
    );
    assert_single_error(
        &prefix("weir\\tprod"),
        "redis.key_prefix",
        "must not contain spaces or control characters",
    );
    assert_single_error(
        &prefix(&"w".repeat(65)),
        "redis.key_prefix",
        "must be at most 64 bytes, got 65",
    );
    parse_ok(&prefix(&"w".repeat(64)));
}

// --- rate limits ---

#[test]
fn policy_name_must_be_a_name() {
    let error = assert_single_error(
        "[rate_limits.\"per client\"]\nkey = \"client_ip\"\nrate = 1\n",
        "rate_limits.\"per client\"",
        "may only contain letters, digits, '.', '_' and '-', got \"per client\"",
    );
    assert_eq!((error.line, error.column), (Some(1), Some(14)));
    parse_ok("[rate_limits.\"v2.per_client-1\"]\nkey = \"client_ip\"\nrate = 1\n");
}

#[test]
fn policy_needs_a_key_and_a_rate() {
    let found = errors("[rate_limits.per-client]\nburst = 5\n");
    let summary: Vec<(&str, &str, Option<usize>)> = found
        .iter()
        .map(|error| (error.path.as_str(), error.message.as_str(), error.line))
        .collect();
    assert_eq!(
        summary,
        [
            (
                "rate_limits.per-client.key",
                "missing required key (a rate limit needs a key, like \"client_ip\")",
                Some(1)
            ),
            (
                "rate_limits.per-client.rate",
                "missing required key (a rate limit needs a rate)",
                Some(1)
            ),
        ]
    );
}

#[test]
fn key_parts_are_client_ip_route_or_a_header() {
    assert_single_error_at(
        &with_policy_keys("key = \"ip\"\nrate = 1"),
        "rate_limits.per-client.key",
        "must be \"client_ip\", \"route\" or \"header:<name>\", got \"ip\"",
        (2, 7),
    );
    assert_single_error_at(
        &with_policy_keys("key = [\"client_ip\", \"header:\"]\nrate = 1"),
        "rate_limits.per-client.key[1]",
        "needs a header name after \"header:\", like \"header:x-api-key\"",
        (2, 21),
    );
    assert_single_error(
        &with_policy_keys("key = \"header:X Api Key\"\nrate = 1"),
        "rate_limits.per-client.key",
        "\"X Api Key\" is not a valid header name",
    );
    let config = parse_ok(&with_policy_keys(
        "key = [\"route\", \"header:X-Tenant\", \"client_ip\"]\nrate = 1",
    ));
    assert_eq!(
        config.fleet.rate_limits["per-client"].key,
        [
            KeyPart::Route,
            KeyPart::Header("x-tenant".to_owned()),
            KeyPart::ClientIp
        ]
    );
}

#[test]
fn key_list_is_not_empty() {
    assert_single_error_at(
        &with_policy_keys("key = []\nrate = 1"),
        "rate_limits.per-client.key",
        "needs at least one key part, like \"client_ip\"",
        (2, 7),
    );
}

#[test]
fn key_parts_are_not_repeated() {
    assert_single_error_at(
        &with_policy_keys("key = [\"client_ip\", \"header:x-api-key\", \"client_ip\"]\nrate = 1"),
        "rate_limits.per-client.key[2]",
        "\"client_ip\" is listed twice (also key[0])",
        (2, 41),
    );
    // Header names are compared case-insensitively.
    assert_single_error(
        &with_policy_keys("key = [\"header:X-Api-Key\", \"header:x-api-key\"]\nrate = 1"),
        "rate_limits.per-client.key[1]",
        "\"header:x-api-key\" is listed twice (also key[0])",
    );
}

#[test]
fn rate_is_between_1_and_a_billion() {
    assert_single_error_at(
        &with_policy_keys("key = \"client_ip\"\nrate = 0"),
        "rate_limits.per-client.rate",
        "must be between 1 and 1000000000, got 0",
        (3, 8),
    );
    assert_single_error(
        &with_policy_keys("key = \"client_ip\"\nrate = 1000000001\nper = \"1day\""),
        "rate_limits.per-client.rate",
        "must be between 1 and 1000000000, got 1000000001",
    );
}

#[test]
fn per_is_above_0_and_at_most_a_day() {
    assert_single_error_at(
        &with_policy_keys("key = \"client_ip\"\nrate = 1\nper = \"0s\""),
        "rate_limits.per-client.per",
        "must be greater than 0",
        (4, 7),
    );
    assert_single_error(
        &with_policy_keys("key = \"client_ip\"\nrate = 1\nper = \"25h\""),
        "rate_limits.per-client.per",
        "must be at most 1day, got 1day 1h",
    );
}

#[test]
fn per_over_rate_is_at_least_a_microsecond() {
    assert_single_error_at(
        &with_policy_keys("key = \"client_ip\"\nrate = 100\nper = \"50us\""),
        "rate_limits.per-client.per",
        "per / rate must be at least 1us (one request per microsecond), got 50us / 100 = 500ns",
        (4, 7),
    );
    // With the default per, the problem is placed at the rate that was written.
    assert_single_error_at(
        &with_policy_keys("key = \"client_ip\"\nrate = 2000000"),
        "rate_limits.per-client.per",
        "got 1s / 2000000 = 500ns",
        (3, 8),
    );
    parse_ok(&with_policy_keys("key = \"client_ip\"\nrate = 1000000"));
    // A rate or per with its own problem is not compared.
    assert_single_error(
        &with_policy_keys("key = \"client_ip\"\nrate = 2000000\nper = \"0s\""),
        "rate_limits.per-client.per",
        "must be greater than 0",
    );
}

#[test]
fn burst_is_at_least_1() {
    assert_single_error_at(
        &with_policy_keys("key = \"client_ip\"\nrate = 10\nburst = 0"),
        "rate_limits.per-client.burst",
        "must be between 1 and 1000000000, got 0",
        (4, 9),
    );
    // burst may be above rate, or below it.
    let config = parse_ok(&with_policy_keys(
        "key = \"client_ip\"\nrate = 10\nburst = 500",
    ));
    assert_eq!(config.fleet.rate_limits["per-client"].burst, 500);
    let config = parse_ok(&with_policy_keys(
        "key = \"client_ip\"\nrate = 10\nburst = 1",
    ));
    assert_eq!(config.fleet.rate_limits["per-client"].burst, 1);
}

#[test]
fn scope_is_local_or_global() {
    assert_single_error_at(
        &with_policy_keys("key = \"client_ip\"\nrate = 1\nscope = \"cluster\""),
        "rate_limits.per-client.scope",
        "must be \"local\" or \"global\", got \"cluster\"",
        (4, 9),
    );
}

#[test]
fn global_scope_needs_a_redis_section() {
    assert_single_error_at(
        &with_policy_keys("key = \"client_ip\"\nrate = 1\nscope = \"global\""),
        "rate_limits.per-client.scope",
        "\"global\" needs a [redis] section to keep its buckets in",
        (4, 9),
    );
    // A [redis] section with its own problem still counts as present.
    assert_single_error(
        &format!(
            "{}[redis]\nurl = \"rediss://cache\"\n",
            with_policy_keys("key = \"client_ip\"\nrate = 1\nscope = \"global\"")
        ),
        "redis.url",
        "TLS",
    );
}

#[test]
fn on_store_error_only_applies_to_global_scope() {
    let error = assert_single_error_at(
        &with_policy_keys("key = \"client_ip\"\nrate = 1\non_store_error = \"allow\""),
        "rate_limits.per-client.on_store_error",
        "only applies to scope = \"global\" (this policy's scope is \"local\")",
        (4, 18),
    );
    assert_eq!(
        error.to_string(),
        "rate_limits.per-client.on_store_error: only applies to scope = \"global\" (this \
         policy's scope is \"local\") (line 4, column 18)"
    );
    assert_single_error(
        &with_policy_keys(
            "key = \"client_ip\"\nrate = 1\nscope = \"local\"\non_store_error = \"local\"",
        ),
        "rate_limits.per-client.on_store_error",
        "only applies to scope = \"global\"",
    );
    // A wrong scope is reported once, not also as "local".
    assert_single_error(
        &with_policy_keys(
            "key = \"client_ip\"\nrate = 1\nscope = \"cluster\"\non_store_error = \"deny\"",
        ),
        "rate_limits.per-client.scope",
        "must be \"local\" or \"global\"",
    );
}

#[test]
fn on_store_error_is_local_allow_or_deny() {
    let text = format!(
        "{}[redis]\nurl = \"redis://cache\"\n",
        with_policy_keys(
            "key = \"client_ip\"\nrate = 1\nscope = \"global\"\non_store_error = \"fail\"",
        )
    );
    assert_single_error_at(
        &text,
        "rate_limits.per-client.on_store_error",
        "must be \"local\", \"allow\" or \"deny\", got \"fail\"",
        (5, 18),
    );
}

#[test]
fn missing_key_is_shared_or_exempt() {
    assert_single_error_at(
        &with_policy_keys("key = \"header:x-api-key\"\nrate = 1\nmissing_key = \"deny\""),
        "rate_limits.per-client.missing_key",
        "must be \"shared\" or \"exempt\", got \"deny\"",
        (4, 15),
    );
}

#[test]
fn max_keys_is_between_1_and_ten_million() {
    for max_keys in [0, 10_000_001] {
        assert_single_error_at(
            &with_policy_keys(&format!(
                "key = \"client_ip\"\nrate = 1\nmax_keys = {max_keys}"
            )),
            "rate_limits.per-client.max_keys",
            &format!("must be between 1 and 10000000, got {max_keys}"),
            (4, 12),
        );
    }
}

#[test]
fn route_rate_limits_must_name_policies() {
    let text = with_api_upstream(
        "[rate_limits.per-client]\nkey = \"client_ip\"\nrate = 1\n\
         [[routes]]\nupstream = \"api\"\nrate_limits = [\"per-client\", \"per-clinet\"]\n",
    );
    let error = assert_single_error_at(
        &text,
        "routes[0].rate_limits[1]",
        "no rate limit policy named \"per-clinet\"",
        (6, 30),
    );
    assert_eq!(
        error.to_string(),
        "routes[0].rate_limits[1]: no rate limit policy named \"per-clinet\" (line 6, column 30)"
    );
}

#[test]
fn route_rate_limits_are_not_repeated() {
    let text = with_policy_keys("key = \"client_ip\"\nrate = 1").replace(
        "rate_limits = [\"per-client\"]",
        "rate_limits = [\"per-client\", \"per-client\"]",
    );
    assert_single_error_at(
        &text,
        "routes[0].rate_limits[1]",
        "\"per-client\" is listed twice (also rate_limits[0])",
        (6, 30),
    );
}

#[test]
fn route_to_a_policy_with_its_own_errors_is_not_reported_twice() {
    assert_single_error(
        &with_policy_keys("key = \"client_ip\"\nrate = 0"),
        "rate_limits.per-client.rate",
        "must be between 1 and 1000000000",
    );
    // Not even when the policy is not a table at all, or has a bad name.
    assert_single_error(
        &with_api_upstream(
            "rate_limits.per-client = 5\n[[routes]]\nupstream = \"api\"\nrate_limits = [\"per-client\"]\n",
        ),
        "rate_limits.per-client",
        "expected a table, got an integer",
    );
    assert_single_error(
        &with_api_upstream(
            "[rate_limits.\"per client\"]\nkey = \"client_ip\"\nrate = 1\n\
             [[routes]]\nupstream = \"api\"\nrate_limits = [\"per client\"]\n",
        ),
        "rate_limits.\"per client\"",
        "may only contain",
    );
}
