//! Compares two configs: which changes need a restart, and a short readable list of what changed
//! (for the reload log). Each struct is destructured without `..`, so a field added to the config
//! does not compile until it is compared here.

mod dns;
mod failover;
mod resolver;
mod rollout;
mod tls;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Display;
use std::time::Duration;

use crate::document::join_key;
use crate::model::{
    AccessLogSettings, AdaptiveLimit, AdminSettings, BulkheadSettings, CircuitBreakerSettings,
    ClientIpSettings, Config, ControlPlaneSettings, FaultInjection, FleetSettings, GatewaySettings,
    HealthCheck, ListenSettings, LoadShedding, NodeSettings, OutlierDetection, Pool,
    RateLimitPolicy, RedisSettings, RequestRules, RetryBudgetSettings, RetryPolicy, Route,
    TlsSettings, Upstream,
};
use crate::model::{HttpsRules, UpstreamTls};

/// Keys whose change cannot be applied to a running gateway (it needs a restart): `listen.http`,
/// `listen.https`, `listen.h2c`, `listen.http2`, `admin.listen`, `access_log.path`,
/// `access_log.enabled`, `gateway.id`, `control_plane`, and `tls` when its `min_version` or
/// `alpn` changes or the section comes or goes (its certificates apply live). Returns
/// the dotted key paths that differ, in that order; empty when none. Everything else, including
/// `client_ip`, `redis` and `rate_limits`, applies live.
///
/// `control_plane` counts as one key, whichever of its settings changed: the gateway reads it once
/// at start (where its fleet config comes from, its token and cache, how it reconnects). Configs
/// joined with [`Config::with_node`] compare like any other: a pushed fleet config joined with
/// the gateway's own node keys changes none of them.
pub fn restart_required(old: &Config, new: &Config) -> Vec<&'static str> {
    // Every node setting is named, so a new one does not compile until it is placed: `_` is a
    // setting that needs no restart. The whole fleet part applies live.
    let Config {
        node:
            NodeSettings {
                gateway,
                listen,
                admin,
                access_log,
                control_plane,
                tls,
                // Applied live: the resolver task reads it from each version.
                resolver: _,
            },
        fleet: _,
    } = old;
    let GatewaySettings {
        id,
        region: _,
        allow_fault_injection: _,
        shutdown_grace: _,
    } = gateway;
    let ListenSettings {
        http,
        header_read_timeout: _,
        max_header_bytes: _,
        https,
        h2c,
        http2,
    } = listen;
    let AdminSettings {
        listen: admin_listen,
    } = admin;
    let AccessLogSettings {
        enabled,
        path,
        query: _,
    } = access_log;
    let new = &new.node;
    let checks = [
        ("listen.http", *http != new.listen.http),
        // Listeners and their protocol stacks are built once at start.
        ("listen.https", *https != new.listen.https),
        ("listen.h2c", *h2c != new.listen.h2c),
        ("listen.http2", *http2 != new.listen.http2),
        ("admin.listen", *admin_listen != new.admin.listen),
        ("access_log.path", *path != new.access_log.path),
        ("access_log.enabled", *enabled != new.access_log.enabled),
        ("gateway.id", *id != new.gateway.id),
        // Read once at start: where the fleet config comes from.
        ("control_plane", *control_plane != new.control_plane),
    ];
    // The TLS versions and ALPN are fixed in a listener's rustls config, and the ACME orders
    // are started once; the certificates, `unknown_sni` and `handshake_timeout` apply live.
    let fixed = |tls: &Option<TlsSettings>| {
        tls.as_ref().map(|tls| {
            let acme = (tls.acme.clone(), tls.acme_state_dir.clone());
            (tls.min_version, tls.alpn.clone(), acme)
        })
    };
    let tls_checks = [("tls", fixed(tls) != fixed(&new.tls))];
    let checks = checks.into_iter().chain(tls_checks);
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
    let Config { node, fleet } = old;
    let mut changes = Changes::default();
    changes.node(node, &new.node);
    changes.fleet(fleet, &new.fleet);
    changes.lines
}

#[derive(Default)]
struct Changes {
    lines: Vec<String>,
}

/// How a line says that something is on one side only.
#[derive(Debug, Clone, Copy)]
enum Presence {
    /// A section or a named entry: `added` or `removed`.
    Entry,
    /// An optional part of a section (`health`, `bulkhead.adaptive`, a route's `fault`):
    /// `disabled -> enabled` or `enabled -> disabled`.
    Feature,
}

