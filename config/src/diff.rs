//! Compares two configs: which changes need a restart, and a short readable list of what changed
//! (for the reload log).

use std::collections::BTreeSet;
use std::fmt::Display;
use std::time::Duration;

use crate::document::join_key;
use crate::model::{
    AdaptiveLimit, Bulkhead, CircuitBreaker, ClientIpSettings, Config, ControlPlaneSettings,
    FaultInjection, HealthCheck, LoadShedding, OutlierDetection, Pool, RateLimitPolicy,
    RedisSettings, RetryBudget, RetryPolicy, Route, Upstream,
};

/// Keys whose change cannot be applied to a running gateway (it needs a restart): `listen.http`,
/// `admin.listen`, `access_log.path`, `access_log.enabled`, `gateway.id`, `control_plane`. Returns
/// the dotted key paths that differ, in that order; empty when none. Everything else, including
/// `client_ip`, `redis` and `rate_limits`, applies live.
///
/// `control_plane` counts as one key, whichever of its settings changed: the gateway reads it once
/// at start (where its fleet config comes from, its token and cache, how it reconnects). Configs
/// joined with [`Config::with_node`] compare like any other: a pushed fleet config joined with
/// the gateway's own node keys changes none of them.
pub fn restart_required(old: &Config, new: &Config) -> Vec<&'static str> {
    let checks = [
        ("listen.http", old.listen.http != new.listen.http),
        ("admin.listen", old.admin.listen != new.admin.listen),
        (
            "access_log.path",
            old.access_log.path != new.access_log.path,
        ),
        (
            "access_log.enabled",
            old.access_log.enabled != new.access_log.enabled,
        ),
        ("gateway.id", old.gateway.id != new.gateway.id),
        // Read once at start: where the fleet config comes from.
        ("control_plane", old.control_plane != new.control_plane),
    ];
    checks
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key))
        .collect()
}

/// A short human-readable list of what changed, one line per change, e.g.
/// `upstreams.api.pools[eu-west].weight: 100 -> 0` or `routes[api]: added`. Empty when the
/// configs are equal (route order and pool order are not compared: neither affects routing).
/// Lists are shown in brackets: `routes[api].rate_limits: [] -> [per-client]`. Settings tables
/// are compared key by key (`routes[api].retry.attempts: 3 -> 2`); an optional one (`health`,
/// `bulkhead.adaptive`, a route's `fault`) that appears or goes is one line,
/// `upstreams.api.health: disabled -> enabled`. `[control_plane]` is compared key by key too,
/// or `control_plane: added` / `removed`.
pub fn diff(old: &Config, new: &Config) -> Vec<String> {
    let mut changes = Changes::default();
    changes.value(
        "gateway.id",
        show_id(&old.gateway.id),
        show_id(&new.gateway.id),
    );
    changes.value(
        "gateway.region",
        show_region(&old.gateway.region),
        show_region(&new.gateway.region),
    );
    changes.value(
        "gateway.allow_fault_injection",
        old.gateway.allow_fault_injection,
        new.gateway.allow_fault_injection,
    );
    changes.duration(
        "gateway.shutdown_grace",
        old.gateway.shutdown_grace,
        new.gateway.shutdown_grace,
    );
    changes.value("listen.http", old.listen.http, new.listen.http);
    changes.duration(
        "listen.header_read_timeout",
        old.listen.header_read_timeout,
        new.listen.header_read_timeout,
    );
    changes.value(
        "listen.max_header_bytes",
        old.listen.max_header_bytes,
        new.listen.max_header_bytes,
    );
    changes.value("admin.listen", old.admin.listen, new.admin.listen);
    changes.value(
        "access_log.enabled",
        old.access_log.enabled,
        new.access_log.enabled,
    );
    changes.value(
        "access_log.path",
        show_log_path(&old.access_log.path),
        show_log_path(&new.access_log.path),
    );
    changes.value(
        "access_log.query",
        old.access_log.query,
        new.access_log.query,
    );
    match (&old.control_plane, &new.control_plane) {
        (Some(before), Some(after)) => changes.control_plane(before, after),
        (Some(_), None) => changes.push("control_plane: removed".to_owned()),
        (None, Some(_)) => changes.push("control_plane: added".to_owned()),
        (None, None) => {}
    }
    changes.client_ip(&old.client_ip, &new.client_ip);
    match (&old.redis, &new.redis) {
        (Some(before), Some(after)) => changes.redis(before, after),
        (Some(_), None) => changes.push("redis: removed".to_owned()),
        (None, Some(_)) => changes.push("redis: added".to_owned()),
        (None, None) => {}
    }
    let names: BTreeSet<&String> = old.upstreams.keys().chain(new.upstreams.keys()).collect();
    for name in names {
        let path = join_key("upstreams", name);
        match (old.upstreams.get(name), new.upstreams.get(name)) {
            (Some(before), Some(after)) => changes.upstream(&path, before, after),
            (Some(_), None) => changes.push(format!("{path}: removed")),
            (None, Some(_)) => changes.push(format!("{path}: added")),
            (None, None) => {}
        }
    }
    let names: BTreeSet<&String> = old
        .rate_limits
        .keys()
        .chain(new.rate_limits.keys())
        .collect();
    for name in names {
        let path = join_key("rate_limits", name);
        match (old.rate_limits.get(name), new.rate_limits.get(name)) {
            (Some(before), Some(after)) => changes.rate_limit(&path, before, after),
            (Some(_), None) => changes.push(format!("{path}: removed")),
            (None, Some(_)) => changes.push(format!("{path}: added")),
            (None, None) => {}
        }
    }
    changes.load_shedding(&old.load_shedding, &new.load_shedding);
    changes.routes(&old.routes, &new.routes);
    changes.lines
}

