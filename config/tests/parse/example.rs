//! Valid configs: the full example, defaults, and accepted spellings.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use weir_config::{
    AccessLogSettings, AdaptiveLimit, AdminSettings, BulkheadSettings, CircuitBreakerSettings,
    ClientIpSettings, Config, EncodedSlashes, FaultInjection, FleetSettings, ForwardedHeader,
    GatewaySettings, HealthCheck, HostMatch, KeyPart, LimitScope, ListenSettings, LoadShedding,
    MissingKey, NodeSettings, OutlierDetection, Pool, Priority, RateLimitPolicy, RedisSettings,
    RegionPolicy, RequestRules, RetryBudgetSettings, RetryPolicy, Route, StoreErrorAction,
    Upstream, parse,
};

use weir_config::{ClientCert, HttpsRules, UpstreamProtocol, UpstreamTls};

use crate::support::{parse_ok, with_api_upstream, with_upstream_keys};

pub const FULL_EXAMPLE: &str = r#"
[gateway]
id = "gw-use1"
region = "us-east"

[listen]
http = "127.0.0.1:8080"
https = ["127.0.0.1:8443"]
h2c = true

[listen.http2]
max_concurrent_streams = 50
max_header_list_size = 32768
idle_timeout = "30s"
max_reset_streams = 10

[admin]
listen = "127.0.0.1:9901"

[tls]
min_version = "1.2"
alpn = ["h2", "http/1.1"]
unknown_sni = "reject"
handshake_timeout = "5s"
acme_state_dir = "/var/lib/weir/acme"

[[tls.certificates]]
cert = "/etc/weir/tls/example.com.pem"
key = "/etc/weir/tls/example.com.key"
default = true

[[tls.certificates]]
cert = "/etc/weir/tls/example.net.pem"
key = "/etc/weir/tls/example.net.key"
names = ["*.example.net", "example.net"]

[[tls.acme]]
names = ["shop.example.org", "www.shop.example.org"]
directory = "https://acme-v02.api.letsencrypt.org/directory"
contact = ["mailto:ops@example.org"]

[access_log]
enabled = true
path = "stdout"
query = false

[resolver]
nameservers = ["127.0.0.1:5353", "[::1]:53"]
min_ttl = "2s"
max_ttl = "10m"
timeout = "1s"
max_addresses = 16
family = "ipv4"

[upstreams.api]
region_policy = "nearest"
health = { path = "/healthz", interval = "1s", timeout = "500ms", healthy_threshold = 2, unhealthy_threshold = 2 }
min_healthy_fraction = 0.5
connect_timeout = "1s"
slow_start = "5s"
retry_budget = { ratio = 0.1, min_per_second = 5, window = "5s" }
circuit_breaker = { enabled = false, failure_rate = 0.25, min_requests = 50, window = "30s", open_for = "2s", max_open_for = "20s", half_open_successes = 4 }
bulkhead = { max_in_flight = 500, max_pending_connects = 50, adaptive = { min_in_flight = 10, initial = 50, tolerance = 3, min_rtt_window = "10s" } }
outlier = { consecutive_failures = 5, base_ejection_time = "10s", max_ejection_time = "300s", max_ejected_fraction = 0.5 }

[[upstreams.api.pools]]
region = "us-east"
weight = 100
endpoints = ["127.0.0.1:9001", "127.0.0.1:9002", "api-1.us-east.internal:9001"]
drained = ["api-1.us-east.internal:9001"]

[[upstreams.api.pools]]
region = "eu-west"
weight = 0
endpoints = ["[::1]:9003"]
tls = { sni = "api.internal", ca_file = "/etc/weir/upstream-ca.pem", verify = true, cert = "/etc/weir/client.pem", key = "/etc/weir/client.key" }
protocol = "h2"

[client_ip]
trusted_proxies = ["10.0.0.0/8", "127.0.0.1", "::1/128"]
header = "forwarded"

[redis]
url = "redis://127.0.0.1:6379/2"
timeout = "5ms"
pool_size = 2
key_prefix = "weir"

