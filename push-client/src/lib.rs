//! The control plane's push stream from the follower's side, shared by `weir-gateway` and
//! `weir-dns`: one HTTP(S) exchange with the bearer token ([`http`]), the stream split into
//! bounded NDJSON lines ([`lines`]), the last applied version kept on disk atomically
//! ([`cache`]), which pushed versions may be applied ([`order`]), the one-slot report mailbox
//! ([`mailbox`]) and the jittered wait before reconnecting ([`backoff`]). No Pingora, no policy:
//! what a follower does with a version is its own.
#![forbid(unsafe_code)]

pub mod backoff;
pub mod cache;
pub mod http;
pub mod lines;
pub mod mailbox;
pub mod order;
pub mod report;
