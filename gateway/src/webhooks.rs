//! `POST /webhooks/{ods}/status`: a partner whose system only speaks webhooks reports a Task's
//! status; `POST /webhooks/{ods}/capacity`: it declares one of its services' capacity. Signed like
//! the events it receives (Standard Webhooks, its adapter's secret); applied through the same
//! workflow commands as a FHIR update (`update_task`, `declare_capacity`).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use signpost_adapters::webhook::{CapacityUpdate, InboundError, Signed, StatusUpdates};
use signpost_profiles::{Issue, IssueType, OdsCode};

use crate::auth::{Interaction, Principal, Scope, Scopes};
use crate::directory::capacity::{Capacity, CapacitySource, CapacityStatus};
use crate::fhir::{ApiError, resource_response, served};
use crate::state::AppState;
use crate::store::{Instant, Once, now};
use crate::telemetry::correlation_id;
use crate::workflow::declare_capacity::{Declaration, declare_capacity};
use crate::workflow::update_task::{TaskChange, update_task};

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        Issue::error(IssueType::Login, message),
    )
}

/// One answer for an unknown partner and for any message that does not verify, so the
/// endpoint does not tell a stranger which partners exist.
fn unverified() -> ApiError {
    unauthorized(
        "the webhook message could not be verified: check the webhook-id, webhook-timestamp \
         (within 5 minutes of now) and webhook-signature headers and the secret in use",
    )
}

/// A verified message from the partner a webhook path names.
struct Verified<T> {
    /// The partner, acting with the scopes its endpoint gives it.
    partner: Principal,
    /// What the message says.
    update: T,
    /// Its id, to record with the change it makes.
    once: Once,
}

/// Finds the partner `ods` names and checks its message with `verify` (given the partner's
/// verifier and the time now); an unknown partner and a message that does not verify get the
/// same answer. The partner is authenticated by its signature: it acts with `scopes`.
fn verified<T>(
    state: &AppState,
    ods: &str,
    scopes: Scopes,
    verify: impl FnOnce(&StatusUpdates, i64) -> Result<Signed<T>, InboundError>,
) -> Result<Verified<T>, ApiError> {
    let organisation = OdsCode::parse(ods).map_err(|_| unverified())?;
    let updates = state
        .directory
        .webhook_status(&organisation)
        .ok_or_else(unverified)?;
    let role = state
        .directory
        .organisation(&organisation)
        .map(|o| o.role)
        .ok_or_else(unverified)?;
    let signed = verify(updates, unix_now()).map_err(|e| refused(&organisation, e))?;
    Ok(Verified {
        once: once_of(&organisation, &signed.id, signed.remember_until()),
        update: signed.update,
        partner: Principal {
            client_id: format!("webhook:{organisation}"),
            organisation,
            role,
            scopes,
            person: None,
        },
    })
}

/// A request header as text, if it is.
fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A message that did not verify: its body's fault is said (it was signed by the partner), any
/// other reason only logged.
fn refused(partner: &OdsCode, e: InboundError) -> ApiError {
    match e {
        InboundError::Body(_) | InboundError::CapacityBody(_) => {
            ApiError::bad_request(IssueType::Structure, e.to_string())
        }
        other => {
            tracing::info!(partner = %partner, reason = %other, "webhook message refused");
            unverified()
        }
    }
}

/// The message's id, remembered until its timestamp could no longer pass, recorded with the
/// change itself: a replay is refused, a failed attempt can be retried.
fn once_of(partner: &OdsCode, id: &str, remember_until: i64) -> Once {
    Once {
        scope: format!("webhook:{partner}"),
        value: id.to_owned(),
        expires: Instant(remember_until.saturating_mul(1_000_000)),
    }
}

fn unix_now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn status(
    State(state): State<AppState>,
    Path(ods): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // A webhook partner reads and updates its own Tasks, as a polling partner's client may.
    let scopes = Scopes(vec![Scope::resource(
        "Task",
        &[Interaction::Read, Interaction::Update],
    )]);
    let Verified {
        partner,
        update,
        once,
    } = verified(&state, &ods, scopes, |updates, now| {
        updates.verify(|name| header(&headers, name), &body, now)
    })?;
    let new_status = update.status.clone();
    let reason = update.reason.clone();
    let change = TaskChange {
        id: update.task_id,
        expected: update.version,
        correlation_id: correlation_id(&headers)?,
        once: Some(once),
    };
    // The partner is authenticated by its signature and may update its Tasks: no scope to check.
    let stored = update_task(
        state.services(),
        &partner,
        change,
        move |current: &Value| {
            let mut next = current.clone();
            next["status"] = json!(new_status);
            if let Some(reason) = &reason {
                next["statusReason"] = json!({"text": reason});
            }
            Ok(next)
        },
    )
    .await?;
    Ok(resource_response(StatusCode::OK, &stored, None))
}

fn bad_value(message: String, at: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        Issue::error(IssueType::Value, message).at(at),
    )
}

/// The declaration a capacity message makes, as the FHIR API would take it.
fn declared(update: &CapacityUpdate) -> Result<Capacity, ApiError> {
    let status = CapacityStatus::parse(&update.status)
        .filter(|s| *s != CapacityStatus::Unknown)
        .ok_or_else(|| {
            bad_value(
                format!(
                    "status \"{}\" is not one of capacity, no-capacity, waitlist, \
                     additional-assessment-required",
                    update.status
                ),
                "status",
            )
        })?;
    let expires = update
        .expires
        .as_deref()
        .map(|text| {
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .map(Instant::from_datetime)
                .map_err(|_| {
                    bad_value(
                        format!("expires \"{text}\" is not an RFC 3339 instant"),
                        "expires",
                    )
                })
        })
        .transpose()?;
    Ok(Capacity {
        status,
        notes: update.notes.clone(),
        available: update.available,
        maximum: update.maximum,
        // Stamped by the workflow as the provider's, now.
        source: CapacitySource::Provider,
        as_of: now(),
        expires,
    })
}

async fn capacity(
    State(state): State<AppState>,
    Path(ods): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // As a provider's client with system/HealthcareService.u: the workflow still lets it
    // declare only for the services it provides.
    let scopes = Scopes(vec![Scope::resource(
        "HealthcareService",
        &[Interaction::Update],
    )]);
    let Verified {
        partner,
        update,
        once,
    } = verified(&state, &ods, scopes, |updates, now| {
        updates.verify_capacity(|name| header(&headers, name), &body, now)
    })?;
    let capacity = declared(&update)?;
    let declaration = Declaration {
        id: update.service_id.clone(),
        expected: update.version,
        once: Some(once),
    };
    let stored = declare_capacity(state.services(), &partner, declaration, |current| {
        let mut next = current.clone();
        capacity.write_to(&mut next);
        Ok(next)
    })
    .await?;
    Ok(resource_response(StatusCode::OK, &served(stored), None))
}

/// The inbound webhook routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/webhooks/{ods}/status", post(status))
        .route("/webhooks/{ods}/capacity", post(capacity))
}
