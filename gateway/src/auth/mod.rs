//! Security: SMART Backend Services tokens, scopes, tenancy and what each party may see.

pub mod bearer;
mod client_keys;
mod endpoint;
mod principal;
mod rate_limit;
mod scope;
mod sign_in_limit;
pub mod tenancy;
mod token;
mod verified_tokens;

pub use client_keys::{ClientKeys, read_jwks_file};
pub use principal::{Person, Principal};
pub use rate_limit::ClientRateLimits;
pub use scope::{Interaction, Scope, ScopeError, Scopes};
pub use sign_in_limit::SignInLimits;
pub use token::{AccessClaims, TokenRejection, TokenSigner, write_private};

/// The token endpoint's URL, and the routes that serve it.
pub use endpoint::{router, token_url};
