//! What differs between the SQL of the two stores, as a trait on each sqlx database, and the
//! outbox statements written once over it.

use std::marker::PhantomData;
use std::time::Duration;

use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
};

use super::outbox_sql::{DELIVERED, OutboxUpdate, candidates_sql, choose, lease_sql};
use super::outbox_types::{AdapterKind, DeliveryState, stored_destination, stored_event};
use super::{
    ClaimLimits, ClaimedDelivery, DeliveryRecord, Instant, OutboxCounts, OutboxEntry, StoreError,
    now,
};

/// One store's SQL where it is not the other's.
pub(super) trait Dialect: Database {
    /// After a claim's candidate query: on PostgreSQL the rows stay locked until leased and
    /// replicas skip them; SQLite has one writer, so nothing.
    const CLAIM_LOCK: &'static str;
    /// The body column in a select list, as JSON text named `body`.
    const BODY: &'static str;
    /// The body of the search's resource `r`, as JSON text.
    const SEARCH_BODY: &'static str;
    /// Rows a statement changed (sqlx gives each database's result its own method).
    fn rows_affected(result: &Self::QueryResult) -> u64;
}

impl Dialect for sqlx::Sqlite {
    const CLAIM_LOCK: &'static str = "";
    const BODY: &'static str = "body";
    const SEARCH_BODY: &'static str = "r.body";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

impl Dialect for sqlx::Postgres {
    const CLAIM_LOCK: &'static str = " FOR UPDATE SKIP LOCKED";
    const BODY: &'static str = "body::text AS body";
    const SEARCH_BODY: &'static str = "r.body::text";
    fn rows_affected(result: &Self::QueryResult) -> u64 {
        result.rows_affected()
    }
}

/// The outbox statements, the same on both stores; the bounds are what they bind and read.
pub(super) struct Outbox<DB>(PhantomData<DB>);

impl<DB> Outbox<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> &'r str: Decode<'r, DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'r> Option<String>: Decode<'r, DB>,
    for<'r> Option<i64>: Decode<'r, DB>,
    Option<String>: Type<DB>,
    Option<i64>: Type<DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    /// An outbox row as claimed.
    fn claimed(row: &DB::Row) -> Result<ClaimedDelivery, StoreError> {
        Ok(ClaimedDelivery {
            entry: OutboxEntry {
                id: row.try_get("id")?,
                destination: stored_destination(row.try_get("destination")?)?,
                adapter: AdapterKind::stored(row.try_get("adapter")?)?,
                event: stored_event(row.try_get("event")?)?,
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

    /// Deliveries in a state, oldest first (see `OutboxStore::list_deliveries`).
    pub(super) async fn list(
        reader: &Pool<DB>,
        state: DeliveryState,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let rows = sqlx::query::<DB>(
            "SELECT id, destination, adapter, event, task_id, task_version, state, attempts, last_error, created_us \
             FROM outbox WHERE state = $1 ORDER BY seq LIMIT $2",
        )
        .bind(state.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(reader)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(DeliveryRecord {
                    id: row.try_get("id")?,
                    organisation: stored_destination(row.try_get("destination")?)?,
                    adapter: AdapterKind::stored(row.try_get("adapter")?)?,
                    event: stored_event(row.try_get("event")?)?,
                    task: format!(
                        "Task/{}/_history/{}",
                        row.try_get::<String, _>("task_id")?,
                        row.try_get::<i64, _>("task_version")?
                    ),
                    state: DeliveryState::stored(row.try_get("state")?)?,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    created: Instant(row.try_get("created_us")?).to_fhir(),
                })
            })
            .collect()
    }

    /// Queues a dead delivery again (see `OutboxStore::replay`).
    pub(super) async fn replay(writer: &Pool<DB>, id: &str) -> Result<Option<bool>, StoreError> {
        let state: Option<String> =
            sqlx::query_scalar::<DB, String>("SELECT state FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(writer)
                .await?;
        match state.as_deref().map(DeliveryState::stored).transpose()? {
            None => Ok(None),
            Some(DeliveryState::Dead) => {
                sqlx::query::<DB>(
                    "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_us = $2, \
                     lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'dead'",
                )
                .bind(id)
                .bind(now().0)
                .execute(writer)
                .await?;
                Ok(Some(true))
            }
            Some(_) => Ok(Some(false)),
        }
    }

    /// Outbox rows by state (see `OutboxStore::outbox_counts`).
    pub(super) async fn counts(reader: &Pool<DB>) -> Result<OutboxCounts, StoreError> {
        let rows = sqlx::query::<DB>(
            "SELECT state, COUNT(*) AS n, MIN(created_us) AS oldest FROM outbox GROUP BY state",
        )
        .fetch_all(reader)
        .await?;
        let mut counts = OutboxCounts::default();
        for row in rows {
            let n: i64 = row.try_get("n")?;
            match DeliveryState::stored(row.try_get("state")?)? {
                DeliveryState::Pending => {
                    counts.pending = n;
                    counts.oldest_pending = row.try_get::<Option<i64>, _>("oldest")?.map(Instant);
                }
                DeliveryState::Delivered => counts.delivered = n,
                DeliveryState::Dead => counts.dead = n,
            }
        }
        Ok(counts)
    }

    /// Writes what happened to a claimed delivery; a row no longer pending is left alone.
    pub(super) async fn update<'e, E>(executor: E, update: &OutboxUpdate) -> Result<(), StoreError>
    where
        E: Executor<'e, Database = DB>,
    {
        let query = match update {
            OutboxUpdate::Delivered { id } => sqlx::query::<DB>(AssertSqlSafe(format!(
                "UPDATE outbox SET {DELIVERED} WHERE id = $2 AND state = 'pending'"
            )))
            .bind(now().0)
            .bind(id.as_str()),
            OutboxUpdate::Retry { id, at, error } => sqlx::query::<DB>(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_us = $2, last_error = $3, \
                 lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
            )
            .bind(id.as_str())
            .bind(at.0)
            .bind(error.as_str()),
            OutboxUpdate::Dead { id, error } => sqlx::query::<DB>(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $2, \
                 lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
            )
            .bind(id.as_str())
            .bind(error.as_str()),
            OutboxUpdate::Release { id } => sqlx::query::<DB>(
                "UPDATE outbox SET lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
            )
            .bind(id.as_str()),
        };
        query.execute(executor).await?;
        Ok(())
    }

    /// Claims due deliveries within `limits` on `conn`, which the caller holds in a transaction.
    pub(super) async fn claim(
        conn: &mut DB::Connection,
        worker: &str,
        limits: &ClaimLimits,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        if limits.total == 0 {
            return Ok(Vec::new());
        }
        let at = now();
        let until = at.plus_millis(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let (sql, closed) = candidates_sql(limits, DB::CLAIM_LOCK);
        let mut query = sqlx::query::<DB>(AssertSqlSafe(sql))
            .bind(at.0)
            .bind(i64::try_from(limits.total).unwrap_or(i64::MAX));
        for destination in closed {
            query = query.bind(destination);
        }
        let candidates = query
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|row| {
                Ok((
                    row.try_get::<i64, _>("seq")?,
                    row.try_get::<String, _>("destination")?,
                ))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let chosen = choose(&candidates, limits);
        if chosen.is_empty() {
            return Ok(Vec::new());
        }
        let mut query = sqlx::query::<DB>(AssertSqlSafe(lease_sql(chosen.len())))
            .bind(worker)
            .bind(until.0);
        for seq in chosen {
            query = query.bind(seq);
        }
        query
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(Self::claimed)
            .collect()
    }
}
