//! Rules for routes: host patterns, path prefixes, references to upstreams and rate-limit
//! policies, and uniqueness.

use std::collections::{HashMap, HashSet};

use super::checks::{check_name, check_url_path, duration_up_to, integer_in, one_of};
use crate::document::{At, join_index, join_key};
use crate::model::{EncodedSlashes, HostMatch, HttpsRules, RequestRules, Route};
use crate::raw::RawRoute;
use crate::report::Reporter;

/// Validates every route; `upstream_names` and `rate_limit_names` are all upstreams and
/// policies written in the file (even those with problems of their own).
pub(super) fn validate_routes(
    raw_routes: &[Option<RawRoute>],
    upstream_names: &HashSet<&str>,
    rate_limit_names: &HashSet<&str>,
    report: &mut Reporter<'_>,
) -> Vec<Route> {
    let mut by_host_and_prefix: HashMap<(HostMatch, String), usize> = HashMap::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut routes = Vec::with_capacity(raw_routes.len());
    let names = Names {
        upstreams: upstream_names,
        rate_limits: rate_limit_names,
    };
    for (index, raw) in raw_routes.iter().enumerate() {
        let Some(raw) = raw else {
            continue; // not a table; already reported
        };
        let path = join_index("routes", index);
        let (route, match_is_valid) = validate_route(raw, &path, &names, report);
        // A host or path_prefix that failed its own check is not compared, nor is the default
        // name built from it: either would only repeat that problem.
        if match_is_valid {
            let key = (route.host.clone(), route.path_prefix.clone());
            if let Some(first) = by_host_and_prefix.get(&key) {
                report.error(
                    &path,
                    Some(&raw.span),
                    format!("same host and path_prefix as routes[{first}]"),
                );
                // The default name repeats too; that is the same problem.
                routes.push(route);
                continue;
            }
            by_host_and_prefix.insert(key, index);
        }
        if match_is_valid || raw.name.is_some() {
            if let Some(first) = by_name.get(&route.name) {
                let span = raw.name.as_ref().map_or(&raw.span, |name| &name.span);
                report.error(
                    join_key(&path, "name"),
                    Some(span),
                    format!("{:?} is already used by routes[{first}]", route.name),
                );
            } else {
                by_name.insert(route.name.clone(), index);
            }
        }
        routes.push(route);
    }
    routes
}

/// What a route may refer to.
struct Names<'a> {
    upstreams: &'a HashSet<&'a str>,
    rate_limits: &'a HashSet<&'a str>,
}

/// The route, and whether its host and path_prefix passed their checks.
fn validate_route(
    raw: &RawRoute,
    path: &str,
    names: &Names<'_>,
    report: &mut Reporter<'_>,
) -> (Route, bool) {
    let at = |key: &str| join_key(path, key);
    let mut match_is_valid = true;
    let host_text = raw.host.as_ref().map_or("*", |host| host.value.as_str());
    let host = match &raw.host {
        None => HostMatch::Any,
        Some(host) => parse_host(&host.value).unwrap_or_else(|message| {
            report.error(at("host"), Some(&host.span), message);
            match_is_valid = false;
            HostMatch::Any
        }),
    };
    let path_prefix = match &raw.path_prefix {
        None => "/".to_owned(),
        Some(prefix) => {
            match_is_valid &= check_url_path(prefix, &at("path_prefix"), report)
                && check_normal_prefix(prefix, &at("path_prefix"), report);
            prefix.value.clone()
        }
    };
    let name = match &raw.name {
        None => format!("{host_text}{path_prefix}"),
        Some(name) => {
            check_name(name, &at("name"), report);
            name.value.clone()
        }
    };
    if let Some(upstream) = &raw.upstream
        && !names.upstreams.contains(upstream.value.as_str())
    {
        report.error(
            at("upstream"),
            Some(&upstream.span),
            format!("no upstream named {:?}", upstream.value),
        );
    }
    let timeout = duration_up_to(
        raw.timeout.as_ref(),
        Route::DEFAULT_TIMEOUT,
        Route::MAX_TIMEOUT,
        &at("timeout"),
        report,
    );
    let resilience = super::resilience::validate_route(raw, path, timeout, report);
    let route = Route {
        name,
        host,
        path_prefix,
        upstream: raw
            .upstream
            .as_ref()
            .map(|upstream: &At<String>| upstream.value.clone())
            .unwrap_or_default(),
        timeout,
        read_timeout: resilience.read_timeout,
        connect_timeout: resilience.connect_timeout,
        priority: resilience.priority,
        retry: resilience.retry,
        fault: resilience.fault,
        rate_limits: raw
            .rate_limits
            .as_ref()
            .map(|policies| {
                validate_rate_limits(policies, &at("rate_limits"), names.rate_limits, report)
            })
            .unwrap_or_default(),
        request: validate_request_rules(raw, path, report),
        https: validate_https_rules(raw, path, report),
    };
    (route, match_is_valid)
}

