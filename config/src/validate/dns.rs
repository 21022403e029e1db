//! Rules for `[dns]`: zone, name-server and GSLB names that are valid DNS names (each GSLB name
//! under a served zone), members with IP addresses, weights in bounds and an `http://` health
//! URL, `client_regions` CIDRs without host bits pointing at member regions, and probe settings.
//! Every problem is reported at its path, e.g. `dns.names."api.example.com".members[1].weight`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

use super::checks::{check_name, duration_in, integer_in, one_of, show};
use crate::document::{At, join_index, join_key};
use crate::model::{
    AllDown, DnsMember, DnsName, DnsPolicy, DnsProbe, DnsSettings, DnsSoa, HttpUrl, Pool,
};
use crate::raw::{RawDns, RawDnsMember, RawDnsName, RawDnsProbe, RawSoa};
use crate::report::Reporter;

/// The longest TTL any DNS key takes.
const MAX_TTL: Duration = DnsName::MAX_TTL;

pub(super) fn validate_dns(raw: &RawDns, report: &mut Reporter<'_>) -> DnsSettings {
    let zones = dns_names(raw.zones.as_ref(), "dns.zones", report);
    let ns = dns_names(raw.ns.as_ref(), "dns.ns", report);
    let soa = raw
        .soa
        .as_ref()
        .map(|soa| validate_soa(soa, report))
        .unwrap_or_else(|| DnsSoa {
            mname: String::new(),
            rname: String::new(),
            negative_ttl: DnsSoa::DEFAULT_NEGATIVE_TTL,
        });
    let mut names = BTreeMap::new();
    for raw_name in &raw.names {
        let path = join_key("dns.names", &raw_name.name.value);
        let Some(name) = validate_name(raw_name, &path, &zones, report) else {
            continue;
        };
        if names.contains_key(&name.name) {
            report.error(
                &path,
                Some(&raw_name.name.span),
                format!(
                    "the name {:?} is written twice (names are case-insensitive)",
                    name.name
                ),
            );
        } else {
            names.insert(name.name.clone(), name);
        }
    }
    let member_regions: BTreeSet<&str> = names
        .values()
        .flat_map(|name| name.members.iter().map(|member| member.region.as_str()))
        .collect();
    let client_regions = validate_client_regions(&raw.client_regions, &member_regions, report);
    DnsSettings {
        zones,
        soa,
        ns,
        names,
        client_regions,
        probe: validate_probe(&raw.probe, report),
    }
}

/// A list of DNS names, at least one, no duplicates; returns the valid ones, normalised.
fn dns_names(
    raw: Option<&At<Vec<Option<At<String>>>>>,
    path: &str,
    report: &mut Reporter<'_>,
) -> Vec<String> {
    let Some(raw) = raw else {
        return Vec::new(); // missing: already reported
    };
    if raw.value.is_empty() {
        report.error(path, Some(&raw.span), "must name at least one");
    }
    let mut out: Vec<String> = Vec::new();
    for (index, written) in raw.value.iter().enumerate() {
        let Some(written) = written else { continue };
        let at = join_index(path, index);
        match dns_name(&written.value) {
            Ok(name) if out.contains(&name) => {
                report.error(at, Some(&written.span), format!("{name:?} is listed twice"));
            }
            Ok(name) => out.push(name),
            Err(message) => report.error(at, Some(&written.span), message),
        }
    }
    out
}

fn validate_soa(raw: &RawSoa, report: &mut Reporter<'_>) -> DnsSoa {
    let mut name = |value: Option<&At<String>>, key: &str| -> String {
        let Some(value) = value else {
            return String::new();
        };
        let path = format!("dns.soa.{key}");
        if key == "rname" && value.value.contains('@') {
            report.error(
                path,
                Some(&value.span),
                format!(
                    "write the mailbox with a dot instead of '@' (like \"ops.example.com\"), got {:?}",
                    value.value
                ),
            );
            return String::new();
        }
        dns_name(&value.value).unwrap_or_else(|message| {
            report.error(path, Some(&value.span), message);
            String::new()
        })
    };
    DnsSoa {
        mname: name(raw.mname.as_ref(), "mname"),
        rname: name(raw.rname.as_ref(), "rname"),
        negative_ttl: ttl(
            raw.negative_ttl.as_ref(),
            DnsSoa::DEFAULT_NEGATIVE_TTL,
            "dns.soa.negative_ttl",
            report,
        ),
    }
}

