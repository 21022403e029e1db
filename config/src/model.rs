//! The validated config: the only shape the rest of Weir sees. Built by `crate::parse` and
//! `crate::parse_fleet` (joined by `Config::with_node`), never by hand from untrusted text, so
//! every value here has passed validation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod dns;
mod failover;
mod resolver;
mod rollout;
mod tls;
pub use dns::*;
pub use failover::*;
pub use resolver::*;
pub use rollout::*;
pub use tls::*;

/// A whole, validated gateway config: this gateway's own settings and the fleet's.
/// `Config::default()` is the config of an empty file: default settings, no upstreams, no routes.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Config {
    /// The keys of [`NodeSettings::KEYS`]: always from the gateway's own file.
    pub node: NodeSettings,
    /// The keys of [`FleetSettings::KEYS`]: from the gateway's own file, or from the control plane
    /// when `node.control_plane` is set.
    pub fleet: FleetSettings,
}

/// The settings that belong to one gateway (its own file): where it listens, what it logs, what
/// it is called and where its fleet config comes from. Each field is a top-level key of that name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeSettings {
    pub gateway: GatewaySettings,
    pub listen: ListenSettings,
    pub admin: AdminSettings,
    pub access_log: AccessLogSettings,
    /// `control_plane`: where this gateway gets its fleet config; `None` when it reads this file.
    pub control_plane: Option<ControlPlaneSettings>,
    /// `tls`: how `listen.https` terminates TLS; `None` when the section is absent (then there
    /// is no HTTPS listener).
    pub tls: Option<TlsSettings>,
    /// `resolver`: how the names among the pools' endpoints are resolved.
    pub resolver: ResolverSettings,
}

/// The fleet config: the same for every gateway of a fleet (from the control plane when a gateway
/// has `[control_plane]`). Each field is a top-level key of that name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FleetSettings {
    /// Upstreams by name (sorted, so iteration order is stable).
    pub upstreams: BTreeMap<String, Upstream>,
    /// Routes in config order. Matching does not depend on order (longest prefix wins).
    pub routes: Vec<Route>,
    /// `client_ip`: how the client's address is found behind proxies.
    pub client_ip: ClientIpSettings,
    /// `redis`: the store for `scope = "global"` limits; `None` when the section is absent.
    pub redis: Option<RedisSettings>,
    /// `rate_limits`: policies by name (sorted), attached to routes by name.
    pub rate_limits: BTreeMap<String, RateLimitPolicy>,
    /// `load_shedding`: the gateway-wide in-flight cap and the priority shares.
    pub load_shedding: LoadShedding,
    /// `dns`: what weir-dns serves; `None` when the section is absent (gateways ignore it).
    pub dns: Option<DnsSettings>,
    /// `failover`: the control plane's failover policies by upstream (sorted); gateways ignore
    /// it.
    pub failover: BTreeMap<String, FailoverPolicy>,
    /// `rollout`: the thresholds of the control plane's staged rollouts; gateways ignore it.
    pub rollout: RolloutSettings,
}

/// The top-level keys of a part of [`Config`], which are its field names. The pattern names every
/// field without `..`, so a field added to the part does not compile until it is listed here, and
/// its key is then known to belong to that part.
macro_rules! keys_of {
    ($part:ident { $($field:ident),+ $(,)? }) => {{
        fn _every_field_is_named(part: &$part) {
            let $part { $($field: _),+ } = part;
        }
        &[$(stringify!($field)),+]
    }};
}

impl NodeSettings {
    /// Top-level keys that belong to one gateway (its own file), in field order.
    pub const KEYS: &[&str] = keys_of!(NodeSettings {
        gateway,
        listen,
        admin,
        access_log,
        control_plane,
        tls,
        resolver,
    });
}

impl FleetSettings {
    /// Top-level keys of the fleet config (the same for every gateway; from the control plane
    /// when a gateway has `[control_plane]`), in field order.
    pub const KEYS: &[&str] = keys_of!(FleetSettings {
        upstreams,
        routes,
        client_ip,
        redis,
        rate_limits,
        load_shedding,
        dns,
        failover,
        rollout,
    });
}

