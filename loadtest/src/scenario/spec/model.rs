//! The validated scenario the run engine uses: defaults applied, every name given, and the
//! phases' start offsets computed.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};

use crate::assert::Assertion;

/// The longest scenario accepted: the phases may add up to at most the longest run.
pub const MAX_DURATION: Duration = crate::load::MAX_DURATION;
/// Per-request timeout of the load when `load.timeout` is not set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of an HTTP action when none is set.
pub const DEFAULT_HTTP_ACTION_TIMEOUT: Duration = Duration::from_secs(10);
/// Timeout of a command action when none is set; the command is killed after it.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// TCP connections when `load.connections` is not set.
pub const DEFAULT_CONNECTIONS: u32 = 50;

/// A validated scenario.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: Option<String>,
    pub load: Load,
    /// Whole-run assertions (scope `run`).
    pub asserts: Vec<Assertion>,
    /// In order, back to back; at least one.
    pub phases: Vec<Phase>,
    /// In file order (not sorted by `at`).
    pub actions: Vec<Action>,
}

/// How the load is sent.
#[derive(Clone, Debug)]
pub struct Load {
    /// At least one; names unique.
    pub targets: Vec<Target>,
    pub connections: u32,
    /// HTTP/2 streams per connection (1 unless `http2`).
    pub streams: u32,
    pub threads: u32,
    pub http2: bool,
    /// Per request.
    pub timeout: Duration,
}

/// One URL the load is sent to.
#[derive(Clone, Debug)]
pub struct Target {
    /// `target-N` (from 1) unless named; what a phase's `weights` refer to.
    pub name: String,
    /// An absolute `http://` URL.
    pub url: Uri,
    /// Default share of the load (≥ 1); a phase may override it (see [`Phase::weights`]).
    pub weight: u32,
    pub method: Method,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// The shape of a phase's arrival rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhaseKind {
    /// From `rate_from` to `rate_to`, linearly.
    Ramp,
    /// A constant rate.
    Steady,
    /// A constant rate, usually well above its neighbours (reported as such).
    Spike,
}

impl PhaseKind {
    /// As written in the file and shown in the report: `ramp`, `steady`, `spike`.
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseKind::Ramp => "ramp",
            PhaseKind::Steady => "steady",
            PhaseKind::Spike => "spike",
        }
    }
}

/// One phase, with its place in the run.
#[derive(Clone, Debug)]
pub struct Phase {
    /// `phase-N` (from 1) unless named; unique, never `run`.
    pub name: String,
    pub kind: PhaseKind,
    /// Offset from the start of the run.
    pub start: Duration,
    /// More than zero.
    pub duration: Duration,
    /// Requests/s at the start of the phase (≥ 0, and > 0 unless a ramp).
    pub rate_from: f64,
    /// Requests/s at the end of the phase (> 0; equal to `rate_from` unless a ramp).
    pub rate_to: f64,
    /// The targets' weights in this phase, one per target in `load.targets` order: the phase's
    /// `weights` table, or the targets' own weights. A 0 means the target gets nothing in this
    /// phase; at least one is above 0.
    pub weights: Vec<u32>,
    /// Per-phase assertions (scope: the phase's name).
    pub asserts: Vec<Assertion>,
}

impl Phase {
    /// Offset of the end of the phase from the start of the run.
    pub fn end(&self) -> Duration {
        self.start.saturating_add(self.duration)
    }
}

/// Something done to the system under test at a point of the run.
#[derive(Clone, Debug)]
pub struct Action {
    /// `action-N` (from 1) unless named; unique.
    pub name: String,
    /// Offset from the start of the run; before the end of the last phase.
    pub at: Duration,
    /// Whether the report measures the recovery after it.
    pub failure: bool,
    /// How long the request or command may take (a command is killed after it).
    pub timeout: Duration,
    pub kind: ActionKind,
}

/// What an action does.
#[derive(Clone, Debug)]
pub enum ActionKind {
    Http(Box<HttpAction>),
    /// Program and arguments (no shell; use `["sh", "-c", "..."]` for one). Never empty.
    Command(Vec<String>),
}

/// One HTTP/1.1 request over plain TCP.
#[derive(Clone, Debug)]
pub struct HttpAction {
    pub method: Method,
    /// An absolute `http://` URL.
    pub url: Uri,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Scenario {
    /// Planned length of the run: the sum of the phases.
    #[cfg(test)]
    pub fn duration(&self) -> Duration {
        self.phases.last().map_or(Duration::ZERO, Phase::end)
    }
}
