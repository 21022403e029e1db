//! Rules for routes: host patterns, path prefixes, upstream references and uniqueness.

use std::collections::{HashMap, HashSet};

use super::checks::{check_name, check_url_path, positive_duration};
use crate::document::{At, join_index, join_key};
use crate::model::{HostMatch, Route};
use crate::raw::RawRoute;
use crate::report::Reporter;

/// Validates every route; `upstream_names` are all upstreams written in the file.
pub(super) fn validate_routes(
    raw_routes: &[Option<RawRoute>],
    upstream_names: &HashSet<&str>,
    report: &mut Reporter<'_>,
) -> Vec<Route> {
    let mut by_host_and_prefix: HashMap<(HostMatch, String), usize> = HashMap::new();
    let mut by_name: HashMap<String, usize> = HashMap::new();
    let mut routes = Vec::with_capacity(raw_routes.len());
    for (index, raw) in raw_routes.iter().enumerate() {
        let Some(raw) = raw else {
            continue; // not a table; already reported
        };
        let path = join_index("routes", index);
        let (route, match_is_valid) = validate_route(raw, &path, upstream_names, report);
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

/// The route, and whether its host and path_prefix passed their checks.
fn validate_route(
    raw: &RawRoute,
    path: &str,
    upstream_names: &HashSet<&str>,
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
        && !upstream_names.contains(upstream.value.as_str())
    {
        report.error(
            at("upstream"),
            Some(&upstream.span),
            format!("no upstream named {:?}", upstream.value),
        );
    }
    let route = Route {
        name,
        host,
        path_prefix,
        upstream: raw
            .upstream
            .as_ref()
            .map(|upstream: &At<String>| upstream.value.clone())
            .unwrap_or_default(),
        timeout: positive_duration(
            raw.timeout.as_ref(),
            Route::DEFAULT_TIMEOUT,
            &at("timeout"),
            report,
        ),
        rate_limits: Vec::new(),
    };
    (route, match_is_valid)
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