/// `[control_plane]`: a gateway run by a control plane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlPlaneSettings {
    /// `url`, required: `http://host:port` or `https://host:port`, optionally with a path
    /// prefix; stored without a trailing slash.
    pub url: String,
    /// `token_file`, required: the file holding this gateway's bearer token.
    pub token_file: PathBuf,
    /// `cache_path`, required: where the last applied fleet config is kept, to boot from when
    /// the control plane cannot be reached.
    pub cache_path: PathBuf,
    /// `ca_file`: PEM CA certificates to trust for an `https` url (default: the system's).
    pub ca_file: Option<PathBuf>,
    /// `stream_timeout`, default `6s`, 1s..=10m: a push stream silent this long is dead.
    pub stream_timeout: Duration,
    /// `reconnect_backoff`, default `200ms`, and `max_reconnect_backoff`, default `10s` (not
    /// shorter): the jittered exponential wait between reconnection attempts.
    pub reconnect_backoff: Duration,
    pub max_reconnect_backoff: Duration,
    /// `telemetry_interval`, default `5s`, 250ms..=60s: how often the gateway posts its health
    /// summary (per upstream and region pool) to the control plane.
    pub telemetry_interval: Duration,
}

impl ControlPlaneSettings {
    pub const DEFAULT_STREAM_TIMEOUT: Duration = Duration::from_secs(6);
    pub const DEFAULT_RECONNECT_BACKOFF: Duration = Duration::from_millis(200);
    pub const DEFAULT_MAX_RECONNECT_BACKOFF: Duration = Duration::from_secs(10);
    pub const DEFAULT_TELEMETRY_INTERVAL: Duration = Duration::from_secs(5);
}

impl Config {
    /// This fleet config as run by the gateway whose own settings are `node`: the node keys
    /// ([`NodeSettings`]) come from `node`.
    pub fn with_node(self, node: &Config) -> Config {
        Config {
            node: node.node.clone(),
            fleet: self.fleet,
        }
    }

    /// Whether the fleet part ([`FleetSettings`]) holds anything an empty file would not:
    /// upstreams, routes, rate limits, `redis`, `dns`, or non-default `client_ip` or
    /// `load_shedding`.
    /// `false` for what [`crate::parse`] returns for a file with `[control_plane]` (its fleet
    /// part comes from the control plane), for [`crate::parse_fleet`] of an empty text, and for
    /// such a fleet joined with its node: a gateway serving that has no routes to serve yet.
    pub fn has_fleet(&self) -> bool {
        self.fleet != FleetSettings::default()
    }

