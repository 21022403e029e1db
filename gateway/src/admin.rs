//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process is up), `/readyz`
//! (a config is loaded and the proxy listens) and `/status` (JSON). Anything else is a 404.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use http::{Response, StatusCode};
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use crate::state::Gateway;
use crate::status;

pub struct AdminApp {
    pub gateway: Arc<Gateway>,
}

#[async_trait]
impl ServeHttp for AdminApp {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let method_ok = matches!(session.req_header().method.as_str(), "GET" | "HEAD");
        let path = session.req_header().uri.path().to_string();
        if !method_ok {
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                b"use GET\n".to_vec(),
            );
        }
        match path.as_str() {
            "/metrics" => {
                let dropped = self.gateway.access_log.take_dropped();
                self.gateway
                    .metrics
                    .access_log_dropped
                    .inc_by(dropped as u64);
                status::sample_gauges(&self.gateway, Instant::now());
                reply(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.gateway.metrics.render(),
                )
            }
            "/healthz" => reply(StatusCode::OK, "text/plain", b"ok\n".to_vec()),
            "/readyz" if self.gateway.is_ready() => {
                reply(StatusCode::OK, "text/plain", b"ready\n".to_vec())
            }
            "/readyz" => reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "text/plain",
                b"not ready: proxy listener not up yet\n".to_vec(),
            ),
            "/status" => {
                let snapshot = self.gateway.snapshot();
                let doc = status::build(
                    &snapshot,
                    self.gateway.in_flight.in_flight(),
                    Instant::now(),
                );
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
}

fn reply(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Vec<u8>> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    if let Ok(value) = http::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, value);
    }
    let len = response.body().len();
    response
        .headers_mut()
        .insert(http::header::CONTENT_LENGTH, http::HeaderValue::from(len));
    response
}