[rate_limits.per-client]
key = "client_ip"
rate = 100
per = "1s"
burst = 50
scope = "global"
on_store_error = "deny"
missing_key = "shared"
max_keys = 100000
response_headers = true

[rate_limits.per-key]
key = ["header:X-Api-Key", "route"]
rate = 10
per = "1m"
missing_key = "exempt"
max_keys = 5000
response_headers = false

[[routes]]
name = "api"
host = "*"
path_prefix = "/"
upstream = "api"
timeout = "10s"
read_timeout = "2s"
connect_timeout = "300ms"
priority = "critical"
rate_limits = ["per-client", "per-key"]
forward_raw_path = true
encoded_slashes = "reject"
path_prefix_ignore_case = true
max_body_size = 1048576
underscores_in_headers = true
redirect_https = true
https_port = 8443
hsts = "max-age=31536000; includeSubDomains"

[routes.retry]
attempts = 4
statuses = [503]
on_reset = false
non_idempotent = true
backoff = "10ms"
max_backoff = "1s"

[routes.fault]
header = "X-Game-Day"
header_value = "on"
delay = "50ms"
delay_percent = 2.5
abort_status = 502
abort_percent = 1

[load_shedding]
max_in_flight = 2000
normal_share = 0.95
optional_share = 0.7
retry_after = "2s"

[failover.api]
evaluate_every = "2s"
unhealthy_when = { healthy_fraction_below = 0.6, error_ratio_above = 0.1 }
quorum = 0.6
drain_after = 2
restore_after = 4
ramp = ["25%", "100%"]
never_drain_last = true
max_drained = 2

[rollout]
bake = "2m"
evaluate_every = "10s"
max_error_ratio_increase = 0.01
max_p99_ratio = 1.5
min_p99_increase = "20ms"
min_requests = 200
stale_grace = "30s"
"#;

fn addr(text: &str) -> SocketAddr {
    text.parse().expect("test address")
}

fn ep(text: &str) -> weir_config::Endpoint {
    weir_config::Endpoint::Addr(addr(text))
}

fn name(host: &str, port: u16) -> weir_config::Endpoint {
    weir_config::Endpoint::Name(weir_config::EndpointName {
        host: host.to_owned(),
        port,
    })
}

fn net(text: &str) -> ipnet::IpNet {
    text.parse().expect("test network")
}

