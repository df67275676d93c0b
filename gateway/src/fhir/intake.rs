//! `POST /fhir/ServiceRequest`: a referral arrives, is checked, routed and stored with its Task and delivery.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use signpost_profiles::{Issue, IssueType, Referral, parse_resource};

use super::body::FhirBody;
use super::search_params::parse_search;
use super::{ApiError, resource_response};
use crate::app::AppState;
use crate::audit::{self, Outcome};
use crate::auth::{Interaction, Principal, tenancy};
use crate::store::{CommitOutcome, Condition, now};
use crate::workflow::referral::new_referral;

/// Header naming the conversation a referral belongs to; made up when absent.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Creates a referral, or returns the existing one when `If-None-Exist` matches.
pub async fn create_service_request(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    FhirBody(bytes): FhirBody,
) -> Result<Response, ApiError> {
    who.require(
        &state,
        "ServiceRequest",
        Interaction::Create,
        "ServiceRequest",
    )
    .await?;
    let parsed = parse_resource(&bytes, Some("ServiceRequest"))?;
    let referral = Referral::from_service_request(&parsed.json).map_err(ApiError::unprocessable)?;
    if referral.requester != who.organisation {
        audit::refusal(
            &state,
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
    let owner = state
        .directory
        .destination(&referral)
        .map_err(|e| ApiError::unprocessable(vec![e.issue()]))?;

    let condition = match headers.get("if-none-exist") {
        None => None,
        Some(value) => {
            let raw = value.to_str().map_err(|_| {
                ApiError::bad_request(
                    IssueType::Invalid,
                    "If-None-Exist must be a plain search string like identifier=system|value",
                )
            })?;
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

    let correlation_id = headers
        .get(CORRELATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let at = now();
    let mut built = new_referral(
        &parsed.json,
        &referral,
        owner,
        &state.directory,
        &correlation_id,
        at,
    )
    .map_err(|e| {
        ApiError::bad_request(
            IssueType::Structure,
            format!("could not store the resource: {e}"),
        )
    })?;
    built.changes.condition = condition;
    let target = format!("ServiceRequest/{}", built.service_request_id);
    let audit_event = audit::event(
        Some(&who),
        Interaction::Create,
        &target,
        Outcome::Success,
        at,
    )
    .map_err(|e| ApiError::bad_request(IssueType::Exception, e.to_string()))?;
    built.changes.writes.push(audit_event);
    let has_delivery = !built.changes.outbox.is_empty();
    let stored_sr = built.changes.writes[0].resource.clone();

    match state.store.commit(built.changes).await? {
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
            Ok(resource_response(
                StatusCode::CREATED,
                &stored_sr,
                Some(location),
            ))
        }
        CommitOutcome::AlreadyExists(existing) if existing.len() == 1 => {
            audit::access(
                &state,
                &who,
                Interaction::Read,
                &format!("ServiceRequest/{}", existing[0].id),
            )
            .await?;
            Ok(resource_response(StatusCode::OK, &existing[0], None))
        }
        CommitOutcome::AlreadyExists(_) => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            Issue::error(
                IssueType::MultipleMatches,
                "If-None-Exist matches more than one ServiceRequest; make the criteria specific (e.g. identifier=system|value)",
            ),
        )),
    }
}
