//! Refused requests are logged at info with what an integration engineer needs to find out why
//! (method, route, status, the OperationOutcome's issue codes) and nothing of the request's
//! content, which may carry patient data.

use axum::http::{Method, StatusCode};
use axum::response::Response;

/// The issue codes of an error answer, attached to the response by the code that built it.
#[derive(Debug, Clone, Default)]
pub struct IssueCodes(pub Vec<&'static str>);

/// What went wrong behind a server error, attached to the response for the log and never sent.
#[derive(Debug, Clone)]
pub struct ServerErrorDetail(pub String);

/// Whether an answer is a refusal worth a log line. 401 and 404 are left out: they are audited,
/// and scanners make them in bulk.
fn is_refusal(status: StatusCode) -> bool {
    status.is_client_error()
        && status != StatusCode::UNAUTHORIZED
        && status != StatusCode::NOT_FOUND
}

/// Logs `response` if it is a refusal, or the detail of a server error.
pub fn log(method: &Method, route: &str, response: &Response) {
    let status = response.status();
    if let Some(ServerErrorDetail(detail)) = response.extensions().get::<ServerErrorDetail>() {
        tracing::error!(method = %method, route = %route, status = status.as_u16(), detail = %detail, "server error");
    }
    if !is_refusal(status) {
        return;
    }
    let issues = response
        .extensions()
        .get::<IssueCodes>()
        .map(|c| c.0.join(","))
        .unwrap_or_default();
    tracing::info!(
        method = %method,
        route = %route,
        status = status.as_u16(),
        issues = %issues,
        "request refused"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_but_401_and_404_are_refusals() {
        for status in [400, 403, 405, 409, 412, 413, 415, 422, 428] {
            assert!(
                is_refusal(StatusCode::from_u16(status).expect("status")),
                "{status}"
            );
        }
        for status in [200, 201, 401, 404, 500, 503] {
            assert!(
                !is_refusal(StatusCode::from_u16(status).expect("status")),
                "{status}"
            );
        }
    }
}
