//! Submitting a referral: checked, routed and committed with its Task, delivery and AuditEvent at once.

use serde_json::Value;
use signpost_profiles::{Issue, IssueType, Referral, Severity, has_errors};

use super::issues::merge as merge_issues;
use super::propagation::reference_id;
use super::referral::new_referral;
use super::routing_decision::decision_record;
use super::service_target::{Decision, Resolution, accepts_waitlist, named_service, resolve};
use super::task_status::TaskStatus;
use super::task_update::status_of;
use super::{Services, WorkflowError};
use crate::audit::{self, Outcome};
use crate::auth::{Interaction, Principal, tenancy};
use crate::store::{
    ChangeSet, CommitOutcome, Condition, Criterion, Instant, Once, ResourceWrite, SearchQuery,
    SortOrder, StoreError, StoredResource, now,
};

/// Referrals racing for a service's places: decide again this often before giving up.
const SERVICE_ATTEMPTS: usize = 5;

/// A referral to submit.
#[derive(Debug)]
pub struct Submission {
    /// The ServiceRequest, already parsed as FHIR R4.
    pub service_request: Value,
    /// `If-None-Exist` as a query: create only if none of the caller's referrals matches.
    pub if_none_exist: Option<SearchQuery>,
    /// Threads every message about this referral.
    pub correlation_id: String,
    /// A message id to process once only (BaRS `X-Request-Id`).
    pub once: Option<Once>,
}

/// What submitting did.
#[derive(Debug)]
pub enum Submitted {
    /// A new referral, and the profile warnings it was accepted with.
    Created {
        /// The ServiceRequest as stored.
        service_request: StoredResource,
        /// Warnings to tell the sender (e.g. a service code outside the social prescribing ValueSet).
        warnings: Vec<Issue>,
    },
    /// `If-None-Exist` matched this referral of the caller's, as the caller may see it.
    Existing(StoredResource),
}

