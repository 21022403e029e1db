//! Prometheus metrics of the control plane, registered once in a registry the API owns. Labels
//! are bounded: route templates, status codes, actions and outcomes, never a gateway id or token.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub config_version: IntGauge,
    pub commits: IntCounterVec,
    pub commit_duration: Histogram,
    pub gateways_connected: IntGauge,
    pub pushes: IntCounter,
    pub reports: IntCounterVec,
    pub gateways_known: IntGauge,
    pub gateways_refused: IntCounterVec,
    pub bodies_refused: IntCounterVec,
    pub telemetry: IntCounterVec,
    pub telemetry_gateways: IntGauge,
    pub telemetry_stale: IntGauge,
}

impl Metrics {
    /// The registry, for a component that registers its own metrics.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn new() -> prometheus::Result<Self> {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<_> {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok(c)
        };
        let requests = counter(
            "weir_cp_requests_total",
            "API requests by route template and status code.",
            &["route", "status"],
        )?;
        let auth_failures = counter(
            "weir_cp_auth_failures_total",
            "Requests refused by authentication or role (missing, invalid, forbidden).",
            &["reason"],
        )?;
        let commits = counter(
            "weir_cp_commits_total",
            "Config versions written, by action.",
            &["action"],
        )?;
        let reports = counter(
            "weir_cp_reports_total",
            "ACK and NACK reports received from gateways.",
            &["outcome"],
        )?;
        let gateways_refused = counter(
            "weir_cp_gateways_refused_total",
            "New gateway ids refused by a cap (token_cap, fleet_cap).",
            &["reason"],
        )?;
        let bodies_refused = counter(
            "weir_cp_bodies_refused_total",
            "Request bodies refused before a handler saw them (too_large, timeout, broken).",
            &["reason"],
        )?;
        let telemetry = counter(
            "weir_cp_telemetry_total",
            "Gateway health summaries received, by result (accepted, malformed, invalid, refused).",
            &["result"],
        )?;
        let telemetry_gateways = IntGauge::new(
            "weir_cp_telemetry_gateways",
            "Gateways whose health summaries the control plane keeps.",
        )?;
        registry.register(Box::new(telemetry_gateways.clone()))?;
        let telemetry_stale = IntGauge::new(
            "weir_cp_telemetry_stale_gateways",
            "Gateways with no health summary within 3 of their intervals.",
        )?;
        registry.register(Box::new(telemetry_stale.clone()))?;
        let gateways_known = IntGauge::new(
            "weir_cp_gateways_known",
            "Gateways the control plane remembers (connected or not).",
        )?;
        registry.register(Box::new(gateways_known.clone()))?;
        let config_version = IntGauge::new("weir_cp_config_version", "The current version.")?;
        registry.register(Box::new(config_version.clone()))?;
        let gateways_connected = IntGauge::new("weir_cp_gateways_connected", "Open push streams.")?;
        registry.register(Box::new(gateways_connected.clone()))?;
        let pushes = IntCounter::new(
            "weir_cp_pushes_total",
            "Config messages sent on push streams.",
        )?;
        registry.register(Box::new(pushes.clone()))?;
        let commit_duration = Histogram::with_opts(
            HistogramOpts::new(
                "weir_cp_commit_duration_seconds",
                "Time to write a version durably (fsyncs included).",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )?;
        registry.register(Box::new(commit_duration.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            auth_failures,
            config_version,
            commits,
            commit_duration,
            gateways_connected,
            pushes,
            reports,
            gateways_known,
            gateways_refused,
            bodies_refused,
            telemetry,
            telemetry_gateways,
            telemetry_stale,
        })
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}
