//! Traffic shifting: one pool's weight, a DNS name's members' weight in one region, draining or
//! restoring a whole region, and draining or restoring one endpoint. Each is an edit of the
//! current config text (formatting and comments kept) made under the store's lock, then validated
//! in full like any other change. A weight that the upstream's region policy makes invisible is
//! stored, with a warning in the answer.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;
use weir_protocol::api::{EndpointSet, RegionRestored, WeightBody, WeightSet};

use super::config::{WriteQuery, commit, if_match, written};
use super::{ApiError, App};
use crate::auth::Role;
use crate::edit::{self, EditError};
use crate::store::{Change, Drained, Update, Version};

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

/// The weight a `PUT …/weight` body carries, or a 400 that says what the body must be.
fn weight_of(
    body: Result<Json<WeightBody>, axum::extract::rejection::JsonRejection>,
) -> Result<u32, ApiError> {
    let Json(WeightBody { weight }) = body.map_err(|e| {
        ApiError::bad_request(format!(
            "the body must be {{\"weight\": 0..=100}}: {}",
            e.body_text()
        ))
    })?;
    Ok(weight)
}

/// `drained` without what a drain of `region` remembered for `keys` (a region left with nothing
/// remembered is dropped): an explicit weight replaces the weight a restore would bring back.
fn forget_drained<'k>(
    drained: &Drained,
    region: &str,
    keys: impl IntoIterator<Item = &'k String>,
) -> Drained {
    let mut drained = drained.clone();
    if let Some(remembered) = drained.get_mut(region) {
        for key in keys {
            remembered.remove(key);
        }
        if remembered.is_empty() {
            drained.remove(region);
        }
    }
    drained
}

/// The edited text must still be a valid fleet config (e.g. some pool keeps a weight above 0).
fn validate(text: &str) -> Result<(), ApiError> {
    weir_config::parse_fleet(text)
        .map(|_| ())
        .map_err(|e| ApiError::invalid(&e))
}

/// Why a weight of `weight` on `upstream` changes nothing visible, if it does not: under
/// `nearest`, each gateway keeps its own region's traffic home while that pool is healthy, so a
/// weight above 0 matters only for how spilled traffic is split.
fn weight_warning(config: &str, upstream: &str, weight: u32) -> Option<String> {
    let config = weir_config::parse_fleet(config).ok()?;
    let policy = config.fleet.upstreams.get(upstream)?.region_policy;
    (policy == weir_config::RegionPolicy::Nearest && weight > 0).then(|| {
        format!(
            "upstream {upstream:?} has region_policy = \"nearest\": each gateway sends its own \
             region's traffic to its own pool while that pool is healthy, whatever its weight; a \
             weight above 0 only shapes how traffic that spills is split between the other \
             regions. Weight 0 drains the pool; to split traffic by weight, set region_policy = \
             \"weighted\""
        )
    })
}

