//! Runtime state of one upstream endpoint (latency, in-flight, health, ejection, circuit breaker,
//! when it last came back), kept outside the swapped config in an [`EndpointRegistry`] keyed by identity, so a reload never resets it.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dashmap::DashMap;

use crate::ewma::PeakEwma;
use crate::resilience::breaker::CircuitBreaker;
use crate::resilience::slow_start;

/// How long the latency estimate remembers (linkerd2-proxy uses the same 10 s default).
pub const EWMA_DECAY: Duration = Duration::from_secs(10);
/// The estimate an endpoint starts with before anything is observed.
pub const EWMA_INITIAL: Duration = Duration::from_millis(1);
/// Latency below this is treated as this when comparing loads: differences under a millisecond
/// are noise, and in-flight counts decide between such endpoints.
pub const LATENCY_FLOOR_NS: f64 = 1_000_000.0;

/// Who an endpoint is: the same address in two upstreams (or pools) has separate state, because
/// health checks and ejection are judged per upstream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EndpointKey {
    pub upstream: Arc<str>,
    pub region: Arc<str>,
    pub addr: SocketAddr,
}

/// Counts every change to any endpoint's health, ejection or recovery time, so that a pool can
/// reuse what it last counted of its endpoints until one of them changes (`runtime.rs`).
static STATE_CHANGES: AtomicU64 = AtomicU64::new(0);

/// The number of changes to any endpoint's health, ejection or recovery time so far. Read it
/// before reading the states it vouches for.
pub fn state_changes() -> u64 {
    STATE_CHANGES.load(Ordering::Acquire)
}

/// Called after every change that [`EndpointState::is_available`] or
/// [`EndpointState::slow_start_factor`] may see.
fn state_changed() {
    STATE_CHANGES.fetch_add(1, Ordering::Release);
}

/// A health transition worth logging and counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthChange {
    BecameHealthy,
    BecameUnhealthy,
}

#[derive(Debug, Default)]
struct HealthCounts {
    successes: u32,
    failures: u32,
}

#[derive(Debug, Default)]
struct EjectionRecord {
    /// Ejections in a row; the ejection time doubles with each.
    streak: u32,
}

/// Live state of one endpoint. Cheap to read on the request path: atomics, plus one uncontended
/// mutex around the latency estimate.
#[derive(Debug)]
pub struct EndpointState {
    pub key: EndpointKey,
    /// The address as text, for metric labels and logs.
    pub label: String,
    in_flight: AtomicU32,
    ewma: Mutex<PeakEwma>,
    healthy: AtomicBool,
    health_counts: Mutex<HealthCounts>,
    consecutive_failures: AtomicU32,
    /// Nanoseconds since [`epoch`] until which the endpoint is ejected; 0 when never ejected.
    ejected_until: AtomicU64,
    ejection: Mutex<EjectionRecord>,
    /// Nanoseconds since [`epoch`] when health checks or the breaker last brought it back; 0
    /// when never. (The end of an ejection is `ejected_until`.)
    recovered_at: AtomicU64,
    /// The endpoint's failure-rate breaker; its settings are the upstream's.
    pub breaker: CircuitBreaker,
}

impl EndpointState {
    pub fn new(key: EndpointKey, now: Instant) -> Self {
        Self {
            label: key.addr.to_string(),
            key,
            in_flight: AtomicU32::new(0),
            ewma: Mutex::new(PeakEwma::new(EWMA_INITIAL, EWMA_DECAY, now)),
            // Endpoints start healthy so a fresh gateway serves at once; a dead one is marked
            // down by its first connect failure or by the active checks.
            healthy: AtomicBool::new(true),
            health_counts: Mutex::new(HealthCounts::default()),
            consecutive_failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            ejection: Mutex::new(EjectionRecord::default()),
            recovered_at: AtomicU64::new(0),
            breaker: CircuitBreaker::new(now),
        }
    }

