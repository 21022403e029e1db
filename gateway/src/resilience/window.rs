//! Sliding-window counters: two counts (`a`, `b`) over the last `window`, kept in ten buckets of a
//! tenth of it each, lock-free and without losing a concurrent add. It cannot fail: time before
//! the origin counts as the origin, counts saturate instead of wrapping, and a changed `window`
//! only makes the first window after the change approximate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Buckets per window: the window slides in steps of a tenth of its length.
pub const BUCKETS: usize = 10;

// Each counter is one atomic word: the bucket period it counts for (a 24-bit tag) above a 40-bit
// count. Recycling a stale bucket and adding to it is then a single compare-and-swap, so unlike
// a separate epoch word (swap the epoch, then zero the counts) no add racing the recycling can
// land in the bucket and be zeroed or counted for the wrong period.
const COUNT_BITS: u32 = 40;
/// The largest count a bucket holds (about 10^12); adds beyond it are dropped.
const COUNT_MASK: u64 = (1 << COUNT_BITS) - 1;
/// Periods are kept modulo 2^24 (19 days of 100 ms buckets). A bucket left untouched for exactly
/// a multiple of that would read as current once; harmless for these counters.
const TAG_MASK: u64 = (1 << 24) - 1;

#[derive(Debug, Default)]
struct Bucket {
    a: AtomicU64,
    b: AtomicU64,
}

/// Two counters summed over a sliding window. Time is passed in, and the window length too, so
/// the same state serves whatever the current config says.
#[derive(Debug)]
pub struct SlidingWindow {
    origin: Instant,
    buckets: [Bucket; BUCKETS],
}

impl SlidingWindow {
    /// An empty window; bucket periods are counted from `origin`.
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            buckets: Default::default(),
        }
    }

    /// Add `a` and `b` to the bucket of `now`: one compare-and-swap per non-zero count.
    pub fn add(&self, now: Instant, window: Duration, a: u64, b: u64) {
        let period = self.period(now, window);
        let bucket = &self.buckets[slot(period)];
        let tag = period & TAG_MASK;
        add_tagged(&bucket.a, tag, a);
        add_tagged(&bucket.b, tag, b);
    }

    /// Sums of `a` and `b` over the buckets within the last `window` at `now`: the bucket of
    /// `now` and the nine before it. Buckets of a later period than `now` (another thread's
    /// slightly later clock) are not counted; that misses one bucket for an instant at most.
    pub fn totals(&self, now: Instant, window: Duration) -> (u64, u64) {
        let current = self.period(now, window) & TAG_MASK;
        self.buckets.iter().fold((0, 0), |(a, b), bucket| {
            (
                a + recent_count(&bucket.a, current),
                b + recent_count(&bucket.b, current),
            )
        })
    }

    /// Forget everything. Not atomic across buckets: an add racing the reset may survive it.
    pub fn reset(&self) {
        for bucket in &self.buckets {
            // Tag 0 is never a recent period (periods start at BUCKETS), so the words read empty.
            bucket.a.store(0, Ordering::Relaxed);
            bucket.b.store(0, Ordering::Relaxed);
        }
    }

    /// The bucket period of `now`, counted from `BUCKETS` so that a never-used (zero) word reads
    /// as old.
    fn period(&self, now: Instant, window: Duration) -> u64 {
        let width = (window.as_nanos() / BUCKETS as u128).max(1);
        let elapsed = now.saturating_duration_since(self.origin).as_nanos();
        u64::try_from(elapsed / width)
            .unwrap_or(u64::MAX - BUCKETS as u64)
            .saturating_add(BUCKETS as u64)
    }
}

/// The bucket a period is counted in.
fn slot(period: u64) -> usize {
    (period % BUCKETS as u64) as usize
}

