//! `[dns]`: the issue's example parses to the expected settings, defaults apply, and every
//! mistake is reported at its path with its position.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use weir_config::{
    AllDown, ConfigError, DnsMember, DnsName, DnsPolicy, DnsProbe, DnsSoa, HttpUrl, diff,
    parse_fleet,
};

/// A fleet config with every `[dns]` key (also a base of the diff property test).
pub const DNS_EXAMPLE: &str = r#"
[dns]
zones = ["gslb.example.com", "Other.Example."]
soa = { mname = "ns1.gslb.example.com", rname = "ops.example.com", negative_ttl = "60s" }
ns = ["ns1.gslb.example.com", "ns2.gslb.example.com"]

[dns.names."api.gslb.example.com"]
policy = "nearest"
ttl = "30s"
answers = 2
all_down = "all"

[[dns.names."api.gslb.example.com".members]]
region = "us-east"
addresses = ["192.0.2.10", "2001:db8::10"]
health = "http://192.0.2.10:9901/readyz"
weight = 100

[[dns.names."api.gslb.example.com".members]]
region = "eu-west"
addresses = ["198.51.100.10"]
health = "http://[2001:db8::20]:9901/readyz"
weight = 50

[[dns.names."api.gslb.example.com".members]]
region = "ap-south"
addresses = ["203.0.113.10", "203.0.113.11"]

[dns.names."WWW.Other.Example."]
policy = "failover"
all_down = "servfail"
ttl = "5s"

[[dns.names."WWW.Other.Example.".members]]
region = "us-east"
addresses = ["192.0.2.20"]

[[dns.names."WWW.Other.Example.".members]]
region = "eu-west"
addresses = ["198.51.100.20"]
weight = 0

[dns.client_regions]
"198.51.100.0/24" = "eu-west"
"2001:db8:e::/48" = "eu-west"
"0.0.0.0/0" = "us-east"
"::/0" = "us-east"

[dns.probe]
interval = "500ms"
timeout = "200ms"
rise = 2
fall = 4
"#;

fn errors(text: &str) -> Vec<ConfigError> {
    match parse_fleet(text) {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(errors) => errors.0,
    }
}

/// A valid `[dns]` head (zones, soa, ns) followed by `rest`.
fn with_head(rest: &str) -> String {
    format!(
        "[dns]\nzones = [\"gslb.example.com\"]\n\
         soa = {{ mname = \"ns1.gslb.example.com\", rname = \"ops.example.com\" }}\n\
         ns = [\"ns1.gslb.example.com\"]\n{rest}"
    )
}

