//! A lean HTTP/1.1 keep-alive client for the load generator's hot path: the request is
//! serialized once per target, written with one `write`, and the response is parsed with
//! `httparse` and its body read and dropped, without building header maps or crossing tasks.
//!
//! hyper's connection-level client costs a task, two channels and a header map per request; on
//! one core that held the generator to 0.8× of wrk. This client does what wrk does and no more:
//! one request in flight per connection, `content-length`, `chunked` and read-to-close bodies,
//! `1xx` interim responses skipped, `connection: close` honoured. Anything it cannot parse is a
//! protocol error and closes the connection.

use std::io;
use std::net::SocketAddr;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::group::{self, GroupId, Grouper};
use super::record::{FailureKind, Outcome};

/// Most headers a response may have.
const MAX_HEADERS: usize = 128;
/// Largest response head (status line and headers); more is a protocol error.
const MAX_HEAD: usize = 64 * 1024;
/// Read buffer size.
const READ_CHUNK: usize = 16 * 1024;

/// How the body of a response is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// What the head of a response says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    status: u16,
    len: usize,
    framing: Framing,
    close: bool,
    /// The response's `--group-by-header` group ([`group::NONE`] without one).
    group: GroupId,
}

/// Serializes a request once: `METHOD path HTTP/1.1`, the headers, `content-length` when there
/// is a body (or the method usually has one), the body.
pub fn serialize(
    method: &http::Method,
    path: &str,
    headers: &http::HeaderMap,
    body: &[u8],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + path.len() + body.len());
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let wants_length = !body.is_empty()
        || matches!(
            *method,
            http::Method::POST | http::Method::PUT | http::Method::PATCH
        );
    if wants_length {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

/// One keep-alive connection to one address, reopened when it breaks or the server closes it.
pub struct Http1Conn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: BytesMut,
    /// Whether a request the server closed a kept-alive connection on, unanswered, is sent
    /// again on a new one (only when every request of the load is idempotent).
    retry_unanswered: bool,
}

impl Http1Conn {
    pub fn new(addr: SocketAddr, retry_unanswered: bool) -> Self {
        Http1Conn {
            addr,
            stream: None,
            buf: BytesMut::with_capacity(READ_CHUNK),
            retry_unanswered,
        }
    }

    /// Opens the connection ahead of the first request (failures are left for that request).
    pub async fn warm(&mut self, timeout: std::time::Duration) {
        if let Ok(Ok(stream)) = tokio::time::timeout(timeout, connect(self.addr)).await {
            self.stream = Some(stream);
        }
    }

    /// Sends a serialized request and reads the whole response within `timeout`; with a
    /// `grouper`, the response is put in the group of its header's value.
    pub async fn send(
        &mut self,
        request: &[u8],
        head_only: bool,
        timeout: std::time::Duration,
        grouper: Option<&Grouper>,
    ) -> Outcome {
        let exchange = self.exchange(request, head_only, grouper);
        let outcome = match tokio::time::timeout(timeout, exchange).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(kind)) => Outcome::Failed(kind),
            Err(_) => Outcome::Failed(FailureKind::Timeout),
        };
        if matches!(outcome, Outcome::Failed(_)) {
            self.stream = None;
        }
        outcome
    }

    async fn exchange(
        &mut self,
        request: &[u8],
        head_only: bool,
        grouper: Option<&Grouper>,
    ) -> Result<Outcome, FailureKind> {
        if let Some(stream) = self.stream.take() {
            match self.exchange_on(stream, request, head_only, grouper).await {
                // A kept-alive connection the server closed before answering a byte (it closed
                // the idle connection as the request went out): the request is sent again on a
                // new connection, as browsers and HTTP libraries do for idempotent requests
                // (RFC 9112 §9.3.1). The load's requests are idempotent, or the retry is off.
                Err(FailureKind::Io) if self.buf.is_empty() && self.retry_unanswered => {}
                done => return done,
            }
        }
        let stream = connect(self.addr).await.map_err(|_| FailureKind::Connect)?;
        self.exchange_on(stream, request, head_only, grouper).await
    }

    async fn exchange_on(
        &mut self,
        mut stream: TcpStream,
        request: &[u8],
        head_only: bool,
        grouper: Option<&Grouper>,
    ) -> Result<Outcome, FailureKind> {
        self.buf.clear();
        stream
            .write_all(request)
            .await
            .map_err(|_| FailureKind::Io)?;
        let (outcome, reusable) =
            read_response(&mut stream, &mut self.buf, head_only, grouper).await?;
        if reusable {
            self.stream = Some(stream);
        }
        Ok(outcome)
    }
}