impl Presence {
    /// What a line says when the thing (came, went).
    fn words(self) -> (&'static str, &'static str) {
        match self {
            Self::Entry => ("added", "removed"),
            Self::Feature => ("disabled -> enabled", "enabled -> disabled"),
        }
    }
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

    /// Something at `path` that either side may lack: compared by `compare` when both have it,
    /// otherwise one line saying it came or went.
    fn optional<T>(
        &mut self,
        path: &str,
        old: Option<&T>,
        new: Option<&T>,
        presence: Presence,
        compare: impl FnOnce(&mut Self, &str, &T, &T),
    ) {
        let (came, went) = presence.words();
        match (old, new) {
            (Some(old), Some(new)) => compare(self, path, old, new),
            (Some(_), None) => self.push(format!("{path}: {went}")),
            (None, Some(_)) => self.push(format!("{path}: {came}")),
            (None, None) => {}
        }
    }

    /// The entries of a table of user-named tables (`upstreams`, `rate_limits`), in name order.
    fn named<T>(
        &mut self,
        parent: &str,
        old: &BTreeMap<String, T>,
        new: &BTreeMap<String, T>,
        compare: impl Fn(&mut Self, &str, &T, &T),
    ) {
        let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        for name in names {
            let path = join_key(parent, name);
            self.optional(
                &path,
                old.get(name),
                new.get(name),
                Presence::Entry,
                &compare,
            );
        }
    }

