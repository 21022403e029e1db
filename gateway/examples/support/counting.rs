//! A counting global allocator for the allocation benchmark: every call is forwarded to the
//! binary's real allocator (mimalloc, as in the gateway's release build) and counted, and a
//! loopback report port answers the running totals, so a script can take the difference over a
//! fixed load. Only the `alloc_count` example uses it; the production binary never does.

use std::alloc::{GlobalAlloc, Layout};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};

#[cfg(feature = "mimalloc")]
type Inner = mimalloc::MiMalloc;
#[cfg(not(feature = "mimalloc"))]
type Inner = std::alloc::System;

/// The inner allocator, with counts of what was asked of it.
pub struct Counting {
    inner: Inner,
    /// Calls that returned new memory: `alloc`, `alloc_zeroed` and `realloc`.
    allocations: AtomicU64,
    /// Bytes those calls asked for (a `realloc`'s new size).
    bytes: AtomicU64,
}

impl Counting {
    pub const fn new() -> Self {
        Self {
            #[cfg(feature = "mimalloc")]
            inner: mimalloc::MiMalloc,
            #[cfg(not(feature = "mimalloc"))]
            inner: std::alloc::System,
            allocations: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    fn count(&self, size: usize) {
        self.allocations.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(size as u64, Ordering::Relaxed);
    }

    /// The totals so far: allocations and bytes.
    pub fn totals(&self) -> (u64, u64) {
        (
            self.allocations.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

#[allow(unsafe_code)] // a counting allocator for a benchmark binary, not the gateway's
// SAFETY: every call is forwarded unchanged to the inner allocator, which upholds `GlobalAlloc`'s
// contract; the counters have no effect on the memory returned.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: the caller's `layout` is passed on unchanged.
        unsafe { self.inner.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.count(layout.size());
        // SAFETY: the caller's `layout` is passed on unchanged.
        unsafe { self.inner.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from the inner allocator with this `layout` (every path forwards).
        unsafe { self.inner.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.count(new_size);
        // SAFETY: the caller's arguments are passed on unchanged.
        unsafe { self.inner.realloc(ptr, layout, new_size) }
    }
}

/// Answer every connection to `addr` with the totals as a small HTTP/1.0 response
/// (`allocations N` and `bytes M` lines), from a thread of its own. Writing the answer does not
/// allocate, so reading the counters does not move them.
pub fn serve_totals(
    addr: SocketAddr,
    counting: &'static Counting,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let listener = TcpListener::bind(addr)?;
    std::thread::Builder::new()
        .name("alloc-report".to_string())
        .spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (allocations, bytes) = counting.totals();
                let _ = write!(
                    stream,
                    "HTTP/1.0 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n\
                     allocations {allocations}\nbytes {bytes}\n"
                );
            }
        })
}
