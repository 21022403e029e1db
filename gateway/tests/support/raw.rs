//! Raw HTTP/1 on both sides of the gateway, for what a well-behaved client library will not send
//! and a well-behaved origin will not answer: an origin that echoes the request head it got (or
//! answers a canned response), and a client that writes bytes as given.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the raw origin answers.
#[derive(Clone)]
pub enum Answer {
    /// `200` whose body is the request head exactly as received.
    Echo,
    /// These bytes, then the connection is closed.
    Canned(&'static [u8]),
    /// For a path starting `/big`: `200` with a body of this many bytes (written until the
    /// gateway stops reading); otherwise as `Echo`.
    Large(usize),
    /// Wait this long, then echo.
    SlowEcho(Duration),
}

/// An origin on a thread per connection; stops accepting when dropped.
pub struct RawOrigin {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl RawOrigin {
    pub fn start(answer: Answer) -> RawOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind raw origin");
        let addr = listener.local_addr().expect("raw origin address");
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let answer = answer.clone();
                std::thread::spawn(move || serve(stream, answer));
            }
        });
        RawOrigin { addr, stop }
    }

    /// The endpoint as the inside of a TOML array.
    pub fn endpoint_toml(&self) -> String {
        format!("\"{}\"", self.addr)
    }
}

impl Drop for RawOrigin {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(mut stream: TcpStream, answer: Answer) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    loop {
        let Some(head) = read_head(&mut stream) else {
            return;
        };
        // Drain a declared body so the next request on the connection parses.
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        if let Some(len) = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.split(',').next()?.trim().parse::<usize>().ok())
        {
            let mut body = vec![0; len];
            if stream.read_exact(&mut body).is_err() {
                return;
            }
        }
        let written = match &answer {
            Answer::Echo => echo(&mut stream, &head),
            Answer::SlowEcho(delay) => {
                std::thread::sleep(*delay);
                echo(&mut stream, &head)
            }
            Answer::Canned(bytes) => {
                let _ = stream.write_all(bytes);
                return;
            }
            Answer::Large(_) if !head.starts_with(b"GET /big") => echo(&mut stream, &head),
            Answer::Large(size) => {
                let header = format!("HTTP/1.1 200 OK\r\ncontent-length: {size}\r\n\r\n");
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = *size;
                let mut result = stream.write_all(header.as_bytes());
                while result.is_ok() && left > 0 {
                    let n = left.min(chunk.len());
                    result = stream.write_all(&chunk[..n]);
                    left -= n;
                }
                result
            }
        };
        if written.is_err() {
            return;
        }
    }
}

fn echo(stream: &mut TcpStream, head: &[u8]) -> std::io::Result<()> {
    let header = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\r\n",
        head.len()
    );
    stream.write_all(header.as_bytes())?;
    stream.write_all(head)
}

/// The request head up to and including the blank line; `None` at end of stream.
fn read_head(stream: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return None,
        }
    }
    Some(head)
}

/// An answer read off a raw connection.
#[derive(Debug)]
pub struct RawResp {
    pub status: u16,
    /// `(lower-case name, value)` in order.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl RawResp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Lines of the echoed request head whose name is `name` (lower-case), their values.
    pub fn echoed(&self, name: &str) -> Vec<String> {
        self.body
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    /// The request line the origin got (first line of the echo).
    pub fn echoed_request_line(&self) -> &str {
        self.body.lines().next().unwrap_or("")
    }
}

/// Write `request` (sent as is) to `to` and read the answer to the end of the connection, or
/// up to a `content-length` body. `None` when the connection closed without an answer.
pub fn send_raw(to: SocketAddr, request: &[u8]) -> Option<RawResp> {
    let mut stream = TcpStream::connect(to).expect("connect to gateway");
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    stream.write_all(request).expect("send request");
    read_response(&mut stream)
}

fn read_response(stream: &mut TcpStream) -> Option<RawResp> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..end]).into_owned();
            let mut lines = head.split("\r\n");
            let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
            let headers: Vec<(String, String)> = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                .collect();
            let length = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse::<usize>().ok());
            if let Some(length) = length
                && raw.len() >= end + 4 + length
            {
                let body = String::from_utf8_lossy(&raw[end + 4..end + 4 + length]).into_owned();
                return Some(RawResp {
                    status,
                    headers,
                    body,
                });
            }
            if length.is_none() && (status == 204 || status == 304 || status == 101) {
                return Some(RawResp {
                    status,
                    headers,
                    body: String::new(),
                });
            }
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(RawResp {
        status,
        headers,
        body: String::from_utf8_lossy(&raw[end + 4..]).into_owned(),
    })
}

/// Open a connection, send `request`, and never read: the client that holds a response.
pub fn send_and_never_read(to: SocketAddr, request: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(to).expect("connect to gateway");
    // A small receive window, so the gateway's writes block soon.
    stream.write_all(request).expect("send request");
    stream
}
