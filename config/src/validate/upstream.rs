//! Rules for one upstream: its policy, health checks, outlier ejection and pools.

use std::collections::HashMap;

use super::checks::{
    check_name, check_url_path, duration_up_to, fraction, integer_in, one_of, show,
};
use super::resolver;
use crate::document::{At, join_index, join_key};
use crate::model::{
    ClientCert, Endpoint, HealthCheck, OutlierDetection, Pool, RegionPolicy, Upstream,
    UpstreamProtocol, UpstreamTls,
};
use crate::raw::{RawHealth, RawOutlier, RawPool, RawUpstream, RawUpstreamTls};
use crate::report::Reporter;

pub(super) fn validate_upstream(raw: &RawUpstream, report: &mut Reporter<'_>) -> Upstream {
    let path = join_key("upstreams", &raw.name.value);
    check_name(&raw.name, &path, report);
    let at = |key: &str| join_key(&path, key);
    let resilience = super::resilience::validate_upstream(raw, &path, report);
    Upstream {
        name: raw.name.value.clone(),
        region_policy: one_of(
            raw.region_policy.as_ref(),
            &[
                ("nearest", RegionPolicy::Nearest),
                ("weighted", RegionPolicy::Weighted),
            ],
            RegionPolicy::default(),
            &at("region_policy"),
            report,
        ),
        health: raw
            .health
            .as_ref()
            .map(|health| validate_health(health, &at("health"), report)),
        min_healthy_fraction: fraction(
            raw.min_healthy_fraction.as_ref(),
            Upstream::DEFAULT_MIN_HEALTHY_FRACTION,
            &at("min_healthy_fraction"),
            report,
        ),
        outlier: validate_outlier(&raw.outlier, &at("outlier"), report),
        connect_timeout: duration_up_to(
            raw.connect_timeout.as_ref(),
            Upstream::DEFAULT_CONNECT_TIMEOUT,
            Upstream::MAX_CONNECT_TIMEOUT,
            &at("connect_timeout"),
            report,
        ),
        retry_budget: resilience.retry_budget,
        circuit_breaker: resilience.circuit_breaker,
        slow_start: resilience.slow_start,
        bulkhead: resilience.bulkhead,
        pools: raw
            .pools
            .as_ref()
            .map(|pools| validate_pools(pools, &at("pools"), report))
            .unwrap_or_default(),
    }
}

fn validate_health(raw: &RawHealth, path: &str, report: &mut Reporter<'_>) -> HealthCheck {
    let defaults = HealthCheck::default();
    let at = |key: &str| join_key(path, key);
    if let Some(health_path) = &raw.path {
        check_url_path(health_path, &at("path"), report);
    }
    let interval = duration_up_to(
        raw.interval.as_ref(),
        defaults.interval,
        Upstream::MAX_HEALTH_INTERVAL,
        &at("interval"),
        report,
    );
    let timeout = duration_up_to(
        raw.timeout.as_ref(),
        defaults.timeout,
        Upstream::MAX_HEALTH_TIMEOUT,
        &at("timeout"),
        report,
    );
    let both_valid = !report.has_error_at(&at("interval")) && !report.has_error_at(&at("timeout"));
    if both_valid && timeout > interval {
        let span = raw
            .timeout
            .as_ref()
            .or(raw.interval.as_ref())
            .map(|value| &value.span);
        report.error(
            at("timeout"),
            span,
            format!(
                "must not be longer than interval ({} > {})",
                show(timeout),
                show(interval)
            ),
        );
    }
    HealthCheck {
        path: raw
            .path
            .as_ref()
            .map_or(defaults.path, |value| value.value.clone()),
        interval,
        timeout,
        healthy_threshold: integer_in(
            raw.healthy_threshold.as_ref(),
            1..=u32::MAX,
            defaults.healthy_threshold,
            &at("healthy_threshold"),
            report,
        ),
        unhealthy_threshold: integer_in(
            raw.unhealthy_threshold.as_ref(),
            1..=u32::MAX,
            defaults.unhealthy_threshold,
            &at("unhealthy_threshold"),
            report,
        ),
    }
}