    /// Healthy by the active checks (or never checked) and not ejected: may take new requests.
    pub fn is_available(&self, now: Instant) -> bool {
        self.is_healthy() && !self.is_ejected(now)
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    pub fn is_ejected(&self, now: Instant) -> bool {
        self.ejected_until.load(Ordering::Relaxed) > nanos_since_epoch(now)
    }

    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Load used by power-of-two-choices: peak-EWMA latency (at least [`LATENCY_FLOOR_NS`])
    /// × (in-flight + 1).
    pub fn load(&self, now: Instant) -> f64 {
        let cost = lock(&self.ewma).cost_ns(now).max(LATENCY_FLOOR_NS);
        cost * f64::from(self.in_flight() + 1)
    }

    /// The latency estimate without idle decay; `None` until something was observed.
    pub fn latency_estimate(&self) -> Option<Duration> {
        lock(&self.ewma).estimate()
    }

    pub fn observe_latency(&self, rtt: Duration, now: Instant) {
        lock(&self.ewma).observe(rtt, now);
    }

    /// Count a request as in flight until the returned guard is dropped.
    pub fn start_request(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }

    /// Fold in one active health-check result; the state flips only after `threshold`
    /// consecutive results that disagree with it.
    pub fn record_check(
        &self,
        success: bool,
        healthy_threshold: u32,
        unhealthy_threshold: u32,
    ) -> Option<HealthChange> {
        let mut counts = lock(&self.health_counts);
        let healthy = self.is_healthy();
        if success {
            counts.failures = 0;
            counts.successes = counts.successes.saturating_add(1);
            if !healthy && counts.successes >= healthy_threshold {
                self.healthy.store(true, Ordering::Relaxed);
                state_changed();
                self.mark_recovered(Instant::now());
                return Some(HealthChange::BecameHealthy);
            }
        } else {
            counts.successes = 0;
            counts.failures = counts.failures.saturating_add(1);
            if healthy && counts.failures >= unhealthy_threshold {
                self.healthy.store(false, Ordering::Relaxed);
                state_changed();
                return Some(HealthChange::BecameUnhealthy);
            }
        }
        None
    }

    /// Mark the endpoint unhealthy at once (a connect failure is proof enough); the active checks
    /// bring it back after `healthy_threshold` successes.
    pub fn mark_down(&self) -> Option<HealthChange> {
        let mut counts = lock(&self.health_counts);
        counts.successes = 0;
        counts.failures = 0;
        let was_healthy = self.healthy.swap(false, Ordering::Relaxed);
        state_changed();
        was_healthy.then_some(HealthChange::BecameUnhealthy)
    }

    /// The endpoint came back (health restored, breaker closed): slow start begins now.
    pub fn mark_recovered(&self, now: Instant) {
        self.recovered_at
            .store(nanos_since_epoch(now), Ordering::Relaxed);
        state_changed();
    }

    /// The share of its normal traffic the endpoint takes now, in `0.1..=1.0`: ramping up over
    /// `window` since it last came back (from ejection, failed health checks or an open breaker).
    pub fn slow_start_factor(&self, now: Instant, window: Duration) -> f64 {
        let now_ns = nanos_since_epoch(now);
        let back_at = self.back_at_ns(now_ns);
        if back_at == 0 {
            return 1.0;
        }
        slow_start::factor(Duration::from_nanos(now_ns - back_at.min(now_ns)), window)
    }

    /// When (nanoseconds since the epoch) the endpoint last came back as of `now_ns`: the later
    /// of its recovery and the end of an ejection already over; 0 when never.
    pub fn back_at_ns(&self, now_ns: u64) -> u64 {
        let ejection_end = self.ejected_until.load(Ordering::Relaxed);
        let ejection_end = if ejection_end <= now_ns {
            ejection_end
        } else {
            0
        };
        self.recovered_at.load(Ordering::Relaxed).max(ejection_end)
    }

    /// Nanoseconds since the epoch until which the endpoint is (or was) ejected; 0 when never.
    pub fn ejected_until_ns(&self) -> u64 {
        self.ejected_until.load(Ordering::Relaxed)
    }

    /// A request succeeded: the run of consecutive failures ends.
    pub fn record_success(&self) {
        if self.consecutive_failures.load(Ordering::Relaxed) != 0 {
            self.consecutive_failures.store(0, Ordering::Relaxed);
        }
    }

    /// A request failed; returns the length of the current run of failures.
    pub fn record_failure(&self) -> u32 {
        self.consecutive_failures.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Eject until `now + base × 2^(streak)`, capped at `max`. The streak is forgotten once the
    /// endpoint has stayed un-ejected for `max`. Returns how long it is ejected for.
    pub fn eject(&self, now: Instant, base: Duration, max: Duration) -> Duration {
        let mut record = lock(&self.ejection);
        let now_ns = nanos_since_epoch(now);
        let last_until = self.ejected_until.load(Ordering::Relaxed);
        if last_until != 0 && now_ns.saturating_sub(last_until) > duration_ns(max) {
            record.streak = 0;
        }
        let factor = 1u32.checked_shl(record.streak.min(31)).unwrap_or(u32::MAX);
        let period = base.saturating_mul(factor).min(max);
        record.streak = record.streak.saturating_add(1);
        self.ejected_until
            .store(now_ns + duration_ns(period), Ordering::Relaxed);
        state_changed();
        self.consecutive_failures.store(0, Ordering::Relaxed);
        period
    }
}

/// Decrements the endpoint's in-flight count when dropped, whatever way the request ends.
#[derive(Debug)]
pub struct InFlight(Arc<EndpointState>);

impl InFlight {
    pub fn endpoint(&self) -> &Arc<EndpointState> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// All endpoint states, shared by every config version. Entries are created when a config first
/// names an endpoint and dropped when a published config no longer does.
#[derive(Debug, Default)]
pub struct EndpointRegistry {
    states: DashMap<EndpointKey, Arc<EndpointState>>,
}

impl EndpointRegistry {
    pub fn get_or_create(&self, key: EndpointKey, now: Instant) -> Arc<EndpointState> {
        if let Some(state) = self.states.get(&key) {
            return Arc::clone(&state);
        }
        Arc::clone(
            &self
                .states
                .entry(key.clone())
                .or_insert_with(|| Arc::new(EndpointState::new(key, now))),
        )
    }

    /// Drop every endpoint for which `keep` is false; returns the dropped keys.
    pub fn retain(&self, keep: impl Fn(&EndpointKey) -> bool) -> Vec<EndpointKey> {
        let mut removed = Vec::new();
        self.states.retain(|key, _| {
            let kept = keep(key);
            if !kept {
                removed.push(key.clone());
            }
            kept
        });
        removed
    }

    pub fn len(&self) -> usize {
        self.states.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values stay consistent even if a holder panicked, so poisoning is ignored.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| Instant::now() - Duration::from_secs(1))
}

/// Monotonic nanoseconds since process start, so deadlines fit in an atomic. Never 0 for "now".
pub fn nanos_since_epoch(at: Instant) -> u64 {
    duration_ns(at.saturating_duration_since(epoch())).max(1)
}

fn duration_ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(now: Instant) -> Arc<EndpointState> {
        let key = EndpointKey {
            upstream: "api".into(),
            region: "us-east".into(),
            addr: "127.0.0.1:9001".parse().unwrap(),
        };
        Arc::new(EndpointState::new(key, now))
    }

    #[test]
    fn health_flips_only_after_thresholds() {
        let ep = endpoint(Instant::now());
        assert_eq!(ep.record_check(false, 2, 3), None);
        assert_eq!(ep.record_check(false, 2, 3), None);
        assert_eq!(
            ep.record_check(false, 2, 3),
            Some(HealthChange::BecameUnhealthy)
        );
        assert!(!ep.is_healthy());
        assert_eq!(ep.record_check(true, 2, 3), None);
        assert_eq!(
            ep.record_check(false, 2, 3),
            None,
            "a failure resets the success run"
        );
        assert_eq!(ep.record_check(true, 2, 3), None);
        assert_eq!(
            ep.record_check(true, 2, 3),
            Some(HealthChange::BecameHealthy)
        );
    }

    #[test]
    fn mark_down_is_immediate_and_reported_once() {
        let ep = endpoint(Instant::now());
        assert_eq!(ep.mark_down(), Some(HealthChange::BecameUnhealthy));
        assert_eq!(ep.mark_down(), None);
        assert!(!ep.is_available(Instant::now()));
    }

    #[test]
    fn ejection_time_doubles_and_is_capped() {
        let t0 = Instant::now();
        let ep = endpoint(t0);
        let base = Duration::from_secs(10);
        let max = Duration::from_secs(25);
        assert_eq!(ep.eject(t0, base, max), base);
        assert!(ep.is_ejected(t0 + Duration::from_secs(9)));
        assert!(!ep.is_ejected(t0 + Duration::from_secs(11)));
        let t1 = t0 + Duration::from_secs(12);
        assert_eq!(ep.eject(t1, base, max), Duration::from_secs(20));
        let t2 = t1 + Duration::from_secs(21);
        assert_eq!(ep.eject(t2, base, max), max);
    }

    #[test]
    fn ejection_streak_is_forgotten_after_a_quiet_period() {
        let t0 = Instant::now();
        let ep = endpoint(t0);
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(4);
        ep.eject(t0, base, max);
        ep.eject(t0 + Duration::from_secs(2), base, max);
        let much_later = t0 + Duration::from_secs(60);
        assert_eq!(ep.eject(much_later, base, max), base);
    }

    #[test]
    fn in_flight_guard_counts_and_releases() {
        let ep = endpoint(Instant::now());
        let a = ep.start_request();
        let b = ep.start_request();
        assert_eq!(ep.in_flight(), 2);
        drop(a);
        assert_eq!(ep.in_flight(), 1);
        drop(b);
        assert_eq!(ep.in_flight(), 0);
    }

    #[test]
    fn registry_keeps_state_across_lookups_and_drops_removed() {
        let reg = EndpointRegistry::default();
        let now = Instant::now();
        let key = |port: u16| EndpointKey {
            upstream: "api".into(),
            region: "r".into(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        };
        let a = reg.get_or_create(key(1), now);
        a.observe_latency(Duration::from_millis(5), now);
        let again = reg.get_or_create(key(1), now);
        assert!(Arc::ptr_eq(&a, &again));
        reg.get_or_create(key(2), now);
        let removed = reg.retain(|k| k.addr.port() == 1);
        assert_eq!(removed, vec![key(2)]);
        assert_eq!(reg.len(), 1);
    }
}
