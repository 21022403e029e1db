//! Tests of `weir_config::parse`, `restart_required` and `diff`.

mod support;

mod control_plane;
mod drained;
mod durations;
mod errors;
mod example;
mod reload;
mod resilience;
mod rules;
