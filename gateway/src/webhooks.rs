//! `POST /webhooks/{ods}/status`: a partner whose system only speaks webhooks reports a Task's
//! status. Signed like the events it receives (Standard Webhooks, its adapter's secret); applied
//! through the same workflow rules as a FHIR update.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};
use signpost_adapters::webhook::InboundError;
use signpost_profiles::{Issue, IssueType, OdsCode};

use crate::auth::{Interaction, Principal, Scope, Scopes};
use crate::fhir::{ApiError, resource_response};
use crate::state::AppState;
use crate::store::{Instant, Once};
use crate::telemetry::correlation_id;
use crate::workflow::update_task::{TaskChange, update_task};

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        Issue::error(IssueType::Login, message),
    )
}

async fn status(
    State(state): State<AppState>,
    Path(ods): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    // One answer for an unknown partner and for any message that does not verify, so the
    // endpoint does not tell a stranger which partners exist.
    let unknown = || {
        unauthorized(
            "the webhook message could not be verified: check the webhook-id, webhook-timestamp \
             (within 5 minutes of now) and webhook-signature headers and the secret in use",
        )
    };
    let organisation = OdsCode::parse(&ods).map_err(|_| unknown())?;
    let updates = state
        .directory
        .webhook_status(&organisation)
        .ok_or_else(unknown)?;
    let role = state
        .directory
        .organisation(&organisation)
        .map(|o| o.role)
        .ok_or_else(unknown)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signed = updates
        .verify(
            |name| headers.get(name).and_then(|v| v.to_str().ok()),
            &body,
            now,
        )
        .map_err(|e| match e {
            InboundError::Body(_) => ApiError::bad_request(IssueType::Structure, e.to_string()),
            other => {
                tracing::info!(partner = %organisation, reason = %other, "webhook message refused");
                unknown()
            }
        })?;
    // A verified id is remembered until its timestamp could no longer pass, so a replay is refused.
    let keep_until = Instant(signed.remember_until().saturating_mul(1_000_000));
    // Recorded with the change itself: a replay is refused, a failed attempt can be retried.
    let once = Once {
        scope: format!("webhook:{organisation}"),
        value: signed.id.clone(),
        expires: keep_until,
    };
    let partner = Principal {
        client_id: format!("webhook:{organisation}"),
        organisation,
        role,
        // A webhook partner reads and updates its own Tasks, as a polling partner's client may.
        scopes: Scopes(vec![Scope::resource(
            "Task",
            &[Interaction::Read, Interaction::Update],
        )]),
    };
    let update = signed.update;
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

/// The inbound webhook route.
pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/{ods}/status", post(status))
}
