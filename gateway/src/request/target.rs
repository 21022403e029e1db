//! The request target as routing and the route's rules read it: the host (the URI's authority,
//! or `Host`), the normal form of the path when it differs from the one sent, whether the path
//! has an encoded slash, and the body length the request declares.

use std::borrow::Cow;

use pingora::http::RequestHeader;

use crate::request::path::{self, PathError};

/// The request's host: the URI authority (HTTP/2, absolute-form) or the `Host` header; "" when
/// it has neither.
pub fn host(req: &RequestHeader) -> &str {
    req.uri
        .host()
        .or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
        })
        .unwrap_or("")
}

/// The normal form of the request's path when it differs from the path as sent (`None` when it
/// is already normal, or the target has no path: `*`, CONNECT).
pub fn normalized_path(req: &RequestHeader) -> Result<Option<String>, PathError> {
    if !path::has_path(req.raw_path(), req.method == http::Method::CONNECT)? {
        return Ok(None);
    }
    Ok(match path::normalize(req.uri.path())? {
        Cow::Borrowed(_) => None,
        Cow::Owned(normalized) => Some(normalized),
    })
}

/// Whether `path` has an encoded slash (`%2F`, in either case).
pub fn has_encoded_slash(path: &str) -> bool {
    path.contains("%2F") || path.contains("%2f")
}

/// The body length the request declares: its `Content-Length` (the first value of a repeated
/// one, which the header rules have made identical), if it parses.
pub fn declared_length(req: &RequestHeader) -> Option<u64> {
    req.headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build(method, target.as_bytes(), None).unwrap();
        for (name, value) in headers {
            req.append_header(name.to_string(), *value).unwrap();
        }
        req
    }

    #[test]
    fn the_host_is_the_authority_then_the_host_header() {
        let mut absolute = request("GET", "/x", &[("host", "b.example")]);
        absolute.set_uri("http://a.example/x".parse().unwrap());
        assert_eq!(host(&absolute), "a.example");
        assert_eq!(
            host(&request("GET", "/x", &[("host", "b.example")])),
            "b.example"
        );
        assert_eq!(host(&request("GET", "/x", &[])), "");
    }

    #[test]
    fn only_a_path_that_changes_is_returned() {
        assert_eq!(normalized_path(&request("GET", "/a/b?q=1", &[])), Ok(None));
        let dotted = request("GET", "/a/./b/../c?q=1", &[]);
        assert_eq!(normalized_path(&dotted), Ok(Some("/a/c".to_string())));
        assert_eq!(normalized_path(&request("OPTIONS", "*", &[])), Ok(None));
        assert_eq!(
            normalized_path(&request("CONNECT", "a.example:443", &[])),
            Ok(None)
        );
        assert!(normalized_path(&request("GET", "/..", &[])).is_err());
    }

    #[test]
    fn encoded_slashes_in_either_case() {
        assert!(has_encoded_slash("/a%2Fb"));
        assert!(has_encoded_slash("/a%2fb"));
        assert!(!has_encoded_slash("/a/b%20c"));
    }

    #[test]
    fn the_declared_length_is_the_first_value_that_parses() {
        let length = |value| declared_length(&request("POST", "/", &[("content-length", value)]));
        assert_eq!(length("10"), Some(10));
        assert_eq!(length("10, 10"), Some(10));
        assert_eq!(length("ten"), None);
        assert_eq!(declared_length(&request("POST", "/", &[])), None);
    }
}
