//! `/admin`: operators see deliveries that failed for good, and send them again or drop them.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use signpost_profiles::{Issue, IssueType};

use crate::auth::Principal;
use crate::fhir::ApiError;
use crate::state::AppState;
use crate::store::DeliveryState;
use crate::workflow::dead_letters::{self, DeadLetterError, Replayed};

/// Largest list answered.
const MAX_LISTED: usize = 500;

fn operator(who: &Principal) -> Result<(), ApiError> {
    if who.scopes.is_admin() {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            Issue::error(IssueType::Forbidden, "the admin scope is needed for /admin"),
        ))
    }
}

/// `?state=` of the listing.
#[derive(Deserialize)]
struct Listing {
    state: Option<String>,
}

/// `GET /admin/deliveries?state=dead`
async fn deliveries(
    State(state): State<AppState>,
    who: Principal,
    Query(q): Query<Listing>,
) -> Result<Response, ApiError> {
    operator(&who)?;
    let wanted = match q.state.as_deref() {
        None => DeliveryState::Dead,
        Some(raw) => DeliveryState::parse(raw).ok_or_else(|| {
            ApiError::bad_request(
                IssueType::Invalid,
                "state must be pending, delivered, dead or discarded",
            )
        })?,
    };
    let list = state.store.list_deliveries(wanted, MAX_LISTED).await?;
    Ok(Json(json!({"state": wanted, "count": list.len(), "deliveries": list})).into_response())
}

/// `POST /admin/deliveries/{id}/replay`: queues a dead delivery again, ahead of the later
/// deliveries of its Task that it held back.
async fn replay(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let now_state = match dead_letters::replay(&*state.store, &state.outbox_wake, &who, &id)
        .await
        .map_err(refused)?
    {
        Replayed::Queued => DeliveryState::Pending,
        Replayed::Superseded => DeliveryState::Discarded,
    };
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "state": now_state})),
    )
        .into_response())
}

/// `POST /admin/deliveries/{id}/discard`: drops a dead delivery; the later deliveries of its
/// Task that it held back go on.
async fn discard(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    dead_letters::discard(&*state.store, &state.outbox_wake, &who, &id)
        .await
        .map_err(refused)?;
    Ok((
        StatusCode::OK,
        Json(json!({"id": id, "state": DeliveryState::Discarded})),
    )
        .into_response())
}

/// Why a replay or discard changed nothing, as an answer.
fn refused(error: DeadLetterError) -> ApiError {
    match error {
        DeadLetterError::NotOperator => ApiError::new(
            StatusCode::FORBIDDEN,
            Issue::error(IssueType::Forbidden, "the admin scope is needed for /admin"),
        ),
        DeadLetterError::Unknown(_) => ApiError::not_found(error.to_string()),
        DeadLetterError::NotDead { .. } => ApiError::new(
            StatusCode::CONFLICT,
            Issue::error(IssueType::Conflict, error.to_string()),
        ),
        DeadLetterError::Store(e) => e.into(),
    }
}

/// `GET /admin/unmet-demand`: refusals for capacity and searches without room, per category,
/// district and week, small counts suppressed by the `[reports]` policy.
async fn unmet_demand(State(state): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    operator(&who)?;
    let report = crate::workflow::unmet_demand::unmet_demand(
        state.store.as_ref(),
        state.config.reports.policy.0,
    )
    .await?;
    Ok(Json(report).into_response())
}

/// The `/admin` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/unmet-demand", get(unmet_demand))
        .route("/admin/deliveries", get(deliveries))
        .route("/admin/deliveries/{id}/replay", post(replay))
        .route("/admin/deliveries/{id}/discard", post(discard))
}