async fn connect(addr: SocketAddr) -> io::Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    // Best effort: without it latency is worse, not wrong.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Reads one response (after any 1xx); returns it and whether the connection can be reused.
async fn read_response(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    head_only: bool,
    grouper: Option<&Grouper>,
) -> Result<(Outcome, bool), FailureKind> {
    let mut wire = 0u64;
    let head = loop {
        let head = loop {
            if let Some(head) = parse_head(buf, head_only, grouper)? {
                break head;
            }
            if buf.len() >= MAX_HEAD {
                return Err(FailureKind::Protocol);
            }
            fill(stream, buf).await?;
        };
        wire += head.len as u64;
        buf.advance(head.len);
        // 101 would switch protocols: not something a load test asks for.
        if (100..200).contains(&head.status) && head.status != 101 {
            continue;
        }
        break head;
    };
    let body = match head.framing {
        Framing::None => 0,
        Framing::Length(n) => skip_exact(stream, buf, n).await?,
        Framing::Chunked => skip_chunked(stream, buf).await?,
        Framing::UntilClose => skip_to_close(stream, buf).await?,
    };
    let reusable = !head.close && head.framing != Framing::UntilClose && buf.is_empty();
    Ok((
        Outcome::Response {
            status: head.status,
            bytes: wire + body,
            group: head.group,
        },
        reusable,
    ))
}

/// Reads more into `buf`; the end of the stream here is a broken response.
async fn fill(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<usize, FailureKind> {
    buf.reserve(READ_CHUNK);
    match stream.read_buf(buf).await {
        Ok(0) => Err(FailureKind::Io),
        Ok(n) => Ok(n),
        Err(_) => Err(FailureKind::Io),
    }
}

/// Parses the response head at the start of `buf`, `None` when it is not complete yet.
fn parse_head(
    buf: &[u8],
    head_only: bool,
    grouper: Option<&Grouper>,
) -> Result<Option<Head>, FailureKind> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(FailureKind::Protocol),
    };
    let status = response.code.ok_or(FailureKind::Protocol)?;
    let mut close = response.version == Some(0);
    let (mut length, mut chunked) = (None, false);
    let mut group_value = None;
    for header in response.headers.iter() {
        if grouper.is_some_and(|g| g.is_header(header.name)) {
            // The first one, if a server sends it twice.
            group_value = group_value.or(Some(header.value));
        }
        if header.name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(header.value).map_err(|_| FailureKind::Protocol)?;
            let n: u64 = text.trim().parse().map_err(|_| FailureKind::Protocol)?;
            if length.is_some_and(|l| l != n) {
                return Err(FailureKind::Protocol);
            }
            length = Some(n);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = header
                .value
                .rsplit(|&b| b == b',')
                .next()
                .is_some_and(|last| last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if header.name.eq_ignore_ascii_case("connection") {
            let value = header.value;
            if value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
            {
                close = true;
            }
        }
    }
    let framing = if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
        Framing::None
    } else if chunked {
        Framing::Chunked
    } else if let Some(n) = length {
        if n == 0 {
            Framing::None
        } else {
            Framing::Length(n)
        }
    } else {
        Framing::UntilClose
    };
    // Interim (1xx) heads are skipped: only the final response's group counts.
    let group = match grouper {
        Some(grouper) if !(100..200).contains(&status) => grouper.id(group_value),
        _ => group::NONE,
    };
    Ok(Some(Head {
        status,
        len,
        framing,
        close,
        group,
    }))
}

/// Reads and drops exactly `n` body bytes; returns `n`.
async fn skip_exact(
    stream: &mut TcpStream,
    buf: &mut BytesMut,
    n: u64,
) -> Result<u64, FailureKind> {
    let mut left = n;
    loop {
        let take = (buf.len() as u64).min(left) as usize;
        buf.advance(take);
        left -= take as u64;
        if left == 0 {
            return Ok(n);
        }
        buf.clear();
        fill(stream, buf).await?;
    }
}

