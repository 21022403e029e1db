//! `redirect_https`: the `https://` URL for a plain-HTTP request, built from the host it was
//! routed by (without its port), the route's `https_port`, the normalised path and the query as
//! received. A host that is not a plain DNS name or IP literal is refused (no redirect is built
//! from it), so a hostile `Host` cannot put a user name, a path or a second authority in the URL;
//! and the host is one the route matched, so it cannot name a site the route does not serve.

use std::fmt::Write as _;
use std::net::Ipv6Addr;

/// Why no redirect could be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadHost {
    /// The request named no host (an HTTP/1.0 request without `Host`).
    Missing,
    /// The host is not a DNS name or an IP literal, or its port is not a number.
    Invalid,
}

impl BadHost {
    /// The answer's detail (the gateway answers `400`).
    pub fn detail(self) -> &'static str {
        match self {
            Self::Missing => "this route is served over HTTPS only, and the request names no host",
            Self::Invalid => {
                "this route is served over HTTPS only, and the request's host is not valid"
            }
        }
    }
}

/// `https://host[:port]/path[?query]`: `host` as the request gave it (`Host`, or the
/// authority), its port dropped; `port` left out when it is 443.
pub fn https_location(
    host: &str,
    path: &str,
    query: Option<&str>,
    port: u16,
) -> Result<String, BadHost> {
    let name = host_without_port(host)?;
    let mut url = String::with_capacity(16 + name.len() + path.len() + query.map_or(0, str::len));
    url.push_str("https://");
    // Host names compare without case; the URL gets the lower-case form.
    url.extend(name.chars().map(|c| c.to_ascii_lowercase()));
    if port != 443 {
        let _ = write!(url, ":{port}");
    }
    // An origin-form path always starts with `/`; anything else (`*`) redirects to the root.
    if path.starts_with('/') {
        url.push_str(path);
    } else {
        url.push('/');
    }
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

/// The host part of `Host` (`name`, `name:port`, `[v6]`, `[v6]:port`), checked: a DNS name of
/// letters, digits, `-`, `_` and `.`, or a bracketed IPv6 address; a trailing dot is dropped.
fn host_without_port(host: &str) -> Result<&str, BadHost> {
    if host.is_empty() {
        return Err(BadHost::Missing);
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let end = rest.find(']').ok_or(BadHost::Invalid)?;
        rest[..end]
            .parse::<Ipv6Addr>()
            .map_err(|_| BadHost::Invalid)?;
        (&host[..end + 2], &rest[end + 1..])
    } else {
        match host.split_once(':') {
            Some((name, _)) => (name, &host[name.len()..]),
            None => (host, ""),
        }
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':').ok_or(BadHost::Invalid)?;
        if digits.is_empty() || digits.len() > 5 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BadHost::Invalid);
        }
    }
    if name.starts_with('[') {
        return Ok(name);
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| (1..=63).contains(&label.len()))
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if valid {
        Ok(name)
    } else {
        Err(BadHost::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(host: &str, path: &str, query: Option<&str>, port: u16) -> String {
        https_location(host, path, query, port).expect(host)
    }

    #[test]
    fn the_url_keeps_host_path_and_query_and_drops_the_port() {
        assert_eq!(
            location("api.example.com", "/a/b", Some("x=1&y=%20"), 443),
            "https://api.example.com/a/b?x=1&y=%20"
        );
        assert_eq!(
            location("api.example.com:8080", "/", None, 443),
            "https://api.example.com/"
        );
        assert_eq!(
            location("API.Example.COM.", "/Path", None, 443),
            "https://api.example.com/Path",
            "host lower-cased, trailing dot dropped, path kept as is"
        );
        assert_eq!(location("a.example", "*", None, 443), "https://a.example/");
    }

    #[test]
    fn a_port_other_than_443_is_named() {
        assert_eq!(
            location("a.example:80", "/x", Some(""), 8443),
            "https://a.example:8443/x?"
        );
        assert_eq!(
            location("10.0.0.1:8080", "/", None, 8443),
            "https://10.0.0.1:8443/"
        );
    }

    #[test]
    fn ipv6_literals_keep_their_brackets() {
        assert_eq!(location("[::1]:8080", "/x", None, 443), "https://[::1]/x");
        assert_eq!(
            location("[2001:DB8::1]", "/", None, 8443),
            "https://[2001:db8::1]:8443/"
        );
        for bad in ["[::1", "[nope]", "[::1]x", "[::1]:", "[::1]:8o"] {
            assert_eq!(
                https_location(bad, "/", None, 443),
                Err(BadHost::Invalid),
                "{bad}"
            );
        }
    }

    #[test]
    fn hostile_hosts_are_refused() {
        for bad in [
            "evil.com/@good.example",
            "good.example@evil.com",
            "evil.com\\good.example",
            "a b",
            "a.example:80:90",
            "a.example:http",
            "a..example",
            ".",
            "a.example:123456",
            "%65vil.com",
            "a.example?x",
            "a.example#x",
        ] {
            assert_eq!(
                https_location(bad, "/", None, 443),
                Err(BadHost::Invalid),
                "{bad}"
            );
        }
        assert_eq!(https_location("", "/", None, 443), Err(BadHost::Missing));
    }
}
