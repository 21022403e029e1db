//! A deterministic config mutator for the `diff` property test: every copy of a config that differs
//! from it in one place (one field of one struct changed, one map entry or list element added,
//! removed or changed, one list reordered where its order matters). Each struct is destructured
//! without `..`, so a field added to the config does not compile here until it can be mutated.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use weir_config::{
    AccessLogSettings, AdaptiveLimit, AdminSettings, BulkheadSettings, CircuitBreakerSettings,
    ClientIpSettings, Config, ControlPlaneSettings, EncodedSlashes, FaultInjection, FleetSettings,
    ForwardedHeader, GatewaySettings, HealthCheck, HostMatch, KeyPart, LimitScope, ListenSettings,
    LoadShedding, MissingKey, NodeSettings, OutlierDetection, Pool, Priority, RateLimitPolicy,
    RedisSettings, RegionPolicy, RequestRules, RetryBudgetSettings, RetryPolicy, Route,
    StoreErrorAction, Upstream,
};
use weir_config::{AcmeSettings, Alpn, CertificateSettings, Http2Settings, TlsSettings};
use weir_config::{AddressFamily, Endpoint, EndpointName, ResolverSettings};
use weir_config::{AllDown, DnsMember, DnsName, DnsPolicy, DnsProbe, DnsSettings, DnsSoa, HttpUrl};
use weir_config::{ClientCert, HttpsRules, UpstreamProtocol, UpstreamTls};
use weir_config::{FailoverPolicy, RolloutSettings, UnhealthyWhen};
use weir_config::{TlsVersion, UnknownSni};

/// Copies of a value, each changed in one place, with a label saying where and how.
pub type Variants<T> = Vec<(String, T)>;

/// A value that can be changed in one place in every way this mutator knows.
pub trait Mutate: Clone {
    /// Every copy of `self` changed in one place; none equal to `self`.
    fn variants(&self) -> Variants<Self>;
}

/// A value to fill an absent optional setting with.
pub trait Sample {
    fn sample() -> Self;
}

/// An element of a list.
pub trait Element: Mutate + PartialEq {
    /// Whether the list's order matters to the config (for routes and pools it does not: `diff`
    /// matches them by name and region). Only ordered lists are reordered.
    const ORDERED: bool = true;

    /// What a list element is matched by, which must stay unique within the list.
    fn key(&self) -> Option<&str> {
        None
    }

    /// A new element for `list`, not equal to (nor with the key of) any of its elements.
    fn fresh(list: &[Self]) -> Option<Self>;
}

/// A map entry (`upstreams`, `rate_limits`) whose `name` is its key.
pub trait Entry: Mutate {
    fn rename(&mut self, name: &str);
}

/// Adds to `out` a copy of `parent` for each variant of one of its fields.
fn field<P: Clone, F>(
    out: &mut Variants<P>,
    parent: &P,
    name: &str,
    variants: Variants<F>,
    set: impl Fn(&mut P, F),
) {
    for (what, value) in variants {
        let mut copy = parent.clone();
        set(&mut copy, value);
        out.push((format!("{name}{what}"), copy));
    }
}

fn one<T>(what: &str, value: T) -> Variants<T> {
    vec![(format!(": {what}"), value)]
}

/// The first of `candidates` that is not `taken`.
fn first_free<T>(mut candidates: impl Iterator<Item = T>, taken: impl Fn(&T) -> bool) -> T {
    candidates
        .find(|candidate| !taken(candidate))
        .expect("a free candidate")
}

impl Mutate for bool {
    fn variants(&self) -> Variants<Self> {
        one("flipped", !self)
    }
}

macro_rules! bump_integers {
    ($($integer:ty),+) => {$(
        impl Mutate for $integer {
            fn variants(&self) -> Variants<Self> {
                one("+1", self.wrapping_add(1))
            }
        }
    )+};
}
bump_integers!(u16, u32, u64);

impl Mutate for f64 {
    fn variants(&self) -> Variants<Self> {
        one("+0.25", self + 0.25)
    }
}

impl Mutate for Duration {
    fn variants(&self) -> Variants<Self> {
        one("+1ms", *self + Duration::from_millis(1))
    }
}

impl Mutate for String {
    fn variants(&self) -> Variants<Self> {
        one("+x", format!("{self}x"))
    }
}

impl Mutate for PathBuf {
    fn variants(&self) -> Variants<Self> {
        one("+/x", self.join("x"))
    }
}

impl Mutate for SocketAddr {
    fn variants(&self) -> Variants<Self> {
        let mut other = *self;
        other.set_port(self.port().wrapping_add(1));
        one("port +1", other)
    }
}

impl Mutate for ipnet::IpNet {
    fn variants(&self) -> Variants<Self> {
        let other = ["198.51.100.0/24", "203.0.113.0/24"]
            .map(|net| net.parse().expect("a test network"))
            .into_iter()
            .find(|net| net != self)
            .expect("one of two differs");
        one("other network", other)
    }
}

impl Mutate for RegionPolicy {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::Nearest => Self::Weighted,
                Self::Weighted => Self::Nearest,
            },
        )
    }
}

impl Mutate for Priority {
    fn variants(&self) -> Variants<Self> {
        Priority::ALL
            .into_iter()
            .filter(|priority| priority != self)
            .map(|priority| (format!(": {priority}"), priority))
            .collect()
    }
}

impl Mutate for EncodedSlashes {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::Keep => Self::Reject,
                Self::Reject => Self::Keep,
            },
        )
    }
}

impl Mutate for ForwardedHeader {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::XForwardedFor => Self::Forwarded,
                Self::Forwarded => Self::XForwardedFor,
            },
        )
    }
}

impl Mutate for LimitScope {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::Local => Self::Global,
                Self::Global => Self::Local,
            },
        )
    }
}

impl Mutate for StoreErrorAction {
    fn variants(&self) -> Variants<Self> {
        [Self::Local, Self::Allow, Self::Deny]
            .into_iter()
            .filter(|action| action != self)
            .map(|action| (format!(": {action}"), action))
            .collect()
    }
}

impl Mutate for MissingKey {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::Shared => Self::Exempt,
                Self::Exempt => Self::Shared,
            },
        )
    }
}

impl Mutate for HostMatch {
    fn variants(&self) -> Variants<Self> {
        one(
            "other kind",
            match self {
                Self::Any => Self::Exact("example.com".to_owned()),
                Self::Exact(host) => Self::Suffix(format!(".{host}")),
                Self::Suffix(_) => Self::Any,
            },
        )
    }
}

impl Mutate for KeyPart {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::ClientIp => Self::Route,
                Self::Route => Self::Header("x-sample".to_owned()),
                Self::Header(name) => Self::Header(format!("{name}x")),
            },
        )
    }
}

impl<T: Mutate + Sample> Mutate for Option<T> {
    fn variants(&self) -> Variants<Self> {
        match self {
            None => one("set", Some(T::sample())),
            Some(value) => {
                let mut out = one("unset", None);
                field(&mut out, self, "", value.variants(), |option, value| {
                    *option = Some(value);
                });
                out
            }
        }
    }
}