pub async fn set_weight(
    State(app): State<Arc<App>>,
    Path((upstream, region)): Path<(String, String)>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
    body: Result<Json<WeightBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let weight = weight_of(body)?;
    let expected = if_match(&headers)?;
    let message = query.message()?;
    let previous = Arc::new(std::sync::Mutex::new((None, None)));
    let previous_out = Arc::clone(&previous);
    let stored = commit(&app, expected, move |current| {
        let current = require_current(current)?;
        let (text, was) =
            edit::set_weight(&current.config, &upstream, &region, weight).map_err(edit_error)?;
        *previous_out.lock().unwrap_or_else(|p| p.into_inner()) = (
            Some(was),
            weight_warning(&current.config, &upstream, weight),
        );
        if text == current.config {
            return Ok(Update::Unchanged);
        }
        validate(&text)?;
        // An explicit weight overrides what a drain of this region remembered for this pool.
        let drained = forget_drained(&current.meta.drained, &region, [&upstream]);
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
    let (previous, warning) =
        std::mem::take(&mut *previous.lock().unwrap_or_else(|p| p.into_inner()));
    if let Some(warning) = &warning {
        tracing::info!(warning, "weight change without visible effect");
    }
    Ok(written(
        &app,
        stored,
        WeightSet {
            previous_weight: previous,
            warnings: warning.into_iter().collect(),
        },
    ))
}

/// `PUT /v1/dns/names/{name}/members/{region}/weight`: the weight of every member of `name` in
/// `region`, so `weighted` and spilled `nearest` answers follow it (weight 0 takes them out).
pub async fn set_member_weight(
    State(app): State<Arc<App>>,
    Path((name, region)): Path<(String, String)>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
    body: Result<Json<WeightBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let weight = weight_of(body)?;
    let expected = if_match(&headers)?;
    let message = query.message()?;
    let previous = Arc::new(std::sync::Mutex::new(None));
    let previous_out = Arc::clone(&previous);
    let stored = commit(&app, expected, move |current| {
        let current = require_current(current)?;
        let (text, was, keys) =
            edit::set_member_weight(&current.config, &name, &region, weight).map_err(edit_error)?;
        *previous_out.lock().unwrap_or_else(|p| p.into_inner()) = Some(was);
        if text == current.config {
            return Ok(Update::Unchanged);
        }
        validate(&text)?;
        // An explicit weight overrides what a drain of this region remembered for these members.
        let drained = forget_drained(&current.meta.drained, &region, &keys);
        Ok(Update::Commit(Change {
            config: text,
            author: who.name,
            message,
            action: "weight".into(),
            drained,
            detail: format!("dns {name}/{region} weight {was} -> {weight}"),
        }))
    })
    .await?;
    let previous = previous.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(written(
        &app,
        stored,
        WeightSet {
            previous_weight: previous,
            warnings: Vec::new(),
        },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct EndpointQuery {
    pub message: Option<String>,
    /// Only the pools of this upstream.
    pub upstream: Option<String>,
}

/// `POST /v1/endpoints/{addr}/drain`: no new requests to the endpoint, wherever it is listed.
pub async fn drain_endpoint(
    state: State<Arc<App>>,
    path: Path<String>,
    query: Query<EndpointQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    endpoint_state(state, path, query, headers, true).await
}

/// `POST /v1/endpoints/{addr}/restore`: new requests again, ramping through slow start.
pub async fn restore_endpoint(
    state: State<Arc<App>>,
    path: Path<String>,
    query: Query<EndpointQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    endpoint_state(state, path, query, headers, false).await
}

async fn endpoint_state(
    State(app): State<Arc<App>>,
    Path(addr): Path<String>,
    Query(query): Query<EndpointQuery>,
    headers: HeaderMap,
    drain: bool,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let addr: std::net::SocketAddr = addr.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "the endpoint must be ip:port as in the config (e.g. 10.0.1.11:9000 or [::1]:9000), \
             got {addr:?}"
        ))
    })?;
    let expected = if_match(&headers)?;
    let message = WriteQuery {
        message: query.message.clone(),
        ..WriteQuery::default()
    }
    .message()?;
    let upstream = query.upstream.clone();
    let pools_out = Arc::new(std::sync::Mutex::new(Vec::new()));
    let pools = Arc::clone(&pools_out);
    let stored = commit(&app, expected, move |current| {
        let current = require_current(current)?;
        let (text, changed) =
            edit::set_endpoint_drained(&current.config, addr, upstream.as_deref(), drain)
                .map_err(edit_error)?;
        validate(&text)?;
        let (action, done) = if drain {
            ("drain", "drained")
        } else {
            ("restore", "restored")
        };
        let detail = format!("endpoint {addr} {done} in {}", changed.join(", "));
        *pools_out.lock().unwrap_or_else(|p| p.into_inner()) = changed;
        Ok(Update::Commit(Change {
            config: text,
            author: who.name,
            message,
            action: format!("endpoint_{action}"),
            drained: current.meta.drained.clone(),
            detail,
        }))
    })
    .await?;
    let pools = std::mem::take(&mut *pools.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(written(
        &app,
        stored,
        EndpointSet {
            endpoint: addr.to_string(),
            pools,
        },
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
        let (pools, members) = drained.get(&region).map_or((0, 0), |dials| {
            let members = dials.keys().filter(|k| edit::is_member_key(k)).count();
            (dials.len() - members, members)
        });
        let detail = match members {
            0 => format!("{region}: {pools} pool(s) to weight 0"),
            members => {
                format!("{region}: {pools} pool(s) and {members} DNS member(s) to weight 0")
            }
        };
        Ok(Update::Commit(Change {
            config: text,
            author: who.name,
            message,
            action: "drain".into(),
            drained,
            detail,
        }))
    })
    .await?;
    Ok(written(&app, stored, ()))
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
    Ok(written(&app, stored, RegionRestored { skipped }))
}
