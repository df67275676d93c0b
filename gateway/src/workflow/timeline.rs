//! A referral's whole story for an operator: every version of its ServiceRequests and Tasks,
//! every delivery with the partner's answer, and every placed routing decision, in time order,
//! found by any id or business identifier it carries.

use serde_json::Value;

use super::WorkflowError;
use super::routing_decision::{ROUTING_DECISION, SUBTYPE_SYSTEM};
use crate::audit;
use crate::auth::{Interaction, Principal};
use crate::store::{
    Criterion, DeliveryRecord, SearchQuery, SortOrder, Store, StoreError, StoredResource,
};

/// At most this many ServiceRequests (the GP's and the onward ones) in one timeline.
const MAX_REQUESTS: usize = 20;
/// At most this many Tasks, and deliveries per Task.
const MAX_PER_LIST: usize = 100;
/// How far up `basedOn` the root is looked for.
const MAX_DEPTH: usize = 10;

/// One thing that happened.
#[derive(Debug, Clone)]
pub enum Happened {
    /// A version of a ServiceRequest or Task was stored.
    Version {
        /// `Type/id`.
        resource: String,
        /// Its version.
        version: i64,
        /// Its status then.
        status: String,
        /// Who it was for then: a Task's owner, a ServiceRequest's performer.
        party: String,
    },
    /// A delivery was queued (its state, attempts and answer as they stand now).
    Delivery(DeliveryRecord),
    /// Signpost chose a directory service for an onward referral.
    Decision {
        /// The service chosen, `HealthcareService/id`.
        service: String,
        /// Whether the referral was placed there.
        placed: bool,
        /// Why, in words.
        reason: String,
        /// The service's capacity then.
        capacity: String,
    },
}

/// An entry of the timeline.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When (FHIR instant).
    pub at: String,
    /// What.
    pub happened: Happened,
}

/// A referral's timeline.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The first ServiceRequest of the chain (the GP's), `ServiceRequest/id`.
    pub referral: String,
    /// Every entry, oldest first.
    pub entries: Vec<Entry>,
}

fn body(resource: &StoredResource) -> Result<Value, StoreError> {
    serde_json::from_str(resource.body.get()).map_err(|e| {
        StoreError::Corrupt(format!(
            "{}/{} is not JSON: {e}",
            resource.resource_type, resource.id
        ))
    })
}

/// The id in a reference `Type/id` of `kind`.
fn referenced<'a>(reference: Option<&'a Value>, kind: &str) -> Option<&'a str> {
    reference?
        .get("reference")?
        .as_str()?
        .strip_prefix(kind)?
        .strip_prefix('/')
}

async fn search(
    store: &dyn Store,
    resource_type: &str,
    criteria: Vec<Criterion>,
    count: usize,
) -> Result<Vec<StoredResource>, StoreError> {
    Ok(store
        .search(&SearchQuery {
            resource_type: resource_type.into(),
            criteria,
            count,
            offset: 0,
            sort: SortOrder::LastUpdatedAscending,
        })
        .await?
        .resources)
}

fn by(param: &'static str, value: String) -> Vec<Criterion> {
    vec![Criterion::Index {
        param,
        any_of: vec![(None, value)],
    }]
}

/// The ServiceRequest `key` names: its own id, its Task's, one of its deliveries', a business
/// identifier's value (any system), or the `Bundle.id` of the BaRS message it came in.
async fn found(store: &dyn Store, key: &str) -> Result<Option<StoredResource>, StoreError> {
    if let Some(sr) = store.read("ServiceRequest", key).await? {
        return Ok(Some(sr));
    }
    let task_id = match store.delivery(key).await? {
        Some(delivery) => delivery
            .task
            .strip_prefix("Task/")
            .and_then(|t| t.split('/').next())
            .map(str::to_owned),
        None => None,
    };
    if let Some(task) = store
        .read("Task", task_id.as_deref().unwrap_or(key))
        .await?
    {
        let task = body(&task)?;
        if let Some(sr) = referenced(task.get("focus"), "ServiceRequest") {
            return store.read("ServiceRequest", sr).await;
        }
    }
    if let Some(sr) = search(store, "ServiceRequest", by("identifier", key.to_owned()), 1)
        .await?
        .pop()
    {
        return Ok(Some(sr));
    }
    Ok(search(
        store,
        "ServiceRequest",
        by("bars-request-message", key.to_owned()),
        1,
    )
    .await?
    .pop())
}

