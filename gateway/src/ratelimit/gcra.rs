//! GCRA (the generic cell rate algorithm) as plain arithmetic on one number per bucket, the
//! theoretical arrival time (TAT). No clock, no storage: callers pass `now` and keep the TAT, so
//! the same rule serves the local buckets and mirrors the Redis script exactly.

use std::time::Duration;

/// A policy's quota in nanoseconds: one request per `interval`, up to `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The emission interval `per / rate`: how often a token comes back.
    interval: u64,
    /// `burst × interval`: how far ahead of `now` the TAT may run.
    tolerance: u64,
}

/// What one check decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Admitted: store `new_tat`. `remaining` more requests fit right now; the bucket is full
    /// again after `reset` nanoseconds.
    Admit {
        new_tat: u64,
        remaining: u32,
        reset: u64,
    },
    /// Over the limit. One request fits again after `retry_after` nanoseconds (always > 0); the
    /// bucket is full again after `reset`. `tat` is the TAT to keep: the stored one, or less when
    /// a smaller tolerance (a reload) cut an old debt, which must then be stored.
    Limit {
        retry_after: u64,
        reset: u64,
        tat: u64,
    },
}

impl Quota {
    /// `rate` requests per `per`, `burst` at once. Validation keeps `per / rate` ≥ 1 µs and all
    /// three above zero; the guards here only keep the arithmetic total.
    pub fn new(rate: u32, per: Duration, burst: u32) -> Self {
        let per = u64::try_from(per.as_nanos()).unwrap_or(u64::MAX);
        let interval = (per / u64::from(rate.max(1))).max(1);
        Self {
            interval,
            tolerance: interval.saturating_mul(u64::from(burst.max(1))),
        }
    }

    /// The emission interval.
    pub fn interval(&self) -> Duration {
        Duration::from_nanos(self.interval)
    }

    /// The bucket size, in requests.
    pub fn burst(&self) -> u32 {
        u32::try_from(self.tolerance / self.interval).unwrap_or(u32::MAX)
    }

    /// Decide one request at `now` against a bucket whose TAT is `tat` (0 for a new bucket).
    pub fn decide(&self, tat: u64, now: u64) -> Decision {
        // Under an unchanged quota the TAT never runs more than `tolerance` ahead; after a reload
        // to a larger rate it may, and the clamp makes the new quota apply at once.
        let base = tat.max(now).min(now.saturating_add(self.tolerance));
        let new_tat = base.saturating_add(self.interval);
        let ahead = new_tat - now;
        if ahead > self.tolerance {
            Decision::Limit {
                retry_after: ahead - self.tolerance,
                reset: base - now,
                tat: base,
            }
        } else {
            Decision::Admit {
                new_tat,
                remaining: u32::try_from((self.tolerance - ahead) / self.interval)
                    .unwrap_or(u32::MAX),
                reset: ahead,
            }
        }
    }

    /// The TAT after giving one admitted request back (a later policy refused it).
    pub fn refund(&self, tat: u64) -> u64 {
        tat.saturating_sub(self.interval)
    }