impl<T: Element> Mutate for Vec<T> {
    fn variants(&self) -> Variants<Self> {
        let mut out = Vec::new();
        if let Some(fresh) = T::fresh(self) {
            let mut longer = self.clone();
            longer.push(fresh);
            out.push((": pushed".to_owned(), longer));
        }
        let mut ends = vec![0, self.len().saturating_sub(1)];
        ends.dedup();
        for index in ends.into_iter().filter(|index| *index < self.len()) {
            let mut shorter = self.clone();
            shorter.remove(index);
            out.push((format!("[{index}] removed"), shorter));
        }
        if T::ORDERED && self.len() >= 2 {
            let mut reordered = self.clone();
            reordered.swap(0, 1);
            if reordered != *self {
                out.push((": first two swapped".to_owned(), reordered));
            }
        }
        for (index, element) in self.iter().enumerate() {
            for (what, changed) in element.variants() {
                let key_taken = changed.key().is_some_and(|key| {
                    self.iter()
                        .enumerate()
                        .any(|(other, element)| other != index && element.key() == Some(key))
                });
                if !key_taken {
                    let mut copy = self.clone();
                    copy[index] = changed;
                    out.push((format!("[{index}]{what}"), copy));
                }
            }
        }
        out
    }
}

impl<T: Entry> Mutate for BTreeMap<String, T> {
    fn variants(&self) -> Variants<Self> {
        let mut out = Vec::new();
        let fresh_name = first_free((0..).map(|n| format!("new{n}")), |name| {
            self.contains_key(name)
        });
        if let Some(first) = self.values().next() {
            let mut added = first.clone();
            added.rename(&fresh_name);
            let mut more = self.clone();
            more.insert(fresh_name.clone(), added);
            out.push((format!("[{fresh_name}] added"), more));
        }
        for (name, entry) in self {
            let mut fewer = self.clone();
            fewer.remove(name);
            out.push((format!("[{name}] removed"), fewer));
            let mut renamed = self.clone();
            let mut moved = entry.clone();
            moved.rename(&fresh_name);
            renamed.remove(name);
            renamed.insert(fresh_name.clone(), moved);
            out.push((format!("[{name}] renamed {fresh_name}"), renamed));
            for (what, changed) in entry.variants() {
                let mut copy = self.clone();
                copy.insert(name.clone(), changed);
                out.push((format!("[{name}]{what}"), copy));
            }
        }
        out
    }
}

impl Sample for String {
    fn sample() -> Self {
        "sample".to_owned()
    }
}

impl Sample for Duration {
    fn sample() -> Self {
        Duration::from_secs(1)
    }
}

impl Sample for u16 {
    fn sample() -> Self {
        503
    }
}

impl Sample for u64 {
    fn sample() -> Self {
        1024
    }
}

impl Sample for PathBuf {
    fn sample() -> Self {
        PathBuf::from("/var/lib/weir/sample")
    }
}

impl Sample for HealthCheck {
    fn sample() -> Self {
        HealthCheck::default()
    }
}

impl Sample for AdaptiveLimit {
    fn sample() -> Self {
        AdaptiveLimit {
            min_in_flight: 8,
            initial: 100,
            tolerance: 2.0,
            min_rtt_window: Duration::from_secs(30),
        }
    }
}

impl Sample for FaultInjection {
    fn sample() -> Self {
        FaultInjection {
            header: None,
            header_value: None,
            delay: Some(Duration::from_secs(1)),
            delay_percent: 100.0,
            abort_status: None,
            abort_percent: 0.0,
        }
    }
}

impl Sample for RedisSettings {
    fn sample() -> Self {
        RedisSettings {
            url: "redis://127.0.0.1:6379".to_owned(),
            timeout: RedisSettings::DEFAULT_TIMEOUT,
            pool_size: RedisSettings::DEFAULT_POOL_SIZE,
            key_prefix: RedisSettings::DEFAULT_KEY_PREFIX.to_owned(),
        }
    }
}

impl Sample for ControlPlaneSettings {
    fn sample() -> Self {
        ControlPlaneSettings {
            url: "http://127.0.0.1:7700".to_owned(),
            token_file: PathBuf::from("/etc/weir/token"),
            cache_path: PathBuf::from("/var/lib/weir/cache.json"),
            ca_file: None,
            stream_timeout: ControlPlaneSettings::DEFAULT_STREAM_TIMEOUT,
            reconnect_backoff: ControlPlaneSettings::DEFAULT_RECONNECT_BACKOFF,
            max_reconnect_backoff: ControlPlaneSettings::DEFAULT_MAX_RECONNECT_BACKOFF,
            telemetry_interval: ControlPlaneSettings::DEFAULT_TELEMETRY_INTERVAL,
        }
    }
}

impl Element for SocketAddr {
    fn fresh(list: &[Self]) -> Option<Self> {
        let port = first_free(10_000u16.., |port| {
            list.iter().any(|addr| addr.port() == *port)
        });
        Some(SocketAddr::from(([127, 0, 0, 1], port)))
    }
}

/// An address becomes the next port; a name its next port and another host, and each turns
/// into the other kind once.
impl Mutate for Endpoint {
    fn variants(&self) -> Variants<Self> {
        match self {
            Self::Addr(addr) => {
                let mut out: Variants<Self> = addr
                    .variants()
                    .into_iter()
                    .map(|(what, addr)| (what, Self::Addr(addr)))
                    .collect();
                out.push((
                    ": as a name".into(),
                    name_endpoint("as-name.internal", addr.port()),
                ));
                out
            }
            Self::Name(name) => vec![
                (
                    ": port +1".into(),
                    name_endpoint(&name.host, name.port.wrapping_add(1).max(1)),
                ),
                (
                    ": other host".into(),
                    name_endpoint(&format!("x{}", name.host), name.port),
                ),
                (
                    ": as an address".into(),
                    Self::Addr(SocketAddr::from(([127, 0, 0, 1], name.port))),
                ),
            ],
        }
    }
}

fn name_endpoint(host: &str, port: u16) -> Endpoint {
    Endpoint::Name(EndpointName {
        host: host.to_owned(),
        port,
    })
}

impl Element for Endpoint {
    fn fresh(list: &[Self]) -> Option<Self> {
        let host = first_free((0..).map(|n| format!("new{n}.internal")), |host| {
            list.iter()
                .any(|e| e.name().is_some_and(|name| name.host == *host))
        });
        Some(name_endpoint(&host, 9000))
    }
}

