//! `POST /fhir/ServiceRequest`: a referral arrives, is checked, routed and stored with its Task and delivery.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use signpost_profiles::{Issue, IssueType, Referral, Severity, has_errors};

use super::body::FhirBody;
use super::search_params::parse_search;
use super::validate::{merge, profiled};
use super::{ApiError, resource_response};
use crate::audit::{self, Outcome};
use crate::auth::{Interaction, Principal, tenancy};
use crate::state::AppState;
use crate::store::{
    CommitOutcome, Condition, Criterion, Once, SearchQuery, SortOrder, StoreError, now,
};
use crate::workflow::propagation::reference_id;
use crate::workflow::referral::new_referral;
use crate::workflow::task_status::TaskStatus;
use crate::workflow::task_update::status_of;
use serde_json::Value;

/// 409 `duplicate`: the message or event id was already processed (BaRS `REC_CONFLICT`).
pub(crate) fn duplicate() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        Issue::error(IssueType::Duplicate, "this message was already processed"),
    )
}

/// The link-worker Task an onward referral hangs from: the caller's own, active Task whose focus
/// is the ServiceRequest in `basedOn`.
async fn onward_parent(
    state: &AppState,
    who: &Principal,
    sr: &Value,
) -> Result<(String, i64), ApiError> {
    let unusable = |why: String| {
        ApiError::unprocessable(vec![
            Issue::error(IssueType::BusinessRule, why).at("ServiceRequest.basedOn[0]"),
        ])
    };
    let parent_sr = reference_id(sr.pointer("/basedOn/0"), "ServiceRequest").ok_or_else(|| {
        unusable("basedOn must reference the ServiceRequest you are referring onward from".into())
    })?;
    let mut query = SearchQuery {
        resource_type: "Task".into(),
        criteria: vec![
            Criterion::Index {
                param: "focus",
                any_of: vec![(None, format!("ServiceRequest/{parent_sr}"))],
            },
            Criterion::Index {
                param: "owner",
                any_of: vec![(None, who.party())],
            },
        ],
        count: 1,
        offset: 0,
        sort: SortOrder::default(),
    };
    tenancy::restrict(who, &mut query);
    let page = state.store.search(&query).await?;
    let task = page.resources.first().ok_or_else(|| {
        unusable(format!(
            "ServiceRequest/{parent_sr} is not a referral your organisation owns a Task for"
        ))
    })?;
    let json: Value = serde_json::from_str(task.body.get()).unwrap_or(Value::Null);
    match status_of(&json) {
        Some(status) if status.may_refer_onward() => Ok((task.id.clone(), task.version)),
        other => Err(unusable(format!(
            "Task/{} is {}: accept the referral before referring onward, and not after it has ended",
            task.id,
            other.map_or("in an unknown state", TaskStatus::code)
        ))),
    }
}

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
    intake(
        state,
        who,
        if_none_exist,
        crate::telemetry::correlation_id(&headers),
        None,
        answer,
        &bytes,
    )
    .await
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
fn prefers_outcome(headers: &HeaderMap) -> bool {
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

/// The intake every way in shares (`POST /fhir/ServiceRequest`, BaRS `$process-message`):
/// parse, check, route, and commit the referral, its Task, delivery and AuditEvent at once.
pub(crate) async fn intake(
    state: AppState,
    who: Principal,
    if_none_exist: Option<String>,
    correlation_id: String,
    once: Option<Once>,
    answer: Answer,
    bytes: &[u8],
) -> Result<Response, ApiError> {
    crate::auth::bearer::require(
        &who,
        &state,
        "ServiceRequest",
        Interaction::Create,
        "ServiceRequest",
    )
    .await?;
    let (sr, issues) = profiled(&state, bytes, "ServiceRequest")?;
    let referral = match Referral::from_service_request(&sr) {
        Ok(referral) if !has_errors(&issues) => referral,
        Ok(_) => return Err(ApiError::unprocessable(issues)),
        Err(more) => return Err(ApiError::unprocessable(merge(issues, more))),
    };
    // Accepted with warnings (e.g. a service code outside the social prescribing ValueSet): the
    // sender is told, not left to find out from a link worker.
    let warnings: Vec<Issue> = issues
        .into_iter()
        .filter(|i| i.severity == Severity::Warning)
        .collect();
    if referral.requester != who.organisation {
        audit::refusal(
            state.store.as_ref(),
            Some(&who),
            Interaction::Create,
            "ServiceRequest",
            Outcome::Refused(403),
        )
        .await;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Issue::error(
                IssueType::Forbidden,
                format!(
                    "this client acts for {} and cannot send a referral whose requester is {}",
                    who.organisation, referral.requester
                ),
            )
            .at("ServiceRequest.requester.identifier.value"),
        ));
    }
    // An onward referral (basedOn the GP's) goes to a VCS provider, hanging from the link worker's Task.
    let parent_task = match sr.get("basedOn") {
        None => None,
        Some(_) => Some(onward_parent(&state, &who, &sr).await?),
    };
    let owner = match parent_task {
        Some(_) => state.directory.onward_destination(&referral),
        None => state.directory.destination(&referral),
    }
    .map_err(|e| ApiError::unprocessable(vec![e.issue()]))?;

    let condition = match if_none_exist.as_deref() {
        None => None,
        Some(raw) => {
            let mut search = parse_search("ServiceRequest", raw.trim_start_matches('?'))?.query;
            if search.criteria.is_empty() {
                return Err(ApiError::bad_request(
                    IssueType::Invalid,
                    "If-None-Exist names no search criteria",
                ));
            }
            search.count = 2;
            search.offset = 0;
            // Only the caller's own referrals can match, so the header cannot probe other practices.
            tenancy::restrict(&who, &mut search);
            Some(Condition::IfNoneExist(search))
        }
    };

    let at = now();
    let mut built = new_referral(
        &sr,
        &referral,
        owner,
        &state.directory,
        &correlation_id,
        parent_task.as_ref().map(|(id, _)| id.as_str()),
        at,
    )
    .map_err(|e| {
        ApiError::bad_request(
            IssueType::Structure,
            format!("could not store the resource: {e}"),
        )
    })?;
    built.changes.condition = condition;
    built.changes.once = once;
    // The parent Task must still be as it was checked: a cancellation in between refuses this.
    if let Some((id, version)) = &parent_task {
        built
            .changes
            .unchanged
            .push(("Task".into(), id.clone(), *version));
    }
    let target = format!("ServiceRequest/{}", built.service_request_id);
    let audit_event = audit::event(
        Some(&who),
        Interaction::Create,
        &target,
        Outcome::Success,
        at,
    )
    .map_err(ApiError::internal)?;
    built.changes.writes.push(audit_event);
    let has_delivery = !built.changes.outbox.is_empty();
    let stored_sr = built.changes.writes[0].resource.clone();

    let committed = match state.store.commit(built.changes).await {
        Err(StoreError::VersionConflict { resource_type, .. }) if resource_type == "Task" => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                Issue::error(IssueType::Conflict, "the link-worker Task changed while this onward referral was made; check it and retry")
                    .at("ServiceRequest.basedOn[0]"),
            ));
        }
        other => other?,
    };
    match committed {
        CommitOutcome::Committed => {
            if has_delivery {
                state.outbox_wake.notify_one();
            }
            tracing::info!(service_request = %built.service_request_id, owner = %owner.ods, "referral accepted");
            let location = format!(
                "{}/ServiceRequest/{}/_history/1",
                state.config.server.fhir_base(),
                stored_sr.id
            );
            Ok(created(answer, &stored_sr, location, warnings))
        }
        CommitOutcome::AlreadyExists(existing) if existing.len() == 1 => {
            audit::access(
                state.store.as_ref(),
                &who,
                Interaction::Read,
                &format!("ServiceRequest/{}", existing[0].id),
            )
            .await?;
            Ok(resource_response(
                StatusCode::OK,
                &tenancy::view(&who, &existing[0]),
                None,
            ))
        }
        CommitOutcome::Replayed => Err(duplicate()),
        CommitOutcome::AlreadyExists(_) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            Issue::error(
                IssueType::MultipleMatches,
                "If-None-Exist matches more than one ServiceRequest; make the criteria specific (e.g. identifier=system|value)",
            ),
        )),
    }
}
