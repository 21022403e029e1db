//! Reads the parsed TOML document into `RawConfig`: checks keys and value types only, reporting
//! every unknown key, wrong type and missing required key.

mod dns;
mod failover;
mod resolver;
mod tls;

use toml::de::DeTable;

use crate::document::{At, Node, Table, join_index, join_key};
use crate::model::{FleetSettings, NodeSettings};
use crate::raw::{
    RawAccessLog, RawAdmin, RawClientIp, RawConfig, RawControlPlane, RawGateway, RawHealth,
    RawHttp2, RawListen, RawOutlier, RawPool, RawRateLimit, RawRedis, RawRoute, RawUpstream,
    RawUpstreamTls,
};
use crate::raw::{
    RawAdaptive, RawBulkhead, RawCircuitBreaker, RawFault, RawLoadShedding, RawRetry,
    RawRetryBudget, RawRollout,
};
use crate::report::{Reporter, Span};

const GATEWAY_KEYS: &[&str] = &["id", "region", "allow_fault_injection", "shutdown_grace"];
const CONTROL_PLANE_KEYS: &[&str] = &[
    "url",
    "token_file",
    "cache_path",
    "ca_file",
    "stream_timeout",
    "reconnect_backoff",
    "max_reconnect_backoff",
    "telemetry_interval",
];
const LISTEN_KEYS: &[&str] = &[
    "http",
    "header_read_timeout",
    "max_header_bytes",
    "https",
    "h2c",
    "http2",
];
const HTTP2_KEYS: &[&str] = &[
    "max_concurrent_streams",
    "max_header_list_size",
    "idle_timeout",
    "max_reset_streams",
];
const ADMIN_KEYS: &[&str] = &["listen"];
const ACCESS_LOG_KEYS: &[&str] = &["enabled", "path", "query"];
const UPSTREAM_KEYS: &[&str] = &[
    "region_policy",
    "health",
    "min_healthy_fraction",
    "connect_timeout",
    "outlier",
    "slow_start",
    "retry_budget",
    "circuit_breaker",
    "bulkhead",
    "pools",
];
const RETRY_BUDGET_KEYS: &[&str] = &["ratio", "min_per_second", "window"];
const CIRCUIT_BREAKER_KEYS: &[&str] = &[
    "enabled",
    "failure_rate",
    "min_requests",
    "window",
    "open_for",
    "max_open_for",
    "half_open_successes",
];
const BULKHEAD_KEYS: &[&str] = &["max_in_flight", "max_pending_connects", "adaptive"];
const ADAPTIVE_KEYS: &[&str] = &["min_in_flight", "initial", "tolerance", "min_rtt_window"];
const LOAD_SHEDDING_KEYS: &[&str] = &[
    "max_in_flight",
    "normal_share",
    "optional_share",
    "retry_after",
];
const ROLLOUT_KEYS: &[&str] = &[
    "bake",
    "evaluate_every",
    "max_error_ratio_increase",
    "max_p99_ratio",
    "min_p99_increase",
    "min_requests",
    "stale_grace",
];
const RETRY_KEYS: &[&str] = &[
    "attempts",
    "statuses",
    "on_reset",
    "non_idempotent",
    "backoff",
    "max_backoff",
];
const FAULT_KEYS: &[&str] = &[
    "header",
    "header_value",
    "delay",
    "delay_percent",
    "abort_status",
    "abort_percent",
];
const HEALTH_KEYS: &[&str] = &[
    "path",
    "interval",
    "timeout",
    "healthy_threshold",
    "unhealthy_threshold",
];
const OUTLIER_KEYS: &[&str] = &[
    "consecutive_failures",
    "base_ejection_time",
    "max_ejection_time",
    "max_ejected_fraction",
];
const POOL_KEYS: &[&str] = &[
    "region",
    "weight",
    "endpoints",
    "drained",
    "tls",
    "protocol",
];
const UPSTREAM_TLS_KEYS: &[&str] = &["sni", "ca_file", "verify", "cert", "key"];
const ROUTE_KEYS: &[&str] = &[
    "name",
    "host",
    "path_prefix",
    "upstream",
    "timeout",
    "read_timeout",
    "connect_timeout",
    "priority",
    "retry",
    "fault",
    "rate_limits",
    "forward_raw_path",
    "encoded_slashes",
    "path_prefix_ignore_case",
    "max_body_size",
    "underscores_in_headers",
    "redirect_https",
    "https_port",
    "hsts",
];
const CLIENT_IP_KEYS: &[&str] = &["trusted_proxies", "header"];
const REDIS_KEYS: &[&str] = &["url", "timeout", "pool_size", "key_prefix"];
const RATE_LIMIT_KEYS: &[&str] = &[
    "key",
    "rate",
    "per",
    "burst",
    "scope",
    "on_store_error",
    "missing_key",
    "max_keys",
    "response_headers",
];

