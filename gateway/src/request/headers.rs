//! What the gateway refuses in a request's line and headers, and what it cleans before the
//! request goes on: `TRACE` (405), HTTP/1.1 without `Host` (400), duplicated `Content-Length`
//! collapsed to one value, header names with `_` dropped unless the route allows them, and
//! forwarding headers (`Forwarded`, `X-Real-IP`, `X-Forwarded-Proto`, `X-Forwarded-Host`) dropped
//! unless the peer is a trusted proxy. Then the headers the gateway sets on the upstream request.

use std::net::IpAddr;

use http::{HeaderName, Method, Version, header};
use pingora::http::RequestHeader;

use crate::header_values;

/// A request refused before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `TRACE` would echo the request (cookies, credentials) back: 405.
    Trace,
    /// HTTP/1.1 requires `Host` (RFC 9112 §3.2): 400.
    MissingHost,
}

impl Refusal {
    pub fn status(self) -> u16 {
        match self {
            Self::Trace => 405,
            Self::MissingHost => 400,
        }
    }

    pub fn detail(self) -> &'static str {
        match self {
            Self::Trace => "the TRACE method is not allowed",
            Self::MissingHost => "an HTTP/1.1 request needs a Host header",
        }
    }

    /// The short reason, for logs and the access log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Trace => "method_trace",
            Self::MissingHost => "missing_host",
        }
    }
}

/// Whether the request is refused before routing.
pub fn refuse(req: &RequestHeader) -> Option<Refusal> {
    if req.method == Method::TRACE {
        return Some(Refusal::Trace);
    }
    if req.version == Version::HTTP_11
        && !req.headers.contains_key(header::HOST)
        && req.uri.authority().is_none()
        && !req.raw_path().starts_with(b"http")
    {
        return Some(Refusal::MissingHost);
    }
    None
}

/// Forwarding headers only a trusted proxy may send; from anyone else they are dropped.
static FORWARDING: [&HeaderName; 4] = [
    &header_values::FORWARDED,
    &header_values::X_REAL_IP,
    &header_values::X_FORWARDED_PROTO,
    &header_values::X_FORWARDED_HOST,
];

/// Clean the client's request in place before it is forwarded: one `Content-Length` value,
/// no `_` in header names unless `underscores` allows them, and no forwarding headers unless the
/// peer is `trusted`. Allocates only when there is something to change.
pub fn sanitize(req: &mut RequestHeader, underscores: bool, trusted: bool) {
    collapse_content_length(req);
    if !underscores {
        let names: Vec<http::HeaderName> = req
            .headers
            .keys()
            .filter(|name| name.as_str().contains('_'))
            .cloned()
            .collect();
        for name in names {
            req.remove_header(&name);
        }
    }
    if !trusted {
        for name in FORWARDING {
            if req.headers.contains_key(name) {
                req.remove_header(name);
            }
        }
    }
}

/// `Content-Length: 5, 5` or two lines of `5` become one `5` (RFC 9110 §8.6). Differing values
/// never get here: Pingora answers them 400 when it reads the request.
fn collapse_content_length(req: &mut RequestHeader) {
    let mut values = req.headers.get_all(header::CONTENT_LENGTH).iter();
    let (Some(first), second) = (values.next(), values.next()) else {
        return;
    };
    if second.is_none() && !first.as_bytes().contains(&b',') {
        return;
    }
    let Some(value) = first
        .as_bytes()
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .find(|v| !v.is_empty())
        .and_then(|v| http::HeaderValue::from_bytes(v).ok())
    else {
        return;
    };
    // Insert replaces every line.
    let _ = req.insert_header(header::CONTENT_LENGTH, value);
}

/// What the gateway tells the origin about the request.
#[derive(Debug)]
pub struct Forwarding<'a> {
    pub request_id: &'a http::HeaderValue,
    /// The client's valid traceparent, or the new one started here.
    pub traceparent: Option<&'a http::HeaderValue>,
    /// The connection's peer.
    pub peer: Option<IpAddr>,
    /// The client address under `[client_ip]` (the peer unless it is a trusted proxy).
    pub client: Option<IpAddr>,
    /// The peer is a trusted proxy: its forwarding headers were kept and are passed on.
    pub trusted: bool,
    /// The endpoint's `ip:port`, the `Host` of an HTTP/1.0 request that had none.
    pub endpoint: &'a str,
    /// The client spoke TLS to the gateway: `X-Forwarded-Proto: https`.
    pub client_tls: bool,
}

/// The most headers `forward` adds.
const FORWARD_HEADERS: usize = 7;

