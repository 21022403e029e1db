//! The gateway's side of the control plane: hold the push stream open, apply each version all
//! or nothing, keep the last applied one in a cache file (so a restart without the control plane
//! still serves), and report ACK or NACK. Nothing here is on the request path.

pub mod client;

// The exchange, the line splitter and the cache are shared with weir-dns.
pub use weir_push_client::{cache, http, lines};