/// One name `api.gslb.example.com` with one member whose keys are `member`, then `rest`.
fn with_member(member: &str, rest: &str) -> String {
    with_head(&format!(
        "[[dns.names.\"api.gslb.example.com\".members]]\n{member}\n{rest}"
    ))
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

#[test]
fn the_example_parses_to_the_expected_settings() {
    let config = parse_fleet(DNS_EXAMPLE).expect("valid");
    let dns = config.fleet.dns.expect("dns is set");
    assert_eq!(dns.zones, ["gslb.example.com", "other.example"]);
    assert_eq!(
        dns.soa,
        DnsSoa {
            mname: "ns1.gslb.example.com".to_owned(),
            rname: "ops.example.com".to_owned(),
            negative_ttl: Duration::from_secs(60),
        }
    );
    assert_eq!(dns.ns, ["ns1.gslb.example.com", "ns2.gslb.example.com"]);
    let api = &dns.names["api.gslb.example.com"];
    assert_eq!(api.policy, DnsPolicy::Nearest);
    assert_eq!(
        (api.ttl, api.answers, api.all_down),
        (Duration::from_secs(30), 2, AllDown::All)
    );
    assert_eq!(
        api.members[0],
        DnsMember {
            region: "us-east".to_owned(),
            addresses: vec![ip("192.0.2.10"), ip("2001:db8::10")],
            health: Some(HttpUrl {
                host: "192.0.2.10".to_owned(),
                port: 9901,
                path: "/readyz".to_owned(),
            }),
            weight: 100,
        }
    );
    assert_eq!(
        api.members[1].health.as_ref().map(|url| url.host.as_str()),
        Some("2001:db8::20")
    );
    assert_eq!(
        (api.members[2].health.clone(), api.members[2].weight),
        (None, 100)
    );
    let www = &dns.names["www.other.example"];
    assert_eq!(
        (www.name.as_str(), www.policy, www.all_down, www.answers),
        (
            "www.other.example",
            DnsPolicy::Failover,
            AllDown::ServFail,
            1
        )
    );
    assert_eq!(www.members[1].weight, 0);
    let regions: BTreeMap<String, &str> = dns
        .client_regions
        .iter()
        .map(|(network, region)| (network.to_string(), region.as_str()))
        .collect();
    assert_eq!(
        regions,
        BTreeMap::from([
            ("198.51.100.0/24".to_owned(), "eu-west"),
            ("2001:db8:e::/48".to_owned(), "eu-west"),
            ("0.0.0.0/0".to_owned(), "us-east"),
            ("::/0".to_owned(), "us-east"),
        ])
    );
    assert_eq!(
        dns.probe,
        DnsProbe {
            interval: Duration::from_millis(500),
            timeout: Duration::from_millis(200),
            rise: 2,
            fall: 4,
        }
    );
}

#[test]
fn defaults_fill_what_is_not_written() {
    let config = parse_fleet(&with_member(
        "region = \"us-east\"\naddresses = [\"192.0.2.1\"]",
        "",
    ))
    .expect("valid");
    let dns = config.fleet.dns.expect("dns");
    assert_eq!(dns.soa.negative_ttl, DnsSoa::DEFAULT_NEGATIVE_TTL);
    assert_eq!(dns.probe, DnsProbe::default());
    assert_eq!((dns.probe.rise, dns.probe.fall), (5, 3));
    let name: &DnsName = &dns.names["api.gslb.example.com"];
    assert_eq!(
        (name.policy, name.ttl, name.answers, name.all_down),
        (DnsPolicy::Nearest, Duration::from_secs(30), 1, AllDown::All)
    );
    assert!(dns.client_regions.is_empty());
    assert!(parse_fleet("").expect("empty").fleet.dns.is_none());
}

#[test]
fn missing_keys_and_unknown_keys_are_reported() {
    let paths: Vec<(String, Option<usize>)> = errors("[dns]\nzone = [\"x\"]\n")
        .into_iter()
        .map(|error| (error.path, error.line))
        .collect();
    assert_eq!(
        paths,
        [
            ("dns.zones".to_owned(), Some(1)),
            ("dns.soa".to_owned(), Some(1)),
            ("dns.ns".to_owned(), Some(1)),
            ("dns.zone".to_owned(), Some(2)),
        ]
    );
    let member = errors(&with_member("regio = \"x\"\n", ""));
    let paths: Vec<&str> = member.iter().map(|error| error.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "dns.names.\"api.gslb.example.com\".members[0].region",
            "dns.names.\"api.gslb.example.com\".members[0].addresses",
            "dns.names.\"api.gslb.example.com\".members[0].regio",
        ]
    );
    assert!(
        member[0]
            .message
            .contains("missing required key (a member needs a region)")
    );
}

#[test]
fn every_member_mistake_is_reported_at_its_path() {
    let text = with_head(
        "[dns.names.\"api.gslb.example.com\"]\npolicy = \"closest\"\nanswers = 0\nttl = \"1500ms\"\n\
         [[dns.names.\"api.gslb.example.com\".members]]\nregion = \"us-east\"\naddresses = [\"192.0.2.1\"]\n\
         [[dns.names.\"api.gslb.example.com\".members]]\nregion = \"eu west\"\n\
         addresses = [\"192.0.2.1:80\", \"2001:db8::1\", \"2001:db8::1\", 7]\n\
         health = \"https://192.0.2.1/\"\nweight = 101\n",
    );
    let found: Vec<(String, usize, usize)> = errors(&text)
        .into_iter()
        .map(|error| {
            (
                error.path,
                error.line.unwrap_or(0),
                error.column.unwrap_or(0),
            )
        })
        .collect();
    let name = "dns.names.\"api.gslb.example.com\"";
    let member = format!("{name}.members[1]");
    assert_eq!(
        found,
        [
            (format!("{name}.policy"), 6, 10),
            (format!("{name}.answers"), 7, 11),
            (format!("{name}.ttl"), 8, 7),
            (format!("{member}.region"), 13, 10),
            (format!("{member}.addresses[0]"), 14, 14),
            (format!("{member}.addresses[2]"), 14, 45),
            (format!("{member}.addresses[3]"), 14, 60),
            (format!("{member}.health"), 15, 10),
            (format!("{member}.weight"), 16, 10),
        ]
    );
}

