//! The HTTP API: routes, the shared state they use, authentication on every route but
//! `/healthz`, request metrics, and problem+json errors. Handlers live in one module per
//! concern (`config`, `weights`, `gateways`); each checks its role first. Every request body is
//! read (bounded, `body` module) before a handler answers, so an early answer such as a 401 never
//! leaves unread bytes that make the connection close under the client.

mod body;
mod config;
mod error;
mod gateways;
mod weights;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tokio::sync::watch;

pub use error::ApiError;

use crate::auth::{Identity, Role, Tokens};
use crate::fleet::{Fleet, Pushed};
use crate::metrics::Metrics;
use crate::store::{Store, Version};

/// The largest request body accepted (a config of a few thousand routes fits easily).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The largest gateway report accepted.
pub use weir_protocol::MAX_REPORT_BYTES;

/// Everything the handlers share.
pub struct App {
    pub store: Arc<Store>,
    pub tokens: Tokens,
    pub fleet: Arc<Fleet>,
    pub metrics: Metrics,
    /// How often an idle push stream carries a heartbeat.
    pub heartbeat: Duration,
    /// Flips to true on shutdown: every stream ends.
    pub shutdown: watch::Receiver<bool>,
}

impl App {
    /// Checks the request's bearer token for `needed`; counts and logs a refusal (never the
    /// token itself).
    pub fn authorize(&self, headers: &HeaderMap, needed: Role) -> Result<Identity, ApiError> {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        self.tokens.authorize(header, needed).map_err(|denied| {
            self.metrics
                .auth_failures
                .with_label_values(&[denied.reason()])
                .inc();
            tracing::warn!(reason = denied.reason(), needed = %needed, "request not authorised");
            ApiError::denied(&denied)
        })
    }

    /// Checks that the request's token has role `gateway` and speaks for gateway `id`.
    pub fn authorize_gateway(&self, headers: &HeaderMap, id: &str) -> Result<Identity, ApiError> {
        let header = headers
            .get(header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        self.tokens.authorize_gateway(header, id).map_err(|denied| {
            self.metrics
                .auth_failures
                .with_label_values(&[denied.reason()])
                .inc();
            // The id is checked to be a config name before it is logged.
            tracing::warn!(
                reason = denied.reason(),
                gateway = id,
                "request not authorised"
            );
            ApiError::denied(&denied)
        })
    }

    /// Makes a stored version the one every gateway is pushed, and the version gauge.
    pub fn publish(&self, version: &Version) {
        self.metrics
            .config_version
            .set(i64::try_from(version.meta.version).unwrap_or(i64::MAX));
        self.fleet.publish(Pushed::new(
            version.meta.version,
            &version.meta.checksum,
            &version.config,
        ));
    }
}

/// The API's routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/openapi.json", get(openapi))
        .route(
            "/v1/config",
            get(config::get_config).put(config::put_config),
        )
        .route("/v1/versions", get(config::list_versions))
        .route("/v1/versions/{version}", get(config::get_version))
        .route("/v1/versions/{version}/rollback", post(config::rollback))
        .route(
            "/v1/upstreams/{upstream}/pools/{region}/weight",
            put(weights::set_weight),
        )
        .route("/v1/regions/{region}/drain", post(weights::drain))
        .route("/v1/regions/{region}/restore", post(weights::restore))
        .route("/v1/endpoints/{addr}/drain", post(weights::drain_endpoint))
        .route(
            "/v1/endpoints/{addr}/restore",
            post(weights::restore_endpoint),
        )
        .route("/v1/gateways", get(gateways::list))
        .route("/v1/gateways/{id}/report", post(gateways::report))
        .route(weir_protocol::STREAM_PATH, get(gateways::stream))
        .route("/v1/audit", get(config::audit))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), body::read))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), observe))
        .with_state(app)
}

/// Counts every request by route template and status, and logs it.
async fn observe(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |path| path.as_str())
        .to_string();
    let method = request.method().clone();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    app.metrics
        .requests
        .with_label_values(&[route.as_str(), status.as_str()])
        .inc();
    tracing::info!(
        %method, route, status = status.as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1e3, "api request"
    );
    response
}

async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "Not Found",
        "no such API path; see GET /v1/openapi.json",
    )
}

async fn metrics(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    app.authorize(&headers, Role::Read)?;
    let mut response = app.metrics.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    Ok(response)
}

/// The OpenAPI description of this API, kept next to the code that serves it.
pub const OPENAPI: &str = include_str!("openapi.json");

async fn openapi(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Response, ApiError> {
    app.authorize(&headers, Role::Read)?;
    let mut response = OPENAPI.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    /// Every route the router serves is described in the OpenAPI document, and nothing more.
    #[test]
    fn openapi_lists_exactly_the_served_paths() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let mut documented: Vec<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        documented.sort();
        // The paths given to `.route(` in `router`, wherever rustfmt breaks the lines.
        let source = include_str!("mod.rs");
        let body = source
            .split("pub fn router(")
            .nth(1)
            .and_then(|rest| rest.split("\n}\n").next())
            .unwrap();
        let mut served: Vec<String> = body
            .split(".route(")
            .skip(1)
            .filter_map(|rest| {
                let rest = rest.trim_start();
                if rest.starts_with("weir_protocol::STREAM_PATH") {
                    return Some(weir_protocol::STREAM_PATH.to_string());
                }
                rest.strip_prefix('"')?
                    .split('"')
                    .next()
                    .map(str::to_string)
            })
            .collect();
        served.sort();
        served.dedup();
        assert_eq!(documented, served);
    }
}