    /// What this gateway's own settings refuse in the fleet part, one error per problem (e.g. a
    /// route with fault injection when `gateway.allow_fault_injection = false`). Empty when
    /// nothing is refused.
    pub fn refused_by_node(&self) -> Vec<crate::ConfigError> {
        if self.node.gateway.allow_fault_injection {
            return Vec::new();
        }
        self.fleet
            .routes
            .iter()
            .enumerate()
            .filter(|(_, route)| route.fault.is_some())
            .map(|(index, route)| crate::ConfigError {
                path: format!("routes[{index}].fault"),
                message: format!(
                    "route {:?} injects faults, which this gateway refuses \
                     (gateway.allow_fault_injection = false)",
                    route.name
                ),
                line: None,
                column: None,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySettings {
    /// `gateway.id`; `None` means "use the host name" (resolved by the gateway, not here).
    pub id: Option<String>,
    /// `gateway.region`; `None` means no region is local, so `nearest` spreads over all pools.
    pub region: Option<String>,
    /// `gateway.allow_fault_injection`, default `true`: `false` makes this gateway refuse any
    /// config with a route's `fault` (keep game-day faults off production edges).
    pub allow_fault_injection: bool,
    /// `gateway.shutdown_grace`, default 5 s: after SIGTERM, how long requests in flight may take
    /// to finish before the process exits anyway.
    pub shutdown_grace: Duration,
}

impl GatewaySettings {
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
    pub const MAX_SHUTDOWN_GRACE: Duration = Duration::from_secs(300);
}

impl Default for GatewaySettings {
    fn default() -> Self {
        GatewaySettings {
            id: None,
            region: None,
            allow_fault_injection: true,
            shutdown_grace: Self::DEFAULT_SHUTDOWN_GRACE,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSettings {
    /// `listen.http`, default `127.0.0.1:8080`.
    pub http: SocketAddr,
    /// `listen.header_read_timeout`, default 10 s: the most a client may take to send a request's
    /// header, from the connection's start (first request) or the header's first byte (later
    /// requests on a kept-alive connection).
    pub header_read_timeout: Duration,
    /// `listen.max_header_bytes`, default 64 KiB: the most bytes a request line and header may
    /// take.
    pub max_header_bytes: u32,
    /// `listen.https`: one address or a list; empty (the default) means no HTTPS listener.
    /// Needs `[tls]`.
    pub https: Vec<SocketAddr>,
    /// `listen.h2c`, default `false`: also serve HTTP/2 by prior knowledge on `listen.http`.
    pub h2c: bool,
    /// `listen.http2`: limits for HTTP/2 client connections.
    pub http2: Http2Settings,
}

impl ListenSettings {
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    pub const HEADER_READ_TIMEOUT_RANGE: (Duration, Duration) =
        (Duration::from_millis(100), Duration::from_secs(300));
    pub const DEFAULT_MAX_HEADER_BYTES: u32 = 64 * 1024;
    /// Pingora itself refuses headers above 1 MiB.
    pub const MAX_HEADER_BYTES_RANGE: (u32, u32) = (1024, 1024 * 1024);
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
    /// `access_log.query`, default `true`: log the query string (`false` leaves it out, e.g. when
    /// clients put tokens in it).
    pub query: bool,
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
    /// `retry_budget`: how much retries may add to this upstream's traffic (always on).
    pub retry_budget: RetryBudgetSettings,
    /// `circuit_breaker`: failure-rate breakers for the upstream and each endpoint (on by
    /// default; `enabled = false` turns both off).
    pub circuit_breaker: CircuitBreakerSettings,
    /// `slow_start`, default `10s`, at most `10m`: how long an endpoint or pool coming back
    /// (breaker closed, ejection over, health restored) takes to ramp from 10% of its share to all
    /// of it. `0s` turns slow start off.
    pub slow_start: Duration,
    /// `bulkhead`: the cap on this upstream's in-flight requests and pending connects.
    pub bulkhead: BulkheadSettings,
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
    /// `endpoints`: at least one, `ip:port` or `host:port` (a DNS name, resolved in the
    /// background), no duplicates within the pool.
    pub endpoints: Vec<Endpoint>,
    /// `drained`, default empty: endpoints of this pool that get no new requests (those in
    /// flight finish; health checks go on). Each is one of `endpoints` as written (a name drains
    /// every address it resolves to), listed once.
    pub drained: Vec<Endpoint>,
    /// `tls`: reach the pool's endpoints over TLS; `None` (the default) speaks plain text.
    pub tls: Option<UpstreamTls>,
    /// `protocol`, default `h1`: the HTTP version spoken to the pool's endpoints.
    pub protocol: UpstreamProtocol,
}

/// A pool's `tls` table: how the gateway connects to its endpoints over TLS. The files are
/// read by the gateway when it compiles a config version (this crate does no I/O); a file that
/// cannot be read or parsed rejects the version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamTls {
    /// `sni`: the server name sent and verified; `None` (the default) verifies each endpoint's
    /// IP address against the certificate's IP SANs and sends no SNI. A DNS name or an IP
    /// address, no port.
    pub sni: Option<String>,
    /// `ca_file`: PEM file of the CAs that may sign the endpoints' certificates; `None` (the
    /// default) trusts the system's roots.
    pub ca_file: Option<String>,
    /// `verify`, default `true`: verify the endpoint's certificate (chain and name). `false`
    /// accepts any certificate (for tests only: it gives up the protection TLS is for).
    pub verify: bool,
    /// `cert` and `key`: a client certificate (PEM chain) and its private key (PEM, PKCS#8,
    /// PKCS#1 or SEC1) for mutual TLS; both or neither.
    pub client_cert: Option<ClientCert>,
}

/// A client certificate for mutual TLS: `cert` and `key` of a pool's `tls` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// `cert`: the certificate chain, PEM, leaf first.
    pub cert: String,
    /// `key`: the private key, PEM.
    pub key: String,
}

/// `protocol`: the HTTP version spoken to a pool's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// `"h1"`: HTTP/1.1.
    #[default]
    H1,
    /// `"h2"`: HTTP/2, negotiated by ALPN over TLS, or by prior knowledge (h2c) in plain text.
    H2,
}

impl UpstreamProtocol {
    /// The value as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::H1 => "h1",
            Self::H2 => "h2",
        }
    }
}

impl std::fmt::Display for UpstreamProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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

#[derive(Debug, Clone, PartialEq)]
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
    /// `timeout`, default `15s`, > 0: the total deadline of a request, from its arrival to the
    /// end of the response body, across every attempt and backoff.
    pub timeout: Duration,
    /// `read_timeout`, default `timeout`, > 0: per attempt, the longest wait for the response's
    /// first byte and for each later read of the response (Pingora applies one read timeout to
    /// every read of an exchange). Always clamped to what remains of `timeout`.
    pub read_timeout: Duration,
    /// `connect_timeout`, default the upstream's: per attempt, the longest wait for a connection.
    pub connect_timeout: Option<Duration>,
    /// `priority`, default `normal`: which class this route's requests belong to when shedding.
    pub priority: Priority,
    /// `retry`: what is retried and how often.
    pub retry: RetryPolicy,
    /// `fault`: fault injection for game days; `None` (the default) injects nothing.
    pub fault: Option<FaultInjection>,
    /// `rate_limits`, default empty: names of `rate_limits` policies, each naming an entry of
    /// `Config::rate_limits`, no duplicates, in the order written. A request must be admitted by
    /// all of them.
    pub rate_limits: Vec<String>,
    /// What the gateway does to a request's path, headers and body on this route.
    pub request: RequestRules,
    /// HTTP to HTTPS: the redirect and `Strict-Transport-Security`.
    pub https: HttpsRules,
}

/// A route's rules about HTTPS (flat keys of the route table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpsRules {
    /// `redirect_https`, default `false`: answer plain-HTTP requests with `308` to the same URL
    /// on HTTPS.
    pub redirect_https: bool,
    /// `https_port`, default 443, `1..=65535`: the port the redirect names (left out of the URL
    /// when 443).
    pub https_port: u16,
    /// `hsts`: the `Strict-Transport-Security` value added to responses to HTTPS requests, like
    /// `"max-age=31536000; includeSubDomains"`; `None` (the default) adds none.
    pub hsts: Option<String>,
}

