//! The resource statements both stores share: reads, history, search and a change set's guards,
//! written once over [`Dialect`].

use std::marker::PhantomData;

use serde_json::value::RawValue;
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Pool, Row, Type};

use super::dialect::Dialect;
use super::search::{Bind, page_sql, versions_sql, where_clause};
use super::{
    ChangeSet, CommitOutcome, Condition, Instant, SearchPage, SearchQuery, StoreError,
    StoredResource,
};

/// Every version of a resource, current included (a view over `resources` and the replaced
/// versions in `resource_versions`).
const HISTORY: &str = "resource_history";

/// The resource statements, the same on both stores; the bounds are what they bind and read.
pub(super) struct Resources<DB>(PhantomData<DB>);

impl<DB> Resources<DB>
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'r> String: Decode<'r, DB>,
    for<'r> i64: Decode<'r, DB>,
    for<'a> &'a str: ColumnIndex<DB::Row>,
    usize: ColumnIndex<DB::Row>,
{
    /// A resource row as stored.
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

    fn bind_all(
        mut q: Query<'_, DB, DB::Arguments>,
        binds: Vec<Bind>,
    ) -> Query<'_, DB, DB::Arguments> {
        for b in binds {
            q = match b {
                Bind::Text(s) => q.bind(s),
                Bind::Int(i) => q.bind(i),
            };
        }
        q
    }

    /// The current version (see `ResourceStore::read`).
    pub(super) async fn read(
        reader: &Pool<DB>,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        sqlx::query::<DB>(AssertSqlSafe(format!(
            "SELECT resource_type, id, version, last_updated_us, {} FROM resources \
             WHERE resource_type = $1 AND id = $2",
            DB::BODY
        )))
        .bind(resource_type)
        .bind(id)
        .fetch_optional(reader)
        .await?
        .as_ref()
        .map(Self::stored)
        .transpose()
    }

    /// A given version (see `ResourceStore::vread`).
    pub(super) async fn vread(
        reader: &Pool<DB>,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        sqlx::query::<DB>(AssertSqlSafe(format!(
            "SELECT resource_type, id, version, last_updated_us, {} FROM {HISTORY} \
             WHERE resource_type = $1 AND id = $2 AND version = $3",
            DB::BODY
        )))
        .bind(resource_type)
        .bind(id)
        .bind(version)
        .fetch_optional(reader)
        .await?
        .as_ref()
        .map(Self::stored)
        .transpose()
    }

    /// Given versions of several resources in one query (see `ResourceStore::vread_many`).
    pub(super) async fn vread_many(
        reader: &Pool<DB>,
        keys: &[(&str, &str, i64)],
    ) -> Result<Vec<StoredResource>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut query =
            sqlx::query::<DB>(AssertSqlSafe(versions_sql(keys.len(), DB::BODY, HISTORY)));
        for (resource_type, id, version) in keys {
            query = query.bind(*resource_type).bind(*id).bind(*version);
        }
        query
            .fetch_all(reader)
            .await?
            .iter()
            .map(Self::stored)
            .collect()
    }

    /// Every version, newest first (see `ResourceStore::history`).
    pub(super) async fn history(
        reader: &Pool<DB>,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        sqlx::query::<DB>(AssertSqlSafe(format!(
            "SELECT resource_type, id, version, last_updated_us, {} FROM {HISTORY} \
             WHERE resource_type = $1 AND id = $2 ORDER BY version DESC",
            DB::BODY
        )))
        .bind(resource_type)
        .bind(id)
        .fetch_all(reader)
        .await?
        .iter()
        .map(Self::stored)
        .collect()
    }

    /// Refreshes the planner's statistics of the resource and search tables.
    pub(super) async fn refresh_statistics(writer: &Pool<DB>) -> Result<(), StoreError> {
        sqlx::raw_sql(DB::STATISTICS).execute(writer).await?;
        Ok(())
    }

    /// Resources matching a query, on `conn` (a reader, or the caller's transaction).
    pub(super) async fn search(
        conn: &mut DB::Connection,
        query: &SearchQuery,
    ) -> Result<SearchPage, StoreError> {
        let (sql, binds) = page_sql(query, DB::SEARCH_BODY);
        let rows = Self::bind_all(sqlx::query::<DB>(AssertSqlSafe(sql)), binds)
            .fetch_all(&mut *conn)
            .await?;
        let resources = rows
            .iter()
            .map(Self::stored)
            .collect::<Result<Vec<_>, _>>()?;
        let total: i64 = match rows.first() {
            Some(row) => row.try_get("total")?,
            None if query.offset == 0 && query.count > 0 => 0,
            // Past the last match, or a page of none: only a count says how many there are.
            None => {
                let (from, binds) = where_clause(query);
                Self::bind_all(
                    sqlx::query::<DB>(AssertSqlSafe(format!("SELECT COUNT(*) AS n {from}"))),
                    binds,
                )
                .fetch_one(&mut *conn)
                .await?
                .try_get("n")?
            }
        };
        Ok(SearchPage { resources, total })
    }

    /// Checks a change set's condition, one-time value and expected versions on `conn`, in
    /// the caller's transaction. `Some` is an outcome that writes nothing, and an `Err` is a
    /// version conflict or a database error: either way the caller undoes its transaction
    /// or savepoint and writes nothing.
    pub(super) async fn check_guards(
        conn: &mut DB::Connection,
        changes: &ChangeSet,
    ) -> Result<Option<CommitOutcome>, StoreError> {
        if let Some(Condition::IfNoneExist(query)) = &changes.condition {
            let page = Self::search(conn, query).await?;
            if page.total > 0 {
                return Ok(Some(CommitOutcome::AlreadyExists(page.resources)));
            }
        }
        if let Some(once) = &changes.once {
            let result = sqlx::query::<DB>(
                "INSERT INTO used_jtis (client_id, jti, expires_us) VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING",
            )
            .bind(once.scope.as_str())
            .bind(once.value.as_str())
            .bind(once.expires.0)
            .execute(&mut *conn)
            .await?;
            if DB::rows_affected(&result) == 0 {
                return Ok(Some(CommitOutcome::Replayed));
            }
        }
        for (resource_type, id, expected) in &changes.unchanged {
            let current: Option<i64> = sqlx::query_scalar::<DB, i64>(
                "SELECT version FROM resources WHERE resource_type = $1 AND id = $2",
            )
            .bind(resource_type.as_str())
            .bind(id.as_str())
            .fetch_optional(&mut *conn)
            .await?;
            if current != Some(*expected) {
                return Err(StoreError::VersionConflict {
                    resource_type: resource_type.clone(),
                    id: id.clone(),
                    expected: *expected,
                    current: current.unwrap_or(0),
                });
            }
        }
        Ok(None)
    }
}
