//! Request identity: keep a client's `x-request-id` (if sane) or make one, and propagate W3C
//! `traceparent` (or start a trace when it is absent or malformed).

use rand::Rng;

/// Longest client-sent request id we keep; longer ones are replaced, not trusted.
const MAX_REQUEST_ID: usize = 128;

/// The client's request id when it is printable and short enough, else a fresh one.
pub fn request_id(from_client: Option<&[u8]>, rng: &mut impl Rng) -> String {
    match from_client {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id.iter().all(|b| b.is_ascii_graphic()) =>
        {
            // All bytes are ASCII graphic, so this is valid UTF-8.
            String::from_utf8_lossy(id).into_owned()
        }
        _ => format!("{:032x}", rng.random::<u128>()),
    }
}

/// The `traceparent` to send upstream: the client's when valid (version 00 format), else a new
/// sampled trace with a random trace id and parent id.
pub fn traceparent(from_client: Option<&[u8]>, rng: &mut impl Rng) -> Option<String> {
    match from_client {
        Some(value) if is_valid_traceparent(value) => None,
        _ => {
            let trace = rng.random::<u128>().max(1);
            let parent = rng.random::<u64>().max(1);
            Some(format!("00-{trace:032x}-{parent:016x}-01"))
        }
    }
}

/// `00-<32 hex, not all 0>-<16 hex, not all 0>-<2 hex>` (W3C Trace Context, level 1).
pub fn is_valid_traceparent(value: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(value) else {
        return false;
    };
    let mut parts = text.split('-');
    let (Some(version), Some(trace), Some(parent), Some(flags), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let lower_hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    version == "00"
        && lower_hex(trace, 32)
        && nonzero(trace)
        && lower_hex(parent, 16)
        && nonzero(parent)
        && lower_hex(flags, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_request_id_is_kept_when_sane() {
        let mut rng = rand::rng();
        assert_eq!(request_id(Some(b"abc-123"), &mut rng), "abc-123");
        let generated = request_id(Some(b"has space"), &mut rng);
        assert_eq!(generated.len(), 32);
        assert_eq!(request_id(Some(&[b'a'; 200]), &mut rng).len(), 32);
        assert_ne!(request_id(None, &mut rng), request_id(None, &mut rng));
    }

    #[test]
    fn valid_traceparent_passes_through_and_invalid_is_replaced() {
        let mut rng = rand::rng();
        let valid = b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(traceparent(Some(valid), &mut rng), None);
        let fresh = traceparent(Some(b"garbage"), &mut rng).unwrap();
        assert!(is_valid_traceparent(fresh.as_bytes()), "{fresh}");
        assert!(traceparent(None, &mut rng).is_some());
        assert!(!is_valid_traceparent(
            b"00-00000000000000000000000000000000-00f067aa0ba902b7-01"
        ));
        assert!(!is_valid_traceparent(
            b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
        ));
    }
}
