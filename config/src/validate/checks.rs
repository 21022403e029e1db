//! Checks shared by several keys: names, `ip:port` addresses, durations, integer and number
//! ranges, fractions, header names, choices among fixed spellings, and a maximum duration not
//! shorter than its base. Each reports its own problem and falls back to a usable value.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use crate::document::{At, join_key};
use crate::report::Reporter;

/// A name (gateway id, region, upstream, route): non-empty, only `[A-Za-z0-9._-]`.
pub(super) fn check_name(name: &At<String>, path: &str, report: &mut Reporter<'_>) {
    let value = &name.value;
    if value.is_empty() {
        report.error(path, Some(&name.span), "must not be empty");
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        report.error(
            path,
            Some(&name.span),
            format!("may only contain letters, digits, '.', '_' and '-', got {value:?}"),
        );
    }
}

/// An `ip:port` address (IPv6 in brackets); `None` when invalid.
pub(super) fn address(
    value: &At<String>,
    path: &str,
    report: &mut Reporter<'_>,
) -> Option<SocketAddr> {
    match parse_address(&value.value) {
        Ok(address) => Some(address),
        Err(message) => {
            report.error(path, Some(&value.span), message);
            None
        }
    }
}

/// Parses `ip:port`, explaining the most likely mistake when it fails.
fn parse_address(text: &str) -> Result<SocketAddr, String> {
    if let Ok(address) = text.parse::<SocketAddr>() {
        if address.port() == 0 {
            return Err(format!("port must be between 1 and 65535, got {text:?}"));
        }
        return Ok(address);
    }
    if text.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "must be an ip:port address, got {text:?} with no port \
             (IPv6 addresses go in brackets, like \"[::1]:8080\")"
        ));
    }
    let host = text.rsplit_once(':').map_or(text, |(host, _)| host);
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    if !host.is_empty() && unbracketed.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "must be an ip:port address with a port between 1 and 65535, got {text:?}"
        ));
    }
    if host.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(format!(
            "must be an ip:port address (host names are not supported yet), got {text:?}"
        ));
    }
    Err(format!(
        "must be an ip:port address, like \"127.0.0.1:8080\" or \"[::1]:8080\", got {text:?}"
    ))
}

/// A duration that must be above zero, or `default` when absent.
pub(super) fn positive_duration(
    value: Option<&At<Duration>>,
    default: Duration,
    path: &str,
    report: &mut Reporter<'_>,
) -> Duration {
    match value {
        None => default,
        Some(value) if value.value.is_zero() => {
            report.error(path, Some(&value.span), "must be greater than 0");
            default
        }
        Some(value) => value.value,
    }
}

/// A duration above zero and at most `max`, or `default` when absent or out of range.
pub(super) fn duration_up_to(
    value: Option<&At<Duration>>,
    default: Duration,
    max: Duration,
    path: &str,
    report: &mut Reporter<'_>,
) -> Duration {
    match value {
        Some(value) if value.value > max => {
            report.error(
                path,
                Some(&value.span),
                format!("must be at most {}, got {}", show(max), show(value.value)),
            );
            default
        }
        value => positive_duration(value, default, path, report),
    }
}

/// One of a fixed set of spellings (`choices`, each with its value), or `default` when absent
/// or not one of them; the error lists every allowed spelling.
pub(super) fn one_of<T: Copy>(
    value: Option<&At<String>>,
    choices: &[(&str, T)],
    default: T,
    path: &str,
    report: &mut Reporter<'_>,
) -> T {
    let Some(value) = value else {
        return default;
    };
    if let Some((_, choice)) = choices
        .iter()
        .find(|(spelling, _)| *spelling == value.value)
    {
        return *choice;
    }
    let spellings: Vec<String> = choices
        .iter()
        .map(|(spelling, _)| format!("{spelling:?}"))
        .collect();
    let allowed = match spellings.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => spellings.concat(),
    };
    report.error(
        path,
        Some(&value.span),
        format!("must be {allowed}, got {:?}", value.value),
    );
    default
}

/// An integer within `allowed`, or `default` when absent or out of range.
pub(super) fn integer_in(
    value: Option<&At<i64>>,
    allowed: RangeInclusive<u32>,
    default: u32,
    path: &str,
    report: &mut Reporter<'_>,
) -> u32 {
    let Some(value) = value else {
        return default;
    };
    match u32::try_from(value.value) {
        Ok(number) if allowed.contains(&number) => number,
        _ => {
            let (min, max) = (allowed.start(), allowed.end());
            let message = if *max == u32::MAX {
                if value.value < i64::from(*min) {
                    format!("must be at least {min}, got {}", value.value)
                } else {
                    format!("must be at most {max}, got {}", value.value)
                }
            } else {
                format!("must be between {min} and {max}, got {}", value.value)
            };
            report.error(path, Some(&value.span), message);
            default
        }
    }
}

/// A fraction in `0.0..=1.0`, or `default` when absent or out of range.
pub(super) fn fraction(
    value: Option<&At<f64>>,
    default: f64,
    path: &str,
    report: &mut Reporter<'_>,
) -> f64 {
    match value {
        None => default,
        Some(value) if (0.0..=1.0).contains(&value.value) => value.value,
        Some(value) => {
            report.error(
                path,
                Some(&value.span),
                format!("must be between 0.0 and 1.0, got {}", value.value),
            );
            default
        }
    }
}

