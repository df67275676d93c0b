//! The one place an error becomes an HTTP answer: always an OperationOutcome. Building one has
//! no side effects; the trace middleware logs the detail of a server error.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use signpost_profiles::{Issue, IssueType, ParseError, operation_outcome};

use crate::store::StoreError;
use crate::telemetry::IdHeaderError;
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
    /// `Retry-After` seconds, for 429 and 503 answers.
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An answer with one issue.
    pub fn new(status: StatusCode, issue: Issue) -> Self {
        Self {
            status,
            issues: vec![issue],
            challenge: None,
            detail: None,
            retry_after: None,
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
            retry_after: None,
        }
    }

    /// 429: over a rate limit, with when to come back.
    pub fn too_many_requests(diagnostics: impl Into<String>, retry_after: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            Issue::error(IssueType::Throttled, diagnostics),
        );
        error.retry_after = Some(retry_after.max(1));
        error
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
        let mut error = Self::new(StatusCode::BAD_REQUEST, e.issue());
        error.issues = e.issues();
        error
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
            // Saying "nothing was saved" here could make the sender create it twice.
            StoreError::OutcomeUnknown(_) => {
                let mut error = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    Issue::error(
                        IssueType::Transient,
                        "the store stopped answering while saving; this may or may not have been saved: \
                         retry with If-None-Exist (or, for BaRS, the same X-Request-Id) so it is not made twice",
                    ),
                );
                error.detail = Some(format!("store failure: {e}"));
                error
            }
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
            WorkflowError::Invalid { ref at, .. } => {
                answer(StatusCode::BAD_REQUEST, IssueType::Invalid, Some(at))
            }
            WorkflowError::Unstorable(_) => {
                answer(StatusCode::BAD_REQUEST, IssueType::Structure, None)
            }
            WorkflowError::Unprocessable(issues) => Self::unprocessable(issues),
            WorkflowError::Routing(e) => Self::unprocessable(vec![e.issue()]),
            WorkflowError::Forbidden { ref at, .. } => {
                answer(StatusCode::FORBIDDEN, IssueType::Forbidden, at.as_deref())
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
            WorkflowError::NoRoom { issues, .. } => {
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

impl From<IdHeaderError> for ApiError {
    fn from(e: IdHeaderError) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            Issue::error(IssueType::Invalid, e.to_string()).at(e.header),
        )
    }
}

/// The issues a refusal was answered with, kept on the response so that an exchange with its
/// own error dialect (BaRS) can answer them in it.
#[derive(Debug, Clone)]
pub(crate) struct RefusalIssues(Vec<Issue>);

/// BaRS error codes (STANDARDS.md 1.7): the receiver's code for each HTTP status.
pub const BARS_ERROR_SYSTEM: &str = "https://fhir.nhs.uk/Codesystem/http-error-codes";

fn bars_error_code(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "REC_UNAUTHORIZED",
        403 => "REC_FORBIDDEN",
        404 => "REC_NOT_FOUND",
        405 => "REC_METHOD_NOT_ALLOWED",
        406 => "REC_NOT_ACCEPTABLE",
        408 => "REC_TIMEOUT",
        409 => "REC_CONFLICT",
        422 => "REC_UNPROCESSABLE_ENTITY",
        429 => "REC_TOO_MANY_REQUESTS",
        501 => "REC_NOT_IMPLEMENTED",
        503 => "REC_UNAVAILABLE",
        s if s >= 500 => "REC_SERVER_ERROR",
        _ => "REC_BAD_REQUEST",
    }
}

/// A refusal answered as a BaRS receiver does: each error issue carries the BaRS error code
/// for the status in `details.coding`, the outcome the UK Core profile. Other answers pass as they are.
pub(crate) fn in_bars_dialect(mut response: Response) -> Response {
    let Some(RefusalIssues(issues)) = response.extensions_mut().remove::<RefusalIssues>() else {
        return response;
    };
    let code = bars_error_code(response.status());
    let mut outcome = operation_outcome(&issues);
    outcome["meta"] = serde_json::json!({"profile": ["https://fhir.hl7.org.uk/StructureDefinition/UKCore-OperationOutcome"]});
    for issue in outcome["issue"].as_array_mut().into_iter().flatten() {
        if issue["severity"] == "error" {
            issue["details"] =
                serde_json::json!({"coding": [{"system": BARS_ERROR_SYSTEM, "code": code}]});
        }
    }
    let (parts, _) = response.into_parts();
    let mut response = Response::from_parts(parts, axum::body::Body::from(outcome.to_string()));
    // The length was the old body's.
    response.headers_mut().remove(header::CONTENT_LENGTH);
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = operation_outcome(&self.issues).to_string();
        let codes = IssueCodes(self.issues.iter().map(|i| i.code.code()).collect());
        let mut response = (self.status, body).into_response();
        response.extensions_mut().insert(codes);
        response
            .extensions_mut()
            .insert(RefusalIssues(self.issues.clone()));
        if let Some(detail) = self.detail {
            response.extensions_mut().insert(ServerErrorDetail(detail));
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(super::FHIR_JSON),
        );
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// Every over-limit answer an OperationOutcome: a body refused by the size limit before any
/// handler read it (PATCH, the webhook, the token endpoint) is answered in plain text by axum,
/// so the router's 413s are rewritten here, naming the limit in force.
pub async fn over_limit_as_outcome(
    axum::extract::State(limit): axum::extract::State<usize>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let response = next.run(request).await;
    let already = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == super::FHIR_JSON.as_bytes());
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE || already {
        return response;
    }
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        Issue::error(
            IssueType::TooLong,
            format!("the body is larger than this server accepts ({limit} bytes)"),
        ),
    )
    .into_response()
}