#[derive(Default)]
struct Changes {
    lines: Vec<String>,
}

impl Changes {
    fn push(&mut self, line: String) {
        self.lines.push(line);
    }

    /// `path: old -> new` when the values differ.
    fn value<T: Display + PartialEq>(&mut self, path: &str, old: T, new: T) {
        if old != new {
            self.push(format!("{path}: {old} -> {new}"));
        }
    }

    fn duration(&mut self, path: &str, old: Duration, new: Duration) {
        self.value(path, show_duration(old), show_duration(new));
    }

    /// `path: [a, b] -> [a, c]` when the lists differ (order included).
    fn list<T: Display + PartialEq>(&mut self, path: &str, old: &[T], new: &[T]) {
        if old != new {
            self.push(format!("{path}: {} -> {}", show_list(old), show_list(new)));
        }
    }

    fn control_plane(&mut self, old: &ControlPlaneSettings, new: &ControlPlaneSettings) {
        let at = |key: &str| format!("control_plane.{key}");
        let show_path = |path: &std::path::Path| path.display().to_string();
        self.value(&at("url"), old.url.as_str(), new.url.as_str());
        self.value(
            &at("token_file"),
            show_path(&old.token_file),
            show_path(&new.token_file),
        );
        self.value(
            &at("cache_path"),
            show_path(&old.cache_path),
            show_path(&new.cache_path),
        );
        self.value(
            &at("ca_file"),
            old.ca_file
                .as_deref()
                .map_or_else(|| "(system)".to_owned(), show_path),
            new.ca_file
                .as_deref()
                .map_or_else(|| "(system)".to_owned(), show_path),
        );
        self.duration(
            &at("stream_timeout"),
            old.stream_timeout,
            new.stream_timeout,
        );
        self.duration(
            &at("reconnect_backoff"),
            old.reconnect_backoff,
            new.reconnect_backoff,
        );
        self.duration(
            &at("max_reconnect_backoff"),
            old.max_reconnect_backoff,
            new.max_reconnect_backoff,
        );
    }

    fn client_ip(&mut self, old: &ClientIpSettings, new: &ClientIpSettings) {
        self.members(
            "client_ip.trusted_proxies",
            &old.trusted_proxies,
            &new.trusted_proxies,
        );
        self.value("client_ip.header", old.header, new.header);
    }

    fn redis(&mut self, old: &RedisSettings, new: &RedisSettings) {
        self.value("redis.url", old.url.as_str(), new.url.as_str());
        self.duration("redis.timeout", old.timeout, new.timeout);
        self.value("redis.pool_size", old.pool_size, new.pool_size);
        self.value(
            "redis.key_prefix",
            old.key_prefix.as_str(),
            new.key_prefix.as_str(),
        );
    }

