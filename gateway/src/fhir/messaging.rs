//! `POST /fhir/$process-message`: NHS BaRS referral messages from a GP system.
//!
//! A new referral (`servicerequest-request`, reason `new`) is turned into the ServiceRequest
//! shape intake takes (the person contained, the requester by ODS code) and goes through the
//! same intake as `POST /fhir/ServiceRequest`: same checks, routing and answers. An update whose
//! ServiceRequest is `revoked` or `entered-in-error` cancels the existing referral.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};
use signpost_adapters::bars::inbound::{self, BarsMessage, MessageError};
use signpost_profiles::{Issue, IssueType, parse_resource};

use super::ApiError;
use super::body::FhirBody;
use super::intake::{Answer, intake};
use super::search_params::parse_search;
use super::update::apply_update;
use crate::app::AppState;
use crate::auth::{Principal, tenancy};
use crate::store::{Instant, Once};

/// How long a processed `X-Request-Id` is remembered (a BaRS retry arrives well within this).
const REMEMBER_REQUEST_IDS_FOR_US: i64 = 7 * 24 * 3600 * 1_000_000;

fn invalid(message: impl Into<String>, at: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Issue::error(IssueType::Invalid, message).at(at),
    )
}

/// A refused message: malformed is 400, asking for what Signpost does not do is 422.
fn refused(error: &MessageError) -> ApiError {
    if error.is_unsupported() {
        ApiError::unprocessable(vec![
            Issue::error(IssueType::NotSupported, error.to_string()).at(error.at()),
        ])
    } else {
        invalid(error.to_string(), error.at())
    }
}

/// `POST /fhir/$process-message`
pub async fn process_message(
    State(state): State<AppState>,
    who: Principal,
    headers: HeaderMap,
    FhirBody(bytes): FhirBody,
) -> Result<Response, ApiError> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let request_id = header("x-request-id")
        .ok_or_else(|| invalid("BaRS messages need an X-Request-Id header", "X-Request-Id"))?;
    let correlation_id = header("x-correlation-id").ok_or_else(|| {
        invalid(
            "BaRS messages need an X-Correlation-Id header",
            "X-Correlation-Id",
        )
    })?;

    let bundle = parse_resource(&bytes, Some("Bundle"))?.json;
    let message = inbound::parse(&bundle).map_err(|e| refused(&e))?;

    // A retry carries the same X-Request-Id: BaRS answers it with 409 and issue code duplicate.
    // The id is recorded in the same transaction as the change, so a failed attempt can be retried.
    let once = Once {
        scope: format!("bars:{}", who.client_id),
        value: request_id.clone(),
        expires: Instant(crate::store::now().0 + REMEMBER_REQUEST_IDS_FOR_US),
    };

    let mut response = match message {
        BarsMessage::NewReferral(referral) => {
            let bytes =
                serde_json::to_vec(&referral).map_err(|e| invalid(e.to_string(), "Bundle"))?;
            intake(
                state,
                who,
                None,
                correlation_id.clone(),
                Some(once),
                Answer::Resource,
                &bytes,
            )
            .await?
        }
        BarsMessage::Cancel {
            system,
            value,
            reason,
        } => {
            cancel(
                &state,
                &who,
                (&system, &value),
                reason,
                correlation_id.clone(),
                once,
            )
            .await?
        }
    };
    for (name, value) in [
        ("x-request-id", request_id),
        ("x-correlation-id", correlation_id),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, v);
        }
    }
    Ok(response)
}

/// Cancels the caller's referral with this identifier, as its requester.
async fn cancel(
    state: &AppState,
    who: &Principal,
    (system, value): (&str, &str),
    reason: String,
    correlation_id: String,
    once: Once,
) -> Result<Response, ApiError> {
    let mut query = parse_search("ServiceRequest", &format!("identifier={system}|{value}"))?.query;
    tenancy::restrict(who, &mut query);
    let found = state.store.search(&query).await?;
    let existing = found.resources.first().ok_or_else(|| {
        ApiError::not_found(format!("no referral {system}|{value} of yours to cancel"))
    })?;
    let mut tasks = parse_search("Task", &format!("focus=ServiceRequest/{}", existing.id))?.query;
    tenancy::restrict(who, &mut tasks);
    let task = state
        .store
        .search(&tasks)
        .await?
        .resources
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("the referral has no Task"))?;
    apply_update(
        state,
        who,
        &task.id,
        None,
        correlation_id,
        Some(once),
        move |current: &Value| {
            let mut next = current.clone();
            next["status"] = json!("cancelled");
            next["statusReason"] = json!({"text": reason});
            Ok(next)
        },
    )
    .await
}