impl Mutate for ResolverSettings {
    fn variants(&self) -> Variants<Self> {
        let ResolverSettings {
            nameservers,
            min_ttl,
            max_ttl,
            timeout,
            max_addresses,
            family,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".nameservers",
            nameservers.variants(),
            |p, v| {
                p.nameservers = v;
            },
        );
        field(&mut out, self, ".min_ttl", min_ttl.variants(), |p, v| {
            p.min_ttl = v
        });
        field(&mut out, self, ".max_ttl", max_ttl.variants(), |p, v| {
            p.max_ttl = v
        });
        field(&mut out, self, ".timeout", timeout.variants(), |p, v| {
            p.timeout = v
        });
        field(
            &mut out,
            self,
            ".max_addresses",
            max_addresses.variants(),
            |p, v| {
                p.max_addresses = v;
            },
        );
        field(&mut out, self, ".family", family.variants(), |p, v| {
            p.family = v
        });
        out
    }
}

impl Mutate for AddressFamily {
    fn variants(&self) -> Variants<Self> {
        [Self::Any, Self::Ipv4, Self::Ipv6]
            .into_iter()
            .filter(|family| family != self)
            .map(|family| (format!(": {family}"), family))
            .collect()
    }
}

impl Element for ipnet::IpNet {
    fn fresh(list: &[Self]) -> Option<Self> {
        let net = first_free(
            (0..=255u8).map(|n| ipnet::IpNet::from(std::net::IpAddr::from([192, 0, 2, n]))),
            |net| list.contains(net),
        );
        Some(net)
    }
}

impl Element for u16 {
    fn fresh(list: &[Self]) -> Option<Self> {
        Some(first_free(500..=599, |status| list.contains(status)))
    }
}

impl Element for String {
    fn fresh(list: &[Self]) -> Option<Self> {
        Some(first_free((0..).map(|n| format!("policy{n}")), |name| {
            list.contains(name)
        }))
    }
}

impl Element for KeyPart {
    fn fresh(list: &[Self]) -> Option<Self> {
        Some(first_free(
            (0..).map(|n| KeyPart::Header(format!("x-new{n}"))),
            |part| list.contains(part),
        ))
    }
}

impl Element for Pool {
    const ORDERED: bool = false;

    fn key(&self) -> Option<&str> {
        Some(&self.region)
    }

    fn fresh(list: &[Self]) -> Option<Self> {
        let region = first_free((0..).map(|n| format!("region{n}")), |region| {
            list.iter().any(|pool| pool.region == *region)
        });
        Some(Pool {
            region,
            weight: Pool::DEFAULT_WEIGHT,
            endpoints: vec![Endpoint::Addr(SocketAddr::from(([127, 0, 0, 1], 9999)))],
            drained: Vec::new(),
            tls: None,
            protocol: UpstreamProtocol::H1,
        })
    }
}

impl Element for Route {
    const ORDERED: bool = false;

    fn key(&self) -> Option<&str> {
        Some(&self.name)
    }

    fn fresh(list: &[Self]) -> Option<Self> {
        let name = first_free((0..).map(|n| format!("route{n}")), |name| {
            list.iter().any(|route| route.name == *name)
        });
        let mut route = list.first()?.clone();
        route.name = name;
        Some(route)
    }
}

impl Entry for Upstream {
    fn rename(&mut self, name: &str) {
        name.clone_into(&mut self.name);
    }
}

impl Entry for RateLimitPolicy {
    fn rename(&mut self, name: &str) {
        name.clone_into(&mut self.name);
    }
}

impl Mutate for Config {
    fn variants(&self) -> Variants<Self> {
        let Config { node, fleet } = self;
        let mut out = Vec::new();
        field(&mut out, self, "node", node.variants(), |c, v| c.node = v);
        field(&mut out, self, "fleet", fleet.variants(), |c, v| {
            c.fleet = v
        });
        out
    }
}

impl Mutate for NodeSettings {
    fn variants(&self) -> Variants<Self> {
        let NodeSettings {
            gateway,
            listen,
            admin,
            access_log,
            control_plane,
            tls,
            resolver,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".tls", tls.variants(), |p, v| p.tls = v);
        field(&mut out, self, ".resolver", resolver.variants(), |p, v| {
            p.resolver = v;
        });
        field(&mut out, self, ".gateway", gateway.variants(), |p, v| {
            p.gateway = v;
        });
        field(&mut out, self, ".listen", listen.variants(), |p, v| {
            p.listen = v;
        });
        field(&mut out, self, ".admin", admin.variants(), |p, v| {
            p.admin = v
        });
        field(
            &mut out,
            self,
            ".access_log",
            access_log.variants(),
            |p, v| {
                p.access_log = v;
            },
        );
        field(
            &mut out,
            self,
            ".control_plane",
            control_plane.variants(),
            |p, v| p.control_plane = v,
        );
        out
    }
}

impl Mutate for FleetSettings {
    fn variants(&self) -> Variants<Self> {
        let FleetSettings {
            upstreams,
            routes,
            client_ip,
            redis,
            rate_limits,
            load_shedding,
            dns,
            failover,
            rollout,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".upstreams",
            upstreams.variants(),
            |p, v| {
                p.upstreams = v;
            },
        );
        field(&mut out, self, ".routes", routes.variants(), |p, v| {
            p.routes = v;
        });
        field(
            &mut out,
            self,
            ".client_ip",
            client_ip.variants(),
            |p, v| {
                p.client_ip = v;
            },
        );
        field(&mut out, self, ".redis", redis.variants(), |p, v| {
            p.redis = v
        });
        field(
            &mut out,
            self,
            ".rate_limits",
            rate_limits.variants(),
            |p, v| {
                p.rate_limits = v;
            },
        );
        field(
            &mut out,
            self,
            ".load_shedding",
            load_shedding.variants(),
            |p, v| p.load_shedding = v,
        );
        field(&mut out, self, ".dns", dns.variants(), |p, v| p.dns = v);
        field(&mut out, self, ".failover", failover.variants(), |p, v| {
            p.failover = v;
        });
        field(&mut out, self, ".rollout", rollout.variants(), |p, v| {
            p.rollout = v;
        });
        out
    }
}

impl Mutate for GatewaySettings {
    fn variants(&self) -> Variants<Self> {
        let GatewaySettings {
            id,
            region,
            allow_fault_injection,
            shutdown_grace,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".id", id.variants(), |p, v| p.id = v);
        field(&mut out, self, ".region", region.variants(), |p, v| {
            p.region = v;
        });
        field(
            &mut out,
            self,
            ".allow_fault_injection",
            allow_fault_injection.variants(),
            |p, v| p.allow_fault_injection = v,
        );
        field(
            &mut out,
            self,
            ".shutdown_grace",
            shutdown_grace.variants(),
            |p, v| p.shutdown_grace = v,
        );
        out
    }
}

impl Mutate for ListenSettings {
    fn variants(&self) -> Variants<Self> {
        let ListenSettings {
            http,
            header_read_timeout,
            max_header_bytes,
            https,
            h2c,
            http2,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".http", http.variants(), |p, v| p.http = v);
        field(&mut out, self, ".https", https.variants(), |p, v| {
            p.https = v
        });
        field(&mut out, self, ".h2c", h2c.variants(), |p, v| p.h2c = v);
        field(&mut out, self, ".http2", http2.variants(), |p, v| {
            p.http2 = v
        });
        field(
            &mut out,
            self,
            ".header_read_timeout",
            header_read_timeout.variants(),
            |p, v| p.header_read_timeout = v,
        );
        field(
            &mut out,
            self,
            ".max_header_bytes",
            max_header_bytes.variants(),
            |p, v| p.max_header_bytes = v,
        );
        out
    }
}

