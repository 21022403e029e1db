//! The scenario file: TOML parsed into raw structs, then validated into a [`Scenario`].
//!
//! Parsing fails with every problem found, each with its path (`phases[2].rate: must be > 0`);
//! a TOML syntax or type error stops at the first one and gives its line and column. Rates are
//! read as any TOML value and checked here, so a rate of the wrong type (`rate = "fast"`) is one
//! error among the others rather than the only one. The
//! validated type holds only what the run engine needs, with defaults applied and the phases'
//! start offsets computed. Nothing here does I/O except [`load`], which reads the file.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Display;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use serde::Deserialize;

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

/// Reads and validates a scenario file. Each error is prefixed with the file's path.
pub fn load(path: &Path) -> Result<Scenario, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| vec![format!("cannot read {}: {err}", path.display())])?;
    parse(&text).map_err(|errors| {
        errors
            .into_iter()
            .map(|err| format!("{}: {err}", path.display()))
            .collect()
    })
}

/// Parses and validates a scenario from its TOML text.
pub fn parse(text: &str) -> Result<Scenario, Vec<String>> {
    let raw: RawScenario = toml::from_str(text).map_err(|err| vec![syntax_error(text, &err)])?;
    let mut errors = Errors::default();
    let scenario = validate(raw, &mut errors);
    match scenario {
        Some(scenario) if errors.0.is_empty() => Ok(scenario),
        _ => Err(errors.0),
    }
}

/// `line L, column C: message` for a TOML error.
fn syntax_error(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    let Some(span) = err.span() else {
        return message.to_string();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {column}: {message}")
}

// ------------------------------------------------------------------------------- raw file

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    load: Option<RawLoad>,
    #[serde(default)]
    assert: Vec<String>,
    #[serde(default)]
    phases: Vec<RawPhase>,
    #[serde(default)]
    actions: Vec<RawAction>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLoad {
    targets: Option<Vec<RawTarget>>,
    connections: Option<u32>,
    streams: Option<u32>,
    threads: Option<u32>,
    http2: Option<bool>,
    timeout: Option<String>,
    /// Not a load key: caught to explain TOML's table rule (see `validate_load`).
    assert: Option<toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<String>,
    url: Option<String>,
    weight: Option<u32>,
    method: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    name: Option<String>,
    kind: Option<String>,
    /// Rates are checked in `phase_rates` (see the module's doc).
    from: Option<toml::Value>,
    to: Option<toml::Value>,
    rate: Option<toml::Value>,
    duration: Option<String>,
    weights: Option<BTreeMap<String, u32>>,
    #[serde(default)]
    assert: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    name: Option<String>,
    at: Option<String>,
    #[serde(default)]
    failure: bool,
    timeout: Option<String>,
    http: Option<RawHttp>,
    command: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    method: Option<String>,
    url: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    timeout: Option<String>,
}

// ------------------------------------------------------------------------------- validation

/// Every problem found, as `path: message`.
#[derive(Debug, Default)]
struct Errors(Vec<String>);

impl Errors {
    fn add(&mut self, path: impl Display, message: impl Display) {
        self.0.push(format!("{path}: {message}"));
    }

    /// The value, or an error at `path` saying it is missing.
    fn required<T>(&mut self, path: impl Display, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.add(path, "missing");
        }
        value
    }
}

fn validate(raw: RawScenario, errors: &mut Errors) -> Option<Scenario> {
    let name = errors.required("name", raw.name);
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        errors.add("name", "must not be empty");
    }
    let load = errors
        .required("load", raw.load)
        .and_then(|load| validate_load(load, errors));
    let asserts = assertions(&raw.assert, "assert", errors);
    let targets = load.as_ref().map_or(&[][..], |l: &Load| &l.targets[..]);
    // The phases' total length is known when their durations are, even if another key of a
    // phase (its rate, its kind) is wrong: the actions are checked against it either way.
    let (phases, total) = validate_phases(raw.phases, targets, errors);
    let actions = validate_actions(raw.actions, total, errors);
    Some(Scenario {
        name: name?,
        description: raw.description,
        load: load?,
        asserts,
        phases: phases?,
        actions,
    })
}

fn validate_load(raw: RawLoad, errors: &mut Errors) -> Option<Load> {
    if raw.assert.is_some() {
        errors.add(
            "load.assert",
            "whole-run assertions go at the top of the file, before [load]: in TOML a key after \
             a [table] header belongs to that table",
        );
    }
    let targets = validate_targets(raw.targets, errors);
    let connections = at_least_one(
        "load.connections",
        raw.connections,
        DEFAULT_CONNECTIONS,
        errors,
    );
    let streams = at_least_one("load.streams", raw.streams, 1, errors);
    let threads = at_least_one("load.threads", raw.threads, 1, errors);
    let http2 = raw.http2.unwrap_or(false);
    if streams > 1 && !http2 {
        errors.add(
            "load.streams",
            "more than 1 stream per connection needs http2 = true",
        );
    }
    let timeout = optional_duration("load.timeout", raw.timeout, DEFAULT_TIMEOUT, errors);
    Some(Load {
        targets: targets?,
        connections,
        streams,
        threads,
        http2,
        timeout: timeout?,
    })
}

