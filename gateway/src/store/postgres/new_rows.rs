//! A change set's new rows on PostgreSQL as one statement: the resources created, the search
//! rows of every new version and the outbox rows, each table's rows bound as arrays and
//! `UNNEST`ed, in data-modifying `WITH` parts that all run to the end (the outbox rows are
//! announced after the commit, `announce.rs`).
//! One round trip whatever the number of rows, and one statement text, so each connection
//! prepares it once; a multi-row `VALUES` has a text (and a prepared statement) per row count.

use sqlx::Postgres;
use sqlx::postgres::PgArguments;
use sqlx::query::Query;

use super::super::index_keys::index_keys;
use super::super::{ChangeSet, IndexEntry, Instant, OutboxEntry, StoredResource};

/// The statement.
const INSERT_NEW_ROWS: &str = "WITH created AS (\
    INSERT INTO resources (resource_type, id, version, last_updated_us, body, index_keys) \
    SELECT t, i, v, u, b::jsonb, k::jsonb \
    FROM UNNEST($1::text[], $2::text[], $3::int8[], $4::int8[], $5::text[], $6::text[]) AS r(t, i, v, u, b, k)\
), indexed AS (\
    INSERT INTO search_index (resource_type, resource_id, param, system, value) \
    SELECT * FROM UNNEST($7::text[], $8::text[], $9::text[], $10::text[], $11::text[])\
), queued AS (\
    INSERT INTO outbox (id, destination, adapter, event, task_id, task_version, focus_id, focus_version, \
    idempotency_key, correlation_id, next_attempt_us, created_us, traceparent) \
    SELECT id, d, a, e, ti, tv, fi, fv, ik, ci, $23, $23, tp \
    FROM UNNEST($12::text[], $13::text[], $14::text[], $15::text[], $16::text[], $17::int8[], \
      $18::text[], $19::int8[], $20::text[], $21::text[], $22::text[]) \
      AS o(id, d, a, e, ti, tv, fi, fv, ik, ci, tp)\
) SELECT 1";

/// The one statement writing `changes`' new rows (resources at version 1, every write's search
/// rows, the outbox); `created_at` stamps them.
pub(super) fn insert_new_rows<'q>(
    changes: &'q ChangeSet,
    created_at: Instant,
) -> Query<'q, Postgres, PgArguments> {
    let created: Vec<&'q StoredResource> = changes
        .writes
        .iter()
        .filter(|w| w.resource.version == 1)
        .map(|w| &w.resource)
        .collect();
    let keys: Vec<String> = changes
        .writes
        .iter()
        .filter(|w| w.resource.version == 1)
        .map(|w| index_keys(&w.index))
        .collect();
    let (indexed, index): (Vec<&'q StoredResource>, Vec<&'q IndexEntry>) = changes
        .writes
        .iter()
        .flat_map(|w| w.index.iter().map(move |e| (&w.resource, e)))
        .unzip();
    let outbox: &'q [OutboxEntry] = &changes.outbox;
    sqlx::query(INSERT_NEW_ROWS)
        .bind(texts(created.iter().copied(), |r| r.resource_type.as_str()))
        .bind(texts(created.iter().copied(), |r| r.id.as_str()))
        .bind(created.iter().map(|r| r.version).collect::<Vec<i64>>())
        .bind(
            created
                .iter()
                .map(|r| r.last_updated.0)
                .collect::<Vec<i64>>(),
        )
        .bind(texts(created.iter().copied(), |r| r.body.get()))
        .bind(keys)
        .bind(texts(indexed.iter().copied(), |r| r.resource_type.as_str()))
        .bind(texts(indexed.iter().copied(), |r| r.id.as_str()))
        .bind(texts(index.iter().copied(), |e| e.param))
        .bind(texts(index.iter().copied(), |e| e.system.as_str()))
        .bind(texts(index.iter().copied(), |e| e.value.as_str()))
        .bind(texts(outbox, |o| o.id.as_str()))
        .bind(texts(outbox, |o| o.destination.as_str()))
        .bind(texts(outbox, |o| o.adapter.as_str()))
        .bind(texts(outbox, |o| o.event.as_str()))
        .bind(texts(outbox, |o| o.task_id.as_str()))
        .bind(outbox.iter().map(|o| o.task_version).collect::<Vec<i64>>())
        .bind(texts(outbox, |o| o.focus_id.as_str()))
        .bind(outbox.iter().map(|o| o.focus_version).collect::<Vec<i64>>())
        .bind(texts(outbox, |o| o.idempotency_key.as_str()))
        .bind(texts(outbox, |o| o.correlation_id.as_str()))
        .bind(
            outbox
                .iter()
                .map(|o| o.traceparent.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(created_at.0)
}

/// One text column of `rows`, as an array to bind.
fn texts<'q, T: 'q>(
    rows: impl IntoIterator<Item = &'q T>,
    column: impl Fn(&'q T) -> &'q str,
) -> Vec<&'q str> {
    rows.into_iter().map(column).collect()
}
