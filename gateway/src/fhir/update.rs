//! `PUT` and `PATCH /fhir/Task/{id}`: version-aware Task updates through the workflow rules.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use signpost_profiles::{Issue, IssueType, parse_resource};

use super::body::FhirBody;
use super::{ApiError, json_patch, resource_response};
use crate::auth::{Interaction, Principal};
use crate::state::AppState;
use crate::telemetry::correlation_id;
use crate::workflow::WorkflowError;
use crate::workflow::update_task::{TaskChange, update_task};

/// The version an `If-Match` header names (`W/"3"`, `"3"` or `3`).
fn if_match(headers: &HeaderMap) -> Result<i64, ApiError> {
    let raw = headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::PRECONDITION_REQUIRED,
                Issue::error(
                    IssueType::Required,
                    "updates need If-Match with the version you read, e.g. If-Match: W/\"1\"",
                ),
            )
        })?;
    raw.trim()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .map_err(|_| {
            ApiError::bad_request(
                IssueType::Invalid,
                format!("If-Match \"{raw}\" does not name a version like W/\"1\""),
            )
        })
}

fn only_tasks(resource_type: &str) -> Result<(), ApiError> {
    if resource_type == "Task" || resource_type == "HealthcareService" {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Issue::error(
                IssueType::NotSupported,
                format!(
                    "{resource_type} cannot be updated; Tasks carry the workflow and providers declare capacity on HealthcareService"
                ),
            ),
        ))
    }
}

/// `PUT /fhir/Task/{id}`
pub async fn put(
    State(state): State<AppState>,
    who: Principal,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    FhirBody(bytes): FhirBody,
) -> Result<Response, ApiError> {
    only_tasks(&rtype)?;
    if rtype == "HealthcareService" {
        return super::directory::put(&state, &who, &id, if_match(&headers)?, &bytes).await;
    }
    update(&state, &who, &id, &headers, |_| {
        let proposed = parse_resource(&bytes, Some("Task"))?.json;
        match proposed.get("id").and_then(Value::as_str) {
            Some(body_id) if body_id == id => Ok(proposed),
            other => Err(WorkflowError::Invalid {
                message: format!(
                    "the body's id ({}) must equal the URL's ({id})",
                    other.unwrap_or("missing")
                ),
                at: "Task.id".into(),
            }),
        }
    })
    .await
}

/// `PATCH /fhir/Task/{id}` with a JSON Patch body.
pub async fn patch(
    State(state): State<AppState>,
    who: Principal,
    Path((rtype, id)): Path<(String, String)>,
    headers: HeaderMap,
    bytes: Bytes,
) -> Result<Response, ApiError> {
    only_tasks(&rtype)?;
    let media = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !media.starts_with("application/json-patch+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Issue::error(
                IssueType::NotSupported,
                "PATCH takes a JSON Patch: Content-Type: application/json-patch+json",
            ),
        ));
    }
    // The same strict reader as every FHIR body: a repeated member name is refused, not guessed.
    let ops: Value = signpost_profiles::read_json(&bytes).map_err(|e| {
        ApiError::bad_request(
            IssueType::Structure,
            format!("the JSON Patch is not valid JSON: {e}"),
        )
    })?;
    if rtype == "HealthcareService" {
        return super::directory::patch(&state, &who, &id, if_match(&headers)?, &ops).await;
    }
    update(&state, &who, &id, &headers, |current| {
        let mut patched = current.clone();
        json_patch::apply(&mut patched, &ops, state.config.server.max_body_bytes).map_err(|e| {
            WorkflowError::Unprocessable(vec![Issue::error(IssueType::Invalid, e.to_string())])
        })?;
        let bytes = serde_json::to_vec(&patched)
            .map_err(|e| WorkflowError::Internal(format!("a patched Task is not JSON: {e}")))?;
        Ok(parse_resource(&bytes, Some("Task"))?.json)
    })
    .await
}

/// What PUT and PATCH share: `If-Match`, the scope check, then the workflow command.
async fn update(
    state: &AppState,
    who: &Principal,
    id: &str,
    headers: &HeaderMap,
    propose: impl Fn(&Value) -> Result<Value, WorkflowError>,
) -> Result<Response, ApiError> {
    let expected = if_match(headers)?;
    let change = TaskChange {
        id: id.to_owned(),
        expected: Some(expected),
        correlation_id: correlation_id(headers)?,
        once: None,
    };
    update_as(state, who, change, propose).await
}

/// A Task update for any way in (FHIR, webhooks, BaRS cancellations): the scope check, the
/// workflow command, and the Task as the caller may see it.
pub(crate) async fn update_as(
    state: &AppState,
    who: &Principal,
    change: TaskChange,
    propose: impl Fn(&Value) -> Result<Value, WorkflowError>,
) -> Result<Response, ApiError> {
    let target = format!("Task/{}", change.id);
    crate::auth::bearer::require(who, state, "Task", Interaction::Update, &target).await?;
    let stored = update_task(state.services(), who, change, propose).await?;
    Ok(resource_response(StatusCode::OK, &stored, None))
}
