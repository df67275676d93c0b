//! The store: resources with their history, their search values, and the delivery outbox.
//!
//! Handlers see only the [`Store`] trait (resources, outbox and one-time values, each a trait of
//! its own); every write goes through [`ResourceStore::commit`], so a
//! resource, its index and the outbox rows announcing it are written together or not at all.

mod apply;
mod deadline;
mod dialect;
mod index_keys;
mod outbox_sql;
mod outbox_types;
pub mod people;
mod postgres;
mod report_sql;
pub mod reports;
mod resource_sql;
mod search;
mod sqlite;
#[cfg(test)]
mod test_fixtures;
mod time;

use std::time::Duration;

use async_trait::async_trait;
use serde_json::value::RawValue;
use signpost_adapters::DeliveryEvent;
use signpost_profiles::OdsCode;

pub use deadline::WithDeadline;
pub use outbox_types::{AdapterKind, DeadLetterAction, DeliveryState};
pub use people::{AccountRecord, PeopleStore, SessionRecord};
pub use postgres::PostgresStore;
pub use reports::{FactRow, ReportStore, Watermark};
pub use search::{Comparator, Criterion, SearchQuery, SortOrder};
pub use sqlite::SqliteStore;
pub use time::{Instant, now};

/// A store failure. Handlers answer 500 for [`StoreError::Database`]; the others are the caller's doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// The store URL cannot be used.
    #[error("bad store url: {0}")]
    Url(String),
    /// A stored value is not one the store writes (a column edited by hand, or a newer build's).
    #[error("the outbox holds {column} {value:?}, which this build cannot read")]
    Unreadable {
        /// The column read.
        column: &'static str,
        /// What it held.
        value: String,
    },
    /// A resource could not be serialised for storage.
    #[error("cannot store the resource: {0}")]
    Corrupt(String),
    /// A commit's answer was lost (the connection dropped during COMMIT, or the deadline passed)
    /// and what it wrote cannot be found: it may or may not have been saved.
    #[error("the outcome of the commit is unknown: {0}")]
    OutcomeUnknown(String),
    /// The store did not answer within its deadline; nothing was changed by this call.
    #[error("the store did not answer within {0:?}")]
    Timeout(Duration),
    /// An update named a version that is no longer current.
    #[error("{resource_type}/{id} is at version {current}, not {expected}")]
    VersionConflict {
        /// Resource type.
        resource_type: String,
        /// Resource id.
        id: String,
        /// The version the caller based its change on.
        expected: i64,
        /// The version actually stored.
        current: i64,
    },
}

impl StoreError {
    /// The store's writer task has stopped (the store is being dropped): nothing was written.
    pub(crate) fn stopped() -> Self {
        Self::Database(sqlx::Error::PoolClosed)
    }
}

/// One version of a resource as stored.
#[derive(Debug, Clone)]
pub struct StoredResource {
    /// e.g. `Task`.
    pub resource_type: String,
    /// Server-assigned id.
    pub id: String,
    /// 1, 2, 3...
    pub version: i64,
    /// When this version was written.
    pub last_updated: Instant,
    /// The FHIR JSON, exactly as it will be served.
    pub body: Box<RawValue>,
}

/// A search value of a resource, computed by the caller from the resource's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Search parameter name, e.g. `owner`.
    pub param: &'static str,
    /// Token system, or empty for references and system-less tokens.
    pub system: String,
    /// Token code, or `Type/id` for references.
    pub value: String,
}

/// A new version of one resource.
#[derive(Debug, Clone)]
pub struct ResourceWrite {
    /// The resource as it will be stored and served.
    pub resource: StoredResource,
    /// Its search values.
    pub index: Vec<IndexEntry>,
}

/// A delivery to record in the outbox.
#[derive(Debug, Clone)]
pub struct OutboxEntry {
    /// Row id (also shown to operators).
    pub id: String,
    /// ODS code of the receiving organisation.
    pub destination: OdsCode,
    /// Adapter kind that will carry it.
    pub adapter: AdapterKind,
    /// Why it is sent.
    pub event: DeliveryEvent,
    /// The Task delivered; deliveries for one Task and destination go in order.
    pub task_id: String,
    /// The Task version delivered.
    pub task_version: i64,
    /// The Task's focus ServiceRequest.
    pub focus_id: String,
    /// The ServiceRequest version delivered.
    pub focus_version: i64,
    /// Stable across retries.
    pub idempotency_key: String,
    /// Threads one referral's messages.
    pub correlation_id: String,
    /// The W3C trace context of the request that queued it.
    pub traceparent: Option<String>,
}

