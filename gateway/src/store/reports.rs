//! What the report projection needs of the store: the resources changed since a watermark,
//! their versions, and the compact facts rows kept beside them (issue 26).

use async_trait::async_trait;

use super::{Instant, StoreError, StoredResource};

/// How far a type's facts are up to date: the last resource read, by (last updated, id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watermark {
    /// Its `last_updated`.
    pub last_updated: Instant,
    /// Its id (several resources may share an instant).
    pub id: String,
}

/// One resource's facts, as JSON text the workflow writes and reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FactRow {
    /// The resource's id.
    pub id: String,
    /// Its facts.
    pub fact: String,
}

/// The report projection's reads and writes. Reads go to a read connection; a save is one
/// transaction of its own, never part of intake's.
#[async_trait]
pub trait ReportStore: Send + Sync {
    /// Current versions of `resource_type` written after `after`, oldest first, at most `limit`.
    async fn changed_after(
        &self,
        resource_type: &str,
        after: &Watermark,
        limit: usize,
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// Every version of these resources of `resource_type`.
    async fn versions_of(
        &self,
        resource_type: &str,
        ids: &[String],
    ) -> Result<Vec<StoredResource>, StoreError>;
    /// The watermark of `resource_type`'s facts, if any were saved.
    async fn report_watermark(&self, resource_type: &str) -> Result<Option<Watermark>, StoreError>;
    /// Writes facts and moves the watermark from `from` to `to` together; `false`, writing
    /// nothing, if another updater moved the watermark first.
    async fn save_facts(
        &self,
        resource_type: &str,
        facts: &[FactRow],
        from: Option<&Watermark>,
        to: &Watermark,
    ) -> Result<bool, StoreError>;
    /// Every facts row of `resource_type`.
    async fn facts(&self, resource_type: &str) -> Result<Vec<FactRow>, StoreError>;
}

/// Implements [`ReportStore`] with the shared statements; `$after_write` runs after a save.
macro_rules! report_store_sql {
    ($store:ty, $db:ty, $after_write:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::reports::ReportStore for $store {
            async fn changed_after(
                &self,
                resource_type: &str,
                after: &$crate::store::reports::Watermark,
                limit: usize,
            ) -> Result<Vec<$crate::store::StoredResource>, $crate::store::StoreError> {
                $crate::store::report_sql::Reports::<$db>::changed_after(
                    &self.reader,
                    resource_type,
                    after,
                    limit,
                )
                .await
            }

            async fn versions_of(
                &self,
                resource_type: &str,
                ids: &[String],
            ) -> Result<Vec<$crate::store::StoredResource>, $crate::store::StoreError> {
                $crate::store::report_sql::Reports::<$db>::versions(
                    &self.reader,
                    resource_type,
                    ids,
                )
                .await
            }

            async fn report_watermark(
                &self,
                resource_type: &str,
            ) -> Result<Option<$crate::store::reports::Watermark>, $crate::store::StoreError> {
                // From the writer: a reader could be a snapshot behind the last save.
                $crate::store::report_sql::Reports::<$db>::watermark(&self.writer, resource_type)
                    .await
            }

            async fn save_facts(
                &self,
                resource_type: &str,
                facts: &[$crate::store::reports::FactRow],
                from: Option<&$crate::store::reports::Watermark>,
                to: &$crate::store::reports::Watermark,
            ) -> Result<bool, $crate::store::StoreError> {
                let saved = $crate::store::report_sql::Reports::<$db>::save(
                    &self.writer,
                    resource_type,
                    facts,
                    from,
                    to,
                )
                .await?;
                ($after_write)(self);
                Ok(saved)
            }

            async fn facts(
                &self,
                resource_type: &str,
            ) -> Result<Vec<$crate::store::reports::FactRow>, $crate::store::StoreError> {
                $crate::store::report_sql::Reports::<$db>::facts(&self.reader, resource_type).await
            }
        }
    };
}
pub(crate) use report_store_sql;