fn validate_name(
    raw: &RawDnsName,
    path: &str,
    zones: &[String],
    report: &mut Reporter<'_>,
) -> Option<DnsName> {
    let name = match dns_name(&raw.name.value) {
        Ok(name) => name,
        Err(message) => {
            report.error(path, Some(&raw.name.span), message);
            return None;
        }
    };
    if !zones.iter().any(|zone| in_zone(&name, zone)) {
        report.error(
            path,
            Some(&raw.name.span),
            format!(
                "{name:?} is not under any zone of dns.zones ({})",
                zones.join(", ")
            ),
        );
    }
    let at = |key: &str| join_key(path, key);
    let members = raw
        .members
        .as_ref()
        .map(|members| {
            if members.value.is_empty() {
                report.error(
                    at("members"),
                    Some(&members.span),
                    "must have at least one member",
                );
            }
            members
                .value
                .iter()
                .enumerate()
                .filter_map(|(index, member)| {
                    let member = member.as_ref()?; // not a table: already reported
                    validate_member(member, &join_index(&at("members"), index), report)
                })
                .collect()
        })
        .unwrap_or_default();
    Some(DnsName {
        name,
        policy: one_of(
            raw.policy.as_ref(),
            &[
                ("nearest", DnsPolicy::Nearest),
                ("weighted", DnsPolicy::Weighted),
                ("failover", DnsPolicy::Failover),
            ],
            DnsPolicy::default(),
            &at("policy"),
            report,
        ),
        ttl: ttl(raw.ttl.as_ref(), DnsName::DEFAULT_TTL, &at("ttl"), report),
        answers: integer_in(
            raw.answers.as_ref(),
            1..=DnsName::MAX_ANSWERS,
            DnsName::DEFAULT_ANSWERS,
            &at("answers"),
            report,
        ),
        all_down: one_of(
            raw.all_down.as_ref(),
            &[("all", AllDown::All), ("servfail", AllDown::ServFail)],
            AllDown::default(),
            &at("all_down"),
            report,
        ),
        members,
    })
}

fn validate_member(raw: &RawDnsMember, path: &str, report: &mut Reporter<'_>) -> Option<DnsMember> {
    let at = |key: &str| join_key(path, key);
    if let Some(region) = &raw.region {
        check_name(region, &at("region"), report);
    }
    let mut addresses: Vec<IpAddr> = Vec::new();
    if let Some(written) = &raw.addresses {
        if written.value.is_empty() {
            report.error(
                at("addresses"),
                Some(&written.span),
                "must have at least one address",
            );
        }
        for (index, address) in written.value.iter().enumerate() {
            let Some(address) = address else { continue };
            let address_path = join_index(&at("addresses"), index);
            match address.value.parse::<IpAddr>() {
                Ok(ip) if addresses.contains(&ip) => report.error(
                    address_path,
                    Some(&address.span),
                    format!("{ip} is listed twice"),
                ),
                Ok(ip) if ip.is_unspecified() || ip.is_multicast() => report.error(
                    address_path,
                    Some(&address.span),
                    format!("{ip} cannot be answered to clients"),
                ),
                Ok(ip) => addresses.push(ip),
                Err(_) => report.error(
                    address_path,
                    Some(&address.span),
                    format!(
                        "must be an IP address without a port, like \"192.0.2.10\" or \"2001:db8::10\", got {:?}",
                        address.value
                    ),
                ),
            }
        }
    }
    let health = raw
        .health
        .as_ref()
        .and_then(|health| match parse_http_url(&health.value) {
            Ok(url) => Some(url),
            Err(message) => {
                report.error(at("health"), Some(&health.span), message);
                None
            }
        });
    Some(DnsMember {
        region: raw.region.as_ref()?.value.clone(),
        addresses,
        health,
        weight: integer_in(
            raw.weight.as_ref(),
            0..=Pool::MAX_WEIGHT,
            Pool::DEFAULT_WEIGHT,
            &at("weight"),
            report,
        ),
    })
}

