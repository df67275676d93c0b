//! What a VCS Task's end teaches the directory: a place taken for it is given back, and a decline
//! whose reason is Signpost's `at-capacity` code marks the service full (inferred).

use serde_json::Value;

use super::WorkflowError;
use super::propagation::reference_id;
use super::service_target::{named_service, new_version};
use super::task_status::TaskStatus;
use crate::directory::capacity::{self, AT_CAPACITY_REASON_CODE, AT_CAPACITY_REASON_SYSTEM};
use crate::store::{Instant, ResourceStore, ResourceWrite, StoreError};

/// Whether a Task's `statusReason` says the provider is at capacity.
pub fn declined_at_capacity(task: &Value) -> bool {
    task.pointer("/statusReason/coding")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("system").and_then(Value::as_str) == Some(AT_CAPACITY_REASON_SYSTEM)
                && c.get("code").and_then(Value::as_str) == Some(AT_CAPACITY_REASON_CODE)
        })
}

/// The new version of the directory service an onward referral's Task was routed to, when the
/// Task has just ended (`from` open, `to` terminal); `None` when it names no service or nothing changes.
pub async fn service_after_task_end(
    store: &dyn ResourceStore,
    task: &Value,
    from: TaskStatus,
    to: TaskStatus,
    at: Instant,
) -> Result<Option<ResourceWrite>, WorkflowError> {
    if from.is_terminal() || !to.is_terminal() {
        return Ok(None);
    }
    let Some(sr_id) = reference_id(task.get("focus"), "ServiceRequest") else {
        return Ok(None);
    };
    let Some(sr) = store.read("ServiceRequest", &sr_id).await? else {
        return Ok(None);
    };
    let sr: Value = serde_json::from_str(sr.body.get())
        .map_err(|e| StoreError::Corrupt(format!("ServiceRequest/{sr_id} is not JSON: {e}")))?;
    let Some((_, service_id)) = named_service(&sr) else {
        return Ok(None);
    };
    let Some(stored) = store.read("HealthcareService", &service_id).await? else {
        return Ok(None);
    };
    let mut service: Value = serde_json::from_str(stored.body.get()).map_err(|e| {
        StoreError::Corrupt(format!("HealthcareService/{service_id} is not JSON: {e}"))
    })?;
    // An unreadable declaration is left for its provider to correct, not overwritten by a guess.
    let Ok(Some(declared)) = capacity::read(&service) else {
        return Ok(None);
    };
    let next = if to == TaskStatus::Rejected && declined_at_capacity(task) {
        declared.after_at_capacity_decline(at)
    } else {
        declared.after_place_freed(at)
    };
    if next == declared {
        return Ok(None);
    }
    tracing::info!(service = %service_id, status = next.status.code(), "a Task ended; the service's capacity follows");
    next.write_to(&mut service);
    Ok(Some(new_version(&stored, service, at)?))
}
