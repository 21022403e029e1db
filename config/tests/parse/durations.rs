//! Every duration key has an upper bound, named in its error: a value that passes validation
//! must never overflow the gateway's clock arithmetic at run time.

use crate::support::{assert_single_error, parse_ok, with_api_upstream, with_upstream_keys};

/// The largest duration `humantime` reads: `u64::MAX` seconds.
const HUGE: &str = "\"18446744073709551615s\"";

fn route(keys: &str) -> String {
    with_api_upstream(&format!("[[routes]]\nupstream = \"api\"\n{keys}\n"))
}

/// `(config text with HUGE at the key, the key's path)` for every duration key of the schema.
fn every_duration_key() -> Vec<(String, &'static str)> {
    let cp = "[control_plane]\nurl = \"http://127.0.0.1:7700\"\ntoken_file = \"t\"\ncache_path = \"c\"\n";
    vec![
        (
            format!("[gateway]\nshutdown_grace = {HUGE}\n"),
            "gateway.shutdown_grace",
        ),
        (
            format!("[listen]\nheader_read_timeout = {HUGE}\n"),
            "listen.header_read_timeout",
        ),
        (
            format!("{cp}stream_timeout = {HUGE}\n"),
            "control_plane.stream_timeout",
        ),
        (
            format!("{cp}reconnect_backoff = {HUGE}\n"),
            "control_plane.reconnect_backoff",
        ),
        (
            format!("{cp}telemetry_interval = {HUGE}\n"),
            "control_plane.telemetry_interval",
        ),
        (
            format!("{cp}max_reconnect_backoff = {HUGE}\n"),
            "control_plane.max_reconnect_backoff",
        ),
        (
            with_api_upstream(&format!(
                "[redis]\nurl = \"redis://127.0.0.1:6379\"\ntimeout = {HUGE}\n"
            )),
            "redis.timeout",
        ),
        (
            with_api_upstream(&format!("[load_shedding]\nretry_after = {HUGE}\n")),
            "load_shedding.retry_after",
        ),
        (route(&format!("timeout = {HUGE}")), "routes[0].timeout"),
        (
            route(&format!("read_timeout = {HUGE}")),
            "routes[0].read_timeout",
        ),
        (
            route(&format!("connect_timeout = {HUGE}")),
            "routes[0].connect_timeout",
        ),
        (
            route(&format!("[routes.retry]\nbackoff = {HUGE}")),
            "routes[0].retry.backoff",
        ),
        (
            route(&format!("[routes.retry]\nmax_backoff = {HUGE}")),
            "routes[0].retry.max_backoff",
        ),
        (
            route(&format!(
                "[routes.fault]\ndelay = {HUGE}\ndelay_percent = 1"
            )),
            "routes[0].fault.delay",
        ),
        (
            with_upstream_keys(&format!("connect_timeout = {HUGE}")),
            "upstreams.api.connect_timeout",
        ),
        (
            with_upstream_keys(&format!("slow_start = {HUGE}")),
            "upstreams.api.slow_start",
        ),
        (
            with_upstream_keys(&format!("[upstreams.api.health]\ninterval = {HUGE}")),
            "upstreams.api.health.interval",
        ),
        (
            with_upstream_keys(&format!("[upstreams.api.health]\ntimeout = {HUGE}")),
            "upstreams.api.health.timeout",
        ),
        (
            with_upstream_keys(&format!(
                "[upstreams.api.outlier]\nbase_ejection_time = {HUGE}"
            )),
            "upstreams.api.outlier.base_ejection_time",
        ),
        (
            with_upstream_keys(&format!(
                "[upstreams.api.outlier]\nmax_ejection_time = {HUGE}"
            )),
            "upstreams.api.outlier.max_ejection_time",
        ),
        (
            with_upstream_keys(&format!("[upstreams.api.retry_budget]\nwindow = {HUGE}")),
            "upstreams.api.retry_budget.window",
        ),
        (
            with_upstream_keys(&format!("[upstreams.api.circuit_breaker]\nwindow = {HUGE}")),
            "upstreams.api.circuit_breaker.window",
        ),
        (
            with_upstream_keys(&format!(
                "[upstreams.api.circuit_breaker]\nopen_for = {HUGE}"
            )),
            "upstreams.api.circuit_breaker.open_for",
        ),
        (
            with_upstream_keys(&format!(
                "[upstreams.api.circuit_breaker]\nmax_open_for = {HUGE}"
            )),
            "upstreams.api.circuit_breaker.max_open_for",
        ),
        (
            with_upstream_keys(&format!(
                "[upstreams.api.bulkhead.adaptive]\nmin_rtt_window = {HUGE}"
            )),
            "upstreams.api.bulkhead.adaptive.min_rtt_window",
        ),
        (
            with_api_upstream(&format!(
                "[rate_limits.per-client]\nkey = [\"client_ip\"]\nrate = 10\nper = {HUGE}\n"
            )),
            "rate_limits.per-client.per",
        ),
    ]
}

