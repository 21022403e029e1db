//! The resilience checks on the request path: a bulkhead's enter and release (against tokio's
//! `Semaphore` as a baseline), uncontended and from two threads at once, a refusal when full, and
//! one sample fed to the adaptive concurrency limit.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tokio::sync::Semaphore;
use weir_config::{AdaptiveLimit, Priority};
use weir_gateway::resilience::adaptive::GradientLimit;
use weir_gateway::resilience::bulkhead::{Bulkhead, Shares};

const CAP: u32 = 10_000;
const SHARES: Shares = Shares {
    normal: 0.9,
    optional: 0.8,
};

fn adaptive_settings() -> AdaptiveLimit {
    AdaptiveLimit {
        min_in_flight: 8,
        initial: 100,
        tolerance: 2.0,
        min_rtt_window: Duration::from_secs(30),
    }
}

/// Time for `iters` calls on each of two threads at once (wall time per call per thread).
fn two_threads(iters: u64, call: impl Fn(u64) + Sync) -> Duration {
    let call = &call;
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..2u64 {
            s.spawn(move || {
                for i in 0..iters {
                    call(t * 1_000_003 + i);
                }
            });
        }
    });
    started.elapsed()
}

fn bulkhead(c: &mut Criterion) {
    let mut group = c.benchmark_group("bulkhead, one thread");
    let weir = Arc::new(Bulkhead::new());
    group.bench_function("weir enter + drop", |b| {
        b.iter(|| drop(black_box(weir.try_enter(CAP, Priority::Normal, &SHARES))))
    });
    // The gateway-wide and the upstream bulkhead, as a request takes both.
    let upstream = Arc::new(Bulkhead::new());
    group.bench_function("weir enter + drop, gateway and upstream", |b| {
        b.iter(|| {
            let gateway = weir.try_enter(CAP, Priority::Normal, &SHARES);
            let upstream = upstream.try_enter(black_box(1024), Priority::Normal, &SHARES);
            drop(black_box((gateway, upstream)))
        })
    });
    let full = Arc::new(Bulkhead::new());
    let _held: Vec<_> = (0..8)
        .map(|_| full.try_enter(10, Priority::Critical, &SHARES).unwrap())
        .collect();
    group.bench_function("weir refused (optional, full)", |b| {
        b.iter(|| black_box(full.try_enter(10, Priority::Optional, &SHARES)).is_err())
    });
    let semaphore = Arc::new(Semaphore::new(CAP as usize));
    group.bench_function("tokio Semaphore try_acquire_owned + drop", |b| {
        b.iter(|| drop(black_box(Arc::clone(&semaphore).try_acquire_owned())))
    });
    group.finish();

    let mut group = c.benchmark_group("bulkhead, two threads (time per call per thread)");
    group.bench_function("weir enter + drop, same bulkhead", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_| {
                drop(black_box(weir.try_enter(CAP, Priority::Normal, &SHARES)));
            })
        })
    });
    group.bench_function("tokio Semaphore, same semaphore", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |_| {
                drop(black_box(Arc::clone(&semaphore).try_acquire_owned()));
            })
        })
    });
    group.finish();
}

fn adaptive(c: &mut Criterion) {
    let settings = adaptive_settings();
    let start = Instant::now();
    let limit = GradientLimit::new(&settings, start);
    // Latencies around 10 ms with some spread, so both growth and shrinking are exercised.
    let rtt = |i: u64| Duration::from_micros(10_000 + (i.wrapping_mul(7919) % 15_000));
    let mut group = c.benchmark_group("adaptive limit");
    let mut i = 0u64;
    group.bench_function("on_sample, one thread", |b| {
        b.iter(|| {
            i += 1;
            let now = start + Duration::from_micros(i);
            limit.on_sample(&settings, 1024, rtt(i), i.is_multiple_of(100), 64, now);
        })
    });
    group.bench_function("limit()", |b| b.iter(|| black_box(limit.limit())));
    group.bench_function("on_sample, two threads (per call per thread)", |b| {
        b.iter_custom(|iters| {
            two_threads(iters, |i| {
                let now = start + Duration::from_micros(i);
                limit.on_sample(&settings, 1024, rtt(i), i.is_multiple_of(100), 64, now);
            })
        })
    });
    group.finish();
}

criterion_group!(benches, bulkhead, adaptive);
criterion_main!(benches);