impl HttpsRules {
    /// The default `https_port`.
    pub const DEFAULT_HTTPS_PORT: u16 = 443;
}

impl Default for HttpsRules {
    fn default() -> Self {
        Self {
            redirect_https: false,
            https_port: Self::DEFAULT_HTTPS_PORT,
            hsts: None,
        }
    }
}

/// A route's rules for the request itself (flat keys of the route table). Paths are always
/// normalised for matching (see `docs/config.md`, *Paths*); these decide the rest.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestRules {
    /// `forward_raw_path`, default `false`: send the origin the path as the client wrote it
    /// instead of the normalised one (matching and limits still use the normalised path).
    pub forward_raw_path: bool,
    /// `encoded_slashes`, default `keep`: what a `%2F` in the path does.
    pub encoded_slashes: EncodedSlashes,
    /// `path_prefix_ignore_case`, default `false`: match `path_prefix` ignoring ASCII case.
    pub path_prefix_ignore_case: bool,
    /// `max_body_size`: the largest request body in bytes, `0..=4294967295`; larger ones get
    /// `413`. `None` (the default) sets no cap.
    pub max_body_size: Option<u64>,
    /// `underscores_in_headers`, default `false`: pass request headers whose names contain `_`
    /// (dropped by default, like nginx, since `X_Forwarded_For` and `X-Forwarded-For` look the same
    /// to many frameworks).
    pub underscores_in_headers: bool,
}

/// `encoded_slashes`: what an encoded slash (`%2F`) in a request path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncodedSlashes {
    /// `"keep"`: it stays `%2F`, data within one segment, not a separator.
    #[default]
    Keep,
    /// `"reject"`: the request is answered `400`.
    Reject,
}

impl std::fmt::Display for EncodedSlashes {
    /// The config spelling: `keep` or `reject`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Keep => "keep",
            Self::Reject => "reject",
        })
    }
}

