//! Sliding-window counters: two counts (`a`, `b`) over the last `window`, kept in ten buckets of a
//! tenth of it each, lock-free and lossless. A bucket is recycled when time moves past it, so
//! memory is fixed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Buckets per window: the window slides in steps of a tenth of its length.
pub const BUCKETS: usize = 10;

/// Each counter is one atomic word: the bucket period it counts for (its low 24 bits) above a
/// 40-bit count, so recycling a bucket and adding to it is a single compare-and-swap and no
/// concurrent add is lost. Periods alias after 2^24 buckets (19 days with 100 ms buckets); a
/// bucket untouched for exactly that long would be read as current, which is harmless here.
const COUNT_BITS: u32 = 40;
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
const TAG_MASK: u64 = (1 << 24) - 1;

#[derive(Debug, Default)]
struct Bucket {
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
        let period = self.period(now, window);
        let bucket = &self.buckets[(period % BUCKETS as u64) as usize];
        add_tagged(&bucket.a, period & TAG_MASK, a);
        add_tagged(&bucket.b, period & TAG_MASK, b);
    }

    /// Sums of `a` and `b` over the buckets within the last `window` at `now`.
    pub fn totals(&self, now: Instant, window: Duration) -> (u64, u64) {
        let current = self.period(now, window) & TAG_MASK;
        let recent = |cell: &AtomicU64| {
            let word = cell.load(Ordering::Relaxed);
            let age = current.wrapping_sub(word >> COUNT_BITS) & TAG_MASK;
            if age < BUCKETS as u64 {
                word & COUNT_MASK
            } else {
                0
            }
        };
        self.buckets.iter().fold((0, 0), |(a, b), bucket| {
            (a + recent(&bucket.a), b + recent(&bucket.b))
        })
    }

    /// Forget everything.
    pub fn reset(&self) {
        for bucket in &self.buckets {
            // A tag that is never current soon: the window reads it as old.
            bucket.a.store(0, Ordering::Relaxed);
            bucket.b.store(0, Ordering::Relaxed);
        }
    }

    /// The bucket period of `now`, counted from 1 so a never-used (zero) word reads as old.
    fn period(&self, now: Instant, window: Duration) -> u64 {
        let width = (window.as_nanos() / BUCKETS as u128).max(1);
        (now.saturating_duration_since(self.origin).as_nanos() / width) as u64 + BUCKETS as u64
    }
}

/// Add `n` to a counter for period `tag`, restarting it from zero if it held an older period.
fn add_tagged(cell: &AtomicU64, tag: u64, n: u64) {
    if n == 0 {
        return;
    }
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let count = if current >> COUNT_BITS == tag {
            (current & COUNT_MASK).saturating_add(n).min(COUNT_MASK)
        } else {
            n.min(COUNT_MASK)
        };
        match cell.compare_exchange_weak(
            current,
            (tag << COUNT_BITS) | count,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(seen) => current = seen,
        }
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
