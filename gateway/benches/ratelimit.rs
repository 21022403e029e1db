//! The local rate-limit check on the request path: Weir's GCRA buckets against a naive
//! `Mutex<HashMap>` token bucket and against `governor`'s keyed limiter, for one hot key, for
//! keys drawn from 10k and 1M tracked keys, and from one and two threads. Prints the memory each
//! tracked key costs, measured by a counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use weir_gateway::ratelimit::buckets::Buckets;
use weir_gateway::ratelimit::gcra::Quota;
use weir_gateway::ratelimit::key::{self, Part, RequestFacts};

/// Counts live heap bytes, to state what a tracked key costs.
struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

#[allow(unsafe_code)] // a counting allocator, the only unsafe code in the workspace
// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: the caller's `layout` is passed on unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System.alloc` with this `layout` (alloc above forwards to it).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// A quota that admits everything the bench sends, so every check takes a token.
fn roomy() -> Quota {
    Quota::new(1_000_000_000, Duration::from_secs(1), 1_000_000_000)
}

/// The naive baseline: one lock around a map of float token buckets.
struct NaiveBuckets {
    map: Mutex<HashMap<u64, (f64, Instant)>>,
    rate: f64,
    burst: f64,
}

impl NaiveBuckets {
    fn check(&self, key: u64) -> bool {
        let now = Instant::now();
        let mut map = self.map.lock().unwrap();
        let (tokens, last) = map.entry(key).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

type Governor = governor::DefaultKeyedRateLimiter<u64>;

fn governor() -> Governor {
    let n = NonZeroU32::new(1_000_000_000).unwrap();
    governor::RateLimiter::dashmap(governor::Quota::per_second(n).allow_burst(n))
}

fn naive() -> NaiveBuckets {
    NaiveBuckets {
        map: Mutex::new(HashMap::new()),
        rate: 1e9,
        burst: 1e9,
    }
}

/// Keys spread over the hash space, as seeded hashes are.
fn keys(n: usize) -> Vec<u64> {
    (0..n as u64)
        .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5555)
        .collect()
}

fn clock_now(start: Instant) -> u64 {
    start.elapsed().as_nanos() as u64 + 1
}

fn hot_key(c: &mut Criterion) {
    let mut group = c.benchmark_group("hot key, one thread");
    let quota = roomy();
    let start = Instant::now();
    let weir = Buckets::new(1_000_000);
    group.bench_function("weir buckets (hashed key)", |b| {
        b.iter(|| black_box(weir.check(black_box(42), &quota, clock_now(start))))
    });
    // The whole local path of one policy: hash the header value, then check.
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", "customer-1234".parse().unwrap());
    let parts = [Part::Header("x-api-key".parse().unwrap())];
    let facts = RequestFacts {
        client_ip: "203.0.113.7".parse().unwrap(),
        headers: &headers,
        route: "api",
    };
    group.bench_function("weir key + buckets (header key)", |b| {
        b.iter(|| {
            let key = key::local_key(&parts, weir_config::MissingKey::Shared, &facts).unwrap();
            black_box(weir.check(key, &quota, clock_now(start)))
        })
    });
    let naive = naive();
    group.bench_function("naive Mutex<HashMap> token bucket", |b| {
        b.iter(|| black_box(naive.check(black_box(42))))
    });
    let gov = governor();
    group.bench_function("governor keyed (dashmap)", |b| {
        b.iter(|| black_box(gov.check_key(&black_box(42)).is_ok()))
    });
    group.finish();
}

fn many_keys(c: &mut Criterion) {
    for n in [10_000usize, 1_000_000] {
        let mut group = c.benchmark_group(format!("{n} tracked keys, one thread"));
        let quota = roomy();
        let start = Instant::now();
        let keys = keys(n);
        let weir = Buckets::new(n as u32);
        let naive = naive();
        let gov = governor();
        for &k in &keys {
            weir.check(k, &quota, clock_now(start));
            naive.check(k);
            let _ = gov.check_key(&k);
        }
        let mut i = 0usize;
        group.bench_function("weir buckets", |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(weir.check(keys[i], &quota, clock_now(start)))
            })
        });
        group.bench_function("naive Mutex<HashMap> token bucket", |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(naive.check(keys[i]))
            })
        });
        group.bench_function("governor keyed (dashmap)", |b| {
            b.iter(|| {
                i = (i + 7919) % n;
                black_box(gov.check_key(&keys[i]).is_ok())
            })
        });
        group.finish();
    }
}

/// Time for `iters` checks on each of two threads at once (wall time per check per thread).
fn two_threads(iters: u64, check: impl Fn(u64) + Sync) -> Duration {
    let check = &check;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            s.spawn(move || {
                for i in 0..iters {
                    check(t * 1_000_003 + i);
                }
            });
        }
    });
    started.elapsed()
}

fn contended(c: &mut Criterion) {
    let mut group = c.benchmark_group("two threads (time per check per thread)");
    let quota = roomy();
    let start = Instant::now();
    let weir = Arc::new(Buckets::new(1_000_000));
    let naive = naive();
    let gov = governor();
    let keys = keys(10_000);
    for &k in &keys {
        weir.check(k, &quota, clock_now(start));
        naive.check(k);
        let _ = gov.check_key(&k);
    }
    group.bench_function("weir, same hot key", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_| {
                black_box(weir.check(42, &quota, clock_now(start)));
            })
        })
    });
    group.bench_function("weir, 10k keys", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i| {
                black_box(weir.check(
                    keys[(i as usize * 7919) % keys.len()],
                    &quota,
                    clock_now(start),
                ));
            })
        })
    });
    group.bench_function("naive, same hot key", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_| {
                black_box(naive.check(42));
            })
        })
    });
    group.bench_function("naive, 10k keys", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i| {
                black_box(naive.check(keys[(i as usize * 7919) % keys.len()]));
            })
        })
    });
    group.bench_function("governor, same hot key", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_| {
                black_box(gov.check_key(&42).is_ok());
            })
        })
    });
    group.finish();
}

/// Heap bytes per tracked key after inserting `n` distinct keys.
fn bytes_per_key(n: usize) -> f64 {
    let quota = roomy();
    let keys = keys(n);
    let before = LIVE.load(Ordering::Relaxed);
    let weir = Buckets::new(n as u32);
    for (i, &k) in keys.iter().enumerate() {
        weir.check(k, &quota, i as u64 + 1);
    }
    let after = LIVE.load(Ordering::Relaxed);
    assert_eq!(weir.tracked(), n);
    (after - before) as f64 / n as f64
}

fn memory(_: &mut Criterion) {
    for n in [10_000, 1_000_000] {
        println!(
            "memory: {n} tracked keys cost {:.1} bytes per key (heap, counted)",
            bytes_per_key(n)
        );
    }
}

criterion_group!(benches, memory, hot_key, many_keys, contended);
criterion_main!(benches);
