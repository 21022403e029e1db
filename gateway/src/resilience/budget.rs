//! The per-upstream retry budget, as linkerd and Finagle keep it: retries in the last `window`
//! may be at most `ratio` × the first attempts in it plus `min_per_second` × its seconds, so an
//! outage cannot multiply the load while a quiet upstream can still retry. It fails open by at
//! most a few retries: callers racing for the last one may each get it (see `try_withdraw`).

use std::time::Instant;

use weir_config::RetryBudgetSettings as Settings;

use super::window::SlidingWindow;

/// Relative slack when comparing a count with the float allowance, so binary rounding never
/// costs a retry (`0.29 × 100` is `28.999999999999996`).
const ROUNDING_SLACK: f64 = 1e-12;

/// One upstream's budget: requests (first attempts, `a`) and retries (`b`) over the window. Holds
/// no settings, so it can be kept across config reloads.
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

    /// A new request (its first attempt) is on its way: it deposits `ratio` of a retry. One
    /// atomic add.
    pub fn record_request(&self, settings: &Settings, now: Instant) {
        self.window.add(now, settings.window, 1, 0);
    }

    /// Take one retry from the budget if it has room; a refused retry is not counted. This is
    /// check-then-add without a lock: callers racing for the last retry may all get it, so the
    /// budget overshoots by at most the number of concurrent callers, never more.
    pub fn try_withdraw(&self, settings: &Settings, now: Instant) -> bool {
        let (requests, retries) = self.window.totals(now, settings.window);
        if !fits(retries.saturating_add(1), allowance(settings, requests)) {
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

/// How many retries `requests` first attempts in the window allow, with the floor.
fn allowance(settings: &Settings, requests: u64) -> f64 {
    let floor = f64::from(settings.min_per_second) * settings.window.as_secs_f64();
    settings.ratio * requests as f64 + floor
}

/// Whether `count` retries stay within `allowance`, forgiving float rounding.
fn fits(count: u64, allowance: f64) -> bool {
    count as f64 <= allowance + allowance.abs() * ROUNDING_SLACK
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    const WINDOW: Duration = Duration::from_secs(10);

    fn settings(ratio: f64, min_per_second: u32) -> Settings {
        Settings {
            ratio,
            min_per_second,
            window: WINDOW,
        }
    }

    fn requests(budget: &RetryBudget, s: &Settings, now: Instant, n: usize) {
        for _ in 0..n {
            budget.record_request(s, now);
        }
    }

    /// How many of `n` retries the budget grants at `now`.
    fn granted(budget: &RetryBudget, s: &Settings, now: Instant, n: usize) -> usize {
        (0..n).filter(|_| budget.try_withdraw(s, now)).count()
    }

    #[test]
    fn retries_are_a_share_of_requests() {
        let now = Instant::now();
        let s = settings(0.2, 0);
        let budget = RetryBudget::new(now);
        requests(&budget, &s, now, 100);
        assert_eq!(granted(&budget, &s, now, 100), 20);
        assert_eq!(budget.usage(&s, now), (100, 20));
    }

    #[test]
    fn without_requests_or_floor_nothing_is_retried() {
        let now = Instant::now();
        let s = settings(0.2, 0);
        let budget = RetryBudget::new(now);
        assert!(!budget.try_withdraw(&s, now));
        // Four requests deposit 0.8 of a retry: not yet one.
        requests(&budget, &s, now, 4);
        assert!(!budget.try_withdraw(&s, now));
        requests(&budget, &s, now, 1);
        assert!(budget.try_withdraw(&s, now));
    }

    #[test]
    fn float_rounding_does_not_cost_a_retry() {
        let now = Instant::now();
        let s = settings(0.29, 0);
        let budget = RetryBudget::new(now);
        requests(&budget, &s, now, 100);
        assert_eq!(granted(&budget, &s, now, 100), 29);
    }

    #[test]
    fn the_floor_allows_retries_without_traffic() {
        let now = Instant::now();
        let s = settings(0.2, 10);
        let budget = RetryBudget::new(now);
        assert_eq!(granted(&budget, &s, now, 1_000), 100);
        assert_eq!(budget.usage(&s, now), (0, 100));
    }

    #[test]
    fn the_floor_and_the_share_add_up() {
        let now = Instant::now();
        let s = settings(0.5, 1);
        let budget = RetryBudget::new(now);
        requests(&budget, &s, now, 20);
        assert_eq!(granted(&budget, &s, now, 100), 10 + 10);
    }

    #[test]
    fn refused_retries_are_not_counted() {
        let now = Instant::now();
        let s = settings(0.2, 0);
        let budget = RetryBudget::new(now);
        requests(&budget, &s, now, 100);
        assert_eq!(granted(&budget, &s, now, 1_000), 20);
        assert_eq!(budget.usage(&s, now), (100, 20));
        // Had the 980 refusals counted, five more requests would not buy a retry.
        requests(&budget, &s, now, 5);
        assert_eq!(granted(&budget, &s, now, 10), 1);
    }

    #[test]
    fn the_budget_recovers_as_the_window_slides() {
        let t0 = Instant::now();
        let s = settings(0.5, 0);
        let budget = RetryBudget::new(t0);
        requests(&budget, &s, t0, 10);
        assert_eq!(granted(&budget, &s, t0, 10), 5);
        let later = t0 + WINDOW;
        assert_eq!(budget.usage(&s, later), (0, 0));
        requests(&budget, &s, later, 10);
        assert_eq!(granted(&budget, &s, later, 10), 5);
    }

    #[test]
    fn retries_expire_bucket_by_bucket() {
        let t0 = Instant::now();
        let s = settings(0.0, 1);
        let budget = RetryBudget::new(t0);
        // The floor of 10 spent over the first five seconds, two a second.
        for second in 0..5 {
            let now = t0 + Duration::from_secs(second);
            assert_eq!(granted(&budget, &s, now, 2), 2);
        }
        assert_eq!(granted(&budget, &s, t0 + Duration::from_secs(9), 10), 0);
        // Each second from 10 s on, the two retries of ten seconds before are free again.
        for second in 10..15 {
            let now = t0 + Duration::from_secs(second);
            assert_eq!(granted(&budget, &s, now, 10), 2, "at {second}s");
        }
    }

    #[test]
    fn the_settings_of_each_call_apply() {
        let now = Instant::now();
        let budget = RetryBudget::new(now);
        requests(&budget, &settings(0.1, 0), now, 100);
        assert_eq!(granted(&budget, &settings(0.1, 0), now, 100), 10);
        // Reloaded with a larger ratio: the same state, a larger allowance.
        assert_eq!(granted(&budget, &settings(0.3, 0), now, 100), 20);
    }

    /// Every request fails and is retried until the budget refuses or 3 attempts were made, at
    /// 200 requests a second for `seconds`; returns (requests, attempts).
    fn everything_fails(s: &Settings, seconds: u64) -> (u64, u64) {
        let t0 = Instant::now();
        let budget = RetryBudget::new(t0);
        let (mut requests, mut attempts) = (0, 0);
        for i in 0..seconds * 200 {
            let now = t0 + Duration::from_millis(i * 5);
            budget.record_request(s, now);
            requests += 1;
            attempts += 1;
            for _retry in 1..3 {
                if !budget.try_withdraw(s, now) {
                    break;
                }
                attempts += 1;
            }
        }
        (requests, attempts)
    }

    #[test]
    fn amplification_stays_within_the_share_when_everything_fails() {
        let s = settings(0.2, 0);
        let (requests, attempts) = everything_fails(&s, 60);
        let retries = attempts - requests;
        assert!(
            retries * 5 <= requests,
            "{attempts} attempts for {requests} requests"
        );
        // The budget is used, not just respected: within a retry per window of the share.
        assert!(retries * 5 + 6 * 5 >= requests, "{retries} retries");
    }

    #[test]
    fn amplification_stays_within_share_and_floor_when_everything_fails() {
        let s = settings(0.2, 10);
        let seconds = 60;
        let (requests, attempts) = everything_fails(&s, seconds);
        // Each of the six aligned windows allows 0.2 × its requests + 100.
        let windows = seconds / WINDOW.as_secs();
        let limit = 1.2 * requests as f64 + 100.0 * windows as f64;
        assert!(
            attempts as f64 <= limit,
            "{attempts} attempts for {requests} requests"
        );
        assert!(attempts > requests * 6 / 5, "the floor was used too");
    }

    #[test]
    fn racing_threads_overshoot_by_at_most_their_number() {
        const THREADS: usize = 4;
        let now = Instant::now();
        let s = settings(0.2, 0);
        for _ in 0..20 {
            let budget = Arc::new(RetryBudget::new(now));
            requests(&budget, &s, now, 100);
            let threads: Vec<_> = (0..THREADS)
                .map(|_| {
                    let (budget, s) = (Arc::clone(&budget), s.clone());
                    std::thread::spawn(move || granted(&budget, &s, now, 1_000))
                })
                .collect();
            let total: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
            assert!((20..20 + THREADS).contains(&total), "{total}");
            assert_eq!(budget.usage(&s, now), (100, total as u64));
        }
    }
}