/// Set the gateway's headers on the upstream request. Each is inserted whole (every earlier line
/// replaced), after Pingora removed what `Connection` named, so exactly one of each reaches the
/// origin and a client cannot strip them.
pub fn forward(req: &mut RequestHeader, f: &Forwarding<'_>) -> pingora::Result<()> {
    // Room for every header below at once: one growth of each header map instead of several.
    req.reserve(FORWARD_HEADERS);
    req.insert_header("x-request-id", f.request_id.clone())?;
    if let Some(traceparent) = f.traceparent {
        req.insert_header("traceparent", traceparent.clone())?;
    }
    if let Some(peer) = f.peer {
        let joined = join_lines(req.headers.get_all(&header_values::X_FORWARDED_FOR), peer);
        req.insert_header("x-forwarded-for", joined.ok_or_else(invalid_value)?)?;
    }
    if !(f.trusted && req.headers.contains_key(&header_values::X_FORWARDED_PROTO)) {
        // What the client used to reach the gateway.
        let proto = if f.client_tls { "https" } else { "http" };
        req.insert_header("x-forwarded-proto", proto)?;
    }
    if !(f.trusted && req.headers.contains_key(&header_values::X_FORWARDED_HOST))
        && let Some(host) = req.headers.get(header::HOST).cloned()
    {
        req.insert_header("x-forwarded-host", host)?;
    }
    if let Some(client) = f.client
        && !(f.trusted && req.headers.contains_key(&header_values::X_REAL_IP))
    {
        let client = header_values::ip(client).ok_or_else(invalid_value)?;
        req.insert_header("x-real-ip", client)?;
    }
    if !req.headers.contains_key(header::HOST) && !f.endpoint.is_empty() {
        // HTTP/1.0 may leave Host out; it goes upstream as 1.1, which needs one. The route's
        // host may be a wildcard, so name the endpoint, as a client talking to it directly would.
        req.insert_header(header::HOST, f.endpoint)?;
    }
    Ok(())
}

/// The error `insert_header` gives a value that is not one (which an address never is).
fn invalid_value() -> Box<pingora::Error> {
    pingora::Error::explain(
        pingora::ErrorType::InvalidHTTPHeader,
        "invalid value while insert",
    )
}

