//! Resilience policies, each a plain module testable without a server: how long a request may
//! take (`deadline`), what is retried (`retry`) within a budget (`budget`) after a jittered wait
//! (`backoff`), circuit breakers (`breaker`) over sliding windows (`window`), slow start after a
//! recovery (`slow_start`), bulkheads and priority shedding (`bulkhead`, `adaptive`), and fault
//! injection for game days (`fault`). `guards` keeps the per-upstream state that outlives config
//! versions. Nothing here imports the rest of the gateway: what composes these policies over an
//! upstream's runtime (`request/admission.rs`) lives above.

pub mod adaptive;
pub mod backoff;
pub mod breaker;
pub mod budget;
pub mod bulkhead;
pub mod fault;
pub mod guards;
pub mod retry;
pub mod slow_start;
pub mod window;