/// Reads the whole document but the top-level keys in `skip` (already reported as out of place);
/// problems go to `report`, and the affected values are left out.
pub(crate) fn read_document<'a>(
    document: &'a DeTable<'a>,
    span: Span,
    skip: &[&str],
    report: &mut Reporter<'_>,
) -> RawConfig {
    let mut root = Table::new(document, span, String::new(), &root_keys(), report);
    root.forget(skip);
    let (upstream_names, upstreams) =
        read_named_tables(&root, "upstreams", UPSTREAM_KEYS, report, read_upstream);
    let (rate_limit_names, rate_limits) = read_named_tables(
        &root,
        "rate_limits",
        RATE_LIMIT_KEYS,
        report,
        read_rate_limit,
    );
    RawConfig {
        gateway: root
            .table("gateway", GATEWAY_KEYS, report)
            .map(|table| RawGateway {
                id: table.string("id", report),
                region: table.string("region", report),
                allow_fault_injection: table.boolean("allow_fault_injection", report),
                shutdown_grace: table.duration("shutdown_grace", report),
            })
            .unwrap_or_default(),
        listen: root
            .table("listen", LISTEN_KEYS, report)
            .map(|table| RawListen {
                http: table.string("http", report),
                header_read_timeout: table.duration("header_read_timeout", report),
                max_header_bytes: table.integer("max_header_bytes", report),
                https: table.string_or_strings("https", report),
                h2c: table.boolean("h2c", report),
                http2: table
                    .table("http2", HTTP2_KEYS, report)
                    .map(|http2| RawHttp2 {
                        max_concurrent_streams: http2.integer("max_concurrent_streams", report),
                        max_header_list_size: http2.integer("max_header_list_size", report),
                        idle_timeout: http2.duration("idle_timeout", report),
                        max_reset_streams: http2.integer("max_reset_streams", report),
                    })
                    .unwrap_or_default(),
            })
            .unwrap_or_default(),
        admin: root
            .table("admin", ADMIN_KEYS, report)
            .map(|table| RawAdmin {
                listen: table.string("listen", report),
            })
            .unwrap_or_default(),
        access_log: root
            .table("access_log", ACCESS_LOG_KEYS, report)
            .map(|table| RawAccessLog {
                enabled: table.boolean("enabled", report),
                path: table.string("path", report),
                query: table.boolean("query", report),
            })
            .unwrap_or_default(),
        control_plane: root
            .table("control_plane", CONTROL_PLANE_KEYS, report)
            .map(|table| {
                for (key, what) in [
                    (
                        "url",
                        "the control plane's URL, like \"http://127.0.0.1:7700\"",
                    ),
                    ("token_file", "the file holding this gateway's token"),
                    ("cache_path", "where to keep the last applied config"),
                ] {
                    table.require(key, what, report);
                }
                RawControlPlane {
                    url: table.string("url", report),
                    token_file: table.string("token_file", report),
                    cache_path: table.string("cache_path", report),
                    ca_file: table.string("ca_file", report),
                    stream_timeout: table.duration("stream_timeout", report),
                    reconnect_backoff: table.duration("reconnect_backoff", report),
                    max_reconnect_backoff: table.duration("max_reconnect_backoff", report),
                    telemetry_interval: table.duration("telemetry_interval", report),
                }
            }),
        tls: tls::read_tls(&root, report),
        resolver: resolver::read_resolver(&root, report),
        upstream_names,
        upstreams,
        routes: read_routes(&root, report),
        client_ip: root
            .table("client_ip", CLIENT_IP_KEYS, report)
            .map(|table| RawClientIp {
                trusted_proxies: table.strings("trusted_proxies", report),
                header: table.string("header", report),
            })
            .unwrap_or_default(),
        redis: root.table("redis", REDIS_KEYS, report).map(|table| {
            table.require(
                "url",
                "redis needs a url, like \"redis://127.0.0.1:6379\"",
                report,
            );
            RawRedis {
                url: table.string("url", report),
                timeout: table.duration("timeout", report),
                pool_size: table.integer("pool_size", report),
                key_prefix: table.string("key_prefix", report),
            }
        }),
        rate_limit_names,
        rate_limits,
        load_shedding: root
            .table("load_shedding", LOAD_SHEDDING_KEYS, report)
            .map(|table| RawLoadShedding {
                max_in_flight: table.integer("max_in_flight", report),
                normal_share: table.number("normal_share", report),
                optional_share: table.number("optional_share", report),
                retry_after: table.duration("retry_after", report),
            })
            .unwrap_or_default(),
        dns: dns::read_dns(&root, report),
        failover: failover::read_failover(&root, report),
        rollout: root
            .table("rollout", ROLLOUT_KEYS, report)
            .map(|table| RawRollout {
                bake: table.duration("bake", report),
                evaluate_every: table.duration("evaluate_every", report),
                max_error_ratio_increase: table.number("max_error_ratio_increase", report),
                max_p99_ratio: table.number("max_p99_ratio", report),
                min_p99_increase: table.duration("min_p99_increase", report),
                min_requests: table.integer("min_requests", report),
                stale_grace: table.duration("stale_grace", report),
            })
            .unwrap_or_default(),
    }
}

