//! The store's own metrics: each operation against etcd timed and counted by result, the watch's
//! events, whether the watch is connected, and the leadership. Registered in the control plane's
//! registry when the store is built; `unregistered` for tests. Labels are fixed words, never a key
//! or a value.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

#[derive(Debug, Clone)]
pub struct StoreMetrics {
    /// `weir_cp_store_operations_total{op,result}`: `ok`, `conflict`, `unavailable`, `error`.
    pub operations: IntCounterVec,
    /// `weir_cp_store_operation_duration_seconds{op}`: a round trip to etcd, commit included.
    pub duration: HistogramVec,
    /// `weir_cp_store_watch_events_total{result}`: `applied` (a version another replica wrote),
    /// `own` (this replica's, already known), `reconnect`, `error`.
    pub watch_events: IntCounterVec,
    /// `weir_cp_store_watch_connected`: 1 while the watch on etcd is up.
    pub watch_connected: IntGauge,
    /// `weir_cp_leader`: 1 while this replica leads (always 1 on the file store).
    pub leader: IntGauge,
    /// `weir_cp_leader_changes_total`: times this replica became or stopped being the leader.
    pub leader_changes: IntCounter,
}

impl StoreMetrics {
    /// The metrics, registered in `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<StoreMetrics> {
        let metrics = StoreMetrics::unregistered()?;
        registry.register(Box::new(metrics.operations.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.watch_events.clone()))?;
        registry.register(Box::new(metrics.watch_connected.clone()))?;
        registry.register(Box::new(metrics.leader.clone()))?;
        registry.register(Box::new(metrics.leader_changes.clone()))?;
        Ok(metrics)
    }

    /// The metrics in no registry (tests, `migrate`).
    pub fn unregistered() -> prometheus::Result<StoreMetrics> {
        Ok(StoreMetrics {
            operations: IntCounterVec::new(
                Opts::new(
                    "weir_cp_store_operations_total",
                    "Operations on the etcd store, by operation and result.",
                ),
                &["op", "result"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "weir_cp_store_operation_duration_seconds",
                    "Time of an operation on the etcd store (a commit includes etcd's consensus).",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                ]),
                &["op"],
            )?,
            watch_events: IntCounterVec::new(
                Opts::new(
                    "weir_cp_store_watch_events_total",
                    "Events of the watch on etcd: applied, own, reconnect, error.",
                ),
                &["result"],
            )?,
            watch_connected: IntGauge::new(
                "weir_cp_store_watch_connected",
                "1 while the control plane's watch on etcd is connected.",
            )?,
            leader: IntGauge::new(
                "weir_cp_leader",
                "1 while this replica is the leader (runs the failover policy).",
            )?,
            leader_changes: IntCounter::new(
                "weir_cp_leader_changes_total",
                "Times this replica became or stopped being the leader.",
            )?,
        })
    }
}
