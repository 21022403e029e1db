//! A deadline and a byte cap on reading each request header of a downstream HTTP/1 connection.
//! Pingora 0.9 only times each read (60 s, reset by every byte) and caps headers at 1 MiB, so a
//! client sending one byte every 30 s would hold its connection forever; this wrapper around the
//! connection's stream fails the read instead (answering 408 or 431 first when part of a header
//! came in) once `listen.header_read_timeout` has passed or `listen.max_header_bytes` are read.
//!
//! The deadline runs from the connection's start for its first request, and from the first byte
//! of each later request on a kept-alive connection (Pingora's keep-alive timeout covers the idle
//! time between requests). A header ends at the first empty line; a response written after it
//! (a final status, not a `1xx`) starts waiting for the next request. The guard cannot tell the
//! rest of a request body that Pingora drains after an early response (a 429 to a POST) from the
//! next header, so such a drain is bounded by the same limits (the connection is then closed
//! rather than kept alive), and later requests are closed without the 408/431 answer.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pingora::protocols::Stream;
use pingora::protocols::l4::socket::SocketAddr as PingoraAddr;
use prometheus::IntCounter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// What the guard enforces on one connection.
#[derive(Debug, Clone, Copy)]
pub struct HeaderLimits {
    pub read_timeout: Duration,
    pub max_bytes: usize,
}

/// Counters of the connections the guard cut, by reason.
#[derive(Clone)]
pub struct Rejections {
    pub timeout: IntCounter,
    pub too_large: IntCounter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Reading a request header: `read` bytes so far, and where the scan for its end stands.
    Header { read: usize, scan: Scan },
    /// The header is read; body and response follow.
    Message,
    /// The guard failed the connection.
    Failed,
}

pub struct HeaderGuard {
    inner: Stream,
    limits: HeaderLimits,
    rejections: Rejections,
    phase: Phase,
    /// The deadline of the header being read, when `armed`; not armed while waiting for its
    /// first byte. One timer per connection, reset for each request rather than made anew
    /// (which allocated per request). Disarmed, it may still fire once: a spurious wake-up.
    deadline: Pin<Box<Sleep>>,
    armed: bool,
    /// A response was written on this connection already.
    responded: bool,
}

impl HeaderGuard {
    pub fn new(inner: Stream, limits: HeaderLimits, rejections: Rejections) -> Self {
        Self {
            inner,
            limits,
            rejections,
            phase: Phase::Header {
                read: 0,
                scan: Scan::default(),
            },
            // The first request's deadline runs from the connection's start.
            deadline: Box::pin(tokio::time::sleep(limits.read_timeout)),
            armed: true,
            responded: false,
        }
    }

    fn peer(&self) -> Option<PingoraAddr> {
        self.inner
            .get_socket_digest()
            .and_then(|d| d.peer_addr().cloned())
    }

    /// Fail the connection: count, log, answer `status` if part of a header came in.
    fn fail(&mut self, cx: &mut Context<'_>, reason: &'static str, read: usize) -> io::Error {
        self.phase = Phase::Failed;
        self.armed = false;
        let (counter, answer, kind) = match reason {
            "timeout" => (
                &self.rejections.timeout,
                &b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"[..],
                io::ErrorKind::TimedOut,
            ),
            _ => (
                &self.rejections.too_large,
                &b"HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"[..],
                io::ErrorKind::InvalidData,
            ),
        };
        counter.inc();
        tracing::debug!(
            peer = ?self.peer(), reason, header_bytes = read,
            timeout_ms = self.limits.read_timeout.as_millis() as u64,
            max_bytes = self.limits.max_bytes, "request header refused; closing the connection"
        );
        // Only on a connection's first request: after a response, what is read may be the rest of
        // a request body Pingora drains for keep-alive, and an answer would follow a response.
        if read > 0 && !self.responded {
            // Best effort: a short answer fits an idle socket's buffer; if not, just close.
            let _ = Pin::new(&mut self.inner).poll_write(cx, answer);
        }
        io::Error::new(kind, format!("request header {reason}"))
    }
}

/// The search for a header's end across reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Scan {
    /// The last three bytes seen.
    tail: [u8; 3],
    /// A byte other than CR or LF was seen: empty lines before the request line (which
    /// RFC 9112 lets a server ignore) do not end a header.
    content: bool,
}

impl Scan {
    /// Feeds `bytes`; the index just past the first empty line after some content (`\r\n\r\n`
    /// or a bare `\n\n`), if it is in them.
    fn feed(&mut self, bytes: &[u8]) -> Option<usize> {
        for (i, &b) in bytes.iter().enumerate() {
            let last = self.tail;
            let ends = b == b'\n'
                && self.content
                && (last[2] == b'\n' || (last[2] == b'\r' && last[1] == b'\n'));
            self.tail = [last[1], last[2], b];
            self.content |= b != b'\r' && b != b'\n';
            if ends {
                return Some(i + 1);
            }
        }
        None
    }
}

