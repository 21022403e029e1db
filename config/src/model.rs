//! The validated config: the only shape the rest of Weir sees. Built by `crate::parse`, never by hand
//! from untrusted text, so every value here has passed validation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// A whole, validated gateway config. `Config::default()` is the config of an empty file: default
/// settings, no upstreams, no routes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    pub gateway: GatewaySettings,
    pub listen: ListenSettings,
    pub admin: AdminSettings,
    pub access_log: AccessLogSettings,
    /// Upstreams by name (sorted, so iteration order is stable).
    pub upstreams: BTreeMap<String, Upstream>,
    /// Routes in config order. Matching does not depend on order (longest prefix wins).
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GatewaySettings {
    /// `gateway.id`; `None` means "use the host name" (resolved by the gateway, not here).
    pub id: Option<String>,
    /// `gateway.region`; `None` means no region is local, so `nearest` spreads over all pools.
    pub region: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSettings {
    /// `listen.http`, default `127.0.0.1:8080`.
    pub http: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminSettings {
    /// `admin.listen`, default `127.0.0.1:9901`.
    pub listen: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessLogSettings {
    /// `access_log.enabled`, default `true`.
    pub enabled: bool,
    /// `access_log.path`: `None` (the default, or the value `"stdout"`) writes to standard output.
    pub path: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RegionPolicy {
    /// Own region first while its pool is healthy and weighted above 0; otherwise spill.
    #[default]
    Nearest,
    /// Split across pools by weight.
    Weighted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub name: String,
    /// `region_policy`, default `nearest`.
    pub region_policy: RegionPolicy,
    /// `health`: active checks; `None` (the default) means passive ejection only.
    pub health: Option<HealthCheck>,
    /// `min_healthy_fraction`, default 0.5: a pool with a smaller share of available endpoints gets
    /// no new traffic. In `0.0..=1.0`.
    pub min_healthy_fraction: f64,
    /// `outlier`: passive ejection settings (always on).
    pub outlier: OutlierDetection,
    /// `connect_timeout`, default `1s`.
    pub connect_timeout: Duration,
    /// `connect_retries`, default 2, at most 5: how many other endpoints a request may try after
    /// a connect failure.
    pub connect_retries: u32,
    /// `pools`, at least one; regions are unique within an upstream; at least one weight > 0.
    pub pools: Vec<Pool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// `path`, default `/healthz`; starts with `/`.
    pub path: String,
    /// `interval`, default `1s`; > 0.
    pub interval: Duration,
    /// `timeout`, default `500ms`; > 0 and <= interval.
    pub timeout: Duration,
    /// `healthy_threshold`, default 2; >= 1.
    pub healthy_threshold: u32,
    /// `unhealthy_threshold`, default 2; >= 1.
    pub unhealthy_threshold: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct OutlierDetection {
    /// `consecutive_failures`, default 5; >= 1. Connect failures and 5xx both count.
    pub consecutive_failures: u32,
    /// `base_ejection_time`, default `10s`; doubles on each repeat ejection.
    pub base_ejection_time: Duration,
    /// `max_ejection_time`, default `300s`; >= base_ejection_time.
    pub max_ejection_time: Duration,
    /// `max_ejected_fraction`, default 0.5, in `0.0..=1.0`; at least one endpoint may always be
    /// ejected.
    pub max_ejected_fraction: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub region: String,
    /// `weight`, default 100, in `0..=100`; 0 drains the pool.
    pub weight: u32,
    /// `endpoints`: at least one, `ip:port`, no duplicates within the pool.
    pub endpoints: Vec<SocketAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostMatch {
    /// `"*"`: any host.
    Any,
    /// `"api.example.com"`: that host exactly (stored lower-case, no port).
    Exact(String),
    /// `"*.example.com"`: any host ending in `.example.com` (stored lower-case as the suffix
    /// `".example.com"`); does not match `example.com` itself.
    Suffix(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `name`, default `"{host}{path_prefix}"` as written (e.g. `"*/api"`); unique across routes.
    /// Used as the `route` label on metrics and in the access log.
    pub name: String,
    /// `host`, default `"*"`.
    pub host: HostMatch,
    /// `path_prefix`, default `"/"`; starts with `/`.
    pub path_prefix: String,
    /// `upstream`: required; names an entry of `upstreams`.
    pub upstream: String,
    /// `timeout`, default `10s`: the longest wait for the upstream's response (and each read).
    pub timeout: Duration,
}

impl Default for ListenSettings {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

impl Default for AdminSettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9901)),
        }
    }
}

impl Default for AccessLogSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            path: None,
        }
    }
}

impl std::fmt::Display for RegionPolicy {
    /// The config spelling: `nearest` or `weighted`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Nearest => "nearest",
            Self::Weighted => "weighted",
        })
    }
}

impl Upstream {
    /// Default for `min_healthy_fraction`.
    pub const DEFAULT_MIN_HEALTHY_FRACTION: f64 = 0.5;
    /// Default for `connect_timeout`.
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default for `connect_retries`.
    pub const DEFAULT_CONNECT_RETRIES: u32 = 2;
    /// Largest allowed `connect_retries`.
    pub const MAX_CONNECT_RETRIES: u32 = 5;
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            path: "/healthz".to_owned(),
            interval: Duration::from_secs(1),
            timeout: Duration::from_millis(500),
            healthy_threshold: 2,
            unhealthy_threshold: 2,
        }
    }
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(300),
            max_ejected_fraction: 0.5,
        }
    }
}

impl Pool {
    /// Default for `weight`.
    pub const DEFAULT_WEIGHT: u32 = 100;
    /// Largest allowed `weight`.
    pub const MAX_WEIGHT: u32 = 100;
}

impl std::fmt::Display for HostMatch {
    /// The config spelling, lower-case: `*`, `api.example.com` or `*.example.com`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Any => f.write_str("*"),
            Self::Exact(host) => f.write_str(host),
            Self::Suffix(suffix) => write!(f, "*{suffix}"),
        }
    }
}

impl Route {
    /// Default for `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
}
