//! What the control plane tells weir-dns about the gateways, per region: how many it knows and
//! how many are ready (their push stream is open; a gateway closes it when it starts draining on
//! SIGTERM, and a dead one drops it). Pushed on weir-dns's stream on connect and on every change,
//! capped so one message stays small whatever the fleet holds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Most regions one message carries (the rest are left out: judged by probes alone).
pub const MAX_READINESS_REGIONS: usize = 1024;

/// The gateways of every region the control plane knows gateways in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayReadiness {
    /// By region name (as in `gateway.region`); a region without a known gateway is absent.
    pub regions: BTreeMap<String, RegionGateways>,
}

/// The gateways of one region.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionGateways {
    /// Gateways the control plane remembers in this region (connected or not).
    pub known: u32,
    /// Of those, the ones ready now (push stream open).
    pub ready: u32,
}

impl RegionGateways {
    /// The rule weir-dns answers by: a region whose known gateways are all not ready is out of
    /// the answers; a region with no known gateway is judged by probes alone.
    pub fn all_down(&self) -> bool {
        self.known > 0 && self.ready == 0
    }
}

impl GatewayReadiness {
    /// Counts one gateway of `region` (ready or not); regions past [`MAX_READINESS_REGIONS`]
    /// are left out.
    pub fn count(&mut self, region: &str, ready: bool) {
        if !self.regions.contains_key(region) && self.regions.len() >= MAX_READINESS_REGIONS {
            return;
        }
        let counts = self.regions.entry(region.to_string()).or_default();
        counts.known = counts.known.saturating_add(1);
        counts.ready = counts.ready.saturating_add(u32::from(ready));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StreamMessage;

    #[test]
    fn a_region_is_down_only_when_every_known_gateway_is_not_ready() {
        let mut readiness = GatewayReadiness::default();
        readiness.count("us-east", false);
        readiness.count("us-east", true);
        readiness.count("eu-west", false);
        assert_eq!(
            readiness.regions["us-east"],
            RegionGateways { known: 2, ready: 1 }
        );
        assert!(!readiness.regions["us-east"].all_down());
        assert!(readiness.regions["eu-west"].all_down());
        assert!(
            !RegionGateways::default().all_down(),
            "none known: probes alone"
        );
        for i in 0..MAX_READINESS_REGIONS + 10 {
            readiness.count(&format!("r{i}"), true);
        }
        assert_eq!(readiness.regions.len(), MAX_READINESS_REGIONS);
        let line = StreamMessage::Gateways(readiness.clone()).to_line();
        assert!(line.starts_with(r#"{"type":"gateways","regions":{"#));
        let back: StreamMessage = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(back, StreamMessage::Gateways(readiness));
    }
}
