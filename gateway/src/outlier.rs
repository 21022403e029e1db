//! Passive outlier detection: request outcomes reported by the proxy eject endpoints that fail
//! in a row (for a time that doubles on repeats, never more than the pool's allowed share at
//! once), and a connect failure takes an endpoint out at once.

use std::time::{Duration, Instant};

use crate::endpoint::{EndpointState, HealthChange};
use crate::runtime::{PoolRuntime, UpstreamRuntime};

/// How an attempt on an endpoint ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The TCP connection could not be made.
    ConnectFailure,
    /// A 5xx response, or the connection failed mid-exchange.
    Failure,
}

/// What the report changed, for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ejected(Duration),
    MarkedDown,
}

/// Fold one outcome into the endpoint's state.
pub fn report(
    upstream: &UpstreamRuntime,
    pool: &PoolRuntime,
    endpoint: &EndpointState,
    outcome: Outcome,
    now: Instant,
) -> Option<Verdict> {
    let settings = &upstream.outlier;
    match outcome {
        Outcome::Success => {
            endpoint.record_success();
            None
        }
        Outcome::ConnectFailure => {
            endpoint.record_failure();
            if upstream.health.is_some() {
                // The active checks will bring it back once it answers again.
                (endpoint.mark_down() == Some(HealthChange::BecameUnhealthy))
                    .then_some(Verdict::MarkedDown)
            } else if endpoint.is_ejected(now) {
                None
            } else {
                // Nothing probes it, so eject for a while instead; an unreachable endpoint
                // is taken out whatever the pool's ejection cap.
                let period =
                    endpoint.eject(now, settings.base_ejection_time, settings.max_ejection_time);
                Some(Verdict::Ejected(period))
            }
        }
        Outcome::Failure => {
            let run = endpoint.record_failure();
            if run < settings.consecutive_failures || endpoint.is_ejected(now) {
                return None;
            }
            if !may_eject_another(pool, settings.max_ejected_fraction, now) {
                return None;
            }
            let period =
                endpoint.eject(now, settings.base_ejection_time, settings.max_ejection_time);
            Some(Verdict::Ejected(period))
        }
    }
}

/// At most `max_fraction` of a pool may be ejected at once, but always at least one endpoint.
fn may_eject_another(pool: &PoolRuntime, max_fraction: f64, now: Instant) -> bool {
    let ejected = pool.endpoints.iter().filter(|e| e.is_ejected(now)).count();
    let cap = ((pool.endpoints.len() as f64 * max_fraction).floor() as usize).max(1);
    ejected < cap
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::endpoint::EndpointRegistry;
    use crate::metrics::Metrics;
    use crate::snapshot::compile_text;
    use std::sync::Arc;

    fn upstream(extra: &str, ports: &[u16]) -> Arc<UpstreamRuntime> {
        let eps: Vec<String> = ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
        let text = format!(
            "[upstreams.api]\n{extra}\n[[upstreams.api.pools]]\nregion = \"r\"\nendpoints = [{}]\n[[routes]]\nupstream = \"api\"\n",
            eps.join(", ")
        );
        let snap = compile_text(
            &text,
            1,
            &EndpointRegistry::default(),
            &Metrics::new().unwrap(),
            Instant::now(),
        );
        Arc::clone(&snap.upstreams["api"])
    }

    #[test]
    fn consecutive_failures_eject_and_success_resets_the_run() {
        let up = upstream(
            "outlier = { consecutive_failures = 3, base_ejection_time = \"10s\" }",
            &[1, 2],
        );
        let (pool, ep) = (&up.pools[0], &up.pools[0].endpoints[0]);
        let now = Instant::now();
        assert_eq!(report(&up, pool, ep, Outcome::Failure, now), None);
        assert_eq!(report(&up, pool, ep, Outcome::Failure, now), None);
        assert_eq!(report(&up, pool, ep, Outcome::Success, now), None);
        assert_eq!(report(&up, pool, ep, Outcome::Failure, now), None);
        assert_eq!(report(&up, pool, ep, Outcome::Failure, now), None);
        assert_eq!(
            report(&up, pool, ep, Outcome::Failure, now),
            Some(Verdict::Ejected(Duration::from_secs(10)))
        );
        assert!(ep.is_ejected(now));
        assert!(
            !ep.is_ejected(now + Duration::from_secs(11)),
            "ejection ends by itself"
        );
    }

    #[test]
    fn ejection_cap_holds_but_one_is_always_allowed() {
        let up = upstream(
            "outlier = { consecutive_failures = 1, max_ejected_fraction = 0.0 }",
            &[1, 2],
        );
        let pool = &up.pools[0];
        let now = Instant::now();
        assert!(matches!(
            report(&up, pool, &pool.endpoints[0], Outcome::Failure, now),
            Some(Verdict::Ejected(_))
        ));
        assert_eq!(
            report(&up, pool, &pool.endpoints[1], Outcome::Failure, now),
            None
        );
        assert!(!pool.endpoints[1].is_ejected(now));
    }

    #[test]
    fn connect_failure_without_active_checks_ejects_at_once_past_the_cap() {
        let up = upstream("outlier = { max_ejected_fraction = 0.0 }", &[1, 2]);
        let pool = &up.pools[0];
        let now = Instant::now();
        for ep in &pool.endpoints {
            assert!(matches!(
                report(&up, pool, ep, Outcome::ConnectFailure, now),
                Some(Verdict::Ejected(_))
            ));
        }
        assert_eq!(pool.available(now), 0);
    }

    #[test]
    fn connect_failure_with_active_checks_marks_down_until_checks_pass() {
        let up = upstream("health = { healthy_threshold = 2 }", &[1]);
        let (pool, ep) = (&up.pools[0], &up.pools[0].endpoints[0]);
        let now = Instant::now();
        assert_eq!(
            report(&up, pool, ep, Outcome::ConnectFailure, now),
            Some(Verdict::MarkedDown)
        );
        assert!(!ep.is_available(now));
        ep.record_check(true, 2, 2);
        assert!(!ep.is_available(now));
        ep.record_check(true, 2, 2);
        assert!(ep.is_available(now));
    }
}