    /// A list whose elements are matched by `key` (routes by name, pools by region) because its
    /// order does not matter: changed and removed ones in the old order, then added ones in the
    /// new order, each at `path(key)`.
    fn matched<'a, T>(
        &mut self,
        old: &'a [T],
        new: &'a [T],
        key: impl Fn(&'a T) -> &'a str,
        path: impl Fn(&str) -> String,
        compare: impl Fn(&mut Self, &str, &T, &T),
    ) {
        // Each key's first element, by key: a scan per element would make a diff of 10,000
        // routes quadratic (most of a reload's time).
        let first = |list: &'a [T]| {
            let mut index: HashMap<&'a str, &'a T> = HashMap::with_capacity(list.len());
            for item in list {
                index.entry(key(item)).or_insert(item);
            }
            index
        };
        let (old_by_key, new_by_key) = (first(old), first(new));
        for before in old {
            let after = new_by_key.get(key(before)).copied();
            self.optional(
                &path(key(before)),
                Some(before),
                after,
                Presence::Entry,
                &compare,
            );
        }
        for after in new {
            if !old_by_key.contains_key(key(after)) {
                self.optional(
                    &path(key(after)),
                    None,
                    Some(after),
                    Presence::Entry,
                    &compare,
                );
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

    fn node(&mut self, old: &NodeSettings, new: &NodeSettings) {
        let NodeSettings {
            gateway,
            listen,
            admin,
            access_log,
            control_plane,
            tls,
            resolver,
        } = old;
        self.gateway(gateway, &new.gateway);
        self.listen(listen, &new.listen);
        self.admin(admin, &new.admin);
        self.access_log(access_log, &new.access_log);
        self.optional(
            "control_plane",
            control_plane.as_ref(),
            new.control_plane.as_ref(),
            Presence::Entry,
            Self::control_plane,
        );
        self.optional(
            "tls",
            tls.as_ref(),
            new.tls.as_ref(),
            Presence::Entry,
            Self::tls,
        );
        self.resolver(resolver, &new.resolver);
    }

    fn fleet(&mut self, old: &FleetSettings, new: &FleetSettings) {
        let FleetSettings {
            upstreams,
            routes,
            client_ip,
            redis,
            rate_limits,
            load_shedding,
            dns,
            failover,
            rollout,
        } = old;
        // In the order the reload log has always shown them.
        self.client_ip(client_ip, &new.client_ip);
        self.optional(
            "redis",
            redis.as_ref(),
            new.redis.as_ref(),
            Presence::Entry,
            Self::redis,
        );
        self.named("upstreams", upstreams, &new.upstreams, Self::upstream);
        self.named(
            "rate_limits",
            rate_limits,
            &new.rate_limits,
            Self::rate_limit,
        );
        self.load_shedding(load_shedding, &new.load_shedding);
        self.matched(
            routes,
            &new.routes,
            |route| &route.name,
            |name| format!("routes[{name}]"),
            Self::route,
        );
        self.optional(
            "dns",
            dns.as_ref(),
            new.dns.as_ref(),
            Presence::Entry,
            Self::dns,
        );
        self.named("failover", failover, &new.failover, Self::failover);
        self.rollout(rollout, &new.rollout);
    }

    fn gateway(&mut self, old: &GatewaySettings, new: &GatewaySettings) {
        let GatewaySettings {
            id,
            region,
            allow_fault_injection,
            shutdown_grace,
        } = old;
        self.value("gateway.id", show_id(id), show_id(&new.id));
        self.value(
            "gateway.region",
            show_region(region),
            show_region(&new.region),
        );
        self.value(
            "gateway.allow_fault_injection",
            allow_fault_injection,
            &new.allow_fault_injection,
        );
        self.duration(
            "gateway.shutdown_grace",
            *shutdown_grace,
            new.shutdown_grace,
        );
    }

    fn listen(&mut self, old: &ListenSettings, new: &ListenSettings) {
        let ListenSettings {
            http,
            header_read_timeout,
            max_header_bytes,
            https,
            h2c,
            http2,
        } = old;
        self.list("listen.https", https, &new.https);
        self.value("listen.h2c", h2c, &new.h2c);
        self.http2(http2, &new.http2);
        self.value("listen.http", http, &new.http);
        self.duration(
            "listen.header_read_timeout",
            *header_read_timeout,
            new.header_read_timeout,
        );
        self.value(
            "listen.max_header_bytes",
            max_header_bytes,
            &new.max_header_bytes,
        );
    }

    fn admin(&mut self, old: &AdminSettings, new: &AdminSettings) {
        let AdminSettings { listen } = old;
        self.value("admin.listen", listen, &new.listen);
    }

    fn access_log(&mut self, old: &AccessLogSettings, new: &AccessLogSettings) {
        let AccessLogSettings {
            enabled,
            path,
            query,
        } = old;
        self.value("access_log.enabled", enabled, &new.enabled);
        self.value(
            "access_log.path",
            show_log_path(path),
            show_log_path(&new.path),
        );
        self.value("access_log.query", query, &new.query);
    }

    fn control_plane(
        &mut self,
        path: &str,
        old: &ControlPlaneSettings,
        new: &ControlPlaneSettings,
    ) {
        let ControlPlaneSettings {
            url,
            token_file,
            cache_path,
            ca_file,
            stream_timeout,
            reconnect_backoff,
            max_reconnect_backoff,
            telemetry_interval,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        let show_path = |path: &std::path::Path| path.display().to_string();
        let show_ca = |ca: &Option<std::path::PathBuf>| {
            ca.as_deref()
                .map_or_else(|| "(system)".to_owned(), show_path)
        };
        self.value(&at("url"), url, &new.url);
        self.value(
            &at("token_file"),
            show_path(token_file),
            show_path(&new.token_file),
        );
        self.value(
            &at("cache_path"),
            show_path(cache_path),
            show_path(&new.cache_path),
        );
        self.value(&at("ca_file"), show_ca(ca_file), show_ca(&new.ca_file));
        self.duration(&at("stream_timeout"), *stream_timeout, new.stream_timeout);
        self.duration(
            &at("reconnect_backoff"),
            *reconnect_backoff,
            new.reconnect_backoff,
        );
        self.duration(
            &at("max_reconnect_backoff"),
            *max_reconnect_backoff,
            new.max_reconnect_backoff,
        );
        self.duration(
            &at("telemetry_interval"),
            *telemetry_interval,
            new.telemetry_interval,
        );
    }

    fn client_ip(&mut self, old: &ClientIpSettings, new: &ClientIpSettings) {
        let ClientIpSettings {
            trusted_proxies,
            header,
        } = old;
        self.members(
            "client_ip.trusted_proxies",
            trusted_proxies,
            &new.trusted_proxies,
        );
        self.value("client_ip.header", header, &new.header);
    }

    fn redis(&mut self, path: &str, old: &RedisSettings, new: &RedisSettings) {
        let RedisSettings {
            url,
            timeout,
            pool_size,
            key_prefix,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("url"), url, &new.url);
        self.duration(&at("timeout"), *timeout, new.timeout);
        self.value(&at("pool_size"), pool_size, &new.pool_size);
        self.value(&at("key_prefix"), key_prefix, &new.key_prefix);
    }

    fn rate_limit(&mut self, path: &str, old: &RateLimitPolicy, new: &RateLimitPolicy) {
        let RateLimitPolicy {
            name: _, // the key it was matched by
            key,
            rate,
            per,
            burst,
            scope,
            on_store_error,
            missing_key,
            max_keys,
            response_headers,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.list(&at("key"), key, &new.key);
        self.value(&at("rate"), rate, &new.rate);
        self.duration(&at("per"), *per, new.per);
        self.value(&at("burst"), burst, &new.burst);
        self.value(&at("scope"), scope, &new.scope);
        self.value(&at("on_store_error"), on_store_error, &new.on_store_error);
        self.value(&at("missing_key"), missing_key, &new.missing_key);
        self.value(&at("max_keys"), max_keys, &new.max_keys);
        self.value(
            &at("response_headers"),
            response_headers,
            &new.response_headers,
        );
    }

    fn upstream(&mut self, path: &str, old: &Upstream, new: &Upstream) {
        let Upstream {
            name: _, // the key it was matched by
            region_policy,
            health,
            min_healthy_fraction,
            outlier,
            connect_timeout,
            retry_budget,
            circuit_breaker,
            slow_start,
            bulkhead,
            pools,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("region_policy"), region_policy, &new.region_policy);
        self.optional(
            &at("health"),
            health.as_ref(),
            new.health.as_ref(),
            Presence::Feature,
            Self::health,
        );
        self.value(
            &at("min_healthy_fraction"),
            min_healthy_fraction,
            &new.min_healthy_fraction,
        );
        self.outlier(&at("outlier"), outlier, &new.outlier);
        self.duration(
            &at("connect_timeout"),
            *connect_timeout,
            new.connect_timeout,
        );
        self.duration(&at("slow_start"), *slow_start, new.slow_start);
        self.retry_budget(&at("retry_budget"), retry_budget, &new.retry_budget);
        self.circuit_breaker(
            &at("circuit_breaker"),
            circuit_breaker,
            &new.circuit_breaker,
        );
        self.bulkhead(&at("bulkhead"), bulkhead, &new.bulkhead);
        let pools_path = at("pools");
        self.matched(
            pools,
            &new.pools,
            |pool| &pool.region,
            |region| format!("{pools_path}[{region}]"),
            Self::pool,
        );
    }

    fn health(&mut self, path: &str, old: &HealthCheck, new: &HealthCheck) {
        let HealthCheck {
            path: check_path,
            interval,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("path"), check_path, &new.path);
        self.duration(&at("interval"), *interval, new.interval);
        self.duration(&at("timeout"), *timeout, new.timeout);
        self.value(
            &at("healthy_threshold"),
            healthy_threshold,
            &new.healthy_threshold,
        );
        self.value(
            &at("unhealthy_threshold"),
            unhealthy_threshold,
            &new.unhealthy_threshold,
        );
    }

    fn outlier(&mut self, path: &str, old: &OutlierDetection, new: &OutlierDetection) {
        let OutlierDetection {
            consecutive_failures,
            base_ejection_time,
            max_ejection_time,
            max_ejected_fraction,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(
            &at("consecutive_failures"),
            consecutive_failures,
            &new.consecutive_failures,
        );
        self.duration(
            &at("base_ejection_time"),
            *base_ejection_time,
            new.base_ejection_time,
        );
        self.duration(
            &at("max_ejection_time"),
            *max_ejection_time,
            new.max_ejection_time,
        );
        self.value(
            &at("max_ejected_fraction"),
            max_ejected_fraction,
            &new.max_ejected_fraction,
        );
    }

    fn retry_budget(&mut self, path: &str, old: &RetryBudgetSettings, new: &RetryBudgetSettings) {
        let RetryBudgetSettings {
            ratio,
            min_per_second,
            window,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("ratio"), ratio, &new.ratio);
        self.value(&at("min_per_second"), min_per_second, &new.min_per_second);
        self.duration(&at("window"), *window, new.window);
    }

    fn circuit_breaker(
        &mut self,
        path: &str,
        old: &CircuitBreakerSettings,
        new: &CircuitBreakerSettings,
    ) {
        let CircuitBreakerSettings {
            enabled,
            failure_rate,
            min_requests,
            window,
            open_for,
            max_open_for,
            half_open_successes,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("enabled"), enabled, &new.enabled);
        self.value(&at("failure_rate"), failure_rate, &new.failure_rate);
        self.value(&at("min_requests"), min_requests, &new.min_requests);
        self.duration(&at("window"), *window, new.window);
        self.duration(&at("open_for"), *open_for, new.open_for);
        self.duration(&at("max_open_for"), *max_open_for, new.max_open_for);
        self.value(
            &at("half_open_successes"),
            half_open_successes,
            &new.half_open_successes,
        );
    }

    fn bulkhead(&mut self, path: &str, old: &BulkheadSettings, new: &BulkheadSettings) {
        let BulkheadSettings {
            max_in_flight,
            max_pending_connects,
            adaptive,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("max_in_flight"), max_in_flight, &new.max_in_flight);
        self.value(
            &at("max_pending_connects"),
            max_pending_connects,
            &new.max_pending_connects,
        );
        self.optional(
            &at("adaptive"),
            adaptive.as_ref(),
            new.adaptive.as_ref(),
            Presence::Feature,
            Self::adaptive,
        );
    }

    fn adaptive(&mut self, path: &str, old: &AdaptiveLimit, new: &AdaptiveLimit) {
        let AdaptiveLimit {
            min_in_flight,
            initial,
            tolerance,
            min_rtt_window,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("min_in_flight"), min_in_flight, &new.min_in_flight);
        self.value(&at("initial"), initial, &new.initial);
        self.value(&at("tolerance"), tolerance, &new.tolerance);
        self.duration(&at("min_rtt_window"), *min_rtt_window, new.min_rtt_window);
    }

    fn pool(&mut self, path: &str, old: &Pool, new: &Pool) {
        let Pool {
            region: _, // the key it was matched by
            weight,
            endpoints,
            drained,
            tls,
            protocol,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("weight"), weight, &new.weight);
        self.members(&at("endpoints"), endpoints, &new.endpoints);
        self.members(&at("drained"), drained, &new.drained);
        self.optional(
            &at("tls"),
            tls.as_ref(),
            new.tls.as_ref(),
            Presence::Feature,
            Self::upstream_tls,
        );
        self.value(&at("protocol"), protocol, &new.protocol);
    }

    fn upstream_tls(&mut self, path: &str, old: &UpstreamTls, new: &UpstreamTls) {
        let UpstreamTls {
            sni,
            ca_file,
            verify,
            client_cert,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        fn or<'a>(value: Option<&'a String>, absent: &'a str) -> &'a str {
            value.map_or(absent, String::as_str)
        }
        let sni_absent = "(the endpoint's address)";
        self.value(
            &at("sni"),
            or(sni.as_ref(), sni_absent),
            or(new.sni.as_ref(), sni_absent),
        );
        let roots = "(the system's roots)";
        self.value(
            &at("ca_file"),
            or(ca_file.as_ref(), roots),
            or(new.ca_file.as_ref(), roots),
        );
        self.value(&at("verify"), verify, &new.verify);
        let (old_cert, new_cert) = (client_cert.as_ref(), new.client_cert.as_ref());
        let none = "(none)";
        self.value(
            &at("cert"),
            old_cert.map_or(none, |c| c.cert.as_str()),
            new_cert.map_or(none, |c| c.cert.as_str()),
        );
        self.value(
            &at("key"),
            old_cert.map_or(none, |c| c.key.as_str()),
            new_cert.map_or(none, |c| c.key.as_str()),
        );
    }

    fn load_shedding(&mut self, old: &LoadShedding, new: &LoadShedding) {
        let LoadShedding {
            max_in_flight,
            normal_share,
            optional_share,
            retry_after,
        } = old;
        let at = |key: &str| format!("load_shedding.{key}");
        self.value(&at("max_in_flight"), max_in_flight, &new.max_in_flight);
        self.value(&at("normal_share"), normal_share, &new.normal_share);
        self.value(&at("optional_share"), optional_share, &new.optional_share);
        self.duration(&at("retry_after"), *retry_after, new.retry_after);
    }

    fn route(&mut self, path: &str, old: &Route, new: &Route) {
        let Route {
            name: _, // the key it was matched by
            host,
            path_prefix,
            upstream,
            timeout,
            read_timeout,
            connect_timeout,
            priority,
            retry,
            fault,
            rate_limits,
            request,
            https,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("host"), host, &new.host);
        self.value(&at("path_prefix"), path_prefix, &new.path_prefix);
        self.value(&at("upstream"), upstream, &new.upstream);
        self.duration(&at("timeout"), *timeout, new.timeout);
        self.duration(&at("read_timeout"), *read_timeout, new.read_timeout);
        self.value(
            &at("connect_timeout"),
            show_route_connect_timeout(*connect_timeout),
            show_route_connect_timeout(new.connect_timeout),
        );
        self.value(&at("priority"), priority, &new.priority);
        self.retry(&at("retry"), retry, &new.retry);
        self.optional(
            &at("fault"),
            fault.as_ref(),
            new.fault.as_ref(),
            Presence::Feature,
            Self::fault,
        );
        self.list(&at("rate_limits"), rate_limits, &new.rate_limits);
        self.request_rules(path, request, &new.request);
        self.https_rules(path, https, &new.https);
    }

    /// A route's HTTPS rules, which are flat keys of the route's table.
    fn https_rules(&mut self, route_path: &str, old: &HttpsRules, new: &HttpsRules) {
        let HttpsRules {
            redirect_https,
            https_port,
            hsts,
        } = old;
        let at = |key: &str| format!("{route_path}.{key}");
        self.value(&at("redirect_https"), redirect_https, &new.redirect_https);
        self.value(&at("https_port"), https_port, &new.https_port);
        let none = "(none)";
        self.value(
            &at("hsts"),
            hsts.as_deref().unwrap_or(none),
            new.hsts.as_deref().unwrap_or(none),
        );
    }

    /// A route's request rules, which are flat keys of the route's table.
    fn request_rules(&mut self, route_path: &str, old: &RequestRules, new: &RequestRules) {
        let RequestRules {
            forward_raw_path,
            encoded_slashes,
            path_prefix_ignore_case,
            max_body_size,
            underscores_in_headers,
        } = old;
        let at = |key: &str| format!("{route_path}.{key}");
        self.value(
            &at("forward_raw_path"),
            forward_raw_path,
            &new.forward_raw_path,
        );
        self.value(
            &at("encoded_slashes"),
            encoded_slashes,
            &new.encoded_slashes,
        );
        self.value(
            &at("path_prefix_ignore_case"),
            path_prefix_ignore_case,
            &new.path_prefix_ignore_case,
        );
        self.value(
            &at("max_body_size"),
            show_body_cap(*max_body_size),
            show_body_cap(new.max_body_size),
        );
        self.value(
            &at("underscores_in_headers"),
            underscores_in_headers,
            &new.underscores_in_headers,
        );
    }

    fn retry(&mut self, path: &str, old: &RetryPolicy, new: &RetryPolicy) {
        let RetryPolicy {
            attempts,
            statuses,
            on_reset,
            non_idempotent,
            backoff,
            max_backoff,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        self.value(&at("attempts"), attempts, &new.attempts);
        self.list(&at("statuses"), statuses, &new.statuses);
        self.value(&at("on_reset"), on_reset, &new.on_reset);
        self.value(&at("non_idempotent"), non_idempotent, &new.non_idempotent);
        self.duration(&at("backoff"), *backoff, new.backoff);
        self.duration(&at("max_backoff"), *max_backoff, new.max_backoff);
    }

    fn fault(&mut self, path: &str, old: &FaultInjection, new: &FaultInjection) {
        let FaultInjection {
            header,
            header_value,
            delay,
            delay_percent,
            abort_status,
            abort_percent,
        } = old;
        let at = |key: &str| format!("{path}.{key}");
        let or = |value: Option<String>, absent: &str| value.unwrap_or_else(|| absent.to_owned());
        self.value(
            &at("header"),
            or(header.clone(), "(every request)"),
            or(new.header.clone(), "(every request)"),
        );
        self.value(
            &at("header_value"),
            or(header_value.clone(), "(any value)"),
            or(new.header_value.clone(), "(any value)"),
        );
        self.value(
            &at("delay"),
            or(delay.map(show_duration), "(none)"),
            or(new.delay.map(show_duration), "(none)"),
        );
        self.value(&at("delay_percent"), delay_percent, &new.delay_percent);
        self.value(
            &at("abort_status"),
            or(abort_status.map(|s| s.to_string()), "(none)"),
            or(new.abort_status.map(|s| s.to_string()), "(none)"),
        );
        self.value(&at("abort_percent"), abort_percent, &new.abort_percent);
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
