//! weir-dns's Prometheus metrics, registered on one registry passed around. Every label value is
//! bounded: record types and rcodes from fixed lists, names, regions and probe targets from the
//! config (the member gauge is rebuilt from the live config at each scrape, and a removed probe
//! target's series are dropped).

use std::collections::HashMap;
use std::sync::Arc;

use hickory_proto::op::ResponseCode;
use hickory_proto::rr::RecordType;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::catalog::Decision;

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

/// One worker's handles to the per-query counters, so counting a query is an atomic add rather
/// than a label hash and a lock (`with_label_values`) each time. Handles are made on first use,
/// so no series appears before its first query, as with `with_label_values`.
#[derive(Default)]
pub struct QueryCounters {
    /// `(qtype, rcode, protocol)`: a handful in practice, found by a short scan.
    queries: Vec<(&'static str, &'static str, &'static str, IntCounter)>,
    /// By the addresses of the decision's name and region, whose `Arc`s are kept here so the
    /// addresses cannot be reused by other strings while they are keys.
    decisions: HashMap<(usize, usize, bool), KeptDecision>,
    /// The last decision counted: most queries in a row ask the same name.
    last: Option<(Arc<str>, Arc<str>, bool, IntCounter)>,
}

/// A decision's handle with the strings whose addresses key it.
struct KeptDecision {
    _name: Arc<str>,
    _region: Arc<str>,
    counter: IntCounter,
}

/// Decision handles kept before the cache is cleared (each config reload makes new names).
const MAX_CACHED_DECISIONS: usize = 4_096;

impl QueryCounters {
    /// Counts one `weir_dns_queries_total{protocol, qtype, rcode}`.
    pub fn count_query(
        &mut self,
        metrics: &Metrics,
        protocol: &'static str,
        qtype: &'static str,
        rcode: &'static str,
    ) {
        let found = self
            .queries
            .iter()
            .position(|(t, r, p, _)| *t == qtype && *r == rcode && *p == protocol);
        let index = found.unwrap_or_else(|| {
            let counter = metrics.queries.with_label_values(&[protocol, qtype, rcode]);
            self.queries.push((qtype, rcode, protocol, counter));
            self.queries.len() - 1
        });
        self.queries[index].3.inc();
    }

    /// Counts one `weir_dns_policy_decisions_total{name, region, all_down}`.
    pub fn count_decision(&mut self, metrics: &Metrics, decision: &Decision) {
        if let Some((name, region, all_down, counter)) = &self.last
            && Arc::ptr_eq(name, &decision.name)
            && Arc::ptr_eq(region, &decision.region)
            && *all_down == decision.all_down
        {
            counter.inc();
            return;
        }
        let counter = self.lookup(metrics, decision).clone();
        counter.inc();
        self.last = Some((
            decision.name.clone(),
            decision.region.clone(),
            decision.all_down,
            counter,
        ));
    }

    fn lookup(&mut self, metrics: &Metrics, decision: &Decision) -> &IntCounter {
        let key = (
            Arc::as_ptr(&decision.name).cast::<u8>() as usize,
            Arc::as_ptr(&decision.region).cast::<u8>() as usize,
            decision.all_down,
        );
        if !self.decisions.contains_key(&key) && self.decisions.len() >= MAX_CACHED_DECISIONS {
            self.decisions.clear();
        }
        let kept = self.decisions.entry(key).or_insert_with(|| {
            let counter = metrics.decisions.with_label_values(&[
                &*decision.name,
                &*decision.region,
                if decision.all_down { "true" } else { "false" },
            ]);
            KeptDecision {
                _name: decision.name.clone(),
                _region: decision.region.clone(),
                counter,
            }
        });
        &kept.counter
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
    fn cached_handles_count_the_same_series_as_the_labels() {
        let metrics = Metrics::new();
        let mut counters = QueryCounters::default();
        for _ in 0..3 {
            counters.count_query(&metrics, "udp", "A", "NOERROR");
        }
        counters.count_query(&metrics, "udp", "AAAA", "NOERROR");
        counters.count_query(&metrics, "udp", "A", "NXDOMAIN");
        let queries = |labels: &[&str]| metrics.queries.with_label_values(labels).get();
        assert_eq!(queries(&["udp", "A", "NOERROR"]), 3);
        assert_eq!(queries(&["udp", "AAAA", "NOERROR"]), 1);
        assert_eq!(queries(&["udp", "A", "NXDOMAIN"]), 1);
        // Equal names in other allocations (a reload) and alternating names count apart.
        let decision = |name: &str, region: &str, all_down| Decision {
            name: Arc::from(name),
            region: Arc::from(region),
            all_down,
        };
        let (east, west) = (
            decision("a", "us-east", false),
            decision("a", "eu-west", false),
        );
        for _ in 0..2 {
            counters.count_decision(&metrics, &east);
            counters.count_decision(&metrics, &west);
        }
        counters.count_decision(&metrics, &decision("a", "us-east", false));
        let east_down = Decision {
            name: east.name.clone(),
            region: east.region.clone(),
            all_down: true,
        };
        counters.count_decision(&metrics, &east);
        counters.count_decision(&metrics, &east_down);
        let decisions = |labels: &[&str]| metrics.decisions.with_label_values(labels).get();
        assert_eq!(decisions(&["a", "us-east", "false"]), 4);
        assert_eq!(decisions(&["a", "eu-west", "false"]), 2);
        assert_eq!(decisions(&["a", "us-east", "true"]), 1);
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
