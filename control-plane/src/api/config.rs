//! Reading and replacing the fleet config, its history, rollback and the audit log. A change is
//! validated in full before the store is touched; the store decides conflicts under its lock.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use weir_protocol::api::{
    AuditList, ConfigChanges, ConfigVersion, ConfigWrite, DryRun, RolledBack, VersionList, Written,
};

use super::{ApiError, App};
use crate::auth::Role;
use crate::rollout::Selector;
use crate::rollout::task as rollout_task;
use crate::store::{Change, Update, UpdateError, Version};

/// Longest `message` kept with a version.
const MAX_MESSAGE_CHARS: usize = 1000;

#[derive(Debug, Default, Deserialize)]
pub struct WriteQuery {
    pub message: Option<String>,
    pub dry_run: Option<bool>,
    /// Store a new version even when the config means the same as the current one; during a
    /// rollout, apply on top of the stable config and supersede the rollout.
    pub force: Option<bool>,
    /// Start a staged rollout: `10%`, `gw-a,gw-b` or `region=eu-west`.
    pub canary: Option<String>,
    /// The rollout's bake (`60s`); the stable config's `rollout.bake` when absent.
    pub bake: Option<String>,
}

impl WriteQuery {
    pub fn message(&self) -> Result<String, ApiError> {
        let message = self.message.clone().unwrap_or_default();
        if message.chars().count() > MAX_MESSAGE_CHARS {
            return Err(ApiError::bad_request(format!(
                "message is longer than {MAX_MESSAGE_CHARS} characters"
            )));
        }
        Ok(message)
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct ReadQuery {
    pub format: Option<String>,
    pub limit: Option<usize>,
    pub before: Option<u64>,
}

/// The version a write is based on, from `If-Match` (`"7"`, `7` or `W/"7"`; `*` is no
/// condition).
pub fn if_match(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get(header::IF_MATCH) else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    if text == "*" {
        return Ok(None);
    }
    let bare = text.trim_start_matches("W/").trim_matches('"');
    bare.parse::<u64>().map(Some).map_err(|_| {
        ApiError::bad_request(format!(
            "If-Match must be a version number in quotes, like \"7\"; got {text:?}"
        ))
    })
}

/// What a write does while a staged rollout bakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DuringRollout {
    /// Apply it on top of the stable config, push it to everyone, end the rollout as
    /// superseded (weights, drains, a rollback to a version, the failover policy, a forced
    /// apply): the fleet never gets the unbaked config without a bake or an explicit promote.
    Supersede,
    /// Refuse it (`409`): a plain apply.
    Refuse,
}

/// Runs a change through the store (off the async threads: it fsyncs), then pushes the new
/// version to the fleet. `None` when the change turned out to change nothing. During a rollout
/// the change is based on the stable version and supersedes the rollout.
pub async fn commit<F>(
    app: &Arc<App>,
    expected: Option<u64>,
    decide: F,
) -> Result<Option<Arc<Version>>, ApiError>
where
    F: FnOnce(Option<&Version>) -> Result<Update, ApiError> + Send + 'static,
{
    commit_during(app, expected, DuringRollout::Supersede, decide).await
}

/// [`commit`], saying what to do if a rollout bakes.
pub async fn commit_during<F>(
    app: &Arc<App>,
    expected: Option<u64>,
    during: DuringRollout,
    decide: F,
) -> Result<Option<Arc<Version>>, ApiError>
where
    F: FnOnce(Option<&Version>) -> Result<Update, ApiError> + Send + 'static,
{
    let _writes = app.rollout.writes().await;
    let Some((stable, canary)) = app.rollout.active() else {
        crate::rollout::task::refuse_if_baking_elsewhere(app).await?;
        let stored = store_version(app, expected, decide).await?;
        if let Some(version) = &stored {
            app.publish(version);
        }
        return Ok(stored);
    };
    if during == DuringRollout::Refuse {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "the rollout of version {canary} is baking: promote or abort it first (weirctl                  rollout promote|abort), or apply with force to supersede it"
            ),
        ));
    }
    // Either version number names the state the writer saw.
    let expected = expected.map(|e| if e == stable.meta.version { canary } else { e });
    let stored = store_version(app, expected, move |current| {
        let base = match current {
            Some(current) if current.meta.version == canary => Some(stable.as_ref()),
            other => other,
        };
        decide(base)
    })
    .await?;
    if let Some(version) = &stored {
        crate::rollout::task::superseded(app, version).await;
        app.publish(version);
    }
    Ok(stored)
}