/// The timeline of the referral `key` names, for operator `who`; `None` if it names none.
pub async fn timeline(
    store: &dyn Store,
    who: &Principal,
    key: &str,
) -> Result<Option<Timeline>, WorkflowError> {
    if !who.scopes.is_admin() {
        return Err(WorkflowError::Forbidden {
            message: "the admin scope is needed to read a referral's timeline".into(),
            at: None,
        });
    }
    let key = key.trim();
    let Some(mut root) = found(store, key).await? else {
        return Ok(None);
    };
    for _ in 0..MAX_DEPTH {
        let sr = body(&root)?;
        let parent = sr
            .get("basedOn")
            .and_then(Value::as_array)
            .and_then(|b| b.iter().find_map(|r| referenced(Some(r), "ServiceRequest")));
        match parent {
            Some(id) => match store.read("ServiceRequest", id).await? {
                Some(up) => root = up,
                None => break,
            },
            None => break,
        }
    }
    let mut requests = vec![root.id.clone()];
    let mut next = 0;
    while next < requests.len() && requests.len() < MAX_REQUESTS {
        let onward = search(
            store,
            "ServiceRequest",
            by("based-on", format!("ServiceRequest/{}", requests[next])),
            MAX_REQUESTS,
        )
        .await?;
        requests.extend(
            onward
                .into_iter()
                .map(|r| r.id)
                .filter(|id| !requests.contains(id))
                .collect::<Vec<_>>(),
        );
        next += 1;
    }
    let mut entries = Vec::new();
    let mut tasks = Vec::new();
    for sr in &requests {
        versions(store, "ServiceRequest", sr, &mut entries).await?;
        let reference = format!("ServiceRequest/{sr}");
        tasks.extend(
            search(store, "Task", by("focus", reference.clone()), MAX_PER_LIST)
                .await?
                .into_iter()
                .map(|t| t.id),
        );
        decisions(store, &reference, &mut entries).await?;
    }
    for task in &tasks {
        versions(store, "Task", task, &mut entries).await?;
        for delivery in store.task_deliveries(task, MAX_PER_LIST).await? {
            entries.push(Entry {
                at: delivery.created.clone(),
                happened: Happened::Delivery(delivery),
            });
        }
    }
    // A stable sort: what happened in one commit stays in the order it was gathered.
    entries.sort_by(|a, b| a.at.cmp(&b.at));
    let referral = format!("ServiceRequest/{}", root.id);
    audit::access(
        store,
        who,
        Interaction::Read,
        &format!("{referral}/_history"),
    )
    .await?;
    Ok(Some(Timeline { referral, entries }))
}

async fn versions(
    store: &dyn Store,
    resource_type: &str,
    id: &str,
    entries: &mut Vec<Entry>,
) -> Result<(), StoreError> {
    for version in store.history(resource_type, id).await? {
        let json = body(&version)?;
        let party = if resource_type == "Task" {
            json.get("owner")
        } else {
            json.pointer("/performer/0")
        };
        let party = party
            .and_then(|p| {
                p.get("reference")
                    .or_else(|| p.pointer("/identifier/value"))
                    .and_then(Value::as_str)
            })
            .unwrap_or("")
            .to_owned();
        entries.push(Entry {
            at: version.last_updated.to_fhir(),
            happened: Happened::Version {
                resource: format!("{resource_type}/{id}"),
                version: version.version,
                status: json
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                party,
            },
        });
    }
    Ok(())
}

/// The routing decisions recorded with `referral` (a placed onward referral names it).
async fn decisions(
    store: &dyn Store,
    referral: &str,
    entries: &mut Vec<Entry>,
) -> Result<(), StoreError> {
    let mut criteria = by("entity", referral.to_owned());
    criteria.push(Criterion::Index {
        param: "subtype",
        any_of: vec![(Some(SUBTYPE_SYSTEM.into()), ROUTING_DECISION.into())],
    });
    for event in search(store, "AuditEvent", criteria, MAX_PER_LIST).await? {
        let json = body(&event)?;
        let service = json
            .pointer("/entity/0/what/reference")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let capacity = json
            .pointer("/entity/0/detail")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|d| d.get("type").and_then(Value::as_str) == Some("capacity"))
            .and_then(|d| d.get("valueString").and_then(Value::as_str))
            .unwrap_or("")
            .to_owned();
        entries.push(Entry {
            at: event.last_updated.to_fhir(),
            happened: Happened::Decision {
                service,
                placed: json.get("outcome").and_then(Value::as_str) == Some("0"),
                reason: json
                    .get("outcomeDesc")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                capacity,
            },
        });
    }
    Ok(())
}