/// `[client_ip]`: which address a request is keyed by (`key = "client_ip"`) and logged as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClientIpSettings {
    /// `trusted_proxies`, default empty: CIDRs (`"10.0.0.0/8"`, stored as their network, so
    /// `"10.1.2.3/8"` reads as `10.0.0.0/8`) or single addresses (`"127.0.0.1"`, stored as a /32
    /// or /128), in the order written. Only a peer inside one of them may name the client in
    /// `header`; otherwise the peer address is the client.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// `header`, default `"x-forwarded-for"`: the header a trusted proxy writes (spelled
    /// lower-case in the config).
    pub header: ForwardedHeader,
}

/// `client_ip.header`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardedHeader {
    /// `"x-forwarded-for"`: comma-separated addresses, client first.
    #[default]
    XForwardedFor,
    /// `"forwarded"`: RFC 7239 `for=` parameters.
    Forwarded,
}

/// `[redis]`: the shared store of `scope = "global"` limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `url`: required, as written: `redis://host[:port][/db]`; host an IP address (IPv6 in
    /// brackets) or a host name, port default 6379, db in `0..=15` (default 0). No TLS
    /// (`rediss://`), no user or password, no query in this version.
    pub url: String,
    /// `timeout`, default `5ms`, > 0 and <= 1s: the longest a request waits for Redis before its
    /// policies follow `on_store_error`.
    pub timeout: Duration,
    /// `pool_size`, default 2, in `1..=16`: pipelined connections kept open.
    pub pool_size: u32,
    /// `key_prefix`, default `"weir"`: prepended to every key Weir writes (`weir:policy:...`).
    /// Not empty, at most 64 bytes, no whitespace or control characters.
    pub key_prefix: String,
}

/// One `[rate_limits.<name>]` policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// The table key; letters, digits, `_`, `-`, `.` only (it appears in headers and metrics).
    pub name: String,
    /// `key`: one part (`key = "client_ip"`) or a list of distinct parts, combined. Required,
    /// never empty; header parts are compared lower-case for distinctness.
    pub key: Vec<KeyPart>,
    /// `rate`: required, requests per `per`, in `1..=1_000_000_000`.
    pub rate: u32,
    /// `per`, default `1s`: > 0 and <= 1 day; `per / rate` must be at least 1 microsecond.
    pub per: Duration,
    /// `burst`, default `rate`, in `1..=1_000_000_000`: the bucket size (requests admitted at once
    /// from a full bucket).
    pub burst: u32,
    /// `scope`, default `local`; `global` needs a `[redis]` section.
    pub scope: LimitScope,
    /// `on_store_error`, default `local`. May only be written when `scope = "global"`.
    pub on_store_error: StoreErrorAction,
    /// `missing_key`, default `shared`: what happens when a header named in `key` is absent.
    pub missing_key: MissingKey,
    /// `max_keys`, default 100000, in `1..=10000000`: the most distinct keys this gateway tracks
    /// for the policy; keys beyond it share one overflow bucket.
    pub max_keys: u32,
    /// `response_headers`, default `true`: admitted responses carry `RateLimit` and
    /// `RateLimit-Policy` (limited responses always do).
    pub response_headers: bool,
}

/// One part of a rate-limit key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyPart {
    /// `"client_ip"`: the client address (see `client_ip`).
    ClientIp,
    /// `"header:<name>"`: a request header's value; the name (an HTTP token) is stored
    /// lower-case.
    Header(String),
    /// `"route"`: the matched route's name.
    Route,
}

/// `scope`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitScope {
    /// `"local"`: buckets in this gateway's memory.
    #[default]
    Local,
    /// `"global"`: buckets in Redis, shared by every gateway using it.
    Global,
}

/// `on_store_error`: what a global policy does when Redis does not answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreErrorAction {
    /// `"local"`: check a local bucket with the same quota instead.
    #[default]
    Local,
    /// `"allow"`: admit the request.
    Allow,
    /// `"deny"`: refuse the request (503 with Retry-After).
    Deny,
}

/// `missing_key`: a request without a header named in `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingKey {
    /// `"shared"`: all such requests share one bucket (the header's value counts as absent).
    #[default]
    Shared,
    /// `"exempt"`: such requests are not limited by this policy.
    Exempt,
}

