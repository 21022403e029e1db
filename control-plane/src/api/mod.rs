//! The HTTP API: routes, the shared state they use, authentication on every route but
//! `/healthz`, request metrics, and problem+json errors. Handlers live in one module per
//! concern (`config`, `weights`, `gateways`); each checks its role first. Every request body is
//! read (bounded, `body` module) before a handler answers, so an early answer such as a 401 never
//! leaves unread bytes that make the connection close under the client.

mod body;
mod config;
mod error;
mod failover;
mod gateways;
mod rollout;
mod telemetry;
mod weights;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use tokio::sync::watch;
use weir_protocol::api::{Method, Route};

pub use error::ApiError;

pub(crate) use config::{changes, commit, store_version};

use crate::auth::{Identity, Role, Tokens};
use crate::fleet::{Fleet, Pushed};
use crate::metrics::Metrics;
use crate::store::{Store, Version};
use crate::telemetry::TelemetryStore;

/// The largest request body accepted (a config of a few thousand routes fits easily).
pub const MAX_BODY_BYTES: usize = 1 << 20;
/// The largest gateway report accepted.
pub use weir_protocol::MAX_REPORT_BYTES;
/// The largest gateway health summary accepted.
pub use weir_protocol::MAX_TELEMETRY_BYTES;

/// Everything the handlers share.
pub struct App {
    pub store: Arc<Store>,
    pub tokens: Tokens,
    pub fleet: Arc<Fleet>,
    /// The gateways' recent health summaries.
    pub telemetry: Arc<TelemetryStore>,
    /// The failover policy's memory and metrics.
    pub failover: Arc<crate::failover::task::FailoverService>,
    /// The staged rollout (if any), and the lock every config write takes.
    pub rollout: Arc<crate::rollout::task::RolloutService>,
    pub metrics: Metrics,
    /// How often an idle push stream carries a heartbeat.
    pub heartbeat: Duration,
    /// Flips to true on shutdown: every stream ends.
    pub shutdown: watch::Receiver<bool>,
    /// This replica's identity (the leader election's, and `weirctl status`'s).
    pub replica: String,
    /// Who leads the replicas; only the leader runs the failover policy.
    pub leadership: watch::Receiver<crate::store::Leadership>,
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

    /// Whether this replica leads (always, on the file store).
    pub fn is_leader(&self) -> bool {
        self.leadership.borrow().is_me
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

/// The API's routes: every [`Route`] of the protocol, each with its handler.
pub fn router(app: Arc<App>) -> Router {
    Route::ALL
        .iter()
        .fold(Router::new(), |router, &route| {
            router.route(route.path(), handler(route))
        })
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), body::read))
        .layer(middleware::from_fn_with_state(Arc::clone(&app), observe))
        .with_state(app)
}

/// The handler of `route`, under its method. Exhaustive: a new route does not build until it
/// has one.
fn handler(route: Route) -> MethodRouter<Arc<App>> {
    let method = match route.method() {
        Method::Get => MethodFilter::GET,
        Method::Put => MethodFilter::PUT,
        Method::Post => MethodFilter::POST,
    };
    match route {
        Route::Healthz => on(method, || async { "ok\n" }),
        Route::Metrics => on(method, metrics),
        Route::OpenApi => on(method, openapi),
        Route::GetConfig => on(method, config::get_config),
        Route::PutConfig => on(method, config::put_config),
        Route::ListVersions => on(method, config::list_versions),
        Route::GetVersion => on(method, config::get_version),
        Route::Rollback => on(method, config::rollback),
        Route::SetWeight => on(method, weights::set_weight),
        Route::SetMemberWeight => on(method, weights::set_member_weight),
        Route::DrainRegion => on(method, weights::drain),
        Route::RestoreRegion => on(method, weights::restore),
        Route::DrainEndpoint => on(method, weights::drain_endpoint),
        Route::RestoreEndpoint => on(method, weights::restore_endpoint),
        Route::Gateways => on(method, gateways::list),
        Route::Report => on(method, gateways::report),
        Route::Telemetry => on(method, telemetry::post),
        Route::TelemetryList => on(method, telemetry::list),
        Route::Stream => on(method, gateways::stream),
        Route::Audit => on(method, config::audit),
        Route::FailoverStatus => on(method, failover::status),
        Route::FailoverPause => on(method, failover::pause),
        Route::FailoverResume => on(method, failover::resume),
        Route::RolloutStatus => on(method, rollout::status),
        Route::RolloutPromote => on(method, rollout::promote),
        Route::RolloutAbort => on(method, rollout::abort),
    }
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
    app.telemetry.refresh(std::time::SystemTime::now());
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
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    type Operations = BTreeSet<(String, String)>;

    /// (method, path) of every operation `doc` describes.
    fn documented(doc: &Value) -> Operations {
        const METHODS: &[&str] = &["get", "put", "post", "delete", "patch", "head", "options"];
        doc["paths"]
            .as_object()
            .expect("the document has paths")
            .iter()
            .flat_map(|(path, operations)| {
                operations
                    .as_object()
                    .expect("a path item is an object")
                    .keys()
                    .filter(|key| METHODS.contains(&key.as_str()))
                    .map(move |method| (method.to_ascii_uppercase(), path.clone()))
            })
            .collect()
    }

    /// (method, path) of every route the router serves: it is built from `Route::ALL`.
    fn served() -> Operations {
        Route::ALL
            .iter()
            .map(|route| {
                (
                    route.method().as_str().to_string(),
                    route.path().to_string(),
                )
            })
            .collect()
    }

    /// Served but not documented, and documented but not served.
    fn mismatches(doc: &Value) -> (Operations, Operations) {
        let (served, documented) = (served(), documented(doc));
        (
            served.difference(&documented).cloned().collect(),
            documented.difference(&served).cloned().collect(),
        )
    }

    /// Every route the router serves is described in the OpenAPI document under its method, and
    /// the document describes nothing more.
    #[test]
    fn openapi_describes_exactly_the_served_routes() {
        let doc: Value = serde_json::from_str(OPENAPI).unwrap();
        assert_eq!(served().len(), Route::ALL.len());
        let (missing, extra) = mismatches(&doc);
        assert!(
            missing.is_empty() && extra.is_empty(),
            "served but not documented: {missing:?}; documented but not served: {extra:?}"
        );
    }

    /// The check above fails when a route or one of its methods is left out of the document.
    #[test]
    fn a_route_missing_from_the_document_is_found() {
        let mut doc: Value = serde_json::from_str(OPENAPI).unwrap();
        let paths = doc["paths"].as_object_mut().unwrap();
        paths.remove(Route::Audit.path());
        paths[Route::PutConfig.path()]
            .as_object_mut()
            .unwrap()
            .remove("put");
        let (missing, extra) = mismatches(&doc);
        let expected: Operations = [Route::Audit, Route::PutConfig]
            .iter()
            .map(|r| (r.method().as_str().to_string(), r.path().to_string()))
            .collect();
        assert_eq!((missing, extra), (expected, Operations::new()));
    }
}
