//! Weir's control plane: a durable, versioned store of the fleet config, the authenticated HTTP
//! API operators and `weirctl` use, and the push stream that keeps every gateway on the latest
//! version. Gateways never wait on it: they serve what they hold and catch up when it is back.
#![forbid(unsafe_code)]

pub mod api;
pub mod auth;
pub mod edit;
pub mod failover;
pub mod fleet;
pub mod metrics;
pub mod rollout;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod tls;