/// Every top-level key: the node's and the fleet's. Unknown-key messages list `control_plane`
/// last, after the fleet's keys, where it has always been.
fn root_keys() -> Vec<&'static str> {
    let mut keys: Vec<&str> = NodeSettings::KEYS
        .iter()
        .chain(FleetSettings::KEYS)
        .copied()
        .collect();
    keys.sort_by_key(|key| *key == "control_plane");
    keys
}

/// Reads a table of user-named tables (`upstreams`, `rate_limits`), returning every name written
/// under it and the entries that are tables with `known` keys, converted by `read_entry`.
fn read_named_tables<T>(
    root: &Table<'_>,
    key: &str,
    known: &[&str],
    report: &mut Reporter<'_>,
    read_entry: impl Fn(At<String>, &Table<'_>, &mut Reporter<'_>) -> T,
) -> (Vec<String>, Vec<T>) {
    // The names are free-form, so accept any key here and check each value.
    let Some(entries) = root.table_of_any_keys(key, report) else {
        return (Vec::new(), Vec::new());
    };
    let names = entries
        .iter()
        .map(|(name, _)| name.get_ref().to_string())
        .collect();
    let values = entries
        .iter()
        .filter_map(|(name, node)| {
            let name = At {
                value: name.get_ref().to_string(),
                span: name.span(),
            };
            let path = join_key(key, &name.value);
            let table = Table::open(node, path, known, report)?;
            Some(read_entry(name, &table, report))
        })
        .collect();
    (names, values)
}

fn read_upstream(name: At<String>, table: &Table<'_>, report: &mut Reporter<'_>) -> RawUpstream {
    table.require("pools", "an upstream needs at least one pool", report);
    RawUpstream {
        name,
        region_policy: table.string("region_policy", report),
        health: table
            .table("health", HEALTH_KEYS, report)
            .map(|health| RawHealth {
                path: health.string("path", report),
                interval: health.duration("interval", report),
                timeout: health.duration("timeout", report),
                healthy_threshold: health.integer("healthy_threshold", report),
                unhealthy_threshold: health.integer("unhealthy_threshold", report),
            }),
        min_healthy_fraction: table.number("min_healthy_fraction", report),
        connect_timeout: table.duration("connect_timeout", report),
        outlier: table
            .table("outlier", OUTLIER_KEYS, report)
            .map(|outlier| RawOutlier {
                consecutive_failures: outlier.integer("consecutive_failures", report),
                base_ejection_time: outlier.duration("base_ejection_time", report),
                max_ejection_time: outlier.duration("max_ejection_time", report),
                max_ejected_fraction: outlier.number("max_ejected_fraction", report),
            })
            .unwrap_or_default(),
        slow_start: table.duration("slow_start", report),
        retry_budget: table
            .table("retry_budget", RETRY_BUDGET_KEYS, report)
            .map(|budget| RawRetryBudget {
                ratio: budget.number("ratio", report),
                min_per_second: budget.integer("min_per_second", report),
                window: budget.duration("window", report),
            })
            .unwrap_or_default(),
        circuit_breaker: table
            .table("circuit_breaker", CIRCUIT_BREAKER_KEYS, report)
            .map(|breaker| RawCircuitBreaker {
                enabled: breaker.boolean("enabled", report),
                failure_rate: breaker.number("failure_rate", report),
                min_requests: breaker.integer("min_requests", report),
                window: breaker.duration("window", report),
                open_for: breaker.duration("open_for", report),
                max_open_for: breaker.duration("max_open_for", report),
                half_open_successes: breaker.integer("half_open_successes", report),
            })
            .unwrap_or_default(),
        bulkhead: table
            .table("bulkhead", BULKHEAD_KEYS, report)
            .map(|bulkhead| RawBulkhead {
                max_in_flight: bulkhead.integer("max_in_flight", report),
                max_pending_connects: bulkhead.integer("max_pending_connects", report),
                adaptive: bulkhead
                    .table("adaptive", ADAPTIVE_KEYS, report)
                    .map(|adaptive| RawAdaptive {
                        min_in_flight: adaptive.integer("min_in_flight", report),
                        initial: adaptive.integer("initial", report),
                        tolerance: adaptive.number("tolerance", report),
                        min_rtt_window: adaptive.duration("min_rtt_window", report),
                    }),
            })
            .unwrap_or_default(),
        pools: read_array_of_tables(table, "pools", POOL_KEYS, report, read_pool),
    }
}