#[test]
fn every_duration_key_has_an_upper_bound_named_in_its_error() {
    for (text, path) in every_duration_key() {
        let error = assert_single_error(&text, path, "must be");
        assert!(
            error.message.contains("at most") || error.message.contains("between"),
            "{path}: the bound should be in the message: {:?}",
            error.message
        );
    }
}

#[test]
fn a_route_timeout_of_u64_max_seconds_is_rejected_with_the_bound() {
    assert_single_error(
        &route(&format!("timeout = {HUGE}")),
        "routes[0].timeout",
        "must be at most 1h, got 584542046090years",
    );
}

#[test]
fn a_huge_health_interval_is_rejected_with_the_bound() {
    assert_single_error(
        &with_upstream_keys("[upstreams.api.health]\ninterval = \"100000h\""),
        "upstreams.api.health.interval",
        "must be at most 1h",
    );
}

#[test]
fn the_bounds_themselves_are_accepted() {
    let config = parse_ok(&with_upstream_keys(
        "connect_timeout = \"60s\"\n\
         [upstreams.api.health]\ninterval = \"1h\"\ntimeout = \"60s\"\n\
         [upstreams.api.outlier]\nbase_ejection_time = \"1h\"\nmax_ejection_time = \"1h\"\n\
         [upstreams.api.circuit_breaker]\nopen_for = \"1h\"\nmax_open_for = \"1h\"",
    ));
    let api = &config.fleet.upstreams["api"];
    assert_eq!(
        api.health.as_ref().map(|h| h.interval.as_secs()),
        Some(3600)
    );
    let config = parse_ok(&route("timeout = \"1h\"\nread_timeout = \"1h\""));
    assert_eq!(config.fleet.routes[0].timeout.as_secs(), 3600);
}

#[test]
fn gateway_and_listener_settings_have_defaults_and_bounds() {
    let config = parse_ok(&with_api_upstream("[[routes]]\nupstream = \"api\"\n"));
    assert_eq!(config.node.gateway.shutdown_grace.as_secs(), 5);
    assert_eq!(config.node.listen.header_read_timeout.as_secs(), 10);
    assert_eq!(config.node.listen.max_header_bytes, 64 * 1024);
    let config = parse_ok(&route(
        "[gateway]\nshutdown_grace = \"0s\"\n[listen]\nheader_read_timeout = \"2s\"\nmax_header_bytes = 4096",
    ));
    assert!(config.node.gateway.shutdown_grace.is_zero());
    assert_eq!(config.node.listen.header_read_timeout.as_secs(), 2);
    assert_eq!(config.node.listen.max_header_bytes, 4096);
    assert_single_error(
        "[gateway]\nshutdown_grace = \"301s\"\n",
        "gateway.shutdown_grace",
        "must be at most 5m",
    );
    assert_single_error(
        "[listen]\nheader_read_timeout = \"10ms\"\n",
        "listen.header_read_timeout",
        "must be between 100ms and 5m",
    );
    assert_single_error(
        "[listen]\nmax_header_bytes = 100\n",
        "listen.max_header_bytes",
        "must be between 1024 and 1048576",
    );
}
