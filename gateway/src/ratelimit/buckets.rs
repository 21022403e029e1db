//! One policy's local buckets: a TAT per key in a sharded map, updated with compare-and-swap.
//! Bounded: at most `max_keys` keys get their own bucket, later ones share one overflow bucket,
//! and keys whose bucket has been full again for a while are pruned (a full bucket is the same
//! as no bucket; the wait keeps a returning client's slot when a flood fills the table).

use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use dashmap::DashMap;

use super::gcra::{Decision, Quota};

/// The keyed buckets of one policy. Outlives config versions (keyed by policy name in the
/// registry), so a reload keeps every client's state.
pub struct Buckets {
    tats: DashMap<u64, AtomicU64, BuildHasherDefault<KeyHashHasher>>,
    /// Keys in `tats`, kept here because `DashMap::len` locks every shard.
    tracked: AtomicUsize,
    max_keys: AtomicUsize,
    /// The bucket every key beyond `max_keys` shares, so a flood of new keys gets one quota in
    /// total rather than one each.
    overflow: AtomicU64,
    /// Set when the table fills; until pruning has emptied it below half and the overflow bucket
    /// has refilled (the flood is over), new keys stay in the overflow bucket. Without this, each
    /// slot freed by pruning would go to the next flood key and a long flood would get fresh
    /// buckets every few seconds.
    full: AtomicBool,
}

/// Which bucket a check used, to give its token back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Key(u64),
    Overflow,
}

impl Buckets {
    pub fn new(max_keys: u32) -> Self {
        Self {
            tats: DashMap::default(),
            tracked: AtomicUsize::new(0),
            max_keys: AtomicUsize::new(max_keys as usize),
            overflow: AtomicU64::new(0),
            full: AtomicBool::new(false),
        }
    }

    /// A changed `max_keys` applies to the next new key; tracked keys stay until pruned.
    pub fn set_max_keys(&self, max_keys: u32) {
        self.max_keys.store(max_keys as usize, Ordering::Relaxed);
    }

    /// Check (and on admission, take) one token from `key`'s bucket. A known key costs one
    /// shard read lock and a compare-and-swap; nothing is allocated.
    pub fn check(&self, key: u64, quota: &Quota, now: u64) -> (Decision, Slot) {
        if let Some(tat) = self.tats.get(&key) {
            return (take(&tat, quota, now), Slot::Key(key));
        }
        if self.full.load(Ordering::Relaxed)
            || self.tracked.load(Ordering::Relaxed) >= self.max_keys.load(Ordering::Relaxed)
        {
            self.full.store(true, Ordering::Relaxed);
            return (take(&self.overflow, quota, now), Slot::Overflow);
        }
        let entry = self.tats.entry(key).or_insert_with(|| {
            self.tracked.fetch_add(1, Ordering::Relaxed);
            AtomicU64::new(0)
        });
        (take(&entry, quota, now), Slot::Key(key))
    }

    /// Give back the token a check took (a later policy refused the request).
    pub fn refund(&self, slot: Slot, quota: &Quota) {
        let give_back = |tat: &AtomicU64| {
            let _ = tat.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |t| {
                Some(quota.refund(t))
            });
        };
        match slot {
            Slot::Overflow => give_back(&self.overflow),
            Slot::Key(key) => {
                if let Some(tat) = self.tats.get(&key) {
                    give_back(&tat);
                }
            }
        }
    }

    /// Forget every key whose bucket has been full for at least `idle` ns at `now`; returns how
    /// many were dropped.
    pub fn prune(&self, now: u64, idle: u64) -> usize {
        let mut dropped = 0;
        let horizon = now.saturating_sub(idle);
        self.tats.retain(|_, tat| {
            let keep = !Quota::is_full(tat.load(Ordering::Relaxed), horizon);
            dropped += usize::from(!keep);
            keep
        });
        let tracked = self.tracked.fetch_sub(dropped, Ordering::Relaxed) - dropped;
        // Open the table again only once the flood is over: below half full, and the overflow
        // bucket full again (no key has been turned away for a while).
        if tracked * 2 < self.max_keys.load(Ordering::Relaxed)
            && Quota::is_full(self.overflow.load(Ordering::Relaxed), now)
        {
            self.full.store(false, Ordering::Relaxed);
        }
        if dropped > 0 && self.tats.len() < self.tats.capacity() / 4 {
            // A flood grew the table; give the memory back once it is mostly empty.
            self.tats.shrink_to_fit();
        }
        dropped
    }

    /// Keys with their own bucket.
    pub fn tracked(&self) -> usize {
        self.tracked.load(Ordering::Relaxed)
    }

    /// Bytes the table holds now (its capacity, not its length), for the memory figure.
    pub fn table_bytes(&self) -> usize {
        self.tats.capacity() * (std::mem::size_of::<(u64, AtomicU64)>() + 1)
    }
}

/// Take one token from a bucket if the quota allows, retrying on a concurrent update.
fn take(tat: &AtomicU64, quota: &Quota, now: u64) -> Decision {
    let mut current = tat.load(Ordering::Acquire);
    loop {
        let decision = quota.decide(current, now);
        let new_tat = match decision {
            Decision::Admit { new_tat, .. } => new_tat,
            Decision::Limit { tat: kept, .. } => {
                if kept != current {
                    // A reload cut this bucket's debt; keep the cut (losing a race is harmless).
                    let _ =
                        tat.compare_exchange(current, kept, Ordering::AcqRel, Ordering::Relaxed);
                }
                return decision;
            }
        };
        match tat.compare_exchange_weak(current, new_tat, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return decision,
            Err(actual) => current = actual,
        }
    }
}

