//! The report projection's statements, the same on both stores: the resources changed since a
//! watermark, every version of some resources, and the facts rows with their watermark.

use std::marker::PhantomData;

use serde_json::value::RawValue;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, QueryBuilder, Row,
    Type,
};

use super::dialect::Dialect;
use super::reports::{FactRow, Watermark};
use super::{Instant, StoreError, StoredResource};

/// Facts rows per INSERT (three parameters each, well inside both databases' limits).
const FACT_ROWS_PER_INSERT: usize = 500;

/// The report statements over one database.
pub(super) struct Reports<DB>(PhantomData<DB>);

impl<DB> Reports<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    fn stored(row: &DB::Row) -> Result<StoredResource, StoreError> {
        let body: String = row.try_get("body")?;
        Ok(StoredResource {
            resource_type: row.try_get("resource_type")?,
            id: row.try_get("id")?,
            version: row.try_get("version")?,
            last_updated: Instant(row.try_get("last_updated_us")?),
            body: RawValue::from_string(body).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
        })
    }

    /// Current versions of `resource_type` written after `after`, in (last updated, id) order.
    pub(super) async fn changed_after(
        reader: &Pool<DB>,
        resource_type: &str,
        after: &Watermark,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError> {
        sqlx::query::<DB>(AssertSqlSafe(format!(
            "SELECT resource_type, id, version, last_updated_us, {} FROM resources \
             WHERE resource_type = $1 AND (last_updated_us > $2 OR (last_updated_us = $2 AND id > $3)) \
             ORDER BY last_updated_us, id LIMIT $4",
            DB::BODY
        )))
        .bind(resource_type)
        .bind(after.last_updated.0)
        .bind(after.id.clone())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(reader)
        .await?
        .iter()
        .map(Self::stored)
        .collect()
    }

    /// Every version of the named resources.
    pub(super) async fn versions(
        reader: &Pool<DB>,
        resource_type: &str,
        ids: &[String],
    ) -> Result<Vec<StoredResource>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query::<DB>(AssertSqlSafe(format!(
            "SELECT resource_type, id, version, last_updated_us, {} FROM resource_history \
             WHERE resource_type = $1 AND id IN ({}) ORDER BY id, version",
            DB::BODY,
            DB::ID_ELEMENTS
        )))
        .bind(resource_type)
        .bind(list)
        .fetch_all(reader)
        .await?
        .iter()
        .map(Self::stored)
        .collect()
    }

    /// The watermark of `resource_type`'s facts, if any were saved.
    pub(super) async fn watermark(
        reader: &Pool<DB>,
        resource_type: &str,
    ) -> Result<Option<Watermark>, StoreError> {
        let row: Option<(i64, String)> = sqlx::query_as(
            "SELECT last_updated_us, id FROM report_watermarks WHERE resource_type = $1",
        )
        .bind(resource_type)
        .fetch_optional(reader)
        .await?;
        Ok(row.map(|(us, id)| Watermark {
            last_updated: Instant(us),
            id,
        }))
    }

    /// Writes facts and moves the watermark from `from` to `to` in one transaction; `false`
    /// (nothing written) if the watermark is no longer at `from`.
    pub(super) async fn save(
        writer: &Pool<DB>,
        resource_type: &str,
        facts: &[FactRow],
        from: Option<&Watermark>,
        to: &Watermark,
    ) -> Result<bool, StoreError> {
        let mut tx = writer.begin().await?;
        let current: Option<(i64, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT last_updated_us, id FROM report_watermarks WHERE resource_type = $1{}",
            DB::ROW_LOCK
        )))
        .bind(resource_type)
        .fetch_optional(&mut *tx)
        .await?;
        let current = current.map(|(us, id)| Watermark {
            last_updated: Instant(us),
            id,
        });
        if current.as_ref() != from {
            return Ok(false);
        }
        // Many rows per statement: a cold build writes one row per resource.
        for chunk in facts.chunks(FACT_ROWS_PER_INSERT) {
            let mut insert =
                QueryBuilder::<DB>::new("INSERT INTO report_facts (resource_type, id, fact) ");
            insert.push_values(chunk, |mut values, row| {
                values
                    .push_bind(resource_type)
                    .push_bind(row.id.as_str())
                    .push_bind(row.fact.as_str());
            });
            insert.push(" ON CONFLICT (resource_type, id) DO UPDATE SET fact = excluded.fact");
            insert.build().execute(&mut *tx).await?;
        }
        sqlx::query(
            "INSERT INTO report_watermarks (resource_type, last_updated_us, id) VALUES ($1, $2, $3) \
             ON CONFLICT (resource_type) DO UPDATE SET last_updated_us = excluded.last_updated_us, id = excluded.id",
        )
        .bind(resource_type)
        .bind(to.last_updated.0)
        .bind(to.id.clone())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Drops every facts row and watermark, in one transaction.
    pub(super) async fn forget(writer: &Pool<DB>) -> Result<(), StoreError> {
        let mut tx = writer.begin().await?;
        sqlx::query("DELETE FROM report_facts")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM report_watermarks")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every facts row of `resource_type`.
    pub(super) async fn facts(
        reader: &Pool<DB>,
        resource_type: &str,
    ) -> Result<Vec<FactRow>, StoreError> {
        let rows: Vec<(String, String)> =
            sqlx::query_as("SELECT id, fact FROM report_facts WHERE resource_type = $1")
                .bind(resource_type)
                .fetch_all(reader)
                .await?;
        Ok(rows
            .into_iter()
            .map(|(id, fact)| FactRow { id, fact })
            .collect())
    }
}
