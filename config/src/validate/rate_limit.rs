//! Rules for one `[rate_limits.<name>]` policy: its key parts, quota (`rate`, `per`, `burst`),
//! scope and what it does without its store or its key.

use std::collections::HashMap;

use super::checks::{check_name, duration_up_to, header_name, integer_in, one_of, show};
use crate::document::{At, OneOrMany, join_index, join_key};
use crate::model::{KeyPart, LimitScope, MissingKey, RateLimitPolicy, StoreErrorAction};
use crate::raw::RawRateLimit;
use crate::report::Reporter;

/// Validates one policy; `has_redis` says whether a `[redis]` section was written (a global
/// policy needs one).
pub(super) fn validate_rate_limit(
    raw: &RawRateLimit,
    has_redis: bool,
    report: &mut Reporter<'_>,
) -> RateLimitPolicy {
    let path = join_key("rate_limits", &raw.name.value);
    check_name(&raw.name, &path, report);
    let at = |key: &str| join_key(&path, key);
    let key = raw
        .key
        .as_ref()
        .map(|key| validate_key(key, &at("key"), report))
        .unwrap_or_default();
    let rate = integer_in(
        raw.rate.as_ref(),
        1..=RateLimitPolicy::MAX_RATE,
        1,
        &at("rate"),
        report,
    );
    let per = duration_up_to(
        raw.per.as_ref(),
        RateLimitPolicy::DEFAULT_PER,
        RateLimitPolicy::MAX_PER,
        &at("per"),
        report,
    );
    let both_valid =
        raw.rate.is_some() && !report.has_error_at(&at("rate")) && !report.has_error_at(&at("per"));
    if both_valid && per / rate < RateLimitPolicy::MIN_INTERVAL {
        let span = raw
            .per
            .as_ref()
            .map(|per| &per.span)
            .or(raw.rate.as_ref().map(|rate| &rate.span));
        report.error(
            at("per"),
            span,
            format!(
                "per / rate must be at least {} (one request per microsecond), got {} / {rate} \
                 = {}",
                show(RateLimitPolicy::MIN_INTERVAL),
                show(per),
                show(per / rate)
            ),
        );
    }
    let scope = one_of(
        raw.scope.as_ref(),
        &[("local", LimitScope::Local), ("global", LimitScope::Global)],
        LimitScope::default(),
        &at("scope"),
        report,
    );
    let scope_valid = !report.has_error_at(&at("scope"));
    if scope == LimitScope::Global
        && scope_valid
        && !has_redis
        && let Some(written) = &raw.scope
    {
        report.error(
            at("scope"),
            Some(&written.span),
            "\"global\" needs a [redis] section to keep its buckets in",
        );
    }
    let on_store_error = one_of(
        raw.on_store_error.as_ref(),
        &[
            ("local", StoreErrorAction::Local),
            ("allow", StoreErrorAction::Allow),
            ("deny", StoreErrorAction::Deny),
        ],
        StoreErrorAction::default(),
        &at("on_store_error"),
        report,
    );
    if let Some(written) = &raw.on_store_error
        && scope == LimitScope::Local
        && scope_valid
    {
        report.error(
            at("on_store_error"),
            Some(&written.span),
            "only applies to scope = \"global\" (this policy's scope is \"local\")",
        );
    }
    RateLimitPolicy {
        name: raw.name.value.clone(),
        key,
        rate,
        per,
        burst: integer_in(
            raw.burst.as_ref(),
            1..=RateLimitPolicy::MAX_BURST,
            rate,
            &at("burst"),
            report,
        ),
        scope,
        on_store_error,
        missing_key: one_of(
            raw.missing_key.as_ref(),
            &[
                ("shared", MissingKey::Shared),
                ("exempt", MissingKey::Exempt),
            ],
            MissingKey::default(),
            &at("missing_key"),
            report,
        ),
        max_keys: integer_in(
            raw.max_keys.as_ref(),
            1..=RateLimitPolicy::MAX_MAX_KEYS,
            RateLimitPolicy::DEFAULT_MAX_KEYS,
            &at("max_keys"),
            report,
        ),
        response_headers: raw
            .response_headers
            .as_ref()
            .is_none_or(|value| value.value),
    }
}

/// `key = "client_ip"` or `key = ["client_ip", "header:x-api-key"]`: at least one part, no part
/// twice.
fn validate_key(raw: &OneOrMany, path: &str, report: &mut Reporter<'_>) -> Vec<KeyPart> {
    let parts = match raw {
        OneOrMany::One(part) => return key_part(part, path, report).into_iter().collect(),
        OneOrMany::Many(parts) => parts,
    };
    if parts.value.is_empty() {
        report.error(
            path,
            Some(&parts.span),
            "needs at least one key part, like \"client_ip\"",
        );
        return Vec::new();
    }
    let mut first_index: HashMap<KeyPart, usize> = HashMap::new();
    let mut key = Vec::with_capacity(parts.value.len());
    for (index, part) in parts.value.iter().enumerate() {
        let Some(part) = part else {
            continue; // not a string; already reported
        };
        let part_path = join_index(path, index);
        let Some(parsed) = key_part(part, &part_path, report) else {
            continue;
        };
        if let Some(first) = first_index.get(&parsed) {
            report.error(
                part_path,
                Some(&part.span),
                format!("\"{parsed}\" is listed twice (also key[{first}])"),
            );
        } else {
            first_index.insert(parsed.clone(), index);
            key.push(parsed);
        }
    }
    key
}

fn key_part(part: &At<String>, path: &str, report: &mut Reporter<'_>) -> Option<KeyPart> {
    match parse_key_part(&part.value) {
        Ok(parsed) => Some(parsed),
        Err(message) => {
            report.error(path, Some(&part.span), message);
            None
        }
    }
}

/// `client_ip`, `route` or `header:<name>` (the name stored lower-case).
fn parse_key_part(text: &str) -> Result<KeyPart, String> {
    match text {
        "client_ip" => return Ok(KeyPart::ClientIp),
        "route" => return Ok(KeyPart::Route),
        _ => {}
    }
    let Some(name) = text.strip_prefix("header:") else {
        return Err(format!(
            "must be \"client_ip\", \"route\" or \"header:<name>\", got {text:?}"
        ));
    };
    if name.is_empty() {
        return Err("needs a header name after \"header:\", like \"header:x-api-key\"".to_owned());
    }
    header_name(name)
        .map(KeyPart::Header)
        .map_err(|message| format!("{message}, got {text:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_parts_parse() {
        assert_eq!(parse_key_part("client_ip"), Ok(KeyPart::ClientIp));
        assert_eq!(parse_key_part("route"), Ok(KeyPart::Route));
        assert_eq!(
            parse_key_part("header:X-Api-Key"),
            Ok(KeyPart::Header("x-api-key".to_owned()))
        );
        assert_eq!(
            parse_key_part("header:x_tenant.id~1"),
            Ok(KeyPart::Header("x_tenant.id~1".to_owned()))
        );
    }

    #[test]
    fn bad_key_parts_are_explained() {
        for (text, message) in [
            (
                "ip",
                "must be \"client_ip\", \"route\" or \"header:<name>\"",
            ),
            ("Client_IP", "must be \"client_ip\""),
            ("header", "must be \"client_ip\""),
            ("header:", "needs a header name"),
            ("header:x api", "is not a valid header name"),
            ("header:x:y", "is not a valid header name"),
            ("header:é", "is not a valid header name"),
        ] {
            let error = parse_key_part(text).unwrap_err();
            assert!(error.contains(message), "{text:?}: {error}");
        }
    }
}