/// A prefix in the normal form requests are matched in (see the gateway's path normalisation):
/// no empty, `.` or `..` segment, no escape of an unreserved character, upper-case hex. Another
/// prefix could never match. Returns whether it passed.
fn check_normal_prefix(prefix: &At<String>, path: &str, report: &mut Reporter<'_>) -> bool {
    let value = &prefix.value;
    let segments: Vec<&str> = value[1..].split('/').collect();
    let last = segments.len() - 1;
    let dot_segment = segments
        .iter()
        .enumerate()
        .any(|(i, s)| matches!(*s, "." | "..") || (s.is_empty() && i != last));
    let bytes = value.as_bytes();
    let bad_escape = bytes.iter().enumerate().any(|(i, &b)| {
        b == b'%'
            && match (bytes.get(i + 1), bytes.get(i + 2)) {
                (Some(&hi), Some(&lo)) if hi.is_ascii_hexdigit() && lo.is_ascii_hexdigit() => {
                    let hex = |d: u8| (d as char).to_digit(16).unwrap_or(0) as u8;
                    let decoded = hex(hi) << 4 | hex(lo);
                    hi.is_ascii_lowercase()
                        || lo.is_ascii_lowercase()
                        || decoded.is_ascii_alphanumeric()
                        || matches!(decoded, b'-' | b'.' | b'_' | b'~')
                }
                _ => true,
            }
    });
    if !(dot_segment || bad_escape) {
        return true;
    }
    report.error(
        path,
        Some(&prefix.span),
        format!(
            "must be a normalised path (no \"//\", \".\" or \"..\" segments, no escapes of \
             letters, digits or -._~, upper-case hex), since requests are matched on normalised \
             paths; got {value:?}"
        ),
    );
    false
}

/// The route's request rules: paths, header names and the body cap.
fn validate_request_rules(raw: &RawRoute, path: &str, report: &mut Reporter<'_>) -> RequestRules {
    let flag = |value: &Option<At<bool>>| value.as_ref().is_some_and(|v| v.value);
    RequestRules {
        forward_raw_path: flag(&raw.forward_raw_path),
        encoded_slashes: one_of(
            raw.encoded_slashes.as_ref(),
            &[
                ("keep", EncodedSlashes::Keep),
                ("reject", EncodedSlashes::Reject),
            ],
            EncodedSlashes::Keep,
            &join_key(path, "encoded_slashes"),
            report,
        ),
        path_prefix_ignore_case: flag(&raw.path_prefix_ignore_case),
        max_body_size: raw.max_body_size.as_ref().map(|size| {
            let bytes = integer_in(
                Some(size),
                0..=u32::MAX,
                u32::MAX,
                &join_key(path, "max_body_size"),
                report,
            );
            u64::from(bytes)
        }),
        underscores_in_headers: flag(&raw.underscores_in_headers),
    }
}

/// The route's HTTPS rules: the redirect, its port, and `Strict-Transport-Security`.
fn validate_https_rules(raw: &RawRoute, path: &str, report: &mut Reporter<'_>) -> HttpsRules {
    let hsts = raw
        .hsts
        .as_ref()
        .and_then(|hsts| match check_hsts(&hsts.value) {
            Ok(()) => Some(hsts.value.trim().to_owned()),
            Err(message) => {
                report.error(join_key(path, "hsts"), Some(&hsts.span), message);
                None
            }
        });
    HttpsRules {
        redirect_https: raw.redirect_https.as_ref().is_some_and(|v| v.value),
        https_port: u16::try_from(integer_in(
            raw.https_port.as_ref(),
            1..=u32::from(u16::MAX),
            u32::from(HttpsRules::DEFAULT_HTTPS_PORT),
            &join_key(path, "https_port"),
            report,
        ))
        .unwrap_or(HttpsRules::DEFAULT_HTTPS_PORT),
        hsts,
    }
}

