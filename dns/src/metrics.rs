//! weir-dns's Prometheus metrics, registered on one registry passed around. Every label value is
//! bounded: record types and rcodes from fixed lists, names, regions and probe targets from the
//! config (the member gauge is rebuilt from the live config at each scrape, and a removed probe
//! target's series are dropped).

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

pub struct Metrics {
    pub registry: Registry,
    /// `weir_dns_queries_total{protocol, qtype, rcode}`.
    pub queries: IntCounterVec,
    /// `weir_dns_policy_decisions_total{name, region, all_down}`: which region a name answered.
    pub decisions: IntCounterVec,
    /// `weir_dns_member_healthy{name, member, region}`: 1 when a member may be answered
    /// (healthy with weight > 0).
    pub member_healthy: IntGaugeVec,
    /// `weir_dns_probes_total{target, result}`: probe outcomes (`ok` or `fail`).
    pub probes: IntCounterVec,
    /// `weir_dns_probe_target_up{target}`: a probe target's hysteresis state.
    pub target_up: IntGaugeVec,
    /// `weir_dns_config_reloads_total{result}`: `applied` or `rejected`.
    pub reloads: IntCounterVec,
    /// `weir_dns_config_generation`: how many configs were applied since start.
    pub generation: IntGauge,
    /// `weir_dns_query_log_dropped_total`: query log lines dropped because the writer lagged.
    pub log_dropped: IntCounter,
    /// `weir_dns_control_plane_connected`: 1 while the push stream is open.
    pub control_plane_connected: IntGauge,
    /// `weir_dns_control_plane_streams_total{reason}`: streams ended (`error`, `refused`,
    /// `timeout`, `closed`).
    pub control_plane_streams: IntCounterVec,
    /// `weir_dns_control_plane_pushes_total{outcome}`: pushed versions (`ack`, `nack`, `stale`).
    pub control_plane_pushes: IntCounterVec,
    /// `weir_dns_control_plane_reports_total{outcome}`: reports (`sent`, `refused`, `failed`,
    /// `timeout`, `superseded`).
    pub control_plane_reports: IntCounterVec,
    /// `weir_dns_gateway_view`: 1 while the control plane's view of the gateways' readiness is
    /// used, 0 when answering by probes alone (no control plane, or not heard from yet).
    pub gateway_view: IntGauge,
    /// `weir_dns_region_gateways{region, state}`: the gateways of a configured region as the
    /// control plane last said (`known`, `ready`); no series when probes alone judge it.
    pub region_gateways: IntGaugeVec,
}

fn counter_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let metric = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let metric = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let generation = IntGauge::new(
            "weir_dns_config_generation",
            "Configs applied since the process started",
        )
        .expect("valid metric");
        registry
            .register(Box::new(generation.clone()))
            .expect("registered once");
        let log_dropped = IntCounter::new(
            "weir_dns_query_log_dropped_total",
            "Query log lines dropped because the log writer fell behind",
        )
        .expect("valid metric");
        registry
            .register(Box::new(log_dropped.clone()))
            .expect("registered once");
        let control_plane_connected = IntGauge::new(
            "weir_dns_control_plane_connected",
            "1 while the control plane's push stream is open",
        )
        .expect("valid metric");
        registry
            .register(Box::new(control_plane_connected.clone()))
            .expect("registered once");
        let gateway_view = IntGauge::new(
            "weir_dns_gateway_view",
            "1 while the control plane's gateway readiness is used with the probes, 0 when \
             answering by probes alone",
        )
        .expect("valid metric");
        registry
            .register(Box::new(gateway_view.clone()))
            .expect("registered once");
        Metrics {
            gateway_view,
            region_gateways: gauge_vec(
                &registry,
                "weir_dns_region_gateways",
                "Gateways of a region as the control plane last said, known and ready",
                &["region", "state"],
            ),
            control_plane_connected,
            control_plane_streams: counter_vec(
                &registry,
                "weir_dns_control_plane_streams_total",
                "Push streams ended, by reason",
                &["reason"],
            ),
            control_plane_pushes: counter_vec(
                &registry,
                "weir_dns_control_plane_pushes_total",
                "Pushed config versions, by outcome",
                &["outcome"],
            ),
            control_plane_reports: counter_vec(
                &registry,
                "weir_dns_control_plane_reports_total",
                "Reports to the control plane, by outcome",
                &["outcome"],
            ),
            queries: counter_vec(
                &registry,
                "weir_dns_queries_total",
                "DNS queries answered, by protocol, record type and response code",
                &["protocol", "qtype", "rcode"],
            ),
            decisions: counter_vec(
                &registry,
                "weir_dns_policy_decisions_total",
                "GSLB answers by name and the region of the first member answered",
                &["name", "region", "all_down"],
            ),
            member_healthy: gauge_vec(
                &registry,
                "weir_dns_member_healthy",
                "1 when a member may be answered (healthy, weight > 0)",
                &["name", "member", "region"],
            ),
            probes: counter_vec(
                &registry,
                "weir_dns_probes_total",
                "Health probes by target and result",
                &["target", "result"],
            ),
            target_up: gauge_vec(
                &registry,
                "weir_dns_probe_target_up",
                "1 when a probe target is up after hysteresis",
                &["target"],
            ),
            reloads: counter_vec(
                &registry,
                "weir_dns_config_reloads_total",
                "Config loads by result",
                &["result"],
            ),
            generation,
            log_dropped,
            registry,
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// The `qtype` label: the types we answer by name, every other one as `other`.
pub fn qtype_label(qtype: RecordType) -> &'static str {
    match qtype {
        RecordType::A => "A",
        RecordType::AAAA => "AAAA",
        RecordType::SOA => "SOA",
        RecordType::NS => "NS",
        RecordType::ANY => "ANY",
        RecordType::TXT => "TXT",
        RecordType::CNAME => "CNAME",
        RecordType::MX => "MX",
        RecordType::HTTPS => "HTTPS",
        _ => "other",
    }
}

/// The `rcode` label, from a fixed list.
pub fn rcode_label(rcode: ResponseCode) -> &'static str {
    match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::BADVERS => "BADVERS",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(qtype_label(RecordType::A), "A");
        assert_eq!(qtype_label(RecordType::Unknown(65_000)), "other");
        assert_eq!(rcode_label(ResponseCode::NXDomain), "NXDOMAIN");
        assert_eq!(rcode_label(ResponseCode::Unknown(3_000)), "other");
    }

    #[test]
    fn every_metric_is_named_weir_dns() {
        let metrics = Metrics::new();
        metrics
            .queries
            .with_label_values(&["udp", "A", "NOERROR"])
            .inc();
        metrics
            .decisions
            .with_label_values(&["a", "b", "false"])
            .inc();
        metrics
            .member_healthy
            .with_label_values(&["a", "0", "b"])
            .set(1);
        metrics.probes.with_label_values(&["t", "ok"]).inc();
        metrics.target_up.with_label_values(&["t"]).set(1);
        metrics.reloads.with_label_values(&["applied"]).inc();
        metrics.control_plane_connected.set(1);
        metrics
            .control_plane_streams
            .with_label_values(&["closed"])
            .inc();
        metrics
            .control_plane_pushes
            .with_label_values(&["ack"])
            .inc();
        metrics
            .control_plane_reports
            .with_label_values(&["sent"])
            .inc();
        metrics.gateway_view.set(1);
        metrics
            .region_gateways
            .with_label_values(&["us-east", "ready"])
            .set(1);
        let families = metrics.registry.gather();
        assert_eq!(families.len(), 14);
        assert!(families.iter().all(|f| f.name().starts_with("weir_dns_")));
    }
}