/// Runs a change through the store and counts it; pushes nothing (the caller decides to whom).
/// The caller holds the rollout's write lock.
pub async fn store_version<F>(
    app: &Arc<App>,
    expected: Option<u64>,
    decide: F,
) -> Result<Option<Arc<Version>>, ApiError>
where
    F: FnOnce(Option<&Version>) -> Result<Update, ApiError> + Send + 'static,
{
    let store = Arc::clone(&app.store);
    let started = Instant::now();
    let result =
        tokio::task::spawn_blocking(move || store.update(expected, SystemTime::now(), decide))
            .await
            .map_err(|e| ApiError::internal(format!("the store write was cancelled: {e}")))?;
    match result {
        Ok(Some(version)) => {
            app.metrics
                .commit_duration
                .observe(started.elapsed().as_secs_f64());
            app.metrics
                .commits
                .with_label_values(&[version.meta.action.as_str()])
                .inc();
            tracing::info!(
                version = version.meta.version,
                author = version.meta.author,
                action = version.meta.action,
                // Not `message`: that key is the event's text in the JSON log.
                change_message = version.meta.message,
                "config version stored"
            );
            Ok(Some(version))
        }
        Ok(None) => Ok(None),
        Err(UpdateError::Conflict { expected, current }) => {
            Err(ApiError::conflict(expected, current))
        }
        Err(UpdateError::Rejected(error)) => Err(error),
        Err(UpdateError::Io(error)) => Err(ApiError::store(&error)),
    }
}

/// What changed from `old` (a stored config text) to `new`, one line each.
pub fn changes(old: Option<&str>, new: &weir_config::Config) -> Vec<String> {
    match old.map(weir_config::parse_fleet) {
        None => vec!["first version".to_string()],
        Some(Ok(old)) => weir_config::diff(&old, new),
        Some(Err(_)) => {
            vec!["the previous version no longer validates; the whole config is replaced".into()]
        }
    }
}

/// The request body as TOML text: TOML as sent, JSON converted.
fn body_text(headers: &HeaderMap, body: &Bytes) -> Result<String, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/toml");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => {
            let value: serde_json::Value = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("the body is not valid JSON: {e}")))?;
            if !value.is_object() {
                return Err(ApiError::bad_request("the JSON body must be an object"));
            }
            toml::to_string(&value).map_err(|e| {
                ApiError::bad_request(format!("the JSON body cannot be expressed as TOML: {e}"))
            })
        }
        "application/toml" | "text/toml" | "text/plain" | "application/octet-stream" => {
            String::from_utf8(body.to_vec())
                .map_err(|_| ApiError::bad_request("the TOML body is not valid UTF-8"))
        }
        other => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type",
            format!("send the config as application/toml or application/json, not {other}"),
        )),
    }
}

fn version_body(version: &Version) -> ConfigVersion {
    ConfigVersion {
        meta: version.meta.clone(),
        config: version.config.clone(),
    }
}

fn with_etag(mut response: Response, version: u64) -> Response {
    if let Ok(value) = HeaderValue::from_str(&format!("\"{version}\"")) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

fn no_version_yet() -> ApiError {
    ApiError::not_found("there is no config version yet: PUT /v1/config to store the first one")
}

pub async fn get_config(
    State(app): State<Arc<App>>,
    Query(query): Query<ReadQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.authorize(&headers, Role::Read)?;
    let current = app.store.current().ok_or_else(no_version_yet)?;
    let response = match query.format.as_deref() {
        None | Some("json") => Json(version_body(&current)).into_response(),
        Some("toml") => {
            let mut response = current.config.clone().into_response();
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/toml"),
            );
            response
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format must be json or toml, got {other:?}"
            )));
        }
    };
    Ok(with_etag(response, current.meta.version))
}