/// Keys are already seeded hashes (see `key`), so the map uses them as they are.
#[derive(Default)]
pub struct KeyHashHasher(u64);

impl Hasher for KeyHashHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used for `u64` keys; fold anything else so the type stays total.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const SECOND: u64 = 1_000_000_000;

    fn admitted(d: Decision) -> bool {
        matches!(d, Decision::Admit { .. })
    }

    #[test]
    fn each_key_has_its_own_bucket() {
        let buckets = Buckets::new(100);
        let quota = Quota::new(1, Duration::from_secs(1), 2);
        let now = SECOND;
        let a: Vec<bool> = (0..3)
            .map(|_| admitted(buckets.check(1, &quota, now).0))
            .collect();
        assert_eq!(a, [true, true, false]);
        assert!(admitted(buckets.check(2, &quota, now).0));
        assert_eq!(buckets.tracked(), 2);
    }

    #[test]
    fn keys_beyond_the_cap_share_the_overflow_bucket() {
        let buckets = Buckets::new(10);
        let quota = Quota::new(5, Duration::from_secs(1), 5);
        let now = SECOND;
        let admitted_count = (0..10_000u64)
            .filter(|&key| admitted(buckets.check(key, &quota, now).0))
            .count();
        // Ten keys with a bucket each, then the flood shares five tokens.
        assert_eq!(admitted_count, 10 + 5);
        assert_eq!(buckets.tracked(), 10);
        // A tracked client is still served from its own bucket.
        assert!(admitted(buckets.check(3, &quota, now).0));
    }

    #[test]
    fn a_full_table_takes_no_new_keys_until_pruning_halves_it() {
        let buckets = Buckets::new(4);
        let quota = Quota::new(1, Duration::from_secs(1), 1);
        for key in 0..4 {
            buckets.check(key, &quota, SECOND);
        }
        // Key 10 hits the cap; keys 0 and 1 refill and are pruned, but the table is not below
        // half, so key 11 still goes to the overflow bucket.
        assert_eq!(buckets.check(10, &quota, SECOND).1, Slot::Overflow);
        buckets.check(2, &quota, 3 * SECOND);
        buckets.check(3, &quota, 3 * SECOND);
        assert_eq!(buckets.prune(3 * SECOND, 0), 2);
        assert_eq!(buckets.check(11, &quota, 3 * SECOND).1, Slot::Overflow);
        assert_eq!(buckets.tracked(), 2);
        // Below half, but the flood goes on (the overflow bucket is in use): still closed.
        buckets.check(20, &quota, 9 * SECOND);
        assert_eq!(buckets.prune(9 * SECOND, 0), 2);
        assert_eq!(buckets.check(21, &quota, 9 * SECOND).1, Slot::Overflow);
        // The flood is over: once the overflow bucket is full again, new keys get buckets.
        buckets.prune(10 * SECOND, 0);
        assert_eq!(buckets.check(12, &quota, 10 * SECOND).1, Slot::Key(12));
    }

    #[test]
    fn pruning_forgets_full_buckets_only() {
        let buckets = Buckets::new(100);
        let quota = Quota::new(1, Duration::from_secs(1), 1);
        buckets.check(1, &quota, SECOND);
        buckets.check(2, &quota, 2 * SECOND);
        // Key 1 is full again at 2 s, key 2 at 3 s; with no idle time only key 1 goes.
        assert_eq!(buckets.prune(2 * SECOND + SECOND / 2, 0), 1);
        assert_eq!(buckets.tracked(), 1);
        // Key 2 is still limited: its state survived.
        assert!(!admitted(
            buckets.check(2, &quota, 2 * SECOND + SECOND / 2).0
        ));
        // Full since 3 s: kept while idle less than 5 s, dropped after.
        assert_eq!(buckets.prune(7 * SECOND, 5 * SECOND), 0);
        assert_eq!(buckets.prune(8 * SECOND, 5 * SECOND), 1);
        assert_eq!(buckets.tracked(), 0);
    }

    #[test]
    fn a_refund_restores_the_token() {
        let buckets = Buckets::new(1);
        let quota = Quota::new(1, Duration::from_secs(1), 1);
        for key in [7, 8] {
            // 7 gets a bucket, 8 the overflow one: both refund correctly.
            let (decision, slot) = buckets.check(key, &quota, SECOND);
            assert!(admitted(decision));
            buckets.refund(slot, &quota);
            assert!(admitted(buckets.check(key, &quota, SECOND).0));
            assert!(!admitted(buckets.check(key, &quota, SECOND).0));
        }
    }

    #[test]
    fn a_million_distinct_keys_stay_under_the_cap() {
        let buckets = Buckets::new(50_000);
        let quota = Quota::new(10, Duration::from_secs(1), 10);
        let now = SECOND;
        let mut admitted_count = 0;
        for key in 0..1_000_000u64 {
            admitted_count += usize::from(admitted(
                buckets
                    .check(key.wrapping_mul(0x9E37_79B9_7F4A_7C15), &quota, now)
                    .0,
            ));
        }
        assert_eq!(buckets.tracked(), 50_000);
        assert_eq!(admitted_count, 50_000 + 10);
        assert!(
            buckets.table_bytes() <= 50_000 * 150,
            "{} bytes",
            buckets.table_bytes()
        );
    }

    #[test]
    fn concurrent_checks_never_admit_more_than_the_quota() {
        let buckets = std::sync::Arc::new(Buckets::new(10));
        let quota = Quota::new(1, Duration::from_secs(1), 1000);
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let buckets = std::sync::Arc::clone(&buckets);
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| admitted(buckets.check(42, &quota, SECOND).0))
                        .count()
                })
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 1000);
    }
}
