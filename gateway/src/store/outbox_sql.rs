//! Outbox statements that are the same on SQLite and PostgreSQL, written once.
//!
//! `#[async_trait]` impls cannot take a macro's items, so this generates inherent methods on a
//! store type and free functions in its module; each backend's `Store` impl calls them. Paths
//! resolve where the macro is used: the store module must import `Row`, `AssertSqlSafe`,
//! `Duration`, `ClaimLimits`, `ClaimedDelivery`, `DeliveryRecord`, `OutboxCounts`, `Instant`,
//! `StoreError` and `now`, define `outbox_entry(&Row)`, and the type must have `writer` and
//! `reader` pools.

use std::collections::HashMap;

use super::{ClaimLimits, Instant};

/// What happened to a claimed delivery, as written to its outbox row.
#[derive(Debug, Clone)]
pub(super) enum OutboxUpdate {
    /// The partner acknowledged it.
    Delivered { id: String },
    /// It failed; try again at `at`.
    Retry {
        id: String,
        at: Instant,
        error: String,
    },
    /// It failed for good.
    Dead { id: String, error: String },
    /// Given back untouched (no attempt was made).
    Release { id: String },
}

/// What marking a row delivered sets (after `SET`; `$1` is now).
pub(super) const DELIVERED: &str = "state = 'delivered', delivered_us = $1, attempts = attempts + 1, \
     lease_owner = NULL, lease_until_us = NULL";

/// The due, unleased rows a claim may take, oldest due first, with their destinations.
///
/// Destinations with no room are left out in SQL (bound from `$3`), so a partner whose breaker is
/// open cannot fill the candidates; `$1` is now, `$2` the number of candidates. A row waits while
/// an earlier row for the same Task and destination is still pending: that is what keeps one
/// Task's deliveries in order. The order is the `outbox_due` index's, so a claim reads only the
/// rows it takes and those skipped before them, however long the backlog.
pub(super) fn candidates_sql(limits: &ClaimLimits, lock: &str) -> (String, Vec<String>) {
    let closed: Vec<String> = limits
        .rooms
        .iter()
        .filter(|(_, room)| **room == 0)
        .map(|(destination, _)| destination.clone())
        .collect();
    let skip: String = (0..closed.len())
        .map(|i| format!(" AND o.destination <> ${}", i + 3))
        .collect();
    let sql = format!(
        "SELECT o.seq, o.destination FROM outbox o \
         WHERE o.state = 'pending' AND o.next_attempt_us <= $1 \
           AND (o.lease_until_us IS NULL OR o.lease_until_us < $1){skip} \
           AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.task_id = o.task_id \
             AND e.destination = o.destination AND e.seq < o.seq AND e.state = 'pending') \
         ORDER BY o.next_attempt_us, o.seq LIMIT $2{lock}"
    );
    (sql, closed)
}

/// The candidates (in order) that fit within `limits`.
pub(super) fn choose(candidates: &[(i64, String)], limits: &ClaimLimits) -> Vec<i64> {
    let mut taken: HashMap<&str, usize> = HashMap::new();
    let mut chosen = Vec::new();
    for (seq, destination) in candidates {
        if chosen.len() == limits.total {
            break;
        }
        let n = taken.entry(destination.as_str()).or_default();
        if *n < limits.room(destination) {
            *n += 1;
            chosen.push(*seq);
        }
    }
    chosen
}

/// Leases the chosen rows (`$1` worker, `$2` lease end, `$3`.. the rows' seq) and returns them.
pub(super) fn lease_sql(rows: usize) -> String {
    let seqs: Vec<String> = (0..rows).map(|i| format!("${}", i + 3)).collect();
    format!(
        "UPDATE outbox SET lease_owner = $1, lease_until_us = $2 WHERE seq IN ({}) \
         RETURNING id, destination, adapter, event, task_id, task_version, focus_id, focus_version, \
           idempotency_key, correlation_id, attempts, traceparent",
        seqs.join(", ")
    )
}

