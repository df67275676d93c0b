//! SQLite in WAL mode: one writer connection (SQLite serialises writers anyway, and this
//! avoids busy errors) fed by the group commit, one connection for WAL checkpoints, a small
//! pool of readers, migrations embedded in the binary.

mod checkpoint;
mod group_commit;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::outbox_sql::OutboxUpdate;
use super::{
    ChangeSet, ClaimLimits, ClaimedDelivery, CommitOutcome, DeadLetterAction, DeliveryRecord,
    DeliveryState, Instant, OnceStore, OutboxCounts, OutboxStore, PartnerOutbox, ResourceStore,
    SearchPage, SearchQuery, Store, StoreError, StoredResource, now,
};
use group_commit::GroupCommit;

static MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The embedded store.
#[derive(Clone)]
pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    /// Commits go through here, to be grouped into transactions.
    commits: GroupCommit,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at a `sqlite://path` URL and applies migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| StoreError::Url(format!("{url} is not a sqlite:// URL")))?;
        if let Some(dir) = Path::new(path).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Url(format!("cannot create {}: {e}", dir.display())))?;
        }
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: an acknowledged referral survives power loss, not only a process crash.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            // Every statement in a multi-statement transaction (and every savepoint) keeps a
            // statement journal of the pages it changes; in a temporary file that was a write
            // system call per page, some hundreds per referral, for a file never read back.
            .pragma("temp_store", "memory");
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            // The connection is in this process; a ping before each batch is a round trip to
            // SQLite's thread for nothing.
            .test_before_acquire(false)
            // The pages a group commit touches (the growing edge of every table and index, and
            // the index pages its values fall in) stay cached instead of being read back each
            // transaction: 16 MiB, against the default 2 MiB.
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", "-16384")
                    // Checkpoints run beside the writer (see `checkpoint`).
                    .pragma("wal_autocheckpoint", "0")
                    // When the log starts again after a burst, the file is cut back to 64 MiB.
                    .pragma("journal_size_limit", "67108864"),
            )
            .await?;
        MIGRATIONS.run(&writer).await?;
        let checkpointer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            // As for the writer: a ping before each read was a second round trip to the
            // connection's thread, and each one more chance to wait for a CPU on a busy machine.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(Self {
            commits: GroupCommit::start(writer.clone(), checkpointer)?,
            writer,
            reader,
        })
    }
}

/// The outbox statements both stores share, on Sqlite.
type OutboxSql = super::outbox_sql::Outbox<sqlx::Sqlite>;
/// The resource statements both stores share, on Sqlite.
type ResourceSql = super::resource_sql::Resources<sqlx::Sqlite>;
/// A change set's writes, on SQLite.
type WriteSql = super::apply::Writes<sqlx::Sqlite>;

#[async_trait]
impl ResourceStore for SqliteStore {
    async fn commit(&self, changes: ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.commits.commit(changes).await
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
impl OutboxStore for SqliteStore {
    async fn claim_deliveries(
        &self,
        worker: &str,
        limits: &ClaimLimits,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        self.commits.claim(worker, limits, lease).await
    }

    async fn release(&self, id: &str, lease: &str) -> Result<bool, StoreError> {
        self.commits
            .update(OutboxUpdate::Release {
                id: id.into(),
                lease: lease.into(),
            })
            .await
    }

    async fn renew(
        &self,
        ids: &[String],
        lease: &str,
        duration: Duration,
    ) -> Result<Vec<String>, StoreError> {
        self.commits.renew(ids, lease, duration).await
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
        let replayed = OutboxSql::replay(&self.writer, id).await;
        self.commits.committed_outside();
        replayed
    }

    async fn discard(&self, id: &str) -> Result<DeadLetterAction, StoreError> {
        let discarded = OutboxSql::discard(&self.writer, id).await;
        self.commits.committed_outside();
        discarded
    }

    async fn mark_delivered(&self, id: &str, lease: &str) -> Result<bool, StoreError> {
        self.commits
            .update(OutboxUpdate::Delivered {
                id: id.into(),
                lease: lease.into(),
            })
            .await
    }

    async fn mark_retry(
        &self,
        id: &str,
        lease: &str,
        retry_at: Instant,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.commits
            .update(OutboxUpdate::Retry {
                id: id.into(),
                lease: lease.into(),
                at: retry_at,
                error: error.into(),
            })
            .await
    }

    async fn mark_dead(&self, id: &str, lease: &str, error: &str) -> Result<bool, StoreError> {
        self.commits
            .update(OutboxUpdate::Dead {
                id: id.into(),
                lease: lease.into(),
                error: error.into(),
            })
            .await
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        OutboxSql::counts(&self.reader).await
    }
}

#[async_trait]
impl OnceStore for SqliteStore {
    async fn remember_once(
        &self,
        client_id: &str,
        jti: &str,
        expires: Instant,
    ) -> Result<bool, StoreError> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
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
        self.commits.committed_outside();
        Ok(inserted == 1)
    }
}

crate::store::people::people_store_sql!(SqliteStore, |s: &SqliteStore| s
    .commits
    .committed_outside());

crate::store::reports::report_store_sql!(SqliteStore, sqlx::Sqlite, |s: &SqliteStore| s
    .commits
    .committed_outside());

#[async_trait]
impl Store for SqliteStore {
    async fn ready(&self) -> Result<bool, StoreError> {
        // A writer that cannot commit (the disk is full) is not ready, though reads still work.
        self.commits.writer_ready().await?;
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&self.reader)
                .await?;
        Ok(usize::try_from(applied).unwrap_or(0) >= MIGRATIONS.iter().count())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_fixtures::{count, new_task, status_index, status_is};
    use super::super::{Criterion, ResourceStore};
    use super::{MIGRATIONS, SqliteStore};

