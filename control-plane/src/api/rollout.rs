//! `/v1/rollout`: the last staged rollout (role `read`), and promoting or aborting the one under
//! bake (role `admin`, as applying a config). An abort is the automatic rollback's path, authored
//! by the operator.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use weir_protocol::api::RolloutStatus;

use super::config::WriteQuery;
use super::{ApiError, App};
use crate::auth::Role;
use crate::rollout::Phase;
use crate::rollout::task;

pub async fn status(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<RolloutStatus>, ApiError> {
    app.authorize(&headers, Role::Read)?;
    Ok(Json(app.rollout.status()))
}

pub async fn promote(
    State(app): State<Arc<App>>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
) -> Result<Json<RolloutStatus>, ApiError> {
    let who = app.authorize(&headers, Role::Admin)?;
    let message = query.message()?;
    task::refuse_if_baking_elsewhere(&app).await?;
    let evidence = if message.is_empty() {
        format!("promoted by {} before the end of the bake", who.name)
    } else {
        format!("promoted by {}: {message}", who.name)
    };
    Ok(Json(task::promote(&app, &who.name, evidence, None).await?))
}

pub async fn abort(
    State(app): State<Arc<App>>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Admin)?;
    let message = query.message()?;
    task::refuse_if_baking_elsewhere(&app).await?;
    let evidence = if message.is_empty() {
        format!("aborted by {}", who.name)
    } else {
        format!("aborted by {}: {message}", who.name)
    };
    let (_, status) = task::roll_back(&app, &who.name, Phase::Aborted, evidence, None).await?;
    Ok((StatusCode::CREATED, Json(status)).into_response())
}
