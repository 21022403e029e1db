//! Route matching: the most specific host rule (exact, then longest `*.suffix`, then `*`), then
//! the longest path prefix within it (optionally ignoring ASCII case). No match is `None` (the
//! proxy answers 404). Paths are matched as given: the proxy normalises them first. A lookup
//! costs the same with 10,000 routes as with one: hosts and suffixes are hashed, and a host's
//! prefixes are looked up by length once it has more than a few.

use std::borrow::Cow;
use std::collections::HashMap;

use weir_config::HostMatch;

/// A route's path prefix and how it is compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prefix {
    pub text: String,
    /// Compare ignoring ASCII case (`path_prefix_ignore_case`).
    pub ignore_case: bool,
}

impl Prefix {
    /// A case-sensitive prefix.
    pub fn exact(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ignore_case: false,
        }
    }

    fn matches(&self, path: &str) -> bool {
        if self.ignore_case {
            path.len() >= self.text.len()
                && path.as_bytes()[..self.text.len()].eq_ignore_ascii_case(self.text.as_bytes())
        } else {
            path.starts_with(self.text.as_str())
        }
    }
}

impl From<&str> for Prefix {
    fn from(text: &str) -> Self {
        Self::exact(text)
    }
}

impl From<String> for Prefix {
    fn from(text: String) -> Self {
        Self::exact(text)
    }
}

/// Routes grouped by host rule, each group sorted by path prefix, longest first.
#[derive(Debug)]
pub struct Router<T> {
    exact: HashMap<String, Group<T>>,
    /// `(".example.com", routes)`, longest suffix first.
    suffix: Vec<(String, Group<T>)>,
    /// Index into `suffix` by suffix, when every suffix starts with a dot (as the config's
    /// `*.example.com` always does): a host is then looked up at each of its dots, left first.
    suffix_index: Option<HashMap<String, usize>>,
    any: Group<T>,
}

impl<T> Router<T> {
    pub fn new<P: Into<Prefix>>(routes: impl IntoIterator<Item = (HostMatch, P, T)>) -> Self {
        let mut exact: HashMap<String, Vec<(Prefix, T)>> = HashMap::new();
        let mut suffix: Vec<(String, Vec<(Prefix, T)>)> = Vec::new();
        let mut suffix_at: HashMap<String, usize> = HashMap::new();
        let mut any = Vec::new();
        for (host, prefix, value) in routes {
            let prefix = prefix.into();
            match host {
                HostMatch::Any => any.push((prefix, value)),
                HostMatch::Exact(name) => exact.entry(name).or_default().push((prefix, value)),
                HostMatch::Suffix(tail) => match suffix_at.get(&tail) {
                    Some(&i) => suffix[i].1.push((prefix, value)),
                    None => {
                        suffix_at.insert(tail.clone(), suffix.len());
                        suffix.push((tail, vec![(prefix, value)]));
                    }
                },
            }
        }
        suffix.sort_by_key(|(tail, _)| std::cmp::Reverse(tail.len()));
        let suffix_index = suffix
            .iter()
            .all(|(tail, _)| tail.starts_with('.'))
            .then(|| {
                let index = suffix.iter().enumerate();
                index.map(|(i, (tail, _))| (tail.clone(), i)).collect()
            });
        Self {
            exact: exact.into_iter().map(|(h, g)| (h, Group::new(g))).collect(),
            suffix: suffix
                .into_iter()
                .map(|(t, g)| (t, Group::new(g)))
                .collect(),
            suffix_index,
            any: Group::new(any),
        }
    }

    /// Find the route for a request. `host` may carry a port and any letter case; `path` is the
    /// path without the query.
    pub fn find(&self, host: &str, path: &str) -> Option<&T> {
        let host = normalize_host(host);
        let group = self
            .exact
            .get(host.as_ref())
            .or_else(|| self.find_suffix(&host))
            .unwrap_or(&self.any);
        group.find(path)
    }

    /// The longest suffix group that `host` ends with (and is longer than).
    fn find_suffix(&self, host: &str) -> Option<&Group<T>> {
        if self.suffix.is_empty() {
            return None;
        }
        let Some(index) = &self.suffix_index else {
            return self
                .suffix
                .iter()
                .find(|(tail, _)| host.len() > tail.len() && host.ends_with(tail.as_str()))
                .map(|(_, group)| group);
        };
        // Every tail starts with a dot, so a tail the host ends with begins at one of its dots;
        // the leftmost such dot is the longest tail. A dot at 0 would leave no name before it.
        host.char_indices()
            .filter(|&(i, c)| c == '.' && i > 0)
            .find_map(|(i, _)| index.get(&host[i..]))
            .map(|&i| &self.suffix[i].1)
    }
}

