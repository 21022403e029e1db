//! Weir's data plane: a Pingora HTTP proxy that routes by host and path to regional pools,
//! chooses healthy, fast endpoints, and takes new configs atomically while serving.
#![forbid(unsafe_code)]

pub mod access_log;
pub mod admin;
pub mod balance;
pub mod client_ip;
pub mod control_plane;
pub mod drain;
pub mod endpoint;
pub mod ewma;
pub mod h2_watch;
pub mod header_guard;
pub mod header_values;
pub mod health;
pub mod janitor;
pub mod listener;
pub mod metrics;
pub mod names;
pub mod outlier;
pub mod problem;
pub mod proxy;
pub mod ramp;
pub mod ratelimit;
pub mod reload;
pub mod reopen;
pub mod request;
pub mod resilience;
pub mod resolver;
pub mod router;
pub mod runtime;
pub mod sd_notify;
pub mod series;
pub mod server;
pub mod snapshot;
pub mod state;
pub mod status;
mod stream_wrap;
pub mod supervise;
pub mod tls;
pub mod trace_ctx;
pub mod upgrade;
pub mod upstream_tls;
pub mod watcher;
