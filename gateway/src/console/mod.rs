//! The web console at `/console`: server-rendered pages for people without an integration.
//! Handlers here translate form posts into the workflow commands the API uses; no business rule
//! lives in this layer.

pub mod account;
mod acting;
pub mod assets;
mod form;
mod headers;
mod link_worker;
mod operator;
mod page;
pub mod password;
mod posted;
mod session;
mod sign_in;
mod table;
mod task_change;
mod task_view;
mod vcs;

/// A random 256-bit token, URL-safe (session ids, invitations, the sandbox's demo passwords).
pub use session::random_token;

use axum::Router;
use axum::routing::get;

use crate::state::AppState;

/// The console's routes, each answer with the console's security headers.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/console", get(sign_in::home))
        .route("/console/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/console/sign-out", axum::routing::post(sign_in::sign_out))
        .route(
            "/console/invitation/{token}",
            get(sign_in::invitation_form).post(sign_in::invitation_submit),
        )
        .route("/console/assets/{*file}", get(assets::serve))
        .merge(vcs::router())
        .merge(link_worker::router())
        .merge(operator::router())
        // A mistyped or stale console address is the console's own page, not the API's JSON.
        .route("/console/{*rest}", get(|| async { page::not_found() }))
        .layer(axum::middleware::from_fn(headers::security_headers))
}