impl Mutate for AdminSettings {
    fn variants(&self) -> Variants<Self> {
        let AdminSettings { listen } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".listen", listen.variants(), |p, v| {
            p.listen = v;
        });
        out
    }
}

impl Mutate for AccessLogSettings {
    fn variants(&self) -> Variants<Self> {
        let AccessLogSettings {
            enabled,
            path,
            query,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".enabled", enabled.variants(), |p, v| {
            p.enabled = v;
        });
        field(&mut out, self, ".path", path.variants(), |p, v| p.path = v);
        field(&mut out, self, ".query", query.variants(), |p, v| {
            p.query = v
        });
        out
    }
}

impl Mutate for ControlPlaneSettings {
    fn variants(&self) -> Variants<Self> {
        let ControlPlaneSettings {
            url,
            token_file,
            cache_path,
            ca_file,
            stream_timeout,
            reconnect_backoff,
            max_reconnect_backoff,
            telemetry_interval,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".url", url.variants(), |p, v| p.url = v);
        field(
            &mut out,
            self,
            ".token_file",
            token_file.variants(),
            |p, v| {
                p.token_file = v;
            },
        );
        field(
            &mut out,
            self,
            ".cache_path",
            cache_path.variants(),
            |p, v| {
                p.cache_path = v;
            },
        );
        field(&mut out, self, ".ca_file", ca_file.variants(), |p, v| {
            p.ca_file = v;
        });
        field(
            &mut out,
            self,
            ".stream_timeout",
            stream_timeout.variants(),
            |p, v| p.stream_timeout = v,
        );
        field(
            &mut out,
            self,
            ".reconnect_backoff",
            reconnect_backoff.variants(),
            |p, v| p.reconnect_backoff = v,
        );
        field(
            &mut out,
            self,
            ".max_reconnect_backoff",
            max_reconnect_backoff.variants(),
            |p, v| p.max_reconnect_backoff = v,
        );
        field(
            &mut out,
            self,
            ".telemetry_interval",
            telemetry_interval.variants(),
            |p, v| p.telemetry_interval = v,
        );
        out
    }
}

impl Mutate for ClientIpSettings {
    fn variants(&self) -> Variants<Self> {
        let ClientIpSettings {
            trusted_proxies,
            header,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".trusted_proxies",
            trusted_proxies.variants(),
            |p, v| p.trusted_proxies = v,
        );
        field(&mut out, self, ".header", header.variants(), |p, v| {
            p.header = v;
        });
        out
    }
}

impl Mutate for RedisSettings {
    fn variants(&self) -> Variants<Self> {
        let RedisSettings {
            url,
            timeout,
            pool_size,
            key_prefix,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".url", url.variants(), |p, v| p.url = v);
        field(&mut out, self, ".timeout", timeout.variants(), |p, v| {
            p.timeout = v;
        });
        field(
            &mut out,
            self,
            ".pool_size",
            pool_size.variants(),
            |p, v| {
                p.pool_size = v;
            },
        );
        field(
            &mut out,
            self,
            ".key_prefix",
            key_prefix.variants(),
            |p, v| {
                p.key_prefix = v;
            },
        );
        out
    }
}

impl Mutate for RateLimitPolicy {
    fn variants(&self) -> Variants<Self> {
        let RateLimitPolicy {
            name: _, // the map's key: changed by the map's own variants
            key,
            rate,
            per,
            burst,
            scope,
            on_store_error,
            missing_key,
            max_keys,
            response_headers,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".key", key.variants(), |p, v| p.key = v);
        field(&mut out, self, ".rate", rate.variants(), |p, v| p.rate = v);
        field(&mut out, self, ".per", per.variants(), |p, v| p.per = v);
        field(&mut out, self, ".burst", burst.variants(), |p, v| {
            p.burst = v
        });
        field(&mut out, self, ".scope", scope.variants(), |p, v| {
            p.scope = v
        });
        field(
            &mut out,
            self,
            ".on_store_error",
            on_store_error.variants(),
            |p, v| p.on_store_error = v,
        );
        field(
            &mut out,
            self,
            ".missing_key",
            missing_key.variants(),
            |p, v| {
                p.missing_key = v;
            },
        );
        field(&mut out, self, ".max_keys", max_keys.variants(), |p, v| {
            p.max_keys = v;
        });
        field(
            &mut out,
            self,
            ".response_headers",
            response_headers.variants(),
            |p, v| p.response_headers = v,
        );
        out
    }
}

impl Mutate for LoadShedding {
    fn variants(&self) -> Variants<Self> {
        let LoadShedding {
            max_in_flight,
            normal_share,
            optional_share,
            retry_after,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".max_in_flight",
            max_in_flight.variants(),
            |p, v| p.max_in_flight = v,
        );
        field(
            &mut out,
            self,
            ".normal_share",
            normal_share.variants(),
            |p, v| p.normal_share = v,
        );
        field(
            &mut out,
            self,
            ".optional_share",
            optional_share.variants(),
            |p, v| p.optional_share = v,
        );
        field(
            &mut out,
            self,
            ".retry_after",
            retry_after.variants(),
            |p, v| {
                p.retry_after = v;
            },
        );
        out
    }
}

impl Mutate for Upstream {
    fn variants(&self) -> Variants<Self> {
        let Upstream {
            name: _, // the map's key: changed by the map's own variants
            region_policy,
            health,
            min_healthy_fraction,
            outlier,
            connect_timeout,
            retry_budget,
            circuit_breaker,
            slow_start,
            bulkhead,
            pools,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".region_policy",
            region_policy.variants(),
            |p, v| p.region_policy = v,
        );
        field(&mut out, self, ".health", health.variants(), |p, v| {
            p.health = v;
        });
        field(
            &mut out,
            self,
            ".min_healthy_fraction",
            min_healthy_fraction.variants(),
            |p, v| p.min_healthy_fraction = v,
        );
        field(&mut out, self, ".outlier", outlier.variants(), |p, v| {
            p.outlier = v;
        });
        field(
            &mut out,
            self,
            ".connect_timeout",
            connect_timeout.variants(),
            |p, v| p.connect_timeout = v,
        );
        field(
            &mut out,
            self,
            ".retry_budget",
            retry_budget.variants(),
            |p, v| p.retry_budget = v,
        );
        field(
            &mut out,
            self,
            ".circuit_breaker",
            circuit_breaker.variants(),
            |p, v| p.circuit_breaker = v,
        );
        field(
            &mut out,
            self,
            ".slow_start",
            slow_start.variants(),
            |p, v| {
                p.slow_start = v;
            },
        );
        field(&mut out, self, ".bulkhead", bulkhead.variants(), |p, v| {
            p.bulkhead = v;
        });
        field(&mut out, self, ".pools", pools.variants(), |p, v| {
            p.pools = v
        });
        out
    }
}

