//! Splits a byte stream into NDJSON lines, holding at most `max` bytes of an unfinished line, so
//! a control plane (or anything impersonating one) cannot make the follower buffer without bound.

/// A line longer than the cap.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a stream line is longer than {max} bytes")]
pub struct LineTooLong {
    pub max: usize,
}

pub struct Lines {
    pending: Vec<u8>,
    max: usize,
}

impl Lines {
    pub fn new(max: usize) -> Lines {
        Lines {
            pending: Vec::new(),
            max,
        }
    }

    /// Adds `chunk`, returning every line it completed (without the newline; empty lines
    /// skipped).
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<Vec<u8>>, LineTooLong> {
        let mut done = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if self.pending.len() + end > self.max {
                return Err(LineTooLong { max: self.max });
            }
            self.pending.extend_from_slice(&rest[..end]);
            let line = std::mem::take(&mut self.pending);
            if !line.iter().all(u8::is_ascii_whitespace) {
                done.push(line);
            }
            rest = &rest[end + 1..];
        }
        if self.pending.len() + rest.len() > self.max {
            return Err(LineTooLong { max: self.max });
        }
        self.pending.extend_from_slice(rest);
        Ok(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_across_chunks() {
        let mut lines = Lines::new(100);
        assert!(lines.push(b"{\"a\"").unwrap().is_empty());
        let done = lines.push(b":1}\n\n{\"b\":2}\n{\"c\"").unwrap();
        assert_eq!(done, vec![b"{\"a\":1}".to_vec(), b"{\"b\":2}".to_vec()]);
        assert_eq!(lines.push(b":3}\n").unwrap(), vec![b"{\"c\":3}".to_vec()]);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut lines = Lines::new(8);
        assert!(lines.push(b"12345").unwrap().is_empty());
        assert_eq!(lines.push(b"6789"), Err(LineTooLong { max: 8 }));
        let mut lines = Lines::new(8);
        assert_eq!(lines.push(b"123456789\n"), Err(LineTooLong { max: 8 }));
        assert_eq!(Lines::new(8).push(b"12345678\n").unwrap().len(), 1);
    }
}
