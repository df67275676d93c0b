//! What a workflow command works with, borrowed from the application state.

use signpost_profiles::Validator;
use tokio::sync::Notify;

use crate::routing::Directory;
use crate::store::Store;

/// The store, the directory, the profiles and the delivery worker's bell.
#[derive(Clone, Copy)]
pub struct Services<'a> {
    /// Resources and outbox.
    pub store: &'a dyn Store,
    /// Organisations, routes, adapters.
    pub directory: &'a Directory,
    /// The Signpost profiles.
    pub validator: &'static Validator,
    /// Rung after a commit that added outbox rows.
    pub outbox_wake: &'a Notify,
}
