//! Resource statements that are the same on SQLite and PostgreSQL but for their sqlx types,
//! written once as a macro (like `outbox_sql`). The store module must define
//! `search_on(&mut Connection, &SearchQuery)` and `stored(&Row)`; `$versions` names the table or
//! view that holds every version of a resource.

macro_rules! shared_resource_statements {
    ($db:ty, $body:literal, $versions:literal) => {
        /// Checks a change set's condition, one-time value and expected versions on `conn`, in
        /// the caller's transaction. `Some` is an outcome that writes nothing, and an `Err` is a
        /// version conflict or a database error: either way the caller undoes its transaction
        /// or savepoint and writes nothing.
        pub(super) async fn check_guards(
            conn: &mut <$db as sqlx::Database>::Connection,
            changes: &super::ChangeSet,
        ) -> Result<Option<super::CommitOutcome>, super::StoreError> {
            if let Some(super::Condition::IfNoneExist(query)) = &changes.condition {
                let page = search_on(conn, query).await?;
                if page.total > 0 {
                    return Ok(Some(super::CommitOutcome::AlreadyExists(page.resources)));
                }
            }
            if let Some(once) = &changes.once {
                let recorded = sqlx::query(
                    "INSERT INTO used_jtis (client_id, jti, expires_us) VALUES ($1, $2, $3) ON CONFLICT (client_id, jti) DO NOTHING",
                )
                .bind(&once.scope)
                .bind(&once.value)
                .bind(once.expires.0)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if recorded == 0 {
                    return Ok(Some(super::CommitOutcome::Replayed));
                }
            }
            for (resource_type, id, expected) in &changes.unchanged {
                let current: Option<i64> = sqlx::query_scalar(
                    "SELECT version FROM resources WHERE resource_type = $1 AND id = $2",
                )
                .bind(resource_type)
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
                if current != Some(*expected) {
                    return Err(super::StoreError::VersionConflict {
                        resource_type: resource_type.clone(),
                        id: id.clone(),
                        expected: *expected,
                        current: current.unwrap_or(0),
                    });
                }
            }
            Ok(None)
        }

        /// Given versions of several resources in one query (see `Store::vread_many`).
        pub(super) async fn vread_many_from(
            pool: &sqlx::Pool<$db>,
            keys: &[(&str, &str, i64)],
        ) -> Result<Vec<super::StoredResource>, super::StoreError> {
            if keys.is_empty() {
                return Ok(Vec::new());
            }
            let mut query = sqlx::query(sqlx::AssertSqlSafe(super::search::versions_sql(
                keys.len(),
                $body,
                $versions,
            )));
            for (resource_type, id, version) in keys {
                query = query.bind(*resource_type).bind(*id).bind(*version);
            }
            query.fetch_all(pool).await?.iter().map(stored).collect()
        }
    };
}
