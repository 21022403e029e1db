//! Reads the parsed TOML document into `RawConfig`: checks keys and value types only, reporting
//! every unknown key, wrong type and missing required key.

use toml::de::DeTable;

use crate::document::{At, Node, Table, join_index, join_key, read_string};
use crate::raw::{
    RawAccessLog, RawAdmin, RawConfig, RawGateway, RawHealth, RawListen, RawOutlier, RawPool,
    RawRoute, RawUpstream,
};
use crate::report::{Reporter, Span};

const ROOT_KEYS: &[&str] = &[
    "gateway",
    "listen",
    "admin",
    "access_log",
    "upstreams",
    "routes",
];
const GATEWAY_KEYS: &[&str] = &["id", "region"];
const LISTEN_KEYS: &[&str] = &["http"];
const ADMIN_KEYS: &[&str] = &["listen"];
const ACCESS_LOG_KEYS: &[&str] = &["enabled", "path"];
const UPSTREAM_KEYS: &[&str] = &[
    "region_policy",
    "health",
    "min_healthy_fraction",
    "connect_timeout",
    "connect_retries",
    "outlier",
    "pools",
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
const POOL_KEYS: &[&str] = &["region", "weight", "endpoints"];
const ROUTE_KEYS: &[&str] = &["name", "host", "path_prefix", "upstream", "timeout"];

/// Reads the whole document; problems go to `report`, and the affected values are left out.
pub(crate) fn read_document<'a>(
    document: &'a DeTable<'a>,
    span: Span,
    report: &mut Reporter<'_>,
) -> RawConfig {
    let root = Table::new(document, span, String::new(), ROOT_KEYS, report);
    let (upstream_names, upstreams) = read_upstreams(&root, report);
    RawConfig {
        gateway: root
            .table("gateway", GATEWAY_KEYS, report)
            .map(|table| RawGateway {
                id: table.string("id", report),
                region: table.string("region", report),
            })
            .unwrap_or_default(),
        listen: root
            .table("listen", LISTEN_KEYS, report)
            .map(|table| RawListen {
                http: table.string("http", report),
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
            })
            .unwrap_or_default(),
        upstream_names,
        upstreams,
        routes: read_routes(&root, report),
    }
}

/// Reads `upstreams`, returning every name written under it and the upstreams that are tables.
fn read_upstreams(root: &Table<'_>, report: &mut Reporter<'_>) -> (Vec<String>, Vec<RawUpstream>) {
    // Upstream names are free-form, so accept any key here and check each value.
    let Some(upstreams) = root.table_of_any_keys("upstreams", report) else {
        return (Vec::new(), Vec::new());
    };
    let names = upstreams
        .iter()
        .map(|(key, _)| key.get_ref().to_string())
        .collect();
    let upstreams = upstreams
        .iter()
        .filter_map(|(key, node)| {
            let name = At {
                value: key.get_ref().to_string(),
                span: key.span(),
            };
            let path = join_key("upstreams", &name.value);
            let table = Table::open(node, path, UPSTREAM_KEYS, report)?;
            Some(read_upstream(name, &table, report))
        })
        .collect();
    (names, upstreams)
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
        connect_retries: table.integer("connect_retries", report),
        outlier: table
            .table("outlier", OUTLIER_KEYS, report)
            .map(|outlier| RawOutlier {
                consecutive_failures: outlier.integer("consecutive_failures", report),
                base_ejection_time: outlier.duration("base_ejection_time", report),
                max_ejection_time: outlier.duration("max_ejection_time", report),
                max_ejected_fraction: outlier.number("max_ejected_fraction", report),
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
        endpoints: table.array("endpoints", report).map(|array| At {
            value: array
                .value
                .iter()
                .enumerate()
                .map(|(index, node)| {
                    read_string(
                        node,
                        &join_index(&table.key_path("endpoints"), index),
                        report,
                    )
                })
                .collect(),
            span: array.span,
        }),
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
    }
}

/// Reads `key` as an array whose elements are tables with `known` keys (`[[key]]` or
/// `key = [{ ... }]`), converting each element with `read_element`; an element that is not a
/// table is reported and becomes `None`, so indexes stay as written.
fn read_array_of_tables<T>(
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
