//! Rules for `[redis]`: the URL (plain `redis://` only), timeout, pool size and key prefix.

use std::net::{IpAddr, Ipv6Addr};

use super::checks::{duration_up_to, integer_in};
use crate::document::At;
use crate::model::RedisSettings;
use crate::raw::RawRedis;
use crate::report::Reporter;

pub(super) fn validate_redis(raw: &RawRedis, report: &mut Reporter<'_>) -> RedisSettings {
    if let Some(url) = &raw.url
        && let Err(message) = check_url(&url.value)
    {
        report.error("redis.url", Some(&url.span), message);
    }
    if let Some(prefix) = &raw.key_prefix {
        check_key_prefix(prefix, report);
    }
    RedisSettings {
        url: raw
            .url
            .as_ref()
            .map(|url| url.value.clone())
            .unwrap_or_default(),
        timeout: duration_up_to(
            raw.timeout.as_ref(),
            RedisSettings::DEFAULT_TIMEOUT,
            RedisSettings::MAX_TIMEOUT,
            "redis.timeout",
            report,
        ),
        pool_size: integer_in(
            raw.pool_size.as_ref(),
            1..=RedisSettings::MAX_POOL_SIZE,
            RedisSettings::DEFAULT_POOL_SIZE,
            "redis.pool_size",
            report,
        ),
        key_prefix: raw.key_prefix.as_ref().map_or_else(
            || RedisSettings::DEFAULT_KEY_PREFIX.to_owned(),
            |prefix| prefix.value.clone(),
        ),
    }
}

fn check_key_prefix(prefix: &At<String>, report: &mut Reporter<'_>) {
    let value = &prefix.value;
    let problem = if value.is_empty() {
        "must not be empty".to_owned()
    } else if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        format!("must not contain spaces or control characters, got {value:?}")
    } else if value.len() > RedisSettings::MAX_KEY_PREFIX_LEN {
        format!(
            "must be at most {} bytes, got {}",
            RedisSettings::MAX_KEY_PREFIX_LEN,
            value.len()
        )
    } else {
        return;
    };
    report.error("redis.key_prefix", Some(&prefix.span), problem);
}

const URL_EXAMPLE: &str = "like \"redis://127.0.0.1:6379\"";

/// `redis://host[:port][/db]`. Messages never repeat the text after a `@`, which may be a
/// password.
fn check_url(text: &str) -> Result<(), String> {
    if text.contains('@') {
        return Err(
            "user names and passwords are not supported yet; remove the part up to '@'".to_owned(),
        );
    }
    let Some((scheme, rest)) = text.split_once("://") else {
        return Err(format!(
            "must be a redis:// URL, {URL_EXAMPLE}, got {text:?}"
        ));
    };
    match scheme.to_ascii_lowercase().as_str() {
        "redis" => {}
        "rediss" => {
            return Err(format!(
                "TLS (rediss://) is not supported yet; use a redis:// URL, {URL_EXAMPLE}"
            ));
        }
        _ => {
            return Err(format!(
                "must be a redis:// URL, {URL_EXAMPLE}, got the scheme {scheme:?}"
            ));
        }
    }
    if rest.contains(['?', '#']) {
        return Err(format!(
            "must not have a query or fragment ('?' or '#'), got {text:?}"
        ));
    }
    let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = split_host_port(authority, text)?;
    check_host(host, text)?;
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(1..))
    {
        return Err(format!(
            "port must be between 1 and 65535, got {port:?} in {text:?}"
        ));
    }
    if !database.is_empty()
        && !matches!(database.parse::<u8>(), Ok(number) if number <= RedisSettings::MAX_DATABASE)
    {
        return Err(format!(
            "database must be a number between 0 and {}, got {database:?} in {text:?}",
            RedisSettings::MAX_DATABASE
        ));
    }
    Ok(())
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_host_port<'t>(
    authority: &'t str,
    text: &str,
) -> Result<(&'t str, Option<&'t str>), String> {
    if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(format!("an IPv6 address needs a closing ']', got {text:?}"));
        };
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{host:?} is not an IPv6 address, in {text:?}"));
        }
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err(format!("expected ':port' after ']', got {text:?}")),
            },
        };
    }
    match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => Err(format!(
            "IPv6 addresses go in brackets, like \"redis://[::1]:6379\", got {text:?}"
        )),
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

/// An IP address or a host name (letters, digits, `-` and `_` in dot-separated labels).
fn check_host(host: &str, text: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err(format!("needs a host, {URL_EXAMPLE}, got {text:?}"));
    }
    if host.parse::<IpAddr>().is_ok() {
        return Ok(());
    }
    let is_name = host.len() <= 253
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        });
    if is_name {
        Ok(())
    } else {
        Err(format!(
            "host must be an IP address or a host name, got {host:?} in {text:?}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_redis_urls_are_accepted() {
        for url in [
            "redis://127.0.0.1:6379",
            "redis://127.0.0.1",
            "redis://redis.internal:6380/15",
            "redis://redis_1:6379/0",
            "redis://localhost/",
            "redis://[::1]:6379/3",
            "redis://[::1]",
            "REDIS://Cache.Example.com:6379",
        ] {
            assert_eq!(check_url(url), Ok(()), "{url}");
        }
    }

    #[test]
    fn other_urls_are_explained() {
        for (url, message) in [
            ("127.0.0.1:6379", "must be a redis:// URL"),
            (
                "rediss://cache:6380",
                "TLS (rediss://) is not supported yet",
            ),
            ("http://cache:6379", "got the scheme \"http\""),
            ("redis+unix:///tmp/redis.sock", "got the scheme"),
            (
                "redis://:secret@cache:6379",
                "passwords are not supported yet",
            ),
            ("redis://cache:6379?db=1", "query"),
            ("redis://:6379", "needs a host"),
            ("redis://cache:0", "port must be between 1 and 65535"),
            ("redis://cache:65536", "port must be between 1 and 65535"),
            ("redis://cache:", "port must be between 1 and 65535"),
            (
                "redis://cache:6379/16",
                "database must be a number between 0 and 15",
            ),
            ("redis://cache:6379/db", "database must be"),
            ("redis://cache:6379/1/2", "database must be"),
            ("redis://::1:6379", "IPv6 addresses go in brackets"),
            ("redis://[::1:6379", "closing ']'"),
            ("redis://[cache]:6379", "not an IPv6 address"),
            ("redis://[::1]6379", "expected ':port'"),
            (
                "redis://ca che:6379",
                "host must be an IP address or a host name",
            ),
            ("redis://cache..internal", "host must be"),
        ] {
            let error = check_url(url).unwrap_err();
            assert!(error.contains(message), "{url}: {error}");
        }
    }

    #[test]
    fn passwords_are_not_repeated() {
        for url in [
            "redis://user:hunter2@cache:6379",
            "rediss://:hunter2@cache:6379",
            "user:hunter2@cache:6379",
            "redis://:hunter2@cache:99999",
        ] {
            let error = check_url(url).unwrap_err();
            assert!(!error.contains("hunter2"), "{error}");
        }
    }
}
