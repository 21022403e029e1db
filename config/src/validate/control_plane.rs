//! Rules for `[control_plane]`: an http(s) URL with a host and nothing after the path, non-empty
//! file paths, and the stream timeout and reconnect backoff within their bounds.

use std::path::PathBuf;
use std::time::Duration;

use super::checks::duration_in;
use super::resilience::check_not_shorter;
use crate::document::At;
use crate::model::ControlPlaneSettings;
use crate::raw::RawControlPlane;
use crate::report::Reporter;

const STREAM_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(600));
const BACKOFF_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(600));

pub(super) fn validate_control_plane(
    raw: &RawControlPlane,
    report: &mut Reporter<'_>,
) -> ControlPlaneSettings {
    let path = "control_plane";
    let url = raw
        .url
        .as_ref()
        .map(|url| check_url(url, report))
        .unwrap_or_default();
    let file = |value: &Option<At<String>>, key: &str, report: &mut Reporter<'_>| {
        value.as_ref().map(|value| {
            if value.value.trim().is_empty() {
                report.error(
                    format!("{path}.{key}"),
                    Some(&value.span),
                    "must not be empty",
                );
            }
            PathBuf::from(&value.value)
        })
    };
    let token_file = file(&raw.token_file, "token_file", report).unwrap_or_default();
    let cache_path = file(&raw.cache_path, "cache_path", report).unwrap_or_default();
    let ca_file = file(&raw.ca_file, "ca_file", report);
    let stream_timeout = duration_in(
        raw.stream_timeout.as_ref(),
        STREAM_TIMEOUT_RANGE,
        ControlPlaneSettings::DEFAULT_STREAM_TIMEOUT,
        "control_plane.stream_timeout",
        report,
    );
    let reconnect_backoff = duration_in(
        raw.reconnect_backoff.as_ref(),
        BACKOFF_RANGE,
        ControlPlaneSettings::DEFAULT_RECONNECT_BACKOFF,
        "control_plane.reconnect_backoff",
        report,
    );
    let max_reconnect_backoff = duration_in(
        raw.max_reconnect_backoff.as_ref(),
        BACKOFF_RANGE,
        ControlPlaneSettings::DEFAULT_MAX_RECONNECT_BACKOFF.max(reconnect_backoff),
        "control_plane.max_reconnect_backoff",
        report,
    );
    check_not_shorter(
        raw.max_reconnect_backoff.as_ref(),
        max_reconnect_backoff,
        ("reconnect_backoff", reconnect_backoff),
        path,
        "max_reconnect_backoff",
        report,
    );
    ControlPlaneSettings {
        url,
        token_file,
        cache_path,
        ca_file,
        stream_timeout,
        reconnect_backoff,
        max_reconnect_backoff,
    }
}

/// `http://host[:port][/prefix]` or `https://…`, returned without a trailing slash.
fn check_url(url: &At<String>, report: &mut Reporter<'_>) -> String {
    let text = url.value.trim();
    let problem = match text.split_once("://") {
        None => Some("must start with http:// or https://".to_string()),
        Some((scheme, _)) if scheme != "http" && scheme != "https" => Some(format!(
            "must start with http:// or https://, not {scheme}://"
        )),
        Some((_, rest)) => {
            let host = rest.split('/').next().unwrap_or("");
            if host.is_empty() || host.starts_with(':') {
                Some("has no host".to_string())
            } else if rest.contains(['?', '#']) {
                Some("must not have a query or fragment".to_string())
            } else if rest.contains(char::is_whitespace) || host.contains('@') {
                Some("must not contain spaces or credentials".to_string())
            } else {
                None
            }
        }
    };
    if let Some(problem) = problem {
        report.error(
            "control_plane.url",
            Some(&url.span),
            format!("{problem}, got {text:?}"),
        );
    }
    text.trim_end_matches('/').to_string()
}
