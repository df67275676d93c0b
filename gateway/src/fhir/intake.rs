//! `POST /fhir/ServiceRequest`: the HTTP side of submitting a referral (the workflow's
//! `submit_referral` does the rest).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use signpost_profiles::{Issue, IssueType, Severity, parse_resource};

use super::body::FhirBody;
use super::search_params::parse_search;
use super::{ApiError, resource_response};
use crate::auth::{Interaction, Principal};
use crate::state::AppState;
use crate::store::Once;
use crate::workflow::submit_referral::{Submission, Submitted, submit_referral};

/// Creates a referral, or returns the existing one when `If-None-Exist` matches.
pub async fn create_service_request(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    FhirBody(bytes): FhirBody,
) -> Result<Response, ApiError> {
    let if_none_exist = match headers.get("if-none-exist") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| {
                    ApiError::bad_request(
                        IssueType::Invalid,
                        "If-None-Exist must be a plain search string like identifier=system|value",
                    )
                })?
                .to_owned(),
        ),
    };
    let answer = if prefers_outcome(&headers) {
        Answer::Outcome
    } else {
        Answer::Resource
    };
    let correlation_id = crate::telemetry::correlation_id(&headers)?;
    let submitted = submit(&state, &who, &bytes, if_none_exist, correlation_id, None).await?;
    Ok(answered(&state, answer, submitted))
}

/// What a successful create answers with (FHIR's `Prefer: return=...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer {
    /// The resource as stored (the default).
    Resource,
    /// An OperationOutcome: that it was created, and any warnings.
    Outcome,
}

/// `Prefer: return=OperationOutcome`.
pub(crate) fn prefers_outcome(headers: &HeaderMap) -> bool {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split([',', ';']))
        .any(|p| p.trim().eq_ignore_ascii_case("return=OperationOutcome"))
}

/// The 201 answer. Warnings go in the OperationOutcome when one is asked for, and always in
/// `Warning: 299` headers, so a sender that only reads the resource can still be told.
fn created(
    answer: Answer,
    stored: &crate::store::StoredResource,
    location: String,
    warnings: Vec<Issue>,
) -> Response {
    let mut response = match answer {
        Answer::Resource => resource_response(StatusCode::CREATED, stored, Some(location)),
        Answer::Outcome => {
            let mut issues = vec![Issue::new(
                Severity::Information,
                IssueType::Informational,
                format!("created ServiceRequest/{}", stored.id),
            )];
            issues.extend(warnings.iter().cloned());
            let mut response = super::fhir_response(
                StatusCode::CREATED,
                signpost_profiles::operation_outcome(&issues).to_string(),
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
                response
                    .headers_mut()
                    .insert(axum::http::header::LOCATION, v);
            }
            response
        }
    };
    for warning in &warnings {
        // A header value holds visible ASCII only; the diagnostics are Signpost's own words.
        let text = warning.diagnostics.replace(['"', '\\'], "'");
        if let Ok(v) = axum::http::HeaderValue::from_str(&format!("299 signpost \"{text}\"")) {
            response
                .headers_mut()
                .append(axum::http::header::WARNING, v);
        }
    }
    if !warnings.is_empty() {
        let codes: Vec<&str> = warnings.iter().map(|w| w.code.code()).collect();
        tracing::info!(service_request = %stored.id, issues = %codes.join(","), "referral accepted with warnings");
    }
    response
}

/// The scope check, then the body and `If-None-Exist` parsed, then the workflow command.
pub(crate) async fn submit(
    state: &AppState,
    who: &Principal,
    bytes: &[u8],
    if_none_exist: Option<String>,
    correlation_id: String,
    once: Option<Once>,
) -> Result<Submitted, ApiError> {
    crate::auth::bearer::require(
        who,
        state,
        "ServiceRequest",
        Interaction::Create,
        "ServiceRequest",
    )
    .await?;
    let service_request = parse_resource(bytes, Some("ServiceRequest"))?.json;
    let if_none_exist = match if_none_exist.as_deref() {
        None => None,
        Some(raw) => {
            let search = parse_search("ServiceRequest", raw.trim_start_matches('?'))?.query;
            if search.criteria.is_empty() {
                return Err(ApiError::bad_request(
                    IssueType::Invalid,
                    "If-None-Exist names no search criteria",
                ));
            }
            Some(search)
        }
    };
    let submission = Submission {
        service_request,
        if_none_exist,
        correlation_id,
        once,
    };
    Ok(submit_referral(state.services(), who, submission).await?)
}

/// The answer to a submission: 201 for a new referral, 200 with the one `If-None-Exist` found.
pub(crate) fn answered(state: &AppState, answer: Answer, submitted: Submitted) -> Response {
    match submitted {
        Submitted::Created {
            service_request,
            warnings,
        } => {
            let location = format!(
                "{}/ServiceRequest/{}/_history/1",
                state.config.server.fhir_base(),
                service_request.id
            );
            created(answer, &service_request, location, warnings)
        }
        Submitted::Existing(existing) => resource_response(StatusCode::OK, &existing, None),
    }
}
