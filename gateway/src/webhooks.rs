//! `POST /webhooks/{ods}/status`: a partner whose system only speaks webhooks reports a Task's
//! status. Signed like the events it receives (Standard Webhooks, its adapter's secret); applied
//! through the same workflow rules as a FHIR update.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use signpost_adapters::webhook::SignatureError;
use signpost_profiles::{Issue, IssueType, OdsCode};

use crate::auth::{Principal, Scopes};
use crate::fhir::{ApiError, resource_response};
use crate::state::AppState;
use crate::store::{Instant, Once};
use crate::telemetry::correlation_id;
use crate::workflow::update_task::{TaskChange, update_task};

/// The status update a partner sends.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusUpdate {
    /// The Task's id.
    task_id: String,
    /// The new status, e.g. `accepted`, `rejected`, `in-progress`, `completed`.
    status: String,
    /// Why (kept as `Task.statusReason.text`), e.g. when declining.
    #[serde(default)]
    reason: Option<String>,
    /// The Task version the partner last saw; when given, a stale one answers 412.
    #[serde(default)]
    version: Option<i64>,
}

fn unauthorized(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        Issue::error(IssueType::Login, message),
    )
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, ApiError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unauthorized(format!("the {name} header is missing")))
}

async fn status(
    State(state): State<AppState>,
    Path(ods): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let unknown = || ApiError::not_found(format!("no webhook partner {ods}"));
    let organisation = OdsCode::parse(&ods).map_err(|_| unknown())?;
    let secret = state
        .directory
        .webhook_secret(&organisation)
        .ok_or_else(unknown)?;
    let role = state
        .directory
        .organisation(&organisation)
        .map(|o| o.role)
        .ok_or_else(unknown)?;
    let (id, timestamp, signature) = (
        header(&headers, "webhook-id")?,
        header(&headers, "webhook-timestamp")?,
        header(&headers, "webhook-signature")?,
    );
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    secret
        .verify(id, timestamp, &body, signature, now)
        .map_err(|e| match e {
            SignatureError::Stale => unauthorized(
                "webhook-timestamp is more than 5 minutes from now; send a fresh message",
            ),
            other => unauthorized(other.to_string()),
        })?;
    let update: StatusUpdate = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            IssueType::Structure,
            format!("expected {{\"task_id\", \"status\", \"reason\"?, \"version\"?}}: {e}"),
        )
    })?;
    // A verified id is remembered until its timestamp could no longer pass, so a replay is refused.
    let ts: i64 = timestamp.trim().parse().unwrap_or(now);
    let keep_until = Instant(
        (ts + 2 * signpost_adapters::webhook::TOLERANCE.as_secs() as i64).saturating_mul(1_000_000),
    );
    // Recorded with the change itself: a replay is refused, a failed attempt can be retried.
    let once = Once {
        scope: format!("webhook:{organisation}"),
        value: id.to_owned(),
        expires: keep_until,
    };
    let partner = Principal {
        client_id: format!("webhook:{organisation}"),
        organisation,
        role,
        scopes: Scopes::parse("system/Task.ru").unwrap_or_default(),
    };
    let new_status = update.status.clone();
    let reason = update.reason.clone();
    let change = TaskChange {
        id: update.task_id,
        expected: update.version,
        correlation_id: correlation_id(&headers),
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
