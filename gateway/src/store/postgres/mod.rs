//! PostgreSQL: for production and for several gateway replicas on one database. Resources
//! are kept as `jsonb`; replicas share the outbox (`FOR UPDATE SKIP LOCKED`) and wake each
//! other's delivery workers with `LISTEN/NOTIFY`; conditional creates are serialised by an
//! advisory lock on their criteria, so racing replicas make one resource.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;

mod announce;
mod delivered;
mod new_rows;

use announce::Announcer;
use delivered::DeliveredMarks;

use super::outbox_sql::OutboxUpdate;
use super::{
    ChangeSet, ClaimLimits, ClaimedDelivery, CommitOutcome, Condition, Criterion, DeadLetterAction,
    DeliveryRecord, DeliveryState, Instant, OnceStore, OutboxCounts, OutboxStore, PartnerOutbox,
    ResourceStore, SearchPage, SearchQuery, Store, StoreError, StoredResource, now,
};

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The channel new outbox rows are announced on.
const OUTBOX_CHANNEL: &str = "signpost_outbox";

/// The PostgreSQL store.
#[derive(Clone)]
pub struct PostgresStore {
    writer: PgPool,
    reader: PgPool,
    delivered: DeliveredMarks,
    announcer: Announcer,
}

impl PostgresStore {
    /// Connects to a `postgres://` URL and applies migrations (safe with several replicas:
    /// sqlx takes a migration lock).
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        // sqlx cannot set keepalive on its own sockets, so the server is asked to probe: a
        // connection whose peer vanished (a cut network) is dropped by the server within about
        // 25 s, its locks freed, instead of when the kernel gives up hours later. Each call's own
        // deadline (`WithDeadline`) bounds how long Signpost waits meanwhile.
        let options = PgConnectOptions::from_str(url)?.options([
            ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "3"),
            // A transaction left open by a stalled client must not hold its locks for long.
            ("idle_in_transaction_session_timeout", "30000"),
        ]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings every connection it hands out by default: a second round trip for each
            // statement (a directory capacity check is one read, issue 24). Only a connection
            // idle long enough for its peer to have gone is tested first.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > Duration::from_secs(10) {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await?;
        MIGRATIONS.run(&pool).await?;
        Ok(Self {
            delivered: DeliveredMarks::start(pool.clone()),
            announcer: Announcer::start(pool.clone(), OUTBOX_CHANNEL),
            writer: pool.clone(),
            reader: pool,
        })
    }
}

