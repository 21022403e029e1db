//! Route matching: the most specific host rule (exact, then longest `*.suffix`, then `*`), then
//! the longest path prefix within it. No match is `None` (the proxy answers 404).

use std::borrow::Cow;
use std::collections::HashMap;

use weir_config::HostMatch;

/// Routes grouped by host rule, each group sorted by path prefix, longest first.
#[derive(Debug)]
pub struct Router<T> {
    exact: HashMap<String, Vec<(String, T)>>,
    /// `(".example.com", routes)`, longest suffix first.
    suffix: Vec<(String, Vec<(String, T)>)>,
    any: Vec<(String, T)>,
}

impl<T> Router<T> {
    pub fn new(routes: impl IntoIterator<Item = (HostMatch, String, T)>) -> Self {
        let mut exact: HashMap<String, Vec<(String, T)>> = HashMap::new();
        let mut suffix: Vec<(String, Vec<(String, T)>)> = Vec::new();
        let mut any = Vec::new();
        for (host, prefix, value) in routes {
            match host {
                HostMatch::Any => any.push((prefix, value)),
                HostMatch::Exact(name) => exact.entry(name).or_default().push((prefix, value)),
                HostMatch::Suffix(tail) => match suffix.iter_mut().find(|(s, _)| *s == tail) {
                    Some((_, group)) => group.push((prefix, value)),
                    None => suffix.push((tail, vec![(prefix, value)])),
                },
            }
        }
        let by_prefix_len = |group: &mut Vec<(String, T)>| {
            group.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
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
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
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
    fn ipv6_hosts_keep_their_brackets() {
        let r = Router::new([(HostMatch::Exact("[::1]".into()), "/".to_string(), 1)]);
        assert_eq!(r.find("[::1]:8080", "/"), Some(&1));
    }
}
