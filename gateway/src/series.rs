//! Metric series exported from the start: every label set the config makes possible for the
//! series the README lists is created (at 0) when a snapshot is published, so dashboards and
//! `rate()` see a 0 before the first event; the series of routes and upstreams a new version no
//! longer names are removed.

use weir_config::Config;

use crate::metrics::Metrics;

/// Statuses exported at 0 for every route and region before any request: the ones an operator
/// alerts on. Other codes appear when they first happen.
const STATUSES: &[&str] = &["200", "404", "429", "500", "502", "503", "504"];
const BREAKER_STATES: &[&str] = &["closed", "open", "half_open"];
const TIMEOUT_KINDS: &[&str] = &["connect", "read", "deadline", "downstream_write"];

/// Creates the label sets of `config`'s routes, upstreams, regions and policies, plus the
/// config-independent ones.
pub fn preregister(config: &Config, metrics: &Metrics) {
    for reason in ["closed", "timeout", "refused", "error"] {
        metrics.control_plane_streams.with_label_values(&[reason]);
    }
    for outcome in ["ack", "nack", "stale"] {
        metrics.control_plane_pushes.with_label_values(&[outcome]);
    }
    for outcome in ["sent", "refused", "failed", "timeout", "superseded"] {
        metrics.control_plane_reports.with_label_values(&[outcome]);
    }
    for outcome in ["sent", "refused", "failed", "timeout"] {
        metrics
            .control_plane_telemetry
            .with_label_values(&[outcome]);
    }
    for outcome in ["ok", "error", "timeout"] {
        metrics.redis_duration.with_label_values(&[outcome]);
    }
    for (name, upstream) in &config.fleet.upstreams {
        metrics.bulkhead_in_flight.with_label_values(&[name]);
        metrics.bulkhead_limit.with_label_values(&[name]);
        metrics.breaker_state_upstream.with_label_values(&[name]);
        for scope in ["endpoint", "upstream"] {
            for to in BREAKER_STATES {
                metrics
                    .breaker_transitions
                    .with_label_values(&[name, scope, to]);
            }
        }
        for pool in &upstream.pools {
            for reason in crate::request::failure::TLS_FAILURE_REASONS {
                metrics
                    .upstream_tls_failures
                    .with_label_values(&[name, &pool.region, reason]);
            }
            if upstream.health.is_some() {
                for result in ["success", "failure"] {
                    metrics
                        .health_checks
                        .with_label_values(&[name, &pool.region, result]);
                }
            }
            for endpoint in &pool.endpoints {
                match endpoint {
                    // A name's series are its resolved addresses', made when it resolves.
                    weir_config::Endpoint::Addr(addr) => {
                        metrics.breaker_state_endpoint.with_label_values(&[
                            name,
                            &pool.region,
                            &addr.to_string(),
                        ]);
                    }
                    weir_config::Endpoint::Name(endpoint_name) => {
                        let host = endpoint_name.host.as_str();
                        metrics
                            .upstream_resolved_addresses
                            .with_label_values(&[host]);
                        for result in ["ok", "empty", "error"] {
                            metrics
                                .upstream_resolutions
                                .with_label_values(&[host, result]);
                        }
                    }
                }
            }
        }
    }
    for route in &config.fleet.routes {
        let Some(upstream) = config.fleet.upstreams.get(&route.upstream) else {
            continue;
        };
        for kind in TIMEOUT_KINDS {
            metrics.timeouts.with_label_values(&[
                route.name.as_str(),
                route.upstream.as_str(),
                kind,
            ]);
        }
        for kind in ["delay", "abort"] {
            metrics
                .faults
                .with_label_values(&[route.name.as_str(), kind]);
        }
        metrics.redirects.with_label_values(&[route.name.as_str()]);
        for pool in &upstream.pools {
            for code in STATUSES {
                metrics.requests.with_label_values(&[
                    route.name.as_str(),
                    route.upstream.as_str(),
                    pool.region.as_str(),
                    code,
                ]);
            }
        }
    }
    for name in config.fleet.rate_limits.keys() {
        metrics.ratelimit_keys.with_label_values(&[name]);
    }
}