impl RedisSettings {
    /// Default for `timeout`.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(5);
    /// Largest allowed `timeout`.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default for `pool_size`.
    pub const DEFAULT_POOL_SIZE: u32 = 2;
    /// Largest allowed `pool_size`.
    pub const MAX_POOL_SIZE: u32 = 16;
    /// Default for `key_prefix`.
    pub const DEFAULT_KEY_PREFIX: &str = "weir";
    /// Longest allowed `key_prefix`, in bytes.
    pub const MAX_KEY_PREFIX_LEN: usize = 64;
    /// Highest database number `url` may select.
    pub const MAX_DATABASE: u8 = 15;
}

impl RateLimitPolicy {
    /// Largest allowed `rate`.
    pub const MAX_RATE: u32 = 1_000_000_000;
    /// Default for `per`.
    pub const DEFAULT_PER: Duration = Duration::from_secs(1);
    /// Longest allowed `per`: one day.
    pub const MAX_PER: Duration = Duration::from_secs(24 * 60 * 60);
    /// Shortest allowed `per / rate` (the time between two requests at the steady rate).
    pub const MIN_INTERVAL: Duration = Duration::from_micros(1);
    /// Largest allowed `burst`.
    pub const MAX_BURST: u32 = 1_000_000_000;
    /// Default for `max_keys`.
    pub const DEFAULT_MAX_KEYS: u32 = 100_000;
    /// Largest allowed `max_keys`.
    pub const MAX_MAX_KEYS: u32 = 10_000_000;
}

impl std::fmt::Display for ForwardedHeader {
    /// The config spelling: `x-forwarded-for` or `forwarded`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::XForwardedFor => "x-forwarded-for",
            Self::Forwarded => "forwarded",
        })
    }
}

impl std::fmt::Display for LimitScope {
    /// The config spelling: `local` or `global`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Local => "local",
            Self::Global => "global",
        })
    }
}

impl std::fmt::Display for StoreErrorAction {
    /// The config spelling: `local`, `allow` or `deny`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Local => "local",
            Self::Allow => "allow",
            Self::Deny => "deny",
        })
    }
}

impl std::fmt::Display for MissingKey {
    /// The config spelling: `shared` or `exempt`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Shared => "shared",
            Self::Exempt => "exempt",
        })
    }
}

impl std::fmt::Display for KeyPart {
    /// The config spelling: `client_ip`, `header:<name>` or `route`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientIp => f.write_str("client_ip"),
            Self::Header(name) => write!(f, "header:{name}"),
            Self::Route => f.write_str("route"),
        }
    }
}

impl Default for ListenSettings {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            max_header_bytes: Self::DEFAULT_MAX_HEADER_BYTES,
            https: Vec::new(),
            h2c: false,
            http2: Http2Settings::default(),
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
            query: true,
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
    /// Default for `slow_start`.
    pub const DEFAULT_SLOW_START: Duration = Duration::from_secs(10);
    /// Longest allowed `slow_start`.
    pub const MAX_SLOW_START: Duration = Duration::from_secs(600);
    /// Longest allowed `connect_timeout` (upstream's and route's).
    pub const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(60);
    /// Longest allowed `health.interval`.
    pub const MAX_HEALTH_INTERVAL: Duration = Duration::from_secs(3600);
    /// Longest allowed `health.timeout`.
    pub const MAX_HEALTH_TIMEOUT: Duration = Duration::from_secs(60);
    /// Longest allowed `outlier.base_ejection_time` and `outlier.max_ejection_time`.
    pub const MAX_EJECTION_TIME: Duration = Duration::from_secs(3600);
    /// Longest allowed `circuit_breaker.open_for` and `circuit_breaker.max_open_for`.
    pub const MAX_OPEN_FOR: Duration = Duration::from_secs(3600);
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
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
    /// Longest allowed `timeout` and `read_timeout`.
    pub const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
}

/// A route's priority class (`priority`): who is shed first when capacity runs out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Priority {
    /// `"optional"`: shed first.
    Optional,
    /// `"normal"`: shed after `optional`.
    #[default]
    Normal,
    /// `"critical"`: never shed while the reserved share has room.
    Critical,
}

impl Priority {
    /// Every class, lowest first (index = `self as usize`).
    pub const ALL: [Priority; 3] = [Priority::Optional, Priority::Normal, Priority::Critical];

