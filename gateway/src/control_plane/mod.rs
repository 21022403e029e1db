//! The gateway's side of the control plane: hold the push stream open, apply each version all
//! or nothing, keep the last applied one in a cache file (so a restart without the control plane
//! still serves), and report ACK or NACK. Nothing here is on the request path.

pub mod cache;
pub mod client;
pub mod http;
pub mod lines;