fn read_pool(table: &Table<'_>, report: &mut Reporter<'_>) -> RawPool {
    table.require("region", "a pool needs a region", report);
    table.require("endpoints", "a pool needs at least one endpoint", report);
    RawPool {
        region: table.string("region", report),
        weight: table.integer("weight", report),
        endpoints: table.strings("endpoints", report),
        drained: table.strings("drained", report),
        tls: table
            .table("tls", UPSTREAM_TLS_KEYS, report)
            .map(|tls| RawUpstreamTls {
                span: tls.span().clone(),
                sni: tls.string("sni", report),
                ca_file: tls.string("ca_file", report),
                verify: tls.boolean("verify", report),
                cert: tls.string("cert", report),
                key: tls.string("key", report),
            }),
        protocol: table.string("protocol", report),
    }
}

fn read_routes(root: &Table<'_>, report: &mut Reporter<'_>) -> Vec<Option<RawRoute>> {
    read_array_of_tables(root, "routes", ROUTE_KEYS, report, read_route)
        .map(|routes| routes.value)
        .unwrap_or_default()
}

fn read_route(table: &Table<'_>, report: &mut Reporter<'_>) -> RawRoute {
    table.require("upstream", "a route needs an upstream", report);
    RawRoute {
        span: table.span().clone(),
        name: table.string("name", report),
        host: table.string("host", report),
        path_prefix: table.string("path_prefix", report),
        upstream: table.string("upstream", report),
        timeout: table.duration("timeout", report),
        read_timeout: table.duration("read_timeout", report),
        connect_timeout: table.duration("connect_timeout", report),
        priority: table.string("priority", report),
        retry: table
            .table("retry", RETRY_KEYS, report)
            .map(|retry| RawRetry {
                attempts: retry.integer("attempts", report),
                statuses: retry.integers("statuses", report),
                on_reset: retry.boolean("on_reset", report),
                non_idempotent: retry.boolean("non_idempotent", report),
                backoff: retry.duration("backoff", report),
                max_backoff: retry.duration("max_backoff", report),
            })
            .unwrap_or_default(),
        fault: table
            .table("fault", FAULT_KEYS, report)
            .map(|fault| RawFault {
                span: fault.span().clone(),
                header: fault.string("header", report),
                header_value: fault.string("header_value", report),
                delay: fault.duration("delay", report),
                delay_percent: fault.number("delay_percent", report),
                abort_status: fault.integer("abort_status", report),
                abort_percent: fault.number("abort_percent", report),
            }),
        rate_limits: table.strings("rate_limits", report),
        forward_raw_path: table.boolean("forward_raw_path", report),
        encoded_slashes: table.string("encoded_slashes", report),
        path_prefix_ignore_case: table.boolean("path_prefix_ignore_case", report),
        max_body_size: table.integer("max_body_size", report),
        underscores_in_headers: table.boolean("underscores_in_headers", report),
        redirect_https: table.boolean("redirect_https", report),
        https_port: table.integer("https_port", report),
        hsts: table.string("hsts", report),
    }
}

fn read_rate_limit(name: At<String>, table: &Table<'_>, report: &mut Reporter<'_>) -> RawRateLimit {
    table.require(
        "key",
        "a rate limit needs a key, like \"client_ip\"",
        report,
    );
    table.require("rate", "a rate limit needs a rate", report);
    RawRateLimit {
        name,
        key: table.string_or_strings("key", report),
        rate: table.integer("rate", report),
        per: table.duration("per", report),
        burst: table.integer("burst", report),
        scope: table.string("scope", report),
        on_store_error: table.string("on_store_error", report),
        missing_key: table.string("missing_key", report),
        max_keys: table.integer("max_keys", report),
        response_headers: table.boolean("response_headers", report),
    }
}

/// Reads `key` as an array whose elements are tables with `known` keys (`[[key]]` or
/// `key = [{ ... }]`), converting each element with `read_element`; an element that is not a
/// table is reported and becomes `None`, so indexes stay as written.
pub(super) fn read_array_of_tables<T>(
    parent: &Table<'_>,
    key: &str,
    known: &[&str],
    report: &mut Reporter<'_>,
    read_element: impl Fn(&Table<'_>, &mut Reporter<'_>) -> T,
) -> Option<At<Vec<Option<T>>>> {
    let array = parent.array(key, report)?;
    let path = parent.key_path(key);
    let elements = array
        .value
        .iter()
        .enumerate()
        .map(|(index, node): (usize, &Node<'_>)| {
            let table = Table::open(node, join_index(&path, index), known, report)?;
            Some(read_element(&table, report))
        })
        .collect();
    Some(At {
        value: elements,
        span: array.span,
    })
}
