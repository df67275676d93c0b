//! The one `app()` that composes every router (tests call it too).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;

use crate::auth;
use crate::fhir;
use crate::state::AppState;

/// The whole HTTP surface.
pub fn app(state: AppState) -> Router {
    let limit = state.config.server.max_body_bytes;
    Router::new()
        .nest("/fhir", fhir::router())
        .merge(auth::router())
        .merge(crate::admin::router())
        .merge(crate::reports_csv::router())
        .merge(crate::webhooks::router())
        .merge(crate::root::router())
        .merge(crate::health::router())
        .merge(crate::console::router())
        .route("/metrics", get(crate::telemetry::metrics::render))
        .route_layer(axum::middleware::from_fn(crate::telemetry::metrics::track))
        .route_layer(axum::middleware::from_fn(
            crate::telemetry::traces::trace_request,
        ))
        .fallback(crate::root::unknown)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(
            limit,
            crate::fhir::over_limit_as_outcome,
        ))
        .with_state(state)
}
