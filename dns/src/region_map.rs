//! Where a client is: `client_regions` as a longest-prefix-match table, one hash map per
//! distinct prefix length (longest first), so overlapping CIDRs resolve to the most specific one
//! and a lookup costs one probe per distinct length. It cannot fail: no match is `None`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;

/// A region found for an address, with the prefix length of the network that matched and the
/// ECS scope an answer depending on it may claim (RFC 7871).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub region: Arc<str>,
    pub prefix_len: u8,
    /// The longest prefix length of any configured network inside the matched one (or the
    /// matched length when there is none): answers depending on the region hold for that much.
    pub scope: u8,
}

/// The networks of one prefix length: network address → (region, scope).
type Networks = HashMap<IpAddr, (Arc<str>, u8)>;

/// One address family's networks, grouped by prefix length, longest first.
#[derive(Debug, Default)]
struct Family {
    /// `(prefix_len, networks)`, sorted by `prefix_len` descending.
    by_length: Vec<(u8, Networks)>,
}

/// `client_regions`, ready for lookups.
#[derive(Debug, Default)]
pub struct RegionMap {
    v4: Family,
    v6: Family,
}

impl RegionMap {
    pub fn new<'a>(entries: impl IntoIterator<Item = (&'a IpNet, &'a String)>) -> RegionMap {
        let entries: Vec<(IpNet, Arc<str>)> = entries
            .into_iter()
            .map(|(network, region)| (network.trunc(), Arc::from(region.as_str())))
            .collect();
        let mut map = RegionMap::default();
        for (network, region) in &entries {
            // A more specific network inside this one narrows what an answer for it covers.
            let scope = entries
                .iter()
                .filter(|(inner, _)| network.contains(inner))
                .map(|(inner, _)| inner.prefix_len())
                .max()
                .unwrap_or(network.prefix_len());
            let family = match network {
                IpNet::V4(_) => &mut map.v4,
                IpNet::V6(_) => &mut map.v6,
            };
            let length = network.prefix_len();
            let slot = match family.by_length.iter().position(|(l, _)| *l == length) {
                Some(index) => index,
                None => {
                    family.by_length.push((length, HashMap::new()));
                    family.by_length.len() - 1
                }
            };
            family.by_length[slot]
                .1
                .insert(network.addr(), (region.clone(), scope));
        }
        for family in [&mut map.v4, &mut map.v6] {
            family
                .by_length
                .sort_by_key(|(length, _)| std::cmp::Reverse(*length));
        }
        map
    }

    /// The region of the most specific network holding `address` (IPv4-mapped IPv6 addresses
    /// are looked up as IPv4).
    pub fn locate(&self, address: IpAddr) -> Option<Located> {
        let address = match address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            v4 => v4,
        };
        let family = match address {
            IpAddr::V4(_) => &self.v4,
            IpAddr::V6(_) => &self.v6,
        };
        family.by_length.iter().find_map(|(length, networks)| {
            let network = IpNet::new(address, *length).ok()?.trunc();
            networks
                .get(&network.addr())
                .map(|(region, scope)| Located {
                    region: region.clone(),
                    prefix_len: *length,
                    scope: *scope,
                })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.v4.by_length.is_empty() && self.v6.by_length.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> RegionMap {
        let owned: Vec<(IpNet, String)> = entries
            .iter()
            .map(|(net, region)| (net.parse().expect("net"), (*region).to_owned()))
            .collect();
        RegionMap::new(owned.iter().map(|(net, region)| (net, region)))
    }

    fn region(map: &RegionMap, address: &str) -> Option<(String, u8, u8)> {
        map.locate(address.parse().expect("ip"))
            .map(|found| (found.region.to_string(), found.prefix_len, found.scope))
    }

    #[test]
    fn the_longest_prefix_wins_among_overlapping_networks() {
        let map = map(&[
            ("0.0.0.0/0", "us-east"),
            ("198.51.0.0/16", "eu-central"),
            ("198.51.100.0/24", "eu-west"),
            ("198.51.100.128/25", "eu-north"),
            ("::/0", "us-east"),
            ("2001:db8::/32", "ap-south"),
        ]);
        assert_eq!(
            region(&map, "198.51.100.200"),
            Some(("eu-north".into(), 25, 25))
        );
        assert_eq!(
            region(&map, "198.51.100.7"),
            Some(("eu-west".into(), 24, 25))
        );
        assert_eq!(
            region(&map, "198.51.7.7"),
            Some(("eu-central".into(), 16, 25))
        );
        assert_eq!(region(&map, "192.0.2.1"), Some(("us-east".into(), 0, 25)));
        assert_eq!(
            region(&map, "2001:db8::1"),
            Some(("ap-south".into(), 32, 32))
        );
        assert_eq!(region(&map, "2001:db9::1"), Some(("us-east".into(), 0, 32)));
        // An IPv4-mapped IPv6 source is an IPv4 client.
        assert_eq!(
            region(&map, "::ffff:198.51.100.7"),
            Some(("eu-west".into(), 24, 25))
        );
    }

    #[test]
    fn no_match_is_none() {
        let map = map(&[("198.51.100.0/24", "eu-west")]);
        assert_eq!(region(&map, "192.0.2.1"), None);
        assert_eq!(region(&map, "2001:db8::1"), None);
        assert!(RegionMap::default().is_empty());
        assert!(!map.is_empty());
    }
}
