//! `PUT` and `PATCH /fhir/Task/{id}`: version-aware Task updates through the workflow rules.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use signpost_profiles::{Issue, IssueType, has_errors, parse_resource};

use super::body::FhirBody;
use super::read::visible;
use super::{ApiError, json_patch, resource_response};
use crate::audit::{self, Outcome};
use crate::auth::{Interaction, Principal, tenancy};
use crate::state::AppState;
use crate::store::{CommitOutcome, Once, StoreError, now};
use crate::telemetry::correlation_id;
use crate::workflow::WorkflowError;
use crate::workflow::issues::merge as merge_issues;
use crate::workflow::propagation::ChainChange;
use crate::workflow::task_status::{Actor, Refusal};
use crate::workflow::task_update::{UpdateError, actor_of, check_update, merge};

/// Side effects touch other resources that may change under us; rebuild and retry this often.
const ATTEMPTS: usize = 3;

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

fn refused(e: UpdateError) -> ApiError {
    match e {
        UpdateError::Invalid(issues) => ApiError::unprocessable(issues),
        UpdateError::Transition(r @ Refusal::NoSuchTransition { .. }) => ApiError::new(
            StatusCode::CONFLICT,
            Issue::error(IssueType::BusinessRule, r.to_string()).at("Task.status"),
        ),
        UpdateError::Transition(r @ Refusal::WrongActor { .. }) => ApiError::new(
            StatusCode::FORBIDDEN,
            Issue::error(IssueType::Forbidden, r.to_string()).at("Task.status"),
        ),
        UpdateError::OwnerOnly(element) => ApiError::new(
            StatusCode::FORBIDDEN,
            Issue::error(
                IssueType::Forbidden,
                format!("only the Task's owner may change {element}"),
            )
            .at(element),
        ),
    }
}