    /// The config spelling, also the metric label: `optional`, `normal` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Optional => "optional",
            Self::Normal => "normal",
            Self::Critical => "critical",
        }
    }
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[routes.retry]`: which failures a request is retried on, how often, and how long it waits.
/// A connect failure is always retryable (nothing was sent). Whatever this says, nothing is
/// retried once the response has started, and retries draw on the upstream's `retry_budget`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `attempts`, default 3, in `1..=5`: the most attempts per request, the first included.
    pub attempts: u32,
    /// `statuses`, default `[502, 503, 504]`: response statuses that are retried (each in
    /// `500..=599`, no duplicates, may be empty).
    pub statuses: Vec<u16>,
    /// `on_reset`, default `true`: retry when the connection breaks or times out before the
    /// response header.
    pub on_reset: bool,
    /// `non_idempotent`, default `false`: also retry statuses and resets for methods that are not
    /// idempotent (POST, PATCH); only for routes whose upstream tolerates a repeat.
    pub non_idempotent: bool,
    /// `backoff`, default `25ms`, in `0s..=10s`: the base of the jittered exponential backoff;
    /// retry `n` waits a random time in `0..=min(max_backoff, backoff * 2^(n-1))`. `0s` retries at
    /// once.
    pub backoff: Duration,
    /// `max_backoff`, default `250ms` (or `backoff` when that is longer), >= `backoff`, at most
    /// `10s`.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// Largest allowed `attempts`.
    pub const MAX_ATTEMPTS: u32 = 5;
    /// Longest allowed `max_backoff`.
    pub const MAX_BACKOFF: Duration = Duration::from_secs(10);
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            statuses: vec![502, 503, 504],
            on_reset: true,
            non_idempotent: false,
            backoff: Duration::from_millis(25),
            max_backoff: Duration::from_millis(250),
        }
    }
}

/// `[upstreams.<name>.retry_budget]`: retries may add at most `ratio` of the requests sent to
/// the upstream over the last `window`, plus `min_per_second` retries per second (so a quiet
/// upstream can still retry), as linkerd and Finagle budget them.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryBudgetSettings {
    /// `ratio`, default 0.2, in `0.0..=1.0`.
    pub ratio: f64,
    /// `min_per_second`, default 10, in `0..=100000`.
    pub min_per_second: u32,
    /// `window`, default `10s`, in `1s..=60s`.
    pub window: Duration,
}

impl Default for RetryBudgetSettings {
    fn default() -> Self {
        Self {
            ratio: 0.2,
            min_per_second: 10,
            window: Duration::from_secs(10),
        }
    }
}

/// `[upstreams.<name>.circuit_breaker]`: one breaker per endpoint (an open one takes the endpoint
/// out of selection) and one for the upstream as a whole (an open one answers `503` at once).
#[derive(Debug, Clone, PartialEq)]
pub struct CircuitBreakerSettings {
    /// `enabled`, default `true`.
    pub enabled: bool,
    /// `failure_rate`, default 0.5, in `(0.0, 1.0]`: the share of failed requests over `window`
    /// that opens the breaker. Connect failures, timeouts, resets and 5xx answers count.
    pub failure_rate: f64,
    /// `min_requests`, default 20, >= 1: fewer requests in `window` never open the breaker.
    pub min_requests: u32,
    /// `window`, default `10s`, in `1s..=300s`: the sliding window the rate is measured over.
    pub window: Duration,
    /// `open_for`, default `5s`, > 0: how long an opened breaker stays open before half-opening;
    /// doubles each time a half-open breaker fails again, up to `max_open_for`.
    pub open_for: Duration,
    /// `max_open_for`, default `60s` (or `open_for` when that is longer), >= `open_for`.
    pub max_open_for: Duration,
    /// `half_open_successes`, default 10, in `1..=1000`: consecutive successes in half-open that
    /// close the breaker. Half-open lets one probe through at first, one more in flight for each
    /// success; any failure opens the breaker again.
    pub half_open_successes: u32,
}

impl Default for CircuitBreakerSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            failure_rate: 0.5,
            min_requests: 20,
            window: Duration::from_secs(10),
            open_for: Duration::from_secs(5),
            max_open_for: Duration::from_secs(60),
            half_open_successes: 10,
        }
    }
}

/// `[upstreams.<name>.bulkhead]`: this upstream's own capacity, so a slow upstream cannot take
/// the gateway's. When full, requests are shed by priority (see `load_shedding`).
#[derive(Debug, Clone, PartialEq)]
pub struct BulkheadSettings {
    /// `max_in_flight`, default 1024, in `1..=1000000`: requests in progress to this upstream (with
    /// `adaptive`, the upper bound of the adaptive limit).
    pub max_in_flight: u32,
    /// `max_pending_connects`, default 256, in `1..=100000`: connection attempts under way at once.
    pub max_pending_connects: u32,
    /// `adaptive`: `None` (the default) keeps the cap at `max_in_flight`.
    pub adaptive: Option<AdaptiveLimit>,
}

impl Default for BulkheadSettings {
    fn default() -> Self {
        Self {
            max_in_flight: 1024,
            max_pending_connects: 256,
            adaptive: None,
        }
    }
}

/// `[upstreams.<name>.bulkhead.adaptive]`: the cap follows latency, like Netflix's gradient
/// limit: it shrinks when latency rises above `tolerance` times the minimum seen, and grows by
/// about its square root while latency stays near that minimum.
#[derive(Debug, Clone, PartialEq)]
pub struct AdaptiveLimit {
    /// `min_in_flight`, default 8 (or `max_in_flight` when that is smaller), in
    /// `1..=max_in_flight`: the cap never goes below this.
    pub min_in_flight: u32,
    /// `initial`, default `min(max_in_flight, 100)` raised to `min_in_flight`, in
    /// `min_in_flight..=max_in_flight`: the cap the limit starts from.
    pub initial: u32,
    /// `tolerance`, default 2.0, in `1.0..=10.0`: how much slower than the minimum latency
    /// requests may get before the cap shrinks.
    pub tolerance: f64,
    /// `min_rtt_window`, default `30s`, in `1s..=10m`: how long the minimum latency is remembered
    /// (then measured afresh, so a permanent change of baseline is learnt).
    pub min_rtt_window: Duration,
}

/// `[load_shedding]`: the gateway's overall cap on requests in progress, and how the capacity of
/// every cap (this one and each upstream's bulkhead) is shared between priority classes:
/// `optional` requests are admitted while fewer than `optional_share` of the cap is in use,
/// `normal` ones below `normal_share`, `critical` ones up to the whole cap.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadShedding {
    /// `max_in_flight`, default 10000, in `1..=10000000`.
    pub max_in_flight: u32,
    /// `normal_share`, default 0.9, in `(0.0, 1.0]`.
    pub normal_share: f64,
    /// `optional_share`, default 0.8 (or `normal_share` when that is smaller), in
    /// `(0.0, normal_share]`.
    pub optional_share: f64,
    /// `retry_after`, default `1s`, in `1s..=1h` (whole seconds): the `Retry-After` of a shed
    /// request.
    pub retry_after: Duration,
}

impl Default for LoadShedding {
    fn default() -> Self {
        Self {
            max_in_flight: 10_000,
            normal_share: 0.9,
            optional_share: 0.8,
            retry_after: Duration::from_secs(1),
        }
    }
}

/// `[routes.fault]`: faults injected for game days. Each request that matches (`header`) is
/// delayed with probability `delay_percent` and, independently, aborted with probability
/// `abort_percent`. At least one of `delay` and `abort_status` is set.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultInjection {
    /// `header`: only requests carrying this header (name stored lower-case) are eligible;
    /// `None` (the default) makes every request eligible.
    pub header: Option<String>,
    /// `header_value`: with `header`, the value it must have exactly; `None` accepts any value.
    /// Needs `header`.
    pub header_value: Option<String>,
    /// `delay`: added before the request is sent upstream; > 0 and at most `1h`.
    pub delay: Option<Duration>,
    /// `delay_percent`, default 100 when `delay` is set, in `0.0..=100.0`. Needs `delay`.
    pub delay_percent: f64,
    /// `abort_status`: the status of an aborted request, in `400..=599`.
    pub abort_status: Option<u16>,
    /// `abort_percent`, default 100 when `abort_status` is set, in `0.0..=100.0`. Needs
    /// `abort_status`.
    pub abort_percent: f64,
}
