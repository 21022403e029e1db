//! What the local rate-limit check costs in memory, counted by a global allocator: nothing per
//! check of a known key, and a bounded number of bytes per tracked key.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::time::Duration;

use http::HeaderMap;
use weir_config::MissingKey;
use weir_gateway::ratelimit::buckets::Buckets;
use weir_gateway::ratelimit::gcra::Quota;
use weir_gateway::ratelimit::key::{self, Part, RequestFacts};

struct Counting;

thread_local! {
    /// Allocations made by this thread, and bytes it allocated minus bytes it freed: per thread,
    /// so tests running side by side do not see each other.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

#[allow(unsafe_code)] // a counting allocator, the only unsafe code in the workspace
// SAFETY: every call is forwarded unchanged to `System`, which upholds `GlobalAlloc`'s contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE_BYTES.try_with(|b| b.set(b.get() + layout.size() as isize));
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's `layout` is passed on unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE_BYTES.try_with(|b| b.set(b.get() - layout.size() as isize));
        // SAFETY: `ptr` came from `System.alloc` with this `layout` (alloc above forwards to it).
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

#[test]
fn checking_a_known_key_allocates_nothing() {
    let buckets = Buckets::new(1000);
    let quota = Quota::new(1_000_000, Duration::from_secs(1), 1_000_000);
    let mut headers = HeaderMap::new();
    headers.insert("x-api-key", "customer-1234".parse().unwrap());
    let parts = [
        Part::ClientIp,
        Part::Header("x-api-key".parse().unwrap()),
        Part::Route,
    ];
    let facts = RequestFacts {
        client_ip: "203.0.113.7".parse().unwrap(),
        headers: &headers,
        route: "api",
    };
    let check = |now| {
        let key = key::local_key(&parts, MissingKey::Shared, &facts).unwrap();
        buckets.check(key, &quota, now)
    };
    check(1); // the first check inserts the key
    let before = allocations();
    for now in 2..10_002 {
        check(now);
    }
    assert_eq!(
        allocations() - before,
        0,
        "allocations in 10,000 checks of a known key"
    );
}

#[test]
fn a_million_tracked_keys_cost_under_150_bytes_each() {
    let quota = Quota::new(10, Duration::from_secs(1), 10);
    let before = live_bytes();
    let buckets = Buckets::new(1_000_000);
    for i in 0..1_000_000u64 {
        buckets.check(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), &quota, 1);
    }
    let bytes = live_bytes() - before;
    assert_eq!(buckets.tracked(), 1_000_000);
    let per_key = bytes as f64 / 1e6;
    eprintln!("{per_key:.1} bytes per tracked key");
    assert!(per_key <= 150.0, "{per_key:.1} bytes per key");
    // A flood beyond the cap adds nothing.
    let capped = live_bytes();
    for i in 1_000_000..1_200_000u64 {
        buckets.check(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), &quota, 1);
    }
    assert_eq!(buckets.tracked(), 1_000_000);
    assert_eq!(live_bytes(), capped);
}
