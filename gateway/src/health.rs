//! Active health checks: a background service that probes each endpoint of every upstream with a
//! `health` section (HTTP GET, 2xx within the timeout is a pass) on its interval, and folds the
//! results into endpoint state. It also keeps the ejection gauges current.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::endpoint::{EndpointKey, EndpointState, HealthChange};
use crate::state::Gateway;
use crate::upstream_tls::PoolTls;

/// How often the scheduler looks for due checks; bounds how late a check can start.
const TICK: Duration = Duration::from_millis(50);
/// The longest interval between checks of one endpoint (validation's bound).
const MAX_INTERVAL: Duration = weir_config::Upstream::MAX_HEALTH_INTERVAL;
/// The most of a health response we read: the status line is all we need.
const MAX_STATUS_LINE: usize = 1024;

pub struct HealthChecker {
    pub gateway: Arc<Gateway>,
}

#[async_trait]
impl BackgroundService for HealthChecker {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut next_due: HashMap<EndpointKey, Instant> = HashMap::new();
        let mut ticks = tokio::time::interval(TICK);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = ticks.tick() => self.tick(&mut next_due, Instant::now()),
            }
        }
    }
}

impl HealthChecker {
    fn tick(&self, next_due: &mut HashMap<EndpointKey, Instant>, now: Instant) {
        let snapshot = self.gateway.snapshot();
        let metrics = &self.gateway.metrics;
        let mut seen = 0usize;
        for upstream in snapshot.upstreams.values() {
            for pool in &upstream.pools {
                for endpoint in &pool.endpoints {
                    metrics
                        .endpoint_ejected
                        .with_label_values(&[
                            &*upstream.name,
                            &*pool.region,
                            endpoint.label.as_str(),
                        ])
                        .set(i64::from(endpoint.is_ejected(now)));
                    let Some(check) = &upstream.health else {
                        continue;
                    };
                    seen += 1;
                    let due = next_due.entry(endpoint.key.clone()).or_insert(now);
                    if *due > now {
                        continue;
                    }
                    // Validation bounds the interval; never panic on the clock regardless.
                    *due = now
                        .checked_add(check.interval)
                        .unwrap_or(now + MAX_INTERVAL);
                    let probe = Probe {
                        gateway: Arc::clone(&self.gateway),
                        endpoint: Arc::clone(endpoint),
                        tls: pool.tls.clone(),
                        server_name: pool.server_name(endpoint.key.addr).cloned(),
                        path: check.path.clone(),
                        timeout: check.timeout,
                        healthy_threshold: check.healthy_threshold,
                        unhealthy_threshold: check.unhealthy_threshold,
                    };
                    tokio::spawn(probe.run());
                }
            }
        }
        if next_due.len() > seen {
            next_due.retain(|key, _| snapshot.names_endpoint(key));
        }
    }
}

struct Probe {
    gateway: Arc<Gateway>,
    endpoint: Arc<EndpointState>,
    /// The pool's TLS: the check speaks it too.
    tls: Option<Arc<PoolTls>>,
    /// The DNS name the endpoint was resolved from, for the TLS handshake (see `PoolRuntime`).
    server_name: Option<Arc<str>>,
    path: String,
    timeout: Duration,
    healthy_threshold: u32,
    unhealthy_threshold: u32,
}

