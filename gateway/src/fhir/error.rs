//! The one place an error becomes an HTTP answer: always an OperationOutcome. Building one has
//! no side effects; the trace middleware logs the detail of a server error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signpost_profiles::{Issue, IssueType, ParseError, operation_outcome};

use crate::store::StoreError;
use crate::telemetry::refusals::{IssueCodes, ServerErrorDetail};
use crate::workflow::WorkflowError;
use crate::workflow::task_status::Refusal;
use crate::workflow::task_update::UpdateError;

/// An error answer: a status and the issues that explain it.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Why (at least one).
    pub issues: Vec<Issue>,
    /// `WWW-Authenticate` for 401 answers.
    pub challenge: Option<String>,
    /// For a server error, what went wrong: logged, never sent.
    pub detail: Option<String>,
}

impl ApiError {
    /// An answer with one issue.
    pub fn new(status: StatusCode, issue: Issue) -> Self {
        Self {
            status,
            issues: vec![issue],
            challenge: None,
            detail: None,
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
            detail: None,
        }
    }

    /// Adds a `WWW-Authenticate` challenge.
    pub fn with_challenge(mut self, challenge: String) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// 500 for what should not happen; the detail goes to the log, not to the caller.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            Issue::error(
                IssueType::Exception,
                "an internal error occurred; nothing was saved",
            ),
        );
        error.detail = Some(format!("internal error: {detail}"));
        error
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
                StatusCode::CONFLICT,
                Issue::error(
                    IssueType::Transient,
                    "what this change was based on changed meanwhile; nothing was saved, please retry",
                ),
            ),
            // A value that cannot be stored or read back will not get better by retrying.
            StoreError::Corrupt(_) => Self::internal(e),
            other => {
                let mut error = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Issue::error(
                        IssueType::Transient,
                        "the store is unavailable; nothing was saved, please retry",
                    ),
                );
                error.detail = Some(format!("store failure: {other}"));
                error
            }
        }
    }
}

impl From<WorkflowError> for ApiError {
    fn from(e: WorkflowError) -> Self {
        let answer = |status, code, at: Option<&str>| {
            let issue = Issue::error(code, e.to_string());
            Self::new(
                status,
                match at {
                    Some(at) => issue.at(at),
                    None => issue,
                },
            )
        };
        match e {
            WorkflowError::Parse(e) => e.into(),
            WorkflowError::Invalid { at, .. } => {
                answer(StatusCode::BAD_REQUEST, IssueType::Invalid, Some(at))
            }
            WorkflowError::Unstorable(_) => {
                answer(StatusCode::BAD_REQUEST, IssueType::Structure, None)
            }
            WorkflowError::Unprocessable(issues) => Self::unprocessable(issues),
            WorkflowError::Routing(e) => Self::unprocessable(vec![e.issue()]),
            WorkflowError::Forbidden { at, .. } => {
                answer(StatusCode::FORBIDDEN, IssueType::Forbidden, at)
            }
            WorkflowError::Update(UpdateError::Invalid(issues)) => Self::unprocessable(issues),
            WorkflowError::Update(UpdateError::Transition(Refusal::NoSuchTransition {
                ..
            })) => answer(
                StatusCode::CONFLICT,
                IssueType::BusinessRule,
                Some("Task.status"),
            ),
            WorkflowError::Update(UpdateError::Transition(Refusal::WrongActor { .. })) => answer(
                StatusCode::FORBIDDEN,
                IssueType::Forbidden,
                Some("Task.status"),
            ),
            WorkflowError::Update(UpdateError::OwnerOnly(ref element)) => {
                let element = element.clone();
                answer(StatusCode::FORBIDDEN, IssueType::Forbidden, Some(&element))
            }
            WorkflowError::NotFound(_) => answer(StatusCode::NOT_FOUND, IssueType::NotFound, None),
            WorkflowError::StaleVersion { .. } => {
                answer(StatusCode::PRECONDITION_FAILED, IssueType::Conflict, None)
            }
            WorkflowError::ParentTaskChanged => answer(
                StatusCode::CONFLICT,
                IssueType::Conflict,
                Some("ServiceRequest.basedOn[0]"),
            ),
            WorkflowError::ChainKeptChanging => {
                answer(StatusCode::CONFLICT, IssueType::Transient, None)
            }
            WorkflowError::Duplicate => answer(StatusCode::CONFLICT, IssueType::Duplicate, None),
            WorkflowError::NoRoom(issues) => {
                let mut error = Self::new(StatusCode::CONFLICT, issues[0].clone());
                error.issues = issues;
                error
            }
            WorkflowError::MultipleMatches => answer(
                StatusCode::PRECONDITION_FAILED,
                IssueType::MultipleMatches,
                None,
            ),
            WorkflowError::Store(e) => e.into(),
            WorkflowError::Internal(detail) => Self::internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = operation_outcome(&self.issues).to_string();
        let codes = IssueCodes(self.issues.iter().map(|i| i.code.code()).collect());
        let mut response = (self.status, body).into_response();
        response.extensions_mut().insert(codes);
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ServerErrorDetail(detail));
        }
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
