//! What an organisation has to work on: the Tasks it owns, newest change first, as it may see
//! them, and the directory services it provides. The console's lists; audited like API searches.

use super::WorkflowError;
use crate::audit;
use crate::auth::{Interaction, Principal, tenancy};
use crate::store::{Criterion, SearchQuery, SortOrder, Store, StoredResource};

/// At most this many Tasks in one list: a volunteer's organisation has tens, not thousands.
pub const MAX_TASKS: usize = 200;

/// The Tasks `who`'s organisation owns, newest change first, in its view.
pub async fn owned_tasks(
    store: &dyn Store,
    who: &Principal,
) -> Result<Vec<StoredResource>, WorkflowError> {
    tasks_where(
        store,
        who,
        "owner",
        who.party(),
        SortOrder::LastUpdatedDescending,
    )
    .await
}

/// The directory services `who`'s organisation provides (named by its ODS code).
pub async fn provided_services(
    store: &dyn Store,
    who: &Principal,
) -> Result<Vec<StoredResource>, WorkflowError> {
    let query = SearchQuery {
        resource_type: "HealthcareService".into(),
        criteria: vec![Criterion::Index {
            param: "organization",
            any_of: vec![(None, who.party())],
        }],
        count: MAX_TASKS,
        offset: 0,
        sort: SortOrder::LastUpdatedAscending,
    };
    Ok(store.search(&query).await?.resources)
}

/// The onward referrals' Tasks hanging from `who`'s Task `parent` (`Task.partOf`), oldest first,
/// as `who` may see them; audited like an API search.
pub async fn onward_tasks(
    store: &dyn Store,
    who: &Principal,
    parent: &str,
) -> Result<Vec<StoredResource>, WorkflowError> {
    let parent = format!("Task/{parent}");
    tasks_where(
        store,
        who,
        "part-of",
        parent,
        SortOrder::LastUpdatedAscending,
    )
    .await
}

/// The Tasks whose search parameter `param` is `value`, within `who`'s tenancy and in its view;
/// audited as the API search `Task?param=value` would be.
async fn tasks_where(
    store: &dyn Store,
    who: &Principal,
    param: &'static str,
    value: String,
    sort: SortOrder,
) -> Result<Vec<StoredResource>, WorkflowError> {
    let searched = format!("Task?{param}={value}");
    let mut query = SearchQuery {
        resource_type: "Task".into(),
        criteria: vec![Criterion::Index {
            param,
            any_of: vec![(None, value)],
        }],
        count: MAX_TASKS,
        offset: 0,
        sort,
    };
    tenancy::restrict(who, &mut query);
    let page = store.search(&query).await?;
    audit::access(store, who, Interaction::Search, &searched).await?;
    Ok(page
        .resources
        .iter()
        .map(|r| tenancy::view(who, r).into_owned())
        .collect())
}
