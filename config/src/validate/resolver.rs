//! Endpoints as `ip:port` or `host:port` (a DNS name checked against RFC 1123), and
//! `[resolver]`: nameservers as `ip:port`, TTL bounds, the lookup timeout, the address cap and
//! the family, each error at its path.

use std::net::{IpAddr, SocketAddr};

use super::checks::{address, duration_in, integer_in, one_of, show};
use crate::document::{At, join_index};
use crate::model::{AddressFamily, Endpoint, EndpointName, ResolverSettings};
use crate::raw::RawResolver;
use crate::report::Reporter;

/// A pool's endpoint: `ip:port`, or `host:port` with a DNS name; reported at `path` otherwise.
pub(super) fn endpoint(
    value: &At<String>,
    path: &str,
    report: &mut Reporter<'_>,
) -> Option<Endpoint> {
    match parse_endpoint(&value.value) {
        Ok(endpoint) => Some(endpoint),
        Err(message) => {
            report.error(path, Some(&value.span), message);
            None
        }
    }
}

/// `ip:port` or `host:port`, or why not (the message of a config error).
pub(crate) fn parse_endpoint(text: &str) -> Result<Endpoint, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        if addr.port() == 0 {
            return Err(format!("port must be between 1 and 65535, got {text:?}"));
        }
        return Ok(Endpoint::Addr(addr));
    }
    if text.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "must be ip:port or host:port, got {text:?} with no port \
             (IPv6 addresses go in brackets, like \"[::1]:8080\")"
        ));
    }
    let Some((host, port)) = text.rsplit_once(':') else {
        return Err(format!(
            "must be ip:port or host:port, got {text:?} with no port (like \"api.internal:8080\")"
        ));
    };
    if text.contains('/') {
        return Err(format!(
            "must be ip:port or host:port, without a scheme or path, got {text:?}"
        ));
    }
    let unbracketed = host.trim_start_matches('[').trim_end_matches(']');
    if host.contains(':') || unbracketed.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "must be ip:port with a port between 1 and 65535 (IPv6 addresses go in brackets, \
             like \"[::1]:8080\"), got {text:?}"
        ));
    }
    let port = match port.parse::<u16>() {
        Ok(port) if port > 0 => port,
        _ => return Err(format!("port must be between 1 and 65535, got {text:?}")),
    };
    let host = check_host(host).map_err(|why| format!("{why}, got {text:?}"))?;
    Ok(Endpoint::Name(EndpointName { host, port }))
}

/// An RFC 1123 host name, lower-cased and without its trailing dot: labels of 1 to 63 letters,
/// digits and inner hyphens, at most 253 characters, and a last label that is not all digits
/// (so a mistyped address like `10.0.0:80` is not taken for a name).
fn check_host(host: &str) -> Result<String, &'static str> {
    let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    if host.is_empty() || host.len() > 253 {
        return Err("must be a host name of 1 to 253 characters before the port");
    }
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !host.split('.').all(label_ok) {
        return Err(
            "must be ip:port or host:port with a DNS name (labels of letters, digits and \
                    inner hyphens, 1 to 63 characters each)",
        );
    }
    let last = host.rsplit('.').next().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err("must be ip:port or host:port; a name's last label is not all digits");
    }
    Ok(host)
}

