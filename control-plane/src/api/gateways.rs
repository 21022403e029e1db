//! The gateways' side of the API: the push stream each gateway holds open (NDJSON: hello, the
//! current version, every new version, heartbeats), the ACK/NACK reports they post, and the
//! operators' view of both. A stream ends when the gateway goes away (a write fails) or on
//! shutdown. A gateway token speaks only for the ids it is bound to (`403` otherwise), a new id
//! past the fleet's caps is `429`, and a report is logged as a summary, never its errors.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use weir_protocol::api::{GatewayList, NodeKind, ReplicaView};
use weir_protocol::{Report, StreamMessage};

use super::{ApiError, App};
use crate::auth::Role;
use crate::fleet::Refused;

/// Longest gateway id or region accepted.
const MAX_NAME_LEN: usize = 128;

#[derive(Debug, Deserialize)]
pub struct StreamQuery {
    pub gateway: Option<String>,
    pub region: Option<String>,
    /// `dns` from weir-dns, so it is listed as one before its first report; else a gateway.
    pub kind: Option<String>,
}

/// Gateway ids and regions are config names: letters, digits, `-`, `_`, `.`.
pub(super) fn check_name(what: &str, value: &str) -> Result<(), ApiError> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME_LEN
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "{what} must be 1 to {MAX_NAME_LEN} letters, digits, '-', '_' or '.', got {value:?}"
        )))
    }
}

pub async fn list(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
) -> Result<Json<GatewayList>, ApiError> {
    app.authorize(&headers, Role::Read)?;
    let current_version = app.store.current().map(|c| c.meta.version);
    let leadership = app.leadership.borrow().clone();
    let control_plane = ReplicaView {
        replica: app.replica.clone(),
        store: app.store.kind().to_owned(),
        leader: leadership.leader,
        store_connected: app.store.view().is_none_or(|view| view.connected),
    };
    Ok(Json(GatewayList {
        current_version,
        gateways: app.fleet.gateways(),
        control_plane: Some(control_plane),
    }))
}

/// `429` for a new gateway id past a cap.
pub(super) fn refused(app: &App, id: &str, token: &str, refused: &Refused) -> ApiError {
    tracing::warn!(
        gateway = id,
        token,
        reason = refused.reason(),
        known = app.metrics.gateways_known.get(),
        "new gateway id refused: a cap is reached"
    );
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "Too Many Gateways",
        refused.to_string(),
    )
}

pub async fn report(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Json<Report>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    app.authorize(&headers, Role::Gateway)?;
    check_name("the gateway id", &id)?;
    let who = app.authorize_gateway(&headers, &id)?;
    let Json(report) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    if let Some(region) = &report.region {
        check_name("region", region)?;
    }
    // A summary only: the errors are kept (capped) for GET /v1/gateways, never logged.
    tracing::info!(
        gateway = id, token = who.name, version = report.version, outcome = ?report.outcome,
        applied_version = report.applied_version, error_count = report.errors.len(),
        "gateway report"
    );
    app.fleet
        .report(&id, &who.name, report, SystemTime::now())
        .map_err(|e| refused(&app, &id, &who.name, &e))?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn stream(
    State(app): State<Arc<App>>,
    Query(query): Query<StreamQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    app.authorize(&headers, Role::Gateway)?;
    let id = query
        .gateway
        .ok_or_else(|| ApiError::bad_request("the stream needs ?gateway=<gateway id>"))?;
    check_name("gateway", &id)?;
    let who = app.authorize_gateway(&headers, &id)?;
    if let Some(region) = &query.region {
        check_name("region", region)?;
    }
    let kind = match query.kind.as_deref() {
        None | Some("gateway") => NodeKind::Gateway,
        Some("dns") => NodeKind::Dns,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "kind must be \"gateway\" or \"dns\", got {other:?}"
            )));
        }
    };
    let guard = app
        .fleet
        .connect(&id, query.region.clone(), kind, &who.name)
        .map_err(|e| refused(&app, &id, &who.name, &e))?;
    let (sender, receiver) = mpsc::channel::<Result<Bytes, Infallible>>(4);
    tracing::info!(gateway = id, region = ?query.region, "gateway stream opened");
    let feeder = Arc::clone(&app);
    tokio::spawn(async move {
        let _connected = guard;
        feed(&feeder, &id, kind, sender).await;
        tracing::info!(gateway = id, "gateway stream closed");
    });
    let mut response = Body::from_stream(ReceiverStream::new(receiver)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(weir_protocol::NDJSON),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Writes the stream until the gateway goes away or the control plane shuts down. A weir-dns
/// stream also gets the gateways' readiness, at once and on every change.
async fn feed(
    app: &App,
    id: &str,
    kind: NodeKind,
    sender: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let hello = StreamMessage::Hello {
        heartbeat_ms: u64::try_from(app.heartbeat.as_millis()).unwrap_or(u64::MAX),
    };
    if sender.send(Ok(Bytes::from(hello.to_line()))).await.is_err() {
        return;
    }
    let heartbeat = Bytes::from(StreamMessage::Heartbeat.to_line());
    let mut latest = app.fleet.subscribe();
    let mut sent: Option<u64> = None;
    let mut readiness = app.fleet.follow_readiness();
    let dns = kind == NodeKind::Dns;
    let mut shutdown = app.shutdown.clone();
    let mut beats = tokio::time::interval(app.heartbeat);
    beats.reset();
    loop {
        let line = tokio::select! {
            changed = latest.changed() => {
                if changed.is_err() {
                    return;
                }
                let pushed = latest.borrow_and_update().pick(id, kind).cloned();
                match pushed {
                    // A change of targets that leaves this gateway's version as it was (a
                    // canary started elsewhere) sends nothing.
                    Some(pushed) if sent != Some(pushed.version) => {
                        sent = Some(pushed.version);
                        app.metrics.pushes.inc();
                        pushed.line.clone()
                    }
                    _ => continue,
                }
            }
            changed = readiness.changed(), if dns => {
                if changed.is_err() {
                    return;
                }
                let view = readiness.borrow_and_update().as_ref().clone();
                Bytes::from(StreamMessage::Gateways(view).to_line())
            }
            _ = beats.tick() => {
                if dns {
                    app.fleet.refresh_readiness();
                }
                heartbeat.clone()
            }
            _ = shutdown.changed() => return,
            () = sender.closed() => return,
        };
        if sender.send(Ok(line)).await.is_err() {
            return;
        }
        app.fleet.seen(id);
    }
}
