//! The control plane's HTTP API as both ends compile it: its routes ([`Route`]) and the JSON
//! bodies it answers with, so the server serializes and `weirctl` reads the same types and no
//! field name is spelled twice.

mod failover;
mod gateways;
mod problem;
mod rollout;
mod routes;
mod telemetry;
mod versions;
mod writes;

pub use failover::{
    FailoverPaused, FailoverStatus, RegionEvaluation, RegionFailover, UpstreamFailover,
};
pub use gateways::{GatewayList, GatewayView, LastReport, NodeKind, ReplicaView};
pub use problem::{ConfigProblem, Problem};
pub use rollout::{RolloutEvaluation, RolloutStatus, RolloutView};
pub use routes::{Method, Route};
pub use telemetry::{GatewayTelemetryView, TelemetryList};
pub use versions::{AuditEntry, AuditList, ConfigVersion, Drained, VersionList, VersionMeta};
pub use writes::{
    ConfigChanges, ConfigWrite, DryRun, EndpointSet, RegionRestored, RolledBack, WeightBody,
    WeightSet, Written,
};
