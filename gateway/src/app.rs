//! Shared state and the one `app()` that composes every router (tests call it too).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::routing::get;
use tokio::sync::Notify;

use crate::auth::{self, ClientKeys, TokenSigner};
use crate::config::Config;
use crate::fhir;
use crate::routing::Directory;
use crate::store::Store;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The checked configuration.
    pub config: Arc<Config>,
    /// Resources and outbox.
    pub store: Arc<dyn Store>,
    /// Organisations, routes, adapters.
    pub directory: Arc<Directory>,
    /// Wakes the delivery worker after a commit that added outbox rows.
    pub outbox_wake: Arc<Notify>,
    /// Registered clients' public keys.
    pub client_keys: Arc<ClientKeys>,
    /// Signs and checks access tokens.
    pub token_signer: Arc<TokenSigner>,
    /// The Signpost profiles, read once at start-up.
    pub validator: &'static signpost_profiles::Validator,
    /// Whether the delivery worker is running (for `/readyz`).
    pub worker_running: Arc<std::sync::atomic::AtomicBool>,
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

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let limit = state.config.server.max_body_bytes;
    Router::new()
        .nest("/fhir", fhir::router())
        .merge(auth::router())
        .merge(crate::admin::router())
        .merge(crate::webhooks::router())
        .merge(crate::root::router())
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(crate::telemetry::metrics::render))
        .route_layer(axum::middleware::from_fn(crate::telemetry::metrics::track))
        .route_layer(axum::middleware::from_fn(
            crate::telemetry::traces::trace_request,
        ))
        .fallback(crate::root::unknown)
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}
