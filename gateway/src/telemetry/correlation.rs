//! Correlation ids: the one id that threads every log line, span and message about one change.

/// Header naming the conversation a referral belongs to.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The caller's `X-Correlation-Id`, or a new one: it threads every message about one change.
pub fn correlation_id(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.is_ascii())
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}
