//! The outbox worker: claim due rows, deliver concurrently, record each outcome.
//!
//! Every adapter gets the same engine: backoff with jitter, a dead state after the last
//! attempt, a circuit breaker and an in-flight cap per partner (so a hung or failing partner
//! holds up no other), and per-Task ordering (enforced by the claim query).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use signpost_adapters::{Delivery, DeliveryError, DeliveryEvent, Outbound};
use signpost_profiles::OdsCode;
use tokio::sync::{Notify, Semaphore, watch};

use super::{Backoff, Breakers};
use crate::auth::tenancy::minimise_for_vcs;
use crate::config::{DeliveryConfig, Role};
use crate::routing::Directory;
use crate::store::{ClaimedDelivery, Store, StoreError, StoredResource, now};
use crate::telemetry::{metrics, traces};
use tracing::Instrument;

/// Delivers outbox rows until told to stop.
pub struct DeliveryWorker {
    store: Arc<dyn Store>,
    directory: Arc<Directory>,
    config: DeliveryConfig,
    wake: Arc<Notify>,
    id: String,
    breakers: Mutex<Breakers>,
    in_flight: Mutex<HashMap<String, usize>>,
}

fn undeliverable(reason: impl Into<String>) -> DeliveryError {
    DeliveryError::permanent(reason)
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
        let breakers = Breakers::new(
            config.breaker_failures,
            Duration::from_secs(config.breaker_open_seconds),
        );
        Self {
            store,
            directory,
            config,
            wake,
            id,
            breakers: Mutex::new(breakers),
            in_flight: Mutex::default(),
        }
    }

    fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Partners not to claim for now: breaker open, or already at their in-flight cap.
    fn excluded(&self) -> Vec<String> {
        let mut excluded = Self::lock(&self.breakers).open(std::time::Instant::now());
        let in_flight: Vec<(String, usize)> = Self::lock(&self.in_flight)
            .iter()
            .map(|(p, n)| (p.clone(), *n))
            .collect();
        excluded.extend(
            in_flight
                .into_iter()
                .filter(|(p, n)| *n >= self.cap(p))
                .map(|(p, _)| p),
        );
        excluded
    }

    /// Deliveries allowed in flight to a partner: one while its breaker is on trial.
    fn cap(&self, partner: &str) -> usize {
        if Self::lock(&self.breakers).half_open(partner, std::time::Instant::now()) {
            1
        } else {
            self.config.per_partner_concurrency
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
                .claim_deliveries(&worker.id, limit, lease, &worker.excluded())
                .await
            {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %e, "could not claim deliveries; will retry");
                    Vec::new()
                }
            };
            let mut permits = vec![first];
            let mut started = 0;
            for delivery in claimed {
                let destination = delivery.entry.destination.clone();
                let cap = worker.cap(&destination);
                let has_room = {
                    let mut in_flight = Self::lock(&worker.in_flight);
                    let n = in_flight.entry(destination.clone()).or_default();
                    if *n < cap {
                        *n += 1;
                        true
                    } else {
                        false
                    }
                };
                // Only this loop takes permits, so the ones counted above are still free.
                let permit = permits
                    .pop()
                    .or_else(|| slots.clone().try_acquire_owned().ok());
                match (has_room, permit) {
                    (true, Some(permit)) => {
                        started += 1;
                        let worker = worker.clone();
                        tokio::spawn(async move {
                            worker.deliver_one(delivery).await;
                            if let Some(n) = Self::lock(&worker.in_flight).get_mut(&destination) {
                                *n = n.saturating_sub(1);
                            }
                            drop(permit);
                            // The partner has room again: claim now, not at the next poll (a
                            // backlog to one partner otherwise moved per_partner_concurrency
                            // deliveries per poll_interval).
                            worker.wake.notify_one();
                        });
                    }
                    (room, permit) => {
                        if room && let Some(n) = Self::lock(&worker.in_flight).get_mut(&destination)
                        {
                            *n = n.saturating_sub(1);
                        }
                        drop(permit);
                        if let Err(e) = worker.store.release(&delivery.entry.id).await {
                            tracing::warn!(error = %e, "could not release a delivery; its lease will expire");
                        }
                    }
                }
            }
            if started == 0 {
                drop(permits);
                tokio::select! {
                    _ = worker.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                    _ = stop.changed() => break,
                }
            }
        }
        // Stop claiming; give deliveries in flight their grace period. Unfinished ones keep
        // their lease and are picked up again after it expires.
        let all = u32::try_from(worker.config.concurrency).unwrap_or(u32::MAX);
        let _ = tokio::time::timeout(grace, slots.acquire_many(all)).await;
    }

    /// Delivers in a span that continues the trace of the request that queued the delivery.
    async fn deliver_one(&self, claimed: ClaimedDelivery) {
        let span = tracing::info_span!("delivery", destination = %claimed.entry.destination, adapter = %claimed.entry.adapter);
        traces::continue_trace(&span, claimed.entry.traceparent.as_deref());
        self.attempt(claimed).instrument(span).await;
    }

    async fn attempt(&self, claimed: ClaimedDelivery) {
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
                Self::lock(&self.breakers).success(&entry.destination);
                metrics::breaker(&entry.destination, false);
                metrics::delivery(&entry.adapter, "delivered");
                tracing::info!(delivery = %entry.id, destination = %entry.destination, attempt, "delivered");
                self.store.mark_delivered(&entry.id).await
            }
            Err(e @ DeliveryError::Transient { retry_after, .. })
                if attempt < self.config.max_attempts =>
            {
                if Self::lock(&self.breakers).failure(&entry.destination, std::time::Instant::now())
                {
                    metrics::breaker(&entry.destination, true);
                    tracing::warn!(destination = %entry.destination, "circuit breaker open: pausing deliveries to this partner");
                }
                let delay = Backoff::from_config(&self.config).delay(attempt, retry_after);
                metrics::delivery(&entry.adapter, "retry");
                tracing::warn!(delivery = %entry.id, destination = %entry.destination, attempt, retry_in_ms = delay.as_millis() as u64, error = %e, "delivery failed; will retry");
                let at = now().plus_millis(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX));
                self.store.mark_retry(&entry.id, at, &e.record()).await
            }
            Err(e) => {
                if matches!(e, DeliveryError::Transient { .. }) {
                    Self::lock(&self.breakers)
                        .failure(&entry.destination, std::time::Instant::now());
                }
                metrics::delivery(&entry.adapter, "dead");
                tracing::error!(delivery = %entry.id, destination = %entry.destination, attempt, error = %e, "delivery is dead");
                self.store.mark_dead(&entry.id, &e.record()).await
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
    ) -> Result<Result<(Arc<dyn Outbound>, Delivery), String>, StoreError> {
        let entry = &claimed.entry;
        let destination = OdsCode::parse(&entry.destination).ok();
        let Some(adapter) = destination
            .as_ref()
            .and_then(|ods| self.directory.adapter(ods).cloned())
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
        let to_vcs = destination
            .and_then(|ods| {
                self.directory
                    .organisation(&ods)
                    .map(|o| o.role == Role::Vcs)
            })
            .unwrap_or(false);
        let json = |r: &StoredResource| {
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
                traceparent: traces::current_traceparent(),
            },
        )))
    }
}
