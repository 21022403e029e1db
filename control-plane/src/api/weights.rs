//! Traffic shifting: one pool's weight, and draining or restoring a whole region. Each is an edit
//! of the current config text (formatting and comments kept) made under the store's lock, then
//! validated in full like any other change.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::config::{WriteQuery, commit, if_match, written};
use super::{ApiError, App};
use crate::auth::Role;
use crate::edit::{self, EditError};
use crate::store::{Change, Update, Version};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightBody {
    pub weight: u32,
}

fn edit_error(error: EditError) -> ApiError {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let title = match status {
        StatusCode::NOT_FOUND => "Not Found",
        StatusCode::CONFLICT => "Conflict",
        _ => "Invalid Change",
    };
    ApiError::new(status, title, error.to_string())
}

fn require_current(current: Option<&Version>) -> Result<&Version, ApiError> {
    current.ok_or_else(|| {
        ApiError::not_found("there is no config version yet: PUT /v1/config to store the first one")
    })
}

/// The edited text must still be a valid fleet config (e.g. some pool keeps a weight above 0).
fn validate(text: &str) -> Result<(), ApiError> {
    weir_config::parse_fleet(text)
        .map(|_| ())
        .map_err(|e| ApiError::invalid(&e))
}

pub async fn set_weight(
    State(app): State<Arc<App>>,
    Path((upstream, region)): Path<(String, String)>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
    body: Result<Json<WeightBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let Json(WeightBody { weight }) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"weight\": 0..=100}}: {}",
            e.body_text()
        ))
    })?;
    let expected = if_match(&headers)?;
    let message = query.message()?;
    let previous = Arc::new(std::sync::Mutex::new(None));
    let previous_out = Arc::clone(&previous);
    let stored = commit(&app, expected, move |current| {
        let current = require_current(current)?;
        let (text, was) =
            edit::set_weight(&current.config, &upstream, &region, weight).map_err(edit_error)?;
        *previous_out.lock().unwrap_or_else(|p| p.into_inner()) = Some(was);
        if text == current.config {
            return Ok(Update::Unchanged);
        }
        validate(&text)?;
        // An explicit weight overrides what a drain of this region remembered for this pool.
        let mut drained = current.meta.drained.clone();
        if let Some(remembered) = drained.get_mut(&region) {
            remembered.remove(&upstream);
            if remembered.is_empty() {
                drained.remove(&region);
            }
        }
        Ok(Update::Commit(Change {
            config: text,
            author: who.name,
            message,
            action: "weight".into(),
            drained,
            detail: format!("{upstream}/{region} weight {was} -> {weight}"),
        }))
    })
    .await?;
    let previous = *previous.lock().unwrap_or_else(|p| p.into_inner());
    Ok(written(
        &app,
        stored,
        json!({ "previous_weight": previous }),
    ))
}

pub async fn drain(
    State(app): State<Arc<App>>,
    Path(region): Path<String>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let expected = if_match(&headers)?;
    let message = query.message()?;
    let stored = commit(&app, expected, move |current| {
        let current = require_current(current)?;
        let (text, drained) = edit::drain_region(&current.config, &region, &current.meta.drained)
            .map_err(edit_error)?;
        validate(&text)?;
        let pools = drained.get(&region).map_or(0, |pools| pools.len());
        Ok(Update::Commit(Change {
            config: text,
            author: who.name,
            message,
            action: "drain".into(),
            drained,
            detail: format!("{region}: {pools} pool(s) to weight 0"),
        }))
    })
    .await?;
    Ok(written(&app, stored, json!({})))
}

pub async fn restore(
    State(app): State<Arc<App>>,
    Path(region): Path<String>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let expected = if_match(&headers)?;
    let message = query.message()?;
    let skipped_out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let skipped = Arc::clone(&skipped_out);
    let stored = commit(&app, expected, move |current| {
        let current = require_current(current)?;
        let (text, drained, gone) =
            edit::restore_region(&current.config, &region, &current.meta.drained)
                .map_err(edit_error)?;
        validate(&text)?;
        let detail = if gone.is_empty() {
            format!("{region}: weights restored")
        } else {
            format!(
                "{region}: weights restored; gone since the drain: {}",
                gone.join(", ")
            )
        };
        *skipped_out.lock().unwrap_or_else(|p| p.into_inner()) = gone;
        Ok(Update::Commit(Change {
            config: text,
            author: who.name,
            message,
            action: "restore".into(),
            drained,
            detail,
        }))
    })
    .await?;
    let skipped = std::mem::take(&mut *skipped.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(written(&app, stored, json!({ "skipped": skipped })))
}
