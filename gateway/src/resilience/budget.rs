//! The per-upstream retry budget, as linkerd and Finagle keep it: retries in the last `window`
//! may be at most `ratio` × the requests in it plus `min_per_second` × its seconds, so an outage
//! cannot multiply load while a quiet upstream can still retry.

use std::time::Instant;

use weir_config::RetryBudget as Settings;

use super::window::SlidingWindow;

/// Requests (`a`) and retries (`b`) over the budget's window.
#[derive(Debug)]
pub struct RetryBudget {
    window: SlidingWindow,
}

impl RetryBudget {
    pub fn new(now: Instant) -> Self {
        Self {
            window: SlidingWindow::new(now),
        }
    }

    /// A new request (its first attempt) is on its way: it deposits `ratio` of a retry.
    pub fn record_request(&self, settings: &Settings, now: Instant) {
        self.window.add(now, settings.window, 1, 0);
    }

    /// Take one retry from the budget if it has room; a refused retry is not counted.
    /// Check-then-add: concurrent callers may overshoot by at most their number.
    pub fn try_withdraw(&self, settings: &Settings, now: Instant) -> bool {
        let (requests, retries) = self.window.totals(now, settings.window);
        let floor = f64::from(settings.min_per_second) * settings.window.as_secs_f64();
        let allowed = settings.ratio * requests as f64 + floor;
        if (retries as f64) + 1.0 > allowed {
            return false;
        }
        self.window.add(now, settings.window, 0, 1);
        true
    }

    /// (requests, retries) in the window now, for `/status`.
    pub fn usage(&self, settings: &Settings, now: Instant) -> (u64, u64) {
        self.window.totals(now, settings.window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings(ratio: f64, min_per_second: u32) -> Settings {
        Settings {
            ratio,
            min_per_second,
            window: Duration::from_secs(10),
        }
    }

    #[test]
    fn retries_are_a_share_of_requests() {
        let now = Instant::now();
        let s = settings(0.2, 0);
        let budget = RetryBudget::new(now);
        for _ in 0..100 {
            budget.record_request(&s, now);
        }
        let granted = (0..100).filter(|_| budget.try_withdraw(&s, now)).count();
        assert_eq!(granted, 20);
        assert_eq!(budget.usage(&s, now), (100, 20));
    }

    #[test]
    fn the_floor_allows_retries_without_traffic() {
        let now = Instant::now();
        let s = settings(0.2, 10);
        let budget = RetryBudget::new(now);
        let granted = (0..1_000).filter(|_| budget.try_withdraw(&s, now)).count();
        assert_eq!(granted, 100);
    }

    #[test]
    fn the_budget_recovers_as_the_window_slides() {
        let t0 = Instant::now();
        let s = settings(0.5, 0);
        let budget = RetryBudget::new(t0);
        for _ in 0..10 {
            budget.record_request(&s, t0);
        }
        assert_eq!((0..10).filter(|_| budget.try_withdraw(&s, t0)).count(), 5);
        let later = t0 + Duration::from_secs(11);
        for _ in 0..10 {
            budget.record_request(&s, later);
        }
        assert_eq!(
            (0..10).filter(|_| budget.try_withdraw(&s, later)).count(),
            5
        );
    }

    #[test]
    fn amplification_stays_within_the_budget_when_everything_fails() {
        let t0 = Instant::now();
        let s = settings(0.2, 10);
        let budget = RetryBudget::new(t0);
        let (mut requests, mut attempts) = (0u64, 0u64);
        // 200 requests per second for 10 s, each failing and retried up to 3 attempts.
        for i in 0..2_000u64 {
            let now = t0 + Duration::from_millis(i * 5);
            budget.record_request(&s, now);
            requests += 1;
            attempts += 1;
            for _ in 1..3 {
                if !budget.try_withdraw(&s, now) {
                    break;
                }
                attempts += 1;
            }
        }
        let limit = 1.2 * requests as f64 + 10.0 * 10.0;
        assert!(
            (attempts as f64) <= limit,
            "{attempts} attempts for {requests} requests"
        );
        assert!(attempts > requests, "some retries were made");
    }
}
