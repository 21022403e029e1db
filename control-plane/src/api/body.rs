//! Reads every request body before a handler runs, bounded in size and time: a body larger than
//! its route's cap is answered `413` from its `Content-Length` alone (never kept), a body that
//! grows past the cap while read is `413` too, a body that does not arrive within
//! `BODY_READ_TIMEOUT` is `408`; all three close the connection. After a `413` the rest of the
//! body is read and dropped in the background (at most `DISCARD_BYTES`, for `DISCARD_TIME`), so
//! a client still sending it reads the answer instead of a reset. A request without a known token
//! has its body drained and dropped (never kept), so the handler's `401` comes after the whole
//! request was read and the client reliably reads it on a connection that stays usable.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::{ApiError, App, MAX_BODY_BYTES, MAX_REPORT_BYTES, MAX_TELEMETRY_BYTES};

/// A body must arrive within this.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// After a `413`, at most this much of the rest of the body is read and dropped...
const DISCARD_BYTES: usize = 16 << 20;
/// ...for at most this long; then the connection is closed whatever the client still sends.
const DISCARD_TIME: Duration = Duration::from_secs(5);

/// The body cap of a request path.
pub fn limit_for(path: &str) -> usize {
    if path.starts_with("/v1/gateways/") && path.ends_with("/report") {
        MAX_REPORT_BYTES
    } else if path.starts_with("/v1/gateways/") && path.ends_with("/telemetry") {
        MAX_TELEMETRY_BYTES
    } else {
        MAX_BODY_BYTES
    }
}

/// Why a body was not read.
enum Unread {
    TooLarge,
    Timeout,
    Broken(String),
}

pub async fn read(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let limit = limit_for(request.uri().path());
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        discard(body);
        return refuse(&app, Unread::TooLarge, limit);
    }
    let known = app.tokens.knows(
        parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    );
    let mut body = body;
    let read = tokio::time::timeout(BODY_READ_TIMEOUT, collect(&mut body, limit, known)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(Unread::TooLarge)) => {
            discard(body);
            return refuse(&app, Unread::TooLarge, limit);
        }
        Ok(Err(unread)) => return refuse(&app, unread, limit),
        Err(_) => return refuse(&app, Unread::Timeout, limit),
    };
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The body, at most `limit` bytes; when `keep` is false it is read and dropped chunk by chunk.
async fn collect(body: &mut Body, limit: usize, keep: bool) -> Result<Bytes, Unread> {
    let mut kept = Vec::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Unread::Broken(e.to_string()))?;
        let Ok(data) = frame.into_data() else {
            continue; // trailers carry nothing for us
        };
        seen = seen.saturating_add(data.len());
        if seen > limit {
            return Err(Unread::TooLarge);
        }
        if keep {
            kept.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(kept))
}

/// Reads and drops what is left of `body` in the background, bounded in bytes and time.
fn discard(mut body: Body) {
    tokio::spawn(async move {
        let drain = async {
            let mut seen = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                if seen > DISCARD_BYTES {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(DISCARD_TIME, drain).await;
    });
}

fn refuse(app: &App, unread: Unread, limit: usize) -> Response {
    let (reason, error) = match unread {
        Unread::TooLarge => (
            "too_large",
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Payload Too Large",
                format!("the body is larger than this path's limit of {limit} bytes"),
            ),
        ),
        Unread::Timeout => (
            "timeout",
            ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "Request Timeout",
                format!(
                    "the body did not arrive within {}s",
                    BODY_READ_TIMEOUT.as_secs()
                ),
            ),
        ),
        Unread::Broken(detail) => (
            "broken",
            ApiError::bad_request(format!("the body could not be read: {detail}")),
        ),
    };
    app.metrics
        .bodies_refused
        .with_label_values(&[reason])
        .inc();
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
