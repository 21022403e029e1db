//! Header values the gateway makes per request (request id, traceparent, forwarding addresses),
//! written into a per-thread chunk of memory and cut from it: one allocation per few kilobytes of
//! values instead of one or two per value (a `HeaderValue` made from a `String` allocates, and its
//! first clone allocates again to share it). A chunk is freed when the last value cut from it is.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

use bytes::{BufMut, BytesMut};
use http::{HeaderName, HeaderValue};

/// The names the gateway looks up on every request, parsed once (a lookup by `&str` parses the
/// name each time). Inserts keep `&'static str` names, which Pingora's patched header map takes
/// without parsing or allocating.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub static TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
pub static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub static X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");
pub static FORWARDED: HeaderName = HeaderName::from_static("forwarded");

/// Bytes per chunk: about 40 requests' worth of values.
const CHUNK: usize = 4096;

thread_local! {
    static SPARE: RefCell<BytesMut> = RefCell::new(BytesMut::new());
}

/// A header value written by `fill` into this thread's chunk (a fresh chunk when fewer than
/// `max_len` bytes are left in it). `None` when what `fill` wrote is not a valid header value.
/// Writing more than `max_len` is correct but may allocate.
pub fn make(max_len: usize, fill: impl FnOnce(&mut BytesMut)) -> Option<HeaderValue> {
    SPARE.with(|spare| {
        let Ok(mut spare) = spare.try_borrow_mut() else {
            // Only a `fill` that itself made a header value could get here.
            let mut own = BytesMut::with_capacity(max_len);
            fill(&mut own);
            return HeaderValue::from_maybe_shared(own.freeze()).ok();
        };
        if spare.capacity() < max_len {
            *spare = BytesMut::with_capacity(CHUNK.max(max_len));
        }
        fill(&mut spare);
        // `split` leaves the rest of the chunk's capacity behind for the next value.
        HeaderValue::from_maybe_shared(spare.split().freeze()).ok()
    })
}

/// The low `digits` hex digits of `value`, lower-case and zero-padded. (Much cheaper than
/// `format!` on the request path.)
pub fn push_hex(out: &mut BytesMut, value: u128, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.put_u8(HEX[((value >> (i * 4)) & 0xf) as usize]);
    }
}

/// The longest text of an address (`ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255`).
pub const MAX_IP_LEN: usize = 45;

/// An address as text: IPv4 digit by digit (`Display` costs several times more), IPv6 by its
/// `Display`.
pub fn push_ip(out: &mut BytesMut, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => out.extend_from_slice(ipv4_text(v4, &mut [0; 15]).as_bytes()),
        IpAddr::V6(v6) => {
            let _ = write!(out, "{v6}");
        }
    }
}

/// An address as a header value.
pub fn ip(ip: IpAddr) -> Option<HeaderValue> {
    make(MAX_IP_LEN, |out| push_ip(out, ip))
}

/// An IPv4 address as text in `buf`, digit by digit.
pub fn ipv4_text(ip: Ipv4Addr, buf: &mut [u8; 15]) -> &str {
    let mut len = 0;
    for (i, n) in ip.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        let digits = [b'0' + n / 100, b'0' + n / 10 % 10, b'0' + n % 10];
        let skip = match n {
            0..=9 => 2,
            10..=99 => 1,
            _ => 0,
        };
        buf[len..len + 3 - skip].copy_from_slice(&digits[skip..]);
        len += 3 - skip;
    }
    // Digits and dots only.
    std::str::from_utf8(&buf[..len]).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_cut_from_one_chunk_keep_their_own_bytes() {
        let a = make(8, |out| out.extend_from_slice(b"first")).expect("valid");
        let b = make(8, |out| out.extend_from_slice(b"second")).expect("valid");
        let c = a.clone();
        drop(a);
        assert_eq!(
            (c.as_bytes(), b.as_bytes()),
            (&b"first"[..], &b"second"[..])
        );
    }

    #[test]
    fn a_value_longer_than_a_chunk_and_a_full_chunk_are_made_whole() {
        let long = "x".repeat(CHUNK * 2);
        let value = make(long.len(), |out| out.extend_from_slice(long.as_bytes())).expect("valid");
        assert_eq!(value.as_bytes(), long.as_bytes());
        let many: Vec<HeaderValue> = (0..CHUNK)
            .map(|i| make(4, |out| push_hex(out, i as u128, 4)).expect("valid"))
            .collect();
        for (i, value) in many.iter().enumerate() {
            assert_eq!(value.to_str().ok(), Some(format!("{i:04x}").as_str()));
        }
    }

    #[test]
    fn invalid_bytes_make_no_value_and_spoil_nothing_after() {
        assert!(make(4, |out| out.extend_from_slice(b"a\nb")).is_none());
        let next = make(4, |out| out.extend_from_slice(b"ok")).expect("valid");
        assert_eq!(next.as_bytes(), b"ok");
    }

    #[test]
    fn addresses_read_as_display_writes_them() {
        for text in [
            "0.0.0.0",
            "1.2.3.4",
            "10.99.100.255",
            "255.255.255.255",
            "::1",
            "2001:db8::8a2e:370:7334",
            "::ffff:1.2.3.4",
        ] {
            let addr: IpAddr = text.parse().expect("address");
            assert_eq!(ip(addr).expect("valid").to_str().ok(), Some(text));
        }
    }
}
