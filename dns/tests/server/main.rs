//! weir-dns as a real process on loopback, queried with `dig` and with hand-built packets:
//! answers per policy, DNS correctness, health probes against a real HTTP server that is killed
//! and restarted, SIGHUP reloads, and a flood of random and mutated packets.

mod support;

mod batches;
mod correctness;
mod fuzz;
mod health;
mod policies;
mod reload;
