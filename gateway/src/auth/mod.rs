//! Security: SMART Backend Services tokens, scopes, tenancy and what each party may see.

mod client_keys;
mod endpoint;
mod principal;
mod scope;
pub mod tenancy;
mod token;
mod verified_tokens;

use axum::Router;
use axum::routing::{get, post};

pub use client_keys::{ClientKeys, read_jwks_file};
pub use principal::Principal;
pub use scope::{Interaction, Scope, ScopeError, Scopes};
pub use token::{AccessClaims, TokenRejection, TokenSigner, write_private};

use crate::state::AppState;

/// `/auth/token` and `/.well-known/smart-configuration` (at the root and, as SMART asks, at the FHIR base).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/token", post(endpoint::token))
        .route(
            "/.well-known/smart-configuration",
            get(endpoint::smart_configuration),
        )
        .route(
            "/fhir/.well-known/smart-configuration",
            get(endpoint::smart_configuration),
        )
}

/// The token endpoint's URL.
pub use endpoint::token_url;