impl Mutate for HealthCheck {
    fn variants(&self) -> Variants<Self> {
        let HealthCheck {
            path,
            interval,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".path", path.variants(), |p, v| p.path = v);
        field(&mut out, self, ".interval", interval.variants(), |p, v| {
            p.interval = v;
        });
        field(&mut out, self, ".timeout", timeout.variants(), |p, v| {
            p.timeout = v;
        });
        field(
            &mut out,
            self,
            ".healthy_threshold",
            healthy_threshold.variants(),
            |p, v| p.healthy_threshold = v,
        );
        field(
            &mut out,
            self,
            ".unhealthy_threshold",
            unhealthy_threshold.variants(),
            |p, v| p.unhealthy_threshold = v,
        );
        out
    }
}

impl Mutate for OutlierDetection {
    fn variants(&self) -> Variants<Self> {
        let OutlierDetection {
            consecutive_failures,
            base_ejection_time,
            max_ejection_time,
            max_ejected_fraction,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".consecutive_failures",
            consecutive_failures.variants(),
            |p, v| p.consecutive_failures = v,
        );
        field(
            &mut out,
            self,
            ".base_ejection_time",
            base_ejection_time.variants(),
            |p, v| p.base_ejection_time = v,
        );
        field(
            &mut out,
            self,
            ".max_ejection_time",
            max_ejection_time.variants(),
            |p, v| p.max_ejection_time = v,
        );
        field(
            &mut out,
            self,
            ".max_ejected_fraction",
            max_ejected_fraction.variants(),
            |p, v| p.max_ejected_fraction = v,
        );
        out
    }
}

impl Mutate for RetryBudgetSettings {
    fn variants(&self) -> Variants<Self> {
        let RetryBudgetSettings {
            ratio,
            min_per_second,
            window,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".ratio", ratio.variants(), |p, v| {
            p.ratio = v
        });
        field(
            &mut out,
            self,
            ".min_per_second",
            min_per_second.variants(),
            |p, v| p.min_per_second = v,
        );
        field(&mut out, self, ".window", window.variants(), |p, v| {
            p.window = v;
        });
        out
    }
}

impl Mutate for CircuitBreakerSettings {
    fn variants(&self) -> Variants<Self> {
        let CircuitBreakerSettings {
            enabled,
            failure_rate,
            min_requests,
            window,
            open_for,
            max_open_for,
            half_open_successes,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".enabled", enabled.variants(), |p, v| {
            p.enabled = v;
        });
        field(
            &mut out,
            self,
            ".failure_rate",
            failure_rate.variants(),
            |p, v| p.failure_rate = v,
        );
        field(
            &mut out,
            self,
            ".min_requests",
            min_requests.variants(),
            |p, v| p.min_requests = v,
        );
        field(&mut out, self, ".window", window.variants(), |p, v| {
            p.window = v;
        });
        field(&mut out, self, ".open_for", open_for.variants(), |p, v| {
            p.open_for = v;
        });
        field(
            &mut out,
            self,
            ".max_open_for",
            max_open_for.variants(),
            |p, v| p.max_open_for = v,
        );
        field(
            &mut out,
            self,
            ".half_open_successes",
            half_open_successes.variants(),
            |p, v| p.half_open_successes = v,
        );
        out
    }
}

impl Mutate for BulkheadSettings {
    fn variants(&self) -> Variants<Self> {
        let BulkheadSettings {
            max_in_flight,
            max_pending_connects,
            adaptive,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".max_in_flight",
            max_in_flight.variants(),
            |p, v| p.max_in_flight = v,
        );
        field(
            &mut out,
            self,
            ".max_pending_connects",
            max_pending_connects.variants(),
            |p, v| p.max_pending_connects = v,
        );
        field(&mut out, self, ".adaptive", adaptive.variants(), |p, v| {
            p.adaptive = v;
        });
        out
    }
}

impl Mutate for AdaptiveLimit {
    fn variants(&self) -> Variants<Self> {
        let AdaptiveLimit {
            min_in_flight,
            initial,
            tolerance,
            min_rtt_window,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".min_in_flight",
            min_in_flight.variants(),
            |p, v| p.min_in_flight = v,
        );
        field(&mut out, self, ".initial", initial.variants(), |p, v| {
            p.initial = v;
        });
        field(
            &mut out,
            self,
            ".tolerance",
            tolerance.variants(),
            |p, v| {
                p.tolerance = v;
            },
        );
        field(
            &mut out,
            self,
            ".min_rtt_window",
            min_rtt_window.variants(),
            |p, v| p.min_rtt_window = v,
        );
        out
    }
}

impl Mutate for Pool {
    fn variants(&self) -> Variants<Self> {
        let Pool {
            region,
            weight,
            endpoints,
            drained,
            tls,
            protocol,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".region", region.variants(), |p, v| {
            p.region = v;
        });
        field(&mut out, self, ".tls", tls.variants(), |p, v| p.tls = v);
        field(&mut out, self, ".protocol", protocol.variants(), |p, v| {
            p.protocol = v;
        });
        field(&mut out, self, ".weight", weight.variants(), |p, v| {
            p.weight = v;
        });
        field(
            &mut out,
            self,
            ".endpoints",
            endpoints.variants(),
            |p, v| {
                p.endpoints = v;
            },
        );
        field(&mut out, self, ".drained", drained.variants(), |p, v| {
            p.drained = v;
        });
        out
    }
}

impl Mutate for Route {
    fn variants(&self) -> Variants<Self> {
        let Route {
            name,
            host,
            path_prefix,
            upstream,
            timeout,
            read_timeout,
            connect_timeout,
            priority,
            retry,
            fault,
            rate_limits,
            request,
            https,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".name", name.variants(), |p, v| p.name = v);
        field(&mut out, self, ".host", host.variants(), |p, v| p.host = v);
        field(
            &mut out,
            self,
            ".path_prefix",
            path_prefix.variants(),
            |p, v| {
                p.path_prefix = v;
            },
        );
        field(&mut out, self, ".upstream", upstream.variants(), |p, v| {
            p.upstream = v;
        });
        field(&mut out, self, ".timeout", timeout.variants(), |p, v| {
            p.timeout = v;
        });
        field(
            &mut out,
            self,
            ".read_timeout",
            read_timeout.variants(),
            |p, v| p.read_timeout = v,
        );
        field(
            &mut out,
            self,
            ".connect_timeout",
            connect_timeout.variants(),
            |p, v| p.connect_timeout = v,
        );
        field(&mut out, self, ".priority", priority.variants(), |p, v| {
            p.priority = v;
        });
        field(&mut out, self, ".retry", retry.variants(), |p, v| {
            p.retry = v
        });
        field(&mut out, self, ".fault", fault.variants(), |p, v| {
            p.fault = v
        });
        field(
            &mut out,
            self,
            ".rate_limits",
            rate_limits.variants(),
            |p, v| {
                p.rate_limits = v;
            },
        );
        field(&mut out, self, "", request.variants(), |p, v| p.request = v);
        field(&mut out, self, "", https.variants(), |p, v| p.https = v);
        out
    }
}