pub async fn put_config(
    State(app): State<Arc<App>>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Admin)?;
    let expected = if_match(&headers)?;
    let message = query.message()?;
    let text = body_text(&headers, &body)?;
    let config = weir_config::parse_fleet(&text).map_err(|e| ApiError::invalid(&e))?;
    let selector = query
        .canary
        .as_deref()
        .map(Selector::parse)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let bake = query
        .bake
        .as_deref()
        .map(|bake| {
            humantime::parse_duration(bake)
                .map_err(|e| ApiError::bad_request(format!("bake: {e}, e.g. \"60s\"")))
        })
        .transpose()?;
    if bake.is_some() && selector.is_none() {
        return Err(ApiError::bad_request(
            "bake is for a staged rollout: give canary= too",
        ));
    }
    if query.dry_run.unwrap_or(false) {
        let current = app.store.current();
        if let (Some(expected), Some(current)) = (expected, &current)
            && expected != current.meta.version
        {
            return Err(ApiError::conflict(expected, current.meta.version));
        }
        let changes = changes(current.as_ref().map(|c| c.config.as_str()), &config);
        return Ok(Json(ConfigWrite::DryRun(DryRun {
            base_version: current.map_or(0, |c| c.meta.version),
            changes,
            dry_run: true,
        }))
        .into_response());
    }
    if let Some(selector) = selector {
        let (stored, lines, rollout) = rollout_task::start(
            &app,
            rollout_task::Start {
                author: who.name,
                message,
                text,
                config,
                selector,
                bake,
                expected,
            },
        )
        .await?;
        let changes = stored.is_some().then_some(lines);
        let rollout = rollout.map(Box::new);
        return Ok(written(&app, stored, ConfigChanges { changes, rollout }));
    }
    let force = query.force.unwrap_or(false);
    let during = if force {
        DuringRollout::Supersede
    } else {
        DuringRollout::Refuse
    };
    let changed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let changed_out = Arc::clone(&changed);
    let stored = commit_during(&app, expected, during, move |current| {
        if current.is_some_and(|c| c.config == text) {
            return Ok(Update::Unchanged);
        }
        // Only comments, layout or explicitly written defaults differ: the fleet would run the
        // same config, so no version is made unless asked for.
        if !force
            && current
                .is_some_and(|c| weir_config::parse_fleet(&c.config).is_ok_and(|old| old == config))
        {
            return Ok(Update::Unchanged);
        }
        let lines = changes(current.map(|c| c.config.as_str()), &config);
        let detail = format!(
            "{} change{}",
            lines.len(),
            if lines.len() == 1 { "" } else { "s" }
        );
        *changed_out.lock().unwrap_or_else(|p| p.into_inner()) = lines;
        Ok(Update::Commit(Change {
            config: text,
            author: who.name,
            message,
            action: "replace".into(),
            drained: current.map(|c| c.meta.drained.clone()).unwrap_or_default(),
            detail,
        }))
    })
    .await?;
    // The changes are listed only when a version was stored.
    let changes = stored
        .is_some()
        .then(|| std::mem::take(&mut *changed.lock().unwrap_or_else(|p| p.into_inner())));
    Ok(written(
        &app,
        stored,
        ConfigChanges {
            changes,
            rollout: None,
        },
    ))
}

pub async fn list_versions(
    State(app): State<Arc<App>>,
    Query(query): Query<ReadQuery>,
    headers: HeaderMap,
) -> Result<Json<VersionList>, ApiError> {
    app.authorize(&headers, Role::Read)?;
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    let versions = app.store.list(limit, query.before);
    Ok(Json(VersionList { versions }))
}