/// Every `X-Forwarded-For` line, in order, joined by `, `, then `peer`: written into the
/// thread's value chunk, so no string is made for it (nor for the address).
fn join_lines(
    lines: http::header::GetAll<'_, http::HeaderValue>,
    peer: IpAddr,
) -> Option<http::HeaderValue> {
    // A byte that is not UTF-8 grows to three (U+FFFD); the chunk grows past `max_len` if so.
    let max_len =
        lines.iter().map(|line| line.len() + 2).sum::<usize>() + header_values::MAX_IP_LEN;
    header_values::make(max_len, |out| {
        for line in lines.iter() {
            // Bytes that are not UTF-8 become U+FFFD (the only case that allocates).
            let text = String::from_utf8_lossy(line.as_bytes());
            let text = text.trim();
            if !text.is_empty() {
                out.extend_from_slice(text.as_bytes());
                out.extend_from_slice(b", ");
            }
        }
        header_values::push_ip(out, peer);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(
        method: &str,
        target: &str,
        version: Version,
        headers: &[(&str, &str)],
    ) -> RequestHeader {
        let mut req = RequestHeader::build(method, target.as_bytes(), None).unwrap();
        req.set_version(version);
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    fn all(req: &RequestHeader, name: &str) -> Vec<String> {
        req.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn trace_and_hostless_http11_are_refused() {
        let trace = request("TRACE", "/", Version::HTTP_11, &[("host", "a")]);
        assert_eq!(refuse(&trace), Some(Refusal::Trace));
        let hostless = request("GET", "/", Version::HTTP_11, &[]);
        assert_eq!(refuse(&hostless), Some(Refusal::MissingHost));
        assert_eq!(refuse(&request("GET", "/", Version::HTTP_10, &[])), None);
        assert_eq!(
            refuse(&request("GET", "/", Version::HTTP_11, &[("host", "a")])),
            None
        );
        let absolute = request("GET", "http://a/x", Version::HTTP_11, &[]);
        assert_eq!(refuse(&absolute), None, "absolute-form names its host");
        assert_eq!(Refusal::Trace.status(), 405);
    }

    #[test]
    fn identical_content_lengths_collapse_to_one() {
        let mut req = request("POST", "/", Version::HTTP_11, &[("content-length", "5, 5")]);
        sanitize(&mut req, false, false);
        assert_eq!(all(&req, "content-length"), ["5"]);
        let mut req = request(
            "POST",
            "/",
            Version::HTTP_11,
            &[("content-length", "5"), ("content-length", "5")],
        );
        sanitize(&mut req, false, false);
        assert_eq!(all(&req, "content-length"), ["5"]);
    }

    #[test]
    fn underscores_and_untrusted_forwarding_headers_are_dropped() {
        let headers = [
            ("x_forwarded_for", "6.6.6.6"),
            ("x-ok", "1"),
            ("forwarded", "for=6.6.6.6"),
            ("x-real-ip", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil"),
            ("x-forwarded-for", "6.6.6.6"),
        ];
        let mut req = request("GET", "/", Version::HTTP_11, &headers);
        sanitize(&mut req, false, false);
        let mut names: Vec<&str> = req.headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["x-forwarded-for", "x-ok"]);

        let mut kept = request("GET", "/", Version::HTTP_11, &headers);
        sanitize(&mut kept, true, true);
        assert_eq!(kept.headers.len(), headers.len(), "allowed and trusted");
    }

    #[test]
    fn the_gateway_sets_one_of_each_header() {
        let mut req = request(
            "GET",
            "/",
            Version::HTTP_11,
            &[
                ("host", "api.example.com"),
                ("x-request-id", "a"),
                ("x-request-id", "b"),
                ("traceparent", "x"),
                ("traceparent", "y"),
                ("x-forwarded-for", "1.1.1.1"),
                ("x-forwarded-for", "2.2.2.2, 3.3.3.3"),
            ],
        );
        let id = http::HeaderValue::from_static("a");
        let tp = http::HeaderValue::from_static("00-1-2-01");
        forward(
            &mut req,
            &Forwarding {
                request_id: &id,
                traceparent: Some(&tp),
                peer: Some("10.0.0.1".parse().unwrap()),
                client: Some("10.0.0.1".parse().unwrap()),
                trusted: false,
                endpoint: "127.0.0.1:9001",
                client_tls: false,
            },
        )
        .unwrap();
        assert_eq!(all(&req, "x-request-id"), ["a"]);
        assert_eq!(all(&req, "traceparent"), ["00-1-2-01"]);
        assert_eq!(
            all(&req, "x-forwarded-for"),
            ["1.1.1.1, 2.2.2.2, 3.3.3.3, 10.0.0.1"]
        );
        assert_eq!(all(&req, "x-forwarded-proto"), ["http"]);
        assert_eq!(all(&req, "x-forwarded-host"), ["api.example.com"]);
        assert_eq!(all(&req, "x-real-ip"), ["10.0.0.1"]);
        assert_eq!(all(&req, "host"), ["api.example.com"]);
    }

    #[test]
    fn a_hostless_http10_request_names_the_endpoint() {
        let mut req = request("GET", "/", Version::HTTP_10, &[]);
        let id = http::HeaderValue::from_static("a");
        let f = Forwarding {
            request_id: &id,
            traceparent: None,
            peer: None,
            client: None,
            trusted: false,
            endpoint: "127.0.0.1:9001",
            client_tls: false,
        };
        forward(&mut req, &f).unwrap();
        assert_eq!(all(&req, "host"), ["127.0.0.1:9001"]);
        assert!(all(&req, "x-forwarded-host").is_empty());
    }

    #[test]
    fn x_forwarded_proto_says_what_the_client_used() {
        let id = http::HeaderValue::from_static("a");
        let proto = |client_tls: bool, trusted: bool, sent: Option<&str>| {
            let headers: Vec<(&str, &str)> = sent
                .map(|v| vec![("host", "a"), ("x-forwarded-proto", v)])
                .unwrap_or_else(|| vec![("host", "a")]);
            let mut req = request("GET", "/", Version::HTTP_11, &headers);
            let f = Forwarding {
                request_id: &id,
                traceparent: None,
                peer: None,
                client: None,
                trusted,
                endpoint: "127.0.0.1:9001",
                client_tls,
            };
            forward(&mut req, &f).unwrap();
            all(&req, "x-forwarded-proto")
        };
        assert_eq!(proto(true, false, None), ["https"]);
        assert_eq!(proto(false, false, None), ["http"]);
        assert_eq!(
            proto(false, false, Some("https")),
            ["http"],
            "untrusted: replaced"
        );
        assert_eq!(
            proto(true, false, Some("http")),
            ["https"],
            "untrusted: replaced"
        );
        assert_eq!(
            proto(false, true, Some("https")),
            ["https"],
            "a trusted proxy's is kept"
        );
    }

    #[test]
    fn a_trusted_proxy_keeps_its_forwarding_headers() {
        let mut req = request(
            "GET",
            "/",
            Version::HTTP_11,
            &[
                ("host", "internal"),
                ("x-forwarded-proto", "https"),
                ("x-forwarded-host", "public.example.com"),
                ("x-real-ip", "198.51.100.7"),
            ],
        );
        let id = http::HeaderValue::from_static("a");
        let f = Forwarding {
            request_id: &id,
            traceparent: None,
            peer: Some("10.0.0.1".parse().unwrap()),
            client: Some("198.51.100.7".parse().unwrap()),
            trusted: true,
            endpoint: "127.0.0.1:9001",
            client_tls: false,
        };
        forward(&mut req, &f).unwrap();
        assert_eq!(all(&req, "x-forwarded-proto"), ["https"]);
        assert_eq!(all(&req, "x-forwarded-host"), ["public.example.com"]);
        assert_eq!(all(&req, "x-real-ip"), ["198.51.100.7"]);
    }
}