/// A `Strict-Transport-Security` value (RFC 6797 §6.1): `max-age=<seconds>` exactly once, and
/// `includeSubDomains` and `preload` at most once each, separated by `;`. Other directives are
/// refused, so a misspelt one is caught rather than ignored by browsers.
pub(super) fn check_hsts(value: &str) -> Result<(), String> {
    if let Some(c) = value.chars().find(|c| !(' '..='~').contains(c)) {
        return Err(format!(
            "must be printable ASCII (a header value), got {c:?} in {value:?}"
        ));
    }
    let mut max_age = false;
    let mut seen: Vec<&str> = Vec::new();
    for directive in value.split(';').map(str::trim).filter(|d| !d.is_empty()) {
        let (name, argument) = match directive.split_once('=') {
            Some((name, argument)) => (name.trim(), Some(argument.trim())),
            None => (directive, None),
        };
        let known = ["max-age", "includeSubDomains", "preload"]
            .into_iter()
            .find(|known| known.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                format!(
                    "unknown directive {name:?} (expected max-age, includeSubDomains, preload),                      in {value:?}"
                )
            })?;
        if seen.contains(&known) {
            return Err(format!("{known} is given twice, in {value:?}"));
        }
        seen.push(known);
        match (known, argument) {
            ("max-age", Some(seconds)) => {
                let digits = seconds.trim_matches('"');
                if digits.is_empty()
                    || !digits.bytes().all(|b| b.is_ascii_digit())
                    || digits.parse::<u64>().is_err()
                {
                    return Err(format!(
                        "max-age must be a number of seconds, like max-age=31536000, got {seconds:?}"
                    ));
                }
                max_age = true;
            }
            ("max-age", None) => {
                return Err("max-age needs a value, like max-age=31536000".to_owned());
            }
            (_, Some(_)) => return Err(format!("{known} takes no value, in {value:?}")),
            (_, None) => {}
        }
    }
    if !max_age {
        return Err(format!(
            "needs max-age, like \"max-age=31536000; includeSubDomains\", got {value:?}"
        ));
    }
    Ok(())
}

/// `rate_limits = ["per-client", ...]`: each names a policy, none twice.
fn validate_rate_limits(
    raw: &At<Vec<Option<At<String>>>>,
    path: &str,
    rate_limit_names: &HashSet<&str>,
    report: &mut Reporter<'_>,
) -> Vec<String> {
    let mut first_index: HashMap<&str, usize> = HashMap::new();
    let mut policies = Vec::with_capacity(raw.value.len());
    for (index, name) in raw.value.iter().enumerate() {
        let Some(name) = name else {
            continue; // not a string; already reported
        };
        let name_path = join_index(path, index);
        if !rate_limit_names.contains(name.value.as_str()) {
            report.error(
                name_path,
                Some(&name.span),
                format!("no rate limit policy named {:?}", name.value),
            );
        } else if let Some(first) = first_index.get(name.value.as_str()) {
            report.error(
                name_path,
                Some(&name.span),
                format!(
                    "{:?} is listed twice (also rate_limits[{first}])",
                    name.value
                ),
            );
        } else {
            first_index.insert(&name.value, index);
            policies.push(name.value.clone());
        }
    }
    policies
}

/// `*`, `*.example.com` or an exact host name; stored lower-case.
pub(super) fn parse_host(text: &str) -> Result<HostMatch, String> {
    if text == "*" {
        return Ok(HostMatch::Any);
    }
    let host = text.to_lowercase();
    if let Some(suffix) = host.strip_prefix("*.") {
        if suffix.is_empty() {
            return Err(format!(
                "a wildcard host needs a suffix, like \"*.example.com\", got {text:?}"
            ));
        }
        check_host_characters(suffix, text)?;
        return Ok(HostMatch::Suffix(format!(".{suffix}")));
    }
    if host.is_empty() {
        return Err("must not be empty (use \"*\" for any host)".to_owned());
    }
    check_host_characters(&host, text)?;
    Ok(HostMatch::Exact(host))
}

