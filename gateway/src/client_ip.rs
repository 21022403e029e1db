//! The client's address: the peer's, unless the peer is a trusted proxy, in which case the
//! right-most address in its forwarding header that is not itself a trusted proxy. Without this
//! rule any client could choose its own rate-limit key by sending `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use http::{HeaderMap, HeaderName};
use ipnet::IpNet;
use weir_config::{ClientIpSettings, ForwardedHeader};

/// The compiled `[client_ip]` section.
#[derive(Debug, Clone)]
pub struct ClientIpResolver {
    trusted: Vec<IpNet>,
    header: HeaderName,
    format: ForwardedHeader,
}

impl ClientIpResolver {
    pub fn new(settings: &ClientIpSettings) -> Self {
        let header = match settings.header {
            ForwardedHeader::XForwardedFor => HeaderName::from_static("x-forwarded-for"),
            ForwardedHeader::Forwarded => http::header::FORWARDED,
        };
        Self {
            trusted: settings.trusted_proxies.clone(),
            header,
            format: settings.header,
        }
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted.iter().any(|net| net.contains(&ip))
    }

    /// Whether `peer` is a trusted proxy, whose forwarding headers are believed and passed on.
    pub fn trusts(&self, peer: IpAddr) -> bool {
        !self.trusted.is_empty() && self.is_trusted(peer.to_canonical())
    }

    /// The client address of a request from `peer`. Walks the header from the right, skipping
    /// trusted proxies; stops at the first untrusted address. An entry that cannot be read
    /// ends the walk at the address to its right; if every entry is trusted, the left-most wins.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if self.trusted.is_empty() || !self.is_trusted(peer) {
            return peer;
        }
        let mut client = peer;
        for line in headers.get_all(&self.header).iter().rev() {
            let Ok(line) = line.to_str() else {
                return client;
            };
            for entry in line.rsplit(',') {
                let parsed = match self.format {
                    ForwardedHeader::XForwardedFor => parse_address(entry),
                    ForwardedHeader::Forwarded => forwarded_for(entry).and_then(parse_address),
                };
                let Some(ip) = parsed else {
                    return client;
                };
                client = ip.to_canonical();
                if !self.is_trusted(client) {
                    return client;
                }
            }
        }
        client
    }
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:56`, `2001:db8::1`, `[2001:db8::1]:56`.
fn parse_address(text: &str) -> Option<IpAddr> {
    let text = text.trim();
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[')?.strip_suffix(']')?.parse().ok()
}

/// The `for=` value of one RFC 7239 element (`for=192.0.2.60;proto=http`), unquoted.
fn forwarded_for(element: &str) -> Option<&str> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        name.trim()
            .eq_ignore_ascii_case("for")
            .then(|| value.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(trusted: &[&str], format: ForwardedHeader) -> ClientIpResolver {
        ClientIpResolver::new(&ClientIpSettings {
            trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(),
            header: format,
        })
    }

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append(name, value.parse().unwrap());
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    const XFF: ForwardedHeader = ForwardedHeader::XForwardedFor;

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let r = resolver(&["10.0.0.0/8"], XFF);
        let h = headers("x-forwarded-for", &["1.1.1.1"]);
        assert_eq!(r.resolve(ip("203.0.113.9"), &h), ip("203.0.113.9"));
        // No trusted proxies at all: the header is never read.
        let none = resolver(&[], XFF);
        assert_eq!(none.resolve(ip("10.0.0.1"), &h), ip("10.0.0.1"));
    }

    #[test]
    fn a_trusted_peer_names_the_right_most_untrusted_address() {
        let r = resolver(&["10.0.0.0/8"], XFF);
        // The client spoofed 6.6.6.6; its real address was appended by our proxy 10.0.0.2.
        let h = headers("x-forwarded-for", &["6.6.6.6, 198.51.100.7, 10.0.0.2"]);
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        // Several header lines read as one list, in order.
        let h = headers(
            "x-forwarded-for",
            &["6.6.6.6", "198.51.100.7:5555, 10.0.0.2"],
        );
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_good_address() {
        let r = resolver(&["10.0.0.0/8"], XFF);
        let h = headers("x-forwarded-for", &["1.1.1.1, not-an-ip, 10.0.0.3"]);
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("10.0.0.3"));
        let none = HeaderMap::new();
        assert_eq!(r.resolve(ip("10.0.0.1"), &none), ip("10.0.0.1"));
    }

    #[test]
    fn all_trusted_means_the_left_most() {
        let r = resolver(&["10.0.0.0/8"], XFF);
        let h = headers("x-forwarded-for", &["10.0.0.9, 10.0.0.2"]);
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("10.0.0.9"));
    }

    #[test]
    fn ipv6_and_mapped_addresses() {
        let r = resolver(&["::1/128", "127.0.0.1/32"], XFF);
        let h = headers("x-forwarded-for", &["[2001:db8::7]:443"]);
        assert_eq!(r.resolve(ip("::1"), &h), ip("2001:db8::7"));
        // A v4 peer seen through a dual-stack socket is still the trusted 127.0.0.1.
        assert_eq!(r.resolve(ip("::ffff:127.0.0.1"), &h), ip("2001:db8::7"));
    }

    #[test]
    fn forwarded_header_for_parameters() {
        let r = resolver(&["10.0.0.0/8"], ForwardedHeader::Forwarded);
        let h = headers(
            "forwarded",
            &[
                "for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, For=10.0.0.2;by=10.0.0.1",
            ],
        );
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("2001:db8:cafe::17"));
        // Obfuscated identifiers cannot be keyed on: the walk stops at the proxy before them.
        let h = headers("forwarded", &["for=_hidden, for=10.0.0.2"]);
        assert_eq!(r.resolve(ip("10.0.0.1"), &h), ip("10.0.0.2"));
    }
}