/// One host rule's routes, in the order they are tried: longest prefix first, then config order.
#[derive(Debug)]
struct Group<T> {
    routes: Vec<(Prefix, T)>,
    /// For groups larger than [`SCAN_MAX`]: the prefixes by text, each to its first position in
    /// `routes`, so a lookup costs one hash per distinct prefix length instead of a scan.
    index: Option<PrefixIndex>,
}

/// Up to this many prefixes, a scan is as fast as hashing.
const SCAN_MAX: usize = 8;

#[derive(Debug)]
struct PrefixIndex {
    /// Distinct prefix lengths in bytes, longest first.
    lengths: Vec<usize>,
    /// Case-sensitive prefixes.
    exact: HashMap<Box<[u8]>, usize>,
    /// Prefixes that ignore ASCII case, lower-cased.
    folded: HashMap<Box<[u8]>, usize>,
}

impl<T> Group<T> {
    fn new(mut routes: Vec<(Prefix, T)>) -> Self {
        routes.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.text.len()));
        let index = (routes.len() > SCAN_MAX).then(|| {
            let mut lengths: Vec<usize> = routes.iter().map(|(p, _)| p.text.len()).collect();
            lengths.dedup(); // sorted already, longest first
            let (mut exact, mut folded) = (HashMap::new(), HashMap::new());
            for (i, (prefix, _)) in routes.iter().enumerate() {
                let (map, key) = if prefix.ignore_case {
                    (&mut folded, prefix.text.to_ascii_lowercase().into_bytes())
                } else {
                    (&mut exact, prefix.text.as_bytes().to_vec())
                };
                map.entry(key.into_boxed_slice()).or_insert(i);
            }
            PrefixIndex {
                lengths,
                exact,
                folded,
            }
        });
        Self { routes, index }
    }

    /// The first route in order whose prefix `path` starts with.
    fn find(&self, path: &str) -> Option<&T> {
        let Some(index) = &self.index else {
            return self
                .routes
                .iter()
                .find(|(prefix, _)| prefix.matches(path))
                .map(|(_, value)| value);
        };
        let path = path.as_bytes();
        // Prefixes of one length that `path` starts with all have the same text (up to case);
        // of those the scan would take the first in order, so the lower position wins.
        let found = index
            .lengths
            .iter()
            .filter(|&&len| len <= path.len())
            .find_map(|&len| {
                let head = &path[..len];
                let exact = index.exact.get(head).copied();
                let folded = if index.folded.is_empty() {
                    None
                } else if head.iter().any(u8::is_ascii_uppercase) {
                    index.folded.get(&head.to_ascii_lowercase()[..]).copied()
                } else {
                    index.folded.get(head).copied()
                };
                match (exact, folded) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            });
        found.map(|i| &self.routes[i].1)
    }
}

