//! The gateways' readiness as the control plane last said it, one [`Gate`] per configured region:
//! a region whose known gateways are all not ready is out of the answers (whatever its probes
//! say); a region with no known gateway, and every region while the control plane is gone, is
//! judged by probes alone. The answer path reads one atomic per member; this cannot fail.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use weir_protocol::{GatewayReadiness, RegionGateways};

use crate::metrics::Metrics;

/// One region's verdict from the gateways.
#[derive(Debug, Default)]
pub struct Gate {
    /// Every known gateway of the region is not ready: its members are not answered.
    out: AtomicBool,
    /// The counts the verdict came from (`None`: probes alone), for status and reports.
    counts: Mutex<Option<RegionGateways>>,
}

impl Gate {
    pub fn is_out(&self) -> bool {
        self.out.load(Ordering::Relaxed)
    }

    /// The counts the verdict came from, `None` when probes alone judge the region.
    pub fn counts(&self) -> Option<RegionGateways> {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the counts; returns whether the region went out or came back.
    fn set(&self, counts: Option<RegionGateways>) -> bool {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner) = counts;
        let out = counts.is_some_and(|counts| counts.all_down());
        self.out.swap(out, Ordering::Relaxed) != out
    }
}

#[derive(Default)]
struct Inner {
    gates: HashMap<String, Arc<Gate>>,
    /// The control plane's last view; `None` while it is gone.
    view: Option<GatewayReadiness>,
}

impl Inner {
    fn counts(&self, region: &str) -> Option<RegionGateways> {
        self.view.as_ref()?.regions.get(region).copied()
    }
}

/// Every configured region's gate, kept across reloads (by region name).
pub struct Gates {
    inner: Mutex<Inner>,
    metrics: Arc<Metrics>,
}

impl Gates {
    pub fn new(metrics: Arc<Metrics>) -> Gates {
        Gates {
            inner: Mutex::new(Inner::default()),
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The gate of `region`, made (with the last view) if the region is new.
    pub fn gate(&self, region: &str) -> Arc<Gate> {
        let mut inner = self.lock();
        if let Some(gate) = inner.gates.get(region) {
            return Arc::clone(gate);
        }
        let gate = Arc::new(Gate::default());
        gate.set(inner.counts(region));
        inner.gates.insert(region.to_string(), Arc::clone(&gate));
        gate
    }

    /// Drops the gates of regions no config names any more (after a config is applied).
    pub fn keep_only(&self, regions: &BTreeSet<&str>) {
        let mut inner = self.lock();
        inner
            .gates
            .retain(|region, _| regions.contains(region.as_str()));
        self.publish(&inner);
    }

    /// The control plane's new view: every gate follows it.
    pub fn apply(&self, readiness: GatewayReadiness) {
        let mut inner = self.lock();
        let first = inner.view.is_none();
        inner.view = Some(readiness);
        for (region, gate) in &inner.gates {
            let counts = inner.counts(region);
            if gate.set(counts) {
                match counts {
                    Some(counts) if counts.all_down() => tracing::warn!(
                        region,
                        known = counts.known,
                        "every gateway of the region is not ready: its members leave the answers"
                    ),
                    _ => tracing::info!(region, "the region's gateways are ready again"),
                }
            }
        }
        if first {
            tracing::info!("following the control plane's gateway readiness with the probes");
        }
        self.publish(&inner);
    }

    /// The control plane is gone: every region is judged by probes alone until it is back.
    pub fn forget(&self) {
        let mut inner = self.lock();
        if inner.view.take().is_some() {
            tracing::warn!(
                "no control plane: answering by probes alone, without the gateways' readiness"
            );
        }
        for gate in inner.gates.values() {
            gate.set(None);
        }
        self.publish(&inner);
    }

    /// Whether the control plane's view is in use.
    pub fn following(&self) -> bool {
        self.lock().view.is_some()
    }

    fn publish(&self, inner: &Inner) {
        self.metrics
            .gateway_view
            .set(i64::from(inner.view.is_some()));
        self.metrics.region_gateways.reset();
        for region in inner.gates.keys() {
            if let Some(counts) = inner.counts(region) {
                for (state, count) in [("known", counts.known), ("ready", counts.ready)] {
                    self.metrics
                        .region_gateways
                        .with_label_values(&[region.as_str(), state])
                        .set(i64::from(count));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(regions: &[(&str, u32, u32)]) -> GatewayReadiness {
        GatewayReadiness {
            regions: regions
                .iter()
                .map(|(region, known, ready)| {
                    (
                        region.to_string(),
                        RegionGateways {
                            known: *known,
                            ready: *ready,
                        },
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn a_region_with_no_ready_gateway_is_out_and_probes_alone_rule_without_a_view() {
        let metrics = Arc::new(Metrics::new());
        let gates = Gates::new(Arc::clone(&metrics));
        let east = gates.gate("us-east");
        let west = gates.gate("eu-west");
        assert!(!east.is_out() && !gates.following());
        gates.apply(view(&[("us-east", 2, 0), ("eu-west", 1, 1)]));
        assert!(east.is_out(), "both known gateways are not ready");
        assert!(!west.is_out());
        assert_eq!(east.counts(), Some(RegionGateways { known: 2, ready: 0 }));
        assert_eq!(metrics.gateway_view.get(), 1);
        assert_eq!(
            metrics
                .region_gateways
                .with_label_values(&["us-east", "known"])
                .get(),
            2
        );
        // A region the control plane knows no gateway in: probes alone.
        gates.apply(view(&[("eu-west", 1, 0)]));
        assert!(!east.is_out() && east.counts().is_none());
        assert!(west.is_out());
        // A gate made later starts from the last view; the same gate is shared by name.
        let later = gates.gate("ap-south");
        gates.apply(view(&[("ap-south", 1, 0)]));
        assert!(later.is_out() && Arc::ptr_eq(&later, &gates.gate("ap-south")));
        assert!(gates.gate("new").counts().is_none());
        // The control plane gone: probes alone everywhere.
        gates.forget();
        assert!(!later.is_out() && !west.is_out() && !gates.following());
        assert_eq!(metrics.gateway_view.get(), 0);
        gates.keep_only(&BTreeSet::from(["us-east"]));
        assert!(!Arc::ptr_eq(&later, &gates.gate("ap-south")), "dropped");
    }
}
