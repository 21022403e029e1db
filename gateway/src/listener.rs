//! The proxy listeners' connection layer, around Pingora's HTTP proxy app: counts each open
//! connection (the shutdown drain waits for them, TLS handshakes included), runs the TLS
//! handshake on an HTTPS listener (`tls/`, bounded by `tls.handshake_timeout`), and wraps an
//! HTTP/1 stream in the request-header guard (`header_guard.rs`) with the `[listen]` limits of
//! the config served when it opened; an HTTP/2 connection (ALPN `h2`, or the h2c preface with
//! `listen.h2c`) has its own limits (`[listen.http2]`, in the h2 server) and its frames counted
//! (`h2_watch.rs`). Also the readiness probe that marks the gateway listening once the listener
//! accepts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::{ALPN, Stream};
use pingora::server::ShutdownWatch;
use prometheus::IntCounter;

use crate::h2_watch::{H2Counters, H2Watch};
use crate::header_guard::{HeaderGuard, HeaderLimits, Rejections};
use crate::state::Gateway;
use crate::tls::{EdgeAcceptor, HandshakeOutcome};

/// The first bytes of every HTTP/2 connection (RFC 9113 §3.4).
const H2_PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub struct ProxyListener<A> {
    inner: Arc<A>,
    gateway: Arc<Gateway>,
    rejections: Rejections,
    /// The HTTPS listener's TLS side; `None` on the plain listener.
    tls: Option<Arc<EdgeAcceptor>>,
    /// `listen.h2c`: look for the HTTP/2 preface on the plain listener.
    h2c: bool,
    /// `weir_http_connections_total` for this listener's transport: HTTP/1.1, HTTP/2.
    connections: [IntCounter; 2],
    /// `weir_tls_handshakes_total`, in `HandshakeOutcome::ALL` order.
    handshakes: [IntCounter; 4],
    /// The HTTP/2 stream, reset and GOAWAY counters of this listener's transport.
    h2: Arc<H2Counters>,
    /// Given to Pingora's app in place of its shutdown watch: it turns true when the drain
    /// starts (`Gateway::closing`), before Pingora's own, so keep-alive ends gracefully first.
    closing: ShutdownWatch,
}

impl<A> ProxyListener<A> {
    /// The plain listener (`listen.http`); with `h2c`, HTTP/2 by prior knowledge too.
    pub fn new(inner: A, gateway: Arc<Gateway>, h2c: bool) -> Self {
        Self::build(inner, gateway, None, h2c)
    }

    /// An HTTPS listener (`listen.https`).
    pub fn https(inner: A, gateway: Arc<Gateway>, tls: Arc<EdgeAcceptor>) -> Self {
        Self::build(inner, gateway, Some(tls), false)
    }

    fn build(inner: A, gateway: Arc<Gateway>, tls: Option<Arc<EdgeAcceptor>>, h2c: bool) -> Self {
        let metrics = &gateway.metrics;
        let rejected = &metrics.header_rejections;
        let rejections = Rejections {
            timeout: rejected.with_label_values(&["timeout"]),
            too_large: rejected.with_label_values(&["too_large"]),
        };
        let transport = if tls.is_some() { "tls" } else { "plain" };
        let connections =
            ["1.1", "2"].map(|v| metrics.http_connections.with_label_values(&[v, transport]));
        let handshakes = HandshakeOutcome::ALL
            .map(|outcome| metrics.tls_handshakes.with_label_values(&[outcome.label()]));
        let h2 = Arc::new(H2Counters::new(metrics, transport));
        let closing = gateway.closing();
        Self {
            inner: Arc::new(inner),
            gateway,
            rejections,
            tls,
            h2c,
            connections,
            handshakes,
            h2,
            closing,
        }
    }

    fn handshake_counter(&self, outcome: HandshakeOutcome) -> &IntCounter {
        let index = HandshakeOutcome::ALL
            .iter()
            .position(|o| *o == outcome)
            .unwrap_or(0);
        &self.handshakes[index]
    }
}

#[async_trait]
impl<A> ServerApp for ProxyListener<A>
where
    A: ServerApp + Send + Sync + 'static,
{
    async fn process_new(
        self: &Arc<Self>,
        stream: Stream,
        _pingora_shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let shutdown = &self.closing;
        let _open = self.gateway.open_connection();
        let (limits, handshake_timeout) = {
            let snapshot = self.gateway.snapshot();
            let node = &snapshot.config.node;
            let limits = HeaderLimits {
                read_timeout: node.listen.header_read_timeout,
                max_bytes: node.listen.max_header_bytes as usize,
            };
            let handshake_timeout = node.tls.as_ref().map(|tls| tls.handshake_timeout);
            (limits, handshake_timeout)
        };
        let mut stream = stream;
        let http2 = match &self.tls {
            Some(tls) => {
                let deadline = handshake_timeout
                    .unwrap_or(weir_config::TlsSettings::DEFAULT_HANDSHAKE_TIMEOUT);
                match tls.handshake(stream, deadline).await {
                    Ok(done) => stream = done,
                    Err((outcome, message)) => {
                        self.handshake_counter(outcome).inc();
                        tracing::debug!(result = outcome.label(), error = %message, "TLS handshake failed");
                        return None;
                    }
                }
                self.handshake_counter(HandshakeOutcome::Ok).inc();
                matches!(stream.selected_alpn_proto(), Some(ALPN::H2))
            }
            None if self.h2c => {
                // Pingora peeks the same way (and again, from the rewound bytes); bounded here
                // by the header deadline, which a silent client would otherwise escape.
                let mut preface = [0u8; H2_PREFACE.len()];
                match tokio::time::timeout(limits.read_timeout, stream.try_peek(&mut preface)).await
                {
                    Ok(Ok(true)) => preface == *H2_PREFACE,
                    Ok(Ok(false)) => false,
                    Ok(Err(_)) | Err(_) => return None,
                }
            }
            None => false,
        };
        self.connections[usize::from(http2)].inc();
        let guarded: Stream = if http2 {
            Box::new(H2Watch::new(stream, Arc::clone(&self.h2)))
        } else {
            Box::new(HeaderGuard::new(stream, limits, self.rejections.clone()))
        };
        // Pingora's HTTP app serves every request of the connection before it returns; should
        // it hand the connection back, keep serving it here, so it is wrapped and counted once.
        let mut next = self.inner.process_new(guarded, shutdown).await;
        while let Some(stream) = next {
            next = self.inner.process_new(stream, shutdown).await;
        }
        None
    }

    /// Pingora closes idle keep-alive connections here when the listener stops.
    async fn cleanup(&self) {
        self.inner.cleanup().await;
    }
}

/// Marks the gateway as listening once the proxy accepts connections at `addr` (readiness also
/// needs a config; see `Gateway::is_ready`).
pub async fn mark_ready_when_listening(
    gateway: &Gateway,
    addr: SocketAddr,
    mut shutdown: ShutdownWatch,
) {
    let target = reachable(addr);
    loop {
        if tokio::net::TcpStream::connect(target).await.is_ok() {
            gateway.set_listening();
            tracing::info!(%addr, "proxy listening");
            return;
        }
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

/// A wildcard listen address is probed through loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => (Ipv4Addr::LOCALHOST, addr.port()).into(),
        IpAddr::V6(ip) if ip.is_unspecified() => (Ipv6Addr::LOCALHOST, addr.port()).into(),
        _ => addr,
    }
}
