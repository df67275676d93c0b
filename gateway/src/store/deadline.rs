//! Every store call within a deadline: a stalled database answers in bounded time (503 at the
//! HTTP edge) instead of holding each request, and its connection, as long as the stall lasts.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{
    ChangeSet, ClaimLimits, ClaimedDelivery, CommitOutcome, DeadLetterAction, DeliveryRecord,
    DeliveryState, Instant, OnceStore, OutboxCounts, OutboxStore, PartnerOutbox, ResourceStore,
    SearchPage, SearchQuery, Store, StoreError, StoredResource,
};

/// A store whose every call ends within `limit`.
pub struct WithDeadline {
    inner: Arc<dyn Store>,
    limit: Duration,
}

impl WithDeadline {
    /// Wraps `inner`; each call gets `limit`.
    pub fn new(inner: Arc<dyn Store>, limit: Duration) -> Self {
        Self { inner, limit }
    }

    /// A call that changes nothing unless it completes.
    async fn within<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.limit, call)
            .await
            .unwrap_or(Err(StoreError::Timeout(self.limit)))
    }

    /// A write that may still complete after it was given up on (it was queued, or its COMMIT
    /// sent), so a timeout leaves its outcome unknown.
    async fn write_within<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        tokio::time::timeout(self.limit, call)
            .await
            .unwrap_or_else(|_| {
                Err(StoreError::OutcomeUnknown(format!(
                    "no answer within {:?}",
                    self.limit
                )))
            })
    }
}

#[async_trait]
impl ResourceStore for WithDeadline {
    async fn commit(&self, changes: ChangeSet) -> Result<CommitOutcome, StoreError> {
        self.write_within(self.inner.commit(changes)).await
    }

    async fn read(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.within(self.inner.read(resource_type, id)).await
    }

    async fn vread(
        &self,
        resource_type: &str,
        id: &str,
        version: i64,
    ) -> Result<Option<StoredResource>, StoreError> {
        self.within(self.inner.vread(resource_type, id, version))
            .await
    }

    async fn vread_many(
        &self,
        keys: &[(&str, &str, i64)],
    ) -> Result<Vec<StoredResource>, StoreError> {
        self.within(self.inner.vread_many(keys)).await
    }

    async fn history(
        &self,
        resource_type: &str,
        id: &str,
    ) -> Result<Vec<StoredResource>, StoreError> {
        self.within(self.inner.history(resource_type, id)).await
    }

    async fn search(&self, query: &SearchQuery) -> Result<SearchPage, StoreError> {
        self.within(self.inner.search(query)).await
    }

    async fn refresh_statistics(&self) -> Result<(), StoreError> {
        self.write_within(self.inner.refresh_statistics()).await
    }
}

