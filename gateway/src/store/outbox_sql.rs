//! The outbox statements both stores share, written once over [`Dialect`], with the claim's
//! choice of rows.

use std::marker::PhantomData;
use std::time::Duration;

use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::dialect::Dialect;
use super::outbox_types::{
    AdapterKind, DeadLetterAction, DeliveryState, stored_destination, stored_event,
};
use super::{
    ClaimLimits, ClaimedDelivery, DeliveryRecord, Instant, OutboxCounts, OutboxEntry,
    PartnerOutbox, StoreError, now,
};

/// What happened to a claimed delivery, as written to its outbox row by the claim that holds
/// it (`lease`, its fencing token).
#[derive(Debug, Clone)]
pub(super) enum OutboxUpdate {
    /// The partner acknowledged it.
    Delivered { id: String, lease: String },
    /// It failed; try again at `at`.
    Retry {
        id: String,
        lease: String,
        at: Instant,
        error: String,
    },
    /// It failed for good.
    Dead {
        id: String,
        lease: String,
        error: String,
    },
    /// Given back untouched (no attempt was made).
    Release { id: String, lease: String },
}

/// What marking a row delivered sets (after `SET`; `$1` is now).
pub(super) const DELIVERED: &str = "state = 'delivered', delivered_us = $1, attempts = attempts + 1, \
     lease_owner = NULL, lease_until_us = NULL";

/// What a claim sends: one statement that picks the due rows it may take and leases them.
pub(super) struct ClaimSql {
    /// The statement; `$1` now, `$2` the rows in all, `$3` the claim's fencing token, `$4` the
    /// lease's end, `$5` the room of a destination not named; then `closed` and `rooms`.
    pub(super) sql: String,
    /// Destinations with no room, left out of the candidates (bound first, from `$6`).
    pub(super) closed: Vec<String>,
    /// Destinations with a room of their own, and that room (bound after `closed`, in pairs).
    pub(super) rooms: Vec<(String, i64)>,
}