fn validate_client_regions(
    raw: &[(At<String>, Option<At<String>>)],
    member_regions: &BTreeSet<&str>,
    report: &mut Reporter<'_>,
) -> BTreeMap<IpNet, String> {
    let mut out = BTreeMap::new();
    let mut seen = HashSet::new();
    for (cidr, region) in raw {
        let path = join_key("dns.client_regions", &cidr.value);
        let network = match parse_cidr(&cidr.value) {
            Ok(network) => network,
            Err(message) => {
                report.error(&path, Some(&cidr.span), message);
                continue;
            }
        };
        if !seen.insert(network) {
            report.error(
                &path,
                Some(&cidr.span),
                format!("the network {network} is written twice"),
            );
            continue;
        }
        let Some(region) = region else { continue };
        check_name(region, &path, report);
        if !member_regions.contains(region.value.as_str()) {
            let known: Vec<&str> = member_regions.iter().copied().collect();
            report.error(
                &path,
                Some(&region.span),
                format!(
                    "region {:?} is not the region of any member of dns.names (known: {})",
                    region.value,
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        out.insert(network, region.value.clone());
    }
    out
}

fn validate_probe(raw: &RawDnsProbe, report: &mut Reporter<'_>) -> DnsProbe {
    let defaults = DnsProbe::default();
    let interval = duration_in(
        raw.interval.as_ref(),
        DnsProbe::INTERVAL_RANGE,
        defaults.interval,
        "dns.probe.interval",
        report,
    );
    let timeout = match &raw.timeout {
        None => defaults.timeout.min(interval),
        Some(timeout) if timeout.value.is_zero() || timeout.value > interval => {
            report.error(
                "dns.probe.timeout",
                Some(&timeout.span),
                format!(
                    "must be greater than 0 and at most the interval ({}), got {}",
                    show(interval),
                    show(timeout.value)
                ),
            );
            defaults.timeout.min(interval)
        }
        Some(timeout) => timeout.value,
    };
    let threshold =
        |value: Option<&At<i64>>, default: u32, key: &str, report: &mut Reporter<'_>| {
            integer_in(
                value,
                1..=DnsProbe::MAX_THRESHOLD,
                default,
                &format!("dns.probe.{key}"),
                report,
            )
        };
    DnsProbe {
        interval,
        timeout,
        rise: threshold(raw.rise.as_ref(), defaults.rise, "rise", report),
        fall: threshold(raw.fall.as_ref(), defaults.fall, "fall", report),
    }
}

/// A TTL: whole seconds in `0s..=1d`.
fn ttl(
    value: Option<&At<Duration>>,
    default: Duration,
    path: &str,
    report: &mut Reporter<'_>,
) -> Duration {
    let ttl = duration_in(value, (Duration::ZERO, MAX_TTL), default, path, report);
    match value {
        Some(value) if ttl.subsec_nanos() != 0 => {
            report.error(
                path,
                Some(&value.span),
                format!("must be whole seconds, got {}", show(value.value)),
            );
            default
        }
        _ => ttl,
    }
}

/// Whether `name` is `zone` or under it (both normalised).
fn in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || name
            .strip_suffix(zone)
            .is_some_and(|prefix| prefix.ends_with('.'))
}

/// A DNS name as written (one trailing dot allowed), returned lower-case without the dot: labels
/// of 1 to 63 letters, digits, `-` (not first or last) or `_`, at most 253 characters in all.
pub(crate) fn dns_name(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    if name.is_empty() {
        return Err(format!(
            "must be a DNS name like \"gslb.example.com\", got {text:?}"
        ));
    }
    if name.len() > 253 {
        return Err(format!(
            "must be at most 253 characters long, got {}",
            name.len()
        ));
    }
    for label in name.split('.') {
        let problem = if label.is_empty() {
            "has an empty label"
        } else if label.len() > 63 {
            "has a label longer than 63 characters"
        } else if !label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            "may only contain letters, digits, '-' and '_' between its dots"
        } else if label.starts_with('-') || label.ends_with('-') {
            "has a label that starts or ends with '-'"
        } else {
            continue;
        };
        return Err(format!("{problem}, got {text:?}"));
    }
    Ok(name)
}

/// A network written as a CIDR (`198.51.100.0/24`) or one address (a /32 or /128); host bits set
/// beyond the prefix are an error, since they usually mean a typo in the prefix length.
fn parse_cidr(text: &str) -> Result<IpNet, String> {
    let expected =
        || format!("must be a CIDR like \"198.51.100.0/24\" or \"2001:db8::/32\", got {text:?}");
    let Some((address, length)) = text.split_once('/') else {
        return text
            .parse::<IpAddr>()
            .map(IpNet::from)
            .map_err(|_| expected());
    };
    let address: IpAddr = address.parse().map_err(|_| expected())?;
    let max = if address.is_ipv4() { 32 } else { 128 };
    let network = length
        .parse::<u8>()
        .ok()
        .and_then(|length| IpNet::new(address, length).ok())
        .ok_or_else(|| format!("prefix length must be between 0 and {max}, got {text:?}"))?;
    if network.trunc() != network {
        return Err(format!(
            "has host bits set beyond the /{} prefix (the network is {}), got {text:?}",
            network.prefix_len(),
            network.trunc()
        ));
    }
    Ok(network)
}

