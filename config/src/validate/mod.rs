//! Turns a `RawConfig` into a `Config`: applies defaults and checks every rule, reporting each
//! violation and carrying on so that all of them are found in one pass.

mod checks;
mod client_ip;
mod control_plane;
mod dns;
mod failover;
mod rate_limit;
mod redis;
mod resilience;
mod resolver;
mod rollout;

pub(crate) use resolver::parse_endpoint;
mod route;
mod tls;
mod tls_acme;
mod upstream;

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::model::{
    AccessLogSettings, AdminSettings, Config, FleetSettings, GatewaySettings, ListenSettings,
    NodeSettings,
};
use crate::raw::{RawAccessLog, RawConfig, RawGateway};
use crate::report::Reporter;
use checks::{address, check_name, duration_in, integer_in};

/// Builds the config, reporting every rule violation. The result is only meaningful when
/// nothing was reported.
pub(crate) fn validate(raw: &RawConfig, report: &mut Reporter<'_>) -> Config {
    let upstreams: BTreeMap<String, _> = raw
        .upstreams
        .iter()
        .map(|upstream| {
            (
                upstream.name.value.clone(),
                upstream::validate_upstream(upstream, report),
            )
        })
        .collect();
    let upstream_names: HashSet<&str> = raw.upstream_names.iter().map(String::as_str).collect();
    let rate_limits: BTreeMap<String, _> = raw
        .rate_limits
        .iter()
        .map(|policy| {
            (
                policy.name.value.clone(),
                rate_limit::validate_rate_limit(policy, raw.redis.is_some(), report),
            )
        })
        .collect();
    let rate_limit_names: HashSet<&str> = raw.rate_limit_names.iter().map(String::as_str).collect();
    let (listen, admin) = validate_listeners(raw, report);
    // Validated in this order so that problems without a position keep theirs.
    let gateway = validate_gateway(&raw.gateway, report);
    let access_log = validate_access_log(&raw.access_log, report);
    let load_shedding = resilience::validate_load_shedding(&raw.load_shedding, report);
    let routes = route::validate_routes(&raw.routes, &upstream_names, &rate_limit_names, report);
    let client_ip = client_ip::validate_client_ip(&raw.client_ip, report);
    let redis = raw
        .redis
        .as_ref()
        .map(|redis| redis::validate_redis(redis, report));
    let dns = raw.dns.as_ref().map(|raw| dns::validate_dns(raw, report));
    let failover = failover::validate_failover(&raw.failover, &upstream_names, report);
    let rollout = rollout::validate_rollout(&raw.rollout, report);
    let control_plane = raw
        .control_plane
        .as_ref()
        .map(|raw| control_plane::validate_control_plane(raw, report));
    let cache_path = control_plane.as_ref().map(|cp| cp.cache_path.as_path());
    let tls = raw
        .tls
        .as_ref()
        .map(|raw| tls::validate_tls(raw, cache_path, report));
    let resolver = resolver::validate_resolver(&raw.resolver, report);
    Config {
        node: NodeSettings {
            gateway,
            listen,
            admin,
            access_log,
            control_plane,
            tls,
            resolver,
        },
        fleet: FleetSettings {
            upstreams,
            routes,
            client_ip,
            redis,
            rate_limits,
            load_shedding,
            dns,
            failover,
            rollout,
        },
    }
}

fn validate_gateway(raw: &RawGateway, report: &mut Reporter<'_>) -> GatewaySettings {
    if let Some(id) = &raw.id {
        check_name(id, "gateway.id", report);
    }
    if let Some(region) = &raw.region {
        check_name(region, "gateway.region", report);
    }
    GatewaySettings {
        id: raw.id.as_ref().map(|id| id.value.clone()),
        region: raw.region.as_ref().map(|region| region.value.clone()),
        allow_fault_injection: raw
            .allow_fault_injection
            .as_ref()
            .is_none_or(|allow| allow.value),
        shutdown_grace: duration_in(
            raw.shutdown_grace.as_ref(),
            (
                std::time::Duration::ZERO,
                GatewaySettings::MAX_SHUTDOWN_GRACE,
            ),
            GatewaySettings::DEFAULT_SHUTDOWN_GRACE,
            "gateway.shutdown_grace",
            report,
        ),
    }
}

/// `listen.http` and `admin.listen`, which must not collide with each other.
fn validate_listeners(
    raw: &RawConfig,
    report: &mut Reporter<'_>,
) -> (ListenSettings, AdminSettings) {
    let http_written = raw.listen.http.as_ref();
    let admin_written = raw.admin.listen.as_ref();
    let http = match http_written {
        None => Some(ListenSettings::default().http),
        Some(http) => address(http, "listen.http", report),
    };
    let admin = match admin_written {
        None => Some(AdminSettings::default().listen),
        Some(admin) => address(admin, "admin.listen", report),
    };
    if let (Some(http), Some(admin)) = (http, admin)
        && addresses_collide(http, admin)
    {
        // Blame the key that was written; the admin one when both were.
        match (admin_written, http_written) {
            (Some(written), _) => report.error(
                "admin.listen",
                Some(&written.span),
                format!("must not use the same address and port as listen.http ({http})"),
            ),
            (None, Some(written)) => report.error(
                "listen.http",
                Some(&written.span),
                format!("must not use the same address and port as admin.listen ({admin})"),
            ),
            (None, None) => {}
        }
    }
    let https = tls::validate_https(
        raw.listen.https.as_ref(),
        raw.tls.is_some(),
        &[("listen.http", http), ("admin.listen", admin)],
        report,
    );
    (
        ListenSettings {
            http: http.unwrap_or(ListenSettings::default().http),
            header_read_timeout: duration_in(
                raw.listen.header_read_timeout.as_ref(),
                ListenSettings::HEADER_READ_TIMEOUT_RANGE,
                ListenSettings::DEFAULT_HEADER_READ_TIMEOUT,
                "listen.header_read_timeout",
                report,
            ),
            max_header_bytes: integer_in(
                raw.listen.max_header_bytes.as_ref(),
                ListenSettings::MAX_HEADER_BYTES_RANGE.0..=ListenSettings::MAX_HEADER_BYTES_RANGE.1,
                ListenSettings::DEFAULT_MAX_HEADER_BYTES,
                "listen.max_header_bytes",
                report,
            ),
            https,
            h2c: raw.listen.h2c.as_ref().is_some_and(|h2c| h2c.value),
            http2: tls::validate_http2(&raw.listen.http2, report),
        },
        AdminSettings {
            listen: admin.unwrap_or(AdminSettings::default().listen),
        },
    )
}

/// Two listeners collide on the same port when their IPs are equal or either is a wildcard.
fn addresses_collide(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn validate_access_log(raw: &RawAccessLog, report: &mut Reporter<'_>) -> AccessLogSettings {
    let path = match &raw.path {
        None => None,
        Some(path) if path.value == "stdout" => None,
        Some(path) if path.value.is_empty() => {
            report.error(
                "access_log.path",
                Some(&path.span),
                "must not be empty (use \"stdout\" for standard output)",
            );
            None
        }
        Some(path) => Some(PathBuf::from(&path.value)),
    };
    AccessLogSettings {
        enabled: raw
            .enabled
            .as_ref()
            .map_or(AccessLogSettings::default().enabled, |enabled| {
                enabled.value
            }),
        path,
        query: raw
            .query
            .as_ref()
            .map_or(AccessLogSettings::default().query, |query| query.value),
    }
}