fn at_least_one(path: &str, value: Option<u32>, default: u32, errors: &mut Errors) -> u32 {
    let value = value.unwrap_or(default);
    if value == 0 {
        errors.add(path, "must be at least 1");
    }
    value
}

fn validate_targets(raw: Option<Vec<RawTarget>>, errors: &mut Errors) -> Option<Vec<Target>> {
    let raw = errors.required("load.targets", raw)?;
    if raw.is_empty() {
        errors.add("load.targets", "at least one target is needed");
        return None;
    }
    let mut names = Names::default();
    let targets: Vec<Option<Target>> = raw
        .into_iter()
        .enumerate()
        .map(|(i, target)| {
            let path = format!("load.targets[{i}]");
            let name = names.take(&path, target.name.clone(), "target", i, errors);
            validate_target(&path, name, target, errors)
        })
        .collect();
    targets.into_iter().collect()
}

fn validate_target(
    path: &str,
    name: String,
    raw: RawTarget,
    errors: &mut Errors,
) -> Option<Target> {
    let url = errors
        .required(format!("{path}.url"), raw.url)
        .and_then(|url| http_url(&format!("{path}.url"), &url, errors));
    let weight = raw.weight.unwrap_or(1);
    if weight == 0 {
        errors.add(
            format!("{path}.weight"),
            "must be at least 1 (a phase's `weights` can set 0 for that phase)",
        );
    }
    let method = method(&format!("{path}.method"), raw.method.as_deref(), errors);
    let headers = headers(&format!("{path}.headers"), &raw.headers, errors);
    Some(Target {
        name,
        url: url?,
        weight,
        method: method?,
        headers: headers?,
        body: Bytes::from(raw.body.unwrap_or_default()),
    })
}

/// The valid phases (`None` if any is invalid) and their total length (`None` if a duration is
/// missing or invalid).
fn validate_phases(
    raw: Vec<RawPhase>,
    targets: &[Target],
    errors: &mut Errors,
) -> (Option<Vec<Phase>>, Option<Duration>) {
    if raw.is_empty() {
        errors.add("phases", "at least one [[phases]] is needed");
        return (None, None);
    }
    let mut names = Names::default();
    // The sum of the valid durations so far: the next phase's start.
    let mut start = Duration::ZERO;
    let mut durations_known = true;
    let mut phases = Some(Vec::with_capacity(raw.len()));
    for (i, phase) in raw.into_iter().enumerate() {
        let path = format!("phases[{i}]");
        let name = names.take(&path, phase.name.clone(), "phase", i, errors);
        let valid_duration = phase
            .duration
            .as_deref()
            .and_then(|text| humantime::parse_duration(text).ok())
            .is_some_and(|d| !d.is_zero());
        durations_known &= valid_duration;
        let validated = validate_phase(&path, name, &mut start, phase, targets, errors);
        match (validated, phases.as_mut()) {
            (Some(phase), Some(list)) => list.push(phase),
            _ => phases = None,
        }
    }
    if start > MAX_DURATION {
        errors.add(
            "phases",
            format!(
                "the phases add up to {}, more than the limit of 6h",
                humantime::format_duration(start)
            ),
        );
    }
    (phases, durations_known.then_some(start))
}

fn validate_phase(
    path: &str,
    name: String,
    start: &mut Duration,
    raw: RawPhase,
    targets: &[Target],
    errors: &mut Errors,
) -> Option<Phase> {
    let duration = errors
        .required(format!("{path}.duration"), raw.duration.clone())
        .and_then(|text| duration(&format!("{path}.duration"), &text, errors));
    if duration == Some(Duration::ZERO) {
        errors.add(format!("{path}.duration"), "must be more than 0");
    }
    let phase_start = *start;
    *start = start.saturating_add(duration.unwrap_or_default());
    let kind = phase_kind(path, raw.kind.as_deref(), errors);
    let rates = kind.and_then(|kind| phase_rates(path, kind, &raw, errors));
    let weights = phase_weights(path, raw.weights.as_ref(), targets, errors);
    let asserts = assertions(&raw.assert, &format!("{path}.assert"), errors);
    let (rate_from, rate_to) = rates?;
    Some(Phase {
        name,
        kind: kind?,
        start: phase_start,
        duration: duration?,
        rate_from,
        rate_to,
        weights,
        asserts,
    })
}

fn phase_kind(path: &str, kind: Option<&str>, errors: &mut Errors) -> Option<PhaseKind> {
    let path = format!("{path}.kind");
    match errors.required(&path, kind)? {
        "ramp" => Some(PhaseKind::Ramp),
        "steady" => Some(PhaseKind::Steady),
        "spike" => Some(PhaseKind::Spike),
        other => {
            errors.add(
                path,
                format!("unknown kind `{other}`; use ramp, steady or spike"),
            );
            None
        }
    }
}

