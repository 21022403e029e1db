//! A request's rate-limit key, built from the policy's parts (client IP, header values, route).
//! Local buckets use a seeded 64-bit hash (fixed for the process, so reloads keep buckets; secret,
//! so clients cannot aim collisions); global buckets a stable SHA-256 name every gateway agrees on.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::net::IpAddr;
use std::sync::OnceLock;

use http::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};
use weir_config::{KeyPart, MissingKey};

/// A key part, compiled: header names parsed once.
#[derive(Debug, Clone)]
pub enum Part {
    ClientIp,
    Header(HeaderName),
    Route,
}

/// What a request offers to key on.
pub struct RequestFacts<'a> {
    pub client_ip: IpAddr,
    pub headers: &'a HeaderMap,
    pub route: &'a str,
}

/// Where the parts of a key are written: a hasher or a digest.
trait KeySink {
    fn write(&mut self, bytes: &[u8]);
}

impl KeySink for std::hash::DefaultHasher {
    fn write(&mut self, bytes: &[u8]) {
        Hasher::write(self, bytes);
    }
}

impl KeySink for Sha256 {
    fn write(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Part {
    /// Compile a config key part. Validation has checked header names.
    pub fn compile(part: &KeyPart) -> Option<Self> {
        Some(match part {
            KeyPart::ClientIp => Self::ClientIp,
            KeyPart::Header(name) => Self::Header(HeaderName::from_bytes(name.as_bytes()).ok()?),
            KeyPart::Route => Self::Route,
        })
    }
}

/// The local bucket key, or `None` when the request is exempt (a missing header with
/// `missing_key = "exempt"`). Allocation-free.
pub fn local_key(parts: &[Part], missing: MissingKey, facts: &RequestFacts<'_>) -> Option<u64> {
    static SEED: OnceLock<RandomState> = OnceLock::new();
    let mut hasher = SEED.get_or_init(RandomState::new).build_hasher();
    feed(parts, missing, facts, &mut hasher).then(|| hasher.finish())
}

/// The Redis key, `<prefix><32 hex digits>`, or `None` when the request is exempt.
pub fn global_key(
    prefix: &str,
    parts: &[Part],
    missing: MissingKey,
    facts: &RequestFacts<'_>,
) -> Option<String> {
    let mut digest = Sha256::new();
    if !feed(parts, missing, facts, &mut digest) {
        return None;
    }
    let mut key = String::with_capacity(prefix.len() + 32);
    key.push_str(prefix);
    for byte in &digest.finalize()[..16] {
        key.push(char::from(HEX[usize::from(byte >> 4)]));
        key.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    Some(key)
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Write each part tagged and length-prefixed, so no two different part lists write the same
/// bytes. Returns `false` when the request is exempt.
fn feed(
    parts: &[Part],
    missing: MissingKey,
    facts: &RequestFacts<'_>,
    sink: &mut impl KeySink,
) -> bool {
    for part in parts {
        match part {
            Part::ClientIp => match facts.client_ip.to_canonical() {
                IpAddr::V4(ip) => {
                    sink.write(b"4");
                    sink.write(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    sink.write(b"6");
                    sink.write(&ip.octets());
                }
            },
            Part::Header(name) => match facts.headers.get(name) {
                Some(value) => {
                    let value = value.as_bytes();
                    sink.write(b"h");
                    sink.write(&(value.len() as u64).to_le_bytes());
                    sink.write(value);
                }
                None if missing == MissingKey::Exempt => return false,
                // Every request without the header shares one bucket.
                None => sink.write(b"-"),
            },
            Part::Route => {
                sink.write(b"r");
                sink.write(&(facts.route.len() as u64).to_le_bytes());
                sink.write(facts.route.as_bytes());
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts<'a>(ip: &str, headers: &'a HeaderMap, route: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            client_ip: ip.parse().unwrap(),
            headers,
            route,
        }
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn api_key() -> Vec<Part> {
        vec![Part::compile(&KeyPart::Header("x-api-key".into())).unwrap()]
    }

    #[test]
    fn the_same_facts_give_the_same_key() {
        let h = headers(&[("x-api-key", "k1")]);
        let parts = vec![Part::ClientIp, Part::Header("x-api-key".parse().unwrap())];
        let a = local_key(&parts, MissingKey::Shared, &facts("10.0.0.1", &h, "r"));
        let b = local_key(&parts, MissingKey::Shared, &facts("10.0.0.1", &h, "r"));
        let c = local_key(&parts, MissingKey::Shared, &facts("10.0.0.2", &h, "r"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ipv4_mapped_ipv6_is_the_same_client() {
        let h = HeaderMap::new();
        let parts = [Part::ClientIp];
        assert_eq!(
            local_key(&parts, MissingKey::Shared, &facts("10.0.0.1", &h, "r")),
            local_key(
                &parts,
                MissingKey::Shared,
                &facts("::ffff:10.0.0.1", &h, "r")
            )
        );
    }

    #[test]
    fn a_missing_header_is_shared_or_exempt() {
        let none = HeaderMap::new();
        let empty = headers(&[("x-api-key", "")]);
        let shared = local_key(
            &api_key(),
            MissingKey::Shared,
            &facts("10.0.0.1", &none, "r"),
        );
        assert!(shared.is_some());
        // An empty value is a value, not an absence.
        assert_ne!(
            shared,
            local_key(
                &api_key(),
                MissingKey::Shared,
                &facts("10.0.0.1", &empty, "r")
            )
        );
        assert_eq!(
            local_key(
                &api_key(),
                MissingKey::Exempt,
                &facts("10.0.0.1", &none, "r")
            ),
            None
        );
    }

    #[test]
    fn parts_cannot_run_into_each_other() {
        let h = HeaderMap::new();
        let parts = [Part::Route, Part::Route];
        // ("ab","") and ("a","b") would collide without length prefixes; one route twice is
        // enough to show the prefix is there.
        assert_ne!(
            local_key(&parts, MissingKey::Shared, &facts("10.0.0.1", &h, "ab")),
            local_key(
                &[Part::Route],
                MissingKey::Shared,
                &facts("10.0.0.1", &h, "abab")
            )
        );
    }

    #[test]
    fn the_global_key_is_stable_and_prefixed() {
        let h = headers(&[("x-api-key", "k1")]);
        let key = global_key(
            "weir:p:",
            &api_key(),
            MissingKey::Shared,
            &facts("10.0.0.1", &h, "r"),
        )
        .unwrap();
        assert!(key.starts_with("weir:p:"));
        assert_eq!(key.len(), "weir:p:".len() + 32);
        // The same on every gateway and every run: fixed by the key material alone.
        let again = global_key(
            "weir:p:",
            &api_key(),
            MissingKey::Shared,
            &facts("10.9.9.9", &h, "x"),
        )
        .unwrap();
        assert_eq!(key, again);
    }
}