    /// A database written before tenancy read the reference rows (0006), before resources listed
    /// their search keys (0007) and while the current version was also in the history (0008):
    /// after the upgrade, tenancy finds the Task by its owner, an update replaces the search rows
    /// the old code wrote, and both versions can still be read.
    #[tokio::test]
    async fn a_store_from_before_the_write_path_changes_upgrades_and_updates_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}", dir.path().join("old.db").display());
        {
            let old = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
                .await
                .expect("old database");
            MIGRATIONS
                .run_to(5, &old)
                .await
                .expect("migrations to 0005");
            let body = r#"{"resourceType":"Task","id":"t1","status":"requested"}"#;
            for sql in [
                "INSERT INTO resources (resource_type, id, version, last_updated_us, body) VALUES ('Task', 't1', 1, 1000, ?1)",
                "INSERT INTO resource_versions (resource_type, id, version, last_updated_us, body) VALUES ('Task', 't1', 1, 1000, ?1)",
            ] {
                sqlx::query(sql)
                    .bind(body)
                    .execute(&old)
                    .await
                    .expect("row");
            }
            for (param, value) in [
                ("status", "requested"),
                ("owner", "Organization/LWS001"),
                ("_party", "Organization/LWS001"),
            ] {
                sqlx::query("INSERT INTO search_index (resource_type, resource_id, param, system, value) VALUES ('Task', 't1', ?1, '', ?2)")
                    .bind(param)
                    .bind(value)
                    .execute(&old)
                    .await
                    .expect("index row");
            }
            old.close().await;
        }
        let store = SqliteStore::open(&url).await.expect("upgraded");
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

    /// A dead delivery whose Task's later version already reached the partner (a row from
    /// before dead deliveries held the others back) is discarded, not sent, when replayed.
    #[tokio::test]
    async fn a_replay_that_would_send_an_older_version_is_discarded_instead() {
        use super::super::{ClaimLimits, DeadLetterAction, DeliveryState, OutboxStore};
        let (_dir, store, _db) = super::super::test_fixtures::temp_sqlite().await;
        let row = |id: &str, version: i64| super::super::OutboxEntry {
            id: id.into(),
            destination: signpost_profiles::OdsCode::parse("LWS001").expect("ods"),
            adapter: "fhir-rest".into(),
            event: signpost_adapters::DeliveryEvent::TaskUpdated,
            task_id: "t1".into(),
            task_version: version,
            focus_id: "s1".into(),
            focus_version: 1,
            idempotency_key: format!("k-{id}"),
            correlation_id: "c".into(),
            traceparent: None,
        };
        store
            .commit(super::super::ChangeSet {
                outbox: vec![row("old", 1), row("new", 2)],
                ..Default::default()
            })
            .await
            .expect("queue");
        let limits = ClaimLimits {
            total: 10,
            per_destination: 10,
            rooms: Default::default(),
        };
        let claimed = store
            .claim_deliveries("w", &limits, std::time::Duration::from_secs(60))
            .await
            .expect("claim");
        assert_eq!(claimed.len(), 1);
        assert!(
            store
                .mark_dead("old", &claimed[0].lease, "refused")
                .await
                .expect("dead")
        );
        // What an older build did: version 2 went past the dead version 1.
        sqlx::query("UPDATE outbox SET state = 'delivered' WHERE id = 'new'")
            .execute(&store.writer)
            .await
            .expect("delivered");
        assert_eq!(
            store.replay("old").await.expect("replay"),
            DeadLetterAction::Superseded
        );
        let discarded = store
            .list_deliveries(DeliveryState::Discarded, 10)
            .await
            .expect("list");
        assert_eq!(discarded.len(), 1);
        assert_eq!(discarded[0].id, "old");
        assert!(
            store
                .claim_deliveries("w", &limits, std::time::Duration::from_secs(60))
                .await
                .expect("claim")
                .is_empty(),
            "nothing is sent"
        );
    }

    /// An update guarded by a version that has moved deletes nothing and changes nothing.
    #[tokio::test]
    async fn a_stale_update_leaves_the_search_rows_alone() {
        let (_dir, store, _db) = super::super::test_fixtures::temp_sqlite().await;
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
}
