//! Tests of `weir_config::parse`, `restart_required` and `diff`.

mod support;

mod control_plane;
mod diff_property;
mod dns;
mod drained;
mod durations;
mod edge_tls;
mod errors;
mod example;
mod failover;
mod mutate;
mod reload;
mod resilience;
mod rollout;
mod rules;
mod tls_keys;
