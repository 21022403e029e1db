//! Per-upstream resilience state that outlives config versions (invariant: a reload does not
//! reset it): the upstream's circuit breaker, retry budget, bulkhead counters and adaptive
//! limit, kept by upstream name. The settings stay in the snapshot and are passed in per call.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use dashmap::DashMap;
use weir_config::AdaptiveLimit;

use super::adaptive::GradientLimit;
use super::breaker::CircuitBreaker;
use super::budget::RetryBudget;
use super::bulkhead::Bulkhead;

/// One upstream's live resilience state.
pub struct UpstreamGuard {
    pub breaker: CircuitBreaker,
    pub budget: RetryBudget,
    pub bulkhead: Arc<Bulkhead>,
    /// The adaptive limit and the settings it was built with; rebuilt when they change.
    adaptive: Mutex<Option<(AdaptiveLimit, Arc<GradientLimit>)>>,
}

impl UpstreamGuard {
    fn new(now: Instant) -> Self {
        Self {
            breaker: CircuitBreaker::new(now),
            budget: RetryBudget::new(now),
            bulkhead: Arc::new(Bulkhead::new()),
            adaptive: Mutex::new(None),
        }
    }

    /// The adaptive limit for `settings`: the current one when its settings are unchanged (so
    /// what it learnt survives a reload), a fresh one otherwise; `None` without `adaptive`.
    pub fn adaptive_limit(
        &self,
        settings: Option<&AdaptiveLimit>,
        now: Instant,
    ) -> Option<Arc<GradientLimit>> {
        let mut current = self
            .adaptive
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let Some(settings) = settings else {
            *current = None;
            return None;
        };
        match current.as_ref() {
            Some((built_with, limit)) if built_with == settings => Some(Arc::clone(limit)),
            _ => {
                let limit = Arc::new(GradientLimit::new(settings, now));
                *current = Some((settings.clone(), Arc::clone(&limit)));
                Some(limit)
            }
        }
    }
}

/// Every upstream's guard, shared by all config versions.
#[derive(Default)]
pub struct GuardRegistry {
    guards: DashMap<String, Arc<UpstreamGuard>>,
}

impl GuardRegistry {
    pub fn get_or_create(&self, upstream: &str, now: Instant) -> Arc<UpstreamGuard> {
        if let Some(guard) = self.guards.get(upstream) {
            return Arc::clone(&guard);
        }
        Arc::clone(
            &self
                .guards
                .entry(upstream.to_owned())
                .or_insert_with(|| Arc::new(UpstreamGuard::new(now))),
        )
    }

    /// Drop the guards of upstreams for which `keep` is false; returns their names.
    pub fn retain(&self, keep: impl Fn(&str) -> bool) -> Vec<String> {
        let mut removed = Vec::new();
        self.guards.retain(|name, _| {
            let kept = keep(name);
            if !kept {
                removed.push(name.clone());
            }
            kept
        });
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn adaptive(initial: u32) -> AdaptiveLimit {
        AdaptiveLimit {
            min_in_flight: 1,
            initial,
            tolerance: 2.0,
            min_rtt_window: Duration::from_secs(30),
        }
    }

    #[test]
    fn a_guard_is_kept_by_name_until_its_upstream_is_removed() {
        let now = Instant::now();
        let registry = GuardRegistry::default();
        let a = registry.get_or_create("api", now);
        assert!(Arc::ptr_eq(&a, &registry.get_or_create("api", now)));
        assert_eq!(
            registry.retain(|name| name != "api"),
            vec!["api".to_owned()]
        );
        assert!(!Arc::ptr_eq(&a, &registry.get_or_create("api", now)));
    }

    #[test]
    fn the_adaptive_limit_survives_unchanged_settings_only() {
        let now = Instant::now();
        let guard = UpstreamGuard::new(now);
        let first = guard.adaptive_limit(Some(&adaptive(10)), now).unwrap();
        let same = guard.adaptive_limit(Some(&adaptive(10)), now).unwrap();
        assert!(Arc::ptr_eq(&first, &same));
        let changed = guard.adaptive_limit(Some(&adaptive(20)), now).unwrap();
        assert!(!Arc::ptr_eq(&first, &changed));
        assert!(guard.adaptive_limit(None, now).is_none());
    }
}
