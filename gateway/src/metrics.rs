//! Prometheus metrics of the gateway, registered once in a registry owned by the gateway and
//! passed to each part. Labels are bounded: route, upstream, region, endpoint come from config.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Latency buckets from 0.25 ms to 30 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    30.0,
];

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub upstream_duration: HistogramVec,
    pub endpoint_healthy: IntGaugeVec,
    pub endpoint_drained: IntGaugeVec,
    pub endpoint_ejected: IntGaugeVec,
    pub config_version: IntGauge,
    pub config_reloads: IntCounterVec,
    pub ejections: IntCounterVec,
    pub panic_routing: IntCounterVec,
    pub spill_routing: IntCounterVec,
    pub connect_failures: IntCounterVec,
    /// `weir_upstream_failures_total{upstream, region, kind}`: failed attempts after connecting.
    pub upstream_failures: IntCounterVec,
    pub retries: IntCounterVec,
    pub health_checks: IntCounterVec,
    pub access_log_dropped: IntCounter,
    pub ratelimit_decisions: IntCounterVec,
    pub ratelimit_fallbacks: IntCounterVec,
    pub ratelimit_keys: IntGaugeVec,
    pub redis_duration: HistogramVec,
    pub retries_refused: IntCounterVec,
    pub timeouts: IntCounterVec,
    pub breaker_state_upstream: IntGaugeVec,
    pub breaker_state_endpoint: IntGaugeVec,
    pub breaker_transitions: IntCounterVec,
    pub breaker_rejections: IntCounterVec,
    pub bulkhead_in_flight: IntGaugeVec,
    pub bulkhead_limit: IntGaugeVec,
    pub gateway_in_flight: IntGauge,
    pub shed: IntCounterVec,
    pub faults: IntCounterVec,
    /// `weir_redirects_total{route}`: plain-HTTP requests redirected to HTTPS.
    pub redirects: IntCounterVec,
    /// `weir_upstream_tls_failures_total{upstream, region, reason}`.
    pub upstream_tls_failures: IntCounterVec,
    pub control_plane_connected: IntGauge,
    pub control_plane_streams: IntCounterVec,
    pub control_plane_pushes: IntCounterVec,
    pub control_plane_reports: IntCounterVec,
    /// `weir_control_plane_telemetry_total{outcome}`: health summaries posted.
    pub control_plane_telemetry: IntCounterVec,
    /// 1 from the shutdown signal until exit.
    pub draining: IntGauge,
    pub proxy_connections: IntGauge,
    pub background_task_restarts: IntCounterVec,
    pub header_rejections: IntCounterVec,
    pub log_reopens: IntCounter,
    /// `weir_tls_handshakes_total{result}`.
    pub tls_handshakes: IntCounterVec,
    /// `weir_http_connections_total{version}`: client connections by HTTP version.
    pub http_connections: IntCounterVec,
    /// `weir_tls_certificate_expiry_timestamp_seconds{name}`.
    pub tls_certificate_expiry: IntGaugeVec,
    /// `weir_acme_orders_total{result}`: ACME orders, `ok` or `error`.
    pub acme_orders: IntCounterVec,
    /// `weir_acme_renewal_failures_total`: failed orders for a name that had a certificate.
    pub acme_renewal_failures: IntCounter,
    /// `weir_http2_streams_total{transport}`: streams opened by HTTP/2 clients.
    pub http2_streams: IntCounterVec,
    /// `weir_http2_resets_total{by, reason}`: RST_STREAM frames, by the side that sent them.
    pub http2_resets: IntCounterVec,
    /// `weir_http2_goaways_total{by, reason}`: GOAWAY frames, by the side that sent them.
    pub http2_goaways: IntCounterVec,
    /// `weir_upstream_resolutions_total{name, result}`: lookups of endpoint names.
    pub upstream_resolutions: IntCounterVec,
    /// `weir_upstream_resolved_addresses{name}`: the addresses an endpoint name stands for.
    pub upstream_resolved_addresses: IntGaugeVec,
}

/// The `result` labels of `weir_tls_handshakes_total` (`tls::HandshakeOutcome`'s labels).
pub const TLS_HANDSHAKE_RESULTS: [&str; 4] = ["ok", "bad_sni", "timeout", "protocol_error"];

