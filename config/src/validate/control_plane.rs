//! Rules for `[control_plane]`: an http(s) URL with a host, an optional port and path and nothing
//! after it; non-empty file paths, the cache apart from the files the gateway only reads; a CA
//! file only for https; the stream timeout, reconnect backoff and telemetry interval within their
//! bounds.

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use super::checks::{check_not_shorter, duration_in};
use crate::document::At;
use crate::model::ControlPlaneSettings;
use crate::raw::RawControlPlane;
use crate::report::Reporter;

const STREAM_TIMEOUT_RANGE: (Duration, Duration) =
    (Duration::from_secs(1), Duration::from_secs(600));
const BACKOFF_RANGE: (Duration, Duration) = (Duration::from_millis(1), Duration::from_secs(600));
/// The control plane judges a gateway stale after 3 intervals, within the same bounds.
const TELEMETRY_INTERVAL_RANGE: (Duration, Duration) =
    (Duration::from_millis(250), Duration::from_secs(60));

pub(super) fn validate_control_plane(
    raw: &RawControlPlane,
    report: &mut Reporter<'_>,
) -> ControlPlaneSettings {
    let path = "control_plane";
    let url = raw.url.as_ref().map(|url| check_url(url, report));
    let token_file = file(raw.token_file.as_ref(), "control_plane.token_file", report);
    let cache_path = file(raw.cache_path.as_ref(), "control_plane.cache_path", report);
    let ca_file = file(raw.ca_file.as_ref(), "control_plane.ca_file", report);
    if let (Some(written), Some(url)) = (&raw.ca_file, &url)
        && !report.has_error_at("control_plane.url")
        && !report.has_error_at("control_plane.ca_file")
        && !url.starts_with("https://")
    {
        report.error(
            "control_plane.ca_file",
            Some(&written.span),
            format!("is only used with an https url, and url is {url:?}"),
        );
    }
    check_cache_apart(
        raw,
        [("token_file", &token_file), ("ca_file", &ca_file)],
        report,
    );
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
    // Left out, max_reconnect_backoff is its default or reconnect_backoff, whichever is longer.
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
    let telemetry_interval = duration_in(
        raw.telemetry_interval.as_ref(),
        TELEMETRY_INTERVAL_RANGE,
        ControlPlaneSettings::DEFAULT_TELEMETRY_INTERVAL,
        "control_plane.telemetry_interval",
        report,
    );
    ControlPlaneSettings {
        url: url.unwrap_or_default(),
        token_file: token_file.unwrap_or_default(),
        cache_path: cache_path.unwrap_or_default(),
        ca_file,
        stream_timeout,
        reconnect_backoff,
        max_reconnect_backoff: max_reconnect_backoff.max(reconnect_backoff),
        telemetry_interval,
    }
}

/// A file path that must not be empty.
fn file(value: Option<&At<String>>, path: &str, report: &mut Reporter<'_>) -> Option<PathBuf> {
    let value = value?;
    if value.value.trim().is_empty() {
        report.error(path, Some(&value.span), "must not be empty");
    }
    Some(PathBuf::from(&value.value))
}

/// The gateway writes `cache_path` and only reads the other files: the cache must not replace
/// one of them.
fn check_cache_apart(
    raw: &RawControlPlane,
    others: [(&str, &Option<PathBuf>); 2],
    report: &mut Reporter<'_>,
) {
    let Some(cache) = &raw.cache_path else {
        return;
    };
    if report.has_error_at("control_plane.cache_path") {
        return;
    }
    let cache_path = PathBuf::from(&cache.value);
    for (key, other) in others {
        if other.as_ref() == Some(&cache_path) {
            report.error(
                "control_plane.cache_path",
                Some(&cache.span),
                format!("must not be the same file as {key} (the gateway overwrites the cache)"),
            );
        }
    }
}

/// Reports a URL that is not `http(s)://host[:port][/prefix]`; returns it normalized: the scheme
/// in lower case, no trailing slash.
fn check_url(url: &At<String>, report: &mut Reporter<'_>) -> String {
    let text = url.value.trim();
    match normalize_url(text) {
        Ok(normalized) => normalized,
        Err(problem) => {
            report.error(
                "control_plane.url",
                Some(&url.span),
                format!("{problem}, got {text:?}"),
            );
            String::new()
        }
    }
}

pub(super) fn normalize_url(text: &str) -> Result<String, String> {
    let (scheme, rest) = text
        .split_once("://")
        .ok_or("must start with http:// or https://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "must start with http:// or https://, not {scheme}://"
        ));
    }
    if rest.contains(|c: char| c.is_whitespace() || c.is_control()) {
        return Err("must not contain spaces".into());
    }
    if rest.contains(['?', '#']) {
        return Err("must not have a query or fragment".into());
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("must not contain credentials (the token comes from token_file)".into());
    }
    check_authority(authority)?;
    if let Some(bad) = path.chars().find(|&c| !is_path_char(c)) {
        return Err(format!("has a character a URL path cannot hold ({bad:?})"));
    }
    Ok(format!(
        "{scheme}://{authority}{}",
        path.trim_end_matches('/')
    ))
}

/// `host[:port]`: a DNS name or IPv4 address, or an IPv6 address in brackets; a port in 1-65535.
fn check_authority(authority: &str) -> Result<(), String> {
    let (host, port) = split_host_port(authority)?;
    match host
        .strip_prefix('[')
        .and_then(|host| host.strip_suffix(']'))
    {
        Some(address) if address.parse::<Ipv6Addr>().is_err() => {
            return Err(format!("has an invalid IPv6 address [{address}]"));
        }
        Some(_) => {}
        None if host.is_empty() => return Err("has no host".into()),
        None if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')) =>
        {
            return Err(format!(
                "has an invalid host {host:?} (letters, digits, '.', '-' and '_')"
            ));
        }
        None => {}
    }
    match port {
        Some(port)
            if !port.bytes().all(|b| b.is_ascii_digit())
                || !matches!(port.parse::<u16>(), Ok(1..)) =>
        {
            Err(format!("has an invalid port {port:?} (1-65535)"))
        }
        _ => Ok(()),
    }
}

/// The host (brackets kept for IPv6) and the port after its `:`, if any.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if authority.starts_with('[') {
        let close = authority
            .find(']')
            .ok_or("has an IPv6 host without its closing ']'")?;
        let (host, after) = authority.split_at(close + 1);
        match after {
            "" => Ok((host, None)),
            after => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("has {after:?} after its host")),
            },
        }
    } else if authority.matches(':').count() > 1 {
        Err("has an IPv6 host without brackets (write it like http://[::1]:7700)".into())
    } else {
        Ok(match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        })
    }
}

/// A character allowed unescaped in a URL path (RFC 3986 `pchar`, `/`, and `%` of an escape).
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/%".contains(c)
}
