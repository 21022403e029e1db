//! The proxy listener's connection layer, around Pingora's HTTP proxy app: counts each open
//! connection (the shutdown drain waits for them) and wraps its stream in the request-header
//! guard (`header_guard.rs`) with the `[listen]` limits of the config served when it opened.
//! Also the readiness probe that marks the gateway listening once the listener accepts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::ServerApp;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;

use crate::header_guard::{HeaderGuard, HeaderLimits, Rejections};
use crate::state::Gateway;

pub struct ProxyListener<A> {
    inner: Arc<A>,
    gateway: Arc<Gateway>,
    rejections: Rejections,
}

impl<A> ProxyListener<A> {
    pub fn new(inner: A, gateway: Arc<Gateway>) -> Self {
        let rejected = &gateway.metrics.header_rejections;
        let rejections = Rejections {
            timeout: rejected.with_label_values(&["timeout"]),
            too_large: rejected.with_label_values(&["too_large"]),
        };
        Self {
            inner: Arc::new(inner),
            gateway,
            rejections,
        }
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
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let _open = self.gateway.open_connection();
        let listen = &self.gateway.snapshot().config.node.listen;
        let limits = HeaderLimits {
            read_timeout: listen.header_read_timeout,
            max_bytes: listen.max_header_bytes as usize,
        };
        let guarded: Stream = Box::new(HeaderGuard::new(stream, limits, self.rejections.clone()));
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
