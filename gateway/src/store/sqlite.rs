//! SQLite in WAL mode: one writer connection (SQLite serialises writers anyway, and this
//! avoids busy errors), a small pool of readers, migrations embedded in the binary.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::value::RawValue;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqliteConnection, SqlitePool};

use super::search::{Bind, page_sql, where_clause};
use super::sqlite_commit::GroupCommit;
use super::{
    ChangeSet, ClaimedDelivery, CommitOutcome, DeliveryRecord, Instant, OutboxCounts, OutboxEntry,
    SearchPage, SearchQuery, Store, StoreError, StoredResource, now,
};

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
            .busy_timeout(Duration::from_secs(10));
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await?;
        MIGRATIONS.run(&writer).await?;
        let reader = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        Ok(Self {
            commits: GroupCommit::start(writer.clone()),
            writer,
            reader,
        })
    }
}

fn stored(row: &SqliteRow) -> Result<StoredResource, StoreError> {
    let body: String = row.try_get("body")?;
    Ok(StoredResource {
        resource_type: row.try_get("resource_type")?,
        id: row.try_get("id")?,
        version: row.try_get("version")?,
        last_updated: Instant(row.try_get("last_updated_us")?),
        body: RawValue::from_string(body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
    })
}

fn bind_all<'q>(
    mut q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    for b in binds {
        q = match b {
            Bind::Text(s) => q.bind(s),
            Bind::Int(i) => q.bind(i),
        };
    }
    q
}

pub(super) async fn search_on(
    conn: &mut SqliteConnection,
    query: &SearchQuery,
) -> Result<SearchPage, StoreError> {
    let (sql, binds) = page_sql(query, "r.body");
    let rows = bind_all(sqlx::query(AssertSqlSafe(sql)), binds)
        .fetch_all(&mut *conn)
        .await?;
    let resources = rows.iter().map(stored).collect::<Result<Vec<_>, _>>()?;
    let (from, binds) = where_clause(query);
    let total: i64 = bind_all(
        sqlx::query(AssertSqlSafe(format!("SELECT COUNT(*) AS n {from}"))),
        binds,
    )
    .fetch_one(&mut *conn)
    .await?
    .try_get("n")?;
    Ok(SearchPage { resources, total })
}

fn outbox_entry(row: &SqliteRow) -> Result<ClaimedDelivery, StoreError> {
    Ok(ClaimedDelivery {
        entry: OutboxEntry {
            id: row.try_get("id")?,
            destination: row.try_get("destination")?,
            adapter: row.try_get("adapter")?,
            event: row.try_get("event")?,
            task_id: row.try_get("task_id")?,
            task_version: row.try_get("task_version")?,
            focus_id: row.try_get("focus_id")?,
            focus_version: row.try_get("focus_version")?,
            idempotency_key: row.try_get("idempotency_key")?,
            correlation_id: row.try_get("correlation_id")?,
            traceparent: row.try_get("traceparent")?,
        },
        attempts: u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX),
    })
}

shared_outbox_statements!(SqliteStore);

#[async_trait]
impl Store for SqliteStore {
    async fn commit(&self, changes: ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.commits.commit(changes).await
    }

    async fn read(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        sqlx::query(
            "SELECT resource_type, id, version, last_updated_us, body FROM resources WHERE resource_type = $1 AND id = $2",
        )
        .bind(resource_type)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(stored)
        .transpose()
    }

    async fn vread(
        &self,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        sqlx::query(
            "SELECT resource_type, id, version, last_updated_us, body FROM resource_versions \
             WHERE resource_type = $1 AND id = $2 AND version = $3",
        )
        .bind(resource_type)
        .bind(id)
        .bind(version)
        .fetch_optional(&self.reader)
        .await?
        .as_ref()
        .map(stored)
        .transpose()
    }

    async fn history(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        sqlx::query(
            "SELECT resource_type, id, version, last_updated_us, body FROM resource_versions \
             WHERE resource_type = $1 AND id = $2 ORDER BY version DESC",
        )
        .bind(resource_type)
        .bind(id)
        .fetch_all(&self.reader)
        .await?
        .iter()
        .map(stored)
        .collect()
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError> {
        let mut conn = self.reader.acquire().await?;
        search_on(&mut conn, query).await
    }

    async fn claim_deliveries(
        &self,
        worker: &str,
        limit: usize,
        lease: Duration,
        excluded: &[String],
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        let at = now();
        let until = at.plus_millis(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let skip: String = (0..excluded.len())
            .map(|i| format!(" AND o.destination <> ${}", i + 5))
            .collect();
        // A row waits while an earlier row for the same Task and destination is still pending:
        // that is what keeps one Task's deliveries in order.
        let sql = format!(
            "UPDATE outbox SET lease_owner = $1, lease_until_us = $2 WHERE seq IN ( \
               SELECT o.seq FROM outbox o \
               WHERE o.state = 'pending' AND o.next_attempt_us <= $3 \
                 AND (o.lease_until_us IS NULL OR o.lease_until_us < $3){skip} \
                 AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.task_id = o.task_id \
                   AND e.destination = o.destination AND e.seq < o.seq AND e.state = 'pending') \
               ORDER BY o.seq LIMIT $4) \
             RETURNING id, destination, adapter, event, task_id, task_version, focus_id, focus_version, \
               idempotency_key, correlation_id, attempts, traceparent"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql))
            .bind(worker)
            .bind(until.0)
            .bind(at.0)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX));
        for destination in excluded {
            query = query.bind(destination);
        }
        let rows = query.fetch_all(&self.writer).await?;
        rows.iter().map(outbox_entry).collect()
    }

    async fn release(&self, id: &str) -> Result<(), StoreError> {
        self.shared_release(id).await
    }

    async fn list_deliveries(
        &self,
        state: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.shared_list_deliveries(state, limit).await
    }

    async fn replay(&self, id: &str) -> Result<Option<bool>, StoreError> {
        self.shared_replay(id).await
    }

    async fn mark_delivered(&self, id: &str) -> Result<(), StoreError> {
        self.shared_mark_delivered(id).await
    }

    async fn mark_retry(&self, id: &str, retry_at: Instant, error: &str) -> Result<(), StoreError> {
        self.shared_mark_retry(id, retry_at, error).await
    }

    async fn mark_dead(&self, id: &str, error: &str) -> Result<(), StoreError> {
        self.shared_mark_dead(id, error).await
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        self.shared_outbox_counts().await
    }
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
        Ok(inserted == 1)
    }

    async fn ready(&self) -> Result<bool, StoreError> {
        let applied: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success = 1")
                .fetch_one(&self.reader)
                .await?;
        Ok(usize::try_from(applied).unwrap_or(0) >= MIGRATIONS.iter().count())
    }
}
