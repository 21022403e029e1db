//! `GET /v1/failover` (role `read`): the failover policy per upstream and region; and
//! `POST /v1/failover/pause|resume[?upstream=NAME]` (role `operate`): stop or restart its actions
//! for one upstream with a policy, or for all of them without `upstream`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use serde::Deserialize;
use weir_protocol::api::{FailoverPaused, FailoverStatus};

use super::{ApiError, App};
use crate::auth::Role;

#[derive(Debug, Default, Deserialize)]
pub struct UpstreamQuery {
    /// One upstream; every upstream when absent.
    pub upstream: Option<String>,
}

pub async fn status(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<FailoverStatus>, ApiError> {
    app.authorize(&headers, Role::Read)?;
    let current = app.store.current();
    Ok(Json(app.failover.status(current.as_deref())))
}

pub async fn pause(
    State(app): State<Arc<App>>,
    Query(query): Query<UpstreamQuery>,
    headers: HeaderMap,
) -> Result<Json<FailoverPaused>, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let upstream = with_policy(&app, query.upstream)?;
    tracing::info!(by = who.name, upstream, "failover paused");
    Ok(Json(app.failover.pause(upstream.as_deref())))
}

pub async fn resume(
    State(app): State<Arc<App>>,
    Query(query): Query<UpstreamQuery>,
    headers: HeaderMap,
) -> Result<Json<FailoverPaused>, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let upstream = with_policy(&app, query.upstream)?;
    tracing::info!(by = who.name, upstream, "failover resumed");
    Ok(Json(app.failover.resume(upstream.as_deref())))
}

/// `upstream`, which must have a `[failover]` table in the current config (404 otherwise, so a
/// typo does not pause nothing).
fn with_policy(app: &App, upstream: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(name) = upstream else {
        return Ok(None);
    };
    let fleet = app
        .store
        .current()
        .and_then(|current| app.failover.fleet(&current));
    let known: Vec<String> = fleet
        .map(|fleet| fleet.failover.keys().cloned().collect())
        .unwrap_or_default();
    if known.contains(&name) {
        Ok(Some(name))
    } else {
        Err(ApiError::not_found(format!(
            "upstream {name:?} has no [failover.{name}] policy; policies: {}",
            if known.is_empty() {
                "none".to_owned()
            } else {
                known.join(", ")
            }
        )))
    }
}