/// Submits a referral for `who`: profiles and business rules, that the caller is its requester,
/// the onward parent Task for an onward referral, routing, then one commit.
pub async fn submit_referral(
    services: Services<'_>,
    who: &Principal,
    submission: Submission,
) -> Result<Submitted, WorkflowError> {
    let sr = submission.service_request;
    let (referral, warnings) = checked(services, who, &sr).await?;
    // An onward referral (basedOn the GP's) goes to a VCS provider, hanging from the link worker's Task.
    let parent_task = match sr.get("basedOn") {
        None => None,
        Some(_) => Some(onward_parent(services, who, &sr).await?),
    };
    let named_service = named_service(&sr);
    super::parties::check_parties(
        services.directory,
        &referral,
        parent_task.is_some(),
        named_service.as_ref().map(|(i, _)| *i),
    )?;
    let condition = submission.if_none_exist.map(|mut search| {
        search.count = 2;
        search.offset = 0;
        // Only the caller's own referrals can match, so the header cannot probe other practices.
        tenancy::restrict(who, &mut search);
        Condition::IfNoneExist(search)
    });
    let mut attempts = 0;
    let (committed, built_id, stored_sr, owner_ods, has_delivery) = loop {
        attempts += 1;
        let at = now();
        // An onward referral to a directory service goes to its provider if the service has room.
        let (owner, service_write, decision) = match (&parent_task, &named_service) {
            (Some(_), Some(named)) => match resolve(
                services.store,
                services.directory,
                named.clone(),
                accepts_waitlist(&sr),
                at,
            )
            .await?
            {
                Resolution::Placed(p) => (p.owner, p.service_write, Some(p.decision)),
                Resolution::Full {
                    issues,
                    alternatives,
                    decision,
                } => {
                    record_refusal(services, who, &decision, at).await?;
                    return Err(WorkflowError::NoRoom {
                        issues,
                        alternatives,
                    });
                }
            },
            (Some(_), None) => (
                services.directory.onward_destination(&referral)?,
                None,
                None,
            ),
            (None, _) => (services.directory.destination(&referral)?, None, None),
        };
        let mut built = new_referral(
            &sr,
            &referral,
            owner,
            services.directory,
            &submission.correlation_id,
            parent_task.as_ref().map(|(id, _)| id.as_str()),
            at,
        )
        .map_err(|e| WorkflowError::Unstorable(e.to_string()))?;
        built.changes.condition = condition.clone();
        built.changes.once = submission.once.clone();
        // The parent Task must still be as it was checked: a cancellation in between refuses this.
        if let Some((id, version)) = &parent_task {
            built
                .changes
                .unchanged
                .push(("Task".into(), id.clone(), *version));
        }
        let target = format!("ServiceRequest/{}", built.service_request_id);
        if let Some(decision) = &decision {
            note_decision(&mut built.changes.writes, decision, at)?;
            built.changes.writes.push(
                decision_record(who, decision, Some(&target), at).map_err(|e| {
                    WorkflowError::Internal(format!("cannot record a decision: {e}"))
                })?,
            );
        }
        // The service's new version is guarded like any update: of two referrals racing for its
        // last place, the store lets exactly one commit.
        built.changes.writes.extend(service_write);
        let audit_event = audit::event(
            Some(who),
            Interaction::Create,
            &target,
            Outcome::Success,
            at,
        )
        .map_err(|e| WorkflowError::Internal(format!("cannot build an AuditEvent: {e}")))?;
        built.changes.writes.push(audit_event);
        let has_delivery = !built.changes.outbox.is_empty();
        let stored_sr = built.changes.writes[0].resource.clone();
        match services.store.commit(built.changes).await {
            Err(StoreError::VersionConflict { resource_type, .. }) if resource_type == "Task" => {
                return Err(WorkflowError::ParentTaskChanged);
            }
            // Another referral took a place meanwhile: decide again on the service as it is now.
            Err(StoreError::VersionConflict { resource_type, .. })
                if resource_type == "HealthcareService" && attempts < SERVICE_ATTEMPTS =>
            {
                tracing::info!(
                    attempts,
                    "the service changed while referring; deciding again"
                );
            }
            Err(StoreError::VersionConflict { resource_type, .. })
                if resource_type == "HealthcareService" =>
            {
                return Err(WorkflowError::ChainKeptChanging);
            }
            other => {
                break (
                    other?,
                    built.service_request_id,
                    stored_sr,
                    owner.ods.clone(),
                    has_delivery,
                );
            }
        }
    };
    match committed {
        CommitOutcome::Committed => {
            if has_delivery {
                services.outbox_wake.notify_one();
            }
            tracing::info!(service_request = %built_id, owner = %owner_ods, "referral accepted");
            Ok(Submitted::Created {
                service_request: stored_sr,
                warnings,
            })
        }
        CommitOutcome::AlreadyExists(existing) if existing.len() == 1 => {
            audit::access(
                services.store,
                who,
                Interaction::Read,
                &format!("ServiceRequest/{}", existing[0].id),
            )
            .await?;
            Ok(Submitted::Existing(
                tenancy::view(who, &existing[0]).into_owned(),
            ))
        }
        CommitOutcome::Replayed => Err(WorkflowError::Duplicate),
        CommitOutcome::AlreadyExists(_) => Err(WorkflowError::MultipleMatches),
    }
}