/// The advisory locks a conditional create takes, sorted: one per value its criteria name and
/// per identifier of the resource it creates, each without its system. Two creates that could
/// find each other's resource (`identifier=sys|v` and `identifier=v`, or `identifier=a,b` and
/// `identifier=a`) share a key whatever the spelling, so they queue; unrelated ones rarely do.
fn creation_locks(changes: &ChangeSet) -> Vec<String> {
    let Some(Condition::IfNoneExist(query)) = &changes.condition else {
        return Vec::new();
    };
    let kind = query.resource_type.as_str();
    let mut keys: Vec<String> = query
        .criteria
        .iter()
        .flat_map(|criterion| match criterion {
            Criterion::Index { param, any_of } => any_of
                .iter()
                .map(|(_, value)| format!("{kind}:{param}:{value}"))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    keys.extend(
        changes
            .writes
            .iter()
            .filter(|w| w.resource.resource_type == kind && w.resource.version == 1)
            .flat_map(|w| w.index.iter())
            .filter(|entry| entry.param == "identifier")
            .map(|entry| format!("{kind}:identifier:{}", entry.value)),
    );
    if keys.is_empty() {
        // Criteria with no values to key on (a date range, say): all such creates of the type queue.
        keys.push(format!("{kind}:"));
    }
    keys.sort();
    keys.dedup();
    keys
}

/// How long a lost commit answer is looked for (the store may be unreachable for a moment).
const LOOK_FOR_LOST_COMMIT: Duration = Duration::from_secs(5);

impl PostgresStore {
    /// Whether a commit whose answer was lost was saved: its first write is looked up (the ids
    /// were generated here, so nothing else writes them) once the store answers again. A
    /// transaction is all or nothing, so that one write stands for the whole change set.
    async fn outcome_of(
        &self,
        changes: &ChangeSet,
        lost: &sqlx::Error,
    ) -> Result<CommitOutcome, StoreError> {
        let unknown = || StoreError::OutcomeUnknown(lost.to_string());
        let Some(first) = changes.writes.first() else {
            return Err(unknown());
        };
        let r = &first.resource;
        let deadline = tokio::time::Instant::now() + LOOK_FOR_LOST_COMMIT;
        loop {
            let found = tokio::time::timeout_at(
                deadline,
                ResourceSql::vread(&self.reader, &r.resource_type, &r.id, r.version),
            )
            .await;
            match found {
                Ok(Ok(Some(stored))) if same_json(&stored, r) => {
                    tracing::warn!(resource = %format!("{}/{}", r.resource_type, r.id), error = %lost, "the answer to a commit was lost; it was saved");
                    return Ok(CommitOutcome::Committed);
                }
                // Not there (or another body under that version): the server may still be
                // finishing it, so this is not known either way.
                Ok(Ok(_)) => return Err(unknown()),
                Ok(Err(_)) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(Err(_)) | Err(_) => return Err(unknown()),
            }
        }
    }
}

/// Whether a stored body is the one written (jsonb keeps the values, not the spelling).
fn same_json(stored: &StoredResource, written: &StoredResource) -> bool {
    let parse = |r: &StoredResource| serde_json::from_str::<serde_json::Value>(r.body.get()).ok();
    parse(stored).is_some_and(|s| Some(s) == parse(written))
}

impl PostgresStore {
    /// Commits `changes` (see `ResourceStore::commit`), announcing nothing.
    async fn commit_changes(&self, changes: ChangeSet) -> Result<CommitOutcome, StoreError> {
        let locks = creation_locks(&changes);
        let only_creates = locks.is_empty()
            && changes.condition.is_none()
            && changes.once.is_none()
            && changes.unchanged.is_empty()
            && changes.writes.iter().all(|w| w.resource.version == 1);
        if only_creates {
            // Nothing to check first: the one statement is the transaction, a single round trip
            // (a referral's creates took six: BEGIN, three INSERTs, a notification, COMMIT).
            let mut conn = self.writer.acquire().await?;
            return match new_rows::insert_new_rows(&changes, now())
                .execute(&mut *conn)
                .await
            {
                Ok(_) => Ok(CommitOutcome::Committed),
                // The server refused it: nothing was saved.
                Err(e @ sqlx::Error::Database(_)) => Err(e.into()),
                // The answer was lost, and with it whether the statement committed.
                Err(e) => self.outcome_of(&changes, &e).await,
            };
        }
        let mut tx = self.writer.begin().await?;
        // Replicas creating what could match the same criteria queue here, so only one finds
        // nothing; taken in one order everywhere, so two creates never wait on each other.
        if !locks.is_empty() {
            // One statement: UNNEST yields the sorted keys in order, so they are taken in order.
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtext(k)) FROM UNNEST($1::text[]) AS l(k)",
            )
            .bind(&locks)
            .execute(&mut *tx)
            .await?;
        }
        let stopped = match WriteSql::guard_and_update(&mut tx, &changes).await {
            Ok(stopped) => stopped,
            Err(e) => {
                tx.rollback().await?;
                return Err(e);
            }
        };
        if let Some(outcome) = stopped {
            tx.rollback().await?;
            return Ok(outcome);
        }
        // The new rows.
        let creates = changes.writes.iter().any(|w| w.resource.version == 1);
        let indexes = changes.writes.iter().any(|w| !w.index.is_empty());
        if creates || indexes || !changes.outbox.is_empty() {
            new_rows::insert_new_rows(&changes, now())
                .execute(&mut *tx)
                .await?;
        }
        match tx.commit().await {
            Ok(()) => Ok(CommitOutcome::Committed),
            // The server refused the commit: nothing was saved.
            Err(e @ sqlx::Error::Database(_)) => Err(e.into()),
            // The answer was lost: find out before answering.
            Err(e) => self.outcome_of(&changes, &e).await,
        }
    }
}