/// `(rate_from, rate_to)`: a ramp takes `from` and `to`, the others `rate`.
fn phase_rates(
    path: &str,
    kind: PhaseKind,
    raw: &RawPhase,
    errors: &mut Errors,
) -> Option<(f64, f64)> {
    if kind == PhaseKind::Ramp {
        if raw.rate.is_some() {
            errors.add(
                format!("{path}.rate"),
                "a ramp has `from` and `to`, not `rate`",
            );
        }
        let (from_path, to_path) = (format!("{path}.from"), format!("{path}.to"));
        let from = errors
            .required(&from_path, raw.from.as_ref())
            .and_then(|v| number(&from_path, v, errors));
        let to = errors
            .required(&to_path, raw.to.as_ref())
            .and_then(|v| number(&to_path, v, errors));
        let from_ok = from.is_some_and(|r| rate(&from_path, r, true, errors));
        let to_ok = to.is_some_and(|r| rate(&to_path, r, false, errors));
        return (from_ok && to_ok).then_some((from?, to?));
    }
    for (key, value) in [("from", &raw.from), ("to", &raw.to)] {
        if value.is_some() {
            errors.add(
                format!("{path}.{key}"),
                format!(
                    "only a ramp has `from` and `to`; a {} phase has `rate`",
                    kind.as_str()
                ),
            );
        }
    }
    let rate_path = format!("{path}.rate");
    let value = errors.required(&rate_path, raw.rate.as_ref())?;
    let value = number(&rate_path, value, errors)?;
    rate(&rate_path, value, false, errors).then_some((value, value))
}

/// A rate given as a TOML number (integer or float); reports any other type.
fn number(path: &str, value: &toml::Value, errors: &mut Errors) -> Option<f64> {
    match value {
        toml::Value::Integer(n) => Some(*n as f64),
        toml::Value::Float(f) => Some(*f),
        other => {
            errors.add(
                path,
                format!(
                    "must be a number of requests/s, not the {} {other}",
                    other.type_str()
                ),
            );
            None
        }
    }
}

/// Whether `value` is a usable rate (finite, > 0, or ≥ 0 when `zero_ok`); reports it if not.
fn rate(path: &str, value: f64, zero_ok: bool, errors: &mut Errors) -> bool {
    if !value.is_finite() {
        errors.add(path, "must be a finite number of requests/s");
        false
    } else if zero_ok && value < 0.0 {
        errors.add(path, "must be ≥ 0");
        false
    } else if !zero_ok && value <= 0.0 {
        errors.add(path, "must be > 0");
        false
    } else {
        true
    }
}

/// The phase's weights per target (see [`Phase::weights`]).
fn phase_weights(
    path: &str,
    raw: Option<&BTreeMap<String, u32>>,
    targets: &[Target],
    errors: &mut Errors,
) -> Vec<u32> {
    let Some(raw) = raw else {
        return targets.iter().map(|t| t.weight).collect();
    };
    if targets.is_empty() {
        return Vec::new(); // the targets are invalid, and reported already
    }
    for name in raw
        .keys()
        .filter(|n| !targets.iter().any(|t| &t.name == *n))
    {
        let known: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
        errors.add(
            format!("{path}.weights.{name}"),
            format!(
                "no target named `{name}`; the targets are: {}",
                known.join(", ")
            ),
        );
    }
    let weights: Vec<u32> = targets
        .iter()
        .map(|t| raw.get(&t.name).copied().unwrap_or(0))
        .collect();
    if weights.iter().all(|&w| w == 0) {
        errors.add(
            format!("{path}.weights"),
            "at least one target needs a weight above 0 (targets left out get 0)",
        );
    }
    weights
}

fn validate_actions(
    raw: Vec<RawAction>,
    total: Option<Duration>,
    errors: &mut Errors,
) -> Vec<Action> {
    let mut names = Names::default();
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, action)| {
            let path = format!("actions[{i}]");
            let name = names.take(&path, action.name.clone(), "action", i, errors);
            validate_action(&path, name, action, total, errors)
        })
        .collect()
}

fn validate_action(
    path: &str,
    name: String,
    raw: RawAction,
    total: Option<Duration>,
    errors: &mut Errors,
) -> Option<Action> {
    let at = errors
        .required(format!("{path}.at"), raw.at)
        .and_then(|text| duration(&format!("{path}.at"), &text, errors));
    if let (Some(at), Some(total)) = (at, total)
        && at >= total
    {
        errors.add(
            format!("{path}.at"),
            format!(
                "{} is not before the end of the phases ({})",
                humantime::format_duration(at),
                humantime::format_duration(total)
            ),
        );
    }
    let (kind, timeout) = match (raw.http, raw.command) {
        (Some(http), None) => http_action(path, http, raw.timeout, errors)?,
        (None, Some(command)) => command_action(path, command, raw.timeout, errors)?,
        _ => {
            errors.add(path, "exactly one of http or command");
            return None;
        }
    };
    Some(Action {
        name,
        at: at?,
        failure: raw.failure,
        timeout,
        kind,
    })
}

fn http_action(
    path: &str,
    raw: RawHttp,
    action_timeout: Option<String>,
    errors: &mut Errors,
) -> Option<(ActionKind, Duration)> {
    let timeout = match (action_timeout, raw.timeout) {
        (Some(_), Some(_)) => {
            errors.add(
                format!("{path}.http.timeout"),
                "set the timeout once, either on the action or in http",
            );
            None
        }
        (Some(text), None) => duration(&format!("{path}.timeout"), &text, errors),
        (None, text) => optional_duration(
            &format!("{path}.http.timeout"),
            text,
            DEFAULT_HTTP_ACTION_TIMEOUT,
            errors,
        ),
    };
    let url = errors
        .required(format!("{path}.http.url"), raw.url)
        .and_then(|url| http_url(&format!("{path}.http.url"), &url, errors));
    let method = method(
        &format!("{path}.http.method"),
        raw.method.as_deref(),
        errors,
    );
    let headers = headers(&format!("{path}.http.headers"), &raw.headers, errors);
    let timeout = positive(&format!("{path}.timeout"), timeout?, errors)?;
    let action = HttpAction {
        method: method?,
        url: url?,
        headers: headers?,
        body: Bytes::from(raw.body.unwrap_or_default()),
    };
    Some((ActionKind::Http(Box::new(action)), timeout))
}

