//! `/healthz` and `/readyz`: whether the process is up and whether it can serve.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use crate::state::AppState;

/// `/healthz` and `/readyz`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// `GET /healthz`: the process is up.
async fn healthz() -> &'static str {
    "ok"
}

/// `GET /readyz`: the store answers, its migrations are applied, and the delivery worker runs.
async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let store = match state.store.ready().await {
        Ok(true) => "ok",
        Ok(false) => "migrations not applied",
        Err(_) => "unreachable",
    };
    let worker = if state
        .worker_running
        .load(std::sync::atomic::Ordering::SeqCst)
    {
        "running"
    } else {
        "stopped"
    };
    let ready = store == "ok" && worker == "running";
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({"ready": ready, "store": store, "delivery_worker": worker})),
    )
}