/// The outbox statements both stores share, on Postgres.
type OutboxSql = super::outbox_sql::Outbox<sqlx::Postgres>;
/// The resource statements both stores share, on Postgres.
type ResourceSql = super::resource_sql::Resources<sqlx::Postgres>;
/// A change set's writes, on PostgreSQL.
type WriteSql = super::apply::Writes<sqlx::Postgres>;

#[async_trait]
impl ResourceStore for PostgresStore {
    async fn commit(&self, changes: ChangeSet) -> Result<CommitOutcome, StoreError> {
        // Every replica's delivery worker learns of new rows once they can be claimed.
        let announce = self.announcer.after_commit(!changes.outbox.is_empty());
        let outcome = self.commit_changes(changes).await;
        match &outcome {
            // Refused by the server, or stopped by a condition or a one-time value.
            Err(StoreError::Database(_))
            | Ok(CommitOutcome::AlreadyExists(_) | CommitOutcome::Replayed) => {
                announce.nothing_written()
            }
            Ok(CommitOutcome::Committed) | Err(_) => drop(announce),
        }
        outcome
    }

    async fn read(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        ResourceSql::read(&self.reader, resource_type, id).await
    }

    async fn vread(
        &self,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        ResourceSql::vread(&self.reader, resource_type, id, version).await
    }

    async fn vread_many(
        &self,
        keys: &[(&str, &str, i64)],
    ) -> Result<Vec<StoredResource>, StoreError> {
        ResourceSql::vread_many(&self.reader, keys).await
    }

    async fn history(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        ResourceSql::history(&self.reader, resource_type, id).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError> {
        let mut conn = self.reader.acquire().await?;
        ResourceSql::search(&mut conn, query).await
    }

    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        ResourceSql::refresh_statistics(&self.writer).await
    }
}

#[async_trait]
impl OutboxStore for PostgresStore {
    async fn claim_deliveries(
        &self,
        worker: &str,
        limits: &ClaimLimits,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        OutboxSql::claim(&self.writer, worker, limits, lease).await
    }

    async fn release(&self, id: &str, lease: &str) -> Result<bool, StoreError> {
        let update = OutboxUpdate::Release {
            id: id.into(),
            lease: lease.into(),
        };
        OutboxSql::update(&self.writer, &update).await
    }

    async fn renew(
        &self,
        ids: &[String],
        lease: &str,
        duration: Duration,
    ) -> Result<Vec<String>, StoreError> {
        OutboxSql::renew(&self.writer, ids, lease, duration).await
    }

    async fn list_deliveries(
        &self,
        state: DeliveryState,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        OutboxSql::list(&self.reader, state, limit).await
    }

    async fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        OutboxSql::one(&self.reader, id).await
    }

    async fn task_deliveries(
        &self,
        task_id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        OutboxSql::of_task(&self.reader, task_id, limit).await
    }

    async fn partner_outbox(&self) -> Result<Vec<PartnerOutbox>, StoreError> {
        OutboxSql::partners(&self.reader).await
    }

    async fn replay(&self, id: &str) -> Result<DeadLetterAction, StoreError> {
        OutboxSql::replay(&self.writer, id).await
    }

    async fn discard(&self, id: &str) -> Result<DeadLetterAction, StoreError> {
        OutboxSql::discard(&self.writer, id).await
    }

    async fn mark_delivered(&self, id: &str, lease: &str) -> Result<bool, StoreError> {
        self.delivered.mark(id, lease).await
    }

    async fn mark_retry(
        &self,
        id: &str,
        lease: &str,
        retry_at: Instant,
        error: &str,
    ) -> Result<bool, StoreError> {
        let update = OutboxUpdate::Retry {
            id: id.into(),
            lease: lease.into(),
            at: retry_at,
            error: error.into(),
        };
        OutboxSql::update(&self.writer, &update).await
    }

    async fn mark_dead(&self, id: &str, lease: &str, error: &str) -> Result<bool, StoreError> {
        let update = OutboxUpdate::Dead {
            id: id.into(),
            lease: lease.into(),
            error: error.into(),
        };
        OutboxSql::update(&self.writer, &update).await
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        OutboxSql::counts(&self.reader).await
    }

    async fn watch_outbox(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        let mut listener = PgListener::connect_with(&self.writer).await?;
        listener.listen(OUTBOX_CHANNEL).await?;
        tokio::spawn(async move {
            loop {
                match listener.recv().await {
                    Ok(_) => wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "outbox notifications interrupted; polling until they resume");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
            }
        });
        Ok(())
    }
}

