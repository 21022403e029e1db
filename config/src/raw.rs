//! The config as written: every key optional and typed, with its position, before any rule is
//! checked. Built by `read`, consumed by `validate`.

use std::time::Duration;

use crate::document::{At, OneOrMany};
use crate::report::Span;

#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub(crate) gateway: RawGateway,
    pub(crate) listen: RawListen,
    pub(crate) admin: RawAdmin,
    pub(crate) access_log: RawAccessLog,
    pub(crate) control_plane: Option<RawControlPlane>,
    /// `Some` when a `tls` table is present (even an empty one).
    pub(crate) tls: Option<RawTls>,
    /// `[resolver]`; all `None` when absent.
    pub(crate) resolver: RawResolver,
    /// Every key under `upstreams`, including those whose value could not be read, so that
    /// routes to them are not reported a second time.
    pub(crate) upstream_names: Vec<String>,
    pub(crate) upstreams: Vec<RawUpstream>,
    /// One entry per element of `routes`; `None` for an element that is not a table (already
    /// reported).
    pub(crate) routes: Vec<Option<RawRoute>>,
    pub(crate) client_ip: RawClientIp,
    /// `Some` when a `redis` table is present (even an empty one).
    pub(crate) redis: Option<RawRedis>,
    /// Every key under `rate_limits`, including those whose value could not be read, so that
    /// routes naming them are not reported a second time.
    pub(crate) rate_limit_names: Vec<String>,
    pub(crate) rate_limits: Vec<RawRateLimit>,
    pub(crate) load_shedding: RawLoadShedding,
    /// `Some` when a `dns` table is present (even an empty one).
    pub(crate) dns: Option<RawDns>,
    /// The entries of `failover` that are tables.
    pub(crate) failover: Vec<RawFailover>,
    /// `[rollout]`; all `None` when absent.
    pub(crate) rollout: RawRollout,
}

#[derive(Debug, Default)]
pub(crate) struct RawGateway {
    pub(crate) id: Option<At<String>>,
    pub(crate) region: Option<At<String>>,
    pub(crate) allow_fault_injection: Option<At<bool>>,
    pub(crate) shutdown_grace: Option<At<Duration>>,
}