impl Probe {
    async fn run(self) {
        let key = &self.endpoint.key;
        let tls = self
            .tls
            .as_deref()
            .map(|tls| (tls, self.server_name.as_deref()));
        let result = check(key.addr, &self.path, self.timeout, tls).await;
        let labels = [&*key.upstream, &*key.region, self.endpoint.label.as_str()];
        let outcome = if result.is_ok() { "success" } else { "failure" };
        let metrics = &self.gateway.metrics;
        metrics
            .health_checks
            .with_label_values(&[labels[0], labels[1], outcome])
            .inc();
        let change = self.endpoint.record_check(
            result.is_ok(),
            self.healthy_threshold,
            self.unhealthy_threshold,
        );
        if let Some(change) = change {
            let healthy = change == HealthChange::BecameHealthy;
            metrics
                .endpoint_healthy
                .with_label_values(&labels)
                .set(i64::from(healthy));
            match &result {
                Ok(status) => tracing::warn!(
                    upstream = labels[0],
                    region = labels[1],
                    endpoint = labels[2],
                    healthy,
                    status,
                    "endpoint health changed"
                ),
                Err(reason) => tracing::warn!(
                    upstream = labels[0], region = labels[1], endpoint = labels[2],
                    healthy, reason = %reason, "endpoint health changed"
                ),
            }
        }
    }
}

/// One probe: `GET path` over a fresh connection (TLS with the pool's settings when it has
/// them, naming the endpoint's DNS name when it was resolved from one); a 2xx status within
/// `timeout` passes.
pub async fn check(
    addr: SocketAddr,
    path: &str,
    timeout: Duration,
    tls: Option<(&PoolTls, Option<&str>)>,
) -> Result<u16, String> {
    let exchange = async {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        match tls {
            None => exchange(stream, addr, path).await,
            Some((tls, name)) => {
                let connector = tokio_rustls::TlsConnector::from(Arc::clone(&tls.health_client));
                let stream = connector
                    .connect(tls.server_name(addr, name), stream)
                    .await
                    .map_err(|e| format!("tls: {e}"))?;
                exchange(stream, addr, path).await
            }
        }
    };
    let status = tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {timeout:?}"))??;
    if (200..300).contains(&status) {
        Ok(status)
    } else {
        Err(format!("status {status}"))
    }
}

/// `GET path` on a connected stream; the status of the answer.
async fn exchange<S>(mut stream: S, addr: SocketAddr, path: &str) -> Result<u16, String>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: weir-health-check\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("write: {e}"))?;
        let mut buf = [0u8; MAX_STATUS_LINE];
        let mut filled = 0;
        while !buf[..filled].windows(2).any(|w| w == b"\r\n") {
            if filled == buf.len() {
                return Err("status line too long".to_string());
            }
            let n = stream
                .read(&mut buf[filled..])
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                return Err("connection closed before a status line".to_string());
            }
            filled += n;
        }
        parse_status(&buf[..filled])
    }
}

/// The status code of `HTTP/1.x NNN ...`.
fn parse_status(head: &[u8]) -> Result<u16, String> {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let version = parts.next().unwrap_or_default();
    let code = parts.next().unwrap_or_default();
    if !version.starts_with(b"HTTP/1.") || code.len() != 3 {
        return Err("malformed status line".to_string());
    }
    std::str::from_utf8(code)
        .ok()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "malformed status code".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_line_parsing() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\n"), Ok(200));
        assert_eq!(
            parse_status(b"HTTP/1.0 503 Service Unavailable\r\n"),
            Ok(503)
        );
        assert!(parse_status(b"SSH-2.0-OpenSSH\r\n").is_err());
        assert!(parse_status(b"HTTP/1.1 20 OK\r\n").is_err());
    }

    #[tokio::test]
    async fn a_closed_port_fails_the_check() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        assert!(
            check(addr, "/healthz", Duration::from_millis(500), None)
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn a_2xx_answer_passes_and_a_5xx_fails() {
        for (reply, ok) in [
            ("HTTP/1.1 204 No Content\r\n\r\n", true),
            ("HTTP/1.1 503 Nope\r\n\r\n", false),
        ] {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                let (mut s, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 512];
                let _ = s.read(&mut buf).await;
                s.write_all(reply.as_bytes()).await.unwrap();
            });
            assert_eq!(
                check(addr, "/healthz", Duration::from_secs(2), None)
                    .await
                    .is_ok(),
                ok,
                "{reply}"
            );
        }
    }
}