impl Mutate for HttpsRules {
    fn variants(&self) -> Variants<Self> {
        let HttpsRules {
            redirect_https,
            https_port,
            hsts,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".redirect_https",
            redirect_https.variants(),
            |p, v| p.redirect_https = v,
        );
        field(
            &mut out,
            self,
            ".https_port",
            https_port.variants(),
            |p, v| {
                p.https_port = v;
            },
        );
        field(&mut out, self, ".hsts", hsts.variants(), |p, v| p.hsts = v);
        out
    }
}

impl Mutate for UpstreamProtocol {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::H1 => Self::H2,
                Self::H2 => Self::H1,
            },
        )
    }
}

impl Mutate for UpstreamTls {
    fn variants(&self) -> Variants<Self> {
        let UpstreamTls {
            sni,
            ca_file,
            verify,
            client_cert,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".sni", sni.variants(), |p, v| p.sni = v);
        field(&mut out, self, ".ca_file", ca_file.variants(), |p, v| {
            p.ca_file = v;
        });
        field(&mut out, self, ".verify", verify.variants(), |p, v| {
            p.verify = v;
        });
        field(
            &mut out,
            self,
            ".client_cert",
            client_cert.variants(),
            |p, v| p.client_cert = v,
        );
        out
    }
}

impl Sample for UpstreamTls {
    fn sample() -> Self {
        UpstreamTls {
            sni: Some("api.internal".to_owned()),
            ca_file: None,
            verify: true,
            client_cert: None,
        }
    }
}

impl Mutate for ClientCert {
    fn variants(&self) -> Variants<Self> {
        let ClientCert { cert, key } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".cert", cert.variants(), |p, v| p.cert = v);
        field(&mut out, self, ".key", key.variants(), |p, v| p.key = v);
        out
    }
}

impl Sample for ClientCert {
    fn sample() -> Self {
        ClientCert {
            cert: "/etc/weir/client.pem".to_owned(),
            key: "/etc/weir/client.key".to_owned(),
        }
    }
}

impl Mutate for RequestRules {
    fn variants(&self) -> Variants<Self> {
        let RequestRules {
            forward_raw_path,
            encoded_slashes,
            path_prefix_ignore_case,
            max_body_size,
            underscores_in_headers,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".forward_raw_path",
            forward_raw_path.variants(),
            |p, v| p.forward_raw_path = v,
        );
        field(
            &mut out,
            self,
            ".encoded_slashes",
            encoded_slashes.variants(),
            |p, v| p.encoded_slashes = v,
        );
        field(
            &mut out,
            self,
            ".path_prefix_ignore_case",
            path_prefix_ignore_case.variants(),
            |p, v| p.path_prefix_ignore_case = v,
        );
        field(
            &mut out,
            self,
            ".max_body_size",
            max_body_size.variants(),
            |p, v| p.max_body_size = v,
        );
        field(
            &mut out,
            self,
            ".underscores_in_headers",
            underscores_in_headers.variants(),
            |p, v| p.underscores_in_headers = v,
        );
        out
    }
}

impl Mutate for RetryPolicy {
    fn variants(&self) -> Variants<Self> {
        let RetryPolicy {
            attempts,
            statuses,
            on_reset,
            non_idempotent,
            backoff,
            max_backoff,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".attempts", attempts.variants(), |p, v| {
            p.attempts = v;
        });
        field(&mut out, self, ".statuses", statuses.variants(), |p, v| {
            p.statuses = v;
        });
        field(&mut out, self, ".on_reset", on_reset.variants(), |p, v| {
            p.on_reset = v;
        });
        field(
            &mut out,
            self,
            ".non_idempotent",
            non_idempotent.variants(),
            |p, v| p.non_idempotent = v,
        );
        field(&mut out, self, ".backoff", backoff.variants(), |p, v| {
            p.backoff = v;
        });
        field(
            &mut out,
            self,
            ".max_backoff",
            max_backoff.variants(),
            |p, v| {
                p.max_backoff = v;
            },
        );
        out
    }
}

impl Mutate for FaultInjection {
    fn variants(&self) -> Variants<Self> {
        let FaultInjection {
            header,
            header_value,
            delay,
            delay_percent,
            abort_status,
            abort_percent,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".header", header.variants(), |p, v| {
            p.header = v;
        });
        field(
            &mut out,
            self,
            ".header_value",
            header_value.variants(),
            |p, v| p.header_value = v,
        );
        field(&mut out, self, ".delay", delay.variants(), |p, v| {
            p.delay = v
        });
        field(
            &mut out,
            self,
            ".delay_percent",
            delay_percent.variants(),
            |p, v| p.delay_percent = v,
        );
        field(
            &mut out,
            self,
            ".abort_status",
            abort_status.variants(),
            |p, v| p.abort_status = v,
        );
        field(
            &mut out,
            self,
            ".abort_percent",
            abort_percent.variants(),
            |p, v| p.abort_percent = v,
        );
        out
    }
}

impl Mutate for std::net::IpAddr {
    fn variants(&self) -> Variants<Self> {
        let other = match self {
            Self::V4(_) => Self::from([192, 0, 2, 250]),
            Self::V6(_) => "2001:db8::fa".parse().expect("an address"),
        };
        let other = if other == *self {
            Self::from([192, 0, 2, 251])
        } else {
            other
        };
        one("other address", other)
    }
}

impl Element for std::net::IpAddr {
    fn fresh(list: &[Self]) -> Option<Self> {
        Some(first_free(
            (1..=255u8).map(|n| Self::from([203, 0, 113, n])),
            |address| list.contains(address),
        ))
    }
}

impl Mutate for DnsPolicy {
    fn variants(&self) -> Variants<Self> {
        [Self::Nearest, Self::Weighted, Self::Failover]
            .into_iter()
            .filter(|policy| policy != self)
            .map(|policy| (format!(": {policy}"), policy))
            .collect()
    }
}

impl Mutate for AllDown {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::All => Self::ServFail,
                Self::ServFail => Self::All,
            },
        )
    }
}

impl Mutate for HttpUrl {
    fn variants(&self) -> Variants<Self> {
        let HttpUrl { host, port, path } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".host", host.variants(), |p, v| p.host = v);
        field(&mut out, self, ".port", port.variants(), |p, v| p.port = v);
        field(&mut out, self, ".path", path.variants(), |p, v| p.path = v);
        out
    }
}

impl Sample for HttpUrl {
    fn sample() -> Self {
        HttpUrl {
            host: "192.0.2.99".to_owned(),
            port: 9901,
            path: "/readyz".to_owned(),
        }
    }
}