#[test]
fn full_example_parses_to_the_expected_config() {
    let expected = Config {
        node: NodeSettings {
            gateway: GatewaySettings {
                id: Some("gw-use1".to_owned()),
                region: Some("us-east".to_owned()),
                allow_fault_injection: true,
                shutdown_grace: Duration::from_secs(5),
            },
            listen: ListenSettings {
                http: addr("127.0.0.1:8080"),
                header_read_timeout: Duration::from_secs(10),
                max_header_bytes: 64 * 1024,
                https: vec![addr("127.0.0.1:8443")],
                h2c: true,
                http2: weir_config::Http2Settings {
                    max_concurrent_streams: 50,
                    max_header_list_size: 32768,
                    idle_timeout: Duration::from_secs(30),
                    max_reset_streams: 10,
                },
            },
            admin: AdminSettings {
                listen: addr("127.0.0.1:9901"),
            },
            access_log: AccessLogSettings {
                enabled: true,
                path: None,
                query: false,
            },
            control_plane: None,
            resolver: weir_config::ResolverSettings {
                nameservers: vec![addr("127.0.0.1:5353"), addr("[::1]:53")],
                min_ttl: Duration::from_secs(2),
                max_ttl: Duration::from_secs(600),
                timeout: Duration::from_secs(1),
                max_addresses: 16,
                family: weir_config::AddressFamily::Ipv4,
            },
            tls: Some(weir_config::TlsSettings {
                min_version: weir_config::TlsVersion::V1_2,
                alpn: vec![weir_config::Alpn::H2, weir_config::Alpn::Http11],
                unknown_sni: weir_config::UnknownSni::Reject,
                handshake_timeout: Duration::from_secs(5),
                certificates: vec![
                    weir_config::CertificateSettings {
                        cert: "/etc/weir/tls/example.com.pem".into(),
                        key: "/etc/weir/tls/example.com.key".into(),
                        default: true,
                        names: Vec::new(),
                    },
                    weir_config::CertificateSettings {
                        cert: "/etc/weir/tls/example.net.pem".into(),
                        key: "/etc/weir/tls/example.net.key".into(),
                        default: false,
                        names: vec!["*.example.net".into(), "example.net".into()],
                    },
                ],
                acme: vec![weir_config::AcmeSettings {
                    names: vec!["shop.example.org".into(), "www.shop.example.org".into()],
                    directory: "https://acme-v02.api.letsencrypt.org/directory".into(),
                    contact: vec!["mailto:ops@example.org".into()],
                    ca_file: None,
                }],
                acme_state_dir: "/var/lib/weir/acme".into(),
            }),
        },
        fleet: FleetSettings {
            upstreams: BTreeMap::from([(
                "api".to_owned(),
                Upstream {
                    name: "api".to_owned(),
                    region_policy: RegionPolicy::Nearest,
                    health: Some(HealthCheck {
                        path: "/healthz".to_owned(),
                        interval: Duration::from_secs(1),
                        timeout: Duration::from_millis(500),
                        healthy_threshold: 2,
                        unhealthy_threshold: 2,
                    }),
                    min_healthy_fraction: 0.5,
                    outlier: OutlierDetection {
                        consecutive_failures: 5,
                        base_ejection_time: Duration::from_secs(10),
                        max_ejection_time: Duration::from_secs(300),
                        max_ejected_fraction: 0.5,
                    },
                    connect_timeout: Duration::from_secs(1),
                    slow_start: Duration::from_secs(5),
                    retry_budget: RetryBudgetSettings {
                        ratio: 0.1,
                        min_per_second: 5,
                        window: Duration::from_secs(5),
                    },
                    circuit_breaker: CircuitBreakerSettings {
                        enabled: false,
                        failure_rate: 0.25,
                        min_requests: 50,
                        window: Duration::from_secs(30),
                        open_for: Duration::from_secs(2),
                        max_open_for: Duration::from_secs(20),
                        half_open_successes: 4,
                    },
                    bulkhead: BulkheadSettings {
                        max_in_flight: 500,
                        max_pending_connects: 50,
                        adaptive: Some(AdaptiveLimit {
                            min_in_flight: 10,
                            initial: 50,
                            tolerance: 3.0,
                            min_rtt_window: Duration::from_secs(10),
                        }),
                    },
                    pools: vec![
                        Pool {
                            region: "us-east".to_owned(),
                            weight: 100,
                            endpoints: vec![
                                ep("127.0.0.1:9001"),
                                ep("127.0.0.1:9002"),
                                name("api-1.us-east.internal", 9001),
                            ],
                            drained: vec![name("api-1.us-east.internal", 9001)],
                            tls: None,
                            protocol: UpstreamProtocol::H1,
                        },
                        Pool {
                            region: "eu-west".to_owned(),
                            weight: 0,
                            endpoints: vec![ep("[::1]:9003")],
                            drained: Vec::new(),
                            tls: Some(UpstreamTls {
                                sni: Some("api.internal".to_owned()),
                                ca_file: Some("/etc/weir/upstream-ca.pem".to_owned()),
                                verify: true,
                                client_cert: Some(ClientCert {
                                    cert: "/etc/weir/client.pem".to_owned(),
                                    key: "/etc/weir/client.key".to_owned(),
                                }),
                            }),
                            protocol: UpstreamProtocol::H2,
                        },
                    ],
                },
            )]),
            routes: vec![Route {
                name: "api".to_owned(),
                host: HostMatch::Any,
                path_prefix: "/".to_owned(),
                upstream: "api".to_owned(),
                timeout: Duration::from_secs(10),
                read_timeout: Duration::from_secs(2),
                connect_timeout: Some(Duration::from_millis(300)),
                priority: Priority::Critical,
                retry: RetryPolicy {
                    attempts: 4,
                    statuses: vec![503],
                    on_reset: false,
                    non_idempotent: true,
                    backoff: Duration::from_millis(10),
                    max_backoff: Duration::from_secs(1),
                },
                fault: Some(FaultInjection {
                    header: Some("x-game-day".to_owned()),
                    header_value: Some("on".to_owned()),
                    delay: Some(Duration::from_millis(50)),
                    delay_percent: 2.5,
                    abort_status: Some(502),
                    abort_percent: 1.0,
                }),
                rate_limits: vec!["per-client".to_owned(), "per-key".to_owned()],
                request: RequestRules {
                    forward_raw_path: true,
                    encoded_slashes: EncodedSlashes::Reject,
                    path_prefix_ignore_case: true,
                    max_body_size: Some(1_048_576),
                    underscores_in_headers: true,
                },
                https: HttpsRules {
                    redirect_https: true,
                    https_port: 8443,
                    hsts: Some("max-age=31536000; includeSubDomains".to_owned()),
                },
            }],
            load_shedding: LoadShedding {
                max_in_flight: 2000,
                normal_share: 0.95,
                optional_share: 0.7,
                retry_after: Duration::from_secs(2),
            },
            client_ip: ClientIpSettings {
                trusted_proxies: vec![net("10.0.0.0/8"), net("127.0.0.1/32"), net("::1/128")],
                header: ForwardedHeader::Forwarded,
            },
            dns: None,
            failover: BTreeMap::from([(
                "api".to_owned(),
                weir_config::FailoverPolicy {
                    upstream: "api".to_owned(),
                    evaluate_every: Duration::from_secs(2),
                    unhealthy_when: weir_config::UnhealthyWhen {
                        healthy_fraction_below: Some(0.6),
                        error_ratio_above: Some(0.1),
                    },
                    quorum: 0.6,
                    drain_after: 2,
                    restore_after: 4,
                    ramp: vec![25, 100],
                    never_drain_last: true,
                    max_drained: 2,
                },
            )]),
            rollout: weir_config::RolloutSettings {
                bake: Duration::from_secs(120),
                evaluate_every: Duration::from_secs(10),
                max_error_ratio_increase: 0.01,
                max_p99_ratio: 1.5,
                min_p99_increase: Duration::from_millis(20),
                min_requests: 200,
                stale_grace: Duration::from_secs(30),
            },
            redis: Some(RedisSettings {
                url: "redis://127.0.0.1:6379/2".to_owned(),
                timeout: Duration::from_millis(5),
                pool_size: 2,
                key_prefix: "weir".to_owned(),
            }),
            rate_limits: BTreeMap::from([
                (
                    "per-client".to_owned(),
                    RateLimitPolicy {
                        name: "per-client".to_owned(),
                        key: vec![KeyPart::ClientIp],
                        rate: 100,
                        per: Duration::from_secs(1),
                        burst: 50,
                        scope: LimitScope::Global,
                        on_store_error: StoreErrorAction::Deny,
                        missing_key: MissingKey::Shared,
                        max_keys: 100_000,
                        response_headers: true,
                    },
                ),
                (
                    "per-key".to_owned(),
                    RateLimitPolicy {
                        name: "per-key".to_owned(),
                        key: vec![KeyPart::Header("x-api-key".to_owned()), KeyPart::Route],
                        rate: 10,
                        per: Duration::from_secs(60),
                        burst: 10,
                        scope: LimitScope::Local,
                        on_store_error: StoreErrorAction::Local,
                        missing_key: MissingKey::Exempt,
                        max_keys: 5000,
                        response_headers: false,
                    },
                ),
            ]),
        },
    };
    assert_eq!(parse_ok(FULL_EXAMPLE), expected);
}

