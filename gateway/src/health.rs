//! `/healthz` and `/readyz`: whether the process is up and whether it can serve.

use std::time::Duration;

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

/// Longest `/readyz` waits for the store: a load balancer's probe must be answered quickly,
/// and a store this slow is not ready whatever its own deadline.
const READY_WITHIN: Duration = Duration::from_secs(1);

/// `GET /readyz`: the store answers (and can commit), its migrations are applied, and the
/// delivery worker runs.
async fn readyz(State(state): State<AppState>) -> (StatusCode, axum::Json<serde_json::Value>) {
    let store = match tokio::time::timeout(READY_WITHIN, state.store.ready()).await {
        Ok(Ok(true)) => "ok",
        Ok(Ok(false)) => "migrations not applied",
        Ok(Err(_)) => "unavailable",
        Err(_) => "not answering",
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