fn command_action(
    path: &str,
    command: Vec<String>,
    timeout: Option<String>,
    errors: &mut Errors,
) -> Option<(ActionKind, Duration)> {
    let timeout = optional_duration(
        &format!("{path}.timeout"),
        timeout,
        DEFAULT_COMMAND_TIMEOUT,
        errors,
    );
    if command.first().is_none_or(|program| program.is_empty()) {
        errors.add(
            format!("{path}.command"),
            "needs a program, e.g. [\"sh\", \"-c\", \"...\"]",
        );
        return None;
    }
    let timeout = positive(&format!("{path}.timeout"), timeout?, errors)?;
    Some((ActionKind::Command(command), timeout))
}

fn positive(path: &str, value: Duration, errors: &mut Errors) -> Option<Duration> {
    if value.is_zero() {
        errors.add(path, "must be more than 0");
        return None;
    }
    Some(value)
}

/// Assertions with their paths (`phases[1].assert[0]`); the invalid ones are reported and left out.
fn assertions(raw: &[String], path: &str, errors: &mut Errors) -> Vec<Assertion> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, text)| {
            Assertion::parse(text)
                .map_err(|err| errors.add(format!("{path}[{i}]"), err))
                .ok()
        })
        .collect()
}

/// Unique names, with `KIND-N` (N from 1) for those not given.
#[derive(Default)]
struct Names {
    seen: HashSet<String>,
}

impl Names {
    fn take(
        &mut self,
        path: &str,
        given: Option<String>,
        kind: &str,
        index: usize,
        errors: &mut Errors,
    ) -> String {
        let name = given.unwrap_or_else(|| format!("{kind}-{}", index + 1));
        if name.trim().is_empty() {
            errors.add(format!("{path}.name"), "must not be empty");
        } else if name == "run" && kind == "phase" {
            errors.add(format!("{path}.name"), "`run` is the name of the whole run");
        } else if !self.seen.insert(name.clone()) {
            errors.add(
                format!("{path}.name"),
                format!("`{name}` is already the name of another {kind}"),
            );
        }
        name
    }
}

// ------------------------------------------------------------------------------- values

fn duration(path: &str, text: &str, errors: &mut Errors) -> Option<Duration> {
    humantime::parse_duration(text)
        .map_err(|err| {
            errors.add(
                path,
                format!("`{text}` is not a duration like \"10s\", \"500ms\" or \"1m 30s\": {err}"),
            )
        })
        .ok()
}

fn optional_duration(
    path: &str,
    text: Option<String>,
    default: Duration,
    errors: &mut Errors,
) -> Option<Duration> {
    let value = match text {
        Some(text) => duration(path, &text, errors)?,
        None => default,
    };
    positive(path, value, errors)
}

/// An absolute `http://` URL with a host.
fn http_url(path: &str, text: &str, errors: &mut Errors) -> Option<Uri> {
    let uri: Uri = match text.parse() {
        Ok(uri) => uri,
        Err(err) => {
            errors.add(path, format!("`{text}` is not a URL: {err}"));
            return None;
        }
    };
    let problem = match uri.scheme_str() {
        None => Some("must be an absolute URL, e.g. http://127.0.0.1:8080/".to_string()),
        Some("http") if uri.host().is_none_or(str::is_empty) => Some("has no host".to_string()),
        Some("http") => None,
        Some("https") => {
            Some("https is not supported by the load generator yet; use http://".to_string())
        }
        Some(other) => Some(format!("scheme `{other}` is not supported; use http://")),
    };
    match problem {
        Some(problem) => {
            errors.add(path, format!("`{text}` {problem}"));
            None
        }
        None => Some(uri),
    }
}

fn method(path: &str, text: Option<&str>, errors: &mut Errors) -> Option<Method> {
    let text = text.unwrap_or("GET");
    let upper = text.to_ascii_uppercase();
    let standard = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ];
    if upper != text && standard.contains(&upper.as_str()) {
        errors.add(path, format!("methods are case-sensitive: write `{upper}`"));
        return None;
    }
    Method::from_bytes(text.as_bytes())
        .map_err(|_| errors.add(path, format!("`{text}` is not a valid HTTP method")))
        .ok()
}