impl Mutate for DnsMember {
    fn variants(&self) -> Variants<Self> {
        let DnsMember {
            region,
            addresses,
            health,
            weight,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".region", region.variants(), |p, v| {
            p.region = v
        });
        field(
            &mut out,
            self,
            ".addresses",
            addresses.variants(),
            |p, v| {
                p.addresses = v;
            },
        );
        field(&mut out, self, ".health", health.variants(), |p, v| {
            p.health = v
        });
        field(&mut out, self, ".weight", weight.variants(), |p, v| {
            p.weight = v
        });
        out
    }
}

impl Element for DnsMember {
    fn fresh(list: &[Self]) -> Option<Self> {
        let region = first_free((0..).map(|n| format!("region{n}")), |region| {
            list.iter().any(|member| member.region == *region)
        });
        Some(DnsMember {
            region,
            addresses: vec![std::net::IpAddr::from([198, 51, 100, 77])],
            health: None,
            weight: 100,
        })
    }
}

impl Mutate for DnsName {
    fn variants(&self) -> Variants<Self> {
        let DnsName {
            name: _, // its key: renamed by the map
            policy,
            ttl,
            answers,
            all_down,
            members,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".policy", policy.variants(), |p, v| {
            p.policy = v
        });
        field(&mut out, self, ".ttl", ttl.variants(), |p, v| p.ttl = v);
        field(&mut out, self, ".answers", answers.variants(), |p, v| {
            p.answers = v
        });
        field(&mut out, self, ".all_down", all_down.variants(), |p, v| {
            p.all_down = v;
        });
        field(&mut out, self, ".members", members.variants(), |p, v| {
            p.members = v
        });
        out
    }
}

impl Entry for DnsName {
    fn rename(&mut self, name: &str) {
        name.clone_into(&mut self.name);
    }
}

impl Mutate for DnsSoa {
    fn variants(&self) -> Variants<Self> {
        let DnsSoa {
            mname,
            rname,
            negative_ttl,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".mname", mname.variants(), |p, v| {
            p.mname = v
        });
        field(&mut out, self, ".rname", rname.variants(), |p, v| {
            p.rname = v
        });
        field(
            &mut out,
            self,
            ".negative_ttl",
            negative_ttl.variants(),
            |p, v| {
                p.negative_ttl = v;
            },
        );
        out
    }
}

impl Mutate for DnsProbe {
    fn variants(&self) -> Variants<Self> {
        let DnsProbe {
            interval,
            timeout,
            rise,
            fall,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".interval", interval.variants(), |p, v| {
            p.interval = v
        });
        field(&mut out, self, ".timeout", timeout.variants(), |p, v| {
            p.timeout = v
        });
        field(&mut out, self, ".rise", rise.variants(), |p, v| p.rise = v);
        field(&mut out, self, ".fall", fall.variants(), |p, v| p.fall = v);
        out
    }
}

/// `client_regions`: one entry added, each removed, each re-pointed at another region.
impl Mutate for BTreeMap<ipnet::IpNet, String> {
    fn variants(&self) -> Variants<Self> {
        let mut out = Vec::new();
        let keys: Vec<ipnet::IpNet> = self.keys().copied().collect();
        if let Some(fresh) = ipnet::IpNet::fresh(&keys) {
            let mut more = self.clone();
            more.insert(fresh, "sample".to_owned());
            out.push((format!("[{fresh}] added"), more));
        }
        for (network, region) in self {
            let mut fewer = self.clone();
            fewer.remove(network);
            out.push((format!("[{network}] removed"), fewer));
            let mut moved = self.clone();
            moved.insert(*network, format!("{region}x"));
            out.push((format!("[{network}] other region"), moved));
        }
        out
    }
}

impl Mutate for DnsSettings {
    fn variants(&self) -> Variants<Self> {
        let DnsSettings {
            zones,
            soa,
            ns,
            names,
            client_regions,
            probe,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".zones", zones.variants(), |p, v| {
            p.zones = v
        });
        field(&mut out, self, ".soa", soa.variants(), |p, v| p.soa = v);
        field(&mut out, self, ".ns", ns.variants(), |p, v| p.ns = v);
        field(&mut out, self, ".names", names.variants(), |p, v| {
            p.names = v
        });
        field(
            &mut out,
            self,
            ".client_regions",
            client_regions.variants(),
            |p, v| {
                p.client_regions = v;
            },
        );
        field(&mut out, self, ".probe", probe.variants(), |p, v| {
            p.probe = v
        });
        out
    }
}

impl Sample for DnsSettings {
    fn sample() -> Self {
        DnsSettings {
            zones: vec!["gslb.example.com".to_owned()],
            soa: DnsSoa {
                mname: "ns1.gslb.example.com".to_owned(),
                rname: "ops.example.com".to_owned(),
                negative_ttl: DnsSoa::DEFAULT_NEGATIVE_TTL,
            },
            ns: vec!["ns1.gslb.example.com".to_owned()],
            names: BTreeMap::new(),
            client_regions: BTreeMap::new(),
            probe: DnsProbe::default(),
        }
    }
}

impl Sample for TlsSettings {
    fn sample() -> Self {
        TlsSettings {
            min_version: TlsVersion::V1_2,
            alpn: vec![Alpn::H2, Alpn::Http11],
            unknown_sni: UnknownSni::Default,
            handshake_timeout: TlsSettings::DEFAULT_HANDSHAKE_TIMEOUT,
            certificates: vec![CertificateSettings::fresh(&[]).expect("a certificate")],
            acme: Vec::new(),
            acme_state_dir: PathBuf::new(),
        }
    }
}

impl Mutate for TlsSettings {
    fn variants(&self) -> Variants<Self> {
        let TlsSettings {
            min_version,
            alpn,
            unknown_sni,
            handshake_timeout,
            certificates,
            acme,
            acme_state_dir,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".acme", acme.variants(), |p, v| p.acme = v);
        field(
            &mut out,
            self,
            ".acme_state_dir",
            acme_state_dir.variants(),
            |p, v| p.acme_state_dir = v,
        );
        field(
            &mut out,
            self,
            ".min_version",
            min_version.variants(),
            |p, v| {
                p.min_version = v;
            },
        );
        field(&mut out, self, ".alpn", alpn.variants(), |p, v| p.alpn = v);
        field(
            &mut out,
            self,
            ".unknown_sni",
            unknown_sni.variants(),
            |p, v| {
                p.unknown_sni = v;
            },
        );
        field(
            &mut out,
            self,
            ".handshake_timeout",
            handshake_timeout.variants(),
            |p, v| p.handshake_timeout = v,
        );
        field(
            &mut out,
            self,
            ".certificates",
            certificates.variants(),
            |p, v| p.certificates = v,
        );
        out
    }
}

impl Mutate for TlsVersion {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::V1_2 => Self::V1_3,
                Self::V1_3 => Self::V1_2,
            },
        )
    }
}

impl Mutate for UnknownSni {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::Default => Self::Reject,
                Self::Reject => Self::Default,
            },
        )
    }
}

impl Mutate for Alpn {
    fn variants(&self) -> Variants<Self> {
        one(
            "other",
            match self {
                Self::H2 => Self::Http11,
                Self::Http11 => Self::H2,
            },
        )
    }
}

