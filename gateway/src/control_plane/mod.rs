//! The gateway's side of the control plane: hold the push stream open, apply each version all
//! or nothing, keep the last applied one in a cache file (so a restart without the control plane
//! still serves), and report ACK or NACK; post a health summary every `telemetry_interval`
//! (`telemetry`, made from the request path's own series by `summary`). Nothing here is on the
//! request path.

pub mod client;
pub mod summary;
pub mod telemetry;

// The exchange, the line splitter and the cache are shared with weir-dns.
pub use weir_push_client::{cache, http, lines};
