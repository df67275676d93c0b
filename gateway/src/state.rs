//! `AppState`: what every handler can reach, built once at start-up.

use std::sync::Arc;

use tokio::sync::Notify;

use crate::auth::{ClientKeys, TokenSigner};
use crate::config::Config;
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
    /// The key audited identifier values are hashed with.
    pub audit_key: Arc<crate::audit::AuditKey>,
    /// Counts and rate-limits refusals of requests without a valid token.
    pub unauthenticated: Arc<crate::audit::unauthenticated::UnauthenticatedRefusals>,
    /// Each client's request rate.
    pub client_limits: Arc<crate::auth::ClientRateLimits>,
    /// Failed console sign-ins per account and per source address.
    pub sign_in_limits: Arc<crate::auth::SignInLimits>,
    /// Each partner's circuit breaker, shared with the delivery worker (operators see them).
    pub breakers: Arc<std::sync::Mutex<crate::delivery::Breakers>>,
    /// Whether the delivery worker is running (for `/readyz`).
    pub worker_running: Arc<std::sync::atomic::AtomicBool>,
    /// The report projection's facts, kept between reports.
    pub projection: Arc<crate::workflow::reports::Projection>,
}

impl AppState {
    /// What the workflow commands work with.
    pub fn services(&self) -> crate::workflow::Services<'_> {
        crate::workflow::Services {
            store: self.store.as_ref(),
            directory: &self.directory,
            validator: self.validator,
            outbox_wake: &self.outbox_wake,
        }
    }
}
