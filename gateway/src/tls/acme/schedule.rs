//! When to order a certificate: at once when there is none, at two thirds of its lifetime when
//! there is one, and after a failure again after a backoff that doubles from a base (a fiftieth
//! of the lifetime, 1 s..=5 min) up to an hour, jittered down by up to half so that gateways that
//! failed together do not retry together. Pure: the caller passes the clock and the jitter.

use std::time::{Duration, SystemTime};

/// The shortest and longest first retry delay.
const BASE_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(300));
/// The base without a certificate (no lifetime to scale by).
const FIRST_ORDER_BASE: Duration = Duration::from_secs(5);
/// No retry waits longer than this.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// A certificate's validity period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    pub not_before: SystemTime,
    pub not_after: SystemTime,
}

impl Validity {
    pub fn lifetime(&self) -> Duration {
        self.not_after
            .duration_since(self.not_before)
            .unwrap_or_default()
    }

    /// Two thirds into the lifetime: when renewal starts.
    pub fn renew_at(&self) -> SystemTime {
        self.not_before + self.lifetime() * 2 / 3
    }
}

/// One order's schedule: its current certificate's validity and its failures since the last
/// success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    pub current: Option<Validity>,
    pub failures: u32,
    retry_at: Option<SystemTime>,
}

impl Schedule {
    pub fn new(current: Option<Validity>) -> Self {
        Self {
            current,
            failures: 0,
            retry_at: None,
        }
    }

    /// When the next order is due (maybe already past).
    pub fn due(&self) -> SystemTime {
        if let Some(retry_at) = self.retry_at {
            return retry_at;
        }
        match &self.current {
            None => SystemTime::UNIX_EPOCH,
            Some(validity) => validity.renew_at(),
        }
    }

    /// An order succeeded at `now` with a certificate valid for `validity`.
    pub fn succeeded(&mut self, validity: Validity) {
        *self = Self::new(Some(validity));
    }

    /// An order failed at `now`; `jitter` in `[0, 1)` takes up to half off the delay. Returns
    /// the delay until the retry.
    pub fn failed(&mut self, now: SystemTime, jitter: f64) -> Duration {
        self.failures = self.failures.saturating_add(1);
        let delay = backoff(
            self.current.as_ref().map(Validity::lifetime),
            self.failures,
            jitter,
        );
        self.retry_at = Some(now + delay);
        delay
    }
}

/// The delay before retry number `failures` (1 for the first), for a certificate of `lifetime`.
pub fn backoff(lifetime: Option<Duration>, failures: u32, jitter: f64) -> Duration {
    let base = match lifetime {
        None => FIRST_ORDER_BASE,
        Some(lifetime) => (lifetime / 50).clamp(BASE_RANGE.0, BASE_RANGE.1),
    };
    let doublings = failures.saturating_sub(1).min(16);
    let full = base.saturating_mul(1 << doublings).min(MAX_BACKOFF);
    full.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    fn at(seconds: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_900_000_000 + seconds)
    }

    fn ninety_days() -> Validity {
        Validity {
            not_before: at(0),
            not_after: at(0) + 90 * DAY,
        }
    }

    #[test]
    fn without_a_certificate_the_order_is_due_at_once() {
        assert!(Schedule::new(None).due() <= at(0));
    }

    #[test]
    fn renewal_starts_at_two_thirds_of_the_lifetime() {
        let schedule = Schedule::new(Some(ninety_days()));
        assert_eq!(schedule.due(), at(0) + 60 * DAY);
        let short = Validity {
            not_before: at(0),
            not_after: at(30),
        };
        assert_eq!(Schedule::new(Some(short)).due(), at(20));
    }

    #[test]
    fn failures_back_off_doubling_up_to_the_cap() {
        let mut schedule = Schedule::new(Some(ninety_days()));
        let now = at(0) + 60 * DAY;
        let delays: Vec<Duration> = (0..8).map(|_| schedule.failed(now, 0.0)).collect();
        let minutes: Vec<u64> = delays.iter().map(|d| d.as_secs() / 60).collect();
        // 90 days / 50 is over the 5 min ceiling of the base.
        assert_eq!(minutes, [5, 10, 20, 40, 60, 60, 60, 60]);
        assert_eq!(schedule.due(), now + MAX_BACKOFF);
        // A success goes back to the new certificate's renewal time.
        let next = Validity {
            not_before: now,
            not_after: now + 90 * DAY,
        };
        schedule.succeeded(next);
        assert_eq!(schedule.failures, 0);
        assert_eq!(schedule.due(), now + 60 * DAY);
    }

    #[test]
    fn the_base_follows_the_lifetime_within_bounds() {
        assert_eq!(backoff(None, 1, 0.0), Duration::from_secs(5));
        assert_eq!(
            backoff(Some(Duration::from_secs(10)), 1, 0.0),
            Duration::from_secs(1)
        );
        assert_eq!(
            backoff(Some(Duration::from_secs(500)), 1, 0.0),
            Duration::from_secs(10)
        );
        assert_eq!(
            backoff(Some(Duration::from_secs(500)), 3, 0.0),
            Duration::from_secs(40)
        );
    }

    #[test]
    fn jitter_takes_off_at_most_half() {
        let full = backoff(None, 2, 0.0);
        assert_eq!(backoff(None, 2, 0.5), full.mul_f64(0.75));
        assert_eq!(backoff(None, 2, 1.0), full / 2);
        assert_eq!(backoff(None, 2, 7.0), full / 2, "clamped");
    }
}
