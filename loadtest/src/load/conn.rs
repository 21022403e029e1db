//! HTTP/2 client connections with prior knowledge (many streams on one connection), on hyper's
//! connection-level client. HTTP/1.1 uses the leaner client in `h1`.
//!
//! A connection that fails is dropped and the next request opens a new one, so a server that
//! closes connections or a restart of the target costs requests, not the run.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http2;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use super::group::{self, Grouper};
use super::record::{FailureKind, Outcome};
use super::target::Target;

type Body = Full<Bytes>;

/// Opens a TCP connection with `TCP_NODELAY`, as a load generator must (Nagle would add up to
/// 40 ms to a small request).
async fn connect_tcp(addr: SocketAddr) -> Result<TcpStream, FailureKind> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|_| FailureKind::Connect)?;
    // Best effort: without it latency is worse, not wrong.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Builds the request for a target (with the full URI, from which hyper takes `:authority`).
fn build_request(target: &Target) -> Request<Body> {
    let mut request = Request::new(Full::new(target.body.clone()));
    *request.method_mut() = target.method.clone();
    *request.uri_mut() = target.uri.clone();
    *request.headers_mut() = target.headers.clone();
    // HTTP/2 carries the host as :authority; a `host` header as well is a protocol error for
    // strict servers.
    request.headers_mut().remove(http::header::HOST);
    *request.version_mut() = http::Version::HTTP_2;
    request
}

fn classify(err: &hyper::Error) -> FailureKind {
    if err.is_parse() || err.is_parse_status() {
        FailureKind::Protocol
    } else if err.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Io
    }
}

/// Reads the whole body, returning the bytes the response would take on the wire as HTTP/1.1
/// (status line, headers, body; chunk framing not counted), and the response's group.
async fn read_response(
    response: http::Response<hyper::body::Incoming>,
    grouper: Option<&Grouper>,
) -> Outcome {
    let status = response.status().as_u16();
    let group = grouper.map_or(group::NONE, |g| {
        g.id(response.headers().get(g.header()).map(|v| v.as_bytes()))
    });
    let mut bytes = 17 + 2; // "HTTP/1.1 200 OK\r\n" and the blank line
    for (name, value) in response.headers() {
        bytes += name.as_str().len() + value.len() + 4;
    }
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => {
                if let Some(data) = frame.data_ref() {
                    bytes += data.len();
                }
            }
            Err(err) => return Outcome::Failed(classify(&err)),
        }
    }
    Outcome::Response {
        status,
        bytes: bytes as u64,
        group,
    }
}

/// One HTTP/2 connection shared by several streams (each a virtual user), reopened by the first
/// user that finds it broken.
pub struct Http2Conn {
    addr: SocketAddr,
    sender: RefCell<Option<http2::SendRequest<Body>>>,
    /// Held while a new connection is being opened, so the users of a broken connection open
    /// one new connection between them, not one each.
    opening: tokio::sync::Mutex<()>,
}

impl Http2Conn {
    pub fn new(addr: SocketAddr) -> Self {
        Http2Conn {
            addr,
            sender: RefCell::new(None),
            opening: tokio::sync::Mutex::new(()),
        }
    }

    /// Opens the connection ahead of the first request (failures are left for that request).
    pub async fn warm(&self, timeout: Duration) {
        let _ = tokio::time::timeout(timeout, self.sender()).await;
    }

    /// Sends one request on a stream and reads the whole response within `timeout`.
    pub async fn send(
        &self,
        target: &Target,
        timeout: Duration,
        grouper: Option<&Grouper>,
    ) -> Outcome {
        match tokio::time::timeout(timeout, self.exchange(target, grouper)).await {
            Ok(outcome) => outcome,
            Err(_) => Outcome::Failed(FailureKind::Timeout),
        }
    }

    async fn exchange(&self, target: &Target, grouper: Option<&Grouper>) -> Outcome {
        let mut sender = match self.sender().await {
            Ok(sender) => sender,
            Err(kind) => return Outcome::Failed(kind),
        };
        let outcome = match sender.send_request(build_request(target)).await {
            Ok(response) => read_response(response, grouper).await,
            Err(err) => Outcome::Failed(classify(&err)),
        };
        if sender.is_closed() {
            self.sender.borrow_mut().take();
        }
        outcome
    }

    /// A handle on the live connection, opening one if there is none.
    async fn sender(&self) -> Result<http2::SendRequest<Body>, FailureKind> {
        if let Some(sender) = self.live() {
            return Ok(sender);
        }
        let _opening = self.opening.lock().await;
        // Another user may have opened it while this one waited.
        if let Some(sender) = self.live() {
            return Ok(sender);
        }
        let stream = connect_tcp(self.addr).await?;
        let (sender, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .map_err(|_| FailureKind::Connect)?;
        tokio::task::spawn_local(connection);
        *self.sender.borrow_mut() = Some(sender.clone());
        Ok(sender)
    }

    fn live(&self) -> Option<http2::SendRequest<Body>> {
        let mut slot = self.sender.borrow_mut();
        match slot.as_ref() {
            Some(sender) if !sender.is_closed() => Some(sender.clone()),
            Some(_) => {
                *slot = None;
                None
            }
            None => None,
        }
    }
}