/// The referral the ServiceRequest makes, checked against the profiles and business rules, and
/// that `who` is its requester (audited if not); with the warnings it is accepted with.
async fn checked(
    services: Services<'_>,
    who: &Principal,
    sr: &Value,
) -> Result<(Referral, Vec<Issue>), WorkflowError> {
    let issues = services.validator.validate(sr);
    let referral = match Referral::from_service_request(sr) {
        Ok(referral) if !has_errors(&issues) => referral,
        Ok(_) => return Err(WorkflowError::Unprocessable(issues)),
        Err(more) => return Err(WorkflowError::Unprocessable(merge_issues(issues, more))),
    };
    // Accepted with warnings: the sender is told, not left to find out from a link worker.
    let warnings: Vec<Issue> = issues
        .into_iter()
        .filter(|i| i.severity == Severity::Warning)
        .collect();
    if referral.requester != who.organisation {
        audit::refusal(
            services.store,
            Some(who),
            Interaction::Create,
            "ServiceRequest",
            Outcome::Refused(403),
        )
        .await;
        return Err(WorkflowError::Forbidden {
            message: format!(
                "this client acts for {} and cannot send a referral whose requester is {}",
                who.organisation, referral.requester
            ),
            at: Some("ServiceRequest.requester.identifier.value".into()),
        });
    }
    Ok((referral, warnings))
}

/// The link-worker Task an onward referral hangs from: the caller's own, active Task whose focus
/// is the ServiceRequest in `basedOn`.
async fn onward_parent(
    services: Services<'_>,
    who: &Principal,
    sr: &Value,
) -> Result<(String, i64), WorkflowError> {
    let unusable = |why: String| {
        WorkflowError::Unprocessable(vec![
            Issue::error(IssueType::BusinessRule, why).at("ServiceRequest.basedOn[0]"),
        ])
    };
    let parent_sr = reference_id(sr.pointer("/basedOn/0"), "ServiceRequest").ok_or_else(|| {
        unusable("basedOn must reference the ServiceRequest you are referring onward from".into())
    })?;
    let mut query = SearchQuery {
        resource_type: "Task".into(),
        criteria: vec![
            Criterion::Index {
                param: "focus",
                any_of: vec![(None, format!("ServiceRequest/{parent_sr}"))],
            },
            Criterion::Index {
                param: "owner",
                any_of: vec![(None, who.party())],
            },
        ],
        count: 1,
        offset: 0,
        sort: SortOrder::default(),
    };
    tenancy::restrict(who, &mut query);
    let page = services.store.search(&query).await?;
    let task = page.resources.first().ok_or_else(|| {
        unusable(format!(
            "ServiceRequest/{parent_sr} is not a referral your organisation owns a Task for"
        ))
    })?;
    let json: Value = serde_json::from_str(task.body.get())
        .map_err(|e| StoreError::Corrupt(format!("Task/{} is not JSON: {e}", task.id)))?;
    match status_of(&json) {
        Some(status) if status.may_refer_onward() => Ok((task.id.clone(), task.version)),
        other => Err(unusable(format!(
            "Task/{} is {}: accept the referral before referring onward, and not after it has ended",
            task.id,
            other.map_or("in an unknown state", TaskStatus::code)
        ))),
    }
}

/// Writes the decision on the new Task as a note, so the parties read why it went where it went.
fn note_decision(
    writes: &mut [ResourceWrite],
    decision: &Decision,
    at: Instant,
) -> Result<(), WorkflowError> {
    let Some(task) = writes
        .iter_mut()
        .find(|w| w.resource.resource_type == "Task")
    else {
        return Err(WorkflowError::Internal(
            "a new referral without its Task".into(),
        ));
    };
    let mut json: Value = serde_json::from_str(task.resource.body.get())
        .map_err(|e| WorkflowError::Internal(format!("a new Task is not JSON: {e}")))?;
    json["note"] = Value::Array(vec![decision.note(at)]);
    task.resource.body = serde_json::value::to_raw_value(&json)
        .map_err(|e| WorkflowError::Unstorable(e.to_string()))?;
    Ok(())
}

/// Records a refusal for capacity on its own: nothing else of the referral is written.
async fn record_refusal(
    services: Services<'_>,
    who: &Principal,
    decision: &Decision,
    at: Instant,
) -> Result<(), WorkflowError> {
    let record = decision_record(who, decision, None, at)
        .map_err(|e| WorkflowError::Internal(format!("cannot record a decision: {e}")))?;
    services
        .store
        .commit(ChangeSet {
            writes: vec![record],
            ..ChangeSet::default()
        })
        .await?;
    Ok(())
}
