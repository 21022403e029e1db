//! Rules for routes: host patterns, path prefixes, references to upstreams and rate-limit
//! policies, and uniqueness.

use std::collections::{HashMap, HashSet};

use super::checks::{check_name, check_url_path, positive_duration};
use crate::document::{At, join_index, join_key};
use crate::model::{HostMatch, Route};
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
            match_is_valid &= check_url_path(prefix, &at("path_prefix"), report);
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
    let timeout = positive_duration(
        raw.timeout.as_ref(),
        Route::DEFAULT_TIMEOUT,
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
    };
    (route, match_is_valid)
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
