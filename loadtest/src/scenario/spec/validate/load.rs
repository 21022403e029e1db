//! `[load]`: how the load is sent (connections, streams, threads, timeout) and its targets.

use bytes::Bytes;

use super::errors::Errors;
use super::names::Names;
use super::values::{headers, http_url, method, optional_duration};
use crate::scenario::spec::model::{DEFAULT_CONNECTIONS, DEFAULT_TIMEOUT, Load, Target};
use crate::scenario::spec::raw::{RawLoad, RawTarget};

pub(super) fn validate_load(raw: RawLoad, errors: &mut Errors) -> Option<Load> {
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
