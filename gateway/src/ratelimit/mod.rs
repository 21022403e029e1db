//! Rate limiting: keyed GCRA policies checked on the request path, in local buckets or, for
//! `scope = "global"`, in Redis shared by every gateway.
//!
//! `gcra` is the arithmetic, `buckets` a policy's local state, `key` what a request is counted
//! as, `policy` a compiled policy, `check` the decision for a route, `store` the Redis side,
//! `registry` the state that outlives config versions (pruned by the top-level `janitor`).
//! Nothing here knows Pingora or the rest of the gateway: it uses only `metrics`.

pub mod buckets;
pub mod check;
pub mod gcra;
pub mod key;
pub mod policy;
pub mod registry;
pub mod store;

pub use check::{Verdict, check};
pub use policy::Policy;
pub use registry::LimiterRegistry;

/// The limiter clock: nanoseconds since the process first asked, on the monotonic clock. Plain
/// numbers, so the bucket logic takes `now` as an argument and tests pass their own.
pub mod clock {
    use std::sync::OnceLock;
    use std::time::Instant;

    pub fn now() -> u64 {
        static START: OnceLock<Instant> = OnceLock::new();
        // +1 keeps "now" above 0, the TAT of a bucket never used.
        u64::try_from(START.get_or_init(Instant::now).elapsed().as_nanos()).unwrap_or(u64::MAX) + 1
    }
}
