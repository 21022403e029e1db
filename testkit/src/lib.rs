//! What Weir's integration tests share: the workspace's binaries, free loopback ports, child
//! processes with their logs (killed by pid when a test ends), a real etcd, simulated origins, a
//! blocking HTTP client, and polling. Each crate's `tests/support` builds its own harness on these.

mod bin;
mod etcd;
mod http;
mod metrics;
mod net;
mod origins;
mod poll;
mod process;

pub use bin::workspace_bin;
pub use etcd::Etcd;
pub use http::{Resp, agent, send};
pub use metrics::metric_sum;
pub use net::{free_addr, loopback};
pub use origins::{OriginStats, Origins};
pub use poll::eventually;
pub use process::{Process, retry_port_races, retry_while_port_lingers};
