//! Cancelling a referral as its requester: the referral found by its business identifier, and its
//! Task moved to `cancelled` through the same rules as any Task update.

use serde_json::{Value, json};

use super::update_task::{TaskChange, update_task};
use super::{Services, WorkflowError};
use crate::auth::{Principal, tenancy};
use crate::store::{Criterion, Once, SearchQuery, SortOrder, StoredResource};

/// A cancellation to make.
#[derive(Debug)]
pub struct Cancellation {
    /// The referral's business identifier: system and value.
    pub identifier: (String, String),
    /// Why, kept as `Task.statusReason.text`.
    pub reason: String,
    /// Threads every message about this change.
    pub correlation_id: String,
    /// A message id to process once only.
    pub once: Option<Once>,
}

/// Cancels `who`'s referral with that identifier; answers its Task as stored, as `who` may see it.
pub async fn cancel_referral(
    services: Services<'_>,
    who: &Principal,
    cancellation: Cancellation,
) -> Result<StoredResource, WorkflowError> {
    let (system, value) = &cancellation.identifier;
    let existing = first_visible(
        services,
        who,
        "ServiceRequest",
        Criterion::Index {
            param: "identifier",
            any_of: vec![(Some(system.clone()), value.clone())],
        },
    )
    .await?
    .ok_or_else(|| {
        WorkflowError::NotFound(format!("no referral {system}|{value} of yours to cancel"))
    })?;
    let task = first_visible(
        services,
        who,
        "Task",
        Criterion::Index {
            param: "focus",
            any_of: vec![(None, format!("ServiceRequest/{}", existing.id))],
        },
    )
    .await?
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

/// The first resource of a type matching `criterion` among those `who` is party to.
async fn first_visible(
    services: Services<'_>,
    who: &Principal,
    resource_type: &str,
    criterion: Criterion,
) -> Result<Option<StoredResource>, WorkflowError> {
    let mut query = SearchQuery {
        resource_type: resource_type.into(),
        criteria: vec![criterion],
        count: 1,
        offset: 0,
        sort: SortOrder::default(),
    };
    tenancy::restrict(who, &mut query);
    Ok(services
        .store
        .search(&query)
        .await?
        .resources
        .into_iter()
        .next())
}