macro_rules! shared_outbox_statements {
    ($store:ty, $db:ty, $lock:literal) => {
        impl $store {
        pub(super) async fn shared_list_deliveries(
            &self,
            state: super::DeliveryState,
            limit: usize,
        ) -> Result<Vec<DeliveryRecord>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, destination, adapter, event, task_id, task_version, state, attempts, last_error, created_us \
                 FROM outbox WHERE state = $1 ORDER BY seq LIMIT $2",
            )
            .bind(state.as_str())
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.reader)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(DeliveryRecord {
                        id: row.try_get("id")?,
                        organisation: super::outbox_types::stored_destination(row.try_get("destination")?)?,
                        adapter: super::AdapterKind::stored(row.try_get("adapter")?)?,
                        event: super::outbox_types::stored_event(row.try_get("event")?)?,
                        task: format!(
                            "Task/{}/_history/{}",
                            row.try_get::<String, _>("task_id")?,
                            row.try_get::<i64, _>("task_version")?
                        ),
                        state: super::DeliveryState::stored(row.try_get("state")?)?,
                        attempts: row.try_get("attempts")?,
                        last_error: row.try_get("last_error")?,
                        created: Instant(row.try_get("created_us")?).to_fhir(),
                    })
                })
                .collect()
        }

        pub(super) async fn shared_replay(&self, id: &str) -> Result<Option<bool>, StoreError> {
            let state: Option<String> = sqlx::query_scalar("SELECT state FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.writer)
                .await?;
            match state.as_deref().map(super::DeliveryState::stored).transpose()? {
                None => Ok(None),
                Some(super::DeliveryState::Dead) => {
                    sqlx::query(
                        "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_us = $2, \
                         lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'dead'",
                    )
                    .bind(id)
                    .bind(now().0)
                    .execute(&self.writer)
                    .await?;
                    Ok(Some(true))
                }
                Some(_) => Ok(Some(false)),
            }
        }

        pub(super) async fn shared_outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
            let rows = sqlx::query(
                "SELECT state, COUNT(*) AS n, MIN(created_us) AS oldest FROM outbox GROUP BY state",
            )
            .fetch_all(&self.reader)
            .await?;
            let mut counts = OutboxCounts::default();
            for row in rows {
                let n: i64 = row.try_get("n")?;
                match super::DeliveryState::stored(row.try_get("state")?)? {
                    super::DeliveryState::Pending => {
                        counts.pending = n;
                        counts.oldest_pending = row.try_get::<Option<i64>, _>("oldest")?.map(Instant);
                    }
                    super::DeliveryState::Delivered => counts.delivered = n,
                    super::DeliveryState::Dead => counts.dead = n,
                }
            }
            Ok(counts)
        }

        }

        /// Writes what happened to a claimed delivery; a row no longer pending is left alone.
        pub(super) async fn apply_outbox_update<'e, E>(
            executor: E,
            update: &super::outbox_sql::OutboxUpdate,
        ) -> Result<(), StoreError>
        where
            E: sqlx::Executor<'e, Database = $db>,
        {
            use super::outbox_sql::OutboxUpdate;
            let query = match update {
                OutboxUpdate::Delivered { id } => sqlx::query(AssertSqlSafe(format!(
                    "UPDATE outbox SET {} WHERE id = $2 AND state = 'pending'",
                    super::outbox_sql::DELIVERED
                )))
                .bind(now().0)
                .bind(id.as_str()),
                OutboxUpdate::Retry { id, at, error } => sqlx::query(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_us = $2, last_error = $3, \
                     lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
                )
                .bind(id.as_str())
                .bind(at.0)
                .bind(error.as_str()),
                OutboxUpdate::Dead { id, error } => sqlx::query(
                    "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $2, \
                     lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
                )
                .bind(id.as_str())
                .bind(error.as_str()),
                OutboxUpdate::Release { id } => sqlx::query(
                    "UPDATE outbox SET lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
                )
                .bind(id.as_str()),
            };
            query.execute(executor).await?;
            Ok(())
        }

        /// Claims due deliveries within `limits` on `conn`, which the caller holds in a transaction.
        pub(super) async fn claim_on(
            conn: &mut <$db as sqlx::Database>::Connection,
            worker: &str,
            limits: &ClaimLimits,
            lease: Duration,
        ) -> Result<Vec<ClaimedDelivery>, StoreError> {
            if limits.total == 0 {
                return Ok(Vec::new());
            }
            let at = now();
            let until = at.plus_millis(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
            let (sql, closed) = super::outbox_sql::candidates_sql(limits, $lock);
            let mut query = sqlx::query(AssertSqlSafe(sql))
                .bind(at.0)
                .bind(i64::try_from(limits.total).unwrap_or(i64::MAX));
            for destination in closed {
                query = query.bind(destination);
            }
            let candidates = query
                .fetch_all(&mut *conn)
                .await?
                .iter()
                .map(|row| Ok((row.try_get::<i64, _>("seq")?, row.try_get::<String, _>("destination")?)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?;
            let chosen = super::outbox_sql::choose(&candidates, limits);
            if chosen.is_empty() {
                return Ok(Vec::new());
            }
            let mut query = sqlx::query(AssertSqlSafe(super::outbox_sql::lease_sql(chosen.len())))
                .bind(worker)
                .bind(until.0);
            for seq in chosen {
                query = query.bind(seq);
            }
            query.fetch_all(&mut *conn).await?.iter().map(outbox_entry).collect()
        }
    };
}
