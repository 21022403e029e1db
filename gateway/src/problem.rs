//! Responses the gateway makes itself, as RFC 9457 `application/problem+json` documents with a
//! short title, an accurate detail and the request id.

use bytes::Bytes;
use pingora::http::ResponseHeader;
use serde::Serialize;

/// Longest piece of client input echoed in a `detail`, so an error body stays small.
const MAX_ECHO: usize = 200;

/// One problem document.
#[derive(Debug, Serialize)]
pub struct Problem<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    pub request_id: &'a str,
}

impl<'a> Problem<'a> {
    pub fn new(status: u16, detail: String, request_id: &'a str) -> Self {
        Self {
            kind: "about:blank",
            title: title(status),
            status,
            detail,
            request_id,
        }
    }

    /// The response header and body; the caller adds `x-request-id`.
    pub fn into_response(self) -> pingora::Result<(ResponseHeader, Bytes)> {
        let body = serde_json::to_vec(&self).unwrap_or_default();
        let mut header = ResponseHeader::build(self.status, Some(4))?;
        header.insert_header("content-type", "application/problem+json")?;
        header.insert_header("content-length", body.len().to_string())?;
        header.insert_header("cache-control", "no-store")?;
        Ok((header, Bytes::from(body)))
    }
}

/// Client input cut to a length fit for an error message.
pub fn echo(input: &str) -> &str {
    if input.len() <= MAX_ECHO {
        return input;
    }
    let mut end = MAX_ECHO;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    &input[..end]
}

fn title(status: u16) -> &'static str {
    match status {
        308 => "Permanent Redirect",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_document_has_the_rfc_9457_members() {
        let (header, body) = Problem::new(404, "no route for \"x\"".into(), "abc")
            .into_response()
            .unwrap();
        assert_eq!(header.status.as_u16(), 404);
        assert_eq!(
            header.headers.get("content-type").unwrap(),
            "application/problem+json"
        );
        let doc: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(doc["type"], "about:blank");
        assert_eq!(doc["title"], "Not Found");
        assert_eq!(doc["status"], 404);
        assert_eq!(doc["detail"], "no route for \"x\"");
        assert_eq!(doc["request_id"], "abc");
    }

    #[test]
    fn long_input_is_cut_on_a_char_boundary() {
        let long = "é".repeat(300);
        let cut = echo(&long);
        assert!(cut.len() <= MAX_ECHO);
        assert!(long.starts_with(cut));
    }
}