/// `[resolver]`, with its defaults when absent.
pub(super) fn validate_resolver(raw: &RawResolver, report: &mut Reporter<'_>) -> ResolverSettings {
    let RawResolver {
        nameservers,
        min_ttl,
        max_ttl,
        timeout,
        max_addresses,
        family,
    } = raw;
    let mut servers: Vec<SocketAddr> = Vec::new();
    if let Some(list) = nameservers {
        for (index, value) in list.value.iter().enumerate() {
            let Some(value) = value else { continue }; // not a string; already reported
            let path = join_index("resolver.nameservers", index);
            let Some(server) = address(value, &path, report) else {
                continue;
            };
            if servers.contains(&server) {
                report.error(path, Some(&value.span), format!("{server} is listed twice"));
            } else {
                servers.push(server);
            }
        }
    }
    let min_ttl = duration_in(
        min_ttl.as_ref(),
        ResolverSettings::MIN_TTL_RANGE,
        ResolverSettings::DEFAULT_MIN_TTL,
        "resolver.min_ttl",
        report,
    );
    let max_ttl = match max_ttl {
        Some(value) if value.value < min_ttl => {
            report.error(
                "resolver.max_ttl",
                Some(&value.span),
                format!(
                    "must not be shorter than resolver.min_ttl ({})",
                    show(min_ttl)
                ),
            );
            ResolverSettings::DEFAULT_MAX_TTL.max(min_ttl)
        }
        _ => duration_in(
            max_ttl.as_ref(),
            (min_ttl, ResolverSettings::MAX_TTL_LIMIT),
            ResolverSettings::DEFAULT_MAX_TTL.max(min_ttl),
            "resolver.max_ttl",
            report,
        ),
    };
    let (low, high) = ResolverSettings::MAX_ADDRESSES_RANGE;
    ResolverSettings {
        nameservers: servers,
        min_ttl,
        max_ttl,
        timeout: duration_in(
            timeout.as_ref(),
            ResolverSettings::TIMEOUT_RANGE,
            ResolverSettings::DEFAULT_TIMEOUT,
            "resolver.timeout",
            report,
        ),
        max_addresses: integer_in(
            max_addresses.as_ref(),
            low..=high,
            ResolverSettings::DEFAULT_MAX_ADDRESSES,
            "resolver.max_addresses",
            report,
        ),
        family: one_of(
            family.as_ref(),
            &[
                ("any", AddressFamily::Any),
                ("ipv4", AddressFamily::Ipv4),
                ("ipv6", AddressFamily::Ipv6),
            ],
            AddressFamily::default(),
            "resolver.family",
            report,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(host: &str, port: u16) -> Endpoint {
        Endpoint::Name(EndpointName {
            host: host.into(),
            port,
        })
    }

    #[test]
    fn endpoints_are_addresses_or_names() {
        assert_eq!(
            parse_endpoint("10.0.0.1:80"),
            Ok(Endpoint::Addr("10.0.0.1:80".parse().unwrap()))
        );
        assert_eq!(
            parse_endpoint("[::1]:80"),
            Ok(Endpoint::Addr("[::1]:80".parse().unwrap()))
        );
        assert_eq!(
            parse_endpoint("API.Internal.:8080"),
            Ok(name("api.internal", 8080))
        );
        assert_eq!(parse_endpoint("localhost:1"), Ok(name("localhost", 1)));
        assert_eq!(
            parse_endpoint("a-1.b2.example:65535"),
            Ok(name("a-1.b2.example", 65535))
        );
    }

    #[test]
    fn bad_endpoints_say_why() {
        for (text, says) in [
            ("api.internal", "no port"),
            ("10.0.0.1", "no port"),
            ("api.internal:0", "port must be between 1 and 65535"),
            ("api.internal:99999", "port must be between 1 and 65535"),
            ("api.internal:http", "port must be between 1 and 65535"),
            ("::1:9001", "IPv6 addresses go in brackets"),
            ("10.0.0:80", "not all digits"),
            ("-api.internal:80", "DNS name"),
            ("api-.internal:80", "DNS name"),
            ("api..internal:80", "DNS name"),
            ("api_1.internal:80", "DNS name"),
            ("http://api:80", "without a scheme or path"),
            ("api.internal:80/x", "without a scheme or path"),
            (":80", "1 to 253"),
        ] {
            let error = parse_endpoint(text).expect_err(text);
            assert!(error.contains(says), "{text}: {error}");
        }
        let long_label = format!("{}.example:80", "a".repeat(64));
        assert!(parse_endpoint(&long_label).is_err());
        let long_name = format!("{}example:80", "abcdefghi.".repeat(25));
        assert!(parse_endpoint(&long_name).unwrap_err().contains("253"));
    }
}