impl Element for Alpn {
    fn fresh(list: &[Self]) -> Option<Self> {
        [Alpn::H2, Alpn::Http11]
            .into_iter()
            .find(|alpn| !list.contains(alpn))
    }
}

impl Mutate for CertificateSettings {
    fn variants(&self) -> Variants<Self> {
        let CertificateSettings {
            cert,
            key,
            default,
            names,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".cert", cert.variants(), |p, v| p.cert = v);
        field(&mut out, self, ".key", key.variants(), |p, v| p.key = v);
        field(&mut out, self, ".default", default.variants(), |p, v| {
            p.default = v;
        });
        field(&mut out, self, ".names", names.variants(), |p, v| {
            p.names = v
        });
        out
    }
}

impl Element for CertificateSettings {
    fn fresh(list: &[Self]) -> Option<Self> {
        let n = first_free(0.., |n| {
            list.iter()
                .any(|c| c.cert.as_os_str() == format!("/etc/weir/tls/{n}.pem").as_str())
        });
        Some(CertificateSettings {
            cert: PathBuf::from(format!("/etc/weir/tls/{n}.pem")),
            key: PathBuf::from(format!("/etc/weir/tls/{n}.key")),
            default: false,
            names: Vec::new(),
        })
    }
}

impl Mutate for AcmeSettings {
    fn variants(&self) -> Variants<Self> {
        let AcmeSettings {
            names,
            directory,
            contact,
            ca_file,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".names", names.variants(), |p, v| {
            p.names = v
        });
        field(
            &mut out,
            self,
            ".directory",
            directory.variants(),
            |p, v| {
                p.directory = v;
            },
        );
        field(&mut out, self, ".contact", contact.variants(), |p, v| {
            p.contact = v;
        });
        field(&mut out, self, ".ca_file", ca_file.variants(), |p, v| {
            p.ca_file = v;
        });
        out
    }
}

impl Element for AcmeSettings {
    fn fresh(list: &[Self]) -> Option<Self> {
        let n = first_free(0.., |n| {
            list.iter()
                .any(|a| a.names.first() == Some(&format!("acme{n}.example.com")))
        });
        Some(AcmeSettings {
            names: vec![format!("acme{n}.example.com")],
            directory: "https://acme.example.com/directory".to_owned(),
            contact: Vec::new(),
            ca_file: None,
        })
    }
}

impl Mutate for Http2Settings {
    fn variants(&self) -> Variants<Self> {
        let Http2Settings {
            max_concurrent_streams,
            max_header_list_size,
            idle_timeout,
            max_reset_streams,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".max_concurrent_streams",
            max_concurrent_streams.variants(),
            |p, v| p.max_concurrent_streams = v,
        );
        field(
            &mut out,
            self,
            ".max_header_list_size",
            max_header_list_size.variants(),
            |p, v| p.max_header_list_size = v,
        );
        field(
            &mut out,
            self,
            ".idle_timeout",
            idle_timeout.variants(),
            |p, v| {
                p.idle_timeout = v;
            },
        );
        field(
            &mut out,
            self,
            ".max_reset_streams",
            max_reset_streams.variants(),
            |p, v| p.max_reset_streams = v,
        );
        out
    }
}

impl Sample for f64 {
    fn sample() -> Self {
        0.5
    }
}

/// A `ramp` step in percent.
impl Element for u32 {
    fn fresh(list: &[Self]) -> Option<Self> {
        Some(first_free(1..=100, |step| list.contains(step)))
    }
}

impl Mutate for UnhealthyWhen {
    fn variants(&self) -> Variants<Self> {
        let UnhealthyWhen {
            healthy_fraction_below,
            error_ratio_above,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".healthy_fraction_below",
            healthy_fraction_below.variants(),
            |p, v| p.healthy_fraction_below = v,
        );
        field(
            &mut out,
            self,
            ".error_ratio_above",
            error_ratio_above.variants(),
            |p, v| p.error_ratio_above = v,
        );
        out
    }
}

impl Mutate for FailoverPolicy {
    fn variants(&self) -> Variants<Self> {
        let FailoverPolicy {
            upstream: _, // its key: renamed by the map
            evaluate_every,
            unhealthy_when,
            quorum,
            drain_after,
            restore_after,
            ramp,
            never_drain_last,
            max_drained,
        } = self;
        let mut out = Vec::new();
        field(
            &mut out,
            self,
            ".evaluate_every",
            evaluate_every.variants(),
            |p, v| p.evaluate_every = v,
        );
        field(
            &mut out,
            self,
            ".unhealthy_when",
            unhealthy_when.variants(),
            |p, v| p.unhealthy_when = v,
        );
        field(&mut out, self, ".quorum", quorum.variants(), |p, v| {
            p.quorum = v;
        });
        field(
            &mut out,
            self,
            ".drain_after",
            drain_after.variants(),
            |p, v| p.drain_after = v,
        );
        field(
            &mut out,
            self,
            ".restore_after",
            restore_after.variants(),
            |p, v| p.restore_after = v,
        );
        field(&mut out, self, ".ramp", ramp.variants(), |p, v| p.ramp = v);
        field(
            &mut out,
            self,
            ".never_drain_last",
            never_drain_last.variants(),
            |p, v| p.never_drain_last = v,
        );
        field(
            &mut out,
            self,
            ".max_drained",
            max_drained.variants(),
            |p, v| p.max_drained = v,
        );
        out
    }
}

impl Mutate for RolloutSettings {
    fn variants(&self) -> Variants<Self> {
        let RolloutSettings {
            bake,
            evaluate_every,
            max_error_ratio_increase,
            max_p99_ratio,
            min_p99_increase,
            min_requests,
            stale_grace,
        } = self;
        let mut out = Vec::new();
        field(&mut out, self, ".bake", bake.variants(), |p, v| p.bake = v);
        field(
            &mut out,
            self,
            ".evaluate_every",
            evaluate_every.variants(),
            |p, v| p.evaluate_every = v,
        );
        field(
            &mut out,
            self,
            ".max_error_ratio_increase",
            max_error_ratio_increase.variants(),
            |p, v| p.max_error_ratio_increase = v,
        );
        field(
            &mut out,
            self,
            ".max_p99_ratio",
            max_p99_ratio.variants(),
            |p, v| p.max_p99_ratio = v,
        );
        field(
            &mut out,
            self,
            ".min_p99_increase",
            min_p99_increase.variants(),
            |p, v| p.min_p99_increase = v,
        );
        field(
            &mut out,
            self,
            ".min_requests",
            min_requests.variants(),
            |p, v| p.min_requests = v,
        );
        field(
            &mut out,
            self,
            ".stale_grace",
            stale_grace.variants(),
            |p, v| p.stale_grace = v,
        );
        out
    }
}

impl Entry for FailoverPolicy {
    fn rename(&mut self, name: &str) {
        name.clone_into(&mut self.upstream);
    }
}
