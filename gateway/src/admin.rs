//! `/admin`: operators see deliveries that failed for good and send them again.

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
                "state must be pending, delivered or dead",
            )
        })?,
    };
    let list = state.store.list_deliveries(wanted, MAX_LISTED).await?;
    Ok(Json(json!({"state": wanted, "count": list.len(), "deliveries": list})).into_response())
}

/// `POST /admin/deliveries/{id}/replay`
async fn replay(
    State(state): State<AppState>,
    who: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    operator(&who)?;
    match state.store.replay(&id).await? {
        None => Err(ApiError::not_found(format!("no delivery {id}"))),
        Some(false) => Err(ApiError::new(
            StatusCode::CONFLICT,
            Issue::error(
                IssueType::Conflict,
                format!("delivery {id} is not dead; only dead deliveries are replayed"),
            ),
        )),
        Some(true) => {
            state.outbox_wake.notify_one();
            tracing::info!(delivery = %id, client = %who.client_id, "delivery replayed by an operator");
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({"id": id, "state": "pending"})),
            )
                .into_response())
        }
    }
}

/// `GET /admin/unmet-demand`: refusals for capacity and searches without room, per category,
/// district and week, small counts suppressed by the `[directory]` policy.
async fn unmet_demand(State(state): State<AppState>, who: Principal) -> Result<Response, ApiError> {
    operator(&who)?;
    let report =
        crate::workflow::unmet_demand::unmet_demand(state.store.as_ref(), &state.config.directory)
            .await?;
    Ok(Json(report).into_response())
}

/// The `/admin` routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/unmet-demand", get(unmet_demand))
        .route("/admin/deliveries", get(deliveries))
        .route("/admin/deliveries/{id}/replay", post(replay))
}
