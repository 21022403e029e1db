//! Route matching: the most specific host rule (exact, then longest `*.suffix`, then `*`), then
//! the longest path prefix within it (optionally ignoring ASCII case). No match is `None` (the
//! proxy answers 404). Paths are matched as given: the proxy normalises them first.

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
    exact: HashMap<String, Vec<(Prefix, T)>>,
    /// `(".example.com", routes)`, longest suffix first.
    suffix: Vec<(String, Vec<(Prefix, T)>)>,
    any: Vec<(Prefix, T)>,
}

impl<T> Router<T> {
    pub fn new<P: Into<Prefix>>(routes: impl IntoIterator<Item = (HostMatch, P, T)>) -> Self {
        let mut exact: HashMap<String, Vec<(Prefix, T)>> = HashMap::new();
        let mut suffix: Vec<(String, Vec<(Prefix, T)>)> = Vec::new();
        let mut any = Vec::new();
        for (host, prefix, value) in routes {
            let prefix = prefix.into();
            match host {
                HostMatch::Any => any.push((prefix, value)),
                HostMatch::Exact(name) => exact.entry(name).or_default().push((prefix, value)),
                HostMatch::Suffix(tail) => match suffix.iter_mut().find(|(s, _)| *s == tail) {
                    Some((_, group)) => group.push((prefix, value)),
                    None => suffix.push((tail, vec![(prefix, value)])),
                },
            }
        }
        let by_prefix_len = |group: &mut Vec<(Prefix, T)>| {
            group.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.text.len()));
        };
        exact.values_mut().for_each(by_prefix_len);
        suffix.iter_mut().for_each(|(_, g)| by_prefix_len(g));
        by_prefix_len(&mut any);
        suffix.sort_by_key(|(tail, _)| std::cmp::Reverse(tail.len()));
        Self { exact, suffix, any }
    }

    /// Find the route for a request. `host` may carry a port and any letter case; `path` is the
    /// path without the query.
    pub fn find(&self, host: &str, path: &str) -> Option<&T> {
        let host = normalize_host(host);
        let group = self
            .exact
            .get(host.as_ref())
            .or_else(|| {
                self.suffix
                    .iter()
                    .find(|(tail, _)| host.len() > tail.len() && host.ends_with(tail.as_str()))
                    .map(|(_, group)| group)
            })
            .unwrap_or(&self.any);
        group
            .iter()
            .find(|(prefix, _)| prefix.matches(path))
            .map(|(_, value)| value)
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

    #[test]
    fn ipv6_hosts_keep_their_brackets() {
        let r = Router::new([(HostMatch::Exact("[::1]".into()), "/".to_string(), 1)]);
        assert_eq!(r.find("[::1]:8080", "/"), Some(&1));
    }
}
