//! One error type for the whole API, and the body/query extractors that
//! turn every malformed request into it.
//!
//! Owns the JSON error shape `{ "error": "<code>", "reason": "<text>" }`.
//! Must never show an internal cause (a database error, a path): those are
//! logged and the client gets a generic reason.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::control::ControlError;

/// Any refusal or failure of an API request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    /// A stable code for the pages (`bad_request`, `forbidden`, ...).
    pub error: &'static str,
    /// For people: what was wrong.
    pub reason: String,
    /// Seconds, for 429.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    reason: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError { status, error, reason: reason.into(), retry_after: None }
    }
    pub fn bad_request(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", reason)
    }
    pub fn unauthorized(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", reason)
    }
    pub fn forbidden(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", reason)
    }
    pub fn not_found(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", reason)
    }
    pub fn conflict(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", reason)
    }
    pub fn invalid(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", reason)
    }
    pub fn too_many(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many login attempts; try again later")
        }
    }
    /// An infrastructure fault: logged here, a generic reason outside.
    pub fn internal(cause: &dyn std::error::Error) -> ApiError {
        tracing::error!(error = %cause, "console request failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: self.error, reason: &self.reason };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        match &e {
            ControlError::Acd(_) | ControlError::NotYourCall(_) | ControlError::MonitorRefused { .. } => ApiError::conflict(e.to_string()),
            ControlError::NotSupported { .. } => ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_supported", e.to_string()),
            ControlError::UnknownCalendar { .. } => ApiError::not_found(e.to_string()),
            ControlError::AgentPassword { .. } => ApiError::invalid(e.to_string()),
            ControlError::DialplanRefused { diagnostics } => ApiError::invalid(format!("{e}:\n{}", diagnostics.join("\n"))),
            ControlError::ShuttingDown => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting_down", e.to_string()),
            ControlError::Write { .. } => ApiError::internal(&e),
        }
    }
}

impl From<ivr_store::users::UserError> for ApiError {
    fn from(e: ivr_store::users::UserError) -> ApiError {
        use ivr_store::users::UserError;
        match &e {
            UserError::Duplicate { .. } => ApiError::conflict(e.to_string()),
            UserError::NotFound { .. } => ApiError::not_found(e.to_string()),
            UserError::Store(_) | UserError::Corrupt { .. } => ApiError::internal(&e),
            _ => ApiError::invalid(e.to_string()),
        }
    }
}

/// A JSON body: wrong content type, bad JSON, wrong types, missing or
/// unknown fields and bodies over the limit are all `ApiError`s.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let error = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "invalid",
        _ => "bad_request",
    };
    let status = if status.is_client_error() { status } else { StatusCode::BAD_REQUEST };
    ApiError::new(status, error, rejection.body_text())
}

/// A query string, with the same error shape.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::bad_request(rejection.body_text())
}

/// The JSON 404 for unknown `/api` paths and 405 for wrong methods.
pub async fn api_not_found() -> ApiError {
    ApiError::not_found("no such API endpoint")
}
