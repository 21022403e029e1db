//! Slow start by config: the endpoints a new config version puts back in service (their pool's
//! weight rises from 0, e.g. `weirctl restore REGION`, or an operator restores a drained
//! endpoint) begin the same ramp as an endpoint that recovered (`resilience/slow_start.rs`).
//! Compares two snapshots, so it sits above them, not in `resilience/`.

use std::time::Instant;

use crate::snapshot::Snapshot;

/// Starts slow start for every endpoint that `new` puts back in service compared with `old`: it
/// was listed in the same upstream's pool in that region, which had weight 0 or drained it, and
/// now the pool is above weight 0 and the endpoint is not drained. Endpoints new to the config are
/// not ramped (they take their share from the start, as at boot). Returns how many started.
pub fn ramp_returning(old: &Snapshot, new: &Snapshot, now: Instant) -> usize {
    let mut started = 0;
    for (name, upstream) in &new.upstreams {
        let Some(before) = old.upstreams.get(name) else {
            continue;
        };
        for pool in upstream.pools.iter().filter(|p| p.weight > 0) {
            let Some(was) = before.pools.iter().find(|p| p.region == pool.region) else {
                continue;
            };
            for endpoint in &pool.endpoints {
                let listed = was
                    .endpoints
                    .iter()
                    .any(|e| e.key.addr == endpoint.key.addr);
                let parked = was.weight == 0 || was.is_drained(endpoint);
                if listed && parked && !pool.is_drained(endpoint) {
                    endpoint.mark_recovered(now);
                    started += 1;
                    tracing::info!(
                        upstream = %name, region = %pool.region, endpoint = %endpoint.label,
                        slow_start_ms = upstream.slow_start.as_millis() as u64,
                        "endpoint back in service by config; slow start begins"
                    );
                }
            }
        }
    }
    started
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::endpoint::EndpointRegistry;
    use crate::metrics::Metrics;
    use crate::resilience::slow_start::FLOOR;
    use crate::snapshot::compile_text;

    fn compile(text: &str, version: u64, endpoints: &EndpointRegistry, now: Instant) -> Snapshot {
        compile_text(text, version, endpoints, &Metrics::new().unwrap(), now)
    }

    fn fleet(east_weight: u32, drained: &str) -> String {
        format!(
            "[gateway]\nregion = \"us-east\"\n[upstreams.api]\nslow_start = \"10s\"\n\
             [[upstreams.api.pools]]\nregion = \"us-east\"\nweight = {east_weight}\n\
             endpoints = [\"127.0.0.1:1\", \"127.0.0.1:2\"]\ndrained = [{drained}]\n\
             [[upstreams.api.pools]]\nregion = \"eu-west\"\nendpoints = [\"127.0.0.1:3\"]\n\
             [[routes]]\nupstream = \"api\"\n"
        )
    }

    fn factors(snapshot: &Snapshot, now: Instant) -> Vec<f64> {
        let up = &snapshot.upstreams["api"];
        up.pools[0]
            .endpoints
            .iter()
            .map(|e| e.slow_start_factor(now, up.slow_start))
            .collect()
    }

    #[test]
    fn a_restored_region_ramps_up() {
        let registry = EndpointRegistry::default();
        let t0 = Instant::now();
        let drained = compile(&fleet(0, ""), 1, &registry, t0);
        let restored = compile(&fleet(60, ""), 2, &registry, t0);
        let at = t0 + Duration::from_secs(5);
        assert_eq!(ramp_returning(&drained, &restored, at), 2);
        assert_eq!(factors(&restored, at), vec![FLOOR, FLOOR]);
        let later = at + Duration::from_secs(10);
        assert_eq!(factors(&restored, later), vec![1.0, 1.0]);
        // A weight change between two values above 0 is not a return.
        let shifted = compile(&fleet(30, ""), 3, &registry, t0);
        assert_eq!(ramp_returning(&restored, &shifted, later), 0);
    }

    #[test]
    fn a_restored_endpoint_ramps_up_and_only_it() {
        let registry = EndpointRegistry::default();
        let t0 = Instant::now();
        let drained = compile(&fleet(100, "\"127.0.0.1:2\""), 1, &registry, t0);
        let restored = compile(&fleet(100, ""), 2, &registry, t0);
        assert_eq!(ramp_returning(&drained, &restored, t0), 1);
        assert_eq!(factors(&restored, t0), vec![1.0, FLOOR]);
    }
}