fn check_host_characters(host: &str, text: &str) -> Result<(), String> {
    if host.contains('*') {
        Err(format!(
            "must be \"*\", \"*.suffix\" or an exact host name; '*' is only allowed as a leading \
             \"*.\", got {text:?}"
        ))
    } else if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Err(format!("must not contain spaces, got {text:?}"))
    } else if host.contains(':') {
        Err(format!("must not include a port, got {text:?}"))
    } else if host.contains('/') {
        Err(format!(
            "must be a host name only (put paths in path_prefix), got {text:?}"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsts_values_need_max_age_and_known_directives() {
        for good in [
            "max-age=31536000",
            "max-age=31536000; includeSubDomains",
            "max-age=0",
            "MAX-AGE=\"600\"; preload; includesubdomains;",
        ] {
            assert_eq!(check_hsts(good), Ok(()), "{good}");
        }
        for (bad, says) in [
            ("includeSubDomains", "needs max-age"),
            ("max-age", "needs a value"),
            ("max-age=1y", "number of seconds"),
            ("max-age=", "number of seconds"),
            ("max-age=99999999999999999999999", "number of seconds"),
            ("max-age=1; max-age=2", "given twice"),
            ("max-age=1; includeSubdomain", "unknown directive"),
            ("max-age=1; preload=yes", "takes no value"),
            ("max-age=1\n", "printable ASCII"),
        ] {
            let error = check_hsts(bad).expect_err(bad);
            assert!(error.contains(says), "{bad}: {error}");
        }
    }

    #[test]
    fn hosts_parse_to_lower_case_matches() {
        assert_eq!(parse_host("*"), Ok(HostMatch::Any));
        assert_eq!(
            parse_host("API.Example.com"),
            Ok(HostMatch::Exact("api.example.com".to_owned()))
        );
        assert_eq!(
            parse_host("*.Example.COM"),
            Ok(HostMatch::Suffix(".example.com".to_owned()))
        );
    }

    #[test]
    fn bad_hosts_are_rejected() {
        for bad in [
            "",
            "*.",
            "*.*.com",
            "a*.com",
            "**",
            "api.example.com:8080",
            "a b",
            "x/y",
        ] {
            assert!(parse_host(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}

#[cfg(test)]
mod request_rule_tests {
    use crate::model::EncodedSlashes;

    const UPSTREAM: &str = "[upstreams.api]\n[[upstreams.api.pools]]\nregion = \"us-east\"\n\
                            endpoints = [\"127.0.0.1:9001\"]\n";

    fn route(keys: &str) -> String {
        format!("{UPSTREAM}[[routes]]\nupstream = \"api\"\n{keys}\n")
    }

    #[test]
    fn request_rules_default_to_normalised_paths_and_no_cap() {
        let config = crate::parse(&route("")).unwrap();
        let rules = &config.fleet.routes[0].request;
        assert_eq!(*rules, crate::model::RequestRules::default());
        assert!(!rules.forward_raw_path && !rules.underscores_in_headers);
        assert_eq!(rules.encoded_slashes, EncodedSlashes::Keep);
        assert_eq!(rules.max_body_size, None);
    }

    #[test]
    fn request_rules_are_read() {
        let config = crate::parse(&route(
            "forward_raw_path = true\nencoded_slashes = \"reject\"\n\
             path_prefix_ignore_case = true\nmax_body_size = 1024\nunderscores_in_headers = true",
        ))
        .unwrap();
        let rules = &config.fleet.routes[0].request;
        assert!(rules.forward_raw_path && rules.path_prefix_ignore_case);
        assert!(rules.underscores_in_headers);
        assert_eq!(rules.encoded_slashes, EncodedSlashes::Reject);
        assert_eq!(rules.max_body_size, Some(1024));
    }

    #[test]
    fn bad_request_rules_are_reported_at_their_paths() {
        let errors = crate::parse(&route(
            "encoded_slashes = \"decode\"\nmax_body_size = -1\nforward_raw_path = \"yes\"",
        ))
        .unwrap_err()
        .0;
        let find = |path: &str| {
            errors
                .iter()
                .find(|e| e.path == path)
                .unwrap_or_else(|| panic!("no error at {path}: {errors:?}"))
        };
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            find("routes[0].forward_raw_path")
                .message
                .contains("boolean")
        );
        assert!(
            find("routes[0].encoded_slashes")
                .message
                .contains("\"keep\" or \"reject\"")
        );
        assert!(
            find("routes[0].max_body_size")
                .message
                .contains("at least 0")
        );
    }

    #[test]
    fn path_prefixes_must_be_normal() {
        for good in ["/", "/api", "/api/", "/a%2Fb", "/.well-known/", "/a..b"] {
            let text = route(&format!("path_prefix = {good:?}"));
            assert!(crate::parse(&text).is_ok(), "{good}");
        }
        for bad in [
            "//api", "/a//b", "/./x", "/a/../b", "/a/..", "/%61pi", "/a%2fb", "/a%zz",
        ] {
            let errors = crate::parse(&route(&format!("path_prefix = {bad:?}")))
                .unwrap_err()
                .0;
            assert_eq!(errors.len(), 1, "{bad}: {errors:?}");
            assert_eq!(errors[0].path, "routes[0].path_prefix");
            assert!(errors[0].message.contains("normalised"), "{errors:?}");
        }
    }

    #[test]
    fn access_log_query_is_on_unless_turned_off() {
        assert!(crate::parse("").unwrap().node.access_log.query);
        let off = crate::parse("[access_log]\nquery = false\n").unwrap();
        assert!(!off.node.access_log.query);
    }
}
