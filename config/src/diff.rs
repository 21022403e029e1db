//! Compares two configs: which changes need a restart, and a short readable list of what changed
//! (for the reload log).

use std::collections::BTreeSet;
use std::fmt::Display;
use std::time::Duration;

use crate::document::join_key;
use crate::model::{
    ClientIpSettings, Config, HealthCheck, OutlierDetection, Pool, RateLimitPolicy, RedisSettings,
    Route, Upstream,
};

/// Keys whose change cannot be applied to a running gateway (it needs a restart): `listen.http`,
/// `admin.listen`, `access_log.path`, `access_log.enabled`, `gateway.id`. Returns the dotted key
/// paths that differ, in that order; empty when none. Everything else, including `client_ip`,
/// `redis` and `rate_limits`, applies live.
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
    ];
    checks
        .into_iter()
        .filter_map(|(key, differs)| differs.then_some(key))
        .collect()
}

/// A short human-readable list of what changed, one line per change, e.g.
/// `upstreams.api.pools[eu-west].weight: 100 -> 0` or `routes[api]: added`. Empty when the
/// configs are equal (route order and pool order are not compared: neither affects routing).
/// Lists are shown in brackets: `routes[api].rate_limits: [] -> [per-client]`.
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
    changes.value("listen.http", old.listen.http, new.listen.http);
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
    changes.changed("load_shedding", &old.load_shedding, &new.load_shedding);
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

    /// A compound setting (a table of resilience settings), shown whole when it changed.
    fn changed<T: std::fmt::Debug + PartialEq>(&mut self, path: &str, old: &T, new: &T) {
        if old != new {
            self.push(format!("{path}: {old:?} -> {new:?}"));
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
        self.changed(&at("retry_budget"), &old.retry_budget, &new.retry_budget);
        self.changed(
            &at("circuit_breaker"),
            &old.circuit_breaker,
            &new.circuit_breaker,
        );
        self.changed(&at("bulkhead"), &old.bulkhead, &new.bulkhead);
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
                    self.changed(
                        &at("connect_timeout"),
                        &before.connect_timeout,
                        &after.connect_timeout,
                    );
                    self.value(&at("priority"), before.priority, after.priority);
                    self.changed(&at("retry"), &before.retry, &after.retry);
                    self.changed(&at("fault"), &before.fault, &after.fault);
                    self.list(&at("rate_limits"), &before.rate_limits, &after.rate_limits);
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
