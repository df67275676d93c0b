//! Outbox statements that are the same on SQLite and PostgreSQL, written once.
//!
//! `#[async_trait]` impls cannot take a macro's items, so this generates inherent methods on a
//! store type; each backend's `Store` impl delegates to them. Paths resolve where the macro is
//! used: the store module must import `Row`, `DeliveryRecord`, `OutboxCounts`, `Instant`,
//! `StoreError` and `now`, and the type must have `writer` and `reader` pools.

macro_rules! shared_outbox_statements {
    ($store:ty) => {
        impl $store {
        pub(super) async fn shared_release(&self, id: &str) -> Result<(), StoreError> {
            sqlx::query("UPDATE outbox SET lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'")
                .bind(id)
                .execute(&self.writer)
                .await?;
            Ok(())
        }

        pub(super) async fn shared_list_deliveries(
            &self,
            state: &str,
            limit: usize,
        ) -> Result<Vec<DeliveryRecord>, StoreError> {
            let rows = sqlx::query(
                "SELECT id, destination, adapter, event, task_id, task_version, state, attempts, last_error, created_us \
                 FROM outbox WHERE state = $1 ORDER BY seq LIMIT $2",
            )
            .bind(state)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&self.reader)
            .await?;
            rows.iter()
                .map(|row| {
                    Ok(DeliveryRecord {
                        id: row.try_get("id")?,
                        organisation: row.try_get("destination")?,
                        adapter: row.try_get("adapter")?,
                        event: row.try_get("event")?,
                        task: format!(
                            "Task/{}/_history/{}",
                            row.try_get::<String, _>("task_id")?,
                            row.try_get::<i64, _>("task_version")?
                        ),
                        state: row.try_get("state")?,
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
            match state.as_deref() {
                None => Ok(None),
                Some("dead") => {
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

        pub(super) async fn shared_mark_delivered(&self, id: &str) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE outbox SET state = 'delivered', delivered_us = $2, attempts = attempts + 1, \
                 lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(now().0)
            .execute(&self.writer)
            .await?;
            Ok(())
        }

        pub(super) async fn shared_mark_retry(&self, id: &str, retry_at: Instant, error: &str) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_us = $2, last_error = $3, \
                 lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(retry_at.0)
            .bind(error)
            .execute(&self.writer)
            .await?;
            Ok(())
        }

        pub(super) async fn shared_mark_dead(&self, id: &str, error: &str) -> Result<(), StoreError> {
            sqlx::query(
                "UPDATE outbox SET state = 'dead', attempts = attempts + 1, last_error = $2, \
                 lease_owner = NULL, lease_until_us = NULL WHERE id = $1 AND state = 'pending'",
            )
            .bind(id)
            .bind(error)
            .execute(&self.writer)
            .await?;
            Ok(())
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
                match row.try_get::<String, _>("state")?.as_str() {
                    "pending" => {
                        counts.pending = n;
                        counts.oldest_pending = row.try_get::<Option<i64>, _>("oldest")?.map(Instant);
                    }
                    "delivered" => counts.delivered = n,
                    "dead" => counts.dead = n,
                    _ => {}
                }
            }
            Ok(counts)
        }

        }
    };
}
