//! API errors as RFC 9457 problem+json: a status, a title, a detail that says what to fix, and
//! for an invalid config every error with its path and position.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use weir_config::ConfigErrors;
use weir_protocol::api::{ConfigProblem, Problem};

use crate::auth::Denied;
use crate::store::StoreError;

/// An error answer: its status and its problem+json body (boxed: errors travel in `Result`s).
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub problem: Box<Problem>,
}

impl ApiError {
    pub fn new(status: StatusCode, title: &'static str, detail: impl Into<String>) -> ApiError {
        ApiError {
            status,
            problem: Box::new(Problem::new(status.as_u16(), title, detail)),
        }
    }

    pub fn bad_request(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "Bad Request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "Not Found", detail)
    }

    pub fn denied(denied: &Denied) -> ApiError {
        match denied {
            Denied::Missing | Denied::Invalid => {
                ApiError::new(StatusCode::UNAUTHORIZED, "Unauthorized", denied.to_string())
            }
            Denied::Forbidden { .. } | Denied::OtherGateway { .. } => {
                ApiError::new(StatusCode::FORBIDDEN, "Forbidden", denied.to_string())
            }
        }
    }

    /// `422` listing every problem of a config.
    pub fn invalid(errors: &ConfigErrors) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Invalid Config",
            format!(
                "the config has {} problem{}; nothing was stored",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" }
            ),
        );
        error.problem.errors = Some(
            errors
                .iter()
                .map(|e| ConfigProblem {
                    path: e.path.clone(),
                    message: e.message.clone(),
                    line: e.line,
                    column: e.column,
                })
                .collect(),
        );
        error
    }

    /// `409`: the change was based on `expected`, but `current` is the version now.
    pub fn conflict(expected: u64, current: u64) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::CONFLICT,
            "Conflict",
            format!(
                "the change was based on version {expected} but the current version is \
                 {current}; read it again and retry"
            ),
        );
        error.problem.current_version = Some(current);
        error
    }

    pub fn store(error: &StoreError) -> ApiError {
        if error.is_unavailable() {
            tracing::error!(error = %error, "store unavailable");
            return ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Store Unavailable",
                format!(
                    "the store cannot be reached; nothing was changed (reads are served from \
                     this replica's last view); retry: {error}"
                ),
            );
        }
        tracing::error!(error = %error, "store failure");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Store Failure",
            format!("the store failed; nothing was changed: {error}"),
        )
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "Internal Error", detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&self.problem).unwrap_or_default();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        response
    }
}