pub async fn get_version(
    State(app): State<Arc<App>>,
    Path(number): Path<u64>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.authorize(&headers, Role::Read)?;
    let version = read_version(&app, number).await?;
    Ok(with_etag(
        Json(version_body(&version)).into_response(),
        number,
    ))
}

async fn read_version(app: &Arc<App>, number: u64) -> Result<Version, ApiError> {
    let store = Arc::clone(&app.store);
    tokio::task::spawn_blocking(move || store.get(number))
        .await
        .map_err(|e| ApiError::internal(format!("the store read was cancelled: {e}")))?
        .map_err(|e| ApiError::store(&e))?
        .ok_or_else(|| ApiError::not_found(format!("there is no version {number}")))
}

pub async fn rollback(
    State(app): State<Arc<App>>,
    Path(number): Path<u64>,
    Query(query): Query<WriteQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let who = app.authorize(&headers, Role::Operate)?;
    let expected = if_match(&headers)?;
    let message = query.message()?;
    let target = read_version(&app, number).await?;
    // Validated again: a version stored by an older release may not pass today's rules.
    weir_config::parse_fleet(&target.config).map_err(|e| ApiError::invalid(&e))?;
    let stored = commit(&app, expected, move |current| {
        if current
            .is_some_and(|c| c.config == target.config && c.meta.drained == target.meta.drained)
        {
            return Ok(Update::Unchanged);
        }
        Ok(Update::Commit(Change {
            config: target.config,
            author: who.name,
            message,
            action: "rollback".into(),
            drained: target.meta.drained,
            detail: format!("to version {number}"),
        }))
    })
    .await?;
    Ok(written(
        &app,
        stored,
        RolledBack {
            rolled_back_to: number,
        },
    ))
}

/// The answer to a write: `201` with the new version, or `200` with the current one when nothing
/// changed; `detail` is what this kind of change reports.
pub fn written<T: Serialize>(app: &App, stored: Option<Arc<Version>>, detail: T) -> Response {
    match stored {
        Some(version) => {
            let number = version.meta.version;
            let body = Written {
                version: number,
                changed: true,
                detail,
            };
            with_etag((StatusCode::CREATED, Json(body)).into_response(), number)
        }
        None => Json(Written {
            version: app.store.current().map_or(0, |c| c.meta.version),
            changed: false,
            detail,
        })
        .into_response(),
    }
}

pub async fn audit(
    State(app): State<Arc<App>>,
    Query(query): Query<ReadQuery>,
    headers: HeaderMap,
) -> Result<Json<AuditList>, ApiError> {
    app.authorize(&headers, Role::Read)?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let store = Arc::clone(&app.store);
    let entries = tokio::task::spawn_blocking(move || store.audit(limit))
        .await
        .map_err(|e| ApiError::internal(format!("the audit read was cancelled: {e}")))?
        .map_err(|e| ApiError::store(&e))?;
    Ok(Json(AuditList { entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_forms() {
        let mut headers = HeaderMap::new();
        assert_eq!(if_match(&headers).unwrap(), None);
        for (value, expected) in [
            ("\"7\"", Some(7)),
            ("7", Some(7)),
            ("W/\"7\"", Some(7)),
            ("*", None),
        ] {
            headers.insert(header::IF_MATCH, HeaderValue::from_static(value));
            assert_eq!(if_match(&headers).unwrap(), expected, "{value}");
        }
        headers.insert(header::IF_MATCH, HeaderValue::from_static("\"abc\""));
        assert_eq!(
            if_match(&headers).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn json_bodies_become_toml() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        let text = body_text(
            &headers,
            &Bytes::from_static(br#"{"load_shedding":{"max_in_flight":5}}"#),
        )
        .unwrap();
        assert_eq!(text.trim(), "[load_shedding]\nmax_in_flight = 5");
        let null = body_text(&headers, &Bytes::from_static(br#"{"a":null}"#)).unwrap_err();
        assert_eq!(null.status, StatusCode::BAD_REQUEST);
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/png"));
        let wrong = body_text(&headers, &Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(wrong.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
}