/// A precondition checked inside the commit's transaction.
#[derive(Debug, Clone)]
pub enum Condition {
    /// FHIR conditional create: commit only if nothing matches.
    IfNoneExist(SearchQuery),
}

/// Everything one request changes, committed atomically.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    /// New resource versions (version 1 = create).
    pub writes: Vec<ResourceWrite>,
    /// Deliveries announcing them.
    pub outbox: Vec<OutboxEntry>,
    /// Checked first; if it fails nothing is written.
    pub condition: Option<Condition>,
    /// Resources that must still be at these versions (`type`, `id`, `version`), or nothing is written.
    pub unchanged: Vec<(String, String, i64)>,
    /// A one-time value (a BaRS `X-Request-Id`, a `webhook-id`) recorded with the change: a
    /// replay is refused, and a failed attempt does not use the value up.
    pub once: Option<Once>,
}

/// A one-time value and how long to remember it.
#[derive(Debug, Clone)]
pub struct Once {
    /// Namespace, e.g. `bars:riverside-gp-system`.
    pub scope: String,
    /// The value.
    pub value: String,
    /// Remembered until then.
    pub expires: Instant,
}

/// What a commit did.
#[derive(Debug)]
pub enum CommitOutcome {
    /// Everything was written.
    Committed,
    /// The `IfNoneExist` condition matched these resources; nothing was written.
    AlreadyExists(Vec<StoredResource>),
    /// The change's one-time value was already used; nothing was written.
    Replayed,
}

/// One page of search results.
#[derive(Debug)]
pub struct SearchPage {
    /// Matches on this page.
    pub resources: Vec<StoredResource>,
    /// All matches.
    pub total: i64,
}

/// How many due deliveries one claim may take, in all and per destination.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimLimits {
    /// Rows in all.
    pub total: usize,
    /// Rows for any one destination not named in `rooms`.
    pub per_destination: usize,
    /// Destinations with a limit of their own (0: none now, e.g. its circuit breaker is open).
    pub rooms: std::collections::HashMap<String, usize>,
}

/// An outbox row claimed by this process for delivery.
#[derive(Debug, Clone)]
pub struct ClaimedDelivery {
    /// The row as recorded.
    pub entry: OutboxEntry,
    /// Attempts made before this one.
    pub attempts: u32,
    /// The claim's fencing token: only its holder may renew the lease or record the outcome.
    pub lease: String,
}

/// An outbox row as operators see it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DeliveryRecord {
    /// Row id.
    pub id: String,
    /// Receiving organisation (ODS code).
    pub organisation: OdsCode,
    /// Adapter kind.
    pub adapter: AdapterKind,
    /// `task-created`, `task-updated`.
    #[serde(serialize_with = "outbox_types::event_name")]
    pub event: DeliveryEvent,
    /// The Task delivered, `Task/{id}/_history/{version}`.
    pub task: String,
    /// Where it stands.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: i64,
    /// The last failure, with the partner's answer.
    pub last_error: Option<String>,
    /// When it was queued (FHIR instant).
    pub created: String,
    /// When the next attempt is due (FHIR instant), while it is pending.
    pub next_attempt: Option<String>,
    /// When the partner acknowledged it (FHIR instant).
    pub delivered: Option<String>,
}

/// One partner's deliveries still owed, as operators watch them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerOutbox {
    /// The receiving organisation (ODS code).
    pub organisation: OdsCode,
    /// Waiting or being retried.
    pub pending: i64,
    /// Gave up; need an operator.
    pub dead: i64,
    /// When its oldest pending delivery was queued.
    pub oldest_pending: Option<Instant>,
}

/// How many outbox rows are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxCounts {
    /// Waiting or being retried.
    pub pending: i64,
    /// Acknowledged by the partner.
    pub delivered: i64,
    /// Gave up; needs an operator.
    pub dead: i64,
    /// Dropped by an operator (or superseded by a later delivered version).
    pub discarded: i64,
    /// When the oldest pending delivery was queued.
    pub oldest_pending: Option<Instant>,
}