    /// Whether a bucket with this TAT is full at `now`, i.e. indistinguishable from no bucket.
    pub fn is_full(tat: u64, now: u64) -> bool {
        tat <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    /// Run `n` checks at `now`, storing the TAT, and return how many were admitted.
    fn admit_n(quota: &Quota, tat: &mut u64, now: u64, n: u32) -> u32 {
        (0..n)
            .filter(|_| match quota.decide(*tat, now) {
                Decision::Admit { new_tat, .. } => {
                    *tat = new_tat;
                    true
                }
                Decision::Limit { .. } => false,
            })
            .count() as u32
    }

    #[test]
    fn a_full_bucket_admits_burst_then_limits() {
        let quota = Quota::new(10, Duration::from_secs(1), 5);
        let mut tat = 0;
        let now = 100 * SECOND;
        let mut remaining = Vec::new();
        for _ in 0..5 {
            match quota.decide(tat, now) {
                Decision::Admit {
                    new_tat,
                    remaining: r,
                    ..
                } => {
                    tat = new_tat;
                    remaining.push(r);
                }
                other => panic!("expected admit, got {other:?}"),
            }
        }
        assert_eq!(remaining, [4, 3, 2, 1, 0]);
        assert_eq!(
            quota.decide(tat, now),
            Decision::Limit {
                retry_after: SECOND / 10,
                reset: SECOND / 2,
                tat,
            }
        );
    }

    #[test]
    fn tokens_come_back_one_per_interval() {
        let quota = Quota::new(10, Duration::from_secs(1), 5);
        let mut tat = 0;
        let start = 100 * SECOND;
        assert_eq!(admit_n(&quota, &mut tat, start, 10), 5);
        // 0.25 s later two tokens are back, not three.
        assert_eq!(admit_n(&quota, &mut tat, start + SECOND / 4, 10), 2);
        // Long idle: the bucket is full again, never fuller.
        assert_eq!(admit_n(&quota, &mut tat, start + 60 * SECOND, 10), 5);
    }

    #[test]
    fn waiting_retry_after_is_enough() {
        let quota = Quota::new(3, Duration::from_secs(1), 1);
        let now = 7 * SECOND;
        let Decision::Admit { new_tat, .. } = quota.decide(0, now) else {
            panic!("first request admitted")
        };
        let Decision::Limit { retry_after, .. } = quota.decide(new_tat, now + 1) else {
            panic!("second request limited")
        };
        assert!(matches!(
            quota.decide(new_tat, now + 1 + retry_after),
            Decision::Admit { .. }
        ));
        assert!(matches!(
            quota.decide(new_tat, now + retry_after),
            Decision::Limit { .. }
        ));
    }

    #[test]
    fn a_steady_overload_is_admitted_at_the_rate_plus_the_burst() {
        // 3x the rate for 10 s: admitted = burst + rate x 10.
        let quota = Quota::new(100, Duration::from_secs(1), 50);
        let mut tat = 0;
        let start = SECOND;
        let admitted: u32 = (0..3000)
            .map(|i| admit_n(&quota, &mut tat, start + i * SECOND / 300, 1))
            .sum();
        assert!((1049..=1051).contains(&admitted), "admitted {admitted}");
    }

    #[test]
    fn a_refund_gives_exactly_one_request_back() {
        let quota = Quota::new(1, Duration::from_secs(1), 2);
        let now = 5 * SECOND;
        let mut tat = 0;
        assert_eq!(admit_n(&quota, &mut tat, now, 3), 2);
        tat = quota.refund(tat);
        assert_eq!(admit_n(&quota, &mut tat, now, 3), 1);
    }

    #[test]
    fn a_rate_change_applies_to_an_existing_tat() {
        let slow = Quota::new(1, Duration::from_secs(1), 1);
        let fast = Quota::new(1000, Duration::from_secs(1), 1);
        let now = 5 * SECOND;
        let Decision::Admit { new_tat, .. } = slow.decide(0, now) else {
            panic!()
        };
        let later = now + SECOND / 100;
        assert!(matches!(
            slow.decide(new_tat, later),
            Decision::Limit { .. }
        ));
        // The old debt (1 s ahead) is cut to the new quota's full bucket: the client waits one
        // new interval, not the rest of the old second, and gets no fresh burst either.
        let cut = later + SECOND / 1000;
        assert_eq!(
            fast.decide(new_tat, later),
            Decision::Limit {
                retry_after: SECOND / 1000,
                reset: SECOND / 1000,
                tat: cut,
            }
        );
        assert!(matches!(
            fast.decide(cut, later + SECOND / 1000),
            Decision::Admit { .. }
        ));
    }

    #[test]
    fn quota_reports_its_shape() {
        let quota = Quota::new(100, Duration::from_secs(1), 50);
        assert_eq!(quota.interval(), Duration::from_millis(10));
        assert_eq!(quota.burst(), 50);
        assert!(Quota::is_full(10, 10));
        assert!(!Quota::is_full(11, 10));
    }
}