/// Reads and drops a chunked body (and its trailers); returns the bytes it took on the wire.
async fn skip_chunked(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<u64, FailureKind> {
    let mut wire = 0u64;
    loop {
        let (header_len, size) = loop {
            match httparse::parse_chunk_size(buf) {
                Ok(httparse::Status::Complete(found)) => break found,
                Ok(httparse::Status::Partial) => {
                    if buf.len() >= MAX_HEAD {
                        return Err(FailureKind::Protocol);
                    }
                    fill(stream, buf).await?;
                }
                Err(_) => return Err(FailureKind::Protocol),
            }
        };
        buf.advance(header_len);
        wire += header_len as u64;
        if size == 0 {
            // Trailers, then an empty line.
            loop {
                let line_end = loop {
                    if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                        break i;
                    }
                    if buf.len() >= MAX_HEAD {
                        return Err(FailureKind::Protocol);
                    }
                    fill(stream, buf).await?;
                };
                buf.advance(line_end + 2);
                wire += line_end as u64 + 2;
                if line_end == 0 {
                    return Ok(wire);
                }
            }
        }
        // The chunk and its CRLF.
        wire += skip_exact(stream, buf, size + 2).await?;
    }
}

/// Reads and drops everything until the server closes; returns the bytes read.
async fn skip_to_close(stream: &mut TcpStream, buf: &mut BytesMut) -> Result<u64, FailureKind> {
    let mut wire = buf.len() as u64;
    buf.clear();
    loop {
        buf.reserve(READ_CHUNK);
        match stream.read_buf(buf).await {
            Ok(0) => return Ok(wire),
            Ok(n) => {
                wire += n as u64;
                buf.clear();
            }
            Err(_) => return Err(FailureKind::Io),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    #[test]
    fn serializes_once() {
        let mut headers = http::HeaderMap::new();
        headers.insert("host", "h:1".parse().unwrap());
        let get = serialize(&http::Method::GET, "/a?b", &headers, b"");
        assert_eq!(get, b"GET /a?b HTTP/1.1\r\nhost: h:1\r\n\r\n");
        let post = serialize(&http::Method::POST, "/", &headers, b"xy");
        assert_eq!(
            post,
            b"POST / HTTP/1.1\r\nhost: h:1\r\ncontent-length: 2\r\n\r\nxy"
        );
    }

    #[test]
    fn parses_heads() {
        let head = parse_head(
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            false,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (head.status, head.framing, head.close),
            (200, Framing::Length(5), false)
        );
        assert_eq!(head.len, 38);
        let head = parse_head(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n",
            false,
            None,
        )
        .unwrap()
        .unwrap();
        assert_eq!((head.framing, head.close), (Framing::Chunked, true));
        let head = parse_head(b"HTTP/1.0 200 OK\r\n\r\n", false, None)
            .unwrap()
            .unwrap();
        assert_eq!((head.framing, head.close), (Framing::UntilClose, true));
        let head = parse_head(b"HTTP/1.1 204 No Content\r\n\r\n", false, None)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::None);
        let head = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n", true, None)
            .unwrap()
            .unwrap();
        assert_eq!(head.framing, Framing::None, "HEAD has no body");
        assert_eq!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-le", false, None).unwrap(),
            None
        );
        assert_eq!(
            parse_head(b"NOT HTTP\r\n\r\n", false, None),
            Err(FailureKind::Protocol)
        );
        assert_eq!(
            parse_head(
                b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
                false,
                None
            ),
            Err(FailureKind::Protocol)
        );
    }

    #[test]
    fn heads_are_grouped_by_the_header() {
        let grouper = Grouper::new(http::HeaderName::from_static("x-weir-origin-region"));
        let group = |head: &[u8]| {
            parse_head(head, false, Some(&grouper))
                .unwrap()
                .unwrap()
                .group
        };
        assert_eq!(
            group(b"HTTP/1.1 200 OK\r\nX-Weir-Origin-Region: us-east\r\n\r\n"),
            0
        );
        assert_eq!(
            group(b"HTTP/1.1 503 Busy\r\nx-weir-origin-region: eu-west\r\n\r\n"),
            1
        );
        assert_eq!(group(b"HTTP/1.1 200 OK\r\n\r\n"), group::MISSING);
        assert_eq!(
            group(b"HTTP/1.1 100 Continue\r\nx-weir-origin-region: ap\r\n\r\n"),
            group::NONE,
            "an interim head is not a response"
        );
        assert_eq!(grouper.values(), vec!["us-east", "eu-west"]);
        let ungrouped = parse_head(b"HTTP/1.1 200 OK\r\n\r\n", false, None);
        assert_eq!(ungrouped.unwrap().unwrap().group, group::NONE);
    }

    /// A server that answers each request (whatever it is) with the next canned answer, then
    /// closes when they run out.
    async fn canned(answers: Vec<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            for answer in answers {
                // One request per answer (the tests' requests fit in one read).
                if stream.read(&mut buf).await.unwrap_or(0) == 0 {
                    return;
                }
                // Write it in two pieces, so the client has to read across packets.
                let (a, b) = answer.split_at(answer.len() / 2);
                stream.write_all(a).await.unwrap();
                stream.flush().await.unwrap();
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                stream.write_all(b).await.unwrap();
            }
        });
        addr
    }

    const GET: &[u8] = b"GET / HTTP/1.1\r\nhost: t\r\n\r\n";
    const SECOND: std::time::Duration = std::time::Duration::from_secs(5);

    #[tokio::test]
    async fn keeps_alive_across_framings() {
        let addr = canned(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Busy\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nt: 1\r\n\r\n",
            b"HTTP/1.1 204 No Content\r\n\r\n",
        ])
        .await;
        let mut conn = Http1Conn::new(addr, true);
        assert_eq!(
            conn.send(GET, false, SECOND, None).await,
            Outcome::Response {
                status: 200,
                bytes: 43,
                group: group::NONE,
            }
        );
        match conn.send(GET, false, SECOND, None).await {
            Outcome::Response { status: 503, .. } => {}
            other => panic!("{other:?}"),
        }
        assert!(
            conn.stream.is_some(),
            "the chunked body was read to its end"
        );
        assert_eq!(
            conn.send(GET, false, SECOND, None).await,
            Outcome::Response {
                status: 204,
                bytes: 27,
                group: group::NONE,
            }
        );
    }

    #[tokio::test]
    async fn a_body_until_close_ends_the_connection() {
        let addr = canned(vec![b"HTTP/1.0 200 OK\r\n\r\nall of it"]).await;
        let mut conn = Http1Conn::new(addr, true);
        assert_eq!(
            conn.send(GET, false, SECOND, None).await,
            Outcome::Response {
                status: 200,
                bytes: 28,
                group: group::NONE,
            }
        );
        assert!(conn.stream.is_none());
    }

    #[tokio::test]
    async fn broken_and_garbled_responses_are_errors() {
        let addr = canned(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 50\r\n\r\nshort"]).await;
        let mut conn = Http1Conn::new(addr, true);
        assert_eq!(
            conn.send(GET, false, SECOND, None).await,
            Outcome::Failed(FailureKind::Io)
        );
        let addr = canned(vec![b"SMTP ready\r\n\r\n"]).await;
        let mut conn = Http1Conn::new(addr, true);
        assert_eq!(
            conn.send(GET, false, SECOND, None).await,
            Outcome::Failed(FailureKind::Protocol)
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let closed = listener.local_addr().unwrap();
        drop(listener);
        let mut conn = Http1Conn::new(closed, true);
        assert_eq!(
            conn.send(GET, false, SECOND, None).await,
            Outcome::Failed(FailureKind::Connect)
        );
    }

    /// A server that answers one request per connection and closes it when the next request
    /// comes, unanswered (a keep-alive connection closed as the request went out).
    async fn one_answer_per_connection() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    if stream.read(&mut buf).await.unwrap_or(0) == 0 {
                        return;
                    }
                    let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                    stream.write_all(answer).await.unwrap();
                    let _ = stream.read(&mut buf).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn a_request_a_kept_alive_connection_closed_on_unanswered_is_sent_again_if_allowed() {
        let addr = one_answer_per_connection().await;
        let mut conn = Http1Conn::new(addr, true);
        for _ in 0..3 {
            match conn.send(GET, false, SECOND, None).await {
                Outcome::Response { status: 200, .. } => {}
                other => panic!("{other:?}"),
            }
        }
        let mut conn = Http1Conn::new(addr, false);
        match conn.send(GET, false, SECOND, None).await {
            Outcome::Response { status: 200, .. } => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(
            conn.send(GET, false, SECOND, None).await,
            Outcome::Failed(FailureKind::Io)
        );
    }
}