#[test]
fn minimal_config_gets_every_default() {
    let config = parse_ok(
        r#"
[[upstreams.api.pools]]
region = "us-east"
endpoints = ["127.0.0.1:9001"]

[[routes]]
upstream = "api"
"#,
    );
    assert_eq!(config.node.gateway, GatewaySettings::default());
    assert_eq!(config.node.gateway.id, None);
    assert_eq!(config.node.gateway.region, None);
    assert_eq!(config.node.listen.http, addr("127.0.0.1:8080"));
    assert_eq!(config.node.admin.listen, addr("127.0.0.1:9901"));
    assert_eq!(
        config.node.access_log,
        AccessLogSettings {
            enabled: true,
            path: None,
            query: true,
        }
    );
    let upstream = &config.fleet.upstreams["api"];
    assert_eq!(upstream.name, "api");
    assert_eq!(upstream.region_policy, RegionPolicy::Nearest);
    assert_eq!(upstream.health, None);
    assert_eq!(upstream.min_healthy_fraction, 0.5);
    assert_eq!(upstream.connect_timeout, Duration::from_secs(1));
    assert_eq!(upstream.slow_start, Duration::from_secs(10));
    assert_eq!(upstream.retry_budget, RetryBudgetSettings::default());
    assert_eq!(upstream.circuit_breaker, CircuitBreakerSettings::default());
    assert_eq!(upstream.bulkhead, BulkheadSettings::default());
    assert_eq!(config.fleet.load_shedding, LoadShedding::default());
    assert_eq!(
        upstream.outlier,
        OutlierDetection {
            consecutive_failures: 5,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(300),
            max_ejected_fraction: 0.5,
        }
    );
    assert_eq!(
        upstream.pools,
        vec![Pool {
            region: "us-east".to_owned(),
            weight: 100,
            endpoints: vec![ep("127.0.0.1:9001")],
            drained: Vec::new(),
            tls: None,
            protocol: UpstreamProtocol::H1,
        }]
    );
    assert_eq!(
        config.fleet.routes,
        vec![Route {
            name: "*/".to_owned(),
            host: HostMatch::Any,
            path_prefix: "/".to_owned(),
            upstream: "api".to_owned(),
            timeout: Duration::from_secs(15),
            read_timeout: Duration::from_secs(15),
            connect_timeout: None,
            priority: Priority::Normal,
            retry: RetryPolicy::default(),
            fault: None,
            rate_limits: Vec::new(),
            request: RequestRules::default(),
            https: HttpsRules::default(),
        }]
    );
    assert_eq!(config.fleet.client_ip, ClientIpSettings::default());
    assert_eq!(config.fleet.redis, None);
    assert!(config.fleet.rate_limits.is_empty());
}

