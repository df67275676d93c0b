//! A change set's writes, the same on both stores: the guards, each update (its replaced version
//! moved to the history and its search rows deleted by the keys its row lists), and the new rows
//! in one multi-row INSERT per table. SQLite's group commit batches around this; PostgreSQL
//! runs it in a transaction of its own.

use std::marker::PhantomData;

use sqlx::query_builder::Separated;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, QueryBuilder, Type,
};

use super::dialect::Dialect;
use super::index_keys::index_keys;
use super::resource_sql::Resources;
use super::{
    ChangeSet, CommitOutcome, IndexEntry, OutboxEntry, ResourceWrite, StoreError, StoredResource,
    now,
};

/// The write statements; the bounds are what they bind and read.
pub(super) struct Writes<DB>(PhantomData<DB>);

impl<DB> Writes<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB> + Default,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    /// Appends INSERT statements for `rows` to `script`, as few as the parameter limit allows;
    /// nothing when empty. Where a script cannot hold several statements, each is run at once.
    async fn push_rows<T>(
        conn: &mut DB::Connection,
        script: &mut QueryBuilder<DB>,
        head: &'static str,
        rows: &[T],
        mut bind: impl FnMut(Separated<'_, DB, &'static str>, &T),
    ) -> Result<(), StoreError> {
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            script.push(head);
            script.push_values(chunk, &mut bind);
            Self::end_statement(conn, script).await?;
        }
        Ok(())
    }

    /// Ends a statement in `script`: on a dialect with scripts it waits there for the rest,
    /// elsewhere it runs now and the script starts again empty.
    async fn end_statement(
        conn: &mut DB::Connection,
        script: &mut QueryBuilder<DB>,
    ) -> Result<(), StoreError> {
        if DB::SCRIPTS {
            script.push("; ");
        } else {
            script.build().execute(&mut *conn).await?;
            script.reset();
        }
        Ok(())
    }

    /// Writes one change set after checking its condition, one-time value and versions; on any
    /// outcome but `Committed` the caller rolls its savepoint back.
    pub(super) async fn apply(
        conn: &mut DB::Connection,
        changes: &ChangeSet,
    ) -> Result<CommitOutcome, StoreError> {
        if let Some(stopped) = Self::guard_and_update(conn, changes).await? {
            return Ok(stopped);
        }
        Self::insert_new_rows(conn, &[changes], None).await?;
        Ok(CommitOutcome::Committed)
    }

    /// Everything of [`Self::apply`] but the new rows: the guards, then each update. `Some` is an
    /// outcome that writes nothing; the caller rolls back on it or on an `Err`.
    pub(super) async fn guard_and_update(
        conn: &mut DB::Connection,
        changes: &ChangeSet,
    ) -> Result<Option<CommitOutcome>, StoreError> {
        if let Some(stopped) = Resources::<DB>::check_guards(conn, changes).await? {
            return Ok(Some(stopped));
        }
        // Updates go one by one (each checks its version); everything else is one multi-row INSERT
        // per table. On SQLite each statement is a round trip to its worker thread (two thread
        // wake-ups), and a referral took some 27 of them: with the CPU busy, that cost as much as
        // validation.
        for write in &changes.writes {
            let r = &write.resource;
            if r.version == 1 {
                continue;
            }
            // The replaced version's search rows go, by the keys its row lists, and its body moves
            // to the history (the current version is stored only in `resources`): one round trip.
            // Both are guarded by that version, so if it moved they do nothing, the update below
            // fails and the caller rolls back.
            sqlx::query::<DB>(DB::RETIRE)
                .bind(r.resource_type.as_str())
                .bind(r.id.as_str())
                .bind(r.version - 1)
                .execute(&mut *conn)
                .await?;
            let updated = sqlx::query::<DB>(AssertSqlSafe(format!(
                "UPDATE resources SET version = $1, last_updated_us = $2, body = $3{json}, \
                 index_keys = $4{json} WHERE resource_type = $5 AND id = $6 AND version = $7",
                json = DB::JSON
            )))
            .bind(r.version)
            .bind(r.last_updated.0)
            .bind(r.body.get())
            .bind(index_keys(&write.index))
            .bind(r.resource_type.as_str())
            .bind(r.id.as_str())
            .bind(r.version - 1)
            .execute(&mut *conn)
            .await?;
            if DB::rows_affected(&updated) != 1 {
                let current: Option<i64> = sqlx::query_scalar::<DB, i64>(
                    "SELECT version FROM resources WHERE resource_type = $1 AND id = $2",
                )
                .bind(r.resource_type.as_str())
                .bind(r.id.as_str())
                .fetch_optional(&mut *conn)
                .await?;
                return Err(StoreError::VersionConflict {
                    resource_type: r.resource_type.clone(),
                    id: r.id.clone(),
                    expected: r.version - 1,
                    current: current.unwrap_or(0),
                });
            }
        }
        Ok(None)
    }

    /// Inserts the new rows of several change sets together: resources created, the search values
    /// of every new version and the outbox rows, one multi-row INSERT per table. On SQLite the
    /// statements go to its thread as one script, with `savepoint` around them if given: one round
    /// trip, where each statement on its own was two thread wake-ups.
    pub(super) async fn insert_new_rows(
        conn: &mut DB::Connection,
        sets: &[&ChangeSet],
        savepoint: Option<&'static str>,
    ) -> Result<(), StoreError> {
        let created: Vec<&ResourceWrite> = sets
            .iter()
            .flat_map(|c| &c.writes)
            .filter(|w| w.resource.version == 1)
            .collect();
        let index: Vec<(&StoredResource, &IndexEntry)> = sets
            .iter()
            .flat_map(|c| &c.writes)
            .flat_map(|w| w.index.iter().map(move |e| (&w.resource, e)))
            .collect();
        let outbox: Vec<&OutboxEntry> = sets.iter().flat_map(|c| &c.outbox).collect();
        let created_at = now();
        let mut script = QueryBuilder::<DB>::new("");
        if let Some(name) = savepoint {
            script.push(format_args!("SAVEPOINT {name}"));
            Self::end_statement(conn, &mut script).await?;
        }
        Self::push_rows(
            conn,
            &mut script,
            "INSERT INTO resources (resource_type, id, version, last_updated_us, body, index_keys) ",
            &created,
            |mut row, w| {
                let r = &w.resource;
                row.push_bind(r.resource_type.as_str())
                    .push_bind(r.id.as_str())
                    .push_bind(r.version)
                    .push_bind(r.last_updated.0)
                    .push_bind(r.body.get())
                    .push_unseparated(DB::JSON)
                    .push_bind(index_keys(&w.index))
                    .push_unseparated(DB::JSON);
            },
        ).await?;
        Self::push_rows(
            conn,
            &mut script,
            "INSERT INTO search_index (resource_type, resource_id, param, system, value) ",
            &index,
            |mut row, (r, e)| {
                row.push_bind(r.resource_type.as_str())
                    .push_bind(r.id.as_str())
                    .push_bind(e.param)
                    .push_bind(e.system.as_str())
                    .push_bind(e.value.as_str());
            },
        )
        .await?;
        Self::push_rows(
            conn,
            &mut script,
            "INSERT INTO outbox (id, destination, adapter, event, task_id, task_version, focus_id, focus_version, \
             idempotency_key, correlation_id, next_attempt_us, created_us, traceparent) ",
            &outbox,
            |mut row, o| {
                row.push_bind(o.id.as_str())
                    .push_bind(o.destination.as_str())
                    .push_bind(o.adapter.as_str())
                    .push_bind(o.event.as_str())
                    .push_bind(o.task_id.as_str())
                    .push_bind(o.task_version)
                    .push_bind(o.focus_id.as_str())
                    .push_bind(o.focus_version)
                    .push_bind(o.idempotency_key.as_str())
                    .push_bind(o.correlation_id.as_str())
                    .push_bind(created_at.0)
                    .push_bind(created_at.0)
                    .push_bind(o.traceparent.as_deref());
            },
        ).await?;
        if let Some(name) = savepoint {
            script.push(format_args!("RELEASE {name}"));
            Self::end_statement(conn, &mut script).await?;
        }
        if DB::SCRIPTS
            && (savepoint.is_some()
                || !created.is_empty()
                || !index.is_empty()
                || !outbox.is_empty())
        {
            script.build().execute(&mut *conn).await?;
        }
        Ok(())
    }
}

/// Rows per multi-row INSERT: at 13 columns, far below SQLite's 32,766 bound parameters.
const ROWS_PER_INSERT: usize = 500;