fn validate_outlier(raw: &RawOutlier, path: &str, report: &mut Reporter<'_>) -> OutlierDetection {
    let defaults = OutlierDetection::default();
    let at = |key: &str| join_key(path, key);
    let base_ejection_time = duration_up_to(
        raw.base_ejection_time.as_ref(),
        defaults.base_ejection_time,
        Upstream::MAX_EJECTION_TIME,
        &at("base_ejection_time"),
        report,
    );
    let max_ejection_time = match &raw.max_ejection_time {
        None => defaults.max_ejection_time,
        Some(value) if value.value > Upstream::MAX_EJECTION_TIME => {
            report.error(
                at("max_ejection_time"),
                Some(&value.span),
                format!(
                    "must be at most {}, got {}",
                    show(Upstream::MAX_EJECTION_TIME),
                    show(value.value)
                ),
            );
            defaults.max_ejection_time
        }
        Some(value) => value.value,
    };
    let both_valid = !report.has_error_at(&at("base_ejection_time"))
        && !report.has_error_at(&at("max_ejection_time"));
    if both_valid && max_ejection_time < base_ejection_time {
        let span = raw
            .max_ejection_time
            .as_ref()
            .or(raw.base_ejection_time.as_ref())
            .map(|value| &value.span);
        report.error(
            at("max_ejection_time"),
            span,
            format!(
                "must be at least base_ejection_time ({} < {})",
                show(max_ejection_time),
                show(base_ejection_time)
            ),
        );
    }
    OutlierDetection {
        consecutive_failures: integer_in(
            raw.consecutive_failures.as_ref(),
            1..=u32::MAX,
            defaults.consecutive_failures,
            &at("consecutive_failures"),
            report,
        ),
        base_ejection_time,
        max_ejection_time,
        max_ejected_fraction: fraction(
            raw.max_ejected_fraction.as_ref(),
            defaults.max_ejected_fraction,
            &at("max_ejected_fraction"),
            report,
        ),
    }
}

fn validate_pools(
    raw: &At<Vec<Option<RawPool>>>,
    path: &str,
    report: &mut Reporter<'_>,
) -> Vec<Pool> {
    if raw.value.is_empty() {
        report.error(path, Some(&raw.span), "needs at least one pool");
        return Vec::new();
    }
    let mut region_owner: HashMap<&str, usize> = HashMap::new();
    let mut pools = Vec::with_capacity(raw.value.len());
    for (index, raw_pool) in raw.value.iter().enumerate() {
        let Some(raw_pool) = raw_pool else {
            continue; // not a table; already reported
        };
        let pool_path = join_index(path, index);
        if let Some(region) = &raw_pool.region {
            let region_path = join_key(&pool_path, "region");
            check_name(region, &region_path, report);
            if let Some(first) = region_owner.get(region.value.as_str()) {
                report.error(
                    region_path,
                    Some(&region.span),
                    format!("{:?} is already used by pools[{first}]", region.value),
                );
            } else {
                region_owner.insert(&region.value, index);
            }
        }
        pools.push(validate_pool(raw_pool, &pool_path, report));
    }
    let every_pool_read = pools.len() == raw.value.len();
    if every_pool_read && pools.iter().all(|pool| pool.weight == 0) {
        report.error(
            path,
            Some(&raw.span),
            "every pool has weight 0; at least one must be above 0",
        );
    } else if every_pool_read
        && pools
            .iter()
            .filter(|pool| pool.weight > 0)
            .all(|pool| !pool.endpoints.is_empty() && pool.drained.len() == pool.endpoints.len())
    {
        report.error(
            path,
            Some(&raw.span),
            "every endpoint of every pool above weight 0 is drained; at least one must take requests",
        );
    }
    pools
}

fn validate_pool(raw: &RawPool, path: &str, report: &mut Reporter<'_>) -> Pool {
    let endpoints: Vec<Endpoint> = raw
        .endpoints
        .as_ref()
        .map(|endpoints| validate_endpoints(endpoints, &join_key(path, "endpoints"), report))
        .unwrap_or_default();
    let drained = raw
        .drained
        .as_ref()
        .map(|drained| validate_drained(drained, &endpoints, &join_key(path, "drained"), report))
        .unwrap_or_default();
    Pool {
        region: raw
            .region
            .as_ref()
            .map(|region| region.value.clone())
            .unwrap_or_default(),
        weight: integer_in(
            raw.weight.as_ref(),
            0..=Pool::MAX_WEIGHT,
            Pool::DEFAULT_WEIGHT,
            &join_key(path, "weight"),
            report,
        ),
        endpoints,
        drained,
        tls: raw
            .tls
            .as_ref()
            .map(|tls| validate_upstream_tls(tls, &join_key(path, "tls"), report)),
        protocol: one_of(
            raw.protocol.as_ref(),
            &[("h1", UpstreamProtocol::H1), ("h2", UpstreamProtocol::H2)],
            UpstreamProtocol::default(),
            &join_key(path, "protocol"),
            report,
        ),
    }
}