#[async_trait]
impl OnceStore for PostgresStore {
    async fn remember_once(
        &self,
        client_id: &str,
        jti: &str,
        expires: Instant,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin().await?;
        // Expired ids can never be replayed (the assertion itself is refused as expired), so forget them.
        sqlx::query("DELETE FROM used_jtis WHERE expires_us < $1")
            .bind(now().0)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(
            "INSERT INTO used_jtis (client_id, jti, expires_us) VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING",
        )
        .bind(client_id)
        .bind(jti)
        .bind(expires.0)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(inserted == 1)
    }
}

crate::store::people::people_store_sql!(PostgresStore, |_: &PostgresStore| ());
crate::store::reports::report_store_sql!(PostgresStore, sqlx::Postgres, |_: &PostgresStore| ());

#[async_trait]
impl Store for PostgresStore {
    async fn ready(&self) -> Result<bool, StoreError> {
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.reader)
                .await?;
        Ok(usize::try_from(applied).unwrap_or(0) >= MIGRATIONS.iter().count())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::{TempPostgres, count, new_task, status_index, status_is};
    use super::super::{Criterion, ResourceStore};
    use super::{MIGRATIONS, PostgresStore};

    /// A database written before tenancy read the reference rows (0004), before resources listed
    /// their search keys and while the current version was also in the history (0005): after the
    /// upgrade, tenancy finds the Task by its owner, an update replaces the search rows the old
    /// code wrote, and both versions can still be read.
    #[tokio::test]
    async fn a_store_from_before_the_schema_matched_sqlite_upgrades_and_updates_cleanly() {
        let database = TempPostgres::create().await;
        let url = database.url.clone();
        {
            let old = sqlx::PgPool::connect(&url).await.expect("old database");
            MIGRATIONS
                .run_to(3, &old)
                .await
                .expect("migrations to 0003");
            let body = r#"{"resourceType":"Task","id":"t1","status":"requested"}"#;
            for sql in [
                "INSERT INTO resources (resource_type, id, version, last_updated_us, body) VALUES ('Task', 't1', 1, 1000, $1::jsonb)",
                "INSERT INTO resource_versions (resource_type, id, version, last_updated_us, body) VALUES ('Task', 't1', 1, 1000, $1::jsonb)",
            ] {
                sqlx::query(sql)
                    .bind(body)
                    .execute(&old)
                    .await
                    .expect("row");
            }
            // The old schema had no key on the search rows; a repeated row is folded into one.
            for (param, value) in [
                ("status", "requested"),
                ("owner", "Organization/LWS001"),
                ("owner", "Organization/LWS001"),
                ("_party", "Organization/LWS001"),
            ] {
                sqlx::query("INSERT INTO search_index (resource_type, resource_id, param, system, value) VALUES ('Task', 't1', $1, '', $2)")
                    .bind(param)
                    .bind(value)
                    .execute(&old)
                    .await
                    .expect("index row");
            }
            old.close().await;
        }
        let store = PostgresStore::open(&url).await.expect("upgraded");
        let owned_by = |value: &str| Criterion::IndexedUnderAny {
            params: vec!["owner", "requester"],
            value: value.into(),
        };
        assert_eq!(count(&store, owned_by("Organization/LWS001")).await, 1);
        let leftover: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM search_index WHERE param = '_party'")
                .fetch_one(&store.reader)
                .await
                .expect("count");
        assert_eq!(leftover, 0, "the old party rows are gone");
        let copies: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM resource_versions")
            .fetch_one(&store.reader)
            .await
            .expect("count");
        assert_eq!(
            copies, 0,
            "the current version is stored once, in resources"
        );

        let mut update = new_task(
            "t1".into(),
            r#"{"resourceType":"Task","id":"t1","status":"accepted"}"#.into(),
            status_index("accepted"),
        );
        update.writes[0].resource.version = 2;
        store.commit(update).await.expect("update");
        assert_eq!(
            count(&store, status_is("requested")).await,
            0,
            "old value gone"
        );
        assert_eq!(count(&store, status_is("accepted")).await, 1);
        assert_eq!(
            count(&store, owned_by("Organization/LWS001")).await,
            0,
            "the new version names no owner"
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM search_index")
            .fetch_one(&store.reader)
            .await
            .expect("count");
        assert_eq!(rows, 1, "only the new version's search row is left");
        let history: Vec<i64> = store
            .history("Task", "t1")
            .await
            .expect("history")
            .iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(history, [2, 1], "the replaced version moved to the history");
        let first = store.vread("Task", "t1", 1).await.expect("vread");
        assert!(
            first.is_some_and(|r| r.body.get().contains("requested")),
            "version 1 as it was"
        );
    }

    /// An update guarded by a version that has moved deletes nothing and changes nothing.
    #[tokio::test]
    async fn a_stale_update_leaves_the_search_rows_alone() {
        let database = TempPostgres::create().await;
        let store = PostgresStore::open(&database.url).await.expect("store");
        store
            .commit(new_task(
                "t1".into(),
                r#"{"resourceType":"Task","id":"t1","status":"requested"}"#.into(),
                status_index("requested"),
            ))
            .await
            .expect("create");
        let mut stale = new_task(
            "t1".into(),
            r#"{"resourceType":"Task","id":"t1","status":"accepted"}"#.into(),
            status_index("accepted"),
        );
        stale.writes[0].resource.version = 3;
        assert!(store.commit(stale).await.is_err(), "version 2 was expected");
        assert_eq!(count(&store, status_is("requested")).await, 1);
        let history = store.history("Task", "t1").await.expect("history");
        assert_eq!(history.len(), 1, "nothing moved to the history");
    }

    /// Replicas wake each other's delivery workers: a referral committed on one, with its
    /// delivery, is announced to the others once it can be claimed, whether it was committed in
    /// the one-statement way or in a transaction of its own.
    #[tokio::test]
    async fn deliveries_committed_on_one_replica_wake_the_others_once_they_can_be_claimed() {
        use super::super::test_fixtures::delivery_row;
        use super::super::{ChangeSet, ClaimLimits, OutboxStore, ResourceStore};
        use std::sync::Arc;
        use std::time::Duration;
        use tokio::sync::Notify;

        let database = TempPostgres::create().await;
        let committing = PostgresStore::open(&database.url).await.expect("replica");
        let watching = PostgresStore::open(&database.url).await.expect("replica");
        let wake = Arc::new(Notify::new());
        watching.watch_outbox(wake.clone()).await.expect("listen");
        let limits = ClaimLimits {
            total: 10,
            per_destination: 10,
            rooms: Default::default(),
        };
        let creates = ChangeSet {
            outbox: vec![delivery_row(1)],
            ..new_task(
                "t1".into(),
                r#"{"resourceType":"Task"}"#.into(),
                status_index("requested"),
            )
        };
        // A one-time value makes the commit a transaction with its checks first.
        let checked = ChangeSet {
            outbox: vec![delivery_row(2)],
            once: Some(super::super::Once {
                scope: "bars:gp".into(),
                value: "message-2".into(),
                expires: super::super::Instant(i64::MAX),
            }),
            ..new_task(
                "t2".into(),
                r#"{"resourceType":"Task"}"#.into(),
                status_index("requested"),
            )
        };
        let watching = Arc::new(watching);
        for (n, changes) in [creates, checked].into_iter().enumerate() {
            // Waiting before the commit starts, and claiming the moment it is woken: a wake-up
            // sent before the rows were visible would find nothing.
            let (waiter, limits) = (watching.clone(), limits.clone());
            let woken = wake.clone();
            let claimer = tokio::spawn(async move {
                tokio::time::timeout(Duration::from_secs(30), woken.notified())
                    .await
                    .ok()?;
                let claim = waiter.claim_deliveries("w", &limits, Duration::from_secs(60));
                Some(claim.await.expect("claim"))
            });
            tokio::task::yield_now().await;
            committing.commit(changes).await.expect("commit");
            let claimed = claimer
                .await
                .expect("task")
                .unwrap_or_else(|| panic!("commit {n}: the other replica was never told"));
            assert_eq!(
                claimed.len(),
                1,
                "commit {n}: woken before its row could be claimed"
            );
        }
    }
}
