//! A provider declares its service's capacity: a new version of its own HealthcareService that
//! changes the capacity and nothing else (the rest of the entry comes from the feed or config).

use serde_json::Value;
use signpost_profiles::{Issue, IssueType};

use super::{Services, WorkflowError};
use crate::audit::{self, Outcome};
use crate::auth::{Interaction, Principal};
use crate::directory::capacity::{
    self, CapacitySource, CapacityStatus, GRAVITY_CAPACITY_URL, SIGNPOST_CAPACITY_URL,
};
use crate::search_index::index_entries;
use crate::store::{
    ChangeSet, CommitOutcome, Instant, Once, ResourceWrite, StoreError, StoredResource, now,
};
use crate::workflow::referral::with_identity;

/// How long a declaration without `expires` holds: after that the service shows `unknown`
/// until its provider says again.
pub const DEFAULT_VALIDITY_DAYS: u64 = 14;

/// A capacity declaration to make.
#[derive(Debug)]
pub struct Declaration {
    /// The HealthcareService's id.
    pub id: String,
    /// The version the provider based its change on (`If-Match`, required on the FHIR API); a
    /// webhook may leave it out, and then the declaration applies to the version it finds.
    pub expected: Option<i64>,
    /// The one-time value of the message that carries it (a webhook's `webhook-id`), recorded
    /// with the change so a replay is refused.
    pub once: Option<Once>,
}

fn unprocessable(message: impl Into<String>, at: impl Into<String>) -> WorkflowError {
    WorkflowError::Unprocessable(vec![Issue::error(IssueType::BusinessRule, message).at(at)])
}

/// The resource without what a declaration may change, to compare the rest.
fn without_capacity(service: &Value) -> Value {
    let mut rest = service.clone();
    if let Some(object) = rest.as_object_mut() {
        object.remove("meta");
        let others: Vec<Value> = object
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|e| {
                !matches!(
                    e.get("url").and_then(Value::as_str),
                    Some(GRAVITY_CAPACITY_URL | SIGNPOST_CAPACITY_URL)
                )
            })
            .cloned()
            .collect();
        if others.is_empty() {
            object.remove("extension");
        } else {
            object.insert("extension".into(), Value::Array(others));
        }
    }
    rest
}

/// The first top-level element that differs, to name it in the refusal.
fn first_difference(a: &Value, b: &Value) -> Option<String> {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return Some(String::new());
    };
    a.keys()
        .chain(b.keys())
        .find(|k| a.get(*k) != b.get(*k))
        .cloned()
}

/// Applies `propose` (the provider's edit of its HealthcareService) for `who` and answers the
/// service as stored.
pub async fn declare_capacity(
    services: Services<'_>,
    who: &Principal,
    declaration: Declaration,
    propose: impl Fn(&Value) -> Result<Value, WorkflowError>,
) -> Result<StoredResource, WorkflowError> {
    let id = declaration.id.as_str();
    let target = format!("HealthcareService/{id}");
    let current = services
        .store
        .read("HealthcareService", id)
        .await?
        .ok_or_else(|| WorkflowError::NotFound(format!("{target} is not in the directory")))?;
    let current_json: Value = serde_json::from_str(current.body.get())
        .map_err(|e| StoreError::Corrupt(format!("{target} is not JSON: {e}")))?;
    let provided_by =
        super::service_target::provider_organisation(&current_json, services.directory);
    if provided_by.map(|o| &o.ods) != Some(&who.organisation) {
        audit::refusal(
            services.store,
            Some(who),
            Interaction::Update,
            &target,
            Outcome::Refused(403),
        )
        .await;
        return Err(WorkflowError::Forbidden {
            message: format!(
                "only the service's provider (HealthcareService.providedBy) may declare its capacity, not {}",
                who.organisation
            ),
            at: Some("HealthcareService.providedBy".into()),
        });
    }
    let expected = declaration.expected.unwrap_or(current.version);
    if expected != current.version {
        return Err(WorkflowError::StaleVersion {
            resource_type: "HealthcareService",
            id: id.to_owned(),
            expected,
            current: current.version,
        });
    }
    let proposed = propose(&current_json)?;
    if let Some(element) = first_difference(
        &without_capacity(&current_json),
        &without_capacity(&proposed),
    ) {
        return Err(unprocessable(
            "a provider changes only the capacity (the Gravity capacity-status and Signpost \
             service-capacity extensions); the rest of the directory entry comes from its feed",
            format!("HealthcareService.{element}"),
        ));
    }
    let at = now();
    let declared = stamped(&proposed, at)?;
    let mut next = current_json.clone();
    declared.write_to(&mut next);
    let next = with_identity(&next, id, current.version + 1, at);
    let write = ResourceWrite {
        index: index_entries(&next),
        resource: StoredResource {
            resource_type: "HealthcareService".into(),
            id: id.to_owned(),
            version: current.version + 1,
            last_updated: at,
            body: serde_json::value::to_raw_value(&next)
                .map_err(|e| WorkflowError::Unstorable(e.to_string()))?,
        },
    };
    let stored = write.resource.clone();
    let audit_event = audit::event(
        Some(who),
        Interaction::Update,
        &target,
        Outcome::Success,
        at,
    )
    .map_err(|e| WorkflowError::Internal(format!("cannot build an AuditEvent: {e}")))?;
    let changes = ChangeSet {
        writes: vec![write, audit_event],
        once: declaration.once,
        ..ChangeSet::default()
    };
    match services.store.commit(changes).await {
        Ok(CommitOutcome::Committed) => {
            tracing::info!(service = %id, status = declared.status.code(), "capacity declared");
            Ok(stored)
        }
        Ok(CommitOutcome::Replayed) => Err(WorkflowError::Duplicate),
        Err(StoreError::VersionConflict { current, .. }) => Err(WorkflowError::StaleVersion {
            resource_type: "HealthcareService",
            id: id.to_owned(),
            expected,
            current,
        }),
        Ok(_) => Err(WorkflowError::Internal(
            "a capacity declaration carried a condition".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// The declaration read from the proposed resource, stamped as the provider's, now, with an
/// expiry in the future.
fn stamped(proposed: &Value, at: Instant) -> Result<capacity::Capacity, WorkflowError> {
    let mut declared = capacity::read(proposed)
        .map_err(|e| unprocessable(e.message, e.at))?
        .ok_or_else(|| {
            unprocessable(
                format!(
                    "a declaration needs the capacity-status extension ({GRAVITY_CAPACITY_URL})"
                ),
                "HealthcareService.extension",
            )
        })?;
    if declared.status == CapacityStatus::Capacity && declared.available == Some(0) {
        return Err(unprocessable(
            "status capacity with no places available: declare no-capacity or waitlist instead",
            "HealthcareService.extension",
        ));
    }
    if let Some(until) = declared.expires
        && until <= at
    {
        return Err(unprocessable(
            format!("expires ({}) is already past", until.to_fhir()),
            "HealthcareService.extension",
        ));
    }
    declared.source = CapacitySource::Provider;
    declared.as_of = at;
    if declared.expires.is_none() {
        declared.expires = Some(at.plus_millis(DEFAULT_VALIDITY_DAYS * 24 * 3600 * 1000));
    }
    if let (None, Some(max)) = (declared.available, declared.maximum) {
        declared.available = Some(max);
    }
    Ok(declared)
}
