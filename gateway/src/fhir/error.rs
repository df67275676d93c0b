//! The one place an error becomes an HTTP answer: always an OperationOutcome.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signpost_profiles::{Issue, IssueType, ParseError, operation_outcome};

use crate::store::StoreError;
use crate::telemetry::refusals::IssueCodes;

/// An error answer: a status and the issues that explain it.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Why (at least one).
    pub issues: Vec<Issue>,
    /// `WWW-Authenticate` for 401 answers.
    pub challenge: Option<String>,
}

impl ApiError {
    /// An answer with one issue.
    pub fn new(status: StatusCode, issue: Issue) -> Self {
        Self {
            status,
            issues: vec![issue],
            challenge: None,
        }
    }

    /// 400 for a request the server cannot read.
    pub fn bad_request(code: IssueType, diagnostics: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, Issue::error(code, diagnostics))
    }

    /// 422 for content that breaks a profile or business rule.
    pub fn unprocessable(issues: Vec<Issue>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            issues,
            challenge: None,
        }
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub fn with_challenge(mut self, challenge: String) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// 500 for what should not happen; the detail goes to the log, not to the caller.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(detail = %detail, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Issue::error(
                IssueType::Exception,
                "an internal error occurred; nothing was saved",
            ),
        )
    }

    /// 404, the same whether the resource never existed or the caller may not know of it.
    pub fn not_found(what: impl Into<String>) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            Issue::error(IssueType::NotFound, what),
        )
    }
}

impl From<ParseError> for ApiError {
    fn from(e: ParseError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.issue())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::VersionConflict { .. } => Self::new(
                StatusCode::PRECONDITION_FAILED,
                Issue::error(IssueType::Conflict, e.to_string()),
            ),
            other => {
                // The detail goes to the log, not to the caller.
                tracing::error!(error = %other, "store failure");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Issue::error(
                        IssueType::Transient,
                        "the store is unavailable; nothing was saved, please retry",
                    ),
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = operation_outcome(&self.issues).to_string();
        let codes = IssueCodes(self.issues.iter().map(|i| i.code.code()).collect());
        let mut response = (self.status, body).into_response();
        response.extensions_mut().insert(codes);
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::FHIR_JSON),
        );
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}