/// Resources, their history and search: the change sets that write them (with the outbox rows
/// and one-time value that go with them) and the reads.
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Writes a change set atomically, after checking its condition.
    async fn commit(&self, changes: ChangeSet) -> Result<CommitOutcome, StoreError>;
    /// The current version.
    async fn read(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// A given version.
    async fn vread(
        &self,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError>;
    /// Given versions of several resources in one query, as (`type`, `id`, `version`); those
    /// not stored are left out.
    async fn vread_many(
        &self,
        keys: &[(&str, &str, i64)],
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// Every version, newest first.
    async fn history(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// Resources matching a query.
    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError>;
    /// Refreshes the query planner's statistics after a bulk change (a directory import).
    /// Without them PostgreSQL estimated one row for every search value after 10,000 services
    /// were loaded and chose plans 50 times slower (issue 24).
    async fn refresh_statistics(&self) -> Result<(), StoreError>;
}

/// The delivery outbox: claims, outcomes, and what operators see and replay.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Reserves due deliveries for `worker` until `lease` has passed, oldest due first, within `limits`.
    async fn claim_deliveries(
        &self,
        worker: &str,
        limits: &ClaimLimits,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>;
    /// Gives back a claimed delivery untouched (no attempt was made); `false` if the lease was lost.
    async fn release(&self, id: &str, lease: &str) -> Result<bool, StoreError>;
    /// Extends the leases of claimed deliveries still held under `lease` (a long delivery, or
    /// one waiting for a slot); the ids whose lease was renewed.
    async fn renew(
        &self,
        ids: &[String],
        lease: &str,
        duration: Duration,
    ) -> Result<Vec<String>, StoreError>;
    /// Deliveries in a state, oldest first.
    async fn list_deliveries(
        &self,
        state: DeliveryState,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// One delivery, in any state.
    async fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, StoreError>;
    /// Every delivery of a Task (all its versions, to every partner), in queue order.
    async fn task_deliveries(
        &self,
        task_id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError>;
    /// Pending and dead deliveries per partner that has any.
    async fn partner_outbox(&self) -> Result<Vec<PartnerOutbox>, StoreError>;
    /// Queues a dead delivery again with a fresh set of attempts, in its place before the
    /// deliveries of its Task that it held back; if a later version already reached the partner
    /// it is discarded instead, so the partner is never sent an older version.
    async fn replay(&self, id: &str) -> Result<DeadLetterAction, StoreError>;
    /// Drops a dead delivery, letting the deliveries it held back go.
    async fn discard(&self, id: &str) -> Result<DeadLetterAction, StoreError>;
    /// The partner acknowledged a delivery; `false` (nothing written) unless `lease` still holds it.
    async fn mark_delivered(&self, id: &str, lease: &str) -> Result<bool, StoreError>;
    /// A delivery failed; try again at `retry_at`. `false` unless `lease` still holds it.
    async fn mark_retry(
        &self,
        id: &str,
        lease: &str,
        retry_at: Instant,
        error: &str,
    ) -> Result<bool, StoreError>;
    /// A delivery failed for good. `false` unless `lease` still holds it.
    async fn mark_dead(&self, id: &str, lease: &str, error: &str) -> Result<bool, StoreError>;
    /// Outbox rows by state.
    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError>;
    /// Wakes `wake` whenever any process adds outbox rows (the in-process wake covers this process).
    async fn watch_outbox(
        &self,
        _wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
}

/// One-time values outside a change set (a client assertion's `jti`).
#[async_trait]
pub trait OnceStore: Send + Sync {
    /// Records a one-time value (a client assertion's `jti`, a BaRS `X-Request-Id`, a `webhook-id`)
    /// within `scope` until `expires`; `false` if it was already recorded: a replay.
    async fn remember_once(
        &self,
        client_id: &str,
        jti: &str,
        expires: Instant,
    ) -> Result<bool, StoreError>;
}

/// The whole store, as handlers and the delivery worker hold it: every concern, and whether the
/// database is ready.
#[async_trait]
pub trait Store: ResourceStore + OutboxStore + OnceStore + PeopleStore + ReportStore {
    /// Whether the database answers (`Err` if not) and every embedded migration is applied.
    async fn ready(&self) -> Result<bool, StoreError>;
}
