//! `X-Request-Id` and `X-Correlation-Id` on the FHIR API: optional, but UUIDs when sent. A
//! value that is not one is refused here, before anything is done or passed on to a partner.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::telemetry::{correlation_id, request_id};

/// Refuses a request whose id headers are not UUIDs (400, naming the header).
pub async fn checked(request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Err(e) = correlation_id(headers).and_then(|_| request_id(headers)) {
        return ApiError::from(e).into_response();
    }
    next.run(request).await
}
