//! Peak-EWMA latency estimate: jumps up to any slower observation at once, decays towards faster
//! ones (and towards zero while idle) with time constant `tau`. Time is passed in, never read here.

use std::time::{Duration, Instant};

/// A latency estimate in nanoseconds that reacts to spikes immediately and forgets them slowly.
#[derive(Debug, Clone)]
pub struct PeakEwma {
    estimate_ns: f64,
    updated_at: Instant,
    tau_ns: f64,
    observed: bool,
}

impl PeakEwma {
    /// A fresh estimate starting at `initial`, as if observed at `now`.
    pub fn new(initial: Duration, tau: Duration, now: Instant) -> Self {
        Self {
            estimate_ns: initial.as_nanos() as f64,
            updated_at: now,
            tau_ns: tau.as_nanos().max(1) as f64,
            observed: false,
        }
    }

    /// Fold in one observed latency.
    pub fn observe(&mut self, rtt: Duration, now: Instant) {
        let rtt_ns = rtt.as_nanos() as f64;
        if rtt_ns > self.estimate_ns {
            // Peak: a slow response moves the estimate all the way at once.
            self.estimate_ns = rtt_ns;
        } else {
            let weight = self.decay_factor(now);
            self.estimate_ns = self.estimate_ns * weight + rtt_ns * (1.0 - weight);
        }
        self.updated_at = self.updated_at.max(now);
        self.observed = true;
    }

    /// The estimate as seen at `now`: it decays towards zero while nothing is observed, so an
    /// endpoint that was slow once is eventually tried again.
    pub fn cost_ns(&self, now: Instant) -> f64 {
        self.estimate_ns * self.decay_factor(now)
    }

    /// The last estimate without idle decay, for display and for comparing regions.
    pub fn estimate(&self) -> Option<Duration> {
        self.observed
            .then(|| Duration::from_nanos(self.estimate_ns as u64))
    }

    fn decay_factor(&self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated_at).as_nanos() as f64;
        (-elapsed / self.tau_ns).exp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_slow_observation_raises_the_estimate_at_once() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(MS, Duration::from_secs(10), t0);
        e.observe(100 * MS, t0);
        assert_eq!(e.estimate(), Some(100 * MS));
    }

    #[test]
    fn faster_observations_pull_the_estimate_down_gradually() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(MS, Duration::from_secs(1), t0);
        e.observe(100 * MS, t0);
        e.observe(MS, t0 + Duration::from_millis(100));
        let after_one = e.estimate().unwrap();
        assert!(after_one < 100 * MS && after_one > 50 * MS, "{after_one:?}");
        for i in 2..100 {
            e.observe(MS, t0 + Duration::from_millis(100 * i));
        }
        assert!(e.estimate().unwrap() < 2 * MS);
    }

    #[test]
    fn idle_cost_decays_towards_zero() {
        let t0 = Instant::now();
        let mut e = PeakEwma::new(MS, Duration::from_secs(10), t0);
        e.observe(100 * MS, t0);
        let now = e.cost_ns(t0);
        let later = e.cost_ns(t0 + Duration::from_secs(30));
        assert!(later < now / 10.0, "{later} vs {now}");
    }

    #[test]
    fn no_observation_means_no_estimate() {
        let e = PeakEwma::new(MS, Duration::from_secs(10), Instant::now());
        assert_eq!(e.estimate(), None);
    }
}