#[test]
fn client_ip_defaults_and_single_addresses() {
    assert_eq!(
        ClientIpSettings::default(),
        ClientIpSettings {
            trusted_proxies: Vec::new(),
            header: ForwardedHeader::XForwardedFor,
        }
    );
    assert_eq!(
        parse_ok("[client_ip]\n").fleet.client_ip,
        ClientIpSettings::default()
    );
    let config = parse_ok(
        "[client_ip]\ntrusted_proxies = [\"192.168.1.7/24\", \"fd00::1\"]\n\
         header = \"x-forwarded-for\"\n",
    );
    assert_eq!(
        config.fleet.client_ip.trusted_proxies,
        // A CIDR is stored as its network; a single address as a /32 or /128.
        [net("192.168.1.0/24"), net("fd00::1/128")]
    );
    assert_eq!(
        config.fleet.client_ip.header,
        ForwardedHeader::XForwardedFor
    );
}

#[test]
fn redis_defaults() {
    let config = parse_ok("[redis]\nurl = \"redis://cache.internal\"\n");
    assert_eq!(
        config.fleet.redis,
        Some(RedisSettings {
            url: "redis://cache.internal".to_owned(),
            timeout: Duration::from_millis(5),
            pool_size: 2,
            key_prefix: "weir".to_owned(),
        })
    );
}

#[test]
fn rate_limit_defaults() {
    let config = parse_ok(&with_api_upstream(
        "[rate_limits.basic]\nkey = \"client_ip\"\nrate = 20\n\
         [[routes]]\nupstream = \"api\"\nrate_limits = [\"basic\"]\n",
    ));
    assert_eq!(
        config.fleet.rate_limits["basic"],
        RateLimitPolicy {
            name: "basic".to_owned(),
            key: vec![KeyPart::ClientIp],
            rate: 20,
            per: Duration::from_secs(1),
            burst: 20,
            scope: LimitScope::Local,
            on_store_error: StoreErrorAction::Local,
            missing_key: MissingKey::Shared,
            max_keys: 100_000,
            response_headers: true,
        }
    );
    assert_eq!(config.fleet.routes[0].rate_limits, ["basic"]);
}