/// Whether `bytes` starts a final response (`HTTP/1.x NNN` with NNN not 1xx).
fn starts_final_response(bytes: &[u8]) -> bool {
    bytes.len() >= 10 && bytes.starts_with(b"HTTP/1.") && bytes[9] != b'1'
}

impl AsyncRead for HeaderGuard {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let (read, mut scan) = match this.phase {
            Phase::Message => return Pin::new(&mut this.inner).poll_read(cx, buf),
            Phase::Failed => {
                return Poll::Ready(Err(io::Error::other("request header refused")));
            }
            Phase::Header { read, scan } => (read, scan),
        };
        if this.armed && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(this.fail(cx, "timeout", read)));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        let new = &buf.filled()[before..];
        if !matches!(polled, Poll::Ready(Ok(()))) || new.is_empty() {
            return polled;
        }
        if !this.armed {
            // The first byte of a request on a kept-alive connection starts its deadline.
            let at = Instant::now() + this.limits.read_timeout;
            this.deadline.as_mut().reset(at);
            this.armed = true;
        }
        match scan.feed(new) {
            Some(end) if read + end <= this.limits.max_bytes => {
                this.phase = Phase::Message;
                this.armed = false;
                Poll::Ready(Ok(()))
            }
            Some(_) => Poll::Ready(Err(this.fail(cx, "too_large", read + new.len()))),
            None if read + new.len() > this.limits.max_bytes => {
                Poll::Ready(Err(this.fail(cx, "too_large", read + new.len())))
            }
            None => {
                this.phase = Phase::Header {
                    read: read + new.len(),
                    scan,
                };
                Poll::Ready(Ok(()))
            }
        }
    }
}

impl HeaderGuard {
    /// A final response is being written: the next bytes read start the next request's header.
    fn on_write(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Message && starts_final_response(bytes) {
            self.responded = true;
            self.phase = Phase::Header {
                read: 0,
                scan: Scan::default(),
            };
            self.armed = false;
        }
    }
}

impl AsyncWrite for HeaderGuard {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            this.on_write(buf);
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0)
            && let Some(first) = bufs.iter().find(|b| !b.is_empty())
        {
            this.on_write(first);
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

crate::stream_wrap::delegate_stream_facts!(HeaderGuard);

impl fmt::Debug for HeaderGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HeaderGuard")
            .field("inner", &self.inner)
            .field("phase", &self.phase)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end_of(chunks: &[&[u8]]) -> Option<(usize, usize)> {
        let mut scan = Scan::default();
        chunks
            .iter()
            .enumerate()
            .find_map(|(n, chunk)| scan.feed(chunk).map(|end| (n, end)))
    }

    #[test]
    fn the_header_ends_at_the_first_empty_line_across_reads() {
        assert_eq!(
            end_of(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r\nbody"]),
            Some((0, 27))
        );
        assert_eq!(end_of(&[b"GET / HTTP/1.1\r\nHost: x\r\n"]), None);
        // Split inside the terminator.
        assert_eq!(
            end_of(&[b"GET / HTTP/1.1\r\nHost: x\r\n\r", b"\nrest"]),
            Some((1, 1))
        );
        assert_eq!(
            end_of(&[b"GET / HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"]),
            Some((2, 2))
        );
        // Bare LF line ends, as httparse accepts.
        assert_eq!(end_of(&[b"GET / HTTP/1.1\nHost: x\n\n"]), Some((0, 24)));
        // One byte at a time.
        let text = b"GET / HTTP/1.1\r\nA: b\r\n\r\n";
        let bytes: Vec<&[u8]> = text.iter().map(std::slice::from_ref).collect();
        assert_eq!(end_of(&bytes), Some((text.len() - 1, 1)));
    }

    #[test]
    fn empty_lines_before_the_request_line_do_not_end_the_header() {
        assert_eq!(end_of(&[b"\r\n\r\n\r\n", b"GET / HTTP/1.1\r\n"]), None);
        assert_eq!(end_of(&[b"\n\n", b"GET / HTTP/1.1\n\n"]), Some((1, 16)));
    }

    #[test]
    fn only_a_final_response_starts_the_next_header() {
        assert!(starts_final_response(b"HTTP/1.1 200 OK\r\n"));
        assert!(starts_final_response(b"HTTP/1.1 408 Request Timeout\r\n"));
        assert!(!starts_final_response(b"HTTP/1.1 100 Continue\r\n"));
        assert!(!starts_final_response(b"{\"json\": true}"));
    }
}