fn only_tasks(resource_type: &str) -> Result<(), ApiError> {
    if resource_type == "Task" {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            Issue::error(
                IssueType::NotSupported,
                format!("{resource_type} cannot be updated; Tasks carry the workflow"),
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
    update(&state, &who, &id, &headers, |_| {
        let proposed = parse_resource(&bytes, Some("Task"))?.json;
        match proposed.get("id").and_then(Value::as_str) {
            Some(body_id) if body_id == id => Ok(proposed),
            other => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                Issue::error(
                    IssueType::Invalid,
                    format!(
                        "the body's id ({}) must equal the URL's ({id})",
                        other.unwrap_or("missing")
                    ),
                )
                .at("Task.id"),
            )),
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
    let ops: Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::bad_request(
            IssueType::Structure,
            format!("the JSON Patch is not valid JSON: {e}"),
        )
    })?;
    update(&state, &who, &id, &headers, |current| {
        let mut patched = current.clone();
        json_patch::apply(&mut patched, &ops, state.config.server.max_body_bytes).map_err(|e| {
            ApiError::unprocessable(vec![Issue::error(IssueType::Invalid, e.to_string())])
        })?;
        let bytes = serde_json::to_vec(&patched)
            .map_err(|e| ApiError::bad_request(IssueType::Structure, e.to_string()))?;
        Ok(parse_resource(&bytes, Some("Task"))?.json)
    })
    .await
}

/// The shared path: check the caller, version and rules, then commit the Task, its effects on the
/// chain, the deliveries and the AuditEvent together.
async fn update(
    state: &AppState,
    who: &Principal,
    id: &str,
    headers: &HeaderMap,
    propose: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let expected = if_match(headers)?;
    apply_update(
        state,
        who,
        id,
        Some(expected),
        correlation_id(headers),
        None,
        propose,
    )
    .await
}

/// Applies a Task change for `who`: `expected` is the version the caller based it on
/// (`None`: whatever is current, for callers with no version to give, still under the state machine).
pub(crate) async fn apply_update(
    state: &AppState,
    who: &Principal,
    id: &str,
    expected: Option<i64>,
    correlation_id: String,
    once: Option<Once>,
    propose: impl Fn(&Value) -> Result<Value, ApiError>,
) -> Result<Response, ApiError> {
    let target = format!("Task/{id}");
    crate::auth::bearer::require(who, state, "Task", Interaction::Update, &target).await?;
    for attempt in 1..=ATTEMPTS {
        let current = visible(state, who, "Task", id).await?;
        let expected = expected.unwrap_or(current.version);
        if expected != current.version {
            return Err(ApiError::new(
                StatusCode::PRECONDITION_FAILED,
                Issue::error(
                    IssueType::Conflict,
                    format!(
                        "Task/{id} is at version {}, not {expected}: read it again and reapply your change",
                        current.version
                    ),
                ),
            ));
        }
        let current_json: Value = serde_json::from_str(current.body.get()).unwrap_or(Value::Null);
        // The caller edits what it was shown; only mutable elements can differ from that.
        let seen = tenancy::view_json(who, &current_json);
        let proposed = propose(&seen)?;
        let actor = actor_of(&current_json, &who.organisation);
        if actor == Actor::Other {
            audit::refusal(
                state.store.as_ref(),
                Some(who),
                Interaction::Update,
                &target,
                Outcome::Refused(403),
            )
            .await;
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                Issue::error(
                    IssueType::Forbidden,
                    "only the Task's owner or requester may change it",
                ),
            ));
        }
        // Profile and workflow problems are reported together, so the sender fixes them in one go.
        let profile_issues = state.validator.validate(&proposed);
        let (from, to) = match check_update(&seen, &proposed, actor) {
            Err(UpdateError::Invalid(more)) => {
                return Err(ApiError::unprocessable(merge_issues(profile_issues, more)));
            }
            _ if has_errors(&profile_issues) => {
                return Err(ApiError::unprocessable(profile_issues));
            }
            result => result.map_err(refused)?,
        };

        let at = now();
        let mut change = ChainChange::new(
            state.store.as_ref(),
            &state.directory,
            at,
            correlation_id.clone(),
        );
        let next = merge(&current_json, &proposed);
        change.put(next.clone(), current.version);
        change.follow(&next, from, to, &who.organisation).await?;
        let mut changes = change.into_change_set().await?;
        let audit_event = audit::event(
            Some(who),
            Interaction::Update,
            &target,
            Outcome::Success,
            at,
        )
        .map_err(ApiError::internal)?;
        changes.writes.push(audit_event);
        changes.once = once.clone();
        let stored = changes
            .writes
            .iter()
            .find(|w| w.resource.resource_type == "Task" && w.resource.id == id)
            .map(|w| w.resource.clone());
        let has_deliveries = !changes.outbox.is_empty();
        match state.store.commit(changes).await {
            Ok(CommitOutcome::Committed) => {
                if has_deliveries {
                    state.outbox_wake.notify_one();
                }
                tracing::info!(task = %id, from = %from, to = %to, "task updated");
                let stored = stored.ok_or_else(|| {
                    ApiError::internal("the updated Task was not in its change set")
                })?;
                return Ok(resource_response(
                    StatusCode::OK,
                    &tenancy::view(who, &stored),
                    None,
                ));
            }
            Ok(CommitOutcome::AlreadyExists(_)) => {
                return Err(ApiError::internal("an update carried a condition"));
            }
            Ok(CommitOutcome::Replayed) => return Err(WorkflowError::Duplicate.into()),
            // Something changed since it was read. If it was this Task, the next round answers 412
            // (the caller's If-Match is stale); if it was a resource up or down the chain, we rebuild.
            // After the last round, fall through to the 409 below, which names no other resource.
            Err(StoreError::VersionConflict { .. }) => {
                tracing::info!(task = %id, attempt, "a resource in the chain changed meanwhile; retrying");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ApiError::new(
        StatusCode::CONFLICT,
        Issue::error(
            IssueType::Transient,
            "the referral chain kept changing while this update was applied; please retry",
        ),
    ))
}