/// A URL path: starts with `/`, no spaces or control characters. Returns whether it passed.
pub(super) fn check_url_path(
    path_value: &At<String>,
    path: &str,
    report: &mut Reporter<'_>,
) -> bool {
    let value = &path_value.value;
    let problem = if !value.starts_with('/') {
        format!("must start with '/', got {value:?}")
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        format!("must not contain spaces or control characters, got {value:?}")
    } else {
        return true;
    };
    report.error(path, Some(&path_value.span), problem);
    false
}

/// `1s`, `500ms`: how durations are shown in messages.
pub(super) fn show(duration: Duration) -> String {
    humantime::format_duration(duration).to_string()
}

/// A character allowed in an HTTP token (RFC 9110 `tchar`), which header names are.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// A header name (an HTTP token), returned lower-case; the error says what is allowed. Shared by
/// rate-limit `header:<name>` key parts and a fault's `header`.
pub(super) fn header_name(name: &str) -> Result<String, String> {
    if name.is_empty() {
        Err("must not be empty".to_owned())
    } else if name.chars().all(is_token_char) {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!(
            "{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        ))
    }
}

/// A duration in `min..=max`, or `default` when absent or out of range; with `min` 0 the
/// message only gives the upper bound.
pub(super) fn duration_in(
    value: Option<&At<Duration>>,
    (min, max): (Duration, Duration),
    default: Duration,
    path: &str,
    report: &mut Reporter<'_>,
) -> Duration {
    match value {
        None => default,
        Some(value) if (min..=max).contains(&value.value) => value.value,
        Some(value) => {
            let message = if min.is_zero() {
                format!("must be at most {}, got {}", show(max), show(value.value))
            } else {
                format!(
                    "must be between {} and {}, got {}",
                    show(min),
                    show(max),
                    show(value.value)
                )
            };
            report.error(path, Some(&value.span), message);
            default
        }
    }
}

/// A number that passes `ok`, or `default` when absent or not; `allowed` says which for the
/// message (e.g. "between 1.0 and 10.0"). NaN passes no range.
pub(super) fn number_where(
    value: Option<&At<f64>>,
    ok: impl Fn(f64) -> bool,
    allowed: &str,
    default: f64,
    path: &str,
    report: &mut Reporter<'_>,
) -> f64 {
    match value {
        None => default,
        Some(value) if ok(value.value) => value.value,
        Some(value) => {
            report.error(
                path,
                Some(&value.span),
                format!("must be {allowed}, got {}", value.value),
            );
            default
        }
    }
}

/// `key` (written as `value`, read as `max`) must not be shorter than the duration `base` names;
/// checked only when neither has an error of its own.
pub(super) fn check_not_shorter(
    value: Option<&At<Duration>>,
    max: Duration,
    (base_key, base): (&str, Duration),
    path: &str,
    key: &str,
    report: &mut Reporter<'_>,
) {
    let (at, base_at) = (join_key(path, key), join_key(path, base_key));
    if let Some(value) = value
        && !report.has_error_at(&at)
        && !report.has_error_at(&base_at)
        && max < base
    {
        report.error(
            at,
            Some(&value.span),
            format!(
                "must not be shorter than {base_key} ({} < {})",
                show(max),
                show(base)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_are_listed_in_errors() {
        let text = "x";
        let mut report = Reporter::new(text);
        let wrong = At {
            value: "c".to_owned(),
            span: 0..1,
        };
        let two = [("a", 1), ("b", 2)];
        let three = [("a", 1), ("b", 2), ("d", 3)];
        assert_eq!(one_of(Some(&wrong), &two, 1, "k", &mut report), 1);
        assert_eq!(one_of(Some(&wrong), &three, 3, "k", &mut report), 3);
        let right = At {
            value: "b".to_owned(),
            span: 0..1,
        };
        assert_eq!(one_of(Some(&right), &three, 1, "k", &mut report), 2);
        assert_eq!(one_of(None, &three, 3, "k", &mut report), 3);
        let messages: Vec<String> = report
            .into_errors()
            .into_iter()
            .map(|error| error.message)
            .collect();
        assert_eq!(
            messages,
            [
                "must be \"a\" or \"b\", got \"c\"",
                "must be \"a\", \"b\" or \"d\", got \"c\"",
            ]
        );
    }

    #[test]
    fn addresses_accept_ipv4_and_bracketed_ipv6() {
        assert_eq!(
            parse_address("127.0.0.1:80"),
            Ok(SocketAddr::from(([127, 0, 0, 1], 80)))
        );
        assert!(parse_address("[::1]:8080").is_ok());
    }

    #[test]
    fn address_mistakes_are_explained() {
        let host_name = parse_address("localhost:8080").unwrap_err();
        assert!(
            host_name.contains("host names are not supported yet"),
            "{host_name}"
        );
        let no_port = parse_address("127.0.0.1").unwrap_err();
        assert!(no_port.contains("no port"), "{no_port}");
        let bad_port = parse_address("127.0.0.1:99999").unwrap_err();
        assert!(bad_port.contains("port between 1 and 65535"), "{bad_port}");
        let zero_port = parse_address("127.0.0.1:0").unwrap_err();
        assert!(
            zero_port.contains("port must be between 1 and 65535"),
            "{zero_port}"
        );
        let garbage = parse_address("12:34:56").unwrap_err();
        assert!(garbage.contains("like \"127.0.0.1:8080\""), "{garbage}");
    }
}