#[test]
fn names_must_lie_under_a_zone_and_be_unique() {
    let member = "[[dns.names.\"api.example.net\".members]]\nregion = \"a\"\naddresses = [\"192.0.2.1\"]\n\
                  [[dns.names.\"API.gslb.example.com.\".members]]\nregion = \"a\"\naddresses = [\"192.0.2.1\"]\n\
                  [[dns.names.\"api.gslb.example.com\".members]]\nregion = \"a\"\naddresses = [\"192.0.2.1\"]\n\
                  [dns.names.\"bad..name.gslb.example.com\"]\nmembers = []\n";
    let errors = errors(&with_head(member));
    let found: Vec<(&str, &str)> = errors
        .iter()
        .map(|error| (error.path.as_str(), error.message.as_str()))
        .collect();
    assert_eq!(found.len(), 3, "{found:#?}");
    assert_eq!(found[0].0, "dns.names.\"api.example.net\"");
    assert!(
        found[0]
            .1
            .contains("is not under any zone of dns.zones (gslb.example.com)")
    );
    assert!(found[1].1.contains("written twice"), "{found:#?}");
    assert_eq!(found[2].0, "dns.names.\"bad..name.gslb.example.com\"");
    assert!(found[2].1.contains("empty label"));
}

#[test]
fn empty_member_lists_are_refused() {
    let errors = errors(&with_head(
        "[dns.names.\"api.gslb.example.com\"]\nmembers = []\n",
    ));
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert_eq!(errors[0].path, "dns.names.\"api.gslb.example.com\".members");
    assert!(errors[0].message.contains("at least one member"));
}

#[test]
fn zones_ns_and_soa_must_be_dns_names() {
    let text = "[dns]\nzones = []\nns = [\"ns1.example.com\", \"NS1.example.com.\", \"-x\"]\n\
                soa = { mname = \"a b\", rname = \"ops@example.com\", negative_ttl = \"2d\" }\n";
    let found: Vec<(String, String)> = errors(text)
        .into_iter()
        .map(|error| (error.path, error.message))
        .collect();
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "dns.zones",
            "dns.ns[1]",
            "dns.ns[2]",
            "dns.soa.mname",
            "dns.soa.rname",
            "dns.soa.negative_ttl"
        ],
        "{found:#?}"
    );
    assert!(found[4].1.contains("with a dot instead of '@'"));
    assert!(found[5].1.contains("at most 1day"), "{}", found[5].1);
}

#[test]
fn client_regions_need_clean_cidrs_and_known_regions() {
    let text = with_member(
        "region = \"us-east\"\naddresses = [\"192.0.2.1\"]",
        "[dns.client_regions]\n\"198.51.100.1/24\" = \"us-east\"\n\"10.0.0.0/8\" = \"mars\"\n\
         \"2001:db8:8000::/32\" = \"us-east\"\n\"nowhere\" = \"us-east\"\n\"192.0.2.0/24\" = 3\n",
    );
    let found: Vec<(String, String)> = errors(&text)
        .into_iter()
        .map(|error| (error.path, error.message))
        .collect();
    let paths: Vec<&str> = found.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "dns.client_regions.\"198.51.100.1/24\"",
            "dns.client_regions.\"10.0.0.0/8\"",
            "dns.client_regions.\"2001:db8:8000::/32\"",
            "dns.client_regions.nowhere",
            "dns.client_regions.\"192.0.2.0/24\"",
        ],
        "{found:#?}"
    );
    assert!(found[0].1.contains("host bits"));
    assert!(
        found[1]
            .1
            .contains("\"mars\" is not the region of any member (known: us-east)")
            || found[1].1.contains("known: us-east"),
        "{}",
        found[1].1
    );
    assert!(found[2].1.contains("host bits"));
    assert!(found[3].1.contains("must be a CIDR"));
    assert!(found[4].1.contains("expected a string"));
}

#[test]
fn probe_settings_are_bounded() {
    let text =
        with_head("[dns.probe]\ninterval = \"1s\"\ntimeout = \"2s\"\nrise = 0\nfall = 101\n");
    let paths: Vec<String> = errors(&text).into_iter().map(|error| error.path).collect();
    assert_eq!(
        paths,
        ["dns.probe.timeout", "dns.probe.rise", "dns.probe.fall"]
    );
    let text = with_head("[dns.probe]\ninterval = \"10ms\"\n");
    let paths: Vec<String> = errors(&text).into_iter().map(|error| error.path).collect();
    assert_eq!(paths, ["dns.probe.interval"]);
}

#[test]
fn diff_names_dns_changes() {
    let old = parse_fleet(DNS_EXAMPLE).expect("valid");
    let new = parse_fleet(
        &DNS_EXAMPLE
            .replace("weight = 50", "weight = 0")
            .replace("\"0.0.0.0/0\" = \"us-east\"", "\"0.0.0.0/0\" = \"eu-west\""),
    )
    .expect("valid");
    assert_eq!(
        diff(&old, &new),
        [
            "dns.names.\"api.gslb.example.com\".members[1].weight: 50 -> 0",
            "dns.client_regions[0.0.0.0/0]: us-east -> eu-west",
        ]
    );
    let without = parse_fleet("").expect("empty");
    assert_eq!(diff(&without, &old), ["dns: added"]);
}