/// Lower-case the host and drop any port and trailing dot, without allocating when it is
/// already in that form.
fn normalize_host(host: &str) -> Cow<'_, str> {
    let without_port = if host.starts_with('[') {
        // IPv6 literal: keep up to the closing bracket.
        host.find(']').map_or(host, |end| &host[..=end])
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    let trimmed = without_port.strip_suffix('.').unwrap_or(without_port);
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router<&'static str> {
        Router::new([
            (HostMatch::Any, "/".to_string(), "any-root"),
            (HostMatch::Any, "/api".to_string(), "any-api"),
            (HostMatch::Any, "/api/v2".to_string(), "any-api-v2"),
            (
                HostMatch::Exact("api.example.com".into()),
                "/".to_string(),
                "exact-root",
            ),
            (
                HostMatch::Exact("only.example.com".into()),
                "/x".to_string(),
                "only-x",
            ),
            (
                HostMatch::Suffix(".example.com".into()),
                "/".to_string(),
                "wild",
            ),
            (
                HostMatch::Suffix(".eu.example.com".into()),
                "/".to_string(),
                "wild-eu",
            ),
        ])
    }

    #[test]
    fn longest_prefix_wins() {
        let r = router();
        assert_eq!(r.find("other.org", "/api/v2/users"), Some(&"any-api-v2"));
        assert_eq!(r.find("other.org", "/api/v1"), Some(&"any-api"));
        assert_eq!(r.find("other.org", "/"), Some(&"any-root"));
        assert_eq!(
            r.find("other.org", "/apix"),
            Some(&"any-api"),
            "plain string prefix"
        );
    }

    #[test]
    fn exact_host_beats_wildcards() {
        let r = router();
        assert_eq!(r.find("api.example.com", "/api"), Some(&"exact-root"));
        assert_eq!(r.find("API.Example.COM:8080", "/"), Some(&"exact-root"));
        assert_eq!(r.find("api.example.com.", "/"), Some(&"exact-root"));
    }

    #[test]
    fn longest_wildcard_suffix_wins_and_bare_domain_does_not_match() {
        let r = router();
        assert_eq!(r.find("www.example.com", "/"), Some(&"wild"));
        assert_eq!(r.find("a.eu.example.com", "/"), Some(&"wild-eu"));
        assert_eq!(r.find("example.com", "/"), Some(&"any-root"));
    }

    #[test]
    fn a_host_group_without_a_matching_prefix_is_a_miss() {
        let r = router();
        assert_eq!(r.find("only.example.com", "/x/y"), Some(&"only-x"));
        assert_eq!(r.find("only.example.com", "/y"), None);
    }

    #[test]
    fn no_catch_all_means_404() {
        let r = Router::new([(HostMatch::Any, "/api".to_string(), 1)]);
        assert_eq!(r.find("h", "/other"), None);
        assert_eq!(r.find("h", "/api"), Some(&1));
    }

    #[test]
    fn a_prefix_may_ignore_ascii_case() {
        let loose = Prefix {
            text: "/api/".into(),
            ignore_case: true,
        };
        let r = Router::new([
            (HostMatch::Any, Prefix::exact("/"), "root"),
            (HostMatch::Any, loose, "api"),
        ]);
        assert_eq!(r.find("h", "/API/x"), Some(&"api"));
        assert_eq!(r.find("h", "/Api/"), Some(&"api"));
        assert_eq!(r.find("h", "/ap"), Some(&"root"));
        assert_eq!(r.find("h", "/é"), Some(&"root"), "short non-ASCII paths");
        let strict = Router::new([(HostMatch::Any, "/api/", 1)]);
        assert_eq!(strict.find("h", "/API/x"), None);
    }

    /// The indexes (hosts, suffixes, prefixes by length) answer exactly as a scan of every
    /// route in order would, for large groups with shared, nested and case-folded prefixes.
    #[test]
    fn indexed_lookup_agrees_with_a_scan() {
        let mut routes = Vec::new();
        for i in 0..300 {
            let host = match i % 3 {
                0 => HostMatch::Any,
                1 => HostMatch::Exact(format!("h{}.example.com", i % 4)),
                _ => HostMatch::Suffix([".example.com", ".eu.example.com"][i % 2].into()),
            };
            let text = ["/", "/a", "/a/b", "/A/b/", "/api", "/Api/v1", "/x"][i % 7].to_string();
            let text = format!(
                "{text}{}",
                if i % 5 == 0 {
                    format!("{i}")
                } else {
                    String::new()
                }
            );
            let prefix = Prefix {
                text,
                ignore_case: i % 4 == 0,
            };
            routes.push((host, prefix, i));
        }
        let router = Router::new(routes.clone());
        let scan = |host: &str, path: &str| {
            let host = normalize_host(host);
            let host_rank = |m: &HostMatch| match m {
                HostMatch::Exact(h) if *h == host => Some(usize::MAX),
                HostMatch::Suffix(t) if host.len() > t.len() && host.ends_with(t.as_str()) => {
                    Some(t.len())
                }
                _ => None,
            };
            let best_host = routes.iter().filter_map(|(m, _, _)| host_rank(m)).max();
            let group = |m: &HostMatch| match best_host {
                Some(rank) => host_rank(m) == Some(rank),
                None => *m == HostMatch::Any,
            };
            let mut candidates: Vec<_> = routes.iter().filter(|(m, _, _)| group(m)).collect();
            candidates.sort_by_key(|(_, p, _)| std::cmp::Reverse(p.text.len()));
            candidates
                .into_iter()
                .find(|(_, p, _)| p.matches(path))
                .map(|(_, _, v)| *v)
        };
        let hosts = [
            "h0.example.com",
            "h1.example.com:80",
            "H3.Example.com",
            "x.example.com",
            "x.eu.example.com",
            "example.com",
            "other.org",
        ];
        let paths = [
            "/",
            "/a",
            "/a/b",
            "/A/B/c",
            "/a/b/",
            "/api",
            "/API/V1/x",
            "/Api/v1",
            "/x",
            "/x10",
            "/a/b/30",
            "/A/b/35",
            "/api70",
            "/b",
            "",
            "/é/a",
        ];
        for host in hosts {
            for path in paths {
                assert_eq!(
                    router.find(host, path).copied(),
                    scan(host, path),
                    "{host} {path}"
                );
            }
        }
    }

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        let r = Router::new([(HostMatch::Exact("[::1]".into()), "/".to_string(), 1)]);
        assert_eq!(r.find("[::1]:8080", "/"), Some(&1));
    }
}
