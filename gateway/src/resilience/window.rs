//! Sliding-window counters: two counts (`a`, `b`) over the last `window`, kept in ten buckets of a
//! tenth of it each, lock-free. A bucket is recycled when time moves past it, so memory is fixed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Buckets per window: the window slides in steps of a tenth of its length.
pub const BUCKETS: usize = 10;

#[derive(Debug, Default)]
struct Bucket {
    /// Which bucket period (elapsed / width) the counts belong to, plus one (0 = never used).
    epoch: AtomicU64,
    a: AtomicU64,
    b: AtomicU64,
}

/// Two counters summed over a sliding window. Time is passed in; the window length too, so the
/// same state serves whatever the current config says (a changed window makes one window
/// approximate).
#[derive(Debug)]
pub struct SlidingWindow {
    origin: Instant,
    buckets: [Bucket; BUCKETS],
}

impl SlidingWindow {
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            buckets: Default::default(),
        }
    }

    /// Add `a` and `b` to the bucket of `now`.
    pub fn add(&self, now: Instant, window: Duration, a: u64, b: u64) {
        let epoch = self.epoch(now, window);
        let bucket = &self.buckets[(epoch % BUCKETS as u64) as usize];
        let seen = bucket.epoch.load(Ordering::Acquire);
        if seen != epoch
            && seen < epoch
            && bucket
                .epoch
                .compare_exchange(seen, epoch, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // This caller recycled the bucket. An add racing with the reset may be lost or kept;
            // at most a few counts of one bucket, which the rates built on this tolerate.
            bucket.a.store(0, Ordering::Relaxed);
            bucket.b.store(0, Ordering::Relaxed);
        }
        if a > 0 {
            bucket.a.fetch_add(a, Ordering::Relaxed);
        }
        if b > 0 {
            bucket.b.fetch_add(b, Ordering::Relaxed);
        }
    }

    /// Sums of `a` and `b` over the buckets within the last `window` at `now`.
    pub fn totals(&self, now: Instant, window: Duration) -> (u64, u64) {
        let current = self.epoch(now, window);
        let oldest = current.saturating_sub(BUCKETS as u64 - 1);
        self.buckets
            .iter()
            .filter(|bucket| {
                let epoch = bucket.epoch.load(Ordering::Acquire);
                epoch >= oldest && epoch <= current
            })
            .fold((0, 0), |(a, b), bucket| {
                (
                    a + bucket.a.load(Ordering::Relaxed),
                    b + bucket.b.load(Ordering::Relaxed),
                )
            })
    }

    /// Forget everything.
    pub fn reset(&self) {
        for bucket in &self.buckets {
            bucket.epoch.store(0, Ordering::Release);
            bucket.a.store(0, Ordering::Relaxed);
            bucket.b.store(0, Ordering::Relaxed);
        }
    }

    fn epoch(&self, now: Instant, window: Duration) -> u64 {
        let width = (window.as_nanos() / BUCKETS as u128).max(1);
        (now.saturating_duration_since(self.origin).as_nanos() / width) as u64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(10);

    #[test]
    fn counts_expire_bucket_by_bucket() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0, WINDOW, 5, 1);
        w.add(t0 + Duration::from_secs(5), WINDOW, 3, 0);
        assert_eq!(w.totals(t0 + Duration::from_secs(5), WINDOW), (8, 1));
        assert_eq!(w.totals(t0 + Duration::from_millis(9_999), WINDOW), (8, 1));
        assert_eq!(w.totals(t0 + Duration::from_secs(10), WINDOW), (3, 0));
        assert_eq!(w.totals(t0 + Duration::from_secs(15), WINDOW), (0, 0));
    }

    #[test]
    fn a_recycled_bucket_starts_from_zero() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0, WINDOW, 7, 7);
        w.add(t0 + Duration::from_secs(10), WINDOW, 1, 0);
        assert_eq!(w.totals(t0 + Duration::from_secs(10), WINDOW), (1, 0));
    }

    #[test]
    fn time_before_the_origin_and_reset_are_harmless() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let w = SlidingWindow::new(t0);
        w.add(t0 - Duration::from_millis(500), WINDOW, 2, 0);
        assert_eq!(w.totals(t0, WINDOW), (2, 0));
        w.reset();
        assert_eq!(w.totals(t0, WINDOW), (0, 0));
    }

    #[test]
    fn concurrent_adds_all_count() {
        let t0 = Instant::now();
        let w = std::sync::Arc::new(SlidingWindow::new(t0));
        // The bucket's first use recycles it, which may race with adds (documented); after it,
        // no add is lost.
        w.add(t0, WINDOW, 0, 0);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = std::sync::Arc::clone(&w);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        w.add(t0, WINDOW, 1, 2);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(w.totals(t0, WINDOW), (40_000, 80_000));
    }
}
