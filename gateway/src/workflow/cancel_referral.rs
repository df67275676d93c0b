//! Cancelling a referral as its requester: the referral found by the id Signpost gave it or by
//! an identifier naming exactly one live referral, and its Task moved to `cancelled` through the
//! same rules as any Task update.

use serde_json::{Value, json};
use signpost_profiles::{Issue, IssueType};

use super::update_task::{TaskChange, update_task};
use super::{Services, WorkflowError};
use crate::auth::{Principal, tenancy};
use crate::store::{Criterion, Once, SearchQuery, SortOrder, StoredResource};

/// A cancellation to make.
#[derive(Debug)]
pub struct Cancellation {
    /// The `ServiceRequest.id` Signpost gave out, if the sender names it.
    pub id: Option<String>,
    /// The referral's business identifier (system, value), used when the id names none of
    /// the caller's referrals.
    pub identifier: Option<(String, String)>,
    /// Why, kept as `Task.statusReason.text`.
    pub reason: String,
    /// Threads every message about this change.
    pub correlation_id: String,
    /// A message id to process once only.
    pub once: Option<Once>,
}

/// Cancels `who`'s referral; answers its Task as stored, as `who` may see it.
pub async fn cancel_referral(
    services: Services<'_>,
    who: &Principal,
    cancellation: Cancellation,
) -> Result<StoredResource, WorkflowError> {
    let existing = named_referral(services, who, &cancellation).await?;
    let task = first_visible(
        services,
        who,
        "Task",
        vec![Criterion::Index {
            param: "focus",
            any_of: vec![(None, format!("ServiceRequest/{}", existing.id))],
        }],
        1,
    )
    .await?
    .into_iter()
    .next()
    .ok_or_else(|| WorkflowError::NotFound("the referral has no Task".into()))?;
    let reason = cancellation.reason;
    let change = TaskChange {
        id: task.id,
        expected: None,
        correlation_id: cancellation.correlation_id,
        once: cancellation.once,
    };
    update_task(services, who, change, move |current: &Value| {
        let mut next = current.clone();
        next["status"] = json!("cancelled");
        next["statusReason"] = json!({"text": reason});
        Ok(next)
    })
    .await
}

/// The referral a cancellation names: by id if that is one of `who`'s, otherwise the one live
/// referral of `who`'s with the identifier. Several live matches are refused: cancelling one
/// of them would be a guess.
async fn named_referral(
    services: Services<'_>,
    who: &Principal,
    cancellation: &Cancellation,
) -> Result<StoredResource, WorkflowError> {
    if let Some(id) = &cancellation.id
        && let Some(found) = services.store.read("ServiceRequest", id).await?
        && tenancy::may_see(who, &found)
    {
        return Ok(found);
    }
    let Some((system, value)) = &cancellation.identifier else {
        return Err(WorkflowError::NotFound(format!(
            "no referral ServiceRequest/{} of yours to cancel",
            cancellation.id.as_deref().unwrap_or_default()
        )));
    };
    let live = first_visible(
        services,
        who,
        "ServiceRequest",
        vec![
            Criterion::Index {
                param: "identifier",
                any_of: vec![(Some(system.clone()), value.clone())],
            },
            Criterion::Index {
                param: "status",
                any_of: vec![(None, "active".into())],
            },
        ],
        2,
    )
    .await?;
    match <[StoredResource; 1]>::try_from(live) {
        Ok([one]) => Ok(one),
        Err(none) if none.is_empty() => Err(WorkflowError::NotFound(format!(
            "no live referral {system}|{value} of yours to cancel"
        ))),
        Err(_) => Err(WorkflowError::Unprocessable(vec![
            Issue::error(
                IssueType::MultipleMatches,
                format!(
                    "{system}|{value} names more than one live referral of yours; name the one to \
                     cancel by the ServiceRequest.id Signpost gave it. Nothing was cancelled"
                ),
            )
            .at("ServiceRequest.identifier[0]"),
        ])),
    }
}

/// Up to `count` resources of a type matching `criteria` among those `who` is party to.
async fn first_visible(
    services: Services<'_>,
    who: &Principal,
    resource_type: &str,
    criteria: Vec<Criterion>,
    count: usize,
) -> Result<Vec<StoredResource>, WorkflowError> {
    let mut query = SearchQuery {
        resource_type: resource_type.into(),
        criteria,
        count,
        offset: 0,
        sort: SortOrder::default(),
    };
    tenancy::restrict(who, &mut query);
    Ok(services.store.search(&query).await?.resources)
}
