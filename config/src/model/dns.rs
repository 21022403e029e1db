//! The validated `[dns]` section: the zones weir-dns serves, its GSLB names with their members,
//! where clients are (`client_regions`) and how members are probed.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use ipnet::IpNet;

/// `[dns]`: what weir-dns serves. Names are stored lower-case, without a trailing dot.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsSettings {
    /// `zones`, at least one: the zones answered authoritatively; anything else is `REFUSED`.
    pub zones: Vec<String>,
    /// `soa`, required: the SOA record at each zone's apex.
    pub soa: DnsSoa,
    /// `ns`, at least one: the NS records at each zone's apex.
    pub ns: Vec<String>,
    /// `names`: the GSLB names by name (each under one of `zones`).
    pub names: BTreeMap<String, DnsName>,
    /// `client_regions`: where clients are, CIDR → region; the longest matching prefix wins.
    pub client_regions: BTreeMap<IpNet, String>,
    /// `probe`: how members' `health` URLs are checked.
    pub probe: DnsProbe,
}

/// `[dns.soa]` (or `soa = { ... }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsSoa {
    /// `mname`, required: the primary name server.
    pub mname: String,
    /// `rname`, required: the zone's contact mailbox, written with a dot for the `@`.
    pub rname: String,
    /// `negative_ttl`, default `30s`, in `0s..=1d` (whole seconds): how long resolvers may cache
    /// NXDOMAIN and NODATA answers (the SOA's MINIMUM, RFC 2308).
    pub negative_ttl: Duration,
}

impl DnsSoa {
    pub const DEFAULT_NEGATIVE_TTL: Duration = Duration::from_secs(30);
}

/// `[dns.names."<name>"]`: one GSLB name.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsName {
    /// The table key, lower-case, without a trailing dot.
    pub name: String,
    /// `policy`, default `nearest`.
    pub policy: DnsPolicy,
    /// `ttl`, default `30s`, in `0s..=1d` (whole seconds): the answers' TTL.
    pub ttl: Duration,
    /// `answers`, default 1, in `1..=16`: how many addresses one answer holds at most.
    pub answers: u32,
    /// `all_down`, default `all`: what is answered when no member is healthy with weight > 0.
    pub all_down: AllDown,
    /// `members`, at least one, in order (`failover` tries them in this order).
    pub members: Vec<DnsMember>,
}

impl DnsName {
    pub const DEFAULT_TTL: Duration = Duration::from_secs(30);
    pub const MAX_TTL: Duration = Duration::from_secs(86_400);
    pub const DEFAULT_ANSWERS: u32 = 1;
    pub const MAX_ANSWERS: u32 = 16;
}

/// `policy`: which members a name answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DnsPolicy {
    /// `"nearest"`: the client's region's members first, then the other regions by weight
    /// (heaviest first, ties in member order).
    #[default]
    Nearest,
    /// `"weighted"`: members at random, each with a chance proportional to its weight.
    Weighted,
    /// `"failover"`: the first healthy members in member order.
    Failover,
}

impl std::fmt::Display for DnsPolicy {
    /// The config spelling: `nearest`, `weighted` or `failover`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Nearest => "nearest",
            Self::Weighted => "weighted",
            Self::Failover => "failover",
        })
    }
}

/// `all_down`: the answer when no member is healthy with weight > 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AllDown {
    /// `"all"`: every member with weight > 0 (every member when all weights are 0), as if all
    /// were healthy: a probe outage must not take a name off the internet.
    #[default]
    All,
    /// `"servfail"`: `SERVFAIL`, so resolvers try elsewhere or serve stale.
    ServFail,
}

impl std::fmt::Display for AllDown {
    /// The config spelling: `all` or `servfail`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::All => "all",
            Self::ServFail => "servfail",
        })
    }
}

/// `[[dns.names."<name>".members]]`: one member (a region's gateways) of a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMember {
    /// `region`, required: a name (`[A-Za-z0-9._-]`).
    pub region: String,
    /// `addresses`, at least one, no duplicates: IPv4 ones answer `A`, IPv6 ones `AAAA`.
    pub addresses: Vec<IpAddr>,
    /// `health`: the URL weir-dns probes; `None` (the default) means always healthy.
    pub health: Option<HttpUrl>,
    /// `weight`, default 100, in `0..=100`: the member's traffic dial; 0 takes it out.
    pub weight: u32,
}

/// A validated `http://host[:port]/path` URL (a probe target).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpUrl {
    /// The host as written (an IP address, IPv6 without brackets, or a DNS name), lower-case.
    pub host: String,
    /// The port, default 80.
    pub port: u16,
    /// The path and query, starting with `/` (default `/`).
    pub path: String,
}

impl std::fmt::Display for HttpUrl {
    /// `http://host:port/path`, IPv6 hosts in brackets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "http://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

/// `[dns.probe]`: how every member's `health` URL is checked. A member starts healthy, goes down
/// after `fall` failed probes in a row and comes back after `rise` good ones (gdnsd's hysteresis).
/// A probe succeeds when the URL answers a `2xx` status within `timeout`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsProbe {
    /// `interval`, default `2s`, in `100ms..=1h`: the time between two probes of one URL.
    pub interval: Duration,
    /// `timeout`, default `1s`, > 0 and at most `interval`.
    pub timeout: Duration,
    /// `rise`, default 5, in `1..=100`: good probes in a row that bring a member back.
    pub rise: u32,
    /// `fall`, default 3, in `1..=100`: failed probes in a row that take a member out.
    pub fall: u32,
}

impl DnsProbe {
    pub const INTERVAL_RANGE: (Duration, Duration) =
        (Duration::from_millis(100), Duration::from_secs(3600));
    pub const MAX_THRESHOLD: u32 = 100;
}

impl Default for DnsProbe {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(2),
            timeout: Duration::from_secs(1),
            rise: 5,
            fall: 3,
        }
    }
}