/// `[control_plane]` as written.
#[derive(Debug, Default)]
pub(crate) struct RawControlPlane {
    pub(crate) url: Option<At<String>>,
    pub(crate) token_file: Option<At<String>>,
    pub(crate) cache_path: Option<At<String>>,
    pub(crate) ca_file: Option<At<String>>,
    pub(crate) stream_timeout: Option<At<std::time::Duration>>,
    pub(crate) reconnect_backoff: Option<At<std::time::Duration>>,
    pub(crate) max_reconnect_backoff: Option<At<std::time::Duration>>,
    pub(crate) telemetry_interval: Option<At<std::time::Duration>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawListen {
    pub(crate) http: Option<At<String>>,
    pub(crate) header_read_timeout: Option<At<Duration>>,
    pub(crate) max_header_bytes: Option<At<i64>>,
    pub(crate) https: Option<OneOrMany>,
    pub(crate) h2c: Option<At<bool>>,
    pub(crate) http2: RawHttp2,
}

/// `[listen.http2]` as written.
#[derive(Debug, Default)]
pub(crate) struct RawHttp2 {
    pub(crate) max_concurrent_streams: Option<At<i64>>,
    pub(crate) max_header_list_size: Option<At<i64>>,
    pub(crate) idle_timeout: Option<At<Duration>>,
    pub(crate) max_reset_streams: Option<At<i64>>,
}

/// `[tls]` as written.
#[derive(Debug)]
pub(crate) struct RawTls {
    pub(crate) min_version: Option<At<String>>,
    pub(crate) alpn: Option<At<Vec<Option<At<String>>>>>,
    pub(crate) unknown_sni: Option<At<String>>,
    pub(crate) handshake_timeout: Option<At<Duration>>,
    /// `None` when missing or not an array; an element is `None` when it is not a table.
    pub(crate) certificates: Option<At<Vec<Option<RawCertificate>>>>,
    pub(crate) acme: Option<At<Vec<Option<RawAcme>>>>,
    pub(crate) acme_state_dir: Option<At<String>>,
}

/// One `[[tls.acme]]` as written.
#[derive(Debug)]
pub(crate) struct RawAcme {
    pub(crate) names: Option<At<Vec<Option<At<String>>>>>,
    pub(crate) directory: Option<At<String>>,
    pub(crate) contact: Option<At<Vec<Option<At<String>>>>>,
    pub(crate) ca_file: Option<At<String>>,
}

/// One `[[tls.certificates]]` as written.
#[derive(Debug)]
pub(crate) struct RawCertificate {
    pub(crate) cert: Option<At<String>>,
    pub(crate) key: Option<At<String>>,
    pub(crate) default: Option<At<bool>>,
    pub(crate) names: Option<At<Vec<Option<At<String>>>>>,
}

/// `[resolver]` as written.
#[derive(Debug, Default)]
pub(crate) struct RawResolver {
    pub(crate) nameservers: Option<At<Vec<Option<At<String>>>>>,
    pub(crate) min_ttl: Option<At<Duration>>,
    pub(crate) max_ttl: Option<At<Duration>>,
    pub(crate) timeout: Option<At<Duration>>,
    pub(crate) max_addresses: Option<At<i64>>,
    pub(crate) family: Option<At<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawAdmin {
    pub(crate) listen: Option<At<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawAccessLog {
    pub(crate) enabled: Option<At<bool>>,
    pub(crate) path: Option<At<String>>,
    pub(crate) query: Option<At<bool>>,
}

#[derive(Debug)]
pub(crate) struct RawUpstream {
    /// The table key under `upstreams`, with the key's position.
    pub(crate) name: At<String>,
    pub(crate) region_policy: Option<At<String>>,
    /// `Some` when a `health` table is present (even an empty one).
    pub(crate) health: Option<RawHealth>,
    pub(crate) min_healthy_fraction: Option<At<f64>>,
    pub(crate) connect_timeout: Option<At<Duration>>,
    pub(crate) outlier: RawOutlier,
    pub(crate) slow_start: Option<At<Duration>>,
    pub(crate) retry_budget: RawRetryBudget,
    pub(crate) circuit_breaker: RawCircuitBreaker,
    pub(crate) bulkhead: RawBulkhead,
    /// `None` when missing or not an array; an element is `None` when it is not a table (all
    /// already reported).
    pub(crate) pools: Option<At<Vec<Option<RawPool>>>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawHealth {
    pub(crate) path: Option<At<String>>,
    pub(crate) interval: Option<At<Duration>>,
    pub(crate) timeout: Option<At<Duration>>,
    pub(crate) healthy_threshold: Option<At<i64>>,
    pub(crate) unhealthy_threshold: Option<At<i64>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawOutlier {
    pub(crate) consecutive_failures: Option<At<i64>>,
    pub(crate) base_ejection_time: Option<At<Duration>>,
    pub(crate) max_ejection_time: Option<At<Duration>>,
    pub(crate) max_ejected_fraction: Option<At<f64>>,
}

#[derive(Debug)]
pub(crate) struct RawPool {
    pub(crate) region: Option<At<String>>,
    pub(crate) weight: Option<At<i64>>,
    /// Each endpoint as written; `None` for an element that is not a string (already reported).
    pub(crate) endpoints: Option<At<Vec<Option<At<String>>>>>,
    /// `drained`, as `endpoints`.
    pub(crate) drained: Option<At<Vec<Option<At<String>>>>>,
    /// `Some` when a `tls` table is present (even an empty one).
    pub(crate) tls: Option<RawUpstreamTls>,
    pub(crate) protocol: Option<At<String>>,
}

/// A pool's `tls` table as written.
#[derive(Debug)]
pub(crate) struct RawUpstreamTls {
    pub(crate) span: Span,
    pub(crate) sni: Option<At<String>>,
    pub(crate) ca_file: Option<At<String>>,
    pub(crate) verify: Option<At<bool>>,
    pub(crate) cert: Option<At<String>>,
    pub(crate) key: Option<At<String>>,
}

#[derive(Debug)]
pub(crate) struct RawRoute {
    pub(crate) span: Span,
    pub(crate) name: Option<At<String>>,
    pub(crate) host: Option<At<String>>,
    pub(crate) path_prefix: Option<At<String>>,
    pub(crate) upstream: Option<At<String>>,
    pub(crate) timeout: Option<At<Duration>>,
    pub(crate) read_timeout: Option<At<Duration>>,
    pub(crate) connect_timeout: Option<At<Duration>>,
    pub(crate) priority: Option<At<String>>,
    pub(crate) retry: RawRetry,
    /// `Some` when a `fault` table is present (even an empty one).
    pub(crate) fault: Option<RawFault>,
    /// Each policy name as written; `None` for an element that is not a string (already
    /// reported).
    pub(crate) rate_limits: Option<At<Vec<Option<At<String>>>>>,
    pub(crate) forward_raw_path: Option<At<bool>>,
    pub(crate) encoded_slashes: Option<At<String>>,
    pub(crate) path_prefix_ignore_case: Option<At<bool>>,
    pub(crate) max_body_size: Option<At<i64>>,
    pub(crate) underscores_in_headers: Option<At<bool>>,
    pub(crate) redirect_https: Option<At<bool>>,
    pub(crate) https_port: Option<At<i64>>,
    pub(crate) hsts: Option<At<String>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawRetry {
    pub(crate) attempts: Option<At<i64>>,
    /// Each status as written; `None` for an element that is not an integer (already reported).
    pub(crate) statuses: Option<At<Vec<Option<At<i64>>>>>,
    pub(crate) on_reset: Option<At<bool>>,
    pub(crate) non_idempotent: Option<At<bool>>,
    pub(crate) backoff: Option<At<Duration>>,
    pub(crate) max_backoff: Option<At<Duration>>,
}

#[derive(Debug)]
pub(crate) struct RawFault {
    pub(crate) span: Span,
    pub(crate) header: Option<At<String>>,
    pub(crate) header_value: Option<At<String>>,
    pub(crate) delay: Option<At<Duration>>,
    pub(crate) delay_percent: Option<At<f64>>,
    pub(crate) abort_status: Option<At<i64>>,
    pub(crate) abort_percent: Option<At<f64>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawRetryBudget {
    pub(crate) ratio: Option<At<f64>>,
    pub(crate) min_per_second: Option<At<i64>>,
    pub(crate) window: Option<At<Duration>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawCircuitBreaker {
    pub(crate) enabled: Option<At<bool>>,
    pub(crate) failure_rate: Option<At<f64>>,
    pub(crate) min_requests: Option<At<i64>>,
    pub(crate) window: Option<At<Duration>>,
    pub(crate) open_for: Option<At<Duration>>,
    pub(crate) max_open_for: Option<At<Duration>>,
    pub(crate) half_open_successes: Option<At<i64>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawBulkhead {
    pub(crate) max_in_flight: Option<At<i64>>,
    pub(crate) max_pending_connects: Option<At<i64>>,
    /// `Some` when an `adaptive` table is present (even an empty one).
    pub(crate) adaptive: Option<RawAdaptive>,
}

#[derive(Debug, Default)]
pub(crate) struct RawAdaptive {
    pub(crate) min_in_flight: Option<At<i64>>,
    pub(crate) initial: Option<At<i64>>,
    pub(crate) tolerance: Option<At<f64>>,
    pub(crate) min_rtt_window: Option<At<Duration>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawLoadShedding {
    pub(crate) max_in_flight: Option<At<i64>>,
    pub(crate) normal_share: Option<At<f64>>,
    pub(crate) optional_share: Option<At<f64>>,
    pub(crate) retry_after: Option<At<Duration>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawClientIp {
    /// Each entry as written; `None` for an element that is not a string (already reported).
    pub(crate) trusted_proxies: Option<At<Vec<Option<At<String>>>>>,
    pub(crate) header: Option<At<String>>,
}

#[derive(Debug)]
pub(crate) struct RawRedis {
    pub(crate) url: Option<At<String>>,
    pub(crate) timeout: Option<At<Duration>>,
    pub(crate) pool_size: Option<At<i64>>,
    pub(crate) key_prefix: Option<At<String>>,
}

#[derive(Debug)]
pub(crate) struct RawRateLimit {
    /// The table key under `rate_limits`, with the key's position.
    pub(crate) name: At<String>,
    pub(crate) key: Option<OneOrMany>,
    pub(crate) rate: Option<At<i64>>,
    pub(crate) per: Option<At<Duration>>,
    pub(crate) burst: Option<At<i64>>,
    pub(crate) scope: Option<At<String>>,
    pub(crate) on_store_error: Option<At<String>>,
    pub(crate) missing_key: Option<At<String>>,
    pub(crate) max_keys: Option<At<i64>>,
    pub(crate) response_headers: Option<At<bool>>,
}

/// `[dns]` as written.
#[derive(Debug)]
pub(crate) struct RawDns {
    pub(crate) zones: Option<At<Vec<Option<At<String>>>>>,
    /// `Some` when a `soa` table is present.
    pub(crate) soa: Option<RawSoa>,
    pub(crate) ns: Option<At<Vec<Option<At<String>>>>>,
    /// The entries of `names` that are tables.
    pub(crate) names: Vec<RawDnsName>,
    /// Each entry of `client_regions`: the CIDR key and its region (`None` when not a string,
    /// already reported).
    pub(crate) client_regions: Vec<(At<String>, Option<At<String>>)>,
    pub(crate) probe: RawDnsProbe,
}

#[derive(Debug)]
pub(crate) struct RawSoa {
    pub(crate) mname: Option<At<String>>,
    pub(crate) rname: Option<At<String>>,
    pub(crate) negative_ttl: Option<At<Duration>>,
}

#[derive(Debug)]
pub(crate) struct RawDnsName {
    /// The table key under `dns.names`, with the key's position.
    pub(crate) name: At<String>,
    pub(crate) policy: Option<At<String>>,
    pub(crate) ttl: Option<At<Duration>>,
    pub(crate) answers: Option<At<i64>>,
    pub(crate) all_down: Option<At<String>>,
    /// As `RawUpstream::pools`.
    pub(crate) members: Option<At<Vec<Option<RawDnsMember>>>>,
}

#[derive(Debug)]
pub(crate) struct RawDnsMember {
    pub(crate) region: Option<At<String>>,
    pub(crate) addresses: Option<At<Vec<Option<At<String>>>>>,
    pub(crate) health: Option<At<String>>,
    pub(crate) weight: Option<At<i64>>,
}

#[derive(Debug, Default)]
pub(crate) struct RawDnsProbe {
    pub(crate) interval: Option<At<Duration>>,
    pub(crate) timeout: Option<At<Duration>>,
    pub(crate) rise: Option<At<i64>>,
    pub(crate) fall: Option<At<i64>>,
}

/// `[rollout]` as written.
#[derive(Debug, Default)]
pub(crate) struct RawRollout {
    pub(crate) bake: Option<At<Duration>>,
    pub(crate) evaluate_every: Option<At<Duration>>,
    pub(crate) max_error_ratio_increase: Option<At<f64>>,
    pub(crate) max_p99_ratio: Option<At<f64>>,
    pub(crate) min_p99_increase: Option<At<Duration>>,
    pub(crate) min_requests: Option<At<i64>>,
    pub(crate) stale_grace: Option<At<Duration>>,
}

/// `[failover.<upstream>]` as written.
#[derive(Debug)]
pub(crate) struct RawFailover {
    /// The table key under `failover`, with the key's position.
    pub(crate) upstream: At<String>,
    pub(crate) evaluate_every: Option<At<Duration>>,
    /// `Some` when an `unhealthy_when` table is present, with its position.
    pub(crate) unhealthy_when: Option<RawUnhealthyWhen>,
    pub(crate) quorum: Option<At<f64>>,
    pub(crate) drain_after: Option<At<i64>>,
    pub(crate) restore_after: Option<At<i64>>,
    pub(crate) ramp: Option<At<Vec<Option<At<String>>>>>,
    pub(crate) never_drain_last: Option<At<bool>>,
    pub(crate) max_drained: Option<At<i64>>,
}

#[derive(Debug)]
pub(crate) struct RawUnhealthyWhen {
    pub(crate) span: Span,
    pub(crate) healthy_fraction_below: Option<At<f64>>,
    pub(crate) error_ratio_above: Option<At<f64>>,
}