/// The count held in `cell` if it is for one of the `BUCKETS` periods up to `current`, else 0.
fn recent_count(cell: &AtomicU64, current: u64) -> u64 {
    let word = cell.load(Ordering::Relaxed);
    let age = current.wrapping_sub(word >> COUNT_BITS) & TAG_MASK;
    if age < BUCKETS as u64 {
        word & COUNT_MASK
    } else {
        0
    }
}

/// Add `n` to the counter for period `tag`, restarting it from zero if it held an older period.
fn add_tagged(cell: &AtomicU64, tag: u64, n: u64) {
    if n == 0 {
        return;
    }
    let mut word = cell.load(Ordering::Relaxed);
    loop {
        let count = if word >> COUNT_BITS == tag {
            (word & COUNT_MASK).saturating_add(n).min(COUNT_MASK)
        } else {
            n.min(COUNT_MASK)
        };
        match cell.compare_exchange_weak(
            word,
            (tag << COUNT_BITS) | count,
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return,
            Err(seen) => word = seen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const WINDOW: Duration = Duration::from_secs(10);
    const BUCKET: Duration = Duration::from_secs(1);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_empty_window_counts_nothing() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        assert_eq!(w.totals(t0, WINDOW), (0, 0));
        assert_eq!(w.totals(t0 + Duration::from_secs(3_600), WINDOW), (0, 0));
    }

    #[test]
    fn a_and_b_are_counted_separately() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0, WINDOW, 3, 0);
        w.add(t0 + ms(10), WINDOW, 0, 2);
        w.add(t0 + ms(20), WINDOW, 1, 1);
        assert_eq!(w.totals(t0 + ms(20), WINDOW), (4, 3));
    }

    #[test]
    fn counts_expire_after_the_window() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0, WINDOW, 5, 1);
        w.add(t0 + ms(5_000), WINDOW, 3, 0);
        assert_eq!(w.totals(t0 + ms(5_000), WINDOW), (8, 1));
        assert_eq!(w.totals(t0 + ms(9_999), WINDOW), (8, 1));
        assert_eq!(w.totals(t0 + ms(10_000), WINDOW), (3, 0));
        assert_eq!(w.totals(t0 + ms(14_999), WINDOW), (3, 0));
        assert_eq!(w.totals(t0 + ms(15_000), WINDOW), (0, 0));
    }

    #[test]
    fn counts_expire_bucket_by_bucket() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        // One `a` in each of the ten buckets, at varying offsets within them.
        for i in 0..BUCKETS as u32 {
            w.add(t0 + BUCKET * i + ms(100 * u64::from(i)), WINDOW, 1, 0);
        }
        assert_eq!(w.totals(t0 + ms(9_999), WINDOW), (10, 0));
        // Each step past a bucket boundary drops the oldest bucket, and only it.
        for step in 1..=BUCKETS as u32 {
            let now = t0 + WINDOW + BUCKET * (step - 1);
            let left = u64::from(BUCKETS as u32 - step);
            assert_eq!(w.totals(now, WINDOW), (left, 0), "step {step}");
            assert_eq!(w.totals(now + ms(999), WINDOW), (left, 0), "step {step}");
        }
    }

    #[test]
    fn a_recycled_bucket_starts_from_zero() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0, WINDOW, 7, 7);
        // The same bucket, one window later: the old counts are gone, the new one stays.
        w.add(t0 + WINDOW, WINDOW, 1, 0);
        assert_eq!(w.totals(t0 + WINDOW, WINDOW), (1, 0));
        w.add(t0 + WINDOW, WINDOW, 0, 1);
        assert_eq!(w.totals(t0 + WINDOW, WINDOW), (1, 1));
    }

    #[test]
    fn a_long_quiet_spell_forgets_everything() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        for i in 0..10 {
            w.add(t0 + BUCKET * i, WINDOW, 1, 1);
        }
        let much_later = t0 + Duration::from_secs(7 * 24 * 3_600);
        assert_eq!(w.totals(much_later, WINDOW), (0, 0));
        w.add(much_later, WINDOW, 2, 0);
        assert_eq!(w.totals(much_later, WINDOW), (2, 0));
    }

    #[test]
    fn time_before_the_origin_counts_as_the_origin() {
        let t0 = Instant::now() + Duration::from_secs(1);
        let w = SlidingWindow::new(t0);
        w.add(t0 - ms(500), WINDOW, 2, 0);
        assert_eq!(w.totals(t0 - ms(900), WINDOW), (2, 0));
        assert_eq!(w.totals(t0, WINDOW), (2, 0));
        assert_eq!(w.totals(t0 + WINDOW, WINDOW), (0, 0));
    }

    #[test]
    fn reset_forgets_everything() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0, WINDOW, 4, 4);
        w.add(t0 + ms(3_000), WINDOW, 4, 4);
        w.reset();
        assert_eq!(w.totals(t0 + ms(3_000), WINDOW), (0, 0));
        w.add(t0 + ms(3_000), WINDOW, 1, 0);
        assert_eq!(w.totals(t0 + ms(3_000), WINDOW), (1, 0));
    }

    #[test]
    fn a_later_bucket_is_not_read_at_an_earlier_time() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0 + ms(2_500), WINDOW, 1, 0);
        assert_eq!(w.totals(t0 + ms(1_500), WINDOW), (0, 0));
        assert_eq!(w.totals(t0 + ms(2_500), WINDOW), (1, 0));
    }

    #[test]
    fn counts_saturate_instead_of_wrapping() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0, WINDOW, u64::MAX, COUNT_MASK);
        w.add(t0, WINDOW, 1, 1);
        assert_eq!(w.totals(t0, WINDOW), (COUNT_MASK, COUNT_MASK));
        // Ten full buckets still sum without overflow.
        for i in 1..10 {
            w.add(t0 + BUCKET * i, WINDOW, u64::MAX, 0);
        }
        assert_eq!(w.totals(t0 + ms(9_000), WINDOW).0, COUNT_MASK * 10);
    }

    #[test]
    fn a_changed_window_is_approximate_for_one_window_only() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0 + ms(500), WINDOW, 5, 0);
        // Reloaded to 1 s: the old count's period may read as recent at the new bucket width
        // (here it does) ...
        let short = Duration::from_secs(1);
        w.add(t0 + ms(900), short, 1, 0);
        let (a, _) = w.totals(t0 + ms(950), short);
        assert!(a == 1 || a == 6, "{a}");
        // ... but a new window later only what was added since counts.
        w.add(t0 + ms(1_500), short, 2, 0);
        assert_eq!(w.totals(t0 + ms(1_900), short), (2, 0));
    }

    #[test]
    fn a_zero_window_does_not_divide_by_zero() {
        let t0 = Instant::now();
        let w = SlidingWindow::new(t0);
        w.add(t0 + ms(1), Duration::ZERO, 1, 1);
        assert_eq!(w.totals(t0 + ms(1), Duration::ZERO), (1, 1));
    }

    #[test]
    fn concurrent_adds_all_count() {
        let t0 = Instant::now();
        let w = Arc::new(SlidingWindow::new(t0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let w = Arc::clone(&w);
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

    #[test]
    fn concurrent_adds_that_recycle_buckets_lose_nothing() {
        let t0 = Instant::now();
        let w = Arc::new(SlidingWindow::new(t0));
        // Stale counts in every bucket, which the threads' first adds recycle at once.
        for i in 0..10 {
            w.add(t0 + BUCKET * i, WINDOW, 1_000, 1_000);
        }
        let start = t0 + Duration::from_secs(20);
        let threads: Vec<_> = (0..4u64)
            .map(|thread| {
                let w = Arc::clone(&w);
                std::thread::spawn(move || {
                    for i in 0..10_000u64 {
                        // Spread over the whole window, each thread in its own order.
                        let offset = (i * 7 + thread * 1_301) % 10_000;
                        w.add(start + ms(offset), WINDOW, 1, 1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(w.totals(start + ms(9_999), WINDOW), (40_000, 40_000));
    }
}
