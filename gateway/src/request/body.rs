//! The request-body cap (`max_body_size`): a declared `Content-Length` over it is refused before
//! anything is sent upstream; a chunked body is counted as it streams and cut when it grows past.

/// The bytes of one request body seen so far against the route's cap.
#[derive(Debug, Clone, Copy)]
pub struct BodyCap {
    limit: u64,
    seen: u64,
}

/// The body is larger than the cap: 413.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    pub limit: u64,
}

impl TooLarge {
    pub fn detail(self) -> String {
        format!(
            "the request body is larger than this route's limit of {} bytes",
            self.limit
        )
    }
}

impl BodyCap {
    /// A cap of `limit` bytes; a declared `content_length` over it is refused at once.
    pub fn new(limit: u64, content_length: Option<u64>) -> Result<Self, TooLarge> {
        match content_length {
            Some(declared) if declared > limit => Err(TooLarge { limit }),
            _ => Ok(Self { limit, seen: 0 }),
        }
    }

    /// Count `bytes` more of the body.
    pub fn add(&mut self, bytes: usize) -> Result<(), TooLarge> {
        self.seen = self.seen.saturating_add(bytes as u64);
        if self.seen > self.limit {
            Err(TooLarge { limit: self.limit })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_declared_length_over_the_cap_is_refused_at_once() {
        assert_eq!(
            BodyCap::new(10, Some(11)).unwrap_err(),
            TooLarge { limit: 10 }
        );
        assert!(BodyCap::new(10, Some(10)).is_ok());
        assert!(BodyCap::new(0, Some(0)).is_ok());
    }

    #[test]
    fn a_streamed_body_is_cut_when_it_grows_past_the_cap() {
        let mut cap = BodyCap::new(10, None).unwrap();
        assert!(cap.add(6).is_ok());
        assert!(cap.add(4).is_ok());
        assert_eq!(cap.add(1), Err(TooLarge { limit: 10 }));
        assert!(TooLarge { limit: 10 }.detail().contains("10 bytes"));
    }
}