/// A pool's `tls`: a server name to send and verify, the files named (not read: the gateway
/// reads them when it compiles the version), and a client certificate given whole or not at all.
fn validate_upstream_tls(
    raw: &RawUpstreamTls,
    path: &str,
    report: &mut Reporter<'_>,
) -> UpstreamTls {
    let at = |key: &str| join_key(path, key);
    let file = |value: &Option<At<String>>, key: &str, report: &mut Reporter<'_>| {
        let value = value.as_ref()?;
        if value.value.trim().is_empty() {
            report.error(at(key), Some(&value.span), "must name a file");
            return None;
        }
        Some(value.value.clone())
    };
    let sni = raw
        .sni
        .as_ref()
        .and_then(|sni| match check_server_name(&sni.value) {
            Ok(()) => Some(sni.value.to_ascii_lowercase()),
            Err(message) => {
                report.error(at("sni"), Some(&sni.span), message);
                None
            }
        });
    let ca_file = file(&raw.ca_file, "ca_file", report);
    let cert = file(&raw.cert, "cert", report);
    let key = file(&raw.key, "key", report);
    let client_cert = match (cert, key) {
        (Some(cert), Some(key)) => Some(ClientCert { cert, key }),
        (None, None) => None,
        (Some(_), None) if raw.key.is_none() => {
            report.error(
                path,
                Some(&raw.span),
                "cert needs its key (a client certificate for mutual TLS is cert and key)",
            );
            None
        }
        (None, Some(_)) if raw.cert.is_none() => {
            report.error(
                path,
                Some(&raw.span),
                "key needs its cert (a client certificate for mutual TLS is cert and key)",
            );
            None
        }
        _ => None, // the other one is already reported
    };
    UpstreamTls {
        sni,
        ca_file,
        verify: raw.verify.as_ref().is_none_or(|v| v.value),
        client_cert,
    }
}

/// A server name for SNI and verification: a DNS name (letters, digits, `-`, `_`, dot-separated
/// labels of 1 to 63 characters, at most 253 in all) or an IP address; no port, no scheme.
pub(super) fn check_server_name(name: &str) -> Result<(), String> {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if labels_ok {
        Ok(())
    } else {
        Err(format!(
            "must be a DNS name like \"api.internal\" or an IP address (no port or scheme), got {name:?}"
        ))
    }
}

/// `drained`: the pool's own endpoints as written (addresses or names), each once; may be empty.
fn validate_drained(
    raw: &At<Vec<Option<At<String>>>>,
    endpoints: &[Endpoint],
    path: &str,
    report: &mut Reporter<'_>,
) -> Vec<Endpoint> {
    let mut drained: Vec<Endpoint> = Vec::with_capacity(raw.value.len());
    for (index, raw_endpoint) in raw.value.iter().enumerate() {
        let Some(raw_endpoint) = raw_endpoint else {
            continue; // not a string; already reported
        };
        let endpoint_path = join_index(path, index);
        let Some(endpoint) = resolver::endpoint(raw_endpoint, &endpoint_path, report) else {
            continue;
        };
        if !endpoints.contains(&endpoint) {
            report.error(
                endpoint_path,
                Some(&raw_endpoint.span),
                format!("{endpoint} is not one of this pool's endpoints"),
            );
        } else if drained.contains(&endpoint) {
            report.error(
                endpoint_path,
                Some(&raw_endpoint.span),
                format!("{endpoint} is listed twice"),
            );
        } else {
            drained.push(endpoint);
        }
    }
    drained
}

fn validate_endpoints(
    raw: &At<Vec<Option<At<String>>>>,
    path: &str,
    report: &mut Reporter<'_>,
) -> Vec<Endpoint> {
    if raw.value.is_empty() {
        report.error(path, Some(&raw.span), "needs at least one endpoint");
        return Vec::new();
    }
    let mut first_index: HashMap<Endpoint, usize> = HashMap::new();
    let mut endpoints = Vec::with_capacity(raw.value.len());
    for (index, raw_endpoint) in raw.value.iter().enumerate() {
        let Some(raw_endpoint) = raw_endpoint else {
            continue; // not a string; already reported
        };
        let endpoint_path = join_index(path, index);
        let Some(endpoint) = resolver::endpoint(raw_endpoint, &endpoint_path, report) else {
            continue;
        };
        if let Some(first) = first_index.get(&endpoint) {
            report.error(
                endpoint_path,
                Some(&raw_endpoint.span),
                format!("{endpoint} is listed twice (also endpoints[{first}])"),
            );
        } else {
            first_index.insert(endpoint.clone(), index);
            endpoints.push(endpoint);
        }
    }
    endpoints
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names_are_dns_names_or_addresses() {
        for good in [
            "api.internal",
            "10.0.0.1",
            "::1",
            "a_b.example",
            "localhost",
        ] {
            assert_eq!(check_server_name(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "api.internal:443",
            "https://api",
            "a..b",
            "-a.b",
            ".a",
            "a b",
        ] {
            assert!(check_server_name(bad).is_err(), "{bad}");
        }
    }
}
