//! Request identity: keep a client's `x-request-id` (if sane) or make one, and propagate W3C
//! `traceparent` (or start a trace when it is absent or malformed).

use http::HeaderValue;
use rand::Rng;

use crate::header_values::{self, push_hex};

/// Longest client-sent request id we keep; longer ones are replaced, not trusted.
const MAX_REQUEST_ID: usize = 128;

/// A request's id and whether the client supplied it (then it is already in the request).
#[derive(Debug, Clone)]
pub struct RequestId {
    pub value: HeaderValue,
    pub from_client: bool,
}

impl RequestId {
    pub fn as_str(&self) -> &str {
        // Both sources are printable ASCII, which `to_str` accepts.
        self.value.to_str().unwrap_or_default()
    }
}

/// The client's request id when it is printable and short enough, else a fresh one.
pub fn request_id(from_client: Option<&HeaderValue>, rng: &mut impl Rng) -> RequestId {
    match from_client {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id.as_bytes().iter().all(|b| b.is_ascii_graphic()) =>
        {
            RequestId {
                value: id.clone(),
                from_client: true,
            }
        }
        _ => {
            let id = rng.random::<u128>();
            RequestId {
                value: header_value(32, |out| push_hex(out, id, 32)),
                from_client: false,
            }
        }
    }
}

/// The `traceparent` to send upstream: `None` when the client's is valid (version 00 format) and
/// passes through as it is, else a new sampled trace with random trace and parent ids.
pub fn traceparent(from_client: Option<&[u8]>, rng: &mut impl Rng) -> Option<HeaderValue> {
    match from_client {
        Some(value) if is_valid_traceparent(value) => None,
        _ => {
            let (trace, parent) = (rng.random::<u128>().max(1), rng.random::<u64>().max(1));
            Some(header_value(55, |out| {
                out.extend_from_slice(b"00-");
                push_hex(out, trace, 32);
                out.extend_from_slice(b"-");
                push_hex(out, u128::from(parent), 16);
                out.extend_from_slice(b"-01");
            }))
        }
    }
}

/// The value of a header sent exactly once; `None` when it is absent or repeated (W3C Trace
/// Context: several `traceparent` lines are invalid, so a new trace starts).
pub fn only<'a>(values: http::header::GetAll<'a, HeaderValue>) -> Option<&'a [u8]> {
    let mut lines = values.iter();
    match (lines.next(), lines.next()) {
        (Some(value), None) => Some(value.as_bytes()),
        _ => None,
    }
}

/// A value of hex digits and dashes, written into the thread's value chunk (no allocation of its
/// own, and clones share it).
fn header_value(len: usize, fill: impl FnOnce(&mut bytes::BytesMut)) -> HeaderValue {
    // Hex digits and dashes are always a valid header value.
    header_values::make(len, fill).unwrap_or_else(|| HeaderValue::from_static("invalid"))
}

/// The trace id of a valid `traceparent` (the 32 hex digits after the version).
pub fn trace_id(traceparent: &[u8]) -> Option<&str> {
    if !is_valid_traceparent(traceparent) {
        return None;
    }
    std::str::from_utf8(traceparent.get(3..35)?).ok()
}

/// `00-<32 hex, not all 0>-<16 hex, not all 0>-<2 hex>` (W3C Trace Context, level 1), hex in
/// lower case. Checked byte by byte at fixed positions (the access log checks it per request).
pub fn is_valid_traceparent(value: &[u8]) -> bool {
    let lower_hex = |bytes: &[u8]| {
        bytes
            .iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
    };
    let nonzero = |bytes: &[u8]| bytes.iter().any(|&b| b != b'0');
    let [b'0', b'0', b'-', rest @ ..] = value else {
        return false;
    };
    let (Some((trace, rest)), true) = (rest.split_at_checked(32), rest.len() == 52) else {
        return false;
    };
    let (parent, flags) = (&rest[1..17], &rest[18..]);
    rest[0] == b'-'
        && rest[17] == b'-'
        && lower_hex(trace)
        && nonzero(trace)
        && lower_hex(parent)
        && nonzero(parent)
        && lower_hex(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_id_is_kept_when_sane() {
        let mut rng = rand::rng();
        let kept = request_id(Some(&HeaderValue::from_static("abc-123")), &mut rng);
        assert_eq!((kept.as_str(), kept.from_client), ("abc-123", true));
        let replaced = request_id(Some(&HeaderValue::from_static("has space")), &mut rng);
        assert_eq!((replaced.as_str().len(), replaced.from_client), (32, false));
        let long = HeaderValue::from_str(&"a".repeat(200)).unwrap();
        assert_eq!(request_id(Some(&long), &mut rng).as_str().len(), 32);
        let (a, b) = (request_id(None, &mut rng), request_id(None, &mut rng));
        assert_ne!(a.as_str(), b.as_str());
        assert!(a.as_str().bytes().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_repeated_header_counts_as_absent() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(only(headers.get_all("traceparent")), None);
        headers.append("traceparent", HeaderValue::from_static("a"));
        assert_eq!(only(headers.get_all("traceparent")), Some(&b"a"[..]));
        headers.append("traceparent", HeaderValue::from_static("b"));
        assert_eq!(only(headers.get_all("traceparent")), None);
    }

    #[test]
    fn hex_is_zero_padded_lower_case() {
        let mut out = bytes::BytesMut::new();
        push_hex(&mut out, 0xab, 4);
        assert_eq!(&out[..], b"00ab");
    }

    #[test]
    fn valid_traceparent_passes_through_and_invalid_is_replaced() {
        let mut rng = rand::rng();
        let valid = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent(Some(valid), &mut rng), None);
        let fresh = traceparent(Some(b"garbage"), &mut rng).unwrap();
        assert!(is_valid_traceparent(fresh.as_bytes()), "{fresh:?}");
        assert!(traceparent(None, &mut rng).is_some());
        assert_eq!(trace_id(valid), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
        assert_eq!(trace_id(b"garbage"), None);
        assert!(!is_valid_traceparent(
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
        ));
        for invalid in [
            &b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"[..],
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            b"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            b"",
        ] {
            assert!(!is_valid_traceparent(invalid), "{invalid:?}");
        }
        assert!(is_valid_traceparent(
            b"00-00000000000000000000000000000001-0000000000000001-ff"
        ));
    }
}
