//! What the gateway corrects or refuses in an origin's response header: a `204` or `304` carries
//! no body, so its `Content-Length` is removed (RFC 9110 §8.6); a `101` the client did not ask
//! for is refused (502) rather than turning the connection into a tunnel.

use pingora::http::ResponseHeader;

/// Remove what a bodiless status must not carry.
pub fn strip_length_of_bodiless(response: &mut ResponseHeader) {
    if matches!(response.status.as_u16(), 204 | 304)
        && response.headers.contains_key(http::header::CONTENT_LENGTH)
    {
        response.remove_header(&http::header::CONTENT_LENGTH);
    }
}

/// Whether the response switches protocols although the request asked for no upgrade.
pub fn is_unsolicited_upgrade(response: &ResponseHeader, upgrade_requested: bool) -> bool {
    response.status.as_u16() == 101 && !upgrade_requested
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodiless_statuses_lose_their_content_length() {
        for (status, kept) in [(204, false), (304, false), (200, true)] {
            let mut resp = ResponseHeader::build(status, None).unwrap();
            resp.insert_header("content-length", "12").unwrap();
            strip_length_of_bodiless(&mut resp);
            assert_eq!(
                resp.headers.contains_key("content-length"),
                kept,
                "{status}"
            );
        }
    }

    #[test]
    fn only_an_unasked_101_is_refused() {
        let switching = ResponseHeader::build(101, None).unwrap();
        assert!(is_unsolicited_upgrade(&switching, false));
        assert!(!is_unsolicited_upgrade(&switching, true));
        let ok = ResponseHeader::build(200, None).unwrap();
        assert!(!is_unsolicited_upgrade(&ok, false));
    }
}