#[test]
fn global_policies_may_leave_on_store_error_to_its_default() {
    let config = parse_ok(
        "[redis]\nurl = \"redis://127.0.0.1:6379\"\n\
         [rate_limits.shared]\nkey = [\"route\"]\nrate = 1000\nper = \"1h\"\nscope = \"global\"\n",
    );
    let policy = &config.fleet.rate_limits["shared"];
    assert_eq!(policy.scope, LimitScope::Global);
    assert_eq!(policy.on_store_error, StoreErrorAction::Local);
    assert_eq!(policy.key, [KeyPart::Route]);
    assert_eq!(policy.per, Duration::from_secs(3600));
}

#[test]
fn policies_need_not_be_used_and_routes_need_not_use_one() {
    let config = parse_ok(&with_api_upstream(
        "[rate_limits.spare]\nkey = \"client_ip\"\nrate = 1\n\
         [[routes]]\nupstream = \"api\"\nrate_limits = []\n",
    ));
    assert!(config.fleet.routes[0].rate_limits.is_empty());
    assert_eq!(config.fleet.rate_limits.len(), 1);
}

#[test]
fn limit_extremes_are_accepted() {
    let config = parse_ok(
        "[rate_limits.fine]\nkey = \"client_ip\"\nrate = 1000000\nburst = 1000000000\n\
         max_keys = 10000000\n\
         [rate_limits.slow]\nkey = \"client_ip\"\nrate = 1\nper = \"1day\"\nburst = 1\nmax_keys = 1\n\
         [redis]\nurl = \"redis://[::1]:6379/15\"\ntimeout = \"1s\"\npool_size = 16\n\
         key_prefix = \"weir:prod:eu-west-1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n",
    );
    let fine = &config.fleet.rate_limits["fine"];
    assert_eq!(
        (fine.rate, fine.burst, fine.max_keys),
        (1_000_000, 1_000_000_000, 10_000_000)
    );
    let slow = &config.fleet.rate_limits["slow"];
    assert_eq!(slow.per, Duration::from_secs(86_400));
    let redis = config.fleet.redis.expect("redis section");
    assert_eq!(
        (redis.timeout, redis.pool_size),
        (Duration::from_secs(1), 16)
    );
    assert_eq!(redis.key_prefix.len(), 64);
}

#[test]
fn empty_text_is_the_default_config() {
    assert_eq!(parse_ok(""), Config::default());
    assert_eq!(parse_ok("# nothing here\n"), Config::default());
}

