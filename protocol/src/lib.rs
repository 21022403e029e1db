//! What Weir's control plane, its gateways and `weirctl` say to each other: the messages of the
//! push stream (newline-delimited JSON, one message a line), the report a gateway (or weir-dns)
//! sends after each config it receives, the health summary a gateway sends every few seconds, the control plane's API (its routes and its JSON bodies)
//! and the config checksum. Every side uses these types, so each wire format is defined once.
#![forbid(unsafe_code)]

pub mod api;
mod checksum;
mod dns;
mod push;
mod readiness;
mod report;
mod telemetry;

pub use checksum::checksum;
pub use dns::{DnsView, MAX_MEMBER_NAME_BYTES, MAX_REPORT_MEMBERS, MemberHealth};
pub use push::{ConfigPush, NDJSON, STREAM_PATH, StreamMessage};
pub use readiness::{GatewayReadiness, MAX_READINESS_REGIONS, RegionGateways};
pub use report::{
    MAX_ERROR_CHARS, MAX_REPORT_BYTES, MAX_REPORT_ERRORS, Outcome, Report, cap_errors, report_path,
};
pub use telemetry::{
    MAX_TELEMETRY_BYTES, MAX_TELEMETRY_NAME_BYTES, MAX_TELEMETRY_POOLS, PoolTelemetry, Telemetry,
    telemetry_path,
};
