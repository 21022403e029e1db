//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process is up), `/readyz`
//! (a config is loaded, the proxy listens and no shutdown has begun) and `/status` (JSON).
//! Anything else is a 404. It is a plain hyper server run as a background task rather than a
//! Pingora listening service, so it keeps answering (`/readyz`: 503) while the proxy drains at
//! shutdown.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::state::Gateway;
use crate::status;

/// How long an admin client may take to send its request header.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

pub struct AdminServer {
    pub gateway: Arc<Gateway>,
    /// Bound before the server starts, so a taken port is a start-up error.
    pub listener: std::net::TcpListener,
}

#[async_trait]
impl BackgroundService for AdminServer {
    /// Serves until the process exits: the shutdown signal does not stop it.
    async fn start(&self, _shutdown: ShutdownWatch) {
        let listener = match self
            .listener
            .try_clone()
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(tokio::net::TcpListener::from_std)
        {
            Ok(listener) => listener,
            Err(e) => {
                tracing::error!(error = %e, "admin listener unusable");
                return;
            }
        };
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let gateway = Arc::clone(&self.gateway);
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<hyper::body::Incoming>| {
                    let response = answer(&gateway, request.method(), request.uri().path());
                    async move { Ok::<_, Infallible>(response.map(|b| Full::new(Bytes::from(b)))) }
                });
                let served = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                if let Err(e) = served {
                    tracing::debug!(error = %e, "admin connection ended with an error");
                }
            });
        }
    }
}

/// The answer to `method path`.
pub fn answer(gateway: &Gateway, method: &Method, path: &str) -> Response<Vec<u8>> {
    if !matches!(*method, Method::GET | Method::HEAD) {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            b"use GET\n".to_vec(),
        );
    }
    match path {
        "/metrics" => {
            let dropped = gateway.access_log.take_dropped();
            gateway.metrics.access_log_dropped.inc_by(dropped as u64);
            status::sample_gauges(gateway, Instant::now());
            reply(
                StatusCode::OK,
                "text/plain; version=0.0.4",
                gateway.metrics.render(),
            )
        }
        "/healthz" => reply(StatusCode::OK, "text/plain", b"ok\n".to_vec()),
        "/readyz" => match gateway.not_ready_because() {
            None => reply(StatusCode::OK, "text/plain", b"ready\n".to_vec()),
            Some(why) => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                format!("not ready: {why}\n").into_bytes(),
            ),
        },
        "/status" => {
            let snapshot = gateway.snapshot();
            let doc = status::build(
                &gateway.id,
                &snapshot,
                gateway.in_flight.in_flight(),
                Instant::now(),
            )
            .with_certificates(&gateway.tls.load(), crate::tls::unix_now())
            .with_names(&snapshot.config, &gateway.names);
            let mut body = serde_json::to_vec_pretty(&doc).unwrap_or_default();
            body.push(b'\n');
            reply(StatusCode::OK, "application/json", body)
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            "text/plain",
            b"not found; try /metrics, /healthz, /readyz or /status\n".to_vec(),
        ),
    }
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    response
}