#[test]
fn empty_health_table_enables_checks_with_defaults() {
    let config = parse_ok(&with_upstream_keys("health = {}"));
    assert_eq!(
        config.fleet.upstreams["api"].health,
        Some(HealthCheck::default())
    );
    assert_eq!(
        HealthCheck::default(),
        HealthCheck {
            path: "/healthz".to_owned(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        }
    );
}

#[test]
fn partial_health_table_fills_in_the_rest() {
    let config = parse_ok(&with_upstream_keys(
        "health = { path = \"/ready\", interval = \"2m\" }",
    ));
    assert_eq!(
        config.fleet.upstreams["api"].health,
        Some(HealthCheck {
            path: "/ready".to_owned(),
            interval: Duration::from_secs(120),
            ..HealthCheck::default()
        })
    );
}

#[test]
fn sections_can_be_written_as_headers_or_inline() {
    let config = parse_ok(
        r#"
upstreams.api.pools = [{ region = "us-east", endpoints = ["127.0.0.1:9001"] }]
upstreams.api.health.path = "/up"
routes = [{ upstream = "api", path_prefix = "/v1" }]

[upstreams.api.outlier]
consecutive_failures = 3
"#,
    );
    let upstream = &config.fleet.upstreams["api"];
    assert_eq!(upstream.pools.len(), 1);
    assert_eq!(
        upstream.health.as_ref().map(|health| health.path.as_str()),
        Some("/up")
    );
    assert_eq!(upstream.outlier.consecutive_failures, 3);
    assert_eq!(config.fleet.routes[0].name, "*/v1");
}

#[test]
fn integers_are_accepted_as_fractions() {
    let config = parse_ok(&with_upstream_keys(
        "min_healthy_fraction = 1\noutlier = { max_ejected_fraction = 0 }",
    ));
    assert_eq!(config.fleet.upstreams["api"].min_healthy_fraction, 1.0);
    assert_eq!(
        config.fleet.upstreams["api"].outlier.max_ejected_fraction,
        0.0
    );
}

#[test]
fn access_log_path_stdout_means_standard_output() {
    let stdout = parse_ok("[access_log]\npath = \"stdout\"\nenabled = false\n");
    assert_eq!(
        stdout.node.access_log,
        AccessLogSettings {
            enabled: false,
            path: None,
            query: true,
        }
    );
    let file = parse_ok("[access_log]\npath = \"/var/log/weir/access.log\"\n");
    assert_eq!(
        file.node.access_log.path,
        Some(PathBuf::from("/var/log/weir/access.log"))
    );
}

#[test]
fn hosts_are_stored_lower_case_and_default_names_keep_the_spelling() {
    let config = parse_ok(&with_api_upstream(
        r#"
[[routes]]
host = "API.Example.com"
path_prefix = "/v1"
upstream = "api"

[[routes]]
host = "*.Example.com"
upstream = "api"
"#,
    ));
    assert_eq!(
        config.fleet.routes[0].host,
        HostMatch::Exact("api.example.com".to_owned())
    );
    assert_eq!(config.fleet.routes[0].name, "API.Example.com/v1");
    assert_eq!(
        config.fleet.routes[1].host,
        HostMatch::Suffix(".example.com".to_owned())
    );
    assert_eq!(config.fleet.routes[1].name, "*.Example.com/");
}

#[test]
fn weighted_policy_and_other_values_are_read() {
    let config = parse_ok(&with_upstream_keys(
        "region_policy = \"weighted\"\nconnect_timeout = \"250ms\"\nslow_start = \"0s\"",
    ));
    let upstream = &config.fleet.upstreams["api"];
    assert_eq!(upstream.region_policy, RegionPolicy::Weighted);
    assert_eq!(upstream.connect_timeout, Duration::from_millis(250));
    assert_eq!(upstream.slow_start, Duration::ZERO);
}

#[test]
fn gateway_region_need_not_have_a_pool() {
    let config = parse_ok(&with_api_upstream("[gateway]\nregion = \"ap-south\"\n"));
    assert_eq!(config.node.gateway.region.as_deref(), Some("ap-south"));
}

#[test]
fn upstream_without_routes_is_fine() {
    let config = parse_ok(&with_api_upstream(""));
    assert!(config.fleet.routes.is_empty());
    assert!(parse(&with_api_upstream("")).is_ok());
}

/// The `toml` blocks in docs/config.md: the full example must be valid, and no fragment may use
/// a key or type the parser does not know.
#[test]
fn documentation_examples_match_the_parser() {
    let docs = include_str!("../../../docs/config.md");
    let blocks: Vec<&str> = docs
        .split("```toml\n")
        .skip(1)
        .filter_map(|rest| rest.split_once("```").map(|(block, _)| block))
        .collect();
    assert!(blocks.len() > 5, "expected toml examples in docs/config.md");
    let full = blocks
        .iter()
        .find(|block| block.starts_with("# Full example"))
        .expect("docs/config.md has a block starting with `# Full example`");
    parse_ok(full);
    for block in &blocks {
        if let Err(errors) = parse(block) {
            for error in errors.iter() {
                let shape_problem = error.message.starts_with("unknown key")
                    || error.message.starts_with("expected")
                    || error.path.is_empty();
                assert!(!shape_problem, "docs example has {error}:\n{block}");
            }
        }
    }
}
