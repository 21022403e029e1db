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
    if let Some(api) = new.upstreams.get_mut("api") {
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
    let Some(mut web) = new.upstreams.get("api").cloned() else {
        panic!("example has an api upstream");
    };
    web.name = "web".to_owned();
    new.upstreams.insert("web".to_owned(), web);
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
    if let Some(api) = new.upstreams.get_mut("api") {
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
        "endpoints = [\"127.0.0.1:9001\", \"127.0.0.1:9002\"]",
        "endpoints = [\"127.0.0.1:9002\", \"127.0.0.1:9003\"]",
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