    fn rate_limit(&mut self, path: &str, old: &RateLimitPolicy, new: &RateLimitPolicy) {
        let at = |key: &str| format!("{path}.{key}");
        self.list(&at("key"), &old.key, &new.key);
        self.value(&at("rate"), old.rate, new.rate);
        self.duration(&at("per"), old.per, new.per);
        self.value(&at("burst"), old.burst, new.burst);
        self.value(&at("scope"), old.scope, new.scope);
        self.value(
            &at("on_store_error"),
            old.on_store_error,
            new.on_store_error,
        );
        self.value(&at("missing_key"), old.missing_key, new.missing_key);
        self.value(&at("max_keys"), old.max_keys, new.max_keys);
        self.value(
            &at("response_headers"),
            old.response_headers,
            new.response_headers,
        );
    }

    fn upstream(&mut self, path: &str, old: &Upstream, new: &Upstream) {
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("region_policy"), old.region_policy, new.region_policy);
        match (&old.health, &new.health) {
            (Some(before), Some(after)) => self.health(&at("health"), before, after),
            (Some(_), None) => self.push(format!("{}: enabled -> disabled", at("health"))),
            (None, Some(_)) => self.push(format!("{}: disabled -> enabled", at("health"))),
            (None, None) => {}
        }
        self.value(
            &at("min_healthy_fraction"),
            old.min_healthy_fraction,
            new.min_healthy_fraction,
        );
        self.outlier(&at("outlier"), &old.outlier, &new.outlier);
        self.duration(
            &at("connect_timeout"),
            old.connect_timeout,
            new.connect_timeout,
        );
        self.duration(&at("slow_start"), old.slow_start, new.slow_start);
        self.retry_budget(&at("retry_budget"), &old.retry_budget, &new.retry_budget);
        self.circuit_breaker(
            &at("circuit_breaker"),
            &old.circuit_breaker,
            &new.circuit_breaker,
        );
        self.bulkhead(&at("bulkhead"), &old.bulkhead, &new.bulkhead);
        self.pools(&at("pools"), &old.pools, &new.pools);
    }

    fn health(&mut self, path: &str, old: &HealthCheck, new: &HealthCheck) {
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("path"), old.path.as_str(), new.path.as_str());
        self.duration(&at("interval"), old.interval, new.interval);
        self.duration(&at("timeout"), old.timeout, new.timeout);
        self.value(
            &at("healthy_threshold"),
            old.healthy_threshold,
            new.healthy_threshold,
        );
        self.value(
            &at("unhealthy_threshold"),
            old.unhealthy_threshold,
            new.unhealthy_threshold,
        );
    }

    fn outlier(&mut self, path: &str, old: &OutlierDetection, new: &OutlierDetection) {
        let at = |key: &str| format!("{path}.{key}");
        self.value(
            &at("consecutive_failures"),
            old.consecutive_failures,
            new.consecutive_failures,
        );
        self.duration(
            &at("base_ejection_time"),
            old.base_ejection_time,
            new.base_ejection_time,
        );
        self.duration(
            &at("max_ejection_time"),
            old.max_ejection_time,
            new.max_ejection_time,
        );
        self.value(
            &at("max_ejected_fraction"),
            old.max_ejected_fraction,
            new.max_ejected_fraction,
        );
    }

    fn retry_budget(&mut self, path: &str, old: &RetryBudget, new: &RetryBudget) {
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("ratio"), old.ratio, new.ratio);
        self.value(
            &at("min_per_second"),
            old.min_per_second,
            new.min_per_second,
        );
        self.duration(&at("window"), old.window, new.window);
    }

    fn circuit_breaker(&mut self, path: &str, old: &CircuitBreaker, new: &CircuitBreaker) {
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("enabled"), old.enabled, new.enabled);
        self.value(&at("failure_rate"), old.failure_rate, new.failure_rate);
        self.value(&at("min_requests"), old.min_requests, new.min_requests);
        self.duration(&at("window"), old.window, new.window);
        self.duration(&at("open_for"), old.open_for, new.open_for);
        self.duration(&at("max_open_for"), old.max_open_for, new.max_open_for);
        self.value(
            &at("half_open_successes"),
            old.half_open_successes,
            new.half_open_successes,
        );
    }

    fn bulkhead(&mut self, path: &str, old: &Bulkhead, new: &Bulkhead) {
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("max_in_flight"), old.max_in_flight, new.max_in_flight);
        self.value(
            &at("max_pending_connects"),
            old.max_pending_connects,
            new.max_pending_connects,
        );
        match (&old.adaptive, &new.adaptive) {
            (Some(before), Some(after)) => self.adaptive(&at("adaptive"), before, after),
            (Some(_), None) => self.push(format!("{}: enabled -> disabled", at("adaptive"))),
            (None, Some(_)) => self.push(format!("{}: disabled -> enabled", at("adaptive"))),
            (None, None) => {}
        }
    }

    fn adaptive(&mut self, path: &str, old: &AdaptiveLimit, new: &AdaptiveLimit) {
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("min_in_flight"), old.min_in_flight, new.min_in_flight);
        self.value(&at("initial"), old.initial, new.initial);
        self.value(&at("tolerance"), old.tolerance, new.tolerance);
        self.duration(
            &at("min_rtt_window"),
            old.min_rtt_window,
            new.min_rtt_window,
        );
    }

    fn load_shedding(&mut self, old: &LoadShedding, new: &LoadShedding) {
        let at = |key: &str| format!("load_shedding.{key}");
        self.value(&at("max_in_flight"), old.max_in_flight, new.max_in_flight);
        self.value(&at("normal_share"), old.normal_share, new.normal_share);
        self.value(
            &at("optional_share"),
            old.optional_share,
            new.optional_share,
        );
        self.duration(&at("retry_after"), old.retry_after, new.retry_after);
    }

    fn retry(&mut self, path: &str, old: &RetryPolicy, new: &RetryPolicy) {
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("attempts"), old.attempts, new.attempts);
        self.list(&at("statuses"), &old.statuses, &new.statuses);
        self.value(&at("on_reset"), old.on_reset, new.on_reset);
        self.value(
            &at("non_idempotent"),
            old.non_idempotent,
            new.non_idempotent,
        );
        self.duration(&at("backoff"), old.backoff, new.backoff);
        self.duration(&at("max_backoff"), old.max_backoff, new.max_backoff);
    }

    fn fault(&mut self, path: &str, old: &FaultInjection, new: &FaultInjection) {
        let at = |key: &str| format!("{path}.{key}");
        let or = |value: Option<String>, absent: &str| value.unwrap_or_else(|| absent.to_owned());
        self.value(
            &at("header"),
            or(old.header.clone(), "(every request)"),
            or(new.header.clone(), "(every request)"),
        );
        self.value(
            &at("header_value"),
            or(old.header_value.clone(), "(any value)"),
            or(new.header_value.clone(), "(any value)"),
        );
        self.value(
            &at("delay"),
            or(old.delay.map(show_duration), "(none)"),
            or(new.delay.map(show_duration), "(none)"),
        );
        self.value(&at("delay_percent"), old.delay_percent, new.delay_percent);
        self.value(
            &at("abort_status"),
            or(old.abort_status.map(|s| s.to_string()), "(none)"),
            or(new.abort_status.map(|s| s.to_string()), "(none)"),
        );
        self.value(&at("abort_percent"), old.abort_percent, new.abort_percent);
    }

    /// Pools are matched by region.
    fn pools(&mut self, path: &str, old: &[Pool], new: &[Pool]) {
        let find = |pools: &'_ [Pool], region: &str| -> Option<usize> {
            pools.iter().position(|pool| pool.region == region)
        };
        for before in old {
            let pool_path = format!("{path}[{}]", before.region);
            match find(new, &before.region).and_then(|index| new.get(index)) {
                Some(after) => {
                    self.value(&format!("{pool_path}.weight"), before.weight, after.weight);
                    self.members(
                        &format!("{pool_path}.endpoints"),
                        &before.endpoints,
                        &after.endpoints,
                    );
                    self.members(
                        &format!("{pool_path}.drained"),
                        &before.drained,
                        &after.drained,
                    );
                }
                None => self.push(format!("{pool_path}: removed")),
            }
        }
        for after in new {
            if find(old, &after.region).is_none() {
                self.push(format!("{path}[{}]: added", after.region));
            }
        }
    }

    /// A list whose members matter more than their order: `path: added x; removed y`, or
    /// `path: reordered`.
    fn members<T: Display + PartialEq>(&mut self, path: &str, old: &[T], new: &[T]) {
        if old == new {
            return;
        }
        let added: Vec<String> = new
            .iter()
            .filter(|member| !old.contains(member))
            .map(ToString::to_string)
            .collect();
        let removed: Vec<String> = old
            .iter()
            .filter(|member| !new.contains(member))
            .map(ToString::to_string)
            .collect();
        let mut parts = Vec::new();
        if !added.is_empty() {
            parts.push(format!("added {}", added.join(", ")));
        }
        if !removed.is_empty() {
            parts.push(format!("removed {}", removed.join(", ")));
        }
        if parts.is_empty() {
            parts.push("reordered".to_owned());
        }
        self.push(format!("{path}: {}", parts.join("; ")));
    }

    /// Routes are matched by name.
    fn routes(&mut self, old: &[Route], new: &[Route]) {
        let find = |routes: &'_ [Route], name: &str| -> Option<usize> {
            routes.iter().position(|route| route.name == name)
        };
        for before in old {
            let path = format!("routes[{}]", before.name);
            match find(new, &before.name).and_then(|index| new.get(index)) {
                Some(after) => {
                    let at = |key: &str| format!("{path}.{key}");
                    self.value(&at("host"), &before.host, &after.host);
                    self.value(&at("path_prefix"), &before.path_prefix, &after.path_prefix);
                    self.value(&at("upstream"), &before.upstream, &after.upstream);
                    self.duration(&at("timeout"), before.timeout, after.timeout);
                    self.duration(&at("read_timeout"), before.read_timeout, after.read_timeout);
                    self.value(
                        &at("connect_timeout"),
                        show_route_connect_timeout(before.connect_timeout),
                        show_route_connect_timeout(after.connect_timeout),
                    );
                    self.value(&at("priority"), before.priority, after.priority);
                    self.retry(&at("retry"), &before.retry, &after.retry);
                    match (&before.fault, &after.fault) {
                        (Some(old), Some(new)) => self.fault(&at("fault"), old, new),
                        (Some(_), None) => {
                            self.push(format!("{}: enabled -> disabled", at("fault")))
                        }
                        (None, Some(_)) => {
                            self.push(format!("{}: disabled -> enabled", at("fault")))
                        }
                        (None, None) => {}
                    }
                    self.list(&at("rate_limits"), &before.rate_limits, &after.rate_limits);
                    let (old_rules, new_rules) = (&before.request, &after.request);
                    self.value(
                        &at("forward_raw_path"),
                        old_rules.forward_raw_path,
                        new_rules.forward_raw_path,
                    );
                    self.value(
                        &at("encoded_slashes"),
                        old_rules.encoded_slashes,
                        new_rules.encoded_slashes,
                    );
                    self.value(
                        &at("path_prefix_ignore_case"),
                        old_rules.path_prefix_ignore_case,
                        new_rules.path_prefix_ignore_case,
                    );
                    self.value(
                        &at("max_body_size"),
                        show_body_cap(old_rules.max_body_size),
                        show_body_cap(new_rules.max_body_size),
                    );
                    self.value(
                        &at("underscores_in_headers"),
                        old_rules.underscores_in_headers,
                        new_rules.underscores_in_headers,
                    );
                }
                None => self.push(format!("{path}: removed")),
            }
        }
        for after in new {
            if find(old, &after.name).is_none() {
                self.push(format!("routes[{}]: added", after.name));
            }
        }
    }
}

fn show_duration(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// `[a, b]`.
fn show_list<T: Display>(items: &[T]) -> String {
    let items: Vec<String> = items.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}

/// A route's `max_body_size`: bytes, or no cap.
fn show_body_cap(cap: Option<u64>) -> String {
    cap.map_or_else(|| "(none)".to_owned(), |bytes| bytes.to_string())
}

/// A route's `connect_timeout`: its own, or the upstream's when left out.
fn show_route_connect_timeout(timeout: Option<Duration>) -> String {
    timeout.map_or_else(|| "(upstream's)".to_owned(), show_duration)
}

fn show_id(id: &Option<String>) -> &str {
    id.as_deref().unwrap_or("(host name)")
}

fn show_region(region: &Option<String>) -> &str {
    region.as_deref().unwrap_or("(none)")
}

fn show_log_path(path: &Option<std::path::PathBuf>) -> String {
    path.as_ref()
        .map_or_else(|| "stdout".to_owned(), |path| path.display().to_string())
}
