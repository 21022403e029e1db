//! Single values at a path: durations, rates, URLs, methods, headers and assertions, each
//! reported with its path (`load.targets[0].url: ...`) when it is not valid.

use std::collections::BTreeMap;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};

use super::errors::Errors;
use crate::assert::Assertion;

/// A rate given as a TOML number (integer or float); reports any other type.
pub(super) fn number(path: &str, value: &toml::Value, errors: &mut Errors) -> Option<f64> {
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
pub(super) fn rate(path: &str, value: f64, zero_ok: bool, errors: &mut Errors) -> bool {
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

pub(super) fn positive(path: &str, value: Duration, errors: &mut Errors) -> Option<Duration> {
    if value.is_zero() {
        errors.add(path, "must be more than 0");
        return None;
    }
    Some(value)
}

/// Assertions with their paths (`phases[1].assert[0]`); the invalid ones are reported and left out.
pub(super) fn assertions(raw: &[String], path: &str, errors: &mut Errors) -> Vec<Assertion> {
    raw.iter()
        .enumerate()
        .filter_map(|(i, text)| {
            Assertion::parse(text)
                .map_err(|err| errors.add(format!("{path}[{i}]"), err))
                .ok()
        })
        .collect()
}

pub(super) fn duration(path: &str, text: &str, errors: &mut Errors) -> Option<Duration> {
    humantime::parse_duration(text)
        .map_err(|err| {
            errors.add(
                path,
                format!("`{text}` is not a duration like \"10s\", \"500ms\" or \"1m 30s\": {err}"),
            )
        })
        .ok()
}

pub(super) fn optional_duration(
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
pub(super) fn http_url(path: &str, text: &str, errors: &mut Errors) -> Option<Uri> {
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

pub(super) fn method(path: &str, text: Option<&str>, errors: &mut Errors) -> Option<Method> {
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

pub(super) fn headers(
    path: &str,
    raw: &BTreeMap<String, String>,
    errors: &mut Errors,
) -> Option<HeaderMap> {
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
