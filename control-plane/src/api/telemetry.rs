//! The telemetry routes: a gateway posts its health summary (role `gateway`, bound to its id like
//! its reports; capped at `MAX_TELEMETRY_BYTES`; outside the summary's caps is `422`), and
//! operators read every gateway's latest one and whether it is stale (role `read`). A summary is
//! logged at debug level only: one comes from every gateway every few seconds.

use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use weir_protocol::Telemetry;
use weir_protocol::api::TelemetryList;

use super::gateways::{check_name, refused};
use super::{ApiError, App};
use crate::auth::Role;

pub async fn post(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Telemetry>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    app.authorize(&headers, Role::Gateway)?;
    check_name("the gateway id", &id)?;
    let who = app.authorize_gateway(&headers, &id)?;
    let count = |result: &str| app.metrics.telemetry.with_label_values(&[result]).inc();
    let telemetry = match body {
        Ok(Json(telemetry)) => telemetry,
        Err(rejection) => {
            count("malformed");
            return Err(ApiError::bad_request(rejection.body_text()));
        }
    };
    let checked = telemetry.check().and_then(|()| match &telemetry.region {
        Some(region) => check_name("region", region).map_err(|e| e.problem.detail.clone()),
        None => Ok(()),
    });
    if let Err(reason) = checked {
        count("invalid");
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid Telemetry",
            reason,
        ));
    }
    let now = SystemTime::now();
    if let Err(e) = app
        .fleet
        .heard(&id, &who.name, telemetry.region.as_deref(), now)
    {
        count("refused");
        return Err(refused(&app, &id, &who.name, &e));
    }
    tracing::debug!(
        gateway = id,
        version = telemetry.config_version,
        pools = telemetry.pools.len(),
        "gateway telemetry"
    );
    if let Err(full) = app.telemetry.record(&id, telemetry, now) {
        count("refused");
        tracing::warn!(gateway = id, "telemetry refused: {full}");
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "Too Many Gateways",
            full.to_string(),
        ));
    }
    count("accepted");
    Ok(StatusCode::NO_CONTENT)
}

pub async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<TelemetryList>, ApiError> {
    app.authorize(&headers, Role::Read)?;
    Ok(Json(TelemetryList {
        current_version: app.store.current().map(|c| c.meta.version),
        gateways: app.telemetry.list(SystemTime::now()),
    }))
}