/// `http://host[:port][/path]`: what a member's `health` may be.
pub(crate) fn parse_http_url(text: &str) -> Result<HttpUrl, String> {
    let expected =
        || format!("must be an http:// URL like \"http://192.0.2.10:9901/readyz\", got {text:?}");
    let Some(scheme_end) = text.find("://") else {
        return Err(expected());
    };
    let scheme = text[..scheme_end].to_ascii_lowercase();
    if scheme == "https" {
        return Err(format!(
            "https probes are not supported yet, use http://, got {text:?}"
        ));
    }
    if scheme != "http" {
        return Err(expected());
    }
    let rest = &text[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    if path.contains('#') || path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "the path must not contain spaces, control characters or a '#', got {text:?}"
        ));
    }
    let path = match path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    if authority.contains('@') {
        return Err(format!(
            "must not hold a user name or password, got {text:?}"
        ));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']').ok_or_else(expected)?;
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(expected());
        }
        (host.to_owned(), after.strip_prefix(':'))
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host = if host.parse::<std::net::Ipv4Addr>().is_ok() {
            host.to_owned()
        } else {
            dns_name(host).map_err(|_| expected())?
        };
        (host, port)
    };
    let port = match port {
        None => 80,
        Some(port) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("port must be between 1 and 65535, got {text:?}"))?,
    };
    Ok(HttpUrl { host, port, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_and_checked() {
        assert_eq!(
            dns_name("API.Gslb.Example.com."),
            Ok("api.gslb.example.com".to_owned())
        );
        assert_eq!(
            dns_name("_svc.x-1.example"),
            Ok("_svc.x-1.example".to_owned())
        );
        for (bad, message) in [
            ("", "must be a DNS name"),
            (".", "must be a DNS name"),
            ("a..b", "empty label"),
            ("-a.example", "starts or ends with '-'"),
            ("a b.example", "may only contain"),
            (&"a".repeat(64), "longer than 63"),
            (
                &format!("{}.x", vec!["a".repeat(63); 4].join(".")),
                "at most 253",
            ),
        ] {
            let error = dns_name(bad).unwrap_err();
            assert!(error.contains(message), "{bad:?}: {error}");
        }
    }

    #[test]
    fn cidrs_must_not_have_host_bits() {
        assert_eq!(
            parse_cidr("198.51.100.0/24").map(|n| n.to_string()),
            Ok("198.51.100.0/24".to_owned())
        );
        assert_eq!(
            parse_cidr("2001:db8::/32").map(|n| n.to_string()),
            Ok("2001:db8::/32".to_owned())
        );
        assert_eq!(
            parse_cidr("192.0.2.1").map(|n| n.to_string()),
            Ok("192.0.2.1/32".to_owned())
        );
        assert!(
            parse_cidr("198.51.100.1/24")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(
            parse_cidr("2001:db8::1/32")
                .unwrap_err()
                .contains("host bits")
        );
        assert!(
            parse_cidr("10.0.0.0/33")
                .unwrap_err()
                .contains("between 0 and 32")
        );
        assert!(parse_cidr("eu").unwrap_err().contains("must be a CIDR"));
    }

    #[test]
    fn health_urls_are_http_with_host_port_and_path() {
        let url = |text: &str| parse_http_url(text).map(|url| url.to_string());
        assert_eq!(
            url("http://192.0.2.10:9901/readyz"),
            Ok("http://192.0.2.10:9901/readyz".to_owned())
        );
        assert_eq!(
            url("HTTP://Gw.Example.com"),
            Ok("http://gw.example.com:80/".to_owned())
        );
        assert_eq!(
            url("http://[2001:db8::1]:81/h?x=1"),
            Ok("http://[2001:db8::1]:81/h?x=1".to_owned())
        );
        for (bad, message) in [
            ("https://192.0.2.10/", "https probes are not supported"),
            ("ftp://192.0.2.10/", "must be an http:// URL"),
            ("192.0.2.10:9901", "must be an http:// URL"),
            ("http://192.0.2.10:0/", "port must be between"),
            ("http://192.0.2.10:99999/", "port must be between"),
            ("http://user@192.0.2.10/", "user name"),
            ("http://[zz]/", "must be an http:// URL"),
            ("http://bad host/", "must be an http:// URL"),
            ("http://192.0.2.10/a b", "must not contain spaces"),
        ] {
            let error = parse_http_url(bad).unwrap_err();
            assert!(error.contains(message), "{bad:?}: {error}");
        }
    }

    #[test]
    fn names_lie_in_zones_by_whole_labels() {
        assert!(in_zone("api.gslb.example.com", "gslb.example.com"));
        assert!(in_zone("gslb.example.com", "gslb.example.com"));
        assert!(!in_zone("xgslb.example.com", "gslb.example.com"));
        assert!(!in_zone("example.com", "gslb.example.com"));
    }
}
