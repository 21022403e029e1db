//! Endpoints given as DNS names, and `[resolver]`: how a gateway resolves them in the
//! background (where it asks, how often it asks again, how much of an answer it keeps).

use std::net::SocketAddr;
use std::time::Duration;

/// One entry of a pool's `endpoints` (or `drained`): an address, or a DNS name and port that the
/// gateway resolves in the background and re-resolves when the answer's TTL ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// `"10.0.0.1:8080"`, `"[2001:db8::1]:8080"`.
    Addr(SocketAddr),
    /// `"api.internal:8080"`: every address the name resolves to, on that port.
    Name(EndpointName),
}

/// A DNS name and a port: `host` is lower-case, without a trailing dot (RFC 1123 labels).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointName {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// The address, when the endpoint is one.
    pub fn addr(&self) -> Option<SocketAddr> {
        match self {
            Self::Addr(addr) => Some(*addr),
            Self::Name(_) => None,
        }
    }

    /// The name, when the endpoint is one.
    pub fn name(&self) -> Option<&EndpointName> {
        match self {
            Self::Addr(_) => None,
            Self::Name(name) => Some(name),
        }
    }
}

/// Reads `ip:port` or `host:port` by the rules of a pool's `endpoints`; the error says why not.
impl std::str::FromStr for Endpoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        crate::validate::parse_endpoint(text)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Self::Addr(addr)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Addr(addr) => addr.fmt(f),
            Self::Name(name) => name.fmt(f),
        }
    }
}

impl std::fmt::Display for EndpointName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// `[resolver]`: how this gateway resolves the names among its pools' endpoints. A gateway's own
/// setting (the nameservers are the machine's), applied live by a reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverSettings {
    /// `nameservers`: `ip:port` of the DNS servers to ask, in order of preference (UDP, then TCP
    /// for a truncated answer); empty (the default) reads `/etc/resolv.conf`.
    pub nameservers: Vec<SocketAddr>,
    /// `min_ttl`, default `1s`, in `100ms..=1h`: a name is asked again no sooner than this after
    /// an answer, however short its TTL (a TTL of 0 does not make a busy loop); also the first
    /// wait after a failed lookup.
    pub min_ttl: Duration,
    /// `max_ttl`, default `5m`, in `min_ttl..=1d`: a name is asked again at least this often,
    /// however long its TTL (a year-long TTL does not freeze the addresses).
    pub max_ttl: Duration,
    /// `timeout`, default `2s`, in `100ms..=60s`: the most one lookup may take (all its
    /// attempts); past it, the lookup failed.
    pub timeout: Duration,
    /// `max_addresses`, default 64, in `1..=1024`: the most addresses taken from one name's
    /// answer (the lowest, so the same answer always keeps the same ones); the rest are ignored.
    pub max_addresses: u32,
    /// `family`, default `any`: which records are asked for.
    pub family: AddressFamily,
}

impl ResolverSettings {
    pub const DEFAULT_MIN_TTL: Duration = Duration::from_secs(1);
    pub const DEFAULT_MAX_TTL: Duration = Duration::from_secs(300);
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
    pub const DEFAULT_MAX_ADDRESSES: u32 = 64;
    pub const MIN_TTL_RANGE: (Duration, Duration) =
        (Duration::from_millis(100), Duration::from_secs(3600));
    pub const MAX_TTL_LIMIT: Duration = Duration::from_secs(86_400);
    pub const TIMEOUT_RANGE: (Duration, Duration) =
        (Duration::from_millis(100), Duration::from_secs(60));
    pub const MAX_ADDRESSES_RANGE: (u32, u32) = (1, 1024);
}

impl Default for ResolverSettings {
    fn default() -> Self {
        Self {
            nameservers: Vec::new(),
            min_ttl: Self::DEFAULT_MIN_TTL,
            max_ttl: Self::DEFAULT_MAX_TTL,
            timeout: Self::DEFAULT_TIMEOUT,
            max_addresses: Self::DEFAULT_MAX_ADDRESSES,
            family: AddressFamily::default(),
        }
    }
}

/// `family`: the address records a name is asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AddressFamily {
    /// `"any"`: A and AAAA.
    #[default]
    Any,
    /// `"ipv4"`: A only.
    Ipv4,
    /// `"ipv6"`: AAAA only.
    Ipv6,
}

impl AddressFamily {
    /// The value as written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Any => "any",
            Self::Ipv4 => "ipv4",
            Self::Ipv6 => "ipv6",
        }
    }
}

impl std::fmt::Display for AddressFamily {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