/// The claim within `limits`, as one statement (one round trip, and on PostgreSQL its own
/// transaction: the candidates are locked until leased, and replicas skip them).
///
/// The candidates are the due, unleased rows, oldest due first; destinations with no room are
/// left out in SQL, so a partner whose breaker is open cannot fill them. A row waits while an
/// earlier row for the same Task and destination is still pending or dead: that is what keeps
/// one Task's deliveries in order, through failures too, until an operator replays or discards
/// the dead one. The order is the `outbox_due` index's, so a claim reads only the rows it takes
/// and those skipped before them, however long the backlog. Of the candidates, each destination
/// keeps as many of its oldest as it has room for, and the claim at most `$2` of those.
pub(super) fn claim_sql(limits: &ClaimLimits, lock: &str) -> ClaimSql {
    let mut closed: Vec<String> = Vec::new();
    let mut rooms: Vec<(String, i64)> = Vec::new();
    for (destination, room) in &limits.rooms {
        match *room {
            0 => closed.push(destination.clone()),
            room => rooms.push((destination.clone(), i64::try_from(room).unwrap_or(i64::MAX))),
        }
    }
    // The same binds in the same order for the same limits, whatever order the map gives.
    closed.sort();
    rooms.sort();
    let skip: String = (0..closed.len())
        .map(|i| format!(" AND o.destination <> ${}", i + 6))
        .collect();
    let first_room = 6 + closed.len();
    let (room, join) = if rooms.is_empty() {
        ("$5".to_owned(), String::new())
    } else {
        let pairs: Vec<String> = (0..rooms.len())
            .map(|i| format!("(${}, ${})", first_room + 2 * i, first_room + 2 * i + 1))
            .collect();
        (
            "COALESCE(r.column2, $5)".to_owned(),
            format!(
                " LEFT JOIN (VALUES {}) r ON r.column1 = c.destination",
                pairs.join(", ")
            ),
        )
    };
    let sql = format!(
        "WITH candidates AS (SELECT o.seq, o.destination, o.next_attempt_us FROM outbox o \
           WHERE o.state = 'pending' AND o.next_attempt_us <= $1 \
             AND (o.lease_until_us IS NULL OR o.lease_until_us < $1){skip} \
             AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.task_id = o.task_id \
               AND e.destination = o.destination AND e.seq < o.seq AND e.state IN ('pending', 'dead')) \
           ORDER BY o.next_attempt_us, o.seq LIMIT $2{lock}), \
         ranked AS (SELECT c.seq, c.next_attempt_us, {room} AS room, \
           ROW_NUMBER() OVER (PARTITION BY c.destination ORDER BY c.next_attempt_us, c.seq) AS nth \
           FROM candidates c{join}), \
         chosen AS (SELECT seq FROM ranked WHERE nth <= room ORDER BY next_attempt_us, seq LIMIT $2) \
         UPDATE outbox SET lease_owner = $3, lease_until_us = $4 WHERE seq IN (SELECT seq FROM chosen) \
         RETURNING id, destination, adapter, event, task_id, task_version, focus_id, focus_version, \
           idempotency_key, correlation_id, attempts, traceparent, lease_owner, next_attempt_us, seq"
    );
    ClaimSql { sql, closed, rooms }
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
            lease: row.try_get("lease_owner")?,
        })
    }

    /// Deliveries in a state, oldest first (see `OutboxStore::list_deliveries`).
    pub(super) async fn list(
        reader: &Pool<DB>,
        state: DeliveryState,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        Self::records(reader, "state", state.as_str(), limit).await
    }

    /// Every delivery of a Task, in queue order (see `OutboxStore::task_deliveries`).
    pub(super) async fn of_task(
        reader: &Pool<DB>,
        task_id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        Self::records(reader, "task_id", task_id, limit).await
    }

    /// One delivery (see `OutboxStore::delivery`).
    pub(super) async fn one(
        reader: &Pool<DB>,
        id: &str,
    ) -> Result<Option<DeliveryRecord>, StoreError> {
        Ok(Self::records(reader, "id", id, 1).await?.pop())
    }

    /// Rows whose `column` (one of the few named by the callers above) is `value`, in queue order.
    async fn records(
        reader: &Pool<DB>,
        column: &'static str,
        value: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        let sql = format!(
            "SELECT id, destination, adapter, event, task_id, task_version, state, attempts, \
             last_error, created_us, next_attempt_us, delivered_us \
             FROM outbox WHERE {column} = $1 ORDER BY seq LIMIT $2"
        );
        let rows = sqlx::query::<DB>(AssertSqlSafe(sql))
            .bind(value)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(reader)
            .await?;
        rows.iter()
            .map(|row| {
                let state = DeliveryState::stored(row.try_get("state")?)?;
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
                    state,
                    attempts: row.try_get("attempts")?,
                    last_error: row.try_get("last_error")?,
                    created: Instant(row.try_get("created_us")?).to_fhir(),
                    // Only a pending row has an attempt to come.
                    next_attempt: (state == DeliveryState::Pending)
                        .then(|| row.try_get::<i64, _>("next_attempt_us").map(Instant))
                        .transpose()?
                        .map(Instant::to_fhir),
                    delivered: row
                        .try_get::<Option<i64>, _>("delivered_us")?
                        .map(|us| Instant(us).to_fhir()),
                })
            })
            .collect()
    }

    /// Pending and dead deliveries per partner (see `OutboxStore::partner_outbox`).
    pub(super) async fn partners(reader: &Pool<DB>) -> Result<Vec<PartnerOutbox>, StoreError> {
        let rows = sqlx::query::<DB>(
            "SELECT destination, state, COUNT(*) AS n, MIN(created_us) AS oldest FROM outbox \
             WHERE state IN ('pending', 'dead') GROUP BY destination, state ORDER BY destination",
        )
        .fetch_all(reader)
        .await?;
        let mut partners: Vec<PartnerOutbox> = Vec::new();
        for row in rows {
            let organisation = stored_destination(row.try_get("destination")?)?;
            if partners
                .last()
                .is_none_or(|p| p.organisation != organisation)
            {
                partners.push(PartnerOutbox {
                    organisation: organisation.clone(),
                    pending: 0,
                    dead: 0,
                    oldest_pending: None,
                });
            }
            let Some(partner) = partners.last_mut() else {
                continue;
            };
            let n: i64 = row.try_get("n")?;
            match DeliveryState::stored(row.try_get("state")?)? {
                DeliveryState::Pending => {
                    partner.pending = n;
                    partner.oldest_pending = row.try_get::<Option<i64>, _>("oldest")?.map(Instant);
                }
                DeliveryState::Dead => partner.dead = n,
                DeliveryState::Delivered | DeliveryState::Discarded => {}
            }
        }
        Ok(partners)
    }

    /// Queues a dead delivery again, or discards it if a later version of its Task already
    /// reached the partner (see `OutboxStore::replay`). Nothing behind a dead row can be
    /// delivered meanwhile, so what is checked stays true until the row is changed.
    pub(super) async fn replay(
        writer: &Pool<DB>,
        id: &str,
    ) -> Result<DeadLetterAction, StoreError> {
        let Some((task_id, destination, seq)) = Self::dead_row(writer, id).await? else {
            return Self::not_dead(writer, id).await;
        };
        let superseded: Option<i64> = sqlx::query_scalar::<DB, i64>(
            "SELECT seq FROM outbox WHERE task_id = $1 AND destination = $2 AND seq > $3 \
             AND state = 'delivered' LIMIT 1",
        )
        .bind(task_id.as_str())
        .bind(destination.as_str())
        .bind(seq)
        .fetch_optional(writer)
        .await?;
        let changed = if superseded.is_some() {
            sqlx::query::<DB>(
                "UPDATE outbox SET state = 'discarded', \
                 last_error = 'not replayed: the partner already holds a later version' \
                 WHERE id = $1 AND state = 'dead'",
            )
            .bind(id)
            .execute(writer)
            .await?
        } else {
            sqlx::query::<DB>(
                "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_us = $2, \
                 lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'dead'",
            )
            .bind(id)
            .bind(now().0)
            .execute(writer)
            .await?
        };
        Ok(match (DB::rows_affected(&changed), superseded) {
            (0, _) => DeadLetterAction::NotDead,
            (_, Some(_)) => DeadLetterAction::Superseded,
            (_, None) => DeadLetterAction::Done,
        })
    }

    /// Drops a dead delivery (see `OutboxStore::discard`).
    pub(super) async fn discard(
        writer: &Pool<DB>,
        id: &str,
    ) -> Result<DeadLetterAction, StoreError> {
        let changed = sqlx::query::<DB>(
            "UPDATE outbox SET state = 'discarded' WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .execute(writer)
        .await?;
        if DB::rows_affected(&changed) == 0 {
            return Self::not_dead(writer, id).await;
        }
        Ok(DeadLetterAction::Done)
    }

    /// A dead row's Task, destination and place in the queue; `None` if it is not dead.
    async fn dead_row(
        writer: &Pool<DB>,
        id: &str,
    ) -> Result<Option<(String, String, i64)>, StoreError> {
        let row = sqlx::query::<DB>(
            "SELECT task_id, destination, seq FROM outbox WHERE id = $1 AND state = 'dead'",
        )
        .bind(id)
        .fetch_optional(writer)
        .await?;
        row.map(|row| {
            Ok((
                row.try_get("task_id")?,
                row.try_get("destination")?,
                row.try_get("seq")?,
            ))
        })
        .transpose()
    }

    /// Why a row could not be replayed or discarded: unknown, or not dead.
    async fn not_dead(writer: &Pool<DB>, id: &str) -> Result<DeadLetterAction, StoreError> {
        let state: Option<String> =
            sqlx::query_scalar::<DB, String>("SELECT state FROM outbox WHERE id = $1")
                .bind(id)
                .fetch_optional(writer)
                .await?;
        Ok(match state {
            None => DeadLetterAction::Unknown,
            Some(_) => DeadLetterAction::NotDead,
        })
    }

    /// Extends the leases `lease` still holds (see `OutboxStore::renew`).
    pub(super) async fn renew<'e, E>(
        executor: E,
        ids: &[String],
        lease: &str,
        duration: Duration,
    ) -> Result<Vec<String>, StoreError>
    where
        E: Executor<'e, Database = DB>,
    {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let until = now().plus_millis(u64::try_from(duration.as_millis()).unwrap_or(u64::MAX));
        let placeholders: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
        // Locked in queue order, as PostgreSQL's batched outcomes lock them: two statements
        // changing several of the same rows in different orders could deadlock.
        let sql = format!(
            "WITH held AS (SELECT seq FROM outbox WHERE lease_owner = $2 AND state = 'pending' \
               AND id IN ({}) ORDER BY seq{}) \
             UPDATE outbox SET lease_until_us = $1 WHERE seq IN (SELECT seq FROM held) RETURNING id",
            placeholders.join(", "),
            DB::ROW_LOCK
        );
        let mut query = sqlx::query_scalar::<DB, String>(AssertSqlSafe(sql))
            .bind(until.0)
            .bind(lease);
        for id in ids {
            query = query.bind(id.as_str());
        }
        Ok(query.fetch_all(executor).await?)
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
                DeliveryState::Discarded => counts.discarded = n,
            }
        }
        Ok(counts)
    }

    /// Writes what happened to a claimed delivery; `false` (nothing written) if the row is no
    /// longer pending or no longer held by this claim: a worker paused past its lease must not
    /// overwrite the outcome of the worker that claimed the row after it.
    pub(super) async fn update<'e, E>(
        executor: E,
        update: &OutboxUpdate,
    ) -> Result<bool, StoreError>
    where
        E: Executor<'e, Database = DB>,
    {
        let query = match update {
            OutboxUpdate::Delivered { id, lease } => sqlx::query::<DB>(AssertSqlSafe(format!(
                "UPDATE outbox SET {DELIVERED} WHERE id = $2 AND lease_owner = $3 AND state = 'pending'"
            )))
            .bind(now().0)
            .bind(id.as_str())
            .bind(lease.as_str()),
            OutboxUpdate::Retry {
                id,
                lease,
                at,
                error,
            } => sqlx::query::<DB>(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_us = $2, last_error = $3, \
                 lease_owner = NULL, lease_until_us = NULL \
                 WHERE id = $1 AND lease_owner = $4 AND state = 'pending'",
            )
            .bind(id.as_str())
            .bind(at.0)
            .bind(error.as_str())
            .bind(lease.as_str()),
            OutboxUpdate::Dead { id, lease, error } => sqlx::query::<DB>(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $2, \
                 lease_owner = NULL, lease_until_us = NULL \
                 WHERE id = $1 AND lease_owner = $3 AND state = 'pending'",
            )
            .bind(id.as_str())
            .bind(error.as_str())
            .bind(lease.as_str()),
            OutboxUpdate::Release { id, lease } => sqlx::query::<DB>(
                "UPDATE outbox SET lease_owner = NULL, lease_until_us = NULL \
                 WHERE id = $1 AND lease_owner = $2 AND state = 'pending'",
            )
            .bind(id.as_str())
            .bind(lease.as_str()),
        };
        Ok(DB::rows_affected(&query.execute(executor).await?) == 1)
    }

    /// Claims due deliveries within `limits` (see `OutboxStore::claim_deliveries`).
    pub(super) async fn claim<'e, E>(
        executor: E,
        worker: &str,
        limits: &ClaimLimits,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError>
    where
        E: Executor<'e, Database = DB>,
    {
        if limits.total == 0 {
            return Ok(Vec::new());
        }
        let at = now();
        let until = at.plus_millis(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let ClaimSql { sql, closed, rooms } = claim_sql(limits, DB::CLAIM_LOCK);
        // A token per claim, not per worker: a worker that claims a row again after its own lease
        // ran out must not be able to finish the earlier attempt's outcome as if it were current.
        let token = format!("{worker}/{}", uuid::Uuid::new_v4().simple());
        let mut query = sqlx::query::<DB>(AssertSqlSafe(sql))
            .bind(at.0)
            .bind(i64::try_from(limits.total).unwrap_or(i64::MAX))
            .bind(token)
            .bind(until.0)
            .bind(i64::try_from(limits.per_destination).unwrap_or(i64::MAX));
        for destination in closed {
            query = query.bind(destination);
        }
        for (destination, room) in rooms {
            query = query.bind(destination).bind(room);
        }
        let mut claimed = query
            .fetch_all(executor)
            .await?
            .iter()
            .map(|row| {
                let due: i64 = row.try_get("next_attempt_us")?;
                let seq: i64 = row.try_get("seq")?;
                Ok(((due, seq), Self::claimed(row)?))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        // An UPDATE returns rows in no particular order; each partner's queue is oldest due first.
        claimed.sort_by_key(|(order, _)| *order);
        Ok(claimed.into_iter().map(|(_, c)| c).collect())
    }
}