#[async_trait]
impl OutboxStore for WithDeadline {
    async fn claim_deliveries(
        &self,
        worker: &str,
        limits: &ClaimLimits,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>, StoreError> {
        // A claim is one statement that commits itself: given up on, it may still lease rows
        // (they come back when the lease runs out), so its outcome is unknown, not nothing.
        self.write_within(self.inner.claim_deliveries(worker, limits, lease))
            .await
    }

    async fn release(&self, id: &str, lease: &str) -> Result<bool, StoreError> {
        self.within(self.inner.release(id, lease)).await
    }

    async fn renew(
        &self,
        ids: &[String],
        lease: &str,
        duration: Duration,
    ) -> Result<Vec<String>, StoreError> {
        self.within(self.inner.renew(ids, lease, duration)).await
    }

    async fn list_deliveries(
        &self,
        state: DeliveryState,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.within(self.inner.list_deliveries(state, limit)).await
    }

    async fn delivery(&self, id: &str) -> Result<Option<DeliveryRecord>, StoreError> {
        self.within(self.inner.delivery(id)).await
    }

    async fn task_deliveries(
        &self,
        task_id: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.within(self.inner.task_deliveries(task_id, limit))
            .await
    }

    async fn partner_outbox(&self) -> Result<Vec<PartnerOutbox>, StoreError> {
        self.within(self.inner.partner_outbox()).await
    }

    async fn replay(&self, id: &str) -> Result<DeadLetterAction, StoreError> {
        self.write_within(self.inner.replay(id)).await
    }

    async fn discard(&self, id: &str) -> Result<DeadLetterAction, StoreError> {
        self.write_within(self.inner.discard(id)).await
    }

    async fn mark_delivered(&self, id: &str, lease: &str) -> Result<bool, StoreError> {
        self.write_within(self.inner.mark_delivered(id, lease))
            .await
    }

    async fn mark_retry(
        &self,
        id: &str,
        lease: &str,
        retry_at: Instant,
        error: &str,
    ) -> Result<bool, StoreError> {
        self.write_within(self.inner.mark_retry(id, lease, retry_at, error))
            .await
    }

    async fn mark_dead(&self, id: &str, lease: &str, error: &str) -> Result<bool, StoreError> {
        self.write_within(self.inner.mark_dead(id, lease, error))
            .await
    }

    async fn outbox_counts(&self) -> Result<OutboxCounts, StoreError> {
        self.within(self.inner.outbox_counts()).await
    }

    async fn watch_outbox(&self, wake: Arc<Notify>) -> Result<(), StoreError> {
        self.within(self.inner.watch_outbox(wake)).await
    }
}

#[async_trait]
impl OnceStore for WithDeadline {
    async fn remember_once(
        &self,
        client_id: &str,
        jti: &str,
        expires: Instant,
    ) -> Result<bool, StoreError> {
        self.write_within(self.inner.remember_once(client_id, jti, expires))
            .await
    }
}

#[async_trait]
impl super::PeopleStore for WithDeadline {
    async fn add_account(&self, a: &super::AccountRecord) -> Result<bool, StoreError> {
        self.write_within(self.inner.add_account(a)).await
    }
    async fn account_by_email(
        &self,
        email: &str,
    ) -> Result<Option<super::AccountRecord>, StoreError> {
        self.within(self.inner.account_by_email(email)).await
    }
    async fn account(&self, id: &str) -> Result<Option<super::AccountRecord>, StoreError> {
        self.within(self.inner.account(id)).await
    }
    async fn add_invitation(
        &self,
        token_hash: &str,
        account_id: &str,
        expires: Instant,
    ) -> Result<(), StoreError> {
        self.write_within(self.inner.add_invitation(token_hash, account_id, expires))
            .await
    }
    async fn invitation(
        &self,
        token_hash: &str,
        at: Instant,
    ) -> Result<Option<String>, StoreError> {
        self.within(self.inner.invitation(token_hash, at)).await
    }
    async fn accept_invitation(
        &self,
        token_hash: &str,
        password_hash: &str,
        at: Instant,
    ) -> Result<bool, StoreError> {
        self.write_within(self.inner.accept_invitation(token_hash, password_hash, at))
            .await
    }
    async fn add_session(&self, s: &super::SessionRecord) -> Result<(), StoreError> {
        self.write_within(self.inner.add_session(s)).await
    }
    async fn session(&self, id_hash: &str) -> Result<Option<super::SessionRecord>, StoreError> {
        self.within(self.inner.session(id_hash)).await
    }
    async fn touch_session(&self, id_hash: &str, at: Instant) -> Result<(), StoreError> {
        self.write_within(self.inner.touch_session(id_hash, at))
            .await
    }
    async fn end_session(&self, id_hash: &str, at: Instant) -> Result<(), StoreError> {
        self.write_within(self.inner.end_session(id_hash, at)).await
    }
}

#[async_trait]
impl super::ReportStore for WithDeadline {
    async fn changed_after(
        &self,
        resource_type: &str,
        after: &super::Watermark,
        limit: usize,
    ) -> Result<Vec<super::StoredResource>, StoreError> {
        self.within(self.inner.changed_after(resource_type, after, limit))
            .await
    }
    async fn versions_of(
        &self,
        resource_type: &str,
        ids: &[String],
    ) -> Result<Vec<super::StoredResource>, StoreError> {
        self.within(self.inner.versions_of(resource_type, ids))
            .await
    }
    async fn report_watermark(
        &self,
        resource_type: &str,
    ) -> Result<Option<super::Watermark>, StoreError> {
        self.within(self.inner.report_watermark(resource_type))
            .await
    }
    async fn save_facts(
        &self,
        resource_type: &str,
        facts: &[super::FactRow],
        from: Option<&super::Watermark>,
        to: &super::Watermark,
    ) -> Result<bool, StoreError> {
        self.write_within(self.inner.save_facts(resource_type, facts, from, to))
            .await
    }
    async fn facts(&self, resource_type: &str) -> Result<Vec<super::FactRow>, StoreError> {
        self.within(self.inner.facts(resource_type)).await
    }
    async fn forget_facts(&self) -> Result<(), StoreError> {
        self.write_within(self.inner.forget_facts()).await
    }
}

#[async_trait]
impl Store for WithDeadline {
    async fn ready(&self) -> Result<bool, StoreError> {
        self.within(self.inner.ready()).await
    }
}
