//! weir-dns: Weir's authoritative GSLB DNS server. It answers the names of the fleet config's
//! `[dns]` section with the addresses of healthy, weighted members nearest the client, over UDP
//! (our own batched loop, [`udp`]) and TCP (hickory-server).
//!
//! The policy lives in plain modules ([`region_map`], [`health`], [`engine`], [`catalog`]) tested
//! without sockets; [`handler`] adapts them to hickory's `RequestHandler` (TCP) and to
//! [`udp`]'s loop; [`prober`] runs the HTTP health probes; [`gateways`] keeps the control
//! plane's view of the gateways' readiness per region (the second health source); [`state`]
//! holds the swapped catalog and applies configs (a file, or a version pushed by the control
//! plane, which [`follow`] follows); [`admin`] serves metrics and status.
#![forbid(unsafe_code)]

pub mod admin;
pub mod catalog;
pub mod engine;
pub mod follow;
pub mod gateways;
pub mod handler;
pub mod health;
pub mod metrics;
pub mod prober;
pub mod query_log;
pub mod region_map;
pub mod state;
pub mod udp;