/// The `reason` labels of the HTTP/2 reset and GOAWAY counters: the error codes of RFC 9113
/// §7, at their code's index, then `other` for any code past them.
pub const HTTP2_ERROR_CODES: [&str; 15] = [
    "no_error",
    "protocol_error",
    "internal_error",
    "flow_control_error",
    "settings_timeout",
    "stream_closed",
    "frame_size_error",
    "refused_stream",
    "cancel",
    "compression_error",
    "connect_error",
    "enhance_your_calm",
    "inadequate_security",
    "http_1_1_required",
    "other",
];

/// The `by` labels of the HTTP/2 reset and GOAWAY counters.
pub const HTTP2_SIDES: [&str; 2] = ["client", "gateway"];

/// The background tasks run under `supervise`, by the name their restarts are counted under.
pub const BACKGROUND_TASKS: &[&str] = &[
    "health checks",
    "rate-limit janitor",
    "config watcher",
    "control-plane client",
    "admin listener",
    "log reopener",
    "acme",
    "name resolver",
    "telemetry sender",
];

/// Redis round trips are short: buckets from 0.1 ms to 100 ms.
const REDIS_BUCKETS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.1,
];

impl Metrics {
    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<_> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<_> {
            let g = IntGaugeVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<_> {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            let h = HistogramVec::new(opts, labels)?;
            registry.register(Box::new(h.clone()))?;
            Ok(h)
        };
        let config_version = IntGauge::new(
            "weir_config_version",
            "Version of the config this gateway serves (from a file: 1 for the first loaded, then +1 per applied change; from a control plane: its version, 0 before the first).",
        )?;
        registry.register(Box::new(config_version.clone()))?;
        let access_log_dropped = IntCounter::new(
            "weir_access_log_dropped_total",
            "Access-log lines dropped because the writer fell behind.",
        )?;
        registry.register(Box::new(access_log_dropped.clone()))?;
        let config_reloads = counter(
            "weir_config_reloads_total",
            "Config reload attempts by result (ok, error, restart_required).",
            &["result"],
        )?;
        // Export every result from the start, so rate() and alerts see a 0 before the first event.
        for result in ["ok", "error", "restart_required"] {
            config_reloads.with_label_values(&[result]);
        }
        let control_plane_connected = IntGauge::new(
            "weir_control_plane_connected",
            "1 while the push stream from the control plane is open.",
        )?;
        registry.register(Box::new(control_plane_connected.clone()))?;
        let gateway_in_flight = IntGauge::new(
            "weir_gateway_in_flight",
            "Requests in progress in the gateway (sampled when scraped).",
        )?;
        registry.register(Box::new(gateway_in_flight.clone()))?;
        let shed = counter(
            "weir_shed_total",
            "Requests shed with 503, by where (gateway cap, upstream bulkhead, pending connects) and priority class.",
            &["scope", "priority"],
        )?;
        for scope in ["gateway", "upstream", "connect"] {
            for priority in weir_config::Priority::ALL {
                shed.with_label_values(&[scope, priority.as_str()]);
            }
        }
        let build_info = IntGaugeVec::new(
            Opts::new(
                "weir_build_info",
                "Always 1; the labels say which build of the gateway runs.",
            ),
            &["version", "pingora"],
        )?;
        registry.register(Box::new(build_info.clone()))?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION"), "0.9"])
            .set(1);
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        let draining = IntGauge::new(
            "weir_draining",
            "1 from a shutdown signal (SIGTERM) until the process exits: not ready, finishing requests in flight.",
        )?;
        registry.register(Box::new(draining.clone()))?;
        let proxy_connections = IntGauge::new(
            "weir_proxy_connections",
            "Client connections open on the proxy listener (sampled when scraped).",
        )?;
        registry.register(Box::new(proxy_connections.clone()))?;
        let background_task_restarts = counter(
            "weir_background_task_restarts_total",
            "Background tasks restarted after they panicked or stopped before shutdown, by task.",
            &["task"],
        )?;
        for task in BACKGROUND_TASKS {
            background_task_restarts.with_label_values(&[task]);
        }
        let header_rejections = counter(
            "weir_header_rejections_total",
            "Client connections closed while sending a request header, by reason (timeout: listen.header_read_timeout passed; too_large: over listen.max_header_bytes).",
            &["reason"],
        )?;
        for reason in ["timeout", "too_large"] {
            header_rejections.with_label_values(&[reason]);
        }
        let tls_handshakes = counter(
            "weir_tls_handshakes_total",
            "TLS handshakes on the HTTPS listeners, by result (ok; bad_sni: unknown name with tls.unknown_sni = \"reject\"; timeout: tls.handshake_timeout passed; protocol_error: anything else).",
            &["result"],
        )?;
        for result in TLS_HANDSHAKE_RESULTS {
            tls_handshakes.with_label_values(&[result]);
        }
        let http_connections = counter(
            "weir_http_connections_total",
            "Client connections served, by HTTP version (1.1, 2) and transport (tls, plain).",
            &["version", "transport"],
        )?;
        for version in ["1.1", "2"] {
            for transport in ["tls", "plain"] {
                http_connections.with_label_values(&[version, transport]);
            }
        }
        let http2_streams = counter(
            "weir_http2_streams_total",
            "Streams opened by HTTP/2 clients (HEADERS on a new stream), by transport (tls, plain).",
            &["transport"],
        )?;
        for transport in ["tls", "plain"] {
            http2_streams.with_label_values(&[transport]);
        }
        let http2_resets = counter(
            "weir_http2_resets_total",
            "HTTP/2 streams reset (RST_STREAM frames), by the side that sent them (client, gateway) and error code (cancel, refused_stream, protocol_error...).",
            &["by", "reason"],
        )?;
        let http2_goaways = counter(
            "weir_http2_goaways_total",
            "HTTP/2 GOAWAY frames, by the side that sent them (client, gateway) and error code (no_error: a graceful close; enhance_your_calm: the reset-flood guard...).",
            &["by", "reason"],
        )?;
        for by in HTTP2_SIDES {
            for reason in HTTP2_ERROR_CODES {
                http2_resets.with_label_values(&[by, reason]);
                http2_goaways.with_label_values(&[by, reason]);
            }
        }
        let tls_certificate_expiry = gauge(
            "weir_tls_certificate_expiry_timestamp_seconds",
            "When each served certificate expires (Unix seconds), by the first name it serves.",
            &["name"],
        )?;
        let acme_orders = counter(
            "weir_acme_orders_total",
            "ACME certificate orders ([[tls.acme]]), by result (ok, error).",
            &["result"],
        )?;
        for result in ["ok", "error"] {
            acme_orders.with_label_values(&[result]);
        }
        let acme_renewal_failures = IntCounter::new(
            "weir_acme_renewal_failures_total",
            "Failed ACME renewals: the previous certificate keeps serving until a retry succeeds.",
        )?;
        registry.register(Box::new(acme_renewal_failures.clone()))?;
        let log_reopens = IntCounter::new(
            "weir_log_reopens_total",
            "Access-log reopens asked for by SIGUSR1.",
        )?;
        registry.register(Box::new(log_reopens.clone()))?;
        let upstream_resolutions = counter(
            "weir_upstream_resolutions_total",
            "Lookups of endpoint DNS names, by name and result (ok; empty or error: the last good addresses are kept).",
            &["name", "result"],
        )?;
        let upstream_resolved_addresses = gauge(
            "weir_upstream_resolved_addresses",
            "Addresses an endpoint DNS name stands for now (its last good answer, capped by resolver.max_addresses).",
            &["name"],
        )?;
        Ok(Self {
            upstream_resolutions,
            upstream_resolved_addresses,
            draining,
            proxy_connections,
            background_task_restarts,
            header_rejections,
            log_reopens,
            tls_handshakes,
            http_connections,
            tls_certificate_expiry,
            acme_orders,
            acme_renewal_failures,
            http2_streams,
            http2_resets,
            http2_goaways,
            retries_refused: counter(
                "weir_retries_refused_total",
                "Retries wanted but not made, by reason (budget_exhausted, attempts_exhausted, deadline).",
                &["upstream", "reason"],
            )?,
            timeouts: counter(
                "weir_timeouts_total",
                "Attempts that timed out, by route, upstream and kind (connect, read, deadline; downstream_write: the client did not read the answer in time, never counted against the upstream).",
                &["route", "upstream", "kind"],
            )?,
            breaker_state_upstream: gauge(
                "weir_upstream_breaker_state",
                "State of the upstream's circuit breaker: 0 closed, 1 open, 2 half-open (sampled when scraped).",
                &["upstream"],
            )?,
            breaker_state_endpoint: gauge(
                "weir_endpoint_breaker_state",
                "State of the endpoint's circuit breaker: 0 closed, 1 open, 2 half-open (sampled when scraped).",
                &["upstream", "region", "endpoint"],
            )?,
            breaker_transitions: counter(
                "weir_breaker_transitions_total",
                "Circuit-breaker transitions, by upstream, scope (endpoint, upstream) and new state.",
                &["upstream", "scope", "to"],
            )?,
            breaker_rejections: counter(
                "weir_breaker_rejections_total",
                "Requests failed fast (503) because the upstream's circuit breaker was open.",
                &["upstream"],
            )?,
            bulkhead_in_flight: gauge(
                "weir_bulkhead_in_flight",
                "Requests in progress to the upstream (sampled when scraped).",
                &["upstream"],
            )?,
            bulkhead_limit: gauge(
                "weir_bulkhead_limit",
                "The upstream's in-flight cap now (the adaptive limit when configured).",
                &["upstream"],
            )?,
            gateway_in_flight,
            shed,
            faults: counter(
                "weir_faults_injected_total",
                "Faults injected by route fault settings, by route and kind (delay, abort).",
                &["route", "kind"],
            )?,
            redirects: counter(
                "weir_redirects_total",
                "Plain-HTTP requests answered 308 to HTTPS (redirect_https), by route.",
                &["route"],
            )?,
            upstream_tls_failures: counter(
                "weir_upstream_tls_failures_total",
                "TLS connections to endpoints that failed, by reason (certificate: the endpoint's certificate failed verification; handshake: any other handshake failure).",
                &["upstream", "region", "reason"],
            )?,
            requests: counter(
                "weir_requests_total",
                "Requests answered, by route, upstream, region and status code.",
                &["route", "upstream", "region", "code"],
            )?,
            request_duration: histogram(
                "weir_request_duration_seconds",
                "Time from request start to the end of the response, by route.",
                &["route"],
            )?,
            upstream_duration: histogram(
                "weir_upstream_duration_seconds",
                "Time from sending to an upstream to its response header, by upstream and region.",
                &["upstream", "region"],
            )?,
            endpoint_healthy: gauge(
                "weir_endpoint_healthy",
                "1 when the endpoint passes its health checks (or has none), 0 when marked down.",
                &["upstream", "region", "endpoint"],
            )?,
            endpoint_drained: gauge(
                "weir_endpoint_drained",
                "1 while an operator has the endpoint drained (pools[].drained): no new requests.",
                &["upstream", "region", "endpoint"],
            )?,
            endpoint_ejected: gauge(
                "weir_endpoint_ejected",
                "1 while passive outlier detection has the endpoint ejected.",
                &["upstream", "region", "endpoint"],
            )?,
            config_version,
            config_reloads,
            control_plane_connected,
            control_plane_streams: counter(
                "weir_control_plane_streams_total",
                "Push streams to the control plane that ended, by reason (closed, timeout, refused, error).",
                &["reason"],
            )?,
            control_plane_pushes: counter(
                "weir_control_plane_pushes_total",
                "Config versions received from the control plane, by outcome (ack, nack, stale: refused as not newer than the version served).",
                &["outcome"],
            )?,
            control_plane_telemetry: counter(
                "weir_control_plane_telemetry_total",
                "Health summaries posted to the control plane, by outcome (sent, refused, failed, timeout); one not sent is never retried.",
                &["outcome"],
            )?,
            control_plane_reports: counter(
                "weir_control_plane_reports_total",
                "Reports to the control plane, by outcome (sent, refused, failed, timeout, superseded: replaced by a newer one before it was sent).",
                &["outcome"],
            )?,
            ejections: counter(
                "weir_ejections_total",
                "Endpoints ejected by passive outlier detection.",
                &["upstream", "region"],
            )?,
            panic_routing: counter(
                "weir_panic_routing_total",
                "Requests routed in panic mode (no healthy pool) to any endpoint.",
                &["upstream"],
            )?,
            spill_routing: counter(
                "weir_spill_routing_total",
                "Requests sent out of the gateway's own region because it was unhealthy or drained.",
                &["upstream", "region"],
            )?,
            connect_failures: counter(
                "weir_upstream_connect_failures_total",
                "Failed connection attempts to endpoints.",
                &["upstream", "region"],
            )?,
            upstream_failures: counter(
                "weir_upstream_failures_total",
                "Attempts that failed after the connection was made, by kind (status_5xx: a 5xx answer; exchange: no answer, the exchange broke or timed out).",
                &["upstream", "region", "kind"],
            )?,
            retries: counter(
                "weir_retries_total",
                "Requests retried on another endpoint, by reason.",
                &["upstream", "reason"],
            )?,
            health_checks: counter(
                "weir_health_checks_total",
                "Active health checks by result (success, failure).",
                &["upstream", "region", "result"],
            )?,
            access_log_dropped,
            ratelimit_decisions: counter(
                "weir_ratelimit_decisions_total",
                "Rate-limit checks by policy and decision (admitted, limited, store_error).",
                &["policy", "decision"],
            )?,
            ratelimit_fallbacks: counter(
                "weir_ratelimit_store_fallbacks_total",
                "Global checks decided without Redis, by policy and what on_store_error did (local_admitted, local_limited, allowed, denied).",
                &["policy", "action"],
            )?,
            ratelimit_keys: gauge(
                "weir_ratelimit_keys",
                "Keys with their own local bucket, by policy (sampled every second).",
                &["policy"],
            )?,
            redis_duration: {
                let opts = HistogramOpts::new(
                    "weir_ratelimit_redis_duration_seconds",
                    "Round trips to Redis for global limits, by outcome (ok, error, timeout).",
                )
                .buckets(REDIS_BUCKETS.to_vec());
                let h = HistogramVec::new(opts, &["outcome"])?;
                registry.register(Box::new(h.clone()))?;
                h
            },
            registry,
        })
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        let families = self.registry.gather();
        // Encoding into a Vec cannot fail for well-formed families.
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::error!(error = %e, "failed to encode metrics");
        }
        out
    }

    /// Forget the series of a rate-limit policy that the config no longer names.
    pub fn forget_policy(&self, policy: &str) {
        for decision in ["admitted", "limited", "store_error"] {
            let _ = self
                .ratelimit_decisions
                .remove_label_values(&[policy, decision]);
        }
        for action in ["local_admitted", "local_limited", "allowed", "denied"] {
            let _ = self
                .ratelimit_fallbacks
                .remove_label_values(&[policy, action]);
        }
        let _ = self.ratelimit_keys.remove_label_values(&[policy]);
    }

    /// Forget the label sets of an endpoint that the config no longer names.
    pub fn forget_endpoint(&self, upstream: &str, region: &str, endpoint: &str) {
        let labels = [upstream, region, endpoint];
        let _ = self.endpoint_healthy.remove_label_values(&labels);
        let _ = self.endpoint_drained.remove_label_values(&labels);
        let _ = self.endpoint_ejected.remove_label_values(&labels);
        let _ = self.breaker_state_endpoint.remove_label_values(&labels);
    }

    /// Forget the per-route series of a route the config no longer names.
    pub fn forget_route(&self, route: &str) {
        let _ = self.request_duration.remove_label_values(&[route]);
        for kind in ["delay", "abort"] {
            let _ = self.faults.remove_label_values(&[route, kind]);
        }
        let _ = self.redirects.remove_label_values(&[route]);
    }

    /// Forget the per-upstream resilience series of an upstream the config no longer names.
    pub fn forget_upstream(&self, upstream: &str) {
        for reason in ["connect_failure", "reset", "status"] {
            let _ = self.retries.remove_label_values(&[upstream, reason]);
        }
        for reason in ["budget_exhausted", "attempts_exhausted", "deadline"] {
            let _ = self
                .retries_refused
                .remove_label_values(&[upstream, reason]);
        }
        for scope in ["endpoint", "upstream"] {
            for to in ["closed", "open", "half_open"] {
                let _ = self
                    .breaker_transitions
                    .remove_label_values(&[upstream, scope, to]);
            }
        }
        let _ = self.panic_routing.remove_label_values(&[upstream]);
        let _ = self.breaker_state_upstream.remove_label_values(&[upstream]);
        let _ = self.breaker_rejections.remove_label_values(&[upstream]);
        let _ = self.bulkhead_in_flight.remove_label_values(&[upstream]);
        let _ = self.bulkhead_limit.remove_label_values(&[upstream]);
    }
}