/// Removes the route series of `old` that `new` no longer has (routes renamed or removed, or a
/// route moved to another upstream or region), and the series of pools it no longer has.
pub fn forget_removed_routes(old: &Config, new: &Config, metrics: &Metrics) {
    let labels = |config: &Config| {
        let mut sets = std::collections::BTreeSet::new();
        for route in &config.fleet.routes {
            let regions = config
                .fleet
                .upstreams
                .get(&route.upstream)
                .map(|up| {
                    up.pools
                        .iter()
                        .map(|p| p.region.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default();
            for region in regions {
                sets.insert((route.name.clone(), route.upstream.clone(), region));
            }
        }
        sets
    };
    let (before, after) = (labels(old), labels(new));
    for (route, upstream, region) in before.difference(&after) {
        for code in STATUSES {
            let _ = metrics.requests.remove_label_values(&[
                route.as_str(),
                upstream.as_str(),
                region.as_str(),
                code,
            ]);
        }
    }
    let routes = |config: &Config| {
        config
            .fleet
            .routes
            .iter()
            .map(|r| (r.name.clone(), r.upstream.clone()))
            .collect::<std::collections::BTreeSet<_>>()
    };
    for (route, upstream) in routes(old).difference(&routes(new)) {
        for kind in TIMEOUT_KINDS {
            let _ =
                metrics
                    .timeouts
                    .remove_label_values(&[route.as_str(), upstream.as_str(), kind]);
        }
        if !new.fleet.routes.iter().any(|r| &r.name == route) {
            metrics.forget_route(route);
        }
    }
    // The pools' own series (upstream, region) of pools `new` no longer has.
    let pools = |config: &Config| {
        config
            .fleet
            .upstreams
            .iter()
            .flat_map(|(name, up)| up.pools.iter().map(|p| (name.clone(), p.region.clone())))
            .collect::<std::collections::BTreeSet<_>>()
    };
    for (upstream, region) in pools(old).difference(&pools(new)) {
        for reason in crate::request::failure::TLS_FAILURE_REASONS {
            let _ = metrics.upstream_tls_failures.remove_label_values(&[
                upstream.as_str(),
                region.as_str(),
                reason,
            ]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(routes: &str) -> Config {
        weir_config::parse(&format!(
            "[upstreams.api]\nhealth = {{ path = \"/healthz\" }}\n\
             [[upstreams.api.pools]]\nregion = \"us-east\"\nendpoints = [\"127.0.0.1:9001\"]\n\
             [rate_limits.per-ip]\nkey = [\"client_ip\"]\nrate = 10\n{routes}"
        ))
        .expect("valid config")
    }

    fn names(metrics: &Metrics) -> String {
        String::from_utf8(metrics.render()).expect("utf-8")
    }

    #[test]
    fn a_fresh_config_exports_its_label_sets_at_zero() {
        let metrics = Metrics::new().expect("metrics");
        preregister(
            &config("[[routes]]\nname = \"web\"\nupstream = \"api\"\n"),
            &metrics,
        );
        let text = names(&metrics);
        for line in [
            r#"weir_requests_total{code="200",region="us-east",route="web",upstream="api"} 0"#,
            r#"weir_timeouts_total{kind="read",route="web",upstream="api"} 0"#,
            r#"weir_health_checks_total{region="us-east",result="failure",upstream="api"} 0"#,
            r#"weir_breaker_transitions_total{scope="upstream",to="open",upstream="api"} 0"#,
            r#"weir_ratelimit_keys{policy="per-ip"} 0"#,
            r#"weir_redirects_total{route="web"} 0"#,
            r#"weir_upstream_tls_failures_total{reason="certificate",region="us-east",upstream="api"} 0"#,
            r#"weir_control_plane_pushes_total{outcome="nack"} 0"#,
        ] {
            assert!(text.contains(line), "missing {line} in:\n{text}");
        }
    }

    #[test]
    fn a_removed_route_loses_its_series() {
        let metrics = Metrics::new().expect("metrics");
        let old = config(
            "[[routes]]\nname = \"web\"\nupstream = \"api\"\n\
             [[routes]]\nname = \"old\"\nupstream = \"api\"\npath_prefix = \"/old/\"\n",
        );
        let new = config("[[routes]]\nname = \"web\"\nupstream = \"api\"\n");
        preregister(&old, &metrics);
        assert!(names(&metrics).contains(r#"route="old""#));
        preregister(&new, &metrics);
        forget_removed_routes(&old, &new, &metrics);
        let text = names(&metrics);
        assert!(!text.contains(r#"route="old""#), "{text}");
        assert!(text.contains(r#"route="web""#), "{text}");
    }
}
