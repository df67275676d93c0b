//! Updating a Task: the caller's change checked against the state machine and the profiles, then
//! committed with its effects up and down the referral chain, its deliveries and its AuditEvent.

use serde_json::Value;
use signpost_profiles::has_errors;

use super::issues::merge as merge_issues;
use super::propagation::ChainChange;
use super::task_status::Actor;
use super::task_update::{UpdateError, actor_of, check_update, merge};
use super::visible::visible;
use super::{Services, WorkflowError};
use crate::audit::{self, Outcome};
use crate::auth::{Interaction, Principal, tenancy};
use crate::routing::Directory;
use crate::store::{CommitOutcome, Once, StoreError, StoredResource, now};

/// Side effects touch other resources that may change under us; rebuild and retry this often.
const ATTEMPTS: usize = 3;

/// A Task change to make.
#[derive(Debug)]
pub struct TaskChange {
    /// The Task's id.
    pub id: String,
    /// The version the caller based its change on; `None` for callers with no version to give
    /// (whatever is current, still under the state machine).
    pub expected: Option<i64>,
    /// Threads every message about this change.
    pub correlation_id: String,
    /// A message id to process once only.
    pub once: Option<Once>,
}

/// Applies `propose` (the caller's edit of the Task as it may see it) for `who`, and answers the
/// Task as stored, as `who` may see it.
pub async fn update_task(
    services: Services<'_>,
    who: &Principal,
    change: TaskChange,
    propose: impl Fn(&Value) -> Result<Value, WorkflowError>,
) -> Result<StoredResource, WorkflowError> {
    let id = change.id.as_str();
    for attempt in 1..=ATTEMPTS {
        match attempt_update(services, who, &change, &propose).await {
            // Something changed since it was read. If it was this Task, the next round answers
            // StaleVersion (the caller's version is out of date); if it was a resource up or down
            // the chain, we rebuild.
            Err(WorkflowError::Store(StoreError::VersionConflict { .. })) => {
                tracing::info!(task = %id, attempt, "a resource in the chain changed meanwhile; retrying");
            }
            other => return other,
        }
    }
    Err(WorkflowError::ChainKeptChanging)
}

/// One round: read, check, build and commit.
async fn attempt_update(
    services: Services<'_>,
    who: &Principal,
    change: &TaskChange,
    propose: &impl Fn(&Value) -> Result<Value, WorkflowError>,
) -> Result<StoredResource, WorkflowError> {
    let id = change.id.as_str();
    let target = format!("Task/{id}");
    let current = visible(services.store, who, "Task", id).await?;
    let expected = change.expected.unwrap_or(current.version);
    if expected != current.version {
        return Err(WorkflowError::StaleVersion {
            resource_type: "Task",
            id: id.to_owned(),
            expected,
            current: current.version,
        });
    }
    let current_json: Value = serde_json::from_str(current.body.get())
        .map_err(|e| StoreError::Corrupt(format!("{target} is not JSON: {e}")))?;
    // The caller edits what it was shown; only mutable elements can differ from that.
    let seen = tenancy::view_json(who, &current_json);
    let proposed = propose(&seen)?;
    let actor = actor_of(&current_json, &who.organisation);
    if actor == Actor::Other {
        audit::refusal(
            services.store,
            Some(who),
            Interaction::Update,
            &target,
            Outcome::Refused(403),
        )
        .await;
        return Err(WorkflowError::Forbidden {
            message: "only the Task's owner or requester may change it".into(),
            at: None,
        });
    }
    // Profile and workflow problems are reported together, so the sender fixes them in one go.
    let profile_issues = services.validator.validate(&proposed);
    let (from, to) = match check_update(&seen, &proposed, actor) {
        Err(UpdateError::Invalid(more)) => {
            return Err(WorkflowError::Unprocessable(merge_issues(
                profile_issues,
                more,
            )));
        }
        _ if has_errors(&profile_issues) => {
            return Err(WorkflowError::Unprocessable(profile_issues));
        }
        result => result?,
    };

    let at = now();
    let directory: &Directory = services.directory;
    let mut chain = ChainChange::new(services.store, directory, at, change.correlation_id.clone());
    let mut next = merge(&current_json, &proposed);
    super::outcomes::prefer_codes(&mut next);
    super::person_declined::complete_decline(&mut next);
    chain.put(next.clone(), current.version);
    chain.follow(&next, from, to, &who.organisation).await?;
    let mut changes = chain.into_change_set().await?;
    // A counted place comes back when the Task ends; an at-capacity decline marks the service full.
    changes.writes.extend(
        super::capacity_feedback::service_after_task_end(services.store, &next, from, to, at)
            .await?,
    );
    let audit_event = audit::event(
        Some(who),
        Interaction::Update,
        &target,
        Outcome::Success,
        at,
    )
    .map_err(|e| WorkflowError::Internal(format!("cannot build an AuditEvent: {e}")))?;
    changes.writes.push(audit_event);
    changes.once = change.once.clone();
    let stored = changes
        .writes
        .iter()
        .find(|w| w.resource.resource_type == "Task" && w.resource.id == id)
        .map(|w| w.resource.clone());
    let has_deliveries = !changes.outbox.is_empty();
    match services.store.commit(changes).await? {
        CommitOutcome::Committed => {
            if has_deliveries {
                services.outbox_wake.notify_one();
            }
            tracing::info!(task = %id, from = %from, to = %to, "task updated");
            let stored = stored.ok_or_else(|| {
                WorkflowError::Internal("the updated Task was not in its change set".into())
            })?;
            Ok(tenancy::view(who, &stored).into_owned())
        }
        CommitOutcome::AlreadyExists(_) => Err(WorkflowError::Internal(
            "an update carried a condition".into(),
        )),
        CommitOutcome::Replayed => Err(WorkflowError::Duplicate),
    }
}
