//! The outbox worker: claim due rows, deliver concurrently, record each outcome.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use signpost_adapters::{Delivery, DeliveryError, DeliveryEvent};
use signpost_profiles::OdsCode;
use tokio::sync::{Notify, Semaphore, watch};

use super::Backoff;
use crate::auth::tenancy::minimise_for_vcs;
use crate::config::{DeliveryConfig, Role};
use crate::routing::Directory;
use crate::store::{ClaimedDelivery, Store, StoreError, now};

/// Delivers outbox rows until told to stop.
pub struct DeliveryWorker {
    store: Arc<dyn Store>,
    directory: Arc<Directory>,
    config: DeliveryConfig,
    wake: Arc<Notify>,
    id: String,
}

/// Why a row cannot be delivered at all.
fn undeliverable(reason: impl Into<String>) -> DeliveryError {
    DeliveryError::Permanent {
        reason: reason.into(),
    }
}

impl DeliveryWorker {
    /// A worker; `wake` is notified by intake after each commit that adds outbox rows.
    pub fn new(
        store: Arc<dyn Store>,
        directory: Arc<Directory>,
        config: DeliveryConfig,
        wake: Arc<Notify>,
    ) -> Self {
        let id = format!("worker-{}", uuid::Uuid::new_v4());
        Self {
            store,
            directory,
            config,
            wake,
            id,
        }
    }

    /// Runs until `stop` turns true, then waits up to `grace` for deliveries in flight.
    pub async fn run(self, mut stop: watch::Receiver<bool>, grace: Duration) {
        let worker = Arc::new(self);
        let slots = Arc::new(Semaphore::new(worker.config.concurrency));
        let poll = Duration::from_millis(worker.config.poll_interval_ms);
        let lease = Duration::from_secs(worker.config.lease_seconds);
        loop {
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => break },
                _ = stop.changed() => break,
            };
            let limit = 1 + slots.available_permits();
            let claimed = match worker
                .store
                .claim_deliveries(&worker.id, limit, lease)
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim deliveries; will retry");
                    Vec::new()
                }
            };
            if claimed.is_empty() {
                drop(first);
                tokio::select! {
                    _ = worker.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => break,
                }
                continue;
            }
            let mut permits = vec![first];
            for _ in 1..claimed.len() {
                // Only this loop takes permits, so those counted above are still free.
                match slots.clone().try_acquire_owned() {
                    Ok(p) => permits.push(p),
                    Err(_) => break,
                }
            }
            for (delivery, permit) in claimed.into_iter().zip(permits) {
                let worker = worker.clone();
                tokio::spawn(async move {
                    worker.deliver_one(delivery).await;
                    drop(permit);
                });
            }
        }
        // Stop claiming; give deliveries in flight their grace period. Unfinished ones keep
        // their lease and are picked up again after it expires.
        let all = u32::try_from(worker.config.concurrency).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(grace, slots.acquire_many(all)).await;
    }

    async fn deliver_one(&self, claimed: ClaimedDelivery) {
        let entry = &claimed.entry;
        let attempt = claimed.attempts + 1;
        let result = match self.prepare(&claimed).await {
            Ok(Ok((adapter, delivery))) => adapter.deliver(&delivery).await.map(|_| ()),
            Ok(Err(reason)) => Err(undeliverable(reason)),
            Err(e) => {
                tracing::warn!(delivery = %entry.id, error = %e, "could not load a delivery; its lease will expire and it will be retried");
                return;
            }
        };
        let recorded = match result {
            Ok(()) => {
                tracing::info!(delivery = %entry.id, destination = %entry.destination, attempt, "delivered");
                self.store.mark_delivered(&entry.id).await
            }
            Err(DeliveryError::Transient {
                reason,
                retry_after,
            }) if attempt < self.config.max_attempts => {
                let delay = Backoff::from_config(&self.config).delay(attempt, retry_after);
                tracing::warn!(delivery = %entry.id, destination = %entry.destination, attempt, retry_in_ms = delay.as_millis() as u64, reason = %reason, "delivery failed; will retry");
                let at = now().plus_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                self.store.mark_retry(&entry.id, at, &reason).await
            }
            Err(e) => {
                tracing::error!(delivery = %entry.id, destination = %entry.destination, attempt, error = %e, "delivery is dead");
                self.store.mark_dead(&entry.id, &e.to_string()).await
            }
        };
        if let Err(e) = recorded {
            tracing::error!(delivery = %entry.id, error = %e, "could not record a delivery outcome; it may be sent again");
        }
    }

    /// Loads the exact resource versions the row names, and the adapter for its destination.
    async fn prepare(
        &self,
        claimed: &ClaimedDelivery,
    ) -> Result<Result<(Arc<dyn signpost_adapters::Outbound>, Delivery), String>, StoreError> {
        let entry = &claimed.entry;
        let Some(adapter) = OdsCode::parse(&entry.destination)
            .ok()
            .and_then(|ods| self.directory.adapter(&ods).cloned())
        else {
            return Ok(Err(format!(
                "no adapter is configured for {}",
                entry.destination
            )));
        };
        let task = self
            .store
            .vread("Task", &entry.task_id, entry.task_version)
            .await?;
        let focus = self
            .store
            .vread("ServiceRequest", &entry.focus_id, entry.focus_version)
            .await?;
        let (Some(task), Some(focus)) = (task, focus) else {
            return Ok(Err(format!(
                "Task/{}/_history/{} or ServiceRequest/{}/_history/{} is missing from the store",
                entry.task_id, entry.task_version, entry.focus_id, entry.focus_version
            )));
        };
        // A VCS provider is sent the same minimised view it would read (DESIGN.md section 5).
        let to_vcs = OdsCode::parse(&entry.destination)
            .ok()
            .and_then(|ods| {
                self.directory
                    .organisation(&ods)
                    .map(|o| o.role == Role::Vcs)
            })
            .unwrap_or(false);
        let json = |r: &crate::store::StoredResource| {
            let full = serde_json::from_str::<Value>(r.body.get()).unwrap_or(Value::Null);
            if to_vcs {
                minimise_for_vcs(&full)
            } else {
                full
            }
        };
        Ok(Ok((
            adapter,
            Delivery {
                id: entry.id.clone(),
                idempotency_key: entry.idempotency_key.clone(),
                correlation_id: entry.correlation_id.clone(),
                event: DeliveryEvent::parse(&entry.event).unwrap_or(DeliveryEvent::TaskUpdated),
                task: json(&task),
                focus: json(&focus),
                attempt: claimed.attempts + 1,
            },
        )))
    }
}