fn headers(path: &str, raw: &BTreeMap<String, String>, errors: &mut Errors) -> Option<HeaderMap> {
    let mut map = HeaderMap::new();
    let mut ok = true;
    for (name, value) in raw {
        let here = format!("{path}.{name}");
        let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
            errors.add(here, format!("`{name}` is not a valid header name"));
            ok = false;
            continue;
        };
        if header == CONTENT_LENGTH || header == TRANSFER_ENCODING {
            errors.add(here, "is set from the body; leave it out");
            ok = false;
            continue;
        }
        match HeaderValue::from_str(value) {
            Ok(value) => {
                map.append(header, value);
            }
            Err(_) => {
                errors.add(
                    here,
                    "is not a valid header value (visible ASCII, spaces and tabs only)",
                );
                ok = false;
            }
        }
    }
    ok.then_some(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
name = "minimal"

[load]
targets = [{ url = "http://127.0.0.1:8080/" }]

[[phases]]
kind = "steady"
rate = 100
duration = "10s"
"#;

    fn errors_of(text: &str) -> Vec<String> {
        match parse(text) {
            Ok(_) => panic!("expected errors for:\n{text}"),
            Err(errors) => errors,
        }
    }

    /// MINIMAL with `extra` appended (TOML tables, so it goes after everything else).
    fn with(extra: &str) -> String {
        format!("{MINIMAL}\n{extra}")
    }

    fn has(errors: &[String], expected: &str) {
        assert!(
            errors.iter().any(|e| e == expected),
            "no error `{expected}` in {errors:#?}"
        );
    }

    #[test]
    fn minimal_gets_defaults() {
        let scenario = parse(MINIMAL).unwrap();
        assert_eq!(scenario.name, "minimal");
        assert_eq!(scenario.load.connections, 50);
        assert_eq!(scenario.load.streams, 1);
        assert_eq!(scenario.load.threads, 1);
        assert!(!scenario.load.http2);
        assert_eq!(scenario.load.timeout, Duration::from_secs(10));
        let target = &scenario.load.targets[0];
        assert_eq!(target.name, "target-1");
        assert_eq!(target.method, Method::GET);
        assert_eq!(target.weight, 1);
        assert!(target.body.is_empty());
        let phase = &scenario.phases[0];
        assert_eq!(phase.name, "phase-1");
        assert_eq!(phase.kind, PhaseKind::Steady);
        assert_eq!((phase.rate_from, phase.rate_to), (100.0, 100.0));
        assert_eq!(phase.weights, vec![1]);
        assert_eq!(scenario.duration(), Duration::from_secs(10));
        assert!(scenario.actions.is_empty() && scenario.asserts.is_empty());
    }

    #[test]
    fn full_scenario() {
        let text = r#"
name = "full"
description = "everything"
assert = ["errors < 1%", "p99 < 50ms"]

[load]
targets = [
  { name = "a", url = "http://127.0.0.1:8080/a", weight = 3, method = "POST", headers = { "X-Api-Key" = "k" }, body = "hi" },
  { url = "http://localhost:8081" },
]
connections = 64
streams = 4
threads = 2
http2 = true
timeout = "2s"

[[phases]]
name = "warm-up"
kind = "ramp"
from = 0
to = 1000.5
duration = "10s"

[[phases]]
kind = "spike"
rate = 5000
duration = "1m 30s"
weights = { a = 0, target-2 = 7 }
assert = ["p99.9 < 1s"]

[[actions]]
name = "fault"
at = "10s"
failure = true
http = { method = "POST", url = "http://127.0.0.1:9001/_origin/fault", body = '{"status":503}', headers = { "content-type" = "application/json" }, timeout = "5s" }

[[actions]]
at = "20s"
command = ["sh", "-c", "exit 0"]
"#;
        let s = parse(text).unwrap();
        assert_eq!(s.description.as_deref(), Some("everything"));
        assert_eq!(s.asserts.len(), 2);
        assert_eq!(s.load.connections, 64);
        assert_eq!((s.load.streams, s.load.threads), (4, 2));
        assert!(s.load.http2);
        assert_eq!(s.load.timeout, Duration::from_secs(2));
        let a = &s.load.targets[0];
        assert_eq!((a.name.as_str(), a.weight), ("a", 3));
        assert_eq!(a.method, Method::POST);
        assert_eq!(a.headers["x-api-key"], "k");
        assert_eq!(a.body, "hi");
        assert_eq!(s.load.targets[1].name, "target-2");
        let ramp = &s.phases[0];
        assert_eq!(
            (ramp.kind, ramp.rate_from, ramp.rate_to),
            (PhaseKind::Ramp, 0.0, 1000.5)
        );
        assert_eq!(ramp.weights, vec![3, 1]);
        let spike = &s.phases[1];
        assert_eq!(spike.name, "phase-2");
        assert_eq!(spike.start, Duration::from_secs(10));
        assert_eq!(spike.duration, Duration::from_secs(90));
        assert_eq!(spike.end(), Duration::from_secs(100));
        assert_eq!(spike.weights, vec![0, 7]);
        assert_eq!(spike.asserts[0].text(), "p99.9 < 1s");
        assert_eq!(s.duration(), Duration::from_secs(100));
        let fault = &s.actions[0];
        assert_eq!(
            (fault.name.as_str(), fault.at, fault.failure),
            ("fault", Duration::from_secs(10), true)
        );
        assert_eq!(fault.timeout, Duration::from_secs(5));
        let ActionKind::Http(http) = &fault.kind else {
            panic!("not http")
        };
        assert_eq!(http.method, Method::POST);
        assert_eq!(http.headers["content-type"], "application/json");
        assert_eq!(http.body, r#"{"status":503}"#);
        let cmd = &s.actions[1];
        assert_eq!(cmd.name, "action-2");
        assert_eq!(cmd.timeout, DEFAULT_COMMAND_TIMEOUT);
        assert!(matches!(&cmd.kind, ActionKind::Command(argv) if argv.len() == 3));
    }

    #[test]
    fn syntax_errors_have_line_and_column() {
        let errors = errors_of("name = \"x\"\n[load]\ntargets = [\n");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].starts_with("line 3, column "), "{errors:?}");
        let errors = errors_of(&with("[[phases]]\nkind = \"steady\"\nrat = 5\n"));
        assert!(
            errors[0].starts_with("line 14, column 1: unknown field `rat`"),
            "{errors:?}"
        );
        let errors =
            errors_of(&MINIMAL.replace("targets = [", "connections = \"many\"\ntargets = ["));
        assert!(errors[0].starts_with("line 5, column 15: "), "{errors:?}");
    }

    #[test]
    fn every_error_is_collected_with_its_path() {
        let text = r#"
[load]
targets = [{ url = "https://example.com/" }, { weight = 0 }]
connections = 0

[[phases]]
kind = "steady"
rate = 0
duration = "10s"

[[phases]]
kind = "wobble"
duration = "soon"

[[actions]]
at = "1s"
"#;
        let errors = errors_of(text);
        has(&errors, "name: missing");
        has(
            &errors,
            "load.targets[0].url: `https://example.com/` https is not supported by the load \
             generator yet; use http://",
        );
        has(&errors, "load.targets[1].url: missing");
        has(
            &errors,
            "load.targets[1].weight: must be at least 1 (a phase's `weights` can set 0 for that phase)",
        );
        has(&errors, "load.connections: must be at least 1");
        has(&errors, "phases[0].rate: must be > 0");
        has(
            &errors,
            "phases[1].kind: unknown kind `wobble`; use ramp, steady or spike",
        );
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("phases[1].duration: `soon` is not a duration"))
        );
        has(&errors, "actions[0]: exactly one of http or command");
        assert_eq!(errors.len(), 9, "{errors:#?}");
    }

    #[test]
    fn load_is_required() {
        let errors =
            errors_of("name = \"x\"\n[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n");
        assert_eq!(errors, vec!["load: missing"]);
        let errors = errors_of(
            "name = \"x\"\n[load]\ntargets = []\n[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n",
        );
        assert_eq!(errors, vec!["load.targets: at least one target is needed"]);
    }

    #[test]
    fn at_least_one_phase() {
        let text = "name = \"x\"\n[load]\ntargets = [{ url = \"http://h/\" }]\n";
        assert_eq!(
            errors_of(text),
            vec!["phases: at least one [[phases]] is needed"]
        );
    }

    #[test]
    fn rates_by_kind() {
        let errors = errors_of(&with(
            "[[phases]]\nkind = \"ramp\"\nrate = 5\nduration = \"1s\"\n",
        ));
        has(
            &errors,
            "phases[1].rate: a ramp has `from` and `to`, not `rate`",
        );
        has(&errors, "phases[1].from: missing");
        has(&errors, "phases[1].to: missing");
        let errors = errors_of(&with(
            "[[phases]]\nkind = \"spike\"\nfrom = 1\nto = 2\nduration = \"1s\"\n",
        ));
        has(
            &errors,
            "phases[1].from: only a ramp has `from` and `to`; a spike phase has `rate`",
        );
        has(
            &errors,
            "phases[1].to: only a ramp has `from` and `to`; a spike phase has `rate`",
        );
        has(&errors, "phases[1].rate: missing");
        let errors = errors_of(&with(
            "[[phases]]\nkind = \"ramp\"\nfrom = -1\nto = 0\nduration = \"1s\"\n",
        ));
        has(&errors, "phases[1].from: must be ≥ 0");
        has(&errors, "phases[1].to: must be > 0");
        let errors = errors_of(&with(
            "[[phases]]\nkind = \"steady\"\nrate = nan\nduration = \"1s\"\n",
        ));
        has(
            &errors,
            "phases[1].rate: must be a finite number of requests/s",
        );
        let errors = errors_of(&with(
            "[[phases]]\nkind = \"steady\"\nrate = inf\nduration = \"1s\"\n",
        ));
        has(
            &errors,
            "phases[1].rate: must be a finite number of requests/s",
        );
        let errors = errors_of(&with("[[phases]]\nrate = 1\nduration = \"1s\"\n"));
        has(&errors, "phases[1].kind: missing");
    }

    #[test]
    fn ramp_may_start_at_zero() {
        let s = parse(&with(
            "[[phases]]\nkind = \"ramp\"\nfrom = 0\nto = 10\nduration = \"5s\"\n",
        ))
        .unwrap();
        assert_eq!(s.phases[1].start, Duration::from_secs(10));
        assert_eq!((s.phases[1].rate_from, s.phases[1].rate_to), (0.0, 10.0));
    }

    #[test]
    fn durations() {
        let errors = errors_of(&with(
            "[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"0s\"\n",
        ));
        has(&errors, "phases[1].duration: must be more than 0");
        let errors = errors_of(&with("[[phases]]\nkind = \"steady\"\nrate = 1\n"));
        has(&errors, "phases[1].duration: missing");
        let errors = errors_of(&MINIMAL.replace("[load]", "[load]\ntimeout = \"0ms\""));
        has(&errors, "load.timeout: must be more than 0");
        let errors = errors_of(&MINIMAL.replace("[load]", "[load]\ntimeout = \"10\""));
        assert!(
            errors[0].starts_with("load.timeout: `10` is not a duration"),
            "{errors:?}"
        );
    }

    #[test]
    fn total_duration_is_capped() {
        let errors = errors_of(&with(
            "[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"6h\"\n",
        ));
        has(
            &errors,
            "phases: the phases add up to 6h 10s, more than the limit of 6h",
        );
        assert!(parse(&MINIMAL.replace("\"10s\"", "\"6h\"")).is_ok());
        let huge = "[[phases]]\nkind = \"steady\"\nrate = 1\nduration = \"500000000000years\"\n";
        let errors = errors_of(&with(&format!("{huge}{huge}")));
        assert!(
            errors[0].contains("more than the limit of 6h"),
            "{errors:?}"
        );
    }

    #[test]
    fn urls_must_be_plain_http() {
        let url_error = |url: &str| {
            let errors = errors_of(&MINIMAL.replace("http://127.0.0.1:8080/", url));
            errors[0].clone()
        };
        assert_eq!(
            url_error("/relative"),
            "load.targets[0].url: `/relative` must be an absolute URL, e.g. http://127.0.0.1:8080/"
        );
        assert_eq!(
            url_error("ftp://h/"),
            "load.targets[0].url: `ftp://h/` scheme `ftp` is not supported; use http://"
        );
        assert!(url_error("http://exa mple/").contains("is not a URL"));
        assert!(url_error("").contains("is not a URL"));
        assert!(parse(&MINIMAL.replace("http://127.0.0.1:8080/", "http://localhost")).is_ok());
    }

    #[test]
    fn headers_and_methods() {
        let bad = MINIMAL.replace(
            "{ url = \"http://127.0.0.1:8080/\" }",
            "{ url = \"http://h/\", method = \"post\", headers = { \"bad name\" = \"v\", ok = \"line\\nbreak\", content-length = \"3\" } }",
        );
        let errors = errors_of(&bad);
        has(
            &errors,
            "load.targets[0].method: methods are case-sensitive: write `POST`",
        );
        has(
            &errors,
            "load.targets[0].headers.bad name: `bad name` is not a valid header name",
        );
        has(
            &errors,
            "load.targets[0].headers.ok: is not a valid header value (visible ASCII, spaces and tabs only)",
        );
        has(
            &errors,
            "load.targets[0].headers.content-length: is set from the body; leave it out",
        );
        let bad = MINIMAL.replace("}]", ", method = \"GE T\" }]");
        has(
            &errors_of(&bad),
            "load.targets[0].method: `GE T` is not a valid HTTP method",
        );
        let custom = MINIMAL.replace("}]", ", method = \"PURGE\" }]");
        assert_eq!(
            parse(&custom).unwrap().load.targets[0].method.as_str(),
            "PURGE"
        );
    }

    #[test]
    fn streams_need_http2() {
        let errors = errors_of(&MINIMAL.replace("[load]", "[load]\nstreams = 8"));
        has(
            &errors,
            "load.streams: more than 1 stream per connection needs http2 = true",
        );
    }

    #[test]
    fn assert_after_load_is_explained() {
        let errors =
            errors_of(&MINIMAL.replace("[[phases]]", "assert = [\"errors < 1%\"]\n\n[[phases]]"));
        assert!(
            errors[0].starts_with("load.assert: whole-run assertions go at the top"),
            "{errors:?}"
        );
    }

    #[test]
    fn assertions_are_checked_with_their_paths() {
        let text = format!("assert = [\"p99 < 5%\"]\n{MINIMAL}").replace(
            "duration = \"10s\"",
            "duration = \"10s\"\nassert = [\"errors < 1%\", \"latency < 1s\"]",
        );
        let errors = errors_of(&text);
        has(
            &errors,
            "assert[0]: assertion `p99 < 5%`: a latency is a duration, not a percentage; use ns, us, µs, ms or s",
        );
        assert!(errors.iter().any(|e| {
            e.starts_with("phases[0].assert[1]: assertion `latency < 1s`: unknown metric")
        }));
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn names_are_unique() {
        let errors = errors_of(&with(
            "[[phases]]\nname = \"phase-1\"\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n\
             [[phases]]\nname = \"run\"\nkind = \"steady\"\nrate = 1\nduration = \"1s\"\n\
             [[actions]]\nname = \"x\"\nat = \"1s\"\ncommand = [\"true\"]\n\
             [[actions]]\nname = \"x\"\nat = \"1s\"\ncommand = [\"true\"]\n",
        ));
        has(
            &errors,
            "phases[1].name: `phase-1` is already the name of another phase",
        );
        has(
            &errors,
            "phases[2].name: `run` is the name of the whole run",
        );
        has(
            &errors,
            "actions[1].name: `x` is already the name of another action",
        );
    }

    #[test]
    fn phase_weights() {
        let two = MINIMAL.replace(
            "targets = [{ url = \"http://127.0.0.1:8080/\" }]",
            "targets = [{ name = \"web\", url = \"http://h/\", weight = 2 }, { name = \"api\", url = \"http://h/api/\" }]",
        );
        let s = parse(&format!("{two}\n[[phases]]\nkind = \"spike\"\nrate = 9\nduration = \"1s\"\nweights = {{ api = 5 }}\n")).unwrap();
        assert_eq!(s.phases[0].weights, vec![2, 1]);
        assert_eq!(s.phases[1].weights, vec![0, 5]);
        let errors = errors_of(&format!(
            "{two}\n[[phases]]\nkind = \"spike\"\nrate = 9\nduration = \"1s\"\nweights = {{ apy = 5, web = 0 }}\n"
        ));
        has(
            &errors,
            "phases[1].weights.apy: no target named `apy`; the targets are: web, api",
        );
        has(
            &errors,
            "phases[1].weights: at least one target needs a weight above 0 (targets left out get 0)",
        );
    }

    #[test]
    fn actions() {
        let action = |body: &str| with(&format!("[[actions]]\n{body}\n"));
        let errors = errors_of(&action("at = \"10s\"\ncommand = [\"true\"]"));
        has(
            &errors,
            "actions[0].at: 10s is not before the end of the phases (10s)",
        );
        let errors = errors_of(&action("command = [\"true\"]"));
        has(&errors, "actions[0].at: missing");
        let errors = errors_of(&action(
            "at = \"1s\"\ncommand = [\"true\"]\nhttp = { url = \"http://h/\" }",
        ));
        has(&errors, "actions[0]: exactly one of http or command");
        let errors = errors_of(&action("at = \"1s\"\ncommand = []"));
        has(
            &errors,
            "actions[0].command: needs a program, e.g. [\"sh\", \"-c\", \"...\"]",
        );
        let errors = errors_of(&action("at = \"1s\"\nhttp = { url = \"https://h/\" }"));
        has(
            &errors,
            "actions[0].http.url: `https://h/` https is not supported by the load generator yet; use http://",
        );
        let errors = errors_of(&action(
            "at = \"1s\"\ntimeout = \"1s\"\nhttp = { url = \"http://h/\", timeout = \"2s\" }",
        ));
        has(
            &errors,
            "actions[0].http.timeout: set the timeout once, either on the action or in http",
        );
        let errors = errors_of(&action(
            "at = \"1s\"\ntimeout = \"0s\"\ncommand = [\"true\"]",
        ));
        has(&errors, "actions[0].timeout: must be more than 0");
        let s = parse(&action(
            "at = \"9.5s\"\ntimeout = \"3s\"\nhttp = { url = \"http://h/x\" }",
        ))
        .unwrap();
        assert_eq!(s.actions[0].at, Duration::from_millis(9500));
        assert_eq!(s.actions[0].timeout, Duration::from_secs(3));
        assert!(matches!(&s.actions[0].kind, ActionKind::Http(h) if h.method == Method::GET));
    }

    #[test]
    fn an_invalid_rate_does_not_hide_a_late_action() {
        // Two independent mistakes, two errors: the phase's rate is wrong, and the action is
        // after the end of the phases (whose durations are valid).
        let text = with(
            "[[phases]]\nkind = \"steady\"\nrate = 0\nduration = \"5s\"\n\
             [[actions]]\nname = \"late\"\nat = \"20s\"\ncommand = [\"true\"]\n",
        );
        let errors = errors_of(&text);
        assert_eq!(
            errors,
            vec![
                "phases[1].rate: must be > 0".to_owned(),
                "actions[0].at: 20s is not before the end of the phases (15s)".to_owned(),
            ]
        );
        // A rate of the wrong type is one error among the others too.
        let errors = errors_of(&text.replace("rate = 0", "rate = \"fast\""));
        assert_eq!(
            errors[0],
            "phases[1].rate: must be a number of requests/s, not the string \"fast\""
        );
        assert_eq!(errors.len(), 2, "{errors:#?}");
        // With a phase's length unknown, the end is unknown: no guess is reported.
        let errors = errors_of(&text.replace("duration = \"5s\"", "duration = \"soon\""));
        assert!(
            errors.iter().all(|e| !e.starts_with("actions[0].at")),
            "{errors:#?}"
        );
    }

    #[test]
    fn load_prefixes_the_path() {
        let missing = Path::new("/nonexistent/scenario.toml");
        let errors = load(missing).unwrap_err();
        assert!(
            errors[0].starts_with("cannot read /nonexistent/scenario.toml: "),
            "{errors:?}"
        );
        let dir = std::env::temp_dir().join(format!("weir-scenario-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.toml");
        std::fs::write(&file, MINIMAL.replace("rate = 100", "rate = 0")).unwrap();
        let errors = load(&file).unwrap_err();
        assert_eq!(
            errors,
            vec![format!("{}: phases[0].rate: must be > 0", file.display())]
        );
        std::fs::write(&file, MINIMAL).unwrap();
        assert!(load(&file).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn examples_parse() {
        let region = parse(include_str!("../../scenarios/region-dies.toml")).unwrap();
        assert_eq!(region.actions.iter().filter(|a| a.failure).count(), 1);
        let flood = parse(include_str!("../../scenarios/rate-limit-flood.toml")).unwrap();
        assert_eq!(flood.load.targets.len(), 2);
    }
}
